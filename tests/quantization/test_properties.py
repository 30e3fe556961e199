"""Properties of quantize/dequantize (Hypothesis, the conftest profile: 60 derandomized examples each): for
every bit width and grid the codes are words of the width, words and codes round-trip, the values are the codes
times the step, the error stays within half a step where the grid covers the value, and bad tensors or axes
are errors."""

import math

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from imckit.quantization.qkeras import ALPHAS, quantize

# weights of realistic size: float32 values below 1e-6 become 0 (subnormal scales lose the precision that
# the half-a-step bounds below assume; such a channel is quantized, less exactly, but not tested here)
FINITE = st.floats(-8.0, 8.0, allow_nan=False, allow_infinity=False, width=32).map(
    lambda v: 0.0 if abs(v) < 1e-6 else v)


@st.composite
def tensors(draw, max_rows=3, max_cols=5):
    rows, cols = draw(st.integers(1, max_rows)), draw(st.integers(1, max_cols))
    values = draw(st.lists(FINITE, min_size=rows * cols, max_size=rows * cols))
    return torch.tensor(values, dtype=torch.float32).reshape(rows, cols)


@st.composite
def settings_(draw):
    alpha = draw(st.sampled_from(ALPHAS))
    bits = draw(st.integers(2 if alpha in ("auto", "auto_po2") else 1, 16))
    integer = draw(st.integers(0, min(bits, 3)))
    keep_negative = True if alpha is not None else draw(st.booleans())
    symmetric = draw(st.booleans())
    return dict(bits=bits, integer=integer, alpha=alpha, keep_negative=keep_negative, symmetric=symmetric)


@given(tensors(), settings_())
def test_codes_are_words_of_the_width_and_round_trip(x, kwargs):
    q = quantize(x, **kwargs)
    words = q.to_words()
    assert q.codes.shape == x.shape and q.codes.dtype == torch.int64
    assert int(words.min()) >= 0 and int(words.max()) <= 2 ** kwargs["bits"] - 1
    assert torch.equal(q.from_words(words), q.codes)
    assert torch.equal(q.to_words(q.from_words(words)), words)
    values = q.dequantize()
    assert torch.isfinite(values).all() and torch.isfinite(q.step).all() and bool((q.step >= 0).all())
    assert torch.equal(values, (q.codes.to(torch.float32) * q.step).to(torch.float32))
    assert torch.equal(q.with_codes(q.codes).dequantize(), values)


@given(tensors(), st.integers(1, 16), st.integers(0, 3), st.booleans(), st.booleans())
def test_fixed_point_grid_error_is_half_a_step_inside_its_range(x, bits, integer, symmetric, keep_negative):
    assume(bits - int(keep_negative) >= 1)  # the 1-bit signed grid is the sign, tested below
    integer = min(integer, bits)
    q = quantize(x, bits, integer, symmetric, keep_negative)
    step = float(q.step)
    top = (2 ** (bits - int(keep_negative)) - 1) * step
    bottom = (-(2 ** (bits - 1)) + int(symmetric)) * step if keep_negative else 0.0
    inside = (x >= bottom) & (x <= top)
    error = (q.dequantize() - x).abs()
    assert bool((error[inside] <= step / 2 + 1e-6 * x.abs()[inside]).all())
    assert bool((q.dequantize() <= top).all()) and bool((q.dequantize() >= bottom).all())  # clipped outside
    again = quantize(q.dequantize(), bits, integer, symmetric, keep_negative)
    assert torch.equal(again.codes, q.codes)  # a value on the grid stays where it is


@given(tensors())
def test_one_bit_signed_is_the_sign(x):
    q = quantize(x, 1)
    assert torch.equal(q.dequantize(), torch.where(x >= 0, 1.0, -1.0))


@given(tensors(), st.integers(2, 16), st.integers(0, 3))
def test_auto_grid_is_symmetric_per_channel_and_within_half_a_step(x, bits, integer):
    integer = min(integer, bits)
    q = quantize(x, bits, integer, alpha="auto")
    half = 2 ** (bits - 1) - 1
    assert int(q.codes.abs().max()) <= half
    assert q.step.shape == (x.shape[0], 1)
    error = (q.dequantize() - x).abs()
    assert bool((error <= q.step / 2 * (1 + 1e-5) + 1e-6 * x.abs()).all())
    assert torch.equal(quantize(-x, bits, integer, alpha="auto").codes, -q.codes)
    for row in range(x.shape[0]):  # each output channel is quantized on its own
        alone = quantize(x[row : row + 1], bits, integer, alpha="auto")
        assert torch.equal(alone.codes[0], q.codes[row])


@given(tensors(), st.integers(1, 16))
def test_midrise_uses_odd_codes_and_auto_po2_power_of_two_steps(x, bits):
    mid = quantize(x, bits, alpha="midrise")
    assert bool((mid.codes % 2 != 0).all()) and int(mid.codes.abs().max()) <= 2**bits - 1
    if bits >= 2:
        po2 = quantize(x, bits, alpha="auto_po2")
        exponents = torch.log2(po2.step)
        assert torch.equal(exponents, exponents.round())


@given(tensors(), st.sampled_from(ALPHAS), st.sampled_from([math.nan, math.inf, -math.inf]), st.data())
def test_any_non_finite_value_is_an_error(x, alpha, bad, data):
    row = data.draw(st.integers(0, x.shape[0] - 1))
    col = data.draw(st.integers(0, x.shape[1] - 1))
    x = x.clone()
    x[row, col] = bad
    with pytest.raises(ValueError, match=r"^x must be a tensor of finite values"):
        quantize(x, 4, alpha=alpha)


@given(tensors(), st.sampled_from(ALPHAS[1:]), st.integers(-6, 6))
def test_channel_axis_is_an_axis_or_an_error(x, alpha, axis):
    if -2 <= axis <= 1:
        q = quantize(x, 4, alpha=alpha, channel_axis=axis)
        assert q.step.shape[axis] == x.shape[axis]
    else:
        with pytest.raises(ValueError, match=r"^channel_axis must be an integer in \[-2, 1\]"):
            quantize(x, 4, alpha=alpha, channel_axis=axis)
