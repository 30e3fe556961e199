"""Hutchinson Hessian trace: imckit.crossbars.hessian against PyHessian 0.1's ``hessian.trace`` on the same model and batch.

Both estimate Tr(H) of the mean cross-entropy on one batch with Rademacher probes and double
backpropagation, the model in eval mode. imckit also keeps the per-parameter diagonal estimate (for the
per-layer and per-strip traces) from the same probes. Both run the same number of probes (tolerance off).
Seeded alike (PyHessian: ``torch.manual_seed(0)``; imckit: ``seed=0``), both draw the very same Rademacher
vectors in the same parameter order, so the two estimates must agree to float rounding, not only within
their standard errors; the time per probe is compared in the same run.
Run: .venv/bin/python benchmarks/bench_hessian.py [--probes 40] [--images 256]
"""

import argparse
import copy
import os
import time

import numpy as np
import torch
from torch import nn

from _timing import report
from imckit.crossbars.hessian import hessian_trace
from imckit.core.training import baseline_spec, pretrained


def main(probes: int = 40, images: int = 256, profile: str = "default") -> list[dict]:
    from pyhessian import hessian as PyHessian

    baseline = pretrained(baseline_spec(profile), progress=False)
    data = baseline.test_set.subset(min(images, len(baseline.test_set)), seed=0)
    criterion = nn.CrossEntropyLoss()

    torch.manual_seed(0)
    start = time.perf_counter()
    model = copy.deepcopy(baseline.model)  # PyHessian leaves .grad tensors (with graphs) on the model
    py = PyHessian(model, criterion, data=(data.images, data.labels), cuda=False)
    setup = time.perf_counter() - start
    start = time.perf_counter()
    values = py.trace(maxIter=probes, tol=0.0)
    py_s = time.perf_counter() - start

    start = time.perf_counter()
    ours = hessian_trace(baseline.model, criterion, data.images, data.labels, n_probes=probes, seed=0, tol=0)
    ours_s = time.perf_counter() - start

    py_mean, py_err = float(np.mean(values)), float(np.std(values, ddof=1) / np.sqrt(len(values)))
    rows = [
        {"method": "PyHessian 0.1 trace", "probes": len(values), "trace": f"{py_mean:.1f} +- {py_err:.1f}",
         "s per probe": f"{py_s / len(values):.3f}", "extra": f"gradient graph {setup:.2f} s"},
        {"method": "imckit.hessian_trace", "probes": ours.probes, "trace": f"{ours.total:.1f} +- {ours.total_error:.1f}",
         "s per probe": f"{ours_s / ours.probes:.3f}", "extra": "gradient graph included; per-parameter diagonal kept"},
    ]
    report("Hutchinson Hessian trace: imckit against PyHessian", rows,
           note=f"{len(data)} images, {torch.get_num_threads()} threads ({profile} baseline); difference "
                f"{ours.total - py_mean:+.1f} ({(ours.total - py_mean) / np.hypot(py_err, ours.total_error):+.2f} "
                f"standard errors); time ratio imckit / PyHessian {ours_s / py_s * len(values) / ours.probes:.2f}")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--probes", type=int, default=40)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--profile", default=os.environ.get("IMCKIT_BENCH_PROFILE", "default"))
    args = parser.parse_args()
    main(args.probes, args.images, args.profile)
