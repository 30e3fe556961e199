import pytest
import torch

from imckit.qat.quantizers import bit_patterns
from imckit.qat.variability import layer_lrs_multipliers, lrs_multipliers, realized_weights, weight_levels


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def test_multipliers_statistics_and_seed():
    var = lrs_multipliers(50_000, 4, 0.2, _g(0))
    assert abs(float(var.mean()) - 1) < 0.01 and abs(float(var.std()) - 0.2) < 0.01 and (var >= 0).all()
    assert torch.equal(var, lrs_multipliers(50_000, 4, 0.2, _g(0)))
    assert torch.equal(lrs_multipliers(10, 3, 0.0, _g(1)), torch.ones(10, 3))
    assert (lrs_multipliers(10_000, 3, 1.0, _g(2)) >= 0).all()


def test_weight_levels_by_hand():
    m = torch.tensor([1.0, 2.0])
    c = torch.tensor(-1.5)
    var = torch.tensor([[1.0, 1.0], [0.5, 2.0]])
    levels = weight_levels(m, c, var)
    assert levels.tolist() == [[-1.5, -0.5, 0.5, 1.5], [-1.5, -1.0, 2.5, 3.0]]
    # ideal mapping picks pattern 2 (nearest ideal level 0.5) for w = 0.6; aware mapping picks what is nearest here
    w = torch.tensor([0.6, 0.6])
    assert realized_weights(w, m, c, var, aware=False).tolist() == [0.5, 2.5]
    assert realized_weights(w, m, c, var, aware=True).tolist() == [0.5, -1.0]
    # without variability both mappings are plain quantization
    ones = torch.ones(2, 2)
    assert torch.equal(realized_weights(w, m, c, ones, True), realized_weights(w, m, c, ones, False))
    assert torch.equal(weight_levels(m, c, ones)[0], bit_patterns(2) @ m + c)


@pytest.mark.parametrize("value", [-0.1, 1.5, True, float("nan")])
def test_bad_sigma(value):
    with pytest.raises((ValueError, TypeError), match=r"^sigma_over_mu must be a finite number in \[0, 1\]"):
        lrs_multipliers(10, 4, value, _g())


def test_layer_multipliers_draw_module_after_module():
    chip = layer_lrs_multipliers({"a": 20, "b": 7}, 3, 0.3, _g(5))
    g = _g(5)
    assert torch.equal(chip["a"], lrs_multipliers(20, 3, 0.3, g)) and torch.equal(chip["b"], lrs_multipliers(7, 3, 0.3, g))
    with pytest.raises(ValueError, match="sizes must be a non-empty mapping"):
        layer_lrs_multipliers({}, 3, 0.3, _g())


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_chips_and_levels_are_the_same_on_every_device(device):
    reference = lrs_multipliers(200, 4, 0.2, _g(9))
    var = lrs_multipliers(200, 4, 0.2, _g(9), device=device)
    assert torch.equal(var.cpu(), reference)
    m, c = torch.tensor([0.1, 0.2, 0.4, 0.8]), torch.tensor(-0.8)
    w = torch.randn(200, generator=_g(1))
    target = var.device
    for aware in (True, False):
        got = realized_weights(w.to(target), m.to(target), c.to(target), var, aware)
        assert torch.equal(got.cpu(), realized_weights(w, m, c, reference, aware))
    assert bit_patterns(3, device).device == target
    with pytest.raises(ValueError, match="device must be one of"):
        lrs_multipliers(10, 4, 0.2, _g(), device="tpu")
