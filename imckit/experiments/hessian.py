"""The chapter "Hessian and Fisher sensitivity on ReRAM crossbars" (seed paper 001) as one experiment.

>>> from imckit.core.training import baseline_spec, pretrained
>>> from imckit.experiments import hessian
>>> baseline = pretrained(baseline_spec("smoke"))                                   # doctest: +SKIP
>>> result = hessian.run(baseline.model, baseline.train_set, baseline.test_set,
...                      hessian.HessianConfig.preset("smoke"))                      # doctest: +SKIP
>>> result.table4                                                                    # doctest: +SKIP

:func:`run` does every step the chapter shows, on one trained network:

1. Hutchinson estimates of the Hessian diagonal on a batch of training images, per layer and per strip
   (:func:`imckit.crossbars.hessian.hessian_trace`), and the empirical Fisher diagonal of the two halves
   of the same batch (:func:`imckit.crossbars.fisher.fisher_diagonal_halves`); how much of each strip
   scoring is noise (split-half reliability).
2. Accuracy against the compression ratio for strips and single weights by either score and for random
   strips (:func:`imckit.crossbars.precision.precision_sweep`), at ``low_bits`` and at a harsher
   ``contrast_low_bits``, every image's correctness kept for paired tests.
3. The threshold chosen by Fisher information alone (:func:`imckit.crossbars.fisher.fim_threshold`), by
   Fisher information and the energy proxy jointly (:func:`imckit.crossbars.fisher.joint_threshold`, the
   paper's Sec. 5) and by a plain sweep of the test accuracy.
4. Crossbar utilization before and after the capacity-aligned threshold
   (:func:`imckit.crossbars.mapping.alignment_report`, the paper's Table 4), and the strips against an
   unstructured, HAP-like assignment in accuracy, energy and latency (Table 2).
5. The precision-coordinated computation against the unaligned accumulation it replaces
   (:func:`imckit.crossbars.strips.accumulation_comparison`), and the ADC energy and latency proxy against
   the compression ratio (:func:`imckit.crossbars.energy.energy_sweep`, Table 3).

Two assignments are always compared on the same test images, so every accuracy difference is tested as
paired data: McNemar's test (mid-p) for one pair (:func:`imckit.crossbars.precision.mcnemar`), a paired
t-test of each image's mean difference for a method against random strips over the compression ratios
(:func:`imckit.crossbars.precision.paired_difference`); a difference is *visible* when its p-value is below
:data:`ALPHA`.

Every expensive step is computed by :class:`imckit.experiments.hessian_steps.HessianSteps` through
:func:`imckit.core.cache.cached`, keyed by a digest of the network and the images, the parameters, the device
type (when not the CPU) and the version of :mod:`imckit.experiments.hessian_steps`, the module that holds
the computations and nothing else: a second run with nothing changed recomputes none of them
(``HessianResult.from_cache`` says which came from the cache), and editing this module's sentences or
figures invalidates none of them (the cache rule of the chapters, stated in :mod:`~imckit.experiments.hessian_steps`).

The decisions that turn numbers into the chapter's sentences are the small functions below
(:func:`choice_is_visible`, :func:`hutchinson_is_noise`, :func:`alignment_empties_most_layers`,
:func:`largest_ratio_within`, :func:`within_rounding`, ...); :func:`chapter_text` assembles the glued
sentences from a result. Whether a result of the paper holds here is decided only by the verdict table
(:func:`scorecard`, :mod:`imckit.papers`): :func:`kit_values` gives the kit's value for every claim of
``imckit/papers/data/seed001.yaml`` and :func:`verdict_sentences` the chapter's sentences about the paper,
each chosen by its claim's verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from imckit.core.compute import resolve_device
from imckit.core.data import ImageTensors
from imckit.core.models import mappable_layers
from imckit.core.profiles import check_profile
from imckit.core.validate import (check_bool, check_choice, check_count, check_int, check_number, check_seed,
                                  check_writable_dir)
from imckit.experiments.checks import check_config, check_items, check_optional_count, check_override
from imckit.crossbars.energy import PAPER_TABLE3, ADCSpec, energy_proxy, energy_sweep
from imckit.crossbars.fisher import joint_threshold
from imckit.crossbars.hessian import (HessianTrace, diagonal_strip_sensitivity, diagonal_weight_sensitivity,
                                      negative_share, probes_for_reliability, rank_agreement, score_reliability,
                                      spearman_brown, strip_reliability, strip_sensitivity, weight_sensitivity)
from imckit.crossbars.mapping import PAPER_TABLE4, AlignmentReport, CrossbarSpec, alignment_report, \
    strips_per_crossbar, weight_level_utilization
from imckit.crossbars.precision import PAPER_TABLE2, mcnemar, paired_difference
from imckit.crossbars.strips import ACCUMULATIONS, low_weight_share, strip_assignment, weight_assignment
from imckit.experiments.hessian_steps import HessianSteps

__all__ = ["HessianConfig", "HessianResult", "run", "chapter_text", "mean_gains", "choice_is_visible",
           "visible", "paired_phrase", "low_bits_sentence", "contrast_sentence", "hutchinson_is_noise",
           "quantization_is_mild", "within_rounding", "coordination_sentence", "accumulation_sentence",
           "split_cost_sentence", "alignment_empties_most_layers", "largest_ratio_within", "needed_probes_sentence",
           "utilization_phrase", "alignment_sentence", "rules_sentence", "change_percent", "kit_values", "scorecard",
           "verdict_sentences", "plot_traces", "plot_sweeps", "plot_fisher", "plot_joint", "plot_energy",
           "plot_accumulation", "METHODS", "PAPER_METHOD", "CONTROL", "ROUNDING_TOLERANCE", "ALPHA", "RULES",
           "ENERGY_MODELS", "TABLE3_RATIOS"]

HUTCHINSON_STRIPS = "strips, Hutchinson (paper)"
FISHER_STRIPS = "strips, Fisher"
HUTCHINSON_WEIGHTS = "single weights, Hutchinson (HAP-like)"
FISHER_WEIGHTS = "single weights, Fisher"
CONTROL = "random strips"
METHODS = (HUTCHINSON_STRIPS, FISHER_STRIPS, HUTCHINSON_WEIGHTS, FISHER_WEIGHTS)
PAPER_METHOD = {"hutchinson": HUTCHINSON_STRIPS, "fisher": FISHER_STRIPS}  # strip method of each score_diagonal
# largest logit difference (over the logits' range) that float rounding explains; a misaligned grid gives 1e-2 or more
ROUNDING_TOLERANCE = 1e-3
ALPHA = 0.05  # a paired difference is visible when its p-value (McNemar mid-p, paired t) is below this
FIM_RULE, JOINT_RULE, SWEEP_RULE = "FIM threshold search", "FIM + energy, joint ranking", "score sweep by test accuracy"
RULES = (FIM_RULE, JOINT_RULE, SWEEP_RULE)
ENERGY_MODELS = ("ADC level units", "ADC bit decisions")  # the energy proxy's two models (imckit.crossbars.energy)
STRIPS, HAP_LIKE = "strips (paper)", "single weights (HAP-like)"
TABLE3_RATIOS = (0.0, 0.1, 0.5, 0.7, 0.9, 1.0)  # the compression ratios of the paper's Table 3

# the sizes of each profile: training images of the Hessian/Fisher batch, probes, test images (None: all)
_PROFILES = {
    "smoke": {"hessian_images": 64, "probes": 8, "test_images": 256},
    "default": {"hessian_images": 512, "probes": 64, "test_images": 2000},
    "paper": {"hessian_images": 2048, "probes": 1024, "test_images": None},
}
_SIZES_WITH_PROFILE_DEFAULT = ("hessian_images", "probes", "test_images")


@dataclass(frozen=True)
class HessianConfig:
    """Everything the chapter's experiment is run with (presets: :meth:`preset`).

    Attributes:
        hessian_images: training images of the batch the Hessian and Fisher diagonals are estimated on (>= 2).
        probes: largest number of Hutchinson probes (Rademacher vectors), 2 to 100,000.
        probe_tolerance: stop once the running mean of the total trace moves by less than this share (PyHessian's
            rule), in [0, 1); 0 uses every probe.
        score_diagonal: the diagonal behind the strip scores of the threshold search, the mapping and the energy
            proxy: ``"hutchinson"`` (the paper) or ``"fisher"``.
        test_images: test images the accuracies are measured on (``None``: every test image of the baseline).
        high_bits: word length of high-precision strips, bits (the paper: 8; the energy proxy knows 8 and 4).
        low_bits: word length of low-precision strips, bits (the paper: 4), below ``high_bits``.
        contrast_low_bits: a harsher low precision swept as well, bits in [2, high_bits); 0: no contrast sweep.
        ratio_step: step of the compression-ratio sweeps, in (0, 0.5], dividing 1 (the sweeps end at 1).
        fim_tolerance: relative Fisher distance ``||F - F0|| / ||F0||`` the threshold search allows, > 0 (the
            kit's choice: the paper gives no value for its tolerance).
        accuracy_drop: accuracy points the plain sweep may lose against the all-high network, in [0, 100]
            (the kit's choice: the paper's sweep has no such rule).
        table4_ratio: compression ratio (share of strips at low precision, in [0, 1]) of the utilization
            comparison and of the accumulation check (the paper's Table 4: 0.8).
        table2_ratio: compression ratio of the comparison with single weights (HAP-like), in [0, 1] (the
            paper's Table 2: 0.74).
        energy_model: the energy proxy behind the joint threshold ranking and the energy claims,
            ``"ADC level units"`` (energy growing with the ADC's levels, the closer to the paper's Table 3)
            or ``"ADC bit decisions"`` (linear in its bits); the chapter shows both.
        joint_weight: weight of the FIM cost against the energy cost in the joint ranking, in [0, 1]
            (:func:`imckit.crossbars.fisher.joint_threshold`; the kit's choice: 0.5).
        crossbar_sizes: square crossbar sizes (rows = columns, 1 to 4096) of the utilization table; the first
            is also the energy proxy's (the paper: 128 and 32).
        cell_bits: bits per ReRAM cell, 1 to 8 (the paper: 2).
        coordinated_images: test images (at most) the two accumulations are checked on.
        reliability_target: split-half-based reliability the chapter says how many probes would reach, in (0, 1).
        fim_steps: halvings of the bisection of :func:`imckit.crossbars.fisher.fim_threshold`, 1 to 30.
        min_probes: probes before ``probe_tolerance`` is checked, >= 1.
        energy_reference_ratio: compression ratio whose energy the chapter compares with the paper's 70 % row.
    """

    hessian_images: int = 512
    probes: int = 64
    probe_tolerance: float = 0.0
    score_diagonal: str = "hutchinson"
    test_images: int | None = 2000
    high_bits: int = 8
    low_bits: int = 4
    contrast_low_bits: int = 3
    ratio_step: float = 0.1
    fim_tolerance: float = 0.2
    accuracy_drop: float = 1.0
    table4_ratio: float = 0.8
    table2_ratio: float = 0.74
    energy_model: str = "ADC level units"
    joint_weight: float = 0.5
    crossbar_sizes: tuple[int, ...] = (128, 32)
    cell_bits: int = 2
    coordinated_images: int = 512
    reliability_target: float = 0.9
    fim_steps: int = 8
    min_probes: int = 10
    energy_reference_ratio: float = 0.7

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("hessian_images", check_int(self.hessian_images, "hessian_images", 2, 10_000_000))
        try:
            put("probes", check_int(self.probes, "probes", 2, 100_000))
        except (TypeError, ValueError) as error:
            raise type(error)(f"probes must be an integer in [2, 100000] (the split-half reliability needs two "
                              f"halves); got {self.probes!r}") from None
        put("probe_tolerance", check_number(self.probe_tolerance, "probe_tolerance", 0, 1, high_open=True))
        check_choice(self.score_diagonal, "score_diagonal", tuple(PAPER_METHOD))
        put("test_images", check_optional_count(self.test_images, "test_images"))
        put("high_bits", check_int(self.high_bits, "high_bits", 1, 16))
        put("low_bits", check_int(self.low_bits, "low_bits", 1, 16))
        known = sorted(ADCSpec().levels)
        if self.high_bits not in known or self.low_bits not in known or not self.low_bits < self.high_bits:
            raise ValueError(f"high_bits and low_bits must be among {known} with low_bits < high_bits (the energy "
                             f"proxy has ADC settings for the paper's Table 1 precisions only; sweep others with "
                             f"contrast_low_bits); got high_bits={self.high_bits!r}, low_bits={self.low_bits!r}")
        put("contrast_low_bits", check_int(self.contrast_low_bits, "contrast_low_bits", 0, 16))
        if not (self.contrast_low_bits == 0 or 2 <= self.contrast_low_bits < self.high_bits):
            raise ValueError(f"contrast_low_bits must be 0 or an integer in [2, high_bits={self.high_bits}); got "
                             f"{self.contrast_low_bits!r}")
        put("ratio_step", check_number(self.ratio_step, "ratio_step", 0, 0.5, low_open=True))
        if abs(1 / self.ratio_step - round(1 / self.ratio_step)) > 1e-6:
            raise ValueError(f"ratio_step must be a number in (0, 0.5] that divides 1 (e.g. 0.1, 0.125, 0.25) so "
                             f"the sweep ends at 1 and holds a ratio strictly between 0 and 1; got {self.ratio_step!r}")
        put("fim_tolerance", check_number(self.fim_tolerance, "fim_tolerance", 0, low_open=True))
        put("accuracy_drop", check_number(self.accuracy_drop, "accuracy_drop", 0, 100))
        put("table4_ratio", check_number(self.table4_ratio, "table4_ratio", 0, 1))
        put("table2_ratio", check_number(self.table2_ratio, "table2_ratio", 0, 1))
        check_choice(self.energy_model, "energy_model", ENERGY_MODELS)
        put("joint_weight", check_number(self.joint_weight, "joint_weight", 0, 1))
        sizes = check_items(self.crossbar_sizes, "crossbar_sizes", lambda v, n: check_int(v, n, 1, 4096),
                            allowed="a non-empty list of different integers in [1, 4096]")
        if len(set(sizes)) != len(sizes):
            raise ValueError(f"crossbar_sizes must be a non-empty list of different integers in [1, 4096]; got "
                             f"{self.crossbar_sizes!r}")
        put("crossbar_sizes", sizes)
        put("cell_bits", check_int(self.cell_bits, "cell_bits", 1, 8))
        put("coordinated_images", check_count(self.coordinated_images, "coordinated_images"))
        put("reliability_target", check_number(self.reliability_target, "reliability_target", 0, 1,
                                               low_open=True, high_open=True))
        put("fim_steps", check_int(self.fim_steps, "fim_steps", 1, 30))
        put("min_probes", check_count(self.min_probes, "min_probes"))
        put("energy_reference_ratio", check_number(self.energy_reference_ratio, "energy_reference_ratio", 0, 1))

    @classmethod
    def preset(cls, profile: str, **overrides) -> "HessianConfig":
        """The configuration of a run profile (``"smoke"``, ``"default"``, ``"paper"``) with ``overrides``.

        The profiles differ in their sizes: smoke 64 Hessian images, 8 probes, 256 test images; default 512,
        64, 2,000; paper 2,048, 1,024, every test image. An override of ``0`` for one of these sizes
        (``hessian_images``, ``probes``, ``test_images``) keeps the profile's, as the chapter's parameters say.
        """
        check_profile(profile)
        unknown = sorted(set(overrides) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown HessianConfig field(s) {unknown}; known: {sorted(cls.__dataclass_fields__)}")
        values = dict(_PROFILES[profile])
        for name, value in overrides.items():
            if name == "test_images" and value is None:
                pass  # every test image
            elif name in _SIZES_WITH_PROFILE_DEFAULT:
                value = check_override(value, name, 2 if name in ("hessian_images", "probes") else 1)
                if value == 0:
                    continue
            values[name] = value
        return cls(**values)

    @property
    def ratios(self) -> list[float]:
        """The compression ratios of the sweeps: 0 to 1 in steps of ``ratio_step``."""
        return [float(r) for r in np.round(np.arange(0, 1 + self.ratio_step / 2, self.ratio_step), 4)]

    @property
    def swept_low_bits(self) -> list[int]:
        """``low_bits``, then ``contrast_low_bits`` if it is set and differs."""
        extra = [self.contrast_low_bits] if self.contrast_low_bits and self.contrast_low_bits != self.low_bits else []
        return [self.low_bits, *extra]

    def crossbar(self, size: int) -> CrossbarSpec:
        """The square crossbar of ``size`` rows and columns with this configuration's cells."""
        return CrossbarSpec(rows=size, columns=size, cell_bits=self.cell_bits)


# --------------------------------------------------------------------------------------------------------
# decisions that turn numbers into sentences


def mean_gains(accuracy, control: str = CONTROL):
    """Each method's mean accuracy gain over ``control`` (a pandas Series, points), over the compression
    ratios strictly between 0 and 1 of ``accuracy`` (a DataFrame: ratio index, one column per method)."""
    if control not in accuracy.columns:
        raise ValueError(f"accuracy must have a column {control!r}; got {list(accuracy.columns)}")
    inner = [r for r in accuracy.index if 0 < r < 1]
    if not inner:
        raise ValueError("accuracy must hold at least one compression ratio strictly between 0 and 1")
    return accuracy.loc[inner].sub(accuracy.loc[inner, control], axis=0).mean().drop(control)


def visible(p: float, alpha: float = ALPHA) -> bool:
    """Whether a paired difference with p-value ``p`` (McNemar mid-p for one pair of assignments, a paired
    t-test for a mean over ratios) is visible: ``p < alpha``. A p-value of exactly ``alpha`` is not."""
    p = check_number(p, "p", 0, 1)
    alpha = check_number(alpha, "alpha", 0, 1, low_open=True, high_open=True)
    return p < alpha


def choice_is_visible(p_values, alpha: float = ALPHA) -> bool:
    """Whether the strips some method picks make a difference this test can see: any of the methods' paired
    p-values against random strips (``p_values``, one per method) is below ``alpha`` (:func:`visible`)."""
    p_values = [float(p) for p in p_values]
    if not p_values:
        raise ValueError("p_values must hold at least one p-value")
    return any(visible(p, alpha) for p in p_values)


def paired_phrase(test: dict) -> str:
    """A paired test in words: ``"+1.2 points (95 % interval ± 0.8; McNemar mid-p 0.031)"``; ``test`` is
    :func:`imckit.crossbars.precision.mcnemar`'s (``p_mid``) or :func:`~imckit.crossbars.precision.paired_difference`'s
    (``p``, a paired t-test)."""
    if "p_mid" in test:
        p, name = test["p_mid"], "McNemar mid-p"
    elif "p" in test:
        p, name = test["p"], "paired t-test p"
    else:
        raise ValueError(f"test must be a result of mcnemar or paired_difference; got keys {sorted(test)}")
    shown = f"{p:.2g}" if p >= 1e-3 else "< 0.001"
    return (f"{test['difference']:+.1f} points (95 % interval ± {test['half_width']:.1f}; {name} "
            f"{'= ' if p >= 1e-3 else ''}{shown})")


def _largest(gains):
    """The row of ``gains`` (one low precision's rows of the gains table) a sentence reports: among the
    visible gains (:func:`visible`) the one with the smallest p-value, else the largest absolute gain."""
    shown = gains[[visible(p) for p in gains["p (paired t-test)"]]]
    if len(shown):
        return shown.loc[shown["p (paired t-test)"].idxmin()]
    return gains.loc[gains["mean gain (pts)"].abs().idxmax()]


def low_bits_sentence(gains) -> str:
    """The chapter's verdict on the main sweep: ``gains`` are the rows of the gains table for ``low_bits``
    (columns ``method``, ``mean gain (pts)``, ``± 95 % (pts)``, ``p (paired t-test)``)."""
    top = _largest(gains)
    test = {"difference": top["mean gain (pts)"], "half_width": top["± 95 % (pts)"], "p": top["p (paired t-test)"]}
    if not choice_is_visible(gains["p (paired t-test)"]):
        return (f"No method differs from random strips beyond the paired noise: the largest mean gain, "
                f"{top['method']}'s, is {paired_phrase(test)}; at low_bits the choice of strips makes no difference "
                "this test can see.")
    return (f"The choice of strips makes a visible difference: {top['method']} against random strips "
            f"{paired_phrase(test)} on average over the compression ratios.")


def contrast_sentence(gains, accuracy, contrast_low_bits: int, drop: dict | None = None) -> str:
    """The chapter's sentence on the contrast sweep: whether the choice of strips makes a visible difference
    there (``gains``: the gains table's rows of the contrast precision; :func:`choice_is_visible`), each
    method's gain, and, when the paper's Hutchinson strips do worse than random, why and whether their curve
    dips below the all-low network (``accuracy``: the contrast sweep's accuracies, ratio index); last, what
    moving every strip low costs there (``drop``: the paired test of all-low against all-high), beside the
    paper's Table 3."""
    if accuracy is None or not contrast_low_bits or gains is None:
        return "(No contrast sweep ran: contrast_low_bits = 0.)"
    by_method = gains.set_index("method")["mean gain (pts)"]
    top = _largest(gains)
    test = {"difference": top["mean gain (pts)"], "half_width": top["± 95 % (pts)"], "p": top["p (paired t-test)"]}
    if choice_is_visible(gains["p (paired t-test)"]):
        text = (f"With {contrast_low_bits}-bit low strips the choice of strips makes a visible difference "
                f"({top['method']} against random strips: {paired_phrase(test)}).")
    else:
        text = (f"Even with {contrast_low_bits}-bit low strips no method differs from random strips beyond the "
                f"paired noise (largest: {top['method']}, {paired_phrase(test)}).")
    text += (f" Against random strips, the paper's Hutchinson strips average {by_method[HUTCHINSON_STRIPS]:+.1f} "
             f"points, the Fisher strips {by_method[FISHER_STRIPS]:+.1f} and single weights by Fisher score "
             f"{by_method[FISHER_WEIGHTS]:+.1f}.")
    if by_method[HUTCHINSON_STRIPS] < 0:
        inner = [r for r in accuracy.index if 0 < r < 1]
        dips = bool((accuracy.loc[inner, HUTCHINSON_STRIPS] < accuracy.loc[1.0, HUTCHINSON_STRIPS]).any())
        text += (" Noisy scores can do worse than chance: a global threshold on them does not spread the "
                 "low-precision strips evenly over the layers as a random draw does, and once many layers are "
                 "coarse the accuracy is not even monotone in the precision of single strips"
                 + (" (the Hutchinson curve dips below the all-low network)." if dips else "."))
    if drop is not None:
        text += (f" Moving every strip to {contrast_low_bits} bits changes the accuracy by {paired_phrase(drop)} "
                 f"here; the paper's Table 3 shows {PAPER_TABLE3[100][0] - PAPER_TABLE3[0][0]:+.2f} points from 0 % "
                 "to 100 % 4-bit strips.")
    return text


def hutchinson_is_noise(hutchinson_reliability: float, fisher_reliability: float) -> bool:
    """Whether the Hutchinson ranking is mostly probe noise while the Fisher one is stable: split-half
    reliabilities below 0.5 and at least 0.5."""
    return hutchinson_reliability < 0.5 <= fisher_reliability


def quantization_is_mild(accuracy_high: float, accuracy_low: float, points: float = 5.0) -> bool:
    """Whether moving every strip to low precision costs fewer than ``points`` accuracy points (then the
    choice of strips cannot matter much)."""
    accuracy_high = check_number(accuracy_high, "accuracy_high")
    accuracy_low = check_number(accuracy_low, "accuracy_low")
    points = check_number(points, "points", 0)
    return accuracy_high - accuracy_low < points


def within_rounding(difference: float, tolerance: float = ROUNDING_TOLERANCE) -> bool:
    """Whether the coordinated computation's largest logit difference (over the logits' range) is float
    rounding: at most ``tolerance``."""
    difference = check_number(difference, "difference", 0)
    tolerance = check_number(tolerance, "tolerance", 0)
    return difference <= tolerance


def coordination_sentence(difference: float, tolerance: float = ROUNDING_TOLERANCE) -> str:
    """The verdict on the kit's precision-coordinated computation against the mixed-precision weights in
    place (:func:`within_rounding`)."""
    if within_rounding(difference, tolerance):
        return (f"within float rounding (at most {tolerance:.0e} of the range): the two computations give the same "
                "outputs")
    return (f"more than float rounding explains (above {tolerance:.0e} of the range): the two computations "
            "differ")


def accumulation_sentence(expanded: dict, unaligned: dict, test: dict, ratio: float) -> str:
    """What accumulating without alignment costs at the compression ratio ``ratio``: ``expanded`` and
    ``unaligned`` are rows of the accumulation table (``difference``, ``agreement`` 0-1, ``accuracy`` 0-1),
    ``test`` the McNemar test of the unaligned accumulation against the expanded one."""
    size = ("no visible change of the accuracy" if not visible(test["p_mid"])
            else "an accuracy change of " + paired_phrase(test))
    return (f"At {100 * ratio:.0f} % compression the unaligned sum is off by {unaligned['difference']:.2f} of the "
            f"logits' range (the expanded sum by {expanded['difference']:.1e}), {100 * unaligned['agreement']:.1f} % "
            f"of its predictions are the intended ones, and it makes {size} against the expanded sum "
            f"({100 * unaligned['accuracy']:.1f} % against {100 * expanded['accuracy']:.1f} %).")


def split_cost_sentence(energy, column: str = "ADC bit decisions (rel.)") -> str:
    """Whether some compression ratio strictly between 0 and 100 % costs more than every strip at high
    precision: ``energy`` is the energy proxy per compression ratio (%, the index), ``column`` a cost
    relative to 0 % (1: the all-high cost)."""
    inner = energy[(energy.index > 0) & (energy.index < 100)]
    if inner.empty or column not in energy.columns:
        raise ValueError(f"energy must hold a column {column!r} and a compression ratio strictly between 0 and "
                         f"100 %; got columns {list(energy.columns)}, ratios {list(energy.index)}")
    above = inner[inner[column] > 1]
    name = column.replace(" (rel.)", "")
    if above.empty:
        return (f"No compression ratio between 0 and 100 % needs more {name} than every strip at high "
                "precision.")
    return (f"At {len(above)} of the {len(inner)} compression ratios between 0 and 100 % the {name} exceed those "
            f"with every strip at high precision (up to {100 * above[column].max():.0f} % at "
            f"{above[column].idxmax():.0f} %): splitting layers over both precisions can cost more than keeping "
            "them at high precision.")


def alignment_empties_most_layers(emptied: int, layers: int) -> bool:
    """Whether capacity alignment leaves more than half of the ``layers`` without high-precision strips."""
    layers = check_count(layers, "layers")
    emptied = check_int(emptied, "emptied", 0, layers)
    return emptied > layers / 2


def largest_ratio_within(accuracy, drop: float) -> float:
    """The largest compression ratio whose accuracy (a pandas Series, ratio index, %) stays within ``drop``
    points of the accuracy at ratio 0 (the plain threshold rule: it needs labelled test data)."""
    drop = check_number(drop, "drop", 0)
    if 0.0 not in accuracy.index:
        raise ValueError("accuracy must hold the compression ratio 0 (every strip at high precision)")
    return float(max(r for r in accuracy.index if accuracy.loc[r] >= accuracy.loc[0.0] - drop))


def needed_probes_sentence(needed: float | None, seconds_per_probe: float) -> str:
    """How many probes a reliable ranking needs (``None``: cannot be predicted), and how long they would take."""
    if needed is None:
        return "more probes than this run can estimate (its two halves do not agree at all)"
    return f"about {needed:,.0f} probes (about {needed * seconds_per_probe / 3600:.1f} h on this machine)"


def utilization_phrase(utilization: float) -> str:
    """``"<u> % used"``, or that no crossbar of that precision is left (NaN utilization)."""
    return "no high-precision strip left" if math.isnan(utilization) else f"{utilization:.1f} % used"


def alignment_sentence(table4, label: str, high_bits: int = 8) -> str:
    """The chapter's sentence on one crossbar size of the Table 4 comparison (rows ``origin``, ``down`` and
    ``nearest`` of ``table4`` for the crossbar ``label``, e.g. ``"128x128"``)."""
    rows = {}
    for method in ("origin", "down", "nearest"):
        match = table4[(table4["crossbar"] == label) & (table4["threshold"] == method)]
        if len(match) != 1:
            raise ValueError(f"table4 must hold one row for crossbar {label!r} and threshold {method!r}")
        rows[method] = match.iloc[0]
    used = {m: utilization_phrase(row["high utilization (%)"]) for m, row in rows.items()}
    down, nearest = rows["down"], rows["nearest"]
    return (f"On {label.replace('x', '×')} crossbars the {high_bits}-bit crossbars are {used['origin']} before "
            f"alignment; rounding down leaves {used['down']} (compression ratio {down['compression ratio (%)']:.1f} "
            f"%, accuracy {down['accuracy (%)']:.1f} %), rounding to the nearest whole crossbar {used['nearest']} "
            f"(ratio {nearest['compression ratio (%)']:.1f} %, accuracy {nearest['accuracy (%)']:.1f} %).")


def rules_sentence(rules, joint_vs: dict[str, dict]) -> str:
    """The three threshold rules at ``low_bits`` side by side: ``rules`` are the rows of the threshold table
    for ``low_bits`` (``rule``, ``compression ratio (%)``, ``accuracy (%)``, ``energy (rel.)``), ``joint_vs``
    the McNemar tests of the joint choice against the other two rules' (rule name -> test)."""
    rows = rules.set_index("rule")
    joint = rows.loc[JOINT_RULE]
    parts = []
    for rule in (FIM_RULE, SWEEP_RULE):
        other, test = rows.loc[rule], joint_vs[rule]
        difference = "no visible accuracy difference" if not visible(test["p_mid"]) else \
            "an accuracy difference of " + paired_phrase(test)
        parts.append(f"against the {rule} ({other['compression ratio (%)']:.1f} %, energy "
                     f"{100 * other['energy (rel.)']:.0f} % of all-high) it shows {difference}")
    return (f"The joint ranking picks {joint['compression ratio (%)']:.1f} % compression at "
            f"{100 * joint['energy (rel.)']:.0f} % of the all-high energy; " + "; ".join(parts) + ".")


def change_percent(ours: float, theirs: float) -> float:
    """The relative change (%) of ``ours`` against ``theirs``: ``100 (ours / theirs - 1)`` (a reduction is
    negative); ``theirs`` must be positive."""
    ours = check_number(ours, "ours")
    theirs = check_number(theirs, "theirs", 0, low_open=True)
    return 100 * (ours / theirs - 1)


# --------------------------------------------------------------------------------------------------------
# the result


@dataclass(frozen=True, eq=False)
class HessianResult:
    """Everything the chapter shows.

    Attributes:
        config: what it was run with; seed: the seed of the subsets, probes and random strips.
        modules: the scored modules (every convolution and dense layer), in order.
        train_images, test_images: images of the Hessian/Fisher batch and of the accuracy measurements.
        trace: the Hutchinson estimate (:class:`imckit.crossbars.hessian.HessianTrace`).
        scores: method name (:data:`METHODS`) -> module -> scores (strip or weight shape).
        seconds: compute time of ``"hessian"``, ``"fisher"`` and ``"fim"`` when they were computed (a cached
            value keeps the time of its computation).
        reliability: ``hutchinson`` and ``fisher`` split-half reliability, ``hutchinson full`` (Spearman-Brown),
            ``agreement`` of the two scorings, ``needed probes`` (``None``: not predictable), ``negative
            hutchinson`` / ``negative fisher`` (share of negative strip scores, 0-1).
        layer_traces: per module: weights, strips, depth, trace, trace per weight, share of trace (%).
        scorings: the two strip scorings side by side (time, reliability, negative scores).
        sweeps: low bits -> :func:`imckit.crossbars.precision.precision_sweep` frame.
        accuracy: low bits -> accuracy (%) per ratio (index) and method (columns, the control last).
        correct: low bits -> method -> bool tensor (ratios of the sweep, test images): each image's
            correctness, for the paired tests.
        gains: each method's mean gain over random strips per low precision, paired: ``low bits``, ``method``,
            ``mean gain (pts)``, ``± 95 % (pts)``, ``p (paired t-test)``.
        float_accuracy: the float network's accuracy on the same test images (%).
        fim_sweeps: low bits -> :func:`imckit.crossbars.fisher.fim_sweep` frame with ``accuracy (%)``.
        joint: :func:`imckit.crossbars.fisher.joint_threshold`'s result at ``low_bits`` (its ``table`` with
            ``accuracy (%)``).
        threshold_rules: the ratio, accuracy, energy and paired change against all-high each rule picks, per
            low precision.
        alignment: the :class:`imckit.crossbars.mapping.AlignmentReport` (per-layer tables, assignments).
        table4: the alignment table with ``accuracy (%)`` and the paired change against ``origin``.
        hap: strips against single weights at ``table2_ratio``, per crossbar size: accuracy, crossbars,
            utilization, mixed strips, the energy and latency proxies.
        hap_changes: per crossbar size, each proxy of the strips relative to the single weights (%).
        hap_share: share of weights at low precision of that comparison (0-1).
        accumulation: the two accumulations per compression ratio (``ratio``, ``accumulation``,
            ``difference``, ``agreement``, ``accuracy``, ``intended accuracy``; shares 0-1).
        coordinated: the expanded accumulation at ``table4_ratio`` against the mixed weights in place:
            ``difference`` (largest logit difference over the logits' range), ``agreement`` (share of equal
            predictions), ``images``.
        paired: named McNemar tests (:func:`imckit.crossbars.precision.mcnemar`) of the chapter's pairs.
        energy: the energy proxy per compression ratio (%), with the paper method's accuracy.
        paper_table3: the paper's Table 3 accuracy and relative ADC energy.
        verdicts: the decisions behind the chapter's sentences (name -> bool).
        from_cache: cached step -> whether it came from the cache in this run.
    """

    config: HessianConfig
    seed: int
    modules: list
    train_images: int
    test_images: int
    trace: HessianTrace
    scores: dict
    seconds: dict
    reliability: dict
    layer_traces: object
    scorings: object
    sweeps: dict
    accuracy: dict
    correct: dict
    gains: object
    float_accuracy: float
    fim_sweeps: dict
    joint: dict
    threshold_rules: object
    alignment: AlignmentReport
    table4: object
    hap: object
    hap_changes: object
    hap_share: float
    accumulation: object
    coordinated: dict
    paired: dict
    energy: object
    paper_table3: object
    verdicts: dict = field(default_factory=dict)
    from_cache: dict = field(default_factory=dict)

    @property
    def paper_method(self) -> str:
        """The strip method of the chosen ``score_diagonal``."""
        return PAPER_METHOD[self.config.score_diagonal]

    @property
    def main_accuracy(self):
        """Accuracy (%) per ratio and method of the sweep at ``low_bits``."""
        return self.accuracy[self.config.low_bits]

    @property
    def contrast_accuracy(self):
        """Accuracy (%) of the contrast sweep, or ``None`` when none ran."""
        extra = self.config.swept_low_bits[1:]
        return self.accuracy[extra[0]] if extra else None

    def accumulation_table(self):
        """The two accumulations side by side per compression ratio (%, the index): accuracy (%) of the
        intended network (mixed weights in place), of the expanded and of the unaligned sum, the unaligned
        sum's agreement with the intended predictions (%) and its largest logit difference (over the range)."""
        import pandas as pd

        frame = self.accumulation
        expanded = frame[frame["accumulation"] == "expanded"].set_index("ratio")
        unaligned = frame[frame["accumulation"] == "unaligned"].set_index("ratio")
        table = pd.DataFrame({"mixed weights (%)": 100 * expanded["intended accuracy"],
                              "expanded (%)": 100 * expanded["accuracy"], "unaligned (%)": 100 * unaligned["accuracy"],
                              "unaligned agreement (%)": 100 * unaligned["agreement"],
                              "unaligned logit error": unaligned["difference"],
                              "expanded logit error": expanded["difference"]})
        table.index = [100 * r for r in table.index]
        table.index.name = "compression ratio (%)"
        return table

    def gains_at(self, bits: int):
        """The rows of :attr:`gains` for the low precision ``bits``."""
        return self.gains[self.gains["low bits"] == bits]

    def per_layer(self, size: int | None = None, threshold: str = "down"):
        """The per-layer utilization table on the square crossbar ``size`` (default: the first) after ``threshold``."""
        size = self.config.crossbar_sizes[0] if size is None else size
        return self.alignment.per_layer[(f"{size}x{size}", threshold)]

    def drop(self, ratio: float, reference: float = 0.0, bits: int | None = None) -> dict:
        """The McNemar test of the paper method's strips at ``ratio`` against ``reference`` (default: every
        strip at high precision) at the low precision ``bits`` (default ``low_bits``); both ratios must be on
        the sweep's grid."""
        bits = self.config.low_bits if bits is None else bits
        ratios = self.config.ratios
        for name, value in (("ratio", ratio), ("reference", reference)):
            if not any(abs(value - r) < 1e-9 for r in ratios):
                raise ValueError(f"{name} must be a compression ratio of the sweep {ratios}; got {value!r}")
        index = {round(r, 6): k for k, r in enumerate(ratios)}
        rows = self.correct[bits][self.paper_method]
        return mcnemar(rows[index[round(ratio, 6)]], rows[index[round(reference, 6)]])

    def text(self) -> dict[str, dict[str, str]]:
        """The glued texts by chapter section (:func:`chapter_text`)."""
        return chapter_text(self)

    def save(self, folder: str | Path) -> list[Path]:
        """Write the chapter's tables as CSV files into ``folder`` (created; checked writable first); returns
        their paths."""
        folder = check_writable_dir(folder, "folder")
        high = self.config.high_bits
        files = [(self.layer_traces, "layer_traces.csv", True), (self.threshold_rules, "threshold_rules.csv", False),
                 (self.joint["table"], "joint_ranking.csv", False), (self.table4, "table4.csv", False),
                 (self.hap, "hap.csv", False), (self.hap_changes, "hap_changes.csv", False),
                 (self.gains, "gains.csv", False), (self.accumulation, "accumulation.csv", False),
                 (self.energy, "energy.csv", True)]
        files += [(frame, f"sweep_{high}_{bits}.csv", False) for bits, frame in self.sweeps.items()]
        files += [(frame, f"fim_sweep_{high}_{bits}.csv", False) for bits, frame in self.fim_sweeps.items()]
        paths = []
        for frame, name, index in files:
            frame.to_csv(folder / name, index=index)
            paths.append(folder / name)
        return paths


# --------------------------------------------------------------------------------------------------------
# the experiment


def _at(ratios, ratio) -> int:
    """The index of ``ratio`` in ``ratios`` (floats from the grid)."""
    for k, r in enumerate(ratios):
        if abs(r - ratio) < 1e-9:
            return k
    raise ValueError(f"ratio {ratio!r} is not among {list(ratios)}")


def run(model: nn.Module, train_set: ImageTensors, test_set: ImageTensors, config: HessianConfig | None = None, *,
        seed: int = 0, device: str | torch.device = "cpu", cache: str | Path | None = None,
        progress: bool = False) -> HessianResult:
    """Run the chapter's experiment on a trained network.

    Args:
        model: the trained float network (never modified; its convolution and dense layers are scored).
        train_set: training images; the Hessian/Fisher batch is a seeded subset of ``config.hessian_images``.
        test_set: test images; the accuracies are measured on a seeded subset of ``config.test_images``.
        config: the settings (default: ``HessianConfig.preset("default")``).
        seed: seed of the subsets, the Hutchinson probes and the random strips.
        device: where the expensive steps run (``"cpu"``, ``"cuda"``, ``"auto"``); results on the CPU are the
            same whatever was asked.
        cache: the cache folder (``None``: :func:`imckit.core.cache.cache_dir`).
        progress: show progress bars.
    """
    import pandas as pd

    config = HessianConfig.preset("default") if config is None else config
    check_config(config, "config", HessianConfig)
    seed = check_seed(seed)
    check_config(model, "model", nn.Module, "torch.nn.Module")
    check_config(train_set, "train_set", ImageTensors, "imckit.core.data.ImageTensors")
    check_config(test_set, "test_set", ImageTensors, "imckit.core.data.ImageTensors")
    progress = check_bool(progress, "progress")
    device = resolve_device(device)
    model.eval()
    c = config
    batch = train_set.subset(min(c.hessian_images, len(train_set)), seed=seed)
    test = test_set.subset(min(c.test_images, len(test_set)) if c.test_images else None, seed=seed)
    modules = [m for layer in mappable_layers(model) for m in layer.modules]
    weight_of = {m: model.get_submodule(m).weight for m in modules}
    steps = HessianSteps(model, batch, test, c, seed, device, cache, progress)

    # 1. Hutchinson and Fisher scores, and how reliable they are
    trace, hessian_seconds = steps.trace(modules)
    scores = {HUTCHINSON_STRIPS: strip_sensitivity(model, trace, modules)}
    first, second, fisher, fisher_seconds = steps.fisher_halves(modules)
    scores[FISHER_STRIPS] = diagonal_strip_sensitivity(model, fisher)
    scores[HUTCHINSON_WEIGHTS] = weight_sensitivity(model, trace, modules)
    scores[FISHER_WEIGHTS] = diagonal_weight_sensitivity(model, fisher)
    layer_traces = trace.layer_traces()
    traces = pd.DataFrame({"weights": [weight_of[m].numel() for m in modules],
                           "strips": [scores[HUTCHINSON_STRIPS][m].numel() for m in modules],
                           "strip depth D": [weight_of[m].shape[1] for m in modules],
                           "trace": [layer_traces[m] for m in modules]}, index=modules)
    traces["trace per weight"] = traces["trace"] / traces["weights"]
    traces["share of trace (%)"] = 100 * traces["trace"] / traces["trace"].sum()
    r_hutchinson = strip_reliability(model, trace, modules)
    r_fisher = score_reliability(model, first, second, modules)
    reliability = {
        "hutchinson": r_hutchinson, "fisher": r_fisher, "hutchinson full": spearman_brown(r_hutchinson),
        "agreement": rank_agreement(scores[HUTCHINSON_STRIPS], scores[FISHER_STRIPS], modules),
        "needed probes": probes_for_reliability(r_hutchinson, trace.probes // 2, c.reliability_target),
        "negative hutchinson": negative_share(scores[HUTCHINSON_STRIPS], modules),
        "negative fisher": negative_share(scores[FISHER_STRIPS], modules)}
    scorings = pd.DataFrame({
        "time (s)": [hessian_seconds, fisher_seconds],
        "split-half reliability of strip ranks": [r_hutchinson, r_fisher],
        "negative strip scores (%)": [100 * reliability["negative hutchinson"], 100 * reliability["negative fisher"]]},
        index=[f"Hutchinson, {trace.probes} probes (the paper)", f"empirical Fisher, {len(batch)} images"])

    # 2. accuracy against the compression ratio, every image's correctness kept
    methods = {m: scores[m] for m in METHODS}
    sweeps, accuracy, correct = {}, {}, {}
    for bits in c.swept_low_bits:
        frame, per_image = steps.sweep(methods, bits)
        sweeps[bits] = frame
        accuracy[bits] = frame.pivot(index="ratio", columns="method", values="accuracy")[[*METHODS, CONTROL]] * 100
        correct[bits] = {m: per_image[torch.tensor((frame["method"] == m).to_numpy())]
                         for m in [*METHODS, CONTROL]}
    inner = [k for k, r in enumerate(c.ratios) if 0 < r < 1]
    gain_rows = []
    for bits in c.swept_low_bits:
        for method in METHODS:
            test_ = paired_difference(correct[bits][method][inner], correct[bits][CONTROL][inner])
            gain_rows.append({"low bits": bits, "method": method, "mean gain (pts)": test_["difference"],
                              "± 95 % (pts)": test_["half_width"], "p (paired t-test)": test_["p"]})
    gains = pd.DataFrame(gain_rows)
    main = accuracy[c.low_bits]
    paper_method = PAPER_METHOD[c.score_diagonal]
    paired = {f"all low vs all high, {c.high_bits}/{bits}": mcnemar(correct[bits][paper_method][-1],
                                                                   correct[bits][paper_method][0])
              for bits in c.swept_low_bits}

    # 3. the threshold: Fisher information alone, jointly with the energy proxy, or a sweep of test accuracy
    strip_scores = scores[paper_method]
    weight_scores = scores[HUTCHINSON_WEIGHTS if c.score_diagonal == "hutchinson" else FISHER_WEIGHTS]
    fims, searches, fim_seconds = {}, {}, 0.0
    for bits in c.swept_low_bits:
        fim, search, seconds = steps.fim(strip_scores, bits)
        fim["accuracy (%)"] = accuracy[bits][paper_method].reindex(fim["ratio"]).to_numpy()
        fims[bits], searches[bits] = fim, search
        fim_seconds += seconds
    input_shape = tuple(test.images.shape[1:])
    spec = c.crossbar(c.crossbar_sizes[0])
    energy = energy_sweep(model, strip_scores, c.ratios, input_shape, spec, high_bits=c.high_bits,
                          low_bits=c.low_bits)
    joint = joint_threshold(fims[c.low_bits]["ratio"].tolist(), fims[c.low_bits]["FIM distance"].tolist(),
                            energy[c.energy_model].tolist(), c.joint_weight, strip_scores)
    joint["table"]["accuracy (%)"] = main[paper_method].reindex(joint["table"]["ratio"]).to_numpy()

    # 4. crossbar mapping and the capacity-aligned threshold; strips against single weights
    alignment = alignment_report(model, strip_scores, c.table4_ratio, [c.crossbar(s) for s in c.crossbar_sizes],
                                 c.high_bits, c.low_bits)
    strips2 = strip_assignment(strip_scores, c.table2_ratio)
    hap_share = low_weight_share(model, strips2)
    hap_assignment = weight_assignment(weight_scores, hap_share)

    # one evaluation (cached) for the float network and every single assignment the chapter measures
    labels = [(f"{s}x{s}", method) for s in c.crossbar_sizes for method in ("origin", "down", "nearest")]
    assignments = [{}] + [strip_assignment(strip_scores, searches[bits]["ratio"]) for bits in c.swept_low_bits]
    assignments += [alignment.assignments[label] for label in labels] + [strips2, hap_assignment]
    lows = [c.low_bits, *c.swept_low_bits, *[c.low_bits] * (len(labels) + 2)]
    measured, measured_correct = steps.accuracies(assignments, lows)
    float_accuracy = measured[0]
    n_bits = len(c.swept_low_bits)
    fim_accuracy = {bits: (measured[1 + k], measured_correct[1 + k]) for k, bits in enumerate(c.swept_low_bits)}
    start = 1 + n_bits
    table4 = alignment.table.copy()
    table4["accuracy (%)"] = measured[start: start + len(labels)]
    label_correct = dict(zip(labels, measured_correct[start: start + len(labels)]))
    versus = [mcnemar(label_correct[label], label_correct[(label[0], "origin")]) for label in labels]
    table4["vs origin (pts)"] = [t["difference"] for t in versus]
    table4["mid-p vs origin"] = [t["p_mid"] for t in versus]
    (strip_accuracy, strip_correct), (hap_accuracy, hap_correct) = \
        zip(measured[-2:], measured_correct[-2:])
    paired["strips vs single weights"] = mcnemar(strip_correct, hap_correct)

    energy_columns = ("ADC bit decisions", "ADC level units", "latency cycles", "serial latency cycles")
    reference = energy.iloc[0]  # every strip at high precision

    def energy_of(assignment, crossbar=spec):
        return energy_proxy(model, assignment, input_shape, crossbar, ADCSpec(), c.high_bits, c.low_bits).loc["all"]

    picks, choices = [], {}  # choices: rule -> per-image correctness of its choice at low_bits
    for bits in c.swept_low_bits:
        column = accuracy[bits][paper_method]
        all_high = correct[bits][paper_method][0]
        chosen = [(FIM_RULE, searches[bits]["ratio"], *fim_accuracy[bits],
                   f"{len(searches[bits]['history'])} Fisher diagonals (training batch)")]
        if bits == c.low_bits:
            chosen.append((JOINT_RULE, joint["ratio"], float(column.loc[joint["ratio"]]),
                           correct[bits][paper_method][_at(c.ratios, joint["ratio"])],
                           f"{len(c.ratios)} Fisher diagonals + energy proxy"))
        ratio = largest_ratio_within(column, c.accuracy_drop)
        chosen.append((SWEEP_RULE, ratio, float(column.loc[ratio]), correct[bits][paper_method][_at(c.ratios, ratio)],
                       f"{len(c.ratios)} test evaluations"))
        for rule, ratio, acc, right, evaluations in chosen:
            versus_high = mcnemar(right, all_high)
            cost = energy_of(strip_assignment(strip_scores, ratio))[c.energy_model] / reference[c.energy_model] \
                if bits == c.low_bits else np.nan
            picks.append({"low bits": bits, "rule": rule, "compression ratio (%)": 100 * ratio, "accuracy (%)": acc,
                          "energy (rel.)": cost, "vs all high (pts)": versus_high["difference"],
                          "mid-p vs all high": versus_high["p_mid"], "evaluations": evaluations,
                          "rank correlation FIM distance / accuracy": _spearman(fims[bits]["FIM distance"],
                                                                                 fims[bits]["accuracy (%)"])
                          if rule == FIM_RULE else np.nan})
            if bits == c.low_bits:
                choices[rule] = right
    threshold_rules = pd.DataFrame(picks)
    for rule in (FIM_RULE, SWEEP_RULE):
        paired[f"joint vs {rule}"] = mcnemar(choices[JOINT_RULE], choices[rule])

    rows, changes = [], []
    for size in c.crossbar_sizes:
        crossbar = c.crossbar(size)
        strips_table = utilization(model, strips2, crossbar, c)
        hap_table = weight_level_utilization(model, hap_assignment, crossbar, c.high_bits, c.low_bits).loc["all"]
        costs = {STRIPS: energy_of(strips2, crossbar), HAP_LIKE: energy_of(hap_assignment, crossbar)}
        for name, r, acc in ((STRIPS, strips_table, strip_accuracy), (HAP_LIKE, hap_table, hap_accuracy)):
            rows.append({"crossbar": f"{size}x{size}", "assignment": name, "accuracy (%)": acc,
                         "crossbars": int(r["high crossbars"] + r["low crossbars"]),
                         "high utilization (%)": r["high utilization (%)"],
                         "low utilization (%)": r["low utilization (%)"],
                         "strips on both kinds": int(r.get("mixed strips", 0)),
                         **{column: float(costs[name][column]) for column in energy_columns}})
        changes.append({"crossbar": f"{size}x{size}",
                        **{f"{column} (%)": change_percent(float(costs[STRIPS][column]), float(costs[HAP_LIKE][column]))
                           for column in energy_columns}})
    hap = pd.DataFrame(rows)
    hap_changes = pd.DataFrame(changes)

    # 5. the two accumulations; the energy proxy against the compression ratio
    accumulation_ratios = sorted({*c.ratios, float(c.table4_ratio)})
    rows_, accumulation_correct = steps.accumulation(strip_scores, accumulation_ratios,
                                                     min(c.coordinated_images, len(test)))
    accumulation = pd.DataFrame(rows_)
    k = _at(accumulation_ratios, c.table4_ratio)
    at_ratio = accumulation[np.isclose(accumulation["ratio"], c.table4_ratio)].set_index("accumulation")
    coordinated = {"difference": float(at_ratio.loc["expanded", "difference"]),
                   "agreement": float(at_ratio.loc["expanded", "agreement"]),
                   "images": int(accumulation_correct["expanded"].shape[1])}
    paired["unaligned vs expanded"] = mcnemar(accumulation_correct["unaligned"][k], accumulation_correct["expanded"][k])
    energy.insert(0, "accuracy (%)", [main.loc[r, paper_method] for r in c.ratios])
    paper3 = pd.DataFrame({"paper accuracy (%)": {k_: v[0] for k_, v in PAPER_TABLE3.items()},
                           "paper ADC energy (rel.)": {k_: v[2] / PAPER_TABLE3[0][2]
                                                       for k_, v in PAPER_TABLE3.items()}})

    big = f"{c.crossbar_sizes[0]}x{c.crossbar_sizes[0]}"
    verdicts = {
        "strip choice visible at low_bits": choice_is_visible(
            gains[gains["low bits"] == c.low_bits]["p (paired t-test)"]),
        "hutchinson is probe noise": hutchinson_is_noise(r_hutchinson, r_fisher),
        "all low visibly differs from all high": visible(
            paired[f"all low vs all high, {c.high_bits}/{c.low_bits}"]["p_mid"]),
        "coordination within float rounding": within_rounding(coordinated["difference"]),
        "unaligned accumulation visibly differs": visible(paired["unaligned vs expanded"]["p_mid"]),
        "strips visibly differ from single weights": visible(paired["strips vs single weights"]["p_mid"]),
        "alignment empties most layers": alignment_empties_most_layers(len(alignment.emptied_layers(big)),
                                                                        len(modules)),
    }
    return HessianResult(
        config=c, seed=seed, modules=modules, train_images=len(batch), test_images=len(test), trace=trace,
        scores=scores, seconds={"hessian": hessian_seconds, "fisher": fisher_seconds, "fim": fim_seconds},
        reliability=reliability, layer_traces=traces, scorings=scorings, sweeps=sweeps, accuracy=accuracy,
        correct=correct, gains=gains, float_accuracy=float_accuracy, fim_sweeps=fims, joint=joint,
        threshold_rules=threshold_rules, alignment=alignment, table4=table4, hap=hap, hap_changes=hap_changes,
        hap_share=hap_share, accumulation=accumulation, coordinated=coordinated, paired=paired, energy=energy,
        paper_table3=paper3, verdicts=verdicts, from_cache=dict(steps.from_cache))


def utilization(model, assignment, crossbar: CrossbarSpec, config: HessianConfig):
    """The ``"all"`` row of :func:`imckit.crossbars.mapping.utilization_table` for a strip assignment."""
    from imckit.crossbars.mapping import utilization_table

    return utilization_table(model, assignment, crossbar, config.high_bits, config.low_bits).loc["all"]


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


# --------------------------------------------------------------------------------------------------------
# the chapter's texts


def chapter_text(result: HessianResult) -> dict[str, dict[str, str]]:
    """The chapter's glued texts, by section: ``setup``, ``traces``, ``reliability``, ``sweep``, ``fim``,
    ``table4``, ``hap``, ``coordinated``, ``energy``, ``summary`` (glue key -> text). None of them says
    whether a result of the paper holds here: those sentences are :func:`verdict_sentences`'."""
    c, r = result.config, result.reliability
    seconds, trace = result.seconds, result.trace
    size = c.crossbar_sizes[0]
    big, label = f"{size}×{size}", f"{size}x{size}"
    main, contrast = result.main_accuracy, result.contrast_accuracy
    accuracy_high, accuracy_low = float(main.loc[0.0].iloc[0]), float(main.loc[1.0].iloc[0])
    top = result.layer_traces["share of trace (%)"].idxmax()
    rules = result.threshold_rules
    fim_rules = rules[rules["rule"] == FIM_RULE]
    text = {"setup": {"hs_train_images": f"{result.train_images:,}", "hs_test_images": f"{result.test_images:,}"}}
    text["traces"] = {
        "hs_seconds": f"{seconds['hessian']:.0f}", "hs_probes": f"{trace.probes}",
        "hs_total": f"{trace.total:.1f} ± {trace.total_error:.1f}", "hs_top_layer": top,
        "hs_top_share": f"{result.layer_traces.loc[top, 'share of trace (%)']:.0f}"}
    full = r["hutchinson full"]
    text["reliability"] = {
        "hs_needed": needed_probes_sentence(r["needed probes"], seconds["hessian"] / trace.probes),
        "hs_rel_hutchinson": f"{r['hutchinson']:.2f}",
        "hs_rel_hutchinson_full": f"{full:.2f}" if full is not None else "undefined",
        "hs_rel_fisher": f"{r['fisher']:.2f}", "hs_fisher_seconds": f"{seconds['fisher']:.1f}",
        "hs_negative": f"{100 * r['negative hutchinson']:.0f}", "hs_agreement": f"{r['agreement']:.2f}"}
    contrast_bits = c.swept_low_bits[1] if contrast is not None else 0
    text["sweep"] = {
        "hs_acc_high": f"{accuracy_high:.1f}", "hs_acc_low": f"{accuracy_low:.1f}",
        "hs_acc_float": f"{result.float_accuracy:.1f}", "hs_paper_acc0": f"{PAPER_TABLE3[0][0]:.2f}",
        "hs_paper_acc100": f"{PAPER_TABLE3[100][0]:.2f}",
        "hs_drop_test": paired_phrase(result.paired[f"all low vs all high, {c.high_bits}/{c.low_bits}"]),
        "hs_low_verdict": low_bits_sentence(result.gains_at(c.low_bits)),
        "hs_contrast": contrast_sentence(
            result.gains_at(contrast_bits) if contrast_bits else None, contrast, contrast_bits,
            result.paired.get(f"all low vs all high, {c.high_bits}/{contrast_bits}"))}
    joint_table = result.joint["table"]
    text["fim"] = {
        "hs_score_diagonal": "Hutchinson, the paper's" if c.score_diagonal == "hutchinson" else "the Fisher diagonal",
        "hs_fim_rho": ", ".join(f"{rho:.2f} at {bits} bits" for bits, rho in zip(
            fim_rules["low bits"], fim_rules["rank correlation FIM distance / accuracy"])),
        "hs_fim_seconds": f"{seconds['fim']:.0f}",
        "hs_fim_at_low": ", ".join(f"{f['FIM distance'].iloc[-1]:.2f} at {bits} bits"
                                   for bits, f in result.fim_sweeps.items()),
        "hs_energy_model": c.energy_model, "hs_joint_weight": f"{c.joint_weight:g}",
        "hs_joint_pareto": f"{int(joint_table['Pareto'].sum())} of {len(joint_table)}",
        "hs_joint_text": rules_sentence(rules[rules["low bits"] == c.low_bits],
                                        {rule: result.paired[f"joint vs {rule}"] for rule in (FIM_RULE, SWEEP_RULE)})}
    strip_scores = result.scores[result.paper_method]
    depths = sorted({int(result.layer_traces.loc[m, "strip depth D"]) for m in result.modules})
    spec = c.crossbar(size)
    small, emptied = result.alignment.small_layers(label), result.alignment.emptied_layers(label)
    n = len(result.modules)
    text["table4"] = {
        "hs_t4_text": " ".join(alignment_sentence(result.table4, f"{s}x{s}", c.high_bits) for s in c.crossbar_sizes),
        "hs_t4_ratio": f"{100 * c.table4_ratio:.0f}",
        **{f"hs_paper_{where}_{key}": f"{value:.2f}" for where, values in PAPER_TABLE4.items()
           for key, value in values.items()},
        "hs_max_strips": f"{max(strip_scores[m].numel() for m in result.modules):,}",
        "hs_depths": ", ".join(map(str, depths)), "hs_big": big,
        "hs_capacities": ", ".join(f"{strips_per_crossbar(spec, d, c.high_bits):,} of depth {d}" for d in depths),
        "hs_small_layers": (
            f"At {100 * (1 - c.table4_ratio):.0f} % high precision, {len(small)} of the {n} layers have fewer "
            f"high-precision strips than one {big} crossbar holds, and rounding down leaves {len(emptied)} layers "
            "with none."
            + (" Aligning is a rule for layers much larger than a crossbar; on a small network the crossbar size "
               "must shrink with it." if alignment_empties_most_layers(len(emptied), n) else ""))}
    first = result.hap[result.hap["crossbar"] == label].set_index("assignment")
    change = result.hap_changes.set_index("crossbar").loc[label]
    text["hap"] = {
        "hs_hap_share": f"{100 * result.hap_share:.1f}", "hs_hap_ratio": f"{100 * c.table2_ratio:.0f}",
        "hs_paper_ours": f"{PAPER_TABLE2['strips']['top-1 (%)']:.2f}",
        "hs_paper_hap": f"{PAPER_TABLE2['HAP']['top-1 (%)']:.1f}", "hs_t4_size": big,
        "hs_hap_acc": f"{first.loc[HAP_LIKE, 'accuracy (%)']:.1f}",
        "hs_strip_acc": f"{first.loc[STRIPS, 'accuracy (%)']:.1f}",
        "hs_hap_test": paired_phrase(result.paired["strips vs single weights"]),
        "hs_hap_crossbars": f"{first.loc[HAP_LIKE, 'crossbars']}",
        "hs_strip_crossbars": f"{first.loc[STRIPS, 'crossbars']}",
        "hs_hap_mixed": f"{first.loc[HAP_LIKE, 'strips on both kinds']:,}",
        "hs_hap_energy": f"{change[f'{c.energy_model} (%)']:+.0f}",
        "hs_hap_energy_other": ", ".join(f"{change[f'{m} (%)']:+.0f} % in {m}" for m in ENERGY_MODELS
                                         if m != c.energy_model),
        "hs_hap_serial": f"{change['serial latency cycles (%)']:+.0f}",
        "hs_hap_parallel": f"{change['latency cycles (%)']:+.0f}",
        **{f"hs_paper_{name}_change":
           f"{change_percent(PAPER_TABLE2['strips'][column], PAPER_TABLE2['HAP'][column]):+.0f}"
           for name, column in (("latency", "latency (ms)"), ("energy", "energy (mJ)"))}}
    co = result.coordinated
    at_ratio = result.accumulation[np.isclose(result.accumulation["ratio"], c.table4_ratio)].set_index("accumulation")
    text["coordinated"] = {
        "hs_coord_diff": f"{co['difference']:.1e}", "hs_coord_agree": f"{100 * co['agreement']:.1f}",
        "hs_coord_images": f"{co['images']}", "hs_coord_verdict": coordination_sentence(co["difference"]),
        "hs_accumulation": accumulation_sentence(at_ratio.loc["expanded"].to_dict(),
                                                 at_ratio.loc["unaligned"].to_dict(),
                                                 result.paired["unaligned vs expanded"], c.table4_ratio)}
    energy = result.energy
    mid = min(c.ratios, key=lambda ratio: abs(ratio - c.energy_reference_ratio))
    text["energy"] = {
        "hs_energy_mid_ratio": f"{100 * mid:.0f}",
        "hs_paper_adc70": f"{100 * PAPER_TABLE3[70][2] / PAPER_TABLE3[0][2]:.0f}",
        "hs_energy_mid_bits": f"{100 * energy.loc[100 * mid, 'ADC bit decisions (rel.)']:.0f}",
        "hs_energy_mid_levels": f"{100 * energy.loc[100 * mid, 'ADC level units (rel.)']:.0f}",
        "hs_energy_full_levels": f"{1 / energy['ADC level units (rel.)'].iloc[-1]:.1f}",
        "hs_energy_split": split_cost_sentence(energy)}
    text["summary"] = {
        "hs_sum_scores": (
            f"Per-strip Hutchinson traces from {trace.probes} probes have a split-half reliability of "
            f"{r['hutchinson']:.2f} on this network, the Fisher-diagonal scores {r['fisher']:.2f} "
            f"({seconds['fisher']:.1f} s against {seconds['hessian']:.0f} s)."
            + (" The Hutchinson ranking is mostly probe noise at this budget; set score_diagonal = \"fisher\" to "
               "carry the stable scores through the threshold search, the mapping and the energy proxy."
               if hutchinson_is_noise(r["hutchinson"], r["fisher"]) else "")),
        "hs_sum_accuracy": (
            f"Moving every strip from {c.high_bits} to {c.low_bits} bits changes the accuracy by "
            f"{paired_phrase(result.paired[f'all low vs all high, {c.high_bits}/{c.low_bits}'])} on the same "
            f"images, by {PAPER_TABLE3[100][0] - PAPER_TABLE3[0][0]:+.2f} in the paper's Table 3."),
        "hs_sum_crossbar": (
            f"Capacity alignment rounded down, the paper's rule, leaves {len(emptied)} of {n} layers without "
            f"high-precision strips on {big} crossbars; the paper's ResNet-50 has layers of thousands of strips.")}
    return text


# --------------------------------------------------------------------------------------------------------
# paper vs this kit


def _grid_index(config: HessianConfig, ratio: float) -> int | None:
    return next((k for k, r in enumerate(config.ratios) if abs(r - ratio) < 1e-9), None)


def kit_values(result: HessianResult) -> dict[str, dict]:
    """The kit's value for every claim of seed paper 001 that the chapter shows (``imckit/papers/data/seed001.yaml``,
    chapter ``hessian``): claim key -> keyword arguments of :meth:`imckit.papers.Scorecard.add` (``kit``, and as
    needed ``margin``, ``reason``, ``note``, ``kit_text``, ``setting``).

    Accuracy effects are paired differences on the same test images with the half-width of their 95 %
    interval as ``margin`` (:func:`imckit.crossbars.precision.mcnemar`); energy and latency effects are
    relative changes (%) of the deterministic proxies (:mod:`imckit.crossbars.energy`): energies in
    ``config.energy_model`` (the other model in the note), the paper's "latency" and "memory access latency"
    in the serial model (one ADC bank per layer: the model in which crossbar utilization can change latency),
    its "ADC read latency" in the parallel one. Claims this run cannot measure get ``kit=None`` and the reason.
    """
    c = result.config
    method = result.paper_method
    main = result.main_accuracy[method]
    out: dict[str, dict] = {}
    bits = f"{c.high_bits}/{c.low_bits}-bit strips"
    table2 = {"bits": f"{c.high_bits}/{c.low_bits}-bit, {100 * c.table2_ratio:.0f} % compression"}
    table4 = {"bits": f"{c.high_bits}/{c.low_bits}-bit, {100 * c.table4_ratio:.0f} % compression"}
    other_model = next(m for m in ENERGY_MODELS if m != c.energy_model)

    def add(claim, kit, **kwargs):
        out[f"001/{claim}"] = {"kit": kit, **kwargs}

    def off_grid(ratios):
        missing = [r for r in ratios if _grid_index(c, r) is None]
        return (f"the sweep's grid (ratio_step = {c.ratio_step:g}) has no compression ratio "
                f"{', '.join(f'{100 * r:g} %' for r in missing)}") if missing else ""

    def paired_kit(claim, ratio, reference, setting=None):
        reason = off_grid([ratio, reference])
        if reason:
            add(claim, None, reason=reason, setting=setting)
            return
        test = result.drop(ratio, reference)
        add(claim, test["difference"], margin=test["half_width"], note=f"McNemar mid-p {test['p_mid']:.2g}",
            setting=setting)

    # accuracy against the compression ratio (Table 3, Fig. 8, the headline)
    reason = off_grid([0.7])
    add("headline-accuracy-at-70", None if reason else float(main.iloc[_grid_index(c, 0.7)]), reason=reason)
    paired_kit("table3-drop-at-70", 0.7, 0.0)
    paired_kit("table3-drop-at-100", 1.0, 0.0)
    paired_kit("fig8-sharp-decline-beyond-90", 1.0, 0.9)
    reason = off_grid(TABLE3_RATIOS)
    add("table3-accuracy-order", None if reason else
        {f"CR {100 * r:.0f} %": float(main.iloc[_grid_index(c, r)]) for r in TABLE3_RATIOS}, reason=reason)
    upto = [k for k, r in enumerate(c.ratios) if r <= 0.8 + 1e-9]
    lowest = float(main.iloc[upto].min())
    add("fig8-over-80-up-to-85", lowest, kit_text=f"{lowest:.1f} % (lowest up to CR {100 * c.ratios[upto[-1]]:.0f} %)")
    add("fig8-deeper-degrades-slower", None, reason="one network in this chapter")

    # energy against the compression ratio
    energy = result.energy
    k70 = _grid_index(c, 0.7)
    if k70 is None:
        add("headline-energy-at-70", None, reason=off_grid([0.7]))
    else:
        add("headline-energy-at-70", 100 * (energy[f"{c.energy_model} (rel.)"].iloc[k70] - 1),
            note=f"{c.energy_model}; {100 * (energy[f'{other_model} (rel.)'].iloc[k70] - 1):+.0f} % in {other_model}")
    reason = off_grid(TABLE3_RATIOS)
    add("table3-adc-energy-ranking", None if reason else
        {f"CR {100 * r:.0f} %": float(energy[c.energy_model].iloc[_grid_index(c, r)]) for r in TABLE3_RATIOS},
        reason=reason, note="" if reason else f"the kit's {c.energy_model} (a count, not mJ)")
    add("table3-system-energy-ranking", None, reason="the kit's proxy counts ADC events only, no system energy")
    add("table3-accumulation-energy-ranking", None, reason="the kit's proxy has no accumulation energy")
    add("table3-other-energy-ranking", None, reason="the kit's proxy has no other energy")

    # strips against single weights (Table 2, the introduction)
    test = result.paired["strips vs single weights"]
    add("table2-accuracy-vs-hap", test["difference"], margin=test["half_width"],
        note=f"McNemar mid-p {test['p_mid']:.2g}; HAP-like: single weights by score, no pruning", setting=table2)
    add("table2-top5-vs-hap", None, reason="the chapter measures top-1 accuracy only", setting=table2)
    change = result.hap_changes.set_index("crossbar").iloc[0]
    crossbar = result.hap_changes["crossbar"].iloc[0]
    energy_note = (f"{c.energy_model} on {crossbar}; {change[f'{other_model} (%)']:+.0f} % in {other_model}")
    serial_note = f"serial latency proxy on {crossbar}; parallel crossbars: {change['latency cycles (%)']:+.0f} %"
    add("table2-latency-vs-hap", float(change["serial latency cycles (%)"]), note=serial_note, setting=table2)
    add("table2-energy-vs-hap", float(change[f"{c.energy_model} (%)"]), note=energy_note, setting=table2)
    add("intro-latency-vs-hap", float(change["serial latency cycles (%)"]), note=serial_note, setting=table2)
    add("intro-power-vs-hap", float(change[f"{c.energy_model} (%)"]), note=energy_note, setting=table2)
    add("intro-adc-latency-vs-hap", float(change["latency cycles (%)"]),
        note=f"parallel latency proxy (ADC read cycles) on {crossbar}; serial: "
             f"{change['serial latency cycles (%)']:+.0f} %", setting=table2)
    add("intro-adc-energy-vs-hap", float(change[f"{c.energy_model} (%)"]), note=energy_note, setting=table2)

    # the precision-coordinated computation against the unaligned accumulation
    test = result.paired["unaligned vs expanded"]
    add("sec43-expansion-prevents-errors", test["difference"],
        kit_text=f"unaligned − expanded accumulation: {paired_phrase(test)} at CR {100 * c.table4_ratio:.0f} %")

    # crossbar utilization (Table 4)
    table = result.table4.set_index(["crossbar", "threshold"])["high utilization (%)"]
    sizes = {f"{s}x{s}" for s in c.crossbar_sizes}
    gains, origins = {}, {}
    for size in ("128x128", "32x32"):
        if size not in sizes:
            continue
        origins[size] = float(table.loc[(size, "origin")])
        gains[size] = float(table.loc[(size, "down")] - table.loc[(size, "origin")])
    for size, claim in (("128x128", "table4-gain-128"), ("32x32", "table4-gain-32")):
        if size not in gains:
            add(claim, None, reason=f"crossbar_sizes has no {size}", setting=table4)
        elif math.isnan(gains[size]):
            add(claim, None, reason=f"rounding down leaves no high-precision strip on {size} crossbars (every layer "
                                    "holds fewer than one crossbar's worth)", setting=table4)
        else:
            add(claim, gains[size], setting=table4)
    if len(gains) < 2 or any(math.isnan(v) for v in gains.values()):
        add("table4-larger-arrays-gain-more", None, setting=table4,
            reason="no utilization gain on both 128x128 and 32x32 in this run")
    else:
        add("table4-larger-arrays-gain-more", gains, setting=table4)
    if len(origins) < 2 or any(math.isnan(v) for v in origins.values()):
        add("table4-origin-utilization-by-size", None, setting=table4,
            reason="no utilization before alignment on both 128x128 and 32x32 in this run")
    else:
        add("table4-origin-utilization-by-size", origins, setting=table4)
    for values in out.values():
        values.setdefault("setting", None)
        if values["setting"] is None:
            values["setting"] = {"bits": bits}
    return out


DEVICE = "the kit's ADC event-counting proxy (imckit.crossbars.energy), no circuit simulation"
TRAINING = "post-training quantization of the float network, no fine-tuning"


def scorecard(result: HessianResult, baseline=None, profile: str = "", setting: dict | None = None):
    """The chapter's "Paper vs this kit" table: every claim of seed paper 001 that the chapter shows, with the
    kit's value from :func:`kit_values`. ``setting`` (default: :func:`imckit.experiments.setting.kit_setting`
    of ``baseline``) is the kit's setting in the papers' keys."""
    from imckit.papers import Scorecard

    c = result.config
    if setting is None:
        from imckit.experiments.setting import kit_setting

        if baseline is None:
            raise ValueError("scorecard needs the baseline the chapter ran on, or its setting")
        setting = kit_setting(baseline, bits=f"{c.high_bits}/{c.low_bits}-bit strips", device=DEVICE,
                              training=TRAINING)
    card = Scorecard("hessian", setting=setting, profile=profile)
    for key, values in kit_values(result).items():
        card.add(key, **values)
    return card


def verdict_sentences(result: HessianResult, card) -> dict[str, str]:
    """The chapter's sentences about the paper's results, each chosen by its claim's verdict in ``card``
    (:meth:`imckit.papers.Scorecard.sentence`, which glues it as ``says_<name>``). Returns name -> text."""
    c = result.config
    low = c.low_bits
    texts = {}

    def say(name, key, **variants):
        texts[name] = card.sentence(key, name=name, **variants)

    say("hs_drop", "001/table3-drop-at-100",
        reproduced=(f"Moving every strip to {low} bits changes the accuracy by {{kit}} here, beyond the paired "
                    "noise: the paper's drop ({paper}, its Table 3) goes the same way on this network."),
        same_direction=(f"Moving every strip to {low} bits changes the accuracy by {{kit}} here, the way of the "
                        "paper's Table 3 drop ({paper}) but {reason}."),
        differs=(f"Moving every strip to {low} bits changes the accuracy by {{kit}} here: {{reason}}. The "
                 "paper's Table 3 ({paper}) does not carry over to this network and the kit's per-channel grids."),
        not_comparable="The paper's Table 3 drop ({paper}) is not compared here: {reason}.")
    say("hs_order", "001/table3-accuracy-order",
        reproduced="The accuracies at the paper's Table 3 ratios fall in the paper's order (ties within 1 point).",
        same_direction="The accuracies at the paper's Table 3 ratios mostly follow the paper's order: {reason}.",
        differs="The accuracies at the paper's Table 3 ratios do not show the paper's order here: {reason}.",
        not_comparable="The order of the paper's Table 3 accuracies is not compared: {reason}.")
    say("hs_hap_accuracy", "001/table2-accuracy-vs-hap",
        reproduced="The strips are more accurate than the single weights beyond the paired noise ({kit}; the "
                   "paper's Table 2: {paper}).",
        same_direction="The strips are more accurate than the single weights ({kit}), by far less than the "
                       "paper's Table 2 ({paper}): {reason}.",
        differs="Strips against single weights here: {reason}.",
        not_comparable="The paper's Table 2 accuracy gap ({paper}) is not compared: {reason}.")
    say("hs_hap_energy", "001/table2-energy-vs-hap",
        reproduced="In the energy proxy the strips change by {kit} against the single weights, the direction of the "
                   "paper's Table 2 ({paper}).",
        same_direction="In the energy proxy the strips change by {kit} against the single weights, the way of "
                       "the paper's Table 2 ({paper}) but {reason}.",
        differs="In the energy proxy the strips do not save energy against the single weights: {reason}.",
        not_comparable="The paper's Table 2 energy ({paper}) is not compared: {reason}.")
    say("hs_hap_latency", "001/table2-latency-vs-hap",
        reproduced="In the serial latency proxy the strips change by {kit} against the single weights, the "
                   "direction of the paper's Table 2 ({paper}).",
        same_direction="In the serial latency proxy the strips change by {kit} against the single weights, the "
                       "way of the paper's Table 2 ({paper}) but {reason}.",
        differs="In the serial latency proxy the strips are not faster than the single weights: {reason}.",
        not_comparable="The paper's Table 2 latency ({paper}) is not compared: {reason}.")
    for size in ("128", "32"):
        say(f"hs_t4_gain_{size}", f"001/table4-gain-{size}",
            reproduced=f"On {size}×{size} crossbars alignment raises the 8-bit utilization by {{kit}} here; the "
                       "paper's ResNet-50 gains {paper}.",
            same_direction=f"On {size}×{size} crossbars alignment raises the 8-bit utilization by {{kit}} here, "
                           "the way of the paper's ResNet-50 ({paper}) but {reason}.",
            differs=f"On {size}×{size} crossbars alignment does not raise the 8-bit utilization here: {{reason}} "
                    "(the paper's ResNet-50: {paper}).",
            not_comparable=f"The paper's gain on {size}×{size} crossbars ({{paper}}) is not compared: {{reason}}.")
    say("hs_energy_70", "001/headline-energy-at-70",
        reproduced="At 70 % compression the energy proxy changes by {kit} against all-high, the direction of the "
                   "paper's headline ({paper}).",
        same_direction="At 70 % compression the energy proxy changes by {kit} against all-high, the way of the "
                       "paper's headline ({paper}) but {reason}.",
        differs="At 70 % compression the energy proxy does not fall against all-high: {reason}.",
        not_comparable="The paper's headline saving at 70 % ({paper}) is not compared: {reason}.")
    say("hs_adc_ranking", "001/table3-adc-energy-ranking",
        reproduced="Ranked over the paper's Table 3 ratios, the energy proxy falls with the compression ratio in "
                   "the paper's ADC energy's order.",
        same_direction="Ranked over the paper's Table 3 ratios, the energy proxy falls with the compression ratio, "
                       "less strictly than the paper's ADC energy: {reason}.",
        differs="Ranked over the paper's Table 3 ratios, the energy proxy does not fall with the compression "
                "ratio as the paper's ADC energy does: {reason}.",
        not_comparable="The ranking of the paper's ADC energy is not compared: {reason}.")
    say("hs_accumulation_paper", "001/sec43-expansion-prevents-errors",
        not_comparable="The paper gives no number for the error it prevents; here: {kit}.")
    return texts


# --------------------------------------------------------------------------------------------------------
# figures (each returns a matplotlib Figure)


def _flat(scores: dict, modules) -> np.ndarray:
    return torch.cat([scores[m].flatten() for m in modules]).numpy()


def plot_traces(result: HessianResult):
    """Left: the running mean of Hutchinson's trace estimate over the probes. Right: every strip's Hutchinson
    score against its Fisher score (strips where both are positive), log-log."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    left.plot(np.arange(1, result.trace.probes + 1), result.trace.history)
    left.set(xlabel="probes", ylabel="running mean of the trace", title="Hutchinson estimate of the trace")
    left.grid(alpha=0.3)
    hutchinson = _flat(result.scores[HUTCHINSON_STRIPS], result.modules)
    fisher = _flat(result.scores[FISHER_STRIPS], result.modules)
    positive = (hutchinson > 0) & (fisher > 0)
    right.scatter(fisher[positive], hutchinson[positive], s=3, alpha=0.3)
    right.set(xscale="log", yscale="log", xlabel="strip score, Fisher diagonal", ylabel="strip score, Hutchinson",
              title="the two strip scorings (positive scores)")
    right.grid(alpha=0.3)
    return fig


def plot_sweeps(result: HessianResult):
    """Accuracy against the compression ratio for every method, one panel per low precision."""
    import matplotlib.pyplot as plt

    styles = ["o-", "D-", "s--", "v--", "^:"]
    sweeps = result.sweeps
    fig, axes = plt.subplots(1, len(sweeps), figsize=(5.5 * len(sweeps), 3.8), constrained_layout=True, squeeze=False)
    for ax, (bits, sweep) in zip(axes[0], sweeps.items()):
        for method, style in zip([*METHODS, CONTROL], styles):
            rows = sweep[sweep["method"] == method]
            ax.plot(rows["ratio"], 100 * rows["accuracy"], style, ms=4, label=method)
        ax.set(xlabel="compression ratio (share of strips at low precision)", ylabel="accuracy (%)",
               title=f"{result.config.high_bits}-bit / {bits}-bit")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    return fig


def plot_fisher(result: HessianResult):
    """The relative Fisher distance (left axes) and the accuracy (right axes) against the compression ratio,
    with the tolerance and the ratios the two threshold rules pick, one panel per low precision."""
    import matplotlib.pyplot as plt

    c, fims, picks = result.config, result.fim_sweeps, result.threshold_rules
    fig, axes = plt.subplots(1, len(fims), figsize=(5.5 * len(fims), 3.6), constrained_layout=True, squeeze=False)
    for ax, (bits, fim) in zip(axes[0], fims.items()):
        rows = picks[picks["low bits"] == bits].set_index("rule")
        ax.plot(fim["ratio"], fim["FIM distance"], "o-", ms=4, color="tab:purple", label="relative FIM distance")
        ax.axhline(c.fim_tolerance, color="tab:purple", ls=":", lw=0.8)
        ax.axvline(rows.loc[FIM_RULE, "compression ratio (%)"] / 100, color="tab:purple", ls="--",
                   lw=0.8, label="FIM threshold search")
        ax.axvline(rows.loc[SWEEP_RULE, "compression ratio (%)"] / 100, color="tab:green",
                   ls="--", lw=0.8, label="accuracy sweep")
        if JOINT_RULE in rows.index:
            ax.axvline(rows.loc[JOINT_RULE, "compression ratio (%)"] / 100, color="tab:orange", ls="-.", lw=0.8,
                       label="FIM + energy")
        ax.set(xlabel="compression ratio", ylabel="||F - F0|| / ||F0||", title=f"{c.high_bits}-bit / {bits}-bit")
        twin = ax.twinx()
        twin.plot(fim["ratio"], fim["accuracy (%)"], "s-", ms=3, color="tab:green", alpha=0.6)
        twin.set_ylabel("accuracy (%)", color="tab:green")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="upper left")
    return fig


def plot_energy(result: HessianResult):
    """The energy and latency proxies against the compression ratio, relative to every strip at high
    precision, with the paper's relative ADC energy (its Table 3)."""
    import matplotlib.pyplot as plt

    energy, paper3 = result.energy, result.paper_table3
    fig, ax = plt.subplots(figsize=(6, 3.6), constrained_layout=True)
    for column, style in (("ADC bit decisions (rel.)", "o-"), ("ADC level units (rel.)", "s-"),
                          ("latency cycles (rel.)", "^-"), ("serial latency cycles (rel.)", "v-")):
        ax.plot(energy.index, energy[column], style, ms=4, label=column.replace(" (rel.)", ""))
    ax.plot(paper3.index, paper3["paper ADC energy (rel.)"], "kx--", label="paper: ADC energy (NeuroSim)")
    ax.set(xlabel="compression ratio (%)", ylabel="relative to 0 %", yscale="log")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def plot_joint(result: HessianResult):
    """The joint ranking's candidates: relative FIM distance against the energy proxy (relative to all-high),
    each labelled with its compression ratio, the Pareto front joined and the operating point circled."""
    import matplotlib.pyplot as plt

    c, table = result.config, result.joint["table"]
    energy = table["energy"] / table["energy"].iloc[0]
    fig, ax = plt.subplots(figsize=(5.5, 3.8), constrained_layout=True)
    ax.scatter(table["FIM distance"], energy, s=18, color="tab:gray", label="candidates")
    front = table["Pareto"].to_numpy()
    order = np.argsort(table["FIM distance"].to_numpy()[front])
    ax.plot(table["FIM distance"].to_numpy()[front][order], energy.to_numpy()[front][order], "o-", ms=4,
            color="tab:orange", label="Pareto front")
    chosen = table["chosen"].to_numpy()
    ax.scatter(table["FIM distance"][chosen], energy[chosen], s=140, facecolors="none", edgecolors="k",
               label="operating point")
    for ratio, x, y in zip(table["ratio"], table["FIM distance"], energy):
        ax.annotate(f"{100 * ratio:.0f}", (x, y), textcoords="offset points", xytext=(3, 3), fontsize=7)
    ax.set(xlabel="relative FIM distance (predicted degradation)", ylabel=f"{c.energy_model} (rel. to 0 %)",
           title=f"{c.high_bits}-bit / {c.low_bits}-bit: candidates by compression ratio (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_accumulation(result: HessianResult):
    """Accuracy against the compression ratio when each layer's two parts are summed after expanding the
    low part (the paper's) and without aligning their scales (the baseline), with the intended network's."""
    import matplotlib.pyplot as plt

    frame = result.accumulation
    fig, ax = plt.subplots(figsize=(5.5, 3.6), constrained_layout=True)
    first = frame[frame["accumulation"] == ACCUMULATIONS[0]]
    ax.plot(100 * first["ratio"], 100 * first["intended accuracy"], "k:", lw=1.5, label="mixed weights in place")
    for name, style in zip(ACCUMULATIONS, ("o-", "s--")):
        rows = frame[frame["accumulation"] == name]
        label = "Z_q + expand(Z_p) (the paper's)" if name == "expanded" else "Z_q + Z_p (unaligned)"
        ax.plot(100 * rows["ratio"], 100 * rows["accuracy"], style, ms=4, label=label)
    ax.set(xlabel="compression ratio (%)", ylabel="accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig
