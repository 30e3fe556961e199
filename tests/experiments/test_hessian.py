"""The chapter "Hessian and Fisher sensitivity": configuration, the decisions behind its sentences, the table
assembly and a tiny run end to end (cached, on "cpu" and "auto")."""

import re
from dataclasses import replace

import nbformat
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from imckit.crossbars.energy import energy_proxy
from imckit.crossbars.fisher import joint_threshold
from imckit.crossbars.precision import mcnemar
from imckit.crossbars.strips import assignment_weights, low_weight_share, strip_assignment, weight_assignment
from imckit.experiments import hessian as hs
from imckit.papers import load_claims
from imckit.papers.scorecard import AGREEMENT

from ..conftest import ROOT, toy_dataset

# --------------------------------------------------------------------------------------------------------
# configuration


def test_presets_differ_in_their_sizes_only():
    smoke, default, paper = (hs.HessianConfig.preset(p) for p in ("smoke", "default", "paper"))
    assert (smoke.hessian_images, smoke.probes, smoke.test_images) == (64, 8, 256)
    assert (default.hessian_images, default.probes, default.test_images) == (512, 64, 2000)
    assert (paper.hessian_images, paper.probes, paper.test_images) == (2048, 1024, None)
    assert smoke.crossbar_sizes == default.crossbar_sizes == (128, 32) and smoke.low_bits == paper.low_bits == 4
    assert default == hs.HessianConfig()


def test_preset_overrides_and_zero_keeps_the_profiles_size():
    config = hs.HessianConfig.preset("smoke", hessian_images=0, probes=12, test_images=0, crossbar_sizes=[64, 16],
                                     score_diagonal="fisher")
    assert (config.hessian_images, config.probes, config.test_images) == (64, 12, 256)
    assert config.crossbar_sizes == (64, 16) and config.score_diagonal == "fisher"
    with pytest.raises(ValueError, match=r"unknown HessianConfig field\(s\) \['probe'\]"):
        hs.HessianConfig.preset("smoke", probe=3)
    with pytest.raises(ValueError, match="profile must be one of"):
        hs.HessianConfig.preset("huge")


def test_ratios_and_swept_precisions():
    config = hs.HessianConfig(ratio_step=0.25, contrast_low_bits=3)
    assert config.ratios == [0.0, 0.25, 0.5, 0.75, 1.0] and config.swept_low_bits == [4, 3]
    assert hs.HessianConfig(contrast_low_bits=0).swept_low_bits == [4]
    assert len(hs.HessianConfig().ratios) == 11 and hs.HessianConfig().ratios[3] == 0.3


@pytest.mark.parametrize("kwargs,message", [
    ({"hessian_images": 1}, r"hessian_images must be an integer in \[2, 10000000\]; got 1"),
    ({"hessian_images": 64.0}, r"hessian_images must be an integer in \[2, 10000000\]; got 64.0"),
    ({"probes": 1}, r"probes must be an integer in \[2, 100000\]"),
    ({"probes": True}, r"probes must be an integer in \[2, 100000\]"),
    ({"probe_tolerance": 1.0}, r"probe_tolerance must be a finite number in \[0, 1\)"),
    ({"probe_tolerance": float("nan")}, r"probe_tolerance must be a finite number in \[0, 1\)"),
    ({"score_diagonal": "exact"}, "score_diagonal must be one of 'hutchinson', 'fisher'; got 'exact'"),
    ({"test_images": 0}, "test_images must be an integer >= 1; got 0"),
    ({"low_bits": 3}, "high_bits and low_bits must be among"),
    ({"high_bits": 4}, "high_bits and low_bits must be among"),
    ({"high_bits": 8.0}, r"high_bits must be an integer in \[1, 16\]; got 8.0"),
    ({"contrast_low_bits": 8}, r"contrast_low_bits must be 0 or an integer in \[2, high_bits=8\)"),
    ({"ratio_step": 0.3}, "ratio_step must be a number in .* that divides 1"),
    ({"ratio_step": 1.0}, r"ratio_step must be a finite number in \(0, 0.5\]"),
    ({"ratio_step": 0}, r"ratio_step must be a finite number in \(0, 0.5\]"),
    ({"table2_ratio": -0.1}, r"table2_ratio must be a finite number in \[0, 1\]"),
    ({"energy_model": "joules"}, "energy_model must be one of 'ADC level units', 'ADC bit decisions'"),
    ({"joint_weight": 2}, r"joint_weight must be a finite number in \[0, 1\]"),
    ({"fim_tolerance": 0}, "fim_tolerance must be a finite number > 0"),
    ({"fim_tolerance": float("inf")}, "fim_tolerance must be a finite number > 0; got inf"),
    ({"accuracy_drop": -1}, r"accuracy_drop must be a finite number in \[0, 100\]"),
    ({"table4_ratio": 1.5}, r"table4_ratio must be a finite number in \[0, 1\]"),
    ({"crossbar_sizes": ()}, "crossbar_sizes must be a non-empty list"),
    ({"crossbar_sizes": (128, 128)}, "crossbar_sizes must be a non-empty list of different integers"),
    ({"crossbar_sizes": (128, 32.0)}, r"crossbar_sizes\[1\] must be an integer in \[1, 4096\]"),
    ({"cell_bits": 9}, r"cell_bits must be an integer in \[1, 8\]"),
    ({"reliability_target": 1}, r"reliability_target must be a finite number in \(0, 1\)"),
])
def test_bad_config(kwargs, message):
    with pytest.raises((ValueError, TypeError), match="^" + message):
        hs.HessianConfig(**kwargs)


# --------------------------------------------------------------------------------------------------------
# decisions behind the sentences, on hand-made numbers


def _accuracy(columns: dict) -> pd.DataFrame:
    return pd.DataFrame(columns, index=[0.0, 0.25, 0.5, 0.75, 1.0])


def test_mean_gains_over_the_inner_ratios_only():
    accuracy = _accuracy({"a": [90, 80, 70, 60, 0], "random strips": [90, 70, 70, 70, 50]})
    gains = hs.mean_gains(accuracy)
    assert list(gains.index) == ["a"] and gains["a"] == pytest.approx((10 + 0 - 10) / 3)  # ratios 0 and 1 left out
    with pytest.raises(ValueError, match="must have a column 'random strips'"):
        hs.mean_gains(accuracy.drop(columns="random strips"))
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        hs.mean_gains(accuracy.loc[[0.0, 1.0]])


@pytest.mark.parametrize("p,expected", [(0.049, True), (0.05, False), (0.2, False), (0.0, True)])
def test_visible_below_alpha_only(p, expected):
    assert hs.visible(p) is expected  # a p-value of exactly alpha is not visible
    assert hs.choice_is_visible([0.5, p, 0.9]) is expected
    with pytest.raises(ValueError, match=r"^p must be a finite number in \[0, 1\]"):
        hs.visible(1.5)
    with pytest.raises(ValueError, match="at least one p-value"):
        hs.choice_is_visible([])


def _gains(values: dict) -> pd.DataFrame:
    """Hand-made rows of the gains table: method -> (gain, half-width, p)."""
    return pd.DataFrame([{"low bits": 3, "method": m, "mean gain (pts)": g, "± 95 % (pts)": h,
                          "p (paired t-test)": p} for m, (g, h, p) in values.items()])


def test_paired_phrase_names_the_test():
    assert hs.paired_phrase({"difference": -2.34, "half_width": 0.81, "p_mid": 0.0312}) == \
        "-2.3 points (95 % interval ± 0.8; McNemar mid-p = 0.031)"
    assert hs.paired_phrase({"difference": 1.0, "half_width": 0.5, "p": 1e-5}) == \
        "+1.0 points (95 % interval ± 0.5; paired t-test p < 0.001)"
    with pytest.raises(ValueError, match="mcnemar or paired_difference"):
        hs.paired_phrase({"difference": 1.0, "half_width": 0.5})


def test_low_bits_sentence_follows_the_paired_tests():
    hidden = hs.low_bits_sentence(_gains({"a": (1.5, 2.0, 0.2), "b": (-0.5, 2.0, 0.6)}))
    assert hidden.startswith("No method differs from random strips beyond the paired noise: the largest mean "
                             "gain, a's, is +1.5 points (95 % interval ± 2.0; paired t-test p = 0.2)")
    # the visible gain is reported even when another method's gain is larger but not visible
    shown = hs.low_bits_sentence(_gains({"a": (3.0, 4.0, 0.15), "b": (1.0, 0.5, 0.001)}))
    assert shown.startswith("The choice of strips makes a visible difference: b against random strips +1.0 points")


def test_contrast_sentence_branches():
    gains = _gains({hs.HUTCHINSON_STRIPS: (1.6, 1.0, 0.01), hs.FISHER_STRIPS: (3.2, 1.0, 0.001),
                    hs.FISHER_WEIGHTS: (4.9, 1.0, 0.0001), hs.HUTCHINSON_WEIGHTS: (0.1, 1.0, 0.8)})
    accuracy = _accuracy({hs.HUTCHINSON_STRIPS: [90, 80, 70, 60, 50]})
    drop = {"difference": -40.0, "half_width": 2.0, "p_mid": 1e-9}
    visible = hs.contrast_sentence(gains, accuracy, 3, drop)
    assert visible.startswith(f"With 3-bit low strips the choice of strips makes a visible difference "
                              f"({hs.FISHER_WEIGHTS} against random strips: +4.9 points")
    assert "+1.6 points" in visible and "Noisy scores" not in visible
    assert visible.endswith("Moving every strip to 3 bits changes the accuracy by -40.0 points (95 % interval ± "
                            "2.0; McNemar mid-p < 0.001) here; the paper's Table 3 shows -77.03 points from 0 % "
                            "to 100 % 4-bit strips.")
    hidden = hs.contrast_sentence(gains.assign(**{"p (paired t-test)": 0.3}), accuracy, 3)
    assert hidden.startswith("Even with 3-bit low strips no method differs from random strips beyond the paired "
                             f"noise (largest: {hs.FISHER_WEIGHTS}, +4.9 points")
    assert "Moving every strip" not in hidden
    bad = gains.assign(**{"mean gain (pts)": [-2.0, 3.2, 4.9, 0.1]})
    no_dip = hs.contrast_sentence(bad, accuracy, 3)
    assert "Noisy scores can do worse than chance" in no_dip and "dips below" not in no_dip
    dipping = _accuracy({hs.HUTCHINSON_STRIPS: [90, 80, 40, 60, 50]})  # 40 at ratio 0.5 < 50 at ratio 1
    assert "(the Hutchinson curve dips below the all-low network)" in hs.contrast_sentence(bad, dipping, 3)
    assert hs.contrast_sentence(None, None, 0) == "(No contrast sweep ran: contrast_low_bits = 0.)"


def test_accumulation_and_rules_sentences():
    expanded = {"difference": 2e-7, "agreement": 1.0, "accuracy": 0.9}
    unaligned = {"difference": 0.71, "agreement": 0.4, "accuracy": 0.35}
    text = hs.accumulation_sentence(expanded, unaligned, {"difference": -55.0, "half_width": 4.0, "p_mid": 1e-12},
                                    0.8)
    assert text == ("At 80 % compression the unaligned sum is off by 0.71 of the logits' range (the expanded sum by "
                    "2.0e-07), 40.0 % of its predictions are the intended ones, and it makes an accuracy change of "
                    "-55.0 points (95 % interval ± 4.0; McNemar mid-p < 0.001) against the expanded sum (35.0 % "
                    "against 90.0 %).")
    same = hs.accumulation_sentence(expanded, unaligned, {"difference": 0.0, "half_width": 0.0, "p_mid": 1.0}, 0.0)
    assert "no visible change of the accuracy" in same
    rules = pd.DataFrame({"rule": list(hs.RULES), "compression ratio (%)": [43.8, 70.0, 90.0],
                          "accuracy (%)": [91.0, 90.8, 90.2], "energy (rel.)": [0.8, 0.6, 0.45]})
    tests = {hs.FIM_RULE: {"difference": -0.2, "half_width": 0.3, "p_mid": 0.4},
             hs.SWEEP_RULE: {"difference": 0.6, "half_width": 0.4, "p_mid": 0.01}}
    assert hs.rules_sentence(rules, tests) == (
        "The joint ranking picks 70.0 % compression at 60 % of the all-high energy; against the FIM threshold "
        "search (43.8 %, energy 80 % of all-high) it shows no visible accuracy difference; against the score sweep "
        "by test accuracy (90.0 %, energy 45 % of all-high) it shows an accuracy difference of +0.6 points (95 % "
        "interval ± 0.4; McNemar mid-p = 0.01).")


def test_change_percent():
    assert hs.change_percent(1.121, 2.629) == pytest.approx(-57.36, abs=0.01)  # the paper's Table 2 latency
    assert hs.change_percent(3.0, 2.0) == pytest.approx(50.0)
    with pytest.raises(ValueError, match="^theirs must be a finite number > 0"):
        hs.change_percent(1.0, 0.0)


def test_coordination_verdict_against_the_rounding_tolerance():
    assert hs.within_rounding(8.7e-07) and hs.within_rounding(hs.ROUNDING_TOLERANCE)
    assert not hs.within_rounding(0.02)  # what a misaligned grid gives
    assert hs.coordination_sentence(8.7e-07) == ("within float rounding (at most 1e-03 of the range): the two "
                                                 "computations give the same outputs")
    assert hs.coordination_sentence(0.02).startswith("more than float rounding explains (above 1e-03")
    assert hs.coordination_sentence(5e-4, tolerance=1e-4).endswith("the two computations differ")
    with pytest.raises(ValueError, match="^difference must be a finite number >= 0"):
        hs.within_rounding(-1.0)


def test_split_cost_sentence_finds_ratios_dearer_than_all_high():
    energy = pd.DataFrame({"ADC bit decisions (rel.)": [1.0, 1.05, 1.12, 0.9, 0.5]},
                          index=[0.0, 25.0, 50.0, 75.0, 100.0])
    assert hs.split_cost_sentence(energy) == (
        "At 2 of the 3 compression ratios between 0 and 100 % the ADC bit decisions exceed those with every strip "
        "at high precision (up to 112 % at 50 %): splitting layers over both precisions can cost more than "
        "keeping them at high precision.")
    cheaper = energy.assign(**{"ADC bit decisions (rel.)": [1.0, 0.9, 0.8, 0.7, 0.5]})
    assert hs.split_cost_sentence(cheaper).startswith("No compression ratio between 0 and 100 % needs more ADC bit "
                                                      "decisions")
    with pytest.raises(ValueError, match="strictly between 0 and"):
        hs.split_cost_sentence(energy.loc[[0.0, 100.0]])


def test_small_verdicts():
    assert hs.hutchinson_is_noise(0.02, 0.94) and not hs.hutchinson_is_noise(0.6, 0.94)
    assert not hs.hutchinson_is_noise(0.02, 0.4)  # both noisy: no advice to switch
    assert hs.quantization_is_mild(71.9, 69.1) and not hs.quantization_is_mild(90.9, 13.9)
    assert not hs.alignment_empties_most_layers(5, 10) and hs.alignment_empties_most_layers(6, 10)
    with pytest.raises(ValueError, match=r"^emptied must be an integer in \[0, 10\]; got 11"):
        hs.alignment_empties_most_layers(11, 10)
    assert hs.utilization_phrase(float("nan")) == "no high-precision strip left"
    assert hs.utilization_phrase(22.64) == "22.6 % used"
    assert hs.needed_probes_sentence(2363.4, 0.18) == "about 2,363 probes (about 0.1 h on this machine)"
    assert hs.needed_probes_sentence(None, 0.18).startswith("more probes than this run can estimate")


def test_largest_ratio_within_the_drop_takes_the_largest_not_the_first_gap():
    accuracy = pd.Series([80.0, 79.5, 70.0, 79.2, 60.0], index=[0.0, 0.25, 0.5, 0.75, 1.0])
    assert hs.largest_ratio_within(accuracy, 1.0) == 0.75
    assert hs.largest_ratio_within(accuracy, 0.1) == 0.0
    assert hs.largest_ratio_within(accuracy, 100) == 1.0
    with pytest.raises(ValueError, match="compression ratio 0"):
        hs.largest_ratio_within(accuracy.drop(0.0), 1.0)


def test_alignment_sentence_from_a_hand_made_table():
    table4 = pd.DataFrame({
        "crossbar": ["32x32"] * 3, "threshold": ["origin", "down", "nearest"],
        "compression ratio (%)": [80.0, 85.0, 82.9], "high utilization (%)": [92.8, float("nan"), 100.0],
        "accuracy (%)": [69.9, 69.1, 69.5]})
    text = hs.alignment_sentence(table4, "32x32")
    assert text == ("On 32×32 crossbars the 8-bit crossbars are 92.8 % used before alignment; rounding down leaves "
                    "no high-precision strip left (compression ratio 85.0 %, accuracy 69.1 %), rounding to the "
                    "nearest whole crossbar 100.0 % used (ratio 82.9 %, accuracy 69.5 %).")
    with pytest.raises(ValueError, match="one row for crossbar '128x128'"):
        hs.alignment_sentence(table4, "128x128")


# --------------------------------------------------------------------------------------------------------
# a tiny run end to end


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv1(x)))
        return self.fc(torch.relu(self.conv2(x)).mean((2, 3)))


@pytest.fixture(scope="module")
def trained():
    data = toy_dataset(n_train=96, n_test=64, seed=0)
    torch.manual_seed(0)
    model = Toy()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.train()
    for _ in range(30):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(data.train.images), data.train.labels).backward()
        optimizer.step()
    return model.eval(), data


CONFIG = hs.HessianConfig(hessian_images=32, probes=4, test_images=48, ratio_step=0.25, crossbar_sizes=(16, 8),
                          coordinated_images=16, fim_steps=3)
SETTING = {"network": "Toy", "dataset": "toy quadrants", "bits": "8/4-bit strips"}


@pytest.fixture(scope="module")
def tiny_run(trained, tmp_path_factory):
    model, data = trained
    cache = tmp_path_factory.mktemp("cache")
    first = hs.run(model, data.train, data.test, CONFIG, seed=1, cache=cache)
    second = hs.run(model, data.train, data.test, CONFIG, seed=1, cache=cache)
    return model, data, first, second, cache


def _direct(model, test, assignment, low_bits):
    """Each image's correctness of the model with an assignment's mixed weights, computed directly."""
    weights = assignment_weights(model, assignment, 8, low_bits)
    with torch.no_grad():
        logits = torch.func.functional_call(model, {f"{m}.weight": w for m, w in weights.items()}, (test.images,))
    return logits.argmax(1) == test.labels


def test_tiny_run_tables(tiny_run):
    model, data, result, _, _ = tiny_run
    assert result.modules == ["conv1", "conv2", "fc"] and result.train_images == 32 and result.test_images == 48
    assert list(result.layer_traces.index) == result.modules
    assert result.layer_traces["share of trace (%)"].sum() == pytest.approx(100)
    assert list(result.layer_traces["strips"]) == [4 * 9, 8 * 9, 4]
    assert set(result.sweeps) == {4, 3} and len(result.sweeps[4]) == 5 * len(CONFIG.ratios)
    assert list(result.main_accuracy.columns) == [*hs.METHODS, hs.CONTROL]
    assert list(result.gains.columns) == ["low bits", "method", "mean gain (pts)", "± 95 % (pts)",
                                          "p (paired t-test)"]
    assert list(result.gains["low bits"]) == [4] * 4 + [3] * 4
    assert list(result.gains_at(3)["method"]) == list(hs.METHODS)
    # the paired mean gain is the mean gain over the inner ratios
    assert result.gains_at(4).set_index("method")["mean gain (pts)"].to_dict() == pytest.approx(
        hs.mean_gains(result.main_accuracy).to_dict())
    # every strip at high precision: every strip method gives the same network
    at0 = result.main_accuracy.loc[0.0]
    assert at0[hs.HUTCHINSON_STRIPS] == at0[hs.FISHER_STRIPS] == at0[hs.CONTROL]
    assert list(result.table4["crossbar"]) == ["16x16"] * 3 + ["8x8"] * 3
    assert (result.table4[result.table4["threshold"] == "origin"]["vs origin (pts)"] == 0).all()
    assert list(result.hap["assignment"]) == [hs.STRIPS, hs.HAP_LIKE] * 2
    assert list(result.threshold_rules["rule"]) == [hs.FIM_RULE, hs.JOINT_RULE, hs.SWEEP_RULE, hs.FIM_RULE,
                                                    hs.SWEEP_RULE]
    assert result.threshold_rules["energy (rel.)"].isna().tolist() == [False] * 3 + [True] * 2
    assert list(result.energy.index) == [100 * r for r in CONFIG.ratios]
    assert result.energy.columns[0] == "accuracy (%)"
    assert result.coordinated["images"] == 16 and result.coordinated["agreement"] == 1.0
    assert result.coordinated["difference"] < 1e-5 and result.verdicts["coordination within float rounding"]
    assert 0 <= result.float_accuracy <= 100 and set(result.seconds) == {"hessian", "fisher", "fim"}


def test_tiny_run_accuracies_are_the_networks_own(tiny_run):
    model, data, result, _, _ = tiny_run
    test = data.test.subset(48, seed=1)

    def accuracy(assignment, low_bits):
        return 100 * float(_direct(model, test, assignment, low_bits).float().mean())

    table4 = result.table4.set_index(["crossbar", "threshold"])
    for key in [("16x16", "origin"), ("8x8", "down")]:
        assert table4.loc[key, "accuracy (%)"] == pytest.approx(accuracy(result.alignment.assignments[key], 4))
    assert result.float_accuracy == pytest.approx(accuracy({}, 4))
    fim_row = result.threshold_rules.iloc[3]  # the FIM search at 3 bits
    assert fim_row["low bits"] == 3 and fim_row["rule"] == hs.FIM_RULE
    scores = result.scores[hs.HUTCHINSON_STRIPS]
    assert fim_row["accuracy (%)"] == pytest.approx(accuracy(strip_assignment(scores, fim_row["compression ratio (%)"]
                                                                             / 100), 3))


def test_tiny_run_paired_tests_are_mcnemar_on_the_same_images(tiny_run):
    model, data, result, _, _ = tiny_run
    test = data.test.subset(48, seed=1)
    scores = result.scores[hs.HUTCHINSON_STRIPS]
    strips = strip_assignment(scores, CONFIG.table2_ratio)
    hap = weight_assignment(result.scores[hs.HUTCHINSON_WEIGHTS], low_weight_share(model, strips))
    expected = mcnemar(_direct(model, test, strips, 4), _direct(model, test, hap, 4))
    assert result.paired["strips vs single weights"] == pytest.approx(expected)
    drop = result.drop(1.0)
    main = result.main_accuracy[hs.HUTCHINSON_STRIPS]
    assert drop["difference"] == pytest.approx(main.loc[1.0] - main.loc[0.0])
    assert drop == result.paired["all low vs all high, 8/4"]
    with pytest.raises(ValueError, match="must be a compression ratio of the sweep"):
        result.drop(0.7)
    # the sweep's per-image correctness is the sweep's accuracy
    for method, rows in result.correct[4].items():
        assert (100 * rows.double().mean(1)).tolist() == pytest.approx(result.main_accuracy[method].tolist())


def test_tiny_run_joint_choice_and_hap_proxies(tiny_run):
    model, data, result, _, _ = tiny_run
    fim = result.fim_sweeps[4]
    expected = joint_threshold(fim["ratio"].tolist(), fim["FIM distance"].tolist(),
                               result.energy[CONFIG.energy_model].tolist(), 0.5)
    assert result.joint["ratio"] == expected["ratio"]
    rules = result.threshold_rules.set_index(["low bits", "rule"])
    assert rules.loc[(4, hs.JOINT_RULE), "compression ratio (%)"] == 100 * expected["ratio"]
    assert rules.loc[(4, hs.JOINT_RULE), "accuracy (%)"] == pytest.approx(
        result.main_accuracy.loc[expected["ratio"], hs.HUTCHINSON_STRIPS])
    # the Table 2 proxies are energy_proxy's totals of the two assignments
    strips = strip_assignment(result.scores[hs.HUTCHINSON_STRIPS], CONFIG.table2_ratio)
    hap = weight_assignment(result.scores[hs.HUTCHINSON_WEIGHTS], low_weight_share(model, strips))
    rows = result.hap.set_index(["crossbar", "assignment"])
    for name, assignment in ((hs.STRIPS, strips), (hs.HAP_LIKE, hap)):
        total = energy_proxy(model, assignment, tuple(data.test.images.shape[1:]), CONFIG.crossbar(8)).loc["all"]
        for column in ("ADC level units", "serial latency cycles", "latency cycles"):
            assert rows.loc[("8x8", name), column] == total[column]
    change = result.hap_changes.set_index("crossbar").loc["8x8", "serial latency cycles (%)"]
    assert change == pytest.approx(100 * (rows.loc[("8x8", hs.STRIPS), "serial latency cycles"]
                                          / rows.loc[("8x8", hs.HAP_LIKE), "serial latency cycles"] - 1))


def test_tiny_run_unaligned_accumulation_is_the_baseline(tiny_run):
    *_, result, _, _ = tiny_run
    table = result.accumulation_table()
    assert list(table.index) == [0.0, 25.0, 50.0, 75.0, 80.0, 100.0]
    # with every strip at high precision there is nothing to align; with low strips the unaligned sum is off
    assert table.loc[0.0, "unaligned logit error"] < 1e-5 and (table.loc[25.0:, "unaligned logit error"] > 0.01).all()
    assert (table["expanded logit error"] < 1e-5).all()
    assert (table["expanded (%)"] == table["mixed weights (%)"]).all()


def test_second_run_comes_from_the_cache_and_is_identical(tiny_run):
    *_, first, second, _ = tiny_run
    assert first.from_cache and not any(first.from_cache.values())
    assert second.from_cache.keys() == first.from_cache.keys() and all(second.from_cache.values())
    assert "accumulation 8/4" in first.from_cache
    # every table, the compute times included (the cache keeps the time of the computation)
    for name in ("layer_traces", "scorings", "gains", "threshold_rules", "table4", "hap", "hap_changes", "energy",
                 "accumulation"):
        pd.testing.assert_frame_equal(getattr(second, name), getattr(first, name))
    for bits in first.sweeps:
        pd.testing.assert_frame_equal(second.sweeps[bits], first.sweeps[bits])
        pd.testing.assert_frame_equal(second.fim_sweeps[bits], first.fim_sweeps[bits])
    assert second.text() == first.text() and second.verdicts == first.verdicts and second.paired == first.paired


def test_auto_device_computes_the_cpu_numbers(trained, tiny_run, tmp_path):
    model, data = trained
    *_, first, _, _ = tiny_run
    auto = hs.run(model, data.train, data.test, CONFIG, seed=1, device="auto", cache=tmp_path)
    assert not any(auto.from_cache.values())  # computed afresh in an empty cache
    assert auto.trace.total == first.trace.total
    for bits in first.sweeps:
        pd.testing.assert_frame_equal(auto.sweeps[bits], first.sweeps[bits])
    pd.testing.assert_frame_equal(auto.table4, first.table4)
    assert auto.reliability == first.reliability  # (texts differ only in the measured compute times)


def test_a_changed_seed_or_setting_is_not_read_from_the_cache(trained, tiny_run):
    model, data = trained
    *_, first, _, cache = tiny_run
    other = hs.run(model, data.train, data.test, CONFIG, seed=2, cache=cache)
    assert not other.from_cache["hessian trace"] and not other.from_cache["precision sweep 8/4"]
    assert other.trace.total != first.trace.total
    fewer = hs.run(model, data.train, data.test, replace(CONFIG, contrast_low_bits=0), seed=1, cache=cache)
    assert fewer.from_cache["hessian trace"] and fewer.from_cache["precision sweep 8/4"]
    assert "precision sweep 8/3" not in fewer.from_cache and not fewer.from_cache["assignment accuracies"]
    assert fewer.text()["sweep"]["hs_contrast"] == "(No contrast sweep ran: contrast_low_bits = 0.)"


def test_texts_cover_every_key_the_chapter_shows(tiny_run):
    *_, result, _, _ = tiny_run
    texts = result.text()
    keys = [k for section in texts.values() for k in section]
    says = hs.verdict_sentences(result, hs.scorecard(result, setting=SETTING))
    assert len(keys) == len(set(keys))
    nb = nbformat.read(ROOT / "notebooks" / "hessian.ipynb", as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    shown = set(re.findall(r"\{glue:text\}`(\w+)`", markdown))
    figures = set(re.findall(r"```\{glue:figure\} (\w+)", markdown))
    # the GGN section glues imckit.experiments.curvature.comparison_text (tested in test_curvature.py)
    curvature_keys = {k for k in shown if k.startswith("cv_")}
    assert curvature_keys == {"cv_images", "cv_ggn_images", "cv_probes", "cv_verdict"} | {
        f"cv_{kind}_{m}" for kind in ("rel", "sec") for m in ("hutchinson", "fisher", "ggn")}
    assert shown - curvature_keys == set(keys) | {f"says_{name}" for name in says}
    assert figures == {"hs_fig_hessian", "hs_fig_sweep", "hs_fig_fisher", "hs_fig_joint", "hs_fig_accumulation",
                       "hs_fig_energy"}
    assert all(isinstance(v, str) and v for v in texts["summary"].values())
    # the numbers in the text are the result's
    assert texts["traces"]["hs_probes"] == "4" and texts["setup"]["hs_test_images"] == "48"
    assert texts["reliability"]["hs_rel_hutchinson"] == f"{result.reliability['hutchinson']:.2f}"
    assert texts["hap"]["hs_hap_share"] == f"{100 * result.hap_share:.1f}"
    # no text outside the verdict sentences says whether the paper's results hold here
    assert not AGREEMENT.search(markdown), AGREEMENT.search(markdown)
    for section in texts.values():
        for key, text in section.items():
            assert not AGREEMENT.search(text), (key, text)


def test_kit_values_cover_every_claim_of_the_chapter(tiny_run):
    *_, result, _, _ = tiny_run
    values = hs.kit_values(result)
    assert set(values) == {c.key for c in load_claims(chapter="hessian")}
    # this run's grid (ratio_step 0.25) and crossbars (16, 8) lack the paper's: those claims say why
    assert values["001/table3-drop-at-70"]["kit"] is None and "70 %" in values["001/table3-drop-at-70"]["reason"]
    assert values["001/table4-gain-128"]["reason"] == "crossbar_sizes has no 128x128"
    drop = values["001/table3-drop-at-100"]
    assert drop["kit"] == result.paired["all low vs all high, 8/4"]["difference"]
    assert drop["margin"] == result.paired["all low vs all high, 8/4"]["half_width"]
    change = result.hap_changes.iloc[0]
    assert values["001/table2-latency-vs-hap"]["kit"] == change["serial latency cycles (%)"]
    assert values["001/intro-adc-latency-vs-hap"]["kit"] == change["latency cycles (%)"]
    assert values["001/table2-energy-vs-hap"]["kit"] == change["ADC level units (%)"]
    card = hs.scorecard(result, setting=SETTING, profile="smoke")
    assert not card.missing() and len(card.table()) == len(values)


def test_kit_values_on_the_papers_grid_and_crossbars(trained, tiny_run):
    model, data = trained
    *_, _, _, cache = tiny_run
    config = replace(CONFIG, ratio_step=0.1, crossbar_sizes=(128, 32))
    result = hs.run(model, data.train, data.test, config, seed=1, cache=cache)
    values = hs.kit_values(result)
    order = values["001/table3-accuracy-order"]["kit"]
    assert list(order) == ["CR 0 %", "CR 10 %", "CR 50 %", "CR 70 %", "CR 90 %", "CR 100 %"]
    assert order["CR 70 %"] == pytest.approx(result.main_accuracy.loc[0.7, hs.HUTCHINSON_STRIPS])
    assert values["001/table3-drop-at-70"]["kit"] == result.drop(0.7)["difference"]
    assert values["001/headline-energy-at-70"]["kit"] == pytest.approx(
        100 * (result.energy.loc[70.0, "ADC level units (rel.)"] - 1))
    origin = result.table4.set_index(["crossbar", "threshold"])["high utilization (%)"]
    assert values["001/table4-origin-utilization-by-size"]["kit"] == {
        "128x128": origin[("128x128", "origin")], "32x32": origin[("32x32", "origin")]}
    card = hs.scorecard(result, setting=SETTING)
    says = hs.verdict_sentences(result, card)
    # each sentence is the variant of its claim's verdict
    verdict = card.verdict("001/table3-drop-at-100").verdict
    opening = {"reproduced": "Moving every strip to 4 bits changes the accuracy by",
               "same direction": "Moving every strip to 4 bits changes the accuracy by",
               "differs": "Moving every strip to 4 bits changes the accuracy by",
               "not comparable": "The paper's Table 3 drop"}[verdict]
    assert says["hs_drop"].startswith(opening)
    assert ("beyond the paired noise" in says["hs_drop"]) == (verdict == "reproduced")
    assert card.sentences["says_hs_drop"]["verdict"] == verdict


def test_notebook_holds_no_logic():
    nb = nbformat.read(ROOT / "notebooks" / "hessian.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    lines = [line for c in code for line in c.source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(lines) <= 120 and all(len(line) <= 88 for c in code for line in c.source.splitlines())
    assert not any(re.match(r"\s*(def|class|lambda)\b", line) for line in lines)
    assert not any("{\"smoke\"" in line or "'smoke':" in line for line in lines)  # no profile dictionaries
    assert "hide-input" in code[0].metadata.get("tags", [])  # the imports
    assert "parameters" in code[1].metadata.get("tags", []) and "hide-input" in code[2].metadata.get("tags", [])
    assert "hessian.scorecard(result, baseline, profile)" in code[-1].source and "card.glue()" in code[-1].source
    assert all(not c.get("outputs") for c in code)


def test_figures_and_files(tiny_run, tmp_path):
    import matplotlib.pyplot as plt

    *_, result, _, _ = tiny_run
    for plot, axes in ((hs.plot_traces, 2), (hs.plot_sweeps, 2), (hs.plot_fisher, 4), (hs.plot_joint, 1),
                       (hs.plot_energy, 1), (hs.plot_accumulation, 1)):
        fig = plot(result)
        assert len(fig.axes) == axes
        plt.close(fig)
    names = sorted(p.name for p in result.save(tmp_path))
    assert names == sorted(["layer_traces.csv", "threshold_rules.csv", "joint_ranking.csv", "table4.csv", "hap.csv",
                            "hap_changes.csv", "gains.csv", "accumulation.csv", "energy.csv", "sweep_8_4.csv",
                            "sweep_8_3.csv", "fim_sweep_8_4.csv", "fim_sweep_8_3.csv"])
    back = pd.read_csv(tmp_path / "table4.csv")
    assert list(back.columns) == list(result.table4.columns) and np.allclose(back["accuracy (%)"],
                                                                             result.table4["accuracy (%)"])


def test_run_rejects_bad_input(trained):
    model, data = trained
    with pytest.raises(TypeError, match="config must be a HessianConfig"):
        hs.run(model, data.train, data.test, {"probes": 4})
    with pytest.raises(ValueError, match=r"^seed must be an integer in \[0, 2\*\*63 - 1\]"):
        hs.run(model, data.train, data.test, CONFIG, seed=-1)
    with pytest.raises(ValueError, match="device must be one of"):
        hs.run(model, data.train, data.test, CONFIG, device="tpu")
