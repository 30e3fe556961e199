import math
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from imckit.core.models import resnet8
from imckit.experiments import regularization as rg
from imckit.qat.faults import MITIGATIONS
from imckit.qat.quantizers import PAPER_RAMPS
from tests.conftest import ROOT, toy_dataset

# ---------------------------------------------------------------------------------------------------------
# config and presets


def test_presets_hold_the_profile_sizes():
    smoke, default, paper = (rg.RegularizationConfig.preset(p) for p in ("smoke", "default", "paper"))
    assert (smoke.train_images, smoke.qat_epochs, smoke.tune_epochs, smoke.test_images) == (512, 1, 1, 256)
    assert (default.train_images, default.qat_epochs, default.tune_epochs, default.test_images) == (8000, 3, 2, 2000)
    assert (paper.train_images, paper.qat_epochs, paper.tune_epochs, paper.test_images) == (None, 30, 20, None)
    assert (smoke.chips, smoke.long_epochs, default.chips, default.long_epochs, paper.chips, paper.long_epochs) == \
        (2, 2, 3, 4, 3, 20)
    # the paper profile follows the paper's lambda schedule: the final 20 of 200 epochs of QAT, the final
    # 10 of a 20-epoch fine-tune; the shorter profiles raise lambda over the final half of every run
    assert (paper.qat_ramp, paper.tune_ramp) == (0.1, 0.5) == (PAPER_RAMPS["qat"], PAPER_RAMPS["tune"])
    assert (default.qat_ramp, default.tune_ramp, smoke.qat_ramp) == (0.5, 0.5, 0.5) == (rg.KIT_RAMP,) * 3
    assert paper.qat_config(4).ramp == 0.1 and paper.qat_config(4, tune=True).ramp == 0.5
    assert paper.qat_config(4, tune=True, epochs=7, ramp=0.25).epochs == 7
    assert paper.qat_config(4, tune=True, epochs=7, ramp=0.25).ramp == 0.25
    assert default == rg.RegularizationConfig()  # the dataclass defaults are the default profile
    assert smoke.fault_rates == (0.0, 0.05, 0.1, 0.2, 0.3) and smoke.sigmas == (0.05, 0.1, 0.2, 0.3, 0.4)
    assert smoke.quantizer_lr is None and smoke.quantizer_rate("float") == 1e-6 and smoke.quantizer_rate("ste") == 1e-3


def test_preset_takes_the_notebook_parameters():
    config = rg.RegularizationConfig.preset("smoke", train_images=100, qat_epochs=2, test_images=50,
                                            bit_widths=[3], fault_rates=[0, 1], quantizer_lr=1e-3)
    assert (config.train_images, config.qat_epochs, config.tune_epochs, config.test_images) == (100, 2, 1, 50)
    assert config.bit_widths == (3,) and config.fault_rates == (0.0, 1.0) and config.quantizer_lr == 1e-3
    hash(config)  # frozen and hashable: lists became tuples
    assert config.activations_for(4) == 4
    assert rg.RegularizationConfig(activation_bits=-1).activations_for(4) is None
    assert rg.RegularizationConfig(activation_bits=8).activations_for(4) == 8
    qat = config.qat_config(3, "step", True, train_images=64)
    assert (qat.bits, qat.kind, qat.ste, qat.epochs, qat.train_images, qat.activation_bits, qat.quantizer_lr) == \
        (3, "step", True, 2, 64, 3, 1e-3)
    assert config.qat_config(3, tune=True).epochs == 1


@pytest.mark.parametrize("kwargs,message", [
    ({"bit_widths": []}, r"bit_widths must be a non-empty list of integers in \[2, 8\]; got \[\]"),
    ({"bit_widths": [9]}, r"bit_widths\[0\] must be an integer in \[2, 8\]; got 9"),
    ({"activation_bits": 1}, r"activation_bits must be 0 \(the weight bits\), -1 \(float\) or an integer in \[2, 16\]"),
    ({"fault_rates": [0.1, 1.5]}, r"fault_rates\[1\] must be a finite number in \[0.0, 1.0\]; got 1.5"),
    ({"fault_rates": "0.1"}, r"fault_rates must be a non-empty list of numbers in \[0, 1\]; got '0.1'"),
    ({"sigmas": []}, r"sigmas must be a non-empty list"),
    ({"sa1_share": 2}, r"sa1_share must be a finite number in \[0, 1\]; got 2"),
    ({"hardware_bits": 1}, r"hardware_bits must be an integer in \[2, 8\]; got 1"),
    ({"remaps": -1}, r"remaps must be an integer in \[0, 1000\]; got -1"),
    ({"train_images": -5}, r"train_images must be an integer >= 0; got -5"),
    ({"quantizer_lr": -1.0}, r"quantizer_lr must be 0 \(the paper's\) or a number in \(0, 10\]; got -1.0"),
    ({"qat_ramp": 1.5}, r"qat_ramp must be a finite number in \[0, 1\]; got 1.5"),
    ({"tune_ramp": -0.1}, r"tune_ramp must be a finite number in \[0, 1\]; got -0.1"),
    ({"chips": -1}, r"chips must be an integer >= 0; got -1"),
    ({"chips": 101}, r"chips must be an integer in \[1, 100\]; got 101"),
    ({"long_epochs": 2.5}, r"long_epochs must be an integer >= 0; got 2.5"),
])
def test_bad_parameters_name_the_parameter_range_and_value(kwargs, message):
    with pytest.raises((ValueError, TypeError), match="^" + message):
        rg.RegularizationConfig.preset("smoke", **kwargs)


def test_unknown_profile():
    with pytest.raises(ValueError, match="profile must be one of"):
        rg.RegularizationConfig.preset("huge")


# ---------------------------------------------------------------------------------------------------------
# verdicts on hand-made numbers


def test_chapter_data_noise_is_the_stats_rule():
    data = rg.ChapterData(None, None, toy_dataset(n_test=256).test, 0, [], 71.09)
    assert data.standard_error == pytest.approx(2.834, abs=1e-3)  # one accuracy on 256 images
    assert data.tolerance == pytest.approx(2 * math.sqrt(2) * data.standard_error)  # the chapter's 8.0 points
    assert rg.compare(71.09 + data.tolerance, 71.09, data.tolerance) == "tie"


def test_activations_phrase():
    assert rg.activations_phrase(-1) == "float"
    assert rg.activations_phrase(0) == "as many bits as the weights"
    assert rg.activations_phrase(6) == "6 bits"


def _table1(w4, w3=None):
    labels = [rg.PTQ_LABEL] + [rg.VARIANT_LABELS[v] for v in rg.VARIANTS]
    columns = {"W4": dict(zip(labels, w4))}
    if w3 is not None:
        columns["W3"] = dict(zip(labels, w3))
    return pd.DataFrame(columns)


def test_best_variant_ignores_ptq_and_breaks_ties_by_table_order():
    table = _table1([99.0, 60.0, 70.0, 70.0, 65.0])
    assert rg.best_variant(table, "W4") == "learned step"  # PTQ is higher but not a trained variant; tie -> first
    assert rg.best_variant(_table1([0, 1, 2, 3, 4]), "W4") == "N-multipliers + STE"


def test_table1_sentence_by_hand():
    table = _table1([68.75, 68.36, 60.0, 68.0, 67.0], [58.98, 60.0, 61.0, 62.0, 66.41])
    text = rg.table1_sentence(table, 71.09)
    assert text == ("At 4 bits the best variant is fixed levels (68.36 %, -2.73 points against float; PTQ 68.75 %). "
                    "At 3 bits the best variant is N-multipliers + STE (66.41 %, -4.68 points against float; "
                    "PTQ 58.98 %).")


def test_levels_sentence_threshold_edge():
    assert rg.levels_sentence(0.0499).startswith("The levels stayed close")
    assert rg.levels_sentence(0.05).startswith("The levels moved away")  # at the threshold: moved
    assert rg.levels_sentence(0.2, threshold=0.3).startswith("The levels stayed close")


def test_compare_at_the_tolerance_edge():
    assert rg.compare(10.0, 8.0, 2.0) == "tie" and rg.compare(8.0, 10.0, 2.0) == "tie"  # exactly at it: noise
    assert rg.compare(10.5, 8.0, 2.0) == "higher" and rg.compare(8.0, 10.5, 2.0) == "lower"
    assert rg.compare(5.0, 5.0, 0.0) == "tie" and rg.compare(5.25, 5.0, 0.0) == "higher"
    with pytest.raises(ValueError, match="^tolerance must be a finite number >= 0"):
        rg.compare(1, 2, -1)


def test_mitigation_ranking_keeps_the_given_order_on_ties():
    row = {"basic": 11.7, "passive": 17.2, "active": 11.7, "active+passive": 17.6, "other": 99.0}
    assert rg.mitigation_ranking(row) == ["active+passive", "passive", "basic", "active"]
    assert rg.ranking_sentence(row) == "active+passive 17.6 %, passive 17.2 %, basic 11.7 %, active 11.7 %"
    assert rg.mitigation_ranking(row, ["active", "basic"]) == ["active", "basic"]
    with pytest.raises(ValueError, match="no accuracy for"):
        rg.mitigation_ranking({"basic": 1.0})


def test_order_verdict_uses_the_papers_verdict_with_a_widened_tie_tolerance():
    good = {"active+passive": 90.0, "active": 80.0, "passive": 70.0, "basic": 60.0}
    assert rg.order_verdict(good, 0.0).verdict == "reproduced"
    swapped = {"active+passive": 30.0, "active": 12.0, "passive": 17.5, "basic": 0.0}
    result = rg.order_verdict(swapped, 2.0)  # passive 5.5 ahead of active: reversed beyond 2 points
    assert result.verdict == "same direction" and "active above passive" in result.reason
    assert rg.order_verdict(swapped, 5.5).verdict == "reproduced"  # exactly at the spread: a tie, 5 of 6 ordered
    assert rg.order_verdict(swapped, 5.49).verdict == "same direction"
    worst = {"active+passive": 1.0, "active": 2.0, "passive": 3.0, "basic": 4.0}
    assert rg.order_verdict(worst, 0.5).verdict == "differs"
    assert rg.order_verdict(worst, 0.0, "fig7a-outperforms-nearest-valid").verdict == "differs"
    two = {"active+passive": 12.0, "passive": 10.0}
    assert rg.order_verdict(two, 1.0, "fig7a-outperforms-nearest-valid").verdict == "reproduced"
    assert rg.order_verdict(two, 2.0, "fig7a-outperforms-nearest-valid").verdict == "differs"  # a tie: no order
    with pytest.raises(ValueError, match="lack"):
        rg.order_verdict({"active": 1.0}, 0.5)
    with pytest.raises(ValueError, match="^tolerance must be a finite number >= 0"):
        rg.order_verdict(good, -1)
    with pytest.raises(ValueError, match="must name an order claim"):
        rg.order_verdict(good, 1.0, "table1-fixed-w4-vs-float")


def test_ranking_sentence_with_spread():
    row = {"basic": 11.7, "passive": 17.2, "active": 11.7, "active+passive": 17.6}
    spread = {"basic": 0.5, "passive": 1.25, "active": 0.0, "active+passive": 2.0}
    assert rg.ranking_sentence(row, spread=spread) == ("active+passive 17.6 ± 2.0 %, passive 17.2 ± 1.2 %, "
                                                      "basic 11.7 ± 0.5 %, active 11.7 ± 0.0 %")


def test_least_favourable_skips_the_fault_free_rate():
    table = pd.DataFrame({"a": [50.0, 40.0, 30.0], "b": [60.0, 35.0, 29.0]}, index=[0.0, 20.0, 30.0])
    assert rg.least_favourable(table, "a", "b") == 30.0  # a leads by 1 at 30 %; at 0 % (not counted) by -10
    assert rg.least_favourable(table, "a", "b", positive=False) == 0.0
    assert rg.least_favourable(table.loc[[0.0]], "a", "b") is None


def _schedule_table(rows):
    index = pd.MultiIndex.from_tuples([(w, rg.schedule_label(r)) for w, r, _, _ in rows])
    return pd.DataFrame({"ramp": [r for _, r, _, _ in rows], "accuracy (%)": [a for _, _, a, _ in rows],
                         "distance (level spacings)": [d for _, _, _, d in rows]}, index=index)


def test_schedule_sentence_by_hand():
    assert rg.schedule_label(0.1) == "final 10 %" and rg.schedule_label(0.5) == "final 50 %"
    table = _schedule_table([("W4", 0.5, 90.0, 0.02), ("W4", 0.1, 88.5, 0.0312),
                             ("W3", 0.5, 85.0, 0.03), ("W3", 0.1, 87.5, 0.05)])
    text = rg.schedule_sentence(table, 2.0)
    assert text == ("At 4 bits lambda over the final 10 % gives 88.50 % and over the final 50 % 90.00 % "
                    "(-1.50 points, within noise); the weights end 0.031 and 0.020 level spacings from their "
                    "levels before the final mapping. At 3 bits lambda over the final 10 % gives 87.50 % and "
                    "over the final 50 % 85.00 % (+2.50 points, higher beyond noise); the weights end 0.050 and "
                    "0.030 level spacings from their levels before the final mapping. (Noise: 2.0 points, two "
                    "standard errors of a difference.)")


def test_schedule_reason_follows_the_measurement():
    far = _schedule_table([("W4", 0.5, 90.0, 0.02), ("W4", 0.1, 88.5, 0.04), ("W3", 0.5, 85.0, 0.03),
                           ("W3", 0.1, 81.5, 0.09)])
    assert rg.schedule_reason(far, 2.0) == (
        "With lambda over the final 10 % the weights end farther from their levels at every bit width (2.0 times "
        "at 4 bits, 3.0 times at 3 bits as far), and it costs accuracy beyond noise at 3 bits: in a run this short "
        "the final 10 % leaves the regularizer few steps at a high lambda, which is why the shorter profiles raise "
        "it over the final 50 %.")
    near = _schedule_table([("W4", 0.5, 90.0, 0.02), ("W4", 0.1, 90.5, 0.02)])
    assert rg.schedule_reason(near, 2.0) == (
        "With lambda over the final 10 % the weights end no farther from their levels at 4 bits (1.0 times at 4 "
        "bits as far), and the accuracies differ within noise: at this size the measurement does not call for the "
        "final 50 %.")


def test_order_rates_and_epochs():
    config = rg.RegularizationConfig(fault_rates=(0.0, 0.3, 0.05, 0.3, 0.2), tune_epochs=2, long_epochs=4)
    assert rg.order_rates(config) == [(1, 0.3), (4, 0.2)]  # the two highest non-zero, a repeated rate once
    assert rg.order_rates(rg.RegularizationConfig(fault_rates=(0.0, 0.1))) == [(1, 0.1)]
    assert rg.order_rates(rg.RegularizationConfig(fault_rates=(0.0,))) == []
    assert rg.order_epochs(config) == (2, 4)
    assert rg.order_epochs(rg.RegularizationConfig(tune_epochs=20, long_epochs=20)) == (20,)


def test_multipliers_sentence_noise_and_beyond():
    table = _table1([70, 68.0, 68, 68.5, 67], [60, 60.0, 60, 61.0, 60])
    within = rg.multipliers_sentence(table, 1.0)
    assert "+0.50 points at 4 bits, +1.00 points at 3 bits" in within and "all within noise (1.0 points" in within
    beyond = rg.multipliers_sentence(table, 0.75)
    assert beyond.endswith("N-multipliers are better at 3 bits.")
    worse = rg.multipliers_sentence(_table1([70, 68.0, 68, 66.0, 67]), 1.0)
    assert worse.endswith("N-multipliers are worse at 4 bits.")


def test_aware_sentence_describes_the_kit_only():
    assert "within noise" in rg.aware_sentence(20.0, 21.0, 1.0)
    assert rg.aware_sentence(30.0, 20.0, 2.0) == ("Variability-aware fine-tuning is better by 10.0 points, more "
                                                  "than noise (2.0 points).")
    assert rg.aware_sentence(20.7, 41.8, 7.9).startswith("Variability-aware fine-tuning is worse by 21.1 points")
    for text in (rg.aware_sentence(30.0, 20.0, 2.0), rg.aware_sentence(20.7, 41.8, 7.9),
                 rg.multipliers_sentence(_table1([70, 68.0, 68, 68.5, 67]), 1.0)):
        assert "paper" not in text  # agreement with the paper is the scorecard's (imckit.papers) to say


def test_the_data_file_is_the_source_of_the_papers_numbers():
    from imckit.papers import load_claims

    claims = load_claims(chapter="regularization")
    assert len(claims) == 35 and {c.paper for c in claims} == {"002"}
    assert rg.PAPER_FAULT_ORDER == ("active+passive", "active", "passive", "basic")
    assert rg.PAPER_FAULT_ORDER == rg.paper_claim("fig7a-mitigation-order").value
    table = rg.paper_table1()
    assert table.loc["N-multipliers", "W4/A4 (%)"] == 93.50
    assert table.loc["fixed levels", "W3/A3 Δ FP (points)"] == -1.58
    labels = {*rg.VARIANT_LABELS.values(), *MITIGATIONS, *rg.VARIABILITY_METHODS}
    for claim in claims:
        if claim.compare.kind == "order":  # every order names the kit's labels
            assert set(claim.value) <= labels, claim.key
        if claim.where.get("table") in ("Table 5", "Table 6") and "accuracy" in claim.value:
            assert claim.compare.kind == "qualitative"
            assert rg._counterpart(claim) in (None, *MITIGATIONS, *rg.VARIABILITY_METHODS)


def test_every_quote_stands_in_the_paper():
    from imckit.papers.claims import papers

    paper = papers()["002"]
    source = ROOT.parent / "shared" / "seeds" / paper.source
    if not source.is_file():
        pytest.skip(f"the seed paper's text {source} is not here")
    text = source.read_text()
    for claim in paper.claims:
        assert claim.where["quote"] in text, claim.key


# ---------------------------------------------------------------------------------------------------------
# the experiments on a toy network (cached, reproducible, any device)


@pytest.fixture(scope="module")
def toy():
    dataset = toy_dataset(n_train=96, n_test=64, seed=0)
    torch.manual_seed(0)
    model = resnet8(in_channels=1, num_classes=4, width=0.25).eval()
    return SimpleNamespace(model=model, train_set=dataset.train, test_set=dataset.test,
                           spec=SimpleNamespace(model="resnet8"), data=SimpleNamespace(name="fashion-mnist"))


def _tiny_config(**kwargs):
    base = {"bit_widths": (3,), "train_images": 48, "qat_epochs": 1, "tune_epochs": 1, "test_images": 32,
            "hardware_bits": 3, "fault_rates": (0.0, 0.2), "sigmas": (0.2, 0.4), "remaps": 2, "chips": 2,
            "long_epochs": 2}
    return rg.RegularizationConfig(**{**base, **kwargs})


@pytest.fixture(scope="module")
def tiny_run(toy, tmp_path_factory):
    cache = tmp_path_factory.mktemp("regularization-cache")
    return rg.run(toy, _tiny_config(), seed=0, cache=cache), cache


def test_run_tables_cache_and_device(toy, tiny_run):
    result, cache = tiny_run
    config = _tiny_config()
    q, s, f, o, v = result.quantization, result.schedules, result.faults, result.order, result.variability
    assert list(q.table.index) == [rg.PTQ_LABEL] + [rg.VARIANT_LABELS[x] for x in rg.VARIANTS]
    assert list(q.table.columns) == ["W3"] and len(q.seconds) == 4
    assert ((q.table >= 0) & (q.table <= 100)).all().all()
    assert q.delta.loc["fixed levels", "W3"] == pytest.approx(q.table.loc["fixed levels", "W3"] - q.data.fp_accuracy)
    # the schedules: Table 1's fine-tune at the configured ramp, one more at the other
    assert list(s.table.index) == [("W3", "final 50 %"), ("W3", "final 10 %")] and len(s.seconds) == 1
    assert s.table.loc[("W3", "final 50 %"), "accuracy (%)"] == q.table.loc["N-multipliers", "W3"]
    assert set(s.histories) == {(3, 0.5), (3, 0.1)} and list(s.differences().index) == ["W3"]
    assert s.summary() == rg.schedule_sentence(s.table, q.data.tolerance)
    # the fault sweep: at rate 0 one fine-tune stands for the four levels
    assert list(f.table.index) == [0.0, 20.0] and f.table.loc[0.0, "faulty weights (%)"] == 0
    assert {*MITIGATIONS, *rg.FAULT_REFERENCES} <= set(f.table.columns)
    assert f.table.loc[0.0, list(MITIGATIONS)].nunique() == 1 and len(f.seconds) == 1 + 4
    assert 0 < f.table.loc[20.0, "faulty weights (%)"] < 100
    assert f.table.loc[0.0, rg.FAULT_REFERENCES[0]] == f.table.loc[0.0, rg.FAULT_REFERENCES[1]]
    # the order check: map 0 at tune_epochs is the sweep's point; other maps are other maps
    assert list(o.runs.index) == [(20.0, 1, 0), (20.0, 1, 1), (20.0, 2, 0), (20.0, 2, 1)]
    pd.testing.assert_series_equal(o.runs.loc[(20.0, 1, 0)], f.table.loc[20.0], check_names=False)
    assert o.runs.loc[(20.0, 1, 1), "faulty weights (%)"] != o.runs.loc[(20.0, 1, 0), "faulty weights (%)"]
    assert o.runs.loc[(20.0, 2, 0), "faulty weights (%)"] == o.runs.loc[(20.0, 1, 0), "faulty weights (%)"]
    assert len(o.seconds) == 3 * 4 and o.epochs == [1] * 4 + [2] * 8
    assert o.cells == [(20.0, 1), (20.0, 2)] and o.headline == (20.0, 2)
    cell = o.runs.loc[(20.0, 2), list(MITIGATIONS)]
    assert o.means(20.0, 2) == pytest.approx(cell.mean().to_dict())
    assert o.spread(20.0, 2) == pytest.approx(cell.std(ddof=1).max())
    assert o.tolerance(20.0, 2) == max(o.spread(20.0, 2), 1.5)  # at least the claim's tolerance
    summary = o.summary()
    assert list(summary.index) == o.cells and summary.loc[(20.0, 2), "fault maps"] == 2
    assert summary.loc[(20.0, 2), "paper's order"] == rg.order_verdict(o.means(20.0, 2), o.spread(20.0, 2)).verdict
    assert summary.loc[(20.0, 2), "tie tolerance (points)"] == round(o.tolerance(20.0, 2), 2)
    text = o.difference_sentence("active", "basic")
    d = o.means(20.0, 1)["active"] - o.means(20.0, 1)["basic"]
    assert text.startswith(f"Active minus basic, mean over the fault maps: {d:+.1f} points at 20 % after 1 epoch (")
    with pytest.raises(ValueError, match="a and b must be mitigation levels"):
        o.difference_sentence("active", "random")
    # the variability sweep
    assert list(v.table.index) == [0.2, 0.4] and len(v.seconds) == 4
    assert list(v.table.columns) == [*rg.VARIABILITY_REFERENCES, *rg.VARIABILITY_METHODS]
    assert q.levels.layer in q.data.modules and len(q.levels.ratios) == 3 and q.levels.moved >= 0
    assert result.paper_hours > 0 and result.computed > 0 and result.data is q.data is f.data is v.data is o.data
    assert result.tune_seconds == pytest.approx(sum(f.seconds + v.seconds) / 9)
    assert result.seconds == pytest.approx({"Table 1": sum(q.seconds), "lambda schedules": sum(s.seconds),
                                            "fault sweep": sum(f.seconds), "order check": sum(o.seconds),
                                            "variability sweep": sum(v.seconds)})
    assert isinstance(f, rg.FaultSweepResult) and isinstance(v, rg.VariabilitySweepResult)
    assert f.largest == 20.0 and f.last().name == 20.0 and v.largest == 0.4 and v.last().name == 0.4
    assert f.ranking() == rg.ranking_sentence(f.last())
    assert v.aware_verdict() == rg.aware_sentence(v.last()["variability-aware"], v.last()["chip-in-loop"],
                                                  q.data.tolerance)
    # a second run (also asking for "auto", which is the CPU here) computes nothing and gives the same numbers
    again = rg.run(toy, config, seed=0, cache=cache, device="auto")
    assert again.computed == 0
    for a, b in ((q, again.quantization), (f, again.faults), (v, again.variability), (s, again.schedules)):
        pd.testing.assert_frame_equal(a.table, b.table)
        assert a.seconds == b.seconds
    pd.testing.assert_frame_equal(o.runs, again.order.runs)
    # a different setting recomputes only what it changes: the Table 1 fine-tunes stay cached
    changed = rg.run_quantization(toy, _tiny_config(fault_rates=(0.1,)), seed=0, cache=cache)
    assert changed.computed == 0
    moved = rg.run_fault_sweep(toy, _tiny_config(fault_rates=(0.1,)), seed=0, cache=cache)
    assert moved.computed == 1 + 4  # one new sweep point with its four fine-tunes
    more = rg.run_fault_order(toy, _tiny_config(chips=3), seed=0, cache=cache)
    assert more.computed == 2 * (1 + 4)  # the third map at both lengths; the first two are cached


def test_scorecard_and_the_papers_tables_beside_the_kits_runs(toy, tiny_run):
    result, _ = tiny_run
    card = rg.scorecard(result, toy, "smoke")
    assert card.missing() == [] and len(card.rows) == 35
    table = card.table()
    assert set(table["verdict"]) <= {"reproduced", "same direction", "differs", "not comparable"}
    q, f, data = result.quantization, result.faults, result.data
    # 4-bit claims: this run has only 3 bits
    assert card.rows["002/table1-w4-variant-order"].kit is None
    assert card.verdict("002/table1-w4-variant-order").verdict == "not comparable"
    assert card.rows["002/table1-fixed-w3-vs-float"].kit == pytest.approx(q.delta.loc["fixed levels", "W3"])
    assert card.rows["002/table2-w3-variant-order"].kit == {
        label: q.table.loc[label, "W3"] for label in ("N-multipliers", "N-multipliers + STE")}
    # the order: the order check's means at its headline cell, judged by the same verdict function
    means = result.order.means(*result.order.headline)
    assert card.rows["002/fig7a-mitigation-order"].kit == means
    assert card.rows["002/abstract-fault-recovery-20"].kit == {m: means[m] for m in ("active+passive", "passive")}
    # the 3-bit "tolerates 30 %" claim: the sweep has no 30 %; the 4-bit ones: the run is at 3 bits
    assert card.rows["002/sec52-vgg13-3bit-tolerates-30"].kit is None
    assert card.rows["002/sec52-vgg13-4bit-tolerates-20"].kit is None
    assert "hardware_bits=3, not 4" in card.rows["002/sec52-vgg13-4bit-tolerates-20"].note
    assert card.rows["002/table5-eden-resnet101-4"].note == "the kit runs no counterpart of this method"
    # Tables 5 and 6: the counterpart at the same rate, else nothing; never comparable
    faq = card.rows["002/table5-faq-resnet18-20"].kit
    assert faq == {"accuracy": f.table.loc[20.0, "passive"], "Δ FP": f.table.loc[20.0, "passive"] - data.fp_accuracy,
                   "bit-fault rate": 20.0}
    assert card.rows["002/table5-qfalt-cnn-10"].kit is None  # 10 % is not swept here
    assert card.rows["002/table5-eden-resnet101-4"].kit is None
    aware40 = card.rows["002/table6-ours-resnet18-40"].kit
    assert aware40["accuracy"] == result.variability.table.loc[0.4, "variability-aware"] and aware40["σ/μ"] == 40.0
    assert card.rows["002/table6-neurosim-vgg8-2"].kit is None
    for key, row in card.rows.items():
        if key.split("/")[1].startswith(("table5", "table6", "sec52")):
            assert row.verdict.verdict == "not comparable"
    settings = rg.kit_setting_for(result, toy)
    five = rg.paper_rows("Table 5", f, settings["sweep"])
    assert len(five) == 11 and set(five["verdict"]) == {"not comparable"}
    faq_row = five[five["paper's row"] == "FAQ"].iloc[0]
    assert faq_row["kit's method"] == "passive" and faq_row["kit: accuracy (%)"] == f.table.loc[20.0, "passive"]
    assert "dataset: CIFAR-10 → Fashion-MNIST" in faq_row["setting difference"]
    assert five[five["paper's row"] == "EDEN"]["kit's method"].tolist() == ["—", "—"]
    six = rg.paper_rows("Table 6", result.variability, settings["sweep"])
    assert len(six) == 7 and six["σ/μ (%)"].tolist() == [2, 3, 20, 20, 40, 20, 20]
    assert six["kit: accuracy (%)"].isna().tolist() == [True, True, False, False, False, False, False]
    with pytest.raises(ValueError, match="table must be 'Table 5' or 'Table 6'"):
        rg.paper_rows("Table 4", f, settings["sweep"])


def test_paper_hours_by_hand():
    config = rg.RegularizationConfig(bit_widths=(4,), qat_epochs=1, tune_epochs=1, fault_rates=(0.0,), sigmas=(0.1,),
                                     chips=1, long_epochs=1)
    data = SimpleNamespace(train_set=[0] * 100, all_train_images=1000)
    quantization = SimpleNamespace(config=config, data=data, seconds=[1.0] * 4, computed=0)
    schedules = SimpleNamespace(seconds=[1.0], computed=0)  # the other schedule's fine-tune
    faults = SimpleNamespace(seconds=[2.0], computed=0)  # rate 0: one fine-tune for the four levels
    order = SimpleNamespace(seconds=[], computed=0)  # no non-zero rate: nothing to order
    variability = SimpleNamespace(seconds=[2.0] * 2, computed=0)
    result = rg.RegularizationResult(quantization, schedules, faults, order, variability)
    # here: 5 QAT epochs (4 variants + the other schedule) and 3 tuning epochs, 100 images: 0.01 s per image
    # and QAT epoch, 0.02 s per image and tuning epoch. The paper profile: 2 widths x 5 runs x 30 epochs of QAT
    # = 300; tuning (1 + 4 x 4) x 20 (sweep) + 2 rates x 4 levels x 2 new maps x 20 (order check)
    # + 2 x 5 x 20 (variability) = 340 + 320 + 200 = 860; on 1,000 images: 1000 x (3 + 17.2) s
    assert result.tune_seconds == 2.0 and result.paper_hours == pytest.approx(1000 * (300 * 0.01 + 860 * 0.02) / 3600)
    assert result.seconds == {"Table 1": 4.0, "lambda schedules": 1.0, "fault sweep": 2.0, "order check": 0.0,
                              "variability sweep": 4.0}


def test_run_checks_its_arguments(toy):
    with pytest.raises(TypeError, match="^config must be a RegularizationConfig"):
        rg.run_quantization(toy, {"bit_widths": (3,)})
    with pytest.raises(ValueError, match=r"^seed must be an integer in \[0, 2\*\*63 - 1\]"):
        rg.run_fault_sweep(toy, _tiny_config(), seed=-1)
    with pytest.raises(ValueError, match="device must be one of"):
        rg.run_variability_sweep(toy, _tiny_config(), device="tpu")

