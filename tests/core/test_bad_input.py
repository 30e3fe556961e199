"""Bad input to imckit.core's public API: every case is a clear error that names the exact parameter, never a
silently wrong number or an error from deep inside torch (issue 17). Families are parametrized: the same
kind of parameter (seed, count, probability-like number, device, flag, tensor of images) is checked the
same way in every function."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import imckit.core.training as training_mod
from imckit.core.cache import CacheNotWritableError, cached, check_writable
from imckit.core.compute import cache_device, model_on_device, resolve_device
from imckit.core.data import ImageTensors
from imckit.core.engine import Engine, Evaluation, evaluate
from imckit.core.fit import batch_sum, cosine_decay, fit, random_crop_flip
from imckit.core.graph import fast_path_blocker, layer_graph
from imckit.core.models import build_model, layer_table, mappable_layers
from imckit.core.profiles import check_profile
from imckit.core.training import BaselineSpec, TrainConfig, baseline_spec, pretrained, train

from ..conftest import toy_dataset


def _model():
    torch.manual_seed(0)
    return build_model("vgg_small", in_channels=1, num_classes=4, width=0.25)


def _data(n=16):
    g = torch.Generator().manual_seed(1)
    return ImageTensors(torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 4, (n,), generator=g))


def _fit(**kwargs):
    model = _model()
    args = {"optimizer": torch.optim.SGD(model.parameters(), 0.01), "epochs": 1, "batch_size": 4, "generator": 0,
            **kwargs}
    return fit(model, args.pop("data", _data()), **args)


# ---- the cases: a negative batch size and zero images were a loss of 0 or NaN, not an error


@pytest.mark.parametrize("call", [
    lambda bs: evaluate(_model(), _data(), batch_size=bs),
    lambda bs: Engine(_model()).evaluate(_data(), batch_size=bs),
    lambda bs: training_mod.evaluate(_model(), _data(), batch_size=bs),
    lambda bs: _fit(batch_size=bs),
    lambda bs: TrainConfig(batch_size=bs),
], ids=["engine.evaluate", "Engine.evaluate", "training.evaluate", "fit", "TrainConfig"])
@pytest.mark.parametrize("value, error", [(-1, ValueError), (0, ValueError), (-128, ValueError), (2.0, TypeError),
                                          (True, TypeError), ("64", TypeError)])
def test_batch_size_family(call, value, error):
    with pytest.raises(error, match=r"^batch_size must be an integer >= 1; got "):
        call(value)


@pytest.mark.parametrize("call, name", [
    (lambda d: evaluate(_model(), d), "data"),
    (lambda d: training_mod.evaluate(_model(), d), "data"),
    (lambda d: _fit(data=d), "data"),
    (lambda d: train(_model(), d, TrainConfig(epochs=1), 0, progress=False), "data"),
    (lambda d: train(_model(), _data(), TrainConfig(epochs=1), 0, test_data=d, progress=False), "test_data"),
], ids=["engine.evaluate", "training.evaluate", "fit", "train", "train test_data"])
def test_zero_images_family(call, name):
    with pytest.raises(ValueError, match=f"^{name} must hold at least one image; got 0"):
        call(ImageTensors(torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.int64)))


def _nan_images():
    d = _data()
    images = d.images.clone()
    images[2, 0, 3, 3] = math.nan
    return ImageTensors(images, d.labels)


def _inf_images():
    d = _data()
    return ImageTensors(d.images.index_fill(0, torch.tensor([0]), math.inf), d.labels)


BAD_IMAGES = [
    (_nan_images, ValueError, r"images must be a tensor of finite values; got 1 NaN and 0 infinite of 1024 values"),
    (_inf_images, ValueError, r"images must be a tensor of finite values; got 0 NaN and 64 infinite"),
    (lambda: ImageTensors(_data().images[:, 0], _data().labels), ValueError, r"images must have 4 dimensions"),
    (lambda: ImageTensors(_data().images.long(), _data().labels), TypeError, r"images must be a floating-point"),
    (lambda: ImageTensors(torch.zeros(4, 1, 0, 8), torch.zeros(4, dtype=torch.int64)), ValueError,
     r"images must have C, H, W >= 1"),
    (lambda: ImageTensors(_data().images, _data().labels - 9), ValueError, r"labels must be class indices >= 0"),
    (lambda: ImageTensors(_data().images, _data().labels.int()), TypeError, r"labels must be class indices of dtype"),
    (lambda: ImageTensors(_data().images, _data().labels > 1), TypeError, r"labels must be class indices of dtype"),
]


@pytest.mark.parametrize("make, error, message", BAD_IMAGES)
@pytest.mark.parametrize("call, name", [
    (lambda d: evaluate(_model(), d), "data"),
    (lambda d: _fit(data=d), "data"),
    (lambda d: train(_model(), d, TrainConfig(epochs=1), 0, progress=False), "data"),
    (lambda d: train(_model(), _data(), TrainConfig(epochs=1), 0, test_data=d, progress=False), "test_data"),
], ids=["evaluate", "fit", "train", "train test_data"])
def test_bad_images_family(make, error, message, call, name):
    with pytest.raises(error, match=f"^{name}.{message}"):
        call(make())


@pytest.mark.parametrize("call, name", [
    (lambda d: evaluate(_model(), d), "data"),
    (lambda d: _fit(data=d), "data"),
    (lambda d: train(_model(), _data(), TrainConfig(epochs=1), 0, test_data=d, progress=False), "test_data"),
], ids=["evaluate", "fit", "train test_data (before training)"])
def test_labels_beyond_the_models_outputs(call, name):
    d = _data()
    with pytest.raises(ValueError, match=rf"^{name}.labels must be class indices in \[0, 3\] \(the model has 4 "
                                         r"outputs\); got"):
        call(ImageTensors(d.images, d.labels + 4))


def test_bad_test_data_is_found_before_the_training(monkeypatch):
    calls = []
    monkeypatch.setattr(training_mod, "fit", lambda *a, **k: calls.append(1))
    d = _data()
    with pytest.raises(ValueError, match="^test_data.labels must be class indices in"):
        train(_model(), d, TrainConfig(epochs=1), 0, test_data=ImageTensors(d.images, d.labels + 4), progress=False)
    assert calls == []


# ---- seeds: a non-negative integer everywhere (floats are not truncated, bools and strings are refused)

SEED_CASES = [(-1, ValueError), (2**63, ValueError), (np.int64(-3), ValueError), (2.5, TypeError), (2.0, TypeError),
              (True, TypeError), ("3", TypeError), (None, TypeError), (math.nan, TypeError)]


@pytest.mark.parametrize("call, name", [
    (lambda s: _data().subset(4, s), "seed"),
    (lambda s: _data().split(4, s), "seed"),
    (lambda s: train(_model(), _data(), TrainConfig(epochs=1), s, progress=False), "seed"),
    (lambda s: BaselineSpec(seed=s), "seed"),
    (lambda s: baseline_spec("smoke", seed=s), "seed"),
    (lambda s: _fit(generator=s), "generator"),
], ids=["subset", "split", "train", "BaselineSpec", "baseline_spec", "fit"])
@pytest.mark.parametrize("value, error", SEED_CASES)
def test_seed_family(call, name, value, error):
    with pytest.raises(error, match=rf"^{name} must be (an integer|a torch.Generator or a seed)"):
        call(value)


def test_numpy_seeds_are_seeds():
    d = _data()
    assert torch.equal(d.subset(5, np.int64(3)).labels, d.subset(5, 3).labels)
    assert BaselineSpec(seed=np.int64(4)).seed == 4 and type(BaselineSpec(seed=np.int64(4)).seed) is int


# ---- counts and sizes


@pytest.mark.parametrize("call, name", [
    (lambda v: _fit(epochs=v), "epochs"),
    (lambda v: _fit(min_batch=v), "min_batch"),
    (lambda v: _fit(images=v), "images"),
    (lambda v: TrainConfig(epochs=v), "epochs"),
    (lambda v: BaselineSpec(train_size=v), "train_size"),
    (lambda v: BaselineSpec(test_size=v), "test_size"),
    (lambda v: _data().subset(v, 0), "size"),
    (lambda v: _data().split(v, 0), "size"),
    (lambda v: build_model("resnet8", in_channels=v), "in_channels"),
    (lambda v: build_model("vgg_small", num_classes=v), "num_classes"),
    (lambda v: random_crop_flip(torch.zeros(1, 1, 4, 4), torch.Generator(), v), "padding"),
    (lambda v: cosine_decay(v), "total"),
    (lambda v: batch_sum(torch.tensor(1.0), v), "n"),
], ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("value, error", [(-1, ValueError), (-10**6, ValueError), (1.5, TypeError), (1.0, TypeError),
                                          (True, TypeError), ("2", TypeError), (math.nan, TypeError),
                                          ([1], TypeError)])
def test_count_family(call, name, value, error):
    with pytest.raises(error, match=rf"^{name} must be an integer"):
        call(value)


# ---- numbers: finite, in range, never a bool


@pytest.mark.parametrize("call, name", [
    (lambda v: TrainConfig(lr=v), "lr"),
    (lambda v: TrainConfig(momentum=v), "momentum"),
    (lambda v: TrainConfig(weight_decay=v), "weight_decay"),
    (lambda v: build_model("resnet8", width=v), "width"),
    (lambda v: build_model("mobilenet_small", width=v), "width"),
    (lambda v: BaselineSpec(width=v), "width"),
    (lambda v: Evaluation(torch.ones(2), torch.ones(2)).summary(v), "confidence"),
], ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("value, error", [(math.nan, ValueError), (math.inf, ValueError), (-math.inf, ValueError),
                                          (-1.0, ValueError), (1e9, ValueError), (True, TypeError),
                                          ("0.1", TypeError), (None, TypeError)])
def test_number_family(call, name, value, error):
    with pytest.raises(error, match=rf"^{name} must be a finite number in "):
        call(value)


# ---- devices


@pytest.mark.parametrize("call", [
    resolve_device, cache_device, lambda v: _data().to(v), lambda v: model_on_device(_model(), v),
    lambda v: evaluate(_model(), _data(), device=v), lambda v: Engine(_model(), v), lambda v: _fit(device=v),
    lambda v: train(_model(), _data(), TrainConfig(epochs=1), 0, progress=False, device=v),
    lambda v: pretrained(BaselineSpec(train=TrainConfig(epochs=0)), data=toy_dataset(), device=v, progress=False),
], ids=["resolve_device", "cache_device", "ImageTensors.to", "model_on_device", "evaluate", "Engine", "fit", "train",
        "pretrained"])
@pytest.mark.parametrize("value", ["gpu", "cuda:x", "cpu:0", "", 0, None, 1.5, torch.device("meta")])
def test_device_family(call, value):
    with pytest.raises(ValueError, match="^device must be one of 'cpu', 'cuda', 'auto' or 'cuda:N'; got "):
        call(value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
@pytest.mark.parametrize("value", ["cuda", "cuda:0", "CUDA:1"])
def test_cuda_without_a_gpu(value):
    with pytest.raises(ValueError, match=r"^device must be 'cpu' or 'auto' on this machine; got .* asks for a CUDA "
                                         r"GPU but torch sees none"):
        resolve_device(value)


# ---- flags and choices


@pytest.mark.parametrize("call, name", [
    (lambda v: _fit(progress=v), "progress"),
    (lambda v: _fit(train_mode=v), "train_mode"),
    (lambda v: evaluate(_model(), _data(), progress=v), "progress"),
    (lambda v: train(_model(), _data(), TrainConfig(epochs=1), 0, progress=v), "progress"),
    (lambda v: pretrained(BaselineSpec(), data=toy_dataset(), progress=v), "progress"),
], ids=["fit progress", "fit train_mode", "evaluate", "train", "pretrained"])
@pytest.mark.parametrize("value", [0, 1, "no", None])
def test_flag_family(call, name, value):
    with pytest.raises(TypeError, match=f"^{name} must be True or False; got "):
        call(value)


@pytest.mark.parametrize("call, message", [
    (lambda: check_profile("fast"), "^profile must be one of 'smoke', 'default', 'paper'; got 'fast'"),
    (lambda: check_profile(["smoke"]), r"^profile must be one of .*; got \['smoke'\]"),
    (lambda: baseline_spec("paper ", dataset="cifar10"), "^profile must be one of"),
    (lambda: baseline_spec("smoke", dataset="mnist"), "^dataset must be one of 'fashion-mnist', 'cifar10'"),
    (lambda: build_model("resnet9"), "^model must be one of 'resnet8', 'resnet8_paper'"),
    (lambda: BaselineSpec(model="vgg"), "^model must be one of"),
    (lambda: TrainConfig(augment="flip"), "^augment must be one of 'auto', 'none', 'crop_flip'; got 'flip'"),
    (lambda: TrainConfig(augment=None), "^augment must be one of"),
    (lambda: evaluate(_model(), _data(), path="quick"), "^path must be one of 'auto', 'fast', 'forward'"),
    (lambda: _fit(schedule="linear"), "^schedule must be one of 'cosine', 'constant'; got 'linear'"),
    (lambda: _fit(channels_last="model"), "^channels_last must be one of True, False, 'inputs'"),
])
def test_choice_family(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("call, error, message", [
    (lambda: _fit(data=(torch.zeros(2, 1, 4, 4), torch.zeros(2))), TypeError, "^data must be an ImageTensors"),
    (lambda: fit("model", _data(), optimizer=None, epochs=1, batch_size=2, generator=0), TypeError,
     "^model must be a torch.nn.Module"),
    (lambda: _fit(optimizer="sgd"), TypeError, "^optimizer must be a torch.optim.Optimizer; got str"),
    (lambda: _fit(step=3), TypeError, "^step must be a function"),
    (lambda: _fit(on_epoch=3), TypeError, "^on_epoch must be None or a function"),
    (lambda: _fit(after_step="x"), TypeError, "^after_step must be None or a function"),
    (lambda: _fit(grad_masks=[1]), TypeError, "^grad_masks must be None or a dict"),
    (lambda: _fit(desc=3), TypeError, "^desc must be a str"),
    (lambda: random_crop_flip([1.0], torch.Generator()), TypeError, "^x must be a batch of images"),
    (lambda: random_crop_flip(torch.zeros(1, 1, 4, 4), 0), TypeError, "^generator must be a CPU torch.Generator"),
    (lambda: evaluate(None, _data()), TypeError, "^model must be a torch.nn.Module; got NoneType"),
    (lambda: Engine(3), TypeError, "^model must be a torch.nn.Module; got int"),
    (lambda: mappable_layers(None), TypeError, "^model must be a torch.nn.Module"),
    (lambda: layer_table("resnet8"), TypeError, "^model must be a torch.nn.Module"),
    (lambda: layer_graph(None), TypeError, "^model must be a torch.nn.Module"),
    (lambda: fast_path_blocker(None), TypeError, "^model must be a torch.nn.Module"),
    (lambda: layer_graph(_model())([1.0]), TypeError, "^x must be a torch.Tensor; got list"),
    (lambda: model_on_device("model", "cpu"), TypeError, "^model must be a torch.nn.Module"),
    (lambda: build_model("resnet8", depth=3), TypeError, "^depth is not an argument of model 'resnet8'"),
    (lambda: build_model("vgg_small", widths=(1, 2, 3)), TypeError, "^widths is not an argument of model 'vgg_small'"),
    (lambda: train(_model(), _data(), None, 0), TypeError, "^config must be a TrainConfig; got NoneType"),
    (lambda: train(None, _data(), TrainConfig(), 0), TypeError, "^model must be a torch.nn.Module"),
    (lambda: BaselineSpec(train={"epochs": 1}), TypeError, "^train must be a TrainConfig; got dict"),
    (lambda: pretrained(None), TypeError, "^spec must be a BaselineSpec; got NoneType"),
    (lambda: pretrained(BaselineSpec(), data=(1, 2)), TypeError, "^data must be a Dataset or None; got tuple"),
    (lambda: pretrained(BaselineSpec(), data=toy_dataset(), cache=1), TypeError, "^cache must be a folder"),
    (lambda: pretrained(BaselineSpec(dataset="cifar10"), data=toy_dataset()), ValueError,
     "^data must hold spec.dataset 'cifar10'"),
    (lambda: pretrained(BaselineSpec(train_size=10**6), data=toy_dataset()), ValueError,
     "^train_size must be at most the split's 96 images"),
    (lambda: cached("k", {}, None, code="imckit.core.cache"), TypeError, "^compute must be a function"),
    (lambda: cached("k", {}, lambda: 1, code="imckit.core.cache", accept=3), TypeError,
     "^accept must be None or a function"),
    (lambda: cached("k", {}, lambda: 1, code=3), TypeError, "^code must be a module name"),
    (lambda: cached("k", {}, lambda: 1, code=[]), TypeError, "^code must be a module name"),
    (lambda: cached("k", {}, lambda: 1, code="imckit.core.cache", cache=3.5), TypeError, "^cache must be a folder"),
    (lambda: cached("", {}, lambda: 1, code="imckit.core.cache"), ValueError, "^kind must be a non-empty name"),
    (lambda: cached("k", [], lambda: 1, code="imckit.core.cache"), ValueError, "^description must be a dict"),
    (lambda: check_writable(None), TypeError, "^cache must be a folder"),
], ids=lambda v: "")
def test_wrong_kinds_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---- fail early: an unwritable cache is found out before the long computation, not after


def _unusable_cache(tmp_path, monkeypatch) -> Path:
    """IMCKIT_CACHE below a regular file: nothing can be created there, as root too (chmod would not stop root)."""
    (tmp_path / "a-file").write_text("not a folder")
    cache = tmp_path / "a-file" / "cache"
    monkeypatch.setenv("IMCKIT_CACHE", str(cache))
    return cache


def test_pretrained_checks_the_cache_before_it_trains(tmp_path, monkeypatch):
    _unusable_cache(tmp_path, monkeypatch)
    trained = []
    monkeypatch.setattr(training_mod, "train", lambda *a, **k: trained.append(1))
    with pytest.raises(CacheNotWritableError, match=r"^cache must be a folder this user can write to; got '.*a-file/"
                                                    r"cache/models' \(.*\): the cache folder is not writable; set "
                                                    r"IMCKIT_CACHE") as error:
        pretrained(BaselineSpec(train=TrainConfig(epochs=1)), data=toy_dataset(), progress=False)
    assert trained == []  # the training never started
    assert isinstance(error.value, PermissionError) and isinstance(error.value, ValueError)


def test_cached_checks_the_folder_before_it_computes(tmp_path, monkeypatch):
    _unusable_cache(tmp_path, monkeypatch)
    computed = []
    for cache in (None, tmp_path / "a-file" / "elsewhere"):
        with pytest.raises(CacheNotWritableError, match="^cache must be a folder this user can write to"):
            cached("long", {"x": 1}, lambda: computed.append(1), code="imckit.core.cache", cache=cache)
    assert computed == []
    assert cached("long", {"x": 1}, lambda: 7, code="imckit.core.cache", cache="") == (7, False)  # no cache: fine


def test_a_failed_write_after_the_computation_keeps_the_value(tmp_path, monkeypatch):
    import imckit.core.cache as cache_mod

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_mod, "save_entry", full_disk)
    with pytest.warns(RuntimeWarning, match="could not store the cache file .*No space left on device.*returned but "
                                            "not cached"):
        assert cached("long", {"x": 2}, lambda: 11, code="imckit.core.cache", cache=tmp_path / "c") == (11, False)
    assert not [p for p in (tmp_path / "c").rglob("*") if p.is_file()]


# ---- properties


@given(n=st.integers(1, 40), size=st.integers(-5, 45), seed=st.integers(0, 2**63 - 1))
def test_property_subset_is_valid_or_rejected(n, size, seed):
    data = ImageTensors(torch.arange(n, dtype=torch.float32).reshape(n, 1, 1, 1), torch.arange(n) % 3)
    if 1 <= size <= n:
        part = data.subset(size, seed)
        values = part.images.flatten()
        assert len(part) == size and bool((values.diff() > 0).all()) and values.max() < n
        assert torch.equal(part.labels, values.long() % 3)  # labels stay with their images
    else:
        with pytest.raises(ValueError, match=r"^size must be"):
            data.subset(size, seed)


@given(n=st.integers(1, 40), size=st.integers(-5, 45), seed=st.integers(0, 2**63 - 1))
def test_property_split_partitions_or_is_rejected(n, size, seed):
    data = ImageTensors(torch.arange(n, dtype=torch.float32).reshape(n, 1, 1, 1), torch.arange(n) % 3)
    if n >= 2 and 1 <= size < n:
        first, rest = data.split(size, seed)
        together = sorted(first.images.flatten().tolist() + rest.images.flatten().tolist())
        assert together == list(range(n)) and len(first) == size
        assert torch.equal(first.images, data.subset(size, seed).images)
    else:
        with pytest.raises(ValueError, match=r"^(size|split) "):
            data.split(size, seed)


@given(epochs=st.one_of(st.integers(-3, 3), st.floats(-1, 3), st.booleans()),
       batch_size=st.one_of(st.integers(-3, 20), st.floats(-1, 20), st.booleans()),
       lr=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-1, 11), st.booleans()),
       momentum=st.floats(-0.5, 1.5))
def test_property_train_config_is_valid_or_rejected(epochs, batch_size, lr, momentum):
    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    valid = (is_int(epochs) and 0 <= epochs and is_int(batch_size) and batch_size >= 1
             and not isinstance(lr, bool) and math.isfinite(lr) and 0 < lr <= 10 and 0 <= momentum <= 1)
    if valid:
        config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, momentum=momentum)
        assert (config.epochs, config.batch_size, config.lr) == (epochs, batch_size, lr)
    else:
        with pytest.raises((TypeError, ValueError), match=r"^(epochs|batch_size|lr|momentum) must be "):
            TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, momentum=momentum)
