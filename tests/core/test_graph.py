"""The traced layer graph (imckit.core.graph).

This file also keeps the kit's former hand-written ResNet-8 graph and its evaluation loop
(:func:`hand_written_resnet8_graph`, :func:`hand_written_evaluate`), the reference the traced graph is tested
against here and timed against in benchmarks/bench_engine.py.
"""

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from imckit.core.graph import GraphUnavailable, fast_path_blocker, layer_graph
from imckit.core.models import build_model, resnet8


# ---------------------------------------------------------------------------------------------------------
# the reference: the hand-written ResNet-8 graph of imckit 0.1 (models.ResNet8.layer_graph) and its loop
# (inject.PerturbedEvaluator.evaluate), unchanged but for names


@dataclass(frozen=True)
class HandNode:
    name: str
    inputs: tuple
    modules: tuple
    run: object


def hand_written_resnet8_graph(model) -> list[HandNode]:
    """ResNet-8's eval-mode forward as the kit wrote it by hand: BatchNorm folded, channels-last inputs."""
    F = nn.functional
    cl = torch.channels_last

    def folded(conv: str, bn: str | None):
        conv_m = model.get_submodule(conv)
        if bn is None:
            scale, shift = None, conv_m.bias
        else:
            bn_m = model.get_submodule(bn)
            scale = (bn_m.weight / torch.sqrt(bn_m.running_var + bn_m.eps)).detach()
            shift = (bn_m.bias - bn_m.running_mean * scale).detach()
            if conv_m.bias is not None:
                shift = shift + conv_m.bias.detach() * scale

        def run(x, weights):
            w = weights.get(conv, conv_m.weight)
            if scale is not None:
                w = w * scale[:, None, None, None]
            return F.conv2d(x, w.contiguous(memory_format=cl), shift, conv_m.stride, conv_m.padding)

        return run

    def conv_bn_relu(conv, bn):
        step = folded(conv, bn)
        return lambda inputs, weights: torch.relu_(step(inputs[0], weights))

    def join(conv, bn):
        step = folded(conv, bn)
        return lambda inputs, weights: torch.relu_(step(inputs[0], weights).add_(inputs[1]))

    def skip(conv):
        step = folded(conv, None)
        return lambda inputs, weights: step(inputs[0], weights)

    fc = model.head.fc
    nodes = [HandNode("stem", ("input",), ("stem.conv",), conv_bn_relu("stem.conv", "stem.bn"))]
    previous = "stem"
    for stack in ("stack1", "stack2", "stack3"):
        module = model.get_submodule(stack)
        nodes.append(HandNode(f"{stack}.branch", (previous,), (f"{stack}.conv1",),
                              conv_bn_relu(f"{stack}.conv1", f"{stack}.bn1")))
        shortcut = previous
        if module.skip is not None:
            nodes.append(HandNode(f"{stack}.skip", (previous,), (f"{stack}.skip",), skip(f"{stack}.skip")))
            shortcut = f"{stack}.skip"
        nodes.append(HandNode(f"{stack}.out", (f"{stack}.branch", shortcut), (f"{stack}.conv2",),
                              join(f"{stack}.conv2", f"{stack}.bn2")))
        previous = f"{stack}.out"
    nodes.append(HandNode("pool", (previous,), (), lambda inputs, weights: torch.flatten(
        F.adaptive_avg_pool2d(inputs[0], 1), 1)))
    nodes.append(HandNode("logits", ("pool",), ("head.fc",), lambda inputs, weights: F.linear(
        inputs[0], weights.get("head.fc", fc.weight), fc.bias)))
    return nodes


@torch.no_grad()
def hand_written_evaluate(model, data, weight_sets, batch_size=256, graph=None):
    """The kit's former PerturbedEvaluator.evaluate loop over :func:`hand_written_resnet8_graph`: nodes no
    replaced module feeds run once per micro-batch, the rest once per set. Returns (loss, accuracy)."""
    graph = graph or hand_written_resnet8_graph(model)
    changed = set().union(*weight_sets)
    dirty = set()
    for node in graph:
        if set(node.modules) & changed or any(i in dirty for i in node.inputs):
            dirty.add(node.name)
    prefix = [n for n in graph if n.name not in dirty]
    suffix = [n for n in graph if n.name in dirty]
    needed = {i for node in suffix for i in node.inputs} | {"logits"}
    loss = torch.zeros(len(weight_sets), dtype=torch.float64)
    correct = torch.zeros(len(weight_sets), dtype=torch.float64)
    for start in range(0, len(data), batch_size):
        x = data.images[start : start + batch_size].contiguous(memory_format=torch.channels_last)
        y = data.labels[start : start + batch_size]
        values = {"input": x}
        for node in prefix:
            values[node.name] = node.run([values[i] for i in node.inputs], {})
        cached = {k: v for k, v in values.items() if k in needed}
        for s, weights in enumerate(weight_sets):
            local = dict(cached)
            for node in suffix:
                local[node.name] = node.run([local[i] for i in node.inputs], weights)
            logits = local["logits"]
            loss[s] += nn.functional.cross_entropy(logits, y, reduction="sum").item()
            correct[s] += (logits.argmax(1) == y).sum().item()
    return loss / len(data), correct / len(data)


# ---------------------------------------------------------------------------------------------------------


def randomize_batchnorm(model, seed=1):
    """Non-trivial BatchNorm statistics and affine parameters, so that folding them is tested."""
    g = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            module.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            module.bias.data.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)
    return model.eval()


def test_traced_resnet8_has_the_hand_written_structure():
    model = randomize_batchnorm(resnet8(in_channels=3, num_classes=5))
    graph = layer_graph(model)
    traced = [(node.inputs, node.modules) for node in graph.nodes]
    names = {"stem": "stem.conv", "pool": "stack3.conv2", "logits": "head.fc"}
    for stack in ("stack1", "stack2", "stack3"):
        names.update({f"{stack}.branch": f"{stack}.conv1", f"{stack}.out": f"{stack}.conv2", f"{stack}.skip": f"{stack}.skip"})
    # the hand-written graph had pooling as its own node; the traced one pools with the last stack
    hand = [(tuple(names[i] if i != "input" else i for i in n.inputs), n.modules)
            for n in hand_written_resnet8_graph(model) if n.name != "pool"]
    hand[-1] = (("stack3.conv2",), ("head.fc",))
    assert sorted(traced) == sorted(hand)
    assert graph.output == "head.fc"
    assert {s.module: s.norm for s in graph.sites} == {
        "stem.conv": "stem.bn", "stack1.conv1": "stack1.bn1", "stack1.conv2": "stack1.bn2", "stack2.conv1": "stack2.bn1",
        "stack2.conv2": "stack2.bn2", "stack2.skip": None, "stack3.conv1": "stack3.bn1", "stack3.conv2": "stack3.bn2",
        "stack3.skip": None, "head.fc": None}


@pytest.mark.parametrize("name", ["resnet8", "vgg_small", "mobilenet_small"])
def test_graph_equals_forward_in_eval_mode(name):
    torch.manual_seed(1)
    model = randomize_batchnorm(build_model(name, in_channels=3, num_classes=5))
    x = torch.randn(4, 3, 32, 32)
    graph = layer_graph(model)
    with torch.no_grad():
        assert torch.allclose(graph(x), model(x), rtol=1e-4, atol=1e-5)
        # a replaced weight is used, BatchNorm folded onto it
        first = graph.sites[0].module
        w = torch.randn(model.get_submodule(first).weight.shape, generator=torch.Generator().manual_seed(3))
        expected = torch.func.functional_call(model, {f"{first}.weight": w}, (x,))
        assert torch.allclose(graph(x, {first: w}), expected, rtol=1e-4, atol=1e-5)
        assert not torch.allclose(expected, model(x), atol=1e-3)


def test_traced_resnet8_gives_the_numbers_of_the_hand_written_graph():
    from imckit.core.data import ImageTensors
    from imckit.core.engine import evaluate

    torch.manual_seed(0)
    model = randomize_batchnorm(resnet8(in_channels=1, num_classes=10))
    g = torch.Generator().manual_seed(2)
    data = ImageTensors(torch.randn(300, 1, 28, 28, generator=g), torch.randint(0, 10, (300,), generator=g))
    for modules in ((), ("stack2.conv1", "stack2.skip"), ("stack3.conv2",), ("head.fc",)):
        sets = [{m: model.get_submodule(m).weight * (1 + 0.1 * s) for m in modules} for s in range(3)]
        loss, accuracy = hand_written_evaluate(model, data, sets)
        result = evaluate(model, data, sets, batch_size=256)
        assert result.path == "fast"
        assert torch.allclose(result.loss, loss, rtol=0, atol=1e-5)
        assert torch.equal(result.accuracy, accuracy)


def test_plan_reuses_everything_a_replaced_module_does_not_feed():
    graph = layer_graph(resnet8(in_channels=1))
    prefix, suffix = graph.plan({"head.fc"})
    assert [n.name for n in suffix] == ["head.fc"]
    prefix, suffix = graph.plan({"stack3.skip"})
    assert [n.name for n in suffix] == ["stack3.skip", "stack3.conv2", "head.fc"]
    assert "stack3.conv1" in {n.name for n in prefix}


def test_tracing_leaves_the_model_as_it_was():
    class WithConstant(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.fc = nn.Linear(2, 3)

        def forward(self, x):
            x = self.conv(x) * torch.tensor(2.0)  # a tensor constant the tracer attaches to the root
            return self.fc(x.mean((2, 3)))

    model = WithConstant().train()
    before = dict(model.__dict__)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    graph = layer_graph(model)
    assert model.__dict__.keys() == before.keys() and model.training and model.conv.training
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    x = torch.randn(2, 1, 5, 5)
    with torch.no_grad():
        assert torch.allclose(graph(x), model.eval()(x), atol=1e-6)


def test_in_place_operations_run_out_of_place_or_block_the_graph():
    class Private(nn.Module):  # in place on values nothing else reads: fine
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.act = nn.ReLU(inplace=True)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            y = self.act(self.bn(self.conv(x)))
            y += 1.0
            y = y.clamp_(max=3.0)
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))

    class Shared(Private):  # ReLU in place on the input of the next convolution *and* of the skip
        def forward(self, x):
            y = self.conv(x)
            z = torch.relu_(y)
            return self.fc((z + y).mean((2, 3)))

    x = torch.randn(3, 1, 6, 6)
    model = randomize_batchnorm(Private())
    graph = layer_graph(model)
    with torch.no_grad():
        assert torch.allclose(graph(x), model(x.clone()), atol=1e-6)
        # prefix caching: the cached activations are not overwritten by one set's in-place operations
        prefix, suffix = graph.plan({"fc"})
        assert [n.name for n in suffix] == ["fc"]
    assert "also read elsewhere" in fast_path_blocker(Shared().eval())


def test_reasons_for_no_graph():
    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(x) if x.sum() > 0 else -self.fc(x)

    class CustomLayer(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(4))
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(x * self.scale)

    class Inner(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(x)

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = Inner()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(self.inner(x))

    assert "cannot trace" in fast_path_blocker(DataDependent())
    assert "reads the parameter 'scale' directly" in fast_path_blocker(CustomLayer())
    unknown = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ConvTranspose2d(2, 2, 3), nn.Flatten(), nn.Linear(32, 2))
    assert "has parameters and is not a convolution" in fast_path_blocker(unknown)
    outer = Outer()
    assert fast_path_blocker(outer) is None
    handle = outer.inner.register_forward_hook(lambda module, args, output: output * 2)
    assert "module 'inner' (Inner) has a forward hook or pre-hook" in fast_path_blocker(outer)
    handle.remove()
    handle = outer.register_forward_pre_hook(lambda module, args: None)
    assert "module 'the model'" in fast_path_blocker(outer)
    handle.remove()
    handle = nn.modules.module.register_module_forward_hook(lambda module, args, output: None)
    try:
        assert "global module forward hook" in fast_path_blocker(outer)
    finally:
        handle.remove()
    assert fast_path_blocker(outer) is None


def test_hooks_on_called_modules_are_honoured_and_block_folding():
    torch.manual_seed(0)
    model = randomize_batchnorm(resnet8(in_channels=1, num_classes=4, width=0.5))
    calls = []

    def halve_input(module, args):
        calls.append(1)
        return (args[0] * 0.5,)

    model.stack2.conv2.register_forward_pre_hook(halve_input)
    model.stack1.bn1.register_forward_hook(lambda module, args, output: output + 0.25)
    graph = layer_graph(model)
    sites = {s.module: s for s in graph.sites}
    assert sites["stack2.conv2"].hooked and sites["stack2.conv2"].norm is None
    assert sites["stack1.conv1"].norm is None  # its BatchNorm has a hook: it runs as itself
    x = torch.randn(3, 1, 12, 12)
    with torch.no_grad():
        expected = model(x)
        assert torch.allclose(graph(x), expected, atol=1e-5) and calls
        w = model.stack2.conv2.weight * 0.5
        replaced = torch.func.functional_call(model, {"stack2.conv2.weight": w}, (x,))
        assert torch.allclose(graph(x, {"stack2.conv2": w}), replaced, atol=1e-5)
        assert not torch.allclose(replaced, expected, atol=1e-4)


def test_layer_graph_raises_with_the_reason():
    class Bad(nn.Module):
        def forward(self, x):
            return x if x.max() > 0 else -x

    with pytest.raises(GraphUnavailable, match="torch.fx cannot trace the forward"):
        layer_graph(Bad())


def test_views_run_as_reshapes_on_channels_last_activations():
    class LeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)
            self.fc = nn.Linear(4 * 4 * 4, 3)

        def forward(self, x):
            x = nn.functional.relu(self.conv(x))
            x = x.view(x.size(0), -1)
            return self.fc(x.relu_())  # in place on a view whose source is read only for its size

    torch.manual_seed(0)
    model = LeNet().eval()
    graph = layer_graph(model)
    assert any(".reshape()" in op for node in graph.nodes for op in node.ops)
    x = torch.randn(3, 1, 6, 6)
    with torch.no_grad():
        assert torch.allclose(graph(x), model(x), atol=1e-6)


def test_operations_not_known_to_allocate_count_as_views():
    class SwapThenWrite(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.fc = nn.Linear(2 * 16, 2)

        def forward(self, x):
            h = self.conv(x)
            h.swapaxes(2, 3).relu_()  # swapaxes is in no list of views
            return self.fc(h.flatten(1))

    class WriteIntoABuffer(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)
            self.register_buffer("count", torch.zeros(()))

        def forward(self, x):
            self.count.add_(1)
            return self.fc(x.flatten(1)) + self.count

    assert "works in place on 'conv', which is also read elsewhere" in fast_path_blocker(SwapThenWrite())
    model = WriteIntoABuffer()
    assert "works in place on 'count', a tensor of the model" in fast_path_blocker(model)
    assert model.count == 0  # tracing ran nothing on the model's buffers


def test_random_operations_have_no_graph_and_tracing_draws_nothing():
    class Noise(nn.Module):
        def __init__(self, how):
            super().__init__()
            self.how = how
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            x = x.flatten(1)
            if self.how == "fixed shape":
                x = x + torch.randn(4)
            elif self.how == "like":
                x = x + torch.rand_like(x)
            elif self.how == "method":
                x = x + torch.empty_like(x).normal_()
            elif self.how == "dropout":
                x = nn.functional.dropout(x, 0.1)
            else:  # dropout that follows the module's mode: deterministic in eval mode
                x = nn.functional.dropout(x, 0.1, self.training)
            return self.fc(x)

    for how, message in (("fixed shape", "draws random numbers while it is traced"),
                         ("like", "(rand_like) draws random numbers"), ("method", "(.normal_()) draws random numbers"),
                         ("dropout", "(dropout) draws random numbers")):
        model = Noise(how)
        state = torch.random.get_rng_state()
        assert message in fast_path_blocker(model), how
        assert torch.equal(state, torch.random.get_rng_state())
    assert fast_path_blocker(Noise("mode").train()) is None
