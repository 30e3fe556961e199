from types import SimpleNamespace

import numpy as np
import pytest
import torch

from imckit.compensation.compensate import CompensationConfig
from imckit.experiments.compensation import (CompensationChapterConfig, CompensationChapterResult, check_claims,
                                             count_word, held_out_text, paper_memory_comparison, table_texts,
                                             table_two, uniform_genomes, validation_set)
from imckit.experiments.search import SearchConfig
from imckit.experiments.sensitivity import SensitivityConfig, TableConfig, TableInputs
from imckit.search.simulate import paper_memory_targets

from ..conftest import toy_dataset

BEFORE, AFTER = "accuracy w/o retraining (%)", "accuracy w/ retraining (%)"


@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
def test_the_chapter_reads_the_same_table_and_front_as_the_search(profile):
    config = CompensationChapterConfig.preset(profile, seed=1)
    assert config.table == SensitivityConfig.preset(profile, seed=1).table
    assert config.search == SearchConfig.preset(profile, seed=1).genetic  # the search chapter's defaults


def test_presets_and_overrides():
    smoke = CompensationChapterConfig.preset("smoke")
    assert (smoke.simulation_repetitions, smoke.patterns, smoke.validation_images) == (2, 1, 256)
    assert smoke.training == CompensationConfig(train_images=512)
    assert smoke.memory_targets == paper_memory_targets()
    default = CompensationChapterConfig.preset("default")
    assert (default.simulation_repetitions, default.patterns, default.validation_images) == (40, 3, 1000)
    assert default.training.train_images == 10_000
    paper = CompensationChapterConfig.preset("paper")
    assert (paper.simulation_repetitions, paper.patterns, paper.validation_images) == (400, 400, None)
    assert paper.training.train_images is None
    custom = CompensationChapterConfig.preset("smoke", memory_targets=[60, 30], patterns=2, train_images=64,
                                              compensation_lr=0.05, fresh_write_errors=True)
    assert custom.memory_targets == (60, 30) and custom.patterns == 2
    assert custom.training == CompensationConfig(train_images=64, lr=0.05, fresh_write_errors=True)


@pytest.mark.parametrize("field, value", [("memory_targets", (0,)), ("memory_targets", ()),
                                          ("patterns", 0), ("simulation_repetitions", 1.5),
                                          ("validation_images", 0), ("accuracy_drop", -1)])
def test_bad_config_values_are_named(field, value):
    with pytest.raises(ValueError, match=field):
        CompensationChapterConfig(TableConfig(2, 10), **{field: value})
    with pytest.raises(ValueError, match="patterns"):
        CompensationChapterConfig.preset("smoke", patterns=-2)


def test_uniform_genomes():
    labels = ["Q8 MLC4", "Q8 MLC0", "Q4 MLC0", "Q2 MLC0"]
    genomes = uniform_genomes(labels, 3)
    assert list(genomes) == ["Full 8", "Full 4", "Full 2"]
    assert genomes["Full 4"].tolist() == [2, 2, 2]


def test_validation_set_uses_held_out_images_when_there_are_some():
    data = toy_dataset(n_test=20).test
    first, rest = data.split(8, seed=0)
    inputs = TableInputs(None, first, rest, TableConfig(2, 8))
    assert len(validation_set(inputs, 5, seed=0)) == 5
    assert torch.equal(validation_set(inputs, 5, seed=0).images, rest.subset(5, seed=0).images)
    assert validation_set(inputs, None, seed=0) is rest and validation_set(inputs, 100, seed=0).images.shape[0] == 12
    everything = TableInputs(None, data, None, TableConfig(2, None))
    assert validation_set(everything, 5, seed=0) is data


def _table(before, after):
    genomes = {"Full 8": [0, 0], "Full 4": [1, 1], "Full 2": [2, 2], "Solution 1": [0, 1], "Solution 2": [1, 2]}
    devices = {"Full 8": 800, "Full 4": 400, "Full 2": 200, "Solution 1": 600, "Solution 2": 300}
    return table_two(genomes, devices, before, after)


def test_table_two_on_hand_made_numbers():
    before = {"Full 8": [90.0, 90.0], "Full 4": [88.0], "Full 2": [20.0], "Solution 1": [87.0, 89.0],
              "Solution 2": [60.0, 70.0]}
    after = {"Solution 1": [89.0], "Solution 2": [87.0, 89.0]}
    table = _table(before, after)
    assert table.loc["Solution 1", "vs Full 8 (%)"] == pytest.approx(25.0)
    assert table.loc["Solution 2", "vs Full 4 (%)"] == pytest.approx(25.0)
    assert table.loc["Full 8", "vs Full 4 (%)"] == pytest.approx(-100.0)
    assert table.loc["Solution 2", "memory (kilo devices)"] == pytest.approx(0.3)
    assert table.loc["Solution 1", BEFORE] == pytest.approx(88.0) and np.isnan(table.loc["Full 8", AFTER])
    assert table.loc["Solution 1", "variables"] == "[0, 1]"
    claims = check_claims(table, ["Solution 1", "Solution 2"])
    assert claims.close_to_8 == "25.0 % (Solution 1)"  # Solution 2 is 25 points below Full 8
    assert claims.best_after == "89.0 % (Solution 1)"
    assert claims.matched_4 == "25.0 % (Solution 2)"  # 88.0 after retraining against 88.0 for Full 4
    assert (claims.gain_min, claims.gain_max) == (pytest.approx(1.0), pytest.approx(23.0))
    with pytest.raises(ValueError, match="Full 2"):
        table_two({"Full 8": [0]}, {"Full 8": 1, "Full 4": 1}, {"Full 8": [1.0]}, {})


def test_table_texts_name_the_rows_without_spaces():
    before = {"Full 8": [90.0], "Full 4": [88.0], "Full 2": [20.04], "Solution 1": [87.0, 89.0],
              "Solution 2": [60.0]}
    texts = table_texts(_table(before, {"Solution 1": [89.0]}), ["Solution 1"])
    assert list(texts)[:4] == ["full8_before", "full8_vs8", "full8_vs4", "full4_before"]
    assert texts["full2_before"] == "20.0" and texts["full8_vs4"] == "-100.0" and "full8_after" not in texts
    assert texts["solution1_before"] == "88.0" and texts["solution1_after"] == "89.0"
    assert "solution2_before" in texts and "solution2_after" not in texts  # only compensated rows have one


def test_claims_say_when_no_solution_qualifies():
    before = {"Full 8": [90.0], "Full 4": [88.0], "Full 2": [20.0], "Solution 1": [80.0], "Solution 2": [60.0]}
    after = {"Solution 1": [87.9], "Solution 2": [85.0]}
    claims = check_claims(_table(before, after), ["Solution 1", "Solution 2"])
    assert claims.close_to_8 == "none of the two solutions"
    assert claims.matched_4.startswith("none: no selected solution")
    assert check_claims(_table(before, after), ["Solution 1", "Solution 2"],
                        accuracy_drop=10.0).close_to_8 == "25.0 % (Solution 1)"
    with pytest.raises(ValueError, match="at least one"):
        check_claims(_table(before, after), [])


def test_words_and_sentences():
    assert count_word(6) == "six" and count_word(0) == "no" and count_word(12) == "12"
    assert held_out_text(True).startswith("held-out") and "whole test set" in held_out_text(False)


def test_paper_memory_comparison():
    devices = {"Full 8": 1000, "Full 4": 500, "Full 2": 250, "Solution 1": 700}
    frame = paper_memory_comparison(devices)
    assert frame.loc["Full 8"].tolist() == [100.0, 100.0]
    assert frame.loc["Solution 1", "this network (% of its Full 8)"] == pytest.approx(70.0)
    assert np.isnan(frame.loc["Solution 6", "this network (% of its Full 8)"])


def test_uniform_and_baseline_accuracy_of_a_result():
    genomes = {"Full 8": [0], "Full 4": [1], "Full 2": [2]}
    simulation = SimpleNamespace(accuracy=np.array([[0.9, 0.8], [0.7, 0.7], [0.1, 0.3]]), baseline_accuracy=0.73)
    config = CompensationChapterConfig(TableConfig(2, 10))
    result = CompensationChapterResult(config, None, None, None, genomes, {}, None, simulation, {}, train_images=1)
    assert result.uniform_accuracy == {8: pytest.approx(85.0), 4: pytest.approx(70.0), 2: pytest.approx(20.0)}
    assert result.baseline_accuracy == pytest.approx(73.0)


def test_seconds_and_hours_of_a_result():
    runs = {name: SimpleNamespace(seconds=seconds, result=SimpleNamespace(faulty_share=np.array(shares)))
            for name, seconds, shares in (("Solution 1", 4.0, [0.01, 0.03]), ("Solution 2", 8.0, [0.05, 0.07]))}
    config = CompensationChapterConfig(TableConfig(2, 10), patterns=2)
    result = CompensationChapterResult(config, None, None, None, {}, {}, None, None, runs, train_images=100)
    assert result.seconds_per_pattern == pytest.approx(3.0)
    assert result.paper_hours(train_set_size=1000, patterns=400) == pytest.approx(3.0 * 10 * 400 * 2 / 3600)
    assert result.faulty_share == (pytest.approx(4.0), pytest.approx(7.0))
