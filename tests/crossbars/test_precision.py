import math

import pytest
import torch
from torch import nn

from imckit.core.data import ImageTensors
from imckit.crossbars.precision import precision_sweep
from imckit.crossbars.strips import (assignment_weights, low_weight_share, quantize_mixed, quantize_strips,
                                    random_strip_assignment, strip_assignment, weight_assignment)


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)  # strips of depth 2: 4 x 3 x 3 = 36 strips, 72 weights
        self.fc = nn.Linear(4, 3)  # strips of depth 4: 3 strips, 12 weights

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    model = Small().eval()
    g = torch.Generator().manual_seed(1)
    scores = {"conv": torch.rand(4, 3, 3, generator=g), "fc": torch.rand(3, generator=g)}
    weight_scores = {"conv": torch.rand(4, 2, 3, 3, generator=g), "fc": torch.rand(3, 4, generator=g)}
    data = ImageTensors(torch.randn(40, 2, 6, 6, generator=g), torch.randint(0, 3, (40,), generator=g))
    return model, scores, weight_scores, data


def test_strip_assignment_puts_the_lowest_scores_low(small):
    _, scores, _, _ = small
    high = strip_assignment(scores, 10 / 39)
    all_scores = torch.cat([s.flatten() for s in scores.values()])
    low_scores = torch.cat([s[~high[m]] for m, s in scores.items()])
    high_scores = torch.cat([s[high[m]] for m, s in scores.items()])
    assert len(low_scores) == 10 and low_scores.max() < high_scores.min()
    assert torch.equal(torch.sort(low_scores).values, torch.sort(all_scores).values[:10])


def test_low_weight_share_counts_strip_depths_by_hand(small):
    model, scores, _, _ = small
    high = {"conv": torch.ones(4, 3, 3, dtype=torch.bool), "fc": torch.tensor([False, True, True])}
    assert low_weight_share(model, high) == pytest.approx(4 / 84)  # one dense strip of 4 weights
    high["conv"][0, 0, 0] = False
    assert low_weight_share(model, high) == pytest.approx(6 / 84)
    weights = {"conv": torch.ones(4, 2, 3, 3, dtype=torch.bool), "fc": torch.ones(3, 4, dtype=torch.bool)}
    weights["fc"][0, :3] = False
    assert low_weight_share(model, weights) == pytest.approx(3 / 84)


def test_weight_assignment_matches_the_share(small):
    model, _, weight_scores, _ = small
    for share in (0.0, 0.25, 0.5, 1.0):
        assert low_weight_share(model, weight_assignment(weight_scores, share)) == pytest.approx(share, abs=0.5 / 84)


def test_random_assignment_count_and_seed(small):
    _, scores, _, _ = small
    a = random_strip_assignment(scores, 0.5, seed=3)
    assert sum(int((~m).sum()) for m in a.values()) == round(0.5 * 39)
    b = random_strip_assignment(scores, 0.5, seed=3)
    c = random_strip_assignment(scores, 0.5, seed=4)
    assert all(torch.equal(a[m], b[m]) for m in a) and not all(torch.equal(a[m], c[m]) for m in a)


def test_assignment_weights_use_the_strip_or_weight_grids(small):
    model, scores, weight_scores, _ = small
    strips = strip_assignment(scores, 0.5)
    w = assignment_weights(model, strips)
    assert torch.equal(w["conv"], quantize_strips(model.conv.weight, strips["conv"]).dequantize())
    weights = weight_assignment(weight_scores, 0.5)
    w = assignment_weights(model, weights)
    assert torch.equal(w["fc"], quantize_mixed(model.fc.weight, weights["fc"]).dequantize())
    with pytest.raises(ValueError, match="strip shape"):
        assignment_weights(model, {"fc": torch.ones(2, dtype=torch.bool)})


def test_sweep_evaluates_each_method_by_hand(small):
    model, scores, weight_scores, data = small
    methods = {"strips": scores, "weights": weight_scores}
    frame = precision_sweep(model, data, methods, ratios=(0.0, 0.6, 1.0), seed=0)
    assert len(frame) == 9 and set(frame["method"]) == {"strips", "weights", "random strips"}
    at0 = frame[frame["ratio"] == 0.0]
    assert (at0["low weight share"] == 0).all() and at0["accuracy"].nunique() == 1  # all 8-bit: identical
    # every row's accuracy is the model's with that row's weights (checked directly for the strips at 0.6)
    strips = strip_assignment(scores, 0.6)
    weights = assignment_weights(model, strips)
    logits = torch.func.functional_call(model, {f"{m}.weight": v for m, v in weights.items()}, (data.images,))
    row = frame[(frame["method"] == "strips") & (frame["ratio"] == 0.6)].iloc[0]
    assert row["accuracy"] == pytest.approx(float((logits.argmax(1) == data.labels).float().mean()))
    assert row["compression ratio"] == pytest.approx(round(0.6 * 39) / 39)
    # the unstructured method is matched on the share of weights
    hap = frame[(frame["method"] == "weights") & (frame["ratio"] == 0.6)].iloc[0]
    assert hap["low weight share"] == pytest.approx(row["low weight share"], abs=0.5 / 84)
    again = precision_sweep(model, data, methods, ratios=(0.0, 0.6, 1.0), seed=0)
    assert again.equals(frame)
    # a second strip-level method with reversed scores puts the other strips low; the reference can be chosen
    reverse = {m: -s for m, s in scores.items()}
    both = precision_sweep(model, data, {"strips": scores, "reverse": reverse, "weights": weight_scores},
                           ratios=(0.6,), reference="reverse", random_strips=False)
    assert list(both["method"]) == ["strips", "reverse", "weights"]
    assert both.set_index("method").loc["weights", "low weight share"] == pytest.approx(
        low_weight_share(model, strip_assignment(reverse, 0.6)), abs=0.5 / 84)


@pytest.mark.parametrize("kwargs,message", [
    ({"ratios": (1.5,)}, r"^ratios\[0\] must be a finite number in \[0.0, 1.0\]"),
    ({"ratios": ()}, "at least one"),
    ({"scores": {}}, "at least one method"),
    ({"scores": "weights only"}, "at least one method must score strips"),
    ({"reference": "weights"}, "reference must name a strip-level method"),
    ({"scores": "unequal"}, "every method must score the same modules"),
])
def test_sweep_bad_input(small, kwargs, message):
    model, scores, weight_scores, data = small
    named = {"weights only": {"weights": weight_scores}, "unequal": {"strips": scores, "other": {"conv": scores["conv"]}}}
    if isinstance(kwargs.get("scores"), str):
        kwargs = {**kwargs, "scores": named[kwargs["scores"]]}
    args = {"scores": {"strips": scores, "weights": weight_scores}, **kwargs}
    with pytest.raises(ValueError, match=message):
        precision_sweep(model, data, **args)


def test_bad_ratio():
    with pytest.raises(ValueError, match=r"^ratio must be a finite number in \[0.0, 1.0\]"):
        strip_assignment({"a": torch.ones(3)}, -0.1)
    with pytest.raises(ValueError, match=r"^share must be a finite number in \[0.0, 1.0\]"):
        weight_assignment({"a": torch.ones(3)}, 2)


def test_evaluate_assignments_by_hand(small):
    from imckit.crossbars.precision import evaluate_assignments

    model, scores, weight_scores, data = small
    strips, weights = strip_assignment(scores, 0.5), weight_assignment(weight_scores, 0.5)
    result = evaluate_assignments(model, data, [{}, strips, weights], low_bits=[4, 3, 4])
    for accuracy, assignment, low in zip(result["accuracy"], [{}, strips, weights], [4, 3, 4]):
        w = assignment_weights(model, assignment, 8, low)
        logits = torch.func.functional_call(model, {f"{m}.weight": v for m, v in w.items()}, (data.images,))
        assert accuracy == pytest.approx(float((logits.argmax(1) == data.labels).float().mean()))
    assert len(result["loss"]) == 3
    with pytest.raises(ValueError, match="one per assignment"):
        evaluate_assignments(model, data, [strips], low_bits=[4, 3])
    with pytest.raises(ValueError, match="^assignments must be a non-empty list"):
        evaluate_assignments(model, data, [])


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_sweep_on_a_device_equals_the_cpu_sweep(small, device):
    model, scores, weight_scores, data = small
    methods = {"strips": scores, "weights": weight_scores}
    assert precision_sweep(model, data, methods, ratios=(0.0, 0.6), device=device).equals(
        precision_sweep(model, data, methods, ratios=(0.0, 0.6)))


def test_per_image_evaluation_is_the_direct_forward(small):
    from imckit.crossbars.precision import evaluate_assignments

    model, scores, weight_scores, data = small
    strips, weights = strip_assignment(scores, 0.5), weight_assignment(weight_scores, 0.5)
    result = evaluate_assignments(model, data, [{}, strips, weights], low_bits=[4, 3, 4], per_image=True)
    assert result["correct"].shape == (3, 40) and result["correct"].dtype == torch.bool
    for k, (assignment, low) in enumerate(zip([{}, strips, weights], [4, 3, 4])):
        w = assignment_weights(model, assignment, 8, low)
        with torch.no_grad():
            logits = torch.func.functional_call(model, {f"{m}.weight": v for m, v in w.items()}, (data.images,))
        assert torch.equal(result["correct"][k], logits.argmax(1) == data.labels)
        assert result["accuracy"][k] == pytest.approx(float(result["correct"][k].double().mean()))
        assert result["loss"][k] == pytest.approx(float(nn.functional.cross_entropy(logits, data.labels)), rel=1e-5)
    # the engine's accuracies are the same
    assert evaluate_assignments(model, data, [{}, strips, weights], low_bits=[4, 3, 4])["accuracy"] == \
        pytest.approx(result["accuracy"])
    frame, correct = precision_sweep(model, data, {"strips": scores}, ratios=(0.0, 0.6), per_image=True)
    assert correct.shape == (len(frame), 40)
    assert (correct.double().mean(1)).tolist() == pytest.approx(frame["accuracy"].tolist())


def test_mcnemar_by_hand():
    from imckit.crossbars.precision import mcnemar

    a = torch.tensor([True] * 10 + [False] * 2 + [True] * 80 + [False] * 8)
    b = torch.tensor([False] * 10 + [True] * 2 + [True] * 80 + [False] * 8)
    test = mcnemar(a, b)
    assert (test["a_only"], test["b_only"], test["images"]) == (10, 2, 100)
    assert test["difference"] == pytest.approx(8.0)
    # exact: 2 P(X <= 2), X ~ Bin(12, 1/2) = 2 (1 + 12 + 66) / 4096; mid-p subtracts P(X = 2) = 66 / 4096
    assert test["p_exact"] == pytest.approx(2 * 79 / 4096)
    assert test["p_mid"] == pytest.approx(2 * (79 - 33) / 4096)
    assert test["half_width"] == pytest.approx(100 * 1.959964 * math.sqrt((12 / 100 - 0.08**2) / 100), rel=1e-5)
    assert mcnemar(b, a)["difference"] == pytest.approx(-8.0) and mcnemar(b, a)["p_mid"] == test["p_mid"]
    same = mcnemar(a, a)
    assert same["p_exact"] == same["p_mid"] == 1.0 and same["difference"] == 0 and same["half_width"] == 0
    balanced = mcnemar(torch.tensor([True, False]), torch.tensor([False, True]))
    assert balanced["p_exact"] == 1.0 and balanced["p_mid"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="one shape"):
        mcnemar(a, b[:5])
    with pytest.raises(ValueError, match="bool tensor of per-image correctness"):
        mcnemar(a.float(), b)


def test_paired_difference_averages_each_image_over_the_pairs():
    from scipy.stats import ttest_1samp

    from imckit.crossbars.precision import paired_difference

    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 200, generator=g) < 0.8
    b = torch.rand(3, 200, generator=g) < 0.7
    test = paired_difference(a, b)
    per_image = (a.double() - b.double()).mean(0).numpy()
    assert test["difference"] == pytest.approx(100 * per_image.mean())
    assert test["difference"] == pytest.approx(100 * (a.double().mean() - b.double().mean()).item())
    assert test["p"] == pytest.approx(ttest_1samp(per_image, 0).pvalue)
    assert (test["pairs"], test["images"]) == (3, 200) and test["half_width"] > 0
    assert paired_difference(a, a)["p"] == 1.0 and paired_difference(a, a)["difference"] == 0
    with pytest.raises(ValueError, match="one shape"):
        paired_difference(a, b[:2])
    with pytest.raises(ValueError, match="at least 2 images"):
        paired_difference(a[:, :1], b[:, :1])
