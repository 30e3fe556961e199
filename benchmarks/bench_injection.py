"""Error-injection evaluation: the kit's engine against the naive loop, per layer.

One layer perturbed (Q8 with 4 MLC cells, default FeFET MLC device), R repetitions, N test images. The
naive loop (naive_evaluate_with_errors below, the benchmark's baseline) writes each repetition's weights into
the model and runs full forward passes; the kit (imckit.injection.errors.PerturbedEvaluator on
imckit.core.engine) computes the activations no perturbed weight feeds once per micro-batch and runs only the
rest per repetition, BatchNorm folded, channels-last. Both are timed at their best micro-batch size in the same
run.
Run: .venv/bin/python benchmarks/bench_injection.py [--repetitions 32] [--images 2000]
"""

import argparse
import os

import numpy as np
import torch
from torch import nn

from _timing import report, seconds
from imckit.core.engine import Evaluation
from imckit.core.training import baseline_spec, pretrained
from imckit.injection.errors import PerturbedEvaluator
from imckit.memory.cells import CellConfig

BATCHES = (64, 128, 256)


@torch.no_grad()
def naive_evaluate_with_errors(model: nn.Module, data, weight_sets: list[dict], base_weights: dict,
                               batch_size: int = 128) -> Evaluation:
    """The naive way: write each set's weights (over ``base_weights``) into the model in place and run full
    forward passes; the original weights are restored afterwards."""
    model.eval()
    originals = {name: model.get_submodule(name).weight.detach().clone() for name in base_weights}
    loss = np.zeros(len(weight_sets))
    correct = np.zeros(len(weight_sets))
    try:
        for s, ws in enumerate(weight_sets):
            for name, w in {**base_weights, **ws}.items():
                model.get_submodule(name).weight.copy_(w)
            for start in range(0, len(data), batch_size):
                x = data.images[start : start + batch_size]
                y = data.labels[start : start + batch_size]
                logits = model(x)
                loss[s] += nn.functional.cross_entropy(logits, y, reduction="sum").item()
                correct[s] += (logits.argmax(1) == y).sum().item()
    finally:
        for name, w in originals.items():
            model.get_submodule(name).weight.copy_(w)
    n = len(data)
    return Evaluation(torch.from_numpy(loss / n), torch.from_numpy(correct / n), "forward")


def main(repetitions: int = 32, images: int = 2000, profile: str = "default") -> list[dict]:
    baseline = pretrained(baseline_spec(profile), progress=False)
    data = baseline.test_set.subset(min(images, len(baseline.test_set)), seed=0)
    evaluator = PerturbedEvaluator(baseline.model, data)
    rows, total_naive, total_fast, worst = [], 0.0, 0.0, 0.0
    # warm both paths up once (first-call allocations, oneDNN kernel selection)
    warm = evaluator.perturbed_weight_sets({list(evaluator.layers)[0]: CellConfig(8, 4)}, repetitions=2)
    naive_evaluate_with_errors(baseline.model, data, warm, evaluator.base_weights)
    evaluator.evaluate(warm)
    for name, layer in evaluator.layers.items():
        config = CellConfig(8, 4) if layer.kind == "conv" else CellConfig(8, 0)
        sets = evaluator.perturbed_weight_sets({name: config}, repetitions=repetitions,
                                               generator=torch.Generator().manual_seed(0))
        naive, fast = {}, {}
        for batch in BATCHES:
            naive[batch] = seconds(lambda: naive_evaluate_with_errors(baseline.model, data, sets,
                                                                      evaluator.base_weights, batch), repeat=1, warmup=0)
            evaluator.batch_size = batch
            fast[batch] = seconds(lambda: evaluator.evaluate(sets), repeat=1, warmup=0)
        bn, bf = min(naive, key=naive.get), min(fast, key=fast.get)
        evaluator.batch_size = bf
        worst = max(worst, float((evaluator.evaluate(sets).loss - naive_evaluate_with_errors(
            baseline.model, data, sets, evaluator.base_weights, bn).loss).abs().max()))
        total_naive += naive[bn]
        total_fast += fast[bf]
        work = repetitions * len(data)
        rows.append({"layer": name, "config": config.label, "naive img*rep/s": f"{work / naive[bn]:,.0f} (b{bn})",
                     "fast img*rep/s": f"{work / fast[bf]:,.0f} (b{bf})", "speed-up": f"{naive[bn] / fast[bf]:.2f}x"})
        print(rows[-1], flush=True)
    rows.append({"layer": f"all {len(evaluator.layers)}", "config": "", "naive img*rep/s": f"{total_naive:.1f} s",
                 "fast img*rep/s": f"{total_fast:.1f} s", "speed-up": f"{total_naive / total_fast:.2f}x"})
    report("Error injection: imckit against the naive loop, one layer perturbed", rows,
           note=f"R={repetitions}, {len(data)} images, {torch.get_num_threads()} threads, {profile} baseline, "
                f"engine path {evaluator.path!r}. Largest difference of a repetition's loss, naive against "
                f"imckit (same draws): {worst:.2g}.")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repetitions", type=int, default=32)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--profile", default=os.environ.get("IMCKIT_BENCH_PROFILE", "default"))
    args = parser.parse_args()
    main(args.repetitions, args.images, args.profile)
