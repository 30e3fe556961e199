import hashlib
import math
import os
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import imckit.core.data as data_mod
from imckit.core.data import DatasetCorruptError, DatasetNotFoundError, load_dataset

from ..conftest import requires_debian_fashion_mnist, write_fashion_mnist, write_idx


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


def _write_cifar10(root, n_per_batch=6, change=None):
    """Files in the real cifar-10-batches-py format (pickled dicts of uint8 rows); ``change(name, batch)``
    may alter a batch before it is written (to make a malformed file)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = {"data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
                 "labels": rng.integers(0, 10, n_per_batch).tolist(), "batch_label": name}
        if change is not None:
            change(name, batch)
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
    with pytest.raises(ValueError, match="^root must be a folder holding train/<class>/"):
        load_dataset("imagefolder")
    with pytest.raises(DatasetNotFoundError, match="train"):
        load_dataset("imagefolder", root=tmp_path)
    _write_imagefolder(tmp_path / "mine")
    with pytest.raises(ValueError, match=r"^image_size must be an integer in \[1, 4096\]; got -3"):
        load_dataset("imagefolder", root=tmp_path / "mine", image_size=-3)


def test_subset_is_deterministic_and_checked():
    images = torch.arange(100, dtype=torch.float32).view(100, 1, 1, 1)
    split = data_mod.ImageTensors(images, torch.arange(100) % 10)
    a, b, c = split.subset(10, seed=3), split.subset(10, seed=3), split.subset(10, seed=4)
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    assert split.subset(None, seed=0) is split
    for bad, error in ((0, ValueError), (101, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match=r"^size must be an integer in \[1, 100\]"):
            split.subset(bad, seed=0)
    for bad, error in ((-1, ValueError), (2.5, TypeError), ("3", TypeError), (None, TypeError)):
        with pytest.raises(error, match=r"^seed must be an integer in \[0, 2\*\*63 - 1\]"):
            split.subset(10, seed=bad)
    assert torch.equal(split.subset(np.int64(10), seed=np.int64(3)).images, a.images)


def test_split_is_the_subset_and_its_complement():
    from imckit.core.data import ImageTensors

    images = torch.arange(20, dtype=torch.float32).reshape(20, 1, 1, 1)
    data = ImageTensors(images, torch.arange(20) % 3)
    first, rest = data.split(7, seed=3)
    assert torch.equal(first.images, data.subset(7, seed=3).images)
    assert sorted(first.images.flatten().tolist() + rest.images.flatten().tolist()) == list(range(20))
    assert len(rest) == 13 and torch.all(rest.images.flatten().diff() > 0)
    with pytest.raises(ValueError, match=r"^size must be an integer in \[1, 19\]; got 20"):
        data.split(20, seed=0)
    with pytest.raises(TypeError, match=r"^seed must be an integer in \[0, 2\*\*63 - 1\]; got 1.5"):
        data.split(5, seed=1.5)


def test_check_image_tensors_names_the_parameter():
    from imckit.core.data import ImageTensors, check_image_tensors

    images, labels = torch.zeros(3, 1, 4, 4), torch.tensor([0, 1, 2])
    check_image_tensors(ImageTensors(images, labels), "data", dtype=torch.float32, classes=3)
    check_image_tensors(ImageTensors(images[:0], labels[:0]), "data")  # empty is the caller's business
    nan = images.clone()
    nan[1, 0, 2, 2] = float("nan")
    for bad, error, kwargs, message in (
        (ImageTensors(images, labels), ValueError, {"classes": 2},
         r"^test.labels must be class indices in \[0, 1\] \(the model has 2 outputs\); got values from 0 to 2"),
        (ImageTensors(images, labels.int()), TypeError, {}, "^test.labels must be class indices of dtype torch.int64 "
                                                            "or torch.uint8; got torch.int32"),
        (SimpleNamespace(images=images, labels=labels[:2]), ValueError, {}, r"^test.labels must have shape \(3\)"),
        (ImageTensors(images[0], labels[:1]), ValueError, {}, r"^test.images must have 4 dimensions; got shape"),
        (ImageTensors(images.long(), labels), TypeError, {}, "^test.images must be a floating-point tensor"),
        (ImageTensors(images, labels), TypeError, {"dtype": torch.float64}, "^test.images must have the model's dtype"),
        (ImageTensors(nan, labels), ValueError, {}, "^test.images must be a tensor of finite values; got 1 NaN and 0 "
                                                    "infinite of 48 values"),
        (ImageTensors(torch.zeros(3, 1, 0, 4), labels), ValueError, {}, r"^test.images must have C, H, W >= 1"),
        (ImageTensors(images[:0], labels[:0]), ValueError, {"nonempty": True}, "^test must hold at least one image"),
        ((images, labels), TypeError, {}, "^test must be an ImageTensors"),
    ):
        with pytest.raises(error, match=message):
            check_image_tensors(bad, "test", **kwargs)


def test_image_tensors_check_their_parts():
    from imckit.core.data import ImageTensors

    with pytest.raises(TypeError, match="^images must be a torch.Tensor; got ndarray"):
        ImageTensors(np.zeros((2, 1, 3, 3)), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(TypeError, match="^labels must be a torch.Tensor; got list"):
        ImageTensors(torch.zeros(2, 1, 3, 3), [0, 1])
    with pytest.raises(ValueError, match=r"^labels must have shape \(2,\), one class index per image; got \(3,\)"):
        ImageTensors(torch.zeros(2, 1, 3, 3), torch.zeros(3, dtype=torch.int64))


def test_fingerprint_knows_dtypes():
    from imckit.core.cache import digest
    from imckit.core.data import Dataset, ImageTensors

    images, labels = torch.arange(24, dtype=torch.float32).reshape(2, 1, 3, 4), torch.tensor([0, 1])
    a = Dataset("cifar10", ImageTensors(images, labels), ImageTensors(images, labels), ("a", "b"), "")
    wide = images.double()  # the same values, another dtype (a Dataset's splits share theirs)
    b = Dataset("cifar10", ImageTensors(wide, labels), ImageTensors(wide, labels), ("a", "b"), "")
    assert a.fingerprint != b.fingerprint
    same_bytes = images.view(torch.int32)  # the same bytes and shape, another dtype
    assert digest(images, labels) != digest(same_bytes, labels)


# --------------------------------------------------------------------------------------------------------
# data integrity: every loader checks what it reads; a malformed file is an error naming it, never a
# partial dataset, and nothing half-written is left in (or trusted from) the data folder


@pytest.fixture
def no_debian(tmp_path, monkeypatch):
    monkeypatch.setattr(data_mod, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")


def _fashion(tmp_path, gz=True, **replace):
    """Four valid Fashion-MNIST files (8 train, 4 test images), with ``replace[name] = array`` written instead."""
    folder = write_fashion_mnist(tmp_path / "fm", 8, 4, gz=gz)
    for name, array in replace.items():
        for old in folder.glob(f"{name}*"):
            old.unlink()
        write_idx(folder / name, array, gz=gz)
    return folder


def _unpacked_leftovers():
    root = data_mod.data_home() / "unpacked"
    return sorted(p.name for p in root.rglob("*") if p.name.endswith(".part")) if root.exists() else []


RNG = np.random.default_rng(5)


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("replace, message", [
    ({"train-labels-idx1-ubyte": RNG.integers(0, 10, 7)},
     r"^Fashion-MNIST train split is malformed: 8 images but 7 labels \(.*train-images-idx3-ubyte.*, "
     r".*train-labels-idx1-ubyte"),
    ({"t10k-images-idx3-ubyte": RNG.integers(0, 256, (5, 28, 28))}, r"^Fashion-MNIST test split is malformed: 5 images "
                                                                    r"but 4 labels"),
    ({"train-labels-idx1-ubyte": np.array([0, 1, 2, 10, 4, 5, 6, 7])},
     r"^Fashion-MNIST train labels must be class indices in \[0, 9\]; label 3 is 10 \(1 out of range; "
     r".*train-labels-idx1-ubyte"),
    ({"t10k-labels-idx1-ubyte": np.array([255, 0, 0, 0])}, r"^Fashion-MNIST test labels must be class indices in "
                                                            r"\[0, 9\]; label 0 is 255"),
    ({"t10k-images-idx3-ubyte": RNG.integers(0, 256, (4, 32, 32))},
     r"^Fashion-MNIST splits disagree: training images are \(1, 28, 28\) .* but test images are \(1, 32, 32\)"),
    ({"train-images-idx3-ubyte": np.zeros((0, 28, 28)), "train-labels-idx1-ubyte": np.zeros(0)},
     r"^Fashion-MNIST train split holds no images"),
    ({"train-images-idx3-ubyte": RNG.integers(0, 256, (8, 784))},
     r"^Fashion-MNIST file .*train-images-idx3-ubyte(\.gz)? must hold 3-dimensional unsigned bytes \(IDX type 0x08, 3 "
     r"dimensions\); its header says type 0x08, 2 dimensions"),
])
def test_malformed_fashion_mnist_is_an_error_naming_the_file(tmp_path, no_debian, gz, replace, message):
    folder = _fashion(tmp_path, gz=gz, **replace)
    with pytest.raises(DatasetCorruptError, match=message) as error:
        load_dataset("fashion-mnist", root=folder)
    assert isinstance(error.value, ValueError) and isinstance(error.value, DatasetNotFoundError)
    assert _unpacked_leftovers() == []


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:2] + b"\x0d" + b[3:], r"header says type 0x0d, 3 dimensions"),  # floats, not bytes
    (lambda b: b"\x01\x02" + b[2:], r"is not an IDX file \(its magic number is 0102"),
    (lambda b: b + b"\x00" * 7, r"is truncated or has extra bytes: its header says 8 x 28 x 28 values \(6,288 "
                                 r"bytes\) but it has 6,295 bytes"),
    (lambda b: b[:-1], r"is truncated or has extra bytes"),
    (lambda b: b[:10], r"is truncated \(its header ends early\)"),
    (lambda b: b"", r"is not an IDX file \(its magic number is missing\)"),
])
def test_idx_headers_are_checked_against_the_file(tmp_path, no_debian, damage, message):
    folder = _fashion(tmp_path, gz=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DatasetCorruptError, match=r"^Fashion-MNIST file .*train-images-idx3-ubyte .*" + message):
        load_dataset("fashion-mnist", root=folder)
    # nothing that failed its check sits in the data folder under its final name
    assert not list((data_mod.data_home() / "unpacked").rglob("train-images-idx3-ubyte"))
    assert _unpacked_leftovers() == []


def test_a_gzip_that_is_not_one_is_named(tmp_path, no_debian):
    folder = _fashion(tmp_path)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DatasetCorruptError, match=r"^Fashion-MNIST file .*t10k-labels-idx1-ubyte.gz \(found via the "
                                                  r"root argument\) cannot be read"):
        load_dataset("fashion-mnist", root=folder)
    assert _unpacked_leftovers() == []


def test_an_interrupted_unpack_is_not_trusted_later(tmp_path, no_debian, monkeypatch):
    folder = _fashion(tmp_path)
    real = data_mod.shutil.copyfileobj

    def interrupted(fin, fout, length=0):
        fout.write(fin.read(100))  # part of the file, then the run is stopped
        raise KeyboardInterrupt

    monkeypatch.setattr(data_mod.shutil, "copyfileobj", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_dataset("fashion-mnist", root=folder)
    assert _unpacked_leftovers() == []
    assert not list((data_mod.data_home() / "unpacked").rglob("*-ubyte"))  # no partial file under a final name
    monkeypatch.setattr(data_mod.shutil, "copyfileobj", real)
    ds = load_dataset("fashion-mnist", root=folder)
    assert len(ds.train) == 8 and len(ds.test) == 4


def test_a_source_replaced_by_an_older_file_is_unpacked_again(tmp_path, no_debian):
    folder = _fashion(tmp_path)
    first = load_dataset("fashion-mnist", root=folder)
    old = (folder / "train-labels-idx1-ubyte.gz").stat()
    new_labels = (first.train.labels + 1) % 10
    write_idx(folder / "train-labels-idx1-ubyte", new_labels.numpy(), gz=True)
    os.utime(folder / "train-labels-idx1-ubyte.gz", ns=(old.st_atime_ns - 10**9, old.st_mtime_ns - 10**9))  # older
    second = load_dataset("fashion-mnist", root=folder)
    assert torch.equal(second.train.labels, new_labels)


def test_a_corrupt_torchvision_layout_is_named_not_skipped(tmp_path, no_debian):
    raw = tmp_path / "tv" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name, n in (("train", 8), ("t10k", 4)):
        write_idx(raw / f"{name}-images-idx3-ubyte", np.zeros((n, 28, 28)), gz=False)
        write_idx(raw / f"{name}-labels-idx1-ubyte", np.zeros(n), gz=False)
    path = raw / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DatasetCorruptError, match=r"^Fashion-MNIST file .*FashionMNIST/raw/t10k-images-idx3-ubyte is "
                                                  r"truncated"):
        load_dataset("fashion-mnist", root=tmp_path / "tv")


def _cifar_md5(monkeypatch, md5):
    from torchvision.datasets import CIFAR10

    monkeypatch.setattr(CIFAR10, "train_list", [[f"data_batch_{i}", md5[f"data_batch_{i}"]] for i in range(1, 6)])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5["test_batch"]]])
    monkeypatch.setitem(CIFAR10.meta, "md5", md5["batches.meta"])


def _set(key, value, only):
    def change(name, batch):
        if name == only:
            batch[key] = value(batch[key]) if callable(value) else value
    return change


@pytest.mark.parametrize("change, message", [
    (_set("labels", lambda y: y[:-1], "data_batch_3"), r"train split is malformed: 30 images but 29 labels .*"
                                                       r"data_batch_3: 6 images but 5 labels"),
    (_set("labels", lambda y: y[:-1] + [10], "test_batch"), r"test labels must be class indices in \[0, 9\]; label 5 "
                                                            r"is 10 .*test_batch: labels must be in \[0, 9\]; got "
                                                            r"values from \d to 10"),
    (_set("labels", lambda y: [-1] + y[1:], "data_batch_1"), r"train labels must be class indices in \[0, 9\]; "
                                                             r"label 0 is -1 .*data_batch_1: labels must be in"),
    (_set("data", lambda x: x.reshape(12, 1536), "data_batch_2"), r"data_batch_2: data must be uint8 rows of 3,072 "
                                                                  r"values \(32 x 32 x 3\); got uint8 \(12, 1536\)"),
    (_set("data", lambda x: x[:, :100], "data_batch_5"), r"cannot be read \(ValueError: .*data_batch_5: data must be "
                                                         r"uint8 rows of 3,072 values"),
])
def test_malformed_cifar10_is_an_error_naming_the_file(tmp_path, monkeypatch, change, message):
    _cifar_md5(monkeypatch, _write_cifar10(tmp_path / "c10", change=change))
    with pytest.raises(DatasetCorruptError, match=r"^CIFAR-10 .*" + message):
        load_dataset("cifar10", root=tmp_path / "c10")


def test_cifar10_names_the_file_that_is_not_the_published_one(tmp_path, monkeypatch):
    md5 = _write_cifar10(tmp_path / "c10")
    _cifar_md5(monkeypatch, md5)
    path = tmp_path / "c10" / "cifar-10-batches-py" / "data_batch_4"
    path.write_bytes(path.read_bytes()[:-20])  # truncated: its MD5 no longer matches
    with pytest.raises(DatasetCorruptError, match=r"^CIFAR-10 under .* is incomplete or corrupted: .*\(missing or not "
                                                  r"the published file: .*data_batch_4\)"):
        load_dataset("cifar10", root=tmp_path / "c10")


def test_imagefolder_integrity(tmp_path):
    _write_imagefolder(tmp_path / "mine")
    bad = tmp_path / "mine" / "train" / "dogs" / "1.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DatasetCorruptError, match=r"^image file .*train/dogs/1.png cannot be read \("):
        load_dataset("imagefolder", root=tmp_path / "mine")

    _write_imagefolder(tmp_path / "sizes")
    for i in range(2):
        for cls in ("cats", "dogs"):
            Image.new("RGB", (5, 7)).save(tmp_path / "sizes" / "test" / cls / f"{i}.png")
    with pytest.raises(DatasetCorruptError, match=r"^ImageFolder splits disagree: training images are \(3, 12, 10\) "
                                                  r".* but test images are \(3, 7, 5\)"):
        load_dataset("imagefolder", root=tmp_path / "sizes")
    assert load_dataset("imagefolder", root=tmp_path / "sizes", image_size=6).test.images.shape == (4, 3, 6, 6)

    one = tmp_path / "one"
    for split in ("train", "test"):
        (one / split / "cats").mkdir(parents=True)
        Image.new("RGB", (4, 4)).save(one / split / "cats" / "0.png")
    with pytest.raises(DatasetCorruptError, match=r"needs two or more class folders; got \['cats'\]"):
        load_dataset("imagefolder", root=one)

    empty = tmp_path / "empty"
    (empty / "train").mkdir(parents=True)
    (empty / "test").mkdir()
    with pytest.raises(DatasetNotFoundError, match=r"^ImageFolder dataset under .*empty/train: "):
        load_dataset("imagefolder", root=empty)


def test_dataset_checks_its_splits():
    from imckit.core.data import Dataset, ImageTensors

    x, y = torch.zeros(4, 1, 6, 6), torch.tensor([0, 1, 2, 1])
    split = ImageTensors(x, y)
    Dataset("fashion-mnist", split, split, ("a", "b", "c"), "")
    for kwargs, error, message in (
        ({"name": "mnist"}, ValueError, "^name must be one of 'fashion-mnist', 'cifar10', 'imagefolder'; got 'mnist'"),
        ({"classes": ("a", "b")}, ValueError, r"^train.labels must be class indices in \[0, 1\] \(the dataset has 2 "
                                              r"classes\); got labels up to 2"),
        ({"classes": ("a",)}, ValueError, "^classes must be two or more class names"),
        ({"test": ImageTensors(torch.zeros(2, 1, 5, 6), y[:2])}, ValueError,
         r"^test.images must have the training split's image shape \(C, H, W\) = \(1, 6, 6\); got \(1, 5, 6\)"),
        ({"train": ImageTensors(x[:0], y[:0])}, ValueError, "^train must hold at least one image; got 0"),
        ({"train": ImageTensors(x.index_fill(0, torch.tensor([1]), math.nan), y)}, ValueError,
         "^train.images must be a tensor of finite values; got 36 NaN"),
        ({"test": (x, y)}, TypeError, "^test must be an ImageTensors; got tuple"),
        ({"test": ImageTensors(x.double(), y)}, TypeError, "^test.images must have the training split's dtype"),
    ):
        args = {"name": "fashion-mnist", "train": split, "test": split, "classes": ("a", "b", "c"), "source": "",
                **kwargs}
        with pytest.raises(error, match=message):
            Dataset(**args)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"name": None}, ValueError, "^dataset must be one of 'fashion-mnist', 'cifar10', 'imagefolder'; got None"),
    ({"name": "fashion-mnist", "root": 3}, TypeError, "^root must be a folder"),
    ({"name": "fashion-mnist", "download": "yes"}, TypeError, "^download must be True or False; got 'yes'"),
    ({"name": "fashion-mnist", "download": 1}, TypeError, "^download must be True or False; got 1"),
    ({"name": "fashion-mnist", "image_size": 32}, ValueError, "^image_size must be None for dataset 'fashion-mnist'"),
    ({"name": "imagefolder", "image_size": 2.0}, TypeError, r"^image_size must be an integer in \[1, 4096\]; got 2.0"),
])
def test_load_dataset_checks_its_arguments_first(tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        load_dataset(**{"root": tmp_path, **kwargs})
