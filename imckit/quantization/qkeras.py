"""QKeras-style ``quantized_bits`` on torch tensors, integer codes and their storage words.

The kit follows ``quantized_bits`` of google/qkeras ``qkeras/quantizers.py`` (commit 4eedf1e, the version
with ``_get_least_squares_scale``) in the forward pass; the straight-through gradient is not needed here.
With ``m = 2**(bits - keep_negative)`` and ``m_i = 2**integer``:

``alpha=None`` (fixed-point grid)
    ``code = clip(round(x * m / m_i), lo, m - 1)`` with ``lo = -m + symmetric`` if ``keep_negative`` else
    ``0``; the weight is ``code * m_i / m``. ``round`` is round-half-to-even (``tf.round``, ``torch.round``).
``alpha="auto"`` (symmetric, one float scale per output channel)
    ``scale = 2 * max|x / m_i| / levels`` over each output channel, ``levels = 2 * (2**(bits-1) - 1)``;
    ``code = sign(x) * min(floor(|x / m_i| / scale + 0.5), levels / 2)``; the weight is ``m_i * scale * code``.
``alpha="auto_po2"`` (symmetric, a power-of-two scale per output channel)
    starts from ``scale = 2**round(log2(2 * max|x / m_i| / levels))`` and refines it five times: codes
    ``z`` as for ``"auto"``, then the least-squares power-of-two scale
    ``2**round(log2(mean(x z) / mean(z z)))``. As in QKeras, the returned codes are those of the last
    iteration and the scale is the one computed from them.
``alpha="midrise"`` (the kit's extension, not in QKeras: all ``2**bits`` codes, a scale per output channel)
    the levels are ``(k - (2**bits - 1) / 2) * scale`` for the words ``k = 0 .. 2**bits - 1``: symmetric
    around zero, without a zero level, and every word is used, so a 2-bit weight is one 4-state MLC cell
    (``"auto"`` forces a symmetric grid *with* zero, which leaves one of the ``2**bits`` words unused:
    a "2-bit" ``"auto"`` weight is ternary). The scale starts from the channel's largest magnitude on the
    top level, then is refined five times by least squares, ``scale = mean(x z) / mean(z z)`` for the
    current levels ``z`` (QKeras's ``_get_least_squares_scale``, without rounding to a power of two). The
    integer codes are the odd numbers ``2k - (2**bits - 1)`` with ``step = scale / 2``.

QKeras keeps the last axis of a Keras kernel (HWIO / IO: the output channel); PyTorch kernels are OIHW /
(out, in), so the per-channel scale here keeps axis 0. The chapter "Quantization and cell mapping" shows
the curves and checks against hand-computed QKeras outputs.

A :class:`QuantizedTensor` holds the integer codes and the step that turns them into weights. Its
*storage words* are the unsigned ``bits``-bit integers that memory cells hold: *offset binary*,
``word = code + 2**(bits-1)`` for signed codes (``word = code`` for unsigned ones), so the word grows
monotonically with the weight and a one-level error in any cell moves the weight by that cell's
significance, whatever the sign (see :mod:`imckit.memory.cells`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["QuantizedTensor", "QuantSpec", "quantize", "quantized_bits", "fake_quantize", "ALPHAS", "check_bits"]

ALPHAS = (None, "auto", "auto_po2", "midrise")
_EPS = 1e-7  # K.epsilon() in QKeras


def check_bits(bits, name: str = "bits") -> int:
    """Return ``bits`` if it is an integer in [1, 16], else raise a clear :class:`ValueError`."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 16:
        raise ValueError(f"{name} must be an integer in [1, 16]; got {bits!r}")
    return bits


@dataclass(frozen=True, eq=False)
class QuantizedTensor:
    """Integer codes of a quantized tensor and how to turn them back into values.

    Attributes:
        codes: int64 tensor, the integer level of each element.
        step: float tensor broadcastable to ``codes`` (a scalar, or one value per output channel): the
            value of one code unit, so the quantized values are ``codes * step``.
        bits: the word length.
        signed: whether codes can be negative (``keep_negative``).
        code_stride: codes are ``word * code_stride + code_offset`` for storage words 0 .. 2**bits - 1.
        code_offset: see ``code_stride``.
    """

    codes: torch.Tensor
    step: torch.Tensor
    bits: int
    signed: bool
    code_stride: int = 1
    code_offset: int = 0

    def dequantize(self) -> torch.Tensor:
        """The quantized values ``codes * step`` (float32)."""
        return (self.codes.to(torch.float32) * self.step).to(torch.float32)

    def to_words(self, codes: torch.Tensor | None = None) -> torch.Tensor:
        """Storage words (int64 in [0, 2**bits)) of ``codes`` (default: this tensor's codes)."""
        codes = self.codes if codes is None else codes
        return torch.div(codes - self.code_offset, self.code_stride, rounding_mode="floor")

    def from_words(self, words: torch.Tensor) -> torch.Tensor:
        """Codes of storage words (the inverse of :meth:`to_words`)."""
        return words * self.code_stride + self.code_offset

    def with_codes(self, codes: torch.Tensor) -> "QuantizedTensor":
        """The same quantizer with other codes (e.g. read back with errors); codes may carry leading
        repetition dimensions, against which ``step`` still broadcasts."""
        return QuantizedTensor(codes, self.step, self.bits, self.signed, self.code_stride, self.code_offset)


def _channel_reduce_dims(x: torch.Tensor, channel_axis: int | None) -> tuple[int, ...]:
    if channel_axis is None or x.ndim <= 1:
        return tuple(range(x.ndim))
    axis = channel_axis % x.ndim
    return tuple(d for d in range(x.ndim) if d != axis)


def _po2(value: torch.Tensor) -> torch.Tensor:
    return torch.pow(2.0, torch.round(torch.log2(value + _EPS)))


def quantize(
    x: torch.Tensor,
    bits: int = 8,
    integer: int = 0,
    symmetric: bool = False,
    keep_negative: bool = True,
    alpha: str | None = None,
    channel_axis: int | None = 0,
) -> QuantizedTensor:
    """Quantize ``x`` like QKeras ``quantized_bits`` and return its integer codes (see the module docstring).

    Args:
        x: the float tensor (weights: PyTorch layout, output channel first).
        bits: word length, 1 to 16 (the sign counts inside it when ``keep_negative``).
        integer: bits left of the binary point, excluding the sign (0 to ``bits``).
        symmetric: drop the most negative level so the grid is symmetric (``alpha=None`` only; the
            ``"auto"`` modes are always symmetric, as in QKeras).
        keep_negative: signed (True) or unsigned (False) codes.
        alpha: ``None``, ``"auto"``, ``"auto_po2"`` or ``"midrise"``.
        channel_axis: the axis that keeps its own scale in the ``"auto"`` modes (``None``: one scale).
    """
    check_bits(bits)
    if isinstance(integer, bool) or not isinstance(integer, int) or not 0 <= integer <= bits:
        raise ValueError(f"integer must be an integer in [0, bits={bits}]; got {integer!r}")
    if alpha not in ALPHAS:
        raise ValueError(f"alpha must be one of {ALPHAS}; got {alpha!r}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError("x must be a floating-point torch.Tensor")
    x = x.detach().to(torch.float32)
    m_i = 2.0**integer

    if alpha is None:
        unsigned_bits = bits - int(keep_negative)
        if unsigned_bits == 0:  # 1-bit signed: QKeras's sign quantizer, 0 -> +1, values +-1
            codes = torch.where(x >= 0, 1, -1).to(torch.int64)
            return QuantizedTensor(codes, torch.tensor(1.0), bits, True, code_stride=2, code_offset=-1)
        m = 2.0**unsigned_bits
        low = (-m + int(symmetric)) if keep_negative else 0.0
        codes = torch.clamp(torch.round(x * m / m_i), low, m - 1).to(torch.int64)
        offset = -(2 ** (bits - 1)) if keep_negative else 0
        return QuantizedTensor(codes, torch.tensor(m_i / m), bits, keep_negative, 1, offset)

    if alpha == "midrise":
        return _midrise(x / m_i, bits, channel_axis, m_i)
    if bits < 2:
        raise ValueError(f"alpha={alpha!r} needs bits >= 2 (a symmetric signed grid); got bits={bits}")
    dims = _channel_reduce_dims(x, channel_axis)
    xs = x / m_i
    levels = 2 * (2 ** (bits - 1) - 1)
    half = levels / 2

    def codes_for(scale: torch.Tensor) -> torch.Tensor:
        v = torch.floor(xs.abs() / scale + 0.5)
        return torch.sign(xs) * torch.where(v < half, v, torch.full_like(v, half))

    scale = xs.abs().amax(dim=dims, keepdim=True) * 2 / levels
    if alpha == "auto":
        z = codes_for(scale)
    else:
        scale = _po2(scale)
        for _ in range(5):
            z = codes_for(scale)
            qx = (xs * z).mean(dim=dims, keepdim=True)
            qq = (z * z).mean(dim=dims, keepdim=True)
            scale = _po2(qx / (qq + _EPS))
    step = (m_i * scale).to(torch.float32)
    return QuantizedTensor(z.to(torch.int64), step, bits, True, 1, -(2 ** (bits - 1)))


def _midrise(xs: torch.Tensor, bits: int, channel_axis: int | None, m_i: float) -> QuantizedTensor:
    """The ``"midrise"`` grid (module docstring): words ``k`` with levels ``(2k - top) * scale / 2``."""
    dims = _channel_reduce_dims(xs, channel_axis)
    top = 2**bits - 1

    def odd_codes(scale: torch.Tensor) -> torch.Tensor:
        words = torch.clamp(torch.floor(xs / scale + 2 ** (bits - 1)), 0, top)
        return 2 * words - top

    largest = xs.abs().amax(dim=dims, keepdim=True)
    scale = torch.where(largest > 0, 2 * largest / top, torch.ones_like(largest))
    for _ in range(5):
        z = odd_codes(scale) / 2  # levels in units of scale: +-1/2, +-3/2, ...
        fitted = (xs * z).mean(dim=dims, keepdim=True) / (z * z).mean(dim=dims, keepdim=True)
        scale = torch.where(fitted > 0, fitted, scale)
    codes = odd_codes(scale).to(torch.int64)
    return QuantizedTensor(codes, (m_i * scale / 2).to(torch.float32), bits, True, 2, -top)


def quantized_bits(
    x: torch.Tensor,
    bits: int = 8,
    integer: int = 0,
    symmetric: bool = False,
    keep_negative: bool = True,
    alpha: str | None = None,
    channel_axis: int | None = 0,
) -> torch.Tensor:
    """QKeras ``quantized_bits(bits, integer, symmetric, keep_negative, alpha)(x)`` (forward pass).

    >>> quantized_bits(torch.tensor([-1.2, -0.5, -0.06, 0.0, 0.06, 0.2, 0.49, 0.9]), bits=4).tolist()
    [-1.0, -0.5, 0.0, 0.0, 0.0, 0.25, 0.5, 0.875]
    """
    return quantize(x, bits, integer, symmetric, keep_negative, alpha, channel_axis).dequantize()



def fake_quantize(weight: torch.Tensor, bits: int, spec: "QuantSpec") -> torch.Tensor:
    """``weight`` on its ``bits``-bit grid in the forward pass, with QKeras's straight-through gradient:
    ``weight + stop_gradient(quantized - weight)`` (``quantized_bits.__call__`` in QKeras), so the gradient
    with respect to ``weight`` is the incoming gradient unchanged, also where the grid clips."""
    quantized = spec.apply(weight, bits).dequantize().to(device=weight.device, dtype=weight.dtype)
    if weight.dim() == 4 and weight.is_contiguous(memory_format=torch.channels_last):
        quantized = quantized.contiguous(memory_format=torch.channels_last)  # a mixed layout is slow on CPU
    return weight + (quantized - weight).detach()


@dataclass(frozen=True)
class QuantSpec:
    """How the kit quantizes weights (arguments of :func:`quantize` other than ``bits``).

    Attributes:
        alpha: ``None`` (fixed-point grid), ``"auto"`` or ``"auto_po2"`` (symmetric, per-output-channel
            scale, QKeras) or ``"midrise"`` (all ``2**bits`` words, per-output-channel least-squares scale;
            the FeFET chapters' grid since 0.3, so that a 2-bit weight fills one 4-state MLC cell). The
            default ``"auto"`` is the one QKeras mode that keeps a float-trained network's accuracy at 12, 8
            and 4 bits alike (chapter "Quantization and cell mapping").
        integer: integer bits (``alpha=None``: weights beyond +-2**integer are clipped).
        symmetric: symmetric grid (``alpha=None`` only; the other modes are symmetric).
    """

    alpha: str | None = "auto"
    integer: int = 0
    symmetric: bool = False

    def __post_init__(self):
        if self.alpha not in ALPHAS:
            raise ValueError(f"alpha must be one of {ALPHAS}; got {self.alpha!r}")
        if isinstance(self.integer, bool) or not isinstance(self.integer, int) or self.integer < 0:
            raise ValueError(f"integer must be an integer >= 0; got {self.integer!r}")

    def apply(self, weight: torch.Tensor, bits: int) -> QuantizedTensor:
        return quantize(weight, bits, self.integer, self.symmetric, True, self.alpha, channel_axis=0)
