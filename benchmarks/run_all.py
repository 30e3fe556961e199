"""Run every benchmark in turn and write their tables to ``benchmarks/out/results.json``.

Benchmarks run one after another, never two at once (timings on 2 cores need the machine to themselves),
each with its default arguments unless ``--set`` changes one. Every ``bench_*.py`` in this folder is a
benchmark: it has a ``main()`` that reports its tables through ``_timing.report``. The results file keeps,
per benchmark, its tables, its description (the module's docstring), the arguments it ran with, the date,
the git commit (and whether the work tree had uncommitted changes) and the machine; a run of some
benchmarks updates their entries and keeps the others'. It also keeps the run times of the last complete
``default`` book run (``book/chapters/.run-status.json``), stamped the same way. ``update_readme.py``
turns the file into the README's speed section; ``make bench`` runs both.

Run: .venv/bin/python benchmarks/run_all.py [bench_eval ...] [--set bench_eval.images=200] [--out PATH]
"""

from __future__ import annotations

import argparse
import ast
import datetime
import importlib
import inspect
import json
import os
import sys
import traceback
from pathlib import Path

import _timing

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "out" / "results.json"
BOOK_STATUS = ROOT / "book" / "chapters" / ".run-status.json"
FORMAT = 1
# the README's order; a benchmark not listed here follows, by name
ORDER = ("bench_eval", "bench_training", "bench_engine", "bench_injection", "bench_sensitivity",
         "bench_compensation", "bench_hessian", "bench_ggn", "bench_regularize", "bench_objectives")
# files a benchmark run rewrites itself: their changes do not make the measured tree "dirty"
WRITTEN_BY_THE_RUN = ("README.md", "benchmarks/out")


class BenchmarkFailed(RuntimeError):
    """A benchmark raised an error or reported no table."""


def discover(folder: Path = HERE) -> list[str]:
    """The benchmark modules in ``folder`` (``bench_*.py``), in the README's order."""
    names = sorted(p.stem for p in Path(folder).glob("bench_*.py"))
    return [n for n in ORDER if n in names] + [n for n in names if n not in ORDER]


def stamp(root: Path = ROOT) -> dict:
    """When, from which code and on which machine: the date (UTC), the git commit and whether the work tree
    differed from it, the machine (``imckit.core.provenance``, plus the GPU) and the main versions."""
    from imckit.book.runner import code_state, machine_state
    from imckit.core.provenance import versions

    found = versions()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **code_state(root, ignore=WRITTEN_BY_THE_RUN),
        "machine": machine_state(),
        "versions": {k: found[k] for k in ("python", "imckit", "torch") if k in found},
    }


def description(module) -> str:
    """The module's docstring without its ``Run:`` line (how to call it by hand)."""
    lines = (inspect.getdoc(module) or "").splitlines()
    return "\n".join(line for line in lines if not line.startswith("Run:")).strip()


def load(path: Path) -> dict:
    """The results file, or an empty one where there is none yet."""
    if not path.is_file():
        return {"format": FORMAT, "benchmarks": {}, "book": None}
    results = json.loads(path.read_text())
    if results.get("format") != FORMAT:
        raise ValueError(f"{path}: results format {results.get('format')!r}, expected {FORMAT}; delete it and rerun")
    return results


def save(results: dict, path: Path) -> None:
    """Write ``results`` atomically (an interrupted write leaves the previous file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = {n: results["benchmarks"][n] for n in discover() if n in results["benchmarks"]}
    ordered.update({n: e for n, e in sorted(results["benchmarks"].items()) if n not in ordered})
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({**results, "benchmarks": ordered}, indent=1) + "\n")
    os.replace(partial, path)


def book_times(status_path: Path = BOOK_STATUS) -> dict | None:
    """The last book run's status if it ran every chapter of the ``default`` profile cleanly, else None."""
    if not status_path.is_file():
        return None
    status = json.loads(status_path.read_text())
    if status.get("profile") != "default" or not status.get("complete"):
        return None
    return status


def run(names: list[str], out: Path = RESULTS, arguments: dict | None = None,
        book_status: Path | None = BOOK_STATUS, folder: Path = HERE) -> dict:
    """Run the benchmarks ``names`` one after another and merge their tables into the results file.

    Args:
        names: benchmark module names (``bench_*``), importable from this folder.
        out: the results file (written after each benchmark, so a failure keeps the ones before it).
        arguments: per benchmark, keyword arguments for its ``main`` (default: its own defaults).
        book_status: the book runner's status file; its run times are kept when it is a complete
            ``default`` run (``None``: leave the book's entry as it is).
        folder: where the benchmarks are (it must be on ``sys.path``, as this script's folder is).

    Raises:
        ValueError: a name is not a benchmark (nothing runs).
        BenchmarkFailed: after running the others, if a benchmark raised or reported no table.
    """
    arguments = arguments or {}
    known = discover(folder)
    unknown = [n for n in list(names) + list(arguments) if n not in known]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}; the benchmarks are {known}")
    results = load(out)
    when = stamp()  # one stamp for the run: the code and machine do not change in between
    book = book_times(book_status) if book_status is not None else None
    if book is not None:
        results["book"] = book
    failed = []
    for name in names:
        kwargs = arguments.get(name, {})
        print(f"\n## {name} {kwargs or ''}", flush=True)
        _timing.take_recorded()
        try:
            module = importlib.import_module(name)
            module.main(**kwargs)
        except Exception:  # the next benchmarks still run; the run fails at the end
            traceback.print_exc()
            failed.append(f"{name}: {traceback.format_exc(limit=0).strip()}")
            continue
        tables = _timing.take_recorded()
        if not tables:
            failed.append(f"{name}: main() reported no table; show results with _timing.report(title, rows, note)")
            continue
        defaults = {k: p.default for k, p in inspect.signature(module.main).parameters.items()
                    if p.default is not inspect.Parameter.empty}
        results["benchmarks"][name] = {
            "script": f"benchmarks/{name}.py",
            "description": description(module),
            "arguments": {k: v for k, v in {**defaults, **kwargs}.items() if isinstance(v, (int, float, str, bool))},
            **when,
            "tables": tables,
        }
        save(results, out)
    save(results, out)
    if failed:
        raise BenchmarkFailed("benchmark(s) failed (their earlier results are kept):\n" + "\n".join(failed))
    return results


def _parse_sets(items: list[str]) -> dict:
    arguments: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        name, dot, arg = key.partition(".")
        if not (sep and dot and name and arg):
            raise ValueError(f"--set takes BENCHMARK.ARGUMENT=VALUE; got {item!r}")
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parsed = value  # a plain string
        arguments.setdefault(name, {})[arg] = parsed
    return arguments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {discover()})")
    parser.add_argument("--set", action="append", default=[], metavar="BENCH.ARG=VALUE",
                        help="change one argument of a benchmark's main(), e.g. bench_eval.images=200")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default: {RESULTS})")
    parser.add_argument("--no-book", action="store_true", help="do not record the last book run's times")
    args = parser.parse_args(argv)
    try:
        run(args.names or discover(), args.out, _parse_sets(args.set), None if args.no_book else BOOK_STATUS)
    except (ValueError, BenchmarkFailed) as err:
        print(f"run_all: {err}", file=sys.stderr)
        return 1
    print(f"\nwrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
