"""Chapter "Baseline": the shared trained network, its accuracy and its mappable layers.

Every later chapter starts from the network this chapter trains (or loads from the cache):
:func:`imckit.core.training.baseline_spec` defines it per run profile, :func:`imckit.core.training.pretrained`
trains and caches it. :func:`run` adds what the chapter reports about it: the table of the mappable layers
(the units the later chapters quantize and perturb) and which layer dominates the mapped weights.

The cache rule of the chapters: a cached computation's key names only the modules that compute it (a
``<chapter>_steps`` module of :mod:`imckit.experiments`, or a module of the library), never a chapter module
with sentences, plots or result classes, so editing a chapter's text invalidates no expensive result.
Here the only cached value is the network, keyed by :mod:`imckit.core.training`'s code.

The paper's network size: the seed paper's text does not give its ResNet-8's filter counts, but its tables
fix them. :func:`fit_paper_widths` searches all stack widths for the network whose per-layer weight shares
are the paper's (Table I) and reports its weight count against the paper's (Table II);
:func:`paper_network_table` sets the paper's shares beside the kit's two ResNet-8 sizes
(:data:`imckit.core.models.MODELS`: ``"resnet8"``, MLPerf Tiny's, and ``"resnet8_paper"``, the fitted one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imckit.core.models import build_model, layer_table, mappable_layers
from imckit.core.data import DATASETS
from imckit.core.profiles import check_profile
from imckit.core.validate import check_bool, check_choice, check_count, check_int, check_number, check_seed
from imckit.experiments.checks import check_config, check_data_root, check_device, check_items
from imckit.core.training import BaselineSpec, Trained, baseline_spec, pretrained
from imckit.memory.cells import BASELINE_BITS
from imckit.search.sensitivity import PAPER_Q8_MLC0_REDUCTION

__all__ = ["BaselineConfig", "BaselineResult", "largest_layer", "load_baseline", "run", "PAPER_FULL8_DEVICES",
           "PAPER_FULL8_BITS", "PAPER_TABLE_I_DECIMALS", "SKIP_BUNDLINGS", "paper_weight_shares",
           "resnet8_layer_weights", "PaperWidthFit", "fit_paper_widths", "paper_network_table", "paper_size_sentence",
           "augmentation_phrase", "q8_mlc0_reductions", "scorecard"]

# Seed paper 000, Table II, row "Full 8", column "Memory (Kilo Devices)": 2325.1k devices. The row's variables
# are solution index 4 for every layer, Table I's "Quantized 8, MLC 0": 8-bit weights, one SLC device per
# bit, so 8 devices per weight (PAPER_FULL8_BITS).
PAPER_FULL8_DEVICES = 2_325_100
PAPER_FULL8_BITS = 8
# Seed paper 000, Table I: every %ΔMemory entry is printed with 3 decimals.
PAPER_TABLE_I_DECIMALS = 3

SKIP_BUNDLINGS = ("first", "second")
"""Where a stack's skip 1x1 convolution is counted: with the stack's ``"first"`` convolution (the kit's
:func:`imckit.core.models.mappable_layers`) or its ``"second"`` (the one whose output it is added to)."""


@dataclass(frozen=True)
class BaselineConfig:
    """What the chapter trains.

    Attributes:
        spec: the shared baseline (model, dataset, training and test image counts, epochs and optimizer,
            seed); the preset of each profile is :func:`imckit.core.training.baseline_spec`'s, so every
            chapter that asks for the profile's baseline gets this very network from the cache.
    """

    spec: BaselineSpec

    def __post_init__(self):
        check_config(self.spec, "spec", BaselineSpec)

    @classmethod
    def preset(cls, profile: str, dataset: str = "fashion-mnist", seed: int = 0) -> "BaselineConfig":
        """The profile's baseline: ``smoke`` MLPerf Tiny's ResNet-8, 4,096 training / 1,024 test images and 2
        epochs, ``default`` the same network on the full splits for 6 epochs, ``paper`` the paper-sized
        ResNet-8 (``"resnet8_paper"``) on the full splits for 80 epochs; crop+flip augmentation on colour
        32x32 data (:func:`imckit.core.training.baseline_spec`)."""
        check_profile(profile)
        check_choice(dataset, "dataset", DATASETS)
        return cls(baseline_spec(profile, dataset=dataset, seed=check_seed(seed)))


def largest_layer(table) -> tuple[str, float]:
    """The name of the layer with the most weights in a :func:`imckit.core.models.layer_table` and its share
    of all mapped weights (%)."""
    if len(table) == 0:
        raise ValueError("table must list at least one layer")
    position = int(table["weights"].to_numpy().argmax())
    return str(table["name"].iloc[position]), float(table["share of weights (%)"].iloc[position])


@dataclass(frozen=True, eq=False)
class BaselineResult:
    """What the chapter shows.

    Attributes:
        config: the configuration it ran with.
        trained: the trained network with its data, training history and test metrics.
        layers: the mappable layers (:func:`imckit.core.models.layer_table`): kind, weight shapes, weights,
            biases and each layer's share of all mapped weights (%).
    """

    config: BaselineConfig
    trained: Trained
    layers: object  # pandas.DataFrame

    @property
    def mapped_weights(self) -> int:
        """Weights of all mappable layers (biases excluded)."""
        return int(self.layers["weights"].sum())

    @property
    def largest_layer(self) -> str:
        """The layer with the most weights."""
        return largest_layer(self.layers)[0]

    @property
    def largest_share(self) -> float:
        """The largest layer's share of all mapped weights (%)."""
        return largest_layer(self.layers)[1]

    @property
    def train_seconds(self) -> float:
        """Seconds the training took when it ran (read from the cached history when loaded)."""
        return float(sum(self.trained.history.seconds))

    @property
    def augmented(self) -> bool:
        """Whether the training augmented its images (:meth:`imckit.core.training.TrainConfig.augments`)."""
        return self.config.spec.train.augments(self.trained.train_set.images)

    @property
    def checkpoint(self) -> str:
        """The checkpoint's file name in the cache folder (no machine path)."""
        return self.trained.path.name


def load_baseline(profile: str, dataset: str = "fashion-mnist", seed: int = 0, data_root: str = "",
                  progress: bool = False, device: str = "cpu") -> Trained:
    """The profile's shared baseline (:meth:`BaselineConfig.preset`), from the cache when the chapter
    "Baseline" (or any other) trained it before: what every later chapter starts from."""
    check_data_root(data_root)
    progress = check_bool(progress, "progress")
    check_device(device)
    spec = BaselineConfig.preset(profile, dataset=dataset, seed=seed).spec
    return pretrained(spec, data_root=data_root or None, progress=progress, device=device)


def run(config: BaselineConfig, data_root: str = "", progress: bool = True, device: str = "cpu") -> BaselineResult:
    """Train (or load from the cache) the baseline of ``config`` and tabulate its mappable layers.

    Args:
        config: the chapter's configuration (:meth:`BaselineConfig.preset`).
        data_root: folder searched first for the dataset (``""``: ``$IMCKIT_DATA`` and Debian's package).
        progress: show a progress bar while training.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``: where the network trains when it is not cached.
    """
    check_config(config, "config", BaselineConfig)
    check_data_root(data_root)
    progress = check_bool(progress, "progress")
    check_device(device)
    trained = pretrained(config.spec, data_root=data_root or None, progress=progress, device=device)
    return BaselineResult(config, trained, layer_table(trained.model))


# --------------------------------------------------------------------------------------------------------
# the paper's network size


def paper_weight_shares(reductions=PAPER_Q8_MLC0_REDUCTION, bits: int = PAPER_FULL8_BITS,
                        baseline_bits: int = BASELINE_BITS) -> np.ndarray:
    """Each layer's share (%) of all the paper network's weights, from its Table I.

    ``reductions`` is the column of a configuration that stores every weight in ``bits`` SLC devices
    instead of the ``baseline_bits`` of the reference network (default: Table I's "Quantized 8, MLC 0",
    layers 1-7, :data:`imckit.search.sensitivity.PAPER_Q8_MLC0_REDUCTION`). Its %ΔMemory entry of a layer is
    ``share * (baseline_bits - bits) / baseline_bits``, so the share is ``baseline_bits / (baseline_bits -
    bits)`` (3 for 8 of 12 bits) times it. The last layer, whose entry the table does not give (the dense
    layer's -0.40 is not a saving), gets the rest to 100 %.

    Returns:
        One share per layer: the given layers', then the last layer's.
    """
    values = np.asarray(reductions, dtype=float)
    if values.ndim != 1 or len(values) == 0 or not (np.isfinite(values).all() and (values >= 0).all()):
        raise ValueError(f"reductions must be a non-empty sequence of non-negative numbers; got {reductions!r}")
    baseline_bits = check_int(baseline_bits, "baseline_bits", 2, 64)
    bits = check_int(bits, "bits", 1, baseline_bits - 1)
    shares = values * baseline_bits / (baseline_bits - bits)
    if shares.sum() >= 100:
        raise ValueError(f"reductions must leave a share for the last layer; they add up to {shares.sum():.3f} %")
    return np.append(shares, 100 - shares.sum())


def resnet8_layer_weights(widths, in_channels, num_classes: int = 10, skip_with: str = "first") -> np.ndarray:
    """The weights (kernel elements, no biases) of ResNet-8's 8 mappable layers, counted by formula.

    Args:
        widths: the three stacks' filters ``(c1, c2, c3)``; each may be a numpy array (all of the same
            shape) to count many networks at once.
        in_channels: image channels (a number or an array broadcasting with the widths).
        num_classes: outputs of the dense layer.
        skip_with: where each skip 1x1 convolution is counted (:data:`SKIP_BUNDLINGS`); ``"first"`` gives
            the counts of :func:`imckit.core.models.mappable_layers`.

    Returns:
        An array (8, *shape of the widths).
    """
    check_choice(skip_with, "skip_with", SKIP_BUNDLINGS)
    num_classes = check_count(num_classes, "num_classes")
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__len__") or len(widths) != 3:
        raise ValueError(f"widths must be the three stacks' filters (c1, c2, c3); got {widths!r}")
    c1, c2, c3 = (np.asarray(c, dtype=np.int64) for c in widths)
    cin = np.asarray(in_channels, dtype=np.int64)
    layers = [9 * cin * c1, 9 * c1 * c1, 9 * c1 * c1, 9 * c1 * c2, 9 * c2 * c2, 9 * c2 * c3, 9 * c3 * c3,
              c3 * int(num_classes)]
    layers = [np.broadcast_to(layer, np.broadcast_shapes(*(np.shape(x) for x in (cin, c1, c2, c3))))
              for layer in layers]
    first = 3 if skip_with == "first" else 4
    layers[first] = layers[first] + c1 * c2
    layers[first + 2] = layers[first + 2] + c2 * c3
    return np.stack(layers)


@dataclass(frozen=True)
class PaperWidthFit:
    """The ResNet-8 whose weight shares best match the paper's (:func:`fit_paper_widths`).

    Attributes:
        widths: the three stacks' filters.
        in_channels: the image channels.
        skip_with: where its skip convolutions are counted (:data:`SKIP_BUNDLINGS`).
        error: the largest absolute difference of a layer's share from the paper's (percentage points).
        shares: its 8 layers' shares of all its weights (%).
        paper_shares: the paper's (:func:`paper_weight_shares`).
        weights: its weights (kernel elements of the 8 layers, no biases).
        paper_weights: the paper's, Table II's "Full 8" devices over its 8 devices per weight.
        runner_up_error: the error of the best other candidate (other widths, channels or bundling).
        bundling_errors: per bundling, the error of its best candidate.
        candidates: networks compared.
        tolerances: per layer, how far the paper's share can be from the exact one through the rounding of
            Table I alone (half a unit of its last printed digit, times the share factor; the last layer's,
            derived from all the others, adds up theirs).
    """

    widths: tuple[int, int, int]
    in_channels: int
    skip_with: str
    error: float
    shares: tuple[float, ...]
    paper_shares: tuple[float, ...]
    weights: int
    paper_weights: float
    runner_up_error: float
    bundling_errors: dict
    candidates: int
    tolerances: tuple[float, ...]

    @property
    def weights_gap(self) -> float:
        """Relative difference of its weights from the paper's (fraction)."""
        return self.weights / self.paper_weights - 1

    @property
    def within_rounding(self) -> bool:
        """Whether every layer's share is the paper's up to the rounding of Table I (:attr:`tolerances`)."""
        gaps = np.abs(np.asarray(self.shares) - np.asarray(self.paper_shares))
        return bool((gaps <= np.asarray(self.tolerances) + 1e-12).all())


def fit_paper_widths(reductions=PAPER_Q8_MLC0_REDUCTION, devices: float = PAPER_FULL8_DEVICES,
                     bits: int = PAPER_FULL8_BITS, step: int = 4, max_width: int = 256,
                     in_channels=(1, 3), num_classes: int = 10,
                     decimals: int = PAPER_TABLE_I_DECIMALS) -> PaperWidthFit:
    """The paper's ResNet-8 stack widths, by brute force over all candidates.

    Every network with stack widths ``(c1, c2, c3)``, each a multiple of ``step`` up to ``max_width``, on
    each of ``in_channels``, with its skip convolutions counted with either convolution of their stack
    (:data:`SKIP_BUNDLINGS`), is compared with the paper by its 8 layers' shares of all weights
    (:func:`resnet8_layer_weights`, :func:`paper_weight_shares`); the one with the smallest largest
    difference wins. The weight count plays no part in the choice; it is reported next to the paper's,
    ``devices / bits``, as a check.

    Args:
        reductions: Table I's %ΔMemory column of layers 1-7 (see :func:`paper_weight_shares`).
        devices: Table II's memory of the network stored at ``bits`` SLC devices per weight.
        bits: devices per weight of ``devices`` and of the column ``reductions``.
        step: the widths' step (1 to 64).
        max_width: the largest width tried (``step`` to 1,024).
        in_channels: image channels tried (each 1 to 64).
        num_classes: outputs of the dense layer.
        decimals: decimals of the ``reductions`` as printed (for :attr:`PaperWidthFit.tolerances`).
    """
    decimals = check_int(decimals, "decimals", 0, 12)
    step = check_int(step, "step", 1, 64)
    max_width = check_int(max_width, "max_width", step, 1024)
    channels = in_channels if isinstance(in_channels, (tuple, list)) else (in_channels,)
    channels = check_items(channels, "in_channels", lambda c, n: check_int(c, n, 1, 64),
                           allowed="integers in [1, 64]")
    num_classes = check_count(num_classes, "num_classes")
    devices = check_number(devices, "devices", 0, low_open=True)
    paper = paper_weight_shares(reductions, bits=bits)
    if len(paper) != 8:
        raise ValueError(f"reductions must give layers 1-7 of ResNet-8; got {len(paper) - 1} values")
    grid = np.arange(step, max_width + 1, step)
    c1, c2, c3, cin = (a.ravel() for a in np.meshgrid(grid, grid, grid, np.asarray(channels), indexing="ij"))
    results = []
    for skip_with in SKIP_BUNDLINGS:
        layers = resnet8_layer_weights((c1, c2, c3), cin, num_classes, skip_with)
        shares = 100 * layers / layers.sum(axis=0)
        errors = np.abs(shares - paper[:, None]).max(axis=0)
        results.append((skip_with, errors, layers, shares))
    errors = np.concatenate([r[1] for r in results])
    order = np.argsort(errors, kind="stable")[:2]
    skip_with, _, layers, shares = results[order[0] // len(c1)]
    best = order[0] % len(c1)
    return PaperWidthFit(
        widths=(int(c1[best]), int(c2[best]), int(c3[best])), in_channels=int(cin[best]), skip_with=skip_with,
        error=float(errors[order[0]]), shares=tuple(float(v) for v in shares[:, best]),
        paper_shares=tuple(float(v) for v in paper), weights=int(layers[:, best].sum()),
        paper_weights=float(devices) / bits, runner_up_error=float(errors[order[1]]),
        bundling_errors={name: float(e.min()) for name, e, _, _ in results}, candidates=int(errors.size),
        tolerances=_tolerances(len(paper), bits, decimals))


def _tolerances(layers: int, bits: int, decimals: int) -> tuple[float, ...]:
    each = 0.5 * 10.0**-decimals * BASELINE_BITS / (BASELINE_BITS - bits)
    return (each,) * (layers - 1) + (each * (layers - 1),)


def _layer_weights(model, skip_with: str) -> list[int]:
    """The weights of ``model``'s mappable layers, its skip convolutions counted with the stack's first
    convolution (as :func:`imckit.core.models.mappable_layers` does) or moved to its second."""
    layers = mappable_layers(model)
    weights = [layer.weights for layer in layers]
    if skip_with == "second":
        for i, layer in enumerate(layers):
            for name in layer.modules:
                if name.endswith(".skip"):
                    moved = model.get_submodule(name).weight.numel()
                    weights[i] -= moved
                    weights[i + 1] += moved
    return weights


def paper_network_table(reductions=PAPER_Q8_MLC0_REDUCTION, devices: float = PAPER_FULL8_DEVICES,
                        bits: int = PAPER_FULL8_BITS):
    """The paper's ResNet-8 beside the kit's two: per layer, its share of all weights (%), and the weights.

    Columns: the paper's shares (:func:`paper_weight_shares`, from Table I); the kit's ``"resnet8"`` on
    Fashion-MNIST (1 channel, MLPerf Tiny's widths); its ``"resnet8_paper"`` on CIFAR-10 (3 channels), with
    the kit's bundling of the skip convolutions (:func:`imckit.core.models.mappable_layers`) and with the
    paper's (each counted with the second convolution of its stack, as :func:`fit_paper_widths` finds).
    Rows: the 8 layers (index 1-8, the kit's layer names in column ``"layer"``), then ``"total (weights)"``:
    the weights of all 8 layers (the paper's: Table II's ``devices`` over ``bits`` devices per weight).
    """
    import pandas as pd

    devices = check_number(devices, "devices", 0, low_open=True)
    paper = paper_weight_shares(reductions, bits=bits)
    small = build_model("resnet8", in_channels=1, num_classes=10)
    large = build_model("resnet8_paper", in_channels=3, num_classes=10)
    columns = {"paper (Table I)": (paper, float(devices) / bits)}
    for label, model, skip_with in (("resnet8, Fashion-MNIST", small, "first"),
                                    ("resnet8_paper, CIFAR-10", large, "first"),
                                    ("resnet8_paper, skips as the paper", large, "second")):
        weights = np.asarray(_layer_weights(model, skip_with), dtype=float)
        columns[label] = (100 * weights / weights.sum(), float(weights.sum()))
    names = [layer.name for layer in mappable_layers(small)]
    if len(paper) != len(names):
        raise ValueError(f"reductions must give layers 1-{len(names) - 1}; got {len(paper) - 1} values")
    frame = pd.DataFrame({"layer": names + [""]}, index=[str(i) for i in range(1, len(names) + 1)]
                         + ["total (weights)"])
    for label, (shares, total) in columns.items():
        frame[label] = list(shares) + [total]
    return frame


def paper_size_sentence(fit: PaperWidthFit) -> str:
    """What :func:`fit_paper_widths` found, in words: whether a ResNet-8 matches the paper's layer shares to
    the rounding of its Table I (and its weights Table II), and where the paper counted the skip
    convolutions."""
    check_config(fit, "fit", PaperWidthFit)
    widths = "/".join(map(str, fit.widths))
    if not fit.within_rounding:
        return (f"None of the {fit.candidates:,} candidate ResNet-8s gives the layer shares that Table I implies "
                f"to the rounding of its three decimals: the closest, stack widths {widths} on "
                f"{fit.in_channels}-channel images, is off by up to {fit.error:.4f} points.")
    parts = [f"Of {fit.candidates:,} candidates, stack widths {widths} on {fit.in_channels}-channel images "
             f"give the layer shares that Table I implies to within {fit.error:.4f} points, inside the rounding "
             f"of its three decimals; "
             f"the next best candidate is off by {fit.runner_up_error:.3f} points."]
    if abs(fit.weights_gap) < 1e-3:
        parts.append(f"Its {fit.weights:,} weights are Table II's {fit.paper_weights / 1e3:,.1f}k "
                     f"({fit.weights_gap:+.4%}), a check the fit did not use.")
    else:
        parts.append(f"Its {fit.weights:,} weights differ from Table II's {fit.paper_weights / 1e3:,.1f}k by "
                     f"{fit.weights_gap:+.1%}.")
    other = next(name for name in SKIP_BUNDLINGS if name != fit.skip_with)
    parts.append(f"The match counts each skip 1x1 convolution with the {fit.skip_with} convolution of "
                 f"its stack; counted with the {other}, the best candidate is off by "
                 f"{fit.bundling_errors[other]:.2f} points.")
    return " ".join(parts)


def augmentation_phrase(augmented: bool) -> str:
    """How the baseline's training images were augmented, for the chapter's text."""
    return ("random 4-pixel crops of the zero-padded images and random horizontal flips" if augmented
            else "no data augmentation")


# --------------------------------------------------------------------------------------------------------
# paper vs this kit


def q8_mlc0_reductions(layers) -> dict[str, float]:
    """Each convolution's Table I "Q8 MLC0" memory reduction (% of the 12-bit network): its share of the
    weights times the 4 of 12 devices per weight that 8-bit SLC words save."""
    saved = (BASELINE_BITS - PAPER_FULL8_BITS) / BASELINE_BITS
    rows = layers[layers["kind"] == "conv"]
    return {name: float(share) * saved for name, share in zip(rows["name"], rows["share of weights (%)"])}


def scorecard(result: BaselineResult, fit: PaperWidthFit, profile: str):
    """The chapter's "Paper vs this kit" table: the network's layers and memory split, and the paper-size
    network's device count (:func:`fit_paper_widths`)."""
    from imckit.experiments.setting import kit_setting
    from imckit.papers import Scorecard

    check_config(result, "result", BaselineResult)
    check_config(fit, "fit", PaperWidthFit)
    card = Scorecard("baseline", setting=kit_setting(result.trained), profile=profile)
    card.add("000/network-layers", float(len(result.layers)))
    reductions = q8_mlc0_reductions(result.layers)
    card.add("000/table1-q8mlc0-memory-order", reductions)
    card.add("000/table1-largest-layer-memory", reductions[result.layers["name"].iloc[-2]],
             note=f"the kit's last convolution is {result.layers['name'].iloc[-2]}")
    card.add("000/table2-full8-devices", fit.weights * PAPER_FULL8_BITS / 1e3,
             setting={"network": "ResNet-8", "dataset": "CIFAR-10"},
             note=f"the paper-size network fitted to Table I's shares (widths {'/'.join(map(str, fit.widths))})")
    return card
