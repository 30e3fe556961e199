"""Strip-weights and their two-precision assignment: the one home of the strip idea (seed paper 001,
Secs. 4.2-4.4). Every other module of :mod:`imckit.crossbars` builds on this one and this one on none of them.

Strip-weights (seed paper 001, Fig. 5)
    a ``1 x 1 x D`` vector of a ``K x K x D x N`` convolution kernel: ``weight[n, :, i, j]`` in PyTorch's
    ``(N, D, K, K)`` layout, so a convolution has ``N x K x K`` strips of ``p = D`` weights each
    (:func:`strip_view`). For a dense layer the kit takes each output neuron's weight row (``weight[n, :]``,
    ``p`` = inputs) as its strip, the ``K = 1`` case.

Assignments
    module -> bool mask, ``True`` = high precision. A *strip mask* has the strip shape ((N, K, K) or (N,));
    a *weight mask* (an unstructured, HAP-like assignment) the weight's shape. High precision where a
    score exceeds the threshold (``s > T``, the paper's rule, :func:`assign_precision`); the compression
    ratio (CR) is the share of strips at low precision (:func:`compression_ratio`); a global threshold at
    a CR is a score quantile (:func:`threshold_at_ratio`, :func:`strip_assignment`); the unstructured
    assignment is matched on the share of *weights* at low precision (:func:`weight_assignment`,
    :func:`low_weight_share`); random strips are the control (:func:`random_strip_assignment`).

Two precisions and precision-coordinated computation
    each strip is stored at high precision (8 bits, on 8-bit crossbars) or low precision (4 bits, on 4-bit
    crossbars). The convolution is computed as two parts, ``Z_q = W_q * A`` on the high-precision crossbars
    and ``Z_p = W_p * A`` on the low-precision ones, and the low part is expanded to the high part's format
    before they are summed: ``Z = Z_q + expand(Z_p)`` (the paper's stepwise accumulation). The baseline the
    paper argues against, strips of different precision accumulated *without* aligning their scales
    (``Z = Z_q + Z_p``, the low part's partial sums taken in the high part's format as they are), is
    ``aligned=False`` of the same functions (:func:`accumulation_comparison` sets the two side by side).

Checks
    the checks every module of :mod:`imckit.crossbars` shares live here too, built on
    :mod:`imckit.core.validate` (:func:`check_ratio`, :func:`check_threshold`, :func:`check_bit_pair`,
    :func:`check_scores`, :func:`check_assignment`, :func:`check_modules`, :func:`check_batch`, ...): scores and
    weights finite, ratios in [0, 1], a threshold any number but NaN, module names those of the model.

Grids (the kit's choice; the paper does not give them): per output channel, the low-precision grid is
QKeras' ``quantized_bits(low_bits, alpha="auto")`` grid of the whole filter (step ``max|w| / 7`` for 4 bits,
no clipping), and the high-precision grid is the same range divided ``2**(high_bits - low_bits)`` times
finer. The grids are aligned, so ``expand`` is an exact left shift of the low part's integer partial sums
by ``high_bits - low_bits`` bits, and the two parts accumulate in one integer format with one step per
output channel. (High-precision codes then span ``+-7 * 16 = +-112`` of the 8-bit ``+-127``.)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from imckit.core.compute import model_on_device, resolve_device  # model_on_device: re-exported from core
from imckit.core.validate import check_bool, check_generator, check_int, check_probability, check_tensor
from imckit.quantization.qkeras import quantize

__all__ = ["strip_view", "strip_shape", "is_strip_mask", "assign_precision", "compression_ratio", "threshold_at_ratio",
           "strip_assignment", "weight_assignment", "random_strip_assignment", "low_weight_share", "StripQuantized",
           "quantize_strips", "quantize_mixed", "assignment_weights", "coordinated_conv2d", "coordinated_linear",
           "coordinated_logits", "coordination_check", "accumulation_comparison", "ACCUMULATIONS", "model_on_device"]


# --------------------------------------------------------------------------------------------------------
# strip geometry


def strip_view(weight: torch.Tensor) -> torch.Tensor:
    """A weight tensor as its strips along the last axis: (N, D, K, K) -> (N, K, K, D); (N, D) stays."""
    check_tensor(weight, "weight", ndim=(2, 4), finite=False, nonempty=False)
    return weight.permute(0, 2, 3, 1) if weight.ndim == 4 else weight


def strip_shape(weight: torch.Tensor) -> tuple[int, ...]:
    """The shape of a strip mask or strip score of ``weight``: (N, K, K) for a convolution, (N,) for a dense layer."""
    return tuple(strip_view(weight).shape[:-1])


def is_strip_mask(mask: torch.Tensor, weight: torch.Tensor) -> bool:
    """``True`` for a tensor of the strip shape, ``False`` for one of the weight's shape, else a ValueError."""
    shape = strip_shape(weight)
    check_tensor(mask, "mask", finite=False, nonempty=False)
    if tuple(mask.shape) == shape:
        return True
    if tuple(mask.shape) == tuple(weight.shape):
        return False
    raise ValueError(f"mask must have the strip shape {shape} or the weight's shape "
                     f"{tuple(weight.shape)}; got {tuple(mask.shape)}")


# --------------------------------------------------------------------------------------------------------
# the checks every module of imckit.crossbars shares (built on imckit.core.validate)


def check_model(model, name: str = "model") -> nn.Module:
    """``model`` when it is a ``torch.nn.Module``, else a TypeError naming ``name``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module; got {type(model).__name__}")
    return model


def module_weight(model: nn.Module, module, name: str = "modules") -> torch.Tensor:
    """The ``weight`` of the submodule ``module`` of ``model``; a ValueError naming ``name`` when ``model`` has no
    such module or the module has no weight tensor (not torch's AttributeError)."""
    if not isinstance(module, str):
        raise TypeError(f"{name} must hold module names (strings); got {module!r}")
    try:
        weight = model.get_submodule(module).weight
    except AttributeError:
        weight = None
    if not isinstance(weight, torch.Tensor):
        weighted = [n for n, m in model.named_modules() if isinstance(getattr(m, "weight", None), torch.Tensor)]
        raise ValueError(f"{name} must name modules of the model with a weight, one of {weighted}; got {module!r}")
    return weight


def check_modules(model: nn.Module, modules, name: str = "modules", nonempty: bool = True) -> list[str]:
    """``modules`` as a list of distinct names of ``model``'s modules with a weight (:func:`module_weight`)."""
    if isinstance(modules, (str, bytes)) or not isinstance(modules, (list, tuple)) \
            or (nonempty and not modules):
        raise ValueError(f"{name} must be a non-empty list of module names; got {modules!r}")
    for m in modules:
        module_weight(model, m, name)
    if len(set(modules)) != len(modules):
        raise ValueError(f"{name} must not repeat a name; got {list(modules)}")
    return list(modules)


def check_scores(scores, name: str = "scores", finite: bool = True) -> dict[str, torch.Tensor]:
    """``scores`` when it is a non-empty mapping module -> non-empty tensor of real numbers, finite unless
    ``finite=False`` (a NaN score would silently fall on one side of every threshold)."""
    if not isinstance(scores, Mapping) or not scores:
        raise ValueError(f"{name} must be a non-empty mapping module -> tensor of scores; got {scores!r}"[:200])
    for module, s in scores.items():
        check_tensor(s, f"{name}[{module!r}]", finite=finite)
        if s.dtype == torch.bool or s.is_complex():
            raise TypeError(f"{name}[{module!r}] must be a tensor of real numbers; got dtype {s.dtype}")
    return scores


def check_assignment(assignment, name: str = "assignment", nonempty: bool = True) -> dict[str, torch.Tensor]:
    """``assignment`` when it is a mapping module -> bool tensor (``True`` = high precision), non-empty unless
    ``nonempty=False``."""
    if not isinstance(assignment, Mapping) or (nonempty and not assignment):
        raise ValueError(f"{name} must be a non-empty mapping module -> bool mask; got {assignment!r}"[:200])
    for module, mask in assignment.items():
        check_tensor(mask, f"{name}[{module!r}]", finite=False, nonempty=False)
        if mask.dtype != torch.bool:
            raise TypeError(f"{name}[{module!r}] must be a bool tensor (True = high precision); got dtype "
                            f"{mask.dtype}")
    return assignment


# --------------------------------------------------------------------------------------------------------
# assignments


def check_batch(inputs, targets, inputs_name: str = "inputs", targets_name: str = "targets") -> None:
    """``inputs`` a finite floating-point tensor of one or more samples (first axis), ``targets`` a tensor
    with as many (a loss's labels)."""
    check_tensor(inputs, inputs_name, floating=True)
    if inputs.ndim < 1:
        raise ValueError(f"{inputs_name} must have a first axis of samples; got shape {tuple(inputs.shape)}")
    check_tensor(targets, targets_name, nonempty=False)
    if targets.ndim < 1 or len(targets) != len(inputs):
        raise ValueError(f"{targets_name} must hold one target per sample of {inputs_name} ({len(inputs)}); got "
                         f"shape {tuple(targets.shape)}")
    if not targets.is_floating_point() and targets.numel() and int(targets.min()) < 0:
        raise ValueError(f"{targets_name} must be class indices >= 0; got {int(targets.min())}")


def check_class_targets(criterion, logits, targets, name: str = "targets") -> None:
    """For a classification loss (cross-entropy, NLL) with class-index targets: every target in
    ``[0, classes - 1]``, the classes read from ``logits`` (the model's output), not torch's IndexError."""
    if not isinstance(criterion, (nn.CrossEntropyLoss, nn.NLLLoss)) or targets.is_floating_point() \
            or not isinstance(logits, torch.Tensor) or logits.ndim < 2 or not targets.numel():
        return
    ignore = getattr(criterion, "ignore_index", None)
    targets = targets[targets != ignore] if ignore is not None else targets
    if not targets.numel():
        return
    classes, low, high = int(logits.shape[1]), int(targets.min()), int(targets.max())
    if low < 0 or high >= classes:
        raise ValueError(f"{name} must be class indices in [0, {classes - 1}] (the model has {classes} outputs); "
                         f"got values from {low} to {high}")


def check_threshold(threshold, name: str = "threshold") -> float:
    """``threshold`` as a float if it is a number other than NaN (a strip sensitivity; -inf and inf are
    allowed: every strip high, every strip low), else an error naming ``name``."""
    value = threshold.item() if isinstance(threshold, torch.Tensor) and threshold.numel() == 1 else threshold
    allowed = f"{name} must be a number other than NaN (-inf and inf allowed)"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{allowed}; got {threshold!r}")
    if math.isnan(value):
        raise ValueError(f"{allowed}; got {value!r}")
    return float(value)


def check_ratio(ratio, name: str = "ratio") -> float:
    """``ratio`` as a float if it is a finite number in [0, 1] (a share at low precision), else an error naming
    ``name`` (:func:`imckit.core.validate.check_probability`)."""
    return check_probability(ratio, name)


def check_ratios(ratios, name: str = "ratios") -> list[float]:
    """A non-empty list of compression ratios, each in [0, 1] (the error names ``ratios[k]``)."""
    if isinstance(ratios, (str, bytes)) or not hasattr(ratios, "__iter__"):
        raise TypeError(f"{name} must be a list of numbers in [0, 1]; got {ratios!r}")
    out = [check_ratio(r, f"{name}[{k}]") for k, r in enumerate(ratios)]
    if not out:
        raise ValueError(f"{name} must hold at least one compression ratio; got {ratios!r}")
    return out


def assign_precision(scores: dict[str, torch.Tensor], threshold: float | dict[str, float]) -> dict[str, torch.Tensor]:
    """High precision where a strip's sensitivity exceeds the threshold (``s > T``, the paper's rule).

    Args:
        scores: module -> strip sensitivities (:func:`imckit.crossbars.hessian.strip_sensitivity`), finite.
        threshold: one threshold for all modules, or one per module (a mapping covering every module).

    Returns:
        module -> bool tensor of the scores' shape, ``True`` = high precision.
    """
    check_scores(scores)
    if isinstance(threshold, Mapping):
        missing = [m for m in scores if m not in threshold]
        if missing:
            raise ValueError(f"threshold must give a threshold for every scored module; got none for {missing}")
        thresholds = {m: check_threshold(threshold[m], f"threshold[{m!r}]") for m in scores}
    else:
        thresholds = dict.fromkeys(scores, check_threshold(threshold))
    return {module: s > thresholds[module] for module, s in scores.items()}


def compression_ratio(assignment: dict[str, torch.Tensor]) -> float:
    """Share of all strips at low precision (the paper's CR: 0 = all high, 1 = all low)."""
    check_assignment(assignment)
    total = sum(a.numel() for a in assignment.values())
    if total == 0:
        raise ValueError("assignment must hold at least one strip; got only empty masks")
    return float(sum(int((~a).sum()) for a in assignment.values()) / total)


def threshold_at_ratio(scores: dict[str, torch.Tensor], ratio: float) -> float:
    """The global threshold that puts the share ``ratio`` of all strips (those with the lowest scores) at
    low precision; midway between neighbouring scores, -inf / inf at ratio 0 / 1."""
    ratio = check_ratio(ratio)
    check_scores(scores)
    values = torch.sort(torch.cat([s.flatten().double() for s in scores.values()])).values
    k = int(round(ratio * len(values)))
    if k == 0:
        return -math.inf
    if k == len(values):
        return math.inf
    return float((values[k - 1] + values[k]) / 2)


def strip_assignment(scores: dict[str, torch.Tensor], ratio: float) -> dict[str, torch.Tensor]:
    """The paper's assignment: the share ``ratio`` of all strips with the lowest scores at low precision
    (module -> bool strip mask, ``True`` = high)."""
    return assign_precision(scores, threshold_at_ratio(scores, check_ratio(ratio)))


def weight_assignment(weight_scores: dict[str, torch.Tensor], share: float) -> dict[str, torch.Tensor]:
    """Unstructured assignment: the share ``share`` of all weights with the lowest per-weight scores at low
    precision (module -> bool mask of the weight's shape, ``True`` = high)."""
    check_scores(weight_scores, "weight_scores")
    return assign_precision(weight_scores, threshold_at_ratio(weight_scores, check_ratio(share, "share")))


def random_strip_assignment(scores: dict[str, torch.Tensor], ratio: float, seed: int) -> dict[str, torch.Tensor]:
    """``round(ratio * strips)`` strips drawn uniformly at random (seeded) at low precision, the rest high
    (only the scores' shapes are used)."""
    ratio = check_ratio(ratio)
    check_scores(scores, finite=False)
    generator = check_generator(seed, "seed")
    sizes = [s.numel() for s in scores.values()]
    total = sum(sizes)
    order = torch.randperm(total, generator=generator)
    high = torch.ones(total, dtype=torch.bool)
    high[order[: int(round(ratio * total))]] = False
    out, start = {}, 0
    for (module, s), n in zip(scores.items(), sizes):
        out[module] = high[start : start + n].reshape(s.shape)
        start += n
    return out


def low_weight_share(model: nn.Module, assignment: dict[str, torch.Tensor]) -> float:
    """Share of the assigned modules' weights at low precision (strip masks count each strip's ``D`` weights)."""
    check_model(model)
    check_assignment(assignment)
    low = total = 0
    for module, mask in assignment.items():
        weight = module_weight(model, module, "assignment")
        per_entry = weight.shape[1] if is_strip_mask(mask, weight) else 1
        low += int((~mask).sum()) * per_entry
        total += weight.numel()
    if total == 0:
        raise ValueError("assignment must cover at least one weight; its modules have none")
    return low / total


# --------------------------------------------------------------------------------------------------------
# two-precision quantization


@dataclass(frozen=True, eq=False)
class StripQuantized:
    """A weight quantized strip by strip at two precisions.

    Attributes:
        high: bool tensor, strip shape ((N, K, K) or (N,)), or the weight's shape for a weight-by-weight
            assignment (:func:`quantize_mixed`): ``True`` = high precision.
        high_codes: int64 codes of the high-precision strips on the fine grid (0 in low strips).
        low_codes: int64 codes of the low-precision strips on the coarse grid (0 in high strips).
        step: float32 step of the fine grid, one per output channel (broadcastable to the weight).
        high_bits, low_bits: the two word lengths.
    """

    high: torch.Tensor
    high_codes: torch.Tensor
    low_codes: torch.Tensor
    step: torch.Tensor
    high_bits: int
    low_bits: int

    def __post_init__(self):
        check_bit_pair(self.high_bits, self.low_bits)
        for name in ("high", "high_codes", "low_codes", "step"):
            check_tensor(getattr(self, name), name, finite=False, nonempty=False)

    @property
    def shift(self) -> int:
        """Bits the low part's partial sums are shifted left by to reach the high part's format."""
        return self.high_bits - self.low_bits

    def dequantize(self) -> torch.Tensor:
        """The mixed-precision weight ``(high_codes + low_codes * 2**shift) * step``."""
        return ((self.high_codes + (self.low_codes << self.shift)).to(torch.float32) * self.step).to(torch.float32)

    def to(self, device: str | torch.device) -> "StripQuantized":
        """The same codes and steps on ``device`` (``"cpu"``, ``"cuda"``, ``"auto"``)."""
        device = resolve_device(device)
        return StripQuantized(self.high.to(device), self.high_codes.to(device), self.low_codes.to(device),
                              self.step.to(device), self.high_bits, self.low_bits)


def check_bit_pair(high_bits, low_bits) -> tuple[int, int]:
    """``(high_bits, low_bits)`` when ``high_bits`` is an integer in [3, 16] and ``low_bits`` one in
    [2, high_bits - 1]; else an error naming the one out of range."""
    high_bits = check_int(high_bits, "high_bits", 3, 16)
    return high_bits, check_int(low_bits, "low_bits", 2, high_bits - 1)


_check_bit_pair = check_bit_pair  # the former name


def quantize_strips(weight: torch.Tensor, high: torch.Tensor, high_bits: int = 8, low_bits: int = 4) -> StripQuantized:
    """Quantize ``weight`` (a convolution's (N, D, K, K) or a dense (N, D), finite) with the strips marked in
    ``high`` at ``high_bits`` and the others at ``low_bits`` (see the module docstring for the grids)."""
    check_bit_pair(high_bits, low_bits)
    check_tensor(weight, "weight", ndim=(2, 4), floating=True)
    shape = strip_shape(weight)
    check_tensor(high, "high", finite=False)
    if high.dtype != torch.bool or tuple(high.shape) != shape:
        raise ValueError(f"high must be a bool tensor of the strip shape {shape}; got {high.dtype} "
                         f"{tuple(high.shape)}")
    return quantize_mixed(weight, high.unsqueeze(1).expand_as(weight), high_bits, low_bits, strip_mask=high)


def quantize_mixed(weight: torch.Tensor, high: torch.Tensor, high_bits: int = 8, low_bits: int = 4,
                   strip_mask: torch.Tensor | None = None) -> StripQuantized:
    """Quantize weight by weight: ``high`` is a bool tensor of the weight's shape (an unstructured, HAP-like
    assignment); same grids as :func:`quantize_strips`. ``strip_mask`` is only recorded."""
    check_bit_pair(high_bits, low_bits)
    check_tensor(weight, "weight", ndim=(2, 4), floating=True)
    check_tensor(high, "high", finite=False)
    if high.dtype != torch.bool or high.shape != weight.shape:
        raise ValueError(f"high must be a bool tensor of the weight's shape {tuple(weight.shape)}; got "
                         f"{high.dtype} {tuple(high.shape)}")
    weight = weight.detach().to(torch.float32)
    coarse = quantize(weight, low_bits, alpha="auto", channel_axis=0)
    shift = high_bits - low_bits
    step = coarse.step / 2**shift
    limit = 2 ** (high_bits - 1) - 1
    fine = torch.clamp(torch.round(weight / step), -limit, limit).to(torch.int64)
    return StripQuantized(high if strip_mask is None else strip_mask, torch.where(high, fine, 0),
                          torch.where(high, 0, coarse.codes), step.to(torch.float32), high_bits, low_bits)


def assignment_weights(model: nn.Module, assignment: dict[str, torch.Tensor], high_bits: int = 8,
                       low_bits: int = 4) -> dict[str, torch.Tensor]:
    """The mixed-precision weights of an assignment (strip masks or weight masks), module -> dequantized
    weight: a weight set for :class:`imckit.injection.errors.PerturbedEvaluator` (an empty assignment: none)."""
    check_model(model)
    check_assignment(assignment, nonempty=False)
    check_bit_pair(high_bits, low_bits)
    out = {}
    for module, mask in assignment.items():
        weight = module_weight(model, module, "assignment").detach()
        q = quantize_strips(weight, mask, high_bits, low_bits) if is_strip_mask(mask, weight) \
            else quantize_mixed(weight, mask, high_bits, low_bits)
        out[module] = q.dequantize()
    return out


# --------------------------------------------------------------------------------------------------------
# precision-coordinated computation


def _per_channel(step: torch.Tensor, out_ndim: int) -> torch.Tensor:
    """Weight-shaped step (N, 1, ...) -> a scale for outputs laid out (B, N, ...)."""
    return step.reshape(1, -1, *([1] * (out_ndim - 2)))


def _expansion(sq: StripQuantized, aligned: bool) -> int:
    if not isinstance(sq, StripQuantized):
        raise TypeError(f"sq must be a StripQuantized (quantize_strips, quantize_mixed); got {type(sq).__name__}")
    return 2**sq.shift if check_bool(aligned, "aligned") else 1


def _check_quantized(quantized, name: str = "quantized") -> None:
    if not isinstance(quantized, Mapping):
        raise TypeError(f"{name} must be a mapping module -> StripQuantized; got {type(quantized).__name__}")
    for module, sq in quantized.items():
        if not isinstance(sq, StripQuantized):
            raise TypeError(f"{name}[{module!r}] must be a StripQuantized; got {type(sq).__name__}")


def coordinated_conv2d(x: torch.Tensor, sq: StripQuantized, bias: torch.Tensor | None = None, stride=1, padding=0,
                       aligned: bool = True):
    """A convolution computed as its high-precision part plus its expanded low-precision part:
    ``(conv(x, high_codes) + conv(x, low_codes) << shift) * step + bias``. ``aligned=False`` is the baseline
    the paper argues against: the low part's partial sums added without the shift, in the high part's format
    as they are (``(conv(x, high_codes) + conv(x, low_codes)) * step + bias``)."""
    F = nn.functional
    expand = _expansion(sq, aligned)
    check_tensor(x, "x", ndim=(3, 4), floating=True)
    z_high = F.conv2d(x, sq.high_codes.to(x.dtype), None, stride, padding)
    z_low = F.conv2d(x, sq.low_codes.to(x.dtype), None, stride, padding)
    z = (z_high + z_low * expand) * _per_channel(sq.step, z_high.ndim).to(x.dtype)
    return z if bias is None else z + bias.reshape(1, -1, 1, 1)


def coordinated_linear(x: torch.Tensor, sq: StripQuantized, bias: torch.Tensor | None = None, aligned: bool = True):
    """A dense layer computed as its high part plus its expanded low part (see :func:`coordinated_conv2d`,
    also for ``aligned``)."""
    F = nn.functional
    expand = _expansion(sq, aligned)
    check_tensor(x, "x", floating=True)
    z = (F.linear(x, sq.high_codes.to(x.dtype)) + F.linear(x, sq.low_codes.to(x.dtype)) * expand) \
        * sq.step.reshape(1, -1).to(x.dtype)
    return z if bias is None else z + bias


@torch.no_grad()
def coordinated_logits(model: nn.Module, quantized: dict[str, StripQuantized], inputs: torch.Tensor,
                       device: str | torch.device = "cpu", aligned: bool = True) -> torch.Tensor:
    """The network's outputs (eval mode) with every module of ``quantized`` computed precision-coordinated
    (:func:`coordinated_conv2d` / :func:`coordinated_linear`: high part plus expanded low part) instead of
    by its own weight. Equal, up to float rounding, to the model with the dequantized mixed weights.
    ``aligned=False``: every module accumulates its two parts without aligning their scales (the baseline).
    Computed on ``device`` (``"cpu"``, ``"cuda"``, ``"auto"``); the logits are returned on the CPU."""
    check_bool(aligned, "aligned")
    check_model(model)
    _check_quantized(quantized)
    check_tensor(inputs, "inputs", floating=True)
    device = resolve_device(device)
    for name, sq in quantized.items():
        module_weight(model, name, "quantized")
        module = model.get_submodule(name)
        if isinstance(module, nn.Conv2d):
            if module.groups != 1 or module.dilation not in (1, (1, 1)) or module.padding_mode != "zeros" \
                    or isinstance(module.padding, str):
                raise ValueError(f"module {name!r}: coordinated convolution supports groups=1, dilation=1 and "
                                 "numeric zero padding only")
        elif not isinstance(module, nn.Linear):
            raise ValueError(f"module {name!r} is a {type(module).__name__}; expected Conv2d or Linear")
        if tuple(sq.dequantize().shape) != tuple(module.weight.shape):
            raise ValueError(f"quantized[{name!r}] has shape {tuple(sq.dequantize().shape)}; the weight has "
                             f"{tuple(module.weight.shape)}")
    work = model_on_device(model, device)
    hooks = []
    for name, sq in quantized.items():
        module = work.get_submodule(name)
        sq = sq.to(device)
        if isinstance(module, nn.Conv2d):
            def run(m, args, _, sq=sq):
                return coordinated_conv2d(args[0], sq, m.bias, m.stride, m.padding, aligned)
        else:
            def run(m, args, _, sq=sq):
                return coordinated_linear(args[0], sq, m.bias, aligned)
        hooks.append(module.register_forward_hook(run))
    was_training = work.training
    try:
        work.eval()
        return work(inputs.to(device)).cpu()
    finally:
        work.train(was_training)
        for hook in hooks:
            hook.remove()


@torch.no_grad()
def coordination_check(model: nn.Module, quantized: dict[str, StripQuantized], inputs: torch.Tensor,
                       device: str | torch.device = "cpu") -> dict:
    """How closely the precision-coordinated network (:func:`coordinated_logits`) reproduces the network with
    the dequantized mixed weights in place, on ``inputs``: ``difference`` (largest absolute logit difference
    over the largest absolute logit), ``agreement`` (share of equal predictions, 0-1) and ``images``."""
    check_tensor(inputs, "inputs", floating=True)
    coordinated = coordinated_logits(model, quantized, inputs, device=device)
    was_training = model.training
    try:
        model.eval()
        direct = torch.func.functional_call(model, {f"{m}.weight": q.dequantize() for m, q in quantized.items()},
                                            (inputs,))
    finally:
        model.train(was_training)
    return {"difference": float((coordinated - direct).abs().max() / direct.abs().max()),
            "agreement": float((coordinated.argmax(1) == direct.argmax(1)).float().mean()), "images": len(inputs)}


ACCUMULATIONS = ("expanded", "unaligned")  # Z_q + expand(Z_p) (the paper's), Z_q + Z_p (the baseline)


@torch.no_grad()
def accumulation_comparison(model: nn.Module, quantized: dict[str, StripQuantized], inputs: torch.Tensor,
                            labels: torch.Tensor | None = None, device: str | torch.device = "cpu") -> dict:
    """The paper's precision-coordinated accumulation against the baseline it argues against, both against
    the network with the dequantized mixed weights in place (the intended outputs), on ``inputs``.

    Returns ``{"expanded": {...}, "unaligned": {...}}`` (:data:`ACCUMULATIONS`; ``Z_q + expand(Z_p)`` and
    ``Z_q + Z_p``), each with ``difference`` (largest absolute logit difference over the largest absolute
    intended logit), ``agreement`` (share of predictions equal to the intended ones, 0-1) and, when
    ``labels`` are given, ``accuracy`` (0-1) and ``correct`` (bool tensor, per image); plus ``"intended"``
    with ``accuracy`` and ``correct`` when ``labels`` are given, and ``images``.
    """
    check_model(model)
    _check_quantized(quantized)
    check_tensor(inputs, "inputs", floating=True)
    if labels is not None and (not isinstance(labels, torch.Tensor) or labels.shape != (len(inputs),)):
        raise ValueError(f"labels must be None or a tensor of one label per input ({len(inputs)}); got "
                         f"{tuple(getattr(labels, 'shape', ())) or type(labels).__name__}")
    was_training = model.training
    try:
        model.eval()
        direct = torch.func.functional_call(model, {f"{m}.weight": q.dequantize() for m, q in quantized.items()},
                                            (inputs,))
    finally:
        model.train(was_training)
    out = {"images": len(inputs)}
    if labels is not None:
        correct = direct.argmax(1) == labels
        out["intended"] = {"accuracy": float(correct.float().mean()), "correct": correct}
    for name in ACCUMULATIONS:
        logits = coordinated_logits(model, quantized, inputs, device=device, aligned=name == "expanded")
        row = {"difference": float((logits - direct).abs().max() / direct.abs().max()),
               "agreement": float((logits.argmax(1) == direct.argmax(1)).float().mean())}
        if labels is not None:
            correct = logits.argmax(1) == labels
            row.update({"accuracy": float(correct.float().mean()), "correct": correct})
        out[name] = row
    return out
