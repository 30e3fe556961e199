"""Chapter "Validation and one-epoch compensation (Table II)" (seed paper 000, Sec. V, Table II, Fig. 8).

:func:`run` reads the shared sensitivity table (the network it was computed on, ``inputs.model``, and its
weight grid, ``inputs.quant``) and the genetic search's front (both cached, the same as in the chapters
"Layer sensitivity" and "Genetic search"), selects one front solution per memory target
(:func:`imckit.search.simulate.select_solutions`), evaluates the uniform 8-, 4- and 2-bit networks on
held-out images and compensates each solution's error patterns with one epoch of retraining (cached:
:func:`imckit.experiments.compensation_steps.compensation_runs`, the module that holds the computation and
nothing else, so editing this module's sentences invalidates no run). Each pattern is measured before and
after compensation on the same faults and the same images, so every gain is *paired*. The same patterns
are compensated again in the two ablation modes of :mod:`imckit.compensation.compensate` (BatchNorm
recalibration only; healthy weights only, BatchNorm frozen), which split the method's recovery into parts.

The statistics (all tested on hand-made numbers):

- :func:`paired_gain`: the mean of ``after - before`` over the patterns with a Student-t confidence
  interval (``scipy.stats.t``; the patterns are independent draws);
- :func:`variance_change`: the ratio of the standard deviations after and before over the same patterns,
  with the one-sided Pitman-Morgan test for the variances of paired samples (the correlation of
  ``before + after`` with ``before - after``, t-distributed with ``n - 2`` degrees of freedom);
- :func:`ablation_summary`: each mode's mean gain pooled over the solutions and patterns all modes ran,
  and its share of the full method's gain.

:func:`table_two` is the paper's Table II in its own format, with the paper's values
(:data:`PAPER_TABLE2_VARIABLES`, :data:`PAPER_TABLE2_ACCURACY`,
:data:`imckit.search.simulate.PAPER_TABLE2_KILO_DEVICES`) beside the kit's. :func:`scorecard` checks the
paper's claims on Table II, its abstract's (a)-(c) and Fig. 8's (d) included, against the data file
``imckit/papers/data/seed000.yaml`` with the verdicts of :mod:`imckit.papers.verdict`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from imckit.compensation.compensate import MODES, CompensationConfig
from imckit.core.data import ImageTensors
from imckit.core.profiles import check_profile
from imckit.core.validate import check_bool, check_choice, check_count, check_int, check_number, check_seed
from imckit.experiments.checks import check_config, check_device, check_items, check_optional_count, check_override
from imckit.experiments.compensation_steps import CompensationRun, compensation_runs
from imckit.experiments.search_steps import search_front
from imckit.experiments.sensitivity import NETWORKS, TableConfig, TableInputs, table_for
from imckit.memory.cells import paper_configurations
from imckit.search.genetic import GeneticSearchConfig, GeneticSearchResult
from imckit.search.simulate import (PAPER_TABLE2_KILO_DEVICES, GenomeSimulation, genome_configs, genome_devices,
                                    paper_memory_targets, select_solutions, simulate_genomes)

__all__ = ["PAPER_TABLE2_VARIABLES", "PAPER_TABLE2_ACCURACY",
           "MODE_LABELS", "COLLAPSE", "CompensationChapterConfig", "CompensationChapterResult", "CompensationRun",
           "compensation_runs", "validation_set", "uniform_genomes", "paper_indices", "savings", "closest_solution",
           "PairedGain", "t_interval", "paired_gain", "VarianceChange", "variance_change", "paired_table",
           "ablation_summary", "ablation_sentence", "table_two", "savings_table", "count_word", "held_out_text", "run",
           "scorecard"]

# Seed paper 000, Table II ("Selected Pareto optimal solutions with corresponding variables, memory, and
# accuracy before and after compensation training"): per row the variables for each layer (the solution
# indices 0-9 of its Table I) and the accuracy (%) without and with retraining (None: the paper's "-", the
# uniform networks are not retrained). The paper prints seven variables for Full 2 (its network has eight
# layers); they are kept as printed. The memory column is imckit.search.simulate.PAPER_TABLE2_KILO_DEVICES.
PAPER_TABLE2_VARIABLES = {
    "Full 8": (4, 4, 4, 4, 4, 4, 4, 4), "Full 4": (7, 7, 7, 7, 7, 7, 7, 7), "Full 2": (9, 9, 9, 9, 9, 9, 9),
    "Solution 1": (4, 6, 3, 2, 3, 7, 2, 4), "Solution 2": (4, 7, 3, 7, 3, 2, 6, 4),
    "Solution 3": (3, 6, 3, 9, 7, 7, 6, 7), "Solution 4": (2, 6, 2, 7, 2, 7, 8, 7),
    "Solution 5": (7, 6, 7, 7, 6, 9, 8, 7), "Solution 6": (7, 6, 9, 8, 9, 8, 8, 9),
}
PAPER_TABLE2_ACCURACY = {
    "Full 8": (89.0, None), "Full 4": (86.8, None), "Full 2": (78.5, None),
    "Solution 1": (87.0, 89.5), "Solution 2": (86.0, 89.0), "Solution 3": (84.5, 88.4),
    "Solution 4": (80.6, 86.4), "Solution 5": (61.0, 83.8), "Solution 6": (18.8, 77.0),
}

# How a claim compares with the paper: it holds as stated; it goes the paper's way but misses its bound;
# it does not hold; or the kit has nothing to check it on.

MODE_LABELS = {"full": "full method", "healthy_only": "healthy weights only (BatchNorm frozen)",
               "bn_recalibration": "BatchNorm recalibration only"}

# Per profile: compensated error patterns per solution (the method), the first of them compensated again
# in each ablation mode, training images of the compensation epoch (None: all) and held-out validation
# images (None: all held out). The default is sized for its time budget on 2 CPU cores: a pattern costs
# about 1 ms per training image in the method and in "healthy_only" and a third of that in
# "bn_recalibration" (forward passes only), plus two evaluations; 8 patterns give a paired interval per
# solution, 4 per ablation give 24 pooled pairs for the shares.
PRESETS = {
    "smoke": {"patterns": 2, "ablation_patterns": 2, "train_images": 512, "validation_images": 256},
    "default": {"patterns": 8, "ablation_patterns": 4, "train_images": 3_000, "validation_images": 1000},
    "paper": {"patterns": 400, "ablation_patterns": 400, "train_images": None, "validation_images": None},
}


@dataclass(frozen=True)
class CompensationChapterConfig:
    """The chapter's settings.

    Attributes:
        table: the shared sensitivity table's settings (the profile's).
        search: the genetic search whose front the solutions are selected from (the defaults: the same
            front as the chapter "Genetic search" with its default population and generations).
        memory_targets: memory caps (% of the uniform 8-bit network's devices), one selected solution each
            (default: the memory of the paper's six solutions relative to its 8-bit network).
        patterns: error patterns compensated per solution, each measured before and after (the paper:
            400 runs per solution), 1 to 100,000.
        ablation_patterns: how many of those patterns (the first ones: the same faults and batch orders)
            are compensated again in each ablation mode, in [1, ``patterns``] (``None``: all of them).
        validation_images: held-out test images (not seen by the table or the search) the networks are
            evaluated and compensated on (``None``: all held-out images; when the table used the whole test
            set nothing is held out and the table's images are used).
        training: the compensation epoch (:class:`imckit.compensation.compensate.CompensationConfig`:
            training images, learning rate, fresh write errors; its ``mode`` is the method's, ``"full"``).
        seed: seed of the search, the error patterns and the compensation runs.
    """

    table: TableConfig
    search: GeneticSearchConfig = field(default_factory=GeneticSearchConfig)
    memory_targets: tuple[float, ...] = field(default_factory=paper_memory_targets)
    patterns: int = 8
    ablation_patterns: int | None = None
    validation_images: int | None = 1000
    training: CompensationConfig = field(default_factory=lambda: CompensationConfig(train_images=3_000))
    seed: int = 0

    def __post_init__(self):
        check_config(self.table, "table", TableConfig)
        check_config(self.search, "search", GeneticSearchConfig)
        check_config(self.training, "training", CompensationConfig)
        if self.training.mode != "full":
            raise ValueError(f"training.mode must be 'full' (the ablations run in their own modes); "
                             f"got {self.training.mode!r}")
        targets = check_items(self.memory_targets, "memory_targets",
                              lambda t, n: check_number(t, n, 0, 1000, low_open=True),
                              allowed="one or more numbers in (0, 1000] (% of the uniform 8-bit network)")
        object.__setattr__(self, "memory_targets", targets)
        object.__setattr__(self, "patterns", check_count(self.patterns, "patterns", 1, 100_000))
        if self.ablation_patterns is None:
            object.__setattr__(self, "ablation_patterns", self.patterns)
        try:
            ablation = check_int(self.ablation_patterns, "ablation_patterns", 1, self.patterns)
        except (TypeError, ValueError) as error:
            raise type(error)(f"ablation_patterns must be None or an integer in [1, patterns={self.patterns}]; "
                              f"got {self.ablation_patterns!r}") from None
        object.__setattr__(self, "ablation_patterns", ablation)
        object.__setattr__(self, "validation_images", check_optional_count(self.validation_images,
                                                                           "validation_images"))
        object.__setattr__(self, "seed", check_seed(self.seed))

    @classmethod
    def preset(cls, profile: str, seed: int = 0, memory_targets=(), patterns: int = 0, ablation_patterns: int = 0,
               train_images: int = 0, compensation_lr: float = 0.01, fresh_write_errors: bool = False,
               validation_images: int = 0, network: str = "switchable") -> "CompensationChapterConfig":
        """The profile's settings (:data:`PRESETS`): ``smoke`` 2 patterns (2 in each ablation), 512
        training and 256 validation images; ``default`` 8 (4), 3,000 and 1,000; ``paper`` 400 (400), all and
        all. Counts other than 0 and a non-empty ``memory_targets`` replace the profile's (the ablations
        keep at most ``patterns``). ``network``: the table's network
        (:data:`imckit.experiments.sensitivity.NETWORKS`)."""
        preset = PRESETS[check_profile(profile)]
        seed = check_seed(seed)
        memory_targets = check_items(memory_targets, "memory_targets",
                                     lambda t, n: check_number(t, n, 0, 1000, low_open=True),
                                     allowed="a list of numbers in (0, 1000] (% of the uniform 8-bit network; "
                                             "empty: the paper's six)", nonempty=False)
        patterns = check_override(patterns, "patterns", 1, 100_000)
        ablation_patterns = check_override(ablation_patterns, "ablation_patterns")
        train_images = check_override(train_images, "train_images")
        validation_images = check_override(validation_images, "validation_images")
        compensation_lr = check_number(compensation_lr, "compensation_lr", 0, 10, low_open=True)
        fresh_write_errors = check_bool(fresh_write_errors, "fresh_write_errors")
        check_choice(network, "network", NETWORKS)
        patterns = patterns or preset["patterns"]
        if ablation_patterns > patterns:
            raise ValueError(f"ablation_patterns must be 0 (the profile's) or an integer in [1, patterns={patterns}]; "
                             f"got {ablation_patterns!r}")
        training = CompensationConfig(train_images=train_images or preset["train_images"], lr=compensation_lr,
                                      fresh_write_errors=fresh_write_errors)
        return cls(TableConfig.preset(profile, seed, network), GeneticSearchConfig(),
                   tuple(memory_targets) or paper_memory_targets(), patterns,
                   ablation_patterns or min(preset["ablation_patterns"], patterns),
                   validation_images or preset["validation_images"], training, seed=seed)


# ------------------------------------------------------------------------------------------------------
# images, genomes and memory


def validation_set(inputs: TableInputs, count: int | None, seed: int) -> ImageTensors:
    """Images the chapter validates on: ``count`` of the table's held-out images (all of them for ``None``
    or more than there are), drawn with ``seed``; the table's own images when nothing is held out."""
    check_config(inputs, "inputs", TableInputs)
    count = check_optional_count(count, "count")
    seed = check_seed(seed)
    if inputs.held_out is None:
        return inputs.images
    held_out = inputs.held_out
    return held_out.subset(min(count, len(held_out)) if count else None, seed=seed)


def uniform_genomes(labels, layers: int, bits=(8, 4, 2)) -> dict[str, np.ndarray]:
    """The uniform SLC networks as genomes: ``{"Full 8": [index of "Q8 MLC0"] * layers, ...}``."""
    labels = list(labels)
    layers = check_count(layers, "layers")
    bits = check_items(bits, "bits", lambda b, n: check_int(b, n, 1, 16), allowed="a non-empty list of widths")
    for b in bits:
        check_choice(f"Q{b} MLC0", "labels", labels)
    return {f"Full {b}": np.array([labels.index(f"Q{b} MLC0")] * layers) for b in bits}


def paper_indices(genome, configs) -> list[int]:
    """A genome's variables as the paper's Table I solution indices (0-9: Q8 with 4 to 0 MLC cells, Q4
    with 2 to 0, Q2 with 1 and 0), whatever order ``configs`` (the table's configurations) has; ``-1`` for a
    configuration the paper does not have."""
    paper = [c.label for c in paper_configurations()]
    labels = [c.label for c in configs]
    return [paper.index(labels[int(g)]) if labels[int(g)] in paper else -1 for g in genome]


def savings(devices: dict) -> dict[str, dict[int, float]]:
    """name -> {8: saving against Full 8 (%), 4: against Full 4, 2: against Full 2}."""
    for needed in ("Full 8", "Full 4", "Full 2"):
        if needed not in devices:
            raise ValueError(f"devices must include the uniform network {needed!r}")
    return {name: {b: 100 * (1 - n / devices[f"Full {b}"]) for b in (8, 4, 2)} for name, n in devices.items()}


def closest_solution(saving: dict[str, float], target: float) -> str | None:
    """The name whose saving (%) is closest to ``target`` (the first on a tie; ``None`` when empty)."""
    target = check_number(target, "target")
    if not saving:
        return None
    return min(saving, key=lambda name: abs(saving[name] - target))


# ------------------------------------------------------------------------------------------------------
# paired statistics


@dataclass(frozen=True)
class PairedGain:
    """A mean with its two-sided confidence interval.

    Attributes:
        n: pairs (error patterns).
        mean: mean of ``after - before`` (accuracy points).
        low, high: the confidence interval's bounds (NaN with fewer than two pairs).
        sd: standard deviation of the differences (``ddof=1``; NaN with one pair).
        confidence: the interval's confidence level.
    """

    n: int
    mean: float
    low: float
    high: float
    sd: float
    confidence: float = 0.95

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies entirely above or below 0."""
        return bool(self.low > 0 or self.high < 0)

    def text(self) -> str:
        """``"+4.1 points (95 % CI +2.0 to +6.2)"``; ``"+4.1 points (one pattern, no interval)"``."""
        if math.isnan(self.low):
            return f"{self.mean:+.1f} points (one pattern, no interval)"
        return f"{self.mean:+.1f} points ({100 * self.confidence:.0f} % CI {self.low:+.1f} to {self.high:+.1f})"


def _values(name, values) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or len(array) == 0 or not np.isfinite(array).all():
        raise ValueError(f"{name} must be a non-empty 1-D sequence of finite numbers; got shape {array.shape}")
    return array


def t_interval(values, confidence: float = 0.95) -> PairedGain:
    """Mean of ``values`` with the Student-t interval ``mean -/+ t(1 - (1 - confidence) / 2, n - 1) s /
    sqrt(n)`` (``scipy.stats.t``); NaN bounds for one value."""
    from scipy.stats import t

    confidence = check_number(confidence, "confidence", 0, 1, low_open=True, high_open=True)
    values = _values("values", values)
    n, mean = len(values), float(values.mean())
    if n < 2:
        return PairedGain(n, mean, math.nan, math.nan, math.nan, confidence)
    sd = float(values.std(ddof=1))
    half = float(t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return PairedGain(n, mean, mean - half, mean + half, sd, confidence)


def paired_gain(before, after, confidence: float = 0.95) -> PairedGain:
    """The mean paired gain ``after - before`` (per error pattern, same faults and images) with its
    Student-t interval over the patterns (:func:`t_interval`)."""
    before, after = _values("before", before), _values("after", after)
    if before.shape != after.shape:
        raise ValueError(f"before and after must hold one value per pattern each; got {len(before)} and "
                         f"{len(after)}")
    return t_interval(after - before, confidence)


@dataclass(frozen=True)
class VarianceChange:
    """How the spread across error patterns changes (same patterns before and after).

    Attributes:
        n: patterns.
        sd_before, sd_after: standard deviations (``ddof=1``; NaN with one pattern).
        ratio: ``sd_after / sd_before`` (NaN when ``sd_before`` is 0).
        p_value: one-sided Pitman-Morgan test of "the variance after is smaller" (NaN with fewer than three
            patterns or when a sum or difference has no spread).
    """

    n: int
    sd_before: float
    sd_after: float
    ratio: float
    p_value: float


def variance_change(before, after) -> VarianceChange:
    """:class:`VarianceChange` of paired samples. The Pitman-Morgan test: with ``s = before + after`` and
    ``d = before - after``, ``cov(s, d) = var(before) - var(after)``, so the variances are equal exactly when
    ``s`` and ``d`` are uncorrelated; ``r = corr(s, d)`` gives ``t = r sqrt((n - 2) / (1 - r^2))`` with ``n - 2``
    degrees of freedom, and the one-sided p-value is ``P(T >= t)`` (small when the variance shrinks)."""
    from scipy.stats import t

    before, after = _values("before", before), _values("after", after)
    if before.shape != after.shape:
        raise ValueError(f"before and after must hold one value per pattern each; got {len(before)} and "
                         f"{len(after)}")
    n = len(before)
    if n < 2:
        return VarianceChange(n, math.nan, math.nan, math.nan, math.nan)
    sd_b, sd_a = float(before.std(ddof=1)), float(after.std(ddof=1))
    ratio = sd_a / sd_b if sd_b > 0 else math.nan
    s, d = before + after, before - after
    if n < 3 or s.std() == 0 or d.std() == 0:
        return VarianceChange(n, sd_b, sd_a, ratio, math.nan)
    r = float(np.corrcoef(s, d)[0, 1])
    if r >= 1 or r <= -1:
        p = 0.0 if r > 0 else 1.0
    else:
        p = float(t.sf(r * math.sqrt((n - 2) / (1 - r * r)), n - 2))
    return VarianceChange(n, sd_b, sd_a, ratio, p)


def paired_table(before: dict, after: dict, confidence: float = 0.95):
    """Per solution (``before``/``after``: name -> accuracy (%) per pattern, the same patterns): patterns,
    mean accuracy before and after, the mean paired gain with its interval (:func:`paired_gain`), the
    standard deviations, their ratio and the Pitman-Morgan p-value (:func:`variance_change`)."""
    import pandas as pd

    rows = {}
    for name in after:
        gain, spread = paired_gain(before[name], after[name], confidence), variance_change(before[name], after[name])
        rows[name] = {"patterns": gain.n, "before (%)": float(np.mean(before[name])),
                      "after (%)": float(np.mean(after[name])), "gain (points)": gain.mean,
                      "CI low": gain.low, "CI high": gain.high, "sd before": spread.sd_before,
                      "sd after": spread.sd_after, "sd ratio": spread.ratio, "p (sd shrinks)": spread.p_value}
    return pd.DataFrame.from_dict(rows, orient="index")


# ------------------------------------------------------------------------------------------------------
# ablations


COLLAPSE = -10.0  # a paired gain (points) below this counts as a collapsed pattern (training diverged)


def ablation_summary(gains: dict, reference: str = "full", confidence: float = 0.95):
    """Each mode's recovery against the full method's, on the same pairs.

    Args:
        gains: mode -> solution -> paired gains (points) per pattern; every mode's patterns are the first
            ones of the same sequence, so the comparison uses, per solution, the first ``k`` patterns with
            ``k`` the fewest any mode ran.
        reference: the mode the shares are relative to.

    Returns:
        A pandas DataFrame, one row per mode: pairs, the mean gain pooled over solutions and patterns with
        its Student-t interval (:func:`t_interval`; the pooled pairs mix solutions, whose different mean
        gains widen the interval), the median gain (robust to a diverged pattern), ``collapsed``: the
        pairs whose gain is below :data:`COLLAPSE` (-10 points), and ``share of full (%)``: the mode's mean
        gain in % of the reference's (NaN when the reference's mean gain is not above 0).
    """
    import pandas as pd

    if reference not in gains:
        raise ValueError(f"gains must include the reference mode {reference!r}; got {list(gains)}")
    solutions = list(gains[reference])
    for mode, per_solution in gains.items():
        if set(per_solution) != set(solutions):
            raise ValueError(f"mode {mode!r} must have gains for the same solutions as {reference!r}: "
                             f"{solutions}; got {list(per_solution)}")
    common = {name: min(len(gains[mode][name]) for mode in gains) for name in solutions}
    pooled = {mode: np.concatenate([np.asarray(gains[mode][name], dtype=float)[:common[name]] for name in solutions])
              for mode in gains}
    full = float(pooled[reference].mean())
    rows = {}
    for mode, values in pooled.items():
        gain = t_interval(values, confidence)
        rows[mode] = {"pairs": gain.n, "mean gain (points)": gain.mean, "CI low": gain.low, "CI high": gain.high,
                      "median gain (points)": float(np.median(values)), "collapsed": int((values < COLLAPSE).sum()),
                      "share of full (%)": 100 * gain.mean / full if full > 0 else math.nan}
    return pd.DataFrame.from_dict(rows, orient="index")


def _share_word(share: float) -> str:
    if share >= 80:
        return "most"
    if share >= 20:
        return "part"
    if share >= 0:
        return "little"
    return "none"


def ablation_sentence(summary) -> str:
    """The chapter's sentence on an :func:`ablation_summary` with the rows ``full``, ``bn_recalibration``
    and ``healthy_only``: each ablation's pooled gain and its share of the full method's, then which part
    explains the recovery (``most``: a share of at least 80 %; ``part``: 20-80 %; ``little``: 0-20 %; a
    negative gain explains none of it). When the full method's interval includes 0 (or it has one pair),
    no share is claimed. A mode with collapsed pairs (``collapsed`` > 0) is said so, with its median."""
    for mode in ("full", "bn_recalibration", "healthy_only"):
        if mode not in summary.index:
            raise ValueError(f"summary must have a row {mode!r}; got {list(summary.index)}")

    def gain(mode):
        row = summary.loc[mode]
        return PairedGain(int(row["pairs"]), float(row["mean gain (points)"]), float(row["CI low"]),
                          float(row["CI high"]), math.nan)

    def collapsed(mode):
        row = summary.loc[mode]
        k = int(row.get("collapsed", 0))
        if k == 0:
            return ""
        return (f"; on {k} of {int(row['pairs'])} patterns the epoch diverged and lost more than "
                f"{-COLLAPSE:.0f} points (median gain {float(row['median gain (points)']):+.1f} points)")

    full, bn, healthy = gain("full"), gain("bn_recalibration"), gain("healthy_only")
    pairs = f"{full.n} paired patterns"
    if not (full.low > 0):
        return (f"Over {pairs}, the full method's mean gain is {full.text()}, not distinguishable from zero, so "
                f"its recovery is not split into shares{collapsed('full')}. BatchNorm recalibration alone changes "
                f"accuracy by {bn.text()}{collapsed('bn_recalibration')}. The healthy weights with BatchNorm "
                f"frozen change it by {healthy.text()}{collapsed('healthy_only')}.")
    s_bn, s_healthy = (float(summary.loc[m, "share of full (%)"]) for m in ("bn_recalibration", "healthy_only"))
    text = (f"Over {pairs}, the full method gains {full.text()}{collapsed('full')}. BatchNorm recalibration "
            f"alone, with no weight moved, gains {bn.text()}: {s_bn:.0f} % of the full method's "
            f"gain{collapsed('bn_recalibration')}. Retraining the healthy weights with BatchNorm frozen gains "
            f"{healthy.text()}: {s_healthy:.0f} %{collapsed('healthy_only')}.")
    w_bn, w_healthy = _share_word(s_bn), _share_word(s_healthy)
    if w_bn == "most" and w_healthy != "most":
        return text + (" So most of the recovery is BatchNorm re-estimating its statistics for the faulty "
                       "network, not the healthy weights compensating for the faulty ones.")
    if w_healthy == "most" and w_bn != "most":
        return text + (" So most of the recovery is the healthy weights compensating for the faulty ones; "
                       f"BatchNorm's statistics alone explain {w_bn} of it.")
    if w_bn == "most" and w_healthy == "most":
        return text + " Each part alone recovers most of what the full method recovers: they overlap."
    return text + (f" Neither part alone explains most of the recovery (BatchNorm's statistics: {w_bn}; the "
                   f"healthy weights: {w_healthy}); the method needs both.")


# ------------------------------------------------------------------------------------------------------
# Table II


def _variables_text(variables) -> str:
    return str(list(map(int, variables))) if variables is not None else ""


def table_two(variables: dict, devices: dict, before: dict, after: dict, paper_variables=PAPER_TABLE2_VARIABLES,
              paper_devices=PAPER_TABLE2_KILO_DEVICES, paper_accuracy=PAPER_TABLE2_ACCURACY):
    """The paper's Table II in its own format, each column followed by the paper's value.

    Args:
        variables: name -> the variables for each layer (the paper's Table I indices, :func:`paper_indices`),
            the uniform networks ``"Full 8"``, ``"Full 4"``, ``"Full 2"`` first, then the solutions.
        devices: name -> memory in devices.
        before: name -> accuracy (%) per error pattern without retraining (a uniform network: its error-free
            value).
        after: name -> accuracy (%) per pattern with retraining, on the same patterns as ``before``
            (solutions only: the uniform networks are not retrained).
        paper_variables, paper_devices, paper_accuracy: the paper's values (rows it does not have: empty).

    Returns:
        A pandas DataFrame indexed by solution: variables, memory (kilo devices), accuracy without and with
        retraining (means over the patterns; NaN: not retrained), each followed by the paper's.
    """
    import pandas as pd

    for needed in ("Full 8", "Full 4", "Full 2"):
        if needed not in devices:
            raise ValueError(f"devices must include the uniform network {needed!r}")
    rows = []
    for name, genome in variables.items():
        acc_paper = paper_accuracy.get(name, (None, None))
        rows.append({
            "variables": _variables_text(genome), "variables (paper)": _variables_text(paper_variables.get(name)),
            "memory (kilo devices)": devices[name] / 1000, "memory (paper)": paper_devices.get(name, np.nan),
            "accuracy w/o retraining (%)": float(np.mean(before[name])),
            "w/o retraining (paper)": np.nan if acc_paper[0] is None else acc_paper[0],
            "accuracy w/ retraining (%)": float(np.mean(after[name])) if name in after else np.nan,
            "w/ retraining (paper)": np.nan if acc_paper[1] is None else acc_paper[1]})
    return pd.DataFrame(rows, index=pd.Index(list(variables), name="solution"))


def savings_table(devices: dict, paper_devices=PAPER_TABLE2_KILO_DEVICES):
    """Memory saved (%) against Full 8 and Full 4, the kit's network beside the paper's (NaN: a row the paper
    does not have)."""
    import pandas as pd

    ours, paper = savings(devices), savings({k: v for k, v in paper_devices.items()})
    return pd.DataFrame({"vs Full 8 (%)": [ours[n][8] for n in devices],
                         "vs Full 8, paper (%)": [paper[n][8] if n in paper else np.nan for n in devices],
                         "vs Full 4 (%)": [ours[n][4] for n in devices],
                         "vs Full 4, paper (%)": [paper[n][4] if n in paper else np.nan for n in devices]},
                        index=list(devices))


# ------------------------------------------------------------------------------------------------------
# words


_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def count_word(n: int) -> str:
    """``6 -> "six"`` up to ten, digits beyond."""
    n = check_int(n, "n", 0)
    return _WORDS[n] if 0 <= n < len(_WORDS) else f"{n:,}"


def held_out_text(held_out: bool) -> str:
    """What the validation images are, for the chapter's sentence."""
    return ("held-out test images that neither the table nor the search saw" if held_out
            else "the test images of the table (the whole test set)")


# ------------------------------------------------------------------------------------------------------
# the chapter


@dataclass(frozen=True, eq=False)
class CompensationChapterResult:
    """What the chapter shows.

    Attributes:
        config: the configuration it ran with.
        inputs: the shared table with its images, network and weight grid.
        front: the genetic search's front.
        picks: the selected front indices, one per memory target.
        genomes: name -> genome: ``"Full 8"``, ``"Full 4"``, ``"Full 2"``, then ``"Solution 1"`` ...
        devices: name -> memory in devices.
        validation: the images evaluated and compensated on.
        simulation: the uniform networks' evaluation (in the order ``Full 8``, ``Full 4``, ``Full 2``).
        runs: solution name -> its compensation runs in the method's mode (``"full"``).
        ablations: mode -> solution name -> its runs in that mode, on the first ``ablation_patterns``
            patterns (the same faults and batch orders).
        train_images: training images per compensation epoch.
    """

    config: CompensationChapterConfig
    inputs: TableInputs
    front: GeneticSearchResult
    picks: np.ndarray
    genomes: dict
    devices: dict
    validation: ImageTensors
    simulation: GenomeSimulation
    runs: dict
    ablations: dict
    train_images: int

    @property
    def solutions(self) -> list[str]:
        return list(self.runs)

    @property
    def held_out(self) -> bool:
        """Whether the validation images are disjoint from the table's."""
        return self.inputs.held_out is not None

    def selection(self):
        """The selected solutions: memory target and selected memory (% of Full 8), predicted loss change,
        variables (the paper's Table I indices)."""
        import pandas as pd

        full8 = self.devices["Full 8"]
        return pd.DataFrame({"memory target (% of Full 8)": self.config.memory_targets,
                             "selected memory (% of Full 8)": [100 * self.devices[n] / full8 for n in self.solutions],
                             "predicted loss change (%)": self.front.objectives[self.picks, 1],
                             "variables": [_variables_text(self.variables[n]) for n in self.solutions]},
                            index=self.solutions)

    @property
    def variables(self) -> dict[str, list[int]]:
        """name -> the genome as the paper's Table I indices (:func:`paper_indices`)."""
        return {name: paper_indices(g, self.inputs.table.configs) for name, g in self.genomes.items()}

    @property
    def uniform_accuracy(self) -> dict[int, float]:
        """Bits -> the mean accuracy (%) of the uniform network ``"Full <bits>"`` (error-free SLC cells: its
        one value)."""
        return {bits: 100 * float(np.mean(self.simulation.accuracy[k])) for k, bits in enumerate((8, 4, 2))}

    @property
    def baseline_accuracy(self) -> float:
        """The error-free uniform 12-bit network's accuracy on the validation images (%)."""
        return 100 * float(self.simulation.baseline_accuracy)

    @property
    def before(self) -> dict[str, np.ndarray]:
        """solution -> accuracy (%) per error pattern without retraining."""
        return {name: 100 * run.result.before_accuracy for name, run in self.runs.items()}

    @property
    def after(self) -> dict[str, np.ndarray]:
        """solution -> accuracy (%) per error pattern after compensation (the same patterns as :attr:`before`)."""
        return {name: 100 * run.result.after_accuracy for name, run in self.runs.items()}

    @property
    def savings(self) -> dict[str, dict[int, float]]:
        return savings(self.devices)

    def table_two(self):
        """:func:`table_two` of the chapter (uniform rows: their error-free accuracy)."""
        before = {f"Full {b}": [a] for b, a in self.uniform_accuracy.items()} | self.before
        return table_two(self.variables, self.devices, before, self.after)

    def savings_table(self):
        return savings_table(self.devices)

    def paired_table(self):
        return paired_table(self.before, self.after)

    def gains(self) -> dict[str, dict[str, np.ndarray]]:
        """mode -> solution -> paired gain (points) per pattern: ``"full"`` on all patterns, the ablations on
        theirs."""
        runs = {"full": self.runs, **self.ablations}
        return {mode: {name: 100 * (run.result.after_accuracy - run.result.before_accuracy)
                       for name, run in per_solution.items()} for mode, per_solution in runs.items()}

    def ablation_table(self):
        """Per solution and mode, the mean paired gain (points) on the patterns every mode ran."""
        import pandas as pd

        gains, k = self.gains(), self.config.ablation_patterns
        return pd.DataFrame({MODE_LABELS[mode]: [float(np.mean(g[name][:k])) for name in self.solutions]
                             for mode, g in gains.items()}, index=self.solutions)

    def ablation_summary(self):
        return ablation_summary(self.gains())

    @property
    def faulty_share(self) -> tuple[float, float]:
        """The mean and the largest share (%) of stored weights program-verify found faulty."""
        shares = [run.result.faulty_share for run in self.runs.values()]
        return 100 * float(np.mean([s.mean() for s in shares])), 100 * float(max(s.max() for s in shares))

    @property
    def seconds_per_pattern(self) -> float:
        """Seconds one pattern of the method took (both evaluations included) when the runs were computed."""
        return sum(run.seconds for run in self.runs.values()) / (self.config.patterns * len(self.runs))

    def ablation_seconds_per_pattern(self) -> dict[str, float]:
        """mode -> seconds one ablation pattern took when the runs were computed."""
        return {mode: sum(run.seconds for run in per.values()) / (self.config.ablation_patterns * len(per))
                for mode, per in self.ablations.items()}

    def paper_hours(self, train_set_size: int, patterns: int = 400) -> float:
        """Hours the paper's setting (``patterns`` per solution, each on ``train_set_size`` images) would take
        at :attr:`seconds_per_pattern`."""
        train_set_size, patterns = check_count(train_set_size, "train_set_size"), check_count(patterns, "patterns")
        return self.seconds_per_pattern * train_set_size / self.train_images * patterns * len(self.runs) / 3600


def run(baseline, config: CompensationChapterConfig, device: str = "cpu") -> CompensationChapterResult:
    """The chapter's computations on ``baseline`` (see the module docstring)."""
    check_config(config, "config", CompensationChapterConfig)
    check_device(device)
    inputs = table_for(baseline, config.table, device=device)
    table = inputs.table
    memory, loss = table.objectives()
    front, _ = search_front(memory, loss, config.seed, config.search, "genetic")
    labels = [c.label for c in table.configs]
    uniform = uniform_genomes(labels, len(table.layers))
    devices = {k: int(genome_devices(table.weights, table.configs, g)[0]) for k, g in uniform.items()}
    front_devices = genome_devices(table.weights, table.configs, front.genomes)
    picks = select_solutions(front_devices, config.memory_targets, reference=devices["Full 8"])
    solutions = {f"Solution {k}": front.genomes[i] for k, i in enumerate(picks, start=1)}
    devices.update({name: int(front_devices[i]) for name, i in zip(solutions, picks)})
    genomes = {**uniform, **solutions}
    validation = validation_set(inputs, config.validation_images, config.seed)
    # the uniform networks store every bit in error-free SLC cells: one evaluation each (repeated draws
    # would be the same; simulate_genomes evaluates an error-free genome once)
    simulation = simulate_genomes(inputs.model, validation, np.stack(list(uniform.values())), table.configs,
                                  repetitions=config.patterns, seed=config.seed, quant=inputs.quant,
                                  progress=False, device=device)
    layer_configs = {name: genome_configs(table.layers, table.configs, g) for name, g in solutions.items()}
    runs = compensation_runs(inputs.model, baseline.train_set, validation, layer_configs, config.patterns,
                             config.seed, config.training, quant=inputs.quant, device=device)
    ablations = {mode: compensation_runs(inputs.model, baseline.train_set, validation, layer_configs,
                                         config.ablation_patterns, config.seed, replace(config.training, mode=mode),
                                         quant=inputs.quant, device=device)
                 for mode in MODES if mode != "full"}
    train_images = config.training.train_images or len(baseline.train_set)
    return CompensationChapterResult(config, inputs, front, picks, genomes, devices, validation, simulation,
                                     runs, ablations, train_images)


def scorecard(result: CompensationChapterResult, baseline, profile: str):
    """The chapter's "Paper vs this kit" table: Table II's memory savings and accuracy orders, the abstract's
    claims (a)-(c) on the kit's Solutions 2 and 4 (selected at the paper's memory targets), each solution's
    retrained accuracy against its uniform network (the 95 % t-interval of the patterns as margin), the
    smallest compensation gain and the spread before and after (Fig. 8, claim (d))."""
    from imckit.experiments.setting import FEFET_DEVICE, TRAINING, kit_setting
    from imckit.papers import Scorecard

    training = TRAINING[result.config.table.network]
    card = Scorecard("compensation", profile=profile, setting=kit_setting(
        baseline, device=FEFET_DEVICE, training=training,
        other=f"{result.config.patterns} error patterns per solution"))
    names, acc = result.solutions, result.uniform_accuracy
    before = {n: float(np.mean(result.before[n])) for n in names}
    after = {n: float(np.mean(result.after[n])) for n in names}
    missing = "the kit's front has no solution at this memory target"
    card.add("000/table2-memory", {n: v / 1e3 for n, v in result.devices.items()})
    for k, bits in ((1, 8), (2, 8), (3, 4), (4, 4), (5, 2), (6, 2)):
        name = f"Solution {k}"
        card.add(f"000/saving-solution{k}-vs-full{bits}", result.savings[name][bits] if name in names else None,
                 reason=missing)
    uniform = {f"Full {b}": acc[b] for b in (8, 4, 2)}
    if set(names) >= {f"Solution {k}" for k in range(1, 7)}:
        card.add("000/table2-accuracy-before-order", {**uniform, **before})
        card.add("000/table2-accuracy-after-order", after)
    else:
        for key in ("000/table2-accuracy-before-order", "000/table2-accuracy-after-order"):
            card.add(key, None, reason="the kit's front lacks some of the six solutions")
    for key, name, bits, column in (("000/abstract-half-memory-costs-3pts", "Solution 2", 8, before),
                                    ("000/abstract-retrained-matches-full8", "Solution 2", 8, after),
                                    ("000/abstract-46pct-no-loss-vs-full4", "Solution 4", 4, after),
                                    ("000/solution1-retrained-vs-full8", "Solution 1", 8, after),
                                    ("000/solution6-retrained-vs-full2", "Solution 6", 2, after)):
        card.add(key, column[name] - acc[bits] if name in names else None, reason=missing)
    for key, name, bits in (("000/solution3-retrained-vs-full4", "Solution 3", 4),
                            ("000/solution5-retrained-vs-full2", "Solution 5", 2)):
        if name not in names:
            card.add(key, None, reason=missing)
            continue
        interval = t_interval(result.after[name])
        card.add(key, after[name] - acc[bits], margin=_half_width(interval))
    gains = {n: paired_gain(result.before[n], result.after[n]) for n in names}
    if gains:
        smallest = min(gains, key=lambda n: gains[n].mean)
        card.add("000/compensation-gain-smallest", gains[smallest].mean, margin=_half_width(gains[smallest]),
                 note=f"the kit's smallest: {smallest}")
    else:
        card.add("000/compensation-gain-smallest", None, reason=missing)
    spread = [variance_change(result.before[n], result.after[n]) for n in names]
    spread = [v for v in spread if np.isfinite(v.sd_before) and np.isfinite(v.sd_after)]
    if spread:
        card.add("000/compensation-spread-shrinks",
                 {"before compensation": float(np.mean([v.sd_before for v in spread])),
                  "after compensation": float(np.mean([v.sd_after for v in spread]))},
                 kit_text=(f"mean std {np.mean([v.sd_before for v in spread]):.2f} before, "
                           f"{np.mean([v.sd_after for v in spread]):.2f} after (pts)"))
    else:
        card.add("000/compensation-spread-shrinks", None, reason="fewer than two error patterns per solution")
    return card


def _half_width(interval: PairedGain) -> float | None:
    return None if math.isnan(interval.low) else (interval.high - interval.low) / 2
