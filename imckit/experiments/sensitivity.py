"""Chapter "Layer sensitivity (Table I)", and the one place the sensitivity table's inputs are chosen.

Three chapters read the same table: "Layer sensitivity" computes it, "Genetic search" searches it and
"Validation and one-epoch compensation" selects solutions from its front. The table is cached by all its
inputs (:func:`imckit.search.sensitivity.sensitivity_table`), so the chapters share one computation only if
they pass the very same images and settings. They do so by construction: each gets its
:class:`TableConfig` from :meth:`TableConfig.preset` and its images and table from :func:`table_for`.

The chapter's own analysis: the table in the paper's format (:func:`paper_format`), each layer's share of
the weights against the paper's (:func:`share_table`, :func:`split_sentence`) and three of the paper's
observations checked on the numbers (:func:`check_observations`).

The cache rule of the chapters: a cached computation's key names only the modules that compute it (a
``<chapter>_steps`` module of :mod:`imckit.experiments`, or a module of the library), never a chapter module
with sentences, plots or result classes, so editing a chapter's text invalidates no expensive result.
Here the only cached value is the table, keyed by :mod:`imckit.search.sensitivity`'s code.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from torch import nn

from imckit.core.data import ImageTensors
from imckit.core.profiles import check_profile
from imckit.core.validate import check_choice, check_count, check_int, check_number, check_seed
from imckit.experiments.checks import check_config, check_device, check_optional_count, check_override
from imckit.quantization.aware import AwareConfig, aware_network
from imckit.quantization.qkeras import ALPHAS, QuantSpec
from imckit.search.sensitivity import PAPER_Q8_MLC0_REDUCTION, SensitivityTable, sensitivity_table

__all__ = ["TableConfig", "NETWORKS", "TableInputs", "table_images", "table_network", "network_text", "table_for", "SensitivityConfig", "Observations",
           "SensitivityResult", "paper_format", "PAPER_TABLE_I", "paper_loss_changes", "loss_side_by_side",
           "ranking_agreement", "table_one_entries", "scorecard", "paper_layer_shares", "share_table", "split_difference",
           "split_sentence", "tolerant_layers",
           "significant_improvements", "quantization_gains", "entries_text", "check_observations", "run"]

# Error draws and test images of the table per profile (test_images None: the whole test set), and the
# epochs of the switchable quantization-aware network it is computed on (fine-tuned from the baseline).
# The smoke profile skips the BatchNorm-frozen epoch: on its 32 steps from a barely trained network that
# epoch diverged in development (it needs a few hundred steps; see imckit.quantization.aware).
TABLE_PRESETS = {
    "smoke": {"repetitions": 2, "test_images": 256, "aware_epochs": 1, "frozen_epochs": 0},
    "default": {"repetitions": 100, "test_images": 1000, "aware_epochs": 3, "frozen_epochs": 1},
    "paper": {"repetitions": 100, "test_images": None, "aware_epochs": 30, "frozen_epochs": 1},
}
NETWORKS = ("switchable", "float")
"""The networks the table can be computed on: ``"switchable"``, the quantization-aware network that serves
every configuration (:mod:`imckit.quantization.aware`), or ``"float"``, the float baseline quantized after
training (post-training quantization)."""


@dataclass(frozen=True)
class TableConfig:
    """What defines the shared sensitivity table (besides the baseline network).

    Attributes:
        repetitions: independent error draws per (layer, configuration) entry, in [1, 100000] (the paper: 100).
        test_images: test images the table is evaluated on, a subset of the baseline's test images drawn
            with ``seed`` (``None``, or at least as many as there are: all of them). The rest are held out
            for the compensation chapter's validation.
        seed: seed of the image subset, the error draws and the quantization-aware fine-tuning.
        aware_epochs: epochs of the switchable network's fine-tuning (``network="switchable"``).
        frozen_epochs: epochs with BatchNorm frozen after those (:class:`imckit.quantization.aware.AwareConfig`).
        network: one of :data:`NETWORKS`: what the table, the search's simulations and the compensation
            evaluate.
        alpha: the weight grid (:class:`imckit.quantization.qkeras.QuantSpec`); ``"midrise"`` stores a
            ``b``-bit weight in words that use all ``2**b`` codes, as the paper's memory model assumes.
    """

    repetitions: int
    test_images: int | None
    seed: int = 0
    aware_epochs: int = 3
    frozen_epochs: int = 1
    network: str = "switchable"
    alpha: str | None = "midrise"

    def __post_init__(self):
        object.__setattr__(self, "repetitions", check_count(self.repetitions, "repetitions", 1, 100_000))
        object.__setattr__(self, "test_images", check_optional_count(self.test_images, "test_images"))
        object.__setattr__(self, "seed", check_seed(self.seed))
        check_choice(self.network, "network", NETWORKS)
        object.__setattr__(self, "aware_epochs", check_int(self.aware_epochs, "aware_epochs", 1, 1000))
        object.__setattr__(self, "frozen_epochs", check_int(self.frozen_epochs, "frozen_epochs", 0, 1000))
        check_choice(self.alpha, "alpha", ALPHAS)
        self.aware  # validates alpha

    @property
    def aware(self) -> AwareConfig:
        """The switchable network's training (8, 4 and 2 bits per layer, :mod:`imckit.quantization.aware`)."""
        return AwareConfig(bits=(8, 4, 2), epochs=self.aware_epochs, alpha=self.alpha,
                           frozen_epochs=self.frozen_epochs)

    @property
    def quant(self) -> QuantSpec:
        return QuantSpec(alpha=self.alpha)

    @classmethod
    def preset(cls, profile: str, seed: int = 0, network: str = "switchable") -> "TableConfig":
        """``smoke``: 2 draws on 256 images, 1 epoch of quantization-aware fine-tuning (no frozen epoch);
        ``default``: 100 draws (the paper's) on 1,000 images, 3 epochs + 1 with BatchNorm frozen; ``paper``:
        100 draws on the whole test set, 30 + 1 epochs."""
        check_choice(network, "network", NETWORKS)
        return cls(**TABLE_PRESETS[check_profile(profile)], seed=seed, network=network)


def table_images(test: ImageTensors, config: TableConfig) -> tuple[ImageTensors, ImageTensors | None]:
    """The table's images and the held-out rest: ``test.split(config.test_images, config.seed)`` when that
    leaves images over, else ``(test, None)`` (the table uses every test image)."""
    check_config(config, "config", TableConfig)
    if config.test_images is not None and config.test_images < len(test):
        return test.split(config.test_images, seed=config.seed)
    return test, None


@dataclass(frozen=True, eq=False)
class TableInputs:
    """The shared table with the images it was computed on.

    Attributes:
        table: the sensitivity table.
        images: its test images.
        held_out: the baseline's other test images (``None`` when the table used all of them).
        config: the settings it was computed with.
        model: the network the table was computed on (every later chapter evaluates, simulates and
            retrains this one).
        quant: how its weights are quantized into words (every later chapter quantizes the same way).
    """

    table: SensitivityTable
    images: ImageTensors
    held_out: ImageTensors | None
    config: TableConfig
    model: nn.Module
    quant: QuantSpec


def table_network(baseline, config: TableConfig, device: str = "cpu") -> nn.Module:
    """The network the table is computed on: the switchable quantization-aware network fine-tuned from
    ``baseline`` on its training images (cached, :func:`imckit.quantization.aware.aware_network`), or the
    float baseline itself (``config.network == "float"``)."""
    check_config(config, "config", TableConfig)
    check_device(device)
    if config.network == "float":
        return baseline.model
    return aware_network(baseline.model, baseline.train_set, config.aware, seed=config.seed, device=device).model


def network_text(config: TableConfig) -> str:
    """What the table's network is, in words, for the chapters' text."""
    if config.network == "float":
        return f"the float baseline, quantized after training on the {config.alpha} grid"
    frozen = {0: "", 1: " and one with BatchNorm frozen"}.get(config.frozen_epochs,
                                                             f" and {config.frozen_epochs} with BatchNorm frozen")
    return (f"the switchable quantization-aware network, {config.aware_epochs} epoch"
            f"{'s' if config.aware_epochs != 1 else ''} of fine-tuning with 8, 4 and 2 bits drawn per layer"
            f"{frozen}, on the {config.alpha} grid")


def table_for(baseline, config: TableConfig, device: str = "cpu") -> TableInputs:
    """The sensitivity table of ``baseline`` (an :class:`imckit.core.training.Trained`) under ``config``
    (on :func:`table_network`): computed once, then read from the cache by every chapter that asks with the
    same config."""
    check_config(config, "config", TableConfig)
    check_device(device)
    images, held_out = table_images(baseline.test_set, config)
    model, quant = table_network(baseline, config, device=device), config.quant
    table = sensitivity_table(model, images, repetitions=config.repetitions, seed=config.seed, quant=quant,
                              progress=False, device=device)
    return TableInputs(table, images, held_out, config, model, quant)


# ------------------------------------------------------------------------------------------------------
# the chapter


@dataclass(frozen=True)
class SensitivityConfig:
    """The chapter's settings.

    Attributes:
        table: the shared table's settings (:class:`TableConfig`).
        tolerance: a loss change (%) the chapter calls small: under Q8 MLC2 a layer is *tolerant* when its
            mean loss change stays within this or within its 95 % confidence half-width.
    """

    table: TableConfig
    tolerance: float = 1.0

    def __post_init__(self):
        check_config(self.table, "table", TableConfig)
        check_number(self.tolerance, "tolerance", 0, 100)

    @classmethod
    def preset(cls, profile: str, seed: int = 0, repetitions: int = 0, test_images: int = 0,
               network: str = "switchable") -> "SensitivityConfig":
        """The profile's table (:meth:`TableConfig.preset`); ``repetitions`` or ``test_images`` other than 0
        replace the profile's (then the later chapters, which use the profile's, compute their own)."""
        table = TableConfig.preset(profile, seed, network)
        repetitions = check_override(repetitions, "repetitions", 1, 100_000)
        test_images = check_override(test_images, "test_images")
        table = replace(table, repetitions=repetitions or table.repetitions,
                        test_images=test_images or table.test_images)
        return cls(table)


def paper_format(table: SensitivityTable):
    """The table in the paper's format: one cell ``"%ΔMemory / %ΔLoss"`` per (layer, configuration), ``"-"``
    where the layer may not use the configuration. Rows ``"<k> <layer>"`` (from 1), columns
    ``"<solution index>: <label>"``."""
    import pandas as pd

    cells = [[("-" if np.isnan(m) else f"{m:.3f} / {loss:.2f}") for m, loss in zip(mrow, lrow)]
             for mrow, lrow in zip(table.memory_reduction, table.loss_change)]
    return pd.DataFrame(cells, index=pd.Index([f"{i + 1} {n}" for i, n in enumerate(table.layers)], name="layer"),
                        columns=[f"{j}: {c.label}" for j, c in enumerate(table.configs)])


def paper_layer_shares(reductions=PAPER_Q8_MLC0_REDUCTION) -> np.ndarray:
    """Each convolution's share (%) of the paper network's convolution weights, from its Table I Q8 MLC0
    column: that configuration saves 4 of 12 devices per weight, so 3 x each entry is the layer's share of
    all weights; normalized over the given layers."""
    shares = 3 * np.asarray(reductions, dtype=float)
    if shares.ndim != 1 or len(shares) == 0 or not (np.isfinite(shares).all() and (shares >= 0).all()) \
            or shares.sum() <= 0:
        raise ValueError(f"reductions must be a non-empty sequence of non-negative numbers; got {reductions!r}")
    return 100 * shares / shares.sum()


# Seed paper 000, Table I: "%ΔMemory / %ΔLoss" per layer (rows 1-8) and solution index (columns 0-9); None
# where the paper prints "- / -". Copied from the paper's text, row by row.
PAPER_TABLE_I = (
    ((0.099, 157.00), (0.087, 5.83), (0.074, -0.25), (0.062, -0.56), (0.050, -0.57), (0.124, 71.42),
     (0.111, 2.37), (0.099, 0.59), (0.136, 10.06), (0.124, 1.86)),
    ((0.528, 131.05), (0.462, 2.79), (0.396, -1.24), (0.330, -1.26), (0.264, -1.14), (0.661, 20.45),
     (0.595, -1.74), (0.528, -1.97), (0.727, 5.65), (0.661, 1.65)),
    ((0.528, 226.51), (0.462, 4.77), (0.396, -2.72), (0.330, -3.08), (0.264, -3.17), (0.661, 47.76),
     (0.595, 0.51), (0.528, -1.10), (0.727, 5.89), (0.661, 1.67)),
    ((1.585, 295.07), (1.387, 22.78), (1.189, -0.35), (0.991, -0.64), (0.793, -0.34), (1.982, 100.50),
     (1.784, 7.10), (1.585, -0.09), (2.180, 24.88), (1.982, 6.48)),
    ((4.933, 567.63), (4.316, 43.12), (3.699, -0.19), (3.083, -1.87), (2.466, -2.01), (6.166, 119.72),
     (5.549, 12.14), (4.933, 2.75), (6.782, 54.54), (6.166, 22.96)),
    ((14.269, 569.74), (12.486, 19.55), (10.702, -0.43), (8.918, -1.78), (7.135, -1.93), (17.836, 328.78),
     (16.053, 19.35), (14.269, 0.25), (19.620, 145.81), (17.836, 19.36)),
    ((44.393, 108.49), (38.844, 8.18), (33.295, -0.06), (27.746, 0.35), (22.197, 0.53), (55.491, 24.10),
     (49.942, 6.10), (44.393, 4.11), (61.040, 40.31), (55.491, 20.44)),
    (None, None, None, None, (-0.40, 0.16), None, None, (-0.10, 0.33), None, (2.24, 0.40)),
)


def paper_loss_changes() -> np.ndarray:
    """The paper's Table I %ΔLoss as an (8, 10) array, NaN where it prints "-"."""
    return np.array([[np.nan if cell is None else cell[1] for cell in row] for row in PAPER_TABLE_I])


def loss_side_by_side(table: SensitivityTable):
    """Table I's %ΔLoss, the kit's beside the paper's: one cell ``"kit | paper"`` per (layer, configuration)
    (``"-"`` where neither has a value). Needs the paper's 8 layers and 10 configurations."""
    import pandas as pd

    paper = paper_loss_changes()
    if table.loss_change.shape != paper.shape:
        raise ValueError(f"the table must have the paper's {paper.shape[0]} layers and {paper.shape[1]} "
                         f"configurations; got {table.loss_change.shape}")
    cells = [["-" if np.isnan(k) and np.isnan(p) else
              f"{'-' if np.isnan(k) else f'{k:.2f}'} | {'-' if np.isnan(p) else f'{p:.2f}'}"
              for k, p in zip(krow, prow)] for krow, prow in zip(table.loss_change, paper)]
    return pd.DataFrame(cells, index=[f"{i + 1} {n}" for i, n in enumerate(table.layers)],
                        columns=[f"{j}: {c.label}" for j, c in enumerate(table.configs)])


def ranking_agreement(table: SensitivityTable) -> tuple[float, int]:
    """Spearman's rank correlation between the kit's and the paper's Table I %ΔLoss over the entries both
    have, and how many entries that is. Ranks compare across networks and datasets; levels do not."""
    from scipy.stats import spearmanr

    ours, paper = np.asarray(table.loss_change, dtype=float), paper_loss_changes()
    if ours.shape != paper.shape:
        raise ValueError(f"the table must have the paper's shape {paper.shape}; got {ours.shape}")
    both = ~np.isnan(ours) & ~np.isnan(paper)
    if both.sum() < 3:
        raise ValueError("fewer than 3 entries in common with the paper's Table I")
    return float(spearmanr(ours[both], paper[both]).statistic), int(both.sum())


def table_one_entries(table: SensitivityTable) -> dict[str, float]:
    """The table's %ΔLoss entries keyed ``"<layer>/<configuration label>"`` (the keys of the paper's Table I
    in ``imckit/papers/data/seed000.yaml``), NaN entries left out."""
    labels = [c.label for c in table.configs]
    return {f"{name}/{labels[j]}": float(table.loss_change[i, j]) for i, name in enumerate(table.layers)
            for j in range(len(labels)) if not np.isnan(table.loss_change[i, j])}


def share_table(table: SensitivityTable, paper_shares=None):
    """Per layer: weights, share of all weights (%), the largest %ΔMemory of any configuration, the share
    among the convolutions (%) and the paper's (:func:`paper_layer_shares`; the dense layer, last, has none).
    """
    import pandas as pd

    paper = paper_layer_shares() if paper_shares is None else np.asarray(paper_shares, dtype=float)
    convolutions = len(table.layers) - 1
    if len(paper) != convolutions:
        raise ValueError(f"paper_shares must have one value per convolution ({convolutions}); got {len(paper)}")
    ours = 100 * np.asarray(table.weights[:-1], dtype=float) / sum(table.weights[:-1])
    return pd.DataFrame({"weights": table.weights, "share of weights (%)": table.memory_shares,
                         "largest %ΔMemory": np.nanmax(table.memory_reduction, axis=1),
                         "share among convolutions (%)": list(ours) + [np.nan],
                         "paper, share among convolutions (%)": list(paper) + [np.nan]},
                        index=[f"{i + 1} {n}" for i, n in enumerate(table.layers)])


def split_difference(shares) -> tuple[str, float]:
    """The convolution whose share among the convolutions differs most from the paper's (its name, without the
    row number of the :func:`share_table` frame ``shares``), and by how many points (absolute)."""
    ours = shares["share among convolutions (%)"].iloc[:-1]
    paper = shares["paper, share among convolutions (%)"].iloc[:-1]
    gaps = (ours - paper).abs()
    if gaps.empty or gaps.isna().all():
        raise ValueError("shares must list at least one convolution with the paper's share")
    return str(gaps.idxmax()).split(" ", 1)[-1], float(gaps.max())


def split_sentence(shares, points: float = 5.0) -> str:
    """Whether this network splits its convolution weights like the paper's (:func:`split_difference` within
    ``points`` on every convolution), and what follows for comparing memory reductions with the paper."""
    points = check_number(points, "points", 0)
    layer, gap = split_difference(shares)
    if gap > points:
        return (f"The two splits differ by up to {gap:.1f} points ({layer}): the paper's ResNet-8 may not be "
                "exactly this one (MLPerf Tiny's), so memory reductions of mixed configurations are not directly "
                "comparable with its tables; relative trends are.")
    return (f"The two splits agree within {points:.0f} points on every convolution (at most {gap:.1f}), so memory "
            "reductions are comparable with the paper's tables.")


def tolerant_layers(loss, ci, rows, names, column: int, tolerance: float = 1.0) -> list[str]:
    """Layers (of ``rows``, indices into ``names``) whose loss change in ``column`` is small: ``|loss|`` at
    most ``tolerance`` or at most its confidence half-width (a NaN half-width counts as none)."""
    tolerance = check_number(tolerance, "tolerance", 0)
    loss, ci = np.asarray(loss, dtype=float), np.asarray(ci, dtype=float)
    return [names[i] for i in rows if abs(loss[i, column]) <= np.fmax(tolerance, ci[i, column])]


def significant_improvements(loss, ci, names, configs) -> list[tuple[str, str]]:
    """(layer, configuration label) of every entry with MLC cells whose loss change lies significantly below
    zero: ``loss + ci < 0`` (the 95 % interval over the error draws excludes zero; NaN entries never count).
    """
    loss, ci = np.asarray(loss, dtype=float), np.asarray(ci, dtype=float)
    return [(names[i], configs[j].label) for i in range(loss.shape[0]) for j in range(loss.shape[1])
            if configs[j].mlc_cells > 0 and not np.isnan(loss[i, j]) and loss[i, j] + ci[i, j] < 0]


def quantization_gains(loss, names, configs) -> list[tuple[str, str]]:
    """(layer, configuration label) of every error-free SLC entry (no MLC cells) that lowers the loss."""
    loss = np.asarray(loss, dtype=float)
    return [(names[i], configs[j].label) for i in range(loss.shape[0]) for j in range(loss.shape[1])
            if configs[j].mlc_cells == 0 and not np.isnan(loss[i, j]) and loss[i, j] < 0]


def entries_text(entries) -> str:
    """``"conv1 Q8 MLC3, stack1.conv1 Q8 MLC2"`` for a list of (layer, label), ``"none"`` when empty."""
    return ", ".join(f"{name} {label}" for name, label in entries) or "none"


@dataclass(frozen=True)
class Observations:
    """Three of the paper's observations, checked on a table.

    Attributes:
        convolutions: names of the convolution layers (every layer but the dense ``fc``).
        worst_q8m4_layer: the convolution whose loss rises most under Q8 MLC4.
        worst_q8m4, best_q8m4: the largest and smallest loss change (%) of a convolution under Q8 MLC4.
        tolerant: convolutions tolerant to Q8 MLC2 (:func:`tolerant_layers`).
        improved: entries with MLC cells that lower the loss significantly (:func:`significant_improvements`).
        quantization_gains: error-free SLC entries that lower the loss (:func:`quantization_gains`).
    """

    convolutions: tuple[str, ...]
    worst_q8m4_layer: str
    worst_q8m4: float
    best_q8m4: float
    tolerant: tuple[str, ...]
    improved: tuple[tuple[str, str], ...]
    quantization_gains: tuple[tuple[str, str], ...]


def check_observations(table: SensitivityTable, tolerance: float = 1.0) -> Observations:
    """The paper's observations on ``table`` (see :class:`Observations`); needs the Q8 MLC4 and Q8 MLC2
    configurations among its columns."""
    tolerance = check_number(tolerance, "tolerance", 0)
    loss, ci = table.loss_change, table.loss_ci
    labels = [c.label for c in table.configs]
    for needed in ("Q8 MLC4", "Q8 MLC2"):
        if needed not in labels:
            raise ValueError(f"the table needs the configuration {needed!r}; it has {labels}")
    q8m4, q8m2 = labels.index("Q8 MLC4"), labels.index("Q8 MLC2")
    conv = [i for i, n in enumerate(table.layers) if n != "fc"]
    if not conv:
        raise ValueError("the table has no convolution layer")
    worst = conv[int(np.nanargmax(loss[conv, q8m4]))]
    return Observations(
        tuple(table.layers[i] for i in conv), table.layers[worst], float(np.nanmax(loss[conv, q8m4])),
        float(np.nanmin(loss[conv, q8m4])), tuple(tolerant_layers(loss, ci, conv, table.layers, q8m2, tolerance)),
        tuple(significant_improvements(loss, ci, table.layers, table.configs)),
        tuple(quantization_gains(loss, table.layers, table.configs)))


@dataclass(frozen=True, eq=False)
class SensitivityResult:
    """What the chapter shows.

    Attributes:
        config: the configuration it ran with.
        inputs: the table with its images (:func:`table_for`).
        cells: :func:`paper_format` of the table.
        shares: :func:`share_table` of the table.
        observations: :func:`check_observations` of the table.
    """

    config: SensitivityConfig
    inputs: TableInputs
    cells: object  # pandas.DataFrame
    shares: object  # pandas.DataFrame
    observations: Observations

    @property
    def table(self) -> SensitivityTable:
        return self.inputs.table

    @property
    def largest_layer(self) -> int:
        """Index of the layer with the largest share of the weights."""
        return int(np.argmax(self.table.memory_shares))

    @property
    def last_two_share(self) -> float:
        """The share (%) of all weights held by the last two convolutions (the dense layer comes last)."""
        return float(self.shares["share of weights (%)"].iloc[-3:-1].sum())

    @property
    def last_convolution_share(self) -> float:
        """The last convolution's share (%) of the convolution weights."""
        return float(self.shares["share among convolutions (%)"].iloc[-2])

    @property
    def paper_last_convolution_share(self) -> float:
        """The paper network's last convolution's share (%) of its convolution weights
        (:func:`paper_layer_shares`)."""
        return float(self.shares["paper, share among convolutions (%)"].iloc[-2])

    def split_verdict(self, points: float = 5.0) -> str:
        """:func:`split_sentence` of the chapter's share table."""
        return split_sentence(self.shares, points)

    def observation_table(self, labels=("Q8 MLC4", "Q8 MLC2", "Q8 MLC0")):
        """The loss change (%) of every layer under the configurations the observations read."""
        import pandas as pd

        names = [c.label for c in self.table.configs]
        return pd.DataFrame({label: self.table.loss_change[:, names.index(label)] for label in labels},
                            index=list(self.table.layers))


def run(baseline, config: SensitivityConfig, device: str = "cpu") -> SensitivityResult:
    """Compute (or load) the table of ``baseline`` and analyse it (see the module docstring)."""
    check_config(config, "config", SensitivityConfig)
    check_device(device)
    inputs = table_for(baseline, config.table, device=device)
    table = inputs.table
    return SensitivityResult(config, inputs, paper_format(table), share_table(table),
                             check_observations(table, config.tolerance))


def scorecard(result: SensitivityResult, baseline, profile: str):
    """The chapter's "Paper vs this kit" table: Table I's ranking, its Q8 MLC4 column's layer order, and the
    paper's three observations, each from this run's table (with the entry's 95 % half-width as margin)."""
    from imckit.experiments.setting import FEFET_DEVICE, TRAINING, kit_setting
    from imckit.papers import Scorecard

    table = result.table
    labels = [c.label for c in table.configs]
    loss, ci = table.loss_change, table.loss_ci
    training = TRAINING[result.config.table.network]
    card = Scorecard("sensitivity", profile=profile, setting=kit_setting(
        baseline, device=FEFET_DEVICE, training=training,
        other=f"one layer perturbed at a time, {table.repetitions} error draws per entry"))
    card.add("000/table1-loss-ranking", table_one_entries(table))
    conv = [i for i, name in enumerate(table.layers) if name != "fc"]
    q8m4, q8m2 = labels.index("Q8 MLC4"), labels.index("Q8 MLC2")
    card.add("000/table1-q8mlc4-layer-order", {table.layers[i]: float(loss[i, q8m4]) for i in conv})
    best = conv[int(np.nanargmin(loss[conv, q8m4]))]
    card.add("000/q8mlc4-hurts-every-layer", float(loss[best, q8m4]), margin=float(ci[best, q8m4]),
             note=f"the least sensitive convolution here: {table.layers[best]}")
    card.add("000/q8mlc2-tolerated", float(np.nanmax(loss[conv, q8m2])))
    for key, with_mlc in (("000/mlc-errors-lower-loss", True), ("000/quantization-lowers-loss", False)):
        entries = [(i, j) for i in range(len(table.layers)) for j, c in enumerate(table.configs)
                   if (c.mlc_cells > 0) == with_mlc and not np.isnan(loss[i, j])]
        i, j = min(entries, key=lambda e: loss[e])
        card.add(key, float(loss[i, j]), margin=float(ci[i, j]) if with_mlc else None,
                 note=f"the kit's lowest entry: {table.layers[i]} {labels[j]}")
    return card
