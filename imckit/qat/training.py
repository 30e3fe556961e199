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
from dataclasses import dataclass, field

import torch
from torch import nn

from imckit.core.compute import resolve_device
from imckit.core.data import ImageTensors
from imckit.core.fit import batch_sum, fit
from imckit.qat.faults import MITIGATIONS, FaultMap, map_to_levels, validity_mask
from imckit.core.models import mappable_layers
from imckit.qat.quantizers import (KINDS, PAPER_LAMBDAS, LevelQuantizer, lambda_schedule, layer_alpha, nearest_level,
                               regularization_loss, ste_quantize)
from imckit.core.training import EVAL_BATCH_SIZE, Metrics, evaluate
from imckit.qat.variability import realized_weights, weight_levels

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
        if isinstance(self.bits, bool) or not isinstance(self.bits, int) or not 2 <= self.bits <= 8:
            raise ValueError(f"bits must be an integer in [2, 8]; got {self.bits!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {self.kind!r}")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or not 1 <= self.epochs <= 1000:
            raise ValueError(f"epochs must be an integer in [1, 1000]; got {self.epochs!r}")
        if self.train_images is not None and (isinstance(self.train_images, bool)
                                              or not isinstance(self.train_images, int) or self.train_images < 2):
            raise ValueError(f"train_images must be an integer >= 2 or None; got {self.train_images!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 2:
            raise ValueError(f"batch_size must be an integer >= 2 (BatchNorm takes batch statistics); got {self.batch_size!r}")
        for name in ("lr", "quantizer_lr"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, float)) or not 0 < value <= 10):
                raise ValueError(f"{name} must be a number in (0, 10]; got {value!r}")
        if self.lambdas is not None and (len(self.lambdas) != 2 or not all(
                isinstance(v, (int, float)) and v > 0 for v in self.lambdas)):
            raise ValueError(f"lambdas must be two positive numbers (start, end); got {self.lambdas!r}")
        if not isinstance(self.ramp, (int, float)) or not 0 <= self.ramp <= 1:
            raise ValueError(f"ramp must be a number in [0, 1]; got {self.ramp!r}")
        if not isinstance(self.momentum, (int, float)) or not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be a number in [0, 1); got {self.momentum!r}")
        if self.activation_bits is not None and (isinstance(self.activation_bits, bool) or not isinstance(
                self.activation_bits, int) or not 2 <= self.activation_bits <= 16):
            raise ValueError(f"activation_bits must be an integer in [2, 16] or None; got {self.activation_bits!r}")

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
        self.bits = bits
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
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 16:
        raise ValueError(f"bits must be an integer in [2, 16]; got {bits!r}")
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
    config = QATConfig(bits=bits, kind=kind)
    modules = quantized_modules(model) if modules is None else list(modules)
    _check_modules(model, modules, None, None, None, config)
    work = copy.deepcopy(model).eval()
    quantizers = {m: LevelQuantizer(bits, kind, work.get_submodule(m).weight) for m in modules}
    for p in list(work.parameters()) + [p for q in quantizers.values() for p in q.parameters()]:
        p.requires_grad_(False)
    return QATResult(work, quantizers, config, {"ce": [], "regularization": [], "lambda": [], "distance": []})


def _check_modules(model, modules, quantizers, faults, variability, config):
    for m in modules:
        module = model.get_submodule(m)
        if not isinstance(module, (nn.Conv2d, nn.Linear)):
            raise ValueError(f"module {m!r} is a {type(module).__name__}; expected Conv2d or Linear")
    if quantizers is not None:
        if set(quantizers) != set(modules):
            raise ValueError(f"quantizers must cover exactly the quantized modules {modules}; got {sorted(quantizers)}")
        for m, q in quantizers.items():
            if q.bits != config.bits or q.kind != config.kind:
                raise ValueError(f"quantizers[{m!r}] is {q.bits}-bit {q.kind!r}; the config asks for "
                                 f"{config.bits}-bit {config.kind!r}")
    for name, maps in (("faults", faults), ("variability", variability)):
        if maps is None:
            continue
        if set(maps) != set(modules):
            raise ValueError(f"{name} must cover exactly the quantized modules {modules}; got {sorted(maps)}")
        for m, value in maps.items():
            n = model.get_submodule(m).weight.numel()
            rows, bits = (value.stuck.shape if isinstance(value, FaultMap) else value.shape)
            if rows != n or bits != config.bits:
                raise ValueError(f"{name}[{m!r}] covers {rows} weights of {bits} bits; the layer has {n} weights "
                                 f"of {config.bits} bits")


def _levels(quantizer: LevelQuantizer, variability: torch.Tensor | None) -> torch.Tensor:
    if variability is None:
        return quantizer.levels()
    return weight_levels(quantizer.multipliers(), quantizer.offset, variability)


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
    if not isinstance(config, QATConfig):
        raise ValueError(f"config must be a QATConfig; got {type(config).__name__}")
    if (faults is None) != (mitigation is None):
        raise ValueError("faults and mitigation go together: give both or neither")
    if mitigation is not None and mitigation not in MITIGATIONS:
        raise ValueError(f"mitigation must be one of {MITIGATIONS}; got {mitigation!r}")
    if (variability is None) != (variability_mode is None):
        raise ValueError("variability and variability_mode go together: give both or neither")
    if variability_mode is not None and variability_mode not in VARIABILITY_MODES:
        raise ValueError(f"variability_mode must be one of {VARIABILITY_MODES}; got {variability_mode!r}")
    if faults is not None and variability is not None:
        raise ValueError("train with faults or with variability, not both at once")
    if (faults is not None or variability is not None) and config.ste:
        raise ValueError("fault- and variability-aware training use float weights in the forward pass (ste=False), "
                         "as the paper does")
    if isinstance(remaps, bool) or not isinstance(remaps, int) or remaps < 0:
        raise ValueError(f"remaps must be an integer >= 0; got {remaps!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer; got {seed!r}")
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
                levels = weight_levels(q.multipliers(), q.offset, chip)
                ideal = nearest_level(weight, q.levels())
                value = levels.gather(1, ideal.unsqueeze(1)).squeeze(1).reshape(weight.shape)
                replaced[names[m]] = value + (weight - weight.detach())
                continue
            levels = _levels(quantizers[m], chip)
            mask = valid[m] if fault_aware else None
            reg = reg + regularization_loss(weight, levels, alphas[m], mask)
            if config.ste:
                replaced[names[m]] = ste_quantize(weight, levels)
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
        index = nearest_level(w, levels)
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
    if faults is not None and variability is not None:
        raise ValueError("deploy onto faulty or onto variable cells, not both at once")
    out = {}
    for m, q in result.quantizers.items():
        weight = result.model.get_submodule(m).weight.detach()
        if variability is not None:
            if m not in variability:
                raise ValueError(f"no variability map for module {m!r}")
            out[m] = realized_weights(weight, q.multipliers(), q.offset, variability[m], aware)
        else:
            if faults is not None and m not in faults:
                raise ValueError(f"no fault map for module {m!r}")
            out[m] = map_to_levels(weight, q.levels(), faults[m] if faults is not None else None, mapping)
    return out


def evaluate_weights(model: nn.Module, data: ImageTensors, weights: dict[str, torch.Tensor] | None = None,
                     batch_size: int = EVAL_BATCH_SIZE, *, device: str | torch.device = "cpu") -> Metrics:
    """Loss and accuracy of ``model`` on ``data`` with ``weights`` (module -> weight, e.g. :func:`deploy`'s)
    in place: :func:`imckit.core.training.evaluate` with ``weights=`` (the name is kept for compatibility).
    Evaluated in eval mode, LSQ input quantizers and any other hooks honoured; the model is left as it was
    (train/eval flags included)."""
    return evaluate(model, data, batch_size, weights=weights, device=device)
