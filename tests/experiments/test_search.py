from types import SimpleNamespace

import numpy as np
import pytest
import torch

from imckit.core.models import resnet8
from imckit.experiments.search import (SearchConfig, favourite_configs, format_or_na, median_ratio_offset,
                                       never_selected_share, on_front_count, rank_agreement_text, reach_text,
                                       region_summary, run, spread_picks, top_share, uniform_references)
from imckit.experiments.sensitivity import SensitivityConfig, TableConfig
from imckit.search.genetic import GeneticSearchConfig

from ..conftest import toy_dataset

LABELS = ["Q8 MLC4", "Q8 MLC0", "Q4 MLC0", "Q2 MLC0"]


@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
def test_the_search_reads_the_sensitivity_chapters_table(profile):
    assert SearchConfig.preset(profile, seed=2).table == SensitivityConfig.preset(profile, seed=2).table


def test_preset_simulation_sizes_and_overrides():
    smoke, default, paper = (SearchConfig.preset(p) for p in ("smoke", "default", "paper"))
    assert (smoke.simulated_genomes, smoke.simulation_repetitions) == (4, 2)
    assert (default.simulated_genomes, default.simulation_repetitions) == (24, 10)
    assert (paper.simulated_genomes, paper.simulation_repetitions) == (48, 100)
    custom = SearchConfig.preset("smoke", population=20, generations=5, region_a_max=2.0, simulated_genomes=7)
    assert custom.genetic == GeneticSearchConfig(population=20, generations=5)
    assert custom.regions == (2.0, 50.0) and custom.simulated_genomes == 7 and custom.simulation_repetitions == 2


def test_bad_config_values_are_named():
    table = TableConfig(2, 10)
    with pytest.raises(ValueError, match="regions"):
        SearchConfig(table, regions=(5.0, 1.0))
    with pytest.raises(ValueError, match="simulated_genomes"):
        SearchConfig(table, simulated_genomes=0)
    with pytest.raises(ValueError, match="hypervolume_target"):
        SearchConfig(table, hypervolume_target=1.5)
    with pytest.raises(TypeError, match="table must be a TableConfig"):
        SearchConfig({"repetitions": 2})


def test_on_front_count_matches_after_rounding():
    exact = np.array([[1.0, 5.0], [2.0, 3.0], [4.0, 1.0]])
    found = np.array([[1.0 + 1e-12, 5.0], [2.0, 3.5], [4.0, 1.0]])
    assert on_front_count(found, exact) == 2
    assert on_front_count(exact[:0], exact) == 0


def test_top_share_of_selections():
    assert top_share(np.ones(100)) == pytest.approx(10.0)  # uniform: the top tenth gets a tenth
    counts = np.zeros(20)
    counts[[3, 7]] = [30, 10]
    assert top_share(counts) == pytest.approx(100.0)  # the top two of 20 got every selection
    assert top_share([5, 1, 1, 1]) == pytest.approx(62.5)  # fewer than ten individuals: the top one
    with pytest.raises(ValueError, match="positive sum"):
        top_share(np.zeros(5))
    with pytest.raises(ValueError, match="parts"):
        top_share([1, 2], parts=0)


def test_never_selected_share():
    assert never_selected_share([0, 3, 0, 1]) == 50.0
    assert never_selected_share(np.ones(10)) == 0.0 and never_selected_share(np.zeros(4)) == 100.0
    with pytest.raises(ValueError, match="non-empty 1-D"):
        never_selected_share([])


def test_texts_for_missing_values():
    assert reach_text(2863, 8600) == "2,863"
    assert reach_text(None, 8600) == "more than 8,600"
    assert format_or_na(None) == "n/a" and format_or_na(16.24) == "16.2"
    assert format_or_na(12.44, "+.1f") == "+12.4"


def test_uniform_references_sum_the_slc_columns():
    memory = np.array([[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]])
    loss = np.array([[0.1, 0.2, 0.3, 0.4], [np.nan, 2.0, 3.0, 4.0]])
    refs = uniform_references(memory, loss, LABELS)
    assert refs == {"uniform 8-bit": (22.0, 2.2), "uniform 4-bit": (33.0, 3.3), "uniform 2-bit": (44.0, 4.4)}
    with pytest.raises(ValueError):
        uniform_references(memory, loss, ["Q8 MLC4", "Q8 MLC0", "Q4 MLC0", "Q4 MLC1"])


def test_region_summary_on_a_hand_made_front():
    objectives = np.array([[50.0, 0.5], [30.0, 0.9], [20.0, 10.0], [10.0, 80.0]])
    regions = np.array(["A", "A", "B", "C"])
    summary = region_summary(objectives, regions, reference_loss=10.0)
    assert summary == {"counts": {"A": 2, "B": 1, "C": 1}, "a_min_memory": 30.0, "min_memory": 10.0,
                       "best_at_reference": 20.0}
    none = region_summary(objectives[2:], regions[2:], reference_loss=1.0)
    assert none["a_min_memory"] is None and none["best_at_reference"] is None


def test_favourite_configs_per_region():
    genomes = np.array([[0, 1], [0, 2], [1, 2], [3, 3]])
    regions = np.array(["A", "A", "A", "C"])
    table = favourite_configs(genomes, regions, ["conv1", "fc"], LABELS)
    assert table["most frequent in A"].tolist() == ["Q8 MLC4", "Q4 MLC0"]
    assert table["most frequent in B"].tolist() == ["-", "-"]
    assert table["most frequent in C"].tolist() == ["Q2 MLC0", "Q2 MLC0"]
    assert list(table.index) == ["1 conv1", "2 fc"]


def test_spread_picks():
    assert spread_picks(10, 4).tolist() == [0, 3, 6, 9]
    assert spread_picks(3, 5).tolist() == [0, 1, 2]
    assert spread_picks(7, 1).tolist() == [0]
    with pytest.raises(ValueError, match="^size must be an integer >= 1; got 0"):
        spread_picks(0, 3)


def test_rank_agreement_text_and_median_offset():
    assert rank_agreement_text([1.0, 2.0], [1.0, 2.0]) == "n/a (fewer than 3 genomes)"
    assert rank_agreement_text([1.0, 2.0, 3.0], [1.0, 3.0, 2.0]) == "0.500 (n = 3)"
    assert median_ratio_offset([0.0, 100.0], [10.0, 100.0]) == pytest.approx(5.0)
    assert median_ratio_offset([0.0], [-50.0]) == pytest.approx(-50.0)
    assert median_ratio_offset([], []) is None


@pytest.fixture(scope="module")
def toy_baseline():
    data = toy_dataset(n_test=24)
    torch.manual_seed(0)
    model = resnet8(in_channels=1, num_classes=4, width=0.25).eval()
    return SimpleNamespace(model=model, test_set=data.test, train_set=data.train)


def test_run_on_a_toy_network(toy_baseline):
    config = SearchConfig(TableConfig(2, 16), GeneticSearchConfig(population=16, generations=8),
                          simulated_genomes=3, simulation_repetitions=2)
    result = run(toy_baseline, config)
    assert result.space == 10 ** 7 * 3  # seven convolutions with ten configurations, the dense layer three
    assert len(result.picks) == min(3, len(result.ga.genomes)) and result.picks[0] == 0
    assert result.simulation.loss.shape == (len(result.picks), 2)
    assert 0 < result.hypervolume_share(result.ga) <= 100 + 1e-9
    assert result.on_exact <= len(result.ga.objectives)
    assert set(result.regions) <= {"A", "B", "C"} and len(result.front_frame()) == len(result.ga.genomes)
    assert list(result.simulated_frame().columns)[2:4] == ["memory (%)", "predicted loss change (%)"]
    again = run(toy_baseline, config)
    assert again.from_cache == {"GA": True, "NSGA-II": True}
    assert np.array_equal(again.ga.genomes, result.ga.genomes)
