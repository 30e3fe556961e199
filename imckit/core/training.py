"""Training, evaluation and the shared, cached baseline every chapter starts from.

>>> from imckit.core.training import baseline_spec, pretrained
>>> baseline = pretrained(baseline_spec("smoke"))          # doctest: +SKIP
>>> baseline.test.accuracy                                  # doctest: +SKIP

:func:`pretrained` trains the network once and stores the checkpoint in a content-addressed cache keyed by
everything that defines it (model, dataset contents, subsets, epochs, seed, optimizer settings and
augmentation, the version of the code that trains it, :func:`imckit.core.cache.code_version`, and torch's
version). A later call with the same spec loads it in a second; a truncated, corrupted or mismatched file
is ignored and the model retrained (see :mod:`imckit.core.cache`). :func:`train` is the kit's one training loop,
:func:`imckit.core.fit.fit`, with the plain cross-entropy step.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from imckit.core.cache import cache_entry, cached
from imckit.core.compute import resolve_device
from imckit.core.data import Dataset, ImageTensors, check_image_tensors, load_dataset
from imckit.core.fit import EpochRecord, _probe, cross_entropy_step, fit, random_crop_flip
from imckit.core.models import WIDTH_RANGE, build_model
from imckit.core.profiles import check_profile
from imckit.core.validate import check_bool, check_choice, check_count, check_int, check_number, check_seed

EVAL_BATCH_SIZE = 128  # measured on 2 cores: ~5x the throughput of batch 1000 for ResNet-8 (benchmarks/)

AUGMENTATIONS = ("auto", "none", "crop_flip")
"""Values of :attr:`TrainConfig.augment`."""

PAPER_EPOCHS = 80
"""Epochs of the paper profile's baseline, a choice: MLPerf Tiny's target for ResNet-8 on CIFAR-10 is 85 %
top-1 and the paper's 8-bit network reaches 89 % (Table II, "Full 8"); small ResNets trained with SGD, a
cosine decay and crop+flip augmentation are commonly trained for 60 to 100 epochs to get there, and 80 is
the middle of that range. Not measured by the kit: CIFAR-10 is not available where its tests run."""


@dataclass(frozen=True)
class TrainConfig:
    """How a network is trained: SGD with Nesterov momentum and a cosine learning-rate decay.

    Attributes:
        epochs: passes over the training set (0 leaves the network at its initialization).
        batch_size: images per SGD step.
        lr: peak learning rate, decayed to 0 by a cosine over all steps.
        momentum: SGD momentum (Nesterov).
        weight_decay: L2 penalty on all parameters.
        augment: data augmentation of every training batch (:data:`AUGMENTATIONS`): ``"crop_flip"``, the
            standard CIFAR recipe (:func:`imckit.core.fit.random_crop_flip`: a random 4-pixel shift of the
            zero-padded image and a random horizontal flip, drawn from the training's seeded generator, on
            the training device); ``"none"``, the images as they are; ``"auto"`` (default), crop+flip for
            colour 32x32 images (3 channels: CIFAR-10, or an image folder of it) and none otherwise (e.g.
            Fashion-MNIST, whose training is then exactly what it was without this field).
    """

    epochs: int = 6
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    augment: str = "auto"

    def __post_init__(self):
        # integers are stored as ``int`` (a numpy integer would key the cache as a string); numbers are
        # checked but kept as given, so that the cache keys of existing configs do not change
        object.__setattr__(self, "epochs", check_int(self.epochs, "epochs", 0, 10_000))
        object.__setattr__(self, "batch_size", check_count(self.batch_size, "batch_size"))
        check_number(self.lr, "lr", 0.0, 10.0, low_open=True)
        check_number(self.momentum, "momentum", 0.0, 1.0)
        check_number(self.weight_decay, "weight_decay", 0.0, 1.0)
        check_choice(self.augment, "augment", AUGMENTATIONS)

    def augments(self, images: torch.Tensor) -> bool:
        """Whether training on ``images`` (N, C, H, W) augments them: ``"crop_flip"`` always, ``"none"``
        never, ``"auto"`` for 3-channel 32x32 images."""
        if self.augment == "auto":
            return tuple(images.shape[1:]) == (3, 32, 32)
        return self.augment == "crop_flip"


@dataclass(frozen=True)
class Metrics:
    """Mean cross-entropy loss and top-1 accuracy (fraction, 0 to 1) over a dataset."""

    loss: float
    accuracy: float


@dataclass
class History:
    """Per-epoch record of a training run (lists, one entry per epoch)."""

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


@torch.no_grad()
def evaluate(model: nn.Module, data: ImageTensors, batch_size: int = EVAL_BATCH_SIZE, *,
             weights: dict[str, torch.Tensor] | None = None, device: str | torch.device = "cpu") -> Metrics:
    """Loss and accuracy of ``model`` in eval mode on ``data``, computed on ``device`` by the kit's engine
    (:func:`imckit.core.engine.evaluate`: the traced layer graph when it is exact, else the forward; hooks,
    e.g. LSQ input quantizers, are honoured).

    Args:
        model: the network. It is evaluated in eval mode and left as it was: the engine restores every
            module's train/eval flag, and the model is never moved or written to.
        data: the images and labels (at least one image).
        batch_size: images per micro-batch.
        weights: module name -> replacement weight (the modules of
            :func:`imckit.core.models.mappable_layers`; passed functionally); ``None``: the model's own.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
    """
    from imckit.core.engine import evaluate as evaluate_sets

    result = evaluate_sets(model, data, [dict(weights or {})], batch_size=batch_size, device=device)
    return Metrics(float(result.loss[0]), float(result.accuracy[0]))


def train(
    model: nn.Module,
    data: ImageTensors,
    config: TrainConfig,
    seed: int,
    test_data: ImageTensors | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
) -> History:
    """Train ``model`` in place on ``data``; evaluate on ``test_data`` after every epoch if given.

    The loop is :func:`imckit.core.fit.fit` with the plain cross-entropy step: SGD with Nesterov momentum
    and weight decay, a cosine learning-rate decay over all steps, BatchNorm in train mode, channels-last,
    and the augmentation of ``config.augment`` (:meth:`TrainConfig.augments`: crop+flip on colour 32x32
    images by default). The batch order, and the augmentation's crops and flips after it, are drawn from
    ``torch.Generator().manual_seed(seed)``, so the same seed, model initialization and data give the same
    weights. ``device`` (``"cpu"``, ``"cuda"``, ``"auto"``) is where
    the steps run; the model comes back on the device it came in on, in eval mode. ``seed`` is an integer in
    [0, 2**63 - 1] (:func:`imckit.core.validate.check_seed`).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig; got {type(config).__name__}")
    seed = check_seed(seed)
    progress = check_bool(progress, "progress")
    check_image_tensors(data, "data", nonempty=config.epochs > 0)
    if test_data is not None:  # checked before the training, not at the end of its first epoch
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
        check_image_tensors(test_data, "test_data", dtype=dtype, nonempty=True)
        home = next((t.device for t in model.parameters()), torch.device("cpu"))
        logits, _ = _probe(model, test_data.images[:2].to(home), torch.contiguous_format, home)
        if isinstance(logits, torch.Tensor) and logits.ndim == 2:
            check_image_tensors(test_data, "test_data", classes=int(logits.shape[1]))
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum,
        weight_decay=config.weight_decay, nesterov=config.momentum > 0,
    )
    history = History()
    target = resolve_device(device)
    test_on_device = test_data.to(target) if test_data is not None else None

    def record(epoch: EpochRecord) -> None:
        history.train_loss.append(epoch.means["loss"])
        history.train_accuracy.append(epoch.means["accuracy"])
        history.seconds.append(epoch.seconds)
        if test_on_device is not None:
            metrics = evaluate(model, test_on_device, device=target)
            history.test_loss.append(metrics.loss)
            history.test_accuracy.append(metrics.accuracy)

    fit(model, data, cross_entropy_step, optimizer=optimizer, epochs=config.epochs, batch_size=config.batch_size,
        generator=seed, on_epoch=record, progress=progress, desc="training", device=target,
        augment=random_crop_flip if config.augments(data.images) else None)
    return history


# --------------------------------------------------------------------------------------------------------
# the shared baseline


@dataclass(frozen=True)
class BaselineSpec:
    """Everything that defines a trained baseline network (and so its cache key).

    Attributes:
        model: registered model name (see :data:`imckit.core.models.MODELS`).
        width: the model's width multiplier.
        dataset: dataset name (see :data:`imckit.core.data.DATASETS`).
        train_size: training images used (``None``: the whole training split), drawn with ``seed``.
        test_size: test images used (``None``: the whole test split), drawn with ``seed``.
        train: optimizer settings and epochs.
        seed: seed for the initialization, the subsets and the batch order.
    """

    model: str = "resnet8"
    width: float = 1.0
    dataset: str = "fashion-mnist"
    train_size: int | None = None
    test_size: int | None = None
    train: TrainConfig = TrainConfig()
    seed: int = 0

    def __post_init__(self):
        from imckit.core.data import DATASETS
        from imckit.core.models import MODELS

        check_choice(self.model, "model", MODELS)
        check_choice(self.dataset, "dataset", DATASETS)
        check_number(self.width, "width", *WIDTH_RANGE)  # checked here, not after the data is loaded
        for name in ("train_size", "test_size"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, check_count(getattr(self, name), name))
        object.__setattr__(self, "seed", check_seed(self.seed))
        if not isinstance(self.train, TrainConfig):
            raise TypeError(f"train must be a TrainConfig; got {type(self.train).__name__}")


def baseline_spec(profile: str, dataset: str = "fashion-mnist", seed: int = 0) -> BaselineSpec:
    """The shared baseline of each profile, used by every chapter.

    ``smoke``: MLPerf Tiny's ResNet-8 (``"resnet8"``), 4,096 training / 1,024 test images, 2 epochs.
    ``default``: ``"resnet8"``, the full splits, 6 epochs. ``paper``: the paper-sized ResNet-8
    (``"resnet8_paper"``, stack widths 16/48/144, 290,640 weights on CIFAR-10), the full splits,
    :data:`PAPER_EPOCHS` (80) epochs, aimed at MLPerf Tiny's 85 % on CIFAR-10 (not measured by the kit).
    Every profile trains with ``augment="auto"``: crop+flip on colour 32x32 images (CIFAR-10), none on
    Fashion-MNIST. The dataset is the caller's in every profile.
    """
    check_profile(profile)
    if profile == "smoke":
        return BaselineSpec(dataset=dataset, train_size=4096, test_size=1024, train=TrainConfig(epochs=2), seed=seed)
    if profile == "default":
        return BaselineSpec(dataset=dataset, train=TrainConfig(epochs=6), seed=seed)
    return BaselineSpec(model="resnet8_paper", dataset=dataset, train=TrainConfig(epochs=PAPER_EPOCHS), seed=seed)


@dataclass
class Trained:
    """A trained network with the data it was trained and tested on.

    Attributes:
        model: the network, in eval mode.
        spec: what defines it.
        data: the full dataset it came from.
        train_set: the training images it saw (the subset of ``spec.train_size``).
        test_set: the test images it is evaluated on (the subset of ``spec.test_size``).
        history: the training record.
        test: loss and accuracy on ``test_set``.
        key: its cache key.
        from_cache: whether it was loaded rather than trained in this call.
        path: its checkpoint file (``None`` when trained with ``cache=""``).
    """

    model: nn.Module
    spec: BaselineSpec
    data: Dataset
    train_set: ImageTensors
    test_set: ImageTensors
    history: History
    test: Metrics
    key: str
    from_cache: bool
    path: Path | None


def pretrained(
    spec: BaselineSpec,
    data: Dataset | None = None,
    data_root: str | None = None,
    cache: str | Path | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
) -> Trained:
    """The trained network of ``spec``: loaded from the cache, or trained and cached.

    The entry (:func:`imckit.core.cache.cached`, kind ``"models"``) is keyed by ``spec``, the data's
    :attr:`~imckit.core.data.Dataset.fingerprint`, its channels and classes, torch's version and the code
    version of this module, which covers everything it imports, transitively: the training loop
    (:mod:`imckit.core.fit`), the models, the data and, through :func:`evaluate`'s import of the engine, also
    :mod:`imckit.core.engine` and :mod:`imckit.core.graph`. That is on purpose: the entry holds the test
    metrics of every epoch, which the engine computes.

    Args:
        spec: what to train (see :func:`baseline_spec` for the profiles' baselines).
        data: the loaded dataset (``None``: load ``spec.dataset`` with :func:`imckit.core.data.load_dataset`).
        data_root: where to look for the dataset first (see :mod:`imckit.core.data`).
        cache: cache folder (``None``: :func:`imckit.core.cache.cache_dir`; ``""``: no cache, always train).
        progress: show a progress bar while training.
        device: where to train (``"cpu"``, ``"cuda"``, ``"auto"``; see :mod:`imckit.core.compute`). The
            returned and cached model is on the CPU. A network trained on a GPU is not bit-identical to
            one trained on the CPU, so a GPU's checkpoint has its own cache entry (a CPU run, including
            ``"auto"`` without a GPU, shares the CPU's).

    Before anything long starts, the arguments are checked; when the network must be trained, the cache
    folder is checked to be writable before the training starts (:func:`imckit.core.cache.cached`).
    """
    if not isinstance(spec, BaselineSpec):
        raise TypeError(f"spec must be a BaselineSpec; got {type(spec).__name__}")
    if data is not None and not isinstance(data, Dataset):
        raise TypeError(f"data must be a Dataset or None; got {type(data).__name__}")
    if cache is not None and not isinstance(cache, (str, os.PathLike)):
        raise TypeError(f"cache must be a folder (str or os.PathLike), '' (no cache) or None; got "
                        f"{type(cache).__name__}")
    progress = check_bool(progress, "progress")
    target = resolve_device(device)
    if data is None:
        data = load_dataset(spec.dataset, root=data_root)
    elif data.name != spec.dataset:
        raise ValueError(f"data must hold spec.dataset {spec.dataset!r}; got a Dataset of {data.name!r}")
    for name, size, split in (("train_size", spec.train_size, data.train), ("test_size", spec.test_size, data.test)):
        if size is not None and size > len(split):
            raise ValueError(f"{name} must be at most the split's {len(split):,} images (or None); got {size:,}")
    train_set = data.train.subset(spec.train_size, spec.seed)
    test_set = data.test.subset(spec.test_size, spec.seed)
    description = {"spec": asdict(spec), "data": data.fingerprint, "in_channels": data.in_channels,
                   "num_classes": data.num_classes}
    if target.type != "cpu":
        description["device"] = target.type
    entry = {"kind": "models", "description": description, "code": __name__, "cache": cache,
             "name": f"{spec.model}-{spec.dataset}-"}
    key, path = cache_entry(**entry)

    def fresh_model() -> nn.Module:
        with torch.random.fork_rng():
            torch.manual_seed(spec.seed)
            return build_model(spec.model, in_channels=data.in_channels, num_classes=data.num_classes,
                               width=spec.width)

    def compute() -> dict:
        model = fresh_model()
        history = train(model, train_set, spec.train, spec.seed, test_data=test_set, progress=progress,
                        device=target)
        metrics = evaluate(model, test_set)
        return {"state_dict": model.state_dict(), "history": asdict(history), "test": asdict(metrics)}

    def fits(value) -> bool:  # a stored checkpoint whose contents do not fit the model is retrained
        try:
            fresh_model().load_state_dict(value["state_dict"])
            History(**value["history"]), Metrics(**value["test"])
        except (KeyError, RuntimeError, TypeError):
            return False
        return True

    value, from_cache = cached(compute=compute, accept=fits, **entry)
    model = fresh_model()
    model.load_state_dict(value["state_dict"])
    model.eval()
    return Trained(model, spec, data, train_set, test_set, History(**value["history"]), Metrics(**value["test"]),
                   key, from_cache, path)
