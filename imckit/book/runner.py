"""Execute the notebooks with papermill and build the Jupyter Book (1.x) from the executed copies.

The run manifest ``notebooks/manifest.yml`` lists every notebook, its parameter groups, per-profile
overrides and time budgets. :func:`run_notebooks` executes each group into ``book/chapters/`` (output
``{notebook}.ipynb`` for the group ``main``, ``{notebook}-{group}.ipynb`` otherwise), appends a run record
(parameters, versions, run time read back from papermill's per-cell durations) and writes a status file.
:func:`build_book` refuses to build unless every notebook of the manifest ran successfully under one
profile, so a partial book is never reported as success.

The notebooks run with the project folder as their working directory and ``output_dir`` is injected
relative to it (``results/PROFILE/NOTEBOOK``), so no path of the machine that built the book appears in
the injected-parameters cell, the run record or the notebook's metadata. Command line::

    python -m imckit.book run --profile smoke      # execute the notebooks
    python -m imckit.book build                    # jupyter-book build -W -n --keep-going
    python -m imckit.book all --profile default    # both
    python -m imckit.book scorecard --readme       # verdict counts of the last run, into the README
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

from imckit.core.profiles import PROFILES, check_profile
from imckit.core.provenance import machine, versions

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


def run_notebooks(
    profile: str,
    manifest: str | Path = ROOT / "notebooks" / "manifest.yml",
    out_dir: str | Path = ROOT / "book" / "chapters",
    results_dir: str | Path = ROOT / "results",
    only: list[str] | None = None,
    extra: dict | None = None,
    root: str | Path | None = None,
) -> list[RunResult]:
    """Execute the manifest's notebooks under ``profile`` with papermill.

    Args:
        profile: ``"smoke"``, ``"default"`` or ``"paper"``.
        manifest: the run manifest.
        out_dir: where the executed notebooks go (the book reads them there).
        results_dir: each run gets ``output_dir = results_dir/profile/output-name`` for its files.
        only: run just these notebook names (the status file then marks the book incomplete).
        extra: parameters to add to every run (e.g. ``{"data_root": "/data"}``); a relative path in
            ``data_root`` is taken relative to the project folder, where the notebooks run.
        root: the project folder: every notebook runs with it as working directory, and ``output_dir``
            (and ``data_root``, when inside it) is injected relative to it. Default: the folder above the
            manifest's folder.

    Raises:
        BookError: after running everything, if any notebook failed (their errors are in the message).
    """
    import nbformat
    import papermill

    manifest_path = Path(manifest).resolve()
    root = Path(root).resolve() if root is not None else manifest_path.parent.parent
    runs = plan_runs(load_manifest(manifest_path), profile)
    only = only or None  # an empty selection means every notebook
    if only:
        unknown = sorted(set(only) - {r.notebook for r in runs})
        if unknown:
            raise BookError(f"unknown notebook(s) {unknown}; the manifest lists {sorted({r.notebook for r in runs})}")
        runs = [r for r in runs if r.notebook in only]
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    status_path = out_dir / STATUS_FILE
    status_path.unlink(missing_ok=True)
    code = code_state(ROOT)  # the imckit code the notebooks import
    started_at = datetime.datetime.now(datetime.timezone.utc)
    results = []
    for run in runs:
        target = out_dir / run.output
        target.unlink(missing_ok=True)
        params = dict(run.parameters, **(extra or {}))
        if params.get("data_root"):
            params["data_root"] = project_path(params["data_root"], root)
        params["output_dir"] = project_path(Path(results_dir).resolve() / profile / Path(run.output).stem, root)
        print(f"[imckit.book] {run.output}: profile {profile}, parameters {params}", flush=True)
        started = time.perf_counter()
        error = None
        try:
            papermill.execute_notebook(
                str(manifest_path.parent / f"{run.notebook}.ipynb"), str(target), parameters=params,
                cwd=str(root), progress_bar=False, kernel_name="python3",
            )
        except Exception as err:  # papermill's PapermillExecutionError carries the cell's traceback
            error = f"{type(err).__name__}: {err}"
        seconds = time.perf_counter() - started
        result = RunResult(run, seconds, error)
        if target.is_file():
            nb = nbformat.read(target, as_version=4)
            result.cell_seconds = [c.metadata.get("papermill", {}).get("duration") or 0.0 for c in nb.cells]
            _scrub_paths(nb, root)
            if error is None:
                _run_record_cell(nb, run, params, sum(result.cell_seconds), code)
            nbformat.write(nb, target)
        cells = sum(result.cell_seconds)
        budget = f" (cells {cells:.1f} s, budget {run.budget_s:.0f} s{', EXCEEDED' if cells > run.budget_s else ''})" \
            if run.budget_s else ""
        print(f"[imckit.book] {run.output}: {'FAILED' if error else 'ok'} in {seconds:.1f} s{budget}", flush=True)
        results.append(result)
    status = {
        "profile": profile,
        "complete": only is None and all(r.error is None for r in results),
        "date": started_at.isoformat(timespec="seconds"),
        **code,
        "machine": machine_state(),
        "runs": [{"output": r.run.output, "seconds": round(r.seconds, 2), "budget_s": r.run.budget_s,
                  "cell_seconds": round(sum(r.cell_seconds), 2), "error": r.error} for r in results],
    }
    status_path.write_text(json.dumps(status, indent=2))
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
    """The status of the last notebook run; raises :class:`BookError` unless it was complete and clean."""
    status_path = Path(root) / "book" / "chapters" / STATUS_FILE
    if not status_path.is_file():
        raise BookError("no executed notebooks: run `python -m imckit.book run --profile PROFILE` first")
    status = json.loads(status_path.read_text())
    if not status.get("complete"):
        bad = [r["output"] for r in status["runs"] if r["error"]]
        raise BookError(f"the last notebook run was incomplete (failed: {bad or 'none'}; "
                        "a run restricted with --only does not make a book); run all notebooks first")
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m imckit.book", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("run", "build", "all", "scorecard"))
    parser.add_argument("--profile", default="default", choices=PROFILES)
    parser.add_argument("--only", nargs="*", help="notebook names to run (default: all)")
    parser.add_argument("--data-root", default=os.environ.get("IMCKIT_DATA_ROOT", ""),
                        help="passed to every notebook as data_root")
    parser.add_argument("--no-strict", action="store_true", help="build without -W -n")
    parser.add_argument("--readme", action="store_true",
                        help="scorecard: also write the counts into README.md (needs a complete default run)")
    args = parser.parse_args(argv)
    try:
        if args.action == "scorecard":
            from imckit.book.scorecard import scorecard_counts

            print(scorecard_counts(readme=args.readme).to_string(), flush=True)
            return 0
        if args.action in ("run", "all"):
            # relative to where the command was typed; the runner shows it relative to the project
            extra = {"data_root": str(Path(args.data_root).resolve())} if args.data_root else None
            run_notebooks(args.profile, only=args.only, extra=extra)
        if args.action in ("build", "all"):
            html = build_book(strict=not args.no_strict)
            print(f"[imckit.book] built {html}", flush=True)
    except BookError as err:
        print(f"[imckit.book] ERROR: {err}", file=sys.stderr, flush=True)
        return 1
    return 0

