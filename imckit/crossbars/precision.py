"""Two-precision assignments at a compression ratio, and their accuracy (seed paper 001, Secs. 4-5).

Ways to put a given share of a network's weights at low precision, compared by :func:`precision_sweep`:

strips by score (the paper)
    whole strip-weights by their sensitivity score ``s``: the strips with the lowest scores go to low
    precision (a global threshold ``T``, :func:`imckit.crossbars.strips.strip_assignment`).
single weights by score (unstructured, HAP-like)
    single weights by their score ``H_ii / 2 * w_i^2`` (:func:`imckit.crossbars.hessian.weight_sensitivity`), with
    the threshold chosen so the same share of *weights* is at low precision as for the strips.
random strips (a control)
    strips drawn at random (seeded), the same number as for the strips by score: what the scores buy.

Compression ratio (CR): the paper's CR is the share of strips at low precision
(:func:`imckit.crossbars.strips.compression_ratio`). Strips of different layers hold different numbers of
weights, so the share of *weights* at low precision (:func:`imckit.crossbars.strips.low_weight_share`)
differs; the unstructured method is matched on the weight share, which is what memory and energy follow.

The assignments themselves live in :mod:`imckit.crossbars.strips`; this module evaluates them
(:func:`evaluate_assignments`, :func:`precision_sweep`).
"""

from __future__ import annotations

import torch
from torch import nn

from imckit.core.compute import resolve_device
from imckit.core.data import ImageTensors
from imckit.crossbars.strips import assignment_weights, check_ratio, compression_ratio, is_strip_mask, \
    low_weight_share, random_strip_assignment, strip_assignment, weight_assignment
from imckit.injection.errors import PerturbedEvaluator

__all__ = ["PAPER_TABLE2_ACCURACY", "evaluate_assignments", "precision_sweep"]

# Seed paper 001, Table 2 (ResNet20, CIFAR-10, 74 % compression): top-1 accuracy (%) of HAP and of the
# paper's strip-wise method.
PAPER_TABLE2_ACCURACY = {"HAP": 74.8, "strips": 84.63}


def evaluate_assignments(model: nn.Module, data: ImageTensors, assignments: list[dict[str, torch.Tensor]],
                         high_bits: int = 8, low_bits: int | list[int] = 4, device: str | torch.device = "cpu",
                         progress: bool = False) -> dict[str, list[float]]:
    """Accuracy and loss on ``data`` of the network with each assignment's mixed-precision weights
    (:func:`imckit.crossbars.strips.assignment_weights`; modules not assigned keep their float weights).

    Args:
        model: the trained float network (never modified).
        data: the images evaluated.
        assignments: one or more assignments (module -> bool strip or weight mask, ``True`` = high; an empty
            dict is the float network).
        high_bits: the high precision.
        low_bits: the low precision, one for all or one per assignment.
        device: where the network is evaluated (``"cpu"``, ``"cuda"``, ``"auto"``).
        progress: show a progress bar.

    Returns:
        ``{"accuracy": [...], "loss": [...]}``, one entry per assignment (accuracy as a fraction, 0 to 1).
    """
    if not assignments:
        raise ValueError("assignments must hold at least one assignment")
    lows = list(low_bits) if isinstance(low_bits, (list, tuple)) else [low_bits] * len(assignments)
    if len(lows) != len(assignments):
        raise ValueError(f"low_bits must be one word length or one per assignment ({len(assignments)}); "
                         f"got {len(lows)}")
    weight_sets = [assignment_weights(model, a, high_bits, low) for a, low in zip(assignments, lows)]
    result = PerturbedEvaluator(model, data, base_bits=None, device=resolve_device(device)).evaluate(
        weight_sets, progress=progress)
    return {"accuracy": result.accuracy.tolist(), "loss": result.loss.tolist()}


def precision_sweep(model: nn.Module, data: ImageTensors, scores: dict[str, dict[str, torch.Tensor]],
                    ratios=(0.0, 0.5, 1.0), reference: str | None = None, random_strips: bool = True,
                    high_bits: int = 8, low_bits: int = 4, seed: int = 0, progress: bool = False,
                    device: str | torch.device = "cpu"):
    """Accuracy and loss on ``data`` of several assignments at each strip compression ratio.

    Args:
        model: the trained float network (never modified).
        data: the images evaluated.
        scores: method name -> module -> scores, every method covering the same modules. Scores of the
            strip shape are assigned strip by strip at the ratio
            (:func:`imckit.crossbars.strips.strip_assignment`); scores of the weight's shape weight by weight
            at the share of weights of the reference method (:func:`imckit.crossbars.strips.weight_assignment`).
        ratios: strip compression ratios, each in [0, 1].
        reference: the strip-level method whose share of low-precision weights the weight-level methods
            match (default: the first strip-level method).
        random_strips: add the method ``"random strips"``: as many strips as the ratio asks, drawn at random.
        high_bits, low_bits: the two precisions.
        seed: seed of the random strips (ratio k uses ``seed + k``; drawn on the CPU whatever the device).
        progress: show a progress bar.
        device: where the networks are evaluated (``"cpu"``, ``"cuda"``, ``"auto"``).

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
        kinds = {is_strip_mask(s, model.get_submodule(m).weight) for m, s in per_module.items()}
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
    ratios = [check_ratio(r, "each ratio") for r in ratios]
    if not ratios:
        raise ValueError("ratios must hold at least one compression ratio")
    rows, all_assignments = [], []
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
            all_assignments.append(assignment)
    result = evaluate_assignments(model, data, all_assignments, high_bits, low_bits, device, progress)
    frame = pd.DataFrame(rows)
    frame["accuracy"] = result["accuracy"]
    frame["loss"] = result["loss"]
    return frame
