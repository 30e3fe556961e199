from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from imckit.core.models import resnet8
from imckit.experiments.quantization import (QuantizationConfig, QuantizationResult, chance_accuracy,
                                             fixed_grid_sentence, memory_summary, near_chance, read_layer_once, run,
                                             slicing_table)
from imckit.experiments.quantization import aware_verdicts, drop_text, grid_comparison
from imckit.experiments.sensitivity import TableConfig
from imckit.quantization.aware import AwareConfig
from imckit.memory.cells import CellConfig

from ..conftest import IDENTITY4, toy_dataset


def test_preset_is_the_same_in_every_profile_and_validates():
    assert QuantizationConfig.preset("default") == QuantizationConfig()
    assert QuantizationConfig.preset("smoke") == QuantizationConfig(aware_epochs=(1, 1, 1),
                                                                    switchable=TableConfig.preset("smoke").aware)
    assert TableConfig.preset("smoke").aware.frozen_epochs == 0
    assert QuantizationConfig.preset("paper").aware_epochs == (30, 30, 30)
    configs = QuantizationConfig().aware_configs()
    assert list(configs) == ["Full 8", "Full 4", "Full 2", "switchable"]
    assert configs["switchable"] == TableConfig.preset("default").aware  # the later chapters' network
    for field, value in (("aware_epochs", (1, 1)), ("aware_epochs", (1, 0, 1)), ("switchable", AwareConfig(bits=(4,))),
                         ("seed", -1)):
        with pytest.raises(ValueError, match=rf"^{field}(\[\d\])? must be"):
            QuantizationConfig(**{field: value})
    assert QuantizationConfig.preset("default", histogram_config="Q4 MLC1").cell_config == CellConfig(4, 1)
    with pytest.raises(ValueError, match="histogram_config"):
        QuantizationConfig(histogram_config="Q5 MLC1")
    with pytest.raises(ValueError, match="bits"):
        QuantizationConfig(bits=(12, 0))
    with pytest.raises(ValueError, match="alphas"):
        QuantizationConfig(alphas=("po2",))
    with pytest.raises(ValueError, match="profile"):
        QuantizationConfig.preset("tiny")


def test_slicing_table_of_a_four_bit_word_in_one_mlc_cell():
    table = slicing_table(CellConfig(4, 1))
    assert list(table.index) == ["word", "MLC cell (bits 1-0), state", "SLC bit 2", "SLC bit 3"]
    assert list(table.columns) == list(range(-8, 8))
    assert table[-8].tolist() == ["0000", 0, 0, 0]
    assert table[-1].tolist() == ["0111", 3, 1, 0]  # offset binary: -1 + 8 = 7
    assert table[6].tolist() == ["1110", 2, 1, 1]
    slc_only = slicing_table(CellConfig(2, 0))
    assert list(slc_only.index) == ["word", "SLC bit 0", "SLC bit 1"]


def test_memory_summary_on_hand_made_layers():
    layers = [SimpleNamespace(name="a", weights=100), SimpleNamespace(name="b", weights=300)]
    summary, per_layer = memory_summary(layers, (CellConfig(8, 4), CellConfig(2, 0)))
    assert per_layer.loc["b", "Q12 SLC"] == 3600 and per_layer.loc["a", "Q8 MLC4"] == 400
    assert summary["network devices"].tolist() == [1600, 800]
    assert summary["reduction vs 12-bit SLC (%)"].tolist() == pytest.approx([100 * 2 / 3, 100 * 5 / 6])
    assert summary["solution index"].tolist() == [0, 1] and summary["devices per weight"].tolist() == [4, 2]


@pytest.fixture(scope="module")
def toy():
    data = toy_dataset(n_test=16)
    torch.manual_seed(0)
    return resnet8(in_channels=1, num_classes=4, width=0.25).eval(), data


def test_read_layer_once(toy):
    model, _ = toy
    perfect = read_layer_once(model, "stack2.conv2", CellConfig(8, 4), mlc=IDENTITY4)
    assert perfect.changed == 0 and perfect.expected_changed == 0 and perfect.uniform_changed == 0
    assert perfect.weights == model.get_submodule("stack2.conv2").weight.numel()
    noisy = read_layer_once(model, "stack2.conv2", CellConfig(8, 4), seed=1)
    assert 0 < noisy.changed < 1 and 0 < noisy.expected_changed < 1
    assert noisy.uniform_changed == pytest.approx(1 - 0.96 ** 4, abs=1e-3)
    again = read_layer_once(model, "stack2.conv2", CellConfig(8, 4), seed=1)
    assert torch.equal(again.read, noisy.read)
    with pytest.raises(ValueError, match="histogram_layer"):
        read_layer_once(model, "stack9.conv1", CellConfig(8, 4))


def test_result_lookups():
    uniform = pd.DataFrame({"alpha": ["None", "auto", "None", "auto"], "bits": [8, 8, 4, 4],
                            "accuracy (%)": [70.0, 71.0, 10.0, 69.0], "loss": [0.8, 0.7, 3.0, 0.9]})
    summary = pd.DataFrame({"network devices": [100], "reduction vs 12-bit SLC (%)": [66.7]}, index=["Q8 MLC4"])
    per_layer = pd.DataFrame({"Q12 SLC": [120, 180]})
    result = QuantizationResult(QuantizationConfig(), uniform, 72.0, 0.7, 16, summary, per_layer, None, False, 10.5)
    assert result.accuracy(None, 4) == 10.0 and result.accuracy("auto", 8) == 71.0
    assert result.uniform_table().index.tolist() == [8, 4]
    assert result.reference_devices == 300 and result.devices("Q8 MLC4") == 100
    assert result.reduction("Q8 MLC4") == 66.7
    with pytest.raises(ValueError, match="no entry"):
        result.accuracy("auto_po2", 8)
    with pytest.raises(ValueError, match="no entry for alpha=None, bits=2"):
        result.fixed_grid_verdict()  # the verdict needs the fixed grid at 4 and 2 bits


def test_chance_and_the_fixed_grid_verdict():
    assert chance_accuracy(torch.tensor([0, 1, 1, 2])) == 50.0
    with pytest.raises(ValueError, match="labels"):
        chance_accuracy(torch.tensor([], dtype=torch.long))
    assert near_chance(15.0, 10.0) and not near_chance(15.1, 10.0) and near_chance(12.0, 10.0, margin=2.0)
    both = fixed_grid_sentence(9.47, 11.33, 10.8)
    assert both.startswith("Both are within 5 points of chance (10.8 %, always answering the most frequent class).")
    assert both.endswith("so it cannot have used the fixed grid on unscaled weights.")
    one = fixed_grid_sentence(9.47, 40.0, 10.8)  # the 2-bit network learned something: no inference
    assert one.startswith("Chance is 10.8 % here") and "does not rule out" in one and "cannot have" not in one
    with pytest.raises(ValueError, match="^margin must be a finite number >= 0"):
        near_chance(10.0, 10.0, margin=-1)


def test_run_on_a_toy_network(toy):
    model, data = toy
    baseline = SimpleNamespace(model=model, test_set=data.test, test=SimpleNamespace(accuracy=0.5, loss=1.2),
                               train_set=data.train)
    result = run(baseline, QuantizationConfig(bits=(8,), alphas=("auto",), aware_epochs=(1, 1, 1),
                                              switchable=AwareConfig(epochs=1)))
    assert list(result.aware.index) == ["Full 8", "Full 4", "Full 2"]
    assert result.aware["paper, QKeras on CIFAR-10 (%)"].tolist() == [89.0, 86.8, 78.5]
    assert set(result.aware_minutes) == {"Full 8", "Full 4", "Full 2", "switchable"}
    assert set(result.aware_verdicts()) == {"switchable", "full2"}
    assert drop_text(result).endswith("(the paper: 10.5 on CIFAR-10)")
    assert result.float_accuracy == 50.0 and result.test_images == 16
    assert len(result.uniform) == 1 and len(result.summary) == 10
    assert result.read_back.layer == "stack2.conv2" and result.read_back.config == CellConfig(8, 4)
    assert result.chance_accuracy == chance_accuracy(data.test.labels)


def frame(dedicated, switchable, post=(90.0, 90.0, 20.0)):
    rows = {f"Full {b}": {"post-training, auto (%)": p, "post-training, midrise (%)": p, "dedicated (%)": d,
                          "switchable (%)": w, "paper, QKeras on CIFAR-10 (%)": 0.0}
            for b, d, w, p in zip((8, 4, 2), dedicated, switchable, post)}
    return pd.DataFrame.from_dict(rows, orient="index")


def test_aware_verdicts_follow_the_numbers():
    good = aware_verdicts(frame((92.0, 91.5, 90.0), (91.5, 91.0, 87.5)))
    assert good["switchable"].startswith("The switchable network meets") and "+2.5 at 2 bits" in good["switchable"]
    assert "meaningful" in good["full2"] and "70.0 points above" in good["full2"]
    bad = aware_verdicts(frame((92.0, 91.5, 25.0), (90.5, 91.5, 20.0)))
    assert bad["switchable"].startswith("The switchable network misses the kit's target at 8, 2 bits")
    assert "stay doubtful" in bad["full2"]


def test_grid_comparison_counts_words_and_errors(toy):
    model, _ = toy
    grids = grid_comparison(model, bits=(2, 4))
    assert grids.loc[(2, "midrise"), "words used"] == 4 and grids.loc[(2, "auto"), "words used"] == 3
    assert grids.loc[(2, "auto"), "levels per weight"] == 3 and grids.loc[(4, "midrise"), "words"] == 16
    assert grids.loc[(2, "midrise"), "relative squared error"] < grids.loc[(2, "auto"), "relative squared error"]
    assert grids.loc[(4, "midrise"), "relative squared error"] < grids.loc[(2, "midrise"), "relative squared error"]


def test_epochs_text():
    from imckit.experiments.quantization import epochs_text

    assert epochs_text(AwareConfig(epochs=3, frozen_epochs=1)) == "3 epochs and 1 with BatchNorm frozen"
    assert epochs_text(AwareConfig(epochs=1)) == "1 epoch"
