"""Properties of cells and devices (Hypothesis, the conftest profile): slicing and assembling words are exact
inverses over the valid range and errors outside it; stochastic matrices are accepted as they are and any
row that does not sum to 1, any negative or NaN entry is rejected; reads stay among the device's states."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from imckit.memory.cells import CellConfig, assemble_words, slice_words
from imckit.memory.devices import bit_error_rate, sample_reads, validate_transition_matrix


@st.composite
def configs(draw):
    bits = draw(st.integers(1, 16))
    return CellConfig(bits, draw(st.integers(0, bits // 2)))


@st.composite
def config_and_words(draw):
    config = draw(configs())
    words = draw(st.lists(st.integers(0, 2**config.bits - 1), min_size=0, max_size=12))
    return config, torch.tensor(words, dtype=torch.int64)


@given(config_and_words())
def test_slice_then_assemble_is_the_identity(case):
    config, words = case
    cells = slice_words(words, config)
    assert cells.shape == (*words.shape, config.devices_per_weight)
    widths = torch.tensor([width for _, width in config.cells()])
    assert bool((cells >= 0).all()) and bool((cells < 2**widths).all())
    assert torch.equal(assemble_words(cells, config), words)


@given(configs(), st.data())
def test_assemble_then_slice_is_the_identity(config, data):
    n = data.draw(st.integers(1, 6))
    columns = [data.draw(st.lists(st.integers(0, 2**width - 1), min_size=n, max_size=n)) for _, width in config.cells()]
    cells = torch.tensor(columns, dtype=torch.int64).T
    words = assemble_words(cells, config)
    assert int(words.min()) >= 0 and int(words.max()) <= 2**config.bits - 1
    assert torch.equal(slice_words(words, config), cells)


@given(configs(), st.one_of(st.integers(-(2**40), -1), st.integers(1, 2**40)))
def test_words_outside_the_word_are_errors(config, offset):
    bad = offset if offset < 0 else 2**config.bits - 1 + offset
    with pytest.raises(ValueError, match=rf"^words must hold integers in \[0, {2 ** config.bits - 1}\]; got {bad}"):
        slice_words(torch.tensor([0, bad]), config)


@given(configs(), st.data())
def test_cells_outside_their_states_are_errors(config, data):
    k = data.draw(st.integers(0, config.devices_per_weight - 1))
    width = config.cells()[k][1]
    bad = data.draw(st.one_of(st.integers(-100, -1), st.integers(2**width, 2**width + 100)))
    cells = torch.zeros(2, config.devices_per_weight, dtype=torch.int64)
    cells[1, k] = bad
    with pytest.raises(ValueError, match=rf"^cells\[\.\.\., {k}\] must hold integers in \[0, {2 ** width - 1}\]"):
        assemble_words(cells, config)


@st.composite
def stochastic(draw, sizes=(2, 4, 8)):
    n = draw(st.sampled_from(sizes))
    rows = []
    for _ in range(n):
        row = draw(st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=n, max_size=n)
                   .filter(lambda r: sum(r) > 0.01))
        rows.append([v / sum(row) for v in row])
    return torch.tensor(rows, dtype=torch.float64)


@given(stochastic())
def test_stochastic_matrices_are_accepted_unchanged(matrix):
    checked = validate_transition_matrix(matrix)
    assert torch.equal(checked, matrix)
    assert 0.0 <= bit_error_rate(matrix) <= 1.0
    written = torch.arange(len(matrix)).repeat(3)
    read = sample_reads(matrix, written, torch.Generator().manual_seed(0))
    assert read.shape == written.shape and int(read.min()) >= 0 and int(read.max()) < len(matrix)


@given(stochastic(), st.data())
def test_rows_that_do_not_sum_to_one_are_rejected(matrix, data):
    row = data.draw(st.integers(0, len(matrix) - 1))
    factor = data.draw(st.one_of(st.floats(0.0, 0.999), st.floats(1.001, 5.0)))
    bad = matrix.clone()
    bad[row] *= factor
    with pytest.raises(ValueError, match=rf"^P rows must sum to 1 within 1e-6; row {row} sums to"):
        validate_transition_matrix(bad, "P")


@given(stochastic(), st.data(), st.sampled_from(["negative", "nan", "inf"]))
def test_negative_and_non_finite_entries_are_rejected(matrix, data, kind):
    i, j = (data.draw(st.integers(0, len(matrix) - 1)) for _ in range(2))
    bad = matrix.clone()
    bad[i, j] = {"negative": -data.draw(st.floats(1e-9, 1.0)), "nan": float("nan"), "inf": float("inf")}[kind]
    message = r"^P must have non-negative entries" if kind == "negative" else r"^P must be a tensor of finite values"
    with pytest.raises(ValueError, match=message):
        validate_transition_matrix(bad, "P")


@given(st.integers(1, 12).filter(lambda n: n & (n - 1) or n == 1))
def test_sizes_other_than_powers_of_two_are_rejected(n):
    with pytest.raises(ValueError, match=rf"^P must have a size that is a power of two >= 2 .*; got {n}"):
        validate_transition_matrix(torch.eye(n, dtype=torch.float64), "P")


@given(st.permutations(range(4)), st.lists(st.integers(0, 3), min_size=1, max_size=10))
def test_a_permutation_device_reads_the_permuted_state(permutation, written):
    matrix = torch.eye(4, dtype=torch.float64)[list(permutation)]
    read = sample_reads(matrix, torch.tensor(written), torch.Generator().manual_seed(1))
    assert read.tolist() == [permutation[w] for w in written]
