import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from imckit.compensation.compensate import CompensationConfig
from imckit.experiments.compensation import (
    PAPER_TABLE2_ACCURACY, PAPER_TABLE2_VARIABLES,
    CompensationChapterConfig, CompensationChapterResult, ablation_sentence, ablation_summary,
    closest_solution, count_word, held_out_text, paired_gain,
    paired_table, paper_indices, savings, savings_table, scorecard, t_interval, table_two, uniform_genomes,
    validation_set, variance_change)
from imckit.experiments.search import SearchConfig
from imckit.experiments.sensitivity import SensitivityConfig, TableConfig, TableInputs
from imckit.memory.cells import paper_configurations
from imckit.search.simulate import PAPER_TABLE2_KILO_DEVICES, paper_memory_targets

from ..conftest import toy_dataset

T_975_3 = 3.182446305284263  # Student t quantile 0.975 with 3 degrees of freedom (tables)


@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
def test_the_chapter_reads_the_same_table_and_front_as_the_search(profile):
    config = CompensationChapterConfig.preset(profile, seed=1)
    assert config.table == SensitivityConfig.preset(profile, seed=1).table
    assert config.search == SearchConfig.preset(profile, seed=1).genetic  # the search chapter's defaults


def test_presets_and_overrides():
    smoke = CompensationChapterConfig.preset("smoke")
    assert (smoke.patterns, smoke.ablation_patterns, smoke.validation_images) == (2, 2, 256)
    assert smoke.training == CompensationConfig(train_images=512)
    assert smoke.memory_targets == paper_memory_targets()
    default = CompensationChapterConfig.preset("default")
    assert (default.patterns, default.ablation_patterns, default.validation_images) == (8, 4, 1000)
    assert default.training.train_images == 3_000 and default.training.mode == "full"
    paper = CompensationChapterConfig.preset("paper")
    assert (paper.patterns, paper.ablation_patterns, paper.validation_images) == (400, 400, None)
    assert paper.training.train_images is None
    custom = CompensationChapterConfig.preset("smoke", memory_targets=[60, 30], patterns=3, train_images=64,
                                              compensation_lr=0.05, fresh_write_errors=True)
    assert custom.memory_targets == (60, 30) and (custom.patterns, custom.ablation_patterns) == (3, 2)
    assert custom.training == CompensationConfig(train_images=64, lr=0.05, fresh_write_errors=True)
    assert CompensationChapterConfig.preset("default", patterns=3).ablation_patterns == 3  # at most patterns
    assert CompensationChapterConfig.preset("default", ablation_patterns=8).ablation_patterns == 8
    assert CompensationChapterConfig(TableConfig(2, 10), patterns=5).ablation_patterns == 5  # None: all


@pytest.mark.parametrize("field, value", [("memory_targets", (0,)), ("memory_targets", ()),
                                          ("patterns", 0), ("ablation_patterns", 9), ("ablation_patterns", 0),
                                          ("validation_images", 0)])
def test_bad_config_values_are_named(field, value):
    with pytest.raises(ValueError, match=rf"^{field}(\[\d\])? must be"):
        CompensationChapterConfig(TableConfig(2, 10), **{field: value})
    with pytest.raises(ValueError, match="patterns"):
        CompensationChapterConfig.preset("smoke", patterns=-2)
    with pytest.raises(ValueError, match=r"^ablation_patterns must be 0 \(the profile's\) or an integer in "
                                         r"\[1, patterns=2\]"):
        CompensationChapterConfig.preset("smoke", ablation_patterns=3)
    with pytest.raises(ValueError, match="training.mode must be 'full'"):
        CompensationChapterConfig(TableConfig(2, 10), training=CompensationConfig(mode="healthy_only"))


def test_uniform_genomes_and_paper_indices():
    labels = ["Q8 MLC4", "Q8 MLC0", "Q4 MLC0", "Q2 MLC0"]
    genomes = uniform_genomes(labels, 3)
    assert list(genomes) == ["Full 8", "Full 4", "Full 2"]
    assert genomes["Full 4"].tolist() == [2, 2, 2]
    configs = paper_configurations()
    assert paper_indices([4, 7, 9], configs) == [4, 7, 9]  # the table's own order is the paper's
    reordered = configs[::-1]
    assert paper_indices([0, 5], reordered) == [9, 4]


def test_validation_set_uses_held_out_images_when_there_are_some():
    data = toy_dataset(n_test=20).test
    first, rest = data.split(8, seed=0)
    inputs = TableInputs(None, first, rest, TableConfig(2, 8), None, None)
    assert len(validation_set(inputs, 5, seed=0)) == 5
    assert torch.equal(validation_set(inputs, 5, seed=0).images, rest.subset(5, seed=0).images)
    assert validation_set(inputs, None, seed=0) is rest and validation_set(inputs, 100, seed=0).images.shape[0] == 12
    everything = TableInputs(None, data, None, TableConfig(2, None), None, None)
    assert validation_set(everything, 5, seed=0) is data


def test_savings_and_the_closest_solution():
    devices = {"Full 8": 800, "Full 4": 400, "Full 2": 200, "Solution 1": 600}
    s = savings(devices)
    assert s["Solution 1"] == {8: pytest.approx(25.0), 4: pytest.approx(-50.0), 2: pytest.approx(-200.0)}
    assert closest_solution({"A": 30.0, "B": 48.0, "C": 52.0}, 49.6) == "B"
    assert closest_solution({"A": 48.0, "B": 52.0}, 50.0) == "A"  # a tie: the first
    assert closest_solution({}, 50.0) is None
    with pytest.raises(ValueError, match="Full 2"):
        savings({"Full 8": 1, "Full 4": 1})
    paper = savings(PAPER_TABLE2_KILO_DEVICES)
    assert paper["Solution 2"][8] == pytest.approx(49.58, abs=0.01)  # 1172.3k against 2325.1k devices
    assert paper["Solution 4"][4] == pytest.approx(45.97, abs=0.01)  # 628.1k against 1162.6k


def test_t_interval_by_hand():
    gain = t_interval([1.0, 2.0, 3.0, 4.0])
    sd = math.sqrt(5 / 3)
    assert (gain.n, gain.mean, gain.sd) == (4, 2.5, pytest.approx(sd))
    assert gain.low == pytest.approx(2.5 - T_975_3 * sd / 2) and gain.high == pytest.approx(2.5 + T_975_3 * sd / 2)
    assert gain.excludes_zero and gain.text() == "+2.5 points (95 % CI +0.4 to +4.6)"
    one = t_interval([3.0])
    assert math.isnan(one.low) and not one.excludes_zero and one.text() == "+3.0 points (one pattern, no interval)"
    assert t_interval([1.0, 2.0], confidence=0.5).high < t_interval([1.0, 2.0]).high
    with pytest.raises(ValueError, match=r"^confidence must be a finite number in \(0, 1\)"):
        t_interval([1.0, 2.0], confidence=1)
    with pytest.raises(ValueError, match="values must be a non-empty 1-D sequence"):
        t_interval([])


def test_paired_gain_pairs_each_pattern_with_itself():
    before, after = [70.0, 80.0, 60.0, 90.0], [71.0, 82.0, 63.0, 94.0]  # gains 1, 2, 3, 4 on spread patterns
    gain = paired_gain(before, after)
    assert gain.mean == pytest.approx(2.5) and gain.low == pytest.approx(2.5 - T_975_3 * math.sqrt(5 / 3) / 2)
    assert gain.excludes_zero  # the spread across patterns cancels in the pairs
    with pytest.raises(ValueError, match="one value per pattern each; got 2 and 3"):
        paired_gain([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="after must be a non-empty"):
        paired_gain([1.0], [float("nan")])


def test_variance_change_agrees_with_pitmans_own_formula():
    rng = np.random.default_rng(0)
    before = rng.normal(80, 5, 10)
    after = 0.3 * before + rng.normal(60, 1, 10)
    change = variance_change(before, after)
    f = before.var(ddof=1) / after.var(ddof=1)
    r = np.corrcoef(before, after)[0, 1]
    t = (f - 1) * math.sqrt(10 - 2) / (2 * math.sqrt(f * (1 - r * r)))  # Pitman (1939)
    from scipy.stats import t as student

    assert change.p_value == pytest.approx(student.sf(t, 8))
    assert change.ratio == pytest.approx(after.std(ddof=1) / before.std(ddof=1)) and change.ratio < 1
    assert change.p_value < 0.05
    assert variance_change(after, before).p_value > 0.95  # the spread grows: no evidence it shrinks
    assert math.isnan(variance_change([1.0, 2.0], [1.0, 3.0]).p_value)  # two patterns: no test
    assert math.isnan(variance_change([1.0], [2.0]).sd_before)
    flat = variance_change([5.0, 5.0, 5.0], [4.0, 5.0, 6.0])
    assert math.isnan(flat.ratio)


def test_paired_table():
    table = paired_table({"S1": [70.0, 80.0, 60.0, 90.0]}, {"S1": [71.0, 82.0, 63.0, 94.0]})
    row = table.loc["S1"]
    assert row["patterns"] == 4 and row["gain (points)"] == pytest.approx(2.5)
    assert row["before (%)"] == pytest.approx(75.0) and row["after (%)"] == pytest.approx(77.5)
    assert row["sd ratio"] > 1 and row["p (sd shrinks)"] > 0.5


def _gains(full, bn, healthy):
    return {"full": {"S1": np.array(full)}, "bn_recalibration": {"S1": np.array(bn)},
            "healthy_only": {"S1": np.array(healthy)}}


def test_ablation_summary_uses_the_same_pairs():
    gains = {"full": {"S1": np.array([4.0, 6.0, 100.0]), "S2": np.array([2.0, 4.0])},
             "bn_recalibration": {"S1": np.array([2.0, 4.0]), "S2": np.array([1.0, 1.0])}}
    summary = ablation_summary(gains)
    assert summary.loc["full", "pairs"] == 4  # S1's third pattern has no ablation: left out
    assert summary.loc["full", "mean gain (points)"] == pytest.approx(4.0)
    assert summary.loc["bn_recalibration", "mean gain (points)"] == pytest.approx(2.0)
    assert summary.loc["bn_recalibration", "share of full (%)"] == pytest.approx(50.0)
    assert summary.loc["full", "share of full (%)"] == pytest.approx(100.0)
    assert summary.loc["full", "median gain (points)"] == pytest.approx(4.0)
    losing = ablation_summary({"full": {"S1": np.array([-1.0, -2.0])}, "x": {"S1": np.array([1.0, 1.0])}})
    assert math.isnan(losing.loc["x", "share of full (%)"])
    with pytest.raises(ValueError, match="reference mode 'full'"):
        ablation_summary({"x": {"S1": [1.0]}})
    with pytest.raises(ValueError, match="same solutions"):
        ablation_summary({"full": {"S1": [1.0]}, "x": {"S2": [1.0]}})


def test_ablation_sentences_follow_the_shares():
    most_bn = ablation_sentence(ablation_summary(_gains([4, 5, 6, 5], [4, 4.5, 5, 4.5], [0, 1, -1, 0])))
    assert "90 % of the full method's gain" in most_bn and "most of the recovery is BatchNorm" in most_bn
    assert most_bn.startswith("Over 4 paired patterns, the full method gains +5.0 points (95 % CI")
    most_w = ablation_sentence(ablation_summary(_gains([4, 5, 6, 5], [0.5, 0.5, 0.5, 0.5], [4, 5, 5, 5])))
    assert "most of the recovery is the healthy weights" in most_w and "explain little of it" in most_w
    neither = ablation_sentence(ablation_summary(_gains([4, 5, 6, 5], [2, 2.5, 3, 2.5], [-1, -2, -1, -2])))
    assert "Neither part alone" in neither and "healthy weights: none" in neither and "-30 %" in neither
    both = ablation_sentence(ablation_summary(_gains([4, 5, 6, 5], [4, 5, 6, 5], [4, 5, 6, 5])))
    assert "they overlap" in both
    collapsed = ablation_summary(_gains([4, 5, 6, 5], [4, 4.5, 5, 4.5], [0.5, -60, 0, 0.5]))
    assert collapsed.loc["healthy_only", "collapsed"] == 1 and collapsed.loc["full", "collapsed"] == 0
    sentence = ablation_sentence(collapsed)
    assert ("; on 1 of 4 patterns the epoch diverged and lost more than 10 points (median gain +0.2 points)."
            in sentence) and sentence.count("diverged") == 1
    flat = ablation_sentence(ablation_summary(_gains([-1, 1, 2, -2], [0, 0, 1, 0], [1, 0, 0, 0])))
    assert "not distinguishable from zero" in flat and "%:" not in flat
    with pytest.raises(ValueError, match="row 'healthy_only'"):
        ablation_sentence(ablation_summary({"full": {"S1": [1.0, 2.0]}, "bn_recalibration": {"S1": [1.0, 1.0]}}))


def _table(before, after):
    variables = {"Full 8": [4, 4], "Full 4": [7, 7], "Full 2": [9, 9], "Solution 1": [4, 7], "Solution 7": [7, 9]}
    devices = {"Full 8": 800, "Full 4": 400, "Full 2": 200, "Solution 1": 600, "Solution 7": 300}
    return table_two(variables, devices, before, after)


def test_table_two_in_the_papers_format():
    before = {"Full 8": [90.0], "Full 4": [88.0], "Full 2": [20.0], "Solution 1": [87.0, 89.0],
              "Solution 7": [60.0, 70.0]}
    after = {"Solution 1": [89.0, 90.0], "Solution 7": [87.0, 89.0]}
    table = _table(before, after)
    assert table.index.name == "solution" and list(table.columns) == [
        "variables", "variables (paper)", "memory (kilo devices)", "memory (paper)",
        "accuracy w/o retraining (%)", "w/o retraining (paper)", "accuracy w/ retraining (%)",
        "w/ retraining (paper)"]
    assert table.loc["Solution 1", "variables"] == "[4, 7]"
    assert table.loc["Solution 1", "variables (paper)"] == "[4, 6, 3, 2, 3, 7, 2, 4]"
    assert table.loc["Full 2", "variables (paper)"] == str(list(PAPER_TABLE2_VARIABLES["Full 2"]))  # as printed
    assert table.loc["Solution 1", "memory (kilo devices)"] == pytest.approx(0.6)
    assert table.loc["Solution 1", "memory (paper)"] == 1640.0
    assert table.loc["Solution 1", "accuracy w/o retraining (%)"] == pytest.approx(88.0)
    assert table.loc["Solution 1", "accuracy w/ retraining (%)"] == pytest.approx(89.5)
    assert table.loc["Solution 1", "w/ retraining (paper)"] == 89.5
    assert table.loc["Full 8", "w/o retraining (paper)"] == 89.0
    assert np.isnan(table.loc["Full 8", "accuracy w/ retraining (%)"])  # the paper's "-"
    assert np.isnan(table.loc["Full 8", "w/ retraining (paper)"])
    assert table.loc["Solution 7", "variables (paper)"] == "" and np.isnan(table.loc["Solution 7", "memory (paper)"])
    assert PAPER_TABLE2_ACCURACY["Solution 6"] == (18.8, 77.0)
    with pytest.raises(ValueError, match="Full 2"):
        table_two({"Full 8": [0]}, {"Full 8": 1, "Full 4": 1}, {"Full 8": [1.0]}, {})


def test_savings_table_beside_the_papers():
    frame = savings_table({"Full 8": 1000, "Full 4": 500, "Full 2": 250, "Solution 2": 500, "Solution 9": 100})
    assert frame.loc["Solution 2", "vs Full 8 (%)"] == pytest.approx(50.0)
    assert frame.loc["Solution 2", "vs Full 8, paper (%)"] == pytest.approx(49.58, abs=0.01)
    assert frame.loc["Solution 2", "vs Full 4 (%)"] == pytest.approx(0.0)
    assert np.isnan(frame.loc["Solution 9", "vs Full 4, paper (%)"])
    expected4 = 100 * (1 - PAPER_TABLE2_KILO_DEVICES["Solution 4"] / PAPER_TABLE2_KILO_DEVICES["Full 4"])
    assert savings_table({"Full 8": 8, "Full 4": 4, "Full 2": 2, "Solution 4": 2}).loc[
        "Solution 4", "vs Full 4, paper (%)"] == pytest.approx(expected4)


def test_words_and_sentences():
    assert count_word(6) == "six" and count_word(0) == "no" and count_word(12) == "12"
    assert held_out_text(True).startswith("held-out") and "whole test set" in held_out_text(False)


BASELINE = SimpleNamespace(spec=SimpleNamespace(model="resnet8"), data=SimpleNamespace(name="fashion-mnist"))


def _run(before, after, seconds=1.0, faulty=(0.01, 0.02)):
    return SimpleNamespace(seconds=seconds, result=SimpleNamespace(
        before_accuracy=np.array(before), after_accuracy=np.array(after), faulty_share=np.array(faulty)))


def _result(runs, ablations, devices, patterns=2, ablation_patterns=2):
    genomes = {"Full 8": np.array([4, 4]), "Full 4": np.array([7, 7]), "Full 2": np.array([9, 9]),
               **{name: np.array([4, 7]) for name in runs}}
    simulation = SimpleNamespace(accuracy=np.array([[0.9, 0.9], [0.85, 0.85], [0.5, 0.5]]), baseline_accuracy=0.91)
    config = CompensationChapterConfig(TableConfig(2, 10), patterns=patterns, ablation_patterns=ablation_patterns)
    inputs = SimpleNamespace(table=SimpleNamespace(configs=paper_configurations()), held_out=None)
    return CompensationChapterResult(config, inputs, None, None, genomes, devices, None, simulation, runs, ablations,
                                     train_images=100)


def test_a_result_pairs_before_and_after_and_checks_the_claims():
    runs = {"Solution 2": _run([0.87, 0.89, 0.88], [0.895, 0.90, 0.905], seconds=6.0),
            "Solution 4": _run([0.80, 0.82, 0.78], [0.85, 0.86, 0.84], seconds=3.0)}
    ablations = {"bn_recalibration": {"Solution 2": _run([0.87, 0.89], [0.89, 0.90]),
                                      "Solution 4": _run([0.80, 0.82], [0.84, 0.85])},
                 "healthy_only": {"Solution 2": _run([0.87, 0.89], [0.87, 0.89]),
                                  "Solution 4": _run([0.80, 0.82], [0.81, 0.82])}}
    devices = {"Full 8": 1000, "Full 4": 500, "Full 2": 250, "Solution 2": 500, "Solution 4": 270}
    result = _result(runs, ablations, devices, patterns=3, ablation_patterns=2)
    assert result.uniform_accuracy == {8: pytest.approx(90.0), 4: pytest.approx(85.0), 2: pytest.approx(50.0)}
    assert result.baseline_accuracy == pytest.approx(91.0)
    assert result.before["Solution 2"].tolist() == pytest.approx([87.0, 89.0, 88.0])
    table = result.table_two()
    assert table.loc["Full 8", "accuracy w/o retraining (%)"] == pytest.approx(90.0)
    assert table.loc["Solution 2", "accuracy w/ retraining (%)"] == pytest.approx(90.0)
    assert table.loc["Solution 2", "variables"] == "[4, 7]"
    paired = result.paired_table()
    assert paired.loc["Solution 2", "gain (points)"] == pytest.approx(2.0)
    ablation = result.ablation_table()
    assert ablation.loc["Solution 2", "full method"] == pytest.approx(1.75)  # the two patterns all modes ran
    assert ablation.loc["Solution 2", "BatchNorm recalibration only"] == pytest.approx(1.5)
    summary = result.ablation_summary()
    assert summary.loc["full", "pairs"] == 4
    card = scorecard(result, BASELINE, "smoke")
    verdicts = {k.split("/")[1]: row.verdict.verdict for k, row in card.rows.items()}
    assert not card.missing()
    assert verdicts["abstract-half-memory-costs-3pts"] == "reproduced"  # 88.0 - 90.0 = -2 >= -3
    assert card.rows["000/abstract-half-memory-costs-3pts"].kit == pytest.approx(-2.0)
    assert verdicts["abstract-retrained-matches-full8"] == "reproduced"  # 90.0 - 90.0
    assert card.rows["000/abstract-46pct-no-loss-vs-full4"].kit == pytest.approx(0.0)  # 85.0 - 85.0
    assert verdicts["saving-solution2-vs-full8"] == "reproduced"  # 50 % against the paper's 49.5 %
    assert verdicts["saving-solution4-vs-full4"] == "reproduced"  # 46 %
    assert verdicts["saving-solution1-vs-full8"] == "not comparable"  # no Solution 1 here
    # Solution 2's gains +2.5, +1.0, +2.5: mean +2.0 inside its t half-width 4.30 * 0.866 / sqrt(3) = 2.15
    smallest = card.rows["000/compensation-gain-smallest"]
    assert smallest.note == "the kit's smallest: Solution 2" and smallest.kit == pytest.approx(2.0)
    assert verdicts["compensation-gain-smallest"] == "differs" and "noise" in smallest.verdict.reason
    assert verdicts["table2-accuracy-before-order"] == "not comparable"
    assert result.seconds_per_pattern == pytest.approx(1.5)
    assert result.ablation_seconds_per_pattern() == {"bn_recalibration": pytest.approx(0.5),
                                                     "healthy_only": pytest.approx(0.5)}
    assert result.paper_hours(train_set_size=1000, patterns=400) == pytest.approx(1.5 * 10 * 400 * 2 / 3600)
    assert result.faulty_share == (pytest.approx(1.5), pytest.approx(2.0))


def test_scorecard_without_the_abstracts_solutions():
    runs = {"Solution 1": _run([0.86, 0.88], [0.89, 0.90])}
    devices = {"Full 8": 1000, "Full 4": 500, "Full 2": 250, "Solution 1": 900}
    card = scorecard(_result(runs, {}, devices), BASELINE, "smoke")
    for claim in ("abstract-half-memory-costs-3pts", "abstract-retrained-matches-full8", "abstract-46pct-no-loss-vs-full4"):
        assert card.verdict(f"000/{claim}").verdict == "not comparable"
    assert card.rows["000/solution1-retrained-vs-full8"].kit == pytest.approx(89.5 - 90.0)
