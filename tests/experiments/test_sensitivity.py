from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from imckit.core.models import resnet8
from imckit.experiments.sensitivity import (SensitivityConfig, TableConfig, TableInputs, check_observations,
                                            entries_text, paper_format, paper_layer_shares, quantization_gains,
                                            run, share_table, significant_improvements, split_difference,
                                            split_sentence, table_for, table_images, tolerant_layers)
from imckit.memory.cells import CellConfig, paper_configurations
from imckit.search.sensitivity import PAPER_Q8_MLC0_REDUCTION, SensitivityTable

from ..conftest import toy_dataset

CONFIGS = (CellConfig(8, 4), CellConfig(8, 2), CellConfig(8, 0))
LAYERS = ("conv1", "stack1.conv1", "fc")
NAN = np.nan


def hand_table(loss, ci, weights=(100, 300, 600)):
    """A sensitivity table with the given loss changes and half-widths (layers x Q8 MLC4/MLC2/MLC0)."""
    loss, ci = np.array(loss, dtype=float), np.array(ci, dtype=float)
    memory = np.where(np.isnan(loss), NAN, 1.0)
    return SensitivityTable(LAYERS, weights, CONFIGS, memory, loss, ci, -loss, ci, 0.5, 0.9, 10)


LOSS = [[30.0, 0.5, -0.2],
        [10.0, 2.5, 0.3],
        [NAN, NAN, 0.1]]
CI = [[1.0, 0.1, 0.0],
      [1.0, 3.0, 0.0],
      [NAN, NAN, 0.0]]


def test_table_config_presets_and_bad_values():
    assert TableConfig.preset("smoke") == TableConfig(2, 256, 0, aware_epochs=1, frozen_epochs=0)
    assert TableConfig.preset("default", seed=3) == TableConfig(100, 1000, 3, aware_epochs=3)
    assert TableConfig.preset("paper", network="float") == TableConfig(100, None, 0, 30, 1, "float")
    assert TableConfig.preset("smoke").aware.bits == (8, 4, 2) and TableConfig.preset("paper").aware.frozen_epochs == 1
    assert TableConfig.preset("smoke").quant.alpha == "midrise"
    for field, value in (("repetitions", 0), ("repetitions", True), ("test_images", 0), ("seed", 1.5),
                         ("seed", -1), ("network", "fp32"), ("alpha", "ternary"), ("epochs", 0)):
        field = "aware_epochs" if field == "epochs" else field
        with pytest.raises((ValueError, TypeError), match=f"^{field} must be"):
            TableConfig(**{"repetitions": 2, "test_images": 10, "seed": 0, field: value})


def test_table_network_is_the_baseline_for_float_and_a_finetuned_copy_for_switchable():
    from imckit.experiments.sensitivity import table_network

    data = toy_dataset(n_train=32, n_test=8)
    model = resnet8(in_channels=1, num_classes=10, width=0.25).eval()
    baseline = SimpleNamespace(model=model, train_set=data.train)
    config = TableConfig(2, 8, aware_epochs=1)
    assert table_network(baseline, replace(config, network="float")) is model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    aware = table_network(baseline, config)
    assert aware is not model and all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert any(not torch.equal(v, before[k]) for k, v in aware.state_dict().items())  # fine-tuned


def test_network_text_names_the_network():
    from imckit.experiments.sensitivity import network_text

    assert network_text(TableConfig(2, 8, aware_epochs=1, frozen_epochs=0)).startswith(
        "the switchable quantization-aware network, 1 epoch of fine-tuning with 8, 4 and 2 bits drawn per layer, on")
    assert "3 epochs of fine-tuning with 8, 4 and 2 bits drawn per layer and one with BatchNorm frozen" in \
        network_text(TableConfig(2, 8))
    assert network_text(TableConfig(2, 8, network="float")).startswith("the float baseline")


def test_chapter_preset_overrides_only_nonzero_values():
    assert SensitivityConfig.preset("smoke").table == TableConfig.preset("smoke")
    assert SensitivityConfig.preset("smoke", repetitions=5).table == TableConfig(5, 256, 0, 1, 0)
    assert SensitivityConfig.preset("paper", test_images=300, seed=2).table == TableConfig(100, 300, 2, 30, 1)
    with pytest.raises(ValueError, match="repetitions"):
        SensitivityConfig.preset("smoke", repetitions=-1)
    with pytest.raises(ValueError, match="tolerance"):
        SensitivityConfig(TableConfig(2, 10), tolerance=-1)


def test_table_images_hold_out_the_rest_and_match_the_historic_subset():
    test = toy_dataset(n_test=20).test
    images, held_out = table_images(test, TableConfig(2, 8, seed=5))
    assert len(images) == 8 and len(held_out) == 12
    assert torch.equal(images.images, test.subset(8, seed=5).images)  # what the chapters used before
    seen = {tuple(x.flatten()[:6].tolist()) for x in images.images}
    assert not seen & {tuple(x.flatten()[:6].tolist()) for x in held_out.images}
    for count in (None, 20, 50):  # the whole test set: nothing held out
        images, held_out = table_images(test, TableConfig(2, count))
        assert images is test and held_out is None
    with pytest.raises(TypeError, match="TableConfig"):
        table_images(test, {"repetitions": 2})


def test_paper_format_cells():
    cells = paper_format(hand_table(LOSS, CI))
    assert cells.loc["1 conv1", "0: Q8 MLC4"] == "1.000 / 30.00"
    assert cells.loc["3 fc", "1: Q8 MLC2"] == "-"
    assert list(cells.columns) == ["0: Q8 MLC4", "1: Q8 MLC2", "2: Q8 MLC0"]


def test_paper_layer_shares_are_three_times_the_q8_mlc0_column_normalized():
    shares = paper_layer_shares((1.0, 3.0))
    assert shares == pytest.approx([25.0, 75.0])
    paper = paper_layer_shares()
    assert paper.sum() == pytest.approx(100) and len(paper) == len(PAPER_Q8_MLC0_REDUCTION)
    assert paper[-1] == pytest.approx(100 * 22.197 / sum(PAPER_Q8_MLC0_REDUCTION))
    with pytest.raises(ValueError, match="reductions"):
        paper_layer_shares((-1.0, 2.0))


def test_share_table_compares_convolution_shares():
    shares = share_table(hand_table(LOSS, CI), paper_shares=[50.0, 50.0])
    assert shares["share of weights (%)"].tolist() == pytest.approx([10.0, 30.0, 60.0])
    assert shares["share among convolutions (%)"].tolist()[:2] == pytest.approx([25.0, 75.0])
    assert np.isnan(shares["paper, share among convolutions (%)"].iloc[-1])
    with pytest.raises(ValueError, match="one value per convolution"):
        share_table(hand_table(LOSS, CI), paper_shares=[100.0])


def test_split_verdict_compares_the_convolution_shares():
    shares = share_table(hand_table(LOSS, CI), paper_shares=[40.0, 60.0])  # ours: 25 and 75 %
    assert split_difference(shares) == ("conv1", 15.0)
    differs = split_sentence(shares)
    assert differs.startswith("The two splits differ by up to 15.0 points (conv1): the paper's ResNet-8 may not")
    assert split_sentence(shares, points=15.0).startswith("The two splits agree within 15 points on every "
                                                          "convolution (at most 15.0)")
    alike = split_sentence(share_table(hand_table(LOSS, CI), paper_shares=[26.0, 74.0]))
    assert alike.startswith("The two splits agree within 5 points") and "comparable with the paper's" in alike


def test_tolerant_layers_use_the_tolerance_or_the_interval():
    loss, ci = np.array(LOSS), np.array(CI)
    # conv1: |0.5| <= 1; stack1.conv1: |2.5| > 1 but within its half-width 3.0
    assert tolerant_layers(loss, ci, [0, 1], LAYERS, 1) == ["conv1", "stack1.conv1"]
    assert tolerant_layers(loss, np.zeros_like(ci), [0, 1], LAYERS, 1) == ["conv1"]
    assert tolerant_layers(loss, np.full_like(ci, NAN), [0, 1], LAYERS, 1, tolerance=3.0) == list(LAYERS[:2])
    assert tolerant_layers(loss, ci, [0, 1], LAYERS, 1, tolerance=0.1) == ["stack1.conv1"]


def test_improvements_need_mlc_cells_and_an_interval_below_zero():
    loss = np.array([[-3.0, -0.5, -1.0], [-0.5, 1.0, 2.0], [NAN, NAN, -4.0]])
    ci = np.array([[1.0, 1.0, 0.0], [0.4, 0.1, 0.0], [NAN, NAN, 0.0]])
    assert significant_improvements(loss, ci, LAYERS, CONFIGS) == [("conv1", "Q8 MLC4"),
                                                                   ("stack1.conv1", "Q8 MLC4")]
    assert quantization_gains(loss, LAYERS, CONFIGS) == [("conv1", "Q8 MLC0"), ("fc", "Q8 MLC0")]
    assert entries_text([("conv1", "Q8 MLC4"), ("fc", "Q8 MLC0")]) == "conv1 Q8 MLC4, fc Q8 MLC0"
    assert entries_text([]) == "none"


def test_check_observations_on_a_hand_made_table():
    seen = check_observations(hand_table(LOSS, CI))
    assert seen.convolutions == ("conv1", "stack1.conv1")
    assert (seen.worst_q8m4_layer, seen.worst_q8m4, seen.best_q8m4) == ("conv1", 30.0, 10.0)
    assert seen.tolerant == ("conv1", "stack1.conv1")
    assert seen.improved == () and seen.quantization_gains == (("conv1", "Q8 MLC0"),)
    table = hand_table(LOSS, CI)
    narrow = SensitivityTable(LAYERS, table.weights, (CellConfig(8, 4), CellConfig(8, 0), CellConfig(8, 0)),
                              *(getattr(table, k) for k in ("memory_reduction", "loss_change", "loss_ci",
                                                             "accuracy_change", "accuracy_ci")), 0.5, 0.9, 10)
    with pytest.raises(ValueError, match="Q8 MLC2"):
        check_observations(narrow)


@pytest.fixture(scope="module")
def toy_baseline():
    data = toy_dataset(n_test=24)
    torch.manual_seed(0)
    model = resnet8(in_channels=1, num_classes=4, width=0.25).eval()
    return SimpleNamespace(model=model, test_set=data.test, train_set=data.train)


def test_table_for_computes_once_and_every_chapter_reads_the_same_entry(toy_baseline, tmp_path, monkeypatch):
    monkeypatch.setenv("IMCKIT_CACHE", str(tmp_path))
    config = TableConfig(2, 16, seed=1)
    first = table_for(toy_baseline, config)
    files = sorted((tmp_path / "sensitivity").iterdir())
    again = table_for(toy_baseline, TableConfig(2, 16, seed=1))
    assert sorted((tmp_path / "sensitivity").iterdir()) == files and len(files) == 1
    assert np.array_equal(first.table.loss_change, again.table.loss_change, equal_nan=True)
    assert isinstance(first, TableInputs) and len(first.images) == 16 and len(first.held_out) == 8
    table_for(toy_baseline, TableConfig(2, 12, seed=1))  # other images: another entry
    assert len(list((tmp_path / "sensitivity").iterdir())) == 2


def test_run_analyses_the_table(toy_baseline):
    result = run(toy_baseline, SensitivityConfig(TableConfig(2, 16)))
    assert result.cells.shape == (8, 10) and len(result.shares) == 8
    assert result.largest_layer == int(np.argmax(result.table.memory_shares))
    shares = result.table.memory_shares
    assert result.last_two_share == pytest.approx(shares[-3] + shares[-2])  # the last two convolutions
    weights = result.table.weights
    assert result.last_convolution_share == pytest.approx(100 * weights[-2] / sum(weights[:-1]))
    assert result.paper_last_convolution_share == pytest.approx(paper_layer_shares()[-1])
    assert result.split_verdict() == split_sentence(result.shares)
    assert list(result.observation_table().columns) == ["Q8 MLC4", "Q8 MLC2", "Q8 MLC0"]
    assert len(result.observations.convolutions) == 7
    with pytest.raises(TypeError, match="SensitivityConfig"):
        run(toy_baseline, TableConfig(2, 16))


def paper_shaped_table(loss):
    configs = paper_configurations()
    loss = np.asarray(loss, dtype=float)
    zeros = np.zeros_like(loss)
    names = tuple(f"l{i}" for i in range(8))
    return SensitivityTable(names, (1,) * 8, configs, zeros, loss, zeros, zeros, zeros, 0.5, 0.9, 2)


def test_paper_table_one_beside_the_kit_and_its_ranking():
    from imckit.experiments.sensitivity import (PAPER_TABLE_I, loss_side_by_side, paper_loss_changes,
                                                ranking_agreement, table_one_entries)

    paper = paper_loss_changes()
    assert paper.shape == (8, 10) and paper[0, 0] == 157.00 and paper[7, 9] == 0.40 and np.isnan(paper[7, 0])
    assert [row[4][0] for row in PAPER_TABLE_I[:7]] == list(PAPER_Q8_MLC0_REDUCTION)  # one source
    same = paper_shaped_table(paper)
    rho, entries = ranking_agreement(same)
    assert rho == pytest.approx(1.0) and entries == 73
    assert ranking_agreement(paper_shaped_table(-paper))[0] == pytest.approx(-1.0)
    cells = loss_side_by_side(same)
    assert cells.iloc[0, 0] == "157.00 | 157.00" and cells.iloc[7, 0] == "-" and cells.shape == (8, 10)
    from dataclasses import replace

    from imckit.papers import get_claim

    names = ("conv1", "stack1.conv1", "stack1.conv2", "stack2.conv1", "stack2.conv2", "stack3.conv1",
             "stack3.conv2", "fc")
    entries = table_one_entries(replace(same, layers=names))
    assert len(entries) == 73 and entries["conv1/Q8 MLC4"] == 157.00 and "fc/Q8 MLC4" not in entries
    assert get_claim("000/table1-loss-ranking").value == entries  # the data file holds the same Table I
    with pytest.raises(ValueError, match="shape"):
        ranking_agreement(SensitivityTable(
            ("a",), (1,), CONFIGS, np.zeros((1, 3)), np.zeros((1, 3)), np.zeros((1, 3)), np.zeros((1, 3)),
            np.zeros((1, 3)), 0.5, 0.9, 2))
