import pytest
import torch

from imckit.qat.faults import (FaultMap, faulty_weight_share, forced_level, layer_fault_maps, map_to_levels,
                               stuck_at_faults, validity_mask)
from imckit.qat.quantizers import nearest_level


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def test_fault_map_rate_and_seed():
    a = stuck_at_faults(20_000, 4, 0.1, _g(0))
    assert abs(float(a.stuck.float().mean()) - 0.1) < 0.01
    assert abs(float(a.value[a.stuck].float().mean()) - 0.5) < 0.03
    assert not a.value[~a.stuck].any()
    b, c = stuck_at_faults(20_000, 4, 0.1, _g(0)), stuck_at_faults(20_000, 4, 0.1, _g(1))
    assert torch.equal(a.stuck, b.stuck) and torch.equal(a.value, b.value) and not torch.equal(a.stuck, c.stuck)
    assert not stuck_at_faults(100, 3, 0.0, _g()).stuck.any() and stuck_at_faults(100, 3, 1.0, _g()).stuck.all()


def test_validity_by_hand():
    # weight 0: bit 1 stuck at 1 -> levels 2, 3 (binary 10, 11) only; weight 1: no fault
    faults = FaultMap(torch.tensor([[False, True], [False, False]]), torch.tensor([[False, True], [False, False]]), 0.5)
    assert validity_mask(faults).tolist() == [[False, False, True, True], [True, True, True, True]]
    # writing pattern 1 (01) into weight 0 stores 3 (11)
    assert forced_level(torch.tensor([1, 1]), faults).tolist() == [3, 1]


def test_with_all_levels_valid_nearest_valid_mapping_is_plain_quantization():
    levels = torch.linspace(-1, 1, 16)
    w = torch.randn(300, generator=_g(3))
    no_faults = stuck_at_faults(300, 4, 0.0, _g())
    plain = levels[nearest_level(w, levels)]
    for mapping in ("nearest_valid", "naive"):
        assert torch.equal(map_to_levels(w, levels, no_faults, mapping), plain)
    assert torch.equal(map_to_levels(w, levels, None), plain)


def test_with_stuck_bits_every_mapped_weight_is_reachable():
    levels = torch.linspace(-1, 1, 16)
    w = torch.randn(2000, generator=_g(4))
    faults = stuck_at_faults(2000, 4, 0.3, _g(5))
    valid = validity_mask(faults)
    for mapping in ("nearest_valid", "naive"):
        stored = map_to_levels(w, levels, faults, mapping)
        index = torch.searchsorted(levels, stored.contiguous())
        assert torch.allclose(levels[index], stored)
        assert valid[torch.arange(2000), index].all(), mapping
    # nearest valid is never farther from the float weight than naive mapping
    near = (map_to_levels(w, levels, faults, "nearest_valid") - w).abs()
    naive = (map_to_levels(w, levels, faults, "naive") - w).abs()
    assert (near <= naive + 1e-7).all() and (near < naive).any()


@pytest.mark.parametrize("call,message", [
    (lambda: stuck_at_faults(10, 4, 1.5, _g()), r"^rate must be a finite number in \[0.0, 1.0\]; got 1.5"),
    (lambda: stuck_at_faults(10, 4, -0.1, _g()), r"^rate must be"),
    (lambda: stuck_at_faults(10, 4, 0.1, _g(), sa1_share=2), r"^sa1_share must be a finite number in \[0.0, 1.0\]"),
    (lambda: stuck_at_faults(10, 4, 0.1, "3"), "^generator must be a torch.Generator or a seed"),
    (lambda: map_to_levels(torch.ones(3), torch.ones(16), None, "closest"), "mapping must be one of"),
    (lambda: map_to_levels(torch.ones(3), torch.ones(16), stuck_at_faults(4, 4, 0.1, _g())), "faults cover 4 weights"),
])
def test_bad_input(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_layer_fault_maps_draw_module_after_module_and_count_faulty_weights():
    sizes = {"a": 50, "b": 30}
    maps = layer_fault_maps(sizes, 3, 0.2, _g(7), sa1_share=0.25)
    g = _g(7)
    a, b = stuck_at_faults(50, 3, 0.2, g, 0.25), stuck_at_faults(30, 3, 0.2, g, 0.25)
    assert list(maps) == ["a", "b"]
    assert torch.equal(maps["a"].stuck, a.stuck) and torch.equal(maps["b"].value, b.value)
    faulty = int(a.faulty_weights().sum() + b.faulty_weights().sum())
    assert faulty_weight_share(maps) == faulty / 80
    by_hand = {"x": FaultMap(torch.tensor([[True, False], [False, False]]), torch.zeros(2, 2, dtype=torch.bool), 0.5),
               "y": FaultMap(torch.tensor([[False, True], [True, True]]), torch.zeros(2, 2, dtype=torch.bool), 0.5)}
    assert faulty_weight_share(by_hand) == 0.75
    with pytest.raises(ValueError, match="sizes must be a non-empty mapping"):
        layer_fault_maps({}, 3, 0.1, _g())
    with pytest.raises(ValueError, match="faults must be a non-empty mapping"):
        faulty_weight_share({})


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_fault_maps_are_the_same_on_every_device(device):
    reference = stuck_at_faults(500, 4, 0.2, _g(3))
    moved = stuck_at_faults(500, 4, 0.2, _g(3), device=device)
    assert torch.equal(moved.stuck.cpu(), reference.stuck) and torch.equal(moved.value.cpu(), reference.value)
    assert moved.to(device) is moved or torch.equal(moved.to(device).stuck.cpu(), reference.stuck)
    levels = torch.linspace(-1, 1, 16)
    w = torch.randn(500, generator=_g(4))
    for mapping in ("naive", "nearest_valid"):
        assert torch.equal(map_to_levels(w, levels, moved.to(device), mapping).cpu(),
                           map_to_levels(w, levels, reference, mapping))
    maps = layer_fault_maps({"a": 10}, 4, 0.2, _g(3), device=device)
    assert torch.equal(maps["a"].stuck.cpu(), stuck_at_faults(10, 4, 0.2, _g(3)).stuck)
    with pytest.raises(ValueError, match="device must be one of"):
        stuck_at_faults(10, 4, 0.2, _g(), device="tpu")
