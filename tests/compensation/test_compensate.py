import importlib

import numpy as np
import pytest
import torch

from imckit.memory.cells import CellConfig
from imckit.compensation.compensate import MODES, CompensationConfig, compensate, requantize
from imckit.core.models import mappable_layers, resnet8
from imckit.injection.errors import quantize_layer
from imckit.quantization.qkeras import QuantSpec, quantize
from imckit.core.training import TrainConfig, train

from ..conftest import IDENTITY4, toy_dataset as _toy_dataset


@pytest.fixture(scope="module")
def trained():
    data = _toy_dataset(n_train=256, n_test=64)
    torch.manual_seed(0)
    model = resnet8(in_channels=1, num_classes=4, width=0.5)
    history = train(model, data.train, TrainConfig(epochs=12, lr=0.05), seed=0, test_data=data.test, progress=False)
    assert history.test_accuracy[-1] > 0.9  # converged: compensation has nothing to fix without errors
    return model.eval(), data


def _configs(model, config=CellConfig(4, 2)):
    return {layer.name: (config if layer.kind == "conv" else CellConfig(8, 0)) for layer in mappable_layers(model)}


def test_requantize_round_trips_codes():
    q = quantize(torch.randn(6, 3, 3, 3) * 0.2, 4, alpha="auto")
    assert torch.equal(requantize(q, q.dequantize()), q.codes)
    assert int(requantize(q, q.dequantize() * 100).max()) == 7  # clipped to the 4-bit word range


@pytest.mark.parametrize("mode", ["full", "healthy_only"])
def test_faulty_weights_stay_bit_identical_and_healthy_ones_change(trained, mode):
    model, data = trained
    before = {n: p.detach().clone() for n, p in model.state_dict().items()}
    result, kept = compensate(model, data.train, data.test, _configs(model), patterns=2, seed=1,
                              config=CompensationConfig(lr=0.05, mode=mode),
                              progress=False, return_weights=True)
    assert all(torch.equal(before[n], p) for n, p in model.state_dict().items())  # the model is not modified
    assert np.all(result.faulty_share > 0) and np.all(result.rewritten_share > 0)
    for pattern in kept:
        for m, mask in pattern["faulty"].items():
            assert torch.equal(pattern["final"][m][mask], pattern["written"][m][mask])
            original = model.get_submodule(m).weight.detach()
            assert torch.equal(pattern["trained"][m][mask], original[mask])  # optimizer never moved them
        changed = sum(int((p != pattern["written"][m])[~pattern["faulty"][m]].sum()) for m, p in pattern["final"].items())
        assert changed > 0


def test_error_free_device_leaves_accuracy_where_it_was(trained):
    model, data = trained
    result = compensate(model, data.train, data.test, _configs(model, CellConfig(8, 4)), mlc=IDENTITY4, patterns=1,
                        config=CompensationConfig(lr=0.002), progress=False)
    assert result.faulty_share[0] == 0 and result.new_fault_share[0] == 0
    assert abs(result.after_accuracy[0] - result.before_accuracy[0]) <= 2 / 64  # at most two of 64 images
    assert result.after_loss[0] <= 1.2 * result.before_loss[0]  # a broken write-back would raise it


def test_compensation_recovers_some_loss_under_heavy_errors(trained):
    model, data = trained
    result = compensate(model, data.train, data.test, _configs(model, CellConfig(2, 1)), patterns=2, seed=0,
                        config=CompensationConfig(epochs=2, lr=0.05), progress=False)
    assert np.mean(result.after_loss) < np.mean(result.before_loss)


def test_seeds_reproduce_and_fresh_write_errors(trained):
    model, data = trained
    run = lambda seed, fresh=False: compensate(  # noqa: E731
        model, data.train, data.test, _configs(model), patterns=1, seed=seed,
        config=CompensationConfig(lr=0.05, fresh_write_errors=fresh), progress=False)
    a, b, c = run(3), run(3), run(4)
    assert a.after_loss[0] == b.after_loss[0] and a.faulty_share[0] == b.faulty_share[0]
    assert a.faulty_share[0] != c.faulty_share[0]
    fresh = run(3, True)
    assert fresh.faulty_share[0] == a.faulty_share[0] and fresh.new_fault_share[0] > 0


@pytest.mark.parametrize("kwargs,error,message", [
    ({"epochs": 0}, ValueError, r"^epochs must be an integer in \[1, 100\]"),
    ({"train_images": 0}, ValueError, r"^train_images must be None or an integer >= 2 in mode 'full'"),
    ({"train_images": 0, "mode": "healthy_only"}, ValueError, r"^train_images must be None or an integer >= 1;"),
    ({"lr": 0}, ValueError, r"^lr must be a finite number in \(0.0, 10.0\]"),
    ({"momentum": 1.0}, ValueError, r"^momentum must be a finite number in \[0.0, 1.0\)"),
    ({"fresh_write_errors": "yes"}, TypeError, "^fresh_write_errors must be True or False"),
    ({"mode": "bn"}, ValueError, "^mode must be one of 'full', 'healthy_only', 'bn_recalibration'; got 'bn'"),
])
def test_bad_config(kwargs, error, message):
    with pytest.raises(error, match=message):
        CompensationConfig(**kwargs)


def test_bad_input(trained):
    model, data = trained
    with pytest.raises(ValueError, match="patterns must be an integer >= 1"):
        compensate(model, data.train, data.test, _configs(model), patterns=0)
    with pytest.raises(ValueError, match=r"^config.train_images must be at most the 256 training images; got 1000"):
        compensate(model, data.train, data.test, _configs(model), config=CompensationConfig(train_images=1000))
    with pytest.raises(ValueError, match="unknown layer 'conv9'"):
        compensate(model, data.train, data.test, {"conv9": CellConfig(8, 0)})
    with pytest.raises(ValueError, match="layer_configs must be a non-empty dict"):
        compensate(model, data.train, data.test, {})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback of 'auto'")
def test_cpu_and_auto_give_identical_results(trained):
    model, data = trained
    runs = [compensate(model, data.train, data.test, _configs(model), patterns=1, seed=2,
                       config=CompensationConfig(lr=0.05, train_images=100), progress=False, return_weights=True,
                       device=device) for device in ("cpu", "auto")]
    (a, kept_a), (b, kept_b) = runs
    for key in ("before_loss", "after_loss", "after_accuracy", "rewritten_share"):
        assert np.array_equal(getattr(a, key), getattr(b, key))
    for m, w in kept_a[0]["trained"].items():
        assert w.device.type == "cpu" and torch.equal(w, kept_b[0]["trained"][m])
    with pytest.raises(ValueError, match="asks for a CUDA GPU"):
        compensate(model, data.train, data.test, _configs(model), patterns=1, progress=False, device="cuda")


def test_the_batch_order_comes_from_the_pattern_generator_after_its_errors(trained, monkeypatch):
    # the published numbers depend on this order of draws: the error pattern first, then the batch order
    module = importlib.import_module("imckit.compensation.compensate")  # the package's `compensate` is the function

    model, data = trained
    seen = []

    def spy(*args, generator, **kwargs):
        seen.append(generator.get_state().clone())
        return real(*args, generator=generator, **kwargs)

    real = module.fit
    monkeypatch.setattr(module, "fit", spy)
    compensate(model, data.train, data.test, _configs(model), patterns=2, seed=4, config=CompensationConfig(lr=0.05),
               progress=False)
    assert len(seen) == 2
    for p, state in enumerate(seen):
        fresh = torch.Generator().manual_seed(module._pattern_seed(4, p)).get_state()
        assert not torch.equal(state, fresh)  # the errors were drawn from it first


def _batchnorm_state(model):
    return {n: b.detach().clone() for n, b in model.named_buffers() if "running" in n}


def test_the_three_modes_run_on_the_same_patterns(trained):
    # the ablations are paired with the method: same errors, same images before, same batch order
    model, data = trained
    runs = {mode: compensate(model, data.train, data.test, _configs(model, CellConfig(2, 1)), patterns=2, seed=5,
                             config=CompensationConfig(lr=0.05, mode=mode), progress=False)
            for mode in MODES}
    for mode in ("healthy_only", "bn_recalibration"):
        for key in ("before_accuracy", "before_loss", "faulty_share"):
            assert np.array_equal(getattr(runs[mode], key), getattr(runs["full"], key)), (mode, key)
    assert not np.array_equal(runs["bn_recalibration"].after_loss, runs["full"].after_loss)


def test_batchnorm_recalibration_moves_no_weight(trained, monkeypatch):
    module = importlib.import_module("imckit.compensation.compensate")
    model, data = trained
    buffers = _batchnorm_state(model)
    seen = []

    def spy(*args, **kwargs):
        seen.append(args[0])
        return recalibrate(*args, **kwargs)

    recalibrate = module._recalibrate
    monkeypatch.setattr(module, "_recalibrate", spy)
    result, kept = compensate(model, data.train, data.test, _configs(model, CellConfig(2, 1)), patterns=2, seed=0,
                              config=CompensationConfig(mode="bn_recalibration"), progress=False,
                              return_weights=True)
    assert len(seen) == 2 and all(m is model for m in seen)
    assert all(torch.equal(b, buffers[n]) for n, b in _batchnorm_state(model).items())  # the model is untouched
    assert np.all(result.faulty_share > 0) and np.all(result.rewritten_share == 0)
    assert np.all(result.new_fault_share == 0)
    for pattern in kept:
        for m, w in pattern["final"].items():
            assert torch.equal(w, pattern["written"][m])  # nothing rewritten
            assert torch.equal(pattern["trained"][m], model.get_submodule(m).weight.detach())
    assert not np.array_equal(result.after_loss, result.before_loss)  # the running statistics changed


def test_batchnorm_recalibration_follows_the_stored_network(trained):
    # the running statistics it leaves are those of the network as stored: recalibrating the error-free
    # network on the data it was trained on changes little, the heavily faulty one much more
    module = importlib.import_module("imckit.compensation.compensate")
    model, data = trained
    configs = _configs(model, CellConfig(2, 1))
    quant = QuantSpec()
    written = {}
    for layer in mappable_layers(model):
        written.update({m: q.dequantize() for m, q in quantize_layer(model, layer.modules, configs[layer.name].bits,
                                                                      quant).items()})
    config = CompensationConfig(mode="bn_recalibration")
    clean = module._recalibrate(model, data.train, written, 256, config, torch.Generator().manual_seed(0), "cpu")
    noisy = {m: w + 0.5 * w.std() * torch.randn(w.shape, generator=torch.Generator().manual_seed(1))
             for m, w in written.items()}
    shifted = module._recalibrate(model, data.train, noisy, 256, config, torch.Generator().manual_seed(0), "cpu")
    old = _batchnorm_state(model)
    change = lambda m: sum(float((b - old[n]).abs().sum()) for n, b in _batchnorm_state(m).items())  # noqa: E731
    assert not clean.training and change(clean) < change(shifted)


def test_the_recalibration_starts_where_the_retraining_starts(trained, monkeypatch):
    # the same generator state after the errors: both draw the same batch order
    module = importlib.import_module("imckit.compensation.compensate")
    model, data = trained
    states = {}

    def spy_fit(*args, generator, **kwargs):
        states.setdefault("full", []).append(generator.get_state().clone())
        return real_fit(*args, generator=generator, **kwargs)

    def spy_recalibrate(model, data, written, n_train, config, generator, device):
        states.setdefault("bn_recalibration", []).append(generator.get_state().clone())
        return real_recalibrate(model, data, written, n_train, config, generator, device)

    real_fit, real_recalibrate = module.fit, module._recalibrate
    monkeypatch.setattr(module, "fit", spy_fit)
    monkeypatch.setattr(module, "_recalibrate", spy_recalibrate)
    for mode in ("full", "bn_recalibration"):
        compensate(model, data.train, data.test, _configs(model), patterns=2, seed=4,
                   config=CompensationConfig(lr=0.05, mode=mode), progress=False)
    assert len(states["full"]) == len(states["bn_recalibration"]) == 2
    for a, b in zip(states["full"], states["bn_recalibration"]):
        assert torch.equal(a, b)
