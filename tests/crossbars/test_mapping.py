import math

import pytest
import torch
from torch import nn

from imckit.crossbars.mapping import (CrossbarSpec, align_threshold, map_strips, strip_capacity, strips_per_crossbar,
                                     utilization_table)
from imckit.crossbars.strips import assign_precision, compression_ratio


def test_capacity_and_utilization_by_hand():
    spec = CrossbarSpec(rows=8, columns=8, cell_bits=2)
    assert spec.columns_per_weight(8) == 4 and spec.columns_per_weight(3) == 2
    # depth 3: 2 strips down (6 of 8 rows), 8-bit weights take 4 columns: 2 across -> 4 strips per crossbar
    assert strip_capacity(spec, 3, 8) == (4, 1)
    mapped = map_strips(spec, 5, 3, 8)
    assert mapped["crossbars"] == 2 and mapped["used_cells"] == 5 * 3 * 4 and mapped["cells"] == 128
    assert mapped["utilization"] == pytest.approx(60 / 128)
    # depth 12 > 8 rows: two row segments per strip, 2 segments per crossbar -> 3 strips need 3 crossbars
    assert strip_capacity(spec, 12, 8) == (2, 2)
    deep = map_strips(spec, 3, 12, 8)
    assert deep["crossbars"] == 3 and deep["utilization"] == pytest.approx(144 / 192)
    assert math.isnan(map_strips(spec, 0, 3, 8)["utilization"])
    # whole crossbars: 4 strips of depth 3; strips of depth 12 (2 segments, 2 per crossbar) fill one each;
    # depth 24 (3 segments, 2 per crossbar): 2 strips fill 3 crossbars
    assert strips_per_crossbar(spec, 3, 8) == 4 and strips_per_crossbar(spec, 12, 8) == 1
    assert strips_per_crossbar(spec, 24, 8) == 2 and map_strips(spec, 2, 24, 8)["utilization"] == pytest.approx(1.0)


def _layer(scores):
    model = nn.Sequential()
    model.add_module("conv", nn.Conv2d(3, len(scores), 1))
    return model, {"conv": torch.tensor(scores, dtype=torch.float32).view(-1, 1, 1)}


def test_assignment_and_compression_ratio():
    _, scores = _layer([0.1, 0.5, 0.9, 0.3])
    high = assign_precision(scores, 0.3)
    assert high["conv"].flatten().tolist() == [False, True, True, False]  # s > T, ties stay low
    assert compression_ratio(high) == 0.5
    assert compression_ratio(assign_precision(scores, -math.inf)) == 0.0
    assert compression_ratio(assign_precision(scores, math.inf)) == 1.0


def test_aligned_threshold_fills_whole_crossbars():
    spec = CrossbarSpec(rows=8, columns=8, cell_bits=2)  # depth 3, 8-bit: capacity 4 strips
    model, scores = _layer([float(k) for k in range(10)])
    for threshold, rounding, expected in ((3.5, "down", 4), (2.5, "down", 4), (2.5, "nearest", 8),
                                          (3.5, "nearest", 4), (6.5, "down", 0), (-1.0, "down", 8)):
        aligned = align_threshold(model, scores, threshold, spec, rounding=rounding)
        q = int(assign_precision(scores, aligned)["conv"].sum())
        assert q == expected, (threshold, rounding)
        assert q % strip_capacity(spec, 3, 8)[0] == 0
        kept = assign_precision(scores, aligned)["conv"].flatten()
        if q:  # the most sensitive strips stay high
            assert kept[-q:].all() and not kept[:-q].any()
    table = utilization_table(model, assign_precision(scores, align_threshold(model, scores, 2.5, spec)), spec)
    # 7 strips above 2.5 -> 4 high (one full 8 x 8 crossbar: 4 strips x 3 rows x 4 columns = 48 of 64 cells)
    assert table.loc["conv", "high crossbars"] == 1 and table.loc["conv", "high utilization (%)"] == pytest.approx(75.0)
    assert table.loc["all", "low strips"] == 6


@pytest.mark.parametrize("call,message", [
    (lambda: CrossbarSpec(rows=0), r"rows must be an integer in \[1, 4096\]"),
    (lambda: CrossbarSpec(cell_bits=9), r"cell_bits must be an integer in \[1, 8\]"),
    (lambda: CrossbarSpec().columns_per_weight(0), r"^bits must be an integer in \[1, 16\]"),
    (lambda: assign_precision({"a": torch.ones(2)}, float("nan")), "threshold must be a number"),
    (lambda: map_strips(CrossbarSpec(), -1, 3, 8), "count must be an integer >= 0"),
    (lambda: strip_capacity(CrossbarSpec(columns=2), 3, 8), "needs 4 columns"),
])
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_bad_rounding():
    model, scores = _layer([1.0, 2.0])
    with pytest.raises(ValueError, match="^rounding must be one of 'down', 'nearest'"):
        align_threshold(model, scores, 0.0, rounding="up")


def test_weight_level_utilization_wastes_cells_of_mixed_strips():
    from imckit.crossbars.mapping import weight_level_utilization

    spec = CrossbarSpec(rows=8, columns=8, cell_bits=2)
    model = nn.Sequential(nn.Conv2d(3, 4, 1))  # 4 strips of depth 3
    high = torch.zeros(4, 3, 1, 1, dtype=torch.bool)
    high[0, 0] = True  # strip 0 mixed: one high weight, two low
    high[1] = True  # strip 1 all high
    table = weight_level_utilization(model, {"0": high}, spec)
    assert table.loc["0", "mixed strips"] == 1
    # high crossbars: strips 0 and 1 (capacity 4) -> 1 crossbar; 4 high weights x 4 columns = 16 of 64 cells
    assert table.loc["0", "high crossbars"] == 1 and table.loc["0", "high utilization (%)"] == pytest.approx(25.0)
    # low crossbars (4-bit: 2 columns, capacity 2 x 4 = 8): strips 0, 2, 3 -> 1 crossbar; 8 low weights x 2 columns
    assert table.loc["0", "low crossbars"] == 1 and table.loc["0", "low utilization (%)"] == pytest.approx(100 * 16 / 64)
    # the same weights as whole strips (strip 0 high) use the high crossbar's cells no worse
    strip_level = utilization_table(model, {"0": high.any(1)}, spec)
    assert strip_level.loc["0", "high utilization (%)"] >= table.loc["0", "high utilization (%)"]


def test_alignment_report_by_hand():
    from imckit.crossbars.mapping import alignment_report

    # one layer of 6 strips of depth 3 (4 per 8 x 8 crossbar at 8 bits), one of 2 dense strips of depth 4
    model = nn.Sequential(nn.Conv2d(3, 6, 1), nn.Flatten(), nn.Linear(4, 2))
    scores = {"0": torch.tensor([6.0, 5, 4, 3, 2, 1]).view(6, 1, 1), "2": torch.tensor([0.5, 0.25])}
    spec = CrossbarSpec(rows=8, columns=8, cell_bits=2)
    report = alignment_report(model, scores, 3 / 8, [spec, CrossbarSpec(rows=4, columns=4, cell_bits=2)])
    table = report.table.set_index(["crossbar", "threshold"])
    assert list(report.table["crossbar"]) == ["8x8"] * 3 + ["4x4"] * 3
    # origin: the 3 lowest of 8 strips low: 5 conv strips high (not a multiple of 4), both dense strips low
    origin = report.assignments[("8x8", "origin")]
    assert origin["0"].flatten().tolist() == [True] * 5 + [False] and not origin["2"].any()
    assert table.loc[("8x8", "origin"), "whole crossbars per layer"] == "no"
    assert table.loc[("8x8", "origin"), "compression ratio (%)"] == pytest.approx(100 * 3 / 8)
    # down: 5 -> 4 high conv strips, one whole crossbar; nearest: 5 is nearer 4 than 8, the same
    for method in ("down", "nearest"):
        assert int(report.assignments[("8x8", method)]["0"].sum()) == 4
        assert table.loc[("8x8", method), "whole crossbars per layer"] == "yes"
        assert table.loc[("8x8", method), "high utilization (%)"] == pytest.approx(100 * 4 * 3 * 4 / 64)
    assert report.per_layer[("8x8", "down")].loc["0", "high strips"] == 4
    # on 4 x 4 crossbars a strip of depth 3 fills one crossbar alone: nothing to align, nothing emptied
    assert report.emptied_layers("4x4") == [] and report.small_layers("4x4") == []
    assert report.small_layers("8x8") == [] and CrossbarSpec(rows=8, columns=4).label == "8x4"
    # a layer with fewer high strips than one crossbar holds is emptied by rounding down
    few = alignment_report(model, scores, 6 / 8, [spec])
    assert few.small_layers("8x8") == ["0"] and few.emptied_layers("8x8") == ["0"]
    with pytest.raises(ValueError, match="specs must have different sizes"):
        alignment_report(model, scores, 0.5, [spec, spec])
    with pytest.raises(ValueError, match="specs must be one or more CrossbarSpec"):
        alignment_report(model, scores, 0.5, [128])
