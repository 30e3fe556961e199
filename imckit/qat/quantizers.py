"""Regularization-based quantization: the N-multiplier quantizer family, its loss and its lambda schedule
(seed paper 002, Secs. 3.2-3.4 and 4).

Quantizer (the paper's Eqs. 2-5). An ``N``-bit weight is stored as ``N`` bit cells ``S in {0, 1}^N``; its
value is ``<m, S> + c``, with one *bit multiplier* ``m_j`` per bit and an offset ``c``. The ``2^N`` levels
of a layer are ``B @ m + c`` for the matrix ``B`` (``2^N x N``) of all bit patterns (row ``k`` is ``k`` in
binary, least significant bit first). Three kinds, from fewest to most learned parameters:

``"fixed"``
    ``m = step * (1, 2, 4, ..., 2^(N-1))``, ``c = -step * 2^(N-1)``: a uniform, offset-binary grid of
    ``2^N`` levels, nothing learned (the paper's "fixed levels").
``"step"``
    the same with a learnable ``step`` (the scalar ``r`` of Eq. 3) and a learnable offset ``c``
    ("learned scale").
``"multipliers"``
    ``m = r`` with ``r in R^N`` learnable, and a learnable ``c`` (Eq. 4, "learnable non-uniform").

Every kind starts from the same uniform grid: per layer, the step that minimizes the mean squared
quantization error of the layer's float weights over a grid of candidates (the kit's choice; the paper
starts from its pretrained network without saying how). A weight's value is its nearest level (Eq. 5).

Loss (Eqs. 6-7 and 11). ``L = L_CE + lambda * sum_l alpha_l * sum_i min_q (val_iq |w_i - l_q|^2 + (1 - val_iq)
Delta)``, with ``alpha_l = 1 / sqrt(n_l * Q_P)``, ``Q_P = 2^(b-1) - 1`` (LSQ's scale, signed weights),
``val`` a validity mask (all ones without faults; :mod:`imckit.qat.faults`) and ``Delta`` a large constant.
Levels may also be given per weight (``n x 2^N``), which is how device variability enters (Eq. 12,
:mod:`imckit.qat.variability`). The minimum over levels is vectorized over weights and levels.

Two training variants (Sec. 3.3): the float weights in the forward pass (variant 1) or the quantized
weights with a straight-through estimator (variant 2, :func:`ste_quantize`: forward the nearest level,
gradient 1 to the weight and the level's bit pattern to the multipliers and offset).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from imckit.core.compute import resolve_device
from imckit.core.validate import check_choice, check_count, check_int, check_number, check_probability, check_tensor

__all__ = ["KINDS", "LevelQuantizer", "bit_patterns", "regularization_loss", "layer_alpha", "lambda_schedule",
           "nearest_level", "ste_quantize", "PAPER_LAMBDAS", "PAPER_RAMPS"]

KINDS = ("fixed", "step", "multipliers")
MAX_WEIGHTS = 2**31 - 1  # the most weights a layer (and a fault or variability map) may have
BIG_PENALTY = 1e4  # Delta of Eq. 11: far above any squared weight error (weights are O(1) at most)

# Seed paper 002, Sec. 4: lambda schedules (start, end) and learning rates of the quantizer parameters.
PAPER_LAMBDAS = {"float": {"lambda": (100.0, 2000.0), "quantizer_lr": 1e-6},
                 "ste": {"lambda": (0.1, 1.0), "quantizer_lr": 1e-3}}
# Seed paper 002, Secs. 4 and 4.3: the share of training over which lambda rises (``ramp`` of
# lambda_schedule): the final 20 of the 200 epochs of QAT on CIFAR-10, the final 10 of a 20-epoch
# fault-aware (or variability-aware) fine-tune. As shares they carry over to runs of other lengths.
PAPER_RAMPS = {"qat": 20 / 200, "tune": 10 / 20}


def bit_patterns(bits: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """All ``2^bits`` bit patterns as a float tensor ``(2^bits, bits)`` on ``device``; row ``k`` is ``k`` in
    binary, least significant bit first."""
    check_int(bits, "bits", 1, 12)  # 2^bits levels are enumerated
    device = resolve_device(device)
    k = torch.arange(2**bits, device=device).unsqueeze(1)
    return ((k >> torch.arange(bits, device=device)) & 1).to(torch.float32)


def _mse_step(weight: torch.Tensor, bits: int, candidates: int = 200) -> float:
    """The step of the offset-binary uniform grid that minimizes the mean squared error for ``weight``."""
    w = weight.detach().flatten().to(torch.float32)
    top = float(w.abs().max())
    if top == 0:
        return 1.0
    half = 2 ** (bits - 1)
    best, best_error = top / half, math.inf
    for fraction in torch.linspace(0.05, 1.0, candidates).tolist():
        step = top * fraction / (half - 0.5)
        codes = torch.clamp(torch.round(w / step), -half, half - 1)
        error = float((codes * step - w).pow(2).mean())
        if error < best_error:
            best, best_error = step, error
    return best


class LevelQuantizer(nn.Module):
    """The levels of one layer: ``bit_patterns(bits) @ multipliers + offset`` (module docstring).

    Args:
        bits: bits per weight, 2 to 8.
        kind: ``"fixed"``, ``"step"`` or ``"multipliers"``.
        weight: the layer's float weight, to choose the initial step (MSE-optimal uniform grid); the
            quantizer's tensors are created on its device.
    """

    def __init__(self, bits: int, kind: str, weight: torch.Tensor):
        super().__init__()
        check_int(bits, "bits", 2, 8)
        check_choice(kind, "kind", KINDS)
        check_tensor(weight, "weight", floating=True)
        self.bits, self.kind = bits, kind
        step = _mse_step(weight, bits)
        device = weight.device
        powers = 2.0 ** torch.arange(bits, dtype=torch.float32, device=device)
        self.register_buffer("patterns", bit_patterns(bits, device))
        self.register_buffer("powers", powers)
        offset = torch.tensor(-step * 2 ** (bits - 1), device=device)
        if kind == "fixed":
            self.register_buffer("step", torch.tensor(step, device=device))
            self.register_buffer("offset", offset)
        elif kind == "step":
            self.step = nn.Parameter(torch.tensor(step, device=device))
            self.offset = nn.Parameter(offset)
        else:
            self.r = nn.Parameter(step * powers)
            self.offset = nn.Parameter(offset)

    def multipliers(self) -> torch.Tensor:
        """The bit multipliers ``m`` (``bits``,)."""
        return self.r if self.kind == "multipliers" else self.step * self.powers

    def levels(self) -> torch.Tensor:
        """The ``2^bits`` levels (not sorted for learned multipliers)."""
        return self.patterns @ self.multipliers() + self.offset

    def extra_repr(self) -> str:
        return f"bits={self.bits}, kind={self.kind!r}"


def layer_alpha(n_weights: int, bits: int) -> float:
    """``alpha_l = 1 / sqrt(n_l * Q_P)`` with ``Q_P = 2^(bits-1) - 1`` (Eq. 6, after LSQ)."""
    check_count(n_weights, "n_weights", high=MAX_WEIGHTS)
    check_int(bits, "bits", 1, 16)
    return 1.0 / math.sqrt(n_weights * max(2 ** (bits - 1) - 1, 1))


def _distances(weight: torch.Tensor, levels: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Squared distance of every weight to every level, ``(n, L)``; invalid levels get ``BIG_PENALTY``."""
    w = weight.reshape(-1, 1)
    lv = levels if levels.ndim == 2 else levels.unsqueeze(0)
    d = (w - lv).pow(2)
    if valid is not None:
        d = torch.where(valid, d, torch.full_like(d, BIG_PENALTY))
    return d


def _check_levels(weight, levels, valid):
    """The public functions' checks (the training loop calls the unchecked ``_nearest``, ``_loss`` and
    ``_ste`` on inputs it checked once: a finiteness check is a device sync per layer and step)."""
    check_tensor(weight, "weight", floating=True)
    check_tensor(levels, "levels", ndim=(1, 2), floating=True)
    n = weight.numel()
    if levels.ndim == 2 and levels.shape[0] != n:
        raise ValueError(f"levels must be (L,) or (n_weights={n}, L); got {tuple(levels.shape)}")
    if valid is not None and (not isinstance(valid, torch.Tensor) or valid.dtype != torch.bool
                              or tuple(valid.shape) != (n, levels.shape[-1])):
        raise ValueError(f"valid must be a bool tensor of shape ({n}, {levels.shape[-1]}); got "
                         f"{getattr(valid, 'dtype', type(valid).__name__)} {tuple(getattr(valid, 'shape', ()))}")


def nearest_level(weight: torch.Tensor, levels: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Index of the nearest (valid) level of every weight, shape ``(n,)`` (flattened weight order)."""
    _check_levels(weight, levels, valid)
    return _nearest(weight, levels, valid)


def _nearest(weight, levels, valid=None):
    with torch.no_grad():
        return _distances(weight.detach(), levels.detach(), valid).argmin(dim=1)


def regularization_loss(weight: torch.Tensor, levels: torch.Tensor, alpha: float,
                        valid: torch.Tensor | None = None) -> torch.Tensor:
    """``alpha * sum_i min_q (val_iq |w_i - l_q|^2 + (1 - val_iq) Delta)`` for one layer (Eqs. 6 and 11).

    Args:
        weight: the layer's float weight (any shape; gradients flow to it), finite.
        levels: ``(L,)`` levels of the layer, or ``(n, L)`` levels per weight (variability); gradients flow
            to the quantizer parameters behind them.
        alpha: the layer's scale (:func:`layer_alpha`), a finite number >= 0.
        valid: optional ``(n, L)`` bool mask of reachable levels (stuck-at faults).
    """
    _check_levels(weight, levels, valid)
    alpha = check_number(alpha, "alpha", 0)
    return _loss(weight, levels, alpha, valid)


def _loss(weight, levels, alpha, valid=None):
    return alpha * _distances(weight, levels, valid).min(dim=1).values.sum()


def ste_quantize(weight: torch.Tensor, levels: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Forward: every weight at its nearest (valid) level; backward: gradient 1 to the weight (straight-
    through) and, through the chosen level, to the quantizer's multipliers and offset (variant 2)."""
    _check_levels(weight, levels, valid)
    return _ste(weight, levels, valid)


def _ste(weight, levels, valid=None):
    index = _nearest(weight, levels, valid)
    if levels.ndim == 1:
        # a one-hot product rather than levels[index]: the backward of indexing accumulates into the levels
        # with atomic adds, whose order (and so the float sum) changes from run to run on several threads
        chosen = nn.functional.one_hot(index, levels.shape[0]).to(levels.dtype) @ levels
    else:
        chosen = levels.gather(1, index.unsqueeze(1)).squeeze(1)  # one entry per row: no accumulation
    chosen = chosen.reshape(weight.shape)
    return chosen + (weight - weight.detach())


def lambda_schedule(progress: float, start: float, end: float, ramp: float) -> float:
    """The paper's lambda schedule: ``start`` for most of training, then raised exponentially to ``end``
    over the last ``ramp`` share of it.

    Args:
        progress: share of training done, in [0, 1].
        start, end: the two values, both > 0.
        ramp: share of training over which lambda rises, in [0, 1] (the paper, :data:`PAPER_RAMPS`: its last
            20 epochs, 0.1 of 200 for QAT on CIFAR-10; its last 10, 0.5 of a 20-epoch fine-tune); 0: lambda
            stays at ``start``.
    """
    progress = check_probability(progress, "progress")
    check_number(start, "start", 0, None, low_open=True)
    check_number(end, "end", 0, None, low_open=True)
    ramp = check_probability(ramp, "ramp")
    begin = 1 - ramp
    if ramp == 0 or progress <= begin:
        return float(start)
    return float(start * (end / start) ** ((progress - begin) / ramp))
