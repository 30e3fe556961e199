"""Course exercises: one otter-grader master notebook per chapter, made into a book page, a student notebook
and an instructor notebook, and checked both ways (the solutions pass, the unsolved version fails).

The source of a chapter's exercises is ``notebooks/exercises/CHAPTER.ipynb`` in otter-grader's master
format (``# ASSIGNMENT CONFIG``, ``# BEGIN QUESTION`` ... ``# END QUESTION`` raw cells; solutions between
``# BEGIN SOLUTION`` / ``# END SOLUTION`` comments or on lines ending in ``# SOLUTION``; test cells of
``assert`` statements). From it:

- :func:`book_page` writes the page the book shows (``sphinx-exercise`` directives, each solution and its
  checks in a collapsed ``solution`` block); the runner executes it like any chapter, so every solution and
  every check (hidden ones too) runs in each book build: a solution cannot rot.
- :func:`assign` runs ``otter assign``: the student notebook (solutions replaced by ``...``, the checks
  callable as ``grader.check("q1")``) and the instructor notebook with the autograder zip.
- :func:`check_assignment` grades both with otter (locally, no Docker): every question of the instructor
  notebook must score full points and every question of the student notebook zero.

``python -m imckit.book exercises`` (``make exercises``) does the last two for every chapter.

Why otter-grader and not nbgrader: otter's master notebook is one plain notebook (no database, no course
directory layout, no JupyterHub), its student notebooks check themselves offline with ``grader.check``, and
``otter run`` grades a notebook on a laptop. What otter does not do is written here by hand: the book page
(otter has no Sphinx output) and the both-ways check over a whole course.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from imckit.book.runner import ROOT, BookError, execute_notebook

EXERCISES_DIR = ROOT / "notebooks" / "exercises"


def chapter_notebook(chapter: str) -> Path:
    """The source notebook of a chapter, ``notebooks/CHAPTER.ipynb`` of the kit's checkout.

    Raises:
        BookError: no such chapter (the message lists the chapters), or the kit is not a checkout (an
            exercise that runs a chapter needs the editable install of ``make env``).
    """
    folder = ROOT / "notebooks"
    if not folder.is_dir():
        raise BookError(f"the chapters' notebooks are not at {folder}: install the kit from its checkout "
                        "(make env, or pip install -e .) to run chapters from an exercise")
    names = sorted(p.stem for p in folder.glob("*.ipynb"))
    if not isinstance(chapter, str) or chapter not in names:
        raise BookError(f"chapter must be one of {names}; got {chapter!r}")
    return folder / f"{chapter}.ipynb"


def run_chapter(chapter: str, output_dir: str | Path, profile: str = "smoke", **parameters) -> dict:
    """Execute a chapter with papermill under new parameters and return what it glued.

    The chapter runs from the kit's folder (as in the book) into ``output_dir/CHAPTER.ipynb``; its own
    files go to ``output_dir/CHAPTER/``, what its kernel prints on stderr (warnings) to
    ``output_dir/CHAPTER.kernel.log``. The parameters are checked against the chapter's parameters cell
    before anything runs (a misspelt name is an error, not a silent default).

    Args:
        chapter: the chapter's notebook name, e.g. ``"fefet"``.
        output_dir: folder for the executed notebook and the chapter's files (created).
        profile: ``"smoke"``, ``"default"`` or ``"paper"``.
        **parameters: the chapter's parameters to change, e.g. ``target_ber=0.08``.

    Returns:
        glue name -> value (numbers as float or int, text as str) of every number or short text the
        chapter glued (figures and tables are left out); see :func:`imckit.book.sweep_table.read_glued`.

    Example:
        >>> glued = run_chapter("fefet", "results/exercises/fefet", target_ber=0.08)  # doctest: +SKIP
        >>> glued["fefet_model_ber"]  # doctest: +SKIP
        8.0
    """
    from imckit.book.sweep_table import read_glued

    from imckit.core.profiles import check_profile

    source = chapter_notebook(chapter)
    check_profile(profile)
    out = Path(output_dir).absolute()
    out.mkdir(parents=True, exist_ok=True)
    params = dict(parameters, profile=profile, output_dir=str(out / chapter))
    with open(out / f"{chapter}.kernel.log", "wb") as log:
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)  # the inner kernel's own warnings go to the log, not into the exercise's page
        try:
            executed = execute_notebook(source, out / f"{chapter}.ipynb", params, cwd=ROOT, progress=False)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return read_glued(executed)


# -- the master notebook ---------------------------------------------------------------------------------

# otter's own patterns (otter.assign.blocks / tests_manager / solutions): case-insensitive, spacing free
_MARKER = re.compile(r"#\s+(assignment\s+config|(begin|end)\s+(question|prompt|solution|tests))\b", re.I)
_TEST_CONFIG_BEGIN = re.compile(r'(?:.\s*=\s*)?""?"?\s*#\s*BEGIN\s*TEST\s*CONFIG', re.I)
_TEST_CONFIG_END = re.compile(r'""?"?\s*#\s*END\s*TEST\s*CONFIG', re.I)
_SOLUTION_SUFFIX = re.compile(r"\s*#\s?SOLUTION(\s+NO\s+PROMPT)?\s*$")


@dataclass(frozen=True)
class Question:
    """One question of a master notebook.

    Attributes:
        name: otter's name (``q1``), what ``grader.check`` takes.
        title: the prompt's first heading, the exercise's title in the book.
        label: the book's cross-reference label, ``ex-CHAPTER-NAME``.
        points: otter's points.
        tests: number of test cells; hidden: how many of them are hidden from students.
    """

    name: str
    title: str
    label: str
    points: float
    tests: int
    hidden: int


def _marker(cell) -> str | None:
    """``"# ASSIGNMENT CONFIG"``, ``"# BEGIN QUESTION"``, ... for otter's raw marker cells (any case, as otter
    reads them), else ``None``. A raw cell that looks like a marker of another kind is an error."""
    if cell.cell_type != "raw" or not cell.source.strip():
        return None
    first = cell.source.strip().splitlines()[0].strip()
    match = _MARKER.match(first)
    if match:
        return "# " + " ".join(match.group(1).upper().split())
    if re.match(r"#\s*(begin|end)\b", first, re.I):
        raise BookError(f"raw cell {first!r}: imckit reads otter's QUESTION, PROMPT, SOLUTION and TESTS blocks only")
    return None


def _marker_yaml(cell, where: str) -> dict:
    import yaml

    body = "\n".join(cell.source.strip().splitlines()[1:])
    try:
        data = yaml.safe_load(body) if body.strip() else {}
    except yaml.YAMLError as err:
        raise BookError(f"{where}: its YAML does not parse: {err}") from None
    if not isinstance(data, dict):
        raise BookError(f"{where}: expected `name: value` lines after the marker; got {body!r}")
    return data


def is_master(notebook) -> bool:
    """Whether a notebook (path or nbformat node) is an otter master: its first cell is ``# ASSIGNMENT CONFIG``."""
    nb = _read(notebook)
    return bool(nb.cells) and _marker(nb.cells[0]) == "# ASSIGNMENT CONFIG"


def _read(notebook):
    import nbformat

    if isinstance(notebook, (str, Path)):
        return nbformat.read(str(notebook), as_version=4)
    return notebook


def _strip_solution_markers(source: str) -> str:
    """The solution as the book shows it: otter's ``# BEGIN/END SOLUTION`` lines, ``# SOLUTION`` suffixes and
    in-cell prompts (``# BEGIN PROMPT`` ... ``# END PROMPT``, what students get instead) removed."""
    lines, prompt = [], False
    for line in source.splitlines():
        bare = line.strip()
        if re.search(r"#\s*BEGIN\s+PROMPT\s*$", bare):
            prompt = True
            continue
        if prompt:
            prompt = not re.search(r"#\s*END\s+PROMPT\s*$", bare)
            continue
        if re.fullmatch(r"#\s*(BEGIN|END)\s+SOLUTION(\s+NO\s+PROMPT)?", bare):
            continue
        line = re.sub(r"\s*#\s?SEED\s*$", "", _SOLUTION_SUFFIX.sub("", line))
        lines.append(line)
    return "\n".join(lines)


def _test_body(source: str) -> tuple[str, bool]:
    """A test cell's code without otter's test-config header, and whether otter hides it from students
    (``hidden: true`` in the header, or a first comment line naming ``hidden``, as otter decides)."""
    import yaml

    lines = source.strip().splitlines() or [""]
    if _TEST_CONFIG_BEGIN.match(lines[0]):
        end = next((i for i, line in enumerate(lines) if i and _TEST_CONFIG_END.match(line)), None)
        if end is None:
            raise BookError(f"a test cell opens a TEST CONFIG header it never closes: {lines[0]!r}")
        try:
            config = yaml.safe_load("\n".join(lines[1:end])) or {}
        except yaml.YAMLError as err:
            raise BookError(f"a test cell's TEST CONFIG does not parse: {err}") from None
        return "\n".join(lines[end + 1:]).lstrip("\n"), bool(isinstance(config, dict) and config.get("hidden"))
    if lines[0].lstrip().startswith("#"):
        return source, bool(re.search(r"\bhidden\b", lines[0], re.I))
    return source, False


def parse_master(notebook) -> tuple[str, list[Question]]:
    """Check a master notebook's structure and return its assignment name and questions.

    Raises:
        BookError: naming the cell, for a missing ``# ASSIGNMENT CONFIG`` first cell, a marker out of
            place (e.g. ``# BEGIN TESTS`` outside a question), a question without a name or without a
            prompt starting with a ``#### Title`` line, a question with no visible test, or test files
            outside the notebook (``tests: files: true``: the student notebook must carry its checks).
    """
    nb = _read(notebook)
    if not is_master(nb):
        raise BookError("a master notebook's first cell is a raw cell starting `# ASSIGNMENT CONFIG`")
    config = _marker_yaml(nb.cells[0], "cell 0 (# ASSIGNMENT CONFIG)")
    name = config.get("name")
    if not isinstance(name, str) or not name:
        raise BookError("cell 0 (# ASSIGNMENT CONFIG): give the assignment a `name:` (the chapter's name)")
    if isinstance(config.get("tests"), dict) and config["tests"].get("files"):
        raise BookError("cell 0 (# ASSIGNMENT CONFIG): set `tests: files: false` (the checks travel inside the "
                        "student notebook; the kit hands out the notebook alone)")
    questions, state, current = [], "outside", None
    expected = {"# BEGIN QUESTION": {"outside"}, "# BEGIN PROMPT": {"question"}, "# END PROMPT": {"prompt block"},
                "# BEGIN SOLUTION": {"prompt", "question"}, "# END SOLUTION": {"solution"},
                "# BEGIN TESTS": {"question", "prompt"}, "# END TESTS": {"tests"}, "# END QUESTION": {"question"}}
    after = {"# BEGIN QUESTION": "prompt", "# BEGIN PROMPT": "prompt block", "# END PROMPT": "question",
             "# BEGIN SOLUTION": "solution", "# END SOLUTION": "question", "# BEGIN TESTS": "tests",
             "# END TESTS": "question", "# END QUESTION": "outside"}
    for index, cell in enumerate(nb.cells[1:], 1):
        where = f"cell {index}"
        try:
            marker = _marker(cell)
        except BookError as err:
            raise BookError(f"{where}: {err}") from None
        if marker == "# ASSIGNMENT CONFIG":
            raise BookError(f"{where}: a second # ASSIGNMENT CONFIG")
        if marker:
            if state not in expected[marker]:
                raise BookError(f"{where}: `{marker}` is out of place (inside {state!r}); the order is "
                                "BEGIN QUESTION, prompt, BEGIN/END SOLUTION, BEGIN/END TESTS, END QUESTION")
            if marker in ("# BEGIN SOLUTION", "# BEGIN TESTS") and current["title"] is None:
                raise BookError(f"{where}: question {current['name']!r} has no prompt: a markdown cell whose "
                                "first line is `#### Title` comes right after # BEGIN QUESTION")
            if marker == "# BEGIN QUESTION":
                qconfig = _marker_yaml(cell, f"{where} (# BEGIN QUESTION)")
                qname = qconfig.get("name")
                if not isinstance(qname, str) or not qname.isidentifier():
                    raise BookError(f"{where}: a question needs `name:` (a Python identifier, e.g. q1); got {qname!r}")
                if qname in {q["name"] for q in questions}:
                    raise BookError(f"{where}: question name {qname!r} is used twice")
                current = {"name": qname, "points": qconfig.get("points", 1), "title": None, "tests": 0,
                           "hidden": 0, "cell": index}
                questions.append(current)
            if marker == "# END QUESTION":
                if current["title"] is None:
                    raise BookError(f"question {current['name']!r} (cell {current['cell']}) has no prompt")
                if current["tests"] - current["hidden"] < 1:
                    raise BookError(f"question {current['name']!r} (cell {current['cell']}): needs at least "
                                    "one visible test cell (students check their answer with it)")
            state = after[marker]
            continue
        if state == "prompt":
            lines = cell.source.strip().splitlines() if cell.cell_type == "markdown" else []
            if not lines or not lines[0].startswith("#### "):
                raise BookError(f"{where}: the prompt of question {current['name']!r} must be a markdown "
                                "cell whose first line is `#### Title`")
            current["title"] = lines[0][5:].strip()
            state = "question"
        elif state == "tests":
            if cell.cell_type != "code":
                raise BookError(f"{where}: only code cells (assert statements) between BEGIN and END TESTS")
            current["tests"] += 1
            try:
                current["hidden"] += _test_body(cell.source)[1]
            except BookError as err:
                raise BookError(f"{where}: {err}") from None
    if state != "outside":
        raise BookError(f"the notebook ends inside {state!r}: close question {current['name']!r} with # END QUESTION")
    return name, [Question(q["name"], q["title"], f"ex-{name}-{q['name']}", q["points"], q["tests"], q["hidden"])
                  for q in questions]


def check_master(path: str | Path) -> tuple[str, list[Question]]:
    """:func:`parse_master` of a master file, whose assignment ``name`` must be the file's name (the manifest,
    the table of contents and the exercise labels all use it)."""
    path = Path(path)
    name, questions = parse_master(path)
    if name != path.stem:
        raise BookError(f"{path.name}: the assignment's name is {name!r}, not the file's {path.stem!r}")
    return name, questions


def book_page(notebook):
    """The book page of a master notebook (an nbformat node): otter's markers become ``sphinx-exercise``
    directives (titled ``q1: Title``, labelled ``ex-CHAPTER-q1`` for cross-references), each solution is
    shown complete (markers removed) with its checks in a collapsed ``solution`` block; hidden checks run
    but are not shown (tags ``remove-cell`` and ``imckit-hidden-check``: the runner drops them from the
    executed page, so the published notebook does not hold them either); otter's student prompts
    (``# BEGIN PROMPT`` blocks) are left out. Every cell of a question carries
    ``metadata.imckit.question`` (its time is summed by :func:`question_seconds`)."""
    import copy

    import nbformat

    nb = copy.deepcopy(_read(notebook))
    name, questions = parse_master(nb)
    by_name = {q.name: q for q in questions}
    cells, state, question = [], "outside", None

    def start():
        return nbformat.v4.new_markdown_cell(f"```{{solution-start}} {question.label}\n:class: dropdown\n```")

    def mark(cell):
        if question is not None:
            cell.metadata["imckit"] = {"question": question.name}
        cells.append(cell)

    for cell in nb.cells[1:]:
        marker = _marker(cell)
        if marker == "# BEGIN QUESTION":
            question = by_name[_marker_yaml(cell, "")["name"]]
            state = "prompt"
        elif marker == "# BEGIN PROMPT":
            state = "prompt block"
        elif marker == "# END PROMPT":
            state = "question"
        elif marker == "# BEGIN SOLUTION":
            mark(start())
            state = "solution"
        elif marker == "# BEGIN TESTS":
            if state != "solution":  # a question with checks but no solution block still gets one
                mark(start())
            mark(nbformat.v4.new_markdown_cell(f"The checks (`grader.check(\"{question.name}\")` in the "
                                               "student notebook; hidden ones are not shown):"))
            state = "tests"
        elif marker == "# END TESTS":
            mark(nbformat.v4.new_markdown_cell("```{solution-end}\n```"))
            state = "question"
        elif marker == "# END QUESTION":
            question, state = None, "outside"
        elif marker:  # END SOLUTION: the checks follow inside the same block
            continue
        elif state == "prompt block":
            continue
        elif state == "prompt":
            body = "\n".join(cell.source.strip().splitlines()[1:]).strip()
            # numbered by the chapter's own question names (sphinx-exercise's numbers run across the whole
            # book in file-name order, not in reading order)
            cell.source = (f"````{{exercise}} {question.name}: {question.title}\n:label: {question.label}\n"
                           f":nonumber:\n\n{body}\n````")
            mark(cell)
            state = "question"
        elif state == "solution" and cell.cell_type == "code":
            cell.source = _strip_solution_markers(cell.source)
            mark(cell)
        elif state == "tests":
            body, hidden = _test_body(cell.source)
            cell.source = body
            if hidden:
                cell.metadata["tags"] = [*cell.metadata.get("tags", []), "remove-cell", HIDDEN_TAG]
            mark(cell)
        else:
            mark(cell)
    nb.cells = cells
    nb.metadata.setdefault("imckit", {})["exercises"] = name
    return nb


HIDDEN_TAG = "imckit-hidden-check"


def drop_hidden_checks(nb) -> int:
    """Remove the hidden checks from an executed book page (after they ran); return how many."""
    before = len(nb.cells)
    nb.cells = [c for c in nb.cells if HIDDEN_TAG not in c.metadata.get("tags", [])]
    return before - len(nb.cells)


def question_seconds(nb) -> dict[str, float]:
    """Seconds per question of an executed book page, summed from papermill's cell durations."""
    seconds: dict[str, float] = {}
    for cell in _read(nb).cells:
        question = cell.metadata.get("imckit", {}).get("question")
        if question:
            duration = cell.metadata.get("papermill", {}).get("duration") or 0.0
            seconds[question] = seconds.get(question, 0.0) + float(duration)
    return seconds


# -- student and instructor notebooks (otter assign), and the check both ways (otter run) ----------------

def masters(only: list[str] | None = None, folder: str | Path = EXERCISES_DIR) -> list[Path]:
    """The master notebooks, ``folder/CHAPTER.ipynb``; ``only`` picks chapters by name (checked)."""
    found = {p.stem: p for p in sorted(Path(folder).glob("*.ipynb"))}
    if only is None:
        return list(found.values())
    unknown = sorted(set(only) - set(found))
    if not only or unknown:
        raise BookError(f"only must name chapters with exercises, from {sorted(found)}; got {only!r}")
    return [found[name] for name in only]


@dataclass(frozen=True)
class Assignment:
    """What :func:`assign` wrote for one chapter.

    Attributes:
        chapter: the chapter's name.
        student: the student notebook (solutions replaced by ``...``, ``grader.check`` cells).
        instructor: the instructor notebook (solutions and every test, hidden ones too).
        autograder: otter's autograder zip, for ``otter run`` / :func:`grade`.
        questions: the questions, in order.
    """

    chapter: str
    student: Path
    instructor: Path
    autograder: Path
    questions: tuple[Question, ...]


def assign(master: str | Path, out_dir: str | Path) -> Assignment:
    """Run ``otter assign`` on one master notebook into ``out_dir/{student,instructor,autograder}/``.

    otter writes into a scratch folder first; the three files are then renamed into place, so an
    interrupted run never leaves a half-written notebook under the final names.
    """
    import shutil
    import tempfile

    from otter.assign import main as otter_assign

    master = Path(master)
    chapter, questions = check_master(master)
    out = Path(out_dir)
    for sub in ("student", "instructor", "autograder"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=f".{chapter}-") as scratch:
        try:
            otter_assign(str(master), str(Path(scratch) / "dist"), no_pdfs=True, no_run_tests=True)
        except Exception as err:  # otter's own errors (bad config, a malformed question) name the cell
            raise BookError(f"otter assign failed on {master}: {type(err).__name__}: {err}") from err
        dist = Path(scratch) / "dist"
        zips = sorted((dist / "autograder").glob("*.zip"))
        if not zips:
            raise BookError(f"otter assign wrote no autograder zip for {master} (set `generate: true`)")
        targets = {dist / "student" / master.name: out / "student" / master.name,
                   dist / "autograder" / master.name: out / "instructor" / master.name,
                   zips[-1]: out / "autograder" / f"{chapter}-autograder.zip"}
        for source, target in targets.items():
            shutil.move(str(source), str(target.with_name(f".{target.name}.partial")))
            target.with_name(f".{target.name}.partial").replace(target)
    return Assignment(chapter, *targets.values(), tuple(questions))


def grade(notebook: str | Path, autograder: str | Path) -> dict[str, tuple[float, float, int]]:
    """Grade a notebook locally with otter (``otter run``, no Docker): question -> (score, possible,
    visible checks failed).

    The notebook executes in a scratch folder with every cell run even after an error, as a student's
    submission would be; hidden tests count in the score.
    """
    from otter.api import grade_submission

    results = grade_submission(str(notebook), str(autograder), quiet=True)
    if results.catastrophic_error is not None:
        raise BookError(f"otter could not grade {notebook}: {results.catastrophic_error}")
    graded = {}
    for name in results.test_files:
        result = results.get_result(name)
        visible_failed = sum(1 for r in result.test_case_results if not r.test_case.hidden and not r.passed)
        graded[name] = (float(results.get_score(name)), float(result.possible), visible_failed)
    return graded


def check_assignment(assignment: Assignment) -> list[str]:
    """Grade both versions: every question of the instructor notebook must score full points, and every
    question of the student notebook (its solutions are ``...``) must fail at least one of its *visible*
    checks (else ``grader.check`` tells a student with no answer that it passed). Returns the problems
    found (empty: the chapter's exercises are sound)."""
    problems = []
    names = [q.name for q in assignment.questions]
    for version, path, want_pass in (("instructor", assignment.instructor, True),
                                     ("student", assignment.student, False)):
        scores = grade(path, assignment.autograder)
        missing = sorted(set(names) - set(scores))
        if missing:
            problems.append(f"{assignment.chapter} ({version}): otter graded no test for {missing}")
        for name in names:
            if name not in scores:
                continue
            score, possible, visible_failed = scores[name]
            if want_pass and score < possible:
                problems.append(f"{assignment.chapter}/{name}: the solution scores {score:g} of {possible:g}")
            if not want_pass and not visible_failed:
                problems.append(f"{assignment.chapter}/{name}: the unsolved student version passes its visible "
                                "checks (a check that cannot fail)")
    return problems


def main(argv: list[str] | None = None) -> int:
    """``python -m imckit.book exercises``: the student and instructor notebooks of every chapter."""
    import argparse
    import sys
    import time

    parser = argparse.ArgumentParser(
        prog="python -m imckit.book exercises",
        description="Make the student notebooks (solutions removed, checks kept) and the instructor notebooks "
                    "(solutions and hidden checks) of each chapter's exercises with otter-grader; with --check, "
                    "grade both and require every solution to pass and every unsolved question to fail.")
    parser.add_argument("--out", default=str(ROOT / "_build" / "exercises"),
                        help="output folder (default: _build/exercises)")
    parser.add_argument("--only", nargs="+", metavar="CHAPTER", help="these chapters only (default: all)")
    parser.add_argument("--check", action="store_true", help="grade the instructor and student versions")
    args = parser.parse_args(argv)
    problems = []
    try:
        chosen = masters(args.only)
    except BookError as err:
        print(f"[imckit.book] ERROR: {err}", file=sys.stderr, flush=True)
        return 1
    for master in chosen:  # one chapter's error is reported; the others are still made and checked
        started = time.perf_counter()
        try:
            assignment = assign(master, args.out)
            line = f"[imckit.book] exercises {assignment.chapter}: {len(assignment.questions)} questions -> " \
                   f"{assignment.student.parent.parent}"
            if args.check:
                found = check_assignment(assignment)
                problems += found
                line += f"; checked both ways: {'ok' if not found else 'PROBLEMS'}"
            print(f"{line} ({time.perf_counter() - started:.1f} s)", flush=True)
        except BookError as err:
            problems.append(f"{master.stem}: {err}")
    for problem in problems:
        print(f"[imckit.book] PROBLEM: {problem}", file=sys.stderr, flush=True)
    return 1 if problems else 0


def course_table(results_root: str | Path = ROOT / "results", profiles: tuple[str, ...] = ("smoke", "default"),
                 folder: str | Path = EXERCISES_DIR):
    """The course map's exercise list: one row per exercise with its measured time per profile.

    Times are the sums of papermill's cell durations of the book page's cells of that exercise, as the
    runner recorded them in ``results_root/PROFILE/exercises/CHAPTER/exercise_seconds.json`` (a profile
    whose book was not built here has no times: NaN).

    Returns:
        a pandas DataFrame with columns chapter, question, title, label and ``PROFILE s`` per profile.
    """
    import json

    import pandas as pd

    rows = []
    for master in masters(folder=folder):
        chapter, questions = parse_master(master)
        seconds = {}
        for profile in profiles:
            path = Path(results_root) / profile / "exercises" / chapter / "exercise_seconds.json"
            try:
                seconds[profile] = json.loads(path.read_text()) if path.is_file() else {}
            except (OSError, ValueError):
                seconds[profile] = {}  # unreadable: reported as not measured, never as a time
        for q in questions:
            row = {"chapter": chapter, "question": q.name, "title": q.title, "label": q.label}
            for profile in profiles:
                value = seconds[profile].get(q.name)
                row[f"{profile} s"] = float(value) if isinstance(value, (int, float)) else float("nan")
            rows.append(row)
    return pd.DataFrame(rows, columns=["chapter", "question", "title", "label", *(f"{p} s" for p in profiles)])


def seconds_text(value: float) -> str:
    """A measured time for the course table: whole seconds, or "not measured" for NaN."""
    return "not measured" if value != value else f"{value:.0f}"


def styled_course_table(table):
    """:func:`course_table` as the instructors' guide shows it (times in whole seconds, no index)."""
    return table.style.format({c: seconds_text for c in table.columns if c.endswith(" s")}).hide(axis="index")
