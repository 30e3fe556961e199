"""Chapter "Fault- and variability-aware training" (seed paper 002): its experiments.

The chapter fine-tunes the shared baseline with the regularized loss of :mod:`imckit.qat` and asks five
questions, one function each:

:func:`run_quantization` (the paper's Table 1 and Fig. 4)
    post-training quantization and four quantization-aware fine-tunes (fixed levels, learned step,
    N-multipliers, N-multipliers with STE) per weight bit width; where the learned levels went.
:func:`run_schedules` (the lambda schedule of the paper's Sec. 4)
    the N-multiplier fine-tune of each bit width with lambda raised over the paper's share of training
    (its final 20 of 200 epochs, :data:`imckit.qat.quantizers.PAPER_RAMPS`) and over the kit's default
    share (:data:`KIT_RAMP`), at the same epochs.
:func:`run_fault_sweep` (Figs. 6 and 7a)
    per bit-fault rate one fault map; the start network written without fine-tuning (naive and nearest
    valid level mapping) and after a fault-aware fine-tune with each of the four mitigation levels.
:func:`run_fault_order` (the order of the mitigation levels, Fig. 7a)
    at the two highest bit-fault rates, ``chips`` fault maps (each with its own seed; the first is the
    sweep's), each fine-tuned by the four levels for ``tune_epochs`` and for ``long_epochs``; mean and
    spread per level, and the paper's order checked with the spread as the tie tolerance.
:func:`run_variability_sweep` (Fig. 7b)
    per sigma/mu of the cells' LRS one chip; the start network written without fine-tuning (ideal and
    variability-aware mapping), after variability-aware fine-tuning and after simulated chip-in-loop
    training.

:func:`run` runs all five (:class:`RegularizationResult`, with the cost estimate); :func:`scorecard` turns
it into the chapter's "Paper vs this kit" table (:class:`imckit.papers.Scorecard`) against the claims of
``imckit/papers/data/seed002.yaml``, and :func:`paper_rows` shows the paper's Tables 5 and 6 beside the
kit's runs. The start network of the fault and variability experiments is the ``hardware_bits``
N-multiplier network of Table 1 (the same cached fine-tune). Sentences that describe the kit's numbers
are chosen by small, tested functions (:func:`table1_sentence`, :func:`levels_sentence`,
:func:`schedule_sentence`, :func:`ranking_sentence`, :func:`multipliers_sentence`, :func:`aware_sentence`,
:func:`compare`); whether a result of the paper holds is only the verdict of :mod:`imckit.papers.verdict`
(:func:`order_verdict`, :func:`scorecard`); what counts as noise is :mod:`imckit.experiments.stats`.

Caching: every fine-tune and every sweep point is computed by :mod:`imckit.experiments.regularization_steps`
(:func:`fine_tune`, :func:`~imckit.experiments.regularization_steps.sweep_point`) through
:func:`imckit.core.cache.cached`. By the cache rule of the chapters (stated there), the keys name that module,
which holds the computations and nothing else: editing this module's sentences or figures invalidates no
fine-tune. A second run with nothing changed trains nothing; the seconds a computation took are stored with
it, so a warm run reports the cold run's times. Experiments share what they can: the schedule comparison
reuses Table 1's fine-tune at the configured ramp, the order check the sweep's first fault map.

Devices: ``device`` (``"cpu"``, ``"cuda"``, ``"auto"``) is where the fine-tunes and evaluations run; fault
maps and chips are drawn on the CPU with seeded generators (:mod:`imckit.qat.faults`,
:mod:`imckit.qat.variability`); networks are kept and cached on the CPU.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from imckit.core.data import ImageTensors
from imckit.core.profiles import check_profile
from imckit.core.validate import check_int, check_number, check_probability, check_seed
from imckit.experiments.checks import check_config, check_device, check_items
from imckit.experiments.regularization_steps import (FAULT_REFERENCES, SEED_LIMIT, VARIABILITY_METHODS,
                                                     VARIABILITY_REFERENCES, FineTune, accuracy, deployed_accuracy,
                                                     fine_tune, sweep_point)
from imckit.experiments.stats import beyond_noise, noise_tolerance, standard_error, standard_error_of_difference
from imckit.papers.claims import Claim, get_claim, load_claims
from imckit.papers.verdict import Verdict, verdict
from imckit.qat.faults import MITIGATIONS
from imckit.qat.quantizers import PAPER_LAMBDAS, PAPER_RAMPS, LevelQuantizer, lambda_schedule
from imckit.qat.training import QATConfig, QATResult, post_training, quantized_modules

__all__ = [
    "RegularizationConfig", "ChapterData", "FineTune", "LevelsData", "QuantizationResult", "ScheduleResult",
    "SweepResult", "FaultSweepResult", "FaultOrderResult", "VariabilitySweepResult", "RegularizationResult",
    "VARIANTS", "VARIANT_LABELS", "PTQ_LABEL", "PAPER", "PAPER_FAULT_ORDER", "KIT_RAMP", "SCHEDULE_RAMPS",
    "LEVELS_MOVED_THRESHOLD", "FAULT_REFERENCES", "VARIABILITY_REFERENCES", "VARIABILITY_METHODS",
    "COUNTERPARTS", "chapter_data", "fine_tune", "deployed_accuracy", "order_rates", "order_epochs",
    "run_quantization", "run_schedules", "run_fault_sweep", "run_fault_order", "run_variability_sweep", "run",
    "activations_phrase", "best_variant", "table1_sentence", "levels_sentence", "schedule_label",
    "schedule_sentence", "schedule_reason", "mitigation_ranking", "ranking_sentence", "order_verdict", "compare",
    "multipliers_sentence", "aware_sentence", "least_favourable", "paper_claim", "paper_table1", "paper_rows",
    "table_kit_value", "kit_setting_for", "scorecard", "plot_levels", "plot_schedules", "plot_sweep",
    "plot_fault_order",
]

PAPER = "002"  # the seed paper of this chapter (imckit/papers/data/seed002.yaml)
VARIANTS = (("fixed", False), ("step", False), ("multipliers", False), ("multipliers", True))
VARIANT_LABELS = {("fixed", False): "fixed levels", ("step", False): "learned step",
                  ("multipliers", False): "N-multipliers", ("multipliers", True): "N-multipliers + STE"}
PTQ_LABEL = "PTQ (no training)"
LEVELS_MOVED_THRESHOLD = 0.05  # a learned multiplier that moved less than 5 % has "stayed close to the grid"
KIT_RAMP = 0.5  # the default profile's share of a run over which lambda rises (QAT and fine-tunes)
SCHEDULE_RAMPS = (KIT_RAMP, PAPER_RAMPS["qat"])  # the two QAT schedules the chapter compares
# The kit's method standing in for each method of the paper's Tables 5 and 6 (the kit's choice): FAQ and
# Matic map faulty weights to their nearest valid level (the kit's "passive"), QFALT regularizes without
# remapping ("active"), the paper's own rows are "active+passive" and "variability-aware", NeuroSim and
# CoMN train with the chip in the loop. EDEN (dropout-inspired) has no counterpart.
COUNTERPARTS = {("Table 5", "FAQ"): "passive", ("Table 5", "QFALT"): "active", ("Table 5", "EDEN"): None,
                ("Table 5", "Ours"): "active+passive", ("Table 6", "NeuroSim"): "chip-in-loop",
                ("Table 6", "CoMN"): "chip-in-loop", ("Table 6", "Ours"): "variability-aware"}


def paper_claim(claim_id: str) -> Claim:
    """The claim ``claim_id`` of seed paper 002 (:func:`imckit.papers.claims.get_claim`)."""
    return get_claim(f"{PAPER}/{claim_id}")


PAPER_FAULT_ORDER = tuple(paper_claim("fig7a-mitigation-order").value)  # the paper's Fig. 7a, best first

# the per-profile sizes: training images per epoch (None: all), epochs of QAT and of the fine-tunes, test
# images, lambda's ramps, fault maps per point and the longer fine-tunes of the order check
_PROFILE_SIZES = {
    "smoke": {"train_images": 512, "qat_epochs": 1, "tune_epochs": 1, "test_images": 256, "qat_ramp": KIT_RAMP,
              "tune_ramp": KIT_RAMP, "chips": 2, "long_epochs": 2},
    "default": {"train_images": 8000, "qat_epochs": 3, "tune_epochs": 2, "test_images": 2000, "qat_ramp": KIT_RAMP,
                "tune_ramp": KIT_RAMP, "chips": 3, "long_epochs": 4},
    "paper": {"train_images": None, "qat_epochs": 30, "tune_epochs": 20, "test_images": None,
              "qat_ramp": PAPER_RAMPS["qat"], "tune_ramp": PAPER_RAMPS["tune"], "chips": 3, "long_epochs": 20},
}


def _shares(name: str, values) -> tuple[float, ...]:
    values = check_items(values, name, check_probability, allowed="a non-empty list of numbers in [0, 1]")
    if len(values) > 500:  # the sweeps' seeds leave room for 500 points (imckit.experiments.regularization_steps)
        raise ValueError(f"{name} must be a non-empty list of at most 500 numbers in [0, 1]; got {len(values)}")
    return values


def _integer(name: str, value, low: int, high: int | None = None, none: bool = False):
    if none and value is None:
        return None
    return check_int(value, name, low, high)


def _share(name: str, value, low_open: bool = False) -> float:
    return check_number(value, name, 0, 1, low_open=low_open)


@dataclass(frozen=True)
class RegularizationConfig:
    """What the chapter runs.

    Attributes:
        bit_widths: weight bits of the quantization table, each an integer in [2, 8] (the paper: 4 and 3).
        activation_bits: LSQ bits of the quantized layers' inputs: 0 the weight bits (the paper's W4/A4,
            W3/A3), -1 float activations, else an integer in [2, 16].
        train_images: training images per epoch, an integer >= 2 (``None``: all of the baseline's).
        qat_epochs: epochs of each quantization-aware fine-tune of the table, in [1, 1000].
        tune_epochs: epochs of each fault- or variability-aware fine-tune, in [1, 1000].
        test_images: test images every accuracy is measured on, >= 1 (``None``: all of the baseline's).
        hardware_bits: weight bits of the fault and variability experiments, in [2, 8] (the paper's Fig. 7: 4).
        fault_rates: bit-fault rates (probability that a bit cell is stuck), each in [0, 1] (the paper: 0-0.3).
        sa1_share: share of the stuck cells stuck at 1, in [0, 1] (the paper does not say; 0.5).
        remaps: remappings of the faulty weights during a fault-aware fine-tune, in [0, 1000] (the paper: 5).
        sigmas: sigma/mu of the cells' LRS (relative spread, dimensionless), each in [0, 1] (the paper:
            0.05-0.4).
        quantizer_lr: learning rate of the bit multipliers and offsets, in (0, 10] (``None``: the paper's for
            each variant, 1e-6 with float weights and 1e-3 with STE).
        qat_ramp: share of each quantization-aware fine-tune over which lambda rises, in [0, 1] (the paper:
            its final 20 of 200 epochs, 0.1; the default profile: 0.5).
        tune_ramp: the same for the fault- and variability-aware fine-tunes, in [0, 1] (the paper: the final
            10 of 20 epochs, 0.5).
        chips: fault maps per bit-fault rate in the order check of the mitigation levels, in [1, 100]
            (each with its own seed; the first is the sweep's).
        long_epochs: epochs of the order check's longer fault-aware fine-tunes, in [1, 1000] (it also runs
            ``tune_epochs``).
    """

    bit_widths: tuple[int, ...] = (4, 3)
    activation_bits: int = 0
    train_images: int | None = 8000
    qat_epochs: int = 3
    tune_epochs: int = 2
    test_images: int | None = 2000
    hardware_bits: int = 4
    fault_rates: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3)
    sa1_share: float = 0.5
    remaps: int = 5
    sigmas: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.4)
    quantizer_lr: float | None = None
    qat_ramp: float = KIT_RAMP
    tune_ramp: float = KIT_RAMP
    chips: int = 3
    long_epochs: int = 4

    def __post_init__(self):
        widths = check_items(self.bit_widths, "bit_widths", lambda b, n: check_int(b, n, 2, 8),
                             allowed="a non-empty list of integers in [2, 8]")
        object.__setattr__(self, "bit_widths", widths)
        a = self.activation_bits
        allowed = "0 (the weight bits), -1 (float) or an integer in [2, 16]"
        if isinstance(a, bool) or not isinstance(a, numbers.Integral):
            raise TypeError(f"activation_bits must be {allowed}; got {a!r}")
        if not (a in (0, -1) or 2 <= a <= 16):
            raise ValueError(f"activation_bits must be {allowed}; got {a!r}")
        object.__setattr__(self, "activation_bits", int(a))
        for name, low, high, none in (("train_images", 2, None, True), ("qat_epochs", 1, 1000, False),
                                      ("tune_epochs", 1, 1000, False), ("test_images", 1, None, True),
                                      ("hardware_bits", 2, 8, False), ("remaps", 0, 1000, False),
                                      ("chips", 1, 100, False), ("long_epochs", 1, 1000, False)):
            object.__setattr__(self, name, _integer(name, getattr(self, name), low, high, none))
        object.__setattr__(self, "fault_rates", _shares("fault_rates", self.fault_rates))
        object.__setattr__(self, "sigmas", _shares("sigmas", self.sigmas))
        object.__setattr__(self, "sa1_share", _share("sa1_share", self.sa1_share))
        if self.quantizer_lr is not None:
            object.__setattr__(self, "quantizer_lr", check_number(self.quantizer_lr, "quantizer_lr", 0, 10,
                                                                  low_open=True))
        object.__setattr__(self, "qat_ramp", _share("qat_ramp", self.qat_ramp))
        object.__setattr__(self, "tune_ramp", _share("tune_ramp", self.tune_ramp))

    @classmethod
    def preset(cls, profile: str, *, bit_widths=(4, 3), activation_bits: int = 0, train_images: int = 0,
               qat_epochs: int = 0, tune_epochs: int = 0, test_images: int = 0, hardware_bits: int = 4,
               fault_rates=(0.0, 0.05, 0.1, 0.2, 0.3), sa1_share: float = 0.5, remaps: int = 5,
               sigmas=(0.05, 0.1, 0.2, 0.3, 0.4), quantizer_lr: float = 0.0, qat_ramp: float = 0.0,
               tune_ramp: float = 0.0, chips: int = 0, long_epochs: int = 0) -> "RegularizationConfig":
        """The chapter's settings for ``profile``, with the notebook's parameters (same names and meaning).

        The sizes per profile (0 for ``train_images``, ``qat_epochs``, ``tune_epochs``, ``test_images``,
        ``qat_ramp``, ``tune_ramp``, ``chips``, ``long_epochs`` keeps them): ``smoke`` 512 training images,
        1 + 1 epochs, 256 test images, lambda over the final half of every run, 2 fault maps and 2-epoch
        longer fine-tunes in the order check; ``default`` 8,000, 3 + 2, 2,000, the final half, 3 maps, 4
        epochs; ``paper`` all images, 30 + 20 epochs with lambda over the paper's final 10 % of QAT and final
        half of a fine-tune (its 20 of 200 and 10 of 20 epochs), 3 maps at its 20 epochs.
        ``quantizer_lr`` 0: the paper's for each variant.
        """
        sizes = _PROFILE_SIZES[check_profile(profile)]
        given = {"train_images": train_images, "qat_epochs": qat_epochs, "tune_epochs": tune_epochs,
                 "test_images": test_images, "chips": chips, "long_epochs": long_epochs}
        for name, value in given.items():
            given[name] = _integer(name, value, 0)
        chosen = {name: value or sizes[name] for name, value in given.items()}
        for name, value in (("qat_ramp", qat_ramp), ("tune_ramp", tune_ramp)):
            chosen[name] = _share(name, value) or sizes[name]
        try:
            quantizer_lr = check_number(quantizer_lr, "quantizer_lr", 0, 10)
        except (TypeError, ValueError) as error:
            raise type(error)(f"quantizer_lr must be 0 (the paper's) or a number in (0, 10]; got "
                              f"{quantizer_lr!r}") from None
        return cls(bit_widths=bit_widths, activation_bits=activation_bits, hardware_bits=hardware_bits,
                   fault_rates=fault_rates, sa1_share=sa1_share, remaps=remaps, sigmas=sigmas,
                   quantizer_lr=quantizer_lr or None, **chosen)

    def activations_for(self, bits: int) -> int | None:
        """LSQ bits of the inputs of a ``bits``-bit network (``None``: float)."""
        return None if self.activation_bits == -1 else (self.activation_bits or bits)

    def qat_config(self, bits: int, kind: str = "multipliers", ste: bool = False, tune: bool = False,
                   train_images: int | None = None, epochs: int | None = None,
                   ramp: float | None = None) -> QATConfig:
        """The :class:`~imckit.qat.training.QATConfig` of one fine-tune (``tune``: a fault- or
        variability-aware one, ``tune_epochs`` and ``tune_ramp``; else ``qat_epochs`` and ``qat_ramp``;
        ``epochs`` and ``ramp`` override them)."""
        return QATConfig(bits=bits, kind=kind, ste=ste,
                         epochs=epochs if epochs is not None else (self.tune_epochs if tune else self.qat_epochs),
                         train_images=train_images, activation_bits=self.activations_for(bits),
                         quantizer_lr=self.quantizer_lr,
                         ramp=ramp if ramp is not None else (self.tune_ramp if tune else self.qat_ramp))

    def quantizer_rate(self, variant: str = "float") -> float:
        """The quantizer learning rate used for ``variant`` (``"float"`` or ``"ste"``)."""
        return self.quantizer_lr if self.quantizer_lr is not None else PAPER_LAMBDAS[variant]["quantizer_lr"]


def order_rates(config: RegularizationConfig) -> list[tuple[int, float]]:
    """The order check's bit-fault rates: ``(index in config.fault_rates, rate)`` of the two highest non-zero
    rates, in the order of ``fault_rates`` (fewer when fewer are non-zero)."""
    ranked = sorted(((k, r) for k, r in enumerate(config.fault_rates) if r > 0), key=lambda kr: (-kr[1], kr[0]))
    chosen, seen = [], set()
    for k, r in ranked:
        if r not in seen and len(chosen) < 2:
            chosen.append((k, r))
            seen.add(r)
    return sorted(chosen)


def order_epochs(config: RegularizationConfig) -> tuple[int, ...]:
    """The order check's fine-tune lengths: ``tune_epochs`` and ``long_epochs`` (once when equal), ascending."""
    return tuple(sorted({config.tune_epochs, config.long_epochs}))


# --------------------------------------------------------------------------------------------------------
# decisions that turn numbers into sentences (the kit's numbers only; the paper's through the verdicts)


def activations_phrase(activation_bits: int) -> str:
    """How the quantized layers' inputs are quantized, for the prose."""
    if activation_bits == -1:
        return "float"
    return "as many bits as the weights" if activation_bits == 0 else f"{activation_bits} bits"


def best_variant(table, column: str) -> str:
    """The trained variant (row of ``table`` other than PTQ) with the highest accuracy in ``column``; on a tie
    the first in the table's order."""
    rows = table.drop(PTQ_LABEL, errors="ignore")[column]
    if rows.empty:
        raise ValueError("table has no trained variant")
    return str(rows.idxmax())


def table1_sentence(table, fp_accuracy: float) -> str:
    """Per bit width (column ``W<bits>``): the best variant, its accuracy and gap to float, and PTQ."""
    parts = []
    for column in table.columns:
        best = best_variant(table, column)
        value = table.loc[best, column]
        parts.append(f"At {column[1:]} bits the best variant is {best} ({value:.2f} %, "
                     f"{value - fp_accuracy:+.2f} points against float; PTQ {table.loc[PTQ_LABEL, column]:.2f} %).")
    return " ".join(parts)


def levels_sentence(moved: float, threshold: float = LEVELS_MOVED_THRESHOLD) -> str:
    """Whether the learned multipliers stayed near the initial grid: ``moved`` (the largest relative change of
    any multiplier) below ``threshold`` means they did."""
    if moved < threshold:
        return ("The levels stayed close to the initial grid, so fixed levels and N-multipliers differ here by "
                "what the same few epochs of training on nearly the same grid change, not by learned levels. "
                "The paper learns its multipliers over 200 epochs; the paper profile's 30 epochs and a larger "
                "quantizer_lr are the way to look for learned levels.")
    return ("The levels moved away from the initial grid: compare the N-multiplier and fixed-level rows of the "
            "table above for what that bought.")


def schedule_label(ramp: float) -> str:
    """``"final 10 %"``: how the chapter names a lambda schedule by its ramp (share of the run)."""
    return f"final {100 * ramp:.0f} %"


def schedule_sentence(table, tolerance: float, ramps: Sequence[float] = SCHEDULE_RAMPS) -> str:
    """The two lambda schedules at every bit width of ``table`` (:attr:`ScheduleResult.table`): accuracy,
    the difference (second ramp minus first) against ``tolerance`` (noise) and where the weights ended."""
    first, second = (schedule_label(r) for r in ramps)
    parts = []
    for bits in dict.fromkeys(table.index.get_level_values(0)):
        a, b = table.loc[(bits, first)], table.loc[(bits, second)]
        difference = float(b["accuracy (%)"] - a["accuracy (%)"])
        verdict_ = compare(b["accuracy (%)"], a["accuracy (%)"], tolerance)
        noise = "within noise" if verdict_ == "tie" else f"{'higher' if verdict_ == 'higher' else 'lower'} beyond noise"
        parts.append(f"At {bits[1:]} bits lambda over the {second} gives {b['accuracy (%)']:.2f} % and over the "
                     f"{first} {a['accuracy (%)']:.2f} % ({difference:+.2f} points, {noise}); the weights end "
                     f"{b['distance (level spacings)']:.3f} and {a['distance (level spacings)']:.3f} level "
                     "spacings from their levels before the final mapping.")
    return " ".join(parts) + (f" (Noise: {tolerance:.1f} points, two standard errors of a difference.)")


def schedule_reason(table, tolerance: float, ramps: Sequence[float] = SCHEDULE_RAMPS) -> str:
    """Why (or whether) a run of this length needs the longer ramp ``ramps[0]`` rather than ``ramps[1]`` (the
    paper's share): from where the weights end (distance to their levels) and the accuracy difference
    against ``tolerance``, at every bit width of ``table`` (:attr:`ScheduleResult.table`)."""
    first, second = (schedule_label(r) for r in ramps)
    widths = list(dict.fromkeys(table.index.get_level_values(0)))
    far = [b for b in widths if table.loc[(b, second), "distance (level spacings)"]
           > table.loc[(b, first), "distance (level spacings)"]]
    accuracy_word = {b: compare(table.loc[(b, second), "accuracy (%)"], table.loc[(b, first), "accuracy (%)"],
                                tolerance) for b in widths}
    worse = [b for b in widths if accuracy_word[b] == "lower"]
    better = [b for b in widths if accuracy_word[b] == "higher"]
    distance = "distance (level spacings)"
    ratios = ", ".join(f"{table.loc[(b, second), distance] / table.loc[(b, first), distance]:.1f} times at {b[1:]} bits"
                       for b in widths)
    bits = lambda group: " and ".join(b[1:] for b in group)  # noqa: E731
    accuracy = (f"it costs accuracy beyond noise at {bits(worse)} bits" if worse else
                f"it gains accuracy beyond noise at {bits(better)} bits" if better else
                "the accuracies differ within noise")
    if len(far) == len(widths):
        return (f"With lambda over the {second} the weights end farther from their levels at every bit width "
                f"({ratios} as far), and {accuracy}: in a run this short the {second} leaves the regularizer few "
                f"steps at a high lambda, which is why the shorter profiles raise it over the {first}.")
    return (f"With lambda over the {second} the weights end no farther from their levels at "
            f"{bits([b for b in widths if b not in far])} bits ({ratios} as far), and {accuracy}: at this size the "
            f"measurement does not call for the {first}.")


def compare(a: float, b: float, tolerance: float) -> str:
    """``"higher"`` if ``a`` exceeds ``b`` by more than ``tolerance``, ``"lower"`` if it falls short by more,
    else ``"tie"`` (:func:`imckit.experiments.stats.beyond_noise`: a difference of exactly ``tolerance`` is a
    tie)."""
    if not beyond_noise(float(a) - float(b), tolerance):
        return "tie"
    return "higher" if a > b else "lower"


def mitigation_ranking(row: Mapping[str, float], mitigations: Sequence[str] = MITIGATIONS) -> list[str]:
    """The mitigation levels by accuracy in ``row``, best first; equal accuracies keep ``mitigations``' order."""
    missing = [m for m in mitigations if m not in row]
    if missing:
        raise ValueError(f"row has no accuracy for {missing}")
    return sorted(mitigations, key=lambda m: -row[m])


def ranking_sentence(row: Mapping[str, float], mitigations: Sequence[str] = MITIGATIONS,
                     spread: Mapping[str, float] | None = None) -> str:
    """``"active+passive 17.6 %, passive 17.2 %, ..."``: the ranking with the accuracies (``± spread`` each
    when given)."""
    return ", ".join(f"{m} {row[m]:.1f}" + (f" ± {spread[m]:.1f}" if spread is not None else "") + " %"
                     for m in mitigation_ranking(row, mitigations))


def order_verdict(values: Mapping[str, float], tolerance: float,
                  claim_id: str = "fig7a-mitigation-order") -> Verdict:
    """The verdict of :mod:`imckit.papers.verdict` on the paper's order ``claim_id`` for the kit's ``values``
    (name -> accuracy), with kit values closer than ``max(tolerance, the claim's tolerance)`` counted as ties
    (the order check passes the spread over its fault maps)."""
    tolerance = check_number(tolerance, "tolerance", 0)
    claim = paper_claim(claim_id)
    if claim.compare.kind != "order":
        raise ValueError(f"claim_id must name an order claim; {claim_id!r} is {claim.compare.kind!r}")
    widened = replace(claim, compare=replace(claim.compare, tolerance=max(claim.compare.tolerance, float(tolerance))))
    return verdict(widened, dict(values))


def multipliers_sentence(table, tolerance: float) -> str:
    """N-multipliers against fixed levels at every bit width of ``table``: the differences and whether any
    exceeds ``tolerance`` (noise)."""
    a, b = VARIANT_LABELS[("multipliers", False)], VARIANT_LABELS[("fixed", False)]
    diffs = {column: float(table.loc[a, column] - table.loc[b, column]) for column in table.columns}
    listed = ", ".join(f"{d:+.2f} points at {c[1:]} bits" for c, d in diffs.items())
    verdicts = {c: compare(table.loc[a, c], table.loc[b, c], tolerance) for c in diffs}
    if all(v == "tie" for v in verdicts.values()):
        return (f"N-multipliers against fixed levels: {listed}; all within noise ({tolerance:.1f} points, two "
                f"standard errors of a difference).")
    beyond = ", ".join(f"{'better' if v == 'higher' else 'worse'} at {c[1:]} bits"
                       for c, v in verdicts.items() if v != "tie")
    return (f"N-multipliers against fixed levels: {listed}; beyond noise ({tolerance:.1f} points, two standard "
            f"errors of a difference) N-multipliers are {beyond}.")


def aware_sentence(aware: float, loop: float, tolerance: float) -> str:
    """Variability-aware fine-tuning against chip-in-loop training at one sigma/mu: the difference and whether
    it exceeds ``tolerance`` (noise)."""
    verdict_ = compare(aware, loop, tolerance)
    if verdict_ == "tie":
        return (f"The two differ by {aware - loop:+.1f} points, within noise ({tolerance:.1f} points, two standard "
                "errors of a difference).")
    word = "better" if verdict_ == "higher" else "worse"
    return (f"Variability-aware fine-tuning is {word} by {abs(aware - loop):.1f} points, more than noise "
            f"({tolerance:.1f} points).")


def least_favourable(table, better: str, worse: str, positive: bool = True):
    """The index of ``table`` (a sweep's) where ``better`` leads ``worse`` least (rows with index 0 left out
    when ``positive``: a fault rate of 0 has nothing to mitigate); ``None`` when no row is left."""
    rows = table[table.index > 0] if positive else table
    if rows.empty:
        return None
    return (rows[better] - rows[worse]).idxmin()


# --------------------------------------------------------------------------------------------------------
# data (the fine-tunes and evaluations are imckit.experiments.regularization_steps')


@dataclass(frozen=True, eq=False)
class ChapterData:
    """The images and the reference accuracy every experiment of the chapter uses.

    Attributes:
        model: the float baseline (CPU).
        train_set: the training images of every fine-tune (``config.train_images`` of the baseline's).
        test_set: the test images of every accuracy (``config.test_images`` of the baseline's).
        all_train_images: the baseline's training images (what the paper profile trains on).
        modules: the quantized modules (every conv/dense layer but the first and the last).
        fp_accuracy: the float baseline's accuracy on ``test_set`` (%).
    """

    model: nn.Module
    train_set: ImageTensors
    test_set: ImageTensors
    all_train_images: int
    modules: list[str]
    fp_accuracy: float

    @property
    def standard_error(self) -> float:
        """Standard error of one accuracy on ``test_set`` (points), at the float accuracy
        (:func:`imckit.experiments.stats.standard_error`)."""
        return standard_error(self.fp_accuracy, len(self.test_set))

    @property
    def tolerance(self) -> float:
        """The largest difference between two accuracies on ``test_set`` called noise (points): twice the
        standard error of a difference (:func:`imckit.experiments.stats.noise_tolerance`), ``2 sqrt(2)``
        :attr:`standard_error`."""
        return noise_tolerance(standard_error_of_difference(self.fp_accuracy, len(self.test_set)))


def _subset(data: ImageTensors, size: int | None, seed: int) -> ImageTensors:
    return data.subset(min(size, len(data)) if size else None, seed=seed)


def chapter_data(baseline, config: RegularizationConfig, seed: int, device: str = "cpu") -> ChapterData:
    """The chapter's images (subsets drawn with ``seed``) and the float accuracy.

    Args:
        baseline: the trained baseline (:func:`imckit.core.training.pretrained`'s result, or anything with
            ``model``, ``train_set`` and ``test_set``).
        config: the chapter's settings.
        seed: seed of the subsets.
        device: where the float accuracy is evaluated.
    """
    check_config(config, "config", RegularizationConfig)
    seed = check_seed(seed)
    check_device(device)
    train_set = _subset(baseline.train_set, config.train_images, seed)
    test_set = _subset(baseline.test_set, config.test_images, seed)
    fp = 100 * accuracy(baseline.model, test_set, None, device)
    return ChapterData(baseline.model, train_set, test_set, len(baseline.train_set),
                       quantized_modules(baseline.model), fp)


# --------------------------------------------------------------------------------------------------------
# Table 1 and the learned levels


@dataclass(frozen=True, eq=False)
class LevelsData:
    """Where the learned levels of one layer went (the paper's Fig. 4).

    Attributes:
        layer: the module shown (the middle quantized module).
        bits: its weight bits.
        before, after: its levels before and after N-multiplier training, sorted.
        weights_before, weights_after: its float weights before and after training (flattened).
        ratios: its learned multipliers over their initial values, per bit.
        moved: the largest relative change of any multiplier of any layer (0.01: 1 %).
        distance: mean distance of the trained weights to their nearest level, in level spacings, at the
            end of training (before the final mapping).
        quantizer_lr: the quantizer learning rate it trained with.
    """

    layer: str
    bits: int
    before: torch.Tensor
    after: torch.Tensor
    weights_before: torch.Tensor
    weights_after: torch.Tensor
    ratios: list[float]
    moved: float
    distance: float
    quantizer_lr: float

    @property
    def verdict(self) -> str:
        """:func:`levels_sentence` of :attr:`moved`."""
        return levels_sentence(self.moved)


def _levels_data(baseline: nn.Module, result: QATResult, modules: list[str], bits: int) -> LevelsData:
    layer = modules[len(modules) // 2]
    with torch.no_grad():
        start = {m: LevelQuantizer(bits, "multipliers", baseline.get_submodule(m).weight) for m in modules}
        ratios = (result.quantizers[layer].multipliers() / start[layer].multipliers()).tolist()
        moved = max(float((q.multipliers() / start[m].multipliers() - 1).abs().max())
                    for m, q in result.quantizers.items())
        return LevelsData(
            layer, bits, torch.sort(start[layer].levels()).values, torch.sort(result.quantizers[layer].levels()).values,
            baseline.get_submodule(layer).weight.detach().flatten().clone(),
            result.model.get_submodule(layer).weight.detach().flatten().clone(),
            ratios, moved, float(result.history["distance"][-1]), result.config.quantizer_rate())


@dataclass(frozen=True, eq=False)
class QuantizationResult:
    """Table 1: post-training quantization and the four quantization-aware variants per bit width.

    Attributes:
        config: the settings.
        data: the images and the float accuracy.
        table: accuracy (%) per variant (rows: PTQ, then :data:`VARIANT_LABELS`) and bit width (``W<bits>``).
        results: ``(bits, kind, ste)`` -> the fine-tuned network.
        seconds: the seconds of each fine-tune, as measured when it ran.
        levels: where the levels of the first bit width's N-multiplier network went.
        computed: fine-tunes run in this call (0: all from the cache).
    """

    config: RegularizationConfig
    data: ChapterData
    table: object  # pandas.DataFrame
    results: dict[tuple[int, str, bool], QATResult]
    seconds: list[float]
    levels: LevelsData
    computed: int

    @property
    def delta(self):
        """The table minus the float accuracy (points)."""
        return self.table - self.data.fp_accuracy

    @property
    def mean_seconds(self) -> float:
        return float(np.mean(self.seconds))

    def summary(self) -> str:
        """:func:`table1_sentence`."""
        return table1_sentence(self.table, self.data.fp_accuracy)

    def multipliers_verdict(self) -> str:
        """:func:`multipliers_sentence` at the test images' noise."""
        return multipliers_sentence(self.table, self.data.tolerance)


def _check_run(config, seed, data, baseline, device):
    check_config(config, "config", RegularizationConfig)
    check_int(check_seed(seed), "seed", 0, SEED_LIMIT)
    check_device(device)
    if data is not None:
        check_config(data, "data", ChapterData)
    return data if data is not None else chapter_data(baseline, config, seed, device)


def run_quantization(baseline, config: RegularizationConfig, *, seed: int = 0, data: ChapterData | None = None,
                     device: str = "cpu", cache=None, progress: bool = False) -> QuantizationResult:
    """Table 1 (module docstring).

    Args:
        baseline: the trained baseline (anything with ``model``, ``train_set``, ``test_set``).
        config: the chapter's settings (:meth:`RegularizationConfig.preset`).
        seed: seed of the subsets and the fine-tunes' batch orders.
        data: :func:`chapter_data` of the same baseline, config and seed, if already computed.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        cache: the cache folder (``None``: the default).
        progress: progress bars over the fine-tunes' steps.
    """
    data = _check_run(config, seed, data, baseline, device)
    import pandas as pd

    table, results, seconds, computed = {}, {}, [], 0
    for bits in config.bit_widths:
        column = {PTQ_LABEL: deployed_accuracy(post_training(data.model, bits), data.test_set, device)}
        for kind, ste in VARIANTS:
            qat = config.qat_config(bits, kind, ste, train_images=len(data.train_set))
            run_ = fine_tune(data.model, data.train_set, qat, seed, device=device, cache=cache, progress=progress)
            results[(bits, kind, ste)] = run_.result
            seconds.append(run_.seconds)
            computed += not run_.from_cache
            column[VARIANT_LABELS[(kind, ste)]] = deployed_accuracy(run_.result, data.test_set, device)
        table[f"W{bits}"] = column
    first = config.bit_widths[0]
    levels = _levels_data(data.model, results[(first, "multipliers", False)], data.modules, first)
    return QuantizationResult(config, data, pd.DataFrame(table), results, seconds, levels, computed)


def _start(data: ChapterData, config: RegularizationConfig, seed: int, device, cache, progress) -> FineTune:
    """The start network of both sweeps: the ``hardware_bits`` N-multiplier network of Table 1."""
    qat = config.qat_config(config.hardware_bits, train_images=len(data.train_set))
    return fine_tune(data.model, data.train_set, qat, seed, device=device, cache=cache, progress=progress)


# --------------------------------------------------------------------------------------------------------
# the lambda schedule


@dataclass(frozen=True, eq=False)
class ScheduleResult:
    """The N-multiplier fine-tune of every bit width under the two lambda schedules of
    :data:`SCHEDULE_RAMPS`, at the same epochs.

    Attributes:
        config: the settings.
        data: the images and the float accuracy.
        table: per (weight bits ``W<bits>``, schedule :func:`schedule_label`): ``ramp`` (the share of the run
            over which lambda rises), ``accuracy (%)`` after the final mapping and ``distance (level
            spacings)``, the trained weights' mean distance to their nearest level before it.
        histories: ``(bits, ramp)`` -> the fine-tune's per-epoch history (``lambda``, ``distance``, ...).
        seconds: the seconds of the fine-tunes Table 1 does not already hold (the other schedule's).
        computed: fine-tunes run in this call (0: all from the cache).
    """

    config: RegularizationConfig
    data: ChapterData
    table: object  # pandas.DataFrame
    histories: dict[tuple[int, float], dict[str, list[float]]]
    seconds: list[float]
    computed: int

    def differences(self):
        """Per bit width: accuracy and distance of the second schedule minus the first (points, level
        spacings) and :func:`compare`'s word at the test images' noise."""
        import pandas as pd

        first, second = (schedule_label(r) for r in SCHEDULE_RAMPS)
        rows = {}
        for bits in dict.fromkeys(self.table.index.get_level_values(0)):
            a, b = self.table.loc[(bits, first)], self.table.loc[(bits, second)]
            rows[bits] = {"accuracy (points)": b["accuracy (%)"] - a["accuracy (%)"],
                          "distance (level spacings)": b["distance (level spacings)"] - a["distance (level spacings)"],
                          "beyond noise": compare(b["accuracy (%)"], a["accuracy (%)"], self.data.tolerance)}
        return pd.DataFrame(rows).T

    def summary(self) -> str:
        """:func:`schedule_sentence` at the test images' noise."""
        return schedule_sentence(self.table, self.data.tolerance)

    def reason(self) -> str:
        """:func:`schedule_reason` at the test images' noise."""
        return schedule_reason(self.table, self.data.tolerance)


def run_schedules(baseline, config: RegularizationConfig, *, seed: int = 0, data: ChapterData | None = None,
                  device: str = "cpu", cache=None, progress: bool = False) -> ScheduleResult:
    """The lambda schedules (module docstring); arguments as :func:`run_quantization`. The fine-tune at
    ``config.qat_ramp`` is Table 1's (from the cache when it ran)."""
    data = _check_run(config, seed, data, baseline, device)
    import pandas as pd

    rows, histories, seconds, computed = {}, {}, [], 0
    for bits in config.bit_widths:
        for ramp in SCHEDULE_RAMPS:
            qat = config.qat_config(bits, train_images=len(data.train_set), ramp=ramp)
            run_ = fine_tune(data.model, data.train_set, qat, seed, device=device, cache=cache, progress=progress)
            if ramp != config.qat_ramp:
                seconds.append(run_.seconds)
            computed += not run_.from_cache
            histories[(bits, ramp)] = run_.result.history
            rows[(f"W{bits}", schedule_label(ramp))] = {
                "ramp": ramp, "accuracy (%)": deployed_accuracy(run_.result, data.test_set, device),
                "distance (level spacings)": run_.result.history["distance"][-1]}
    table = pd.DataFrame(rows).T
    table.index.names = ["weights", "lambda rises over the"]
    return ScheduleResult(config, data, table.astype(float), histories, seconds, computed)


# --------------------------------------------------------------------------------------------------------
# the sweeps


@dataclass(frozen=True, eq=False)
class SweepResult:
    """One sweep: accuracy against the bit-fault rate (Figs. 6 and 7a, :class:`FaultSweepResult`) or against
    the LRS variability (Fig. 7b, :class:`VariabilitySweepResult`).

    Attributes:
        config: the settings.
        data: the images and the float accuracy.
        table: per swept value (the index: bit-fault rate in %, or sigma/mu): for faults the share of weights
            with a stuck cell (%), then the two references without fine-tuning and the accuracy (%) after each
            method (the four mitigation levels; variability-aware and chip-in-loop training).
        seconds: the seconds of each fine-tune, as measured when it ran.
        computed: sweep points and fine-tunes computed in this call (0: all from the cache).
    """

    config: RegularizationConfig
    data: ChapterData
    table: object  # pandas.DataFrame
    seconds: list[float]
    computed: int

    @property
    def mean_seconds(self) -> float:
        return float(np.mean(self.seconds))

    @property
    def largest(self) -> float:
        """The largest swept value, in the unit of the table's index (bit-fault rate in %, or sigma/mu)."""
        return float(self.table.index.max())

    def last(self):
        """The table's row at the largest swept value."""
        return self.table.loc[self.table.index.max()]


class FaultSweepResult(SweepResult):
    """Figs. 6 and 7a: accuracy against the bit-fault rate (see :class:`SweepResult`)."""

    def ranking(self) -> str:
        """:func:`ranking_sentence` at the largest bit-fault rate."""
        return ranking_sentence(self.last())


class VariabilitySweepResult(SweepResult):
    """Fig. 7b: accuracy against the LRS variability (see :class:`SweepResult`)."""

    def aware_verdict(self) -> str:
        """:func:`aware_sentence` at the largest sigma/mu."""
        row = self.last()
        return aware_sentence(row["variability-aware"], row["chip-in-loop"], self.data.tolerance)


def _run_sweep(kind: str, baseline, config: RegularizationConfig, seed: int, data: ChapterData | None, device,
               cache, progress) -> SweepResult:
    data = _check_run(config, seed, data, baseline, device)
    import pandas as pd

    start = _start(data, config, seed, device, cache, progress)
    tune = config.qat_config(config.hardware_bits, tune=True, train_images=len(data.train_set))
    values = config.fault_rates if kind == "faults" else config.sigmas
    rows, seconds, computed = [], [], int(not start.from_cache)
    for k, value in enumerate(values):
        point, hit = sweep_point(kind, start.result, data.train_set, data.test_set, data.modules, value, k, seed,
                                 tune=tune, sa1_share=config.sa1_share, remaps=config.remaps, device=device,
                                 cache=cache, progress=progress)
        rows.append(point["row"])
        seconds += point["seconds"]
        computed += 0 if hit else 1 + point["computed"]
    table = pd.DataFrame(rows)
    table = table.set_index(table.columns[0])  # the swept value: "bit-fault rate (%)" or "σ/μ"
    result = FaultSweepResult if kind == "faults" else VariabilitySweepResult
    return result(config, data, table, seconds, computed)


def run_fault_sweep(baseline, config: RegularizationConfig, *, seed: int = 0, data: ChapterData | None = None,
                    device: str = "cpu", cache=None, progress: bool = False) -> FaultSweepResult:
    """Figs. 6 and 7a (module docstring); arguments as :func:`run_quantization`. Fault map ``k`` (of
    ``config.fault_rates[k]``) is drawn with seed ``1000 seed + k``, its fine-tunes use seed ``seed + k``
    (:func:`imckit.experiments.regularization_steps.sweep_point`)."""
    return _run_sweep("faults", baseline, config, seed, data, device, cache, progress)


def run_variability_sweep(baseline, config: RegularizationConfig, *, seed: int = 0,
                          data: ChapterData | None = None, device: str = "cpu", cache=None,
                          progress: bool = False) -> VariabilitySweepResult:
    """Fig. 7b (module docstring); arguments as :func:`run_quantization`. Chip ``k`` (of ``config.sigmas[k]``)
    is drawn with seed ``1000 seed + 500 + k``, its fine-tunes use seed ``seed + k``
    (:func:`imckit.experiments.regularization_steps.sweep_point`)."""
    return _run_sweep("variability", baseline, config, seed, data, device, cache, progress)


# --------------------------------------------------------------------------------------------------------
# the order of the mitigation levels: longer fine-tunes, several fault maps


@dataclass(frozen=True, eq=False)
class FaultOrderResult:
    """The order check of the mitigation levels (module docstring).

    Attributes:
        config: the settings.
        data: the images and the float accuracy.
        runs: one row per (bit-fault rate in %, epochs, chip): the share of faulty weights (%), the two
            references without fine-tuning and the accuracy (%) after each mitigation level.
        seconds: the seconds of each fine-tune not shared with the sweep (chip 0 at ``tune_epochs`` is the
            sweep's point), as measured when it ran.
        epochs: the epochs of each entry of ``seconds``.
        computed: points and fine-tunes computed in this call (0: all from the cache).
    """

    config: RegularizationConfig
    data: ChapterData
    runs: object  # pandas.DataFrame
    seconds: list[float]
    epochs: list[int]
    computed: int

    @property
    def cells(self) -> list[tuple[float, int]]:
        """The (bit-fault rate in %, epochs) pairs, in the table's order."""
        return list(dict.fromkeys((r, e) for r, e, _ in self.runs.index))

    @property
    def headline(self) -> tuple[float, int]:
        """The cell closest to the paper's setting: the highest rate after the longest fine-tunes."""
        return max(self.cells)

    def _cell(self, rate: float, epochs: int):
        rows = self.runs.xs((rate, epochs), level=(0, 1))
        if rows.empty:
            raise ValueError(f"no runs at a bit-fault rate of {rate} % and {epochs} epochs; cells: {self.cells}")
        return rows[list(MITIGATIONS)]

    def means(self, rate: float, epochs: int) -> dict[str, float]:
        """Mean accuracy (%) of each mitigation level over the fault maps of one cell."""
        return {m: float(v) for m, v in self._cell(rate, epochs).mean().items()}

    def stds(self, rate: float, epochs: int) -> dict[str, float]:
        """Standard deviation (points, ``ddof=1``) of each level's accuracy over the fault maps; 0 with one
        map."""
        cell = self._cell(rate, epochs)
        return {m: float(v) if len(cell) > 1 else 0.0 for m, v in cell.std(ddof=1).items()}

    def spread(self, rate: float, epochs: int) -> float:
        """The cell's spread: the largest standard deviation over the fault maps among the four levels
        (points); ``nan`` with one map."""
        return max(self.stds(rate, epochs).values()) if self.config.chips > 1 else float("nan")

    def tolerance(self, rate: float, epochs: int) -> float:
        """The tie tolerance of the cell's order verdict: :meth:`spread` (with one map the test images' noise
        of a difference, :attr:`ChapterData.tolerance`), at least the paper claim's own tolerance."""
        spread = self.spread(rate, epochs)
        own = self.data.tolerance if math.isnan(spread) else spread
        return max(own, paper_claim("fig7a-mitigation-order").compare.tolerance)

    def summary(self):
        """Per cell (index: bit-fault rate in %, epochs): ``mean ± std`` (%) of each level, the ranking, the
        spread, and the verdict on the paper's order with the spread as tie tolerance (:func:`order_verdict`)."""
        import pandas as pd

        rows = {}
        for rate, epochs in self.cells:
            means, stds = self.means(rate, epochs), self.stds(rate, epochs)
            result = order_verdict(means, self.tolerance(rate, epochs))
            rows[(rate, epochs)] = {
                **{m: f"{means[m]:.1f} ± {stds[m]:.1f}" for m in MITIGATIONS},
                "fault maps": int(len(self._cell(rate, epochs))),
                "ranking": " > ".join(mitigation_ranking(means)),
                "tie tolerance (points)": round(self.tolerance(rate, epochs), 2),
                "paper's order": result.verdict, "reason": result.reason}
        table = pd.DataFrame(rows).T
        table.index.names = ["bit-fault rate (%)", "epochs"]
        return table

    def ranking(self, rate: float, epochs: int) -> str:
        """:func:`ranking_sentence` of the cell's means with their standard deviations."""
        return ranking_sentence(self.means(rate, epochs), spread=self.stds(rate, epochs))

    def difference_sentence(self, a: str, b: str) -> str:
        """Level ``a`` minus level ``b`` in every cell: the mean over the fault maps (points) and whether it
        exceeds the cell's tie tolerance (:meth:`tolerance`)."""
        missing = [m for m in (a, b) if m not in MITIGATIONS]
        if missing:
            raise ValueError(f"a and b must be mitigation levels {MITIGATIONS}; got {missing}")
        parts = []
        for rate, epochs in self.cells:
            means, tolerance = self.means(rate, epochs), self.tolerance(rate, epochs)
            difference = means[a] - means[b]
            word = "beyond" if beyond_noise(difference, tolerance) else "within"
            parts.append(f"{difference:+.1f} points at {rate:g} % after {epochs} epoch{'s' * (epochs != 1)} "
                         f"({word} the tie tolerance of {tolerance:.1f})")
        return f"{a.capitalize()} minus {b}, mean over the fault maps: " + "; ".join(parts) + "."


def run_fault_order(baseline, config: RegularizationConfig, *, seed: int = 0, data: ChapterData | None = None,
                    device: str = "cpu", cache=None, progress: bool = False) -> FaultOrderResult:
    """The order check (module docstring); arguments as :func:`run_quantization`. At the rates of
    :func:`order_rates`, for each length of :func:`order_epochs`, ``config.chips`` fault maps: map ``c`` of
    ``config.fault_rates[k]`` is drawn and fine-tuned with the seeds of
    :func:`imckit.experiments.regularization_steps.chip_seeds` (map 0 is the sweep's, and at ``tune_epochs``
    its point is the sweep's cached one)."""
    data = _check_run(config, seed, data, baseline, device)
    import pandas as pd

    start = _start(data, config, seed, device, cache, progress)
    rows, index, seconds, epochs_, computed = [], [], [], [], int(not start.from_cache)
    for k, rate in order_rates(config):
        for epochs in order_epochs(config):
            tune = config.qat_config(config.hardware_bits, tune=True, train_images=len(data.train_set),
                                     epochs=epochs)
            for chip in range(config.chips):
                point, hit = sweep_point("faults", start.result, data.train_set, data.test_set, data.modules, rate,
                                         k, seed, tune=tune, sa1_share=config.sa1_share, remaps=config.remaps,
                                         chip=chip, device=device, cache=cache, progress=progress)
                row = dict(point["row"])
                index.append((row.pop("bit-fault rate (%)"), epochs, chip))
                rows.append(row)
                if not (chip == 0 and epochs == config.tune_epochs):  # else: the sweep's point
                    seconds += point["seconds"]
                    epochs_ += [epochs] * len(point["seconds"])
                    computed += 0 if hit else 1 + point["computed"]
    runs = pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["bit-fault rate (%)", "epochs", "chip"]))
    return FaultOrderResult(config, data, runs, seconds, epochs_, computed)


# --------------------------------------------------------------------------------------------------------
# the whole chapter


def _planned_epochs(config: RegularizationConfig) -> dict[str, float]:
    """Epochs of fine-tuning the chapter runs for ``config`` (each fine-tune once, shared ones once):
    ``qat`` (Table 1 and the other lambda schedule) and ``tune`` (both sweeps and the order check)."""
    others = len([r for r in SCHEDULE_RAMPS if r != config.qat_ramp])
    qat = len(config.bit_widths) * (len(VARIANTS) + others) * config.qat_epochs
    sweep = sum(1 if rate == 0 else len(MITIGATIONS) for rate in config.fault_rates) * config.tune_epochs
    order = sum(len(MITIGATIONS) * epochs for _ in order_rates(config) for epochs in order_epochs(config)
                for chip in range(config.chips) if not (chip == 0 and epochs == config.tune_epochs))
    variability = len(VARIABILITY_METHODS) * len(config.sigmas) * config.tune_epochs
    return {"qat": float(qat), "tune": float(sweep + order + variability)}


@dataclass(frozen=True, eq=False)
class RegularizationResult:
    """The whole chapter: :attr:`quantization`, :attr:`schedules`, :attr:`faults`, :attr:`order`,
    :attr:`variability` and the cost estimate."""

    quantization: QuantizationResult
    schedules: ScheduleResult
    faults: FaultSweepResult
    order: FaultOrderResult
    variability: VariabilitySweepResult

    @property
    def data(self) -> ChapterData:
        """The images and the float accuracy all experiments use."""
        return self.quantization.data

    @property
    def config(self) -> RegularizationConfig:
        return self.quantization.config

    @property
    def tune_seconds(self) -> float:
        """Mean seconds of a fault- or variability-aware fine-tune of ``tune_epochs`` (both sweeps), as
        measured when it ran."""
        return float(np.mean(self.faults.seconds + self.variability.seconds))

    @property
    def seconds(self) -> dict[str, float]:
        """Seconds of fine-tuning per experiment, each fine-tune counted once, as measured when it ran (the
        cold cost of this run's fine-tunes; evaluations not included)."""
        return {"Table 1": float(sum(self.quantization.seconds)),
                "lambda schedules": float(sum(self.schedules.seconds)),
                "fault sweep": float(sum(self.faults.seconds)), "order check": float(sum(self.order.seconds)),
                "variability sweep": float(sum(self.variability.seconds))}

    @property
    def paper_hours(self) -> float:
        """Hours the ``paper`` profile would take at the measured speed per image and epoch (QAT and the
        fault- and variability-aware fine-tunes measured apart), on all of the baseline's training images:
        its 30 epochs of QAT per Table 1 variant and for the other lambda schedule, and 20 per fine-tune of
        both sweeps and of the order check."""
        config, data = self.config, self.data
        n = len(data.train_set)
        here, paper = _planned_epochs(config), _planned_epochs(RegularizationConfig.preset("paper"))
        seconds = self.seconds
        per_qat = (seconds["Table 1"] + seconds["lambda schedules"]) / (here["qat"] * n)
        per_tune = (seconds["fault sweep"] + seconds["order check"] + seconds["variability sweep"]) / (here["tune"] * n)
        return float(data.all_train_images * (paper["qat"] * per_qat + paper["tune"] * per_tune) / 3600)

    @property
    def computed(self) -> int:
        """Sweep points and fine-tunes computed in this run (0: all from the cache)."""
        return sum(part.computed for part in (self.quantization, self.schedules, self.faults, self.order,
                                              self.variability))


def run(baseline, config: RegularizationConfig, *, seed: int = 0, device: str = "cpu", cache=None,
        progress: bool = False) -> RegularizationResult:
    """All five experiments of the chapter (arguments as :func:`run_quantization`)."""
    data = _check_run(config, seed, None, baseline, device)
    common = {"seed": seed, "data": data, "device": device, "cache": cache, "progress": progress}
    return RegularizationResult(run_quantization(baseline, config, **common),
                                run_schedules(baseline, config, **common),
                                run_fault_sweep(baseline, config, **common),
                                run_fault_order(baseline, config, **common),
                                run_variability_sweep(baseline, config, **common))


# --------------------------------------------------------------------------------------------------------
# the paper's numbers beside the kit's: Table 1, Tables 5 and 6, the verdict table


def paper_table1():
    """The paper's Table 1 rows of its own method (ResNet-18 on CIFAR-10): accuracy (%) and the change
    against float (points) per variant and bit width, from the data file."""
    import pandas as pd

    rows = {}
    for bits in (4, 3):
        order = paper_claim(f"table1-w{bits}-variant-order").value
        for label, claim_id in (("fixed levels", f"table1-fixed-w{bits}-vs-float"),
                                ("N-multipliers", f"table1-n-multipliers-w{bits}-vs-float")):
            rows.setdefault(label, {})[f"W{bits}/A{bits} (%)"] = order[label]
            rows[label][f"W{bits}/A{bits} Δ FP (points)"] = paper_claim(claim_id).value
    return pd.DataFrame(rows).T


def _table_claims(table: str) -> list[Claim]:
    return [c for c in load_claims(chapter="regularization", paper=PAPER) if c.where.get("table") == table
            and isinstance(c.value, Mapping) and "accuracy" in c.value]


def _counterpart(claim: Claim) -> str | None:
    method = claim.where["row"].split(",")[0].strip()
    key = (claim.where["table"], method)
    if key not in COUNTERPARTS:
        raise ValueError(f"no counterpart for {claim.key} (row {claim.where['row']!r})")
    return COUNTERPARTS[key]


def table_kit_value(claim: Claim, sweep: SweepResult) -> tuple[dict | None, str]:
    """The kit's run beside a row of the paper's Table 5 or 6: ``({accuracy, Δ FP, bit-fault rate or σ/μ},
    "")`` of the row's counterpart method (:data:`COUNTERPARTS`) at the same rate in ``sweep``, or ``(None,
    reason)``."""
    method = _counterpart(claim)
    if method is None:
        return None, "the kit runs no counterpart of this method"
    name = "bit-fault rate" if "bit-fault rate" in claim.value else "σ/μ"
    wanted = claim.value[name] if name == "bit-fault rate" else claim.value[name] / 100  # the sweeps' index units
    found = [v for v in sweep.table.index if math.isclose(float(v), wanted, abs_tol=1e-9)]
    if not found:
        return None, f"the kit's sweep has no {name} of {claim.value[name]:g} %"
    row = sweep.table.loc[found[0]]
    value = {"accuracy": float(row[method]), "Δ FP": float(row[method] - sweep.data.fp_accuracy),
             name: claim.value[name]}
    return value, ""


def paper_rows(table: str, sweep: SweepResult, kit_setting: Mapping[str, str]):
    """The rows of the paper's Table 5 (``table="Table 5"``, beside the fault sweep) or Table 6 (beside
    the variability sweep), each beside the kit's counterpart run at the same bit-fault rate or sigma/mu,
    with the setting difference and the verdict (always "not comparable": other networks and datasets)."""
    import pandas as pd
    from imckit.papers.scorecard import setting_difference

    if table not in ("Table 5", "Table 6"):
        raise ValueError(f"table must be 'Table 5' or 'Table 6'; got {table!r}")
    rows = []
    for claim in _table_claims(table):
        name = "bit-fault rate" if "bit-fault rate" in claim.value else "σ/μ"
        kit, reason = table_kit_value(claim, sweep)
        method = _counterpart(claim)
        result = verdict(claim, kit, reason=reason)
        rows.append({"paper's row": claim.where["row"], "network": claim.setting.get("network", ""),
                     "dataset": claim.setting.get("dataset", ""), "bits": claim.setting.get("bits", ""),
                     f"{name} (%)": claim.value[name], "paper: accuracy (%)": claim.value["accuracy"],
                     "paper: Δ FP (points)": claim.value["Δ FP"], "kit's method": method or "—",
                     "kit: accuracy (%)": kit["accuracy"] if kit else float("nan"),
                     "kit: Δ float (points)": kit["Δ FP"] if kit else float("nan"),
                     "setting difference": setting_difference(claim.setting, kit_setting),
                     "verdict": result.verdict, "reason": reason or result.reason})
    return pd.DataFrame(rows)


def _bits_text(config: RegularizationConfig, bits: int) -> str:
    activations = config.activations_for(bits)
    return f"W{bits}/A{activations}" if activations is not None else f"W{bits}, float activations"


def kit_setting_for(result: RegularizationResult, baseline) -> dict[str, dict[str, str]]:
    """The kit's setting in the keys of the data file, per kind of claim: ``"quantization"`` (bits of the
    first width; :func:`scorecard` overrides them per width), ``"sweep"`` (one fault map or chip per point,
    ``tune_epochs``) and ``"order"`` (the order check's longer fine-tunes over ``chips`` maps)."""
    from imckit.experiments.setting import kit_setting

    config, data = result.config, result.data
    images = f"{len(data.train_set):,} images per epoch"
    tune = (f"{config.tune_epochs}-epoch fine-tune of the {config.qat_epochs}-epoch QAT network (lambda raised over "
            f"the final {100 * config.tune_ramp:.0f} %), {images}")
    long = (f"{config.long_epochs}-epoch fine-tune of the {config.qat_epochs}-epoch QAT network (lambda raised "
            f"over the final {100 * config.tune_ramp:.0f} %), {images}, {config.chips} fault maps")
    qat = f"QAT for {config.qat_epochs} epochs from the float network ({images})"
    base = kit_setting(baseline, bits=f"{config.hardware_bits}-bit", training=tune)
    return {"quantization": {**base, "bits": _bits_text(config, config.bit_widths[0]), "training": qat},
            "sweep": base, "order": {**base, "training": long}}


def scorecard(result: RegularizationResult, baseline, profile: str):
    """The chapter's "Paper vs this kit" table (:class:`imckit.papers.Scorecard`): every claim of
    ``seed002.yaml``'s chapter ``regularization`` with the kit's value from ``result``.

    Tables 1-3: the variants' accuracies (orders) and the change against float (directions, the noise of a
    difference as margin) at the same weight bits. Fig. 7a: the mitigation levels' means over the order
    check's fault maps at its highest rate after the longer fine-tunes (the spread as margin); at 20 %; and
    the sweep's least favourable rate for active+passive against passive. Fig. 7b: the variability sweep at
    sigma/mu 0.4 and at its least favourable sigma/mu. Tables 5 and 6 and the "tolerates" read-outs:
    :func:`table_kit_value` and the change against float of active+passive at the rate (qualitative).
    """
    from imckit.papers import Scorecard

    config, data = result.config, result.data
    settings = kit_setting_for(result, baseline)
    card = Scorecard("regularization", setting=settings["sweep"], profile=profile)
    q, tolerance = result.quantization, data.tolerance

    def quantization_setting(bits):
        return {**settings["quantization"], "bits": _bits_text(config, bits)}

    for claim_id, bits in (("table1-w4-variant-order", 4), ("table1-w3-variant-order", 3),
                           ("table2-w4-variant-order", 4), ("table2-w3-variant-order", 3),
                           ("table3-w3-variant-order", 3)):
        column, labels = f"W{bits}", list(paper_claim(claim_id).value)
        kit = {label: float(q.table.loc[label, column]) for label in labels} if column in q.table else None
        card.add(f"{PAPER}/{claim_id}", kit, margin=tolerance, setting=quantization_setting(bits),
                 reason=f"bit_widths has no {bits}")
    for claim_id, label, bits in (("table1-n-multipliers-w4-vs-float", "N-multipliers", 4),
                                  ("table1-n-multipliers-w3-vs-float", "N-multipliers", 3),
                                  ("table1-fixed-w4-vs-float", "fixed levels", 4),
                                  ("table1-fixed-w3-vs-float", "fixed levels", 3)):
        column = f"W{bits}"
        kit = float(q.delta.loc[label, column]) if column in q.table else None
        card.add(f"{PAPER}/{claim_id}", kit, margin=tolerance if kit is not None else None,
                 setting=quantization_setting(bits), reason=f"bit_widths has no {bits}")

    order, sweep = result.order, result.faults
    if order.cells:
        rate, epochs = order.headline
        card.add(f"{PAPER}/fig7a-mitigation-order", order.means(rate, epochs), margin=order.tolerance(rate, epochs),
                 setting=settings["order"],
                 note=f"the kit: {rate:g} % bit faults, {epochs}-epoch fine-tunes, mean of {config.chips} fault "
                      f"map(s), ties within ±{order.tolerance(rate, epochs):.1f} points (spread)")
    else:
        card.add(f"{PAPER}/fig7a-mitigation-order", None, reason="no non-zero bit-fault rate in fault_rates")
    worst = least_favourable(sweep.table, "active+passive", "passive")
    if worst is None:
        card.add(f"{PAPER}/fig7a-outperforms-nearest-valid", None, reason="no non-zero bit-fault rate swept")
    else:
        row = sweep.table.loc[worst]
        card.add(f"{PAPER}/fig7a-outperforms-nearest-valid", {m: float(row[m]) for m in ("active+passive", "passive")},
                 margin=tolerance, note=f"the sweep's least favourable rate: {worst:g} % (one fault map)")
    at20 = [cell for cell in order.cells if math.isclose(cell[0], 20.0)]
    if at20:
        cell = max(at20)
        means = order.means(*cell)
        card.add(f"{PAPER}/abstract-fault-recovery-20", {m: means[m] for m in ("active+passive", "passive")},
                 margin=order.tolerance(*cell), setting=settings["order"],
                 note=f"the kit: {cell[1]}-epoch fine-tunes, mean of {config.chips} fault map(s)")
    elif any(math.isclose(v, 20.0) for v in sweep.table.index):
        row = sweep.table.loc[[v for v in sweep.table.index if math.isclose(v, 20.0)][0]]
        card.add(f"{PAPER}/abstract-fault-recovery-20", {m: float(row[m]) for m in ("active+passive", "passive")},
                 margin=tolerance, note="the kit: the sweep (one fault map)")
    else:
        card.add(f"{PAPER}/abstract-fault-recovery-20", None, reason="the kit's sweep has no 20 % bit-fault rate")

    def delta_at(rate_percent, bits):
        rows = [v for v in sweep.table.index if math.isclose(v, rate_percent)]
        if config.hardware_bits != bits:
            return None, f"the fault experiments run at hardware_bits={config.hardware_bits}, not {bits}"
        if not rows:
            return None, f"the kit's sweep has no {rate_percent:g} % bit-fault rate"
        value = float(sweep.table.loc[rows[0], "active+passive"] - data.fp_accuracy)
        return value, ""

    for claim_id, rate_percent, bits in (("sec52-vgg13-4bit-tolerates-20", 20.0, 4),
                                         ("sec52-vgg13-3bit-tolerates-30", 30.0, 3),
                                         ("sec52-imagenet-4bit-tolerates-20", 20.0, 4)):
        value, reason = delta_at(rate_percent, bits)  # qualitative: the reason goes into the note
        card.add(f"{PAPER}/{claim_id}", value, reason=reason, note=reason,
                 kit_text=None if value is None else f"{value:+.1f} points against float at {rate_percent:g} %")
    for claim in _table_claims("Table 5"):
        kit, reason = table_kit_value(claim, sweep)
        card.add(claim.key, kit, reason=reason, note=reason or f"the kit's {_counterpart(claim)}")

    variability = result.variability
    methods = ("variability-aware", "chip-in-loop")
    at40 = [v for v in variability.table.index if math.isclose(v, 0.4)]
    if at40:
        row = variability.table.loc[at40[0]]
        card.add(f"{PAPER}/abstract-variability-recovery-40", {m: float(row[m]) for m in methods}, margin=tolerance,
                 note="the kit: one chip at sigma/mu 0.4")
    else:
        card.add(f"{PAPER}/abstract-variability-recovery-40", None, reason="the kit's sweep has no sigma/mu of 0.4")
    worst = least_favourable(variability.table, *methods, positive=False)
    row = variability.table.loc[worst]
    card.add(f"{PAPER}/fig7b-outperforms-chip-in-loop", {m: float(row[m]) for m in methods}, margin=tolerance,
             note=f"the sweep's least favourable sigma/mu: {worst:g} (one chip)")
    for claim in _table_claims("Table 6"):
        kit, reason = table_kit_value(claim, variability)
        card.add(claim.key, kit, reason=reason, note=reason or f"the kit's {_counterpart(claim)}")
    return card


# --------------------------------------------------------------------------------------------------------
# figures


def plot_levels(levels: LevelsData):
    """The paper's Fig. 4: a layer's levels before and after training, and its weights around them."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4), constrained_layout=True)
    left.step(np.arange(len(levels.before)), levels.before, where="mid", label="initial uniform grid")
    left.step(np.arange(len(levels.after)), levels.after, where="mid", label="after training")
    left.set(xlabel="level (sorted)", ylabel="weight value", title=f"levels of {levels.layer}")
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    w_before, w_after = levels.weights_before, levels.weights_after
    bins = np.linspace(float(min(w_before.min(), w_after.min())), float(max(w_before.max(), w_after.max())), 120)
    right.hist(w_before, bins=bins, alpha=0.5, label="float baseline")
    right.hist(w_after, bins=bins, alpha=0.5, label="after regularized training")
    for level in levels.after:
        right.axvline(float(level), color="0.3", lw=0.5)
    right.set(xlabel="weight", ylabel="count", title="weights around the levels")
    right.legend(fontsize=8)
    return fig


def plot_sweep(sweep: SweepResult):
    """Figs. 6/7a or 7b: every accuracy column of the sweep's table against its index (the references without
    fine-tuning dotted), with the float accuracy."""
    import matplotlib.pyplot as plt

    faults = isinstance(sweep, FaultSweepResult)
    columns = [c for c in sweep.table.columns if c != "faulty weights (%)"]
    styles = [":", ":", "o-", "s-", "^-", "D-"]
    fig, ax = plt.subplots(figsize=(6.5, 3.8), constrained_layout=True)
    for column, style in zip(columns, styles):
        ax.plot(sweep.table.index, sweep.table[column], style, ms=4, label=column)
    ax.axhline(sweep.data.fp_accuracy, color="0.5", lw=0.8, ls="--", label="float")
    bits = sweep.config.hardware_bits
    ax.set(xlabel="bit-fault rate (%)" if faults else "σ/μ of the LRS", ylabel="accuracy (%)",
           title=f"{bits}-bit network with {'stuck-at faults' if faults else 'LRS variability'}")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return fig


def plot_schedules(schedules: ScheduleResult):
    """The two lambda schedules: lambda over the run (left, log scale) and the weights' mean distance to
    their nearest level after each epoch (right), per bit width."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4), constrained_layout=True)
    progress = np.linspace(0, 1, 401)
    start, end = PAPER_LAMBDAS["float"]["lambda"]
    epochs = schedules.config.qat_epochs
    for ramp in SCHEDULE_RAMPS:
        left.plot(progress * epochs, [lambda_schedule(float(t), start, end, ramp) for t in progress],
                  label=f"lambda over the {schedule_label(ramp)}")
    left.set(xlabel="epoch", ylabel="lambda", yscale="log", title="the two schedules")
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    styles = {SCHEDULE_RAMPS[0]: "o-", SCHEDULE_RAMPS[1]: "s--"}
    for (bits, ramp), history in schedules.histories.items():
        right.plot(np.arange(1, len(history["distance"]) + 1), history["distance"], styles[ramp], ms=4,
                   label=f"W{bits}, {schedule_label(ramp)}")
    right.set(xlabel="epoch", ylabel="mean |w - level| (level spacings)", yscale="log",
              title="weights' distance to their levels")
    right.legend(fontsize=7)
    right.grid(alpha=0.3)
    return fig


def plot_fault_order(order: FaultOrderResult):
    """The order check: per bit-fault rate (one panel each), every mitigation level's accuracy on each fault
    map (dots) and its mean with one standard deviation (bars), per fine-tune length."""
    import matplotlib.pyplot as plt

    rates = list(dict.fromkeys(r for r, _ in order.cells))
    fig, axes = plt.subplots(1, max(len(rates), 1), figsize=(5 * max(len(rates), 1), 3.6), squeeze=False,
                             constrained_layout=True)
    lengths = list(dict.fromkeys(e for _, e in order.cells))
    x = np.arange(len(MITIGATIONS))
    for ax, rate in zip(axes[0], rates):
        for j, epochs in enumerate(lengths):
            if (rate, epochs) not in order.cells:
                continue
            offset = (j - (len(lengths) - 1) / 2) * 0.22
            cell = order._cell(rate, epochs)
            means, stds = order.means(rate, epochs), order.stds(rate, epochs)
            for i, m in enumerate(MITIGATIONS):
                ax.plot(np.full(len(cell), x[i] + offset), cell[m], ".", color=f"C{j}", alpha=0.5, ms=5)
            ax.errorbar(x + offset, [means[m] for m in MITIGATIONS], yerr=[stds[m] for m in MITIGATIONS], fmt="o",
                        color=f"C{j}", capsize=3, label=f"{epochs} epochs")
        ax.set_xticks(x, MITIGATIONS)
        ax.set(ylabel="accuracy (%)", title=f"{rate:g} % bit faults, {order.config.chips} fault map(s)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return fig


def verdict_sentences(card, bits=(4, 3)) -> dict[str, str]:
    """The chapter's sentences about the paper's results, each chosen by its claim's verdict in ``card``
    (:meth:`imckit.papers.Scorecard.sentence`, glued as ``says_<name>``). Returns name -> text."""
    texts = {}

    def say(name, key, **variants):
        texts[name] = card.sentence(key, name=name, **variants)

    for b in bits:
        say(f"rg_table1_w{b}", f"002/table1-w{b}-variant-order",
            reproduced=(f"At {b} bits the paper's order (N-multipliers above fixed levels, "
                        + "{paper}) holds here: {kit}."),
            same_direction=f"At {b} bits the order goes partly the paper's way: " + "{reason}.",
            differs=(f"At {b} bits the paper's order (N-multipliers above fixed levels) "
                     + "does not hold here: {kit} ({reason})."),
            not_comparable=f"At {b} bits there is no verdict: " + "{reason}.")
    say("rg_variants", "002/table2-w4-variant-order",
        reproduced="All four 4-bit variants rank as in the paper's ImageNet Table 2 (STE best): {kit}.",
        same_direction="The four 4-bit variants rank partly as in the paper's Table 2: {reason}.",
        differs="The four 4-bit variants do not rank as in the paper's Table 2 ({reason}).",
        not_comparable="The paper's ranking of the four variants (Table 2) has no verdict: {reason}.")
    say("rg_nearest_valid", "002/fig7a-outperforms-nearest-valid",
        reproduced="Active+passive is ahead of passive (nearest valid level mapping) beyond the tolerance at every "
                   "rate of the sweep, as the paper claims; where it leads least: {kit}.",
        differs="Active+passive is not ahead of passive at every rate of the sweep, which the paper claims: where "
                "it leads least, {kit} ({reason}).",
        not_comparable="Active+passive against passive has no verdict: {reason}.")
    say("rg_fault_order", "002/fig7a-mitigation-order",
        reproduced="No pair of levels is reversed against the paper's order beyond the tolerance, and most pairs "
                   "are ordered as in the paper: its order (active+passive, active, passive, basic) holds here.",
        same_direction="The paper's order holds only in part: {reason}.",
        differs="The paper's order does not hold here: {reason}.",
        not_comparable="The paper's order has no verdict: {reason}.")
    say("rg_variability_40", "002/abstract-variability-recovery-40",
        reproduced="At a sigma/mu of 0.4 variability-aware fine-tuning is ahead of chip-in-loop training beyond "
                   "the tolerance, as the paper claims: {kit}.",
        differs="At a sigma/mu of 0.4 the paper's claim that variability-aware fine-tuning recovers more than "
                "chip-in-loop training does not hold here ({reason}).",
        not_comparable="The paper's claim at a sigma/mu of 0.4 has no verdict: {reason}.")
    say("rg_variability_all", "002/fig7b-outperforms-chip-in-loop",
        reproduced="It is ahead beyond the tolerance at every sigma/mu of the sweep (where it leads least: {kit}).",
        differs="Over the whole sweep the paper's claim does not hold: {reason}.",
        not_comparable="Over the whole sweep there is no verdict: {reason}.")
    return texts


def chapter_text(result: RegularizationResult, config: RegularizationConfig) -> dict[str, str]:
    """Every number and sentence the chapter's prose shows (glue name -> text), from ``result`` (a :func:`run`
    with ``config``); the figures and tables are glued or shown by the notebook itself."""
    data, quantization, levels = result.data, result.quantization, result.quantization.levels
    faults, order, variability, seconds = result.faults, result.order, result.variability, result.seconds
    worst, top = faults.last(), variability.last()
    rate, epochs = order.headline
    return {
        "rg_fp": f"{data.fp_accuracy:.2f}", "rg_train_images": f"{len(data.train_set):,}",
        "rg_test_images": f"{len(data.test_set):,}", "rg_qat_epochs": f"{config.qat_epochs}",
        "rg_tune_epochs": f"{config.tune_epochs}", "rg_modules": f"{len(data.modules)}",
        "rg_activations": activations_phrase(config.activation_bits),
        "rg_qat_ramp": schedule_label(config.qat_ramp), "rg_tune_ramp": schedule_label(config.tune_ramp),
        # Table 1
        "rg_qat_seconds": f"{quantization.mean_seconds:.0f}", "rg_table1_text": quantization.summary(),
        "rg_se": f"{data.standard_error:.1f}", "rg_multipliers_text": quantization.multipliers_verdict(),
        # the levels the N-multipliers learn
        "rg_moved": f"{100 * levels.moved:.1f}", "rg_quantizer_lr": f"{levels.quantizer_lr:g}",
        "rg_levels_verdict": levels.verdict, "rg_multiplier_ratios": ", ".join(f"{r:.3f}" for r in levels.ratios),
        "rg_distance": f"{levels.distance:.3f}",
        # the lambda schedules
        "rg_schedule_text": result.schedules.summary(), "rg_schedule_reason": result.schedules.reason(),
        # the fault sweep
        "rg_hw_bits": f"{config.hardware_bits}", "rg_tune_seconds": f"{faults.mean_seconds:.0f}",
        "rg_worst_rate": f"{faults.largest:.0f}", "rg_worst_order": faults.ranking(),
        "rg_worst_naive": f"{worst['no fine-tuning, naive']:.1f}",
        "rg_worst_valid": f"{worst['no fine-tuning, nearest valid']:.1f}",
        "rg_worst_faulty": f"{worst['faulty weights (%)']:.0f}",
        # the mitigation order on several fault maps
        "rg_chips": f"{config.chips}", "rg_order_epochs": " and ".join(str(e) for e in order_epochs(config)),
        "rg_order_rate": f"{rate:g}", "rg_order_long": f"{epochs}", "rg_order_ranking": order.ranking(rate, epochs),
        "rg_order_seconds": f"{sum(order.seconds):.0f}",
        "rg_active_basic": order.difference_sentence("active", "basic"),
        "rg_active_passive": order.difference_sentence("active", "passive"),
        # the variability sweep
        "rg_top_sigma": f"{variability.largest:.2f}", "rg_top_aware": f"{top['variability-aware']:.1f}",
        "rg_top_loop": f"{top['chip-in-loop']:.1f}", "rg_top_ideal": f"{top['no fine-tuning, ideal mapping']:.1f}",
        "rg_top_mapping": f"{top['no fine-tuning, aware mapping']:.1f}", "rg_aware_text": variability.aware_verdict(),
        # cost
        "rg_all_images": f"{data.all_train_images:,}", "rg_all_tune_seconds": f"{result.tune_seconds:.0f}",
        "rg_total_seconds": f"{sum(seconds.values()):,.0f}",
        "rg_seconds_parts": "; ".join(f"{k} {v:,.0f} s" for k, v in seconds.items()),
        "rg_paper_hours": f"{result.paper_hours:.0f}",
    }
