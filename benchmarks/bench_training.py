"""Training throughput of ResNet-8 on Fashion-MNIST: default memory layout (naive) vs channels-last (the kit).

Measures SGD steps at batch 128 on real training images and extrapolates the time of one 60k-image epoch.
Run: .venv/bin/python benchmarks/bench_training.py [--steps 40]
"""

import argparse

import torch

from _timing import seconds, table
from imckit.core.data import load_dataset


def _steps(model, images, labels, steps, batch, channels_last):
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=fmt).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)

    def run():
        for i in range(steps):
            x = images[i * batch : (i + 1) * batch].contiguous(memory_format=fmt)
            loss = torch.nn.functional.cross_entropy(model(x), labels[i * batch : (i + 1) * batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    return run


def main(steps: int = 40, batch: int = 128) -> list[dict]:
    from imckit.core.models import resnet8

    train = load_dataset("fashion-mnist").train.subset(steps * batch, seed=0)
    rows, times = [], {}
    for name, channels_last in (("default layout (naive)", False), ("channels-last (kit)", True)):
        torch.manual_seed(0)
        model = resnet8(in_channels=1)
        t = seconds(_steps(model, train.images, train.labels, steps, batch, channels_last), repeat=2)
        times[name] = t
        rows.append({"layout": name, "images/s": f"{steps * batch / t:,.0f}",
                     "epoch of 60k (s)": f"{60_000 / (steps * batch / t):.0f}",
                     "speed-up": f"{times['default layout (naive)'] / t:.2f}x"})
    print(f"ResNet-8 training steps, batch {batch}, {steps} steps, {torch.get_num_threads()} threads\n")
    print(table(rows))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=40)
    main(parser.parse_args().steps)
