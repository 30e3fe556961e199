import pytest
import torch

from imckit.core.data import ImageTensors
from imckit.qat.faults import stuck_at_faults, validity_mask
from imckit.core.models import resnet8
from imckit.qat.training import QATConfig, deploy, evaluate_weights, post_training, quantized_modules, train_qat
from imckit.qat.quantizers import nearest_level
from imckit.qat.variability import lrs_multipliers


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = resnet8(in_channels=1, num_classes=4, width=0.25).eval()
    g = torch.Generator().manual_seed(1)
    data = ImageTensors(torch.randn(48, 1, 12, 12, generator=g), torch.randint(0, 4, (48,), generator=g))
    return model, data


def _config(**kwargs):
    return QATConfig(**{"bits": 3, "epochs": 2, "batch_size": 16, **kwargs})


def test_quantized_modules_skip_the_first_and_last(tiny):
    model, _ = tiny
    modules = quantized_modules(model)
    assert "stem.conv" not in modules and "head.fc" not in modules and "stack1.conv1" in modules


def test_training_pulls_weights_to_levels_reproducibly_and_leaves_the_model_alone(tiny):
    model, data = tiny
    before = {n: p.clone() for n, p in model.state_dict().items()}
    config = _config(lambdas=(100, 1000), lr=0.01, epochs=6)
    result = train_qat(model, data, config, seed=0)
    assert all(torch.equal(before[n], p) for n, p in model.state_dict().items())
    distance = result.history["distance"]
    assert distance[-1] < 0.5 * distance[0] and all(b <= a for a, b in zip(distance, distance[1:]))
    again = train_qat(model, data, config, seed=0)
    other = train_qat(model, data, config, seed=1)
    w = lambda r: r.model.get_submodule("stack1.conv1").weight
    assert torch.equal(w(result), w(again)) and not torch.equal(w(result), w(other))
    # deployment without faults is plain nearest-level quantization, and evaluation uses those weights
    stored = deploy(result)
    q = result.quantizers["stack1.conv1"]
    expected = q.levels()[nearest_level(w(result), q.levels())].reshape(w(result).shape)
    assert torch.equal(stored["stack1.conv1"], expected)
    metrics = evaluate_weights(result.model, data, stored)
    logits = torch.func.functional_call(result.model, {f"{m}.weight": v for m, v in stored.items()}, (data.images,))
    assert metrics.accuracy == pytest.approx(float((logits.argmax(1) == data.labels).float().mean()))


def test_quantizer_parameters_learn_only_when_they_should(tiny):
    model, data = tiny
    m = "stack2.conv1"
    start = post_training(model, 3, "multipliers")
    fixed = train_qat(model, data, _config(kind="fixed"), seed=0)
    assert torch.equal(fixed.quantizers[m].levels(), post_training(model, 3, "fixed").quantizers[m].levels())
    learned = train_qat(model, data, _config(kind="multipliers", ste=True, quantizer_lr=0.01), seed=0)
    assert not torch.allclose(learned.quantizers[m].r, start.quantizers[m].r)
    # resuming from a result (whose quantizers come back frozen) learns them again
    resumed = train_qat(learned.model, data, _config(kind="multipliers", ste=True, quantizer_lr=0.01), seed=1,
                        quantizers=learned.quantizers)
    assert not torch.allclose(resumed.quantizers[m].r, learned.quantizers[m].r)
    assert not learned.quantizers[m].r.requires_grad


def _faulty_error(result, faults, mapping):
    stored = deploy(result, faults=faults, mapping=mapping)
    errors = [(stored[m] - result.model.get_submodule(m).weight).abs().flatten()[faults[m].faulty_weights()]
              for m in stored]
    return float(torch.cat(errors).mean())


def test_fault_aware_training_by_mitigation_level(tiny):
    model, data = tiny
    g = torch.Generator().manual_seed(2)
    modules = quantized_modules(model)
    faults = {m: stuck_at_faults(model.get_submodule(m).weight.numel(), 3, 0.2, g) for m in modules}
    config = _config(lambdas=(100, 1000), epochs=4)
    results = {mitigation: train_qat(model, data, config, seed=0, faults=faults, mitigation=mitigation)
               for mitigation in ("basic", "passive", "active", "active+passive")}
    # the last remap is at the end: faulty weights sit where the faulty cells put them
    assert _faulty_error(results["basic"], faults, "naive") == pytest.approx(0.0, abs=1e-7)
    for mitigation in ("passive", "active+passive"):
        assert _faulty_error(results[mitigation], faults, "nearest_valid") == pytest.approx(0.0, abs=1e-7)
    # Eq. 11 pulls faulty weights to reachable levels: writing them naively loses less than without it
    plain = train_qat(model, data, config, seed=0)
    assert _faulty_error(results["active"], faults, "naive") < 0.5 * _faulty_error(plain, faults, "naive")
    # every deployment with nearest valid level mapping stores reachable levels
    for result in results.values():
        stored = deploy(result, faults=faults, mapping="nearest_valid")
        for m in modules:
            levels = result.quantizers[m].levels()
            index = nearest_level(stored[m], levels)
            assert torch.allclose(levels[index], stored[m].flatten(), atol=1e-6)
            assert validity_mask(faults[m])[torch.arange(len(index)), index].all()
    with pytest.raises(ValueError, match="faults and mitigation go together"):
        train_qat(model, data, _config(), seed=0, faults=faults)
    with pytest.raises(ValueError, match="mitigation must be one of"):
        train_qat(model, data, _config(), seed=0, faults=faults, mitigation="strong")
    with pytest.raises(ValueError, match="use float weights in the forward pass"):
        train_qat(model, data, _config(ste=True), seed=0, faults=faults, mitigation="active")


def test_variability_modes_and_deployment(tiny):
    model, data = tiny
    g = torch.Generator().manual_seed(3)
    modules = quantized_modules(model)
    chip = {m: lrs_multipliers(model.get_submodule(m).weight.numel(), 3, 0.3, g) for m in modules}
    config = _config(lambdas=(100, 1000), epochs=4)

    def error(result, aware):
        stored = deploy(result, variability=chip, aware=aware)
        return float(torch.cat([(stored[m] - result.model.get_submodule(m).weight).abs().flatten() for m in modules]).mean())

    plain = train_qat(model, data, config, seed=0)
    aware = train_qat(model, data, config, seed=0, variability=chip, variability_mode="aware")
    # Eq. 12: the weights settle on their own levels on this chip, which aware mapping then stores
    assert error(aware, True) < 0.5 * error(plain, True)
    # chip-in-loop trains through the chip's values under ideal mapping (cross-entropy only): it runs, and
    # it differs from the aware run
    loop = train_qat(model, data, config, seed=0, variability=chip, variability_mode="chip_in_loop")
    assert not torch.equal(loop.model.get_submodule(modules[0]).weight, aware.model.get_submodule(modules[0]).weight)
    with pytest.raises(ValueError, match="variability_mode must be one of"):
        train_qat(model, data, _config(), seed=0, variability=chip, variability_mode="noise")


def test_lsq_activations_quantize_the_inputs_of_quantized_layers(tiny):
    model, data = tiny
    result = train_qat(model, data, _config(activation_bits=2), seed=0)
    seen = {}
    hook = result.model.stack1.conv2.register_forward_hook(lambda m, args, out: seen.update(x=args[0]))
    try:
        result.model(data.images[:8])
    finally:
        hook.remove()
    # a forward hook sees the input as the forward pre-hook left it: quantized to at most 2^2 levels
    assert len(torch.unique(seen["x"])) <= 4 and len(torch.unique(data.images[:8])) > 4


@pytest.mark.parametrize("kwargs,message", [
    ({"bits": 9}, r"bits must be an integer in \[2, 8\]"),
    ({"kind": "lloyd"}, "kind must be one of"),
    ({"ramp": 2}, r"^ramp must be a finite number in \[0.0, 1.0\]"),
    ({"lambdas": (0, 1)}, r"^lambdas\[0\] must be a finite number > 0"),
    ({"activation_bits": 1}, r"activation_bits must be an integer in \[2, 16\]"),
    ({"batch_size": 1}, "^batch_size must be an integer >= 2"),
])
def test_bad_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        QATConfig(**kwargs)


def test_maps_must_cover_the_quantized_modules(tiny):
    model, data = tiny
    g = torch.Generator().manual_seed(4)
    with pytest.raises(ValueError, match="faults must cover exactly the quantized modules"):
        train_qat(model, data, _config(), seed=0, faults={"stack1.conv1": stuck_at_faults(10, 3, 0.1, g)},
                  mitigation="active")
    modules = quantized_modules(model)
    wrong = {m: stuck_at_faults(model.get_submodule(m).weight.numel(), 4, 0.1, g) for m in modules}
    with pytest.raises(ValueError, match="of 4 bits; the layer has"):
        train_qat(model, data, _config(), seed=0, faults=wrong, mitigation="active")


def test_unstable_settings_warn(tiny):
    model, data = tiny
    with pytest.warns(UserWarning, match="oscillate around their levels"):
        train_qat(model, data, _config(lambdas=(1e4, 1e5), lr=0.05, epochs=1), seed=0)


def test_post_training_is_the_untrained_starting_point(tiny):
    model, data = tiny
    ptq = post_training(model, 3)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), ptq.model.state_dict().values()))
    stored = deploy(ptq)
    for m, w in stored.items():
        assert len(torch.unique(w)) <= 8


def test_straight_through_and_chip_in_loop_runs_reproduce(tiny):
    model, data = tiny
    g = torch.Generator().manual_seed(5)
    chip = {m: lrs_multipliers(model.get_submodule(m).weight.numel(), 3, 0.2, g) for m in quantized_modules(model)}
    for kwargs, config in (({}, _config(ste=True)), ({"variability": chip, "variability_mode": "chip_in_loop"}, _config())):
        a = train_qat(model, data, config, seed=0, **kwargs)
        b = train_qat(model, data, config, seed=0, **kwargs)
        assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))
        assert all(torch.equal(a.quantizers[m].multipliers(), b.quantizers[m].multipliers()) for m in a.quantizers)


def test_lsq_values_and_gradients_by_hand():
    from imckit.qat.training import LSQActivation

    lsq = LSQActivation(2)  # unsigned: levels 0..3
    x = torch.tensor([0.1, 0.26, 0.74, 5.0], requires_grad=True)
    lsq.initialized.fill_(True)
    with torch.no_grad():
        lsq.step.fill_(0.5)
    out = lsq(x)
    assert out.tolist() == [0.0, 0.5, 0.5, 1.5]  # round(x / 0.5) * 0.5, clipped at 3 levels up
    out.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0, 0.0]  # straight through inside the range, 0 where clipped
    g = 1 / (1 * 3) ** 0.5  # LSQ's gradient scale 1 / sqrt(n Q_P): a batch of 4 samples of n = 1 feature
    v = [0.2, 0.52, 1.48, 3.0]
    expected = g * sum((round(t) - t) if t < 3 else 3.0 for t in v)
    assert float(lsq.step.grad) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("signed", [False, True])
def test_lsq_node_equals_the_autograd_formula(signed):
    # the fused node (one autograd Function) against LSQ written out with autograd, boundaries included
    import math

    from imckit.qat.training import LSQActivation

    def reference(x, step, bits):
        q_n, q_p = (2 ** (bits - 1), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        g = 1.0 / math.sqrt(x[0].numel() * q_p)
        s = step * g + (step - step * g).detach()
        v = torch.clamp(x / s, -q_n, q_p)
        return torch.round(v).detach() * s + (v - v.detach()) * s

    g = torch.Generator().manual_seed(3)
    x = torch.randn(8, 3, 5, 5, generator=g) * 3
    x = x if signed else torch.relu(x)
    x[0, 0, 0, :4] = torch.tensor([0.0, 3.5, -4.0, 7.5])  # on the clip levels at step 0.5 (0, 15; -8, 7 steps)
    lsq = LSQActivation(4)
    lsq.initialized.fill_(True)
    lsq.signed.fill_(signed)
    with torch.no_grad():
        lsq.step.fill_(0.5)
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    step = torch.tensor(0.5, requires_grad=True)
    weights = torch.randn(x.shape, generator=g)
    out, expected = lsq(a), reference(b, step, 4)
    (out * weights).sum().backward()
    (expected * weights).sum().backward()
    assert torch.equal(out, expected)
    assert torch.equal(a.grad, b.grad)  # 0 on and beyond the clip levels, as autograd's clamp
    assert float(lsq.step.grad) == pytest.approx(float(step.grad), rel=1e-5)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback of 'auto'")
def test_cpu_and_auto_give_identical_results_on_the_cpu(tiny):
    model, data = tiny
    g = torch.Generator().manual_seed(6)
    modules = quantized_modules(model)
    faults = {m: stuck_at_faults(model.get_submodule(m).weight.numel(), 3, 0.2, g) for m in modules}
    config = _config(lambdas=(100, 1000), epochs=2)
    a = train_qat(model, data, config, seed=0, faults=faults, mitigation="active+passive", remaps=2, device="cpu")
    b = train_qat(model, data, config, seed=0, faults=faults, mitigation="active+passive", remaps=2, device="auto")
    assert a.history == b.history
    for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()):
        assert x.device.type == "cpu" and torch.equal(x, y)
    assert all(t.device.type == "cpu" for q in b.quantizers.values() for t in q.state_dict().values())
    with pytest.raises(ValueError, match="asks for a CUDA GPU"):
        train_qat(model, data, config, seed=0, device="cuda")


def test_remapping_happens_after_the_planned_steps(tiny, monkeypatch):
    # faulty weights are written into their cells ``remaps`` times, evenly spaced, the last after the last step
    import imckit.qat.training as module

    model, data = tiny
    g = torch.Generator().manual_seed(7)
    modules = quantized_modules(model)
    faults = {m: stuck_at_faults(model.get_submodule(m).weight.numel(), 3, 0.2, g) for m in modules}
    calls = []
    real = module.map_to_levels
    monkeypatch.setattr(module, "map_to_levels", lambda *a, **k: calls.append(1) or real(*a, **k))
    result = train_qat(model, data, _config(epochs=3), seed=0, faults=faults, mitigation="passive", remaps=3)
    assert len(calls) == 3 * len(modules)  # 48 images / 16 = 3 steps per epoch, 9 steps, remapped at 3, 6, 9
    assert len(result.history["distance"]) == 3


def test_attach_input_quantizers_and_evaluate_weights(tiny):
    import copy

    from imckit.core.training import evaluate
    from imckit.qat.training import LSQActivation, attach_input_quantizers

    model, data = tiny
    work = copy.deepcopy(model)
    modules = quantized_modules(work)
    assert attach_input_quantizers(work, modules, 3) == modules
    assert attach_input_quantizers(work, modules, 3) == []  # already there: left alone, no second hook
    module = work.get_submodule(modules[0])
    assert isinstance(module.input_quantizer, LSQActivation) and len(module._forward_pre_hooks) == 1
    assert f"{modules[0]}.input_quantizer.step" in work.state_dict()
    with torch.no_grad():
        work(data.images)  # initializes the quantizers
        x = torch.randn(4, *data.images.shape[1:])
        seen = {}
        handle = module.register_forward_hook(lambda m, args, out: seen.setdefault("input", args[0]))
        work(x)
        handle.remove()
    assert torch.equal(seen["input"], seen["input"].div(module.input_quantizer.step).round().mul(
        module.input_quantizer.step))  # the module saw quantized inputs
    with pytest.raises(ValueError, match=r"bits must be an integer in \[2, 16\]; got 1"):
        attach_input_quantizers(work, modules, 1)
    with pytest.raises(ValueError, match="modules: 'stack1.bn1' is a BatchNorm2d"):
        attach_input_quantizers(work, ["stack1.bn1"], 3)
    weights = {modules[1]: torch.zeros_like(work.get_submodule(modules[1]).weight)}
    work.train()
    got = evaluate_weights(work, data, weights)
    assert got == evaluate(work, data, weights=weights) != evaluate(work, data)
    assert work.training and all(m.training for m in work.modules())  # left as it was
