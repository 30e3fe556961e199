import math

import pytest
import torch
from torch import nn

from imckit.crossbars.fisher import (fim_sweep, fim_threshold, fisher_diagonal, fisher_distance, joint_threshold,
                                    pareto_front)
from imckit.crossbars.strips import threshold_at_ratio


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    model = Small().eval()
    x = torch.randn(20, 2, 5, 5)
    y = torch.randint(0, 3, (20,))
    return model, x, y


def test_fisher_diagonal_matches_a_loop_over_samples(small):
    model, x, y = small
    fisher = fisher_diagonal(model, x, y, ["conv", "fc"], batch_size=7)
    expected = torch.zeros_like(model.conv.weight)
    for i in range(len(x)):
        model.zero_grad()
        (-nn.functional.cross_entropy(model(x[i : i + 1]), y[i : i + 1])).backward()
        expected += model.conv.weight.grad ** 2
    assert torch.allclose(fisher["conv"], expected / len(x), rtol=1e-4, atol=1e-8)
    assert fisher["fc"].shape == model.fc.weight.shape


def test_replacement_weights_change_the_fisher_and_distance(small):
    model, x, y = small
    base = fisher_diagonal(model, x, y, ["conv"])
    assert fisher_distance(base, base) == 0.0
    moved = fisher_diagonal(model, x, y, ["conv"], {"conv": model.conv.weight * 0.5})
    assert fisher_distance(moved, base) > 0.01
    with pytest.raises(ValueError, match="same modules"):
        fisher_distance(moved, {"fc": base["conv"]})


def test_threshold_at_ratio():
    scores = {"a": torch.tensor([1.0, 3.0]), "b": torch.tensor([[2.0], [4.0]])}
    assert threshold_at_ratio(scores, 0) == -math.inf and threshold_at_ratio(scores, 1) == math.inf
    assert threshold_at_ratio(scores, 0.5) == 2.5
    with pytest.raises(ValueError, match=r"^ratio must be a finite number in \[0.0, 1.0\]"):
        threshold_at_ratio(scores, 1.5)


def test_sweep_and_bisection(small):
    model, x, y = small
    scores = {"conv": torch.rand(4, 3, 3, generator=torch.Generator().manual_seed(0)),
              "fc": torch.rand(3, generator=torch.Generator().manual_seed(1))}
    sweep = fim_sweep(model, x, y, scores, ratios=(0.0, 0.5, 1.0))
    assert list(sweep["ratio"]) == [0.0, 0.5, 1.0]
    assert sweep["FIM distance"].iloc[-1] > sweep["FIM distance"].iloc[0]  # 4-bit everywhere moves F most
    loose = fim_threshold(model, x, y, scores, tolerance=10.0)
    assert loose["ratio"] == 1.0 and loose["threshold"] == math.inf
    tol = float(sweep["FIM distance"].iloc[1])
    found = fim_threshold(model, x, y, scores, tolerance=tol, steps=6)
    assert found["distance"] <= tol and 0.0 <= found["ratio"] < 1.0 and found["met"]
    tight = fim_threshold(model, x, y, scores, tolerance=1e-12, steps=2)
    assert tight["ratio"] == 0.0 and not tight["met"]  # even all high precision moves F: reported, not hidden
    with pytest.raises(ValueError, match="^tolerance must be a finite number > 0"):
        fim_threshold(model, x, y, scores, tolerance=0)


def test_halves_are_independent_estimates_whose_weighted_mean_is_the_whole(small):
    from imckit.crossbars.fisher import fisher_diagonal_halves

    model, x, y = small
    first, second, whole = fisher_diagonal_halves(model, x[:7], y[:7], ["conv", "fc"])
    assert torch.equal(first["conv"], fisher_diagonal(model, x[:3], y[:3], ["conv", "fc"])["conv"])
    assert torch.equal(second["fc"], fisher_diagonal(model, x[3:7], y[3:7], ["conv", "fc"])["fc"])
    assert torch.allclose(whole["conv"], fisher_diagonal(model, x[:7], y[:7], ["conv"])["conv"], rtol=1e-5, atol=1e-9)
    with pytest.raises(ValueError, match="at least 2 samples"):
        fisher_diagonal_halves(model, x[:1], y[:1], ["conv"])


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_device_gives_the_cpu_results(small, device):
    model, x, y = small
    scores = {"conv": torch.rand(4, 3, 3, generator=torch.Generator().manual_seed(0))}
    reference = fisher_diagonal(model, x, y, ["conv"])
    assert torch.equal(fisher_diagonal(model, x, y, ["conv"], device=device)["conv"], reference["conv"])
    sweep = fim_sweep(model, x, y, scores, ratios=(0.0, 0.5, 1.0), device=device)
    assert sweep.equals(fim_sweep(model, x, y, scores, ratios=(0.0, 0.5, 1.0)))
    search = fim_threshold(model, x, y, scores, tolerance=0.3, steps=3, device=device)
    assert search == fim_threshold(model, x, y, scores, tolerance=0.3, steps=3)


def test_pareto_front_by_hand():
    fim = [0.0, 0.1, 0.1, 0.3, 0.5, 0.5]
    energy = [1.0, 0.8, 0.9, 0.5, 0.5, 0.2]
    # (0.1, 0.9) is dominated by (0.1, 0.8); (0.5, 0.5) by (0.3, 0.5)
    assert pareto_front(fim, energy).tolist() == [True, True, False, True, False, True]
    assert pareto_front([1.0, 1.0], [2.0, 2.0]).tolist() == [True, True]  # equal candidates are both kept
    with pytest.raises(ValueError, match="one value per candidate"):
        pareto_front([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match=r"^costs\[0\]\[1\] must be a finite number; got nan"):
        pareto_front([1.0, float("nan")], [1.0, 2.0])


def test_joint_threshold_picks_the_pareto_point_nearest_the_ideal():
    ratios = [0.0, 0.25, 0.5, 0.75, 1.0]
    fim = [0.0, 0.05, 0.1, 0.4, 1.0]
    energy = [1.0, 0.9, 0.5, 0.45, 0.0]
    chosen = joint_threshold(ratios, fim, energy)
    # scaled: fim (0, .05, .1, .4, 1), energy (1, .9, .5, .45, 0); distances sqrt(.5 f^2 + .5 e^2): ratio 0.5 wins
    assert chosen["ratio"] == 0.5 and chosen["index"] == 2 and chosen["threshold"] is None
    table = chosen["table"]
    assert table["Pareto"].all() and table["chosen"].tolist() == [False, False, True, False, False]
    assert table.loc[2, "distance to ideal"] == pytest.approx(math.sqrt(0.5 * 0.1**2 + 0.5 * 0.5**2))
    # the weight moves the choice: all weight on energy picks the cheapest, all on FIM the closest to F0
    assert joint_threshold(ratios, fim, energy, weight=0.0)["ratio"] == 1.0
    assert joint_threshold(ratios, fim, energy, weight=1.0)["ratio"] == 0.0
    # a dominated candidate is off the front; two candidates equally near the ideal: the smaller ratio
    tie = joint_threshold([0.0, 0.5, 1.0], [0.0, 0.2, 0.2], [1.0, 0.6, 0.5])
    assert tie["table"]["Pareto"].tolist() == [True, False, True] and tie["ratio"] == 0.0
    scores = {"a": torch.tensor([1.0, 2.0, 3.0, 4.0])}
    assert joint_threshold(ratios, fim, energy, scores=scores)["threshold"] == threshold_at_ratio(scores, 0.5)
    with pytest.raises(ValueError, match=r"^weight must be a finite number in \[0.0, 1.0\]"):
        joint_threshold(ratios, fim, energy, weight=1.5)
    with pytest.raises(ValueError, match="one value per candidate"):
        joint_threshold(ratios[:3], fim, energy)
    with pytest.raises(ValueError, match=r"^ratios\[\d\] must be a finite number in \[0.0, 1.0\]"):
        joint_threshold([0.0, 2.0], [0.0, 1.0], [1.0, 0.0])
