"""Hessian traces by Hutchinson's method, per model, per layer and per strip-weight (seed paper 001, Sec. 4).

Hutchinson's estimator: for Rademacher vectors ``v`` (entries +-1), ``E[v^T H v] = Tr(H)``, and more
finely ``E[v_i (H v)_i] = H_ii``. One Hessian-vector product per probe (double backpropagation through
the gradient, computed once with ``create_graph=True``, as PyHessian does) therefore gives, from the same
probes, an unbiased estimate of the whole diagonal; summed over a layer's weights it is the layer's trace,
over a strip-weight the strip's trace, over all parameters the model's trace.

A *strip-weight* (seed paper 001, Fig. 5; :mod:`imckit.crossbars.strips`, the home of the strip idea) is a
``1 x 1 x D`` vector of a convolution kernel, ``p = D`` weights. The paper's sensitivity score of a strip is
``s = Tr(H_strip) / (2 p) * ||w_strip||^2`` (its Eq. for the sensitivity score, after HAP); the same formula
scores strips with any estimate of the Hessian diagonal, e.g. the empirical Fisher diagonal
(:func:`diagonal_strip_sensitivity`).

How much of a strip score is probe noise: :func:`strip_reliability` (split-half rank correlation),
:func:`spearman_brown` (the reliability of the full estimate) and :func:`probes_for_reliability` (the probes a
target reliability needs).

The model is put in eval mode (BatchNorm with its running statistics), as PyHessian does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from imckit.core.compute import resolve_device
from imckit.core.validate import check_bool, check_count, check_int, check_number, check_seed, check_tensor
from imckit.crossbars.strips import check_batch, check_class_targets, check_model, check_scores, model_on_device, \
    module_weight, strip_view

__all__ = ["HessianTrace", "hessian_trace", "hessian_vector_product", "strip_sensitivity", "weight_sensitivity",
           "diagonal_strip_sensitivity", "diagonal_weight_sensitivity", "strip_reliability", "score_reliability",
           "rank_agreement", "negative_share", "spearman_brown", "probes_for_reliability"]


@dataclass(frozen=True, eq=False)
class HessianTrace:
    """Hutchinson estimates from one set of probes.

    Attributes:
        total: estimate of the trace of the Hessian over all parameters probed.
        total_error: standard error of ``total`` over the probes.
        diagonal: parameter name -> estimate of the Hessian diagonal (same shape as the parameter).
        probes: number of probes used.
        history: running mean of the total trace after each probe.
        converged: whether the relative change of the running mean fell below the tolerance.
        halves: parameter name -> (diagonal estimate from the odd-numbered probes, from the even-numbered
            ones): two independent estimates whose agreement measures the probe noise
            (:func:`strip_reliability`).
    """

    total: float
    total_error: float
    diagonal: dict[str, torch.Tensor]
    probes: int
    history: np.ndarray
    converged: bool
    halves: dict[str, tuple[torch.Tensor, torch.Tensor]]

    def layer_traces(self) -> dict[str, float]:
        """Trace of each module's weight block: ``{module name: trace}`` for parameters named ``*.weight``."""
        return {name[: -len(".weight")]: float(d.sum()) for name, d in self.diagonal.items() if name.endswith(".weight")}

    def strip_traces(self, module: str) -> torch.Tensor:
        """Trace of each strip-weight of ``module``: shape (N, K, K) for a convolution, (N,) for a dense layer."""
        name = f"{module}.weight"
        if name not in self.diagonal:
            raise ValueError(f"no weight of module {module!r} was probed; probed: {sorted(self.diagonal)}")
        return strip_view(self.diagonal[name]).sum(dim=-1)

    def to_data(self) -> dict:
        """The estimate as plain data (tensors, numbers, dicts, lists) for :func:`imckit.core.cache.cached`."""
        return {"total": self.total, "total_error": self.total_error, "diagonal": dict(self.diagonal),
                "probes": self.probes, "history": torch.from_numpy(np.asarray(self.history, dtype=np.float64)),
                "converged": self.converged, "halves": {n: list(h) for n, h in self.halves.items()}}

    @classmethod
    def from_data(cls, data: dict) -> "HessianTrace":
        """The inverse of :meth:`to_data`."""
        return cls(float(data["total"]), float(data["total_error"]), dict(data["diagonal"]), int(data["probes"]),
                   data["history"].numpy(), bool(data["converged"]),
                   {n: (h[0], h[1]) for n, h in data["halves"].items()})


def _check_inputs(model, inputs, targets, n_probes, tol, min_probes, seed=0, criterion=None, progress=False):
    check_model(model)
    if criterion is not None and not callable(criterion):
        raise TypeError(f"criterion must be a loss function criterion(logits, targets); got "
                        f"{type(criterion).__name__}")
    check_batch(inputs, targets)
    check_int(n_probes, "n_probes", 1, 100_000)
    check_count(min_probes, "min_probes")
    check_number(tol, "tol", 0, 1, high_open=True)
    check_seed(seed)
    check_bool(progress, "progress")


def _parameters(model: nn.Module, names, name: str = "parameters") -> dict[str, nn.Parameter]:
    named = dict(model.named_parameters())
    if names is None:
        return {n: p for n, p in named.items() if p.requires_grad}
    if isinstance(names, (str, bytes)) or not hasattr(names, "__iter__"):
        raise ValueError(f"{name} must be a list of parameter names or None; got {names!r}")
    names = list(names)
    if not names:
        raise ValueError(f"{name} must name at least one parameter (None: all that require gradients); got []")
    unknown = [n for n in names if n not in named]
    if unknown:
        raise ValueError(f"{name} must name parameters of the model, of {sorted(named)}; got unknown {unknown}")
    return {n: named[n] for n in names}


def hessian_vector_product(model: nn.Module, criterion, inputs: torch.Tensor, targets: torch.Tensor,
                           vectors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``H v`` for the loss ``criterion(model(inputs), targets)`` (eval mode), ``v`` given per parameter name
    (parameters not named are held fixed). Exact up to float rounding; for tests and one-off use."""
    check_model(model)
    check_batch(inputs, targets)
    if not isinstance(vectors, dict) or not vectors:
        raise ValueError(f"vectors must be a non-empty dict parameter name -> tensor; got {vectors!r}"[:200])
    shapes = {n: tuple(p.shape) for n, p in _parameters(model, list(vectors), "vectors").items()}
    for n, v in vectors.items():
        check_tensor(v, f"vectors[{n!r}]", floating=True)
        if tuple(v.shape) != shapes[n]:
            raise ValueError(f"vectors[{n!r}] must have the parameter's shape {shapes[n]}; got {tuple(v.shape)}")
    model.eval()
    params = _parameters(model, list(vectors))
    loss = criterion(model(inputs), targets)
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
    hv = torch.autograd.grad(grads, list(params.values()), grad_outputs=[vectors[n] for n in params])
    return {n: h.detach() for n, h in zip(params, hv)}


def hessian_trace(
    model: nn.Module,
    criterion,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    n_probes: int = 100,
    seed: int = 0,
    tol: float = 1e-3,
    min_probes: int = 10,
    parameters: list[str] | None = None,
    progress: bool = False,
    device: str | torch.device = "cpu",
) -> HessianTrace:
    """Estimate the Hessian trace and diagonal of ``criterion(model(inputs), targets)`` by Hutchinson's method.

    Args:
        model: the network (put in eval mode; its parameters are not changed).
        criterion: loss function ``criterion(logits, targets) -> scalar`` (e.g. ``nn.CrossEntropyLoss()``).
        inputs, targets: one batch; the loss is its mean over the batch (the Hessian of that mean).
        n_probes: largest number of Rademacher probes.
        seed: seed of the probes (a ``torch.Generator``).
        tol: stop once ``|mean_k - mean_{k-1}| / (|mean_{k-1}| + 1e-6) < tol`` for the running mean of the
            total trace after at least ``min_probes`` probes (PyHessian's rule); 0 always uses ``n_probes``.
        min_probes: probes before the tolerance is checked.
        parameters: names of the parameters probed (default: all that require gradients).
        progress: show a progress bar over the probes.
        device: where the products are computed (``"cpu"``, ``"cuda"``, ``"auto"``); the probes are drawn on
            the CPU with the seeded generator and moved, so the same seed gives the same probes everywhere.
            A model elsewhere is copied there (the caller's model is never moved); the estimates are returned
            on the CPU.
    """
    _check_inputs(model, inputs, targets, n_probes, tol, min_probes, seed, criterion, progress)
    device = resolve_device(device)
    model.eval()
    work = model_on_device(model, device)
    work.eval()
    params = _parameters(work, parameters)
    if not params:
        raise ValueError("no parameters to probe (none requires gradients)")
    generator = torch.Generator().manual_seed(check_seed(seed))
    logits = work(inputs.to(device))
    check_class_targets(criterion, logits, targets)
    loss = criterion(logits, targets.to(device))
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
    sums = {n: torch.zeros_like(p, dtype=torch.float64) for n, p in params.items()}
    odd = {n: torch.zeros_like(p, dtype=torch.float64) for n, p in params.items()}
    totals, history = [], []
    converged = False
    bar = tqdm(range(n_probes), desc="Hutchinson", unit="probe", disable=not progress)
    for k in bar:
        vs = [(torch.randint(0, 2, p.shape, generator=generator) * 2 - 1).to(p.dtype).to(p.device)
              for p in params.values()]
        hv = torch.autograd.grad(grads, list(params.values()), grad_outputs=vs, retain_graph=True)
        total = 0.0
        for (name, _), v, h in zip(params.items(), vs, hv):
            product = (v * h).detach().to(torch.float64)
            sums[name] += product
            if k % 2 == 0:  # probes 1, 3, 5, ...
                odd[name] += product
            total += float(product.sum())
        totals.append(total)
        history.append(float(np.mean(totals)))
        if tol > 0 and k + 1 >= max(min_probes, 2):
            previous = history[-2]
            if abs(history[-1] - previous) / (abs(previous) + 1e-6) < tol:
                converged = True
                break
    probes = len(totals)
    diagonal = {n: (s / probes).to(params[n].dtype).cpu() for n, s in sums.items()}
    error = float(np.std(totals, ddof=1) / np.sqrt(probes)) if probes > 1 else float("nan")
    n_odd, n_even = (probes + 1) // 2, probes // 2
    halves = {n: ((odd[n] / n_odd).to(params[n].dtype).cpu(),
                  ((sums[n] - odd[n]) / max(n_even, 1)).to(params[n].dtype).cpu() if n_even
                  else torch.full_like(params[n], math.nan).cpu())
              for n in params}
    return HessianTrace(float(np.mean(totals)), error, diagonal, probes, np.array(history), converged, halves)


def _check_diagonal(model, diagonal, name: str = "diagonal") -> None:
    check_model(model)
    check_scores(diagonal, name)
    for module in diagonal:
        module_weight(model, module, name)


def diagonal_strip_sensitivity(model: nn.Module, diagonal: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The strip score ``s = Tr(D_strip) / (2 p) * ||w_strip||^2`` for any estimate ``D`` of the Hessian
    diagonal given per module (module -> tensor of the weight's shape), e.g. the empirical Fisher diagonal
    (:func:`imckit.crossbars.fisher.fisher_diagonal`, the Gauss-Newton approximation of the Hessian near a minimum)."""
    _check_diagonal(model, diagonal)
    scores = {}
    for module, d in diagonal.items():
        weight = model.get_submodule(module).weight.detach()
        if tuple(d.shape) != tuple(weight.shape):
            raise ValueError(f"diagonal[{module!r}] has shape {tuple(d.shape)}; the weight has {tuple(weight.shape)}")
        w = strip_view(weight)
        scores[module] = strip_view(d).sum(dim=-1) / (2 * w.shape[-1]) * w.pow(2).sum(dim=-1)
    return scores


def diagonal_weight_sensitivity(model: nn.Module, diagonal: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per-weight score ``D_ii / 2 * w_i^2`` for any estimate ``D`` of the Hessian diagonal given per module
    (the strip score with strips of one weight): the unstructured, HAP-like assignment the paper compares
    with. Returns module -> tensor of the weight's shape."""
    _check_diagonal(model, diagonal)
    out = {}
    for module, d in diagonal.items():
        weight = model.get_submodule(module).weight.detach()
        if tuple(d.shape) != tuple(weight.shape):
            raise ValueError(f"diagonal[{module!r}] has shape {tuple(d.shape)}; the weight has {tuple(weight.shape)}")
        out[module] = d / 2 * weight.pow(2)
    return out


def _modules_of(scores, modules, name: str = "modules") -> list[str]:
    modules = list(scores) if modules is None else modules
    if isinstance(modules, (str, bytes)) or not isinstance(modules, (list, tuple)) or not modules:
        raise ValueError(f"{name} must be a non-empty list of module names; got {modules!r}")
    return list(modules)


def _flat(scores: dict[str, torch.Tensor], modules, name: str = "scores") -> np.ndarray:
    check_scores(scores, name)
    missing = [m for m in modules if m not in scores]
    if missing:
        raise ValueError(f"no scores for module(s) {missing}; scored: {sorted(scores)}")
    return torch.cat([scores[m].flatten() for m in modules]).numpy()


def rank_agreement(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor],
                   modules: list[str] | None = None) -> float:
    """Spearman's rank correlation between two scorings of the same strips (or weights), over all entries
    of ``modules`` (default: the first scoring's modules, in its order)."""
    from scipy.stats import spearmanr

    check_scores(first, "first")
    modules = _modules_of(first, modules)
    a, b = _flat(first, modules, "first"), _flat(second, modules, "second")
    if a.shape != b.shape:
        raise ValueError(f"second must hold as many entries as first over modules ({a.size}); got {b.size}")
    return float(spearmanr(a, b).statistic)


def negative_share(scores: dict[str, torch.Tensor], modules: list[str] | None = None) -> float:
    """Share (0 to 1) of the scores below zero: a strip trace of a Hessian that is positive semi-definite
    cannot be, so a large share says the estimate is mostly noise."""
    check_scores(scores)
    modules = _modules_of(scores, modules)
    return float(np.mean(_flat(scores, modules) < 0))


def score_reliability(model: nn.Module, first: dict[str, torch.Tensor], second: dict[str, torch.Tensor],
                      modules: list[str]) -> float:
    """Split-half reliability of strip scores: the rank correlation (:func:`rank_agreement`) between the strip
    scores (:func:`diagonal_strip_sensitivity`) from two independent estimates of the Hessian diagonal,
    e.g. from two halves of the probes or of the image batch."""
    modules = _modules_of(first, modules)
    for name, diagonal in (("first", first), ("second", second)):
        check_scores(diagonal, name)
        missing = [m for m in modules if m not in diagonal]
        if missing:
            raise ValueError(f"{name} must hold a diagonal for every module of modules; none for {missing}")
    return rank_agreement(diagonal_strip_sensitivity(model, {m: first[m] for m in modules}),
                          diagonal_strip_sensitivity(model, {m: second[m] for m in modules}), modules)


def strip_reliability(model: nn.Module, trace: HessianTrace, modules: list[str]) -> float:
    """Split-half reliability of the strip scores: Spearman's rank correlation, over all strips of
    ``modules``, between the scores from the odd-numbered and from the even-numbered probes. Near 1: the
    ranking the threshold acts on is stable; near 0: it is probe noise. (The full estimate averages both
    halves, so it is more reliable than either; by the Spearman-Brown formula roughly ``2r / (1 + r)``,
    :func:`spearman_brown`.)"""
    _check_trace(trace)
    modules = _modules_of({}, modules)
    if trace.probes < 2:
        raise ValueError("strip_reliability needs an estimate from at least 2 probes")
    halves = ({}, {})
    for module in modules:
        name = f"{module}.weight"
        if name not in trace.halves:
            raise ValueError(f"no weight of module {module!r} was probed; probed: {sorted(trace.halves)}")
        for k in range(2):
            halves[k][module] = trace.halves[name][k]
    return score_reliability(model, halves[0], halves[1], modules)


def _check_trace(trace) -> None:
    if not isinstance(trace, HessianTrace):
        raise TypeError(f"trace must be a HessianTrace (hessian_trace); got {type(trace).__name__}")


def spearman_brown(reliability: float, factor: float = 2.0) -> float | None:
    """The Spearman-Brown prophecy: the reliability of an estimate ``factor`` times as long as one of
    reliability ``r``, ``factor r / (1 + (factor - 1) r)`` (``factor = 2``: the full estimate from a
    split-half ``r``). ``None`` where undefined (``r <= -1 / (factor - 1)``, the denominator not positive)."""
    reliability = check_number(reliability, "reliability", -1, 1)
    factor = check_number(factor, "factor", 0, None, low_open=True)
    denominator = 1 + (factor - 1) * reliability
    return factor * reliability / denominator if denominator > 0 else None


def probes_for_reliability(reliability: float, probes: float, target: float = 0.9) -> float | None:
    """Probes an estimate needs to reach the reliability ``target``, from a split-half reliability
    ``reliability`` measured between two halves of ``probes`` probes each (the Spearman-Brown prophecy
    solved for the length: ``probes * target (1 - r) / (r (1 - target))``). ``None`` when ``r <= 0``: the
    two halves do not agree at all, and no number of probes can be predicted from them."""
    reliability = check_number(reliability, "reliability", -1, 1)
    target = check_number(target, "target", 0, 1, low_open=True, high_open=True)
    probes = check_number(probes, "probes", 0, None, low_open=True)
    if reliability <= 0:
        return None
    return target * (1 - reliability) / (reliability * (1 - target)) * probes


def strip_sensitivity(model: nn.Module, trace: HessianTrace, modules: list[str] | None = None) -> dict[str, torch.Tensor]:
    """The paper's strip sensitivity ``s = Tr(H_strip) / (2 p) * ||w_strip||^2`` per module.

    Args:
        model: the network whose weights were probed.
        trace: the estimate from :func:`hessian_trace` (its probes must cover the modules' weights).
        modules: module names (default: every probed ``*.weight`` of a convolution or dense layer).

    Returns:
        ``{module: scores}`` with shape (N, K, K) for convolutions, (N,) for dense layers.
    """
    _check_trace(trace)
    if modules is None:
        modules = [name[: -len(".weight")] for name, d in trace.diagonal.items()
                   if name.endswith(".weight") and d.ndim in (2, 4)]
    modules = _modules_of({}, modules)
    for module in modules:
        if f"{module}.weight" not in trace.diagonal:
            raise ValueError(f"no weight of module {module!r} was probed; probed: {sorted(trace.diagonal)}")
    return diagonal_strip_sensitivity(model, {m: trace.diagonal[f"{m}.weight"] for m in modules})


def weight_sensitivity(model: nn.Module, trace: HessianTrace, modules: list[str]) -> dict[str, torch.Tensor]:
    """Per-weight sensitivity ``H_ii / 2 * w_i^2`` from a Hutchinson estimate (:func:`diagonal_weight_sensitivity`).
    Returns module -> tensor of the weight's shape."""
    _check_trace(trace)
    modules = _modules_of({}, modules)
    for module in modules:
        if f"{module}.weight" not in trace.diagonal:
            raise ValueError(f"no weight of module {module!r} was probed; probed: {sorted(trace.diagonal)}")
    return diagonal_weight_sensitivity(model, {m: trace.diagonal[f"{m}.weight"] for m in modules})
