"""Execute the notebooks with papermill and build the Jupyter Book (1.x) from the executed copies.

The run manifest ``notebooks/manifest.yml`` lists every notebook, its parameter groups, per-profile
overrides and time budgets. :func:`run_notebooks` first checks everything it can (notebook names, every
run's parameters against that notebook's parameters cell, writable output folders), then executes each
group into ``book/chapters/`` (output ``{notebook}.ipynb`` for the group ``main``,
``{notebook}-{group}.ipynb`` otherwise), appends a run record (parameters, versions, run time read back
from papermill's per-cell durations) and writes a status file. A notebook reaches its final name only when
every cell ran; a failed one is kept aside (``book/chapters/failed/``). :func:`build_book` refuses to build
unless every notebook of the manifest ran successfully under one profile, so a partial book is never
reported as success.

The notebooks run with the project folder as their working directory and ``output_dir`` is injected
relative to it (``results/PROFILE/NOTEBOOK``), so no path of the machine that built the book appears in
the injected-parameters cell, the run record or the notebook's metadata. Command line::

    python -m imckit.book run --profile smoke      # execute the notebooks (progress bar per notebook)
    python -m imckit.book build                    # jupyter-book build -W -n --keep-going
    python -m imckit.book all --profile default    # both
    python -m imckit.book scorecard --readme       # verdict counts of the last run, into the README
    python -m imckit.book execute notebooks/fefet.ipynb out.ipynb -p arrays 3   # one notebook, checked
    python -m imckit.book sweep sweeps/ber.yml     # a parameter sweep (imckit.book.sweep)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from imckit.book.parameters import ParameterError, check_parameters, parse_value
from imckit.core.profiles import PROFILES, check_profile
from imckit.core.provenance import machine, versions
from imckit.core.validate import check_writable_dir

ROOT = Path(__file__).resolve().parents[2]
STATUS_FILE = ".run-status.json"


class BookError(RuntimeError):
    """A notebook failed, or the executed notebooks do not form a complete book."""


def code_state(root: str | Path = ROOT, ignore: tuple[str, ...] = ()) -> dict:
    """The git commit of ``root`` and whether tracked files differ from it.

    Args:
        root: a folder inside the git work tree (default: the project).
        ignore: paths (relative to the work tree) whose changes do not count, e.g. files a run writes itself.

    Returns:
        ``{"commit": full hash or None, "dirty": bool or None}``; ``None`` where ``root`` is not in a git
        work tree or git is missing. New files that git does not ignore count as changes.
    """
    def git(*args):
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        status = git("status", "--porcelain", "--untracked-files=normal", "--", ".",
                     *(f":(exclude,top){path}" for path in ignore))
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None}


def machine_state() -> dict[str, str]:
    """:func:`imckit.core.provenance.machine` and the GPU torch sees (``"none"`` without one)."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return {**machine(), "gpu": gpu}


def describe_code_state(state: dict) -> str:
    """A :func:`code_state` in words, e.g. ``commit `1a2b3c4` with uncommitted changes`` (Markdown)."""
    if not state.get("commit"):
        return "an unknown commit (not a git checkout)"
    dirty = {True: " with uncommitted changes", False: "", None: " (state of the work tree unknown)"}[state.get("dirty")]
    return f"commit `{state['commit'][:7]}`{dirty}"


def project_path(path: str | Path, root: str | Path) -> str:
    """``path`` as the book shows it: an absolute path inside the project folder ``root`` becomes relative
    to it (POSIX separators); a relative path (already relative to the project, where the notebooks run)
    and an absolute path outside the project (a folder the user chose) are kept as they are."""
    path = Path(path)
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.resolve().relative_to(Path(root).resolve()).as_posix() or "."
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class NotebookRun:
    """One papermill execution planned from the manifest.

    Attributes:
        notebook: source notebook name (without ``.ipynb``).
        group: parameter group name.
        parameters: the parameters papermill injects.
        budget_s: the time budget of this profile, in seconds (``None``: none given).
        output: the executed notebook's file name.
    """

    notebook: str
    group: str
    parameters: dict
    budget_s: float | None
    output: str


@dataclass
class RunResult:
    run: NotebookRun
    seconds: float
    error: str | None = None
    cell_seconds: list[float] = field(default_factory=list)


def load_manifest(path: str | Path) -> dict:
    """Read and check the run manifest (see ``notebooks/manifest.yml`` for the format)."""
    path = Path(path)
    manifest = yaml.safe_load(path.read_text())
    if not isinstance(manifest, dict) or not isinstance(manifest.get("notebooks"), dict):
        raise BookError(f"{path}: expected a mapping with a 'notebooks' mapping")
    for name, entry in manifest["notebooks"].items():
        if not (path.parent / f"{name}.ipynb").is_file():
            raise BookError(f"{path}: notebook {name!r} has no file {path.parent / (name + '.ipynb')}")
        groups = (entry or {}).get("groups", {"main": {}})
        if not isinstance(groups, dict) or not groups:
            raise BookError(f"{path}: notebook {name!r}: 'groups' must be a non-empty mapping")
        for profile in (entry or {}).get("profiles", {}):
            check_profile(profile)
    return manifest


def plan_runs(manifest: dict, profile: str) -> list[NotebookRun]:
    """The executions of one profile: globals, then the group's parameters, then the profile's overrides."""
    check_profile(profile)
    runs = []
    for name, entry in manifest["notebooks"].items():
        entry = entry or {}
        budget = (entry.get("budget_s") or {}).get(profile)
        for group, params in (entry.get("groups") or {"main": {}}).items():
            params = params or {}
            merged = dict(manifest.get("globals") or {})
            merged.update({k: v for k, v in params.items() if k != "profiles"})
            merged.update(((params.get("profiles") or {}).get(profile)) or {})
            merged.update(((entry.get("profiles") or {}).get(profile)) or {})
            merged["profile"] = profile
            output = f"{name}.ipynb" if group == "main" else f"{name}-{group}.ipynb"
            runs.append(NotebookRun(name, group, merged, budget, output))
    return runs


def _run_record_cell(nb, run: NotebookRun, parameters: dict, seconds: float, code: dict):
    import nbformat

    budget = f"{run.budget_s:.0f} s" if run.budget_s else "none"
    rows = [f"| `{k}` | `{v!r}` |" for k, v in parameters.items()]
    vrows = [f"| {k} | {v} |" for k, v in {**versions(), **machine()}.items()]
    text = "\n".join(
        ["## Run record", "",
         f"Executed by `imckit.book` with papermill in {seconds:.1f} s (budget for profile "
         f"`{run.parameters['profile']}`: {budget}) from imckit {describe_code_state(code)}; "
         "the parameters and versions it ran with:", "",
         "| parameter | value |", "| --- | --- |", *rows, "",
         "| software / machine | version |", "| --- | --- |", *vrows]
    )
    nb.cells.append(nbformat.v4.new_markdown_cell(text, metadata={"tags": ["run-record"]}))


def _scrub_paths(nb, root: Path) -> None:
    """Show paths relative to the project: papermill's record of the input and output notebooks, and the
    project folder (and the kit's, where it differs) in printed text (warnings, tracebacks), which the
    book's pages drop but the notebook offered for download keeps."""
    record = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if record.get(key):
            record[key] = project_path(record[key], root)
    prefixes = sorted({f"{root}{os.sep}", f"{ROOT}{os.sep}"}, key=len, reverse=True)

    def relative(text: str) -> str:
        for prefix in prefixes:
            text = text.replace(prefix, "")
        return text

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                output["text"] = relative(output["text"])
            elif output.get("output_type") == "error":
                output["traceback"] = [relative(line) for line in output["traceback"]]


class _LogLines:
    """A file for tqdm when the output is not a terminal (a CI log): each refresh of the bar becomes one
    line (tqdm writes ``\r`` + the bar), and a refresh that shows nothing new is dropped."""

    def __init__(self, stream):
        self.stream = stream
        self.last = None

    def write(self, text: str) -> int:
        for part in text.replace("\r", "\n").split("\n"):
            part = part.rstrip()
            if part and part != self.last:
                self.stream.write(part + "\n")
                self.last = part
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


ENGINE = "imckit"
"""The papermill engine the kit registers: papermill's nbclient engine whose progress bar is also redrawn
every few seconds while a long cell runs (elapsed time ticks), so a user sees the run is alive."""


def _progress_engine() -> str:
    import threading

    from papermill.engines import NBClientEngine, papermill_engines

    class ProgressEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, heartbeat_s: float = 0.0, **kwargs):
            stop = threading.Event()

            def beat():
                while not stop.wait(heartbeat_s):
                    bar = getattr(nb_man, "pbar", None)
                    if bar is not None:
                        bar.refresh()

            thread = threading.Thread(target=beat, name="imckit-progress", daemon=True)
            if heartbeat_s > 0:
                thread.start()
            try:
                return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)
            finally:
                stop.set()
                if thread.is_alive():
                    thread.join()

    papermill_engines.register(ENGINE, ProgressEngine)
    return ENGINE


def progress_options(desc: str, stream=None) -> dict:
    """papermill's ``progress_bar`` (tqdm options) and the redraw interval for ``stream`` (default stderr):
    on a terminal a live bar redrawn every second; otherwise (a CI log) a plain ASCII line at most every
    30 s while cells complete and every 60 s during a long cell."""
    stream = stream if stream is not None else sys.stderr
    if getattr(stream, "isatty", lambda: False)():
        return {"progress_bar": {"desc": desc, "file": stream, "leave": True}, "heartbeat_s": 1.0}
    return {"progress_bar": {"desc": desc, "file": _LogLines(stream), "ascii": True, "ncols": 100,
                             "mininterval": 30.0, "leave": True},
            "heartbeat_s": 60.0}


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary name next to ``path`` and rename it into place."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.replace(partial, path)


def _book_source(source: Path, scratch: Path | None) -> Path:
    """What the runner executes for ``source``: the notebook itself, or for a master notebook of exercises
    (otter-grader's format) its book page (:func:`imckit.book.exercises.book_page`), written to ``scratch``
    (``None``: only check that the page can be made)."""
    import nbformat

    from imckit.book.exercises import book_page, check_master, is_master

    if not is_master(source):
        return source
    check_master(source)  # the structure (BookError naming the cell) and the name
    page = book_page(source)
    if scratch is None:
        return source
    scratch.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(scratch, nbformat.writes(page))
    return scratch


def _execute_to(source: Path, target: Path, partial: Path, failed: Path, parameters: dict, *, cwd=None,
                progress: bool = True, desc: str = "", kernel_name: str | None = None,
                finish=None) -> str | None:
    """Execute ``source`` with papermill into ``partial``; on success rename it to ``target``, otherwise to
    ``failed`` (the notebook with the failing cell's traceback). Nothing is ever left under ``target``
    by a failed or interrupted execution. ``finish(nb, error)`` may edit the executed notebook before it
    is moved. Returns the error (``None`` on success); an interrupt (Ctrl-C) is re-raised after the move."""
    import nbformat
    import papermill

    for path in (target, partial, failed):
        path.unlink(missing_ok=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    options = progress_options(desc) if progress else {"progress_bar": False}
    engine = _progress_engine() if progress else None
    error, interrupted = None, None
    try:
        papermill.execute_notebook(str(source), str(partial), parameters=parameters, cwd=str(cwd) if cwd else None,
                                   kernel_name=kernel_name, engine_name=engine, **options)
    except Exception as err:  # papermill's PapermillExecutionError carries the cell's traceback
        error = f"{type(err).__name__}: {err}"
    except BaseException as err:  # KeyboardInterrupt, SystemExit: move what ran aside, then stop
        error, interrupted = f"interrupted ({type(err).__name__})", err
    if partial.is_file():
        if finish is not None:
            nb = nbformat.read(partial, as_version=4)
            finish(nb, error)
            _write_atomic(partial, nbformat.writes(nb))
        if error is None:
            os.replace(partial, target)
        else:
            failed.parent.mkdir(parents=True, exist_ok=True)
            os.replace(partial, failed)
    elif error is None:
        error = f"papermill wrote no notebook to {partial}"
    if interrupted is not None:
        raise interrupted
    return error


def execute_notebook(notebook: str | Path, output: str | Path, parameters: dict | None = None, *,
                     cwd: str | Path | None = None, progress: bool = True, kernel_name: str | None = None,
                     allow: tuple[str, ...] = ()) -> Path:
    """Run one notebook with papermill after checking its parameters: ``python -m imckit.book execute``.

    Unlike plain papermill (which only warns about a name the parameters cell does not declare and runs
    with the defaults), a misspelt name or a value of the wrong type is an error before anything runs.
    The notebook executes into a hidden temporary file next to ``output`` and is renamed to ``output``
    only when every cell ran; a failed run leaves ``OUTPUT_STEM.failed.ipynb`` (with the traceback) and
    no ``output``.

    Args:
        notebook: the source notebook.
        output: the executed notebook's path (a local file).
        parameters: name -> value, checked with :func:`imckit.book.parameters.check_parameters`.
        cwd: the working directory of the kernel (default: the current one).
        progress: show a progress bar over the notebook's cells (stderr).
        kernel_name: the Jupyter kernel (default: the notebook's).
        allow: names accepted without being declared (default: none).

    Raises:
        ParameterError: an unknown parameter name or a wrong type (nothing ran).
        BookError: the output folder is not writable, or the notebook failed.
    """
    # absolute: papermill saves the notebook after each cell from inside ``cwd``
    notebook, output = Path(notebook).absolute(), Path(output).absolute()
    parameters = check_parameters(notebook, dict(parameters or {}), allow=allow)
    try:
        check_writable_dir(output.parent.resolve(), "output folder")
    except ValueError as err:
        raise BookError(str(err)) from None
    failed = output.with_name(f"{output.stem}.failed.ipynb")
    partial = output.with_name(f".{output.stem}.running.ipynb")
    error = _execute_to(notebook, output, partial, failed, parameters, cwd=cwd, progress=progress,
                        desc=output.stem, kernel_name=kernel_name)
    if error:
        raise BookError(f"{notebook.name} failed; the executed notebook with the error is {failed}\n{error}")
    return output


def _status(profile: str, started_at, code: dict, machine_info: dict, results: list[RunResult], state: str,
            planned: int, only) -> dict:
    return {
        "profile": profile,
        "complete": state == "finished" and only is None and len(results) == planned
        and all(r.error is None for r in results),
        "state": state,
        "date": started_at.isoformat(timespec="seconds"),
        **code,
        "machine": machine_info,
        "runs": [{"output": r.run.output, "seconds": round(r.seconds, 2), "budget_s": r.run.budget_s,
                  "cell_seconds": round(sum(r.cell_seconds), 2), "error": r.error} for r in results],
    }


def run_notebooks(
    profile: str,
    manifest: str | Path = ROOT / "notebooks" / "manifest.yml",
    out_dir: str | Path = ROOT / "book" / "chapters",
    results_dir: str | Path = ROOT / "results",
    only: list[str] | None = None,
    extra: dict | None = None,
    root: str | Path | None = None,
    progress: bool = True,
) -> list[RunResult]:
    """Execute the manifest's notebooks under ``profile`` with papermill.

    Everything that can be checked is checked before the first notebook runs: the notebook names of
    ``only``, every run's parameters against that notebook's parameters cell (names and types, see
    :func:`imckit.book.parameters.check_parameters`) and that ``out_dir`` and ``results_dir/profile`` are
    writable. Each notebook executes into ``out_dir/.running/`` and is renamed to its final name only when
    every cell ran; a failed one goes to ``out_dir/failed/NAME.failed.ipynb`` and its results folder is
    moved aside to ``results_dir/profile/NAME.failed/``, so nothing under the usual names looks complete.
    The status file is rewritten (atomically) after every notebook, ``complete`` only at the end of a run
    of every notebook without error.

    Args:
        profile: ``"smoke"``, ``"default"`` or ``"paper"``.
        manifest: the run manifest.
        out_dir: where the executed notebooks go (the book reads them there).
        results_dir: each run gets ``output_dir = results_dir/profile/output-name`` for its files.
        only: run just these notebook names (the status file then marks the book incomplete); an empty
            list is an error (``None`` runs every notebook).
        extra: parameters to add to every run (e.g. ``{"data_root": "/data"}``); a relative path in
            ``data_root`` is taken relative to the project folder, where the notebooks run.
        root: the project folder: every notebook runs with it as working directory, and ``output_dir``
            (and ``data_root``, when inside it) is injected relative to it. Default: the folder above the
            manifest's folder.
        progress: show a progress bar over each notebook's cells (stderr; one plain line at a time when
            stderr is not a terminal).

    Raises:
        BookError: before anything runs, for an empty or unknown ``only``, a rejected parameter or an output
            folder that is not writable; after running everything, if any notebook failed (their errors
            are in the message).
    """
    manifest_path = Path(manifest).resolve()
    root = Path(root).resolve() if root is not None else manifest_path.parent.parent
    runs = plan_runs(load_manifest(manifest_path), profile)
    if only is not None:
        if not only:
            raise BookError(f"--only needs at least one notebook name; the manifest lists "
                            f"{sorted({r.notebook for r in runs})} (leave --only out to run them all)")
        unknown = sorted(set(only) - {r.notebook for r in runs})
        if unknown:
            raise BookError(f"unknown notebook(s) {unknown}; the manifest lists {sorted({r.notebook for r in runs})}")
        runs = [r for r in runs if r.notebook in only]
    out_dir = Path(out_dir).resolve()
    results_dir = Path(results_dir).resolve()
    planned, problems = [], []
    for run in runs:
        params = dict(run.parameters, **(extra or {}))
        if params.get("data_root") and isinstance(params["data_root"], (str, os.PathLike)):  # else rejected below
            params["data_root"] = project_path(params["data_root"], root)
        params["output_dir"] = project_path(results_dir / profile / run.output.removesuffix(".ipynb"), root)
        try:
            params = check_parameters(manifest_path.parent / f"{run.notebook}.ipynb", params)
            _book_source(manifest_path.parent / f"{run.notebook}.ipynb", None)  # a page of exercises: its structure
        except (ParameterError, BookError) as err:
            problems.append(f"{run.output} (group {run.group!r}): {err}")
        planned.append((run, params))
    if problems:
        raise BookError("parameters (or a page of exercises) rejected before any notebook ran:\n"
                        + "\n".join(f"- {p}" for p in problems))
    try:
        check_writable_dir(out_dir, "out_dir (the executed notebooks' folder)")
        check_writable_dir(results_dir / profile, "results_dir (the chapters' files)")
    except ValueError as err:
        raise BookError(str(err)) from None

    status_path = out_dir / STATUS_FILE
    code = code_state(ROOT)  # the imckit code the notebooks import
    machine_info = machine_state()
    started_at = datetime.datetime.now(datetime.timezone.utc)
    results: list[RunResult] = []

    def write_status(state: str) -> None:
        status = _status(profile, started_at, code, machine_info, results, state, len(planned), only)
        _write_atomic(status_path, json.dumps(status, indent=2))

    write_status("running")
    try:
        for index, (run, params) in enumerate(planned, 1):
            name = run.output.removesuffix(".ipynb")  # e.g. "fefet" or "exercises/fefet"
            stem = name.replace("/", "-")
            label = f"[{index}/{len(planned)}] {run.output}"
            print(f"[imckit.book] {label}: profile {profile}, parameters {params}", flush=True)
            result = RunResult(run, 0.0)

            def finish(nb, error, run=run, params=params, result=result):
                result.cell_seconds = [c.metadata.get("papermill", {}).get("duration") or 0.0 for c in nb.cells]
                _scrub_paths(nb, root)
                if error is None:
                    _run_record_cell(nb, run, params, sum(result.cell_seconds), code)
                if error is None and nb.metadata.get("imckit", {}).get("exercises"):  # a page of exercises
                    from imckit.book.exercises import drop_hidden_checks, question_seconds

                    (results_dir / profile / name).mkdir(parents=True, exist_ok=True)
                    _write_atomic(results_dir / profile / name / "exercise_seconds.json",
                                  json.dumps(question_seconds(nb), indent=2))
                    drop_hidden_checks(nb)  # they ran and passed; the published page must not hold them

            results_folder = results_dir / profile / name
            failed_results = results_folder.with_name(f"{results_folder.name}.failed")
            source = manifest_path.parent / f"{run.notebook}.ipynb"
            scratch = out_dir / ".running" / f"{stem}.source.ipynb"
            started = time.perf_counter()
            try:
                source = _book_source(source, scratch)
                result.error = _execute_to(
                    source, out_dir / run.output,
                    out_dir / ".running" / f"{stem}.ipynb", out_dir / "failed" / f"{stem}.failed.ipynb", params,
                    cwd=root, progress=progress, desc=label, kernel_name="python3", finish=finish)
            except BookError as err:  # a page of exercises that cannot be made: this notebook fails
                result.error = f"BookError: {err}"
            except BaseException as err:
                result.error = f"interrupted ({type(err).__name__}: {err})"
                raise
            finally:
                scratch.unlink(missing_ok=True)
                result.seconds = time.perf_counter() - started
                results.append(result)
                shutil.rmtree(failed_results, ignore_errors=True)
                if result.error and results_folder.exists():
                    os.replace(results_folder, failed_results)  # what it wrote, kept aside for a look
                    _write_atomic(failed_results / "FAILED.txt",
                                  f"{run.output} failed under profile {profile}; these files are incomplete.\n\n"
                                  f"{result.error}\n")
            cells = sum(result.cell_seconds)
            budget = ""
            if run.budget_s:
                over = ", EXCEEDED" if cells > run.budget_s else ""
                budget = f" (cells {cells:.1f} s, budget {run.budget_s:.0f} s{over})"
            where = f"; see {project_path(out_dir / 'failed' / f'{stem}.failed.ipynb', root)}" if result.error else ""
            outcome = "FAILED" if result.error else "ok"
            print(f"[imckit.book] {label}: {outcome} in {result.seconds:.1f} s{budget}{where}", flush=True)
            write_status("running")
    except BaseException:
        write_status("interrupted")
        raise
    for folder in (out_dir / ".running", out_dir / "failed"):
        try:
            folder.rmdir()  # only when empty
        except OSError:
            pass
    write_status("finished")
    failed = [r for r in results if r.error]
    if failed:
        raise BookError("notebook(s) failed:\n\n" + "\n\n".join(f"--- {r.run.output}\n{r.error}" for r in failed))
    return results


def _install_mathjax(root: Path) -> None:
    """Copy MathJax 3 (from the ``django-static-mathjax`` wheel) to ``_build/.mathjax/mathjax`` for the build
    (``_config.yml`` serves that folder as the book's ``mathjax/``)."""
    try:
        import mathjax  # the django-static-mathjax package
    except ImportError:
        raise BookError("MathJax is missing: pip install 'imckit[book]' (it ships MathJax 3 for offline math)") from None
    source = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    target = root / "_build" / ".mathjax" / "mathjax"
    if not (target / "tex-chtml.js").is_file():
        partial = target.with_name("mathjax.partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, partial)  # an interrupted copy leaves only the .partial folder
        os.replace(partial, target)


def check_complete(root: str | Path = ROOT) -> dict:
    """The status of the last notebook run; raises :class:`BookError` unless it was complete and clean.

    Complete means: the run finished (it was not interrupted or still going), covered every notebook of
    the manifest (no ``--only``), no notebook failed, and every executed notebook it lists is in place.
    """
    chapters = Path(root) / "book" / "chapters"
    status_path = chapters / STATUS_FILE
    if not status_path.is_file():
        raise BookError("no executed notebooks: run `python -m imckit.book run --profile PROFILE` first")
    status = json.loads(status_path.read_text())
    if status.get("state", "finished") != "finished":
        raise BookError(f"the last notebook run is incomplete: it was {status['state']} "
                        f"after {len(status.get('runs', []))} notebook(s); run all notebooks first")
    if not status.get("complete"):
        bad = [r["output"] for r in status["runs"] if r["error"]]
        raise BookError(f"the last notebook run was incomplete (failed: {bad or 'none'}; "
                        "a run restricted with --only does not make a book); run all notebooks first")
    missing = [r["output"] for r in status["runs"] if not (chapters / r["output"]).is_file()]
    if missing:
        raise BookError(f"executed notebook(s) {missing} of the last run are missing from {chapters}; "
                        "run all notebooks again")
    return status


def build_book(root: str | Path = ROOT, strict: bool = True) -> Path:
    """Build the HTML book into ``root/_build/html`` with Jupyter Book 1.x; return the folder.

    ``strict`` builds with ``-W -n --keep-going`` (every warning, including a broken reference, fails).
    """
    root = Path(root)
    check_complete(root)
    _install_mathjax(root)
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or shutil.which("jupyter-book")
    if jb is None:
        raise BookError("the jupyter-book command is missing: pip install 'imckit[book]'")
    command = [jb, "build", str(root), "--builder", "html"]
    if strict:
        command += ["-W", "-n", "--keep-going"]
    print("[imckit.book] " + " ".join(command), flush=True)
    completed = subprocess.run(command, cwd=root)
    if completed.returncode != 0:
        raise BookError(f"jupyter-book build failed with exit code {completed.returncode}")
    return root / "_build" / "html"


def _execute_main(argv: list[str]) -> int:
    """``python -m imckit.book execute NOTEBOOK OUTPUT -p NAME VALUE ...``: papermill with checked parameters."""
    import yaml

    parser = argparse.ArgumentParser(
        prog="python -m imckit.book execute",
        description="Execute one notebook with papermill after checking every parameter against its "
                    "parameters cell (an unknown name or a wrong type is an error, not a warning).")
    parser.add_argument("notebook", help="the source notebook, e.g. notebooks/fefet.ipynb")
    parser.add_argument("output", help="the executed notebook to write (only when every cell ran)")
    parser.add_argument("-p", "--parameters", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a parameter; VALUE is read as the type the parameters cell declares")
    parser.add_argument("-y", "--parameters-yaml", nargs=2, action="append", default=[], metavar=("NAME", "YAML"),
                        help="a parameter given as YAML, e.g. -y bit_widths '[4, 3]'")
    parser.add_argument("-r", "--parameters-raw", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a parameter kept as a string")
    parser.add_argument("-f", "--parameters-file", help="a YAML file of parameters (applied first)")
    parser.add_argument("--cwd", default=None, help="working directory of the kernel (default: the current one)")
    parser.add_argument("-k", "--kernel", default=None, help="Jupyter kernel (default: the notebook's)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        parameters = {}
        if args.parameters_file:
            loaded = yaml.safe_load(Path(args.parameters_file).read_text()) or {}
            if not isinstance(loaded, dict):
                raise ParameterError(f"parameters file must hold a mapping of name to value; got {loaded!r:.80}",
                                     parameter="parameters_file", value=loaded)
            parameters.update(loaded)
        for name, text in args.parameters_yaml:
            parameters[name] = yaml.safe_load(text)
        for name, text in args.parameters_raw:
            parameters[name] = text
        for name, text in args.parameters:
            parameters[name] = parse_value(args.notebook, name, text)
        output = execute_notebook(args.notebook, args.output, parameters, cwd=args.cwd,
                                  progress=not args.no_progress, kernel_name=args.kernel)
    except ParameterError as err:
        print(f"[imckit.book] ERROR (nothing ran): {err}", file=sys.stderr, flush=True)
        return 2
    except (BookError, yaml.YAMLError, OSError) as err:
        print(f"[imckit.book] ERROR: {err}", file=sys.stderr, flush=True)
        return 1
    print(f"[imckit.book] wrote {output}", flush=True)
    return 0


def _sweep_main(argv: list[str]) -> int:
    """``python -m imckit.book sweep ...``: hand over to :mod:`imckit.book.sweep` (imported only here)."""
    try:
        from imckit.book import sweep
    except ModuleNotFoundError as err:
        if err.name not in ("imckit.book.sweep",):
            raise
        print("[imckit.book] ERROR: the sweep command needs imckit.book.sweep, which this installation "
              "does not have", file=sys.stderr, flush=True)
        return 1
    code = sweep.main(argv)
    return 0 if code is None else int(code)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "execute":
        return _execute_main(argv[1:])
    if argv and argv[0] == "sweep":
        return _sweep_main(argv[1:])
    if argv and argv[0] == "publish":
        from imckit.book.publish import main as publish_main

        return publish_main(argv[1:])
    if argv and argv[0] == "exercises":
        from imckit.book.exercises import main as exercises_main

        return exercises_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m imckit.book", description=__doc__.split("\n\n")[0],
        epilog="Also: `python -m imckit.book execute NOTEBOOK OUTPUT -p NAME VALUE ...` (one notebook, "
               "parameters checked), `python -m imckit.book sweep SWEEP.yml` (a parameter sweep) and "
               "`python -m imckit.book exercises [--check]` (student and instructor notebooks), `python -m imckit.book "
               "publish [--push]` (the book on a gh-pages branch); each takes --help.")
    parser.add_argument("action", choices=("run", "build", "all", "scorecard"))
    parser.add_argument("--profile", default="default", choices=PROFILES)
    parser.add_argument("--only", nargs="*", metavar="NOTEBOOK",
                        help="notebook names to run (default: all); at least one name")
    parser.add_argument("--data-root", default=os.environ.get("IMCKIT_DATA_ROOT", ""),
                        help="passed to every notebook as data_root")
    parser.add_argument("--no-progress", action="store_true", help="no per-cell progress bar")
    parser.add_argument("--no-strict", action="store_true", help="build without -W -n")
    parser.add_argument("--readme", action="store_true",
                        help="scorecard: also write the counts into README.md (needs a complete default run)")
    args = parser.parse_args(argv)
    if args.only is not None and not args.only:
        parser.error("--only needs at least one notebook name (leave it out to run every notebook)")
    try:
        if args.action == "scorecard":
            from imckit.book.scorecard import scorecard_counts

            print(scorecard_counts(readme=args.readme).to_string(), flush=True)
            return 0
        if args.action in ("run", "all"):
            # relative to where the command was typed; the runner shows it relative to the project
            extra = {"data_root": str(Path(args.data_root).resolve())} if args.data_root else None
            run_notebooks(args.profile, only=args.only, extra=extra, progress=not args.no_progress)
        if args.action in ("build", "all"):
            html = build_book(strict=not args.no_strict)
            print(f"[imckit.book] built {html}", flush=True)
    except BookError as err:
        print(f"[imckit.book] ERROR: {err}", file=sys.stderr, flush=True)
        return 1
    return 0
