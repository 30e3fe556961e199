import pytest
import torch
from torch import nn

from imckit.quantization.qkeras import quantize
from imckit.crossbars.strips import assignment_weights, coordinated_conv2d, coordinated_linear, quantize_strips


def _weight(shape=(6, 4, 3, 3), seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * 0.2


def test_coordinated_convolution_equals_the_direct_mixed_precision_convolution():
    w = _weight()
    high = torch.rand(6, 3, 3, generator=torch.Generator().manual_seed(1)) > 0.5
    sq = quantize_strips(w, high)
    x = torch.randn(5, 4, 9, 9, generator=torch.Generator().manual_seed(2))
    bias = torch.randn(6)
    direct = nn.functional.conv2d(x, sq.dequantize(), bias, 2, 1)
    assert torch.allclose(coordinated_conv2d(x, sq, bias, stride=2, padding=1), direct, atol=1e-5, rtol=1e-5)


def test_coordinated_linear_equals_direct():
    w = _weight((5, 7))
    high = torch.tensor([True, False, True, False, False])
    sq = quantize_strips(w, high)
    x = torch.randn(3, 7)
    assert torch.allclose(coordinated_linear(x, sq), nn.functional.linear(x, sq.dequantize()), atol=1e-5)


def test_grids_low_strips_are_qkeras_4_bit_and_high_strips_finer():
    w = _weight()
    all_low = quantize_strips(w, torch.zeros(6, 3, 3, dtype=torch.bool))
    assert torch.allclose(all_low.dequantize(), quantize(w, 4, alpha="auto").dequantize())
    all_high = quantize_strips(w, torch.ones(6, 3, 3, dtype=torch.bool))
    error_high = (all_high.dequantize() - w).abs().max()
    error_low = (all_low.dequantize() - w).abs().max()
    assert error_high <= error_low / 8 and int(all_high.high_codes.abs().max()) <= 127
    # a strip is one precision throughout: every weight of a low strip has high code 0
    high = torch.zeros(6, 3, 3, dtype=torch.bool)
    high[0, 1, 2] = True
    sq = quantize_strips(w, high)
    assert torch.count_nonzero(sq.high_codes[:, :, :, :]) == torch.count_nonzero(sq.high_codes[0, :, 1, 2])
    assert torch.all(sq.low_codes[0, :, 1, 2] == 0)


def test_assignment_weights_for_a_model():
    model = nn.Sequential(nn.Conv2d(2, 3, 3))
    weights = assignment_weights(model, {"0": torch.ones(3, 3, 3, dtype=torch.bool)})
    assert weights["0"].shape == model[0].weight.shape


@pytest.mark.parametrize("kwargs,message", [
    ({"high_bits": 4, "low_bits": 4}, r"^low_bits must be an integer in \[2, 3\]; got 4"),
    ({"high": torch.ones(6, 3, dtype=torch.bool)}, r"high must be a bool tensor of the strip shape \(6, 3, 3\)"),
    ({"high": torch.ones(6, 3, 3)}, "high must be a bool tensor"),
])
def test_bad_input(kwargs, message):
    args = {"weight": _weight(), "high": torch.ones(6, 3, 3, dtype=torch.bool), **kwargs}
    with pytest.raises(ValueError, match=message):
        quantize_strips(**args)


def test_weight_by_weight_assignment_uses_the_same_grids():
    from imckit.crossbars.strips import quantize_mixed

    w = _weight()
    high = torch.rand(w.shape, generator=torch.Generator().manual_seed(3)) > 0.5
    mixed = quantize_mixed(w, high)
    strips_all_high = quantize_strips(w, torch.ones(6, 3, 3, dtype=torch.bool)).dequantize()
    strips_all_low = quantize_strips(w, torch.zeros(6, 3, 3, dtype=torch.bool)).dequantize()
    assert torch.equal(mixed.dequantize(), torch.where(high, strips_all_high, strips_all_low))
    with pytest.raises(ValueError, match="bool tensor of the weight's shape"):
        quantize_mixed(w, high[0])


def test_coordinated_logits_equal_the_mixed_weight_network():
    from imckit.core.models import resnet8
    from imckit.crossbars.strips import coordinated_logits

    torch.manual_seed(0)
    model = resnet8(in_channels=1, num_classes=10).eval()
    g = torch.Generator().manual_seed(3)
    quantized = {}
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            w = module.weight.detach()
            strip_shape = (w.shape[0], *w.shape[2:]) if w.ndim == 4 else (w.shape[0],)
            quantized[name] = quantize_strips(w, torch.rand(strip_shape, generator=g) > 0.5)
    x = torch.randn(4, 1, 28, 28, generator=g)
    direct = torch.func.functional_call(model, {f"{n}.weight": q.dequantize() for n, q in quantized.items()}, (x,))
    coordinated = coordinated_logits(model, quantized, x)
    assert torch.allclose(coordinated, direct, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(coordinated, model(x), atol=1e-3)  # the quantized network differs from the float one
    with pytest.raises(ValueError, match="expected Conv2d or Linear"):
        coordinated_logits(model, {"stem.bn": next(iter(quantized.values()))}, x)


def test_model_on_device_never_moves_the_callers_model():
    from imckit.crossbars.strips import model_on_device

    model = nn.Sequential(nn.Conv2d(2, 3, 3))
    assert model_on_device(model, "cpu") is model
    moved = model_on_device(model, "auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert next(moved.parameters()).device.type == expected and next(model.parameters()).device.type == "cpu"
    assert (moved is model) == (expected == "cpu")
    with pytest.raises(ValueError, match="device must be one of"):
        model_on_device(model, "gpu0")


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_coordinated_logits_on_a_device_equal_the_cpu_ones(device):
    from imckit.crossbars.strips import coordinated_logits

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 16, 4)).eval()
    g = torch.Generator().manual_seed(1)
    quantized = {"0": quantize_strips(model[0].weight, torch.rand(3, 3, 3, generator=g) > 0.5),
                 "3": quantize_strips(model[3].weight, torch.rand(4, generator=g) > 0.5)}
    x = torch.randn(5, 2, 4, 4, generator=g)
    logits = coordinated_logits(model, quantized, x, device=device)
    assert logits.device.type == "cpu" and torch.equal(logits, coordinated_logits(model, quantized, x))
    assert quantized["0"].to(device).dequantize().cpu().equal(quantized["0"].dequantize())


def test_strip_shape_and_mask_kinds():
    from imckit.crossbars.strips import check_ratio, is_strip_mask, strip_shape

    w = _weight()
    assert strip_shape(w) == (6, 3, 3) and strip_shape(_weight((5, 7))) == (5,)
    assert is_strip_mask(torch.ones(6, 3, 3), w) and not is_strip_mask(torch.ones(6, 4, 3, 3), w)
    with pytest.raises(ValueError, match=r"^mask must have the strip shape \(6, 3, 3\) or the weight's shape"):
        is_strip_mask(torch.ones(6, 3), w)
    with pytest.raises(ValueError, match="^weight must have 2 or 4 dimensions"):
        strip_shape(torch.ones(2, 2, 2))
    with pytest.raises(ValueError, match=r"^share must be a finite number in \[0.0, 1.0\]"):
        check_ratio(1.2, "share")


def test_coordination_check_reports_agreement_and_difference(monkeypatch):
    from imckit.crossbars import strips
    from imckit.crossbars.strips import coordination_check

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 16, 4)).eval()
    g = torch.Generator().manual_seed(1)
    quantized = {"0": quantize_strips(model[0].weight, torch.rand(3, 3, 3, generator=g) > 0.5)}
    x = torch.randn(6, 2, 4, 4, generator=g)
    check = coordination_check(model, quantized, x)
    assert check["images"] == 6 and check["agreement"] == 1.0 and 0 <= check["difference"] < 1e-5
    # a coordinated convolution that forgets to expand the low part is caught
    monkeypatch.setattr(strips, "coordinated_conv2d", lambda x, sq, bias, stride, padding, aligned:
                        nn.functional.conv2d(x, (sq.high_codes + sq.low_codes).to(x.dtype) * sq.step, bias, stride,
                                             padding))
    assert coordination_check(model, quantized, x)["difference"] > 0.01


def test_unaligned_accumulation_adds_the_low_part_without_its_shift():
    w = _weight()
    high = torch.rand(6, 3, 3, generator=torch.Generator().manual_seed(1)) > 0.5
    sq = quantize_strips(w, high)
    x = torch.randn(2, 4, 7, 7, generator=torch.Generator().manual_seed(2))
    # the baseline by hand: both parts' integer codes summed in the high part's format, no shift
    by_hand = nn.functional.conv2d(x, (sq.high_codes + sq.low_codes).to(x.dtype) * sq.step, None, 1, 1)
    unaligned = coordinated_conv2d(x, sq, padding=1, aligned=False)
    assert torch.allclose(unaligned, by_hand, atol=1e-5)
    # its error is exactly the low strips' contribution shrunk 2**(8-4) = 16 times
    low_part = nn.functional.conv2d(x, (sq.low_codes << sq.shift).to(x.dtype) * sq.step, None, 1, 1)
    aligned = coordinated_conv2d(x, sq, padding=1)
    assert torch.allclose(aligned - unaligned, low_part * (1 - 1 / 16), atol=1e-5)
    # with every strip at high precision there is nothing to align
    all_high = quantize_strips(w, torch.ones(6, 3, 3, dtype=torch.bool))
    assert torch.equal(coordinated_conv2d(x, all_high, aligned=False), coordinated_conv2d(x, all_high))
    dense = quantize_strips(_weight((5, 7)), torch.tensor([True, False, True, False, False]))
    xd = torch.randn(3, 7)
    unaligned_weight = (dense.high_codes + dense.low_codes).float() * dense.step
    assert torch.allclose(coordinated_linear(xd, dense, aligned=False), nn.functional.linear(xd, unaligned_weight),
                          atol=1e-5)
    with pytest.raises(TypeError, match="^aligned must be True or False"):
        coordinated_conv2d(x, sq, aligned="no")


def test_accumulation_comparison_shows_the_unaligned_error():
    from imckit.core.models import resnet8
    from imckit.crossbars.strips import ACCUMULATIONS, accumulation_comparison

    torch.manual_seed(0)
    model = resnet8(in_channels=1, num_classes=10).eval()
    g = torch.Generator().manual_seed(3)
    quantized = {}
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            w = module.weight.detach()
            shape = (w.shape[0], *w.shape[2:]) if w.ndim == 4 else (w.shape[0],)
            quantized[name] = quantize_strips(w, torch.rand(shape, generator=g) > 0.5)
    x = torch.randn(16, 1, 28, 28, generator=g)
    weights = {f"{n}.weight": q.dequantize() for n, q in quantized.items()}
    labels = torch.func.functional_call(model, weights, (x,)).argmax(1)  # the intended network is always right
    result = accumulation_comparison(model, quantized, x, labels)
    assert set(result) == {"images", "intended", *ACCUMULATIONS} and result["images"] == 16
    assert result["intended"]["accuracy"] == 1.0 and result["intended"]["correct"].all()
    expanded, unaligned = result["expanded"], result["unaligned"]
    assert expanded["difference"] < 1e-4 and expanded["agreement"] == expanded["accuracy"] == 1.0
    assert unaligned["difference"] > 0.05 and unaligned["accuracy"] == unaligned["agreement"]
    assert unaligned["correct"].dtype == torch.bool and len(unaligned["correct"]) == 16
    no_labels = accumulation_comparison(model, quantized, x)
    assert "intended" not in no_labels and "accuracy" not in no_labels["unaligned"]
    assert no_labels["unaligned"]["difference"] == unaligned["difference"]
    with pytest.raises(ValueError, match="one label per input"):
        accumulation_comparison(model, quantized, x, labels[:3])
