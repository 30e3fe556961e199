import pytest
import torch
from torch import nn

from imckit.crossbars.mapping import CrossbarSpec
from imckit.crossbars.energy import ADCSpec, energy_proxy, output_positions


def test_counts_by_hand():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Flatten(), nn.Linear(16, 2))
    spec = CrossbarSpec(rows=8, columns=8, cell_bits=2)
    assert output_positions(model, (3, 2, 2), ["0", "2"]) == {"0": 4, "2": 1}
    high = {"0": torch.ones(4, 1, 1, dtype=torch.bool), "2": torch.zeros(2, dtype=torch.bool)}
    frame = energy_proxy(model, high, (3, 2, 2), spec)
    # conv: 4 strips of depth 3 at 8 bits fill one 8 x 8 crossbar; 4 MVMs x 8 input bits x 8 columns converted
    assert frame.loc["0", "high crossbars"] == 1 and frame.loc["0", "high ADC conversions"] == 256
    assert frame.loc["0", "high ADC bit decisions"] == 256 * 8 and frame.loc["0", "low crossbars"] == 0
    assert frame.loc["0", "latency cycles"] == 4 * 8 * 4 * 8  # 4 columns per ADC, one after another, 8 cycles each
    # dense: 2 strips of depth 16 > 8 rows at 4 bits: 2 segments each, 8 // 2 = 4 per crossbar -> 1 crossbar
    assert frame.loc["2", "low crossbars"] == 1 and frame.loc["2", "low ADC conversions"] == 1 * 8 * 8
    assert frame.loc["2", "low ADC bit decisions"] == 64 * 4
    assert frame.loc["all", "ADC bit decisions"] == 2048 + 256
    assert frame.loc["all", "ADC level units"] == 256 * 256 + 64 * 16


def test_lower_precision_costs_less():
    model = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1))
    scores_shape = (16, 3, 3)
    high = energy_proxy(model, {"0": torch.ones(scores_shape, dtype=torch.bool)}, (8, 6, 6))
    low = energy_proxy(model, {"0": torch.zeros(scores_shape, dtype=torch.bool)}, (8, 6, 6))
    # one crossbar either way, every column converted: half the bit decisions, 1/16 of the level units
    assert low.loc["all", "low ADC conversions"] == high.loc["all", "high ADC conversions"] > 0
    assert low.loc["all", "ADC bit decisions"] * 2 == high.loc["all", "ADC bit decisions"]
    assert low.loc["all", "ADC level units"] * 16 == high.loc["all", "ADC level units"]
    assert low.loc["all", "latency cycles"] * 4 == high.loc["all", "latency cycles"]


@pytest.mark.parametrize("kwargs,message", [
    ({"levels": {8: 100, 4: 16}}, "levels\\[8\\] must be a power of two"),
    ({"columns_per_adc": {8: 4}}, "must name the same weight precisions"),
    ({"input_bits": 0}, r"input_bits must be an integer in \[1, 32\]"),
])
def test_bad_adc_spec(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ADCSpec(**kwargs)


def test_energy_sweep_totals_and_relative_columns():
    from imckit.crossbars.energy import energy_sweep
    from imckit.crossbars.strips import strip_assignment

    model = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.Flatten(), nn.Linear(16 * 36, 4))
    g = torch.Generator().manual_seed(0)
    scores = {"0": torch.rand(16, 3, 3, generator=g), "2": torch.rand(4, generator=g)}
    frame = energy_sweep(model, scores, [0.0, 0.5, 1.0], (8, 6, 6))
    assert list(frame.index) == [0.0, 50.0, 100.0]
    half = energy_proxy(model, strip_assignment(scores, 0.5), (8, 6, 6)).loc["all"]
    assert frame.loc[50.0, "ADC level units"] == half["ADC level units"]
    assert frame.loc[50.0, "crossbars"] == half["high crossbars"] + half["low crossbars"]
    assert (frame.iloc[0][[c for c in frame.columns if c.endswith("(rel.)")]] == 1).all()
    assert frame.loc[100.0, "ADC level units (rel.)"] < frame.loc[0.0, "ADC level units (rel.)"]
    with pytest.raises(ValueError, match="at least one compression ratio"):
        energy_sweep(model, scores, [], (8, 6, 6))


def test_serial_latency_adds_a_read_per_crossbar():
    model = nn.Sequential(nn.Conv2d(4, 8, 1))
    spec = CrossbarSpec(rows=8, columns=8, cell_bits=2)  # 8-bit strips of depth 4: 2 down x 2 across = 4
    high = torch.zeros(8, 1, 1, dtype=torch.bool)
    high[:5] = True  # 5 high strips: 2 crossbars; 3 low strips at 4 bits (2 columns): 2 x 4 = 8 per crossbar
    frame = energy_proxy(model, {"0": high}, (4, 3, 3), spec)
    read = {8: 9 * 8 * 4 * 8, 4: 9 * 8 * 2 * 4}  # MVMs x input bits x columns per ADC x resolution
    assert frame.loc["0", "high crossbars"] == 2 and frame.loc["0", "low crossbars"] == 1
    assert frame.loc["0", "latency cycles"] == read[8]  # parallel: the slower precision's one read
    assert frame.loc["0", "serial latency cycles"] == 2 * read[8] + read[4]
    assert frame.loc["all", "serial latency cycles"] == 2 * read[8] + read[4]


def test_weight_masks_map_mixed_strips_on_both_kinds():
    from imckit.crossbars.mapping import weight_level_utilization

    model = nn.Sequential(nn.Conv2d(4, 8, 1))
    spec = CrossbarSpec(rows=8, columns=8, cell_bits=2)
    strips = torch.zeros(8, 1, 1, dtype=torch.bool)
    strips[:4] = True
    weights = strips.unsqueeze(1).expand(8, 4, 1, 1).clone()  # the same assignment weight by weight
    by_strip = energy_proxy(model, {"0": strips}, (4, 3, 3), spec)
    by_weight = energy_proxy(model, {"0": weights}, (4, 3, 3), spec)
    assert by_strip.equals(by_weight)
    weights[4:, 0] = True  # one high weight in each of the 4 low strips: they need high crossbars too
    mixed = energy_proxy(model, {"0": weights}, (4, 3, 3), spec)
    utilization = weight_level_utilization(model, {"0": weights}, spec).loc["0"]
    assert mixed.loc["0", "high crossbars"] == utilization["high crossbars"] == 2  # 8 strips with a high weight
    assert mixed.loc["0", "low crossbars"] == utilization["low crossbars"] == 1
    assert mixed.loc["all", "ADC level units"] > by_strip.loc["all", "ADC level units"]
    assert mixed.loc["all", "serial latency cycles"] > by_strip.loc["all", "serial latency cycles"]
    with pytest.raises(TypeError, match=r"^assignment\['0'\] must be a bool tensor"):
        energy_proxy(model, {"0": weights.float()}, (4, 3, 3), spec)
