"""One-epoch compensation against plain training of the same network on the same images.

The compensation epoch (imckit.compensation.compensate) trains float shadows of every stored weight with the faulty
ones frozen and the healthy ones fake-quantized onto their grid (straight-through), through
``torch.func.functional_call`` on one copy of the model per error pattern; plain training
(imckit.core.training.train) is the fastest way the kit trains the same network. The ratio is the price of the
masking and fake quantization. Both at batch 128, channels-last, on the same images, in the same run.
Run: .venv/bin/python benchmarks/bench_compensation.py [--images 5000]
"""

import argparse
import copy
import os
import time

import torch

from _timing import report
from imckit.memory.cells import paper_configurations
from imckit.compensation.compensate import CompensationConfig, compensate
from imckit.core.models import mappable_layers
from imckit.core.training import TrainConfig, baseline_spec, pretrained, train

GENOME = (4, 7, 6, 5, 5, 5, 5, 4)  # a mixed 8/4-bit solution with MLC cells in most layers


def main(images: int = 5000, profile: str = "default") -> list[dict]:
    baseline = pretrained(baseline_spec(profile), progress=False)
    data = baseline.train_set.subset(min(images, len(baseline.train_set)), seed=0)
    test = baseline.test_set.subset(min(256, len(baseline.test_set)), seed=0)
    configs = paper_configurations()
    layer_configs = {l.name: configs[g] for l, g in zip(mappable_layers(baseline.model), GENOME)}

    model = copy.deepcopy(baseline.model)
    start = time.perf_counter()
    train(model, data, TrainConfig(epochs=1, lr=0.01, weight_decay=0.0), seed=0, progress=False)
    plain = time.perf_counter() - start

    # compensation also evaluates before and after (2 x 256 images) and quantizes: time one pattern in full
    start = time.perf_counter()
    result = compensate(baseline.model, data, test, layer_configs, patterns=1,
                        config=CompensationConfig(train_images=len(data)), progress=False)
    kit = time.perf_counter() - start
    rows = [{"what": f"one epoch on {len(data):,} images", "plain training s": f"{plain:.1f}",
             "compensation s": f"{kit:.1f}", "ratio": f"{kit / plain:.2f}x",
             "images/s (compensation)": f"{len(data) / kit:,.0f}"}]
    report("One compensation epoch against plain training", rows,
           note=f"{torch.get_num_threads()} threads ({profile} baseline), genome {list(GENOME)}, "
                f"{100 * result.faulty_share[0]:.1f} % of weights faulty; both through imckit.core.fit.fit.")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--profile", default=os.environ.get("IMCKIT_BENCH_PROFILE", "default"))
    args = parser.parse_args()
    main(args.images, args.profile)
