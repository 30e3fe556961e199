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

import math
from dataclasses import dataclass

import torch

from imckit.core.validate import check_bool, check_choice, check_finite, check_int, check_tensor

__all__ = ["QuantizedTensor", "QuantSpec", "quantize", "quantized_bits", "fake_quantize", "ALPHAS", "check_bits",
           "check_channel_axis"]

ALPHAS = (None, "auto", "auto_po2", "midrise")
_EPS = 1e-7  # K.epsilon() in QKeras
# Largest |x / 2**integer| the scaled modes take: their scales (2 * max / levels) and least-squares sums
# (x * code, codes up to 2**16) then stay far inside float32, whose overflow would give inf or 0 steps.
_MAX_SCALED = 2.0**100


def check_bits(bits, name: str = "bits") -> int:
    """``bits`` as an ``int`` if it is an integer in [1, 16] (:func:`imckit.core.validate.check_int`: a
    :class:`ValueError` out of range, a :class:`TypeError` for a float, a bool or a string)."""
    return check_int(bits, name, 1, 16)


def check_channel_axis(channel_axis, ndim: int, name: str = "channel_axis") -> int | None:
    """``channel_axis`` as a non-negative axis of a tensor of ``ndim`` dimensions, or ``None``.

    Negative axes count from the end, as in torch (``-1``: the last axis), so the allowed range is
    ``[-ndim, ndim - 1]``; a tensor of 0 or 1 dimensions is one channel, for which ``0`` and ``-1`` are
    accepted. An axis outside the range is an error, never wrapped around.
    """
    if channel_axis is None:
        return None
    size = max(ndim, 1)
    return check_int(channel_axis, name, -size, size - 1) % size


def _check_words_or_codes(self: "QuantizedTensor", values, name: str, kind: str) -> torch.Tensor:
    """``values`` when it is an integer tensor of valid ``kind`` (``"words"`` or ``"codes"``) of ``self``."""
    values = check_tensor(values, name, nonempty=False)
    if values.is_floating_point() or values.is_complex() or values.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor; got dtype {values.dtype}")
    if values.numel() == 0:
        return values
    top = 2**self.bits - 1
    low, high = (0, top) if kind == "words" else (self.code_offset, top * self.code_stride + self.code_offset)
    smallest, largest = (int(v) for v in torch.aminmax(values))
    if smallest < low or largest > high:
        raise ValueError(f"{name} must hold {self.bits}-bit {kind} in [{low}, {high}]; "
                         f"got {smallest if smallest < low else largest}")
    if kind == "codes" and self.code_stride != 1:
        off_grid = torch.remainder(values - self.code_offset, self.code_stride) != 0
        if bool(off_grid.any()):
            raise ValueError(f"{name} must be codes word * {self.code_stride} + {self.code_offset} of "
                             f"{self.bits}-bit words; got {int(values[off_grid][0])}")
    return values


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

    def __post_init__(self):
        object.__setattr__(self, "bits", check_bits(self.bits))
        object.__setattr__(self, "signed", check_bool(self.signed, "signed"))
        object.__setattr__(self, "code_stride", check_int(self.code_stride, "code_stride", 1))
        object.__setattr__(self, "code_offset", check_int(self.code_offset, "code_offset"))
        step = check_tensor(self.step, "step", floating=True)
        if bool((step < 0).any()):
            raise ValueError(f"step must be a tensor of values >= 0; got {float(step.min())!r}")
        _check_words_or_codes(self, self.codes, "codes", "codes")
        _check_broadcast(step, self.codes)

    def dequantize(self) -> torch.Tensor:
        """The quantized values ``codes * step`` (float32)."""
        return (self.codes.to(torch.float32) * self.step).to(torch.float32)

    def to_words(self, codes: torch.Tensor | None = None) -> torch.Tensor:
        """Storage words (int64 in [0, 2**bits)) of ``codes`` (default: this tensor's codes; others must be
        valid codes of this quantizer: integers ``word * code_stride + code_offset``)."""
        codes = self.codes if codes is None else _check_words_or_codes(self, codes, "codes", "codes")
        return torch.div(codes - self.code_offset, self.code_stride, rounding_mode="floor")

    def from_words(self, words: torch.Tensor) -> torch.Tensor:
        """Codes of storage words (the inverse of :meth:`to_words`): integers in [0, 2**bits)."""
        _check_words_or_codes(self, words, "words", "words")
        return words * self.code_stride + self.code_offset

    def with_codes(self, codes: torch.Tensor) -> "QuantizedTensor":
        """The same quantizer with other codes (e.g. read back with errors); codes may carry leading
        repetition dimensions, against which ``step`` still broadcasts. The codes must be valid codes of
        this quantizer (integers ``word * code_stride + code_offset`` of ``bits``-bit words)."""
        codes = _check_words_or_codes(self, codes, "codes", "codes")
        _check_broadcast(self.step, codes)
        return _trusted(codes, self.step, self.bits, self.signed, self.code_stride, self.code_offset)


def _check_broadcast(step: torch.Tensor, codes: torch.Tensor) -> None:
    try:
        shape = torch.broadcast_shapes(step.shape, codes.shape)
    except RuntimeError:
        shape = None
    if shape != codes.shape:
        raise ValueError(f"step must broadcast to the shape of codes {tuple(codes.shape)}; "
                         f"got shape {tuple(step.shape)}")


def _trusted(codes, step, bits, signed, code_stride=1, code_offset=0) -> QuantizedTensor:
    """A :class:`QuantizedTensor` built by this module from parts that are valid by construction (the
    quantizer's own codes and step), without the checks of ``__post_init__``, which would double the cost
    of :func:`fake_quantize` in every training step."""
    q = object.__new__(QuantizedTensor)
    for name, value in (("codes", codes), ("step", step), ("bits", bits), ("signed", signed),
                        ("code_stride", code_stride), ("code_offset", code_offset)):
        object.__setattr__(q, name, value)
    return q


def _channel_reduce_dims(x: torch.Tensor, channel_axis: int | None) -> tuple[int, ...]:
    if channel_axis is None or x.ndim <= 1:
        return tuple(range(x.ndim))
    axis = channel_axis  # already checked and made non-negative (check_channel_axis)
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
        x: the float tensor (weights: PyTorch layout, output channel first); finite and not empty.
        bits: word length, 1 to 16 (the sign counts inside it when ``keep_negative``).
        integer: bits left of the binary point, excluding the sign (0 to ``bits``).
        symmetric: drop the most negative level so the grid is symmetric (``alpha=None`` only; the
            ``"auto"`` modes are always symmetric, as in QKeras).
        keep_negative: signed (True) or unsigned (False) codes. Unsigned codes exist for ``alpha=None``
            only: the scaled modes are symmetric grids around zero, so ``keep_negative=False`` with an
            ``alpha`` is an error (QKeras ignores it there silently).
        alpha: ``None``, ``"auto"``, ``"auto_po2"`` or ``"midrise"``.
        channel_axis: the axis that keeps its own scale in the scaled modes (``None``: one scale for the
            whole tensor). An integer in ``[-x.ndim, x.ndim - 1]``, negative axes counting from the end as
            in torch; any other value is an error (never wrapped around). A tensor of fewer than two
            dimensions has one scale (axis ``0`` or ``-1``).

    Raises:
        ValueError: ``x`` holds NaN or infinite values (or, for the scaled modes, magnitudes of
            ``2**100 * 2**integer`` or more, whose scale would overflow float32), or an argument is out of
            its range; the message names the argument. TypeError: an argument of the wrong kind.
    """
    return _quantize(x, bits, integer, symmetric, keep_negative, alpha, channel_axis, "x")


def _quantize(x, bits, integer, symmetric, keep_negative, alpha, channel_axis, name: str,
              checked: bool = True) -> QuantizedTensor:
    """:func:`quantize`; ``checked=False`` skips the pass over the values (finite, below the scaled grids'
    limit), whose ``float()`` would make the CPU wait for a GPU at every training step (:func:`fake_quantize`:
    its weights are checked where training starts)."""
    bits = check_bits(bits)
    integer = check_int(integer, "integer", 0, bits)
    check_choice(alpha, "alpha", ALPHAS)
    symmetric = check_bool(symmetric, "symmetric")
    keep_negative = check_bool(keep_negative, "keep_negative")
    x = check_tensor(x, name, floating=True, finite=False)
    channel_axis = check_channel_axis(channel_axis, x.ndim)
    if alpha is not None and not keep_negative:
        raise ValueError(f"keep_negative must be True for alpha={alpha!r} (a symmetric grid around zero; "
                         f"unsigned codes need alpha=None); got False")
    if alpha is not None and bits < 2 and alpha != "midrise":
        raise ValueError(f"bits must be >= 2 for alpha={alpha!r} (a symmetric signed grid; it needs bits >= 2); "
                         f"got {bits}")
    x = x.detach().to(torch.float32)
    m_i = 2.0**integer
    largest = float(x.abs().max()) / m_i if checked else 0.0  # NaN/inf if any value is: finiteness and range
    if not math.isfinite(largest):
        check_finite(x, name)
    if alpha is not None:
        if not largest < _MAX_SCALED:
            raise ValueError(f"{name} must have magnitudes below 2**100 * 2**integer = {_MAX_SCALED * m_i:.3g} "
                             f"for alpha={alpha!r} (its scale would overflow float32); got {largest * m_i:.3g}")

    if alpha is None:
        unsigned_bits = bits - int(keep_negative)
        if unsigned_bits == 0:  # 1-bit signed: QKeras's sign quantizer, 0 -> +1, values +-1
            codes = torch.where(x >= 0, 1, -1).to(torch.int64)
            return _trusted(codes, torch.tensor(1.0), bits, True, code_stride=2, code_offset=-1)
        m = 2.0**unsigned_bits
        low = (-m + int(symmetric)) if keep_negative else 0.0
        codes = torch.clamp(torch.round(x * m / m_i), low, m - 1).to(torch.int64)
        offset = -(2 ** (bits - 1)) if keep_negative else 0
        return _trusted(codes, torch.tensor(m_i / m), bits, keep_negative, 1, offset)

    if alpha == "midrise":
        return _midrise(x / m_i, bits, channel_axis, m_i)
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
    return _trusted(z.to(torch.int64), step, bits, True, 1, -(2 ** (bits - 1)))


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
    return _trusted(codes, (m_i * scale / 2).to(torch.float32), bits, True, 2, -top)


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
    with respect to ``weight`` is the incoming gradient unchanged, also where the grid clips. The values of
    ``weight`` are not checked here (a training step; see :func:`_quantize`): check them where training
    starts, as :func:`imckit.quantization.aware.train_aware` does."""
    if not isinstance(spec, QuantSpec):
        raise TypeError(f"spec must be a QuantSpec; got {type(spec).__name__}")
    check_bits(bits)
    quantized = _quantize(weight, bits, spec.integer, spec.symmetric, True, spec.alpha, 0, "weight", checked=False)
    quantized = quantized.dequantize().to(device=weight.device, dtype=weight.dtype)
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
        check_choice(self.alpha, "alpha", ALPHAS)
        object.__setattr__(self, "integer", check_int(self.integer, "integer", 0, 16))
        check_bool(self.symmetric, "symmetric")

    def apply(self, weight: torch.Tensor, bits: int, name: str = "weight") -> QuantizedTensor:
        """:func:`quantize` ``weight`` to ``bits`` with this spec (one scale per output channel, axis 0);
        ``name`` is the parameter the error messages name (e.g. ``"conv1.weight"``)."""
        if not isinstance(name, str):
            raise TypeError(f"name must be a string; got {type(name).__name__}")
        return _quantize(weight, bits, self.integer, self.symmetric, True, self.alpha, 0, name)
