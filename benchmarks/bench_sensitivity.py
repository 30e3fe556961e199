"""Table I: imckit.search.sensitivity.sensitivity_table against the naive loop, and the extrapolated table time.

The naive loop evaluates every (layer, configuration, repetition) with its own full forward pass (weights
written into the model, batch 128, the fastest naive batch size in bench_eval). The kit's path shares each
layer's input activations among all its configurations and repetitions and evaluates error-free
configurations once. Both compute the same table on the same subset of configurations; the full table's
time (8 layers x 10 configurations x R on N images) is extrapolated from the kit's per-entry times.
Run: .venv/bin/python benchmarks/bench_sensitivity.py [--repetitions 10] [--images 1000]
"""

import argparse
import os
import time

import numpy as np
import torch

from _timing import report
from imckit.memory.cells import CellConfig, paper_configurations
from bench_injection import naive_evaluate_with_errors  # the naive baseline lives with the benchmarks
from imckit.injection.errors import PerturbedEvaluator, is_error_free
from imckit.search.sensitivity import _entry_seed, sensitivity_table
from imckit.core.training import baseline_spec, pretrained

CONFIGS = (CellConfig(8, 4), CellConfig(8, 0), CellConfig(2, 1))  # MLC-heavy, error-free, deep quantization


def main(repetitions: int = 10, images: int = 1000, profile: str = "default") -> list[dict]:
    baseline = pretrained(baseline_spec(profile), progress=False)
    data = baseline.test_set.subset(min(images, len(baseline.test_set)), seed=0)
    model = baseline.model
    evaluator = PerturbedEvaluator(model, data)
    evaluator.evaluate([{}])  # warm-up
    naive_evaluate_with_errors(model, data, [{}], evaluator.base_weights)

    start = time.perf_counter()
    fast = sensitivity_table(model, data, CONFIGS, repetitions=repetitions, cache="", progress=False)
    fast_s = time.perf_counter() - start

    start = time.perf_counter()
    naive_loss = np.full((len(evaluator.layers), len(CONFIGS)), np.nan)
    for i, layer in enumerate(evaluator.layers.values()):
        for j, config in enumerate(CONFIGS):
            if layer.kind == "dense" and config.mlc_cells:
                continue
            generator = torch.Generator().manual_seed(_entry_seed(0, layer.index, config))  # the table's draws
            sets = evaluator.perturbed_weight_sets({layer.name: config}, repetitions=repetitions, generator=generator)
            result = naive_evaluate_with_errors(model, data, sets, evaluator.base_weights, 128)
            naive_loss[i, j] = float(result.loss.mean())
    naive_s = time.perf_counter() - start

    # extrapolate the full paper table: per layer, the shared prefix once plus one suffix per weight set
    # (stochastic configurations: R sets; error-free ones: 1), from timings with 1 and 11 sets
    prefix, per_set = {}, {}
    for name in evaluator.layers:
        timings = []
        for n in (1, 11):
            sets = evaluator.perturbed_weight_sets({name: CellConfig(8, 0)}, repetitions=n)
            t = time.perf_counter()
            evaluator.evaluate(sets)
            timings.append(time.perf_counter() - t)
        per_set[name] = (timings[1] - timings[0]) / 10
        prefix[name] = max(0.0, timings[0] - per_set[name])
    configs = paper_configurations()
    full = 0.0
    for name, layer in evaluator.layers.items():
        allowed = [c for c in configs if not (layer.kind == "dense" and c.mlc_cells)]
        full += prefix[name] + per_set[name] * sum(1 if is_error_free(c) else 100 for c in allowed)
    rows = [
        {"what": f"{len(CONFIGS)} configurations x 8 layers, R={repetitions}, {len(data)} images",
         "naive s": f"{naive_s:.1f}", "imckit s": f"{fast_s:.1f}", "speed-up": f"{naive_s / fast_s:.2f}x"},
        {"what": f"full Table I (10 configurations, R=100, {len(data)} images), extrapolated",
         "naive s": "", "imckit s": f"{full:.0f}", "speed-up": ""},
    ]
    agree = np.nanmax(np.abs(naive_loss - (fast.loss_change / 100 + 1) * fast.baseline_loss))
    report("Table I: imckit against the naive loop", rows,
           note=f"{torch.get_num_threads()} threads, {profile} baseline. Largest difference of an entry's mean "
                f"loss, naive against imckit on the same draws: {agree:.3g}. Time per weight set by layer: "
                + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in per_set.items()) + ".")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repetitions", type=int, default=10)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--profile", default=os.environ.get("IMCKIT_BENCH_PROFILE", "default"))
    args = parser.parse_args()
    main(args.repetitions, args.images, args.profile)
