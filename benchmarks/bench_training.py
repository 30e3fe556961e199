"""Training throughput of ResNet-8 on Fashion-MNIST: default memory layout (naive) vs channels-last (the kit).

Measures SGD steps at batch 128 on real training images through the kit's training loop
(imckit.core.fit.fit, channels_last=False against True) and extrapolates the time of one 60k-image epoch.
Run: .venv/bin/python benchmarks/bench_training.py [--steps 40]
"""

import argparse

import torch

from _timing import report, seconds
from imckit.core.data import load_dataset
from imckit.core.fit import fit


def _steps(model, data, steps, batch, channels_last):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)

    def run():
        fit(model, data, optimizer=optimizer, epochs=1, batch_size=batch, images=steps * batch, generator=0,
            schedule="constant", channels_last=channels_last)

    return run


def main(steps: int = 40, batch: int = 128) -> list[dict]:
    from imckit.core.models import resnet8

    train = load_dataset("fashion-mnist").train.subset(steps * batch, seed=0)
    rows, times = [], {}
    for name, channels_last in (("default layout (naive)", False), ("channels-last (kit)", True)):
        torch.manual_seed(0)
        model = resnet8(in_channels=1)
        t = seconds(_steps(model, train, steps, batch, channels_last), repeat=2)
        times[name] = t
        rows.append({"layout": name, "images/s": f"{steps * batch / t:,.0f}",
                     "epoch of 60k (s)": f"{60_000 / (steps * batch / t):.0f}",
                     "speed-up": f"{times['default layout (naive)'] / t:.2f}x"})
    report("ResNet-8 training throughput by memory layout", rows,
           note=f"batch {batch}, {steps} steps through imckit.core.fit.fit, {torch.get_num_threads()} threads.")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=40)
    main(parser.parse_args().steps)
