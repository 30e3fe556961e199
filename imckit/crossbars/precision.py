"""Two-precision assignments at a compression ratio, and their accuracy (seed paper 001, Secs. 4-5).

Ways to put a given share of a network's weights at low precision, compared by :func:`precision_sweep`:

strips by score (the paper)
    whole strip-weights (:mod:`imckit.crossbars.hessian`) by their sensitivity score ``s``: the strips with the
    lowest scores go to low precision (a global threshold ``T``, :func:`imckit.crossbars.fisher.threshold_at_ratio`).
single weights by score (unstructured, HAP-like)
    single weights by their score ``H_ii / 2 * w_i^2`` (:func:`imckit.crossbars.hessian.weight_sensitivity`), with
    the threshold chosen so the same share of *weights* is at low precision as for the strips.
random strips (a control)
    strips drawn at random (seeded), the same number as for the strips by score: what the scores buy.

Compression ratio (CR): the paper's CR is the share of strips at low precision
(:func:`imckit.crossbars.mapping.compression_ratio`). Strips of different layers hold different numbers of
weights, so the share of *weights* at low precision (:func:`low_weight_share`) differs; the unstructured
method is matched on the weight share, which is what memory and energy follow.
"""

from __future__ import annotations

import torch
from torch import nn

from imckit.crossbars.mapping import assign_precision, compression_ratio
from imckit.core.data import ImageTensors
from imckit.crossbars.fisher import threshold_at_ratio
from imckit.injection.errors import PerturbedEvaluator
from imckit.crossbars.strips import quantize_mixed, quantize_strips

__all__ = ["PAPER_TABLE2_ACCURACY", "strip_assignment", "weight_assignment", "random_strip_assignment", "low_weight_share",
           "assignment_weights", "precision_sweep"]

# Seed paper 001, Table 2 (ResNet20, CIFAR-10, 74 % compression): top-1 accuracy (%) of HAP and of the
# paper's strip-wise method.
PAPER_TABLE2_ACCURACY = {"HAP": 74.8, "strips": 84.63}


def _check_ratio(ratio, name: str = "ratio") -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1:
        raise ValueError(f"{name} must be a number in [0, 1] (the share at low precision); got {ratio!r}")
    return float(ratio)


def strip_assignment(scores: dict[str, torch.Tensor], ratio: float) -> dict[str, torch.Tensor]:
    """The paper's assignment: the share ``ratio`` of all strips with the lowest scores at low precision
    (module -> bool strip mask, ``True`` = high)."""
    return assign_precision(scores, threshold_at_ratio(scores, _check_ratio(ratio)))


def weight_assignment(weight_scores: dict[str, torch.Tensor], share: float) -> dict[str, torch.Tensor]:
    """Unstructured assignment: the share ``share`` of all weights with the lowest per-weight scores at low
    precision (module -> bool mask of the weight's shape, ``True`` = high)."""
    return assign_precision(weight_scores, threshold_at_ratio(weight_scores, _check_ratio(share, "share")))


def random_strip_assignment(scores: dict[str, torch.Tensor], ratio: float, seed: int) -> dict[str, torch.Tensor]:
    """``round(ratio * strips)`` strips drawn uniformly at random (seeded) at low precision, the rest high."""
    ratio = _check_ratio(ratio)
    sizes = [s.numel() for s in scores.values()]
    total = sum(sizes)
    order = torch.randperm(total, generator=torch.Generator().manual_seed(int(seed)))
    high = torch.ones(total, dtype=torch.bool)
    high[order[: int(round(ratio * total))]] = False
    out, start = {}, 0
    for (module, s), n in zip(scores.items(), sizes):
        out[module] = high[start : start + n].reshape(s.shape)
        start += n
    return out


def _is_strip_mask(mask: torch.Tensor, weight: torch.Tensor) -> bool:
    strip_shape = (weight.shape[0], *weight.shape[2:]) if weight.ndim == 4 else (weight.shape[0],)
    if tuple(mask.shape) == tuple(strip_shape):
        return True
    if mask.shape == weight.shape:
        return False
    raise ValueError(f"an assignment mask must have the strip shape {tuple(strip_shape)} or the weight's shape "
                     f"{tuple(weight.shape)}; got {tuple(mask.shape)}")


def low_weight_share(model: nn.Module, assignment: dict[str, torch.Tensor]) -> float:
    """Share of the assigned modules' weights at low precision (strip masks count each strip's ``D`` weights)."""
    low = total = 0
    for module, mask in assignment.items():
        weight = model.get_submodule(module).weight
        per_entry = weight.shape[1] if _is_strip_mask(mask, weight) else 1
        low += int((~mask).sum()) * per_entry
        total += weight.numel()
    if total == 0:
        raise ValueError("assignment holds no weights")
    return low / total


def assignment_weights(model: nn.Module, assignment: dict[str, torch.Tensor], high_bits: int = 8,
                       low_bits: int = 4) -> dict[str, torch.Tensor]:
    """The mixed-precision weights of an assignment (strip masks or weight masks), module -> weight
    (grids: :mod:`imckit.crossbars.strips`)."""
    out = {}
    for module, mask in assignment.items():
        weight = model.get_submodule(module).weight.detach()
        q = quantize_strips(weight, mask, high_bits, low_bits) if _is_strip_mask(mask, weight) \
            else quantize_mixed(weight, mask, high_bits, low_bits)
        out[module] = q.dequantize()
    return out


def precision_sweep(model: nn.Module, data: ImageTensors, scores: dict[str, dict[str, torch.Tensor]],
                    ratios=(0.0, 0.5, 1.0), reference: str | None = None, random_strips: bool = True,
                    high_bits: int = 8, low_bits: int = 4, seed: int = 0, progress: bool = False):
    """Accuracy and loss on ``data`` of several assignments at each strip compression ratio.

    Args:
        model: the trained float network (never modified).
        data: the images evaluated.
        scores: method name -> module -> scores, every method covering the same modules. Scores of the
            strip shape are assigned strip by strip at the ratio (:func:`strip_assignment`); scores of the
            weight's shape weight by weight at the share of weights of the reference method
            (:func:`weight_assignment`).
        ratios: strip compression ratios, each in [0, 1].
        reference: the strip-level method whose share of low-precision weights the weight-level methods
            match (default: the first strip-level method).
        random_strips: add the method ``"random strips"``: as many strips as the ratio asks, drawn at random.
        high_bits, low_bits: the two precisions.
        seed: seed of the random strips (ratio k uses ``seed + k``).

    Returns:
        a pandas DataFrame, one row per (method, ratio): ``method``, ``ratio`` (asked), ``compression ratio``
        (strips at low precision; NaN for weight-level methods), ``low weight share``, ``accuracy`` and
        ``loss``. Modules not scored keep their float weights.
    """
    import pandas as pd

    if not scores:
        raise ValueError("scores must name at least one method")
    modules = None
    levels = {}
    for method, per_module in scores.items():
        if not per_module:
            raise ValueError(f"scores[{method!r}] holds no module")
        if modules is None:
            modules = set(per_module)
        elif set(per_module) != modules:
            raise ValueError(f"every method must score the same modules; {method!r} scores {sorted(per_module)}, "
                             f"the first {sorted(modules)}")
        kinds = {_is_strip_mask(s, model.get_submodule(m).weight) for m, s in per_module.items()}
        if len(kinds) != 1:
            raise ValueError(f"scores[{method!r}] mixes strip-shaped and weight-shaped scores")
        levels[method] = "strips" if kinds.pop() else "weights"
    strip_methods = [m for m, level in levels.items() if level == "strips"]
    if reference is None:
        if not strip_methods:
            raise ValueError("at least one method must score strips (the compression ratio counts strips)")
        reference = strip_methods[0]
    elif levels.get(reference) != "strips":
        raise ValueError(f"reference must name a strip-level method, one of {strip_methods}; got {reference!r}")
    ratios = [_check_ratio(r, "each ratio") for r in ratios]
    if not ratios:
        raise ValueError("ratios must hold at least one compression ratio")
    rows, weight_sets = [], []
    for k, ratio in enumerate(ratios):
        share = low_weight_share(model, strip_assignment(scores[reference], ratio))
        assignments = {}
        for method, per_module in scores.items():
            assignments[method] = strip_assignment(per_module, ratio) if levels[method] == "strips" \
                else weight_assignment(per_module, share)
        if random_strips:
            assignments["random strips"] = random_strip_assignment(scores[reference], ratio, seed + k)
        for method, assignment in assignments.items():
            strip_level = levels.get(method, "strips") == "strips"
            rows.append({"method": method, "ratio": ratio,
                         "compression ratio": compression_ratio(assignment) if strip_level else float("nan"),
                         "low weight share": low_weight_share(model, assignment)})
            weight_sets.append(assignment_weights(model, assignment, high_bits, low_bits))
    result = PerturbedEvaluator(model, data, base_bits=None).evaluate(weight_sets, progress=progress)
    frame = pd.DataFrame(rows)
    frame["accuracy"] = result.accuracy.numpy()
    frame["loss"] = result.loss.numpy()
    return frame
