"""Property-based tests (Hypothesis, the bounded profile of tests/conftest.py) of imckit.qat's numeric core:
bit patterns, nearest levels and the straight-through quantizer, the lambda schedule, fault maps and the
levels faulty cells can store."""

import torch
from hypothesis import given
from hypothesis import strategies as st

from imckit.qat.faults import forced_level, map_to_levels, stuck_at_faults, validity_mask
from imckit.qat.quantizers import LevelQuantizer, bit_patterns, lambda_schedule, nearest_level, ste_quantize

unit = st.floats(0, 1, allow_nan=False)
positive = st.floats(1e-3, 1e3, allow_nan=False)


@given(bits=st.integers(1, 10))
def test_bit_pattern_k_is_k_in_binary(bits):
    patterns = bit_patterns(bits)
    assert patterns.shape == (2**bits, bits) and set(patterns.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(patterns @ 2.0 ** torch.arange(bits), torch.arange(2**bits, dtype=torch.float32))


@given(bits=st.integers(2, 6), kind=st.sampled_from(["fixed", "step", "multipliers"]), seed=st.integers(0, 2**31),
       n=st.integers(1, 40), scale=st.floats(1e-3, 1e2))
def test_quantized_weights_sit_on_the_nearest_of_the_layers_levels(bits, kind, seed, n, scale):
    w = torch.randn(n, generator=torch.Generator().manual_seed(seed)) * scale
    levels = LevelQuantizer(bits, kind, w).levels().detach()
    assert levels.shape == (2**bits,) and torch.isfinite(levels).all()
    index = nearest_level(w, levels)
    distance = (w.reshape(-1, 1) - levels).abs()
    assert torch.equal(distance.gather(1, index.unsqueeze(1)).squeeze(1), distance.min(1).values)
    q = ste_quantize(w, levels)
    assert q.shape == w.shape and torch.equal(q, levels[index].reshape(w.shape))


@given(p=unit, q=unit, start=positive, end=positive, ramp=unit)
def test_lambda_stays_between_start_and_end_and_moves_one_way(p, q, start, end, ramp):
    a, b = lambda_schedule(min(p, q), start, end, ramp), lambda_schedule(max(p, q), start, end, ramp)
    low, high = min(start, end) * (1 - 1e-12), max(start, end) * (1 + 1e-12)
    assert low <= a <= high and low <= b <= high
    assert (a <= b * (1 + 1e-12)) if end >= start else (a * (1 + 1e-12) >= b)


@given(n=st.integers(1, 200), bits=st.integers(1, 6), rate=unit, share=unit, seed=st.integers(0, 2**31))
def test_fault_maps_have_their_shape_and_stuck_values_only_where_stuck(n, bits, rate, share, seed):
    faults = stuck_at_faults(n, bits, rate, seed, sa1_share=share)
    assert faults.stuck.shape == faults.value.shape == (n, bits) and faults.rate == rate
    assert not faults.value[~faults.stuck].any()
    if rate == 0:
        assert not faults.stuck.any()
    if rate == 1:
        assert faults.stuck.all()


@given(n=st.integers(1, 60), bits=st.integers(1, 5), rate=unit, seed=st.integers(0, 2**31))
def test_faulty_cells_store_reachable_levels_and_reachable_levels_are_stored_as_written(n, bits, rate, seed):
    faults = stuck_at_faults(n, bits, rate, seed)
    valid = validity_mask(faults)
    assert valid.shape == (n, 2**bits) and valid.any(1).all()  # some level is always reachable
    written = torch.randint(0, 2**bits, (n,), generator=torch.Generator().manual_seed(seed))
    stored = forced_level(written, faults)
    assert ((stored >= 0) & (stored < 2**bits)).all() and valid[torch.arange(n), stored].all()
    assert torch.equal(stored[valid[torch.arange(n), written]], written[valid[torch.arange(n), written]])
    levels = torch.linspace(-1, 1, 2**bits)
    w = torch.randn(n, generator=torch.Generator().manual_seed(seed + 1))
    for mapping in ("nearest_valid", "naive"):
        values = map_to_levels(w, levels, faults, mapping)
        index = torch.searchsorted(levels, values)
        assert values.shape == w.shape and valid[torch.arange(n), index].all()
