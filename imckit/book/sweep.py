"""Parameter sweeps: run a notebook over a grid of parameters as Dask tasks, resumable, into one table.

A sweep file (YAML, e.g. ``sweeps/fefet_ber.yml``) names the notebook(s), a base profile and the points::

    name: fefet-ber                  # optional; default: the file's name
    notebook: fefet                  # a name in notebooks/, a path to an .ipynb, or `notebooks: [a, b]`
    profile: default                 # the profile every point runs with
    grid:                            # every combination of these values ...
      target_ber: [0.02, 0.04, 0.06, 0.08]
    points:                          # ... and/or points listed one by one
      - {target_ber: 0.05, arrays: 50}
    seeds: [0, 1, 2]                 # the seed axis: every point runs with each seed (parameter `seed`)
    fixed: {fit_arrays: 400}         # the same for every point
    resources: {GPU: 1}              # Dask worker resources each point needs (default: none)
    profiles:                        # per profile, keys that replace the ones above
      smoke: {grid: {target_ber: [0.02, 0.08]}, seeds: [0, 1]}

:func:`load_sweep` reads and checks the whole file before anything runs: unknown keys, an unknown
notebook, a parameter the notebook's ``parameters`` cell does not declare or a value of the wrong type
(:func:`imckit.book.parameters.check_parameters`), an empty grid axis or no point at all are one
:class:`SweepError` that lists every problem. :func:`run_sweep` runs the points that are not finished yet,
each one papermill execution with its own folder, as Dask tasks (a :class:`distributed.LocalCluster` sized
by :func:`local_cluster_size`, or a running scheduler given by address), and collects every point's glued
values and run record into one table (:mod:`imckit.book.sweep_table`). Command line::

    python -m imckit.book sweep sweeps/fefet_ber.yml [--profile P] [--scheduler tcp://host:8786]
        [--workers N] [--threads-per-point T] [--out DIR] [--dry-run]

Resuming: a point is keyed by its notebook (the source of its cells), its parameters (profile and seed
included) and the code version of the kit modules the notebook imports (:func:`imckit.core.cache.code_version`);
its record (``record.json`` in its folder) is written atomically after the execution, so a point with a
record of status ``ok`` and the same key is finished and never rerun; an interrupted sweep resumes with the
others. A failed point is recorded with its error while the others go on, and is run again by the next
run of the sweep (``retry_failed=False`` keeps its record instead).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import itertools
import json
import logging
import os
import shutil
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from imckit.book.sweep_table import (RECORD_FILE, build_table, read_glued, read_record, write_json_atomic,
                                     write_table)
from imckit.core.profiles import PROFILES

__all__ = ["SweepError", "SweepPoint", "SweepSpec", "SweepResult", "load_sweep", "local_cluster_size",
           "run_sweep", "execute_point", "main"]

ROOT = Path(__file__).resolve().parents[2]
SPEC_KEYS = ("name", "description", "notebook", "notebooks", "profile", "grid", "points", "seeds",
             "seed_parameter", "fixed", "resources", "profiles")
AXIS_KEYS = ("grid", "points", "seeds", "fixed", "resources")  # what a `profiles:` entry may replace
RESERVED = ("profile", "output_dir")  # set by the sweep itself, never by a point
POINT_MEMORY = 2 * 1024**3  # bytes a point is assumed to need (a kernel with torch and a small network)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class SweepError(ValueError):
    """A sweep file or sweep that cannot run; the message lists every problem found."""


@dataclass(frozen=True)
class SweepPoint:
    """One execution of the sweep.

    Attributes:
        notebook: the notebook's name (its file name without ``.ipynb``).
        path: the source notebook.
        parameters: what papermill injects (the profile and the seed included; ``output_dir`` is added at
            run time, inside the point's folder).
        key: the point's identity: a hash of the notebook's cells, the parameters and the code version.
        code_version: :func:`imckit.core.cache.code_version` of the kit modules the notebook imports
            (``""`` where it imports none).
    """

    notebook: str
    path: Path
    parameters: dict
    key: str
    code_version: str

    @property
    def folder_name(self) -> str:
        return f"{self.notebook}-{self.key}"


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep: its name, profile, points and the resources each point needs.

    Build it with :func:`load_sweep` (from a file) or :meth:`from_dict`; both check everything first.

    Attributes:
        name: the sweep's name (the default output folder is ``results/sweeps/<name>/<profile>``).
        profile: the profile every point runs with.
        points: the points, in order (notebook, then grid and listed points, then seeds).
        swept: the parameter names that vary between points (the seed included), in order.
        resources: Dask resources per point, e.g. ``{"GPU": 1}`` (empty: none).
        root: the project folder: points execute with it as working directory.
        source: the sweep file's text as read (``""`` when built from a dict), shown by the chapter.
    """

    name: str
    profile: str
    points: tuple[SweepPoint, ...]
    swept: tuple[str, ...]
    resources: dict = field(default_factory=dict)
    root: Path = ROOT
    source: str = ""

    @classmethod
    def from_dict(cls, data: dict, *, profile: str | None = None, base: str | Path | None = None,
                  root: str | Path | None = None, name: str = "sweep", source: str = "") -> "SweepSpec":
        """Check a sweep given as a mapping (the YAML file's content) and plan its points.

        Args:
            data: the sweep (see the module docstring for the keys).
            profile: run under this profile instead of the file's ``profile`` (its ``profiles:`` entry, if
                any, replaces the axes).
            base: the folder relative paths of the file are taken from (default: the working directory);
                a notebook name is looked up in ``<root>/notebooks`` (when ``root`` is given),
                ``<base>/../notebooks``, ``<base>/notebooks`` and the kit's ``notebooks/``, in that order.
            root: the project folder the points run in (default: the folder above the first notebook's).
            name: the name when ``data`` has none.

        Raises:
            SweepError: listing every problem found (nothing has run).
        """
        problems: list[str] = []
        if not isinstance(data, dict):
            raise SweepError(f"a sweep must be a mapping with the keys {', '.join(SPEC_KEYS)}; got {data!r}")
        unknown = [k for k in data if k not in SPEC_KEYS]
        if unknown:
            problems.append(f"unknown key(s) {unknown}; a sweep file has the keys {', '.join(SPEC_KEYS)}")
        base = Path(base) if base is not None else Path.cwd()
        chosen = data.get("profile", "default") if profile is None else profile
        if chosen not in PROFILES:
            problems.append(f"profile must be one of {', '.join(map(repr, PROFILES))}; got {chosen!r}")
        data = dict(data)
        overrides = data.get("profiles") or {}
        if not isinstance(overrides, dict) or any(p not in PROFILES for p in overrides):
            problems.append(f"profiles must map profile names ({', '.join(PROFILES)}) to keys "
                            f"({', '.join(AXIS_KEYS)}); got {overrides!r}")
        elif chosen in overrides:
            entry = overrides[chosen] or {}
            if not isinstance(entry, dict) or any(k not in AXIS_KEYS for k in entry):
                problems.append(f"profiles.{chosen} may only replace {', '.join(AXIS_KEYS)}; got {entry!r}")
            else:
                data.update(entry)
        sweep_name = str(data.get("name") or name)
        if not sweep_name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            problems.append(f"name must be letters, digits, '-', '_' or '.' (it names a folder); got {sweep_name!r}")
        notebooks = _notebook_paths(data, base, root, problems)
        axes = _axes(data, problems)
        resources = data.get("resources") or {}
        if not isinstance(resources, dict) or not all(
                isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                for k, v in resources.items()):
            problems.append(f"resources must map resource names to positive numbers (e.g. {{GPU: 1}}); "
                            f"got {resources!r}")
        grid, listed, seeds, seed_name, fixed = axes
        from imckit.book.parameters import ParameterError, check_parameters, notebook_parameters

        if problems:  # also name the unknown parameters, which the points below would have reported
            samples = {**{k: (v[0] if v else None) for k, v in grid.items()}, **fixed,
                       **{k: v for p in listed for k, v in p.items()}}
            for _, path in notebooks:
                if not path.is_file():
                    continue
                try:
                    declared = notebook_parameters(path)
                    for name, value in samples.items():
                        if name not in declared and name not in ("profile", "data_root"):
                            check_parameters(path, {name: value}, allow=("profile", "data_root"))
                except ParameterError as err:
                    problems.append(str(err))
            raise SweepError(_problem_text(problems))
        combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())] if grid else []
        combos += [dict(p) for p in listed]
        seed_axis = [{seed_name: s} for s in seeds] if seeds is not None else [{}]
        swept = list(grid) + [k for p in listed for k in p] + ([seed_name] if seeds is not None else [])
        swept = tuple(dict.fromkeys(swept))
        points, seen = [], set()
        root_path = Path(root).resolve() if root is not None else notebooks[0][1].parent.parent
        for nb_name, path in notebooks:
            source_digest, code = _notebook_identity(path)
            for combo in combos:
                for seed in seed_axis:
                    params = {**fixed, **combo, **seed, "profile": chosen}
                    try:
                        params = check_parameters(path, params, allow=("profile", "data_root"))
                    except ParameterError as err:
                        problems.append(str(err))
                        continue
                    key = _point_key(nb_name, source_digest, params, code)
                    if key not in seen:  # a listed point equal to a grid point runs once
                        seen.add(key)
                        points.append(SweepPoint(nb_name, path, params, key, code))
        if problems:
            raise SweepError(_problem_text(problems))
        return cls(sweep_name, chosen, tuple(points), swept, dict(resources), root_path, source)

    def describe(self) -> str:
        """One line: the sweep's name, profile, number of points and what varies."""
        return (f"sweep {self.name!r}: {len(self.points)} point(s) of {sorted({p.notebook for p in self.points})} "
                f"at profile {self.profile!r}, varying {', '.join(self.swept) or 'nothing'}")


def _problem_text(problems: list[str]) -> str:
    unique = list(dict.fromkeys(problems))
    if len(unique) == 1:
        return unique[0]
    return f"{len(unique)} problems in the sweep:\n" + "\n".join(f"  - {p}" for p in unique)


def _notebook_paths(data: dict, base: Path, root, problems: list[str]) -> list[tuple[str, Path]]:
    if "notebook" in data and "notebooks" in data:
        problems.append("give either notebook or notebooks, not both")
    given = data.get("notebooks", data.get("notebook"))
    names = [given] if isinstance(given, str) else given
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        problems.append(f"notebook must be a notebook name or path (or notebooks a non-empty list of them); "
                        f"got {given!r}")
        return [("?", Path("?"))]
    folders = [base.parent / "notebooks", base / "notebooks"]
    if root is not None:
        folders.insert(0, Path(root) / "notebooks")
    folders.append(ROOT / "notebooks")
    found = []
    for name in names:
        if name.endswith(".ipynb"):
            path = Path(name) if Path(name).is_absolute() else base / name
            candidates = [path]
        else:
            candidates = [folder / f"{name}.ipynb" for folder in folders]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            where = ", ".join(str(c) for c in dict.fromkeys(candidates))
            problems.append(f"notebook {name!r} not found (looked for {where})")
            continue
        found.append((path.stem, path.resolve()))
    return found or [("?", Path("?"))]


def _axes(data: dict, problems: list[str]):
    grid = data.get("grid") or {}
    if not isinstance(grid, dict):
        problems.append(f"grid must map parameter names to lists of values; got {grid!r}")
        grid = {}
    for name, values in grid.items():
        if not isinstance(values, list):
            problems.append(f"grid.{name} must be a list of values; got {values!r}")
        elif not values:
            problems.append(f"grid.{name} is empty: a grid axis needs at least one value")
    grid = {k: v for k, v in grid.items() if isinstance(v, list)}
    listed = data.get("points") or []
    if not isinstance(listed, list) or not all(isinstance(p, dict) and p for p in listed):
        problems.append(f"points must be a list of non-empty mappings (name: value); got {listed!r}")
        listed = []
    if "grid" in data and not grid and not listed:
        problems.append("the grid is empty and no points are listed: the sweep has no point to run")
    elif not grid and not listed and "grid" not in data:
        problems.append("the sweep has no point: give a grid (name: [values]) and/or a list of points")
    seed_name = data.get("seed_parameter", "seed")
    if not isinstance(seed_name, str) or not seed_name.isidentifier():
        problems.append(f"seed_parameter must be a parameter name; got {seed_name!r}")
        seed_name = "seed"
    seeds = data.get("seeds")
    if seeds is not None:
        if not isinstance(seeds, list) or not seeds:
            problems.append(f"seeds must be a non-empty list of seeds (integers in [0, 2**63 - 1]); got {seeds!r}")
            seeds = None
        else:
            bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= 2**63 - 1]
            if bad:
                problems.append(f"seeds must be integers in [0, 2**63 - 1]; got {bad!r}")
            elif len(set(seeds)) != len(seeds):
                problems.append(f"seeds must not repeat; got {seeds!r}")
    fixed = data.get("fixed") or {}
    if not isinstance(fixed, dict):
        problems.append(f"fixed must map parameter names to values; got {fixed!r}")
        fixed = {}
    named = {"grid": set(grid), "points": {k for p in listed for k in p}, "fixed": set(fixed)}
    for where, names in named.items():
        reserved = sorted(names & set(RESERVED))
        if reserved:
            problems.append(f"{where} sets {reserved}: the sweep sets profile (key `profile`) and output_dir itself")
        if seeds is not None and seed_name in names:
            problems.append(f"{where} sets {seed_name!r}, which the seeds axis varies; give it in one place")
    both = sorted(named["grid"] & named["fixed"])
    if both:
        problems.append(f"parameter(s) {both} are both swept (grid) and fixed; give each in one place")
    return grid, listed, seeds, seed_name, fixed


def _notebook_identity(path: Path) -> tuple[str, str]:
    """A hash of the notebook's cells (types and sources, not outputs or metadata) and the code version of the
    kit modules its code cells import."""
    import ast

    import nbformat

    from imckit.core.cache import code_version

    nb = nbformat.read(path, as_version=4)
    sha = hashlib.sha256()
    modules = set()
    for cell in nb.cells:
        sha.update(f"{cell.cell_type}\0{cell.source}\0".encode())
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:  # magics: the cell still counts in the hash
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules.update(a.name for a in node.names if a.name.split(".")[0] == "imckit")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "imckit":
                modules.add(node.module)
                modules.update(f"{node.module}.{a.name}" for a in node.names)
    from imckit.core.cache import _module_file

    modules = sorted(m for m in modules if _module_file(m) is not None)
    return sha.hexdigest()[:16], (code_version(*modules) if modules else "")


def _point_key(notebook: str, source: str, parameters: dict, code: str) -> str:
    text = json.dumps({"notebook": notebook, "source": source, "parameters": parameters, "code": code},
                      sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_sweep(path: str | Path, *, profile: str | None = None, root: str | Path | None = None) -> SweepSpec:
    """Read and check a sweep file (see the module docstring); nothing runs.

    Args:
        path: the YAML file.
        profile: run under this profile instead of the file's (its ``profiles:`` entry applies).
        root: the project folder (default: the folder above the notebooks' folder).

    Raises:
        SweepError: the file is missing or not YAML, or any problem :meth:`SweepSpec.from_dict` finds.
    """
    path = Path(path)
    try:
        text = path.read_text()
        data = yaml.safe_load(text)
    except OSError as err:
        raise SweepError(f"sweep file {str(path)!r} cannot be read ({err.strerror or err})") from None
    except yaml.YAMLError as err:
        raise SweepError(f"sweep file {str(path)!r} is not valid YAML: {err}") from None
    return SweepSpec.from_dict(data, profile=profile, base=path.resolve().parent, root=root, name=path.stem,
                               source=text)


def local_cluster_size(points: int, *, workers: int | None = None, threads_per_point: int | None = None,
                       cores: int | None = None, memory: int | None = None) -> tuple[int, int]:
    """How many Dask workers a local sweep starts, and how many threads each point's torch gets.

    Every worker runs one point at a time (one thread), and each point's kernel gets ``threads_per_point``
    threads (default 1, through ``OMP_NUM_THREADS``/``MKL_NUM_THREADS``), so that ``workers x
    threads_per_point <= cores``: two points never compete for one core. One thread per point because a
    point's start (a kernel, the imports, reading caches) runs on one core anyway and the kit's small
    networks gain little from a second thread, so on 2 cores two single-threaded points finish more per
    minute than one point with two threads. Workers are also capped by memory (2 GiB per point) and by the
    number of points left.

    Args:
        points: points left to run (>= 1).
        workers: use this many workers instead (still capped by ``points``).
        threads_per_point: torch threads per point (default 1).
        cores: the cores to plan for (default: those this process may use).
        memory: bytes of memory to plan for (default: the machine's).

    Returns:
        ``(workers, threads_per_point)``.
    """
    from imckit.core.validate import check_count

    check_count(points, "points")
    threads = 1 if threads_per_point is None else check_count(threads_per_point, "threads_per_point")
    if workers is not None:
        return min(check_count(workers, "workers"), points), threads
    cores = check_count(cores, "cores") if cores is not None else len(os.sched_getaffinity(0))
    if memory is None:
        try:
            memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            memory = POINT_MEMORY * cores
    by_memory = max(1, memory // POINT_MEMORY)
    return max(1, min(cores // threads, by_memory, points)), threads


# ---------------------------------------------------------------------------------------------------------
# one point, on a worker

_EXECUTION_LOCK = threading.Lock()  # papermill changes the process's working directory: one point per process


def execute_point(task: dict) -> dict:
    """Execute one point with papermill (the function each Dask task runs) and return its record.

    ``task`` holds the notebook (its JSON text, so a worker needs no copy of the project's notebooks),
    the parameters, the point's folder, the working directory and the threads per point. The executed
    notebook goes to ``<folder>/point.ipynb``, the notebook's ``output_dir`` is ``<folder>/output``, what the
    kernel process prints on its stderr (its own warnings) to ``<folder>/kernel.log``. An
    error in the notebook does not raise: the record has ``status: "failed"`` and the error.
    """
    import nbformat
    import papermill

    folder = Path(task["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "point.ipynb"
    parameters = dict(task["parameters"], output_dir=task["output_dir"])
    cwd = task["cwd"] if Path(task["cwd"]).is_dir() else str(folder)
    started = time.time()
    with _EXECUTION_LOCK, open(folder / "kernel.log", "ab") as log:
        # a retried point starts clean: nothing of a failed attempt may be read back into its record
        target.unlink(missing_ok=True)
        shutil.rmtree(folder / "output", ignore_errors=True)
        environment = {v: os.environ.get(v) for v in THREAD_VARIABLES}
        if task.get("threads"):
            os.environ.update({v: str(task["threads"]) for v in THREAD_VARIABLES})
        clock = time.perf_counter()
        error = None
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)  # the kernel's own messages go to the point's kernel.log, not the caller's stderr
        try:
            papermill.execute_notebook(nbformat.reads(task["source"], as_version=4), str(target),
                                       parameters=parameters, cwd=cwd, kernel_name=task.get("kernel", "python3"),
                                       language="python", progress_bar=False, log_output=False)
        except Exception as err:  # the record says what went wrong; the sweep goes on
            error = _error_text(err)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            for variable, value in environment.items():  # the worker's own setting for its next point
                if value is None:
                    os.environ.pop(variable, None)
                else:
                    os.environ[variable] = value
        wall = time.perf_counter() - clock
    glued, cells = {}, None
    if target.is_file():
        try:
            nb = nbformat.read(target, as_version=4)
            glued = read_glued(nb)
            cells = sum(c.metadata.get("papermill", {}).get("duration") or 0.0 for c in nb.cells)
        except Exception as err:  # an unreadable output is the point's failure, not the sweep's
            error = error or f"the executed notebook cannot be read: {_error_text(err)}"
    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):
        worker = "local"
    return {"status": "failed" if error else "ok", "error": error, "wall_s": round(wall, 3),
            "cells_s": None if cells is None else round(cells, 3), "glued": glued, "host": socket.gethostname(),
            "worker": worker, "threads": task.get("threads"),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))}


def _error_text(err: BaseException, limit: int = 2000) -> str:
    ename, evalue = getattr(err, "ename", None), getattr(err, "evalue", None)
    text = f"{ename}: {evalue}" if ename else f"{type(err).__name__}: {err}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------------------
# the sweep


@dataclass
class SweepResult:
    """What :func:`run_sweep` did.

    Attributes:
        spec: the sweep.
        out: its folder (``points/<notebook>-<key>/`` per point, ``table.csv``, ``table.parquet``).
        table: one row per point: status, parameters, glued values, run record (see
            :func:`imckit.book.sweep_table.build_table`).
        ran: points executed by this call; reused: points finished before and read back; failed: points
            whose record says ``failed`` (this call's or kept from before).
        seconds: wall time of this call.
        workers: Dask workers used (0 when nothing ran); threads_per_point: torch threads per point.
    """

    spec: SweepSpec
    out: Path
    table: object
    ran: int
    reused: int
    failed: int
    seconds: float
    workers: int = 0
    threads_per_point: int | None = None

    @property
    def csv(self) -> Path:
        return self.out / "table.csv"

    @property
    def parquet(self) -> Path:
        return self.out / "table.parquet"

    def sentence(self) -> str:
        """What this call did, as the end of a sentence starting "This run ...", e.g. ``"executed 21 points on 2
        Dask workers in 112 s; none failed"``."""
        if self.ran:
            text = f"executed {self.ran} point(s) on {self.workers} Dask worker(s) in {self.seconds:.0f} s"
            if self.reused:
                text += f" and read {self.reused} back from an earlier run of the same code"
        else:
            text = f"executed no point: all {self.reused} were read back from an earlier run of the same code"
        return text + (f"; {self.failed} failed" if self.failed else "; none failed")

    def summary(self) -> str:
        """One line: points run, reused, failed, the time and where the table is."""
        return (f"{self.spec.name}: {len(self.spec.points)} point(s): {self.ran} run, {self.reused} reused, "
                f"{self.failed} failed, in {self.seconds:.1f} s; table {self.csv}")


def default_out(spec: SweepSpec) -> Path:
    """``<root>/results/sweeps/<name>/<profile>``."""
    return spec.root / "results" / "sweeps" / spec.name / spec.profile


def _code_record(spec: SweepSpec) -> dict:
    from imckit.book.runner import code_state
    from imckit.core.provenance import versions

    found = versions()
    return {**code_state(spec.root), "versions": {k: found.get(k) for k in ("python", "imckit", "torch", "papermill")}}


def run_sweep(spec: SweepSpec | str | Path, *, out: str | Path | None = None, scheduler: str | None = None,
              workers: int | None = None, threads_per_point: int | None = None, profile: str | None = None,
              retry_failed: bool = True, progress: bool = True, kernel: str = "python3") -> SweepResult:
    """Run the sweep's unfinished points as Dask tasks and collect every point into one table.

    Args:
        spec: a :class:`SweepSpec` or the path of a sweep file (:func:`load_sweep`, with ``profile``).
        out: the sweep's folder (default ``results/sweeps/<name>/<profile>`` in the project). Each point
            writes ``points/<notebook>-<key>/`` there (executed notebook, ``output/``, ``record.json``);
            the table goes to ``table.csv`` and ``table.parquet``. With a cluster, give a folder all
            machines share if you want the executed notebooks and outputs in one place (the table itself
            is built from the records the workers send back).
        scheduler: address of a running Dask scheduler (``tcp://host:8786``); default: a
            :class:`distributed.LocalCluster` sized by :func:`local_cluster_size`, closed at the end.
        workers: local workers (default: :func:`local_cluster_size`'s); not used with ``scheduler``.
        threads_per_point: torch threads of each point's kernel (default 1 locally; with ``scheduler``,
            the workers' environment decides unless given).
        profile: with a path, run under this profile (see :func:`load_sweep`).
        retry_failed: rerun points whose record says ``failed`` (``False``: keep the failure).
        progress: show a tqdm bar (points done, failed, left).
        kernel: the Jupyter kernel the points run in.

    Returns:
        :class:`SweepResult`. A failed point does not raise: it is a row with status ``failed``.

    Raises:
        SweepError: the sweep file is invalid, a point needs resources no worker has, or ``out`` cannot
            be written (before anything runs).
    """
    started = time.perf_counter()
    if not isinstance(spec, SweepSpec):
        spec = load_sweep(spec, profile=profile)
    elif profile is not None and profile != spec.profile:
        raise SweepError(f"profile {profile!r} differs from the sweep's {spec.profile!r}; load the file with it")
    out = Path(out).resolve() if out is not None else default_out(spec)
    try:
        from imckit.core.validate import check_writable_dir

        check_writable_dir(out, "out")
    except (OSError, ValueError, TypeError) as err:
        raise SweepError(str(err)) from None
    records = {p.key: read_record(out / "points" / p.folder_name / RECORD_FILE, p.key) for p in spec.points}
    done = {k for k, r in records.items() if r and (r["status"] == "ok" or not retry_failed)}
    todo = [p for p in spec.points if p.key not in done]
    reused = len(done)
    used_workers = 0
    if todo:
        used_workers, threads_per_point = _run_points(spec, todo, out, records, scheduler, workers,
                                                      threads_per_point, progress, kernel, reused)
    ordered = [records[p.key] for p in spec.points if records.get(p.key)]
    table = build_table(ordered, spec.swept)
    write_table(table, out)
    failed = sum(r["status"] != "ok" for r in ordered)
    return SweepResult(spec, out, table, len(todo), reused, failed, time.perf_counter() - started,
                       used_workers, threads_per_point)


def _point_task(spec: SweepSpec, point: SweepPoint, out: Path, threads: int | None, kernel: str) -> dict:
    from imckit.book.runner import project_path

    folder = out / "points" / point.folder_name
    return {"source": point.path.read_text(), "parameters": point.parameters, "folder": str(folder),
            "output_dir": project_path(folder / "output", spec.root), "cwd": str(spec.root),
            "threads": threads, "kernel": kernel}


def _record(spec: SweepSpec, point: SweepPoint, result: dict, code: dict) -> dict:
    return {"key": point.key, "sweep": spec.name, "notebook": point.notebook, "profile": spec.profile,
            "parameters": point.parameters, "swept": list(spec.swept), "code_version": point.code_version,
            **code, **result}


def _client(scheduler, workers, n_todo, threads, resources):
    """(client, cluster or None, workers, threads per point)."""
    from distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler, timeout="30s")
        info = client.scheduler_info()["workers"]
        if resources:
            able = [w for w in info.values() if all(w.get("resources", {}).get(k, 0) >= v
                                                     for k, v in resources.items())]
            if not able:
                client.close()
                raise SweepError(f"the points need resources {resources} but no worker of {scheduler} declares "
                                 "them; start workers with e.g. `dask worker ADDRESS --resources GPU=1`")
        return client, None, max(1, len(info)), threads
    local_resources = {}
    if resources:
        gpus = _local_gpus()
        missing = {k: v for k, v in resources.items() if k != "GPU" or gpus < v}
        if missing:
            raise SweepError(f"the points need resources {resources} but this machine offers "
                             f"{{'GPU': {gpus}}}; run the sweep on a cluster whose workers declare them "
                             "(--scheduler tcp://host:8786)")
        need = max(1, int(resources.get("GPU", 1)))  # GPUs one point asks for: each worker must hold that many
        workers = min(workers or gpus // need, gpus // need)
        local_resources = {"GPU": gpus // workers}
    n, threads = local_cluster_size(n_todo, workers=workers, threads_per_point=threads)
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                           resources=local_resources or None, silence_logs=logging.ERROR)
    return Client(cluster), cluster, n, threads


def _local_gpus() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # no torch, no driver
        return 0


def _run_points(spec, todo, out, records, scheduler, workers, threads, progress, kernel, reused):
    from distributed import as_completed
    from tqdm import tqdm

    code = _code_record(spec)
    client, cluster, n, threads = _client(scheduler, workers, len(todo), threads, spec.resources)
    bar = tqdm(total=len(spec.points), initial=reused, disable=not progress, unit="point", desc=spec.name)
    waiting = {p.key for p in todo}
    failed = sum(1 for p in spec.points if p.key not in waiting and records.get(p.key)
                 and records[p.key]["status"] != "ok")
    left = len(todo)
    bar.set_postfix(done=reused, failed=failed, left=left)
    futures = {}
    # by reference from the installed module, also when this file runs as __main__ (python -m)
    task_function = importlib.import_module("imckit.book.sweep").execute_point
    try:
        for point in todo:
            future = client.submit(task_function, _point_task(spec, point, out, threads, kernel),
                                   key=f"imckit-sweep-{point.key}-{time.monotonic_ns()}", pure=False,
                                   resources=spec.resources or None)
            futures[future] = point
        for future in as_completed(futures):
            point = futures[future]
            try:
                result = future.result()
            except Exception as err:  # the worker died (memory, a signal): the point failed, the rest go on
                result = {"status": "failed", "error": f"the task failed on its worker: {_error_text(err)}",
                          "wall_s": None, "cells_s": None, "glued": {}, "host": None, "worker": None,
                          "threads": threads, "started": None}
            record = _record(spec, point, result, code)
            write_json_atomic(out / "points" / point.folder_name / RECORD_FILE, record)
            records[point.key] = record
            left -= 1
            failed += record["status"] != "ok"
            bar.update(1)
            bar.set_postfix(done=bar.n - failed, failed=failed, left=left)
    finally:  # also on Ctrl-C: stop what still runs, within bounded time (a running point is not waited for)
        bar.close()
        try:
            client.cancel([f for f in futures if not f.done()], force=True)
            client.close(timeout=10)
        except Exception:  # the scheduler may already be gone
            pass
        if cluster is not None:
            try:
                cluster.close(timeout=20)
            except Exception:
                pass
    return n, threads


# ---------------------------------------------------------------------------------------------------------
# command line


def main(argv: list[str] | None = None) -> int:
    """``python -m imckit.book sweep SWEEP.yml [...]``: 0 when every point finished, 1 when one failed, 2 for
    an invalid sweep."""
    parser = argparse.ArgumentParser(prog="python -m imckit.book sweep",
                                     description="Run a parameter sweep (a YAML sweep file) as Dask tasks.")
    parser.add_argument("sweep", help="the sweep file, e.g. sweeps/fefet_ber.yml")
    parser.add_argument("--profile", choices=PROFILES, help="run under this profile instead of the file's")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://host:8786 "
                                            "(default: a local cluster sized to this machine)")
    parser.add_argument("--workers", type=int, help="local workers (default: one per core, memory allowing)")
    parser.add_argument("--threads-per-point", type=int, help="torch threads per point (default 1 locally)")
    parser.add_argument("--out", help="the sweep's folder (default results/sweeps/NAME/PROFILE)")
    parser.add_argument("--keep-failed", action="store_true", help="do not rerun points that failed before")
    parser.add_argument("--dry-run", action="store_true", help="check the sweep and list its points; run nothing")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        spec = load_sweep(args.sweep, profile=args.profile)
        print(f"[imckit.book] {spec.describe()}", flush=True)
        if args.dry_run:
            for point in spec.points:
                print(f"  {point.folder_name}: {point.parameters}")
            return 0
        result = run_sweep(spec, out=args.out, scheduler=args.scheduler, workers=args.workers,
                           threads_per_point=args.threads_per_point, retry_failed=not args.keep_failed,
                           progress=not args.no_progress)
    except (SweepError, ValueError, TypeError) as err:
        print(f"[imckit.book] ERROR: {err}", file=sys.stderr, flush=True)
        return 2
    print(f"[imckit.book] {result.summary()}", flush=True)
    for _, row in result.table[result.table["status"] != "ok"].iterrows():
        print(f"  failed {row['point']}: {row['error']}", flush=True)
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
