"""Regularization-based quantization-, fault- and variability-aware training (seed paper 002, Secs. 3-4).

:func:`train_qat` fine-tunes a copy of a trained float network (the paper initializes its quantized
networks from pretrained float ones) with the loss ``L_CE + lambda * sum_l alpha_l * R_l`` of
:mod:`imckit.qat.quantizers`, and :func:`deploy` writes the result into (possibly faulty or variable) cells.

What is quantized (the paper's Sec. 4): the weights of every convolution and dense layer except the first
and the last (:func:`quantized_modules`), each layer with its own :class:`~imckit.qat.quantizers.LevelQuantizer`;
optionally the inputs of those layers with LSQ (Esser et al. 2019; ``activation_bits``). The first and last
layers, biases and BatchNorm stay in float.

The training, per SGD step (SGD with momentum 0.9, cosine learning-rate decay, as the paper):

* ``ste=False`` (variant 1, the paper's for faults and variability): the forward pass uses the float
  weights; the regularizer pulls them towards their nearest levels; lambda follows the paper's schedule
  (low, then raised exponentially over the last ``ramp`` share of training).
* ``ste=True`` (variant 2): the forward pass uses the quantized weights through a straight-through
  estimator (:func:`imckit.qat.quantizers.ste_quantize`), with the smaller lambdas of the paper.
* faults (:mod:`imckit.qat.faults`): the mitigation level sets whether the regularizer knows the faults (Eq. 11;
  ``"active"``, ``"active+passive"``) and how faulty weights are remapped ``remaps`` times during training
  (evenly spaced) and written at deployment.
* variability (:mod:`imckit.qat.variability`): ``"aware"`` regularizes towards each weight's own levels on the
  characterized chip (Eq. 12) and deploys with variability-aware mapping; ``"chip_in_loop"`` (the simulated
  chip-in-loop baseline) trains with the chip's realized weights in the forward pass (ideal mapping,
  straight-through gradient) and the cross-entropy alone.

BatchNorm uses batch statistics during training, as Keras' ``fit`` and the paper's training do. The model
passed in is never modified.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from imckit.core.compute import resolve_device
from imckit.core.data import ImageTensors, check_image_tensors
from imckit.core.fit import batch_sum, fit
from imckit.core.validate import check_bool, check_choice, check_count, check_finite, check_int, check_number, \
    check_probability, check_seed, check_tensor
from imckit.qat.faults import MAPPINGS, MITIGATIONS, FaultMap, _check_fault_map, map_to_levels, validity_mask
from imckit.core.models import mappable_layers
from imckit.qat.quantizers import (KINDS, PAPER_LAMBDAS, LevelQuantizer, _loss, _nearest, _ste, lambda_schedule,
                                   layer_alpha)
from imckit.core.training import EVAL_BATCH_SIZE, Metrics, evaluate
from imckit.qat.variability import _weight_levels, realized_weights

__all__ = ["QATConfig", "QATResult", "LSQActivation", "attach_input_quantizers", "quantized_modules", "post_training", "train_qat", "deploy",
           "evaluate_weights", "VARIABILITY_MODES"]

VARIABILITY_MODES = ("aware", "chip_in_loop")

@dataclass(frozen=True)
class QATConfig:
    """Settings of one regularized fine-tuning run.

    Attributes:
        bits: bits per quantized weight, 2 to 8 (the paper: 3 and 4).
        kind: quantizer kind, ``"fixed"``, ``"step"`` or ``"multipliers"`` (:mod:`imckit.qat.quantizers`).
        ste: quantized forward pass with a straight-through estimator (variant 2) instead of float weights.
        epochs: passes over ``train_images``.
        train_images: training images per pass (``None``: the whole training set).
        batch_size: images per SGD step.
        lr: initial learning rate of the network's parameters (the paper: 0.01), cosine decay to 0.
        quantizer_lr: learning rate of the bit multipliers and offsets (``None``: the paper's for the
            variant, 1e-6 with float weights and 1e-3 with STE).
        lambdas: (start, end) of the lambda schedule (``None``: the paper's for the variant, (100, 2000) and
            (0.1, 1)).
        ramp: share of training over which lambda rises from start to end, in [0, 1] (the paper's:
            :data:`imckit.qat.quantizers.PAPER_RAMPS`, 0.1 for QAT and 0.5 for fault- and variability-aware
            fine-tunes; 0.5 by default).
        momentum: SGD momentum.
        activation_bits: LSQ bits for the inputs of the quantized layers (``None``: float activations).
    """

    bits: int = 4
    kind: str = "multipliers"
    ste: bool = False
    epochs: int = 2
    train_images: int | None = None
    batch_size: int = 128
    lr: float = 0.01
    quantizer_lr: float | None = None
    lambdas: tuple[float, float] | None = None
    ramp: float = 0.5
    momentum: float = 0.9
    activation_bits: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "bits", check_int(self.bits, "bits", 2, 8))
        check_choice(self.kind, "kind", KINDS)
        check_bool(self.ste, "ste")
        object.__setattr__(self, "epochs", check_int(self.epochs, "epochs", 1, 1000))
        if self.train_images is not None:
            object.__setattr__(self, "train_images", check_count(self.train_images, "train_images", low=2))
        object.__setattr__(self, "batch_size", check_count(self.batch_size, "batch_size", low=2))  # BatchNorm
        check_number(self.lr, "lr", 0, 10, low_open=True)
        if self.quantizer_lr is not None:
            check_number(self.quantizer_lr, "quantizer_lr", 0, 10, low_open=True)
        if self.lambdas is not None:
            if isinstance(self.lambdas, (str, bytes)) or not isinstance(self.lambdas, (tuple, list)) \
                    or len(self.lambdas) != 2:
                raise ValueError(f"lambdas must be two positive numbers (start, end) or None; got {self.lambdas!r}")
            for k, value in enumerate(self.lambdas):
                check_number(value, f"lambdas[{k}]", 0, None, low_open=True)
        check_probability(self.ramp, "ramp")
        check_number(self.momentum, "momentum", 0, 1, high_open=True)
        if self.activation_bits is not None:
            object.__setattr__(self, "activation_bits", check_int(self.activation_bits, "activation_bits", 2, 16))

    @property
    def variant(self) -> str:
        return "ste" if self.ste else "float"

    def schedule(self) -> tuple[float, float]:
        return tuple(self.lambdas) if self.lambdas is not None else PAPER_LAMBDAS[self.variant]["lambda"]

    def quantizer_rate(self) -> float:
        return self.quantizer_lr if self.quantizer_lr is not None else PAPER_LAMBDAS[self.variant]["quantizer_lr"]


class _LSQFunction(torch.autograd.Function):
    """LSQ's quantizer as one autograd node: the value ``round(clamp(x / s, -Q_N, Q_P)) * s`` and LSQ's
    gradients (Esser et al. 2019, Eqs. 3-5): to ``x`` the incoming gradient where ``-Q_N < x / s < Q_P``
    and 0 outside (the boundaries excluded, as LSQ defines it and as autograd's ``clamp`` does), to ``s``
    ``g * sum(grad * (round(v) - v))`` inside and ``g * sum(grad * clip level)`` outside. One node instead of
    the dozen elementwise nodes autograd records for the same formula: the backward needs only the mask
    and the per-element factor of ``s``, saved in the forward."""

    @staticmethod
    def forward(ctx, x, step, q_n: int, q_p: int, g: float):
        v = x / step
        clipped = torch.clamp(v, -q_n, q_p)
        rounded = torch.round(clipped)
        inside = torch.gt(v, -q_n).logical_and_(v < q_p).to(x.dtype)  # 1 inside, 0 outside (products are faster
        ctx.save_for_backward(inside, rounded - clipped * inside)  # than torch.where with a scalar on the CPU)
        ctx.g = g
        return rounded * step

    @staticmethod
    def backward(ctx, grad):
        inside, factor = ctx.saved_tensors
        grad_x = grad * inside if ctx.needs_input_grad[0] else None
        grad_step = (grad * factor).sum().mul(ctx.g).reshape(()) if ctx.needs_input_grad[1] else None
        return grad_x, grad_step, None, None, None


class LSQActivation(nn.Module):
    """Learned step size quantization of a layer's input (Esser et al. 2019): ``round(clamp(x / s, -Q_N,
    Q_P)) * s`` with a straight-through rounding and the gradient of ``s`` scaled by ``1 / sqrt(n Q_P)``.
    Unsigned (``Q_N = 0``) when the first batch it sees has no negative value; initialized on that batch
    to ``s = 2 mean|x| / sqrt(Q_P)``. The gradients are LSQ's (:class:`_LSQFunction`): to ``x`` where
    ``-Q_N < x / s < Q_P``, else 0; to ``s``, scaled by ``g = 1 / sqrt(n Q_P)`` (``n``: features per sample),
    ``round(v) - v`` inside and the clip level outside."""

    def __init__(self, bits: int):
        super().__init__()
        self.bits = check_int(bits, "bits", 2, 16)
        self.step = nn.Parameter(torch.tensor(1.0))
        self.register_buffer("initialized", torch.tensor(False))
        self.register_buffer("signed", torch.tensor(False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not bool(self.initialized):
            with torch.no_grad():
                self.signed.fill_(bool((x < 0).any()))
                q_p = 2 ** (self.bits - 1) - 1 if bool(self.signed) else 2**self.bits - 1
                self.step.fill_(max(float(2 * x.abs().mean() / math.sqrt(q_p)), 1e-8))
                self.initialized.fill_(True)
        q_n, q_p = (2 ** (self.bits - 1), 2 ** (self.bits - 1) - 1) if bool(self.signed) else (0, 2**self.bits - 1)
        return _LSQFunction.apply(x, self.step, q_n, q_p, 1.0 / math.sqrt(x[0].numel() * q_p))


def _quantize_input(module, args):
    """The forward pre-hook of :func:`attach_input_quantizers`: the module's input through its quantizer."""
    return (module.input_quantizer(args[0]),) + tuple(args[1:])


def attach_input_quantizers(model: nn.Module, modules, bits: int) -> list[str]:
    """Give each of ``modules`` (names in ``model``) an LSQ input quantizer: an :class:`LSQActivation` of
    ``bits`` bits stored as the module's ``input_quantizer`` (so it is part of the ``state_dict``) and a
    forward pre-hook that passes the module's input through it. Modules that already have an
    ``input_quantizer`` are left alone. Modifies ``model`` in place; returns the names of the modules that
    got a new quantizer. The kit's engine honours the hook on every path (:mod:`imckit.core.engine`).
    """
    _check_model(model)
    check_int(bits, "bits", 2, 16)
    modules = _check_names(model, modules)
    attached = []
    for m in modules:
        module = model.get_submodule(m)
        if not isinstance(module, (nn.Conv2d, nn.Linear)):
            raise ValueError(f"modules: {m!r} is a {type(module).__name__}; expected Conv2d or Linear")
        if not hasattr(module, "input_quantizer"):
            module.input_quantizer = LSQActivation(bits)
            module.register_forward_pre_hook(_quantize_input)
            attached.append(m)
    return attached


def quantized_modules(model: nn.Module) -> list[str]:
    """The modules whose weights are quantized: every convolution and dense layer of the mappable layers
    except the first and the last (the paper's Sec. 4)."""
    _check_model(model)
    modules = [m for layer in mappable_layers(model) for m in layer.modules]
    if len(modules) < 3:
        raise ValueError(f"the model has {len(modules)} conv/dense modules; quantizing all but the first and last "
                         "needs at least 3")
    return modules[1:-1]


@dataclass
class QATResult:
    """A fine-tuned network and its quantizers.

    Attributes:
        model: the trained copy (eval mode; its weights are the float weights; with LSQ activations its
            quantized modules quantize their inputs).
        quantizers: module -> :class:`~imckit.qat.quantizers.LevelQuantizer`.
        config: the settings.
        history: per epoch: ``ce``, ``regularization`` (the weighted sum, before lambda), ``lambda`` (at the
            epoch's end) and ``distance`` (mean |w - nearest level| / mean level spacing over the quantized
            weights at the epoch's end).
    """

    model: nn.Module
    quantizers: dict[str, LevelQuantizer]
    config: QATConfig
    history: dict[str, list[float]] = field(default_factory=dict)


def post_training(model: nn.Module, bits: int, kind: str = "fixed", modules: list[str] | None = None) -> QATResult:
    """The starting point of :func:`train_qat` without any training: a copy of ``model`` with new quantizers
    (post-training quantization of the weights onto each layer's initial grid; activations stay float)."""
    _check_model(model)
    config = QATConfig(bits=bits, kind=kind)
    modules = quantized_modules(model) if modules is None else _check_names(model, modules)
    _check_modules(model, modules, None, None, None, config)
    work = copy.deepcopy(model).eval()
    quantizers = {m: LevelQuantizer(bits, kind, work.get_submodule(m).weight) for m in modules}
    for p in list(work.parameters()) + [p for q in quantizers.values() for p in q.parameters()]:
        p.requires_grad_(False)
    return QATResult(work, quantizers, config, {"ce": [], "regularization": [], "lambda": [], "distance": []})


def _check_model(model) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    return model


def _check_names(model, modules, name: str = "modules") -> list[str]:
    """``modules`` as a non-empty list of distinct names of ``model``'s submodules (not torch's AttributeError)."""
    if isinstance(modules, (str, bytes)) or not hasattr(modules, "__iter__"):
        raise ValueError(f"{name} must be a non-empty list of module names; got {modules!r}")
    modules = list(modules)
    if not modules:
        raise ValueError(f"{name} must be a non-empty list of module names; got []")
    known = dict(model.named_modules())
    for m in modules:
        if not isinstance(m, str) or m not in known:
            raise ValueError(f"{name} must name modules of the model; got {m!r}")
    if len(set(modules)) != len(modules):
        raise ValueError(f"{name} must not repeat a name; got {modules}")
    return modules


def _check_modules(model, modules, quantizers, faults, variability, config):
    for m in modules:
        module = model.get_submodule(m)
        if not isinstance(module, (nn.Conv2d, nn.Linear)):
            raise ValueError(f"module {m!r} is a {type(module).__name__}; expected Conv2d or Linear")
        check_finite(module.weight.detach(), f"model's {m}.weight")
    if quantizers is not None:
        if not isinstance(quantizers, Mapping):
            raise TypeError(f"quantizers must be a mapping module -> LevelQuantizer; got {type(quantizers).__name__}")
        if set(quantizers) != set(modules):
            raise ValueError(f"quantizers must cover exactly the quantized modules {modules}; got {sorted(quantizers)}")
        for m, q in quantizers.items():
            if not isinstance(q, LevelQuantizer):
                raise TypeError(f"quantizers[{m!r}] must be a LevelQuantizer; got {type(q).__name__}")
            if q.bits != config.bits or q.kind != config.kind:
                raise ValueError(f"quantizers[{m!r}] is {q.bits}-bit {q.kind!r}; the config asks for "
                                 f"{config.bits}-bit {config.kind!r}")
            for name, p in list(q.named_parameters()) + list(q.named_buffers()):
                check_finite(p.detach(), f"quantizers[{m!r}].{name}")
    for name, maps in (("faults", faults), ("variability", variability)):
        if maps is None:
            continue
        if not isinstance(maps, Mapping):
            raise TypeError(f"{name} must be a mapping module -> {'FaultMap' if name == 'faults' else 'tensor'}; "
                            f"got {type(maps).__name__}")
        if set(maps) != set(modules):
            raise ValueError(f"{name} must cover exactly the quantized modules {modules}; got {sorted(maps)}")
        for m, value in maps.items():
            if name == "faults":
                _check_fault_map(value, f"faults[{m!r}]")
            else:
                check_tensor(value, f"variability[{m!r}]", ndim=2, floating=True)
                if bool((value < 0).any()):
                    raise ValueError(f"variability[{m!r}] must hold LRS multipliers >= 0; got a negative value")
            n = model.get_submodule(m).weight.numel()
            rows, bits = (value.stuck.shape if isinstance(value, FaultMap) else value.shape)
            if rows != n or bits != config.bits:
                raise ValueError(f"{name}[{m!r}] covers {rows} weights of {bits} bits; the layer has {n} weights "
                                 f"of {config.bits} bits")


def _levels(quantizer: LevelQuantizer, variability: torch.Tensor | None) -> torch.Tensor:
    if variability is None:
        return quantizer.levels()
    return _weight_levels(quantizer.multipliers(), quantizer.offset, variability)


def train_qat(model: nn.Module, data: ImageTensors, config: QATConfig, seed: int, quantizers=None,
              faults: dict[str, FaultMap] | None = None, mitigation: str | None = None, remaps: int = 5,
              variability: dict[str, torch.Tensor] | None = None, variability_mode: str | None = None,
              progress: bool = False, device: str | torch.device = "cpu") -> QATResult:
    """Fine-tune a copy of ``model`` with the regularized loss (module docstring).

    Args:
        model: the trained network (never modified). To fine-tune a quantized result further, pass its
            ``model`` and ``quantizers``.
        data: training images.
        config: the run's settings.
        seed: seed of the training subset and the batch order.
        quantizers: module -> quantizer to start from (copied; default: new ones on the model's weights).
        faults: module -> fault map of the quantized modules (needs ``mitigation``).
        mitigation: one of :data:`imckit.qat.faults.MITIGATIONS`.
        remaps: periodic remappings of the faulty weights during training (``"basic"``, ``"passive"`` and
            ``"active+passive"``), evenly spaced, the last at the end; the paper remaps every 4 epochs of
            its 20-epoch fine-tunes, 5 times.
        variability: module -> LRS multipliers ``(n, bits)`` of the quantized modules (needs
            ``variability_mode``).
        variability_mode: ``"aware"`` or ``"chip_in_loop"``.
        progress: show a progress bar over the steps.
        device: where the fine-tuning runs (``"cpu"``, ``"cuda"``, ``"auto"``; see :mod:`imckit.core.compute`).
            The batch order is drawn on the CPU; the returned model and quantizers are on the CPU.

    The loop is :func:`imckit.core.fit.fit`; what this function adds is its step (cross-entropy plus
    ``lambda(step) * regularizer``, or the STE / chip-in-loop forward), the optimizer's two groups, the
    periodic remapping of faulty weights (after a step) and the per-epoch history.
    """
    _check_model(model)
    if not isinstance(config, QATConfig):
        raise TypeError(f"config must be a QATConfig; got {type(config).__name__}")
    check_image_tensors(data, "data")
    if len(data) < 2:
        raise ValueError(f"data must hold at least 2 images (BatchNorm takes batch statistics); got {len(data)}")
    check_finite(data.images, "data.images")
    if (faults is None) != (mitigation is None):
        raise ValueError("faults and mitigation go together: give both or neither")
    if mitigation is not None:
        check_choice(mitigation, "mitigation", MITIGATIONS)
    if (variability is None) != (variability_mode is None):
        raise ValueError("variability and variability_mode go together: give both or neither")
    if variability_mode is not None:
        check_choice(variability_mode, "variability_mode", VARIABILITY_MODES)
    if faults is not None and variability is not None:
        raise ValueError("train with faults or with variability, not both at once")
    if (faults is not None or variability is not None) and config.ste:
        raise ValueError("fault- and variability-aware training use float weights in the forward pass (ste=False), "
                         "as the paper does")
    check_count(remaps, "remaps", low=0)
    seed = check_seed(seed)
    check_bool(progress, "progress")
    modules = quantized_modules(model) if quantizers is None else list(quantizers)
    _check_modules(model, modules, quantizers, faults, variability, config)

    target = resolve_device(device)
    work = copy.deepcopy(model)
    for p in work.parameters():
        p.requires_grad_(True)
    if quantizers is None:
        quantizers = {m: LevelQuantizer(config.bits, config.kind, work.get_submodule(m).weight) for m in modules}
    else:
        quantizers = {m: copy.deepcopy(q) for m, q in quantizers.items()}
        for q in quantizers.values():  # a returned result's quantizers are frozen: learn again
            for p in q.parameters():
                p.requires_grad_(True)
    if config.activation_bits is not None:
        attach_input_quantizers(work, modules, config.activation_bits)
    work.to(target)
    for q in quantizers.values():
        q.to(target)
    faults = {m: f.to(target) for m, f in faults.items()} if faults is not None else None
    variability = {m: v.to(target) for m, v in variability.items()} if variability is not None else None
    alphas = {m: layer_alpha(work.get_submodule(m).weight.numel(), config.bits) for m in modules}
    valid = {m: validity_mask(f) for m, f in faults.items()} if faults is not None else None
    fault_aware = mitigation in ("active", "active+passive")
    remap_mapping = {"basic": "naive", "passive": "nearest_valid", "active": None,
                     "active+passive": "nearest_valid"}.get(mitigation)

    quantizer_params = [p for q in quantizers.values() for p in q.parameters()]
    groups = [{"params": list(work.parameters()), "lr": config.lr}]
    if quantizer_params:
        groups.append({"params": quantizer_params, "lr": config.quantizer_rate()})
    optimizer = torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)  # plain momentum, as the paper
    n_train = min(config.train_images or len(data), len(data))
    total = math.ceil(n_train / config.batch_size) * config.epochs
    remap_at = {round(total * k / remaps) for k in range(1, remaps + 1)} if remap_mapping and remaps else set()
    start, end = config.schedule()
    # gradient descent on lambda * alpha * (w - l)^2 overshoots when lr * 2 * lambda * alpha > 2
    stiffest = max(
        config.lr * 0.5 * (1 + math.cos(math.pi * s / total)) * 2 * lambda_schedule(s / total, start, end, config.ramp)
        * max(alphas.values()) for s in range(total + 1))
    if stiffest > 2:
        warnings.warn(f"lr * 2 * lambda * alpha reaches {stiffest:.1f} (> 2): the regularizer will make weights "
                      "oscillate around their levels; lower lr or lambdas", stacklevel=2)
    names = {m: f"{m}.weight" for m in modules}

    def step(net, x, y, info):
        lam = lambda_schedule(info.step / info.total, start, end, config.ramp)
        reg = torch.zeros((), device=target)
        replaced = {}
        for m in modules:
            weight = net.get_submodule(m).weight
            chip = variability[m] if variability is not None else None
            if variability_mode == "chip_in_loop":
                q = quantizers[m]
                levels = _weight_levels(q.multipliers(), q.offset, chip)
                ideal = _nearest(weight, q.levels())
                value = levels.gather(1, ideal.unsqueeze(1)).squeeze(1).reshape(weight.shape)
                replaced[names[m]] = value + (weight - weight.detach())
                continue
            levels = _levels(quantizers[m], chip)
            mask = valid[m] if fault_aware else None
            reg = reg + _loss(weight, levels, alphas[m], mask)
            if config.ste:
                replaced[names[m]] = _ste(weight, levels)
        logits = torch.func.functional_call(net, replaced, (x,)) if replaced else net(x)
        ce = nn.functional.cross_entropy(logits, y)
        return ce + lam * reg, {"ce": batch_sum(ce, len(y)), "regularization": batch_sum(reg, len(y))}

    @torch.no_grad()
    def remap(info):  # the faulty weights, written into their cells, every ``total / remaps`` steps
        if info.step in remap_at:
            for m in modules:
                weight = work.get_submodule(m).weight
                stored = map_to_levels(weight, quantizers[m].levels(), faults[m], remap_mapping)
                faulty = faults[m].faulty_weights().reshape(weight.shape)
                weight.copy_(torch.where(faulty, stored, weight))

    history = {"ce": [], "regularization": [], "lambda": [], "distance": []}

    def record(epoch):
        history["ce"].append(epoch.means.get("ce", 0.0))
        history["regularization"].append(epoch.means.get("regularization", 0.0))
        history["lambda"].append(lambda_schedule(min(epoch.steps / total, 1.0), start, end, config.ramp))
        history["distance"].append(_distance(work, quantizers, variability))

    fit(work, data, step, optimizer=optimizer, epochs=config.epochs, batch_size=config.batch_size,
        generator=int(seed), images=n_train, min_batch=2, after_step=remap if remap_at else None,
        on_epoch=record, channels_last="inputs", progress=progress, desc="QAT", device=target)
    work.cpu()
    for q in quantizers.values():
        q.cpu()
    for p in list(work.parameters()) + quantizer_params:
        p.requires_grad_(False)
    return QATResult(work, quantizers, config, history)


@torch.no_grad()
def _distance(model, quantizers, variability) -> float:
    """Mean |w - nearest level| over the quantized weights, in units of each layer's mean level spacing."""
    total = count = 0.0
    for m, q in quantizers.items():
        w = model.get_submodule(m).weight.detach()
        levels = _levels(q, variability[m] if variability is not None else None)
        flat = levels if levels.ndim == 1 else levels[0]
        spacing = float((flat.max() - flat.min()) / (flat.numel() - 1)) or 1.0
        index = _nearest(w, levels)
        chosen = levels[index] if levels.ndim == 1 else levels.gather(1, index.unsqueeze(1)).squeeze(1)
        total += float((w.flatten() - chosen).abs().sum()) / spacing
        count += w.numel()
    return total / count if count else float("nan")


@torch.no_grad()
def deploy(result: QATResult, faults: dict[str, FaultMap] | None = None, mapping: str = "nearest_valid",
           variability: dict[str, torch.Tensor] | None = None, aware: bool = True) -> dict[str, torch.Tensor]:
    """The weights the quantized modules store after writing ``result`` into cells: module -> tensor.

    Args:
        result: a trained network and its quantizers.
        faults: fault maps of the chip (``None``: fault-free cells).
        mapping: how weights are written into faulty cells, ``"naive"`` or ``"nearest_valid"``.
        variability: LRS multipliers of the chip (``None``: nominal cells).
        aware: with variability, choose each weight's pattern by its level on this chip (True) or by the
            ideal levels (False).
    """
    if not isinstance(result, QATResult):
        raise TypeError(f"result must be a QATResult (train_qat, post_training); got {type(result).__name__}")
    check_choice(mapping, "mapping", MAPPINGS)
    check_bool(aware, "aware")
    if faults is not None and variability is not None:
        raise ValueError("deploy onto faulty or onto variable cells, not both at once")
    for name, maps in (("faults", faults), ("variability", variability)):
        if maps is not None and not isinstance(maps, Mapping):
            raise TypeError(f"{name} must be a mapping module -> map or None; got {type(maps).__name__}")
    out = {}
    for m, q in result.quantizers.items():
        weight = result.model.get_submodule(m).weight.detach()
        if variability is not None:
            if m not in variability:
                raise ValueError(f"variability must hold a map for every quantized module; none for {m!r}")
            out[m] = realized_weights(weight, q.multipliers(), q.offset, variability[m], aware)
        else:
            if faults is not None and m not in faults:
                raise ValueError(f"faults must hold a map for every quantized module; none for {m!r}")
            out[m] = map_to_levels(weight, q.levels(), faults[m] if faults is not None else None, mapping)
    return out


def evaluate_weights(model: nn.Module, data: ImageTensors, weights: dict[str, torch.Tensor] | None = None,
                     batch_size: int = EVAL_BATCH_SIZE, *, device: str | torch.device = "cpu") -> Metrics:
    """Loss and accuracy of ``model`` on ``data`` with ``weights`` (module -> weight, e.g. :func:`deploy`'s)
    in place: :func:`imckit.core.training.evaluate` with ``weights=`` (the name is kept for compatibility).
    Evaluated in eval mode, LSQ input quantizers and any other hooks honoured; the model is left as it was
    (train/eval flags included)."""
    _check_model(model)
    check_count(batch_size, "batch_size")
    if weights is not None:
        if not isinstance(weights, Mapping):
            raise TypeError(f"weights must be a mapping module -> weight or None; got {type(weights).__name__}")
        for m, w in weights.items():
            known = model.get_submodule(m) if isinstance(m, str) and m in dict(model.named_modules()) else None
            if not isinstance(getattr(known, "weight", None), torch.Tensor):
                raise ValueError(f"weights must name modules of the model with a weight; got {m!r}")
            check_tensor(w, f"weights[{m!r}]", floating=True)
            if w.shape != known.weight.shape:
                raise ValueError(f"weights[{m!r}] must have the weight's shape {tuple(known.weight.shape)}; got "
                                 f"{tuple(w.shape)}")
    return evaluate(model, data, batch_size, weights=weights, device=device)
