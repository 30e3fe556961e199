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

from dataclasses import dataclass

import numpy as np

from imckit.core.data import ImageTensors
from imckit.core.profiles import check_profile
from imckit.search.sensitivity import PAPER_Q8_MLC0_REDUCTION, SensitivityTable, sensitivity_table

__all__ = ["TableConfig", "TableInputs", "table_images", "table_for", "SensitivityConfig", "Observations",
           "SensitivityResult", "paper_format", "paper_layer_shares", "share_table", "split_difference",
           "split_sentence", "tolerant_layers",
           "significant_improvements", "quantization_gains", "entries_text", "check_observations", "run"]

# Error draws and test images of the table per profile (test_images None: the whole test set).
TABLE_PRESETS = {
    "smoke": {"repetitions": 2, "test_images": 256},
    "default": {"repetitions": 100, "test_images": 1000},
    "paper": {"repetitions": 100, "test_images": None},
}


@dataclass(frozen=True)
class TableConfig:
    """What defines the shared sensitivity table (besides the baseline network).

    Attributes:
        repetitions: independent error draws per (layer, configuration) entry, >= 1 (the paper: 100).
        test_images: test images the table is evaluated on, a subset of the baseline's test images drawn
            with ``seed`` (``None``, or at least as many as there are: all of them). The rest are held out
            for the compensation chapter's validation.
        seed: seed of the image subset and of the error draws.
    """

    repetitions: int
    test_images: int | None
    seed: int = 0

    def __post_init__(self):
        if isinstance(self.repetitions, bool) or not isinstance(self.repetitions, int) or self.repetitions < 1:
            raise ValueError(f"repetitions must be an integer >= 1; got {self.repetitions!r}")
        if self.test_images is not None and (isinstance(self.test_images, bool)
                                             or not isinstance(self.test_images, int) or self.test_images < 1):
            raise ValueError(f"test_images must be None or an integer >= 1; got {self.test_images!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer; got {self.seed!r}")

    @classmethod
    def preset(cls, profile: str, seed: int = 0) -> "TableConfig":
        """``smoke``: 2 draws on 256 images; ``default``: 100 draws (the paper's) on 1,000 images;
        ``paper``: 100 draws on the whole test set."""
        return cls(**TABLE_PRESETS[check_profile(profile)], seed=seed)


def table_images(test: ImageTensors, config: TableConfig) -> tuple[ImageTensors, ImageTensors | None]:
    """The table's images and the held-out rest: ``test.split(config.test_images, config.seed)`` when that
    leaves images over, else ``(test, None)`` (the table uses every test image)."""
    if not isinstance(config, TableConfig):
        raise ValueError(f"config must be a TableConfig; got {type(config).__name__}")
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
    """

    table: SensitivityTable
    images: ImageTensors
    held_out: ImageTensors | None
    config: TableConfig


def table_for(baseline, config: TableConfig, device: str = "cpu") -> TableInputs:
    """The sensitivity table of ``baseline`` (an :class:`imckit.core.training.Trained`) under ``config``:
    computed once, then read from the cache by every chapter that asks with the same config."""
    images, held_out = table_images(baseline.test_set, config)
    table = sensitivity_table(baseline.model, images, repetitions=config.repetitions, seed=config.seed,
                              progress=False, device=device)
    return TableInputs(table, images, held_out, config)


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
        if not isinstance(self.table, TableConfig):
            raise ValueError(f"table must be a TableConfig; got {type(self.table).__name__}")
        if isinstance(self.tolerance, bool) or not isinstance(self.tolerance, (int, float)) \
                or not 0 <= self.tolerance <= 100:
            raise ValueError(f"tolerance must be a number in [0, 100] (% loss change); got {self.tolerance!r}")

    @classmethod
    def preset(cls, profile: str, seed: int = 0, repetitions: int = 0, test_images: int = 0) -> "SensitivityConfig":
        """The profile's table (:meth:`TableConfig.preset`); ``repetitions`` or ``test_images`` other than 0
        replace the profile's (then the later chapters, which use the profile's, compute their own)."""
        table = TableConfig.preset(profile, seed)
        for name, value in (("repetitions", repetitions), ("test_images", test_images)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0 (0: the profile's); got {value!r}")
        table = TableConfig(repetitions or table.repetitions, test_images or table.test_images, seed)
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
    if not isinstance(config, SensitivityConfig):
        raise ValueError(f"config must be a SensitivityConfig; got {type(config).__name__}")
    inputs = table_for(baseline, config.table, device=device)
    table = inputs.table
    return SensitivityResult(config, inputs, paper_format(table), share_table(table),
                             check_observations(table, config.tolerance))
