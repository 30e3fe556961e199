"""Three curvature scores of the strips side by side: Hutchinson, the empirical Fisher and the exact GGN diagonal
(seed paper 001, issue 14, gap 5e).

>>> from imckit.core.training import baseline_spec, pretrained
>>> from imckit.experiments import curvature, hessian
>>> baseline = pretrained(baseline_spec("smoke"))                                           # doctest: +SKIP
>>> table = curvature.curvature_comparison(baseline.model, baseline.train_set, baseline.test_set,
...                                        hessian.HessianConfig.preset("smoke"))           # doctest: +SKIP

The paper scores a strip by ``Tr(H_strip) / (2 p) * ||w_strip||^2`` with Hutchinson's estimate of the Hessian
diagonal (:mod:`imckit.crossbars.hessian`). On the kit's networks that estimate is mostly probe noise at the
chapter's budget. :func:`curvature_comparison` puts beside it two deterministic diagonals of the same batch of
training images, the empirical Fisher (:func:`imckit.crossbars.fisher.fisher_diagonal`) and the exact
generalized Gauss-Newton diagonal (:func:`imckit.crossbars.ggn.ggn_diagonal`, BackPACK's ``DiagGGNExact``), and
measures for each: how reliable its strip ranking is (split-half rank correlation), what it costs (seconds),
and what the threshold it leads to gives (the FIM threshold search of the chapter and a fixed compression
ratio, accuracy on the chapter's test images; random strips as the control).

Every expensive step is cached. The Hutchinson trace, the Fisher halves and the FIM threshold searches go
through the chapter's own :class:`imckit.experiments.hessian_steps.HessianSteps` with the same images and
settings as :func:`imckit.experiments.hessian.run`, so they share the chapter's cache entries (after the
chapter, a comparison computes only the GGN, the FIM searches on the scores the chapter did not search on,
and the accuracies). The GGN halves are keyed by the code of :mod:`imckit.crossbars.ggn` and the accuracies
by that of :mod:`imckit.crossbars.precision`, the modules that compute them (the kit's cache rule: a key
names the code that computes the value, and editing this module's sentences invalidates nothing). The
decisions behind the sentences are :func:`meets_goal` and :func:`comparison_text`.
"""

from __future__ import annotations

import math
import numbers
import time
from pathlib import Path

import torch
from torch import nn

from imckit.core.cache import cached, digest, model_data_digest
from imckit.core.compute import cache_device, resolve_device
from imckit.core.data import ImageTensors
from imckit.core.models import mappable_layers
from imckit.crossbars.ggn import ggn_diagonal_halves
from imckit.crossbars.hessian import (diagonal_strip_sensitivity, negative_share, rank_agreement, score_reliability,
                                      spearman_brown, strip_reliability, strip_sensitivity)
from imckit.crossbars.precision import evaluate_assignments
from imckit.crossbars.strips import random_strip_assignment, strip_assignment, strip_view
from imckit.core.validate import check_bool, check_int, check_number, check_seed
from imckit.experiments.checks import check_config
from imckit.experiments.hessian import HessianConfig
from imckit.experiments.hessian_steps import HessianSteps
from imckit.experiments.stats import standard_error_of_difference

__all__ = ["curvature_comparison", "meets_goal", "comparison_text", "METHODS", "CONTROL", "GGN_BATCH_SIZE",
           "GOAL_RELIABILITY", "GOAL_SECONDS"]

METHODS = ("hutchinson", "fisher", "ggn")
CONTROL = "random strips"
# samples per vmap call; measured on 2 cores, ResNet-8, 128 images: batch 16 -> 1.7 s, 32 -> 1.1 s, 64 -> 1.2 s
GGN_BATCH_SIZE = 32
GOAL_RELIABILITY = 0.9  # issue 14, 5e: split-half reliability of the strip scores ...
GOAL_SECONDS = 120.0  # ... within 2 minutes on 2 cores


def _timed_ggn(model, images, modules, device, progress):
    def compute():
        started = time.perf_counter()
        first, second, whole = ggn_diagonal_halves(model, images, modules, batch_size=GGN_BATCH_SIZE, device=device,
                                                   progress=progress)
        return {"value": [first, second, whole], "seconds": time.perf_counter() - started,
                "threads": torch.get_num_threads()}

    return compute


def _strip_traces(diagonal: dict[str, torch.Tensor], modules) -> dict[str, torch.Tensor]:
    return {m: strip_view(diagonal[m]).sum(dim=-1) for m in modules}


def curvature_comparison(model: nn.Module, train_set: ImageTensors, test_set: ImageTensors,
                         config: HessianConfig | None = None, *, seed: int = 0, ggn_images: int | None = None,
                         fixed_ratio: float | None = None, device: str | torch.device = "cpu",
                         cache: str | Path | None = None, progress: bool = False):
    """Hutchinson, Fisher and GGN strip scores side by side: reliability, cost and accuracy outcome.

    Args:
        model: the trained float network (never modified; every convolution and dense layer is scored).
        train_set: training images; the batch of the three diagonals is the chapter's seeded subset of
            ``config.hessian_images`` (:func:`imckit.experiments.hessian.run` draws the same one).
        test_set: test images; accuracies on the chapter's seeded subset of ``config.test_images``.
        config: the chapter's settings (default: ``HessianConfig.preset("default")``); read: ``hessian_images``,
            ``probes`` and the probe settings, ``test_images``, ``high_bits``, ``swept_low_bits``,
            ``fim_tolerance``, ``fim_steps``, ``table4_ratio``, ``ratios``.
        seed: seed of the image subsets, the Hutchinson probes and the random strips (as the chapter's).
        ggn_images: images of the GGN batch (a seeded subset of ``train_set``; ``None``: the chapter's batch,
            so all three diagonals see the same images), at least 2.
        fixed_ratio: the compression ratio (share of strips at low precision, in [0, 1]) at which the three
            scorings and random strips are compared at equal compression (``None``: ``config.table4_ratio``).
        device: where the diagonals and accuracies are computed (``"cpu"``, ``"cuda"``, ``"auto"``).
        cache: the cache folder (``None``: :func:`imckit.core.cache.cache_dir`; ``""``: no cache).
        progress: show progress bars.

    Returns:
        A pandas DataFrame, one row per scoring (``hutchinson``, ``fisher``, ``ggn``, then ``random strips``,
        the control, which has accuracies only), columns:

        - ``estimate``: what was computed (probes and images);
        - ``reliability``: split-half Spearman correlation of the strip scores over all strips (Hutchinson:
          odd- against even-numbered probes on the whole batch; Fisher and GGN: first against second half of
          the images); ``reliability (full)``: its Spearman-Brown step-up to the whole estimate;
        - ``trace reliability``: the same for the strip traces ``Tr(D_strip)`` alone, without the factor
          ``||w_strip||^2 / (2 p)`` the halves share;
        - ``rank correlation with GGN``: of the full estimates' strip scores;
        - ``negative scores (%)``; ``seconds``: time of the diagonal (both halves) when it was computed;
        - per low precision ``b`` of ``config.swept_low_bits``: ``FIM ratio (%), H/b-bit`` and
          ``FIM accuracy (%), H/b-bit`` (the chapter's FIM threshold search on that score and the test
          accuracy of the threshold it picks) and ``accuracy at R % (%), H/b-bit`` (the share ``fixed_ratio`` of
          strips with the lowest scores at low precision).

        ``attrs`` holds ``images`` (the Hutchinson/Fisher batch), ``ggn images``, ``probes``, ``test images``,
        ``fixed ratio``, ``accuracy all high (%)``, ``standard error (points)`` (of a difference between two
        accuracies on these test images, as the chapter computes it), ``threads`` (of the GGN computation) and
        ``from cache`` (step -> whether it was read from the cache).
    """
    import pandas as pd

    config = HessianConfig.preset("default") if config is None else config
    check_config(config, "config", HessianConfig)
    check_config(model, "model", nn.Module, "torch.nn.Module")
    check_config(train_set, "train_set", ImageTensors, "imckit.core.data.ImageTensors")
    check_config(test_set, "test_set", ImageTensors, "imckit.core.data.ImageTensors")
    seed = check_seed(seed)
    if ggn_images is not None:
        ggn_images = check_int(ggn_images, "ggn_images", 2, max(2, len(train_set)))
    fixed_ratio = config.table4_ratio if fixed_ratio is None else check_number(fixed_ratio, "fixed_ratio", 0, 1)
    progress = check_bool(progress, "progress")
    device = resolve_device(device)
    model.eval()
    c = config
    batch = train_set.subset(min(c.hessian_images, len(train_set)), seed=seed)  # as hessian.run draws them
    test = test_set.subset(min(c.test_images, len(test_set)) if c.test_images else None, seed=seed)
    ggn_batch = batch if ggn_images is None else train_set.subset(int(ggn_images), seed=seed)
    modules = [m for layer in mappable_layers(model) for m in layer.modules]
    steps = HessianSteps(model, batch, test, c, seed, device, cache, progress)

    # the three diagonals, their strip scores and split halves
    trace, hutchinson_seconds = steps.trace(modules)
    fisher_first, fisher_second, fisher, fisher_seconds = steps.fisher_halves(modules)
    entry, ggn_hit = cached("ggn-halves", {
        "model_data": model_data_digest(model, ggn_batch), "modules": modules, "batch_size": GGN_BATCH_SIZE,
        "device": cache_device(device)}, _timed_ggn(steps.work, ggn_batch.images, modules, device, progress),
        code=("imckit.crossbars.ggn",), cache=cache, name="ggn-")
    ggn_first, ggn_second, ggn = entry["value"]
    scores = {"hutchinson": strip_sensitivity(model, trace, modules),
              "fisher": diagonal_strip_sensitivity(model, fisher), "ggn": diagonal_strip_sensitivity(model, ggn)}
    odd = {m: trace.halves[f"{m}.weight"][0] for m in modules}
    even = {m: trace.halves[f"{m}.weight"][1] for m in modules}
    halves = {"hutchinson": (odd, even), "fisher": (fisher_first, fisher_second), "ggn": (ggn_first, ggn_second)}
    reliability = {"hutchinson": strip_reliability(model, trace, modules),
                   "fisher": score_reliability(model, fisher_first, fisher_second, modules),
                   "ggn": score_reliability(model, ggn_first, ggn_second, modules)}
    half = len(batch) // 2
    rows = {
        "hutchinson": {"estimate": f"{trace.probes} probes on {len(batch)} images",
                       "seconds": hutchinson_seconds},
        "fisher": {"estimate": f"{len(batch)} images ({half} + {len(batch) - half})", "seconds": fisher_seconds},
        "ggn": {"estimate": f"{len(ggn_batch)} images ({len(ggn_batch) // 2} + {len(ggn_batch) - len(ggn_batch) // 2})",
                "seconds": entry["seconds"]},
    }
    for method in METHODS:
        r = reliability[method]
        first, second = halves[method]
        rows[method].update({
            "reliability": r, "reliability (full)": spearman_brown(r) if not math.isnan(r) else None,
            "trace reliability": rank_agreement(_strip_traces(first, modules), _strip_traces(second, modules), modules),
            "rank correlation with GGN": rank_agreement(scores[method], scores["ggn"], modules),
            "negative scores (%)": 100 * negative_share(scores[method], modules)})
    rows[CONTROL] = {"estimate": f"seed {seed}"}

    # the accuracy each scoring's threshold gives
    assignments, lows, where = [{}], [c.low_bits], []
    searches, fim_hits = {}, {}
    for bits in c.swept_low_bits:
        for method in METHODS:
            _, search, _ = steps.fim(scores[method], bits)
            searches[(method, bits)] = search
            fim_hits[f"FIM search {method} {c.high_bits}/{bits}"] = all(
                hit for step, hit in steps.from_cache.items() if step.startswith("FIM") and step.endswith(f"/{bits}"))
            assignments += [strip_assignment(scores[method], search["ratio"]), strip_assignment(scores[method],
                                                                                                 fixed_ratio)]
            lows += [bits, bits]
            where += [(method, bits, "fim"), (method, bits, "fixed")]
        assignments.append(random_strip_assignment(scores["ggn"], fixed_ratio, seed))
        lows.append(bits)
        where.append((CONTROL, bits, "fixed"))
    evaluated, accuracy_hit = cached("curvature-accuracy", {
        "model_data": model_data_digest(model, test), "assignments": [digest(a) for a in assignments],
        "high_bits": c.high_bits, "low_bits": lows, "device": cache_device(device)},
        lambda: evaluate_assignments(steps.work, test, assignments, c.high_bits, lows, device, progress),
        code=("imckit.crossbars.precision",), cache=cache, name="accuracy-")
    measured = [100 * float(a) for a in evaluated["accuracy"]]
    accuracy_high = measured[0]
    label = f"{100 * fixed_ratio:.0f}"
    for (method, bits, kind), accuracy in zip(where, measured[1:]):
        suffix = f"{c.high_bits}/{bits}-bit"
        if kind == "fim":
            rows[method][f"FIM ratio (%), {suffix}"] = 100 * searches[(method, bits)]["ratio"]
            rows[method][f"FIM accuracy (%), {suffix}"] = accuracy
        else:
            rows[method][f"accuracy at {label} % (%), {suffix}"] = accuracy

    columns = ["estimate", "reliability", "reliability (full)", "trace reliability", "rank correlation with GGN",
               "negative scores (%)", "seconds"]
    for bits in c.swept_low_bits:
        suffix = f"{c.high_bits}/{bits}-bit"
        columns += [f"FIM ratio (%), {suffix}", f"FIM accuracy (%), {suffix}", f"accuracy at {label} % (%), {suffix}"]
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=columns)
    table = table.astype({col: float for col in columns if col != "estimate"})
    table.attrs.update({
        "images": len(batch), "ggn images": len(ggn_batch), "probes": trace.probes, "test images": len(test),
        "fixed ratio": float(fixed_ratio), "accuracy all high (%)": accuracy_high,
        "standard error (points)": standard_error_of_difference(accuracy_high, len(test)),
        "threads": entry.get("threads", torch.get_num_threads()),
        "from cache": {**{k: v for k, v in steps.from_cache.items() if not k.startswith("FIM")}, **fim_hits,
                       "ggn halves": ggn_hit, "accuracies": accuracy_hit}})
    return table


# --------------------------------------------------------------------------------------------------------
# decisions that turn numbers into sentences


def meets_goal(reliability: float, seconds: float, target: float = GOAL_RELIABILITY,
               budget: float = GOAL_SECONDS) -> bool:
    """Whether a scoring meets the issue's goal: split-half reliability of at least ``target`` (in (0, 1))
    within ``budget`` seconds (> 0). NaN reliability (undefined: constant scores) never meets it."""
    target = check_number(target, "target", 0, 1, low_open=True, high_open=True)
    budget = check_number(budget, "budget", 0, low_open=True)
    seconds = check_number(seconds, "seconds", 0)
    if isinstance(reliability, bool) or not isinstance(reliability, numbers.Real):
        raise TypeError(f"reliability must be a number in [-1, 1] or NaN; got {reliability!r}")
    if math.isnan(reliability):
        return False
    reliability = check_number(reliability, "reliability", -1, 1)
    return reliability >= target and seconds <= budget


def comparison_text(table, target: float = GOAL_RELIABILITY, budget: float = GOAL_SECONDS) -> dict[str, str]:
    """Glue texts for the comparison (``table`` from :func:`curvature_comparison`): ``cv_rel_<method>``,
    ``cv_sec_<method>``, ``cv_ggn_images``, ``cv_probes``, ``cv_images`` and ``cv_verdict``, a sentence that
    says, from the numbers, which scorings meet the goal (:func:`meets_goal`)."""
    missing = [m for m in METHODS if m not in table.index]
    if missing or "reliability" not in table.columns or "seconds" not in table.columns:
        raise ValueError(f"table must be curvature_comparison's (rows {list(METHODS)}, columns reliability and "
                         f"seconds); got rows {list(table.index)}, columns {list(table.columns)}")
    absent = [k for k in ("images", "ggn images", "probes") if k not in table.attrs]
    if absent:
        raise ValueError(f"table.attrs must hold {absent} (curvature_comparison's table does)")
    text = {"cv_images": f"{table.attrs['images']:,}", "cv_ggn_images": f"{table.attrs['ggn images']:,}",
            "cv_probes": f"{table.attrs['probes']}"}
    met = []
    names = {"hutchinson": "Hutchinson", "fisher": "the empirical Fisher", "ggn": "the exact GGN diagonal"}
    for method in METHODS:
        r, s = float(table.loc[method, "reliability"]), float(table.loc[method, "seconds"])
        text[f"cv_rel_{method}"] = "undefined" if math.isnan(r) else f"{r:.2f}"
        text[f"cv_sec_{method}"] = f"{s:.1f}"
        if meets_goal(r, s, target, budget):
            met.append(names[method])
    goal = f"a split-half reliability of at least {target:.2f} within {budget:.0f} s"
    if not met:
        text["cv_verdict"] = f"None of the three scorings reaches {goal} here."
    else:
        listed = met[0] if len(met) == 1 else ", ".join(met[:-1]) + " and " + met[-1]
        verb = "reaches" if len(met) == 1 else "reach"
        text["cv_verdict"] = (f"{listed[0].upper()}{listed[1:]} {verb} {goal} here"
                              + ("; Hutchinson does not." if "Hutchinson" not in met else "."))
    return text
