"""Bad input to imckit.qat: every case raises ValueError or TypeError naming the exact parameter (issue 17),
by family: rates and probabilities, seeds and generators, counts and word lengths, tensors (NaN, infinite,
empty, wrong dimensions), maps, module names, choices and flags."""

import pytest
import torch
from torch import nn

from imckit.core.data import ImageTensors
from imckit.qat import (FaultMap, LevelQuantizer, LSQActivation, QATConfig, attach_input_quantizers, bit_patterns,
                        deploy, evaluate_weights, faulty_weight_share, forced_level, lambda_schedule, layer_alpha,
                        layer_fault_maps, layer_lrs_multipliers, lrs_multipliers, map_to_levels, nearest_level,
                        post_training, quantized_modules, realized_weights, regularization_loss, ste_quantize,
                        stuck_at_faults, train_qat, validity_mask, weight_levels)

NAN, INF = float("nan"), float("inf")


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _nan(t):
    t = t.clone().float()
    t.view(-1)[0] = NAN
    return t


MODEL = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 4)).eval()
X = torch.randn(6, 2, 4, 4, generator=_g(1))
DATA = ImageTensors(X, torch.tensor([0, 1, 2, 3, 0, 1]))
LEVELS = torch.linspace(-1, 1, 16)
W = torch.randn(10, generator=_g(2))
ONES = torch.ones(4)
ZERO = torch.tensor(0.0)


def _raises(call, parameter):
    with pytest.raises((ValueError, TypeError), match=rf"^{parameter} must"):
        call()


@pytest.mark.parametrize("value", [NAN, INF, -0.1, 1.5, True, "0.1", None])
@pytest.mark.parametrize("call,parameter", [
    (lambda v: stuck_at_faults(10, 4, v, _g()), "rate"),
    (lambda v: stuck_at_faults(10, 4, 0.1, _g(), sa1_share=v), "sa1_share"),
    (lambda v: layer_fault_maps({"a": 10}, 4, v, _g()), "rate"),
    (lambda v: FaultMap(torch.zeros(2, 3, dtype=torch.bool), torch.zeros(2, 3, dtype=torch.bool), v), "rate"),
    (lambda v: lrs_multipliers(10, 4, v, _g()), "sigma_over_mu"),
    (lambda v: layer_lrs_multipliers({"a": 10}, 4, v, _g()), "sigma_over_mu"),
    (lambda v: lambda_schedule(v, 1.0, 2.0, 0.5), "progress"),
    (lambda v: lambda_schedule(0.5, 1.0, 2.0, v), "ramp"),
    (lambda v: QATConfig(ramp=v), "ramp"),
])
def test_rates_and_shares_are_finite_numbers_in_0_1(call, parameter, value):
    _raises(lambda: call(value), parameter)


@pytest.mark.parametrize("value", [NAN, INF, 0, -1.0, True, "1"])
@pytest.mark.parametrize("call,parameter", [
    (lambda v: lambda_schedule(0.5, v, 2.0, 0.5), "start"),
    (lambda v: lambda_schedule(0.5, 1.0, v, 0.5), "end"),
    (lambda v: QATConfig(lr=v), "lr"),
    (lambda v: QATConfig(quantizer_lr=v), "quantizer_lr"),
    (lambda v: QATConfig(lambdas=(1.0, v)), r"lambdas\[1\]"),
])
def test_rates_and_lambdas_are_positive_finite_numbers(call, parameter, value):
    _raises(lambda: call(value), parameter)


@pytest.mark.parametrize("value", [NAN, INF, -1.0, True, "1"])
def test_alpha_and_momentum(value):
    _raises(lambda: regularization_loss(W, LEVELS, value), "alpha")
    _raises(lambda: QATConfig(momentum=value), "momentum")


@pytest.mark.parametrize("generator", [-1, 2.5, "0", None, True])
def test_generators_are_generators_or_seeds(generator):
    _raises(lambda: stuck_at_faults(10, 4, 0.1, generator), "generator")
    _raises(lambda: lrs_multipliers(10, 4, 0.1, generator), "generator")
    _raises(lambda: layer_fault_maps({"a": 3}, 4, 0.1, generator), "generator")
    _raises(lambda: layer_lrs_multipliers({"a": 3}, 4, 0.1, generator), "generator")


def test_a_seed_draws_what_its_generator_draws_and_one_chip_uses_one_generator():
    assert torch.equal(stuck_at_faults(50, 4, 0.3, 7).stuck, stuck_at_faults(50, 4, 0.3, _g(7)).stuck)
    maps = layer_fault_maps({"a": 50, "b": 50}, 4, 0.3, 7)
    assert not torch.equal(maps["a"].stuck, maps["b"].stuck)  # not two fresh generators of the same seed
    chip = layer_lrs_multipliers({"a": 20, "b": 20}, 3, 0.2, 7)
    assert torch.equal(chip["a"], lrs_multipliers(20, 3, 0.2, _g(7)))


@pytest.mark.parametrize("seed", [-1, 2.5, 2.0, "0", True, None, 2**63])
def test_training_seeds_are_non_negative_integers(seed):
    _raises(lambda: train_qat(MODEL, DATA, QATConfig(epochs=1, batch_size=2), seed), "seed")


@pytest.mark.parametrize("value", [0, -1, 2.5, 2.0, True, "3", None])
@pytest.mark.parametrize("call,parameter", [
    (lambda v: stuck_at_faults(v, 4, 0.1, _g()), "n_weights"),
    (lambda v: lrs_multipliers(v, 4, 0.1, _g()), "n_weights"),
    (lambda v: layer_fault_maps({"a": v}, 4, 0.1, _g()), r"sizes\['a'\]"),
    (lambda v: layer_lrs_multipliers({"a": v}, 4, 0.1, _g()), r"sizes\['a'\]"),
    (lambda v: layer_alpha(v, 4), "n_weights"),
    (lambda v: stuck_at_faults(10, v, 0.1, _g()), "bits"),
    (lambda v: bit_patterns(v), "bits"),
    (lambda v: LevelQuantizer(v, "fixed", W), "bits"),
    (lambda v: LSQActivation(v), "bits"),
    (lambda v: attach_input_quantizers(MODEL, ["0"], v), "bits"),
    (lambda v: post_training(MODEL, v, modules=["0"]), "bits"),
    (lambda v: QATConfig(bits=v), "bits"),
    (lambda v: QATConfig(epochs=v), "epochs"),
    (lambda v: QATConfig(batch_size=v), "batch_size"),
    (lambda v: QATConfig(train_images=v), "train_images"),
    (lambda v: QATConfig(activation_bits=v), "activation_bits"),
    (lambda v: evaluate_weights(MODEL, DATA, None, v), "batch_size"),
])
def test_counts_and_word_lengths_are_integers_in_range(call, parameter, value):
    if value is None and parameter in ("train_images", "activation_bits"):  # None: all images, float activations
        assert getattr(call(value), parameter) is None
        return
    _raises(lambda: call(value), parameter)


def test_a_count_torch_cannot_allocate_is_refused_by_name():
    _raises(lambda: stuck_at_faults(2**40, 4, 0.1, _g()), "n_weights")
    _raises(lambda: lrs_multipliers(2**40, 4, 0.1, _g()), "n_weights")
    _raises(lambda: layer_fault_maps({"a": 2**40}, 4, 0.1, _g()), r"sizes\['a'\]")


@pytest.mark.parametrize("value", [-1, 2.5, True, "1"])
def test_remaps_may_be_zero_but_not_negative(value):
    _raises(lambda: train_qat(MODEL, DATA, QATConfig(epochs=1, batch_size=2), 0, remaps=value), "remaps")


BAD = [("nan", _nan(W)), ("inf", W * INF), ("empty", torch.empty(0)), ("int", torch.ones(10, dtype=torch.int64)),
       ("list", [1.0])]


@pytest.mark.parametrize("kind,weight", BAD)
def test_weights_quantized_or_mapped_are_finite_floats(kind, weight):
    _raises(lambda: nearest_level(weight, LEVELS), "weight")
    _raises(lambda: regularization_loss(weight, LEVELS, 1.0), "weight")
    _raises(lambda: ste_quantize(weight, LEVELS), "weight")
    _raises(lambda: map_to_levels(weight, LEVELS), "weight")
    _raises(lambda: LevelQuantizer(4, "fixed", weight), "weight")
    _raises(lambda: realized_weights(weight, ONES, ZERO, torch.ones(10, 4), True), "weight")


@pytest.mark.parametrize("kind,levels", BAD + [("3-D", torch.ones(2, 2, 2))])
def test_levels_are_finite_floats_of_one_or_two_dimensions(kind, levels):
    _raises(lambda: nearest_level(W, levels), "levels")
    _raises(lambda: map_to_levels(W, levels), "levels")


@pytest.mark.parametrize("call,parameter", [
    (lambda: weight_levels(ONES, ZERO, _nan(torch.ones(3, 4))), "variability"),
    (lambda: weight_levels(ONES, ZERO, -torch.ones(3, 4)), "variability"),
    (lambda: weight_levels(ONES, ZERO, torch.ones(3, 5)), "variability"),
    (lambda: weight_levels(torch.ones(2, 4), ZERO, torch.ones(3, 4)), "multipliers"),
    (lambda: weight_levels(_nan(ONES), ZERO, torch.ones(3, 4)), "multipliers"),
    (lambda: weight_levels(ONES, torch.zeros(2), torch.ones(3, 4)), "offset"),
    (lambda: realized_weights(W, ONES, ZERO, torch.ones(10, 4), 1), "aware"),
    (lambda: regularization_loss(W[:3], ONES, 1.0, torch.ones(3, 4)), "valid"),
    (lambda: FaultMap(torch.ones(2, 3), torch.ones(2, 3), 0.1), "stuck"),
    (lambda: FaultMap(torch.ones(2, 3, dtype=torch.bool), torch.ones(2, 2, dtype=torch.bool), 0.1), "value"),
    (lambda: FaultMap(torch.ones(3, dtype=torch.bool), torch.ones(3, dtype=torch.bool), 0.1), "stuck"),
    (lambda: validity_mask("faults"), "faults"),
    (lambda: faulty_weight_share({}), "faults"),
    (lambda: faulty_weight_share({"a": 3}), r"faults\['a'\]"),
    (lambda: forced_level(torch.tensor([16, 0, 0]), stuck_at_faults(3, 4, 0.5, _g())), "index"),
    (lambda: forced_level(torch.tensor([-1, 0, 0]), stuck_at_faults(3, 4, 0.5, _g())), "index"),
    (lambda: forced_level(torch.tensor([0.0, 0, 0]), stuck_at_faults(3, 4, 0.5, _g())), "index"),
    (lambda: forced_level(torch.tensor([0, 0]), stuck_at_faults(3, 4, 0.5, _g())), "index"),
    (lambda: map_to_levels(W, LEVELS, None, "closest"), "mapping"),
    (lambda: map_to_levels(W, LEVELS, "faults"), "faults"),
    (lambda: layer_fault_maps([3], 4, 0.1, _g()), "sizes"),
    (lambda: layer_lrs_multipliers({}, 4, 0.1, _g()), "sizes"),
    (lambda: LevelQuantizer(4, "lloyd", W), "kind"),
    (lambda: QATConfig(kind=3), "kind"),
    (lambda: QATConfig(ste=1), "ste"),
    (lambda: QATConfig(lambdas="ab"), "lambdas"),
    (lambda: QATConfig(lambdas=(1.0, 2.0, 3.0)), "lambdas"),
    (lambda: attach_input_quantizers(MODEL, "0", 4), "modules"),
    (lambda: attach_input_quantizers(MODEL, ["x"], 4), "modules"),
    (lambda: quantized_modules("model"), "model"),
    (lambda: post_training(MODEL, 4, modules=["x"]), "modules"),
    (lambda: post_training(MODEL, 4, kind="lloyd", modules=["0"]), "kind"),
    (lambda: deploy("result"), "result"),
    (lambda: deploy(post_training(MODEL, 4, modules=["0"]), mapping="closest"), "mapping"),
    (lambda: deploy(post_training(MODEL, 4, modules=["0"]), aware=1), "aware"),
    (lambda: deploy(post_training(MODEL, 4, modules=["0"]), faults={}), "faults"),
    (lambda: deploy(post_training(MODEL, 4, modules=["0"]), variability={}), "variability"),
    (lambda: deploy(post_training(MODEL, 4, modules=["0"]), faults=[1]), "faults"),
    (lambda: evaluate_weights(MODEL, DATA, {"0": _nan(MODEL[0].weight.detach())}), r"weights\['0'\]"),
    (lambda: evaluate_weights(MODEL, DATA, {"x": torch.ones(3)}), "weights"),
    (lambda: evaluate_weights(MODEL, DATA, {"0": torch.ones(3)}), r"weights\['0'\]"),
])
def test_maps_tensors_names_choices_and_flags(call, parameter):
    _raises(call, parameter)


@pytest.mark.parametrize("kwargs,parameter", [
    ({"config": "config"}, "config"),
    ({"data": ImageTensors(_nan(X), DATA.labels)}, r"data\.images"),
    ({"data": ImageTensors(X[:1], DATA.labels[:1])}, "data"),
    ({"mitigation": "strong", "faults": {}}, "mitigation"),
    ({"variability_mode": "noise", "variability": {}}, "variability_mode"),
    ({"progress": 1}, "progress"),
    ({"quantizers": {"0": "q"}}, r"quantizers\['0'\]"),
])
def test_train_qat_checks_before_it_trains(kwargs, parameter):
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Conv2d(3, 3, 1), nn.Flatten(), nn.Linear(12, 4))
    args = {"model": model, "data": DATA, "config": QATConfig(epochs=1, batch_size=2), "seed": 0, **kwargs}
    _raises(lambda: train_qat(**args), parameter)
