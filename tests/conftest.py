import gzip
import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


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
