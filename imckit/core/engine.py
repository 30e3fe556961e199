"""The evaluation engine: loss and accuracy of a network on images, for one or many replacement weight sets.

Every evaluation in the kit runs here (:func:`evaluate`, :class:`Engine`): the baseline's test metrics
(:func:`imckit.core.training.evaluate`), QAT weights (:func:`imckit.qat.training.evaluate_weights`), error
injection, Table I, whole-network simulations, precision assignments
(:class:`imckit.injection.errors.PerturbedEvaluator`).

A *weight set* maps module names (the modules of :func:`imckit.core.models.mappable_layers`) to replacement
weight tensors; modules not in a set keep their own weight. ``weight_sets=None`` evaluates the model as it is.

Two paths, the same loss and accuracy (to float rounding) for any model whose forward and hooks have no
side effects:

``"fast"``
    The model's layer graph (:func:`imckit.core.graph.layer_graph`, traced with ``torch.fx`` and cut at the
    mappable modules). Modules replaced by *the same* tensor in every set (e.g. a quantized base network)
    count as part of the network; the others *vary*. Per micro-batch of images every node no varying
    module feeds (the *prefix*) is computed once, then only the remaining nodes (the *suffix*) run per set
    (prefix caching). BatchNorm is folded into the convolution before it, once per set (not per
    micro-batch); images and convolution weights run channels-last; ReLU and residual additions write in
    place into tensors the node owns. Evaluating the last layer of a network thus costs one dense layer
    per set instead of a whole forward.
``"forward"`` (the fallback)
    The model's own forward per set, with the replacement weights passed through
    ``torch.func.functional_call`` (the model is never written to). Bit-identical to calling the model.

``path="auto"`` (the default) takes the fast path whenever the graph is exact and the forward otherwise:
when tracing fails, when hooks sit where tracing would skip them, when a module the graph would call has
parameters it does not know, when the forward draws random numbers (see :mod:`imckit.core.graph` for the
full list). :attr:`Evaluation.path` and :attr:`Evaluation.reason` say which path ran and why.

Hooks. A hook on a module the graph calls (e.g. the LSQ input quantizers that
:func:`imckit.qat.training.attach_input_quantizers` registers as forward pre-hooks on convolutions) is
honoured on the fast path: the module is called as itself, hooks included; a hook where tracing would skip
it sends the evaluation to the forward. What differs is how often a hook runs: on the forward path once
per micro-batch *and weight set*; on the fast path a hooked module in the prefix runs once per micro-batch
(its result is shared by all sets) and one in the suffix once per micro-batch and set. So a hook that only
transforms values (LSQ, scaling, clipping) gives the same numbers on both paths, while a hook with side
effects (counting calls, recording activations, changing its own state) sees fewer calls on the fast path;
pass ``path="forward"`` for those. A hook that writes into its input is safe: modules called in the suffix
get copies of the activations the sets share.

Why hand-written: no library evaluates one network for many weight sets while reusing every activation the
replaced weights do not feed, with BatchNorm folded per set; ``torch.compile`` recompiles or guards on
changed weights, and batching sets with ``torch.func.vmap`` was slower on CPU (measured in
:class:`imckit.injection.errors.PerturbedEvaluator`'s development).

Devices: ``device`` is ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``
(:func:`imckit.core.compute.resolve_device`). The model is evaluated where it is when it is already there;
otherwise a copy is moved (the model itself is never moved or modified; its train/eval flags are restored).
Results are float64 tensors on the CPU.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn
from tqdm import tqdm

from imckit.core.compute import resolve_device
from imckit.core.data import ImageTensors, check_image_tensors
from imckit.core.graph import GraphUnavailable, LayerGraph, layer_graph
from imckit.core.models import mappable_layers
from imckit.core.validate import check_bool, check_choice, check_count, check_finite, check_number

__all__ = ["PATHS", "DEFAULT_BATCH_SIZE", "Evaluation", "Engine", "evaluate"]

PATHS = ("auto", "fast", "forward")

DEFAULT_BATCH_SIZE = {("cpu", "fast"): 256, ("cpu", "forward"): 128, ("cuda", "fast"): 1024, ("cuda", "forward"): 1024}
"""Images per micro-batch when ``batch_size=None``, by device type and path. CPU: the fastest sizes on 2
cores (layer graph: 256, benchmarks/bench_injection.py; whole forward: 128, benchmarks/bench_eval.py).
CUDA: not measured (no GPU was available); large batches keep a GPU busy."""


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Per-weight-set mean loss and accuracy.

    Attributes:
        loss: float64 tensor (R,), mean cross-entropy over the images, one entry per weight set.
        accuracy: float64 tensor (R,), top-1 accuracy (0 to 1).
        path: ``"fast"`` (layer graph) or ``"forward"`` (whole forward per set); ``""`` when built by hand.
        reason: why the forward ran (``""`` on the fast path).
    """

    loss: torch.Tensor
    accuracy: torch.Tensor
    path: str = ""
    reason: str = ""

    def summary(self, confidence: float = 0.95) -> dict[str, float]:
        """Means with a normal-approximation confidence half-width over the weight sets (NaN for one set)."""
        from scipy.stats import norm

        confidence = check_number(confidence, "confidence", 0, 1, low_open=True, high_open=True)
        z = float(norm.ppf(0.5 + confidence / 2))
        out = {}
        for name in ("loss", "accuracy"):
            values = getattr(self, name)
            n = len(values)
            half = z * float(values.std(unbiased=True)) / math.sqrt(n) if n > 1 else math.nan
            out[f"{name}_mean"] = float(values.mean())
            out[f"{name}_ci"] = half
        return out


def _signature(model: nn.Module) -> tuple:
    """What the layer graph depends on besides the weights: the modules, their hooks and in-place flags."""
    from torch.nn.modules import module as module_py

    return tuple((name, id(m), tuple(m._forward_pre_hooks), tuple(m._forward_hooks), getattr(m, "inplace", None))
                 for name, m in model.named_modules()) + tuple(
        tuple(getattr(module_py, k, {})) for k in ("_global_forward_pre_hooks", "_global_forward_hooks"))


def _device_of(model: nn.Module) -> set[torch.device]:
    return {t.device for t in (*model.parameters(), *model.buffers())}


class Engine:
    """A model prepared for repeated evaluation (see the module docstring).

    The layer graph is traced once and kept while the model's modules and hooks stay the same (it is traced
    again when they change); BatchNorm statistics and weights are read afresh at every :meth:`evaluate`.

    Args:
        model: the network (evaluated in eval mode; never moved or modified).
        device: where to compute: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
        path: ``"auto"`` (the fast path when it is exact), ``"fast"`` (an error when it is not) or
            ``"forward"`` (always the whole forward).
    """

    def __init__(self, model: nn.Module, device: str | torch.device = "cpu", path: str = "auto"):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
        check_choice(path, "path", PATHS)
        self.model, self.device, self.requested = model, resolve_device(device), path
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.modules = {m for layer in mappable_layers(model) for m in layer.modules}
        self._signature = None
        self._graph: LayerGraph | None = None
        self._reason = ""

    def _trace(self) -> None:
        signature = _signature(self.model)
        if signature == self._signature:
            return
        self._graph, self._reason = None, ""
        if self.requested == "forward":
            self._reason = "path='forward' was asked for"
        else:
            try:
                self._graph = layer_graph(self.model)
            except GraphUnavailable as error:
                if self.requested == "fast":
                    raise ValueError(f"path='fast' is not available for this model: {error}") from None
                self._reason = str(error)
        self._signature = signature

    @property
    def path(self) -> str:
        """``"fast"`` or ``"forward"``: the path :meth:`evaluate` takes for the model as it is now."""
        self._trace()
        return "fast" if self._graph is not None else "forward"

    @property
    def reason(self) -> str:
        """Why the forward runs (``""`` on the fast path)."""
        self._trace()
        return self._reason

    @property
    def graph(self) -> LayerGraph | None:
        """The layer graph (``None`` on the forward path)."""
        self._trace()
        return self._graph

    def check_weight_sets(self, weight_sets) -> list[dict]:
        """``weight_sets`` validated (see :func:`evaluate`); ``None`` becomes ``[{}]``."""
        if weight_sets is None:
            return [{}]
        if not isinstance(weight_sets, (list, tuple)) or not weight_sets:
            raise ValueError("weight_sets must be None or a non-empty list of dicts (module name -> weight; "
                             f"an empty dict is the model as it is); got {_short(weight_sets)}")
        checked: set[tuple[str, int]] = set()  # a tensor shared by many sets (a base weight) is checked once
        for s, ws in enumerate(weight_sets):
            if not isinstance(ws, dict):
                raise ValueError(f"weight_sets[{s}] must be a dict (module name -> weight); got {type(ws).__name__}")
            unknown = set(ws) - self.modules
            if unknown:
                raise ValueError(f"weight_sets[{s}] names unknown module(s) {sorted(unknown)}; the model's mappable "
                                 f"modules are {sorted(self.modules)}")
            for name, w in ws.items():
                if (name, id(w)) in checked:
                    continue
                own = self.model.get_submodule(name).weight
                if not isinstance(w, torch.Tensor):
                    raise ValueError(f"weight_sets[{s}]: replacement weight for {name!r} must be a tensor; got "
                                     f"{type(w).__name__}")
                if tuple(w.shape) != tuple(own.shape):
                    raise ValueError(f"weight_sets[{s}]: replacement weight for {name!r} has shape {tuple(w.shape)}; "
                                     f"expected {tuple(own.shape)}")
                if w.dtype != own.dtype:
                    raise ValueError(f"weight_sets[{s}]: replacement weight for {name!r} has dtype {w.dtype}; "
                                     f"expected {own.dtype}")
                check_finite(w, f"weight_sets[{s}][{name!r}]")
                checked.add((name, id(w)))
        return list(weight_sets)

    @torch.no_grad()
    def evaluate(self, data: ImageTensors, weight_sets: list[dict] | None = None, *, batch_size: int | None = None,
                 progress: bool = False) -> Evaluation:
        """Loss and accuracy on ``data`` of the model with each weight set's replacements (see
        :func:`evaluate`)."""
        if batch_size is not None:
            batch_size = check_count(batch_size, "batch_size")
        progress = check_bool(progress, "progress")
        check_image_tensors(data, "data", dtype=_dtype_of(self.model), nonempty=True)
        sets = self.check_weight_sets(weight_sets)
        self._trace()
        path = "fast" if self._graph is not None else "forward"
        if batch_size is None:
            batch_size = DEFAULT_BATCH_SIZE[("cuda" if self.device.type == "cuda" else "cpu", path)]

        on_device = _device_of(self.model) <= {self.device}
        work = self.model if on_device else copy.deepcopy(self.model).to(self.device)
        graph = self._graph if on_device or self._graph is None else layer_graph(work)
        data = data.to(self.device) if isinstance(data, ImageTensors) else \
            ImageTensors(data.images.to(self.device), data.labels.to(self.device))
        moved: dict[int, torch.Tensor] = {}

        def to_device(w: torch.Tensor) -> torch.Tensor:
            if id(w) not in moved:
                moved[id(w)] = w.detach().to(self.device)
            return moved[id(w)]

        sets = [{name: to_device(w) for name, w in ws.items()} for ws in sets]
        training = {m: m.training for m in work.modules()}
        work.eval()
        classes = int(data.labels.max()) + 1  # the fewest outputs the labels need (checked on every batch)
        try:
            if graph is not None:
                loss, correct = self._fast(work, graph, data, sets, batch_size, progress, classes)
            else:
                loss, correct = self._forward(work, data, sets, batch_size, progress, classes)
        finally:
            for m, flag in training.items():
                m.training = flag
        n = len(data)
        return Evaluation((loss / n).cpu(), (correct / n).cpu(), path, self._reason)

    def _fast(self, work, graph: LayerGraph, data, sets, batch_size, progress, classes):
        varying = _varying(work, sets)
        folds = graph.folds()
        common = graph.prepare({k: v for k, v in sets[0].items() if k not in varying}, folds)
        per_set = [{**common, **graph.prepare(ws, folds, modules=varying)} for ws in sets] if varying else [common]
        prefix, suffix = graph.plan(varying)
        needed = {i for node in suffix for i in node.inputs} | {graph.output}
        loss = torch.zeros(len(sets), dtype=torch.float64, device=self.device)
        correct = torch.zeros(len(sets), dtype=torch.float64, device=self.device)
        for start in tqdm(range(0, len(data), batch_size), desc="evaluating", unit="batch", disable=not progress,
                          mininterval=2.0):
            x = data.images[start : start + batch_size]
            y = data.labels[start : start + batch_size]
            values = {"input": x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x}
            for node in prefix:
                values[node.name] = node.run([values[i] for i in node.inputs], common)
            cached = {k: v for k, v in values.items() if k in needed}
            if not suffix:  # nothing varies: every set is the same network
                _accumulate(cached[graph.output], y, loss, correct, slice(None), classes)
                continue
            for s, prepared in enumerate(per_set):
                local = dict(cached)
                for node in suffix:
                    # a module hook may write into its input: a hooked node gets copies of the shared values
                    inputs = [local[i].clone() if node.hooked and i in cached and isinstance(local[i], torch.Tensor)
                              else local[i] for i in node.inputs]
                    local[node.name] = node.run(inputs, prepared)
                _accumulate(local[graph.output], y, loss, correct, s, classes)
        return loss, correct

    def _forward(self, work, data, sets, batch_size, progress, classes):
        replaced = [{f"{m}.weight": w for m, w in ws.items()} for ws in sets]
        loss = torch.zeros(len(sets), dtype=torch.float64, device=self.device)
        correct = torch.zeros(len(sets), dtype=torch.float64, device=self.device)
        for start in tqdm(range(0, len(data), batch_size), desc="evaluating", unit="batch", disable=not progress,
                          mininterval=2.0):
            x = data.images[start : start + batch_size]
            y = data.labels[start : start + batch_size]
            for s, params in enumerate(replaced):
                logits = torch.func.functional_call(work, params, (x,)) if params else work(x)
                _accumulate(logits, y, loss, correct, s, classes)
        return loss, correct


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _varying(model: nn.Module, sets: list[dict]) -> set[str]:
    """Modules whose effective weight differs between the sets (a set without a module uses its own)."""
    varying = set()
    for name in set().union(*sets):
        own = model.get_submodule(name).weight
        first = sets[0].get(name, own)
        for ws in sets[1:]:
            other = ws.get(name, own)
            if other is not first and not torch.equal(other, first):
                varying.add(name)
                break
    return varying


def _dtype_of(model: nn.Module) -> torch.dtype | None:
    """The dtype of the model's first floating-point parameter (what its inputs must have), or ``None``."""
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), None)


def _accumulate(logits: torch.Tensor, y: torch.Tensor, loss: torch.Tensor, correct: torch.Tensor, at,
                classes: int) -> None:
    if logits.ndim != 2 or logits.shape[0] != y.shape[0]:
        raise ValueError(f"the model must return logits of shape (images, classes); got {tuple(logits.shape)}")
    if logits.shape[1] < classes:
        raise ValueError(f"data.labels must be class indices in [0, {logits.shape[1] - 1}] (the model has "
                         f"{logits.shape[1]} outputs); got labels up to {classes - 1}")
    # float32 sum per micro-batch, accumulated in float64 (as every evaluation of the kit always did)
    loss[at] += nn.functional.cross_entropy(logits, y, reduction="sum").double()
    correct[at] += (logits.argmax(1) == y).sum().double()


def evaluate(model: nn.Module, data: ImageTensors, weight_sets: list[dict] | None = None, *,
             batch_size: int | None = None, device: str | torch.device = "cpu", progress: bool = False,
             path: str = "auto") -> Evaluation:
    """Mean cross-entropy and top-1 accuracy of ``model`` on ``data``, once per weight set.

    Args:
        model: the network (evaluated in eval mode; never moved or modified).
        data: the images (floating point, (N, C, H, W), the model's dtype) and labels (class indices (N,),
            each below the model's number of outputs); at least one image.
        weight_sets: ``None`` (the model as it is: one result) or a non-empty list of dicts, module name ->
            replacement weight (same shape and dtype as the module's weight, finite); an empty dict is the
            model as it is. Modules are those of :func:`imckit.core.models.mappable_layers`.
        batch_size: images per micro-batch (``None``: :data:`DEFAULT_BATCH_SIZE`). Results depend on it only
            through float rounding.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
        progress: show a progress bar over micro-batches.
        path: ``"auto"``, ``"fast"`` or ``"forward"`` (see the module docstring).

    Returns:
        An :class:`Evaluation` with one entry per weight set and the path that ran.

    >>> import torch
    >>> from imckit.core.models import build_model
    >>> from imckit.core.data import ImageTensors, check_image_tensors
    >>> _ = torch.manual_seed(0)
    >>> model = build_model("vgg_small", in_channels=1, num_classes=3)
    >>> data = ImageTensors(torch.randn(8, 1, 12, 12), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]))
    >>> sets = [{}, {"classifier": torch.zeros(3, 64)}]  # the model as it is; its classifier's weights zeroed
    >>> result = evaluate(model, data, sets)
    >>> result.path, result.loss.shape
    ('fast', torch.Size([2]))
    >>> torch.allclose(result.loss, evaluate(model, data, sets, path="forward").loss)
    True
    """
    return Engine(model, device, path).evaluate(data, weight_sets, batch_size=batch_size, progress=progress)
