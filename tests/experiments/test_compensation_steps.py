"""The cached computation of the chapter "Validation and one-epoch compensation": the compensation runs,
keyed by the compensation's code only."""

import numpy as np
import pytest
import torch

from imckit.compensation.compensate import CompensationConfig, compensate
from imckit.core.models import mappable_layers, resnet8
from imckit.core.training import TrainConfig, train
from imckit.experiments.compensation_steps import CODE, compensation_runs
from imckit.memory.cells import CellConfig

from ..conftest import toy_dataset
from .closure import chapter_modules, covered_modules


def test_keys_cover_the_compensation_and_no_chapter_text():
    assert covered_modules(CODE[0]) >= {"imckit.compensation.compensate", "imckit.core.fit"}
    assert chapter_modules(CODE[0]) == set()


@pytest.fixture(scope="module")
def trained():
    data = toy_dataset(n_train=128, n_test=32)
    torch.manual_seed(0)
    model = resnet8(in_channels=1, num_classes=4, width=0.25)
    train(model, data.train, TrainConfig(epochs=2, lr=0.05), seed=0, progress=False)
    return model.eval(), data


def test_compensation_runs_are_cached_and_equal_compensate(trained, tmp_path):
    model, data = trained
    configs = {layer.name: CellConfig(4, 2) if layer.kind == "conv" else CellConfig(8, 0)
               for layer in mappable_layers(model)}
    settings = CompensationConfig(train_images=64, batch_size=32)

    def run(solutions, seed=3, config=settings, **kwargs):
        return compensation_runs(model, data.train, data.test, solutions, 1, seed, config, cache=tmp_path, **kwargs)

    first = run({"mixed": configs})["mixed"]
    again = run({"mixed": configs}, device="auto")["mixed"]  # CPU keys hold no device: "auto" on a CPU reads them
    direct = compensate(model, data.train, data.test, configs, patterns=1, seed=3, config=settings,
                        progress=False)
    assert not first.from_cache and again.from_cache == (not torch.cuda.is_available())
    assert again.seconds == first.seconds > 0
    for name in ("before_accuracy", "after_accuracy", "after_loss", "faulty_share"):
        assert np.array_equal(getattr(first.result, name), getattr(direct, name))
        assert np.array_equal(getattr(again.result, name), getattr(direct, name))
    run({"mixed": configs}, seed=4)  # another seed
    run({"mixed": configs}, config=CompensationConfig(train_images=32))  # other training settings
    assert len(list((tmp_path / "compensation").iterdir())) == 3
    slc = {name: CellConfig(8, 0) for name in configs}
    both = run({"mixed": configs, "slc": slc})
    assert both["mixed"].from_cache and not both["slc"].from_cache  # each solution is its own entry
    assert np.array_equal(both["mixed"].result.after_accuracy, first.result.after_accuracy)
    assert both["slc"].result.faulty_share.tolist() == [0.0]  # SLC cells are error-free
    with pytest.raises(TypeError, match="CompensationConfig"):
        run({"mixed": configs}, config={"lr": 0.01})


def test_each_mode_is_its_own_entry_on_the_same_patterns(trained, tmp_path):
    model, data = trained
    configs = {layer.name: CellConfig(4, 2) if layer.kind == "conv" else CellConfig(8, 0)
               for layer in mappable_layers(model)}
    runs = {mode: compensation_runs(model, data.train, data.test, {"mixed": configs}, 2, 1,
                                    CompensationConfig(train_images=64, batch_size=32, mode=mode),
                                    cache=tmp_path)["mixed"]
            for mode in ("full", "healthy_only", "bn_recalibration")}
    assert len(list((tmp_path / "compensation").iterdir())) == 3
    assert not any(run.from_cache for run in runs.values())
    for mode in ("healthy_only", "bn_recalibration"):
        assert np.array_equal(runs[mode].result.before_accuracy, runs["full"].result.before_accuracy)
        assert np.array_equal(runs[mode].result.faulty_share, runs["full"].result.faulty_share)
    assert np.all(runs["bn_recalibration"].result.rewritten_share == 0)
    direct = compensate(model, data.train, data.test, configs, patterns=2, seed=1,
                        config=CompensationConfig(train_images=64, batch_size=32, mode="bn_recalibration"),
                        progress=False)
    assert np.array_equal(runs["bn_recalibration"].result.after_accuracy, direct.after_accuracy)
