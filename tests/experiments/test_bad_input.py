"""Bad chapter parameters fail at once, naming the parameter (issue 17).

Every case gives one malformed value to a chapter's preset (the notebooks' papermill parameters), config or
entry point and asserts the exact parameter named at the start of the message; none of them loads data or
trains anything (a fake baseline of 8 blank images stands in where an entry point needs one, and every
case fails before it is used).
"""

import math
import types

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from imckit.compensation.compensate import CompensationConfig
from imckit.core.data import ImageTensors
from imckit.core.models import build_model
from imckit.experiments import baseline as bl
from imckit.experiments import compensation as cp
from imckit.experiments import fefet as fe
from imckit.experiments import hardware as hw
from imckit.experiments import hessian as hs
from imckit.experiments import quantization as qu
from imckit.experiments import regularization as rg
from imckit.experiments import search as se
from imckit.experiments import sensitivity as sn
from imckit.experiments.compensation_steps import compensation_runs
from imckit.experiments.quantization_steps import uniform_quantization
from imckit.experiments.regularization_steps import chip_seeds
from imckit.experiments.search_steps import search_front

NAN, INF = float("nan"), float("inf")
PRESETS = {
    "baseline": bl.BaselineConfig.preset, "fefet": fe.FefetConfig.preset, "quantization": qu.QuantizationConfig.preset,
    "sensitivity": sn.SensitivityConfig.preset, "search": se.SearchConfig.preset,
    "compensation": cp.CompensationChapterConfig.preset, "hessian": hs.HessianConfig.preset,
    "regularization": rg.RegularizationConfig.preset, "hardware": hw.HardwareConfig.preset,
}
SEEDED = ("baseline", "fefet", "quantization", "sensitivity", "search", "compensation", "hardware")  # presets with a seed
COUNTS = {  # the notebooks' count parameters (0: the profile's, where the notebook says so)
    "fefet": ("arrays", "wordlines", "bitlines", "fit_arrays"),
    "sensitivity": ("repetitions", "test_images"),
    "search": ("population", "generations", "simulated_genomes", "simulation_repetitions"),
    "compensation": ("patterns", "ablation_patterns", "train_images", "validation_images"),
    "hessian": ("hessian_images", "probes", "test_images", "high_bits", "low_bits", "contrast_low_bits", "cell_bits"),
    "regularization": ("activation_bits", "train_images", "qat_epochs", "tune_epochs", "test_images", "hardware_bits",
                       "remaps", "chips", "long_epochs"),
    "hardware": ("crossbar_size", "parallel_crossbars", "input_bits", "evaluations", "repeats"),
}
SHARES = {  # probabilities, rates and shares: finite numbers in [0, 1] (or a sub-range)
    "fefet": ("target_ber",),
    "hessian": ("probe_tolerance", "ratio_step", "joint_weight", "table4_ratio", "table2_ratio"),
    "regularization": ("sa1_share", "qat_ramp", "tune_ramp"),
}
NUMBERS = {  # other finite numbers (learning rates, tolerances, limits)
    "search": ("region_a_max", "region_b_max"),
    "compensation": ("compensation_lr",),
    "hessian": ("fim_tolerance", "accuracy_drop"),
    "regularization": ("quantizer_lr",),
}
CHOICES = {
    "baseline": ("dataset",), "quantization": ("histogram_config",), "sensitivity": ("network",),
    "search": ("network",), "compensation": ("network",), "hessian": ("score_diagonal", "energy_model"),
    "hardware": ("network", "cell_bits"),
}
LISTS = {
    "compensation": ("memory_targets",), "hessian": ("crossbar_sizes",),
    "regularization": ("bit_widths", "fault_rates", "sigmas"),
    "hardware": ("weight_bits", "budget_fractions"),
}


def _cases(table, values):
    return [pytest.param(chapter, name, value, id=f"{chapter}-{name}-{value!r}")
            for chapter, names in table.items() for name in names for value in values]


def _fails_naming(name, call):
    """``call()`` raises a ValueError or TypeError whose message starts with ``name`` (an item of a list
    parameter is named ``name[k]``)."""
    with pytest.raises((ValueError, TypeError)) as error:
        call()
    message = str(error.value)
    assert message.startswith((f"{name} must be", f"{name}[")), message
    return message


@pytest.mark.parametrize("chapter", list(PRESETS))
@pytest.mark.parametrize("profile", ["tiny", "", None, 3, ["smoke"]])
def test_unknown_profile(chapter, profile):
    message = _fails_naming("profile", lambda: PRESETS[chapter](profile))
    assert "'smoke', 'default', 'paper'" in message


@pytest.mark.parametrize("chapter", SEEDED)
@pytest.mark.parametrize("seed", [-1, 2.5, 2.0, True, "0", None, 2**63, NAN])
def test_bad_seed(chapter, seed):
    message = _fails_naming("seed", lambda: PRESETS[chapter]("smoke", seed=seed))
    assert "an integer in [0, 2**63 - 1]" in message


@pytest.mark.parametrize("chapter, name, value", _cases(COUNTS, [-7, 2.5, 3.0, True, "3", NAN, [2]]))
def test_bad_count(chapter, name, value):
    _fails_naming(name, lambda: PRESETS[chapter]("smoke", **{name: value}))


@pytest.mark.parametrize("chapter, name, value", _cases(SHARES, [NAN, INF, -0.1, 1.5, "0.5", True, None]))
def test_bad_share(chapter, name, value):
    _fails_naming(name, lambda: PRESETS[chapter]("smoke", **{name: value}))


@pytest.mark.parametrize("chapter, name, value", _cases(NUMBERS, [NAN, INF, -INF, "1", True, None, [1.0]]))
def test_bad_number(chapter, name, value):
    _fails_naming(name, lambda: PRESETS[chapter]("smoke", **{name: value}))


@pytest.mark.parametrize("chapter, name, value", _cases(CHOICES, ["bogus", "", None, 3, ["x"], {"a": 1}]))
def test_bad_choice(chapter, name, value):
    message = _fails_naming(name, lambda: PRESETS[chapter]("smoke", **{name: value}))
    assert "must be one of" in message


@pytest.mark.parametrize("chapter, name, value",
                         _cases(LISTS, ["abc", 3, None, {"a": 1}, [NAN], [INF], [True], [-1], ["4"], [[4]]]))
def test_bad_list(chapter, name, value):
    _fails_naming(name, lambda: PRESETS[chapter]("smoke", **{name: value}))


@pytest.mark.parametrize("call, name", [
    (lambda: cp.CompensationChapterConfig.preset("smoke", fresh_write_errors=1), "fresh_write_errors"),
    (lambda: cp.CompensationChapterConfig.preset("smoke", fresh_write_errors="no"), "fresh_write_errors"),
    (lambda: cp.CompensationChapterConfig.preset("smoke", patterns=2, ablation_patterns=3), "ablation_patterns"),
    (lambda: se.SearchConfig.preset("smoke", population=3), "population"),
    (lambda: se.SearchConfig.preset("smoke", region_a_max=5.0, region_b_max=1.0), "region_b_max"),
    (lambda: sn.SensitivityConfig.preset("smoke", repetitions=10**30), "repetitions"),
    (lambda: rg.RegularizationConfig.preset("smoke", fault_rates=[0.1] * 501), "fault_rates"),
    (lambda: hs.HessianConfig.preset("smoke", crossbar_sizes=[128, 128]), "crossbar_sizes"),
    (lambda: hs.HessianConfig.preset("smoke", high_bits=8.0), "high_bits"),
    (lambda: qu.QuantizationConfig.preset("smoke", histogram_layer=3), "histogram_layer"),
    (lambda: qu.QuantizationConfig(bits=(8, 2.0)), "bits"),
    (lambda: qu.QuantizationConfig(aware_epochs=(1, 1)), "aware_epochs"),
    (lambda: sn.TableConfig(2, 10, alpha="ternary"), "alpha"),
    (lambda: sn.SensitivityConfig(sn.TableConfig(2, 10), tolerance=NAN), "tolerance"),
    (lambda: se.SearchConfig(sn.TableConfig(2, 10), regions=(1.0,)), "regions"),
    (lambda: se.SearchConfig(sn.TableConfig(2, 10), hypervolume_target=0), "hypervolume_target"),
    (lambda: se.SearchConfig(sn.TableConfig(2, 10), seed=-1), "seed"),
    (lambda: cp.CompensationChapterConfig(sn.TableConfig(2, 10), seed=1.5), "seed"),
    (lambda: fe.FefetConfig(seed=2**63 - 1), "seed"),  # the fit's campaign uses seed + 1
])
def test_family_edges(call, name):
    _fails_naming(name, call)


# ---------------------------------------------------------------------------------------------------------
# entry points: each fails before any work


@pytest.fixture(scope="module")
def fake():
    model = build_model("resnet8", in_channels=1, num_classes=10)
    images = ImageTensors(torch.zeros(8, 1, 28, 28), torch.zeros(8, dtype=torch.long))
    return types.SimpleNamespace(model=model, train_set=images, test_set=images)


RUNS = {
    "quantization": (qu.run, lambda: qu.QuantizationConfig.preset("smoke")),
    "sensitivity": (sn.run, lambda: sn.SensitivityConfig.preset("smoke")),
    "search": (se.run, lambda: se.SearchConfig.preset("smoke")),
    "compensation": (cp.run, lambda: cp.CompensationChapterConfig.preset("smoke")),
    "regularization": (rg.run, lambda: rg.RegularizationConfig.preset("smoke")),
    "hardware": (hw.run, lambda: hw.HardwareConfig.preset("smoke")),
}


def _run(chapter, fake, config=None, **kwargs):
    if chapter == "baseline":
        return bl.run(config or bl.BaselineConfig.preset("smoke"), **kwargs)
    if chapter == "hessian":
        return hs.run(fake.model, fake.train_set, fake.test_set, config or hs.HessianConfig.preset("smoke"), **kwargs)
    run, preset = RUNS[chapter]
    return run(fake, config or preset(), **kwargs)


@pytest.mark.parametrize("chapter", ["baseline", "hessian", *RUNS])
@pytest.mark.parametrize("device", ["tpu", "", 3, "cuda:x"])
def test_run_checks_the_device_first(chapter, device, fake):
    message = _fails_naming("device", lambda: _run(chapter, fake, device=device))
    assert "'cpu', 'cuda', 'auto'" in message


@pytest.mark.parametrize("chapter", ["baseline", "hessian", *RUNS])
def test_run_checks_the_config_type(chapter, fake):
    with pytest.raises(TypeError, match="^config must be a"):
        _run(chapter, fake, config={"profile": "smoke"})


@pytest.mark.parametrize("seed", [-1, 2.5, True, "0", 2**63])
def test_run_checks_the_seed(seed, fake):
    _fails_naming("seed", lambda: _run("hessian", fake, seed=seed))
    _fails_naming("seed", lambda: _run("regularization", fake, seed=seed))


def test_regularization_seed_leaves_room_for_its_chips(fake):
    message = _fails_naming("seed", lambda: _run("regularization", fake, seed=10**17))
    assert "[0, 9223372036754" in message
    _fails_naming("seed", lambda: chip_seeds("faults", 10**17, 0))
    _fails_naming("index", lambda: chip_seeds("faults", 0, 500))


@pytest.mark.parametrize("kwargs, name", [
    ({"progress": 1}, "progress"), ({"data_root": 3}, "data_root"), ({"device": None}, "device"),
])
def test_baseline_entry_points_check_before_training(kwargs, name):
    _fails_naming(name, lambda: bl.run(bl.BaselineConfig.preset("smoke"), **kwargs))
    _fails_naming(name, lambda: bl.load_baseline("smoke", **kwargs))


@pytest.mark.parametrize("kwargs, name", [
    ({"bits": ()}, "bits"), ({"bits": (8, 0)}, "bits"), ({"bits": (2.0,)}, "bits"), ({"bits": "8"}, "bits"),
    ({"alphas": ()}, "alphas"), ({"alphas": ("po2",)}, "alphas"), ({"alphas": None}, "alphas"),
    ({"device": "tpu"}, "device"),
])
def test_uniform_quantization_checks_before_evaluating(kwargs, name, fake):
    _fails_naming(name, lambda: uniform_quantization(fake.model, fake.test_set, cache="", **kwargs))


@pytest.mark.parametrize("memory, loss, name", [
    (np.ones((2, 2)), np.ones((2, 3)), "loss"), (np.ones((0, 2)), np.ones((0, 2)), "memory"),
    (np.full((2, 2), INF), np.ones((2, 2)), "memory"), ("abc", np.ones((2, 2)), "memory"),
    (np.ones(3), np.ones(3), "memory"), (np.array([[NAN, NAN], [1, 1]]), np.array([[NAN, NAN], [1, 1]]), "memory"),
    (np.array([[NAN, 1], [1, 1]]), np.ones((2, 2)), "loss"),
])
def test_search_front_checks_its_tables(memory, loss, name):
    _fails_naming(name, lambda: search_front(memory, loss, cache=""))


@pytest.mark.parametrize("kwargs, name", [({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"method": "ga"}, "method"),
                                          ({"config": {"population": 8}}, "config")])
def test_search_front_checks_its_settings(kwargs, name):
    _fails_naming(name, lambda: search_front(np.ones((2, 2)), np.ones((2, 2)), cache="", **kwargs))


@pytest.mark.parametrize("patterns, seed, name", [(0, 0, "patterns"), (2.5, 0, "patterns"), (True, 0, "patterns"),
                                                  (2, -1, "seed"), (2, "0", "seed")])
def test_compensation_runs_check_before_training(patterns, seed, name, fake):
    _fails_naming(name, lambda: compensation_runs(fake.model, fake.train_set, fake.test_set, {}, patterns, seed,
                                                  CompensationConfig(), cache=""))


@pytest.mark.parametrize("call, name", [
    (lambda m: qu.read_layer_once(m, "nope", qu.QuantizationConfig().cell_config), "histogram_layer"),
    (lambda m: qu.read_layer_once(m, "stack2.conv2", qu.QuantizationConfig().cell_config, seed=-1), "seed"),
    (lambda m: qu.chance_accuracy([0.5, 1.5]), "labels"),
    (lambda m: qu.chance_accuracy([]), "labels"),
    (lambda m: qu.near_chance(NAN, 10.0), "accuracy"),
    (lambda m: qu.near_chance(50.0, 10.0, margin=-1), "margin"),
    (lambda m: fe.far_error_share([[NAN, 0.0], [0.0, 1.0]]), "matrix"),
    (lambda m: fe.far_error_share([[2.0, 0.0], [0.0, 1.0]]), "matrix"),
    (lambda m: fe.state_table("FeFET"), "device"),
    (lambda m: se.spread_picks(3, 2.5), "count"),
    (lambda m: se.rate_fluctuation(np.arange(30.0), NAN), "share"),
    (lambda m: cp.t_interval([1.0, 2.0], confidence=NAN), "confidence"),
    (lambda m: cp.count_word(-1), "n"),
    (lambda m: cp.closest_solution({"a": 1.0}, NAN), "target"),
    (lambda m: hs.visible(NAN), "p"),
    (lambda m: hs.change_percent(INF, 1.0), "ours"),
    (lambda m: hs.alignment_empties_most_layers(3, 2), "emptied"),
    (lambda m: bl.fit_paper_widths(in_channels=2.0), "in_channels"),
    (lambda m: bl.fit_paper_widths(devices=NAN), "devices"),
    (lambda m: bl.resnet8_layer_weights((16, 32, 64), 1, num_classes=0), "num_classes"),
])
def test_small_functions_name_their_parameter(call, name, fake):
    _fails_naming(name, lambda: call(fake.model))


# ---------------------------------------------------------------------------------------------------------
# property: a preset either builds a config or names one of the parameters it was given

GOOD_OR_BAD = st.one_of(st.integers(-3, 300), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                        st.none(), st.sampled_from(["", "smoke", "x"]),
                        st.lists(st.one_of(st.integers(-1, 9), st.floats(-1, 2)), max_size=3))
PARAMETERS = {
    "fefet": ("seed", "target_ber", "arrays", "wordlines", "bitlines", "fit_arrays"),
    "sensitivity": ("seed", "repetitions", "test_images"),
    "search": ("seed", "population", "generations", "region_a_max", "region_b_max", "simulated_genomes",
               "simulation_repetitions"),
    "compensation": ("seed", "memory_targets", "patterns", "ablation_patterns", "train_images", "compensation_lr",
                     "validation_images"),
    "hessian": ("hessian_images", "probes", "probe_tolerance", "ratio_step", "fim_tolerance", "joint_weight",
                "crossbar_sizes", "cell_bits", "table4_ratio"),
    "regularization": ("bit_widths", "activation_bits", "train_images", "qat_epochs", "fault_rates", "sa1_share",
                       "remaps", "quantizer_lr", "qat_ramp", "chips"),
    "hardware": ("seed", "crossbar_size", "parallel_crossbars", "input_bits", "weight_bits", "evaluations", "repeats",
                 "budget_fractions"),
}


@given(st.sampled_from(sorted(PARAMETERS)), st.data())
def test_presets_build_or_name_a_given_parameter(chapter, data):
    names = data.draw(st.lists(st.sampled_from(PARAMETERS[chapter]), min_size=1, max_size=3, unique=True))
    kwargs = {name: data.draw(GOOD_OR_BAD, label=name) for name in names}
    try:
        config = PRESETS[chapter]("smoke", **kwargs)
    except (ValueError, TypeError) as error:
        message = str(error)
        assert message.startswith(tuple(f"{n} must be" for n in names) + tuple(f"{n}[" for n in names)) \
            or (chapter == "search" and message.startswith("region_b_max must be a finite number >= region_a_max")) \
            or (chapter == "compensation" and message.startswith("ablation_patterns must be")), message
        return
    for value in vars(config).values():  # what was accepted is a usable value: no NaN, no infinity
        if isinstance(value, float):
            assert math.isfinite(value)


def test_good_values_still_pass_unchanged():
    assert hs.HessianConfig.preset("smoke", test_images=None).test_images is None  # every test image
    assert se.SearchConfig.preset("smoke", simulated_genomes=np.int64(0)).simulated_genomes == 4  # 0: the profile's
    assert sn.SensitivityConfig.preset("smoke", repetitions=np.int64(3)).table.repetitions == 3
    assert type(sn.SensitivityConfig.preset("smoke", repetitions=np.int64(3)).table.repetitions) is int
    assert fe.FefetConfig(seed=2**63 - 2).seed == 2**63 - 2
    assert rg.RegularizationConfig.preset("smoke", quantizer_lr=0).quantizer_lr is None  # 0: the paper's
