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
from zlib import error as zlib_error
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from imckit.core.validate import (check_bool, check_choice, check_count, check_int, check_seed, check_shape,
                                  check_tensor)

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


class DatasetCorruptError(DatasetNotFoundError, ValueError):
    """A dataset's files were found but are malformed (unreadable, truncated, a header that disagrees with
    the file's length, image and label counts that differ, labels outside the classes, splits whose image
    sizes differ); the message names the file. A :class:`DatasetNotFoundError` (no usable dataset there) and
    a :class:`ValueError` (bad input) alike: never a partial dataset."""


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

    def __post_init__(self):
        for name in ("images", "labels"):
            value = getattr(self, name)
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"{name} must be a torch.Tensor; got {type(value).__name__}")
        if self.images.dim() < 1 or self.labels.dim() != 1 or self.labels.shape[0] != self.images.shape[0]:
            raise ValueError(f"labels must have shape ({self.images.shape[0] if self.images.dim() else '?'},), one "
                             f"class index per image; got {tuple(self.labels.shape)} for images of shape "
                             f"{tuple(self.images.shape)}")

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
        """A deterministic random subset of ``size`` samples (``None``: everything, in the original order);
        ``seed`` (:func:`imckit.core.validate.check_seed`) draws it."""
        seed = check_seed(seed)
        if size is None:
            return self
        size = check_int(size, "size", 1, max(1, len(self)))
        if size > len(self):  # an empty split has no subset
            raise ValueError(f"size must be None for an empty split (it has 0 samples); got {size}")
        generator = torch.Generator().manual_seed(seed)
        index = torch.randperm(len(self), generator=generator)[:size].sort().values
        return ImageTensors(self.images[index], self.labels[index])

    def split(self, size: int, seed: int) -> tuple["ImageTensors", "ImageTensors"]:
        """``(self.subset(size, seed), the other samples)``: e.g. images to search on and disjoint images to
        validate on. Both keep the original order; neither is empty (``1 <= size < len(self)``)."""
        seed = check_seed(seed)
        if len(self) < 2:
            raise ValueError(f"split needs a split of at least 2 samples (both parts non-empty); got {len(self)}")
        size = check_int(size, "size", 1, len(self) - 1)
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(self), generator=generator)
        first, rest = order[:size].sort().values, order[size:].sort().values
        return ImageTensors(self.images[first], self.labels[first]), ImageTensors(self.images[rest], self.labels[rest])


LABEL_DTYPES = (torch.int64, torch.uint8)
"""Label dtypes the cross-entropy accepts as class indices."""


def check_image_tensors(data, name: str = "data", *, dtype: torch.dtype | None = None,
                        classes: int | None = None, nonempty: bool = False) -> None:
    """Raise an error naming ``name`` unless ``data`` holds images and labels the kit can use: ``images`` a
    floating-point tensor (N, C, H, W) of finite values with C, H, W >= 1 (of ``dtype`` when given: the
    model's), ``labels`` an integer tensor (N,) (:data:`LABEL_DTYPES`) of class indices ``0 <= label``
    (``< classes`` when given). N >= 1 only with ``nonempty=True`` (else callers that need images say so).

    :class:`TypeError` for the wrong kind (not an :class:`ImageTensors`, integer images, float labels),
    :class:`ValueError` for the wrong shape or values (the shared validators of :mod:`imckit.core.validate`).
    """
    images, labels = getattr(data, "images", None), getattr(data, "labels", None)
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise TypeError(f"{name} must be an ImageTensors (images and labels tensors); got {type(data).__name__}")
    check_tensor(images, f"{name}.images", ndim=4, floating=True, finite=False, nonempty=False)
    if min(images.shape[1:]) < 1:
        raise ValueError(f"{name}.images must have C, H, W >= 1 in its shape (N, C, H, W); got "
                         f"{tuple(images.shape)}")
    if nonempty and images.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one image; got 0")
    if dtype is not None and images.dtype != dtype:
        raise TypeError(f"{name}.images must have the model's dtype {dtype}; got {images.dtype} (convert the "
                        f"images or the model)")
    if labels.dtype not in LABEL_DTYPES:
        raise TypeError(f"{name}.labels must be class indices of dtype "
                        f"{' or '.join(map(str, LABEL_DTYPES))}; got {labels.dtype}")
    check_shape(labels, f"{name}.labels", (images.shape[0],))
    if labels.numel():
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or (classes is not None and high >= classes):
            allowed = f"in [0, {classes - 1}] (the model has {classes} outputs)" if classes is not None else ">= 0"
            raise ValueError(f"{name}.labels must be class indices {allowed}; got values from {low} to {high}")
    check_tensor(images, f"{name}.images", finite=True, nonempty=False)  # last: a full pass over the values


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

    def __post_init__(self):
        check_choice(self.name, "name", DATASETS)
        if not isinstance(self.classes, (tuple, list)) or len(self.classes) < 2 \
                or not all(isinstance(c, str) for c in self.classes):
            raise ValueError(f"classes must be two or more class names (strings) in label order; got "
                             f"{self.classes!r}"[:200])
        object.__setattr__(self, "classes", tuple(self.classes))
        for split in ("train", "test"):
            value = getattr(self, split)
            if not isinstance(value, ImageTensors):
                raise TypeError(f"{split} must be an ImageTensors; got {type(value).__name__}")
            check_image_tensors(value, split, nonempty=True)
            high = int(value.labels.max())
            if high >= len(self.classes):
                raise ValueError(f"{split}.labels must be class indices in [0, {len(self.classes) - 1}] (the dataset "
                                 f"has {len(self.classes)} classes); got labels up to {high}")
        if tuple(self.test.images.shape[1:]) != tuple(self.train.images.shape[1:]):
            raise ValueError(f"test.images must have the training split's image shape (C, H, W) = "
                             f"{tuple(self.train.images.shape[1:])}; got {tuple(self.test.images.shape[1:])}")
        if self.test.images.dtype != self.train.images.dtype:
            raise TypeError(f"test.images must have the training split's dtype {self.train.images.dtype}; got "
                            f"{self.test.images.dtype}")

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
            (1 to 4,096; ``None``: keep the size, which must then be the same for all images).

    Every loader checks what it reads (a malformed file is an error naming it, never a partial dataset):
    IDX headers (magic number, type, dimensions) against the file's length, image and label counts per
    split, labels within the classes, the same image size in both splits, at least one image per split,
    every image file of an image folder readable.

    Returns:
        A :class:`Dataset`.

    Raises:
        ValueError: unknown ``name``, or ``image_size`` given for a dataset that is not resized.
        TypeError: ``root``, ``download`` or ``image_size`` of the wrong kind.
        DatasetNotFoundError: the files were not found.
        DatasetCorruptError: the files were found but are malformed (the message names the file).
    """
    check_choice(name, "dataset", DATASETS)
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a folder (a str or os.PathLike) or None; got {type(root).__name__}")
    download = check_bool(download, "download")
    if image_size is not None:
        image_size = check_count(image_size, "image_size", 1, 4096)
        if name != "imagefolder":
            raise ValueError(f"image_size must be None for dataset {name!r} (only 'imagefolder' resizes); "
                             f"got {image_size}")
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


def _check_splits(dataset: str, counts: dict, shapes: dict, labels: dict, classes: int) -> None:
    """The integrity checks every loader makes on what it read, per split (``"train"``, ``"test"``):
    ``counts[split] = (images, labels, where)``, ``shapes[split] = ((C, H, W), where)``,
    ``labels[split] = (label tensor or array, where)``; ``where`` names the file(s). Raises
    :class:`DatasetCorruptError`."""
    for split, (n_images, n_labels, where) in counts.items():
        if n_images != n_labels:
            raise DatasetCorruptError(f"{dataset} {split} split is malformed: {n_images:,} images but {n_labels:,} "
                                      f"labels ({where})")
        if n_images == 0:
            raise DatasetCorruptError(f"{dataset} {split} split holds no images ({where})")
    (train_shape, train_where), (test_shape, test_where) = shapes["train"], shapes["test"]
    if tuple(train_shape) != tuple(test_shape) or min(train_shape) < 1:
        raise DatasetCorruptError(f"{dataset} splits disagree: training images are {tuple(train_shape)} (C, H, W) "
                                  f"({train_where}) but test images are {tuple(test_shape)} ({test_where})")
    for split, (values, where) in labels.items():
        values = torch.as_tensor(np.asarray(values))
        bad = (values < 0) | (values >= classes)
        if bool(bad.any()):
            index = int(bad.nonzero()[0, 0])
            raise DatasetCorruptError(f"{dataset} {split} labels must be class indices in [0, {classes - 1}]; "
                                      f"label {index:,} is {int(values[index])} ({int(bad.sum()):,} out of range; "
                                      f"{where})")


IDX_UINT8 = 0x08
"""The IDX type code of unsigned bytes, the type of every Fashion-MNIST file."""


def _idx_dims(path: Path, ndim: int, shown: Path | None = None) -> tuple[int, ...]:
    """The dimensions in the header of the IDX file ``path`` (uint8 values, ``ndim`` dimensions), after
    checking its magic number, type, number of dimensions and that its length is exactly the header plus
    the values; else :class:`DatasetCorruptError` naming ``shown`` (default ``path``)."""
    shown = path if shown is None else shown
    try:
        with open(path, "rb") as f:
            header = f.read(4)
            if len(header) != 4 or header[:2] != b"\x00\x00":
                raise DatasetCorruptError(f"Fashion-MNIST file {shown} is not an IDX file (its magic number is "
                                          f"{header.hex() or 'missing'})")
            if header[2] != IDX_UINT8 or header[3] != ndim:
                raise DatasetCorruptError(f"Fashion-MNIST file {shown} must hold {ndim}-dimensional unsigned bytes "
                                          f"(IDX type 0x08, {ndim} dimensions); its header says type "
                                          f"0x{header[2]:02x}, {header[3]} dimensions")
            raw = f.read(4 * ndim)
        size = path.stat().st_size
    except DatasetCorruptError:
        raise
    except OSError as error:
        raise DatasetCorruptError(f"Fashion-MNIST file {shown} cannot be read ({error.strerror or error})") from None
    if len(raw) != 4 * ndim:
        raise DatasetCorruptError(f"Fashion-MNIST file {shown} is truncated (its header ends early)")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4"))
    expected = 4 + 4 * ndim + int(np.prod(dims, dtype=np.int64))
    if size != expected:
        raise DatasetCorruptError(f"Fashion-MNIST file {shown} is truncated or has extra bytes: its header says "
                                  f"{' x '.join(map(str, dims))} values ({expected:,} bytes) but it has {size:,} bytes")
    return dims


def _idx_file_ok(path: Path) -> bool:
    """Whether an IDX file's header is consistent with its length (catches truncated files)."""
    try:
        with open(path, "rb") as f:
            ndim = f.read(4)[3:4]
        return bool(ndim) and _idx_dims(path, ndim[0]) is not None
    except (OSError, DatasetCorruptError):
        return False


def _stamp(src: Path) -> str:
    """What identifies the source file of an unpacked copy: its path, size and modification time."""
    stat = src.stat()
    return f"{src.resolve()}\n{stat.st_size}\n{stat.st_mtime_ns}\n"


def _unpack(src: Path, dst: Path, ndim: int, label: str) -> None:
    """Decompress (``.gz``) or copy ``src`` to ``dst`` atomically, checking the result before it takes the
    final name; a stamp file beside it records which source it came from. A failure leaves neither a
    partial file nor a stamp behind (a later run unpacks again)."""
    stamp = dst.with_name(dst.name + ".source")
    if dst.is_file() and stamp.is_file() and stamp.read_text() == _stamp(src) and _idx_file_ok(dst):
        return
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        stamp.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".part")
    except OSError as error:
        raise DatasetCorruptError(f"cannot unpack Fashion-MNIST into the data folder {dst.parent} "
                                  f"({error.strerror or error}); set IMCKIT_DATA to a writable folder") from None
    try:
        try:
            with (gzip.open(src, "rb") if src.suffix == ".gz" else open(src, "rb")) as fin, \
                    os.fdopen(fd, "wb") as fout:
                shutil.copyfileobj(fin, fout, length=1 << 20)
        except (EOFError, OSError, zlib_error) as error:
            raise DatasetCorruptError(f"Fashion-MNIST file {src} (found via {label}) cannot be read: "
                                      f"{error}") from None
        _idx_dims(Path(tmp), ndim, shown=src)
        os.replace(tmp, dst)
        fd_stamp, tmp_stamp = tempfile.mkstemp(dir=dst.parent, prefix=f".{stamp.name}.", suffix=".part")
        with os.fdopen(fd_stamp, "w") as f:
            f.write(_stamp(src))
        os.replace(tmp_stamp, stamp)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fashion_mnist_folder(root: Path | None) -> tuple[Path | None, list[str], dict[str, Path]]:
    """Find Fashion-MNIST; return (a root torchvision can read with download=False, places looked at, the
    file each of :data:`FASHION_MNIST_FILES` came from, for messages)."""
    looked = []
    places = _search_places(root) + [
        ("Debian's dataset-fashion-mnist package", DEBIAN_FASHION_MNIST),
        ("the kit's data folder", data_home()),
    ]
    for label, base in places:
        raw = base / "FashionMNIST" / "raw"
        if all((raw / f).is_file() for f in FASHION_MNIST_FILES):
            return base, looked, {f: raw / f for f in FASHION_MNIST_FILES}
        for folder in (base, base / "fashion-mnist"):
            found = [folder / f if (folder / f).is_file() else folder / f"{f}.gz" for f in FASHION_MNIST_FILES]
            if all(p.is_file() for p in found):
                # one unpacked copy per source folder, so that two sources never mix
                key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
                unpacked = data_home() / "unpacked" / key
                target = unpacked / "FashionMNIST" / "raw"
                for src, name in zip(found, FASHION_MNIST_FILES):
                    _unpack(src, target / name, 3 if "images" in name else 1, label)
                return unpacked, looked, dict(zip(FASHION_MNIST_FILES, found))
        looked.append(f"{label}: {base}")
    return None, looked, {}


def _load_fashion_mnist(root: Path | None, download: bool) -> Dataset:
    from torchvision.datasets import FashionMNIST

    folder, looked, sources = _fashion_mnist_folder(root)
    if folder is None:
        if not download:
            raise DatasetNotFoundError(
                "Fashion-MNIST not found. Looked in:\n  - " + "\n  - ".join(looked)
                + "\nGet it with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or put the four "
                "IDX files (train-images-idx3-ubyte[.gz], ...) in a folder and pass it as root= or set "
                "$IMCKIT_DATA, or pass download=True to let torchvision download it into " + str(data_home())
            )
        folder = data_home()
    raw = Path(folder) / "FashionMNIST" / "raw"
    if download and not sources:
        FashionMNIST(str(folder), train=True, download=True)  # fetches all four files
    sources = sources or {f: raw / f for f in FASHION_MNIST_FILES}
    dims = {f: _idx_dims(raw / f, 3 if "images" in f else 1, shown=sources[f]) for f in FASHION_MNIST_FILES}
    files = {split: (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
             for split, prefix in (("train", "train"), ("test", "t10k"))}
    _check_splits("Fashion-MNIST",
                  {s: (dims[i][0], dims[l][0], f"{sources[i]}, {sources[l]}") for s, (i, l) in files.items()},
                  {s: ((1, *dims[i][1:]), sources[i]) for s, (i, _) in files.items()}, {}, 10)
    splits = [FashionMNIST(str(folder), train=train, download=False) for train in (True, False)]
    _check_splits("Fashion-MNIST", {}, {"train": ((1,), ""), "test": ((1,), "")},
                  {s: (split.targets, sources[files[s][1]]) for s, split in zip(("train", "test"), splits)}, 10)
    train, test = _normalized(
        splits[0].data.unsqueeze(1), splits[1].data.unsqueeze(1), (splits[0].targets, splits[1].targets)
    )
    return Dataset("fashion-mnist", train, test, FASHION_MNIST_CLASSES, str(raw))


def _cifar10_file_problems(folder: Path, names: list[str], classes: int = 10) -> list[str]:
    """What is wrong with each CIFAR-10 batch file (a pickled dict of uint8 rows of 3,072 values and their
    labels), one line per bad file: read only when the loaded splits fail their checks, to name the file."""
    import pickle

    problems = []
    for name in names:
        path = folder / name
        try:
            with open(path, "rb") as f:
                entry = pickle.load(f, encoding="latin1")
        except Exception as error:  # noqa: BLE001 -- truncated pickles raise many kinds of errors
            problems.append(f"{path} cannot be read ({type(error).__name__}: {error})")
            continue
        if name == "batches.meta":
            names_ = entry.get("label_names") if isinstance(entry, dict) else None
            if not isinstance(names_, list) or len(names_) != classes:
                problems.append(f"{path} must list {classes} label_names; got {names_!r}"[:200])
            continue
        if not isinstance(entry, dict) or "data" not in entry or "labels" not in entry:
            problems.append(f"{path} must be a dict with 'data' and 'labels'")
            continue
        data, labels = np.asarray(entry["data"]), np.asarray(entry["labels"])
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            problems.append(f"{path}: data must be uint8 rows of 3,072 values (32 x 32 x 3); got {data.dtype} "
                            f"{data.shape}")
        elif labels.ndim != 1 or len(labels) != len(data):
            problems.append(f"{path}: {len(data):,} images but {labels.size:,} labels")
        elif labels.size and (labels.min() < 0 or labels.max() >= classes):
            problems.append(f"{path}: labels must be in [0, {classes - 1}]; got values from {labels.min()} to "
                            f"{labels.max()}")
    return problems


def _load_cifar10(root: Path | None, download: bool) -> Dataset:
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import check_integrity

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
    batches = Path(folder) / CIFAR10.base_folder
    names = [n for n, _ in CIFAR10.train_list + CIFAR10.test_list] + [CIFAR10.meta["filename"]]
    try:  # download (if asked) only into the kit's data folder, never into a folder found elsewhere
        fetch = download and folder == data_home()
        splits = [CIFAR10(str(folder), train=train, download=fetch) for train in (True, False)]
    except RuntimeError as err:  # torchvision's integrity check (MD5 of every batch file)
        md5 = dict(CIFAR10.train_list + CIFAR10.test_list + [[CIFAR10.meta["filename"], CIFAR10.meta["md5"]]])
        bad = [str(batches / n) for n in names if not check_integrity(str(batches / n), md5[n])]
        raise DatasetCorruptError(f"CIFAR-10 under {folder} is incomplete or corrupted: {err}"
                                  + (f" (missing or not the published file: {', '.join(bad)})" if bad else "")) \
            from None
    except Exception as error:  # noqa: BLE001 -- a malformed batch: name it
        problems = _cifar10_file_problems(batches, names)
        raise DatasetCorruptError(f"CIFAR-10 under {folder} cannot be read ({type(error).__name__}: {error})"
                                  + ("; " + "; ".join(problems) if problems else "")) from None
    try:
        classes = len(splits[0].classes)
        if classes != 10:
            raise DatasetCorruptError(f"CIFAR-10 file {batches / CIFAR10.meta['filename']} must name 10 classes; "
                                      f"got {classes}")
        _check_splits("CIFAR-10",
                      {s: (len(d.data), len(d.targets), str(batches)) for s, d in zip(("train", "test"), splits)},
                      {s: (tuple(d.data.shape[3:]) + tuple(d.data.shape[1:3]), str(batches))
                       for s, d in zip(("train", "test"), splits)},
                      {s: (d.targets, str(batches)) for s, d in zip(("train", "test"), splits)}, classes)
    except DatasetCorruptError as error:
        problems = _cifar10_file_problems(batches, names)
        raise DatasetCorruptError(str(error) + ("; " + "; ".join(problems) if problems else "")) from None
    train, test = _normalized(
        torch.from_numpy(splits[0].data).permute(0, 3, 1, 2),
        torch.from_numpy(splits[1].data).permute(0, 3, 1, 2),
        (splits[0].targets, splits[1].targets),
    )
    return Dataset("cifar10", train, test, tuple(splits[0].classes), str(batches))


def _load_imagefolder(root: Path | None, image_size: int | None) -> Dataset:
    from torchvision import transforms
    from torchvision.datasets import ImageFolder

    if root is None:
        raise ValueError("root must be a folder holding train/<class>/* and test/<class>/* for dataset "
                         "'imagefolder'; got None")
    missing = [str(root / s) for s in ("train", "test") if not (root / s).is_dir()]
    if missing:
        raise DatasetNotFoundError(
            "ImageFolder dataset needs the folders " + " and ".join(missing)
            + ", each with one sub-folder per class holding that class's images"
        )
    steps = ([transforms.Resize((image_size, image_size))] if image_size else []) + [transforms.PILToTensor()]
    splits = []
    for s in ("train", "test"):
        try:
            splits.append(ImageFolder(str(root / s), transform=transforms.Compose(steps)))
        except FileNotFoundError as error:  # no class folder, or a class folder without images
            raise DatasetNotFoundError(f"ImageFolder dataset under {root / s}: {error}") from None
    if splits[0].classes != splits[1].classes:
        raise DatasetCorruptError(f"train and test class folders differ under {root}: {splits[0].classes} vs "
                                  f"{splits[1].classes}")
    if len(splits[0].classes) < 2:
        raise DatasetCorruptError(f"ImageFolder dataset under {root} needs two or more class folders; got "
                                  f"{splits[0].classes}")
    tensors = []
    for split in splits:
        images = []
        for i, (path, _) in enumerate(split.samples):
            try:
                images.append(split[i][0])
            except Exception as error:  # noqa: BLE001 -- PIL raises many kinds of errors for a bad file
                raise DatasetCorruptError(f"image file {path} cannot be read ({type(error).__name__}: "
                                          f"{error})") from None
        sizes = {tuple(im.shape) for im in images}
        if len(sizes) != 1:
            raise DatasetCorruptError(f"images under {split.root} differ in size (C, H, W) {sorted(sizes)}; pass "
                                      f"image_size= to resize them")
        tensors.append(torch.stack(images))
    parts = list(zip(("train", "test"), tensors, splits))
    _check_splits("ImageFolder", {s: (len(t), len(d.targets), d.root) for s, t, d in parts},
                  {s: (tuple(t.shape[1:]), d.root) for s, t, d in parts},
                  {}, len(splits[0].classes))
    train, test = _normalized(tensors[0], tensors[1], (splits[0].targets, splits[1].targets))
    return Dataset("imagefolder", train, test, tuple(splits[0].classes), str(root))
