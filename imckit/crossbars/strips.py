"""Strip-wise mixed precision and precision-coordinated computation (seed paper 001, Secs. 4.2 and 4.4).

Each strip-weight (:mod:`imckit.crossbars.hessian`) is stored at high precision (8 bits, on 8-bit crossbars) or low
precision (4 bits, on 4-bit crossbars). The convolution is computed as two parts, ``Z_q = W_q * A`` on
the high-precision crossbars and ``Z_p = W_p * A`` on the low-precision ones, and the low part is
expanded to the high part's format before they are summed: ``Z = Z_q + expand(Z_p)`` (the paper's
stepwise accumulation).

Grids (the kit's choice; the paper does not give them): per output channel, the low-precision grid is
QKeras' ``quantized_bits(low_bits, alpha="auto")`` grid of the whole filter (step ``max|w| / 7`` for 4 bits,
no clipping), and the high-precision grid is the same range divided ``2**(high_bits - low_bits)`` times
finer. The grids are aligned, so ``expand`` is an exact left shift of the low part's integer partial sums
by ``high_bits - low_bits`` bits, and the two parts accumulate in one integer format with one step per
output channel. (High-precision codes then span ``+-7 * 16 = +-112`` of the 8-bit ``+-127``.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from imckit.crossbars.hessian import strip_view
from imckit.quantization.qkeras import check_bits, quantize

__all__ = ["StripQuantized", "quantize_strips", "quantize_mixed", "coordinated_conv2d", "coordinated_linear", "mixed_weights",
           "coordinated_logits"]


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


def _expand_mask(high: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """A strip mask (N, K, K) / (N,) broadcast to the weight's shape (N, D, K, K) / (N, D)."""
    return high.unsqueeze(1).expand_as(weight)


def quantize_strips(weight: torch.Tensor, high: torch.Tensor, high_bits: int = 8, low_bits: int = 4) -> StripQuantized:
    """Quantize ``weight`` (a convolution's (N, D, K, K) or a dense (N, D)) with the strips marked in
    ``high`` at ``high_bits`` and the others at ``low_bits`` (see the module docstring for the grids)."""
    check_bits(high_bits)
    check_bits(low_bits)
    if not 2 <= low_bits < high_bits:
        raise ValueError(f"need 2 <= low_bits < high_bits; got low_bits={low_bits}, high_bits={high_bits}")
    if weight.ndim not in (2, 4):
        raise ValueError(f"weight must be a convolution (4-D) or dense (2-D) weight; got {weight.ndim}-D")
    strip_shape = tuple(strip_view(weight).shape[:-1])
    if not isinstance(high, torch.Tensor) or high.dtype != torch.bool or tuple(high.shape) != strip_shape:
        raise ValueError(f"high must be a bool tensor of the strip shape {strip_shape}; got "
                         f"{getattr(high, 'dtype', type(high))} {tuple(getattr(high, 'shape', ()))}")
    return quantize_mixed(weight, _expand_mask(high, weight), high_bits, low_bits, strip_mask=high)


def quantize_mixed(weight: torch.Tensor, high: torch.Tensor, high_bits: int = 8, low_bits: int = 4,
                   strip_mask: torch.Tensor | None = None) -> StripQuantized:
    """Quantize weight by weight: ``high`` is a bool tensor of the weight's shape (an unstructured, HAP-like
    assignment); same grids as :func:`quantize_strips`. ``strip_mask`` is only recorded."""
    check_bits(high_bits)
    check_bits(low_bits)
    if not 2 <= low_bits < high_bits:
        raise ValueError(f"need 2 <= low_bits < high_bits; got low_bits={low_bits}, high_bits={high_bits}")
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


def _per_channel(step: torch.Tensor, out_ndim: int) -> torch.Tensor:
    """Weight-shaped step (N, 1, ...) -> a scale for outputs laid out (B, N, ...)."""
    return step.reshape(1, -1, *([1] * (out_ndim - 2)))


def coordinated_conv2d(x: torch.Tensor, sq: StripQuantized, bias: torch.Tensor | None = None, stride=1, padding=0):
    """A convolution computed as its high-precision part plus its expanded low-precision part:
    ``(conv(x, high_codes) + conv(x, low_codes) << shift) * step + bias``."""
    F = nn.functional
    z_high = F.conv2d(x, sq.high_codes.to(x.dtype), None, stride, padding)
    z_low = F.conv2d(x, sq.low_codes.to(x.dtype), None, stride, padding)
    z = (z_high + z_low * 2**sq.shift) * _per_channel(sq.step, z_high.ndim).to(x.dtype)
    return z if bias is None else z + bias.reshape(1, -1, 1, 1)


def coordinated_linear(x: torch.Tensor, sq: StripQuantized, bias: torch.Tensor | None = None):
    """A dense layer computed as its high part plus its expanded low part (see :func:`coordinated_conv2d`)."""
    F = nn.functional
    z = (F.linear(x, sq.high_codes.to(x.dtype)) + F.linear(x, sq.low_codes.to(x.dtype)) * 2**sq.shift) \
        * sq.step.reshape(1, -1).to(x.dtype)
    return z if bias is None else z + bias


def mixed_weights(model: nn.Module, assignment: dict[str, torch.Tensor], high_bits: int = 8,
                  low_bits: int = 4) -> dict[str, torch.Tensor]:
    """Mixed-precision weights for evaluation: module -> dequantized weight (e.g. a weight set of
    :class:`imckit.injection.errors.PerturbedEvaluator`)."""
    return {m: quantize_strips(model.get_submodule(m).weight, high, high_bits, low_bits).dequantize()
            for m, high in assignment.items()}


@torch.no_grad()
def coordinated_logits(model: nn.Module, quantized: dict[str, StripQuantized], inputs: torch.Tensor) -> torch.Tensor:
    """The network's outputs (eval mode) with every module of ``quantized`` computed precision-coordinated
    (:func:`coordinated_conv2d` / :func:`coordinated_linear`: high part plus expanded low part) instead of
    by its own weight. Equal, up to float rounding, to the model with the dequantized mixed weights."""
    hooks = []
    for name, sq in quantized.items():
        module = model.get_submodule(name)
        if isinstance(module, nn.Conv2d):
            if module.groups != 1 or module.dilation not in (1, (1, 1)) or module.padding_mode != "zeros" \
                    or isinstance(module.padding, str):
                raise ValueError(f"module {name!r}: coordinated convolution supports groups=1, dilation=1 and "
                                 "numeric zero padding only")

            def run(m, args, _, sq=sq):
                return coordinated_conv2d(args[0], sq, m.bias, m.stride, m.padding)
        elif isinstance(module, nn.Linear):
            def run(m, args, _, sq=sq):
                return coordinated_linear(args[0], sq, m.bias)
        else:
            raise ValueError(f"module {name!r} is a {type(module).__name__}; expected Conv2d or Linear")
        if tuple(sq.dequantize().shape) != tuple(module.weight.shape):
            raise ValueError(f"quantized[{name!r}] has shape {tuple(sq.dequantize().shape)}; the weight has "
                             f"{tuple(module.weight.shape)}")
        hooks.append(module.register_forward_hook(run))
    was_training = model.training
    try:
        model.eval()
        return model(inputs)
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
