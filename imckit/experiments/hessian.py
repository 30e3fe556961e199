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
   ``contrast_low_bits``.
3. The threshold chosen by Fisher information (:func:`imckit.crossbars.fisher.fim_sweep`,
   :func:`imckit.crossbars.fisher.fim_threshold`) against a plain sweep by test accuracy.
4. Crossbar utilization before and after the capacity-aligned threshold
   (:func:`imckit.crossbars.mapping.alignment_report`, the paper's Table 4), and against an unstructured,
   HAP-like assignment (Table 2).
5. The precision-coordinated computation against the mixed-precision weights, and the ADC energy and
   latency proxy against the compression ratio (:func:`imckit.crossbars.energy.energy_sweep`, Table 3).

Every expensive step is computed by :class:`imckit.experiments.hessian_steps.HessianSteps` through
:func:`imckit.core.cache.cached`, keyed by a digest of the network and the images, the parameters, the device
type (when not the CPU) and the version of :mod:`imckit.experiments.hessian_steps`, the module that holds
the computations and nothing else: a second run with nothing changed recomputes none of them
(``HessianResult.from_cache`` says which came from the cache), and editing this module's sentences or
figures invalidates none of them (the cache rule of the chapters, stated in :mod:`~imckit.experiments.hessian_steps`).

The decisions that turn numbers into the chapter's sentences are the small functions below
(:func:`choice_is_visible`, :func:`hutchinson_is_noise`, :func:`quantization_is_mild`,
:func:`alignment_empties_most_layers`, :func:`largest_ratio_within`, :func:`within_rounding`, ...; the
statistics they share are :mod:`imckit.experiments.stats`); :func:`chapter_text` assembles the glued
sentences from a result.
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
from imckit.crossbars.energy import PAPER_TABLE3, ADCSpec, energy_sweep
from imckit.crossbars.hessian import (HessianTrace, diagonal_strip_sensitivity, diagonal_weight_sensitivity,
                                      negative_share, probes_for_reliability, rank_agreement, score_reliability,
                                      spearman_brown, strip_reliability, strip_sensitivity, weight_sensitivity)
from imckit.crossbars.mapping import PAPER_TABLE4, AlignmentReport, CrossbarSpec, alignment_report, \
    strips_per_crossbar, weight_level_utilization
from imckit.crossbars.precision import PAPER_TABLE2_ACCURACY
from imckit.crossbars.strips import coordination_check, low_weight_share, quantize_strips, strip_assignment, \
    weight_assignment
from imckit.experiments.hessian_steps import HessianSteps
from imckit.experiments.stats import beyond_noise, noise_tolerance, standard_error_of_difference

__all__ = ["HessianConfig", "HessianResult", "run", "chapter_text", "mean_gains", "choice_is_visible",
           "low_bits_sentence", "contrast_sentence", "hutchinson_is_noise", "quantization_is_mild",
           "paper_drop_sentence", "within_rounding", "coordination_sentence", "split_cost_sentence",
           "alignment_empties_most_layers", "largest_ratio_within", "needed_probes_sentence", "utilization_phrase",
           "alignment_sentence", "plot_traces", "plot_sweeps", "plot_fisher", "plot_energy", "METHODS",
           "PAPER_METHOD", "CONTROL", "ROUNDING_TOLERANCE"]

HUTCHINSON_STRIPS = "strips, Hutchinson (paper)"
FISHER_STRIPS = "strips, Fisher"
HUTCHINSON_WEIGHTS = "single weights, Hutchinson (HAP-like)"
FISHER_WEIGHTS = "single weights, Fisher"
CONTROL = "random strips"
METHODS = (HUTCHINSON_STRIPS, FISHER_STRIPS, HUTCHINSON_WEIGHTS, FISHER_WEIGHTS)
PAPER_METHOD = {"hutchinson": HUTCHINSON_STRIPS, "fisher": FISHER_STRIPS}  # strip method of each score_diagonal
# largest logit difference (over the logits' range) that float rounding explains; a misaligned grid gives 1e-2 or more
ROUNDING_TOLERANCE = 1e-3

# the sizes of each profile: training images of the Hessian/Fisher batch, probes, test images (None: all)
_PROFILES = {
    "smoke": {"hessian_images": 64, "probes": 8, "test_images": 256},
    "default": {"hessian_images": 512, "probes": 64, "test_images": 2000},
    "paper": {"hessian_images": 2048, "probes": 1024, "test_images": None},
}
_SIZES_WITH_PROFILE_DEFAULT = ("hessian_images", "probes", "test_images")


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and not math.isnan(value)


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
        ratio_step: step of the compression-ratio sweeps, in (0, 1], dividing 1 (the sweeps end at 1).
        fim_tolerance: relative Fisher distance ``||F - F0|| / ||F0||`` the threshold search allows, > 0.
        accuracy_drop: accuracy points the plain sweep may lose against the all-high network, in [0, 100].
        table4_ratio: compression ratio (share of strips at low precision, in [0, 1]) of the utilization and
            HAP comparisons (the paper: 0.8 and 0.74).
        crossbar_sizes: square crossbar sizes (rows = columns, 1 to 4096) of the utilization table; the first
            is also the energy proxy's (the paper: 128 and 32).
        cell_bits: bits per ReRAM cell, 1 to 8 (the paper: 2).
        coordinated_images: test images (at most) the coordinated computation is checked on.
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
    crossbar_sizes: tuple[int, ...] = (128, 32)
    cell_bits: int = 2
    coordinated_images: int = 512
    reliability_target: float = 0.9
    fim_steps: int = 8
    min_probes: int = 10
    energy_reference_ratio: float = 0.7

    def __post_init__(self):
        if isinstance(self.crossbar_sizes, list):
            object.__setattr__(self, "crossbar_sizes", tuple(self.crossbar_sizes))

        def fail(name, allowed):
            raise ValueError(f"{name} must be {allowed}; got {getattr(self, name)!r}")

        if not _is_int(self.hessian_images) or not 2 <= self.hessian_images <= 10_000_000:
            fail("hessian_images", "an integer in [2, 10000000]")
        if not _is_int(self.probes) or not 2 <= self.probes <= 100_000:
            fail("probes", "an integer in [2, 100000] (the split-half reliability needs two halves)")
        if not _is_number(self.probe_tolerance) or not 0 <= self.probe_tolerance < 1:
            fail("probe_tolerance", "a number in [0, 1)")
        if self.score_diagonal not in PAPER_METHOD:
            fail("score_diagonal", "'hutchinson' or 'fisher'")
        if self.test_images is not None and (not _is_int(self.test_images) or self.test_images < 1):
            fail("test_images", "a positive integer or None (every test image)")
        known = sorted(ADCSpec().levels)
        if self.high_bits not in known or self.low_bits not in known or not self.low_bits < self.high_bits:
            raise ValueError(f"high_bits and low_bits must be among {known} with low_bits < high_bits (the energy "
                             f"proxy has ADC settings for the paper's Table 1 precisions only; sweep others with "
                             f"contrast_low_bits); got high_bits={self.high_bits!r}, low_bits={self.low_bits!r}")
        if not _is_int(self.contrast_low_bits) or not (self.contrast_low_bits == 0
                                                       or 2 <= self.contrast_low_bits < self.high_bits):
            fail("contrast_low_bits", "0 or an integer in [2, high_bits)")
        if not _is_number(self.ratio_step) or not 0 < self.ratio_step <= 1:
            fail("ratio_step", "a number in (0, 1]")
        if abs(1 / self.ratio_step - round(1 / self.ratio_step)) > 1e-6:
            fail("ratio_step", "a number in (0, 1] that divides 1 (e.g. 0.1, 0.125, 0.25) so the sweep ends at 1")
        if not _is_number(self.fim_tolerance) or not self.fim_tolerance > 0:
            fail("fim_tolerance", "a positive number (relative Fisher distance)")
        if not _is_number(self.accuracy_drop) or not 0 <= self.accuracy_drop <= 100:
            fail("accuracy_drop", "a number in [0, 100] (accuracy points)")
        if not _is_number(self.table4_ratio) or not 0 <= self.table4_ratio <= 1:
            fail("table4_ratio", "a number in [0, 1]")
        sizes = self.crossbar_sizes
        if not isinstance(sizes, tuple) or not sizes or not all(_is_int(s) and 1 <= s <= 4096 for s in sizes) \
                or len(set(sizes)) != len(sizes):
            fail("crossbar_sizes", "a non-empty list of different integers in [1, 4096]")
        if not _is_int(self.cell_bits) or not 1 <= self.cell_bits <= 8:
            fail("cell_bits", "an integer in [1, 8]")
        if not _is_int(self.coordinated_images) or self.coordinated_images < 1:
            fail("coordinated_images", "a positive integer")
        if not _is_number(self.reliability_target) or not 0 < self.reliability_target < 1:
            fail("reliability_target", "a number in (0, 1)")
        if not _is_int(self.fim_steps) or not 1 <= self.fim_steps <= 30:
            fail("fim_steps", "an integer in [1, 30]")
        if not _is_int(self.min_probes) or self.min_probes < 1:
            fail("min_probes", "an integer >= 1")
        if not _is_number(self.energy_reference_ratio) or not 0 <= self.energy_reference_ratio <= 1:
            fail("energy_reference_ratio", "a number in [0, 1]")

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
            if name in _SIZES_WITH_PROFILE_DEFAULT and value == 0 and not isinstance(value, bool):
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


def choice_is_visible(largest_gain: float, standard_error: float) -> bool:
    """Whether the strips a method picks make a difference this test can see: its largest mean gain over random
    strips (in absolute value) exceeds twice ``standard_error``, the standard error of a difference between two
    accuracies (:func:`imckit.experiments.stats.beyond_noise`)."""
    if not _is_number(largest_gain) or not _is_number(standard_error) or standard_error < 0:
        raise ValueError(f"largest_gain must be a number and standard_error a number >= 0; got {largest_gain!r}, "
                         f"{standard_error!r}")
    return beyond_noise(float(largest_gain), noise_tolerance(float(standard_error)))


def low_bits_sentence(largest_gain: float, standard_error: float) -> str:
    """The chapter's verdict on the main sweep (the choice of strips at ``low_bits``)."""
    if not choice_is_visible(largest_gain, standard_error):
        return (f"Every method is within {abs(largest_gain):.1f} points of random strips on average, less than twice "
                f"the {standard_error:.1f}-point standard error of a difference between two accuracies on these "
                "test images: at low_bits the choice of strips makes no difference this test can see.")
    return (f"The methods differ from random strips by up to {abs(largest_gain):.1f} points on average (standard "
            f"error of a difference between two accuracies on these test images: {standard_error:.1f} points).")


def contrast_sentence(gains, accuracy, contrast_low_bits: int, standard_error: float) -> str:
    """The chapter's sentence on the contrast sweep: whether the choice of strips makes a visible difference
    there (:func:`choice_is_visible` on the largest mean gain over random strips, ``gains`` from
    :func:`mean_gains`), each method's gain, and, when the paper's Hutchinson strips do worse than random, why
    and whether their curve dips below the all-low network (``accuracy``: the contrast sweep's accuracies,
    ratio index); last, what moving every strip low costs there beside the paper's Table 3."""
    if accuracy is None or not contrast_low_bits:
        return "(No contrast sweep ran: contrast_low_bits = 0.)"
    largest = float(gains.abs().max())
    if choice_is_visible(largest, standard_error):
        text = (f"With {contrast_low_bits}-bit low strips the choice of strips makes a visible difference (up to "
                f"{largest:.1f} points against random strips; standard error of a difference "
                f"{standard_error:.1f}).")
    else:
        text = (f"Even with {contrast_low_bits}-bit low strips every method stays within {largest:.1f} points of "
                f"random strips, less than twice the {standard_error:.1f}-point standard error of a difference: "
                "no visible difference.")
    text += (f" Against random strips, the paper's Hutchinson strips average {gains[HUTCHINSON_STRIPS]:+.1f} "
             f"points, the Fisher strips {gains[FISHER_STRIPS]:+.1f} and single weights by Fisher score "
             f"{gains[FISHER_WEIGHTS]:+.1f}.")
    if gains[HUTCHINSON_STRIPS] < 0:
        inner = [r for r in accuracy.index if 0 < r < 1]
        dips = bool((accuracy.loc[inner, HUTCHINSON_STRIPS] < accuracy.loc[1.0, HUTCHINSON_STRIPS]).any())
        text += (" Noisy scores can do worse than chance: a global threshold on them does not spread the "
                 "low-precision strips evenly over the layers as a random draw does, and once many layers are "
                 "coarse the accuracy is not even monotone in the precision of single strips"
                 + (" (the Hutchinson curve dips below the all-low network)." if dips else "."))
    cost = float(accuracy.iloc[:, 0].loc[0.0] - accuracy.iloc[:, 0].loc[1.0])
    return text + (f" Moving every strip to {contrast_low_bits} bits costs {cost:.1f} points here; the paper's "
                   f"Table 3 loses {PAPER_TABLE3[0][0] - PAPER_TABLE3[100][0]:.1f} points from 0 % to 100 % "
                   "low-precision strips.")


def hutchinson_is_noise(hutchinson_reliability: float, fisher_reliability: float) -> bool:
    """Whether the Hutchinson ranking is mostly probe noise while the Fisher one is stable: split-half
    reliabilities below 0.5 and at least 0.5."""
    return hutchinson_reliability < 0.5 <= fisher_reliability


def quantization_is_mild(accuracy_high: float, accuracy_low: float, points: float = 5.0) -> bool:
    """Whether moving every strip to low precision costs fewer than ``points`` accuracy points (then the
    choice of strips cannot matter much)."""
    return accuracy_high - accuracy_low < points


def paper_drop_sentence(accuracy_high: float, accuracy_low: float, low_bits: int) -> str:
    """What moving every strip to ``low_bits`` costs here (``accuracy_high``, ``accuracy_low``: % with every
    strip at high and at low precision) beside the paper's Table 3 (0 % against 100 % compression). The
    paper's quantization is called far harsher than the kit's only when the cost is mild here and not in the
    paper (:func:`quantization_is_mild` on both)."""
    paper_high, paper_low = PAPER_TABLE3[0][0], PAPER_TABLE3[100][0]
    text = (f"Here moving every strip to {low_bits} bits costs {accuracy_high - accuracy_low:.1f} points, against "
            f"the paper's {paper_high - paper_low:.1f}")
    if quantization_is_mild(accuracy_high, accuracy_low) and not quantization_is_mild(paper_high, paper_low):
        return text + (": the paper's 4-bit quantization is far harsher than the kit's per-channel quantized_bits "
                       "grid.")
    return text + "."


def within_rounding(difference: float, tolerance: float = ROUNDING_TOLERANCE) -> bool:
    """Whether the coordinated computation's largest logit difference (over the logits' range) is float
    rounding: at most ``tolerance``."""
    if not _is_number(difference) or difference < 0 or not _is_number(tolerance) or tolerance < 0:
        raise ValueError(f"difference and tolerance must be numbers >= 0; got {difference!r}, {tolerance!r}")
    return difference <= tolerance


def coordination_sentence(difference: float, tolerance: float = ROUNDING_TOLERANCE) -> str:
    """The verdict on the precision-coordinated computation (:func:`within_rounding`)."""
    if within_rounding(difference, tolerance):
        return (f"within float rounding (at most {tolerance:.0e} of the range): the two computations give the same "
                "outputs")
    return (f"more than float rounding explains (above {tolerance:.0e} of the range): the two computations "
            "differ")


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
    if not _is_int(layers) or layers < 1 or not _is_int(emptied) or not 0 <= emptied <= layers:
        raise ValueError(f"need integers 0 <= emptied <= layers, layers >= 1; got emptied={emptied!r}, "
                         f"layers={layers!r}")
    return emptied > layers / 2


def largest_ratio_within(accuracy, drop: float) -> float:
    """The largest compression ratio whose accuracy (a pandas Series, ratio index, %) stays within ``drop``
    points of the accuracy at ratio 0 (the plain threshold rule: it needs labelled test data)."""
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
        gains: mean gain over random strips per method (rows) and low precision (columns).
        float_accuracy: the float network's accuracy on the same test images (%).
        standard_error: standard error of a difference between two accuracies (points).
        fim_sweeps: low bits -> :func:`imckit.crossbars.fisher.fim_sweep` frame with ``accuracy (%)``.
        threshold_rules: the ratio and accuracy each threshold rule picks, per low precision.
        alignment: the :class:`imckit.crossbars.mapping.AlignmentReport` (per-layer tables, assignments).
        table4: the alignment table with ``accuracy (%)``.
        hap: strips against single weights at ``table4_ratio`` (accuracy, crossbars, utilization).
        hap_share: share of weights at low precision of that comparison (0-1).
        coordinated: ``difference`` (largest logit difference over the logits' range), ``agreement`` (share of
            equal predictions), ``images``.
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
    gains: object
    float_accuracy: float
    standard_error: float
    fim_sweeps: dict
    threshold_rules: object
    alignment: AlignmentReport
    table4: object
    hap: object
    hap_share: float
    coordinated: dict
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

    def per_layer(self, size: int | None = None, threshold: str = "down"):
        """The per-layer utilization table on the square crossbar ``size`` (default: the first) after ``threshold``."""
        size = self.config.crossbar_sizes[0] if size is None else size
        return self.alignment.per_layer[(f"{size}x{size}", threshold)]

    def text(self) -> dict[str, dict[str, str]]:
        """The glued texts by chapter section (:func:`chapter_text`)."""
        return chapter_text(self)

    def save(self, folder: str | Path) -> list[Path]:
        """Write the chapter's tables as CSV files into ``folder``; returns their paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        high = self.config.high_bits
        files = [(self.layer_traces, "layer_traces.csv", True), (self.threshold_rules, "threshold_rules.csv", False),
                 (self.table4, "table4.csv", False), (self.hap, "hap.csv", False), (self.energy, "energy.csv", True)]
        files += [(frame, f"sweep_{high}_{bits}.csv", False) for bits, frame in self.sweeps.items()]
        files += [(frame, f"fim_sweep_{high}_{bits}.csv", False) for bits, frame in self.fim_sweeps.items()]
        paths = []
        for frame, name, index in files:
            frame.to_csv(folder / name, index=index)
            paths.append(folder / name)
        return paths


# --------------------------------------------------------------------------------------------------------
# the experiment


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
    if not isinstance(config, HessianConfig):
        raise ValueError(f"config must be a HessianConfig; got {type(config).__name__}")
    if not _is_int(seed) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an integer in [0, 2**63); got {seed!r}")
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module; got {type(model).__name__}")
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

    # 2. accuracy against the compression ratio
    methods = {m: scores[m] for m in METHODS}
    sweeps, accuracy = {}, {}
    for bits in c.swept_low_bits:
        sweeps[bits] = steps.sweep(methods, bits)
        accuracy[bits] = sweeps[bits].pivot(index="ratio", columns="method", values="accuracy")[
            [*METHODS, CONTROL]] * 100
    main = accuracy[c.low_bits]
    gains = pd.DataFrame({f"{c.high_bits}/{bits}-bit": mean_gains(a) for bits, a in accuracy.items()})
    standard_error = standard_error_of_difference(float(main.loc[0.0].iloc[0]), len(test))

    # 3. the threshold by Fisher information against a plain sweep by test accuracy
    paper_method = PAPER_METHOD[c.score_diagonal]
    strip_scores = scores[paper_method]
    weight_scores = scores[HUTCHINSON_WEIGHTS if c.score_diagonal == "hutchinson" else FISHER_WEIGHTS]
    fims, searches, fim_seconds = {}, {}, 0.0
    for bits in c.swept_low_bits:
        fim, search, seconds = steps.fim(strip_scores, bits)
        fim["accuracy (%)"] = accuracy[bits][paper_method].reindex(fim["ratio"]).to_numpy()
        fims[bits], searches[bits] = fim, search
        fim_seconds += seconds

    # 4. crossbar mapping and the capacity-aligned threshold; strips against single weights
    alignment = alignment_report(model, strip_scores, c.table4_ratio, [c.crossbar(s) for s in c.crossbar_sizes],
                                 c.high_bits, c.low_bits)
    base = alignment.assignments[(f"{c.crossbar_sizes[0]}x{c.crossbar_sizes[0]}", "origin")]
    hap_share = low_weight_share(model, base)
    hap_assignment = weight_assignment(weight_scores, hap_share)

    # one evaluation (cached) for the float network and every single assignment the chapter measures
    labels = [(f"{s}x{s}", method) for s in c.crossbar_sizes for method in ("origin", "down", "nearest")]
    assignments = [{}] + [strip_assignment(strip_scores, searches[bits]["ratio"]) for bits in c.swept_low_bits]
    assignments += [alignment.assignments[label] for label in labels] + [hap_assignment]
    lows = [c.low_bits, *c.swept_low_bits, *[c.low_bits] * (len(labels) + 1)]
    measured = steps.accuracies(assignments, lows)
    float_accuracy, measured = measured[0], measured[1:]
    fim_accuracy = dict(zip(c.swept_low_bits, measured))
    table4 = alignment.table.copy()
    table4["accuracy (%)"] = measured[len(c.swept_low_bits): len(c.swept_low_bits) + len(labels)]
    hap_accuracy = measured[-1]

    picks = []
    for bits in c.swept_low_bits:
        column = accuracy[bits][paper_method]
        sweep_ratio = largest_ratio_within(column, c.accuracy_drop)
        picks.append({"low bits": bits, "rule": "FIM threshold search",
                      "compression ratio (%)": 100 * searches[bits]["ratio"], "accuracy (%)": fim_accuracy[bits],
                      "evaluations": f"{len(searches[bits]['history'])} Fisher diagonals (training batch)",
                      "rank correlation FIM distance / accuracy": _spearman(fims[bits]["FIM distance"],
                                                                             fims[bits]["accuracy (%)"])})
        picks.append({"low bits": bits, "rule": "score sweep by test accuracy",
                      "compression ratio (%)": 100 * sweep_ratio,
                      "accuracy (%)": column.loc[sweep_ratio], "evaluations": f"{len(c.ratios)} test evaluations",
                      "rank correlation FIM distance / accuracy": np.nan})
    threshold_rules = pd.DataFrame(picks)

    strip_accuracy = table4[table4["threshold"] == "origin"]["accuracy (%)"].iloc[0]
    rows = []
    for size in c.crossbar_sizes:
        ours = alignment.per_layer[(f"{size}x{size}", "origin")].loc["all"]
        theirs = weight_level_utilization(model, hap_assignment, c.crossbar(size), c.high_bits, c.low_bits).loc["all"]
        for name, r, acc in (("strips (paper)", ours, strip_accuracy), ("single weights (HAP-like)", theirs,
                                                                        hap_accuracy)):
            rows.append({"crossbar": f"{size}x{size}", "assignment": name, "accuracy (%)": acc,
                         "crossbars": int(r["high crossbars"] + r["low crossbars"]),
                         "high utilization (%)": r["high utilization (%)"],
                         "low utilization (%)": r["low utilization (%)"],
                         "strips on both kinds": int(r.get("mixed strips", 0))})
    hap = pd.DataFrame(rows)

    # 5. precision-coordinated computation; the energy proxy
    quantized = {m: quantize_strips(weight_of[m], base[m], c.high_bits, c.low_bits) for m in modules}
    coordinated = coordination_check(model, quantized, test.images[: c.coordinated_images], device=device)
    energy = energy_sweep(model, strip_scores, c.ratios, tuple(test.images.shape[1:]), c.crossbar(c.crossbar_sizes[0]),
                          high_bits=c.high_bits, low_bits=c.low_bits)
    energy.insert(0, "accuracy (%)", [main.loc[r, paper_method] for r in c.ratios])
    paper3 = pd.DataFrame({"paper accuracy (%)": {k: v[0] for k, v in PAPER_TABLE3.items()},
                           "paper ADC energy (rel.)": {k: v[2] / PAPER_TABLE3[0][2] for k, v in PAPER_TABLE3.items()}})

    big = f"{c.crossbar_sizes[0]}x{c.crossbar_sizes[0]}"
    accuracy_high, accuracy_low = float(main.loc[0.0].iloc[0]), float(main.loc[1.0].iloc[0])
    verdicts = {
        "strip choice visible at low_bits": choice_is_visible(float(mean_gains(main).abs().max()), standard_error),
        "hutchinson is probe noise": hutchinson_is_noise(r_hutchinson, r_fisher),
        "low precision is mild": quantization_is_mild(accuracy_high, accuracy_low),
        "coordination within float rounding": within_rounding(coordinated["difference"]),
        "alignment empties most layers": alignment_empties_most_layers(len(alignment.emptied_layers(big)),
                                                                        len(modules)),
    }
    return HessianResult(
        config=c, seed=seed, modules=modules, train_images=len(batch), test_images=len(test), trace=trace,
        scores=scores, seconds={"hessian": hessian_seconds, "fisher": fisher_seconds, "fim": fim_seconds},
        reliability=reliability, layer_traces=traces, scorings=scorings, sweeps=sweeps, accuracy=accuracy,
        gains=gains, float_accuracy=float_accuracy, standard_error=standard_error, fim_sweeps=fims,
        threshold_rules=threshold_rules, alignment=alignment, table4=table4, hap=hap, hap_share=hap_share,
        coordinated=coordinated, energy=energy, paper_table3=paper3, verdicts=verdicts,
        from_cache=dict(steps.from_cache))


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


# --------------------------------------------------------------------------------------------------------
# the chapter's texts


def chapter_text(result: HessianResult) -> dict[str, dict[str, str]]:
    """The chapter's glued texts, by section: ``setup``, ``traces``, ``reliability``, ``sweep``, ``fim``,
    ``table4``, ``hap``, ``coordinated``, ``energy``, ``summary`` (glue key -> text)."""
    c, r = result.config, result.reliability
    seconds, trace = result.seconds, result.trace
    size = c.crossbar_sizes[0]
    big, label = f"{size}×{size}", f"{size}x{size}"
    main, contrast = result.main_accuracy, result.contrast_accuracy
    accuracy_high, accuracy_low = float(main.loc[0.0].iloc[0]), float(main.loc[1.0].iloc[0])
    top = result.layer_traces["share of trace (%)"].idxmax()
    rules = result.threshold_rules
    fim_rules = rules[rules["rule"] == "FIM threshold search"]
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
    text["sweep"] = {
        "hs_acc_high": f"{accuracy_high:.1f}", "hs_acc_low": f"{accuracy_low:.1f}",
        "hs_acc_float": f"{result.float_accuracy:.1f}", "hs_paper_acc0": f"{PAPER_TABLE3[0][0]:.1f}",
        "hs_paper_acc100": f"{PAPER_TABLE3[100][0]:.1f}",
        "hs_paper_drop": paper_drop_sentence(accuracy_high, accuracy_low, c.low_bits),
        "hs_low_verdict": low_bits_sentence(float(mean_gains(main).abs().max()), result.standard_error),
        "hs_contrast": contrast_sentence(mean_gains(contrast) if contrast is not None else None, contrast,
                                         c.contrast_low_bits if contrast is not None else 0,
                                         result.standard_error)}
    text["fim"] = {
        "hs_score_diagonal": "Hutchinson, the paper's" if c.score_diagonal == "hutchinson" else "the Fisher diagonal",
        "hs_fim_rho": ", ".join(f"{rho:.2f} at {bits} bits" for bits, rho in zip(
            fim_rules["low bits"], fim_rules["rank correlation FIM distance / accuracy"])),
        "hs_fim_seconds": f"{seconds['fim']:.0f}",
        "hs_fim_at_low": ", ".join(f"{f['FIM distance'].iloc[-1]:.2f} at {bits} bits"
                                   for bits, f in result.fim_sweeps.items())}
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
    strip_accuracy = result.table4[result.table4["threshold"] == "origin"]["accuracy (%)"].iloc[0]
    text["hap"] = {
        "hs_hap_share": f"{100 * result.hap_share:.1f}", "hs_paper_ours": f"{PAPER_TABLE2_ACCURACY['strips']:.2f}",
        "hs_paper_hap": f"{PAPER_TABLE2_ACCURACY['HAP']:.1f}", "hs_t4_size": big,
        "hs_hap_acc": f"{first.loc['single weights (HAP-like)', 'accuracy (%)']:.1f}",
        "hs_strip_acc": f"{strip_accuracy:.1f}",
        "hs_hap_crossbars": f"{first.loc['single weights (HAP-like)', 'crossbars']}",
        "hs_strip_crossbars": f"{first.loc['strips (paper)', 'crossbars']}",
        "hs_hap_mixed": f"{first.loc['single weights (HAP-like)', 'strips on both kinds']:,}"}
    co = result.coordinated
    text["coordinated"] = {"hs_coord_diff": f"{co['difference']:.1e}", "hs_coord_agree": f"{100 * co['agreement']:.1f}",
                           "hs_coord_images": f"{co['images']}",
                           "hs_coord_verdict": coordination_sentence(co["difference"])}
    energy = result.energy
    mid = min(c.ratios, key=lambda ratio: abs(ratio - c.energy_reference_ratio))
    text["energy"] = {
        "hs_energy_mid_ratio": f"{100 * mid:.0f}",
        "hs_paper_adc70": f"{100 * PAPER_TABLE3[70][2] / PAPER_TABLE3[0][2]:.0f}",
        "hs_energy_mid_bits": f"{100 * energy.loc[100 * mid, 'ADC bit decisions (rel.)']:.0f}",
        "hs_energy_mid_levels": f"{100 * energy.loc[100 * mid, 'ADC level units (rel.)']:.0f}",
        "hs_energy_full_levels": f"{1 / energy['ADC level units (rel.)'].iloc[-1]:.1f}",
        "hs_energy_split": split_cost_sentence(energy)}
    contrast_visible = contrast is not None and choice_is_visible(float(mean_gains(contrast).abs().max()),
                                                                  result.standard_error)
    text["summary"] = {
        "hs_sum_scores": (
            f"Per-strip Hutchinson traces from {trace.probes} probes have a split-half reliability of "
            f"{r['hutchinson']:.2f} on this network, the Fisher-diagonal scores {r['fisher']:.2f} "
            f"({seconds['fisher']:.1f} s against {seconds['hessian']:.0f} s)."
            + (" The Hutchinson ranking is mostly probe noise at this budget; set score_diagonal = \"fisher\" to "
               "carry the stable scores through the threshold search, the mapping and the energy proxy."
               if hutchinson_is_noise(r["hutchinson"], r["fisher"]) else "")),
        "hs_sum_accuracy": (
            "Moving every strip from high_bits to low_bits changes the accuracy by "
            f"{accuracy_low - accuracy_high:+.1f} points here, by "
            f"{PAPER_TABLE3[100][0] - PAPER_TABLE3[0][0]:+.1f} in the paper's Table 3"
            + ((": the paper's strong dependence of accuracy on the compression ratio, and on which strips are "
                "kept, shows here only with a harsher low precision (contrast_low_bits)." if contrast_visible else
                ": the paper's strong dependence of accuracy on the compression ratio, and on which strips are "
                "kept, does not show on this network at these precisions.")
               if quantization_is_mild(accuracy_high, accuracy_low) else ".")),
        "hs_sum_crossbar": (
            f"Capacity alignment rounded down, as the paper does, leaves {len(emptied)} of {n} layers without "
            f"high-precision strips on {big} crossbars; the paper's ResNet-50 has layers of thousands of strips.")}
    return text


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
        ax.axvline(rows.loc["FIM threshold search", "compression ratio (%)"] / 100, color="tab:purple", ls="--",
                   lw=0.8, label="FIM threshold search")
        ax.axvline(rows.loc["score sweep by test accuracy", "compression ratio (%)"] / 100, color="tab:green",
                   ls="--", lw=0.8, label="accuracy sweep")
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
                          ("latency cycles (rel.)", "^-")):
        ax.plot(energy.index, energy[column], style, ms=4, label=column.replace(" (rel.)", ""))
    ax.plot(paper3.index, paper3["paper ADC energy (rel.)"], "kx--", label="paper: ADC energy (NeuroSim)")
    ax.set(xlabel="compression ratio (%)", ylabel="relative to 0 %", yscale="log")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig
