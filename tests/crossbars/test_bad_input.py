"""Bad input to imckit.crossbars: every case raises ValueError or TypeError naming the exact parameter
(issue 17), by family: ratios and thresholds, seeds, counts and word lengths, tensors (NaN, infinite, empty,
wrong dimensions), class labels, module names, choices and flags."""

import pytest
import torch
from torch import nn

from imckit.core.data import ImageTensors
from imckit.crossbars import (ADCSpec, CrossbarSpec, align_threshold, alignment_report, assign_precision,
                              assignment_weights, compression_ratio, coordinated_linear, coordinated_logits,
                              energy_proxy, energy_sweep, evaluate_assignments, fim_sweep, fim_threshold,
                              fisher_diagonal, fisher_distance, ggn_diagonal, hessian_trace, hessian_vector_product,
                              joint_threshold, low_weight_share, map_strips, mcnemar, negative_share,
                              output_positions, pareto_front, per_image_outcomes, precision_sweep,
                              probes_for_reliability, quantize_mixed, quantize_strips, random_strip_assignment,
                              rank_agreement, spearman_brown, strip_assignment, strip_capacity, strip_sensitivity,
                              threshold_at_ratio, utilization_table, weight_assignment)
from imckit.crossbars.strips import StripQuantized

NAN, INF = float("nan"), float("inf")


def _nan(t):
    t = t.clone().float()
    t.view(-1)[0] = NAN
    return t


def _setting():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 4)).eval()
    x = torch.randn(6, 2, 4, 4, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    scores = {"0": torch.rand(3, 3, 3, generator=torch.Generator().manual_seed(2)),
              "3": torch.rand(4, generator=torch.Generator().manual_seed(3))}
    return model, x, y, scores


MODEL, X, Y, SCORES = _setting()
W = MODEL[0].weight.detach()
HIGH = SCORES["0"] > 0.5
DATA = ImageTensors(X, Y)
CE = nn.CrossEntropyLoss()


def _raises(call, parameter):
    with pytest.raises((ValueError, TypeError), match=rf"^{parameter} must"):
        call()


RATIOS = [NAN, INF, -0.1, 1.5, True, "0.5", None]


@pytest.mark.parametrize("value", RATIOS)
@pytest.mark.parametrize("call,parameter", [
    (lambda v: threshold_at_ratio(SCORES, v), "ratio"),
    (lambda v: strip_assignment(SCORES, v), "ratio"),
    (lambda v: random_strip_assignment(SCORES, v, 0), "ratio"),
    (lambda v: weight_assignment({"0": torch.rand(3, 2, 3, 3)}, v), "share"),
    (lambda v: alignment_report(MODEL, SCORES, v), "ratio"),
    (lambda v: energy_sweep(MODEL, SCORES, [0.0, v], (2, 4, 4)), r"ratios\[1\]"),
    (lambda v: precision_sweep(MODEL, DATA, {"s": SCORES}, ratios=(v,)), r"ratios\[0\]"),
    (lambda v: fim_sweep(MODEL, X, Y, SCORES, ratios=(v,)), r"ratios\[0\]"),
    (lambda v: joint_threshold([0.0, v], [0.1, 0.2], [2.0, 1.0]), r"ratios\[1\]"),
    (lambda v: joint_threshold([0.0, 0.5], [0.1, 0.2], [2.0, 1.0], weight=v), "weight"),
])
def test_ratios_and_shares_are_finite_numbers_in_0_1(call, parameter, value):
    _raises(lambda: call(value), parameter)


@pytest.mark.parametrize("value", [NAN, "1", None, True, torch.tensor(NAN)])
def test_a_threshold_is_a_number_other_than_nan(value):
    _raises(lambda: assign_precision(SCORES, value), "threshold")
    _raises(lambda: assign_precision(SCORES, {"0": 0.5, "3": value}), r"threshold\['3'\]")
    _raises(lambda: align_threshold(MODEL, SCORES, value), "threshold")


def test_infinite_thresholds_are_every_strip_low_or_high():
    assert not any(a.any() for a in assign_precision(SCORES, INF).values())
    assert all(a.all() for a in assign_precision(SCORES, -INF).values())
    _raises(lambda: assign_precision(SCORES, {"0": 0.5}), "threshold")  # a module without a threshold


@pytest.mark.parametrize("seed", [-1, 2.5, 2.0, "0", True, None, 2**63])
def test_seeds_are_non_negative_integers(seed):
    _raises(lambda: random_strip_assignment(SCORES, 0.5, seed), "seed")
    _raises(lambda: hessian_trace(MODEL, CE, X, Y, n_probes=2, seed=seed), "seed")
    _raises(lambda: precision_sweep(MODEL, DATA, {"s": SCORES}, ratios=(0.5,), seed=seed), "seed")


def test_a_seed_and_its_generator_draw_the_same_strips():
    by_seed = random_strip_assignment(SCORES, 0.5, 3)
    by_generator = random_strip_assignment(SCORES, 0.5, torch.Generator().manual_seed(3))
    assert all(torch.equal(by_seed[m], by_generator[m]) for m in SCORES)


@pytest.mark.parametrize("value", [0, -1, 2.5, 2.0, True, "3", None])
@pytest.mark.parametrize("call,parameter", [
    (lambda v: hessian_trace(MODEL, CE, X, Y, n_probes=v), "n_probes"),
    (lambda v: hessian_trace(MODEL, CE, X, Y, n_probes=2, min_probes=v), "min_probes"),
    (lambda v: fisher_diagonal(MODEL, X, Y, ["0"], batch_size=v), "batch_size"),
    (lambda v: ggn_diagonal(MODEL, X, ["0"], batch_size=v), "batch_size"),
    (lambda v: per_image_outcomes(MODEL, DATA, [{}], batch_size=v), "batch_size"),
    (lambda v: fim_threshold(MODEL, X, Y, SCORES, 0.1, steps=v), "steps"),
    (lambda v: map_strips(CrossbarSpec(), 3, v, 8), "depth"),
    (lambda v: strip_capacity(CrossbarSpec(), 3, v), "bits"),
    (lambda v: CrossbarSpec(rows=v), "rows"),
    (lambda v: CrossbarSpec(columns=v), "columns"),
    (lambda v: CrossbarSpec(cell_bits=v), "cell_bits"),
    (lambda v: ADCSpec(input_bits=v), "input_bits"),
    (lambda v: ADCSpec(columns_per_adc={8: v, 4: 2}), r"columns_per_adc\[8\]"),
    (lambda v: ADCSpec(levels={8: v, 4: 16}), r"levels\[8\]"),
    (lambda v: output_positions(MODEL, (2, v, 4), ["0"]), r"input_shape\[1\]"),
])
def test_counts_and_sizes_are_positive_integers(call, parameter, value):
    _raises(lambda: call(value), parameter)


@pytest.mark.parametrize("value", [-1, 2.5, True, "3"])
def test_a_strip_count_may_be_zero_but_not_negative(value):
    _raises(lambda: map_strips(CrossbarSpec(), value, 3, 8), "count")
    assert map_strips(CrossbarSpec(), 0, 3, 8)["crossbars"] == 0


@pytest.mark.parametrize("high_bits,low_bits,parameter", [
    (4, 4, "low_bits"), (8, 1, "low_bits"), (8, 9, "low_bits"), (2, 1, "high_bits"), (17, 4, "high_bits"),
    (8.0, 4, "high_bits"), (8, True, "low_bits"), ("8", 4, "high_bits"),
])
def test_word_lengths_are_a_high_and_a_lower_low(high_bits, low_bits, parameter):
    _raises(lambda: quantize_strips(W, HIGH, high_bits, low_bits), parameter)
    _raises(lambda: quantize_mixed(W, HIGH.unsqueeze(1).expand_as(W), high_bits, low_bits), parameter)
    _raises(lambda: assignment_weights(MODEL, {"0": HIGH}, high_bits, low_bits), parameter)
    _raises(lambda: evaluate_assignments(MODEL, DATA, [{"0": HIGH}], high_bits, low_bits), parameter)
    _raises(lambda: fim_threshold(MODEL, X, Y, SCORES, 0.1, high_bits=high_bits, low_bits=low_bits), parameter)


BAD_TENSORS = [("nan", _nan(W)), ("inf", W * INF), ("list", [1.0]), ("int", W.long())]


@pytest.mark.parametrize("kind,weight", BAD_TENSORS + [("3-D", W[0])])
def test_weights_quantized_are_finite_float_convolution_or_dense_weights(kind, weight):
    _raises(lambda: quantize_strips(weight, HIGH), "weight")


@pytest.mark.parametrize("kind,scores", [
    ("nan", {"0": _nan(SCORES["0"])}), ("inf", {"0": SCORES["0"] * INF}), ("empty", {"0": torch.empty(0)}),
    ("not a tensor", {"0": [1.0, 2.0]}), ("bool", {"0": HIGH}),
])
def test_scores_are_finite_tensors_of_real_numbers(kind, scores):
    _raises(lambda: threshold_at_ratio(scores, 0.5), r"scores\['0'\]")
    _raises(lambda: assign_precision(scores, 0.5), r"scores\['0'\]")
    _raises(lambda: negative_share(scores), r"scores\['0'\]")
    _raises(lambda: rank_agreement(scores, scores), r"first\['0'\]")
    _raises(lambda: fisher_distance(scores, scores), r"fisher\['0'\]")


@pytest.mark.parametrize("scores", [{}, None, "scores", [torch.ones(3)]])
def test_scores_are_a_non_empty_mapping(scores):
    _raises(lambda: threshold_at_ratio(scores, 0.5), "scores")
    _raises(lambda: energy_sweep(MODEL, scores, [0.5], (2, 4, 4)), "scores")
    _raises(lambda: alignment_report(MODEL, scores, 0.5), "scores")


@pytest.mark.parametrize("kind,inputs", [("nan", _nan(X)), ("inf", X * INF), ("int", X.long()), ("empty", X[:0]),
                                         ("list", [1.0])])
def test_inputs_are_finite_floating_point_samples(kind, inputs):
    _raises(lambda: hessian_trace(MODEL, CE, inputs, Y, n_probes=2), "inputs")
    _raises(lambda: fisher_diagonal(MODEL, inputs, Y, ["0"]), "inputs")
    _raises(lambda: ggn_diagonal(MODEL, inputs, ["0"]), "inputs")
    _raises(lambda: coordinated_logits(MODEL, {"0": quantize_strips(W, HIGH)}, inputs), "inputs")


@pytest.mark.parametrize("x", [_nan(torch.ones(2, 12)), torch.ones(2, 12, dtype=torch.int64), "x"])
def test_coordinated_layers_take_finite_inputs(x):
    sq = quantize_strips(MODEL[3].weight.detach(), torch.ones(4, dtype=torch.bool))
    _raises(lambda: coordinated_linear(x, sq), "x")


@pytest.mark.parametrize("targets,parameter", [
    (torch.full((6,), 9), "targets"), (torch.full((6,), -1), "targets"), (Y[:3], "targets"),
    (Y.float(), "targets"),
])
def test_labels_are_class_indices_of_the_model(targets, parameter):
    _raises(lambda: fisher_diagonal(MODEL, X, targets, ["0"]), parameter)
    if not targets.is_floating_point():
        _raises(lambda: hessian_trace(MODEL, CE, X, targets, n_probes=2), parameter)


def test_images_are_finite_and_labels_in_range():
    _raises(lambda: per_image_outcomes(MODEL, ImageTensors(_nan(X), Y), [{}]), r"data\.images")
    _raises(lambda: per_image_outcomes(MODEL, ImageTensors(X, torch.full((6,), 7)), [{}]), r"data\.labels")
    _raises(lambda: precision_sweep(MODEL, ImageTensors(X[:0], Y[:0]), {"s": SCORES}), "data")


@pytest.mark.parametrize("call,parameter", [
    (lambda: fisher_diagonal(MODEL, X, Y, ["nope"]), "modules"),
    (lambda: fisher_diagonal(MODEL, X, Y, "0"), "modules"),
    (lambda: fisher_diagonal(MODEL, X, Y, []), "modules"),
    (lambda: fisher_diagonal(MODEL, X, Y, ["0"], {"0": torch.ones(3)}), r"weights\['0'\]"),
    (lambda: fisher_diagonal(MODEL, X, Y, ["0"], {"0": _nan(W)}), r"weights\['0'\]"),
    (lambda: fisher_distance({"a": torch.ones(3)}, {"a": torch.ones(1)}), r"fisher\['a'\]"),
    (lambda: assignment_weights(MODEL, {"nope": HIGH}), "assignment"),
    (lambda: assignment_weights(MODEL, {"0": HIGH.float()}), r"assignment\['0'\]"),
    (lambda: low_weight_share(MODEL, {"nope": HIGH}), "assignment"),
    (lambda: compression_ratio({}), "assignment"),
    (lambda: utilization_table(MODEL, {"0": torch.ones_like(W, dtype=torch.bool)}), r"assignment\['0'\]"),
    (lambda: utilization_table(MODEL, {"0": HIGH}, "128x128"), "spec"),
    (lambda: energy_proxy(MODEL, {"0": HIGH}, (2, 4, 4), low_bits=3), "low_bits"),
    (lambda: energy_proxy(MODEL, {"0": HIGH}, (3, 4, 4)), "input_shape"),
    (lambda: energy_proxy(MODEL, {"0": HIGH}, "244"), "input_shape"),
    (lambda: energy_proxy(MODEL, {"0": HIGH}, (2, 4, 4), adc="adc"), "adc"),
    (lambda: output_positions(MODEL, (2, 4, 4), ["x"]), "modules"),
    (lambda: hessian_trace(MODEL, CE, X, Y, n_probes=2, parameters=[]), "parameters"),
    (lambda: hessian_trace(MODEL, "ce", X, Y, n_probes=2), "criterion"),
    (lambda: hessian_vector_product(MODEL, CE, X, Y, {"0.weight": torch.ones(2)}), r"vectors\['0.weight'\]"),
    (lambda: hessian_vector_product(MODEL, CE, X, Y, {"x": torch.ones(2)}), "vectors"),
    (lambda: strip_sensitivity(MODEL, None), "trace"),
    (lambda: ggn_diagonal("net", X, ["0"]), "model"),
    (lambda: rank_agreement(SCORES, SCORES, []), "modules"),
    (lambda: evaluate_assignments(MODEL, DATA, {"0": HIGH}), "assignments"),
    (lambda: per_image_outcomes(MODEL, DATA, [{"0": torch.ones(3)}]), r"weight_sets\[0\]\['0'\]"),
    (lambda: coordinated_logits(MODEL, {"0": W}, X), r"quantized\['0'\]"),
    (lambda: coordinated_logits(MODEL, {"x": quantize_strips(W, HIGH)}, X), "quantized"),
    (lambda: StripQuantized(HIGH, HIGH.long(), HIGH.long(), torch.ones(3), 4, 4), "low_bits"),
    (lambda: mcnemar(torch.ones(3), torch.ones(3)), "correct_a"),
    (lambda: mcnemar(torch.ones(3, dtype=torch.bool), torch.ones(3, dtype=torch.bool), 1.0), "confidence"),
    (lambda: pareto_front([0.1, NAN]), r"costs\[0\]\[1\]"),
    (lambda: pareto_front("ab"), r"costs\[0\]"),
    (lambda: joint_threshold([0.0, 1.0], [[1, 2], [1, 2]], [1, 2]), r"fim_distance\[0\]"),
    (lambda: alignment_report(MODEL, SCORES, 0.5, 3), "specs"),
    (lambda: alignment_report(MODEL, SCORES, 0.5).small_layers("9x9"), "label"),
    (lambda: alignment_report(MODEL, SCORES, 0.5).emptied_layers("128x128", "up"), "rounding"),
    (lambda: align_threshold(MODEL, SCORES, 0.5, rounding="up"), "rounding"),
    (lambda: coordinated_logits(MODEL, {"0": quantize_strips(W, HIGH)}, X, aligned=1), "aligned"),
    (lambda: precision_sweep(MODEL, DATA, {"s": SCORES}, ratios=(0.5,), random_strips=1), "random_strips"),
    (lambda: evaluate_assignments(MODEL, DATA, [{"0": HIGH}], per_image=1), "per_image"),
    (lambda: ggn_diagonal(MODEL, X, ["0"], progress="yes"), "progress"),
])
def test_structures_names_choices_and_flags(call, parameter):
    _raises(call, parameter)


@pytest.mark.parametrize("value", [NAN, INF, -1.5, 1.5, True, "0.5"])
def test_reliabilities_and_targets_are_in_their_ranges(value):
    _raises(lambda: spearman_brown(value), "reliability")
    _raises(lambda: probes_for_reliability(value, 4), "reliability")
    _raises(lambda: probes_for_reliability(0.5, 4, value), "target")


@pytest.mark.parametrize("value", [NAN, INF, 0, -1.0, True, "2"])
def test_lengths_of_an_estimate_are_positive_numbers(value):
    _raises(lambda: spearman_brown(0.5, value), "factor")
    _raises(lambda: probes_for_reliability(0.5, value), "probes")
