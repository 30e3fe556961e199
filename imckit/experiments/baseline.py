"""Chapter "Baseline": the shared trained network, its accuracy and its mappable layers.

Every later chapter starts from the network this chapter trains (or loads from the cache):
:func:`imckit.core.training.baseline_spec` defines it per run profile, :func:`imckit.core.training.pretrained`
trains and caches it. :func:`run` adds what the chapter reports about it: the table of the mappable layers
(the units the later chapters quantize and perturb) and which layer dominates the mapped weights.

The cache rule of the chapters: a cached computation's key names only the modules that compute it (a
``<chapter>_steps`` module of :mod:`imckit.experiments`, or a module of the library), never a chapter module
with sentences, plots or result classes, so editing a chapter's text invalidates no expensive result.
Here the only cached value is the network, keyed by :mod:`imckit.core.training`'s code.
"""

from __future__ import annotations

from dataclasses import dataclass

from imckit.core.models import layer_table
from imckit.core.profiles import check_profile
from imckit.core.training import BaselineSpec, Trained, baseline_spec, pretrained

__all__ = ["BaselineConfig", "BaselineResult", "largest_layer", "load_baseline", "run"]


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
        if not isinstance(self.spec, BaselineSpec):
            raise ValueError(f"spec must be a BaselineSpec; got {type(self.spec).__name__}")

    @classmethod
    def preset(cls, profile: str, dataset: str = "fashion-mnist", seed: int = 0) -> "BaselineConfig":
        """The profile's baseline: ``smoke`` 4,096 training / 1,024 test images and 2 epochs, ``default`` the
        full splits and 6 epochs, ``paper`` the full splits and 30 epochs."""
        return cls(baseline_spec(check_profile(profile), dataset=dataset, seed=seed))


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
    def checkpoint(self) -> str:
        """The checkpoint's file name in the cache folder (no machine path)."""
        return self.trained.path.name


def load_baseline(profile: str, dataset: str = "fashion-mnist", seed: int = 0, data_root: str = "",
                  progress: bool = False, device: str = "cpu") -> Trained:
    """The profile's shared baseline (:meth:`BaselineConfig.preset`), from the cache when the chapter
    "Baseline" (or any other) trained it before: what every later chapter starts from."""
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
    if not isinstance(config, BaselineConfig):
        raise ValueError(f"config must be a BaselineConfig; got {type(config).__name__}")
    trained = pretrained(config.spec, data_root=data_root or None, progress=progress, device=device)
    return BaselineResult(config, trained, layer_table(trained.model))
