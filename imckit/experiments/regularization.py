"""Chapter "Fault- and variability-aware training" (seed paper 002): its three experiments.

The chapter fine-tunes the shared baseline with the regularized loss of :mod:`imckit.qat` and asks three
questions, one function each:

:func:`run_quantization` (the paper's Table 1 and Fig. 4)
    post-training quantization and four quantization-aware fine-tunes (fixed levels, learned step,
    N-multipliers, N-multipliers with STE) per weight bit width; where the learned levels went.
:func:`run_fault_sweep` (Figs. 6 and 7a)
    per bit-fault rate one fault map; the start network written without fine-tuning (naive and nearest
    valid level mapping) and after a fault-aware fine-tune with each of the four mitigation levels.
:func:`run_variability_sweep` (Fig. 7b)
    per sigma/mu of the cells' LRS one chip; the start network written without fine-tuning (ideal and
    variability-aware mapping), after variability-aware fine-tuning and after simulated chip-in-loop
    training.

:func:`run` runs all three (:class:`RegularizationResult`, with the cost estimate). The start network of
both sweeps is the ``hardware_bits`` N-multiplier network of Table 1 (the same cached fine-tune). The
sentences the chapter prints are chosen by small, tested functions: :func:`table1_sentence`,
:func:`levels_sentence`, :func:`mitigation_ranking`,
:func:`order_agreement`, :func:`paper_order_sentence`, :func:`compare`, :func:`multipliers_sentence` and
:func:`aware_sentence`; what counts as noise is :mod:`imckit.experiments.stats`.

Caching: every fine-tune and every sweep point is computed by :mod:`imckit.experiments.regularization_steps`
(:func:`fine_tune`, :func:`~imckit.experiments.regularization_steps.sweep_point`) through
:func:`imckit.core.cache.cached`. By the cache rule of the chapters (stated there), the keys name that module,
which holds the computations and nothing else: editing this module's sentences or figures invalidates no
fine-tune. A second run with nothing changed trains nothing; the seconds a computation took are stored with
it, so a warm run reports the cold run's times.

Devices: ``device`` (``"cpu"``, ``"cuda"``, ``"auto"``) is where the fine-tunes and evaluations run; fault
maps and chips are drawn on the CPU with seeded generators (:mod:`imckit.qat.faults`,
:mod:`imckit.qat.variability`); networks are kept and cached on the CPU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from imckit.core.compute import resolve_device
from imckit.core.data import ImageTensors
from imckit.core.profiles import check_profile
from imckit.experiments.regularization_steps import (FAULT_REFERENCES, VARIABILITY_METHODS, VARIABILITY_REFERENCES,
                                                     FineTune, accuracy, deployed_accuracy, fine_tune, sweep_point)
from imckit.experiments.stats import beyond_noise, noise_tolerance, standard_error, standard_error_of_difference
from imckit.qat.faults import MITIGATIONS
from imckit.qat.quantizers import PAPER_LAMBDAS, LevelQuantizer
from imckit.qat.training import QATConfig, QATResult, post_training, quantized_modules

__all__ = [
    "RegularizationConfig", "ChapterData", "FineTune", "LevelsData", "QuantizationResult", "SweepResult",
    "FaultSweepResult", "VariabilitySweepResult", "RegularizationResult", "VARIANTS", "VARIANT_LABELS", "PTQ_LABEL",
    "PAPER_FAULT_ORDER", "LEVELS_MOVED_THRESHOLD", "FAULT_REFERENCES", "VARIABILITY_REFERENCES",
    "VARIABILITY_METHODS", "chapter_data", "fine_tune", "deployed_accuracy", "run_quantization",
    "run_fault_sweep", "run_variability_sweep", "run", "activations_phrase", "best_variant", "table1_sentence",
    "levels_sentence",
    "mitigation_ranking", "ranking_sentence", "order_agreement", "paper_order_sentence", "compare",
    "multipliers_sentence", "aware_sentence", "plot_levels", "plot_sweep",
]

VARIANTS = (("fixed", False), ("step", False), ("multipliers", False), ("multipliers", True))
VARIANT_LABELS = {("fixed", False): "fixed levels", ("step", False): "learned step",
                  ("multipliers", False): "N-multipliers", ("multipliers", True): "N-multipliers + STE"}
PTQ_LABEL = "PTQ (no training)"
PAPER_FAULT_ORDER = ("active+passive", "active", "passive", "basic")  # the paper's Fig. 7a, best first
LEVELS_MOVED_THRESHOLD = 0.05  # a learned multiplier that moved less than 5 % has "stayed close to the grid"

# the per-profile sizes: training images per epoch (None: all), epochs of QAT and of the fine-tunes, test images
_PROFILE_SIZES = {
    "smoke": {"train_images": 512, "qat_epochs": 1, "tune_epochs": 1, "test_images": 256},
    "default": {"train_images": 8000, "qat_epochs": 3, "tune_epochs": 2, "test_images": 2000},
    "paper": {"train_images": None, "qat_epochs": 30, "tune_epochs": 20, "test_images": None},
}


def _shares(name: str, values) -> tuple[float, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values or any(
            isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1 for v in values):
        raise ValueError(f"{name} must be a non-empty list of numbers in [0, 1]; got {values!r}")
    return tuple(float(v) for v in values)


def _integer(name: str, value, low: int, high: int | None = None, none: bool = False):
    if none and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        allowed = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an integer {allowed}{' or None' if none else ''}; got {value!r}")
    return value


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
        remaps: remappings of the faulty weights during a fault-aware fine-tune, >= 0 (the paper: 5).
        sigmas: sigma/mu of the cells' LRS (relative spread, dimensionless), each in [0, 1] (the paper:
            0.05-0.4).
        quantizer_lr: learning rate of the bit multipliers and offsets, in (0, 10] (``None``: the paper's for
            each variant, 1e-6 with float weights and 1e-3 with STE).
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

    def __post_init__(self):
        widths = self.bit_widths
        if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or not widths or any(
                isinstance(b, bool) or not isinstance(b, int) or not 2 <= b <= 8 for b in widths):
            raise ValueError(f"bit_widths must be a non-empty list of integers in [2, 8]; got {widths!r}")
        object.__setattr__(self, "bit_widths", tuple(widths))
        a = self.activation_bits
        if isinstance(a, bool) or not isinstance(a, int) or not (a in (0, -1) or 2 <= a <= 16):
            raise ValueError(f"activation_bits must be 0 (the weight bits), -1 (float) or an integer in [2, 16]; "
                             f"got {a!r}")
        _integer("train_images", self.train_images, 2, none=True)
        _integer("qat_epochs", self.qat_epochs, 1, 1000)
        _integer("tune_epochs", self.tune_epochs, 1, 1000)
        _integer("test_images", self.test_images, 1, none=True)
        _integer("hardware_bits", self.hardware_bits, 2, 8)
        object.__setattr__(self, "fault_rates", _shares("fault_rates", self.fault_rates))
        object.__setattr__(self, "sigmas", _shares("sigmas", self.sigmas))
        if isinstance(self.sa1_share, bool) or not isinstance(self.sa1_share, (int, float)) \
                or not 0 <= self.sa1_share <= 1:
            raise ValueError(f"sa1_share must be a number in [0, 1]; got {self.sa1_share!r}")
        _integer("remaps", self.remaps, 0)
        q = self.quantizer_lr
        if q is not None and (isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 < q <= 10):
            raise ValueError(f"quantizer_lr must be a number in (0, 10] or None; got {q!r}")

    @classmethod
    def preset(cls, profile: str, *, bit_widths=(4, 3), activation_bits: int = 0, train_images: int = 0,
               qat_epochs: int = 0, tune_epochs: int = 0, test_images: int = 0, hardware_bits: int = 4,
               fault_rates=(0.0, 0.05, 0.1, 0.2, 0.3), sa1_share: float = 0.5, remaps: int = 5,
               sigmas=(0.05, 0.1, 0.2, 0.3, 0.4), quantizer_lr: float = 0.0) -> "RegularizationConfig":
        """The chapter's settings for ``profile``, with the notebook's parameters (same names and meaning).

        The sizes per profile (0 for ``train_images``, ``qat_epochs``, ``tune_epochs``, ``test_images``
        keeps them): ``smoke`` 512 training images, 1 + 1 epochs, 256 test images; ``default`` 8,000, 3 + 2,
        2,000; ``paper`` all images, 30 + 20 epochs (the paper fine-tunes for 20). ``quantizer_lr`` 0: the
        paper's for each variant.
        """
        sizes = _PROFILE_SIZES[check_profile(profile)]
        given = {"train_images": train_images, "qat_epochs": qat_epochs, "tune_epochs": tune_epochs,
                 "test_images": test_images}
        for name, value in given.items():
            _integer(name, value, 0)
        chosen = {name: value or sizes[name] for name, value in given.items()}
        if isinstance(quantizer_lr, bool) or not isinstance(quantizer_lr, (int, float)) or quantizer_lr < 0:
            raise ValueError(f"quantizer_lr must be 0 (the paper's) or a number in (0, 10]; got {quantizer_lr!r}")
        return cls(bit_widths=bit_widths, activation_bits=activation_bits, hardware_bits=hardware_bits,
                   fault_rates=fault_rates, sa1_share=sa1_share, remaps=remaps, sigmas=sigmas,
                   quantizer_lr=quantizer_lr or None, **chosen)

    def activations_for(self, bits: int) -> int | None:
        """LSQ bits of the inputs of a ``bits``-bit network (``None``: float)."""
        return None if self.activation_bits == -1 else (self.activation_bits or bits)

    def qat_config(self, bits: int, kind: str = "multipliers", ste: bool = False, tune: bool = False,
                   train_images: int | None = None) -> QATConfig:
        """The :class:`~imckit.qat.training.QATConfig` of one fine-tune (``tune``: a fault- or
        variability-aware one, ``tune_epochs``; else ``qat_epochs``)."""
        return QATConfig(bits=bits, kind=kind, ste=ste, epochs=self.tune_epochs if tune else self.qat_epochs,
                         train_images=train_images, activation_bits=self.activations_for(bits),
                         quantizer_lr=self.quantizer_lr)

    def quantizer_rate(self, variant: str = "float") -> float:
        """The quantizer learning rate used for ``variant`` (``"float"`` or ``"ste"``)."""
        return self.quantizer_lr if self.quantizer_lr is not None else PAPER_LAMBDAS[variant]["quantizer_lr"]


# --------------------------------------------------------------------------------------------------------
# decisions that turn numbers into sentences


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
                "The paper's gain from learned multipliers comes over 200 epochs; the paper profile's 30 "
                "epochs and a larger quantizer_lr are the way to look for it.")
    return ("The levels moved away from the initial grid: compare the N-multiplier and fixed-level rows of the "
            "table above for what that bought.")


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


def ranking_sentence(row: Mapping[str, float], mitigations: Sequence[str] = MITIGATIONS) -> str:
    """``"active+passive 17.6 %, passive 17.2 %, ..."``: the ranking with the accuracies."""
    return ", ".join(f"{m} {row[m]:.1f} %" for m in mitigation_ranking(row, mitigations))


def order_agreement(values: Mapping[str, float], expected: Sequence[str], tolerance: float) -> str:
    """How measured ``values`` agree with an ``expected`` order (best first):

    ``"agrees"``: every method beats every method expected below it; ``"within noise"``: some do not, but no
    method expected lower is ahead by more than ``tolerance``; ``"differs"``: one is ahead by more.
    """
    if len(expected) < 2 or len(set(expected)) != len(expected):
        raise ValueError(f"expected must name at least two distinct methods; got {expected!r}")
    missing = [m for m in expected if m not in values]
    if missing:
        raise ValueError(f"values has no entry for {missing}")
    pairs = [(a, b) for i, a in enumerate(expected) for b in expected[i + 1:]]
    if all(values[a] > values[b] for a, b in pairs):
        return "agrees"
    if all(compare(values[b], values[a], tolerance) != "higher" for a, b in pairs):
        return "within noise"
    return "differs"


def paper_order_sentence(row: Mapping[str, float], tolerance: float,
                         expected: Sequence[str] = PAPER_FAULT_ORDER) -> str:
    """The sentence on the mitigation levels' order against the paper's (:func:`order_agreement`)."""
    verdict = order_agreement(row, expected, tolerance)
    if verdict == "agrees":
        return "This is the paper's order."
    if verdict == "within noise":
        return (f"This is not the paper's order, but no level the paper ranks lower is ahead by more than "
                f"{tolerance:.1f} points (two standard errors of a difference): within noise.")
    pairs = [(a, b) for i, a in enumerate(expected) for b in expected[i + 1:]]
    a, b = max(pairs, key=lambda p: row[p[1]] - row[p[0]])
    return (f"This differs from the paper's order by more than noise: {b} is {row[b] - row[a]:.1f} points ahead "
            f"of {a}, which the paper ranks higher (two standard errors of a difference: {tolerance:.1f} points).")


def multipliers_sentence(table, tolerance: float) -> str:
    """N-multipliers against fixed levels at every bit width of ``table``: the differences and whether any
    exceeds ``tolerance`` (noise)."""
    a, b = VARIANT_LABELS[("multipliers", False)], VARIANT_LABELS[("fixed", False)]
    diffs = {column: float(table.loc[a, column] - table.loc[b, column]) for column in table.columns}
    listed = ", ".join(f"{d:+.2f} points at {c[1:]} bits" for c, d in diffs.items())
    verdicts = {c: compare(table.loc[a, c], table.loc[b, c], tolerance) for c in diffs}
    if all(v == "tie" for v in verdicts.values()):
        return (f"N-multipliers against fixed levels: {listed}; all within noise ({tolerance:.1f} points, two "
                f"standard errors of a difference), so these runs do not resolve the paper's gain.")
    beyond = ", ".join(f"{'better' if v == 'higher' else 'worse'} at {c[1:]} bits"
                       for c, v in verdicts.items() if v != "tie")
    return (f"N-multipliers against fixed levels: {listed}; beyond noise ({tolerance:.1f} points, two standard "
            f"errors of a difference) N-multipliers are {beyond}.")


def aware_sentence(aware: float, loop: float, tolerance: float) -> str:
    """Variability-aware fine-tuning against chip-in-loop training at one sigma/mu (the paper finds the former
    better)."""
    verdict = compare(aware, loop, tolerance)
    if verdict == "tie":
        return (f"The two differ by {aware - loop:+.1f} points, within noise ({tolerance:.1f} points, two standard "
                "errors of a difference).")
    word = "better" if verdict == "higher" else "worse"
    agree = "as in the paper" if verdict == "higher" else "unlike the paper, which finds it better"
    return (f"Variability-aware fine-tuning is {word} by {abs(aware - loop):.1f} points, more than noise "
            f"({tolerance:.1f} points), {agree}.")


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
    if not isinstance(config, RegularizationConfig):
        raise ValueError(f"config must be a RegularizationConfig; got {type(config).__name__}")
    _integer("seed", seed, 0)
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
    if not isinstance(config, RegularizationConfig):
        raise ValueError(f"config must be a RegularizationConfig; got {type(config).__name__}")
    _integer("seed", seed, 0)
    resolve_device(device)
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

    def paper_order_verdict(self) -> str:
        """:func:`paper_order_sentence` at the largest bit-fault rate."""
        return paper_order_sentence(self.last(), self.data.tolerance)


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


@dataclass(frozen=True, eq=False)
class RegularizationResult:
    """The whole chapter: :attr:`quantization`, :attr:`faults`, :attr:`variability` and the cost estimate."""

    quantization: QuantizationResult
    faults: FaultSweepResult
    variability: VariabilitySweepResult

    @property
    def data(self) -> ChapterData:
        """The images and the float accuracy all three experiments use."""
        return self.quantization.data

    @property
    def tune_seconds(self) -> float:
        """Mean seconds of a fault- or variability-aware fine-tune (both sweeps), as measured when it ran."""
        return float(np.mean(self.faults.seconds + self.variability.seconds))

    @property
    def paper_hours(self) -> float:
        """Hours the ``paper`` profile would take at the measured speed per image and epoch: its 30 epochs of
        QAT per Table 1 variant and 20 per fine-tune of both sweeps, on all of the baseline's training images."""
        config, data = self.quantization.config, self.data
        paper = RegularizationConfig.preset("paper")
        n = len(data.train_set)
        per_qat = np.mean(self.quantization.seconds) / (config.qat_epochs * n)
        per_tune = self.tune_seconds / (config.tune_epochs * n)
        fine_tunes = len(config.fault_rates) * len(MITIGATIONS) + len(VARIABILITY_METHODS) * len(config.sigmas)
        seconds = data.all_train_images * (len(config.bit_widths) * len(VARIANTS) * paper.qat_epochs * per_qat
                                           + fine_tunes * paper.tune_epochs * per_tune)
        return float(seconds / 3600)

    @property
    def computed(self) -> int:
        """Sweep points and fine-tunes computed in this run (0: all from the cache)."""
        return self.quantization.computed + self.faults.computed + self.variability.computed


def run(baseline, config: RegularizationConfig, *, seed: int = 0, device: str = "cpu", cache=None,
        progress: bool = False) -> RegularizationResult:
    """All three experiments of the chapter (arguments as :func:`run_quantization`)."""
    data = _check_run(config, seed, None, baseline, device)
    common = {"seed": seed, "data": data, "device": device, "cache": cache, "progress": progress}
    return RegularizationResult(run_quantization(baseline, config, **common),
                                run_fault_sweep(baseline, config, **common),
                                run_variability_sweep(baseline, config, **common))


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
