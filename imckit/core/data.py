"""Real image datasets as in-memory tensors.

Three sources, all read with torchvision's own loaders from files in their real on-disk formats:

``"fashion-mnist"``
    Zalando's Fashion-MNIST (28x28 grey, 10 classes, 60k/10k). Looked for, in order, under the ``root``
    argument, under ``$IMCKIT_DATA``, and in Debian's ``dataset-fashion-mnist`` package
    (``/usr/share/datasets/fashion-mnist/``, gzipped IDX files). Gzipped files are decompressed once into
    :func:`data_home` (never next to the originals) so that torchvision reads them with ``download=False``.
``"cifar10"``
    CIFAR-10 (32x32 RGB, 10 classes, 50k/10k) in the ``cifar-10-batches-py`` layout, under ``root``,
    ``$IMCKIT_DATA`` or :func:`data_home`.
``"imagefolder"``
    Your own data: ``root/train/<class>/*.png`` and ``root/test/<class>/*.png`` (any format PIL reads).

Nothing is downloaded unless you pass ``download=True`` (then into :func:`data_home`); a dataset that is
not found raises :class:`DatasetNotFoundError` saying where it looked and how to get it. Images are
normalized per channel with the mean and standard deviation of the training split.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

DATASETS = ("fashion-mnist", "cifar10", "imagefolder")
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files were not found; the message says where the kit looked and how to get them."""


def data_home() -> Path:
    """The writable folder for decompressed or downloaded data: ``$IMCKIT_DATA``, else ``~/.cache/imckit/data``."""
    env = os.environ.get("IMCKIT_DATA")
    return Path(env) if env else Path.home() / ".cache" / "imckit" / "data"


@dataclass(frozen=True, eq=False)
class ImageTensors:
    """One split of a dataset held in memory.

    Attributes:
        images: float32 tensor (N, C, H, W), normalized per channel.
        labels: int64 tensor (N,), class indices.
    """

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: str | torch.device) -> "ImageTensors":
        """The same images and labels on ``device`` (see :func:`imckit.core.compute.resolve_device`)."""
        from imckit.core.compute import resolve_device

        device = resolve_device(device)
        if self.images.device == device and self.labels.device == device:
            return self
        return ImageTensors(self.images.to(device), self.labels.to(device))

    def subset(self, size: int | None, seed: int) -> "ImageTensors":
        """A deterministic random subset of ``size`` samples (``None``: everything, in the original order)."""
        if size is None:
            return self
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or not 1 <= size <= len(self):
            raise ValueError(f"subset size must be an integer in [1, {len(self)}] or None; got {size!r}")
        generator = torch.Generator().manual_seed(int(seed))
        index = torch.randperm(len(self), generator=generator)[: int(size)].sort().values
        return ImageTensors(self.images[index], self.labels[index])

    def split(self, size: int, seed: int) -> tuple["ImageTensors", "ImageTensors"]:
        """``(self.subset(size, seed), the other samples)``: e.g. images to search on and disjoint images to
        validate on. Both keep the original order."""
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or not 1 <= size < len(self):
            raise ValueError(f"split size must be an integer in [1, {len(self) - 1}] (the rest must not be empty); "
                             f"got {size!r}")
        generator = torch.Generator().manual_seed(int(seed))
        order = torch.randperm(len(self), generator=generator)
        first, rest = order[: int(size)].sort().values, order[int(size):].sort().values
        return ImageTensors(self.images[first], self.labels[first]), ImageTensors(self.images[rest], self.labels[rest])


LABEL_DTYPES = (torch.int64, torch.uint8)
"""Label dtypes the cross-entropy accepts as class indices."""


def check_image_tensors(data, name: str = "data", *, dtype: torch.dtype | None = None,
                        classes: int | None = None) -> None:
    """Raise a ValueError naming ``name`` unless ``data`` holds images and labels the kit can use: ``images`` a
    floating-point tensor (N, C, H, W) (of ``dtype`` when given: the model's), ``labels`` an integer tensor
    (N,) (:data:`LABEL_DTYPES`) of class indices ``0 <= label`` (``< classes`` when given). Does not require
    N >= 1 (callers that need images say so)."""
    if not isinstance(getattr(data, "images", None), torch.Tensor) or not isinstance(getattr(data, "labels", None),
                                                                                     torch.Tensor):
        raise ValueError(f"{name} must be an ImageTensors (images and labels tensors); got {type(data).__name__}")
    images, labels = data.images, data.labels
    if images.ndim != 4:
        raise ValueError(f"{name}.images must be a 4-D tensor (N, C, H, W); got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"{name}.images must be a floating-point tensor (e.g. torch.float32); got {images.dtype}")
    if dtype is not None and images.dtype != dtype:
        raise ValueError(f"{name}.images must have the model's dtype {dtype}; got {images.dtype} (convert the "
                         f"images or the model)")
    if labels.dtype not in LABEL_DTYPES:
        raise ValueError(f"{name}.labels must be class indices of dtype "
                         f"{' or '.join(map(str, LABEL_DTYPES))}; got {labels.dtype}")
    if tuple(labels.shape) != (images.shape[0],):
        raise ValueError(f"{name}.labels must have shape ({images.shape[0]},), one class index per image; got "
                         f"{tuple(labels.shape)}")
    if labels.numel():
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or (classes is not None and high >= classes):
            allowed = f"in [0, {classes - 1}] (the model has {classes} outputs)" if classes is not None else ">= 0"
            raise ValueError(f"{name}.labels must be class indices {allowed}; got values from {low} to {high}")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset with its train and test splits in memory.

    Attributes:
        name: the dataset's name (one of :data:`DATASETS`).
        train: the training split.
        test: the test split.
        classes: class names, in label order.
        source: the folder the files were read from.
    """

    name: str
    train: ImageTensors
    test: ImageTensors
    classes: tuple[str, ...]
    source: str

    @property
    def in_channels(self) -> int:
        return int(self.train.images.shape[1])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(int(s) for s in self.train.images.shape[2:])

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of both splits' images and labels (:func:`imckit.core.cache.digest`: dtypes, shapes and
        values): identifies the data a model was trained on."""
        from imckit.core.cache import digest

        return digest(self.train.images, self.train.labels, self.test.images, self.test.labels)


def load_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    download: bool = False,
    image_size: int | None = None,
) -> Dataset:
    """Load a dataset's train and test splits into memory.

    Args:
        name: ``"fashion-mnist"``, ``"cifar10"`` or ``"imagefolder"``.
        root: folder to look in first (required for ``"imagefolder"``); ``None`` or ``""`` to search the
            default places (see the module docstring).
        download: let torchvision download the dataset into :func:`data_home` if it is not found
            (Fashion-MNIST and CIFAR-10 only; needs internet).
        image_size: ``"imagefolder"`` only: resize every image to ``image_size`` x ``image_size`` pixels
            (``None``: keep the size, which must then be the same for all images).

    Returns:
        A :class:`Dataset`.

    Raises:
        ValueError: unknown ``name``.
        DatasetNotFoundError: the files were not found.
    """
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(map(repr, DATASETS))}; got {name!r}")
    root = Path(root) if root not in (None, "") else None
    if name == "fashion-mnist":
        return _load_fashion_mnist(root, download)
    if name == "cifar10":
        return _load_cifar10(root, download)
    return _load_imagefolder(root, image_size)


# --------------------------------------------------------------------------------------------------------
# helpers


def _normalized(train_u8: torch.Tensor, test_u8: torch.Tensor, labels: tuple) -> tuple[ImageTensors, ImageTensors]:
    """uint8 (N, C, H, W) splits -> float splits normalized by the training split's per-channel statistics."""
    train = train_u8.float().div_(255.0)
    test = test_u8.float().div_(255.0)
    mean = train.mean(dim=(0, 2, 3), keepdim=True)
    std = train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    train.sub_(mean).div_(std)
    test.sub_(mean).div_(std)
    train_labels, test_labels = (torch.as_tensor(np.asarray(y), dtype=torch.int64) for y in labels)
    return ImageTensors(train, train_labels), ImageTensors(test, test_labels)


def _search_places(root: Path | None) -> list[tuple[str, Path]]:
    places = []
    if root is not None:
        places.append(("the root argument", root))
    if os.environ.get("IMCKIT_DATA"):
        places.append(("$IMCKIT_DATA", Path(os.environ["IMCKIT_DATA"])))
    return places


def _idx_file_ok(path: Path) -> bool:
    """Whether an IDX file's length matches the dimensions in its header (catches truncated files)."""
    try:
        with open(path, "rb") as f:
            header = f.read(4)
            if len(header) != 4 or header[:2] != b"\x00\x00":
                return False
            ndim = header[3]
            dims = np.frombuffer(f.read(4 * ndim), dtype=">u4")
        return len(dims) == ndim and path.stat().st_size == 4 + 4 * ndim + int(np.prod(dims))
    except OSError:
        return False


def _atomic_gunzip(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".part")
    try:
        with gzip.open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
            shutil.copyfileobj(fin, fout, length=1 << 20)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fashion_mnist_folder(root: Path | None) -> tuple[Path, list[str]]:
    """Find Fashion-MNIST; return (a root torchvision can read with download=False, places looked at)."""
    looked = []
    places = _search_places(root) + [
        ("Debian's dataset-fashion-mnist package", DEBIAN_FASHION_MNIST),
        ("the kit's data folder", data_home()),
    ]
    for label, base in places:
        raw = base / "FashionMNIST" / "raw"
        if all(_idx_file_ok(raw / f) for f in FASHION_MNIST_FILES):
            return base, looked
        for folder in (base, base / "fashion-mnist"):
            found = [folder / f if (folder / f).is_file() else folder / f"{f}.gz" for f in FASHION_MNIST_FILES]
            if all(p.is_file() for p in found):
                # one unpacked copy per source folder, so that two sources never mix
                key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
                unpacked = data_home() / "unpacked" / key
                target = unpacked / "FashionMNIST" / "raw"
                for src, name in zip(found, FASHION_MNIST_FILES):
                    dst = target / name
                    if _idx_file_ok(dst) and dst.stat().st_mtime >= src.stat().st_mtime:
                        continue
                    try:
                        if src.suffix == ".gz":
                            _atomic_gunzip(src, dst)
                        else:
                            dst.parent.mkdir(parents=True, exist_ok=True)
                            shutil.copyfile(src, dst)
                    except (EOFError, OSError) as err:
                        raise DatasetNotFoundError(
                            f"Fashion-MNIST file {src} (found via {label}) cannot be read: {err}") from None
                    if not _idx_file_ok(dst):
                        raise DatasetNotFoundError(f"Fashion-MNIST file {src} (found via {label}) is truncated or not an IDX file")
                return unpacked, looked
        looked.append(f"{label}: {base}")
    return None, looked


def _load_fashion_mnist(root: Path | None, download: bool) -> Dataset:
    from torchvision.datasets import FashionMNIST

    folder, looked = _fashion_mnist_folder(root)
    if folder is None:
        if not download:
            raise DatasetNotFoundError(
                "Fashion-MNIST not found. Looked in:\n  - " + "\n  - ".join(looked)
                + "\nGet it with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or put the four "
                "IDX files (train-images-idx3-ubyte[.gz], ...) in a folder and pass it as root= or set "
                "$IMCKIT_DATA, or pass download=True to let torchvision download it into " + str(data_home())
            )
        folder = data_home()
    splits = [FashionMNIST(str(folder), train=train, download=download) for train in (True, False)]
    train, test = _normalized(
        splits[0].data.unsqueeze(1), splits[1].data.unsqueeze(1), (splits[0].targets, splits[1].targets)
    )
    return Dataset("fashion-mnist", train, test, FASHION_MNIST_CLASSES, str(Path(folder) / "FashionMNIST" / "raw"))


def _load_cifar10(root: Path | None, download: bool) -> Dataset:
    from torchvision.datasets import CIFAR10

    places = _search_places(root) + [("the kit's data folder", data_home())]
    looked = []
    folder = None
    for label, base in places:
        if (base / CIFAR10.base_folder).is_dir():
            folder = base
            break
        looked.append(f"{label}: {base}")
    if folder is None:
        if not download:
            raise DatasetNotFoundError(
                "CIFAR-10 not found (a folder holding cifar-10-batches-py/). Looked in:\n  - " + "\n  - ".join(looked)
                + "\nGet it from https://www.cs.toronto.edu/~kriz/cifar.html (python version) and pass its parent "
                "folder as root= or set $IMCKIT_DATA, or pass download=True to let torchvision download it into "
                + str(data_home())
            )
        folder = data_home()
    try:  # download (if asked) only into the kit's data folder, never into a folder found elsewhere
        fetch = download and folder == data_home()
        splits = [CIFAR10(str(folder), train=train, download=fetch) for train in (True, False)]
    except RuntimeError as err:  # torchvision's integrity check (MD5 of every batch file)
        raise DatasetNotFoundError(f"CIFAR-10 under {folder} is incomplete or corrupted: {err}") from None
    train, test = _normalized(
        torch.from_numpy(splits[0].data).permute(0, 3, 1, 2),
        torch.from_numpy(splits[1].data).permute(0, 3, 1, 2),
        (splits[0].targets, splits[1].targets),
    )
    return Dataset("cifar10", train, test, tuple(splits[0].classes), str(Path(folder) / CIFAR10.base_folder))


def _load_imagefolder(root: Path | None, image_size: int | None) -> Dataset:
    from torchvision import transforms
    from torchvision.datasets import ImageFolder

    if root is None:
        raise ValueError("dataset 'imagefolder' needs root= (a folder holding train/<class>/* and test/<class>/*)")
    missing = [str(root / s) for s in ("train", "test") if not (root / s).is_dir()]
    if missing:
        raise DatasetNotFoundError(
            "ImageFolder dataset needs the folders " + " and ".join(missing)
            + ", each with one sub-folder per class holding that class's images"
        )
    if image_size is not None and (not isinstance(image_size, int) or image_size < 1):
        raise ValueError(f"image_size must be a positive integer or None; got {image_size!r}")
    steps = ([transforms.Resize((image_size, image_size))] if image_size else []) + [transforms.PILToTensor()]
    splits = [ImageFolder(str(root / s), transform=transforms.Compose(steps)) for s in ("train", "test")]
    if splits[0].classes != splits[1].classes:
        raise ValueError(f"train and test class folders differ under {root}: {splits[0].classes} vs {splits[1].classes}")
    tensors = []
    for split in splits:
        images = [split[i][0] for i in range(len(split))]
        sizes = {tuple(im.shape) for im in images}
        if len(sizes) != 1:
            raise ValueError(f"images under {split.root} differ in size {sorted(sizes)}; pass image_size= to resize them")
        tensors.append(torch.stack(images))
    if tensors[0].shape[1:] != tensors[1].shape[1:]:
        raise ValueError(f"train and test images differ in shape under {root}; pass image_size= to resize them")
    train, test = _normalized(tensors[0], tensors[1], (splits[0].targets, splits[1].targets))
    return Dataset("imagefolder", train, test, tuple(splits[0].classes), str(root))
