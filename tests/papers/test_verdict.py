"""The verdict function on hand-made claims: each rule, the edges of its tolerance, ties."""

import math

import pytest

from imckit.papers.claims import parse_paper
from imckit.papers.verdict import (DIFFERS, NOT_COMPARABLE, REPRODUCED, SAME_DIRECTION, Verdict, describe_value,
                                   spearman, verdict)


def claim(value, unit="pts", **compare):
    paper = parse_paper({"paper": "999", "source": "x.txt", "citation": "x", "title": "T",
                         "setting": {"network": "ResNet-18", "dataset": "CIFAR-10"},
                         "claims": [{"id": "c", "chapter": "ch", "claim": "a claim", "value": value, "unit": unit,
                                     "compare": compare}]}, "test.yaml")
    return paper.claims[0]


@pytest.mark.parametrize("kit, expected", [
    (10.0, REPRODUCED), (11.0, REPRODUCED), (9.0, REPRODUCED),          # the tolerance's edges count as reproduced
    (11.01, DIFFERS), (8.99, DIFFERS), (-10.0, DIFFERS)])
def test_value_within_tolerance_including_its_edges(kit, expected):
    assert verdict(claim(10.0, kind="value", tolerance=1.0), kit).verdict == expected


def test_value_signed_miss_is_same_direction_with_a_reason():
    c = claim(-3.0, kind="value", tolerance=0.5, signed=True)
    result = verdict(c, -1.0)
    assert result.verdict == SAME_DIRECTION
    assert "-1.00 pts" in result.reason and "-3.00 pts" in result.reason and "0.50 pts" in result.reason
    assert verdict(c, 1.0).verdict == DIFFERS          # opposite sign
    assert verdict(c, -3.4).verdict == REPRODUCED
    assert verdict(claim(-3.0, kind="value", tolerance=0.5), -1.0).verdict == DIFFERS  # unsigned: a miss differs


def test_value_zero_tolerance_needs_equality():
    c = claim(50.0, unit="%", kind="value")
    assert verdict(c, 50.0).verdict == REPRODUCED
    assert verdict(c, 50.01).verdict == DIFFERS


def test_bound_is_one_sided_with_its_tolerance_edge():
    floor = claim(-3.0, kind="bound", side="at least", tolerance=0.5)
    assert verdict(floor, 2.0).verdict == REPRODUCED        # a gain satisfies "loses at most 3 points"
    assert verdict(floor, -3.5).verdict == REPRODUCED       # at the tolerance's edge
    result = verdict(floor, -3.6)
    assert result.verdict == DIFFERS and "below" in result.reason
    ceiling = claim(1.0, kind="bound", side="at most")
    assert verdict(ceiling, 1.0).verdict == REPRODUCED
    assert verdict(ceiling, 1.01).verdict == DIFFERS


def test_direction_needs_an_effect_beyond_the_noise():
    c = claim(-2.0, kind="direction", tolerance=0.5)
    assert verdict(c, -1.0).verdict == REPRODUCED          # half the paper's effect: the edge
    smaller = verdict(c, -0.6)                              # beyond the noise, but under half the paper's size
    assert smaller.verdict == SAME_DIRECTION and "smaller effect" in smaller.reason
    assert verdict(c, -9.0).verdict == REPRODUCED          # a larger effect the same way
    assert verdict(c, -0.5).verdict == DIFFERS            # at the margin: not beyond the noise
    assert "noise" in verdict(c, -0.5).reason
    assert verdict(c, -0.6, margin=0.7).verdict == DIFFERS  # the kit's own interval widens the margin
    assert verdict(c, -1.2, margin=1.1).verdict == REPRODUCED
    assert "opposite" in verdict(c, 3.0).reason


def test_order_with_ties_within_the_tolerance():
    c = claim(["a", "b", "c"], unit="%", kind="order", tolerance=0.5)
    assert verdict(c, {"a": 90, "b": 85, "c": 80}).verdict == REPRODUCED
    assert verdict(c, {"a": 85.3, "b": 85.0, "c": 80}).verdict == REPRODUCED   # a, b tied: any order agrees
    assert verdict(c, {"a": 85.0, "b": 85.5, "c": 80}).verdict == REPRODUCED   # reversed by exactly the tolerance
    swapped = verdict(c, {"a": 84, "b": 86, "c": 80})                           # one of three pairs reversed
    assert swapped.verdict == SAME_DIRECTION and "a above b" in swapped.reason
    assert verdict(c, {"a": 80, "b": 85, "c": 90}).verdict == DIFFERS          # all reversed
    flat = verdict(c, {"a": 85.0, "b": 85.2, "c": 84.8})                        # every pair a tie: no order
    assert flat.verdict == DIFFERS and "no pair differs beyond" in flat.reason
    assert verdict(c, {"a": 84, "b": 86, "c": 80}, margin=2.0).verdict == REPRODUCED  # the kit's spread: a tie
    weak = verdict(c, {"a": 85.0, "b": 84.8, "c": 84.4})                        # a > c only: tau 1/3
    assert weak.verdict == SAME_DIRECTION and "only 1 of 3 pairs" in weak.reason
    with pytest.raises(ValueError, match="lack"):
        verdict(c, {"a": 1, "b": 2})


def test_order_from_a_mapping_respects_lower_is_better_and_the_papers_ties():
    c = claim({"x": 1.0, "y": 2.0, "z": 2.0}, kind="order", higher_is_better=False)
    assert verdict(c, {"x": 0.5, "y": 3.0, "z": 2.0}).verdict == REPRODUCED    # y, z tied in the paper
    assert verdict(c, {"x": 5.0, "y": 3.0, "z": 2.0}).verdict == DIFFERS


def test_ranking_by_spearman_with_ties():
    paper = {"a": 1.0, "b": 2.0, "c": 2.0, "d": 4.0, "e": 5.0}
    c = claim(paper, kind="ranking", min_rho=0.9)
    assert verdict(c, {"a": 10, "b": 20, "c": 20, "d": 40, "e": 50}).verdict == REPRODUCED
    rho, n = spearman(paper, {"a": 1, "b": 3, "c": 2, "d": 4, "e": 5})
    assert n == 5 and rho == pytest.approx(0.9746794, abs=1e-6)  # average ranks for the paper's tie
    assert verdict(c, {"a": 1, "b": 3, "c": 2, "d": 4, "e": 5}).verdict == REPRODUCED
    weaker = verdict(c, {"a": 2, "b": 1, "c": 4, "d": 3, "e": 5})
    assert weaker.verdict == SAME_DIRECTION and "rho" in weaker.reason
    assert verdict(c, {"a": 5, "b": 4, "c": 3, "d": 2, "e": 1}).verdict == DIFFERS
    assert verdict(c, {"a": 1, "b": 2, "zz": 3}).verdict == NOT_COMPARABLE      # two keys in common
    assert verdict(c, {"a": 1, "b": 1, "c": 1}).verdict == NOT_COMPARABLE       # constant: rho undefined
    assert math.isnan(spearman({"a": 1, "b": 2}, {"a": 1, "b": 2})[0])


def test_qualitative_and_unmeasured_are_not_comparable_with_a_reason():
    q = claim(93.1, unit="%", kind="qualitative", why="CIFAR-10 is not available here")
    assert verdict(q, 91.0) == Verdict(NOT_COMPARABLE, "CIFAR-10 is not available here")
    v = claim(1.0, kind="value", tolerance=0.1)
    assert verdict(v, None, reason="smoke profile") == Verdict(NOT_COMPARABLE, "smoke profile")


@pytest.mark.parametrize("kit, error", [("3", TypeError), (float("nan"), ValueError), (True, TypeError)])
def test_bad_kit_values_are_named(kit, error):
    with pytest.raises(error, match="999/c"):
        verdict(claim(1.0, kind="value", tolerance=0.1), kit)


def test_bad_margin_is_named():
    with pytest.raises(ValueError, match="margin"):
        verdict(claim(1.0, kind="direction"), 2.0, margin=-1)


def test_describe_value():
    assert describe_value(12.345, "%") == "12.3 %"
    assert describe_value(["a", "b"]) == "a > b"
    assert describe_value({"a": 1.0, "b": 2.0}, "pts") == "b (2.00 pts) > a (1.00 pts)"
    assert describe_value({str(i): float(i) for i in range(11)}) == "11 entries"
    assert describe_value({str(i): float(i) for i in range(5)}, higher_is_better=False) == "0 > 1 > 2 > 3 > 4"
    assert describe_value(None) == "—"
    assert describe_value(2.5, "x") == "2.50x"
