"""Parameter sweeps (imckit.book.sweep): the sweep machinery against running the same points one by one.

Four points of the FeFET chapter (smoke profile; target BER 0.02 and 0.06 x seeds 0 and 1), each one papermill
execution, run (a) one after another with ``papermill.execute_notebook``, as by hand; (b) as a sweep on a
one-worker Dask LocalCluster whose point gets every core (the same one-at-a-time execution, so (b) / (a) is the
machinery's overhead: cluster start, shipping the tasks, records, glue read-back, the CSV and Parquet table);
(c) as a sweep sized to the machine (local_cluster_size: one single-threaded point per core), the speed-up a
sweep adds on top. Every sweep starts from an empty folder (no point reused); one warm-up execution first, then
the best of ``repeat`` rounds, the three paths in turn within each round. Goal: (b) / (a) <= 1.10.
Run: .venv/bin/python benchmarks/bench_sweep.py [--repeat 2]
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _timing import report

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "fefet.ipynb"
GRID = {"target_ber": [0.02, 0.06]}
SEEDS = [0, 1]


def _naive(points, folder: Path) -> float:
    import papermill

    start = time.perf_counter()
    for k, point in enumerate(points):
        out = folder / f"point{k}"
        out.mkdir(parents=True)
        papermill.execute_notebook(str(NOTEBOOK), str(out / "point.ipynb"),
                                   parameters=dict(point.parameters, output_dir=str(out / "output")),
                                   cwd=str(ROOT), kernel_name="python3", progress_bar=False)
    return time.perf_counter() - start


def _sweep(spec, folder: Path, **kwargs) -> tuple[float, object]:
    from imckit.book.sweep import run_sweep

    start = time.perf_counter()
    result = run_sweep(spec, out=folder, progress=False, **kwargs)
    seconds = time.perf_counter() - start
    if result.ran != len(spec.points) or result.failed:
        raise RuntimeError(f"the sweep ran {result.ran} of {len(spec.points)} points, {result.failed} failed")
    return seconds, result


def main(repeat: int = 2) -> list[dict]:
    from imckit.book.sweep import SweepSpec, local_cluster_size

    spec = SweepSpec.from_dict({"name": "bench", "notebook": "fefet", "profile": "smoke", "grid": GRID,
                                "seeds": SEEDS}, root=ROOT)
    cores = len(os.sched_getaffinity(0))
    scratch = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        _naive(spec.points[:1], scratch / "warmup")
        best = {"naive": float("inf"), "one": float("inf"), "sized": float("inf")}
        sized_workers = local_cluster_size(len(spec.points))[0]
        for round_ in range(repeat):
            base = scratch / f"round{round_}"
            best["naive"] = min(best["naive"], _naive(spec.points, base / "naive"))
            seconds, one = _sweep(spec, base / "one", workers=1, threads_per_point=cores)
            best["one"] = min(best["one"], seconds)
            seconds, _ = _sweep(spec, base / "sized")
            best["sized"] = min(best["sized"], seconds)
        points_s = float(one.table["wall_s"].sum())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    rows = [
        {"path": "(a) one by one with papermill", "workers x threads": f"1 x {cores}",
         "s": f"{best['naive']:.1f}", "/ one by one": "1.00"},
        {"path": "(b) sweep, 1 worker", "workers x threads": f"1 x {cores}", "s": f"{best['one']:.1f}",
         "/ one by one": f"{best['one'] / best['naive']:.2f}"},
        {"path": "(c) sweep, sized to the machine", "workers x threads": f"{sized_workers} x 1",
         "s": f"{best['sized']:.1f}", "/ one by one": f"{best['sized'] / best['naive']:.2f}"},
    ]
    report("Sweep machinery against the same 4 FeFET points run one by one with papermill", rows,
           note=f"FeFET chapter, smoke profile, {len(spec.points)} points, {cores} cores, best of {repeat} "
                f"round(s), each path from an empty folder. (b) includes the Dask cluster's start, the records "
                f"and the table; its points' own papermill time was {points_s:.1f} s. Goal: (b) <= 1.10.")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2)
    main(parser.parse_args().repeat)
    sys.exit(0)
