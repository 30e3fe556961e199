"""The notebooks follow the book's conventions, and the book builds from them (the build is a test)."""

import ast
import io
import json
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

from imckit.book.parameters import ParameterError
from imckit.book.runner import (STATUS_FILE, BookError, _LogLines, build_book, check_complete, code_state,
                                describe_code_state, execute_notebook, load_manifest, main, plan_runs,
                                progress_options, project_path, run_notebooks)

from ..conftest import ROOT

MANIFEST = ROOT / "notebooks" / "manifest.yml"
REQUIRED_PARAMETERS = {"profile", "seed", "dataset", "data_root", "output_dir"}
MAX_CODE_LINE = 88  # characters of a code line that fit the book's page width


def _notebooks():
    """The chapters (the pages of exercises follow their own conventions: tests/book/test_exercises.py)."""
    return sorted(name for name in load_manifest(MANIFEST)["notebooks"] if not name.startswith("exercises/"))


def test_every_notebook_file_is_in_the_manifest_and_the_toc():
    files = sorted(p.relative_to(ROOT / "notebooks").with_suffix("").as_posix()
                   for p in [*(ROOT / "notebooks").glob("*.ipynb"), *(ROOT / "notebooks" / "exercises").glob("*.ipynb")])
    assert files == sorted(load_manifest(MANIFEST)["notebooks"])
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
    names = {}
    for line in tagged[0].source.splitlines():
        if not line.strip():
            continue
        match = re.fullmatch(r"(\w+): ((?:int|float|str|bool|dict|list\[(?:int|float|str)\])) = (.+?)  # \S.*",
                             line)
        assert match, f"parameters cell line is not `name: type = literal  # comment`: {line!r}"
        ast.literal_eval(match.group(3))  # literals only: papermill does not re-evaluate expressions
        names[match.group(1)] = match.group(2)
    assert REQUIRED_PARAMETERS <= set(names)
    # papermill must see every parameter with its type (it skips, e.g., lines with a second "=" in the
    # comment), so `papermill --help-notebook` shows the types
    import papermill

    inspected = papermill.inspect_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"))
    assert {k: v["inferred_type_name"] for k, v in inspected.items()} == names
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
        nbformat.v4.new_code_cell('profile: str = "default"  # run size\noutput_dir: str = "results/mini"  # files\n'
                                  'data_root: str = ""  # data\nrows: int = 1  # table rows',
                                  metadata={"tags": ["parameters"]}),
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
    if (ROOT / "sweeps").is_dir():  # the sweep files the Sweeps chapter runs
        shutil.copytree(ROOT / "sweeps", root / "sweeps")


def test_failing_notebook_fails_the_run_and_blocks_the_build(tmp_path):
    _copy_book(tmp_path)
    bad = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Broken"),
        nbformat.v4.new_code_cell('profile: str = "smoke"  # run size', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell('raise ValueError("seed must be an integer in [0, 2**32); got -1")'),
    ])
    bad.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(bad, tmp_path / "notebooks" / "broken.ipynb")
    (tmp_path / "notebooks" / "manifest.yml").write_text("notebooks:\n  broken: {}\n")
    with pytest.raises(BookError, match=r"broken.ipynb[\s\S]*seed must be an integer"):
        run_notebooks("smoke", manifest=tmp_path / "notebooks" / "manifest.yml",
                      out_dir=tmp_path / "book" / "chapters", results_dir=tmp_path / "results", progress=False)
    with pytest.raises(BookError, match="incomplete"):
        build_book(tmp_path)


def test_build_refuses_without_a_run(tmp_path):
    _copy_book(tmp_path)
    with pytest.raises(BookError, match="no executed notebooks"):
        check_complete(tmp_path)


def _no_papermill(monkeypatch):
    """Make any notebook execution fail the test: what is checked must be checked before anything runs."""
    import papermill

    def refuse(*args, **kwargs):
        raise AssertionError(f"a notebook was executed: {args[:2]}")

    monkeypatch.setattr(papermill, "execute_notebook", refuse)


def _run(root, **kwargs):
    return run_notebooks("smoke", manifest=root / "notebooks" / "manifest.yml", out_dir=root / "book" / "chapters",
                         results_dir=root / "results", progress=False, **kwargs)


def _nothing_ran(root):
    """Not a file, not even a folder, was written."""
    return not (root / "book").exists() and not (root / "results").exists()


@pytest.mark.parametrize("manifest, expected", [
    ("notebooks:\n  mini:\n    groups:\n      main: {rowz: 3}\n",
     r"unknown parameter 'rowz' \(= 3\) \(did you mean 'rows'\?\)"
     r".*declares: data_root, output_dir, profile, rows"),
    ("globals: {seed: 0}\nnotebooks:\n  mini: {}\n", r"unknown parameter 'seed' \(= 0\)"),
    ("notebooks:\n  mini:\n    profiles: {smoke: {rows: 2.5}}\n",
     r"rows must be an integer \(int, as its parameters cell declares\); got 2.5"),
    ("notebooks:\n  mini:\n    groups:\n      main: {rows: '4'}\n", r"rows must be an integer.*; got '4'"),
])
def test_parameters_are_checked_before_any_notebook_runs(tmp_path, monkeypatch, manifest, expected):
    root = tmp_path / "project"
    _mini_project(root)
    (root / "notebooks" / "manifest.yml").write_text(manifest)
    _no_papermill(monkeypatch)
    prefix = r"^parameters \(or a page of exercises\) rejected before any notebook ran:\n- mini.ipynb \(group 'main'\): mini.ipynb: "
    with pytest.raises(BookError, match=prefix + expected):
        _run(root)
    assert _nothing_ran(root)


def test_every_bad_parameter_of_every_run_is_listed_at_once(tmp_path, monkeypatch):
    root = tmp_path / "project"
    _mini_project(root)
    (root / "notebooks" / "manifest.yml").write_text(
        "notebooks:\n  mini:\n    groups:\n      main: {rows: 2}\n      wide: {rows: true}\n      odd: {cols: 1}\n")
    _no_papermill(monkeypatch)
    with pytest.raises(BookError) as info:
        _run(root, extra={"data_root": 5})  # data_root is declared a str
    message = str(info.value)
    assert message.count("\n- ") == 3, message  # main (data_root), wide (rows, first problem), odd (cols)
    assert "mini.ipynb (group 'main'): mini.ipynb: data_root must be a string" in message
    assert "mini-wide.ipynb (group 'wide')" in message and "mini-odd.ipynb (group 'odd')" in message
    assert _nothing_ran(root)


def test_only_with_no_names_or_unknown_names_runs_nothing(tmp_path, monkeypatch, capsys):
    root = tmp_path / "project"
    _mini_project(root)
    _no_papermill(monkeypatch)
    with pytest.raises(BookError, match=r"^--only needs at least one notebook name; the manifest lists \['mini'\]"):
        _run(root, only=[])
    with pytest.raises(BookError, match=r"^unknown notebook\(s\) \['minni'\]; the manifest lists \['mini'\]"):
        _run(root, only=["minni"])
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--profile", "smoke", "--only"])
    assert exit_.value.code == 2 and "--only needs at least one notebook name" in capsys.readouterr().err
    assert _nothing_ran(root)


def test_output_folders_are_checked_before_any_notebook_runs(tmp_path, monkeypatch):
    root = tmp_path / "project"
    _mini_project(root)
    _no_papermill(monkeypatch)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(BookError, match=r"^out_dir \(the executed notebooks' folder\) must be a folder this user can "
                                        r"write to; got '.*a-file/chapters'"):
        run_notebooks("smoke", manifest=root / "notebooks" / "manifest.yml", out_dir=blocker / "chapters",
                      results_dir=root / "results", progress=False)
    with pytest.raises(BookError, match=r"^results_dir \(the chapters' files\) must be a folder"):
        run_notebooks("smoke", manifest=root / "notebooks" / "manifest.yml", out_dir=root / "book" / "chapters",
                      results_dir=blocker, progress=False)


def _failing_project(root):
    """The mini chapter plus one that writes a file into its output folder and then fails."""
    _mini_project(root)
    cells = [
        nbformat.v4.new_markdown_cell("# Half a chapter"),
        nbformat.v4.new_code_cell('profile: str = "default"  # run size\noutput_dir: str = "x"  # files',
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("from pathlib import Path\nPath(output_dir).mkdir(parents=True, exist_ok=True)\n"
                                  "(Path(output_dir) / 'first.csv').write_text('a\\n1\\n')"),
        nbformat.v4.new_code_cell('raise RuntimeError("the second table failed")'),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "notebooks" / "half.ipynb")
    (root / "notebooks" / "manifest.yml").write_text("notebooks:\n  half: {}\n  mini: {}\n")


def test_failed_chapter_leaves_nothing_that_looks_complete(tmp_path):
    root = tmp_path / "project"
    _failing_project(root)
    chapters, results = root / "book" / "chapters", root / "results" / "smoke"
    # what an earlier, successful run left under the final names must not survive a failed run
    chapters.mkdir(parents=True)
    (chapters / "half.ipynb").write_text("{}")
    (results / "half").mkdir(parents=True)
    (results / "half" / "old.csv").write_text("old\n")
    with pytest.raises(BookError, match=r"notebook\(s\) failed:\n\n--- half.ipynb\n[\s\S]*the second table failed"):
        _run(root)
    assert not (chapters / "half.ipynb").exists(), "a failed notebook is under its final name"
    failed = chapters / "failed" / "half.failed.ipynb"
    assert "the second table failed" in failed.read_text()
    assert not (chapters / ".running").exists()
    assert not (results / "half").exists(), "the results folder of a failed chapter is under its usual name"
    assert (results / "half.failed" / "first.csv").is_file()
    assert "incomplete" in (results / "half.failed" / "FAILED.txt").read_text()
    assert (chapters / "mini.ipynb").is_file() and (results / "mini" / "table.csv").is_file()  # the others ran
    status = json.loads((chapters / STATUS_FILE).read_text())
    assert (status["complete"], status["state"]) == (False, "finished")
    assert [r["output"] for r in status["runs"] if r["error"]] == ["half.ipynb"]
    with pytest.raises(BookError, match=r"incomplete \(failed: \['half.ipynb'\]"):
        check_complete(root)
    from imckit.papers.scorecard import collect

    assert collect(chapters).empty  # the scorecard does not read the failed notebook (it is in failed/)


def test_a_later_success_clears_what_the_failure_left(tmp_path):
    root = tmp_path / "project"
    _failing_project(root)
    with pytest.raises(BookError):
        _run(root, only=["half"])
    source = root / "notebooks" / "half.ipynb"
    nb = nbformat.read(source, as_version=4)
    nb.cells[-1].source = "print('fixed')"
    nbformat.write(nb, source)
    _run(root)
    chapters, results = root / "book" / "chapters", root / "results" / "smoke"
    assert (chapters / "half.ipynb").is_file() and not (chapters / "failed").exists()
    assert not (chapters / ".running").exists()
    assert (results / "half" / "first.csv").is_file() and not (results / "half.failed").exists()
    assert check_complete(root)["complete"]


def test_an_interrupted_run_is_marked_and_blocks_the_build(tmp_path, monkeypatch):
    root = tmp_path / "project"
    _mini_project(root)
    import papermill

    def interrupted(source, output, **kwargs):
        Path(output).write_text(nbformat.writes(nbformat.read(source, as_version=4)))  # what ran so far
        raise KeyboardInterrupt

    monkeypatch.setattr(papermill, "execute_notebook", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _run(root)
    chapters = root / "book" / "chapters"
    status = json.loads((chapters / STATUS_FILE).read_text())
    assert (status["complete"], status["state"]) == (False, "interrupted")
    assert "KeyboardInterrupt" in status["runs"][0]["error"]
    assert not (chapters / "mini.ipynb").exists() and (chapters / "failed" / "mini.failed.ipynb").is_file()
    with pytest.raises(BookError, match=r"incomplete: it was interrupted after 1 notebook"):
        check_complete(root)


def test_status_and_check_complete_agree_on_a_missing_notebook(tmp_path):
    root = tmp_path / "project"
    _mini_project(root)
    _run(root)
    assert check_complete(root)["complete"]
    (root / "book" / "chapters" / "mini.ipynb").unlink()
    with pytest.raises(BookError, match=r"executed notebook\(s\) \['mini.ipynb'\] of the last run are missing"):
        check_complete(root)


def test_execute_command_checks_parameters_then_runs(tmp_path, monkeypatch, capsys):
    root = tmp_path / "project"
    _mini_project(root)
    monkeypatch.chdir(root)
    out = tmp_path / "out" / "mini-run.ipynb"
    assert main(["execute", "notebooks/mini.ipynb", str(out), "-p", "rowz", "3"]) == 2
    err = capsys.readouterr().err
    assert "ERROR (nothing ran): mini.ipynb: unknown parameter 'rowz' (= 3) (did you mean 'rows'?)" in err
    assert main(["execute", "notebooks/mini.ipynb", str(out), "-p", "rows", "2.5"]) == 2
    assert "rows must be an integer" in capsys.readouterr().err
    assert not out.exists() and not out.parent.exists()
    assert main(["execute", "notebooks/mini.ipynb", str(out), "-p", "rows", "3", "-r", "profile", "smoke",
                 "-p", "output_dir", "results/cli"]) == 0
    captured = capsys.readouterr()
    assert f"wrote {out}" in captured.out and "mini-run" in captured.err  # the progress bar (a line in a log)
    injected = next(c for c in nbformat.read(out, as_version=4).cells
                    if "injected-parameters" in c.metadata.get("tags", []))
    assert "rows = 3\n" in injected.source and 'profile = "smoke"' in injected.source
    assert (root / "results" / "cli" / "table.csv").is_file()
    assert [p.name for p in out.parent.iterdir()] == ["mini-run.ipynb"]  # no temporary file left


def test_execute_keeps_a_failed_notebook_aside(tmp_path, monkeypatch):
    root = tmp_path / "project"
    _failing_project(root)
    out = tmp_path / "half-run.ipynb"
    with pytest.raises(BookError, match=r"half.ipynb failed; the executed notebook with the error is "
                                        r".*half-run.failed.ipynb"):
        execute_notebook(root / "notebooks" / "half.ipynb", out, {"output_dir": str(tmp_path / "r")}, cwd=root,
                         progress=False)
    assert not out.exists() and "the second table failed" in (tmp_path / "half-run.failed.ipynb").read_text()
    with pytest.raises(ParameterError, match=r"^half.ipynb: unknown parameter 'data_root'"):
        execute_notebook(root / "notebooks" / "half.ipynb", out, {"data_root": ""})  # allow=() by default


def test_progress_shows_one_plain_line_per_refresh_in_a_log():
    stream = io.StringIO()
    lines = _LogLines(stream)
    lines.write("\r[1/2] a.ipynb:   0%|          | 0/4 [00:00<?, ?cell/s]")
    lines.write("\r[1/2] a.ipynb:   0%|          | 0/4 [00:00<?, ?cell/s]   ")  # nothing new: dropped
    lines.write("\r[1/2] a.ipynb: 100%|##########| 4/4 [00:01<00:00, 3.1cell/s]\n")
    assert stream.getvalue().splitlines() == ["[1/2] a.ipynb:   0%|          | 0/4 [00:00<?, ?cell/s]",
                                              "[1/2] a.ipynb: 100%|##########| 4/4 [00:01<00:00, 3.1cell/s]"]
    options = progress_options("[1/2] a.ipynb", io.StringIO())
    assert options["progress_bar"]["ascii"] and isinstance(options["progress_bar"]["file"], _LogLines)
    assert options["heartbeat_s"] >= 30


def test_run_shows_per_cell_progress(tmp_path, capsys):
    root = tmp_path / "project"
    _mini_project(root)
    run_notebooks("smoke", manifest=root / "notebooks" / "manifest.yml", out_dir=root / "book" / "chapters",
                  results_dir=root / "results")
    captured = capsys.readouterr()
    assert "[imckit.book] [1/1] mini.ipynb: profile smoke" in captured.out
    bar = [line for line in captured.err.splitlines() if line.startswith("[1/1] mini.ipynb:")]
    assert bar and bar[-1].startswith("[1/1] mini.ipynb: 100%") and "6/6" in bar[-1], captured.err  # 5 + injected
    assert "\r" not in captured.err


def test_sweep_command_is_handed_to_the_sweep_module(monkeypatch, capsys):
    import imckit.book

    calls = []
    fake = types.SimpleNamespace(main=lambda argv: calls.append(argv) or 3)
    monkeypatch.setitem(sys.modules, "imckit.book.sweep", fake)
    monkeypatch.setattr(imckit.book, "sweep", fake, raising=False)
    assert main(["sweep", "sweeps/x.yml", "--dry-run"]) == 3 and calls == [["sweeps/x.yml", "--dry-run"]]
    monkeypatch.setitem(sys.modules, "imckit.book.sweep", None)  # a missing module
    monkeypatch.delattr(imckit.book, "sweep")
    assert main(["sweep", "sweeps/x.yml"]) == 1
    assert "the sweep command needs imckit.book.sweep" in capsys.readouterr().err


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
def test_every_chapters_exercises_pass_solved_and_fail_unsolved(smoke_book, tmp_path):
    """``make exercises CHECK=1`` over the whole course, with the smoke book's caches: otter grades the
    instructor notebook (every question full points) and the student notebook (no question passes)."""
    from imckit.book.exercises import assign, check_assignment, masters

    root, html, _ = smoke_book
    problems, graded = [], 0
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IMCKIT_DATA", str(root / "data"))
        mp.setenv("IMCKIT_CACHE", str(root / "cache"))
        for master in masters(folder=root / "notebooks" / "exercises"):
            assignment = assign(master, tmp_path)
            problems += check_assignment(assignment)
            graded += len(assignment.questions)
            page = (html / "book" / "chapters" / "exercises" / f"{master.stem}.html").read_text()
            assert page.count('class="exercise admonition"') == len(assignment.questions)
            assert page.count('class="solution dropdown admonition"') == len(assignment.questions)
    assert graded >= 30 and not problems, "\n".join(problems)


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
