"""The notebooks follow the book's conventions, and the book builds from them (the build is a test)."""

import ast
import json
import re
import shutil
import subprocess

import nbformat
import pytest

from imckit.book.runner import (BookError, build_book, check_complete, code_state, describe_code_state,
                                load_manifest, plan_runs, project_path, run_notebooks)

from ..conftest import ROOT

MANIFEST = ROOT / "notebooks" / "manifest.yml"
REQUIRED_PARAMETERS = {"profile", "seed", "dataset", "data_root", "output_dir"}
MAX_CODE_LINE = 88  # characters of a code line that fit the book's page width


def _notebooks():
    return sorted(load_manifest(MANIFEST)["notebooks"])


def test_every_notebook_file_is_in_the_manifest_and_the_toc():
    files = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert files == _notebooks()
    toc = (ROOT / "_toc.yml").read_text()
    for run in plan_runs(load_manifest(MANIFEST), "default"):
        assert f"book/chapters/{run.output.removesuffix('.ipynb')}" in toc


@pytest.mark.parametrize("name", _notebooks())
def test_notebook_conventions(name):
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "source notebooks carry no outputs"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    names = set()
    for line in tagged[0].source.splitlines():
        if not line.strip():
            continue
        match = re.fullmatch(r"(\w+) = (.+?)  # \S.*", line)
        assert match, f"parameters cell line is not `name = literal  # comment`: {line!r}"
        ast.literal_eval(match.group(2))  # literals only: papermill does not re-evaluate expressions
        names.add(match.group(1))
    assert REQUIRED_PARAMETERS <= names
    # papermill must see every parameter (it skips, e.g., lines with a second "=" in the comment)
    import papermill

    assert set(papermill.inspect_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"))) == names
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


# The two tests below (issue 12, item 8) check conventions that the notebooks' owners apply to every
# notebook: they fail for a notebook until its imports cell is tagged `hide-input` and its code lines fit.
@pytest.mark.parametrize("name", _notebooks())
def test_setup_cell_is_collapsed(name):
    """The first code cell (the imports) is tagged ``hide-input``: the book shows it collapsed."""
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert "hide-input" in first.metadata.get("tags", []), \
        f"{name}.ipynb: tag the first code cell (imports) 'hide-input'; it starts {first.source[:60]!r}"


@pytest.mark.parametrize("name", _notebooks())
def test_code_lines_fit_the_page(name):
    """Every code line of the source notebook has at most MAX_CODE_LINE characters."""
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    long = [(i, len(line), line) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            for line in cell.source.splitlines() if len(line) > MAX_CODE_LINE]
    assert not long, f"{name}.ipynb: {len(long)} code line(s) over {MAX_CODE_LINE} characters, e.g. " + \
        "; ".join(f"cell {i} ({n} chars): {line[:50]!r}..." for i, n, line in long[:3])


def test_project_path_is_relative_inside_the_project(tmp_path):
    assert project_path(tmp_path / "results" / "smoke" / "a", tmp_path) == "results/smoke/a"
    assert project_path(tmp_path, tmp_path) == "."
    assert project_path("results/x", tmp_path) == "results/x"  # already relative to the project
    outside = tmp_path.parent / "elsewhere"
    assert project_path(outside, tmp_path) == str(outside)  # a folder the user chose is shown as given


def test_code_state_names_the_commit(tmp_path):
    state = code_state(ROOT)
    if state["commit"] is None:
        pytest.skip("the project is not a git checkout here")
    assert re.fullmatch(r"[0-9a-f]{40}", state["commit"]) and state["dirty"] in (True, False)
    assert describe_code_state(state).startswith(f"commit `{state['commit'][:7]}`")
    assert code_state(tmp_path) == {"commit": None, "dirty": None}
    assert "unknown commit" in describe_code_state(code_state(tmp_path))


def test_code_state_sees_changes_and_ignores_what_it_is_told(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                       check=True, capture_output=True)

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    git("init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "README.md").write_text("numbers\n")
    git("add", "a.py", "README.md")
    git("commit", "-q", "-m", "first")
    assert code_state(tmp_path)["dirty"] is False
    (tmp_path / "README.md").write_text("new numbers\n")
    assert code_state(tmp_path)["dirty"] is True
    assert code_state(tmp_path, ignore=("README.md",))["dirty"] is False
    (tmp_path / "b.py").write_text("y = 2\n")  # a new file is a change too
    assert code_state(tmp_path, ignore=("README.md",))["dirty"] is True


def _mini_project(root, long_line: bool = False):
    """A project folder with one small chapter notebook that writes a file into ``output_dir``."""
    (root / "notebooks").mkdir(parents=True)
    cells = [
        nbformat.v4.new_markdown_cell("# Mini chapter\n\nIt writes one table."),
        nbformat.v4.new_code_cell("from pathlib import Path", metadata={"tags": ["hide-input"]}),
        nbformat.v4.new_code_cell('profile = "default"  # run size\noutput_dir = "results/mini"  # files\n'
                                  'data_root = ""  # data', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell('out = Path(output_dir)\nout.mkdir(parents=True, exist_ok=True)\n'
                                  '(out / "table.csv").write_text("a,b\\n1,2\\n")\nprint(out / "table.csv")'),
        nbformat.v4.new_code_cell('import sys\nprint("wrote", Path.cwd() / out / "table.csv", file=sys.stderr)'),
    ]
    if long_line:
        cells.append(nbformat.v4.new_code_cell("wide = " + repr("w" * 150) + "  # a line wider than the page"))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "notebooks" / "mini.ipynb")
    (root / "notebooks" / "manifest.yml").write_text("notebooks:\n  mini: {}\n")
    return root / "notebooks" / "manifest.yml"


def test_run_shows_paths_relative_to_the_project(tmp_path, monkeypatch):
    """Notebooks run in the project folder with ``output_dir`` relative to it: the files land in the
    results folder, and no absolute path of this machine is in the executed notebook."""
    root = tmp_path / "project"
    manifest = _mini_project(root)
    monkeypatch.chdir(tmp_path)  # the runner must not depend on where it is called from
    run_notebooks("smoke", manifest=manifest, out_dir=root / "book" / "chapters", results_dir=root / "results",
                  extra={"data_root": str(root / "data")})
    assert (root / "results" / "smoke" / "mini" / "table.csv").read_text() == "a,b\n1,2\n"
    executed = root / "book" / "chapters" / "mini.ipynb"
    nb = nbformat.read(executed, as_version=4)
    injected = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert 'output_dir = "results/smoke/mini"' in injected.source
    assert 'data_root = "data"' in injected.source
    assert "results/smoke/mini/table.csv" in nb.cells[-3].outputs[0]["text"]
    assert nb.cells[-2].outputs[0]["text"] == "wrote results/smoke/mini/table.csv\n"  # printed, made relative
    record = nb.cells[-1]
    assert "run-record" in record.metadata["tags"] and "`'results/smoke/mini'`" in record.source
    assert str(tmp_path) not in executed.read_text(), "an absolute path is in the executed notebook"
    status = json.loads((root / "book" / "chapters" / ".run-status.json").read_text())
    assert status["complete"] and status["date"] and "commit" in status and status["machine"]["gpu"]
    assert status["runs"][0]["cell_seconds"] >= 0


def test_plan_merges_globals_groups_and_profiles():
    manifest = {
        "globals": {"seed": 0, "dataset": "fashion-mnist"},
        "notebooks": {"a": {"groups": {"main": {"x": 1}, "wide": {"x": 2, "profiles": {"paper": {"x": 3}}}},
                            "profiles": {"smoke": {"seed": 9}}, "budget_s": {"smoke": 10}}},
    }
    smoke = plan_runs(manifest, "smoke")
    assert [(r.output, r.parameters, r.budget_s) for r in smoke] == [
        ("a.ipynb", {"seed": 9, "dataset": "fashion-mnist", "x": 1, "profile": "smoke"}, 10),
        ("a-wide.ipynb", {"seed": 9, "dataset": "fashion-mnist", "x": 2, "profile": "smoke"}, 10),
    ]
    assert plan_runs(manifest, "paper")[1].parameters["x"] == 3
    with pytest.raises(ValueError, match="profile must be one of"):
        plan_runs(manifest, "huge")


def _copy_book(root):
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "book", root / "book", ignore=shutil.ignore_patterns("chapters"))
    shutil.copytree(ROOT / "notebooks", root / "notebooks")


def test_failing_notebook_fails_the_run_and_blocks_the_build(tmp_path):
    _copy_book(tmp_path)
    bad = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Broken"),
        nbformat.v4.new_code_cell('profile = "smoke"  # run size', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell('raise ValueError("seed must be an integer in [0, 2**32); got -1")'),
    ])
    bad.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(bad, tmp_path / "notebooks" / "broken.ipynb")
    (tmp_path / "notebooks" / "manifest.yml").write_text("notebooks:\n  broken: {}\n")
    with pytest.raises(BookError, match=r"broken.ipynb[\s\S]*seed must be an integer"):
        run_notebooks("smoke", manifest=tmp_path / "notebooks" / "manifest.yml",
                      out_dir=tmp_path / "book" / "chapters", results_dir=tmp_path / "results")
    with pytest.raises(BookError, match="incomplete"):
        build_book(tmp_path)


def test_build_refuses_without_a_run(tmp_path):
    _copy_book(tmp_path)
    with pytest.raises(BookError, match="no executed notebooks"):
        check_complete(tmp_path)


@pytest.fixture(scope="module")
def smoke_book(tmp_path_factory):
    """Execute every notebook under the smoke profile and build the book strictly, in a copy of the repo."""
    root = tmp_path_factory.mktemp("book")
    _copy_book(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IMCKIT_DATA", str(root / "data"))
        mp.setenv("IMCKIT_CACHE", str(root / "cache"))
        results = run_notebooks("smoke", manifest=root / "notebooks" / "manifest.yml",
                                out_dir=root / "book" / "chapters", results_dir=root / "results")
        html = build_book(root, strict=True)
    return root, html, results


@pytest.mark.book
def test_smoke_book_builds_with_every_chapter(smoke_book):
    root, html, results = smoke_book
    assert json.loads((root / "book" / "chapters" / ".run-status.json").read_text())["complete"]
    for run in results:
        page = html / "book" / "chapters" / run.run.output.replace(".ipynb", ".html")
        text = page.read_text()
        assert "Run record" in text and "'smoke'" in text
        nb = nbformat.read(root / "book" / "chapters" / run.run.output, as_version=4)
        assert nb.metadata["papermill"]["parameters"]["profile"] == "smoke"
    assert (html / "index.html").is_file()


def _glued(path) -> dict[str, str]:
    """The text values an executed notebook glued (myst-nb stores them as papermill records)."""
    glued = {}
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            key = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if key:
                data = output["data"]
                glued[key] = data.get("application/papermill.record/text/plain", data.get("text/plain", "")).strip("'")
    return glued


@pytest.mark.book
def test_book_shows_no_machine_path(smoke_book):
    """No page (nor a notebook offered for download) shows where the book was built or the kit installed."""
    root, html, _ = smoke_book
    for path in html.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".ipynb", ".md", ".txt", ".json"):
            text = path.read_text(errors="replace")
            for machine_path in (str(root), str(ROOT)):
                assert machine_path not in text, f"{path.relative_to(html)} shows {machine_path}"


@pytest.mark.book
def test_book_collapses_setup_cells_and_wraps_code(tmp_path):
    """A small book built like the real one: the ``hide-input`` cell is collapsed (a ``<details>`` element,
    no script), code cells get the wrapping stylesheet, and no absolute path shows."""
    for name in ("_config.yml",):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "book", tmp_path / "book", ignore=shutil.ignore_patterns("chapters"))
    _mini_project(tmp_path, long_line=True)
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/chapters/mini\n")
    run_notebooks("smoke", manifest=tmp_path / "notebooks" / "manifest.yml",
                  out_dir=tmp_path / "book" / "chapters", results_dir=tmp_path / "results")
    html = build_book(tmp_path, strict=True)
    page = (html / "book" / "chapters" / "mini.html").read_text()
    collapsed = re.search(r'<details class="[^"]*\bhide above-input\b[^"]*">([\s\S]*?)</details>', page)
    assert collapsed and "pathlib" in collapsed.group(1), "the hide-input cell is not collapsed"
    assert page.count("<details") == 1, "only the tagged cell is collapsed"
    assert "_static/imckit.css" in page
    css = (html / "_static" / "imckit.css").read_text()
    assert "div.cell_input" in css and "pre-wrap" in css
    for path in html.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".ipynb"):
            assert str(tmp_path) not in path.read_text(errors="replace"), path


@pytest.mark.book
def test_baseline_chapter_shows_glued_numbers(smoke_book):
    root, html, _ = smoke_book
    glued = _glued(root / "book" / "chapters" / "baseline.ipynb")
    text = (html / "book" / "chapters" / "baseline.html").read_text()
    assert {"baseline_accuracy", "baseline_loss", "baseline_mapped_weights"} <= set(glued)
    for key in ("baseline_accuracy", "baseline_mapped_weights"):
        assert glued[key] and glued[key] in text, key
    assert (root / "results" / "smoke" / "baseline" / "layers.csv").is_file()


@pytest.mark.book
def test_book_is_offline(smoke_book):
    _, html, _ = smoke_book
    assert (html / "mathjax" / "tex-chtml.js").is_file()
    assert not list((html / "_static").rglob("tex-chtml.js")), "MathJax must not sit under _static/"
    for page in html.rglob("*.html"):
        text = page.read_text()
        remote = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', text)
        assert not remote, f"{page} loads {remote}"
    intro = (html / "book" / "intro.html").read_text()
    assert "mathjax/tex-chtml.js" in intro


@pytest.mark.book
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_math_is_typeset_offline_in_chromium(smoke_book, tmp_path):
    _, html, _ = smoke_book
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path}",
         "--virtual-time-budget=15000", "--dump-dom", (html / "book" / "intro.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout
    assert "mjx-container" in dom, "MathJax did not typeset the intro's equation"


@pytest.mark.book
def test_hessian_chapter_shows_glued_numbers_and_writes_its_tables(smoke_book):
    root, html, _ = smoke_book
    glued = _glued(root / "book" / "chapters" / "hessian.ipynb")
    text = (html / "book" / "chapters" / "hessian.html").read_text()
    for key in ("hs_rel_hutchinson", "hs_rel_fisher", "hs_coord_diff", "hs_t4_text", "hs_energy_mid_levels", "hs_small_layers"):
        assert glued[key] and glued[key] in text, key
    assert float(glued["hs_coord_agree"]) == 100.0  # the coordinated computation predicts like the mixed weights
    out = root / "results" / "smoke" / "hessian"
    for name in ("sweep_8_4.csv", "sweep_8_3.csv", "table4.csv", "hap.csv", "energy.csv", "threshold_rules.csv"):
        assert (out / name).is_file(), name


@pytest.mark.book
def test_regularization_chapter_shows_glued_numbers_and_writes_its_tables(smoke_book):
    root, html, _ = smoke_book
    glued = _glued(root / "book" / "chapters" / "regularization.ipynb")
    text = (html / "book" / "chapters" / "regularization.html").read_text()
    for key in ("rg_fp", "rg_table1_text", "rg_worst_naive", "rg_top_aware", "rg_distance", "rg_se"):
        assert glued[key] and glued[key] in text, key
    out = root / "results" / "smoke" / "regularization"
    for name in ("table1.csv", "faults.csv", "variability.csv"):
        assert (out / name).is_file(), name
    import pandas as pd

    faults = pd.read_csv(out / "faults.csv", index_col=0)
    assert {"basic", "passive", "active", "active+passive"} <= set(faults.columns)
    assert faults.loc[0.0, "faulty weights (%)"] == 0


@pytest.mark.book
def test_no_chapter_states_more_agreement_than_its_verdict_table(smoke_book):
    """Every chapter with claims ends with its verdict table (all its claims, measured or not), and no
    sentence of any chapter says it agrees or disagrees with a paper unless the scorecard chose it."""
    from imckit.papers import agreement_problems, collect, load_claims
    from imckit.papers.scorecard import expected_chapters

    root, html, results = smoke_book
    chapters = root / "book" / "chapters"
    problems = {r.run.output: agreement_problems(chapters / r.run.output) for r in results}
    assert not {k: v for k, v in problems.items() if v}, problems
    frame = collect(chapters)
    for chapter in expected_chapters():
        shown = list(frame.loc[frame["chapter"] == chapter, "key"])
        assert shown == [c.key for c in load_claims(chapter=chapter)], chapter
        assert "Paper vs this kit" in (html / "book" / "chapters" / f"{chapter}.html").read_text(), chapter


@pytest.mark.book
def test_scorecard_page_and_readme_counts_come_from_the_chapters(smoke_book):
    from imckit.book.scorecard import scorecard_counts
    from imckit.papers import collect, counts_sentence
    from imckit.papers.scorecard import README_BEGIN, README_END

    root, html, _ = smoke_book
    frame = collect(root / "book" / "chapters")
    page = (html / "book" / "chapters" / "scorecard.html").read_text()
    assert counts_sentence(frame) in page
    for claim in frame["claim"]:
        assert claim.split(" ")[0] in page
    shutil.copy(ROOT / "README.md", root / "README.md")
    with pytest.raises(BookError, match="default"):
        scorecard_counts(root, readme=True)  # a smoke run never reaches the README
    table = scorecard_counts(root, readme=True, profile="smoke")
    readme = (root / "README.md").read_text()
    block = readme[readme.index(README_BEGIN):readme.index(README_END)]
    total = table.loc["all papers"]
    assert f"| all papers | {' | '.join(str(int(v)) for v in total.values)} |" in block
    assert int(total["claims"]) == len(frame)
