"""Properties of error injection (Hypothesis, the conftest profile): any weights, grid, cell configuration and
stochastic devices give read-back codes of the right shape that are always valid codes of the word; error-free
devices change nothing, and cells on an error-free device keep their bits."""

import torch
from hypothesis import given
from hypothesis import strategies as st

from imckit.injection.errors import expected_changed_share, inject_cell_errors, is_error_free
from imckit.memory.cells import CellConfig
from imckit.memory.devices import SLC, TransitionMatrixDevice
from imckit.quantization.qkeras import ALPHAS, quantize


@st.composite
def quantized(draw):
    alpha = draw(st.sampled_from(ALPHAS))
    bits = draw(st.integers(2, 12))
    rows, cols = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    values = draw(st.lists(st.floats(-2.0, 2.0, allow_nan=False, width=32), min_size=rows * cols,
                           max_size=rows * cols))
    q = quantize(torch.tensor(values).reshape(rows, cols), bits, alpha=alpha)
    return q, CellConfig(bits, draw(st.integers(0, bits // 2)))


@st.composite
def devices(draw, n):
    rows = []
    for _ in range(n):
        row = draw(st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=n, max_size=n)
                   .filter(lambda r: sum(r) > 0.01))
        rows.append([v / sum(row) for v in row])
    return TransitionMatrixDevice(rows)


@given(quantized(), devices(4), devices(2), st.integers(1, 3), st.integers(0, 2**32))
def test_read_back_codes_keep_the_shape_and_stay_in_the_word(case, mlc, slc, repetitions, seed):
    q, config = case
    codes = inject_cell_errors(q, config, mlc, slc, repetitions, torch.Generator().manual_seed(seed))
    assert codes.shape == (repetitions, *q.codes.shape) and codes.dtype == torch.int64
    words = q.to_words(codes)  # raises unless every read-back value is a valid code of the word
    assert int(words.min()) >= 0 and int(words.max()) <= 2**q.bits - 1
    assert torch.isfinite(q.with_codes(codes).dequantize()).all()
    assert 0.0 <= expected_changed_share(q, config, mlc, slc) <= 1.0


@given(quantized(), st.integers(1, 3))
def test_error_free_devices_change_nothing(case, repetitions):
    q, config = case
    perfect = TransitionMatrixDevice(torch.eye(4).tolist())
    codes = inject_cell_errors(q, config, perfect, SLC(0.0), repetitions)
    assert torch.equal(codes, q.codes.expand_as(codes))
    assert is_error_free(config, perfect, SLC(0.0)) and expected_changed_share(q, config, perfect, SLC(0.0)) == 0.0


@given(quantized(), devices(2), st.integers(0, 2**32))
def test_cells_on_an_error_free_device_keep_their_bits(case, slc, seed):
    """With a perfect MLC device only the SLC bits (above the 2 * mlc_cells MLC bits) can change."""
    q, config = case
    perfect = TransitionMatrixDevice(torch.eye(4).tolist())
    codes = inject_cell_errors(q, config, perfect, slc, 2, torch.Generator().manual_seed(seed))
    low = (1 << (2 * config.mlc_cells)) - 1
    assert torch.equal(q.to_words(codes) & low, (q.to_words() & low).expand_as(codes))
