import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from imckit.core.data import ImageTensors
from imckit.core.engine import DEFAULT_BATCH_SIZE, Engine, Evaluation, evaluate
from imckit.core.models import build_model, mappable_layers

from .test_graph import randomize_batchnorm


def plain_forward(model, data, weight_sets, batch_size=16):
    """The reference: the model's own forward per set, whole batches, weights passed functionally."""
    model.eval()
    loss, accuracy = [], []
    with torch.no_grad():
        for ws in weight_sets:
            logits = torch.cat([torch.func.functional_call(model, {f"{m}.weight": w for m, w in ws.items()},
                                                           (data.images[i : i + batch_size],))
                                for i in range(0, len(data), batch_size)])
            loss.append(nn.functional.cross_entropy(logits.double(), data.labels).item())
            accuracy.append((logits.argmax(1) == data.labels).double().mean().item())
    return torch.tensor(loss, dtype=torch.float64), torch.tensor(accuracy, dtype=torch.float64)


def _data(n=40, channels=1, size=12, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ImageTensors(torch.randn(n, channels, size, size, generator=g), torch.randint(0, classes, (n,), generator=g))


def _model(name, seed=0):
    torch.manual_seed(seed)
    return randomize_batchnorm(build_model(name, in_channels=1, num_classes=4, width=0.5), seed)


def _perturbed_sets(model, modules, count=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    sets = []
    for _ in range(count):
        ws = {}
        for m in modules:
            w = model.get_submodule(m).weight
            ws[m] = w + 0.5 * w.abs().mean() * torch.randn(w.shape, generator=g)
        sets.append(ws)
    return sets


@pytest.mark.parametrize("name", ["resnet8", "vgg_small", "mobilenet_small"])
def test_fast_path_equals_the_plain_forward(name):
    model, data = _model(name), _data()
    layers = mappable_layers(model)
    middle, last = layers[len(layers) // 2], layers[-1]
    for modules in (middle.modules, last.modules, middle.modules + last.modules):
        sets = [{}] + _perturbed_sets(model, modules)
        result = evaluate(model, data, sets, batch_size=16)
        assert result.path == "fast" and result.reason == ""
        loss, accuracy = plain_forward(model, data, sets)
        assert torch.allclose(result.loss, loss, rtol=1e-5, atol=1e-6)
        assert torch.equal(result.accuracy, accuracy)
        assert len(set(result.loss.tolist())) == len(sets)  # the sets do differ
    forward = evaluate(model, data, sets, batch_size=16, path="forward")
    assert forward.path == "forward" and "asked for" in forward.reason
    assert torch.allclose(forward.loss, loss, rtol=1e-5, atol=1e-6)


def test_one_set_and_none_are_the_model_as_it_is():
    model, data = _model("vgg_small"), _data()
    a, b = evaluate(model, data), evaluate(model, data, [{}])
    assert a.loss.shape == (1,) and torch.equal(a.loss, b.loss) and torch.equal(a.accuracy, b.accuracy)
    loss, accuracy = plain_forward(model, data, [{}])
    assert torch.allclose(a.loss, loss, rtol=1e-5) and torch.equal(a.accuracy, accuracy)


def test_forward_path_is_bit_identical_to_the_model():
    model, data = _model("mobilenet_small"), _data()
    result = evaluate(model, data, batch_size=8, path="forward")
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(data), 8):
            total += nn.functional.cross_entropy(model(data.images[i : i + 8]), data.labels[i : i + 8], reduction="sum").item()
    assert result.loss[0].item() == total / len(data)


def test_sets_replacing_a_module_identically_share_its_activations():
    model, data = _model("resnet8"), _data()
    base = {m: model.get_submodule(m).weight * 0.9 for layer in mappable_layers(model) for m in layer.modules}
    sets = [{**base, **ws} for ws in _perturbed_sets(model, ("head.fc",))]
    engine = Engine(model)
    graph = engine.graph
    calls = {node.name: 0 for node in graph.nodes}
    for node in graph.nodes:  # count node runs
        original = node.run

        def counting(inputs, prepared, _name=node.name, _run=original):
            calls[_name] += 1
            return _run(inputs, prepared)

        object.__setattr__(node, "run", counting)
    result = engine.evaluate(data, sets, batch_size=20)
    assert calls["stem.conv"] == 2 and calls["head.fc"] == 2 * len(sets)  # 2 micro-batches
    loss, _ = plain_forward(model, data, sets)
    assert torch.allclose(result.loss, loss, rtol=1e-5, atol=1e-6)


def test_untraceable_model_falls_back_and_is_correct():
    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            y = torch.relu(self.conv(x)).mean((2, 3))
            return self.fc(y) if y.sum() > 0 else -self.fc(y)

    torch.manual_seed(0)
    model, data = DataDependent(), _data()
    sets = [{}] + _perturbed_sets(model, ("fc",))
    result = evaluate(model, data, sets)
    assert result.path == "forward" and "cannot trace" in result.reason
    loss, accuracy = plain_forward(model, data, sets)
    assert torch.allclose(result.loss, loss, rtol=1e-5) and torch.equal(result.accuracy, accuracy)
    with pytest.raises(ValueError, match="path='fast' is not available for this model: torch.fx cannot trace"):
        evaluate(model, data, path="fast")


def _lsq_model():
    """ResNet-8 with LSQ input quantizers registered as train_qat registers them, initialized on a batch."""
    from imckit.qat.training import attach_input_quantizers, quantized_modules

    model = _model("resnet8")
    assert attach_input_quantizers(model, quantized_modules(model), 3) == quantized_modules(model)
    with torch.no_grad():
        model(_data(seed=9).images)  # initializes every quantizer's step
    return model


def test_hooked_lsq_model_is_evaluated_with_its_hooks_on_every_path():
    model, data = _lsq_model(), _data()
    sets = [{}] + _perturbed_sets(model, ("stack2.conv2",))
    loss, accuracy = plain_forward(model, data, sets)
    for path in ("auto", "fast", "forward"):
        result = evaluate(model, data, sets, path=path, batch_size=16)
        assert result.path == ("forward" if path == "forward" else "fast")
        assert torch.allclose(result.loss, loss, rtol=1e-5, atol=1e-6) and torch.equal(result.accuracy, accuracy)
    # the hooks matter: without them the numbers differ
    for m in mappable_layers(model):
        for name in m.modules:
            model.get_submodule(name)._forward_pre_hooks.clear()
    assert not torch.allclose(evaluate(model, data, sets).loss, loss, rtol=1e-4)


def test_hooks_added_after_the_engine_was_built_are_seen():
    model, data = _model("vgg_small"), _data()
    engine = Engine(model)
    before = engine.evaluate(data)
    handle = model.features[7].register_forward_pre_hook(lambda module, args: (args[0] * 0.0,))
    after = engine.evaluate(data)
    assert engine.graph is not None and any(s.hooked for s in engine.graph.sites)
    assert torch.allclose(after.loss, plain_forward(model, data, [{}])[0], rtol=1e-5)
    assert not torch.allclose(before.loss, after.loss)
    handle.remove()
    assert torch.allclose(engine.evaluate(data).loss, before.loss, rtol=0, atol=0)


def test_model_is_left_as_it_was():
    model, data = _model("resnet8"), _data()
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    evaluate(model, data, _perturbed_sets(model, ("stack1.conv1",)))
    evaluate(model, data, path="forward")
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())  # BatchNorm statistics too
    assert {p.device.type for p in model.parameters()} == {"cpu"}


def test_cpu_and_auto_give_identical_numbers():
    model, data = _model("mobilenet_small"), _data()
    sets = [{}] + _perturbed_sets(model, ("blocks.1.3",))
    cpu = evaluate(model, data, sets, device="cpu")
    auto = evaluate(model, data, sets, device="auto")
    if not torch.cuda.is_available():
        assert torch.equal(cpu.loss, auto.loss) and torch.equal(cpu.accuracy, auto.accuracy)
    else:  # a GPU computes in another order: float rounding
        assert torch.allclose(cpu.loss, auto.loss, rtol=1e-4)
    assert cpu.loss.device.type == "cpu" and cpu.loss.dtype == torch.float64


def test_batch_size_changes_only_rounding_and_defaults_by_path():
    model, data = _model("resnet8"), _data(n=50)
    a, b = evaluate(model, data, batch_size=7), evaluate(model, data, batch_size=50)
    assert torch.allclose(a.loss, b.loss, rtol=1e-6) and torch.equal(a.accuracy, b.accuracy)
    assert DEFAULT_BATCH_SIZE[("cpu", "fast")] == 256 and DEFAULT_BATCH_SIZE[("cpu", "forward")] == 128


def test_bad_input():
    model, data = _model("vgg_small"), _data()
    weight = model.classifier.weight
    with pytest.raises(ValueError, match="data must hold at least one image; got 0"):
        evaluate(model, ImageTensors(data.images[:0], data.labels[:0]))
    with pytest.raises(ValueError, match="^batch_size must be an integer >= 1; got 0"):
        evaluate(model, data, batch_size=0)
    with pytest.raises(ValueError, match="weight_sets must be None or a non-empty list"):
        evaluate(model, data, [])
    with pytest.raises(ValueError, match="weight_sets must be None or a non-empty list"):
        evaluate(model, data, {"classifier": weight})
    with pytest.raises(ValueError, match=r"weight_sets\[1\] names unknown module\(s\) \['features.1'\]"):
        evaluate(model, data, [{}, {"features.1": torch.ones(8)}])
    with pytest.raises(ValueError, match=r"replacement weight for 'classifier' has shape \(4,\); expected \(4, 32\)"):
        evaluate(model, data, [{"classifier": torch.zeros(4)}])
    with pytest.raises(ValueError, match="has dtype torch.float64; expected torch.float32"):
        evaluate(model, data, [{"classifier": weight.double()}])
    bad = weight.detach().clone()
    bad[0, 0] = math.nan
    with pytest.raises(ValueError, match=r"^weight_sets\[0\]\['classifier'\] must be a tensor of finite values; "
                                         r"got 1 NaN and 0 infinite of 128 values"):
        evaluate(model, data, [{"classifier": bad}])
    with pytest.raises(ValueError, match="path must be one of 'auto', 'fast', 'forward'; got 'quick'"):
        evaluate(model, data, path="quick")
    with pytest.raises(ValueError, match="device must be one of"):
        evaluate(model, data, device="tpu")
    with pytest.raises(TypeError, match="^model must be a torch.nn.Module"):
        evaluate("resnet8", data)


def test_summary_and_the_old_name():
    from imckit.injection.errors import InjectionResult

    result = Evaluation(torch.tensor([1.0, 3.0], dtype=torch.float64), torch.tensor([0.5, 0.5], dtype=torch.float64))
    summary = result.summary()
    assert summary["loss_mean"] == 2.0 and summary["accuracy_ci"] == 0.0
    assert summary["loss_ci"] == pytest.approx(1.959964 * math.sqrt(2) / math.sqrt(2), rel=1e-6)
    assert math.isnan(Evaluation(torch.ones(1), torch.ones(1)).summary()["loss_ci"])
    with pytest.raises(ValueError, match=r"^confidence must be a finite number in \(0, 1\); got 95.0"):
        result.summary(95)
    assert InjectionResult is Evaluation


# ---- regressions: in-place modules, views, hooks with side effects, random operations, bad data


class _LeNet(nn.Module):
    """Flattens with ``x.view(x.size(0), -1)`` after a convolution (impossible on a channels-last tensor)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)  # three input channels: the convolution then returns channels-last
        self.fc = nn.Linear(4 * 10 * 10, 4)

    def forward(self, x):
        x = nn.functional.relu(self.conv(x))
        return self.fc(x.view(x.size(0), -1))


class _Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(self.act(self.conv(x)).mean((2, 3)))


def test_in_place_dropout_of_a_model_in_train_mode_is_evaluated_in_eval_mode():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5, inplace=True),
                          nn.Linear(4 * 36, 4)).train()
    data = _data()
    fast, forward = evaluate(model, data), evaluate(model, data, path="forward")
    assert fast.path == "fast" and model.training
    assert torch.allclose(fast.loss, forward.loss, rtol=1e-6) and torch.equal(fast.accuracy, forward.accuracy)
    assert torch.equal(evaluate(model, data).loss, fast.loss)  # no dropout: the same numbers every time


def test_a_view_after_a_convolution_takes_the_fast_path():
    torch.manual_seed(0)
    model, data = _LeNet(), _data(channels=3)
    sets = [{}, {"fc": torch.zeros(4, 400)}, {"conv": model.conv.weight * 0.5}]
    fast = evaluate(model, data, sets)
    assert fast.path == "fast"
    loss, accuracy = plain_forward(model, data, sets)
    assert torch.allclose(fast.loss, loss, rtol=1e-5, atol=1e-6) and torch.equal(fast.accuracy, accuracy)


def test_a_hook_writing_into_its_input_does_not_change_the_shared_activations():
    torch.manual_seed(0)
    model, data = _Small(), _data()
    model.fc.register_forward_pre_hook(lambda module, args: (args[0].mul_(2),))
    sets = [{"fc": torch.randn(4, 4, generator=torch.Generator().manual_seed(s))} for s in range(3)]
    fast = evaluate(model, data, sets, batch_size=16)
    assert fast.path == "fast"
    loss, accuracy = plain_forward(model, data, sets)
    assert torch.allclose(fast.loss, loss, rtol=1e-5, atol=1e-6) and torch.equal(fast.accuracy, accuracy)


def test_a_hooked_module_in_the_prefix_runs_once_per_micro_batch_not_per_set():
    torch.manual_seed(0)
    model, data = _Small(), _data(n=40)
    calls = []
    model.act.register_forward_hook(lambda module, args, output: calls.append(1))
    sets = [{"fc": torch.randn(4, 4, generator=torch.Generator().manual_seed(s))} for s in range(5)]
    fast = evaluate(model, data, sets, batch_size=20)
    assert fast.path == "fast" and len(calls) == 2  # two micro-batches, shared by the five sets
    calls.clear()
    forward = evaluate(model, data, sets, batch_size=20, path="forward")
    assert len(calls) == 10 and torch.allclose(fast.loss, forward.loss, rtol=1e-5)  # same numbers, more calls


class _Noisy(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        h = self.conv(x)
        if self.kind == "constant shape":
            h = h + torch.randn(4, 12, 12)
        elif self.kind == "like":
            h = h + torch.randn_like(h)
        elif self.kind == "functional dropout":
            h = nn.functional.dropout(h, 0.5)
        elif self.kind == "dropout that follows the mode":
            h = nn.functional.dropout(h, 0.5, self.training)
        return self.fc(h.mean((2, 3)))


@pytest.mark.parametrize("kind", ["constant shape", "like", "functional dropout"])
def test_random_operations_send_the_evaluation_to_the_forward(kind):
    torch.manual_seed(0)
    model, data = _Noisy(kind), _data()
    result = evaluate(model, data, [{}, {"fc": torch.zeros(4, 4)}])
    assert result.path == "forward" and "random" in result.reason
    with pytest.raises(ValueError, match="path='fast' is not available .*random"):
        evaluate(model, data, path="fast")


def test_deterministic_dropout_keeps_the_fast_path_and_tracing_draws_nothing():
    torch.manual_seed(0)
    model, data = _Noisy("dropout that follows the mode").train(), _data()
    state = torch.random.get_rng_state()
    result = evaluate(model, data)
    assert result.path == "fast" and torch.equal(state, torch.random.get_rng_state())
    assert torch.allclose(result.loss, evaluate(model, data, path="forward").loss, rtol=1e-6)
    model = _Noisy("constant shape")
    state = torch.random.get_rng_state()
    assert Engine(model).path == "forward"
    assert torch.equal(state, torch.random.get_rng_state())  # the draw made while tracing is undone


def test_an_in_place_operation_on_an_unlisted_view_sends_the_evaluation_to_the_forward():
    class Swap(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.fc = nn.Linear(4 * 144, 4)

        def forward(self, x):
            h = self.conv(x)
            h.swapaxes(2, 3).relu_()  # writes into h through a view
            return self.fc(h.flatten(1))

    torch.manual_seed(0)
    model, data = Swap(), _data()
    result = evaluate(model, data)
    assert result.path == "forward" and "works in place" in result.reason
    assert torch.allclose(result.loss, plain_forward(model, data, [{}])[0], rtol=1e-5)


@pytest.mark.parametrize("change, error, message", [
    (lambda d: ImageTensors(d.images, d.labels + 4), ValueError,
     r"^data.labels must be class indices in \[0, 3\] \(the model has 4 outputs\); got labels up to 7"),
    (lambda d: ImageTensors(d.images, d.labels - 1), ValueError,
     r"^data.labels must be class indices >= 0; got values from -1"),
    (lambda d: ImageTensors(d.images, d.labels.float()), TypeError, "^data.labels must be class indices of dtype "
                                                                    "torch.int64 or torch.uint8; got torch.float32"),
    (lambda d: SimpleNamespace(images=d.images, labels=d.labels[:, None]), ValueError,
     r"^data.labels must have shape \(40\); got \(40, 1\)"),
    (lambda d: ImageTensors((d.images * 10).to(torch.uint8), d.labels), TypeError,
     "^data.images must be a floating-point tensor"),
    (lambda d: ImageTensors(d.images[:, 0], d.labels), ValueError, r"^data.images must have 4 dimensions; got shape "
                                                                   r"\(40, 12, 12\)"),
    (lambda d: ImageTensors(d.images.double(), d.labels), TypeError, "^data.images must have the model's dtype "
                                                                     "torch.float32; got torch.float64"),
    (lambda d: ImageTensors(d.images.index_fill(0, torch.tensor([3]), math.inf), d.labels), ValueError,
     "^data.images must be a tensor of finite values; got 0 NaN and 144 infinite"),
    (lambda d: "images", TypeError, "^data must be an ImageTensors"),
])
def test_bad_data_is_named(change, error, message):
    model, data = _model("vgg_small"), _data()
    for path in ("auto", "forward"):
        with pytest.raises(error, match=message):
            evaluate(model, change(data), path=path)
