"""Property-based tests (Hypothesis, the bounded profile of tests/conftest.py) of imckit.crossbars' numeric
core: two-precision strips (split into a high and a low part, merged back), assignments at a compression
ratio, the word-length checks and the crossbar mapping."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from imckit.crossbars.mapping import CrossbarSpec, map_strips
from imckit.crossbars.strips import (check_bit_pair, compression_ratio, quantize_mixed, quantize_strips,
                                     random_strip_assignment, strip_assignment, strip_shape)

seeds = st.integers(0, 2**31)
bit_pairs = st.integers(3, 12).flatmap(lambda high: st.tuples(st.just(high), st.integers(2, high - 1)))
shapes = st.sampled_from([(3, 2, 3, 3), (4, 5, 1, 1), (2, 3), (5, 7), (1, 1)])


@given(shape=shapes, bits=bit_pairs, seed=seeds, share=st.floats(0, 1))
def test_a_mixed_weight_is_its_high_part_where_high_and_its_low_part_elsewhere(shape, bits, seed, share):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(*shape, generator=g)
    high = torch.rand(*shape, generator=g) < share
    high_bits, low_bits = bits
    mixed = quantize_mixed(w, high, high_bits, low_bits)
    all_high = quantize_mixed(w, torch.ones_like(high), high_bits, low_bits)
    all_low = quantize_mixed(w, torch.zeros_like(high), high_bits, low_bits)
    assert torch.equal(mixed.dequantize(), torch.where(high, all_high.dequantize(), all_low.dequantize()))
    assert not mixed.high_codes[~high].any() and not mixed.low_codes[high].any()
    assert int(mixed.high_codes.abs().max()) <= 2 ** (high_bits - 1) - 1
    # the high part is the finer grid: never farther from the weight than half its step
    assert ((all_high.dequantize() - w).abs() <= all_high.step / 2 * (1 + 1e-5) + 1e-7).all()


@given(shape=st.sampled_from([(3, 2, 3, 3), (5, 7)]), seed=seeds, share=st.floats(0, 1))
def test_strip_quantization_is_the_mixed_quantization_of_the_strip_mask(shape, seed, share):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(*shape, generator=g)
    high = torch.rand(strip_shape(w), generator=g) < share
    assert torch.equal(quantize_strips(w, high).dequantize(),
                       quantize_mixed(w, high.unsqueeze(1).expand_as(w)).dequantize())


@given(high_bits=st.integers(-2, 20), low_bits=st.integers(-2, 20))
def test_a_bit_pair_is_accepted_exactly_when_2_le_low_lt_high_le_16(high_bits, low_bits):
    if 3 <= high_bits <= 16 and 2 <= low_bits < high_bits:
        assert check_bit_pair(high_bits, low_bits) == (high_bits, low_bits)
    else:
        with pytest.raises(ValueError, match=r"^(high_bits|low_bits) must be an integer in"):
            check_bit_pair(high_bits, low_bits)


@given(sizes=st.lists(st.integers(1, 30), min_size=1, max_size=4), ratio=st.floats(0, 1), seed=seeds)
def test_assignments_put_the_asked_share_of_strips_at_low_precision(sizes, ratio, seed):
    g = torch.Generator().manual_seed(seed)
    scores = {str(k): torch.randperm(1000, generator=g)[:n].double() for k, n in enumerate(sizes)}
    total = sum(sizes)
    if len({float(v) for s in scores.values() for v in s}) < total:  # ties: the share is not exact
        return
    expected = round(ratio * total) / total
    assert compression_ratio(strip_assignment(scores, ratio)) == pytest.approx(expected)
    drawn = random_strip_assignment(scores, ratio, seed)
    assert compression_ratio(drawn) == pytest.approx(expected)
    assert all(drawn[m].shape == scores[m].shape for m in scores)


@given(rows=st.integers(1, 256), columns=st.integers(1, 256), cell_bits=st.integers(1, 8),
       count=st.integers(0, 5000), depth=st.integers(1, 1000), bits=st.integers(1, 16))
def test_strips_are_mapped_onto_the_fewest_crossbars_that_hold_them(rows, columns, cell_bits, count, depth, bits):
    spec = CrossbarSpec(rows, columns, cell_bits)
    if spec.columns_per_weight(bits) > columns:
        with pytest.raises(ValueError, match="needs"):
            map_strips(spec, count, depth, bits)
        return
    mapped = map_strips(spec, count, depth, bits)
    needed = count * mapped["segments"]
    assert mapped["crossbars"] * mapped["capacity"] >= needed > (mapped["crossbars"] - 1) * mapped["capacity"] \
        or needed == mapped["crossbars"] == 0
    assert mapped["used_cells"] <= mapped["cells"]
    assert mapped["crossbars"] == 0 or 0 < mapped["utilization"] <= 1
