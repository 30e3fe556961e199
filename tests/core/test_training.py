import warnings

import pytest
import torch

from imckit.core.data import Dataset, ImageTensors
from imckit.core.training import (PAPER_EPOCHS, BaselineSpec, Metrics, TrainConfig, baseline_spec, evaluate,
                                   pretrained, train)
from imckit.core.models import resnet8

from ..conftest import requires_debian_fashion_mnist, toy_dataset as _toy_dataset


@pytest.mark.parametrize("kwargs,error,message", [
    ({"epochs": -1}, ValueError, r"^epochs must be an integer in \[0, 10000\]; got -1"),
    ({"epochs": 2.5}, TypeError, r"^epochs must be an integer in \[0, 10000\]; got 2.5"),
    ({"batch_size": 0}, ValueError, "^batch_size must be an integer >= 1; got 0"),
    ({"batch_size": -128}, ValueError, "^batch_size must be an integer >= 1; got -128"),
    ({"lr": 0.0}, ValueError, r"^lr must be a finite number in \(0.0, 10.0\]; got 0.0"),
    ({"lr": float("nan")}, ValueError, r"^lr must be a finite number in \(0.0, 10.0\]; got nan"),
    ({"lr": True}, TypeError, r"^lr must be a finite number in \(0.0, 10.0\]; got True"),
    ({"momentum": 1.5}, ValueError, r"^momentum must be a finite number in \[0.0, 1.0\]; got 1.5"),
    ({"weight_decay": -1e-4}, ValueError, r"^weight_decay must be a finite number in \[0.0, 1.0\]"),
    ({"augment": "flip"}, ValueError, "^augment must be one of 'auto', 'none', 'crop_flip'; got 'flip'"),
])
def test_train_config_rejects_bad_values(kwargs, error, message):
    with pytest.raises(error, match=message):
        TrainConfig(**kwargs)


def test_bad_profile():
    with pytest.raises(ValueError, match="profile must be one of 'smoke', 'default', 'paper'; got 'fast'"):
        baseline_spec("fast")


def test_evaluate_matches_a_direct_computation():
    data = _toy_dataset().test
    model = resnet8(in_channels=1, num_classes=4).eval()
    with torch.no_grad():
        logits = model(data.images)
    expected = Metrics(torch.nn.functional.cross_entropy(logits, data.labels).item(),
                       (logits.argmax(1) == data.labels).float().mean().item())
    got = evaluate(model, data, batch_size=7)
    assert got.loss == pytest.approx(expected.loss, rel=1e-5) and got.accuracy == pytest.approx(expected.accuracy)


def test_training_learns_and_is_reproducible():
    data = _toy_dataset()
    config = TrainConfig(epochs=3, batch_size=16, lr=0.05)
    states = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        model = resnet8(in_channels=1, num_classes=4, width=0.5)
        history = train(model, data.train, config, seed=seed, test_data=data.test, progress=False)
        states.append(torch.cat([p.detach().flatten() for p in model.state_dict().values() if p.is_floating_point()]))
    assert torch.equal(states[0], states[1])
    assert not torch.equal(states[0], states[2])
    assert len(history.train_loss) == 3 and history.train_loss[-1] < history.train_loss[0]
    assert history.test_accuracy[-1] > 0.5  # chance is 0.25


def test_pretrained_caches_and_reloads_identically(tmp_path):
    data = _toy_dataset()
    spec = BaselineSpec(train=TrainConfig(epochs=1, batch_size=32), width=0.5, seed=3)
    first = pretrained(spec, data=data, cache=tmp_path, progress=False)
    second = pretrained(spec, data=data, cache=tmp_path, progress=False)
    assert not first.from_cache and second.from_cache and first.path == second.path
    assert second.test == first.test == evaluate(second.model, second.test_set)
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)
    # another seed is another entry
    third = pretrained(BaselineSpec(train=spec.train, width=0.5, seed=4), data=data, cache=tmp_path, progress=False)
    assert not third.from_cache and third.path != first.path


def test_damaged_checkpoint_is_retrained(tmp_path):
    data = _toy_dataset()
    spec = BaselineSpec(train=TrainConfig(epochs=1, batch_size=32), width=0.5)
    first = pretrained(spec, data=data, cache=tmp_path, progress=False)
    first.path.write_bytes(first.path.read_bytes()[:200])
    with pytest.warns(RuntimeWarning, match="ignoring cache file"):
        again = pretrained(spec, data=data, cache=tmp_path, progress=False)
    assert not again.from_cache and again.test == first.test  # retrained, same seed, same numbers
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pretrained(spec, data=data, cache=tmp_path, progress=False).from_cache


def test_changed_data_changes_the_key(tmp_path):
    spec = BaselineSpec(train=TrainConfig(epochs=0), width=0.5)
    a = pretrained(spec, data=_toy_dataset(seed=0), cache=tmp_path, progress=False)
    b = pretrained(spec, data=_toy_dataset(seed=1), cache=tmp_path, progress=False)
    assert a.key != b.key and not b.from_cache


def test_data_must_match_spec():
    with pytest.raises(ValueError, match="^data must hold spec.dataset 'cifar10'; got a Dataset of 'fashion-mnist'"):
        pretrained(BaselineSpec(dataset="cifar10"), data=_toy_dataset())


@pytest.mark.parametrize("kwargs,error,message", [
    ({"dataset": "mnist"}, ValueError, "^dataset must be one of"),
    ({"model": "resnet18"}, ValueError, "^model must be one of 'resnet8'"),
    ({"seed": -1}, ValueError, r"^seed must be an integer in \[0, 2\*\*63 - 1\]; got -1"),
    ({"seed": 1.0}, TypeError, r"^seed must be an integer in \[0, 2\*\*63 - 1\]; got 1.0"),
    ({"train_size": 0}, ValueError, "^train_size must be an integer >= 1; got 0"),
    ({"width": 100}, ValueError, r"^width must be a finite number in \[0.25, 8.0\]; got 100.0"),
    ({"train": {}}, TypeError, "^train must be a TrainConfig; got dict"),
])
def test_baseline_spec_rejects_bad_values(kwargs, error, message):
    with pytest.raises(error, match=message):
        BaselineSpec(**kwargs)


def test_negative_epochs_through_the_profile_api():
    with pytest.raises(ValueError, match="epochs must be an integer in"):
        BaselineSpec(train=TrainConfig(epochs=-2))


@requires_debian_fashion_mnist
def test_smoke_baseline_on_real_data_is_reproducible(tmp_path):
    spec = baseline_spec("smoke", seed=5)
    a = pretrained(spec, cache=tmp_path / "a", progress=False)
    b = pretrained(spec, cache=tmp_path / "b", progress=False)
    assert not a.from_cache and not b.from_cache
    assert a.test == b.test and a.key == b.key
    assert a.test.accuracy > 0.5  # far above chance (0.1) after two small epochs


def test_subset_larger_than_the_split_names_the_field():
    with pytest.raises(ValueError, match="train_size must be at most the split's 96 images"):
        pretrained(BaselineSpec(train_size=500), data=_toy_dataset())


no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback of 'auto'")


@no_gpu
def test_train_on_cpu_and_auto_is_identical():
    data = _toy_dataset()
    config = TrainConfig(epochs=2, batch_size=16, lr=0.05)
    runs = []
    for device in ("cpu", "auto"):
        torch.manual_seed(0)
        model = resnet8(in_channels=1, num_classes=4, width=0.5)
        history = train(model, data.train, config, seed=0, test_data=data.test, progress=False, device=device)
        assert all(t.device.type == "cpu" for t in model.state_dict().values())
        runs.append((model.state_dict(), history))
    (a, ha), (b, hb) = runs
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (ha.train_loss, ha.train_accuracy, ha.test_loss, ha.test_accuracy) == \
        (hb.train_loss, hb.train_accuracy, hb.test_loss, hb.test_accuracy)
    with pytest.raises(ValueError, match="asks for a CUDA GPU"):
        train(resnet8(in_channels=1, num_classes=4, width=0.5), data.train, config, seed=0, progress=False,
              device="cuda")


@no_gpu
def test_pretrained_auto_on_a_cpu_machine_is_the_cpu_entry(tmp_path):
    data = _toy_dataset()
    spec = BaselineSpec(train=TrainConfig(epochs=1, batch_size=32), width=0.5, seed=2)
    cpu = pretrained(spec, data=data, cache=tmp_path, progress=False, device="cpu")
    auto = pretrained(spec, data=data, cache=tmp_path, progress=False, device="auto")
    assert not cpu.from_cache and auto.from_cache and auto.key == cpu.key
    assert all(t.device.type == "cpu" for t in auto.model.state_dict().values())


def test_evaluate_with_weights_leaves_the_model_as_it_was():
    data = _toy_dataset().test
    torch.manual_seed(0)
    model = resnet8(in_channels=1, num_classes=4).train()
    weight = torch.zeros_like(model.head.fc.weight)
    with torch.no_grad():
        logits = torch.func.functional_call(model.eval(), {"head.fc.weight": weight}, (data.images,))
    model.train()
    got = evaluate(model, data, weights={"head.fc": weight})
    assert got.loss == pytest.approx(torch.nn.functional.cross_entropy(logits, data.labels).item(), rel=1e-5)
    assert model.training and all(m.training for m in model.modules())  # flags restored, not left in eval
    assert torch.count_nonzero(model.head.fc.weight) > 0  # never written to
    with pytest.raises(ValueError, match="data must hold at least one image"):
        evaluate(model, ImageTensors(data.images[:0], data.labels[:0]))


def test_pretrained_without_a_cache_trains_and_writes_nothing(tmp_path):
    from imckit.core.cache import cache_dir

    data = _toy_dataset()
    spec = BaselineSpec(train=TrainConfig(epochs=1, batch_size=32), width=0.5, seed=3)
    first = pretrained(spec, data=data, cache="", progress=False)
    again = pretrained(spec, data=data, cache="", progress=False)
    assert not first.from_cache and not again.from_cache and first.path is None and first.test == again.test
    assert not cache_dir().exists() or not any(cache_dir().rglob("*.pt"))
    cached = pretrained(spec, data=data, cache=tmp_path, progress=False)
    assert cached.path.parent == tmp_path / "models" and cached.path.name.startswith("resnet8-fashion-mnist-")
    assert cached.test == first.test


def test_a_checkpoint_that_does_not_fit_its_model_is_retrained(tmp_path):
    from imckit.core.cache import load_entry, save_entry

    data = _toy_dataset()
    spec = BaselineSpec(train=TrainConfig(epochs=1, batch_size=32), width=0.5)
    first = pretrained(spec, data=data, cache=tmp_path, progress=False)
    entry = load_entry(first.path, first.key)
    entry["value"]["state_dict"].pop("head.fc.weight")
    save_entry(first.path, first.key, entry)
    with pytest.warns(RuntimeWarning, match="ignoring cache file"):
        again = pretrained(spec, data=data, cache=tmp_path, progress=False)
    assert not again.from_cache and again.test == first.test


# --------------------------------------------------------------------------------------------------------
# the paper profile: the paper-sized network and crop+flip on colour 32x32 images


def test_profiles_choose_the_network_and_the_paper_trains_longer():
    smoke, default, paper = (baseline_spec(p, dataset="cifar10") for p in ("smoke", "default", "paper"))
    assert (smoke.model, default.model, paper.model) == ("resnet8", "resnet8", "resnet8_paper")
    assert paper.train.epochs == PAPER_EPOCHS and 60 <= PAPER_EPOCHS <= 100
    assert {smoke.train.augment, default.train.augment, paper.train.augment} == {"auto"}
    assert paper.dataset == "cifar10" and baseline_spec("paper").dataset == "fashion-mnist"


def test_augment_auto_is_crop_flip_on_colour_32x32_images_only():
    auto, none, forced = TrainConfig(), TrainConfig(augment="none"), TrainConfig(augment="crop_flip")
    colour, grey, small = torch.zeros(2, 3, 32, 32), torch.zeros(2, 1, 28, 28), torch.zeros(2, 3, 28, 28)
    assert auto.augments(colour) and not auto.augments(grey) and not auto.augments(small)
    assert not none.augments(colour) and forced.augments(grey)


def _colour_data(n=256, seed=0, classes=4):
    """Generated 3x32x32 images: the class is which quadrant holds a bright square (a learnable toy)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=g)
    images = torch.randn(n, 3, 32, 32, generator=g) * 0.3
    for i, y in enumerate(labels.tolist()):
        r, c = divmod(y, 2)
        images[i, :, 16 * r + 4 : 16 * r + 12, 16 * c + 4 : 16 * c + 12] += 2.0
    return ImageTensors(images, labels)


def _train_state(data, config, seed=0):
    torch.manual_seed(seed)
    model = resnet8(in_channels=data.images.shape[1], num_classes=4, width=0.5)
    history = train(model, data, config, seed=seed, progress=False)
    return torch.cat([t.detach().flatten() for t in model.state_dict().values() if t.is_floating_point()]), history


def test_training_on_colour_32x32_images_augments_and_is_reproducible():
    data = _colour_data()
    config = TrainConfig(epochs=1, batch_size=32)
    a, history = _train_state(data, config)
    b, _ = _train_state(data, config)
    plain, _ = _train_state(data, TrainConfig(epochs=1, batch_size=32, augment="none"))
    assert torch.equal(a, b) and not torch.equal(a, plain)  # same seed, same weights; the crops are real
    assert len(history.train_loss) == 1 and history.train_loss[0] > 0


def test_training_on_grey_images_is_the_training_without_augmentation():
    data = _toy_dataset().train  # 1-channel images: "auto" draws nothing more than the batch order
    a, _ = _train_state(data, TrainConfig(epochs=1, batch_size=16))
    b, _ = _train_state(data, TrainConfig(epochs=1, batch_size=16, augment="none"))
    forced, _ = _train_state(data, TrainConfig(epochs=1, batch_size=16, augment="crop_flip"))
    assert torch.equal(a, b) and not torch.equal(a, forced)


def test_paper_profile_recipe_on_cifar10_files(tmp_path, monkeypatch):
    from dataclasses import replace

    from torchvision.datasets import CIFAR10

    from imckit.core.data import load_dataset

    from .test_data import _write_cifar10

    md5 = _write_cifar10(tmp_path / "c10", n_per_batch=12)  # the real on-disk format, random pixels
    monkeypatch.setattr(CIFAR10, "train_list", [[f"data_batch_{i}", md5[f"data_batch_{i}"]] for i in range(1, 6)])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5["test_batch"]]])
    monkeypatch.setitem(CIFAR10.meta, "md5", md5["batches.meta"])
    data = load_dataset("cifar10", root=tmp_path / "c10")
    paper = baseline_spec("paper", dataset="cifar10", seed=1)
    spec = replace(paper, width=0.5, train=replace(paper.train, epochs=1, batch_size=16))
    first = pretrained(spec, data=data, cache="", progress=False)
    again = pretrained(spec, data=data, cache="", progress=False)
    assert first.model.widths == (8, 24, 72) and spec.train.augments(first.train_set.images)
    assert len(first.history.train_loss) == 1 and first.test == again.test
    for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)
