"""Course exercises: the master notebooks' structure, their book pages, otter's student and instructor
notebooks checked both ways, the course table, publishing, and the conventions of every chapter's master."""

import ast
import json
import re
import subprocess

import nbformat
import pytest
import yaml

from imckit.book.exercises import (EXERCISES_DIR, assign, book_page, check_assignment, course_table, is_master,
                                   masters, parse_master, question_seconds, run_chapter,
                                   styled_course_table)
from imckit.book.publish import publish, published_notebooks
from imckit.book.runner import BookError, load_manifest, main, plan_runs, run_notebooks
from imckit.papers import agreement_problems

from ..conftest import ROOT

CONFIG = """# ASSIGNMENT CONFIG
name: {name}
init_cell: true
check_all_cell: false
export_cell: false
run_tests: false
generate: true
tests:
  files: false
  ok_format: true"""
HIDDEN = '""" # BEGIN TEST CONFIG\nhidden: true\n""" # END TEST CONFIG\n'


def _question(name="q1", title="Square root", solution="x = math.sqrt(2)  # SOLUTION",
              tests=("assert isinstance(x, float) and abs(x - 1.41421356) < 1e-6",),
              hidden=("assert isinstance(x, float) and x > 1.4",)):
    raw, md, code = nbformat.v4.new_raw_cell, nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    cells = [raw(f"# BEGIN QUESTION\nname: {name}\npoints: 1"), md(f"#### {title}\nPut the answer in `x`."),
             raw("# BEGIN SOLUTION"), code(solution), raw("# END SOLUTION"), raw("# BEGIN TESTS")]
    cells += [code(t) for t in tests] + [code(HIDDEN + t) for t in hidden]
    return cells + [raw("# END TESTS"), raw("# END QUESTION")]


def _master(name="demo", questions=None):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell('profile: str = "smoke"  # the profile')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_raw_cell(CONFIG.format(name=name)), nbformat.v4.new_markdown_cell("# Demo"),
                params, nbformat.v4.new_code_cell("import math")]
    for cells in questions if questions is not None else [_question()]:
        nb.cells += cells
    return nb


def test_parse_master_reads_questions():
    nb = _master(questions=[_question(), _question("q2", "Cube root", hidden=())])
    name, questions = parse_master(nb)
    assert name == "demo" and is_master(nb)
    assert [(q.name, q.title, q.label, q.tests, q.hidden) for q in questions] == [
        ("q1", "Square root", "ex-demo-q1", 2, 1), ("q2", "Cube root", "ex-demo-q2", 1, 0)]


def _broken(kind):
    nb = _master()
    cells = nb.cells
    if kind == "no config":
        cells.pop(0)
    elif kind == "title":
        cells[5].source = "Put the answer in x."
    elif kind == "only hidden":
        del cells[10]  # the visible test
    elif kind == "order":
        cells[6], cells[9] = cells[9], cells[6]  # BEGIN TESTS before BEGIN SOLUTION's block ends
    elif kind == "unclosed":
        cells.pop()
    elif kind == "twice":
        cells += _question()
    elif kind == "bad name":
        cells[4].source = "# BEGIN QUESTION\nname: 2 q\npoints: 1"
    elif kind == "markdown test":
        cells.insert(10, nbformat.v4.new_markdown_cell("a note"))
    elif kind == "no prompt":
        del cells[5]
    elif kind == "test files":
        cells[0].source = cells[0].source.replace("files: false", "files: true")
    elif kind == "unknown block":
        cells.insert(4, nbformat.v4.new_raw_cell("# BEGIN EXTRA"))
    elif kind == "unclosed config":
        cells[10].source = '""" # BEGIN TEST CONFIG\nhidden: true\nassert x'
    return nb


@pytest.mark.parametrize("kind, message", [
    ("no config", "ASSIGNMENT CONFIG"), ("title", "#### Title"), ("only hidden", "one visible test"),
    ("order", "out of place"), ("unclosed", "END QUESTION"), ("twice", "used twice"),
    ("bad name", "Python identifier"), ("markdown test", "only code cells"), ("no prompt", "has no prompt"),
    ("test files", "files: false"), ("unknown block", "QUESTION, PROMPT, SOLUTION and TESTS blocks only"),
    ("unclosed config", "never closes"),
])
def test_malformed_master_is_refused_naming_the_problem(kind, message):
    with pytest.raises(BookError, match=re.escape(message)):
        parse_master(_broken(kind))


def test_book_page_has_exercise_and_collapsed_solution_with_checks():
    page = book_page(_master())
    text = [c.source for c in page.cells]
    assert not any(c.cell_type == "raw" for c in page.cells), "otter's markers are gone"
    exercise = next(t for t in text if t.startswith("````{exercise}"))
    assert exercise.startswith("````{exercise} q1: Square root\n:label: ex-demo-q1\n:nonumber:")
    assert "Put the answer" in exercise
    start = text.index("```{solution-start} ex-demo-q1\n:class: dropdown\n```")
    end = text.index("```{solution-end}\n```")
    inside = page.cells[start:end]
    assert "x = math.sqrt(2)" in [c.source for c in inside], "the solution shows without the # SOLUTION marker"
    hidden = [c for c in inside if "x > 1.4" in c.source]
    assert hidden and "remove-cell" in hidden[0].metadata["tags"] and "TEST CONFIG" not in hidden[0].source
    assert all(c.metadata["imckit"]["question"] == "q1" for c in page.cells[start - 1:end + 1])
    assert page.metadata["imckit"]["exercises"] == "demo"


@pytest.mark.parametrize("header", ['# HIDDEN\n', '""" # BEGIN TEST CONFIG\nhidden: True\n""" # END TEST CONFIG\n',
                                    '"""#begin test config\nhidden: yes\n"""# end test config\n'])
def test_hidden_checks_are_read_as_otter_reads_them(header):
    nb = _master(questions=[_question(hidden=())])
    nb.cells.insert(11, nbformat.v4.new_code_cell(header + "assert x > 1.4"))
    assert parse_master(nb)[1][0].hidden == 1
    hidden = [c for c in book_page(nb).cells if "x > 1.4" in c.source]
    assert "imckit-hidden-check" in hidden[0].metadata["tags"] and "remove-cell" in hidden[0].metadata["tags"]
    assert "TEST CONFIG" not in hidden[0].source.upper()


def test_otter_marker_variants_and_prompt_blocks():
    nb = _master()
    nb.cells[6].source = "# begin solution"  # otter reads markers in any case
    nb.cells[8].source = "#   End Solution"
    nb.cells[6:6] = [nbformat.v4.new_raw_cell("# BEGIN PROMPT"), nbformat.v4.new_code_cell("x = ...  # your answer"),
                     nbformat.v4.new_raw_cell("# END PROMPT")]
    nb.cells[10].source = "x = math.sqrt(2)  #SOLUTION\nnp = 1  # SEED"
    assert [q.name for q in parse_master(nb)[1]] == ["q1"]
    text = [c.source for c in book_page(nb).cells]
    assert "x = math.sqrt(2)\nnp = 1" in text and not any("your answer" in t for t in text)


def test_question_seconds_sums_each_question():
    page = book_page(_master(questions=[_question(), _question("q2", "Two")]))
    for cell in page.cells:
        cell.metadata["papermill"] = {"duration": 0.5}
    seconds = question_seconds(page)
    assert set(seconds) == {"q1", "q2"} and seconds["q1"] == pytest.approx(0.5 * 7)  # exercise, start, solution, note, 2 checks, end


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """otter assign of a master with one sound question, one check that cannot fail and one wrong solution."""
    tmp = tmp_path_factory.mktemp("otter")
    questions = [_question(),
                 _question("q2", "Weak check", tests=("assert x is not None",), hidden=()),
                 _question("q3", "Wrong solution", solution="y = 3  # SOLUTION",
                           tests=("assert isinstance(y, int) and y == 2",), hidden=()),
                 _question("q4", "Weak visible check", solution="z = 5  # SOLUTION", tests=("assert True",),
                           hidden=("assert isinstance(z, int) and z == 5",))]
    nbformat.write(_master(questions=questions), tmp / "demo.ipynb")
    assignment = assign(tmp / "demo.ipynb", tmp / "out")
    return assignment, check_assignment(assignment)


def test_assign_writes_student_instructor_and_autograder(graded):
    assignment, _ = graded
    student = nbformat.read(assignment.student, as_version=4)
    source = "\n".join(c.source for c in student.cells)
    assert "math.sqrt" not in source and "x = ..." in source and 'grader.check("q1")' in source
    assert "x > 1.4" not in json.dumps(student), "hidden checks stay out of the student notebook"
    instructor = "\n".join(c.source for c in nbformat.read(assignment.instructor, as_version=4).cells)
    assert "math.sqrt(2)" in instructor
    assert assignment.autograder.name == "demo-autograder.zip" and assignment.autograder.is_file()
    assert not [p for p in assignment.student.parent.parent.rglob(".*") if p.name != ".ipynb_checkpoints"]


def test_check_both_ways_flags_a_weak_check_and_a_wrong_solution(graded):
    _, problems = graded
    assert len(problems) == 3, problems
    assert any("demo/q4" in p and "passes its visible checks" in p for p in problems), "hidden checks do not count"
    assert any("demo/q2" in p and "cannot fail" in p for p in problems)
    assert any("demo/q3" in p and "solution scores 0 of 1" in p for p in problems)
    assert not any("demo/q1" in p for p in problems)


def test_assign_refuses_a_name_that_is_not_the_file(tmp_path):
    nbformat.write(_master(name="other"), tmp_path / "demo.ipynb")
    with pytest.raises(BookError, match="'other', not the file's 'demo'"):
        assign(tmp_path / "demo.ipynb", tmp_path / "out")


def test_runner_executes_the_book_page_and_times_each_exercise(tmp_path):
    notebooks = tmp_path / "notebooks"
    (notebooks / "exercises").mkdir(parents=True)
    nb = _master()
    nb.cells[2].source += '\noutput_dir: str = "results/x"  # where'
    nbformat.write(nb, notebooks / "exercises" / "demo.ipynb")
    bad = _broken("title")
    bad.cells[2].source = nb.cells[2].source
    nbformat.write(bad, notebooks / "exercises" / "bad.ipynb")
    (notebooks / "manifest.yml").write_text("notebooks:\n  exercises/demo: {}\n  exercises/bad: {}\n")
    with pytest.raises(BookError, match=r"before any notebook ran[\s\S]*exercises/bad.ipynb[\s\S]*#### Title"):
        run_notebooks("smoke", manifest=notebooks / "manifest.yml", out_dir=tmp_path / "book" / "chapters",
                      results_dir=tmp_path / "results", progress=False)
    assert not (tmp_path / "book" / "chapters" / "exercises").exists(), "nothing ran"
    (notebooks / "manifest.yml").write_text("notebooks:\n  exercises/demo: {}\n")
    run_notebooks("smoke", manifest=notebooks / "manifest.yml", out_dir=tmp_path / "book" / "chapters",
                  results_dir=tmp_path / "results", progress=False)
    page = nbformat.read(tmp_path / "book" / "chapters" / "exercises" / "demo.ipynb", as_version=4)
    assert any(c.source.startswith("````{exercise}") for c in page.cells)
    assert not any("x > 1.4" in c.source for c in page.cells), "the hidden check ran, then left the page"
    seconds = json.loads((tmp_path / "results" / "smoke" / "exercises" / "demo" / "exercise_seconds.json").read_text())
    assert set(seconds) == {"q1"} and seconds["q1"] >= 0
    assert not (tmp_path / "book" / "chapters" / "exercises" / "bad.ipynb").exists()
    assert not list((tmp_path / "book" / "chapters").rglob("*.source.ipynb"))


def test_course_table_reads_times_and_says_not_measured(tmp_path):
    folder = tmp_path / "ex"
    folder.mkdir()
    nbformat.write(_master(questions=[_question(), _question("q2", "Two")]), folder / "demo.ipynb")
    times = tmp_path / "results" / "smoke" / "exercises" / "demo"
    times.mkdir(parents=True)
    (times / "exercise_seconds.json").write_text(json.dumps({"q1": 3.5}))
    broken = tmp_path / "results" / "default" / "exercises" / "demo"
    broken.mkdir(parents=True)
    (broken / "exercise_seconds.json").write_text("{not json")
    table = course_table(tmp_path / "results", folder=folder)
    assert list(table["question"]) == ["q1", "q2"] and table.loc[0, "smoke s"] == 3.5
    assert table[["smoke s", "default s"]].isna().sum().sum() == 3
    shown = styled_course_table(table).to_html()
    assert "not measured" in shown and ">4<" in shown  # 3.5 s shown in whole seconds


def test_masters_only_names_known_chapters():
    with pytest.raises(BookError, match="only must name chapters with exercises"):
        masters(["no-such-chapter"])
    with pytest.raises(BookError, match="chapter must be one of"):
        run_chapter("no-such-chapter", "unused")
    with pytest.raises(ValueError, match="profile"):
        run_chapter("fefet", "unused", profile="fast")


# -- publishing -------------------------------------------------------------------------------------------

def _git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def test_publish_commits_book_and_student_notebooks_to_a_local_branch(tmp_path):
    _git("init", "-q", "-b", "main", cwd=tmp_path)
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "init", cwd=tmp_path)
    html = tmp_path / "_build" / "html"
    html.mkdir(parents=True)
    (html / "index.html").write_text("<html>book</html>")
    for version in ("student", "instructor"):
        (tmp_path / "_build" / "exercises" / version).mkdir(parents=True)
        (tmp_path / "_build" / "exercises" / version / "demo.ipynb").write_text("{}")
    (tmp_path / "_build" / "exercises" / "student" / "renamed-chapter.ipynb").write_text("{}")  # stale
    commit = publish(tmp_path, chapters=["demo"])
    files = _git("ls-tree", "-r", "--name-only", "gh-pages", cwd=tmp_path).split()
    assert set(files) == {".nojekyll", "index.html", "exercises/student/demo.ipynb"}, "no instructor notebook"
    assert _git("rev-parse", "gh-pages", cwd=tmp_path).strip() == commit
    assert _git("remote", cwd=tmp_path) == "", "nothing to push to, nothing pushed"
    assert _git("branch", "--show-current", cwd=tmp_path).strip() == "main"


def test_publish_refuses_without_a_book_students_or_git(tmp_path):
    with pytest.raises(BookError, match="no built book"):
        publish(tmp_path)
    (tmp_path / "_build" / "html").mkdir(parents=True)
    (tmp_path / "_build" / "html" / "index.html").write_text("x")
    with pytest.raises(BookError, match="not a git repository"):
        publish(tmp_path)
    with pytest.raises(BookError, match="make exercises"):
        published_notebooks(tmp_path / "_build" / "html", tmp_path / "_build" / "exercises", ["demo"])
    with pytest.raises(TypeError, match="push must be"):
        publish(tmp_path, push="yes")


def test_publish_workflow_and_make_targets_exist():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "publish-book.yml").read_text())
    steps = workflow["jobs"]["build"]["steps"]
    runs = " ".join(step.get("run", "") for step in steps)
    assert "make book" in runs and "make exercises CHECK=1" in runs
    assert any(step.get("uses", "").startswith("actions/upload-pages-artifact") for step in steps)
    assert set(workflow[True]) == {"workflow_dispatch"}, "runs only when started by hand"  # YAML's `on` is True
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^exercises: ", makefile, re.M) and re.search(r"^publish: book exercises", makefile, re.M)
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "sphinx_exercise" in config["sphinx"]["extra_extensions"]
    buttons = config["launch_buttons"]
    assert buttons["binderhub_url"] and buttons["colab_url"] and config["repository"]["url"].startswith("https://")


def test_exercises_command_reports_unknown_chapters(capsys):
    assert main(["exercises", "--only", "nope", "--out", "/nonexistent-unused"]) == 1
    assert "only must name chapters" in capsys.readouterr().err


# -- every chapter's master ----------------------------------------------------------------------------

CHAPTERS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb") if p.stem != "instructors")
MAX_CODE_LINE = 88


def test_every_chapter_has_exercises_in_the_manifest_and_toc():
    assert sorted(p.stem for p in EXERCISES_DIR.glob("*.ipynb")) == CHAPTERS
    names = {r.notebook for r in plan_runs(load_manifest(ROOT / "notebooks" / "manifest.yml"), "smoke")}
    toc = (ROOT / "_toc.yml").read_text()
    for chapter in CHAPTERS:
        assert f"exercises/{chapter}" in names
        assert f"- file: book/chapters/{chapter}\n        sections:\n          - file: book/chapters/exercises/{chapter}" \
            in toc


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_master_follows_the_conventions(chapter, tmp_path):
    path = EXERCISES_DIR / f"{chapter}.ipynb"
    nb = nbformat.read(path, as_version=4)
    name, questions = parse_master(nb)
    assert name == chapter and 3 <= len(questions) <= 5
    assert [q.name for q in questions] == [f"q{i}" for i in range(1, len(questions) + 1)]
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "stored without outputs"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    names = set()
    for line in params[0].source.splitlines():
        match = re.fullmatch(r"(\w+): (int|float|str|bool) = (.+?)  # \S.*", line)
        assert match, line
        ast.literal_eval(match.group(3))
        names.add(match.group(1))
    assert {"profile", "seed", "dataset", "data_root", "output_dir"} <= names
    assert 'profile: str = "smoke"' in params[0].source, "students start at the smoke profile"
    long = [line for c in code for line in c.source.splitlines() if len(line) > MAX_CODE_LINE]
    assert not long, long[:3]
    assert "run_chapter(" in "\n".join(c.source for c in code), "one exercise reruns the chapter with papermill"
    page = tmp_path / f"{chapter}.ipynb"
    nbformat.write(book_page(nb), page)
    assert not agreement_problems(page), "only a verdict table may say the kit agrees with a paper"
