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

from imckit.crossbars.strips import assignment_weights, strip_assignment
from imckit.experiments import hessian as hs

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
    ({"probes": 1}, r"probes must be an integer in \[2, 100000\]"),
    ({"probe_tolerance": 1.0}, r"probe_tolerance must be a number in \[0, 1\)"),
    ({"score_diagonal": "exact"}, "score_diagonal must be 'hutchinson' or 'fisher'; got 'exact'"),
    ({"test_images": 0}, "test_images must be a positive integer or None"),
    ({"low_bits": 3}, "high_bits and low_bits must be among"),
    ({"high_bits": 4}, "high_bits and low_bits must be among"),
    ({"contrast_low_bits": 8}, r"contrast_low_bits must be 0 or an integer in \[2, high_bits\)"),
    ({"ratio_step": 0.3}, "ratio_step must be a number in .* that divides 1"),
    ({"ratio_step": 0}, r"ratio_step must be a number in \(0, 1\]"),
    ({"fim_tolerance": 0}, "fim_tolerance must be a positive number"),
    ({"accuracy_drop": -1}, r"accuracy_drop must be a number in \[0, 100\]"),
    ({"table4_ratio": 1.5}, r"table4_ratio must be a number in \[0, 1\]"),
    ({"crossbar_sizes": ()}, "crossbar_sizes must be a non-empty list"),
    ({"crossbar_sizes": (128, 128)}, "crossbar_sizes must be a non-empty list of different integers"),
    ({"cell_bits": 9}, r"cell_bits must be an integer in \[1, 8\]"),
    ({"reliability_target": 1}, r"reliability_target must be a number in \(0, 1\)"),
])
def test_bad_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
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


@pytest.mark.parametrize("gain,se,visible", [(1.9, 1.0, False), (2.0, 1.0, False), (2.01, 1.0, True),
                                              (-3.0, 1.0, True), (0.0, 0.0, False)])
def test_choice_is_visible_beyond_twice_the_standard_error(gain, se, visible):
    assert hs.choice_is_visible(gain, se) is visible  # the rule of imckit.experiments.stats: 2 SE is still noise


def test_low_bits_sentence_follows_the_decision():
    assert "makes no difference this test can see" in hs.low_bits_sentence(1.5, 4.0)
    assert "within 1.5 points" in hs.low_bits_sentence(1.5, 4.0)
    visible = hs.low_bits_sentence(9.0, 4.0)
    assert visible.startswith("The methods differ from random strips by up to 9.0 points")
    with pytest.raises(ValueError, match="standard_error a number >= 0"):
        hs.low_bits_sentence(1.0, -1.0)


def test_contrast_sentence_branches():
    methods = [hs.HUTCHINSON_STRIPS, hs.FISHER_STRIPS, hs.FISHER_WEIGHTS]
    good = pd.Series([1.6, 3.2, 4.9], index=methods)
    accuracy = _accuracy({hs.HUTCHINSON_STRIPS: [90, 80, 70, 60, 50]})
    visible = hs.contrast_sentence(good, accuracy, 3, 2.0)  # 4.9 > 2 x 2.0
    assert visible.startswith("With 3-bit low strips the choice of strips makes a visible difference (up to 4.9 "
                              "points against random strips; standard error of a difference 2.0).")
    assert "+1.6 points" in visible and "Noisy scores" not in visible
    assert visible.endswith(f"Moving every strip to 3 bits costs 40.0 points here; the paper's Table 3 loses "
                            f"{hs.PAPER_TABLE3[0][0] - hs.PAPER_TABLE3[100][0]:.1f} points from 0 % to 100 % "
                            "low-precision strips.")
    hidden = hs.contrast_sentence(good, accuracy, 3, 4.0)  # 4.9 <= 2 x 4.0: not visible
    assert hidden.startswith("Even with 3-bit low strips every method stays within 4.9 points of random strips, "
                             "less than twice the 4.0-point standard error of a difference: no visible difference.")
    assert "+1.6 points" in hidden and "makes a visible difference" not in hidden
    bad = pd.Series([-2.0, 3.2, 4.9], index=methods)
    no_dip = hs.contrast_sentence(bad, accuracy, 3, 2.0)
    assert "Noisy scores can do worse than chance" in no_dip and "dips below" not in no_dip
    dipping = _accuracy({hs.HUTCHINSON_STRIPS: [90, 80, 40, 60, 50]})  # 40 at ratio 0.5 < 50 at ratio 1
    assert "(the Hutchinson curve dips below the all-low network)" in hs.contrast_sentence(bad, dipping, 3, 2.0)
    assert hs.contrast_sentence(None, None, 0, 2.0) == "(No contrast sweep ran: contrast_low_bits = 0.)"


def test_paper_drop_sentence_calls_the_paper_harsher_only_when_it_is():
    paper = hs.PAPER_TABLE3[0][0] - hs.PAPER_TABLE3[100][0]
    mild = hs.paper_drop_sentence(71.9, 69.1, 4)
    assert mild == (f"Here moving every strip to 4 bits costs 2.8 points, against the paper's {paper:.1f}: the "
                    "paper's 4-bit quantization is far harsher than the kit's per-channel quantized_bits grid.")
    harsh = hs.paper_drop_sentence(71.9, 30.0, 4)  # not mild here: no claim about the paper's grid
    assert harsh == f"Here moving every strip to 4 bits costs 41.9 points, against the paper's {paper:.1f}."


def test_coordination_verdict_against_the_rounding_tolerance():
    assert hs.within_rounding(8.7e-07) and hs.within_rounding(hs.ROUNDING_TOLERANCE)
    assert not hs.within_rounding(0.02)  # what a misaligned grid gives
    assert hs.coordination_sentence(8.7e-07) == ("within float rounding (at most 1e-03 of the range): the two "
                                                 "computations give the same outputs")
    assert hs.coordination_sentence(0.02).startswith("more than float rounding explains (above 1e-03")
    assert hs.coordination_sentence(5e-4, tolerance=1e-4).endswith("the two computations differ")
    with pytest.raises(ValueError, match="difference and tolerance must be numbers >= 0"):
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
    with pytest.raises(ValueError, match="0 <= emptied <= layers"):
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


@pytest.fixture(scope="module")
def tiny_run(trained, tmp_path_factory):
    model, data = trained
    cache = tmp_path_factory.mktemp("cache")
    first = hs.run(model, data.train, data.test, CONFIG, seed=1, cache=cache)
    second = hs.run(model, data.train, data.test, CONFIG, seed=1, cache=cache)
    return model, data, first, second, cache


def test_tiny_run_tables(tiny_run):
    model, data, result, _, _ = tiny_run
    assert result.modules == ["conv1", "conv2", "fc"] and result.train_images == 32 and result.test_images == 48
    assert list(result.layer_traces.index) == result.modules
    assert result.layer_traces["share of trace (%)"].sum() == pytest.approx(100)
    assert list(result.layer_traces["strips"]) == [4 * 9, 8 * 9, 4]
    assert set(result.sweeps) == {4, 3} and len(result.sweeps[4]) == 5 * len(CONFIG.ratios)
    assert list(result.main_accuracy.columns) == [*hs.METHODS, hs.CONTROL]
    assert list(result.gains.columns) == ["8/4-bit", "8/3-bit"] and list(result.gains.index) == list(hs.METHODS)
    # every strip at high precision: every strip method gives the same network
    at0 = result.main_accuracy.loc[0.0]
    assert at0[hs.HUTCHINSON_STRIPS] == at0[hs.FISHER_STRIPS] == at0[hs.CONTROL]
    assert list(result.table4["crossbar"]) == ["16x16"] * 3 + ["8x8"] * 3
    assert list(result.hap["assignment"]) == ["strips (paper)", "single weights (HAP-like)"] * 2
    assert list(result.threshold_rules["rule"]) == ["FIM threshold search", "score sweep by test accuracy"] * 2
    assert list(result.energy.index) == [100 * r for r in CONFIG.ratios]
    assert result.energy.columns[0] == "accuracy (%)"
    assert result.coordinated["images"] == 16 and result.coordinated["agreement"] == 1.0
    assert result.coordinated["difference"] < 1e-5 and result.verdicts["coordination within float rounding"]
    assert 0 <= result.float_accuracy <= 100 and set(result.seconds) == {"hessian", "fisher", "fim"}


def test_tiny_run_accuracies_are_the_networks_own(tiny_run):
    model, data, result, _, _ = tiny_run
    test = data.test.subset(48, seed=1)

    def accuracy(assignment, low_bits):
        weights = assignment_weights(model, assignment, 8, low_bits)
        with torch.no_grad():
            logits = torch.func.functional_call(model, {f"{m}.weight": w for m, w in weights.items()}, (test.images,))
        return 100 * float((logits.argmax(1) == test.labels).float().mean())

    table4 = result.table4.set_index(["crossbar", "threshold"])
    for key in [("16x16", "origin"), ("8x8", "down")]:
        assert table4.loc[key, "accuracy (%)"] == pytest.approx(accuracy(result.alignment.assignments[key], 4))
    assert result.float_accuracy == pytest.approx(accuracy({}, 4))
    fim_row = result.threshold_rules.iloc[2]  # the FIM search at 3 bits
    scores = result.scores[hs.HUTCHINSON_STRIPS]
    assert fim_row["accuracy (%)"] == pytest.approx(accuracy(strip_assignment(scores, fim_row["compression ratio (%)"]
                                                                             / 100), 3))


def test_second_run_comes_from_the_cache_and_is_identical(tiny_run):
    *_, first, second, _ = tiny_run
    assert first.from_cache and not any(first.from_cache.values())
    assert second.from_cache.keys() == first.from_cache.keys() and all(second.from_cache.values())
    # every table, the compute times included (the cache keeps the time of the computation)
    for name in ("layer_traces", "scorings", "gains", "threshold_rules", "table4", "hap", "energy"):
        pd.testing.assert_frame_equal(getattr(second, name), getattr(first, name))
    for bits in first.sweeps:
        pd.testing.assert_frame_equal(second.sweeps[bits], first.sweeps[bits])
        pd.testing.assert_frame_equal(second.fim_sweeps[bits], first.fim_sweeps[bits])
    assert second.text() == first.text() and second.verdicts == first.verdicts


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
    assert len(keys) == len(set(keys))
    nb = nbformat.read(ROOT / "notebooks" / "hessian.ipynb", as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    shown = set(re.findall(r"\{glue:text\}`(\w+)`", markdown))
    figures = set(re.findall(r"```\{glue:figure\} (\w+)", markdown))
    assert shown == set(keys) and figures == {"hs_fig_hessian", "hs_fig_sweep", "hs_fig_fisher", "hs_fig_energy"}
    assert all(isinstance(v, str) and v for v in texts["summary"].values())
    # the numbers in the text are the result's
    assert texts["traces"]["hs_probes"] == "4" and texts["setup"]["hs_test_images"] == "48"
    assert texts["reliability"]["hs_rel_hutchinson"] == f"{result.reliability['hutchinson']:.2f}"
    assert texts["hap"]["hs_hap_share"] == f"{100 * result.hap_share:.1f}"


def test_notebook_holds_no_logic():
    nb = nbformat.read(ROOT / "notebooks" / "hessian.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    lines = [line for c in code for line in c.source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(lines) <= 120 and all(len(line) <= 88 for c in code for line in c.source.splitlines())
    assert not any(re.match(r"\s*(def|class|lambda)\b", line) for line in lines)
    assert not any("{\"smoke\"" in line or "'smoke':" in line for line in lines)  # no profile dictionaries
    assert "hide-input" in code[0].metadata.get("tags", [])  # the imports
    assert "parameters" in code[1].metadata.get("tags", []) and "hide-input" in code[2].metadata.get("tags", [])


def test_figures_and_files(tiny_run, tmp_path):
    import matplotlib.pyplot as plt

    *_, result, _, _ = tiny_run
    for plot, axes in ((hs.plot_traces, 2), (hs.plot_sweeps, 2), (hs.plot_fisher, 4), (hs.plot_energy, 1)):
        fig = plot(result)
        assert len(fig.axes) == axes
        plt.close(fig)
    names = sorted(p.name for p in result.save(tmp_path))
    assert names == sorted(["layer_traces.csv", "threshold_rules.csv", "table4.csv", "hap.csv", "energy.csv",
                            "sweep_8_4.csv", "sweep_8_3.csv", "fim_sweep_8_4.csv", "fim_sweep_8_3.csv"])
    back = pd.read_csv(tmp_path / "table4.csv")
    assert list(back.columns) == list(result.table4.columns) and np.allclose(back["accuracy (%)"],
                                                                             result.table4["accuracy (%)"])


def test_run_rejects_bad_input(trained):
    model, data = trained
    with pytest.raises(ValueError, match="config must be a HessianConfig"):
        hs.run(model, data.train, data.test, {"probes": 4})
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*63\)"):
        hs.run(model, data.train, data.test, CONFIG, seed=-1)
    with pytest.raises(ValueError, match="device must be one of"):
        hs.run(model, data.train, data.test, CONFIG, device="tpu")
