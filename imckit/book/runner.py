"""Execute the notebooks with papermill and build the Jupyter Book (1.x) from the executed copies.

The run manifest ``notebooks/manifest.yml`` lists every notebook, its parameter groups, per-profile
overrides and time budgets. :func:`run_notebooks` executes each group into ``book/chapters/`` (output
``{notebook}.ipynb`` for the group ``main``, ``{notebook}-{group}.ipynb`` otherwise), appends a run record
(parameters, versions, run time read back from papermill's per-cell durations) and writes a status file.
:func:`build_book` refuses to build unless every notebook of the manifest ran successfully under one
profile, so a partial book is never reported as success. Command line::

    python -m imckit.book run --profile smoke      # execute the notebooks
    python -m imckit.book build                    # jupyter-book build -W -n --keep-going
    python -m imckit.book all --profile default    # both
"""

from __future__ import annotations

import argparse
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


def _run_record_cell(nb, run: NotebookRun, parameters: dict, seconds: float):
    import nbformat

    budget = f"{run.budget_s:.0f} s" if run.budget_s else "none"
    rows = [f"| `{k}` | `{v!r}` |" for k, v in parameters.items()]
    vrows = [f"| {k} | {v} |" for k, v in {**versions(), **machine()}.items()]
    text = "\n".join(
        ["## Run record", "",
         f"Executed by `imckit.book` with papermill in {seconds:.1f} s (budget for profile "
         f"`{run.parameters['profile']}`: {budget}); the parameters and versions it ran with:", "",
         "| parameter | value |", "| --- | --- |", *rows, "",
         "| software / machine | version |", "| --- | --- |", *vrows]
    )
    nb.cells.append(nbformat.v4.new_markdown_cell(text, metadata={"tags": ["run-record"]}))


def run_notebooks(
    profile: str,
    manifest: str | Path = ROOT / "notebooks" / "manifest.yml",
    out_dir: str | Path = ROOT / "book" / "chapters",
    results_dir: str | Path = ROOT / "results",
    only: list[str] | None = None,
    extra: dict | None = None,
) -> list[RunResult]:
    """Execute the manifest's notebooks under ``profile`` with papermill.

    Args:
        profile: ``"smoke"``, ``"default"`` or ``"paper"``.
        manifest: the run manifest.
        out_dir: where the executed notebooks go (the book reads them there).
        results_dir: each run gets ``output_dir = results_dir/profile/output-name`` for its files.
        only: run just these notebook names (the status file then marks the book incomplete).
        extra: parameters to add to every run (e.g. ``{"data_root": "/data"}``).

    Raises:
        BookError: after running everything, if any notebook failed (their errors are in the message).
    """
    import nbformat
    import papermill

    manifest_path = Path(manifest)
    runs = plan_runs(load_manifest(manifest_path), profile)
    only = only or None  # an empty selection means every notebook
    if only:
        unknown = sorted(set(only) - {r.notebook for r in runs})
        if unknown:
            raise BookError(f"unknown notebook(s) {unknown}; the manifest lists {sorted({r.notebook for r in runs})}")
        runs = [r for r in runs if r.notebook in only]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    status_path = out_dir / STATUS_FILE
    status_path.unlink(missing_ok=True)
    results = []
    for run in runs:
        target = out_dir / run.output
        target.unlink(missing_ok=True)
        params = dict(run.parameters, **(extra or {}))
        params["output_dir"] = str(Path(results_dir).resolve() / profile / Path(run.output).stem)
        print(f"[imckit.book] {run.output}: profile {profile}, parameters {params}", flush=True)
        started = time.perf_counter()
        error = None
        try:
            papermill.execute_notebook(
                str(manifest_path.parent / f"{run.notebook}.ipynb"), str(target), parameters=params,
                cwd=str(manifest_path.parent), progress_bar=False, kernel_name="python3",
            )
        except Exception as err:  # papermill's PapermillExecutionError carries the cell's traceback
            error = f"{type(err).__name__}: {err}"
        seconds = time.perf_counter() - started
        result = RunResult(run, seconds, error)
        if target.is_file():
            nb = nbformat.read(target, as_version=4)
            result.cell_seconds = [c.metadata.get("papermill", {}).get("duration") or 0.0 for c in nb.cells]
            if error is None:
                _run_record_cell(nb, run, params, sum(result.cell_seconds))
                nbformat.write(nb, target)
        cells = sum(result.cell_seconds)
        budget = f" (cells {cells:.1f} s, budget {run.budget_s:.0f} s{', EXCEEDED' if cells > run.budget_s else ''})" \
            if run.budget_s else ""
        print(f"[imckit.book] {run.output}: {'FAILED' if error else 'ok'} in {seconds:.1f} s{budget}", flush=True)
        results.append(result)
    status = {
        "profile": profile,
        "complete": only is None and all(r.error is None for r in results),
        "runs": [{"output": r.run.output, "seconds": round(r.seconds, 2), "budget_s": r.run.budget_s,
                  "error": r.error} for r in results],
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
    parser.add_argument("action", choices=("run", "build", "all"))
    parser.add_argument("--profile", default="default", choices=PROFILES)
    parser.add_argument("--only", nargs="*", help="notebook names to run (default: all)")
    parser.add_argument("--data-root", default=os.environ.get("IMCKIT_DATA_ROOT", ""),
                        help="passed to every notebook as data_root")
    parser.add_argument("--no-strict", action="store_true", help="build without -W -n")
    args = parser.parse_args(argv)
    try:
        if args.action in ("run", "all"):
            extra = {"data_root": args.data_root} if args.data_root else None
            run_notebooks(args.profile, only=args.only, extra=extra)
        if args.action in ("build", "all"):
            html = build_book(strict=not args.no_strict)
            print(f"[imckit.book] built {html}", flush=True)
    except BookError as err:
        print(f"[imckit.book] ERROR: {err}", file=sys.stderr, flush=True)
        return 1
    return 0

