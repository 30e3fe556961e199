import pytest
import torch

from imckit.memory.cells import CellConfig
from imckit.memory.devices import SLC, FeFETMLC, TransitionMatrixDevice
from imckit.injection.errors import PerturbedEvaluator, QuantSpec, evaluate_with_errors, inject_cell_errors
from imckit.core.models import mappable_layers, resnet8
from imckit.quantization.qkeras import quantize

from ..conftest import IDENTITY4, toy_dataset as _toy_dataset
from ..core.test_engine import plain_forward

UP_ONE = TransitionMatrixDevice([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1]], name="up by one")


def _weights(seed=0):
    return torch.randn(8, 4, 3, 3, generator=torch.Generator().manual_seed(seed)) * 0.1


def test_error_free_devices_change_nothing():
    q = quantize(_weights(), 8, alpha="auto_po2")
    codes = inject_cell_errors(q, CellConfig(8, 4), IDENTITY4, SLC(0.0), repetitions=3)
    assert codes.shape == (3, 8, 4, 3, 3)
    assert torch.equal(codes, q.codes.expand_as(codes))


def test_same_seed_same_perturbed_weights():
    q = quantize(_weights(), 8, alpha="auto_po2")
    draw = lambda seed: inject_cell_errors(q, CellConfig(8, 4), FeFETMLC(), SLC(), 4,  # noqa: E731
                                           torch.Generator().manual_seed(seed))
    assert torch.equal(draw(5), draw(5)) and not torch.equal(draw(5), draw(6))


def test_sign_handling_is_offset_binary():
    # a cell read one state up raises the code by the cell's significance, for any sign
    q = quantize(torch.tensor([-0.5, -0.0625, 0.0, 0.25]), 4)  # codes -4, 0 (round half even), 0, 2
    codes = inject_cell_errors(q, CellConfig(4, 1), UP_ONE, SLC(), 1)[0]
    words = q.to_words()
    expected = torch.where((words & 3) < 3, q.codes + 1, q.codes)
    assert torch.equal(codes, expected)


def test_error_rate_of_injected_codes_matches_the_device():
    q = quantize(_weights() * 0 + 0.0, 2)  # all codes 0 -> word 2 -> MLC state 2
    q = quantize(torch.zeros(100_000), 2)
    codes = inject_cell_errors(q, CellConfig(2, 1), FeFETMLC(), SLC(), 4, torch.Generator().manual_seed(0))
    rate = (codes != 0).double().mean().item()
    expected = 1 - FeFETMLC().transition_matrix()[2, 2].item()
    assert rate == pytest.approx(expected, abs=5 * (expected / 400_000) ** 0.5)


def test_bad_injection_input():
    q = quantize(_weights(), 8)
    with pytest.raises(ValueError, match="config has 4 bits but the weights were quantized to 8"):
        inject_cell_errors(q, CellConfig(4, 1))
    with pytest.raises(ValueError, match="repetitions must be an integer >= 1"):
        inject_cell_errors(q, CellConfig(8, 1), repetitions=0)
    with pytest.raises(ValueError, match="mlc device must have bits_per_cell=2"):
        inject_cell_errors(q, CellConfig(8, 1), mlc=SLC())


@pytest.fixture(scope="module")
def toy():
    data = _toy_dataset(n_test=70)
    torch.manual_seed(0)
    model = resnet8(in_channels=1, num_classes=4, width=0.5).eval()
    return model, data.test


@pytest.mark.parametrize("layers", [["conv1"], ["stack2.conv1"], ["stack3.conv2"], ["fc"], ["stack1.conv2", "fc"]])
def test_fast_path_equals_a_plain_forward(toy, layers):
    model, data = toy
    ev = PerturbedEvaluator(model, data, batch_size=32)
    configs = {name: CellConfig(8, 0 if name == "fc" else 4) for name in layers}
    sets = ev.perturbed_weight_sets(configs, repetitions=3, generator=torch.Generator().manual_seed(1))
    fast = ev.evaluate(sets)
    assert fast.path == ev.path == "fast"
    loss, accuracy = plain_forward(model, data, [{**ev.base_weights, **ws} for ws in sets])
    assert torch.allclose(fast.loss, loss, rtol=1e-5, atol=1e-6)
    assert torch.equal(fast.accuracy, accuracy)
    before = [p.clone() for p in model.parameters()]
    ev.evaluate(sets)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the model is untouched


def test_base_network_with_float_weights_is_the_model(toy):
    model, data = toy
    result = PerturbedEvaluator(model, data, base_bits=None).evaluate([{}])
    with torch.no_grad():
        logits = model(data.images)
    assert result.loss[0].item() == pytest.approx(torch.nn.functional.cross_entropy(logits, data.labels).item(), rel=1e-5)


def test_evaluate_with_errors_is_reproducible_and_checked(toy):
    model, data = toy
    a = evaluate_with_errors(model, data, {"stack3.conv2": CellConfig(8, 4)}, repetitions=3, seed=2)
    b = evaluate_with_errors(model, data, {"stack3.conv2": CellConfig(8, 4)}, repetitions=3, seed=2)
    assert torch.equal(a.loss, b.loss) and a.loss.shape == (3,)
    with pytest.raises(ValueError, match="unknown layer 'stack4.conv1'"):
        evaluate_with_errors(model, data, {"stack4.conv1": CellConfig(8, 4)})
    with pytest.raises(ValueError, match="must be a CellConfig"):
        evaluate_with_errors(model, data, {"fc": (8, 0)})
    with pytest.raises(ValueError, match="alpha must be one of"):
        QuantSpec(alpha="max")


def test_expected_changed_share_matches_sampling():
    from imckit.injection.errors import expected_changed_share

    q = quantize(_weights(3), 8, alpha="auto")
    expected = expected_changed_share(q, CellConfig(8, 4))
    codes = inject_cell_errors(q, CellConfig(8, 4), repetitions=2000, generator=torch.Generator().manual_seed(0))
    observed = (codes != q.codes).double().mean().item()
    n = codes.numel()
    assert observed == pytest.approx(expected, abs=5 * (expected * (1 - expected) / n) ** 0.5)
    assert expected_changed_share(q, CellConfig(8, 4), IDENTITY4) == 0.0


def test_evaluate_rejects_bad_weight_sets(toy):
    model, data = toy
    ev = PerturbedEvaluator(model, data)
    with pytest.raises(ValueError, match="weight_sets must be None or a non-empty list"):
        ev.evaluate([])
    with pytest.raises(ValueError, match=r"weight_sets\[0\] names unknown module\(s\) \['stack9.conv'\]"):
        ev.evaluate([{"stack9.conv": torch.zeros(1)}])
    with pytest.raises(ValueError, match=r"replacement weight for 'head.fc' has shape \(3,\); expected \(4, 32\)"):
        ev.evaluate([{"head.fc": torch.zeros(3)}])


def test_summary_checks_confidence(toy):
    model, data = toy
    result = PerturbedEvaluator(model, data).evaluate([{}, {}])
    assert result.summary()["loss_ci"] == 0.0
    with pytest.raises(ValueError, match=r"^confidence must be a finite number in \(0, 1\)"):
        result.summary(95)


def _lsq(model):
    """``model`` with LSQ input quantizers as train_qat registers them (forward pre-hooks), initialized."""
    import copy

    from imckit.qat.training import attach_input_quantizers, quantized_modules

    model = copy.deepcopy(model)
    assert attach_input_quantizers(model, quantized_modules(model), 2) == quantized_modules(model)
    with torch.no_grad():
        model(torch.randn(16, 1, 12, 12, generator=torch.Generator().manual_seed(4)))
    return model


def test_lsq_hooked_model_is_evaluated_with_its_hooks(toy):
    model, data = toy
    hooked = _lsq(model)
    ev = PerturbedEvaluator(hooked, data, batch_size=32)
    sets = ev.perturbed_weight_sets({"stack2.conv1": CellConfig(8, 4)}, repetitions=2,
                                    generator=torch.Generator().manual_seed(1))
    merged = [{**ev.base_weights, **ws} for ws in sets]
    loss, accuracy = plain_forward(hooked, data, merged)
    fast = ev.evaluate(sets)
    assert ev.path == "fast" and torch.allclose(fast.loss, loss, rtol=1e-5, atol=1e-6)
    assert torch.equal(fast.accuracy, accuracy)
    direct = evaluate_with_errors(hooked, data, {"stack2.conv1": CellConfig(8, 4)}, repetitions=2, seed=3)
    generator = torch.Generator().manual_seed(3)
    again = plain_forward(hooked, data, [{**ev.base_weights, **ws} for ws in ev.perturbed_weight_sets(
        {"stack2.conv1": CellConfig(8, 4)}, repetitions=2, generator=generator)])
    assert torch.allclose(direct.loss, again[0], rtol=1e-5, atol=1e-6)
    # the unhooked network gives other numbers: a test that would catch dropped hooks
    plain = PerturbedEvaluator(model, data, batch_size=32).evaluate(sets)
    assert not torch.allclose(plain.loss, fast.loss, rtol=1e-4)


def test_any_network_gets_the_fast_path():
    from imckit.core.models import build_model

    data = _toy_dataset(n_test=40).test
    torch.manual_seed(0)
    model = build_model("mobilenet_small", in_channels=1, num_classes=4, width=0.5).eval()
    ev = PerturbedEvaluator(model, data)
    assert ev.path == "fast" and list(ev.layers)[-1] == "classifier"
    sets = ev.perturbed_weight_sets({"blocks.1.0": CellConfig(8, 4)}, repetitions=2)
    loss, _ = plain_forward(model, data, [{**ev.base_weights, **ws} for ws in sets])
    assert torch.allclose(ev.evaluate(sets).loss, loss, rtol=1e-5, atol=1e-6)


def test_cpu_and_auto_give_identical_results(toy):
    model, data = toy
    a = evaluate_with_errors(model, data, {"stack1.conv2": CellConfig(8, 4)}, repetitions=2, seed=1, device="cpu")
    b = evaluate_with_errors(model, data, {"stack1.conv2": CellConfig(8, 4)}, repetitions=2, seed=1, device="auto")
    if not torch.cuda.is_available():
        assert torch.equal(a.loss, b.loss) and torch.equal(a.accuracy, b.accuracy)
    assert b.loss.device.type == "cpu"
    with pytest.raises(ValueError, match="device must be one of"):
        PerturbedEvaluator(model, data, device="gpu")
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1; got 0"):
        PerturbedEvaluator(model, data, batch_size=0)


def test_evaluate_takes_none_as_the_base_network(toy):
    model, data = toy
    ev = PerturbedEvaluator(model, data)
    assert torch.equal(ev.evaluate(None).loss, ev.evaluate([{}]).loss)
