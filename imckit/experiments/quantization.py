"""Chapter "Quantization and cell mapping": what uniform quantization costs, words in cells, memory in
devices, and one layer read back with MLC errors.

:func:`run` evaluates the baseline with every mappable layer quantized to each width and each ``alpha``
mode (cached: :func:`imckit.experiments.quantization_steps.uniform_quantization`, the module that holds the
computation and nothing else, so editing this module's sentences invalidates no table), tabulates the
devices of the paper's ten configurations (:func:`memory_summary`) and reads one layer back through the
calibrated FeFET model once (:func:`read_layer_once`). The verdict on the fixed grid is
:func:`fixed_grid_sentence`.

Quantization-aware networks (issue: the paper's networks are trained with QKeras): :func:`aware_comparison`
sets, for 8, 4 and 2 bits, the float network quantized after training (ternary ``"auto"`` and four-level
``"midrise"`` grids), a dedicated quantization-aware network per width ("Full b"), the switchable network of
the later chapters at that width for every layer, and the paper's Table II accuracy side by side
(:mod:`imckit.quantization.aware`; the networks are cached, their evaluations too). :func:`aware_verdicts`
checks the kit's targets: switchable within 1 point of the dedicated networks at 8 and 4 bits and within 3
at 2 bits, and Full 2 far above post-training quantization.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from imckit.core.profiles import check_profile
from imckit.core.validate import check_choice, check_int, check_number, check_seed
from imckit.experiments.checks import check_config, check_device, check_items, check_text
from imckit.experiments.quantization_steps import uniform_quantization
from imckit.injection.errors import QuantSpec, expected_changed_share, inject_cell_errors, quantize_layer
from imckit.memory.cells import BASELINE_BITS, CellConfig, memory_table, paper_configurations, slice_words
from imckit.memory.devices import FeFETMLC, bit_error_rate
from imckit.quantization.aware import AwareConfig
from imckit.quantization.qkeras import ALPHAS

AWARE_BITS = (8, 4, 2)
AWARE_PRESETS = {"smoke": (1, 1, 1), "default": (1, 1, 2), "paper": (30, 30, 30)}
"""Epochs of the dedicated Full 8 / Full 4 / Full 2 networks per profile (fine-tuned from the baseline)."""
PAPER_FULL_ACCURACY = {8: 89.0, 4: 86.8, 2: 78.5}
"""Seed paper 000, Table II, rows Full 8 / Full 4 / Full 2, "Accuracy w/o Retraining" (%, QKeras
quantization-aware ResNet-8 on CIFAR-10)."""

__all__ = ["QuantizationConfig", "QuantizationResult", "AWARE_BITS", "PAPER_FULL_ACCURACY", "aware_comparison",
           "aware_verdicts", "grid_comparison", "epochs_text", "LayerReadBack", "uniform_quantization", "chance_accuracy",
           "near_chance", "fixed_grid_sentence", "memory_summary", "slicing_table", "read_layer_once", "run",
           "scorecard", "drop_text"]


@dataclass(frozen=True)
class QuantizationConfig:
    """What the chapter evaluates.

    Attributes:
        bits: word lengths of the uniform-quantization table (each in [1, 16]).
        alphas: ``alpha`` modes of :class:`imckit.injection.errors.QuantSpec` compared in that table.
        histogram_layer: the mappable layer read back with errors (its bundled skip convolution, if any,
            is left out of the histogram).
        histogram_config: its configuration, a label of :func:`imckit.memory.cells.paper_configurations`
            (e.g. ``"Q8 MLC4"``).
        seed: seed of the layer's error draw and of the quantization-aware fine-tuning.
        aware_epochs: epochs of the dedicated Full 8, Full 4 and Full 2 networks (in this order).
        switchable: the switchable network's training (the one the later chapters use: the profile's
            :attr:`imckit.experiments.sensitivity.TableConfig.aware`).
    """

    bits: tuple[int, ...] = (12, 8, 4, 2)
    alphas: tuple[str | None, ...] = (None, "auto", "auto_po2", "midrise")
    histogram_layer: str = "stack2.conv2"
    histogram_config: str = "Q8 MLC4"
    seed: int = 0
    aware_epochs: tuple[int, ...] = (1, 1, 2)
    switchable: AwareConfig = AwareConfig(bits=(8, 4, 2), epochs=3, frozen_epochs=1)

    def __post_init__(self):
        object.__setattr__(self, "bits", check_items(self.bits, "bits", lambda b, n: check_int(b, n, 1, 16),
                                                     allowed="a non-empty tuple of integers in [1, 16]"))
        object.__setattr__(self, "alphas", check_items(self.alphas, "alphas", lambda a, n: check_choice(a, n, ALPHAS),
                                                       allowed=f"a non-empty tuple of values in {ALPHAS}"))
        check_text(self.histogram_layer, "histogram_layer")
        labels = [c.label for c in paper_configurations()]
        check_choice(self.histogram_config, "histogram_config", labels)
        object.__setattr__(self, "seed", check_seed(self.seed))
        epochs = check_items(self.aware_epochs, "aware_epochs", lambda e, n: check_int(e, n, 1, 1000),
                             allowed=f"a tuple of {len(AWARE_BITS)} integers in [1, 1000] (Full 8, 4, 2)")
        if len(epochs) != len(AWARE_BITS):
            raise ValueError(f"aware_epochs must be a tuple of {len(AWARE_BITS)} integers in [1, 1000] (Full 8, "
                             f"4, 2); got {self.aware_epochs!r}")
        object.__setattr__(self, "aware_epochs", epochs)
        if not isinstance(self.switchable, AwareConfig):
            raise TypeError(f"switchable must be an AwareConfig with several widths; got {self.switchable!r}")
        if not self.switchable.switchable:
            raise ValueError(f"switchable must be an AwareConfig with several widths; got {self.switchable!r}")

    def aware_configs(self) -> dict[str, AwareConfig]:
        """The dedicated networks' and the switchable network's training, by label."""
        dedicated = {f"Full {b}": AwareConfig(bits=(b,), epochs=e) for b, e in zip(AWARE_BITS, self.aware_epochs)}
        return {**dedicated, "switchable": self.switchable}

    @classmethod
    def preset(cls, profile: str, seed: int = 0, histogram_layer: str = "stack2.conv2",
               histogram_config: str = "Q8 MLC4") -> "QuantizationConfig":
        """The chapter's settings: the same in every profile (the profile acts through the baseline, whose
        test images the table evaluates: 1,024 in ``smoke``, all 10,000 in ``default`` and ``paper``)."""
        from imckit.experiments.sensitivity import TableConfig

        check_profile(profile)
        seed = check_seed(seed)
        check_text(histogram_layer, "histogram_layer")
        check_choice(histogram_config, "histogram_config", [c.label for c in paper_configurations()])
        return cls(histogram_layer=histogram_layer, histogram_config=histogram_config, seed=seed,
                   aware_epochs=AWARE_PRESETS[check_profile(profile)],
                   switchable=TableConfig.preset(profile, seed).aware)

    @property
    def cell_config(self) -> CellConfig:
        """The histogram's configuration."""
        return {c.label: c for c in paper_configurations()}[self.histogram_config]


def chance_accuracy(labels) -> float:
    """The accuracy (%) of always answering the most frequent class of ``labels``: what a network that has
    learned nothing reaches on these images."""
    try:
        labels = torch.as_tensor(labels)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"labels must be a non-empty 1-D tensor of class indices; got {type(labels).__name__}") \
            from None
    if labels.ndim != 1 or labels.numel() == 0:
        raise ValueError(f"labels must be a non-empty 1-D tensor of class indices; got shape {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool or bool((labels < 0).any()):
        raise ValueError(f"labels must be a non-empty 1-D tensor of class indices (integers >= 0); got dtype "
                         f"{labels.dtype}")
    return 100 * float(torch.bincount(labels).max()) / labels.numel()


def near_chance(accuracy: float, chance: float, margin: float = 5.0) -> bool:
    """Whether ``accuracy`` (%) lies at most ``margin`` points above ``chance`` (%, :func:`chance_accuracy`)."""
    margin = check_number(margin, "margin", 0)
    accuracy, chance = check_number(accuracy, "accuracy", 0, 100), check_number(chance, "chance", 0, 100)
    return accuracy <= chance + margin


def fixed_grid_sentence(accuracy_4: float, accuracy_2: float, chance: float, margin: float = 5.0) -> str:
    """The verdict on the fixed grid (``alpha=None``) at 4 and 2 bits (accuracies in %): only when both are
    near chance (:func:`near_chance`) does the paper's far-above-chance 4- and 2-bit accuracy (its Table II)
    rule out that the paper used the fixed grid on unscaled weights."""
    if near_chance(accuracy_4, chance, margin) and near_chance(accuracy_2, chance, margin):
        return (f"Both are within {margin:.0f} points of chance ({chance:.1f} %, always answering the most "
                "frequent class). The paper's 4- and 2-bit networks stay far above chance (its Table II), so it "
                "cannot have used the fixed grid on unscaled weights.")
    return (f"Chance is {chance:.1f} % here (always answering the most frequent class), and at least one of them "
            f"stays more than {margin:.0f} points above it, so this table does not rule out that the paper, whose "
            "4- and 2-bit networks stay far above chance (its Table II), used the fixed grid.")


def memory_summary(layers, configs=paper_configurations()):
    """Devices of the network under each configuration (all layers alike) against the uniform 12-bit SLC
    reference (:data:`imckit.memory.cells.BASELINE_BITS`).

    Returns:
        ``(summary, per_layer)``: ``summary`` has one row per configuration (its solution index, devices per
        weight, the network's devices and the reduction against the 12-bit SLC network in %); ``per_layer``
        is :func:`imckit.memory.cells.memory_table`.
    """
    import pandas as pd

    configs = tuple(configs)
    per_layer = memory_table(layers, configs, BASELINE_BITS)
    total = per_layer.sum()
    reference = total[f"Q{BASELINE_BITS} SLC"]
    summary = pd.DataFrame({
        "solution index": range(len(configs)),
        "devices per weight": [c.devices_per_weight for c in configs],
        "network devices": [int(total[c.label]) for c in configs],
        f"reduction vs {BASELINE_BITS}-bit SLC (%)": [100 * (1 - total[c.label] / reference) for c in configs],
    }, index=pd.Index([c.label for c in configs], name="configuration"))
    return summary, per_layer


def slicing_table(config: CellConfig):
    """Every signed code of ``config.bits`` bits, its offset-binary word and the cell values it is stored as
    (columns: codes; rows: the word, then the cells, least significant first)."""
    import pandas as pd

    words = torch.arange(2 ** config.bits)
    cells = slice_words(words, config)
    columns = {"code": (words - 2 ** (config.bits - 1)).tolist(),
               "word": [format(w, f"0{config.bits}b") for w in words.tolist()]}
    for k, (low, width) in enumerate(config.cells()):
        name = f"MLC cell (bits {low + 1}-{low}), state" if width == 2 else f"SLC bit {low}"
        columns[name] = cells[:, k].tolist()
    return pd.DataFrame(columns).set_index("code").T


@dataclass(frozen=True, eq=False)
class LayerReadBack:
    """One layer's integer codes written and read back once.

    Attributes:
        layer: the layer's name; config: its configuration.
        written, read: the codes before and after the read (same shape).
        expected_changed: the share (0-1) of weights the device model expects to change, from the states
            the layer's cells hold.
        uniform_changed: the share (0-1) expected if every MLC cell failed at the device's average bit
            error rate.
    """

    layer: str
    config: CellConfig
    written: torch.Tensor
    read: torch.Tensor
    expected_changed: float
    uniform_changed: float

    @property
    def changed(self) -> float:
        """The share (0-1) of the layer's weights whose code changed in this draw."""
        return float((self.read != self.written).double().mean())

    @property
    def weights(self) -> int:
        return self.written.numel()


def read_layer_once(model, layer: str, config: CellConfig, seed: int = 0, mlc=FeFETMLC(),
                    quant: QuantSpec = QuantSpec()) -> LayerReadBack:
    """Quantize ``layer`` of ``model`` to ``config`` and read every cell back once through ``mlc`` (SLC cells
    error-free). A bundled skip convolution is left out: the layer's first module is read."""
    from imckit.core.models import mappable_layers

    check_config(config, "config", CellConfig)
    seed = check_seed(seed)
    modules = {item.name: item.modules for item in mappable_layers(model)}
    check_choice(layer, "histogram_layer", list(modules))
    module = modules[layer][0]
    q = quantize_layer(model, (module,), config.bits, quant)[module]
    read = inject_cell_errors(q, config, mlc, repetitions=1, generator=torch.Generator().manual_seed(seed))[0]
    uniform = 1 - (1 - bit_error_rate(mlc.transition_matrix())) ** config.mlc_cells
    return LayerReadBack(layer, config, q.codes, read, expected_changed_share(q, config, mlc), uniform)


AWARE_TARGETS = {8: 1.0, 4: 1.0, 2: 3.0}
"""The kit's targets: the switchable network within this many points of the dedicated network, per width."""
AWARE_COLUMNS = ("post-training, auto (%)", "post-training, midrise (%)", "dedicated (%)", "switchable (%)",
                 "paper, QKeras on CIFAR-10 (%)")


def epochs_text(config: AwareConfig) -> str:
    """``"3 epochs and 1 with BatchNorm frozen"``: a quantization-aware network's training, in words."""
    text = f"{config.epochs} epoch{'s' if config.epochs != 1 else ''}"
    return text + (f" and {config.frozen_epochs} with BatchNorm frozen" if config.frozen_epochs else "")


def aware_comparison(baseline, config: QuantizationConfig, device: str = "cpu"):
    """Accuracy (%) of the uniform 8-, 4- and 2-bit networks four ways, beside the paper's (rows ``Full b``,
    columns :data:`AWARE_COLUMNS`), and the training minutes of each quantization-aware network (label ->
    minutes, of the run that trained it). Every network is cached (:func:`imckit.quantization.aware.aware_network`),
    every evaluation too (:func:`uniform_quantization`, on the baseline's test images)."""
    import pandas as pd

    from imckit.quantization.aware import aware_network

    check_config(config, "config", QuantizationConfig)
    check_device(device)
    test = baseline.test_set
    networks = {label: aware_network(baseline.model, baseline.train_set, aware, seed=config.seed, device=device)
                for label, aware in config.aware_configs().items()}
    post, _ = uniform_quantization(baseline.model, test, AWARE_BITS, ("auto", "midrise"), device=device)
    switchable, _ = uniform_quantization(networks["switchable"].model, test, AWARE_BITS, ("midrise",), device=device)

    def accuracy(frame, alpha, bits):
        return float(frame[(frame["alpha"] == alpha) & (frame["bits"] == bits)]["accuracy (%)"].iloc[0])

    rows = {}
    for b in AWARE_BITS:
        dedicated, _ = uniform_quantization(networks[f"Full {b}"].model, test, (b,), ("midrise",), device=device)
        rows[f"Full {b}"] = dict(zip(AWARE_COLUMNS, (accuracy(post, "auto", b), accuracy(post, "midrise", b),
                                                     accuracy(dedicated, "midrise", b),
                                                     accuracy(switchable, "midrise", b), PAPER_FULL_ACCURACY[b])))
    frame = pd.DataFrame.from_dict(rows, orient="index")
    return frame, {label: net.seconds / 60 for label, net in networks.items()}


def aware_verdicts(frame, targets=AWARE_TARGETS, far: float = 10.0) -> dict[str, str]:
    """Sentences on :func:`aware_comparison`'s ``frame``, each chosen by the numbers:

    ``switchable``: whether the switchable network stays within ``targets[b]`` points of the dedicated
    network at every width; ``full2``: whether the dedicated Full 2 network lies at least ``far`` points above
    the better post-training grid at 2 bits. (What the paper's Full 8/4/2 say is the verdict table's:
    :func:`scorecard`.)"""
    far = check_number(far, "far", 0)
    gaps = {b: float(frame.loc[f"Full {b}", "dedicated (%)"] - frame.loc[f"Full {b}", "switchable (%)"])
            for b in AWARE_BITS}
    missed = [b for b in AWARE_BITS if gaps[b] > targets[b]]
    listing = ", ".join(f"{gaps[b]:+.1f} at {b} bits (target {targets[b]:.0f})" for b in AWARE_BITS)
    if missed:
        switchable = (f"The switchable network misses the kit's target at {', '.join(f'{b}' for b in missed)} "
                      f"bits: dedicated minus switchable is {listing}.")
    else:
        switchable = f"The switchable network meets the kit's targets: dedicated minus switchable is {listing}."
    post = max(frame.loc["Full 2", "post-training, auto (%)"], frame.loc["Full 2", "post-training, midrise (%)"])
    lead = float(frame.loc["Full 2", "dedicated (%)"] - post)
    full2 = (f"Trained at 2 bits, Full 2 keeps {frame.loc['Full 2', 'dedicated (%)']:.1f} %, {lead:.1f} points "
             f"above the better post-training grid ({post:.1f} %)"
             + (": configurations with 2-bit layers are meaningful on this network." if lead >= far else
                f", less than the {far:.0f} points the kit asks for, so 2-bit configurations stay doubtful."))
    return {"switchable": switchable, "full2": full2}


def grid_comparison(model, bits=AWARE_BITS):
    """The ternary ``"auto"`` grid against the four-level ``"midrise"`` grid on ``model``'s mappable
    weights, per width: the storage words a ``b``-bit weight uses (of ``2**b``), how many of the ``2**b``
    words occur in the network, and the relative mean squared quantization error (all weights together)."""
    import pandas as pd

    from imckit.core.models import mappable_layers

    bits = check_items(bits, "bits", lambda b, n: check_int(b, n, 1, 16),
                       allowed="a non-empty tuple of integers in [1, 16]")
    weights = [model.get_submodule(m).weight.detach().cpu() for layer in mappable_layers(model)
               for m in layer.modules]
    rows = []
    for b in bits:
        for alpha in ("auto", "midrise"):
            spec = QuantSpec(alpha=alpha)
            quantized = [spec.apply(w, b) for w in weights]
            used = set().union(*(set(q.to_words().unique().tolist()) for q in quantized))
            error = sum(float((q.dequantize() - w).pow(2).sum()) for q, w in zip(quantized, weights))
            power = sum(float(w.pow(2).sum()) for w in weights)
            rows.append({"bits": b, "grid": alpha, "levels per weight": 2 ** b - (alpha == "auto"),
                         "words used": len(used), "words": 2 ** b, "relative squared error": error / power})
    return pd.DataFrame(rows).set_index(["bits", "grid"])


@dataclass(frozen=True, eq=False)
class QuantizationResult:
    """What the chapter shows.

    Attributes:
        config: the configuration it ran with.
        uniform: the uniform-quantization table (:func:`uniform_quantization`).
        float_accuracy, float_loss: the float network on the same images (accuracy in %).
        test_images: images evaluated.
        summary, per_layer: :func:`memory_summary` of the paper's ten configurations.
        read_back: the histogram layer read back once (:func:`read_layer_once`).
        from_cache: whether the uniform-quantization table came from the cache.
        chance_accuracy: the accuracy (%) of always answering the most frequent class of the test images
            (:func:`chance_accuracy`).
        aware: :func:`aware_comparison`'s table (rows Full 8/4/2).
        aware_minutes: training minutes of each quantization-aware network.
        grids: :func:`grid_comparison` of the float network.
    """

    config: QuantizationConfig
    uniform: object  # pandas.DataFrame
    float_accuracy: float
    float_loss: float
    test_images: int
    summary: object
    per_layer: object
    read_back: LayerReadBack
    from_cache: bool
    chance_accuracy: float
    aware: object = None  # pandas.DataFrame
    aware_minutes: dict = field(default_factory=dict)
    grids: object = None  # pandas.DataFrame

    def aware_verdicts(self) -> dict[str, str]:
        """:func:`aware_verdicts` of the chapter's quantization-aware table."""
        return aware_verdicts(self.aware)

    @property
    def aware_total_minutes(self) -> float:
        """Training minutes of all quantization-aware networks together."""
        return float(sum(self.aware_minutes.values()))

    def accuracy(self, alpha, bits: int) -> float:
        """The accuracy (%) of the uniform network with ``bits``-bit weights under ``alpha``."""
        rows = self.uniform[(self.uniform["alpha"] == str(alpha)) & (self.uniform["bits"] == bits)]
        if len(rows) != 1:
            raise ValueError(f"no entry for alpha={alpha!r}, bits={bits!r} in the uniform-quantization table")
        return float(rows["accuracy (%)"].iloc[0])

    def fixed_grid_verdict(self, margin: float = 5.0) -> str:
        """:func:`fixed_grid_sentence` of the fixed grid's (``alpha=None``) 4- and 2-bit accuracies."""
        return fixed_grid_sentence(self.accuracy(None, 4), self.accuracy(None, 2), self.chance_accuracy, margin)

    def uniform_table(self):
        """Accuracy and loss with rows = bits (widest first) and columns = (measure, alpha)."""
        return self.uniform.pivot(index="bits", columns="alpha",
                                  values=["accuracy (%)", "loss"]).sort_index(ascending=False)

    @property
    def reference_devices(self) -> int:
        """Devices of the uniform 12-bit SLC network."""
        return int(self.per_layer[f"Q{BASELINE_BITS} SLC"].sum())

    def devices(self, label: str) -> int:
        """The network's devices under one configuration (all layers alike)."""
        return int(self.summary.loc[label, "network devices"])

    def reduction(self, label: str) -> float:
        """The memory saved by one configuration against the 12-bit SLC network (%)."""
        return float(self.summary.loc[label, "reduction vs 12-bit SLC (%)"])


def run(baseline, config: QuantizationConfig, device: str = "cpu") -> QuantizationResult:
    """The chapter's computations on ``baseline`` (an :class:`imckit.core.training.Trained`: its model, test
    images and test metrics are used)."""
    from imckit.core.models import mappable_layers

    check_config(config, "config", QuantizationConfig)
    check_device(device)
    model, test = baseline.model, baseline.test_set
    read_back = read_layer_once(model, config.histogram_layer, config.cell_config, config.seed)
    uniform, from_cache = uniform_quantization(model, test, config.bits, config.alphas, device=device)
    summary, per_layer = memory_summary(mappable_layers(model))
    aware, minutes = aware_comparison(baseline, config, device=device)
    return QuantizationResult(config, uniform, 100 * baseline.test.accuracy, baseline.test.loss, len(test),
                              summary, per_layer, read_back, from_cache, chance_accuracy(test.labels), aware,
                              minutes, grid_comparison(model))


def scorecard(result, baseline, profile: str):
    """The chapter's "Paper vs this kit" table: the dedicated quantization-aware Full 8/4/2 networks against
    the paper's (absolute accuracies on another dataset: qualitative; their order: compared)."""
    from imckit.experiments.setting import kit_setting
    from imckit.papers import Scorecard

    card = Scorecard("quantization", profile=profile, setting=kit_setting(
        baseline, training="quantization-aware fine-tuning from the float network (the kit's choice), midrise grid"))
    dedicated = {b: float(result.aware.loc[f"Full {b}", "dedicated (%)"]) for b in AWARE_BITS}
    for b in AWARE_BITS:
        card.add(f"000/full{b}-accuracy", dedicated[b], setting={"bits": f"{b}-bit, all layers"})
    card.add("000/full-accuracy-order", {f"Full {b}": dedicated[b] for b in AWARE_BITS})
    return card


def drop_text(result) -> str:
    """The dedicated networks' accuracy drop from Full 8 to Full 2 beside the paper's (points), in words."""
    ours = float(result.aware.loc["Full 8", "dedicated (%)"] - result.aware.loc["Full 2", "dedicated (%)"])
    theirs = PAPER_FULL_ACCURACY[8] - PAPER_FULL_ACCURACY[2]
    return f"{ours:.1f} points from Full 8 to Full 2 (the paper: {theirs:.1f} on CIFAR-10)"
