"""The cached computation of the chapter "Quantization and cell mapping": the uniform-quantization table,
keyed by the evaluation's code only."""

import pandas as pd
import pytest
import torch

from imckit.core.models import resnet8
from imckit.experiments.quantization_steps import CODE, uniform_quantization

from ..conftest import toy_dataset
from .closure import chapter_modules, covered_modules


@pytest.fixture(scope="module")
def toy():
    data = toy_dataset(n_test=16)
    torch.manual_seed(0)
    return resnet8(in_channels=1, num_classes=4, width=0.25).eval(), data


def test_keys_cover_the_evaluation_and_no_chapter_text():
    assert covered_modules(CODE[0]) >= {"imckit.injection.errors", "imckit.core.engine"}
    assert chapter_modules(CODE[0]) == set()


def test_uniform_quantization_is_cached(toy, tmp_path):
    model, data = toy
    frame, from_cache = uniform_quantization(model, data.test, (8, 2), ("auto", None), cache=tmp_path)
    again, again_cached = uniform_quantization(model, data.test, (8, 2), ("auto", None), cache=tmp_path)
    assert not from_cache and again_cached
    pd.testing.assert_frame_equal(frame, again)
    assert frame[["alpha", "bits"]].values.tolist() == [["auto", 8], ["auto", 2], ["None", 8], ["None", 2]]
    assert frame["accuracy (%)"].between(0, 100).all()
    uniform_quantization(model, data.test, (4,), ("auto",), cache=tmp_path)
    assert len(list((tmp_path / "uniform-quantization").iterdir())) == 2
    with pytest.raises(ValueError, match=r"^bits\[0\] must be an integer in \[1, 16\]; got 0"):
        uniform_quantization(model, data.test, (0,), ("auto",), cache=tmp_path)
    with pytest.raises(ValueError, match=r"^alphas\[0\] must be one of None, 'auto'"):
        uniform_quantization(model, data.test, (8,), ("po2",), cache=tmp_path)


def test_device_auto_gives_the_cpu_numbers(toy, tmp_path):
    model, data = toy
    cpu, _ = uniform_quantization(model, data.test, (8, 4), ("auto",), cache=tmp_path / "cpu", device="cpu")
    auto, _ = uniform_quantization(model, data.test, (8, 4), ("auto",), cache=tmp_path / "auto", device="auto")
    _, shared = uniform_quantization(model, data.test, (8, 4), ("auto",), cache=tmp_path / "cpu", device="auto")
    assert shared == (not torch.cuda.is_available())  # CPU keys hold no device: "auto" on a CPU reads them
    if not torch.cuda.is_available():
        pd.testing.assert_frame_equal(cpu, auto, check_exact=True)
    with pytest.raises(ValueError, match="device"):
        uniform_quantization(model, data.test, (8,), ("auto",), cache=tmp_path / "bad", device="tpu")
