"""The networks of the kit (ResNet-8 as in MLPerf Tiny, a VGG-style and a MobileNet-style CNN) and the list
of a network's crossbar-mappable layers.

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

Two sizes of ResNet-8 are registered in :data:`MODELS`, with the same layout and module names:

``"resnet8"`` (:func:`resnet8`)
    MLPerf Tiny's stack widths 16/32/64 (:data:`RESNET8_WIDTHS`): 77k mapped weights (77,072 on 1-channel
    Fashion-MNIST, 77,360 on 3-channel CIFAR-10). The default and smoke profiles train it (time).
``"resnet8_paper"`` (:func:`resnet8_paper`)
    The size of the seed paper's network: stack widths 16/48/144 (:data:`PAPER_RESNET8_WIDTHS`) on
    3-channel CIFAR-10, 290,640 mapped weights, about 3.8 times MLPerf Tiny's. The widths are not printed
    in the paper's text; they are the only multiples of 4 up to 256 whose per-layer weight shares match
    its Table I (column "Quantized 8, MLC 0": 3x each %ΔMemory is a layer's share of all weights) to the
    table's rounding, and whose weight count times 8 devices per weight is Table II's "Full 8" memory,
    2,325.1k devices (:func:`imckit.experiments.baseline.fit_paper_widths` finds them by brute force).
    The paper profile trains it. The same fit shows that the paper counted each skip 1x1 convolution
    with the *second* convolution of its stack (the one whose output it is added to), where the kit
    bundles it with the first (above); the layer list of the kit is unchanged.

Two more small networks, built from standard modules only, show that the kit works for any network
(:data:`MODELS`, :func:`build_model`): :func:`vgg_small`, a plain VGG-style CNN, and :func:`mobilenet_small`,
a MobileNet-style CNN of depthwise-separable convolutions. Their mappable layers follow the generic rule of
:func:`mappable_layers` (every ``nn.Conv2d`` and ``nn.Linear`` is a layer), and the evaluation engine derives
their layer graph by tracing (:mod:`imckit.core.graph`), as it does for ResNet-8.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from imckit.core.validate import check_choice, check_int, check_number

__all__ = ["ResNet8", "resnet8", "resnet8_paper", "RESNET8_WIDTHS", "PAPER_RESNET8_WIDTHS", "VGGSmall", "vgg_small",
           "MobileNetSmall", "mobilenet_small", "build_model", "MODELS", "MappableLayer", "mappable_layers",
           "layer_table"]

RESNET8_WIDTHS = (16, 32, 64)
"""Filters of ResNet-8's three stacks in MLPerf Tiny's ``resnet_v1_eembc`` (the stem has the first's)."""

PAPER_RESNET8_WIDTHS = (16, 48, 144)
"""Filters of the three stacks of the seed paper's ResNet-8, as fitted to its Tables I and II (see the module
docstring and :func:`imckit.experiments.baseline.fit_paper_widths`)."""


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

    The network is a sequence of stages: ``stem``, ``stack1``, ``stack2``, ``stack3``, ``head``. ``widths``
    are the filters of the three stacks before the ``width`` multiplier (the stem has the first stack's);
    :attr:`widths` holds them after it.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: float = 1.0,
                 widths: tuple[int, int, int] = RESNET8_WIDTHS):
        super().__init__()
        c1, c2, c3 = (max(1, round(c * width)) for c in widths)
        self.widths = (c1, c2, c3)
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



def _check_int(name: str, value, low: int, high: int) -> int:
    """:func:`imckit.core.validate.check_int` with this module's argument order (kept for its callers)."""
    return check_int(value, name, low, high)


def resnet8(in_channels: int = 3, num_classes: int = 10, width: float = 1.0,
            widths: tuple[int, int, int] = RESNET8_WIDTHS) -> ResNet8:
    """Build a ResNet-8.

    Args:
        in_channels: image channels (1 for Fashion-MNIST, 3 for CIFAR-10).
        num_classes: outputs of the dense classifier.
        width: multiplier on the filters of the three stacks (0.25 to 8).
        widths: the filters of the three stacks (each 1 to 4,096; default MLPerf Tiny's 16/32/64,
            :data:`RESNET8_WIDTHS`; :func:`resnet8_paper` passes the paper's 16/48/144).

    Returns:
        An untrained :class:`ResNet8` (PyTorch default initialization; seed it with ``torch.manual_seed``).

    >>> [(l.name, l.weights) for l in mappable_layers(resnet8(in_channels=1))][:2]
    [('conv1', 144), ('stack1.conv1', 2304)]
    """
    in_channels, num_classes, width = _check_args(in_channels, num_classes, width)
    if not isinstance(widths, (tuple, list)) or len(widths) != 3:
        raise ValueError(f"widths must be three integers in [1, 4096] (the stacks' filters); got {widths!r}")
    widths = tuple(check_int(c, f"widths[{i}]", 1, 4096) for i, c in enumerate(widths))
    return ResNet8(in_channels, num_classes, width, widths)


def resnet8_paper(in_channels: int = 3, num_classes: int = 10, width: float = 1.0) -> ResNet8:
    """Build the seed paper's ResNet-8: stack widths 16/48/144 (:data:`PAPER_RESNET8_WIDTHS`) times ``width``,
    otherwise as :func:`resnet8` (same layout, module names and mappable layers).

    >>> sum(l.weights for l in mappable_layers(resnet8_paper()))  # Table II: 2,325.1k devices / 8 per weight
    290640
    """
    return resnet8(in_channels, num_classes, width, widths=PAPER_RESNET8_WIDTHS)


WIDTH_RANGE = (0.25, 8.0)
"""The width multipliers the networks accept."""


def _check_args(in_channels, num_classes, width) -> tuple[int, int, float]:
    return (check_int(in_channels, "in_channels", 1, 64), check_int(num_classes, "num_classes", 2, 100_000),
            check_number(width, "width", *WIDTH_RANGE))


def _conv_bn_relu(in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                  activation=nn.ReLU) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out_channels), activation(inplace=True)]


class VGGSmall(nn.Module):
    """A plain VGG-style CNN (Simonyan & Zisserman 2015, scaled down), for ``width=1``::

        conv 3x3, 16 -> BN -> ReLU; conv 3x3, 16 -> BN -> ReLU; max-pool 2     features.0, features.3
        conv 3x3, 32 -> BN -> ReLU; conv 3x3, 32 -> BN -> ReLU; max-pool 2     features.7, features.10
        conv 3x3, 64 -> BN -> ReLU                                            features.14
        global average pooling -> dense (num_classes)                         classifier

    Six mappable layers, no skip connections, in-place ReLUs as in torchvision's VGG. See :func:`vgg_small`.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: float = 1.0):
        super().__init__()
        c1, c2, c3 = (max(1, round(c * width)) for c in (16, 32, 64))
        self.features = nn.Sequential(
            *_conv_bn_relu(in_channels, c1), *_conv_bn_relu(c1, c1), nn.MaxPool2d(2),
            *_conv_bn_relu(c1, c2), *_conv_bn_relu(c2, c2), nn.MaxPool2d(2),
            *_conv_bn_relu(c2, c3),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(c3, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.pool(self.features(x))))


class MobileNetSmall(nn.Module):
    """A MobileNet-style CNN (Howard et al. 2017, scaled down) of depthwise-separable convolutions, for
    ``width=1``::

        conv 3x3, 16 -> BN -> ReLU6                                               stem.0
        block 1: depthwise 3x3 (16), stride 2 -> BN -> ReLU6; pointwise 1x1, 32 -> BN -> ReLU6    blocks.0
        block 2: depthwise 3x3 (32), stride 2 -> BN -> ReLU6; pointwise 1x1, 64 -> BN -> ReLU6    blocks.1
        block 3: depthwise 3x3 (64)           -> BN -> ReLU6; pointwise 1x1, 64 -> BN -> ReLU6    blocks.2
        global average pooling -> dense (num_classes)                             classifier

    Eight mappable layers (each depthwise and each pointwise convolution is a layer). See :func:`mobilenet_small`.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: float = 1.0):
        super().__init__()
        c1, c2, c3 = (max(1, round(c * width)) for c in (16, 32, 64))
        self.stem = nn.Sequential(*_conv_bn_relu(in_channels, c1, activation=nn.ReLU6))
        self.blocks = nn.Sequential(*(
            nn.Sequential(*_conv_bn_relu(cin, cin, stride=stride, groups=cin, activation=nn.ReLU6),
                          *_conv_bn_relu(cin, cout, kernel=1, activation=nn.ReLU6))
            for cin, cout, stride in ((c1, c2, 2), (c2, c3, 2), (c3, c3, 1))))
        self.classifier = nn.Linear(c3, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def vgg_small(in_channels: int = 3, num_classes: int = 10, width: float = 1.0) -> VGGSmall:
    """Build a :class:`VGGSmall` (arguments as :func:`resnet8`: image channels 1 to 64, 2 or more classes,
    width 0.25 to 8 on the 16/32/64 filters).

    >>> [(l.name, l.weights) for l in mappable_layers(vgg_small(in_channels=1))][:2]
    [('features.0', 144), ('features.3', 2304)]
    """
    in_channels, num_classes, width = _check_args(in_channels, num_classes, width)
    return VGGSmall(in_channels, num_classes, width)


def mobilenet_small(in_channels: int = 3, num_classes: int = 10, width: float = 1.0) -> MobileNetSmall:
    """Build a :class:`MobileNetSmall` (arguments as :func:`resnet8`).

    >>> [(l.name, l.weights) for l in mappable_layers(mobilenet_small(in_channels=1))][:3]
    [('stem.0', 144), ('blocks.0.0', 144), ('blocks.0.3', 512)]
    """
    in_channels, num_classes, width = _check_args(in_channels, num_classes, width)
    return MobileNetSmall(in_channels, num_classes, width)


MODELS = {"resnet8": resnet8, "resnet8_paper": resnet8_paper, "vgg_small": vgg_small,
          "mobilenet_small": mobilenet_small}


def build_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model by name (see :data:`MODELS`); ``kwargs`` are the builder's (``in_channels``,
    ``num_classes``, ``width``; ``widths`` for ``"resnet8"``)."""
    check_choice(name, "model", MODELS)
    import inspect

    accepted = inspect.signature(MODELS[name]).parameters
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(f"{unknown[0]} is not an argument of model {name!r}; it takes {', '.join(accepted)}")
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
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
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
