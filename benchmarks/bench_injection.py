"""Error-injection evaluation: the kit's cached-activation path against the naive loop, per layer.

One layer perturbed (Q8 with 4 MLC cells, default FeFET MLC device), R repetitions, N test images. The
naive loop writes each repetition's weights into the model and runs full forward passes; the fast path
(imckit.injection.errors.PerturbedEvaluator) computes the activations no perturbed weight feeds once per micro-batch
and runs only the rest per repetition. Both are timed at their best micro-batch size in the same run.
Run: .venv/bin/python benchmarks/bench_injection.py [--repetitions 32] [--images 2000]
"""

import argparse
import os

import torch

from _timing import seconds, table
from imckit.memory.cells import CellConfig
from imckit.injection.errors import PerturbedEvaluator, naive_evaluate_with_errors
from imckit.core.training import baseline_spec, pretrained

BATCHES = (64, 128, 256)


def main(repetitions: int = 32, images: int = 2000, profile: str = "default") -> list[dict]:
    baseline = pretrained(baseline_spec(profile), progress=False)
    data = baseline.test_set.subset(min(images, len(baseline.test_set)), seed=0)
    evaluator = PerturbedEvaluator(baseline.model, data)
    rows, total_naive, total_fast = [], 0.0, 0.0
    # warm both paths up once (first-call allocations, oneDNN kernel selection)
    warm = evaluator.perturbed_weight_sets({"conv1": CellConfig(8, 4)}, repetitions=2)
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
        total_naive += naive[bn]
        total_fast += fast[bf]
        work = repetitions * len(data)
        rows.append({"layer": name, "config": config.label, "naive img*rep/s": f"{work / naive[bn]:,.0f} (b{bn})",
                     "fast img*rep/s": f"{work / fast[bf]:,.0f} (b{bf})", "speed-up": f"{naive[bn] / fast[bf]:.2f}x"})
        print(rows[-1], flush=True)
    rows.append({"layer": "all eight", "config": "", "naive img*rep/s": f"{total_naive:.1f} s",
                 "fast img*rep/s": f"{total_fast:.1f} s", "speed-up": f"{total_naive / total_fast:.2f}x"})
    print(f"One layer perturbed, R={repetitions}, {len(data)} images, {torch.get_num_threads()} threads "
          f"({profile} baseline)\n")
    print(table(rows))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repetitions", type=int, default=32)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--profile", default=os.environ.get("IMCKIT_BENCH_PROFILE", "default"))
    args = parser.parse_args()
    main(args.repetitions, args.images, args.profile)
