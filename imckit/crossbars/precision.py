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

Paired comparisons (seed 001 gap (c)): two assignments evaluated on the same test images are paired
observations, so their accuracy difference is tested on the images where they disagree, not with two
independent binomial errors. ``per_image=True`` keeps each image's correctness (one whole forward per
assignment: the evaluation engine, :mod:`imckit.core.engine`, reports means only); :func:`mcnemar` tests
one pair (exact and mid-p McNemar test on the discordant images), :func:`paired_difference` the mean of
several pairs on the same images (e.g. a method against random strips averaged over compression ratios:
a paired t-test on each image's mean difference).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from imckit.core.compute import model_on_device, resolve_device
from imckit.core.data import ImageTensors, check_image_tensors
from imckit.core.validate import check_bool, check_count, check_finite, check_number, check_seed, check_tensor
from imckit.crossbars.strips import assignment_weights, check_assignment, check_bit_pair, check_model, check_ratios, \
    check_scores, compression_ratio, is_strip_mask, low_weight_share, module_weight, random_strip_assignment, \
    strip_assignment, weight_assignment
from imckit.injection.errors import PerturbedEvaluator

__all__ = ["PAPER_TABLE2_ACCURACY", "PAPER_TABLE2", "evaluate_assignments", "precision_sweep", "per_image_outcomes",
           "mcnemar", "paired_difference"]

# Seed paper 001, Table 2 (ResNet20, CIFAR-10, 74 % compression): top-1 accuracy (%) of HAP and of the
# paper's strip-wise method.
PAPER_TABLE2_ACCURACY = {"HAP": 74.8, "strips": 84.63}
# The whole of Table 2: top-1 and top-5 accuracy (%), latency (ms) and energy (mJ) from DNN+NeuroSim.
PAPER_TABLE2 = {"HAP": {"top-1 (%)": 74.8, "top-5 (%)": 98.45, "latency (ms)": 2.629, "energy (mJ)": 19.42},
                "strips": {"top-1 (%)": 84.63, "top-5 (%)": 99.22, "latency (ms)": 1.121, "energy (mJ)": 7.86}}
PER_IMAGE_BATCH_SIZE = 256  # images per forward of per_image_outcomes (channels-last; fastest on 2 CPU cores)


@torch.no_grad()
def per_image_outcomes(model: nn.Module, data: ImageTensors, weight_sets: list[dict[str, torch.Tensor]],
                       device: str | torch.device = "cpu", batch_size: int = PER_IMAGE_BATCH_SIZE,
                       progress: bool = False) -> dict[str, torch.Tensor]:
    """Each image's correctness and loss under each weight set (module -> replacement weight; ``{}``: the
    model's own weights), by one whole forward per set in eval mode (the caller's model is never moved or
    modified).

    Returns ``{"correct": bool (S, n), "loss": float64 (S, n)}`` on the CPU, S weight sets, n images.
    """
    from tqdm.auto import tqdm

    check_model(model)
    _check_data(data)
    if isinstance(weight_sets, Mapping) or not isinstance(weight_sets, (list, tuple)) or not weight_sets:
        raise ValueError("weight_sets must be a non-empty list of weight sets (module -> weight); got "
                         f"{type(weight_sets).__name__} {weight_sets!r}"[:200])
    for s, ws in enumerate(weight_sets):
        if not isinstance(ws, Mapping):
            raise TypeError(f"weight_sets[{s}] must be a mapping module -> weight; got {type(ws).__name__}")
        for m, w in ws.items():
            shape = tuple(module_weight(model, m, f"weight_sets[{s}]").shape)
            check_tensor(w, f"weight_sets[{s}][{m!r}]", floating=True)
            if tuple(w.shape) != shape:
                raise ValueError(f"weight_sets[{s}][{m!r}] must have the weight's shape {shape}; got {tuple(w.shape)}")
    check_count(batch_size, "batch_size")
    check_bool(progress, "progress")
    device = resolve_device(device)
    work = model_on_device(model, device)
    images = data.images.to(device)
    if images.ndim == 4:
        images = images.contiguous(memory_format=torch.channels_last)
    labels = data.labels.to(device)
    n = len(data)
    correct = torch.zeros(len(weight_sets), n, dtype=torch.bool)
    loss = torch.zeros(len(weight_sets), n, dtype=torch.float64)
    training = {m: m.training for m in work.modules()}
    work.eval()
    low, high = int(data.labels.min()), int(data.labels.max())
    try:
        for s, ws in enumerate(tqdm(weight_sets, desc="evaluating", unit="set", disable=not progress)):
            params = {f"{m}.weight": w.detach().to(device).contiguous(
                memory_format=torch.channels_last if w.ndim == 4 else torch.contiguous_format) for m, w in ws.items()}
            for start in range(0, n, batch_size):
                x, y = images[start : start + batch_size], labels[start : start + batch_size]
                logits = torch.func.functional_call(work, params, (x,)) if params else work(x)
                if high >= logits.shape[1]:
                    raise ValueError(f"data.labels must be class indices in [0, {logits.shape[1] - 1}] (the model "
                                     f"has {logits.shape[1]} outputs); got values from {low} to {high}")
                correct[s, start : start + len(y)] = (logits.argmax(1) == y).cpu()
                loss[s, start : start + len(y)] = nn.functional.cross_entropy(
                    logits.double(), y, reduction="none").cpu()
    finally:
        for m, flag in training.items():
            m.training = flag
    return {"correct": correct, "loss": loss}


def _check_data(data, name: str = "data") -> None:
    """``data`` images and labels the kit can use (:func:`imckit.core.data.check_image_tensors`), at least one
    image, every value finite."""
    check_image_tensors(data, name)
    if len(data) == 0:
        raise ValueError(f"{name} must hold at least one image; got 0")
    check_finite(data.images, f"{name}.images")


def _check_correct(value, name: str) -> torch.Tensor:
    check_tensor(value, name, finite=False, nonempty=False)
    if value.dtype != torch.bool or value.ndim not in (1, 2) or value.shape[-1] == 0:
        raise ValueError(f"{name} must be a bool tensor of per-image correctness, shape (images,) or "
                         f"(pairs, images); got {value.dtype} {tuple(value.shape)}")
    return value


def mcnemar(correct_a: torch.Tensor, correct_b: torch.Tensor, confidence: float = 0.95) -> dict:
    """McNemar's test of two classifiers' accuracies on the same images (``correct_a``, ``correct_b``: bool
    tensors (n,), each image's correctness).

    Only the discordant images count: ``a_only`` (right under a, wrong under b) and ``b_only``. Under the null
    hypothesis of equal accuracy each discordant image is a fair coin, so ``a_only ~ Binomial(a_only + b_only,
    1/2)``: ``p_exact`` is the two-sided exact binomial p-value, ``p_mid`` the mid-p value (the exact one less
    the probability of the observed count, which is conservative; Fagerland et al. 2013 recommend it), 1
    when no image is discordant.

    Returns a dict: ``difference`` (accuracy of a minus b, points), ``half_width`` (half-width of its
    ``confidence`` interval, points, normal approximation of the paired difference: ``z sqrt(((a_only +
    b_only) / n - d**2) / n)``), ``a_only``, ``b_only``, ``p_exact``, ``p_mid``, ``images``.
    """
    from scipy.stats import binom

    a, b = _check_correct(correct_a, "correct_a"), _check_correct(correct_b, "correct_b")
    _z(confidence)  # checks confidence before any work
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"correct_a and correct_b must be bool tensors of one shape (images,); got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    n = len(a)
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    discordant = a_only + b_only
    if discordant == 0:
        p_exact = p_mid = 1.0
    else:
        k = min(a_only, b_only)
        tail = float(binom.cdf(k, discordant, 0.5))
        point = float(binom.pmf(k, discordant, 0.5))
        p_exact = min(1.0, 2 * tail)
        p_mid = min(1.0, 2 * (tail - point / 2))
    d = (a_only - b_only) / n
    return {"difference": 100 * d, "half_width": 100 * _z(confidence) * ((discordant / n - d * d) / n) ** 0.5,
            "a_only": a_only, "b_only": b_only, "p_exact": p_exact, "p_mid": p_mid, "images": n}


def _z(confidence) -> float:
    from scipy.stats import norm

    confidence = check_number(confidence, "confidence", 0, 1, low_open=True, high_open=True)
    return float(norm.ppf(0.5 + confidence / 2))


def paired_difference(correct_a: torch.Tensor, correct_b: torch.Tensor, confidence: float = 0.95) -> dict:
    """The mean accuracy difference of several pairs of assignments on the same images (``correct_a``,
    ``correct_b``: bool tensors (pairs, images) or (images,)), tested as paired data: each image's
    difference averaged over the pairs, ``d_i = mean_r (a[r, i] - b[r, i])``, and a two-sided one-sample
    t-test of the ``d_i`` against 0 (for one pair prefer :func:`mcnemar`).

    Returns a dict: ``difference`` (mean of a minus b, points), ``half_width`` (of its ``confidence``
    interval, t quantile with n - 1 degrees of freedom, points), ``p`` (1 when every ``d_i`` is 0), ``pairs``,
    ``images``.
    """
    from scipy.stats import t as student

    a, b = _check_correct(correct_a, "correct_a"), _check_correct(correct_b, "correct_b")
    if a.shape != b.shape:
        raise ValueError(f"correct_a and correct_b must have one shape; got {tuple(a.shape)} and {tuple(b.shape)}")
    a, b = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
    d = (a.double() - b.double()).mean(0)
    n = len(d)
    if n < 2:
        raise ValueError(f"paired_difference needs at least 2 images; got {n}")
    mean, sd = float(d.mean()), float(d.std(unbiased=True))
    _z(confidence)  # checks confidence
    quantile = float(student.ppf(0.5 + confidence / 2, n - 1))
    if sd == 0:
        p = 1.0 if mean == 0 else 0.0
    else:
        p = float(2 * student.sf(abs(mean) / (sd / n ** 0.5), n - 1))
    return {"difference": 100 * mean, "half_width": 100 * quantile * sd / n ** 0.5, "p": p, "pairs": len(a),
            "images": n}


def evaluate_assignments(model: nn.Module, data: ImageTensors, assignments: list[dict[str, torch.Tensor]],
                         high_bits: int = 8, low_bits: int | list[int] = 4, device: str | torch.device = "cpu",
                         progress: bool = False, per_image: bool = False) -> dict:
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
        per_image: also return each image's correctness (:func:`per_image_outcomes`: a whole forward per
            assignment, and the accuracies and losses are that forward's); ``False``: the evaluation engine.

    Returns:
        ``{"accuracy": [...], "loss": [...]}``, one entry per assignment (accuracy as a fraction, 0 to 1), and
        with ``per_image`` ``"correct"``: a bool tensor (assignments, images).
    """
    check_model(model)
    _check_data(data)
    if isinstance(assignments, Mapping) or not isinstance(assignments, (list, tuple)) or not assignments:
        raise ValueError("assignments must be a non-empty list of assignments (module -> bool mask); got "
                         f"{assignments!r}"[:200])
    for k, a in enumerate(assignments):
        check_assignment(a, f"assignments[{k}]", nonempty=False)
    lows = list(low_bits) if isinstance(low_bits, (list, tuple)) else [low_bits] * len(assignments)
    if len(lows) != len(assignments):
        raise ValueError(f"low_bits must be one word length or one per assignment ({len(assignments)}); "
                         f"got {len(lows)}")
    for low in lows:
        check_bit_pair(high_bits, low)
    check_bool(progress, "progress")
    check_bool(per_image, "per_image")
    weight_sets = [assignment_weights(model, a, high_bits, low) for a, low in zip(assignments, lows)]
    if per_image:
        outcomes = per_image_outcomes(model, data, weight_sets, device, progress=progress)
        return {"accuracy": outcomes["correct"].double().mean(1).tolist(), "loss": outcomes["loss"].mean(1).tolist(),
                "correct": outcomes["correct"]}
    result = PerturbedEvaluator(model, data, base_bits=None, device=resolve_device(device)).evaluate(
        weight_sets, progress=progress)
    return {"accuracy": result.accuracy.tolist(), "loss": result.loss.tolist()}


def precision_sweep(model: nn.Module, data: ImageTensors, scores: dict[str, dict[str, torch.Tensor]],
                    ratios=(0.0, 0.5, 1.0), reference: str | None = None, random_strips: bool = True,
                    high_bits: int = 8, low_bits: int = 4, seed: int = 0, progress: bool = False,
                    device: str | torch.device = "cpu", per_image: bool = False):
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
        per_image: also return each image's correctness (see :func:`evaluate_assignments`).

    Returns:
        a pandas DataFrame, one row per (method, ratio): ``method``, ``ratio`` (asked), ``compression ratio``
        (strips at low precision; NaN for weight-level methods), ``low weight share``, ``accuracy`` and
        ``loss``. Modules not scored keep their float weights. With ``per_image``: ``(frame, correct)``, where
        ``correct`` is a bool tensor (rows of the frame, images).
    """
    import pandas as pd

    check_model(model)
    _check_data(data)
    if not isinstance(scores, Mapping) or not scores:
        raise ValueError(f"scores must name at least one method (method -> module -> scores); got {scores!r}"[:200])
    ratios = check_ratios(ratios)
    check_bool(random_strips, "random_strips")
    check_bit_pair(high_bits, low_bits)
    check_seed(seed)
    check_bool(progress, "progress")
    check_bool(per_image, "per_image")
    modules = None
    levels = {}
    for method, per_module in scores.items():
        if not isinstance(per_module, Mapping) or not per_module:
            raise ValueError(f"scores[{method!r}] must be a non-empty mapping module -> scores; got {per_module!r}"
                             [:200])
        check_scores(per_module, f"scores[{method!r}]")
        for m in per_module:
            module_weight(model, m, f"scores[{method!r}]")
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
    result = evaluate_assignments(model, data, all_assignments, high_bits, low_bits, device, progress, per_image)
    frame = pd.DataFrame(rows)
    frame["accuracy"] = result["accuracy"]
    frame["loss"] = result["loss"]
    return (frame, result["correct"]) if per_image else frame
