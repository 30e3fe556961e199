"""The evaluation engine (imckit.core.engine): traced fast path against the former hand-written ResNet-8 graph,
and against the whole-forward fallback on two other networks.

(a) ResNet-8: every mappable layer in turn replaced by R weight sets, N Fashion-MNIST test images, micro-batch
256, evaluated by the engine (graph traced with torch.fx) and by the kit's former hand-written graph and loop
(kept in tests/core/test_graph.py as the reference). Goal: the traced path within 10 % of the hand-written one.
(b) vgg_small and mobilenet_small: the last layer (the classifier) replaced by R weight sets, the engine's fast
path (prefix caching: the features are computed once per micro-batch) against its whole-forward fallback
(path="forward"), each at its best micro-batch of 64/128/256. Goal: >= 3x. Untrained networks (seed 0): the
work per image does not depend on the weights. Both ratios are measured in the same run.
Run: .venv/bin/python benchmarks/bench_engine.py [--repetitions 16] [--images 2000]
"""

import argparse
import sys
from pathlib import Path

import torch

from _timing import report, seconds
from imckit.core.data import load_dataset
from imckit.core.engine import Engine
from imckit.core.models import build_model, mappable_layers

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from tests.core.test_graph import hand_written_evaluate, hand_written_resnet8_graph  # noqa: E402

BATCHES = (64, 128, 256)


def _sets(model, modules, repetitions, seed=0):
    g = torch.Generator().manual_seed(seed)
    sets = []
    for _ in range(repetitions):
        sets.append({m: (w := model.get_submodule(m).weight.detach()) + 0.1 * w.abs().mean()
                     * torch.randn(w.shape, generator=g) for m in modules})
    return sets


def main(repetitions: int = 16, images: int = 2000, repeat: int = 3) -> list[dict]:
    data = load_dataset("fashion-mnist").test.subset(images, seed=0)
    threads = torch.get_num_threads()

    # (a) ResNet-8: traced against hand-written, per layer, same micro-batch
    torch.manual_seed(0)
    model = build_model("resnet8", in_channels=1).eval()
    engine = Engine(model)
    reference = hand_written_resnet8_graph(model)
    warm = _sets(model, ("stem.conv",), 2)
    hand_written_evaluate(model, data, warm, 256, reference)
    engine.evaluate(data, warm, batch_size=256)
    rows, total_hand, total_traced, worst = [], 0.0, 0.0, 0.0
    for layer in mappable_layers(model):
        sets = _sets(model, layer.modules, repetitions)
        hand = seconds(lambda: hand_written_evaluate(model, data, sets, 256, reference), repeat=repeat, warmup=0)
        traced = seconds(lambda: engine.evaluate(data, sets, batch_size=256), repeat=repeat, warmup=0)
        loss, _ = hand_written_evaluate(model, data, sets, 256, reference)
        worst = max(worst, float((engine.evaluate(data, sets, batch_size=256).loss - loss).abs().max()))
        total_hand += hand
        total_traced += traced
        rows.append({"layer": layer.name, "hand-written s": f"{hand:.2f}", "traced s": f"{traced:.2f}",
                     "traced / hand-written": f"{traced / hand:.2f}"})
    rows.append({"layer": "all", "hand-written s": f"{total_hand:.2f}", "traced s": f"{total_traced:.2f}",
                 "traced / hand-written": f"{total_traced / total_hand:.2f}"})
    report("ResNet-8: traced layer graph against the former hand-written one", rows,
           note=f"One layer replaced by R={repetitions} weight sets, {len(data)} images, micro-batch 256, "
                f"{threads} threads, path {engine.path!r}. Goal: traced / hand-written <= 1.10. Largest "
                f"difference of a set's mean loss: {worst:.2g}.")

    # (b) other networks: the last layer, fast path against the whole forward
    other = []
    for name in ("vgg_small", "mobilenet_small"):
        torch.manual_seed(0)
        net = build_model(name, in_channels=1).eval()
        last = mappable_layers(net)[-1]
        sets = _sets(net, last.modules, repetitions)
        fast_engine, forward_engine = Engine(net), Engine(net, path="forward")
        fast_engine.evaluate(data, sets[:1])
        forward_engine.evaluate(data, sets[:1])
        fast = {b: seconds(lambda: fast_engine.evaluate(data, sets, batch_size=b), repeat=repeat, warmup=0)
                for b in BATCHES}
        forward = {b: seconds(lambda: forward_engine.evaluate(data, sets, batch_size=b), repeat=repeat, warmup=0)
                   for b in BATCHES}
        bf, bw = min(fast, key=fast.get), min(forward, key=forward.get)
        diff = float((fast_engine.evaluate(data, sets, batch_size=bf).loss
                      - forward_engine.evaluate(data, sets, batch_size=bw).loss).abs().max())
        other.append({"network": name, "last layer": last.name, "path": fast_engine.path,
                      "whole forward s": f"{forward[bw]:.2f} (b{bw})", "fast path s": f"{fast[bf]:.2f} (b{bf})",
                      "speed-up": f"{forward[bw] / fast[bf]:.1f}x", "largest loss difference": f"{diff:.2g}"})
    report("Any network: repeated evaluation of the last layer, fast path against the whole forward", other,
           note=f"R={repetitions} weight sets for the classifier, {len(data)} images, {threads} threads, each "
                "path at its best micro-batch. Goal: >= 3x.")
    return rows + other


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repetitions", type=int, default=16)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    main(args.repetitions, args.images, args.repeat)
