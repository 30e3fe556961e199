"""Evaluation throughput of ResNet-8 on Fashion-MNIST test images by batch size.

The naive way is one big batch (1,000 images); the kit evaluates at imckit.core.training.EVAL_BATCH_SIZE.
Run: .venv/bin/python benchmarks/bench_eval.py [--images 2000]
"""

import argparse

import torch

from _timing import report, seconds
from imckit.core.data import load_dataset
from imckit.core.models import resnet8
from imckit.core.training import EVAL_BATCH_SIZE, evaluate


def main(images: int = 2000) -> list[dict]:
    data = load_dataset("fashion-mnist").test.subset(images, seed=0)
    torch.manual_seed(0)
    model = resnet8(in_channels=1).eval()
    naive = seconds(lambda: evaluate(model, data, batch_size=1000))
    rows = []
    for batch in (1000, 512, 256, 128, 64, 32):
        t = naive if batch == 1000 else seconds(lambda: evaluate(model, data, batch_size=batch))
        rows.append({"batch size": batch, "images/s": f"{images / t:,.0f}", "speed-up vs batch 1000": f"{naive / t:.2f}x",
                     "kit default": "yes" if batch == EVAL_BATCH_SIZE else ""})
    report("ResNet-8 evaluation throughput by batch size", rows,
           note=f"{images} Fashion-MNIST test images, {torch.get_num_threads()} threads.")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=2000)
    main(parser.parse_args().images)
