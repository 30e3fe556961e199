import hashlib
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

import imckit.core.data as data_mod
from imckit.core.data import DatasetNotFoundError, load_dataset

from ..conftest import requires_debian_fashion_mnist, write_fashion_mnist


def test_unknown_dataset_name_is_a_clear_error():
    with pytest.raises(ValueError, match=r"dataset must be one of .*'fashion-mnist'.*got 'mnist'"):
        load_dataset("mnist")


def test_missing_fashion_mnist_says_where_it_looked_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(data_mod, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("fashion-mnist", root=tmp_path / "nothing-here")
    message = str(err.value)
    assert str(tmp_path / "nothing-here") in message and str(tmp_path / "no-debian") in message
    assert "apt-get install dataset-fashion-mnist" in message and "download=True" in message


def test_fashion_mnist_from_gzipped_idx_files(tiny_fashion_mnist, tmp_path, monkeypatch):
    monkeypatch.setattr(data_mod, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    ds = load_dataset("fashion-mnist", root=tiny_fashion_mnist)
    assert ds.train.images.shape == (40, 1, 28, 28) and ds.test.images.shape == (20, 1, 28, 28)
    assert ds.num_classes == 10 and ds.in_channels == 1
    # decompressed into the writable data folder, never next to the originals
    assert (data_mod.data_home() / "unpacked").is_dir() and ds.source.startswith(str(data_mod.data_home()))
    assert sorted(p.name for p in tiny_fashion_mnist.iterdir()) == sorted(
        f"{f}.gz" for f in data_mod.FASHION_MNIST_FILES)
    # normalized with the training split's statistics
    assert abs(ds.train.images.mean().item()) < 1e-5 and abs(ds.train.images.std().item() - 1) < 1e-3


def test_truncated_decompressed_file_is_redone(tiny_fashion_mnist, tmp_path, monkeypatch):
    monkeypatch.setattr(data_mod, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    first = load_dataset("fashion-mnist", root=tiny_fashion_mnist)
    raw = next((data_mod.data_home() / "unpacked").glob("*/FashionMNIST/raw/train-images-idx3-ubyte"))
    raw.write_bytes(raw.read_bytes()[:-100])  # an interrupted copy
    assert not data_mod._idx_file_ok(raw)
    second = load_dataset("fashion-mnist", root=tiny_fashion_mnist)
    assert torch.equal(first.train.images, second.train.images)


def test_truncated_source_file_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(data_mod, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    folder = write_fashion_mnist(tmp_path / "bad", 4, 2, gz=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DatasetNotFoundError, match="truncated"):
        load_dataset("fashion-mnist", root=folder)


def test_two_sources_never_mix(tiny_fashion_mnist, tmp_path, monkeypatch):
    monkeypatch.setattr(data_mod, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    other = write_fashion_mnist(tmp_path / "other", 30, 10, seed=9)
    assert len(load_dataset("fashion-mnist", root=tiny_fashion_mnist).train) == 40
    assert len(load_dataset("fashion-mnist", root=other).train) == 30


def test_truncated_gzip_is_reported(tiny_fashion_mnist, tmp_path, monkeypatch):
    monkeypatch.setattr(data_mod, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    path = tiny_fashion_mnist / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DatasetNotFoundError, match="cannot be read"):
        load_dataset("fashion-mnist", root=tiny_fashion_mnist)


@requires_debian_fashion_mnist
def test_real_fashion_mnist_from_debian():
    ds = load_dataset("fashion-mnist")
    assert len(ds.train) == 60_000 and len(ds.test) == 10_000
    assert torch.bincount(ds.test.labels).tolist() == [1000] * 10
    assert ds.classes[9] == "Ankle boot"


def _write_cifar10(root, n_per_batch=6):
    """Files in the real cifar-10-batches-py format (pickled dicts of uint8 rows)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = {"data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
                 "labels": rng.integers(0, 10, n_per_batch).tolist(), "batch_label": name}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]}
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump(meta, f)
    return {name: hashlib.md5((folder / name).read_bytes()).hexdigest() for name in names + ["batches.meta"]}


def test_cifar10_through_torchvision_loader(tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR10

    md5 = _write_cifar10(tmp_path / "c10")
    # torchvision verifies the published MD5 of every file; point it at the generated files' MD5s
    monkeypatch.setattr(CIFAR10, "train_list", [[f"data_batch_{i}", md5[f"data_batch_{i}"]] for i in range(1, 6)])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5["test_batch"]]])
    monkeypatch.setitem(CIFAR10.meta, "md5", md5["batches.meta"])
    ds = load_dataset("cifar10", root=tmp_path / "c10")
    assert ds.train.images.shape == (30, 3, 32, 32) and ds.test.images.shape == (6, 3, 32, 32)
    assert ds.classes[0] == "airplane" and ds.in_channels == 3


def test_cifar10_corrupted_files_are_rejected(tmp_path):
    _write_cifar10(tmp_path / "c10")  # MD5s differ from the published ones
    with pytest.raises(DatasetNotFoundError, match="corrupted"):
        load_dataset("cifar10", root=tmp_path / "c10")


def test_cifar10_missing(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-py"):
        load_dataset("cifar10", root=tmp_path)


def _write_imagefolder(root, size=(12, 10)):
    rng = np.random.default_rng(2)
    for split, n in (("train", 3), ("test", 2)):
        for cls in ("cats", "dogs"):
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(root / split / cls / f"{i}.png")


def test_imagefolder(tmp_path):
    _write_imagefolder(tmp_path / "mine")
    ds = load_dataset("imagefolder", root=tmp_path / "mine")
    assert ds.classes == ("cats", "dogs") and ds.train.images.shape == (6, 3, 12, 10)
    assert ds.train.labels.tolist() == [0, 0, 0, 1, 1, 1]
    resized = load_dataset("imagefolder", root=tmp_path / "mine", image_size=8)
    assert resized.test.images.shape == (4, 3, 8, 8)


def test_imagefolder_errors(tmp_path):
    with pytest.raises(ValueError, match="needs root="):
        load_dataset("imagefolder")
    with pytest.raises(DatasetNotFoundError, match="train"):
        load_dataset("imagefolder", root=tmp_path)
    _write_imagefolder(tmp_path / "mine")
    with pytest.raises(ValueError, match="image_size"):
        load_dataset("imagefolder", root=tmp_path / "mine", image_size=-3)


def test_subset_is_deterministic_and_checked():
    images = torch.arange(100, dtype=torch.float32).view(100, 1, 1, 1)
    split = data_mod.ImageTensors(images, torch.arange(100) % 10)
    a, b, c = split.subset(10, seed=3), split.subset(10, seed=3), split.subset(10, seed=4)
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    assert split.subset(None, seed=0) is split
    for bad in (0, 101, -1, 2.5):
        with pytest.raises(ValueError, match=r"subset size must be an integer in \[1, 100\]"):
            split.subset(bad, seed=0)


def test_split_is_the_subset_and_its_complement():
    from imckit.core.data import ImageTensors

    images = torch.arange(20, dtype=torch.float32).reshape(20, 1, 1, 1)
    data = ImageTensors(images, torch.arange(20) % 3)
    first, rest = data.split(7, seed=3)
    assert torch.equal(first.images, data.subset(7, seed=3).images)
    assert sorted(first.images.flatten().tolist() + rest.images.flatten().tolist()) == list(range(20))
    assert len(rest) == 13 and torch.all(rest.images.flatten().diff() > 0)
    with pytest.raises(ValueError, match=r"split size must be an integer in \[1, 19\]"):
        data.split(20, seed=0)


def test_check_image_tensors_names_the_parameter():
    from imckit.core.data import ImageTensors, check_image_tensors

    images, labels = torch.zeros(3, 1, 4, 4), torch.tensor([0, 1, 2])
    check_image_tensors(ImageTensors(images, labels), "data", dtype=torch.float32, classes=3)
    check_image_tensors(ImageTensors(images[:0], labels[:0]), "data")  # empty is the caller's business
    for bad, kwargs, message in (
        (ImageTensors(images, labels), {"classes": 2}, r"test.labels must be class indices in \[0, 1\] \(the model "
                                                       r"has 2 outputs\); got values from 0 to 2"),
        (ImageTensors(images, labels.int()), {}, "test.labels must be class indices of dtype torch.int64 or "
                                                 "torch.uint8; got torch.int32"),
        (ImageTensors(images, labels[:2]), {}, r"test.labels must have shape \(3,\)"),
        (ImageTensors(images[0], labels), {}, r"test.images must be a 4-D tensor \(N, C, H, W\); got shape"),
        (ImageTensors(images.long(), labels), {}, "test.images must be a floating-point tensor"),
        (ImageTensors(images, labels), {"dtype": torch.float64}, "test.images must have the model's dtype"),
        ((images, labels), {}, "test must be an ImageTensors"),
    ):
        with pytest.raises(ValueError, match=message):
            check_image_tensors(bad, "test", **kwargs)


def test_fingerprint_knows_dtypes():
    from imckit.core.data import Dataset, ImageTensors

    images, labels = torch.arange(24, dtype=torch.float32).reshape(2, 1, 3, 4), torch.tensor([0, 1])
    a = Dataset("cifar10", ImageTensors(images, labels), ImageTensors(images, labels), ("a", "b"), "")
    same_bytes = images.view(torch.int32)  # the same bytes and shape, another dtype
    b = Dataset("cifar10", ImageTensors(same_bytes, labels), ImageTensors(images, labels), ("a", "b"), "")
    assert a.fingerprint != b.fingerprint
