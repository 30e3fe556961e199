"""Empirical Fisher information and the FIM-difference threshold search (seed paper 001, Sec. 4.3, Algorithm 1).

The empirical Fisher diagonal of parameters ``theta`` is ``F = mean_i (d log p(y_i | x_i) / d theta)^2``
over labelled samples, from per-sample gradients (``torch.func.vmap`` over ``torch.func.grad``; the model
in eval mode). The paper picks the sensitivity threshold ``T`` that keeps the Fisher information of the
compressed model close to the original's, ``L = ||F - F_0||_F^2``.

How ``T`` moves (the kit's choice): the compressed model, and so ``F``, changes only when ``T`` crosses a
strip's score, so ``dF/dT`` in the paper's gradient step is zero almost everywhere. The kit therefore
searches over the compression ratio (the share of strips at low precision, which fixes ``T`` as a quantile
of the scores): :func:`fim_sweep` evaluates a grid of ratios (the paper's experiments also use "a short
FIM-guided sweep"), and :func:`fim_threshold` bisects for the largest ratio whose relative distance
``||F - F_0|| / ||F_0||`` (Frobenius norm over the diagonal) stays within a tolerance, the paper's stopping
rule ``||F - F_0||_F <= epsilon`` made scale-free.

Joint ranking with energy (Sec. 5): "for each candidate T, the FIM serves as a sensitivity proxy to estimate
accuracy degradation; candidates are ranked jointly by the FIM-predicted accuracy and an energy proxy to
identify near-Pareto settings, from which the operating point is chosen". The paper gives neither the
map from FIM to accuracy nor the rule that picks the operating point; :func:`joint_threshold` makes both
the kit's choice, stated there: the relative FIM distance is the predicted degradation (any FIM-predicted
accuracy that falls as the distance grows ranks the candidates alike and has the same Pareto set), and the
operating point is the Pareto candidate nearest the ideal point after both costs are scaled to [0, 1].
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from imckit.core.compute import resolve_device
from imckit.core.validate import check_count, check_int, check_number, check_probability, check_tensor
from imckit.crossbars.strips import assign_precision, assignment_weights, check_batch, check_bit_pair, \
    check_class_targets, check_model, check_modules, check_ratios, check_scores, compression_ratio, model_on_device, \
    threshold_at_ratio

__all__ = ["fisher_diagonal", "fisher_diagonal_halves", "fisher_distance", "fim_sweep", "fim_threshold", "pareto_front",
           "joint_threshold"]


def _check_fisher(model, inputs, targets, modules, batch_size) -> None:

    check_model(model)
    check_batch(inputs, targets)
    if targets.is_floating_point() or targets.ndim != 1:
        raise ValueError(f"targets must be a 1-D tensor of class indices; got {targets.dtype} "
                         f"{tuple(targets.shape)}")
    check_modules(model, modules)
    check_count(batch_size, "batch_size")


def fisher_diagonal(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, modules: list[str],
                    weights: dict[str, torch.Tensor] | None = None, batch_size: int = 64,
                    device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Empirical Fisher diagonal of the weights of ``modules``, for the model with ``weights`` (module ->
    replacement weight, e.g. compressed) in place of its own. Returns module -> tensor of the weight's shape
    (on the CPU; computed on ``device``: ``"cpu"``, ``"cuda"`` or ``"auto"``, the caller's model never moved)."""
    _check_fisher(model, inputs, targets, modules, batch_size)
    if weights is not None:
        if not isinstance(weights, dict):
            raise TypeError(f"weights must be a dict module -> replacement weight or None; got "
                            f"{type(weights).__name__}")
        for m, w in weights.items():
            if m not in modules:
                raise ValueError(f"weights must replace weights of modules only ({list(modules)}); got {m!r}")
            check_tensor(w, f"weights[{m!r}]", floating=True)
            if tuple(w.shape) != tuple(model.get_submodule(m).weight.shape):
                raise ValueError(f"weights[{m!r}] must have the weight's shape "
                                 f"{tuple(model.get_submodule(m).weight.shape)}; got {tuple(w.shape)}")
    device = resolve_device(device)
    model.eval()
    work = model_on_device(model, device)
    work.eval()
    inputs, targets = inputs.to(device), targets.to(device)
    with torch.no_grad():  # the classes, to check the labels before vmap fails on one deep inside
        check_class_targets(nn.CrossEntropyLoss(), work(inputs[:1]), targets)
    weights = weights or {}
    params = {f"{m}.weight": weights.get(m, work.get_submodule(m).weight).detach().to(device) for m in modules}
    others = {n: p.detach() for n, p in work.named_parameters() if n not in params}
    buffers = dict(work.named_buffers())

    def log_likelihood(p, x, y):
        logits = torch.func.functional_call(work, {**others, **p, **buffers}, (x.unsqueeze(0),))
        return -nn.functional.cross_entropy(logits, y.unsqueeze(0))

    per_sample = torch.func.vmap(torch.func.grad(log_likelihood), in_dims=(None, 0, 0))
    sums = {n: torch.zeros_like(p, dtype=torch.float64) for n, p in params.items()}
    for start in range(0, len(inputs), batch_size):
        grads = per_sample(params, inputs[start : start + batch_size], targets[start : start + batch_size])
        for n, g in grads.items():
            sums[n] += g.detach().to(torch.float64).pow(2).sum(0)
    return {n[: -len(".weight")]: (s / len(inputs)).to(torch.float32).cpu() for n, s in sums.items()}


def fisher_diagonal_halves(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, modules: list[str],
                           batch_size: int = 64, device: str | torch.device = "cpu"):
    """The empirical Fisher diagonal of the first and of the second half of a batch (two independent
    estimates, for a split-half reliability) and of the whole batch (their mean weighted by the halves'
    sizes). Returns ``(first, second, whole)``, each module -> tensor of the weight's shape."""
    _check_fisher(model, inputs, targets, modules, batch_size)
    if len(inputs) < 2:
        raise ValueError(f"inputs must hold at least 2 samples to be split in halves; got {len(inputs)}")
    half = len(inputs) // 2
    first, second = (fisher_diagonal(model, inputs[part], targets[part], modules, None, batch_size, device)
                     for part in (slice(0, half), slice(half, None)))
    whole = {m: (half * first[m] + (len(inputs) - half) * second[m]) / len(inputs) for m in modules}
    return first, second, whole


def fisher_distance(fisher: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> float:
    """Relative Frobenius distance ``||F - F_0|| / ||F_0||`` over the diagonals of all modules."""
    check_scores(fisher, "fisher")
    check_scores(reference, "reference")
    if set(fisher) != set(reference):
        raise ValueError(f"fisher and reference must cover the same modules; got {sorted(fisher)} and {sorted(reference)}")
    for m in reference:
        if fisher[m].shape != reference[m].shape:
            raise ValueError(f"fisher[{m!r}] must have the shape of reference[{m!r}] {tuple(reference[m].shape)}; "
                             f"got {tuple(fisher[m].shape)}")
    diff = math.sqrt(sum(float((fisher[m].double() - reference[m].double()).pow(2).sum()) for m in reference))
    norm = math.sqrt(sum(float(reference[m].double().pow(2).sum()) for m in reference))
    return diff / norm if norm > 0 else float("inf")


def _distance_at(model, inputs, targets, scores, ratio, reference, high_bits, low_bits, batch_size, device):
    threshold = threshold_at_ratio(scores, ratio)
    assignment = assign_precision(scores, threshold)
    weights = assignment_weights(model, assignment, high_bits, low_bits)
    fisher = fisher_diagonal(model, inputs, targets, list(scores), weights, batch_size, device)
    return threshold, assignment, fisher_distance(fisher, reference)


def _check_search(model, inputs, targets, scores, high_bits, low_bits, batch_size) -> None:
    """Everything a FIM search needs, checked before its first (long) Fisher diagonal."""
    check_scores(scores)
    _check_fisher(model, inputs, targets, list(scores), batch_size)
    check_bit_pair(high_bits, low_bits)


def fim_sweep(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, scores: dict[str, torch.Tensor],
              ratios=tuple(np.round(np.linspace(0, 1, 11), 2)), high_bits: int = 8, low_bits: int = 4,
              batch_size: int = 64, device: str | torch.device = "cpu"):
    """The FIM distance of the strip-wise compressed model at each compression ratio (a pandas DataFrame:
    ratio, threshold, measured ratio, relative FIM distance); Fisher diagonals computed on ``device``."""
    import pandas as pd

    ratios = check_ratios(ratios)
    _check_search(model, inputs, targets, scores, high_bits, low_bits, batch_size)
    device = resolve_device(device)
    model = model_on_device(model, device)  # one copy for all the diagonals
    reference = fisher_diagonal(model, inputs, targets, list(scores), None, batch_size, device)
    rows = []
    for ratio in ratios:
        threshold, assignment, distance = _distance_at(model, inputs, targets, scores, float(ratio), reference,
                                                       high_bits, low_bits, batch_size, device)
        rows.append({"ratio": float(ratio), "threshold": threshold, "compression ratio": compression_ratio(assignment),
                     "FIM distance": distance})
    return pd.DataFrame(rows)


def fim_threshold(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, scores: dict[str, torch.Tensor],
                  tolerance: float, steps: int = 8, high_bits: int = 8, low_bits: int = 4,
                  batch_size: int = 64, device: str | torch.device = "cpu") -> dict:
    """Bisect the compression ratio for the largest one whose relative FIM distance is within ``tolerance``
    (``steps`` halvings of [0, 1]; the distance is assumed to grow with the ratio). Starts, like the paper's
    Algorithm 1, from maximum compression (ratio 1), which is returned if it already meets the tolerance.

    Returns a dict: ``threshold``, ``ratio``, ``distance``, ``met`` (whether ``distance`` is within the
    tolerance; False when even ratio 0, every strip at high precision, exceeds it) and ``history`` (list
    of (ratio, distance)). Fisher diagonals are computed on ``device`` (``"cpu"``, ``"cuda"``, ``"auto"``).
    """
    check_number(tolerance, "tolerance", 0, None, low_open=True)
    check_int(steps, "steps", 1, 30)
    _check_search(model, inputs, targets, scores, high_bits, low_bits, batch_size)
    device = resolve_device(device)
    model = model_on_device(model, device)
    reference = fisher_diagonal(model, inputs, targets, list(scores), None, batch_size, device)
    history = []

    def distance(ratio):
        d = _distance_at(model, inputs, targets, scores, ratio, reference, high_bits, low_bits, batch_size,
                         device)[2]
        history.append((ratio, d))
        return d

    best = (0.0, distance(0.0))
    top = distance(1.0)
    if top <= tolerance:
        best = (1.0, top)
    else:
        low, high = 0.0, 1.0
        for _ in range(steps):
            middle = (low + high) / 2
            d = distance(middle)
            if d <= tolerance:
                low, best = middle, (middle, d)
            else:
                high = middle
    return {"threshold": threshold_at_ratio(scores, best[0]), "ratio": best[0], "distance": best[1],
            "met": best[1] <= tolerance, "history": history}


def _costs(name, values) -> np.ndarray:
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__") or len(list(values)) == 0:
        raise ValueError(f"{name} must be a non-empty list of finite numbers; got {values!r}")
    return np.asarray([check_number(v, f"{name}[{k}]") for k, v in enumerate(list(values))], dtype=float)


def pareto_front(*costs) -> np.ndarray:
    """Which candidates are Pareto-optimal for the costs (each a list, one value per candidate, lower is
    better): a candidate is dominated when another is no worse in every cost and better in one. Returns a
    bool array, one entry per candidate (equal candidates are all kept)."""
    if not costs:
        raise ValueError("pareto_front needs at least one list of costs")
    arrays = [_costs(f"costs[{k}]", c) for k, c in enumerate(costs)]
    if len({len(a) for a in arrays}) != 1:
        raise ValueError(f"every list of costs must have one value per candidate; got lengths "
                         f"{[len(a) for a in arrays]}")
    matrix = np.stack(arrays, axis=1)
    no_worse = (matrix[:, None, :] <= matrix[None, :, :]).all(-1)  # [i, j]: i no worse than j everywhere
    better = (matrix[:, None, :] < matrix[None, :, :]).any(-1)
    return ~(no_worse & better).any(0)


def joint_threshold(ratios, fim_distance, energy, weight: float = 0.5, scores: dict[str, torch.Tensor] | None = None):
    """The operating point of the paper's joint ranking (Sec. 5) among candidate compression ratios.

    Args:
        ratios: the candidates' compression ratios (each in [0, 1]; e.g. the grid of :func:`fim_sweep`).
        fim_distance: each candidate's relative FIM distance (:func:`fim_sweep`): the FIM-predicted
            degradation, lower is better.
        energy: each candidate's energy proxy (:func:`imckit.crossbars.energy.energy_sweep`), lower is better.
        weight: weight of the FIM cost against the energy cost, in [0, 1] (the kit's default 0.5: equal).
        scores: the strip scores, to return the threshold ``T`` of the chosen ratio as well (optional).

    The kit's choice (the paper names the ranking, not the rule): both costs are min-max scaled over the
    candidates to [0, 1]; the candidates on the Pareto front of the two (:func:`pareto_front`) are the
    near-Pareto settings; the operating point is the one of them nearest the ideal point (0, 0), by
    ``sqrt(weight * fim**2 + (1 - weight) * energy**2)``, the smaller ratio on a tie.

    Returns a dict: ``ratio``, ``index`` (of the chosen candidate), ``threshold`` (``None`` without
    ``scores``) and ``table`` (pandas DataFrame: ``ratio``, ``FIM distance``, ``energy``, ``FIM (scaled)``,
    ``energy (scaled)``, ``Pareto``, ``distance to ideal``, ``chosen``).
    """
    import pandas as pd

    ratios = check_ratios(ratios)
    fim, cost = _costs("fim_distance", fim_distance), _costs("energy", energy)
    if not len(ratios) == len(fim) == len(cost):
        raise ValueError(f"ratios, fim_distance and energy must have one value per candidate; got lengths "
                         f"{len(ratios)}, {len(fim)}, {len(cost)}")
    weight = check_probability(weight, "weight")
    if scores is not None:
        check_scores(scores)

    def scaled(values):
        span = values.max() - values.min()
        return (values - values.min()) / span if span > 0 else np.zeros_like(values)

    f, e = scaled(fim), scaled(cost)
    front = pareto_front(fim, cost)
    distance = np.sqrt(weight * f**2 + (1 - weight) * e**2)
    candidates = [k for k in np.flatnonzero(front)]
    index = int(min(candidates, key=lambda k: (distance[k], ratios[k])))
    table = pd.DataFrame({"ratio": ratios, "FIM distance": fim, "energy": cost, "FIM (scaled)": f,
                          "energy (scaled)": e, "Pareto": front, "distance to ideal": distance,
                          "chosen": np.arange(len(ratios)) == index})
    threshold = threshold_at_ratio(scores, ratios[index]) if scores is not None else None
    return {"ratio": ratios[index], "index": index, "threshold": threshold, "table": table}
