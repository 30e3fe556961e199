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

Grids (the kit's choice; the paper does not give them): per output channel, the low-precision grid is
QKeras' ``quantized_bits(low_bits, alpha="auto")`` grid of the whole filter (step ``max|w| / 7`` for 4 bits,
no clipping), and the high-precision grid is the same range divided ``2**(high_bits - low_bits)`` times
finer. The grids are aligned, so ``expand`` is an exact left shift of the low part's integer partial sums
by ``high_bits - low_bits`` bits, and the two parts accumulate in one integer format with one step per
output channel. (High-precision codes then span ``+-7 * 16 = +-112`` of the 8-bit ``+-127``.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from imckit.core.compute import model_on_device, resolve_device  # model_on_device: re-exported from core
from imckit.quantization.qkeras import check_bits, quantize

__all__ = ["strip_view", "strip_shape", "is_strip_mask", "assign_precision", "compression_ratio", "threshold_at_ratio",
           "strip_assignment", "weight_assignment", "random_strip_assignment", "low_weight_share", "StripQuantized",
           "quantize_strips", "quantize_mixed", "assignment_weights", "coordinated_conv2d", "coordinated_linear",
           "coordinated_logits", "coordination_check", "accumulation_comparison", "ACCUMULATIONS", "model_on_device"]


# --------------------------------------------------------------------------------------------------------
# strip geometry


def strip_view(weight: torch.Tensor) -> torch.Tensor:
    """A weight tensor as its strips along the last axis: (N, D, K, K) -> (N, K, K, D); (N, D) stays."""
    if weight.ndim == 4:
        return weight.permute(0, 2, 3, 1)
    if weight.ndim == 2:
        return weight
    raise ValueError(f"strip-weights are defined for convolution (4-D) and dense (2-D) weights; got {weight.ndim}-D")


def strip_shape(weight: torch.Tensor) -> tuple[int, ...]:
    """The shape of a strip mask or strip score of ``weight``: (N, K, K) for a convolution, (N,) for a dense layer."""
    return tuple(strip_view(weight).shape[:-1])


def is_strip_mask(mask: torch.Tensor, weight: torch.Tensor) -> bool:
    """``True`` for a tensor of the strip shape, ``False`` for one of the weight's shape, else a ValueError."""
    shape = strip_shape(weight)
    if tuple(mask.shape) == shape:
        return True
    if tuple(mask.shape) == tuple(weight.shape):
        return False
    raise ValueError(f"an assignment mask must have the strip shape {shape} or the weight's shape "
                     f"{tuple(weight.shape)}; got {tuple(mask.shape)}")


# --------------------------------------------------------------------------------------------------------
# assignments


def check_threshold(threshold) -> float:
    """``threshold`` as a float if it is a number (NaN is not; -inf and inf are), else a ValueError."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or math.isnan(threshold):
        raise ValueError(f"threshold must be a number (a strip sensitivity; -inf and inf allowed); got {threshold!r}")
    return float(threshold)


def check_ratio(ratio, name: str = "ratio") -> float:
    """``ratio`` as a float if it is a number in [0, 1] (a share at low precision), else a ValueError naming
    ``name``."""
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1:
        raise ValueError(f"{name} must be a number in [0, 1] (the share at low precision); got {ratio!r}")
    return float(ratio)


def assign_precision(scores: dict[str, torch.Tensor], threshold: float | dict[str, float]) -> dict[str, torch.Tensor]:
    """High precision where a strip's sensitivity exceeds the threshold (``s > T``, the paper's rule).

    Args:
        scores: module -> strip sensitivities (:func:`imckit.crossbars.hessian.strip_sensitivity`).
        threshold: one threshold for all modules, or one per module.

    Returns:
        module -> bool tensor of the scores' shape, ``True`` = high precision.
    """
    out = {}
    for module, s in scores.items():
        t = threshold[module] if isinstance(threshold, dict) else threshold
        out[module] = s > check_threshold(t)
    return out


def compression_ratio(assignment: dict[str, torch.Tensor]) -> float:
    """Share of all strips at low precision (the paper's CR: 0 = all high, 1 = all low)."""
    total = sum(a.numel() for a in assignment.values())
    if total == 0:
        raise ValueError("assignment holds no strips")
    return float(sum(int((~a).sum()) for a in assignment.values()) / total)


def threshold_at_ratio(scores: dict[str, torch.Tensor], ratio: float) -> float:
    """The global threshold that puts the share ``ratio`` of all strips (those with the lowest scores) at
    low precision; midway between neighbouring scores, -inf / inf at ratio 0 / 1."""
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1:
        raise ValueError(f"ratio must be a number in [0, 1] (the share of strips at low precision); got {ratio!r}")
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
    return assign_precision(weight_scores, threshold_at_ratio(weight_scores, check_ratio(share, "share")))


def random_strip_assignment(scores: dict[str, torch.Tensor], ratio: float, seed: int) -> dict[str, torch.Tensor]:
    """``round(ratio * strips)`` strips drawn uniformly at random (seeded) at low precision, the rest high."""
    ratio = check_ratio(ratio)
    sizes = [s.numel() for s in scores.values()]
    total = sum(sizes)
    order = torch.randperm(total, generator=torch.Generator().manual_seed(int(seed)))
    high = torch.ones(total, dtype=torch.bool)
    high[order[: int(round(ratio * total))]] = False
    out, start = {}, 0
    for (module, s), n in zip(scores.items(), sizes):
        out[module] = high[start : start + n].reshape(s.shape)
        start += n
    return out


def low_weight_share(model: nn.Module, assignment: dict[str, torch.Tensor]) -> float:
    """Share of the assigned modules' weights at low precision (strip masks count each strip's ``D`` weights)."""
    low = total = 0
    for module, mask in assignment.items():
        weight = model.get_submodule(module).weight
        per_entry = weight.shape[1] if is_strip_mask(mask, weight) else 1
        low += int((~mask).sum()) * per_entry
        total += weight.numel()
    if total == 0:
        raise ValueError("assignment holds no weights")
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


def _check_bit_pair(high_bits, low_bits) -> None:
    check_bits(high_bits)
    check_bits(low_bits)
    if not 2 <= low_bits < high_bits:
        raise ValueError(f"need 2 <= low_bits < high_bits; got low_bits={low_bits}, high_bits={high_bits}")


def quantize_strips(weight: torch.Tensor, high: torch.Tensor, high_bits: int = 8, low_bits: int = 4) -> StripQuantized:
    """Quantize ``weight`` (a convolution's (N, D, K, K) or a dense (N, D)) with the strips marked in
    ``high`` at ``high_bits`` and the others at ``low_bits`` (see the module docstring for the grids)."""
    _check_bit_pair(high_bits, low_bits)
    if weight.ndim not in (2, 4):
        raise ValueError(f"weight must be a convolution (4-D) or dense (2-D) weight; got {weight.ndim}-D")
    shape = strip_shape(weight)
    if not isinstance(high, torch.Tensor) or high.dtype != torch.bool or tuple(high.shape) != shape:
        raise ValueError(f"high must be a bool tensor of the strip shape {shape}; got "
                         f"{getattr(high, 'dtype', type(high))} {tuple(getattr(high, 'shape', ()))}")
    return quantize_mixed(weight, high.unsqueeze(1).expand_as(weight), high_bits, low_bits, strip_mask=high)


def quantize_mixed(weight: torch.Tensor, high: torch.Tensor, high_bits: int = 8, low_bits: int = 4,
                   strip_mask: torch.Tensor | None = None) -> StripQuantized:
    """Quantize weight by weight: ``high`` is a bool tensor of the weight's shape (an unstructured, HAP-like
    assignment); same grids as :func:`quantize_strips`. ``strip_mask`` is only recorded."""
    _check_bit_pair(high_bits, low_bits)
    if not isinstance(high, torch.Tensor) or high.dtype != torch.bool or high.shape != weight.shape:
        raise ValueError(f"high must be a bool tensor of the weight's shape {tuple(weight.shape)}")
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
    weight: a weight set for :class:`imckit.injection.errors.PerturbedEvaluator`."""
    out = {}
    for module, mask in assignment.items():
        weight = model.get_submodule(module).weight.detach()
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
    if not isinstance(aligned, bool):
        raise ValueError(f"aligned must be True (expand the low part) or False (the unaligned baseline); got "
                         f"{aligned!r}")
    return 2**sq.shift if aligned else 1


def coordinated_conv2d(x: torch.Tensor, sq: StripQuantized, bias: torch.Tensor | None = None, stride=1, padding=0,
                       aligned: bool = True):
    """A convolution computed as its high-precision part plus its expanded low-precision part:
    ``(conv(x, high_codes) + conv(x, low_codes) << shift) * step + bias``. ``aligned=False`` is the baseline
    the paper argues against: the low part's partial sums added without the shift, in the high part's format
    as they are (``(conv(x, high_codes) + conv(x, low_codes)) * step + bias``)."""
    F = nn.functional
    expand = _expansion(sq, aligned)
    z_high = F.conv2d(x, sq.high_codes.to(x.dtype), None, stride, padding)
    z_low = F.conv2d(x, sq.low_codes.to(x.dtype), None, stride, padding)
    z = (z_high + z_low * expand) * _per_channel(sq.step, z_high.ndim).to(x.dtype)
    return z if bias is None else z + bias.reshape(1, -1, 1, 1)


def coordinated_linear(x: torch.Tensor, sq: StripQuantized, bias: torch.Tensor | None = None, aligned: bool = True):
    """A dense layer computed as its high part plus its expanded low part (see :func:`coordinated_conv2d`,
    also for ``aligned``)."""
    F = nn.functional
    expand = _expansion(sq, aligned)
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
    if not isinstance(aligned, bool):
        raise ValueError(f"aligned must be True or False; got {aligned!r}")
    device = resolve_device(device)
    for name, sq in quantized.items():
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
