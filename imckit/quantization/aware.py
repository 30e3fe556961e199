"""Quantization-aware training in the manner of QKeras: dedicated uniform networks and one switchable network.

Seed paper 000 trains its ResNet-8 with QKeras (Sec. II-B): every layer's kernel passes through
``quantized_bits`` in the forward pass and the gradient goes straight through (QKeras returns
``x + stop_gradient(quantize(x) - x)``; :func:`imckit.quantization.qkeras.fake_quantize`). Its uniform networks keep
89 % (Full 8), 86.8 % (Full 4) and 78.5 % (Full 2) on CIFAR-10 (Table II). A network that was trained in float
and quantized afterwards (post-training quantization) loses far more at 2 bits, which is why the kit trains
quantization-aware networks too.

Two kinds, both fine-tuned from the float baseline (the kit's choice, to keep the cost of the default
profile within minutes; the paper does not say whether it trained from scratch):

*dedicated* (``bits=(b,)``)
    every mappable layer at ``b`` bits in every step: the paper's "Full b" networks.
*switchable* (``bits=(8, 4, 2)``)
    one network for every per-layer configuration of the search space, so the sensitivity table, the
    genetic search and Table II need no retraining per genome. At each step every mappable layer draws its
    width from ``bits``; in a share ``uniform_share`` of the steps all layers draw the same width, so the
    uniform corners of the space (Full 8/4/2), which per-layer draws almost never produce, are trained too
    (the idea of the "sandwich rule" of slimmable and BigNAS networks, here as a random share of steps).
    BatchNorm is shared by all widths. Its running statistics, averaged over batches of different widths,
    fit no single configuration: during development the switchable network lost far more at uniform 2 bits
    than a dedicated Full 2 network, and recalibrating BatchNorm on the 2-bit weights recovered almost all of
    it. Rather than recalibrating per configuration (which would give every genome its own network), the
    switchable network ends with ``frozen_epochs`` epochs with BatchNorm frozen (TensorFlow's
    ``freeze_bn_delay``): the weights then learn to serve every width under *one* set of statistics, and a
    configuration is deployed as it is, as the paper's networks are. Freezing BatchNorm from the start
    (from the float network) diverged in development, and so did the frozen epoch of a short run from a
    barely trained network (the smoke profile's 32 steps; it skips the frozen epoch); after the default
    profile's ordinary epochs it converged.

Training: the kit's one loop (:func:`imckit.core.fit.fit`) with SGD (Nesterov momentum), weight decay and a
cosine decay of the learning rate; the forward pass uses the fake-quantized weights of every mappable
module (:func:`imckit.core.models.mappable_layers`: convolutions, skips and the dense layer), passed
functionally (:func:`torch.func.functional_call`), so the model keeps plain float *shadow* weights and
nothing but its parameters changes. Deployed, a configuration quantizes each layer's shadow weights to
its width (:func:`configured_weights`).

The networks are cached like the baseline (:func:`aware_network`): keyed by the float network, the training
images, the configuration and this module's code.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from imckit.core.cache import cached, model_data_digest
from imckit.core.compute import resolve_device
from imckit.core.data import ImageTensors, check_image_tensors
from imckit.core.fit import batch_sum, fit
from imckit.core.models import mappable_layers
from imckit.core.validate import (check_bool, check_choice, check_count, check_finite, check_number, check_probability,
                                  check_seed)
from imckit.quantization.qkeras import ALPHAS, QuantSpec, check_bits, fake_quantize

__all__ = ["AwareConfig", "AwareNetwork", "configured_weights", "train_aware", "aware_network"]


@dataclass(frozen=True)
class AwareConfig:
    """How a quantization-aware network is fine-tuned.

    Attributes:
        bits: the widths it serves: one width (a dedicated "Full b" network) or several (switchable: each
            layer draws one of them at every step).
        epochs: passes over the training images (>= 1).
        lr: peak learning rate (cosine decay to 0 over all steps).
        batch_size: images per step.
        momentum: SGD momentum (Nesterov).
        weight_decay: L2 penalty on all parameters.
        uniform_share: switchable only: the share of steps (0 to 1) in which all layers draw the same width.
        alpha: the weight grid (:class:`imckit.quantization.qkeras.QuantSpec`); ``"midrise"`` uses all
            ``2**b`` words of a ``b``-bit weight.
        frozen_epochs: further epochs after ``epochs`` with BatchNorm frozen (eval mode: its running
            statistics normalize and are not updated; its scale and shift still train), as TensorFlow's
            quantization-aware training does after ``freeze_bn_delay`` steps (0: none).
        frozen_lr: peak learning rate of those epochs (cosine decay to 0 over them).
    """

    bits: tuple[int, ...] = (8, 4, 2)
    epochs: int = 3
    lr: float = 0.01
    batch_size: int = 128
    momentum: float = 0.9
    weight_decay: float = 5e-4
    uniform_share: float = 0.25
    alpha: str | None = "midrise"
    frozen_epochs: int = 0
    frozen_lr: float = 0.002

    def __post_init__(self):
        if not isinstance(self.bits, tuple) or not self.bits:
            raise ValueError(f"bits must be a non-empty tuple of distinct widths in [1, 16]; got {self.bits!r}")
        bits = tuple(check_bits(width, "bits") for width in self.bits)
        if len(set(bits)) != len(bits):
            raise ValueError(f"bits must be a non-empty tuple of distinct widths in [1, 16]; got {self.bits!r}")
        object.__setattr__(self, "bits", bits)  # numpy integers become ints (the cache key is JSON)
        object.__setattr__(self, "epochs", check_count(self.epochs, "epochs", 1, 1000))
        object.__setattr__(self, "frozen_epochs", check_count(self.frozen_epochs, "frozen_epochs", 0, 1000))
        # BatchNorm takes batch statistics: a batch needs 2 images at least
        object.__setattr__(self, "batch_size", check_count(self.batch_size, "batch_size", 2))
        # numbers are checked, not converted: an int learning rate keeps its cache key
        check_number(self.lr, "lr", 0, 10, low_open=True)
        check_number(self.frozen_lr, "frozen_lr", 0, 10, low_open=True)
        check_probability(self.momentum, "momentum")
        check_probability(self.weight_decay, "weight_decay")
        check_probability(self.uniform_share, "uniform_share")
        check_choice(self.alpha, "alpha", ALPHAS)

    @property
    def switchable(self) -> bool:
        return len(self.bits) > 1

    @property
    def quant(self) -> QuantSpec:
        return QuantSpec(alpha=self.alpha)

    @property
    def label(self) -> str:
        return "switchable " + "/".join(map(str, self.bits)) if self.switchable else f"Full {self.bits[0]}"


def _groups(model: nn.Module) -> list[tuple[str, tuple[str, ...]]]:
    return [(layer.name, tuple(layer.modules)) for layer in mappable_layers(model)]


def configured_weights(model: nn.Module, layer_bits, quant: QuantSpec) -> dict[str, torch.Tensor]:
    """The deployed weights of a configuration: module name -> its weight quantized with ``quant`` (on the
    CPU), for every module of the mappable layers named in ``layer_bits`` (layer name -> width, or one width
    for every layer). Pass them as ``weights=`` to :func:`imckit.core.training.evaluate`."""
    _check_model(model, "model")
    if not isinstance(quant, QuantSpec):
        raise TypeError(f"quant must be a QuantSpec; got {type(quant).__name__}")
    groups = _groups(model)
    if not isinstance(layer_bits, dict):
        layer_bits = {name: check_bits(layer_bits, "layer_bits") for name, _ in groups}
    else:
        layer_bits = {name: check_bits(bits, f"layer_bits[{name!r}]") for name, bits in layer_bits.items()}
    known = dict(groups)
    unknown = sorted(set(layer_bits) - set(known))
    if unknown:
        raise ValueError(f"layer_bits names layers the model does not have: {unknown}; its layers: {list(known)}")
    return {module: quant.apply(model.get_submodule(module).weight.detach().cpu(), bits, f"{module}.weight")
            .dequantize() for name, bits in layer_bits.items() for module in known[name]}


def _check_model(model, name: str) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module; got {type(model).__name__}")
    return model


def _check_data(data, name: str = "data") -> ImageTensors:
    check_image_tensors(data, name)
    if len(data) < 2:
        raise ValueError(f"{name} must hold at least 2 images (BatchNorm takes batch statistics); got {len(data)}")
    return data


@dataclass
class AwareNetwork:
    """A quantization-aware network.

    Attributes:
        model: the network with its float shadow weights (eval mode, CPU); deploy a configuration with
            :func:`configured_weights`.
        config: how it was trained.
        epochs: per epoch, the mean training loss and accuracy (of the configurations drawn).
        seconds: training wall time (of the run that computed it, also when loaded from the cache).
        from_cache: whether it was loaded rather than trained in this call.
    """

    model: nn.Module
    config: AwareConfig
    epochs: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    from_cache: bool = False

    @property
    def quant(self) -> QuantSpec:
        return self.config.quant


def _step_seed(seed: int) -> int:
    return int(np.random.SeedSequence([int(seed), 13]).generate_state(1)[0])


def train_aware(model: nn.Module, data: ImageTensors, config: AwareConfig, seed: int, progress: bool = False,
                device: str | torch.device = "cpu") -> list[dict]:
    """Fine-tune ``model`` in place quantization-aware (see the module docstring); return the per-epoch
    records. The batch order is drawn from ``seed``, the widths of each step from a generator derived from
    it, so the same seed, model and data give the same network."""
    _check_model(model, "model")
    _check_data(data)
    if not isinstance(config, AwareConfig):
        raise TypeError(f"config must be an AwareConfig; got {type(config).__name__}")
    seed = check_seed(seed)
    progress = check_bool(progress, "progress")
    groups = _groups(model)
    if not groups:
        raise ValueError("model has no mappable layers (nn.Conv2d / nn.Linear) to quantize")
    for _, modules in groups:  # once here: fake_quantize does not check the weights at every step
        for module in modules:
            check_finite(model.get_submodule(module).weight.detach(), f"{module}.weight")
    quant, widths = config.quant, torch.tensor(config.bits)
    draws = torch.Generator().manual_seed(_step_seed(seed))
    target = resolve_device(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay, nesterov=config.momentum > 0)

    def layer_widths() -> list[int]:
        if not config.switchable:
            return [config.bits[0]] * len(groups)
        if float(torch.rand((), generator=draws)) < config.uniform_share:
            return [int(widths[torch.randint(len(widths), (), generator=draws)])] * len(groups)
        return widths[torch.randint(len(widths), (len(groups),), generator=draws)].tolist()

    def step(net, x, y, info):
        weights = {f"{module}.weight": fake_quantize(net.get_submodule(module).weight, bits, quant)
                   for (_, modules), bits in zip(groups, layer_widths()) for module in modules}
        logits = torch.func.functional_call(net, weights, (x,))
        loss = nn.functional.cross_entropy(logits, y)
        return loss, {"loss": batch_sum(loss, len(y)), "accuracy": (logits.argmax(1) == y).sum()}

    records = fit(model, data, step, optimizer=optimizer, epochs=config.epochs, batch_size=config.batch_size,
                  generator=int(seed), min_batch=2, progress=progress, desc=config.label, device=target)
    if config.frozen_epochs:
        optimizer = torch.optim.SGD(model.parameters(), lr=config.frozen_lr, momentum=config.momentum,
                                    weight_decay=config.weight_decay, nesterov=config.momentum > 0)
        records += fit(model, data, step, optimizer=optimizer, epochs=config.frozen_epochs,
                       batch_size=config.batch_size, generator=_step_seed(seed + 1), min_batch=2, train_mode=False,
                       progress=progress, desc=config.label + " (BatchNorm frozen)", device=target)
    return [{"seconds": r.seconds, "batchnorm": "frozen" if k >= config.epochs else "train", **r.means}
            for k, r in enumerate(records)]


def aware_network(float_model: nn.Module, data: ImageTensors, config: AwareConfig, seed: int = 0,
                  cache=None, progress: bool = False, device: str | torch.device = "cpu") -> AwareNetwork:
    """The quantization-aware network fine-tuned from ``float_model`` (never modified) on ``data``: loaded
    from the cache, or trained (:func:`train_aware`) and cached by the float network and the images
    (digests), ``config``, ``seed``, the device type (not the CPU) and this module's code."""
    import time

    _check_model(float_model, "float_model")
    _check_data(data)
    if not isinstance(config, AwareConfig):
        raise TypeError(f"config must be an AwareConfig; got {type(config).__name__}")
    seed = check_seed(seed)  # before it joins the cache key
    progress = check_bool(progress, "progress")
    target = resolve_device(device)
    description = {"model_data": model_data_digest(float_model, data), "config": asdict(config), "seed": seed}
    if target.type != "cpu":
        description["device"] = target.type

    def compute() -> dict:
        model = copy.deepcopy(float_model).cpu()
        started = time.perf_counter()
        records = train_aware(model, data, config, seed, progress=progress, device=target)
        return {"state_dict": model.state_dict(), "epochs": records, "seconds": time.perf_counter() - started}

    def fits(value) -> bool:
        try:
            copy.deepcopy(float_model).load_state_dict(value["state_dict"])
            return isinstance(value["epochs"], list) and float(value["seconds"]) >= 0
        except (KeyError, RuntimeError, TypeError, ValueError):
            return False

    value, from_cache = cached("models", description, compute, code=__name__, cache=cache,
                               name=f"aware-{'-'.join(map(str, config.bits))}-", accept=fits)
    model = copy.deepcopy(float_model).cpu()
    model.load_state_dict(value["state_dict"])
    model.eval()
    return AwareNetwork(model, config, list(value["epochs"]), float(value["seconds"]), from_cache)
