import math
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from imckit.core.models import resnet8
from imckit.experiments import regularization as rg
from tests.conftest import toy_dataset

# ---------------------------------------------------------------------------------------------------------
# config and presets


def test_presets_hold_the_profile_sizes():
    smoke, default, paper = (rg.RegularizationConfig.preset(p) for p in ("smoke", "default", "paper"))
    assert (smoke.train_images, smoke.qat_epochs, smoke.tune_epochs, smoke.test_images) == (512, 1, 1, 256)
    assert (default.train_images, default.qat_epochs, default.tune_epochs, default.test_images) == (8000, 3, 2, 2000)
    assert (paper.train_images, paper.qat_epochs, paper.tune_epochs, paper.test_images) == (None, 30, 20, None)
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
    ({"bit_widths": [9]}, r"bit_widths must be .* got \[9\]"),
    ({"activation_bits": 1}, r"activation_bits must be 0 \(the weight bits\), -1 \(float\) or an integer in \[2, 16\]"),
    ({"fault_rates": [0.1, 1.5]}, r"fault_rates must be a non-empty list of numbers in \[0, 1\]; got \[0.1, 1.5\]"),
    ({"sigmas": []}, r"sigmas must be a non-empty list"),
    ({"sa1_share": 2}, r"sa1_share must be a number in \[0, 1\]; got 2"),
    ({"hardware_bits": 1}, r"hardware_bits must be an integer \[2, 8\]; got 1"),
    ({"remaps": -1}, r"remaps must be an integer >= 0; got -1"),
    ({"train_images": -5}, r"train_images must be an integer >= 0; got -5"),
    ({"quantizer_lr": -1.0}, r"quantizer_lr must be 0 \(the paper's\) or a number in \(0, 10\]; got -1.0"),
])
def test_bad_parameters_name_the_parameter_range_and_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
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
    with pytest.raises(ValueError, match="tolerance must be a number >= 0"):
        rg.compare(1, 2, -1)


def test_mitigation_ranking_keeps_the_given_order_on_ties():
    row = {"basic": 11.7, "passive": 17.2, "active": 11.7, "active+passive": 17.6, "other": 99.0}
    assert rg.mitigation_ranking(row) == ["active+passive", "passive", "basic", "active"]
    assert rg.ranking_sentence(row) == "active+passive 17.6 %, passive 17.2 %, basic 11.7 %, active 11.7 %"
    assert rg.mitigation_ranking(row, ["active", "basic"]) == ["active", "basic"]
    with pytest.raises(ValueError, match="no accuracy for"):
        rg.mitigation_ranking({"basic": 1.0})


def test_order_agreement_cases():
    order = ("a", "b", "c")
    assert rg.order_agreement({"a": 3.0, "b": 2.0, "c": 1.0}, order, 0.5) == "agrees"
    assert rg.order_agreement({"a": 3.0, "b": 3.0, "c": 1.0}, order, 0.0) == "within noise"  # a tie is no inversion
    assert rg.order_agreement({"a": 2.0, "b": 2.5, "c": 1.0}, order, 0.5) == "within noise"  # inverted by exactly 0.5
    assert rg.order_agreement({"a": 2.0, "b": 2.75, "c": 1.0}, order, 0.5) == "differs"
    assert rg.order_agreement({"a": 3.0, "b": 2.0, "c": 3.75}, order, 0.5) == "differs"  # c ahead of a
    with pytest.raises(ValueError, match="no entry for"):
        rg.order_agreement({"a": 1.0}, order, 0.5)
    with pytest.raises(ValueError, match="at least two distinct"):
        rg.order_agreement({"a": 1.0}, ("a", "a"), 0.5)


def test_paper_order_sentence_picks_the_largest_inversion():
    good = {"active+passive": 90.0, "active": 80.0, "passive": 70.0, "basic": 60.0}
    assert rg.paper_order_sentence(good, 1.0) == "This is the paper's order."
    noisy = dict(good, basic=70.5)  # ahead of passive by 0.5 <= 1
    assert "within noise" in rg.paper_order_sentence(noisy, 1.0)
    bad = {"active+passive": 17.6, "active": 11.7, "passive": 17.2, "basic": 11.7}
    text = rg.paper_order_sentence(bad, 2.0)
    assert text.startswith("This differs from the paper's order by more than noise: passive is 5.5 points ahead "
                           "of active")


def test_multipliers_sentence_noise_and_beyond():
    table = _table1([70, 68.0, 68, 68.5, 67], [60, 60.0, 60, 61.0, 60])
    within = rg.multipliers_sentence(table, 1.0)
    assert "+0.50 points at 4 bits, +1.00 points at 3 bits" in within and "all within noise (1.0 points" in within
    beyond = rg.multipliers_sentence(table, 0.75)
    assert beyond.endswith("N-multipliers are better at 3 bits.")
    worse = rg.multipliers_sentence(_table1([70, 68.0, 68, 66.0, 67]), 1.0)
    assert worse.endswith("N-multipliers are worse at 4 bits.")


def test_aware_sentence():
    assert "within noise" in rg.aware_sentence(20.0, 21.0, 1.0)
    assert rg.aware_sentence(30.0, 20.0, 2.0).startswith("Variability-aware fine-tuning is better by 10.0 points")
    assert "as in the paper" in rg.aware_sentence(30.0, 20.0, 2.0)
    assert "unlike the paper" in rg.aware_sentence(20.7, 41.8, 7.9)


# ---------------------------------------------------------------------------------------------------------
# the experiments on a toy network (cached, reproducible, any device)


@pytest.fixture(scope="module")
def toy():
    dataset = toy_dataset(n_train=96, n_test=64, seed=0)
    torch.manual_seed(0)
    model = resnet8(in_channels=1, num_classes=4, width=0.25).eval()
    return SimpleNamespace(model=model, train_set=dataset.train, test_set=dataset.test)


def _tiny_config(**kwargs):
    base = {"bit_widths": (3,), "train_images": 48, "qat_epochs": 1, "tune_epochs": 1, "test_images": 32,
            "hardware_bits": 3, "fault_rates": (0.0, 0.3), "sigmas": (0.1, 0.4), "remaps": 2}
    return rg.RegularizationConfig(**{**base, **kwargs})


def test_run_tables_cache_and_device(toy, tmp_path):
    config = _tiny_config()
    result = rg.run(toy, config, seed=0, cache=tmp_path)
    q, f, v = result.quantization, result.faults, result.variability
    assert list(q.table.index) == [rg.PTQ_LABEL] + [rg.VARIANT_LABELS[x] for x in rg.VARIANTS]
    assert list(q.table.columns) == ["W3"] and len(q.seconds) == 4
    assert ((q.table >= 0) & (q.table <= 100)).all().all()
    assert q.delta.loc["fixed levels", "W3"] == pytest.approx(q.table.loc["fixed levels", "W3"] - q.data.fp_accuracy)
    assert list(f.table.index) == [0.0, 30.0] and f.table.loc[0.0, "faulty weights (%)"] == 0
    assert {"basic", "passive", "active", "active+passive", *rg.FAULT_REFERENCES} <= set(f.table.columns)
    assert 0 < f.table.loc[30.0, "faulty weights (%)"] < 100 and len(f.seconds) == 8
    # without faults every mitigation deploys the same network as ... nothing to remap: the references agree
    assert f.table.loc[0.0, rg.FAULT_REFERENCES[0]] == f.table.loc[0.0, rg.FAULT_REFERENCES[1]]
    assert list(v.table.index) == [0.1, 0.4] and len(v.seconds) == 4
    assert list(v.table.columns) == [*rg.VARIABILITY_REFERENCES, *rg.VARIABILITY_METHODS]
    assert q.levels.layer in q.data.modules and len(q.levels.ratios) == 3 and q.levels.moved >= 0
    assert result.paper_hours > 0 and result.computed > 0 and result.data is q.data is f.data is v.data
    assert result.tune_seconds == pytest.approx(sum(f.seconds + v.seconds) / 12)
    assert isinstance(f, rg.FaultSweepResult) and isinstance(v, rg.VariabilitySweepResult)
    assert f.largest == 30.0 and f.last().name == 30.0 and v.largest == 0.4 and v.last().name == 0.4
    assert f.ranking() == rg.ranking_sentence(f.last())
    assert f.paper_order_verdict() == rg.paper_order_sentence(f.last(), q.data.tolerance)
    assert v.aware_verdict() == rg.aware_sentence(v.last()["variability-aware"], v.last()["chip-in-loop"],
                                                  q.data.tolerance)
    # a second run (also asking for "auto", which is the CPU here) computes nothing and gives the same numbers
    again = rg.run(toy, config, seed=0, cache=tmp_path, device="auto")
    assert again.computed == 0
    for a, b in ((q, again.quantization), (f, again.faults), (v, again.variability)):
        pd.testing.assert_frame_equal(a.table, b.table)
        assert a.seconds == b.seconds
    # a different setting recomputes only what it changes: the Table 1 fine-tunes stay cached
    changed = rg.run_quantization(toy, _tiny_config(fault_rates=(0.1,)), seed=0, cache=tmp_path)
    assert changed.computed == 0
    moved = rg.run_fault_sweep(toy, _tiny_config(fault_rates=(0.1,)), seed=0, cache=tmp_path)
    assert moved.computed == 1 + 4  # one new sweep point with its four fine-tunes


def test_paper_hours_by_hand():
    config = rg.RegularizationConfig(bit_widths=(4,), qat_epochs=1, tune_epochs=1, fault_rates=(0.0,), sigmas=(0.1,))
    data = SimpleNamespace(train_set=[0] * 100, all_train_images=1000)
    quantization = SimpleNamespace(config=config, data=data, seconds=[1.0] * 4, computed=0)
    faults, variability = SimpleNamespace(seconds=[2.0] * 4, computed=0), SimpleNamespace(seconds=[2.0] * 2, computed=0)
    result = rg.RegularizationResult(quantization, faults, variability)
    # 0.01 s per image and QAT epoch, 0.02 s per image and tuning epoch; the paper profile on 1,000 images:
    # 4 variants x 30 epochs x 0.01 s + (4 fault + 2 variability fine-tunes) x 20 epochs x 0.02 s = 3.6 s/image
    assert result.tune_seconds == 2.0 and result.paper_hours == pytest.approx(1.0)


def test_run_checks_its_arguments(toy):
    with pytest.raises(ValueError, match="config must be a RegularizationConfig"):
        rg.run_quantization(toy, {"bit_widths": (3,)})
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        rg.run_fault_sweep(toy, _tiny_config(), seed=-1)
    with pytest.raises(ValueError, match="device must be one of"):
        rg.run_variability_sweep(toy, _tiny_config(), device="tpu")

