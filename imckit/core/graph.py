"""A model's forward pass as a layer graph, derived by tracing, for fast repeated evaluation.

:func:`layer_graph` traces a network with :mod:`torch.fx` (``torch.fx.Tracer``: modules of ``torch.nn`` stay
calls, everything else is inlined) and cuts the traced operations into :class:`Node` s at the mappable
modules (every ``nn.Conv2d`` / ``nn.Linear``, :func:`imckit.core.models.mappable_layers`): each node starts
at one call of a mappable module (or at an operation whose input is shared) and takes along the operations
that follow it as long as each result has a single reader. For ResNet-8 that gives exactly the hand-written
graph the kit used before: ``conv -> BN -> ReLU`` per branch, ``conv -> BN -> + shortcut -> ReLU`` per join,
the 1x1 skip convolution on its own, pooling with the last stack, the dense layer alone.

Why the graph: an evaluation that replaces the weights of one module (an error draw, a precision
assignment) changes only the nodes that module feeds. The engine (:mod:`imckit.core.engine`) computes every
other node once per micro-batch and reruns only the rest per weight set (prefix caching). Exact rewrites
make each node fast on CPU:

- a ``BatchNorm2d`` (eval mode, running statistics) that is the only reader of a convolution is folded
  into it: ``w * gamma / sqrt(var + eps)`` and ``beta - mean * gamma / sqrt(var + eps)`` (+ the scaled
  convolution bias), computed once per weight set, not per micro-batch;
- images and convolution weights run channels-last (``x.view(...)``, which a channels-last tensor cannot
  always serve, runs as ``x.reshape(...)``: the same values);
- ReLU and additions write into the tensor their node has just computed, never into an input of the node;
  every other in-place operation runs in its out-of-place form, which is exact because the value it writes
  into must have no other reader, through any operation that may return a view of it (every operation not
  known to allocate a fresh tensor counts as one);
- in-place modules (``nn.ReLU(inplace=True)``, ``nn.Dropout(inplace=True)``, ...) run as out-of-place
  copies in eval mode, as the model's own modules do when the engine evaluates.

Folding changes the order of float operations, so the graph agrees with ``model(x)`` to float rounding
(~1e-6 relative), not bit for bit; the engine's fallback (the whole forward) is the bit-exact reference.

Why hand-written and not a library: ``torch.compile`` / TorchScript / ``torch.fx`` passes fuse BatchNorm and
change layouts, but none of them evaluates one network with many replacement weight sets while reusing the
activations those weights do not feed; ``torch.func.vmap`` over sets was measured slower on CPU
(:class:`imckit.injection.errors.PerturbedEvaluator`). So the kit keeps its own small interpreter of the
traced graph.

When there is no graph (:class:`GraphUnavailable`, with the reason): the forward cannot be traced
(data-dependent control flow, ...); a forward hook or pre-hook sits on a module that tracing would inline
(hooks on the modules the graph calls, e.g. the LSQ input quantizers of :mod:`imckit.qat.training`, are
honoured: such a module is called as itself, its hooks included, and not folded); a global module hook is
registered; the forward draws random numbers (``torch.randn``, ``torch.randn_like``, a functional dropout in
training mode, ...: one draw would be shared by every weight set, or frozen into the trace); a module the
graph would call owns parameters and is not a convolution, dense layer or normalization
(:data:`RUNNABLE_WITH_PARAMETERS`); a forward reads a parameter directly (a custom layer); an in-place
operation writes into a value that something else reads, or into a tensor of the model; the forward returns
more than one tensor or takes more than one input without a default. The engine then evaluates the whole
forward.
"""

from __future__ import annotations

import copy
import inspect
import operator
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import fx, nn

from imckit.core.models import mappable_layers

__all__ = ["GraphUnavailable", "Node", "Site", "LayerGraph", "layer_graph", "fast_path_blocker", "has_hooks",
           "MAPPABLE_TYPES", "RUNNABLE_WITH_PARAMETERS"]

MAPPABLE_TYPES = (nn.Conv2d, nn.Linear)
"""Module types the graph computes itself, with replacement weights and a folded BatchNorm."""

RUNNABLE_WITH_PARAMETERS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm,
                            nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.PReLU)
"""Other ``torch.nn`` modules with parameters that the graph calls as themselves (their output depends only on
their input and their own parameters, which weight sets never replace)."""

# Operations known to return a freshly allocated tensor (when they do not work in place). Any other operation
# may return its input or a view of it (``view``, ``reshape``, ``swapaxes``, ``contiguous``, ``to``, a dropout in
# eval mode, ...): an in-place write into its result may write into its input, so :func:`_check_private` follows
# it back. An allow-list, not a list of views: an operation the kit does not know is treated as a possible view,
# which can only cost the fast path, never exactness.
_F = nn.functional
_ALLOCATING_FUNCTIONS = {
    torch.relu, _F.relu, _F.relu6, _F.leaky_relu, _F.elu, _F.selu, _F.celu, _F.gelu, _F.silu, _F.mish,
    _F.hardswish, _F.hardsigmoid, _F.hardtanh, _F.softplus, _F.softmax, _F.log_softmax, torch.softmax,
    torch.log_softmax, torch.sigmoid, _F.sigmoid, torch.tanh, _F.tanh, torch.add, torch.sub, torch.mul, torch.div,
    torch.matmul, torch.mm, torch.bmm, torch.cat, torch.concat, torch.stack, torch.mean, torch.sum, torch.amax,
    torch.amin, torch.clamp, torch.clip, torch.abs, torch.exp, torch.log, torch.sqrt, torch.rsqrt, torch.pow,
    torch.neg, torch.square, torch.where, torch.clone, torch.max, torch.min, _F.linear, _F.conv1d, _F.conv2d,
    _F.conv3d, _F.batch_norm, _F.layer_norm, _F.group_norm, _F.instance_norm, _F.max_pool1d, _F.max_pool2d,
    _F.max_pool3d, _F.avg_pool1d, _F.avg_pool2d, _F.avg_pool3d, _F.adaptive_avg_pool1d, _F.adaptive_avg_pool2d,
    _F.adaptive_avg_pool3d, _F.adaptive_max_pool1d, _F.adaptive_max_pool2d, _F.adaptive_max_pool3d, _F.pad,
    _F.interpolate, _F.normalize, operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv,
    operator.mod, operator.pow, operator.matmul, operator.neg,
}
_ALLOCATING_METHODS = {
    "add", "sub", "mul", "div", "true_divide", "matmul", "mm", "bmm", "relu", "sigmoid", "tanh", "softmax",
    "log_softmax", "clamp", "clip", "abs", "exp", "log", "sqrt", "rsqrt", "pow", "neg", "square", "mean", "sum",
    "amax", "amin", "max", "min", "norm", "clone", "std", "var", "prod", "cumsum", "floor", "round", "sign",
}
_ALLOCATING_MODULES = (
    nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear,
    nn.Bilinear, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm1d,
    nn.InstanceNorm2d, nn.InstanceNorm3d, nn.LocalResponseNorm, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU,
    nn.CELU, nn.GELU, nn.SiLU, nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid,
    nn.Softplus, nn.Softsign, nn.Softmax, nn.LogSoftmax, nn.PReLU, nn.Threshold, nn.MaxPool1d, nn.MaxPool2d,
    nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.Upsample,
    nn.ZeroPad2d, nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d, nn.ReflectionPad1d, nn.ReflectionPad2d,
    nn.ReplicationPad1d, nn.ReplicationPad2d,
)

# Operations that draw random numbers. On the fast path one draw would be shared by every weight set (and a
# draw with a fixed shape becomes a constant of the trace): such a forward has no exact graph.
_RANDOM_FUNCTIONS = {torch.rand, torch.randn, torch.randint, torch.rand_like, torch.randn_like, torch.randint_like,
                     torch.randperm, torch.normal, torch.bernoulli, torch.multinomial, torch.poisson,
                     _F.gumbel_softmax}
# random unless their ``training`` (``train``) argument is False (in eval mode a module passes False)
_RANDOM_WHEN_TRAINING = {_F.dropout: "training", _F.dropout1d: "training", _F.dropout2d: "training",
                         _F.dropout3d: "training", _F.alpha_dropout: "training",
                         _F.feature_alpha_dropout: "training", _F.rrelu: "training", torch.dropout: "train",
                         torch.feature_dropout: "train", torch.alpha_dropout: "train",
                         torch.feature_alpha_dropout: "train", torch.rrelu: "training"}
_RANDOM_METHODS = {"normal_", "uniform_", "bernoulli_", "bernoulli", "random_", "exponential_", "geometric_",
                   "cauchy_", "log_normal_", "multinomial"}

_INPLACE_OPERATORS = {operator.iadd: operator.add, operator.isub: operator.sub, operator.imul: operator.mul,
                      operator.itruediv: operator.truediv, operator.ifloordiv: operator.floordiv,
                      operator.imod: operator.mod, operator.ipow: operator.pow, operator.iand: operator.and_,
                      operator.ior: operator.or_, operator.ixor: operator.xor, operator.imatmul: operator.matmul}
_RELU = {torch.relu, nn.functional.relu}
_ADD = {operator.add, torch.add}


class GraphUnavailable(Exception):
    """The model has no exact layer graph; the message says why (the engine then runs the whole forward)."""


def has_hooks(module: nn.Module) -> bool:
    """Whether ``module`` has a forward hook or forward pre-hook of its own."""
    return bool(module._forward_pre_hooks) or bool(module._forward_hooks)


def _global_hooks() -> bool:
    from torch.nn.modules import module as module_py

    return any(bool(getattr(module_py, name, None)) for name in (
        "_global_forward_pre_hooks", "_global_forward_hooks", "_global_forward_hooks_always_called"))


@dataclass(frozen=True)
class Site:
    """One call of a mappable module in the graph.

    Attributes:
        key: the traced operation's name (unique; the key of the site in prepared weights).
        module: qualified name of the ``nn.Conv2d`` / ``nn.Linear``.
        norm: qualified name of the ``BatchNorm2d`` folded into it, or ``None``.
        hooked: the module has hooks: it is called as itself (hooks included, its weight replaced through
            ``torch.func.functional_call``) and nothing is folded into it.
    """

    key: str
    module: str
    norm: str | None
    hooked: bool


@dataclass(frozen=True, eq=False)
class Node:
    """One step of the layer graph.

    Attributes:
        name: the node's name (the mappable module it starts with, else the traced operation's name).
        inputs: names of the nodes it reads (``"input"``: the images).
        modules: qualified names of the mappable modules whose weights it uses.
        ops: what it computes, one short description per operation (for reading the graph).
        run: ``run(inputs, prepared) -> tensor``: ``inputs`` in the order of :attr:`inputs`, ``prepared``
            from :meth:`LayerGraph.prepare`. It may write into the tensor it computes, never into its inputs
            (unless a module hook it calls does: see :attr:`hooked`).
        hooked: the node calls a module that has hooks (a hook may write into the node's inputs; the engine
            passes such a node copies of the activations it shares between weight sets).
    """

    name: str
    inputs: tuple[str, ...]
    modules: tuple[str, ...]
    ops: tuple[str, ...]
    run: Callable = field(repr=False)
    hooked: bool = False


@dataclass(frozen=True, eq=False)
class LayerGraph:
    """A model's eval-mode forward pass as :class:`Node` s in execution order (see the module docstring).

    Attributes:
        model: the traced model (the graph reads its modules when it runs; never modifies it).
        nodes: the nodes in an order that respects their inputs.
        output: name of the node that computes the logits.
        sites: every call of a mappable module.
    """

    model: nn.Module = field(repr=False)
    nodes: tuple[Node, ...]
    output: str
    sites: tuple[Site, ...]

    def folds(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Per folded site, ``(scale, shift)`` of its BatchNorm from the current running statistics."""
        out = {}
        for site in self.sites:
            if site.norm is None:
                continue
            bn = self.model.get_submodule(site.norm)
            gamma = bn.weight if bn.weight is not None else torch.ones_like(bn.running_var)
            beta = bn.bias if bn.bias is not None else torch.zeros_like(bn.running_mean)
            scale = (gamma / torch.sqrt(bn.running_var + bn.eps)).detach()
            shift = (beta - bn.running_mean * scale).detach()
            out[site.key] = (scale, shift)
        return out

    def prepare(self, weights: dict[str, torch.Tensor] | None = None, folds: dict | None = None,
                modules: set[str] | None = None) -> dict:
        """What each site computes with: site key -> ``(weight, bias)`` with the BatchNorm folded in and
        convolution weights channels-last (a hooked site: the replacement weight or ``None``).

        Args:
            weights: module name -> replacement weight (on the model's device); other modules use their own.
            folds: :meth:`folds` (computed here when ``None``).
            modules: prepare only the sites of these modules (``None``: all).
        """
        weights = weights or {}
        folds = self.folds() if folds is None else folds
        out = {}
        for site in self.sites:
            if modules is not None and site.module not in modules:
                continue
            if site.hooked:
                out[site.key] = weights.get(site.module)
                continue
            module = self.model.get_submodule(site.module)
            w = weights.get(site.module, module.weight)
            if site.norm is None:
                bias = module.bias
            else:
                scale, bias = folds[site.key]
                if module.bias is not None:
                    bias = bias + module.bias.detach() * scale
                w = w * scale[(slice(None),) + (None,) * (w.ndim - 1)]
            if w.ndim == 4:
                w = w.contiguous(memory_format=torch.channels_last)
            out[site.key] = (w.detach(), None if bias is None else bias.detach())
        return out

    def plan(self, varying: set[str]) -> tuple[list[Node], list[Node]]:
        """Split the nodes into the prefix no module of ``varying`` feeds and the suffix it does."""
        dirty = set()
        for node in self.nodes:
            if set(node.modules) & varying or any(i in dirty for i in node.inputs):
                dirty.add(node.name)
        return [n for n in self.nodes if n.name not in dirty], [n for n in self.nodes if n.name in dirty]

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, weights: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """The logits of ``x`` (any layout) with ``weights`` replaced (a convenience; the engine caches)."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor; got {type(x).__name__}")
        if weights is not None and not isinstance(weights, dict):
            raise TypeError(f"weights must be None or a dict (module name -> weight); got {type(weights).__name__}")
        prepared = self.prepare(weights)
        values = {"input": x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x}
        for node in self.nodes:
            values[node.name] = node.run([values[i] for i in node.inputs], prepared)
        return values[self.output]

    def describe(self) -> str:
        """One line per node: name, inputs, operations."""
        return "\n".join(f"{n.name:<16} <- {', '.join(n.inputs):<28} {' ; '.join(n.ops)}" for n in self.nodes)


class _Slot:
    """An operation argument that is the value in slot ``index`` of the running node."""

    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index


class _Attr:
    """An operation argument read when the node runs (a buffer of the model, or a constant of the trace)."""

    __slots__ = ("value",)

    def __init__(self, value: Callable):
        self.value = value


def _fetch(model: nn.Module, target: str):
    value = model
    for part in target.split("."):
        value = getattr(value, part)
    return value


def _inputs_of(node: fx.Node) -> list[fx.Node]:
    return list(node.all_input_nodes)


def _first_tensor_arg(node: fx.Node) -> fx.Node | None:
    return node.args[0] if node.args and isinstance(node.args[0], fx.Node) else None


def fast_path_blocker(model: nn.Module) -> str | None:
    """Why ``model`` has no exact layer graph, or ``None`` when it has one."""
    _check_model(model)
    try:
        layer_graph(model)
    except GraphUnavailable as error:
        return str(error)
    return None


def _check_model(model) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")


def _trace(model: nn.Module) -> tuple[fx.Graph, dict]:
    """The traced graph (eval mode) and the tensor constants the tracer had to attach to the model, which
    are taken off it again (the model is left as it was)."""
    training = {name: m.training for name, m in model.named_modules()}
    attributes = set(model.__dict__)
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    states = (torch.random.get_rng_state(), torch.cuda.get_rng_state_all() if cuda else [])
    model.eval()
    try:
        tracer = fx.Tracer()
        tracer.proxy_buffer_attributes = True  # operations on buffers are traced, never run on the model's state
        graph = tracer.trace(model)
    except Exception as error:  # noqa: BLE001 -- any tracing failure means "no graph", with its reason
        raise GraphUnavailable(f"torch.fx cannot trace the forward ({type(error).__name__}: {error})") from None
    finally:
        for name, m in model.named_modules():
            m.training = training.get(name, m.training)
        constants = {k: model.__dict__.pop(k) for k in set(model.__dict__) - attributes}
        after = (torch.random.get_rng_state(), torch.cuda.get_rng_state_all() if cuda else [])
        torch.random.set_rng_state(states[0])  # tracing never consumes the caller's random numbers
        if cuda:
            torch.cuda.set_rng_state_all(states[1])
    if not torch.equal(states[0], after[0]) or any(not torch.equal(a, b) for a, b in zip(states[1], after[1])):
        raise GraphUnavailable("the forward draws random numbers while it is traced (e.g. torch.randn with a fixed "
                               "shape): the fast path would freeze one draw into the graph")
    return graph, constants


def layer_graph(model: nn.Module) -> LayerGraph:
    """Trace ``model`` and cut it into its layer graph (see the module docstring).

    Raises:
        GraphUnavailable: the model has no exact layer graph (the message says why).
    """
    _check_model(model)
    if _global_hooks():
        raise GraphUnavailable("a global module forward hook is registered (torch.nn.modules.module)")
    graph, constants = _trace(model)
    modules = dict(model.named_modules())
    mappable = {m for layer in mappable_layers(model) for m in layer.modules}
    params = {name for name, _ in model.named_parameters()}

    # which modules the graph calls; hooks anywhere else would be inlined by tracing or dropped
    called = {n.target for n in graph.nodes if n.op == "call_module"}
    for name, module in modules.items():
        if has_hooks(module) and name not in called and not any(name.startswith(f"{c}.") for c in called if c):
            raise GraphUnavailable(f"module {name or 'the model'!r} ({type(module).__name__}) has a forward "
                                   "hook or pre-hook that tracing would inline")

    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    if not placeholders:
        raise GraphUnavailable("the forward takes no input")
    defaults = {}
    for p in placeholders[1:]:
        if not p.args:
            raise GraphUnavailable(f"the forward takes a second input {p.target!r} without a default")
        defaults[p] = p.args[0]
    source = placeholders[0]
    outputs = [n for n in graph.nodes if n.op == "output"]
    result = outputs[0].args[0]
    if not isinstance(result, fx.Node) or result.op in ("placeholder", "get_attr"):
        raise GraphUnavailable("the forward does not return one computed tensor")

    for n in graph.nodes:
        if n.op == "get_attr" and n.target in params:
            raise GraphUnavailable(f"the forward reads the parameter {n.target!r} directly (a custom layer); "
                                   "only modules the graph calls may own parameters")
        if n.op == "call_module":
            module = modules[n.target]
            if isinstance(module, MAPPABLE_TYPES) and type(module) not in MAPPABLE_TYPES:
                raise GraphUnavailable(f"module {n.target!r} is a subclass of {type(module).__mro__[1].__name__}")
            if any(True for _ in module.parameters()) and not isinstance(module, MAPPABLE_TYPES + RUNNABLE_WITH_PARAMETERS):
                raise GraphUnavailable(f"module {n.target!r} ({type(module).__name__}) has parameters and is not a "
                                       "convolution, dense layer or normalization the graph knows")
        if n.op in ("call_function", "call_method"):
            if "out" in n.kwargs:
                raise GraphUnavailable(f"operation {n.name!r} writes into an out= tensor")
            if n.target in (operator.setitem,):
                raise GraphUnavailable(f"operation {n.name!r} assigns into a tensor")
            drawn = _random_operation(n)
            if drawn is not None:
                raise GraphUnavailable(f"operation {n.name!r} ({drawn}) draws random numbers: the fast path would "
                                       "share one draw between weight sets")

    ops = [n for n in graph.nodes if n.op in ("call_module", "call_function", "call_method")]
    normalized = {n: _normalize(n, modules) for n in ops}  # n -> (callable, args, kwargs), out-of-place
    for n in ops:
        if normalized[n][3]:
            _check_private(n, modules)

    # sites and folds
    site_of: dict[fx.Node, Site] = {}
    folded_norm: dict[fx.Node, fx.Node] = {}  # BatchNorm node -> its convolution node
    for n in ops:
        if n.op != "call_module" or n.target not in mappable or not isinstance(modules[n.target], MAPPABLE_TYPES):
            continue
        module = modules[n.target]
        hooked = has_hooks(module)
        if not hooked and (len(n.args) != 1 or n.kwargs or not isinstance(n.args[0], fx.Node)):
            raise GraphUnavailable(f"module {n.target!r} is called with more than one input")
        norm = None
        users = list(n.users)
        if not hooked and isinstance(module, nn.Conv2d) and len(users) == 1:
            (user,) = users
            bn = modules.get(user.target) if user.op == "call_module" else None
            if (type(bn) is nn.BatchNorm2d and bn.track_running_stats and bn.running_mean is not None
                    and not has_hooks(bn) and user.args == (n,) and not user.kwargs
                    and bn.num_features == module.out_channels):
                norm = user.target
                folded_norm[user] = n
        site_of[n] = Site(n.name, n.target, norm, hooked)

    # cut into nodes: an operation joins the node of its first input when that input has no other reader,
    # unless it is a mappable call (each starts a node)
    group_of: dict[fx.Node, list[fx.Node]] = {}
    groups: list[list[fx.Node]] = []
    for n in ops:
        joined = None
        if n in folded_norm:
            joined = group_of[folded_norm[n]]
        elif n not in site_of:
            for p in _inputs_of(n):
                if p in group_of and len(p.users) == 1 and group_of[p][-1] is p:
                    joined = group_of[p]
                    break
        if joined is None:
            joined = []
            groups.append(joined)
        joined.append(n)
        group_of[n] = joined
    groups.sort(key=lambda g: ops.index(g[-1]))

    names: dict[int, str] = {}
    taken = {"input"}
    for g in groups:
        first = g[0]
        name = first.target if first in site_of and first.target not in taken else first.name
        while name in taken:
            name = f"{name}_"
        taken.add(name)
        names[id(g)] = name
    output_of = {g[-1]: names[id(g)] for g in groups}
    if result not in output_of:
        raise GraphUnavailable("the forward's result is not a computed tensor")

    def attribute(target: str) -> _Attr:
        if target in constants:
            return _Attr(lambda: constants[target])
        return _Attr(lambda: _fetch(model, target))

    nodes = [_compile(names[id(g)], g, source, defaults, output_of, site_of, folded_norm, normalized, modules,
                      attribute) for g in groups]
    return LayerGraph(model, tuple(nodes), output_of[result], tuple(site_of.values()))


def _normalize(n: fx.Node, modules: dict):
    """``(callable, args, kwargs, was_in_place, kind, label)`` of a traced operation, in its out-of-place
    form; ``kind`` is ``"relu"``, ``"add"`` or ``""`` (generic)."""
    args, kwargs = n.args, dict(n.kwargs)
    if n.op == "call_module":
        module = modules[n.target]
        was_inplace = getattr(module, "inplace", False) is True
        if was_inplace:
            if any(True for _ in module.parameters()):
                raise GraphUnavailable(f"module {n.target!r} works in place and has parameters")
            module = copy.copy(module)  # hooks (shared dictionaries) stay; the module itself is untouched
            module.inplace = False
            module.training = False  # the engine puts the model in eval mode; this copy is not part of it
        hooks = has_hooks(module)
        kind = "relu" if type(module) is nn.ReLU and not hooks and len(args) == 1 and not kwargs else ""
        label = f"{type(module).__name__} {n.target}" + (" (called with its hooks)" if hooks else "")
        return module, args, kwargs, was_inplace, kind, label
    if n.op == "call_function":
        target, was_inplace = n.target, False
        if target in _INPLACE_OPERATORS:
            target, was_inplace = _INPLACE_OPERATORS[target], True
        name = getattr(target, "__name__", "")
        if name.endswith("_") and not name.startswith("_"):
            for namespace in (torch, nn.functional):
                if getattr(namespace, name, None) is target:
                    plain = getattr(namespace, name[:-1], None)
                    if plain is None:
                        raise GraphUnavailable(f"operation {n.name!r} ({name}) works in place and has no "
                                               "out-of-place form")
                    target, was_inplace = plain, True
                    break
        try:
            bound = inspect.signature(target).bind(*args, **kwargs)
        except (TypeError, ValueError):
            bound = None
        if bound is not None and bound.arguments.get("inplace") is True:
            bound.arguments["inplace"] = False
            args, kwargs, was_inplace = tuple(bound.args), dict(bound.kwargs), True
        flags = list(args[1:]) + [v for k, v in kwargs.items()]
        kind = ""
        if target in _RELU and len(args) <= 2 and set(kwargs) <= {"inplace"} and not any(flags):
            kind = "relu"
        elif target in _ADD and len(args) == 2 and not kwargs:
            kind = "add"
        return target, args, kwargs, was_inplace, kind, getattr(target, "__name__", str(target))
    method, was_inplace = n.target, False
    if method in ("view", "view_as") and not any(isinstance(a, torch.dtype) for a in (*args, *kwargs.values())):
        # channels-last tensors cannot always be viewed; ``reshape`` gives the same values (a view when it
        # can, a copy otherwise), and in-place operations only ever write into values nothing else reads
        method = "reshape" if method == "view" else "reshape_as"
    if method.endswith("_") and not method.startswith("_"):
        if not hasattr(torch.Tensor, method[:-1]):
            raise GraphUnavailable(f"operation {n.name!r} (.{method}) works in place and has no out-of-place form")
        method, was_inplace = method[:-1], True
    kind = "relu" if method == "relu" and len(args) == 1 and not kwargs else \
        "add" if method == "add" and len(args) == 2 and not kwargs else ""

    def call_method(self, *rest, _m=method, **kw):
        return getattr(self, _m)(*rest, **kw)

    return call_method, args, kwargs, was_inplace, kind, f".{method}()"


def _is_view(n: fx.Node, modules: dict) -> bool:
    """Whether an operation may return its input or a view of it: every operation not known to allocate a
    fresh tensor (see :data:`_ALLOCATING_FUNCTIONS`), and every in-place one."""
    if n.op == "call_method":
        return n.target not in _ALLOCATING_METHODS
    if n.op == "call_function":
        return n.target not in _ALLOCATING_FUNCTIONS or n.kwargs.get("inplace") is True
    if n.op == "call_module":
        module = modules[n.target]
        return type(module) not in _ALLOCATING_MODULES or getattr(module, "inplace", False) is True
    return False


def _check_private(n: fx.Node, modules: dict) -> None:
    """An in-place operation runs in its out-of-place form; that is exact only if nothing else reads the
    value it writes into (through views of it included) and that value is not part of the model's state."""
    todo, seen = [_first_tensor_arg(n)], set()
    while todo:
        value = todo.pop()
        if value is None or value in seen or _is_metadata(value):
            continue
        seen.add(value)
        if value.op == "get_attr":
            raise GraphUnavailable(f"operation {n.name!r} works in place on {value.target!r}, a tensor of the "
                                   "model (its state would change at every call)")
        if sum(not _is_metadata(u) for u in value.users) != 1:  # reading its size is not reading its values
            raise GraphUnavailable(f"operation {n.name!r} works in place on {value.name!r}, which is also read "
                                   "elsewhere")
        if value.op == "placeholder" or not _is_view(value, modules):
            continue
        todo.extend(value.all_input_nodes)  # a possible view of any of its inputs


_METADATA_METHODS = {"size", "dim", "numel", "nelement", "stride", "element_size", "is_contiguous", "__len__"}


def _is_metadata(n: fx.Node) -> bool:
    """Whether ``n`` computes a size, a shape or arithmetic on them (never a tensor one could write into)."""
    if n.op == "call_method" and n.target in _METADATA_METHODS or n.op == "call_function" and n.target in (getattr, len):
        return True
    inputs = n.all_input_nodes
    return n.op in ("call_function", "call_method") and bool(inputs) and all(_is_metadata(i) for i in inputs)


def _random_operation(n: fx.Node) -> str | None:
    """The name of the random draw ``n`` makes, or ``None`` when it is deterministic."""
    if n.op == "call_method":
        return f".{n.target}()" if n.target in _RANDOM_METHODS else None
    if n.op != "call_function":
        return None
    name = getattr(n.target, "__name__", str(n.target))
    if n.target in _RANDOM_FUNCTIONS:
        return name
    if n.target in _RANDOM_WHEN_TRAINING:
        flag = _RANDOM_WHEN_TRAINING[n.target]
        try:
            bound = inspect.signature(n.target).bind(*n.args, **n.kwargs)
            bound.apply_defaults()
            training = bound.arguments[flag]
        except (TypeError, ValueError, KeyError):  # builtins: (input, p, train) / (input, lower, upper, training)
            position = 2 if flag == "train" else 3
            training = n.kwargs.get(flag, n.args[position] if len(n.args) > position else flag == "train")
        return None if training is False else name
    return None


def _compile(name, group, source, defaults, output_of, site_of, folded_norm, normalized, modules, attribute) -> Node:
    """One :class:`Node`: its operations over a list of values (the node's inputs first, then its results)."""
    members = set(group)
    inputs: list[str] = []
    for n in group:
        if n in folded_norm:
            continue
        for a in n.all_input_nodes:
            if a in members or a.op == "get_attr" or a in defaults:
                continue
            key = "input" if a is source else output_of[a]
            if key not in inputs:
                inputs.append(key)
    slot: dict[fx.Node, int] = {}

    def resolve(arg):
        if arg in slot:
            return _Slot(slot[arg])
        if arg.op == "get_attr":
            return attribute(arg.target)
        if arg in defaults:
            return defaults[arg]
        return _Slot(inputs.index("input" if arg is source else output_of[arg]))

    steps, ops, used = [], [], set()
    fresh: set[int] = set()  # slots holding a tensor this node computed, read by nothing but the next step
    for n in group:
        if n in folded_norm:
            slot[n] = slot[folded_norm[n]]
            ops[-1] += f" + {type(modules[n.target]).__name__} {n.target} (folded)"
            continue
        fn, nargs, nkwargs, _, kind, label = normalized[n]
        args, kwargs = fx.node.map_arg(tuple(nargs), resolve), fx.node.map_arg(dict(nkwargs), resolve)
        position = len(inputs) + len(steps)
        first = args[0] if args else None
        if n in site_of and not site_of[n].hooked:
            site = site_of[n]
            used.add(site.module)
            steps.append(_SiteStep(site.key, modules[site.module], first))
            ops.append(f"{type(modules[site.module]).__name__} {site.module}")
            fresh.add(position)
        elif n in site_of:
            site = site_of[n]
            used.add(site.module)
            steps.append(_HookedStep(site.key, fn, args, kwargs))
            ops.append(label)
        elif kind == "relu" and isinstance(first, _Slot):
            steps.append(_ReluStep(first, first.index in fresh))
            ops.append("relu")
            fresh.add(position)
        elif kind == "add" and isinstance(first, _Slot):
            other = args[1]
            steps.append(_AddStep(first, other, first.index in fresh,
                                  isinstance(other, _Slot) and other.index in fresh and other.index != first.index))
            ops.append("add")
            fresh.add(position)
        elif (normalized[n][3] and n.op == "call_module" and not has_hooks(modules[n.target])
              and isinstance(first, _Slot) and first.index in fresh):
            steps.append(_GenericStep(modules[n.target], args, kwargs))  # in place, into this node's own tensor
            ops.append(label)
            fresh.add(position)
        else:
            steps.append(_GenericStep(fn, args, kwargs))
            ops.append(label)
        slot[n] = position

    def run(values, prepared, _steps=tuple(steps)):
        values = list(values)
        for step in _steps:
            values.append(step(values, prepared))
        return values[-1]

    hooked = any(n.op == "call_module" and has_hooks(modules[n.target]) for n in group)
    return Node(name, tuple(inputs), tuple(sorted(used)), tuple(ops), run, hooked)


def _fill(tree, values):
    def get(a):
        if isinstance(a, _Slot):
            return values[a.index]
        if isinstance(a, _Attr):
            return a.value()
        return a

    return fx.node.map_aggregate(tree, get)


class _SiteStep:
    """A convolution or dense layer with its prepared (folded, channels-last) weight and bias."""

    __slots__ = ("key", "index", "conv")

    def __init__(self, key: str, module: nn.Module, arg: _Slot):
        self.key, self.index = key, arg.index
        self.conv = module._conv_forward if isinstance(module, nn.Conv2d) else None

    def __call__(self, values, prepared):
        w, b = prepared[self.key]
        x = values[self.index]
        return self.conv(x, w, b) if self.conv is not None else nn.functional.linear(x, w, b)


class _HookedStep:
    """A mappable module with hooks, called as itself (hooks included), its weight replaced functionally."""

    __slots__ = ("key", "module", "args", "kwargs")

    def __init__(self, key, module, args, kwargs):
        self.key, self.module, self.args, self.kwargs = key, module, args, kwargs

    def __call__(self, values, prepared):
        args, kwargs = _fill(self.args, values), _fill(self.kwargs, values)
        w = prepared.get(self.key)
        if w is None:
            return self.module(*args, **kwargs)
        return torch.func.functional_call(self.module, {"weight": w}, tuple(args), dict(kwargs))


class _ReluStep:
    __slots__ = ("index", "inplace")

    def __init__(self, arg: _Slot, inplace: bool):
        self.index, self.inplace = arg.index, inplace

    def __call__(self, values, prepared):
        x = values[self.index]
        return torch.relu_(x) if self.inplace else torch.relu(x)


class _AddStep:
    """``a + b``, written into ``a`` (or ``b``) when this node computed it and the shapes and types agree."""

    __slots__ = ("a", "b", "into_a", "into_b")

    def __init__(self, a: _Slot, b, into_a: bool, into_b: bool):
        self.a, self.b, self.into_a, self.into_b = a.index, b, into_a, into_b

    def __call__(self, values, prepared):
        a = values[self.a]
        b = values[self.b.index] if isinstance(self.b, _Slot) else _fill(self.b, values)
        if (self.into_a or self.into_b) and isinstance(b, torch.Tensor) and b.shape == a.shape and b.dtype == a.dtype:
            return a.add_(b) if self.into_a else b.add_(a)
        return a + b


class _GenericStep:
    __slots__ = ("fn", "args", "kwargs")

    def __init__(self, fn, args, kwargs):
        self.fn, self.args, self.kwargs = fn, args, kwargs

    def __call__(self, values, prepared):
        return self.fn(*_fill(self.args, values), **_fill(self.kwargs, values))
