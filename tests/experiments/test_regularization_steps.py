"""The cached computations of the chapter "Fault- and variability-aware training": fine-tunes and sweep
points, keyed by their code only (the chapter's sentences are not part of any key)."""

import pytest
import torch

from imckit.core.compute import cache_device
from imckit.core.models import resnet8
from imckit.experiments import regularization_steps as steps
from imckit.qat.training import QATConfig, train_qat
from tests.conftest import toy_dataset

from .closure import chapter_modules, covered_modules


@pytest.fixture(scope="module")
def toy():
    data = toy_dataset(n_train=96, n_test=64, seed=0)
    torch.manual_seed(0)
    return resnet8(in_channels=1, num_classes=4, width=0.25).eval(), data


def test_keys_cover_the_training_code_and_no_chapter_text():
    covered = covered_modules(steps.CODE[0])
    assert {"imckit.qat.training", "imckit.qat.faults", "imckit.qat.variability"} <= covered
    assert chapter_modules(steps.CODE[0]) == set()


def test_fine_tune_is_cached_and_restores_exactly(toy, tmp_path):
    model, dataset = toy
    data = dataset.train.subset(48, seed=0)
    config = QATConfig(bits=3, epochs=1, batch_size=16, activation_bits=3)
    first = steps.fine_tune(model, data, config, seed=1, cache=tmp_path)
    again = steps.fine_tune(model, data, config, seed=1, cache=tmp_path, device="auto")
    plain = train_qat(model, data, config, seed=1)
    assert cache_device("cpu") is None  # CPU keys hold no device: "auto" without a GPU reads the CPU entry
    assert not first.from_cache and again.from_cache == (cache_device("auto") is None)
    for restored in (first.result, steps.fine_tune(model, data, config, seed=1, cache=tmp_path).result):
        state = restored.model.state_dict()
        assert all(torch.equal(state[k], v) for k, v in plain.model.state_dict().items())
        for m, q in plain.quantizers.items():
            assert torch.equal(restored.quantizers[m].levels(), q.levels())
        assert restored.history == plain.history
        # the restored LSQ input quantizers act: same outputs as the trained network
        x = dataset.test.images[:8]
        assert torch.equal(restored.model(x), plain.model(x))
    other = steps.fine_tune(model, data, config, seed=2, cache=tmp_path)
    assert not other.from_cache  # another seed is another entry


def test_sweep_point_rows_and_cache(toy, tmp_path):
    model, dataset = toy
    train, test = dataset.train.subset(32, seed=0), dataset.test.subset(32, seed=0)
    start = steps.fine_tune(model, train, QATConfig(bits=3, epochs=1, batch_size=16), seed=0, cache=tmp_path).result
    modules, tune = list(start.quantizers), QATConfig(bits=3, epochs=1, batch_size=16)
    faults, hit = steps.sweep_point("faults", start, train, test, modules, 0.3, 1, 0, tune=tune, remaps=1,
                                    cache=tmp_path)
    assert not hit and faults["computed"] == 4 and len(faults["seconds"]) == 4
    clean, _ = steps.sweep_point("faults", start, train, test, modules, 0.0, 0, 0, tune=tune, remaps=1, cache=tmp_path)
    assert clean["computed"] == 1 and len(clean["seconds"]) == 1  # no faults: one fine-tune for the four levels
    assert len({clean["row"][m] for m in ("basic", "passive", "active", "active+passive")}) == 1
    other, _ = steps.sweep_point("faults", start, train, test, modules, 0.3, 1, 0, tune=tune, remaps=1, chip=1,
                                 cache=tmp_path)
    assert other["computed"] == 4 and other["row"]["faulty weights (%)"] != faults["row"]["faulty weights (%)"]
    assert list(faults["row"]) == ["bit-fault rate (%)", "faulty weights (%)", *steps.FAULT_REFERENCES,
                                   "basic", "passive", "active", "active+passive"]
    assert faults["row"]["bit-fault rate (%)"] == 30.0 and 0 < faults["row"]["faulty weights (%)"] < 100
    chip, _ = steps.sweep_point("variability", start, train, test, modules, 0.4, 1, 0, tune=tune, cache=tmp_path)
    assert list(chip["row"]) == ["σ/μ", *steps.VARIABILITY_REFERENCES, *steps.VARIABILITY_METHODS]
    again, hit = steps.sweep_point("faults", start, train, test, modules, 0.3, 1, 0, tune=tune, remaps=1,
                                   cache=tmp_path)
    assert hit and again == faults
    with pytest.raises(ValueError, match=r"kind must be one of \('faults', 'variability'\); got 'drift'"):
        steps.sweep_point("drift", start, train, test, modules, 0.1, 0, 0, tune=tune, cache=tmp_path)


def test_chip_seeds():
    assert steps.chip_seeds("faults", 2, 3) == (2003, 5)  # chip 0: the sweep's seeds
    assert steps.chip_seeds("variability", 2, 3) == (2503, 5)
    assert steps.chip_seeds("faults", 2, 3, chip=2) == (2_002_003, 2005)
    seeds = {steps.chip_seeds(kind, seed, index, chip)[0] for kind in steps.SWEEPS for seed in range(3)
             for index in range(5) for chip in range(4)}
    assert len(seeds) == 2 * 3 * 5 * 4  # every map of every point of both sweeps has its own seed
    with pytest.raises(ValueError, match=r"^chip must be an integer in \[0, 99\]; got -1"):
        steps.chip_seeds("faults", 0, 0, chip=-1)
    with pytest.raises(ValueError, match="kind must be one of"):
        steps.chip_seeds("drift", 0, 0)
