import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from imckit.core.data import Dataset, ImageTensors
from imckit.memory.devices import TransitionMatrixDevice

ROOT = Path(__file__).resolve().parent.parent

# Property-based tests (Hypothesis): the same examples on every run (derandomized, no example database
# written into the clone), a bounded number per property so that each runs in seconds on 2 cores.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("imckit", max_examples=60, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("IMCKIT_HYPOTHESIS_PROFILE", "imckit"))


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Every test gets its own data and cache folders (the real Debian files stay readable)."""
    monkeypatch.setenv("IMCKIT_DATA", str(tmp_path / "imckit-data"))
    monkeypatch.setenv("IMCKIT_CACHE", str(tmp_path / "imckit-cache"))


def write_idx(path: Path, array: np.ndarray, gz: bool) -> Path:
    """Write ``array`` (uint8) in the IDX format of (Fashion-)MNIST."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def write_fashion_mnist(folder: Path, train: int, test: int, seed: int = 0, gz: bool = True) -> Path:
    """The four Fashion-MNIST IDX files of random content in ``folder`` (gzipped as Debian ships them)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", train), ("t10k", test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), gz=gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n), gz=gz)
    return folder


@pytest.fixture
def tiny_fashion_mnist(tmp_path):
    """A folder with the four Fashion-MNIST files (gzipped) of random content: 40 train, 20 test images."""
    return write_fashion_mnist(tmp_path / "fm-gz", 40, 20)


requires_debian_fashion_mnist = pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)",
)


IDENTITY4 = TransitionMatrixDevice(torch.eye(4).tolist(), name="perfect")

def toy_dataset(n_train=96, n_test=48, seed=0):
    """A learnable toy problem: the class is which quadrant of a 12x12 image is bright."""
    g = torch.Generator().manual_seed(seed)

    def split(n):
        labels = torch.randint(0, 4, (n,), generator=g)
        images = torch.randn(n, 1, 12, 12, generator=g) * 0.3
        for i, y in enumerate(labels.tolist()):
            r, c = divmod(y, 2)
            images[i, 0, 6 * r : 6 * r + 6, 6 * c : 6 * c + 6] += 2.0
        return ImageTensors(images, labels)

    return Dataset("fashion-mnist", split(n_train), split(n_test), ("a", "b", "c", "d"), "generated")
