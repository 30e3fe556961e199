import numpy as np
import pytest
import torch

from imckit.memory.cells import CellConfig
from imckit.core.models import mappable_layers, resnet8
from imckit.search.sensitivity import sensitivity_table

from ..conftest import IDENTITY4, toy_dataset as _toy_dataset

CONFIGS = (CellConfig(12, 6), CellConfig(8, 4), CellConfig(8, 0), CellConfig(2, 1))


@pytest.fixture(scope="module")
def toy():
    data = _toy_dataset(n_test=40)
    torch.manual_seed(0)
    return resnet8(in_channels=1, num_classes=4, width=0.5).eval(), data.test


def test_memory_column_and_dense_layer_exclusion(toy, tmp_path):
    model, data = toy
    table = sensitivity_table(model, data, CONFIGS, repetitions=2, cache=str(tmp_path), progress=False)
    layers = mappable_layers(model)
    total = sum(layer.weights for layer in layers)
    for i, layer in enumerate(layers):
        for j, config in enumerate(CONFIGS):
            if layer.kind == "dense" and config.mlc_cells > 0:
                assert np.isnan(table.memory_reduction[i, j]) and np.isnan(table.loss_change[i, j])
            else:
                expected = 100 * layer.weights * (12 - config.devices_per_weight) / (12 * total)
                assert table.memory_reduction[i, j] == pytest.approx(expected)
    # Q8 with 4 MLC cells saves 8 of 12 devices of the layer's share (the paper's Table I ratios)
    assert table.memory_reduction[0, 1] / table.memory_reduction[0, 2] == pytest.approx(8 / 4)
    assert table.frame("memory_reduction").shape == (8, 4)


def test_error_free_12_bit_cells_change_nothing(toy):
    model, data = toy
    table = sensitivity_table(model, data, (CellConfig(12, 6),), mlc=IDENTITY4, repetitions=3, cache="",
                              progress=False)
    assert np.all(table.loss_change[:7] == 0) and np.all(table.loss_ci[:7] == 0)
    assert np.isnan(table.loss_change[7, 0])  # the dense layer allows no MLC configuration


def test_entries_do_not_depend_on_the_other_columns(toy):
    model, data = toy
    full = sensitivity_table(model, data, CONFIGS, repetitions=3, seed=4, cache="", progress=False)
    part = sensitivity_table(model, data, CONFIGS[1:2], repetitions=3, seed=4, cache="", progress=False)
    assert np.array_equal(full.loss_change[:, 1], part.loss_change[:, 0], equal_nan=True)


def test_cache_is_reused_and_invalidated(toy, tmp_path):
    model, data = toy
    a = sensitivity_table(model, data, CONFIGS[:2], repetitions=2, cache=str(tmp_path), progress=False)
    b = sensitivity_table(model, data, CONFIGS[:2], repetitions=2, cache=str(tmp_path), progress=False)
    assert np.array_equal(a.loss_change, b.loss_change, equal_nan=True)
    assert len(list((tmp_path / "sensitivity").iterdir())) == 1
    sensitivity_table(model, data, CONFIGS[:2], repetitions=2, seed=1, cache=str(tmp_path), progress=False)
    sensitivity_table(model, data, CONFIGS[:2], repetitions=3, cache=str(tmp_path), progress=False)
    sensitivity_table(model, data, CONFIGS[:2], repetitions=2, mlc=IDENTITY4, cache=str(tmp_path), progress=False)
    assert len(list((tmp_path / "sensitivity").iterdir())) == 4


def test_bad_input(toy):
    model, data = toy
    with pytest.raises(ValueError, match="repetitions must be an integer >= 1"):
        sensitivity_table(model, data, CONFIGS, repetitions=0, cache="")
    unknown = r"^mlc_excluded must name layers of the model .*got unknown layer\(s\) \['fc2'\]"
    with pytest.raises(ValueError, match=unknown):
        sensitivity_table(model, data, CONFIGS, repetitions=1, mlc_excluded=("fc2",), cache="")
    with pytest.raises(ValueError, match="configs must be a non-empty sequence of CellConfig"):
        sensitivity_table(model, data, ((8, 4),), repetitions=1, cache="")


def test_error_free_entries_are_evaluated_once_and_match_a_direct_evaluation(toy):
    from imckit.memory.devices import SLC
    from imckit.injection.errors import evaluate_with_errors, is_error_free

    model, data = toy
    assert is_error_free(CellConfig(8, 0)) and not is_error_free(CellConfig(8, 1))
    assert not is_error_free(CellConfig(8, 0), slc=SLC(0.01))
    table = sensitivity_table(model, data, CONFIGS, repetitions=3, cache="", progress=False)
    direct = evaluate_with_errors(model, data, {"stack2.conv1": CellConfig(8, 0)}, repetitions=1)
    expected = 100 * (float(direct.loss[0]) - table.baseline_loss) / table.baseline_loss
    assert table.loss_change[3, 2] == pytest.approx(expected, abs=1e-9) and table.loss_ci[3, 2] == 0
    # an SLC device with errors makes the same configuration stochastic again: repetitions differ
    noisy = sensitivity_table(model, data, CONFIGS[2:3], slc=SLC(0.05), repetitions=3, cache="", progress=False)
    assert np.nanmax(noisy.loss_ci) > 0


def test_cpu_and_auto_give_identical_tables(toy):
    model, data = toy
    cpu = sensitivity_table(model, data, CONFIGS[1:3], repetitions=2, cache="", progress=False, device="cpu")
    auto = sensitivity_table(model, data, CONFIGS[1:3], repetitions=2, cache="", progress=False, device="auto")
    if not torch.cuda.is_available():
        assert np.array_equal(cpu.loss_change, auto.loss_change, equal_nan=True)
        assert np.array_equal(cpu.accuracy_change, auto.accuracy_change, equal_nan=True)
    with pytest.raises(ValueError, match="device must be one of"):
        sensitivity_table(model, data, CONFIGS, repetitions=1, cache="", device="npu")


def test_no_cache_writes_nothing_and_the_key_knows_torch(toy, tmp_path, monkeypatch):
    import imckit.core.cache as cache

    model, data = toy
    a = sensitivity_table(model, data, CONFIGS[:2], repetitions=2, cache="", progress=False)
    assert not cache.cache_dir().exists() or not any(cache.cache_dir().rglob("*.pt"))
    b = sensitivity_table(model, data, CONFIGS[:2], repetitions=2, cache=str(tmp_path), progress=False)
    assert np.array_equal(a.loss_change, b.loss_change, equal_nan=True)
    assert [p.name.startswith("table-") for p in (tmp_path / "sensitivity").iterdir()] == [True]
    monkeypatch.setattr(cache, "torch_version", lambda: "99.0")  # another torch may round differently
    sensitivity_table(model, data, CONFIGS[:2], repetitions=2, cache=str(tmp_path), progress=False)
    assert len(list((tmp_path / "sensitivity").iterdir())) == 2
