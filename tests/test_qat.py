import pytest
import torch
from torch import nn

from imckit.data import ImageTensors
from imckit.faults import stuck_at_faults, validity_mask
from imckit.models import resnet8
from imckit.qat import QATConfig, deploy, evaluate_weights, post_training, quantized_modules, train_qat
from imckit.regularize import nearest_level
from imckit.variability import lrs_multipliers


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
    config = _config(lambdas=(100, 1000), lr=0.01, epochs=4)
    result = train_qat(model, data, config, seed=0)
    assert all(torch.equal(before[n], p) for n, p in model.state_dict().items())
    assert result.history["distance"][-1] < 0.5 * result.history["distance"][0]
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
    fixed = train_qat(model, data, _config(kind="fixed"), seed=0)
    learned = train_qat(model, data, _config(kind="multipliers", ste=True, quantizer_lr=0.01), seed=0)
    start = post_training(model, 3, "multipliers")
    assert not any(p.requires_grad for p in fixed.quantizers["stack2.conv1"].parameters())
    assert not torch.allclose(learned.quantizers["stack2.conv1"].r, start.quantizers["stack2.conv1"].r)


def test_fault_aware_training_deploys_reachable_weights(tiny):
    model, data = tiny
    g = torch.Generator().manual_seed(2)
    modules = quantized_modules(model)
    faults = {m: stuck_at_faults(model.get_submodule(m).weight.numel(), 3, 0.2, g) for m in modules}
    for mitigation in ("basic", "passive", "active", "active+passive"):
        result = train_qat(model, data, _config(), seed=0, faults=faults, mitigation=mitigation)
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
    for mode in ("aware", "chip_in_loop"):
        result = train_qat(model, data, _config(), seed=0, variability=chip, variability_mode=mode)
        aware, ideal = deploy(result, variability=chip, aware=True), deploy(result, variability=chip, aware=False)
        w = result.model.get_submodule(modules[0]).weight
        assert (aware[modules[0]] - w).abs().mean() <= (ideal[modules[0]] - w).abs().mean() + 1e-7
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
    # the hook sees the input before the pre-hook quantizes it; quantize it the same way to check the levels
    q = result.model.stack1.conv2.input_quantizer(seen["x"])
    assert len(torch.unique(q)) <= 4


@pytest.mark.parametrize("kwargs,message", [
    ({"bits": 9}, r"bits must be an integer in \[2, 8\]"),
    ({"kind": "lloyd"}, "kind must be one of"),
    ({"ramp": 2}, r"ramp must be a number in \[0, 1\]"),
    ({"lambdas": (0, 1)}, "lambdas must be two positive numbers"),
    ({"activation_bits": 1}, r"activation_bits must be an integer in \[2, 16\]"),
    ({"batch_size": 1}, "batch_size must be an integer >= 2"),
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
