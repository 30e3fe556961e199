"""ResNet-8 as in MLPerf Tiny (image classification) and the list of its crossbar-mappable layers.

Architecture (He et al. 2016; MLPerf Tiny's ``resnet_v1_eembc``), for ``width=1``::

    conv 3x3, 16 -> BN -> ReLU                                   layer 1  "conv1"
    stack 1: conv 3x3, 16, stride 1 -> BN -> ReLU                layer 2  "stack1.conv1"
             conv 3x3, 16 -> BN, + identity -> ReLU              layer 3  "stack1.conv2"
    stack 2: conv 3x3, 32, stride 2 -> BN -> ReLU  (+ skip 1x1)  layer 4  "stack2.conv1" + "stack2.skip"
             conv 3x3, 32 -> BN, + skip -> ReLU                  layer 5  "stack2.conv2"
    stack 3: conv 3x3, 64, stride 2 -> BN -> ReLU  (+ skip 1x1)  layer 6  "stack3.conv1" + "stack3.skip"
             conv 3x3, 64 -> BN, + skip -> ReLU                  layer 7  "stack3.conv2"
    global average pooling -> dense (num_classes)                layer 8  "fc"

The paper behind the sensitivity table (seed 000, Vardar et al., Sec. III) bundles each skip connection
"with its respective layer". The skip 1x1 convolution reads the same input with the same stride as the
first convolution of its stack, so the kit bundles it with that convolution: both are programmed into the
crossbars that receive the stack's input. Convolutions followed by BatchNorm carry no bias (it would be
absorbed by BatchNorm); the skip convolution (no BatchNorm in MLPerf Tiny) and the dense layer do.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["ResNet8", "resnet8", "build_model", "MODELS", "MappableLayer", "mappable_layers", "layer_table",
           "Node", "layer_graph"]


class _Stack(nn.Module):
    """One residual stack: two 3x3 convolutions, a 1x1 skip convolution where the shape changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.skip = None
        if stride != 1 or in_channels != out_channels:
            self.skip = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.skip is None else self.skip(x)))


class _Stem(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


class _Head(nn.Module):
    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class ResNet8(nn.Module):
    """ResNet-8 (MLPerf Tiny). See the module docstring for the layout and :func:`resnet8` for arguments.

    The network is a sequence of stages (``stem``, ``stack1``, ``stack2``, ``stack3``, ``head``) so that the
    activations entering any stage can be computed once and reused.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: float = 1.0):
        super().__init__()
        c1, c2, c3 = (max(1, round(c * width)) for c in (16, 32, 64))
        self.stem = _Stem(in_channels, c1)
        self.stack1 = _Stack(c1, c1, 1)
        self.stack2 = _Stack(c1, c2, 2)
        self.stack3 = _Stack(c2, c3, 2)
        self.head = _Head(c3, num_classes)
        self.stages = ("stem", "stack1", "stack2", "stack3", "head")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            x = getattr(self, stage)(x)
        return x

    def mappable_groups(self) -> list[tuple[str, tuple[str, ...]]]:
        """The 8 mappable layers in order, as (name, qualified names of the modules bundled in it)."""
        return [
            ("conv1", ("stem.conv",)),
            ("stack1.conv1", ("stack1.conv1",)),
            ("stack1.conv2", ("stack1.conv2",)),
            ("stack2.conv1", ("stack2.conv1", "stack2.skip")),
            ("stack2.conv2", ("stack2.conv2",)),
            ("stack3.conv1", ("stack3.conv1", "stack3.skip")),
            ("stack3.conv2", ("stack3.conv2",)),
            ("fc", ("head.fc",)),
        ]


    def layer_graph(self) -> list["Node"]:
        """The forward pass (eval mode) as a dataflow graph at the granularity of mappable modules.

        Splitting each residual stack into its branch, its skip and the join lets an evaluation that
        changes only ``stack3.conv2`` reuse everything computed before it, skip path included. Each node
        folds its BatchNorm (running statistics) into the convolution and runs in the channels-last
        layout, ~3-4x faster on CPU than convolution + BatchNorm in the default layout
        (benchmarks/bench_injection.py); results agree with ``forward`` to float rounding. Inputs must be
        channels-last (``x.contiguous(memory_format=torch.channels_last)``).
        """
        F = nn.functional
        cl = torch.channels_last

        def folded(conv: str, bn: str | None):
            conv_m = self.get_submodule(conv)
            if bn is None:
                scale, shift = None, conv_m.bias
            else:
                bn_m = self.get_submodule(bn)
                scale = (bn_m.weight / torch.sqrt(bn_m.running_var + bn_m.eps)).detach()
                shift = (bn_m.bias - bn_m.running_mean * scale).detach()
                if conv_m.bias is not None:
                    shift = shift + conv_m.bias.detach() * scale

            def run(x, weights):
                w = weights.get(conv, conv_m.weight)
                if scale is not None:
                    w = w * scale[:, None, None, None]
                return F.conv2d(x, w.contiguous(memory_format=cl), shift, conv_m.stride, conv_m.padding)

            return run

        def conv_bn_relu(conv: str, bn: str):
            step = folded(conv, bn)
            return lambda inputs, weights: torch.relu_(step(inputs[0], weights))

        def join(conv: str, bn: str):
            step = folded(conv, bn)
            return lambda inputs, weights: torch.relu_(step(inputs[0], weights).add_(inputs[1]))

        def skip(conv: str):
            step = folded(conv, None)
            return lambda inputs, weights: step(inputs[0], weights)

        fc = self.head.fc
        nodes = [Node("stem", ("input",), ("stem.conv",), conv_bn_relu("stem.conv", "stem.bn"))]
        previous = "stem"
        for stack in ("stack1", "stack2", "stack3"):
            module = self.get_submodule(stack)
            nodes.append(Node(f"{stack}.branch", (previous,), (f"{stack}.conv1",),
                              conv_bn_relu(f"{stack}.conv1", f"{stack}.bn1")))
            shortcut = previous
            if module.skip is not None:
                nodes.append(Node(f"{stack}.skip", (previous,), (f"{stack}.skip",), skip(f"{stack}.skip")))
                shortcut = f"{stack}.skip"
            nodes.append(Node(f"{stack}.out", (f"{stack}.branch", shortcut), (f"{stack}.conv2",),
                              join(f"{stack}.conv2", f"{stack}.bn2")))
            previous = f"{stack}.out"
        nodes.append(Node("pool", (previous,), (), lambda inputs, weights: torch.flatten(
            F.adaptive_avg_pool2d(inputs[0], 1), 1)))
        nodes.append(Node("logits", ("pool",), ("head.fc",), lambda inputs, weights: F.linear(
            inputs[0], weights.get("head.fc", fc.weight), fc.bias)))
        return nodes


@dataclass(frozen=True)
class Node:
    """One step of a model's forward pass, for evaluations that change some weights and reuse the rest.

    Attributes:
        name: the node's output name.
        inputs: names of the nodes (or ``"input"``) it reads.
        modules: qualified names of the modules whose weights it uses.
        run: ``run(inputs, weights) -> tensor``; ``weights`` maps module names to replacement weight
            tensors (modules not in it use their own weight). A node may write into the tensor it
            returns, never into its inputs.
    """

    name: str
    inputs: tuple[str, ...]
    modules: tuple[str, ...]
    run: object


def layer_graph(model: nn.Module) -> list[Node]:
    """A model's forward pass as a list of :class:`Node` in execution order.

    Models that define ``layer_graph()`` (as :class:`ResNet8` does) are split finely; any other model is a
    single node that runs it whole with the replacement weights (``torch.func.functional_call``).
    """
    if hasattr(model, "layer_graph"):
        return model.layer_graph()
    modules = tuple(n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear)))

    def run(inputs, weights):
        return torch.func.functional_call(model, {f"{k}.weight": v for k, v in weights.items()}, (inputs[0],))

    return [Node("logits", ("input",), modules, run)]


def _check_int(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}]; got {value!r}")
    return value


def resnet8(in_channels: int = 3, num_classes: int = 10, width: float = 1.0) -> ResNet8:
    """Build a ResNet-8.

    Args:
        in_channels: image channels (1 for Fashion-MNIST, 3 for CIFAR-10).
        num_classes: outputs of the dense classifier.
        width: multiplier on the 16/32/64 filters of the three stacks (0.25 to 8).

    Returns:
        An untrained :class:`ResNet8` (PyTorch default initialization; seed it with ``torch.manual_seed``).

    >>> [(l.name, l.weights) for l in mappable_layers(resnet8(in_channels=1))][:2]
    [('conv1', 144), ('stack1.conv1', 2304)]
    """
    _check_int("in_channels", in_channels, 1, 64)
    _check_int("num_classes", num_classes, 2, 100_000)
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0.25 <= width <= 8:
        raise ValueError(f"width must be a number in [0.25, 8]; got {width!r}")
    return ResNet8(in_channels, num_classes, float(width))


MODELS = {"resnet8": resnet8}


def build_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model by name (see :data:`MODELS`)."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {', '.join(map(repr, MODELS))}; got {name!r}")
    return MODELS[name](**kwargs)


@dataclass(frozen=True)
class MappableLayer:
    """One layer as it is mapped onto crossbars.

    Attributes:
        index: position in the network, from 1.
        name: the layer's name (e.g. ``"stack2.conv1"``).
        modules: qualified names of the ``nn.Conv2d`` / ``nn.Linear`` modules bundled in it.
        kind: ``"conv"`` or ``"dense"``.
        weights: number of weights (kernel elements) over all its modules.
        biases: number of bias elements over all its modules (kept at full precision by the kit).
    """

    index: int
    name: str
    modules: tuple[str, ...]
    kind: str
    weights: int
    biases: int


def mappable_layers(model: nn.Module) -> list[MappableLayer]:
    """The network's mappable layers in order, with their weight counts.

    A model may define ``mappable_groups()`` (as :class:`ResNet8` does) to bundle modules; otherwise every
    ``nn.Conv2d`` and ``nn.Linear`` is a layer of its own, in registration order.
    """
    modules = dict(model.named_modules())
    if hasattr(model, "mappable_groups"):
        groups = model.mappable_groups()
    else:
        groups = [(n, (n,)) for n, m in modules.items() if isinstance(m, (nn.Conv2d, nn.Linear))]
    layers = []
    for i, (name, members) in enumerate(groups, start=1):
        parts = [modules[m] for m in members]
        kind = "dense" if isinstance(parts[0], nn.Linear) else "conv"
        weights = sum(p.weight.numel() for p in parts)
        biases = sum(p.bias.numel() for p in parts if p.bias is not None)
        layers.append(MappableLayer(i, name, tuple(members), kind, weights, biases))
    return layers


def layer_table(model: nn.Module):
    """The mappable layers as a pandas DataFrame with each layer's share of all mapped weights (%)."""
    import pandas as pd

    layers = mappable_layers(model)
    total = sum(layer.weights for layer in layers)
    rows = []
    for layer in layers:
        shapes = [tuple(model.get_submodule(m).weight.shape) for m in layer.modules]
        rows.append(
            {
                "layer": layer.index,
                "name": layer.name,
                "kind": layer.kind,
                "weight shapes": " + ".join("x".join(map(str, s)) for s in shapes),
                "weights": layer.weights,
                "biases": layer.biases,
                "share of weights (%)": 100.0 * layer.weights / total,
            }
        )
    return pd.DataFrame(rows).set_index("layer")
