"""The crossbar cost model (imckit.crossbars.cost): hand-computed layers, bad input, monotonicity, seed 004's
bookkeeping table."""

import itertools
import math

import pytest
from torch import nn

from imckit.core.models import resnet8_paper
from imckit.crossbars.cost import PAPER_SEED004, CrossbarConfig, LayerShape, cost_table, layer_cost, network_cost, \
    seed004_bookkeeping
from imckit.crossbars.energy import ADCSpec

AREA_256 = 256 * 256 * 12 * (32e-6) ** 2  # mm^2: 12 F^2 cells at 32 nm (the kit's assumption)


def test_presets_carry_the_papers_numbers():
    p = CrossbarConfig.pelke2024()
    assert (p.rows, p.columns, p.cell_bits, p.mapping, p.dac_bits) == (256, 256, 4, "differential", 1)
    assert (p.mvm_latency_s, p.write_latency_s) == (1.4e-6, 56e-6)
    assert p.crossbar_area_mm2 == pytest.approx(AREA_256)
    c = CrossbarConfig.chen2025(32)
    assert (c.rows, c.columns, c.cell_bits, c.mapping) == (32, 32, 2, "offset")
    adc = ADCSpec()  # seed 001 Table 1: 256 levels for 8-bit weights, 16 for 4-bit
    assert dict(c.adc_bits_by_weight) == {b: adc.resolution(b) for b in adc.levels} == {8: 8, 4: 4}
    assert CrossbarConfig.chen2025().rows == 128


def test_dense_layer_by_hand():
    cfg = CrossbarConfig.pelke2024()  # 256 x 256, 4-bit cells, differential
    cost = layer_cost(nn.Linear(300, 100), 8, 8, cfg)
    # 8-bit weight = 2 slices of 4 bits, 2 columns each (differential) = 4 columns; 256 // 4 = 64 weights across
    # rows: ceil(300 / 256) = 2; columns: ceil(100 / 64) = 2 -> 4 crossbars
    assert cost.crossbars == 4
    assert cost.utilization == pytest.approx(300 * 100 * 4 / (4 * 256 * 256))
    # one MVM, 8 input bits through a 1-bit DAC: 8 cycles of 1.4 us; all 4 crossbars read at once
    assert cost.cycles == 8 and cost.crossbar_reads == 4 * 8
    assert cost.latency_s == pytest.approx(8 * 1.4e-6)
    # every column converted every cycle: 32 reads x 256 columns; 8-bit ADC, 2.56 pJ per conversion
    assert cost.adc_conversions == 32 * 256
    assert cost.energy_j == pytest.approx(32 * 256 * 2.56e-12)
    assert cost.area_mm2 == pytest.approx(4 * AREA_256)
    assert cost.edap == pytest.approx(cost.energy_j * cost.latency_s * cost.area_mm2)
    # 4-bit weights: 1 slice x 2 columns -> 128 across -> 1 column tile -> 2 crossbars
    assert layer_cost(nn.Linear(300, 100), 4, 8, cfg).crossbars == 2
    # offset mapping: 2 columns per 8-bit weight -> 128 across -> 2 crossbars
    assert layer_cost((300, 100), 8, 8, cfg.replace(mapping="offset")).crossbars == 2


def test_time_multiplexed_by_hand():
    one = CrossbarConfig.pelke2024(parallel_crossbars=1)
    cost = layer_cost((300, 100), 8, 8, one)
    # 4 crossbars on 1: 4 rounds, each written (56 us) then read 8 cycles (1.4 us)
    assert cost.cycles == 4 * 8
    assert cost.latency_s == pytest.approx(4 * 56e-6 + 4 * 8 * 1.4e-6)
    assert cost.area_mm2 == pytest.approx(AREA_256)
    three = layer_cost((300, 100), 8, 8, one.replace(parallel_crossbars=3))
    assert three.cycles == 2 * 8 and three.area_mm2 == pytest.approx(3 * AREA_256)  # rounds ceil(4 / 3) = 2
    assert three.energy_j == cost.energy_j  # the same reads, in fewer rounds


def test_conv_layer_by_hand_seed001_adc():
    cfg = CrossbarConfig.chen2025(32)  # 32 x 32, 2-bit cells, offset
    conv = nn.Conv2d(3, 8, 3)
    # fan-in 3 * 3 * 3 = 27 <= 32 rows; 8-bit weight = 4 columns, 32 // 4 = 8 across: 8 outputs in 1 crossbar
    high = layer_cost(conv, 8, 8, cfg, positions=16)
    assert high.crossbars == 1 and high.cycles == 16 * 8
    assert high.energy_j == pytest.approx(16 * 8 * 32 * 2.56e-12)  # 8-bit ADC for 8-bit weights (Table 1)
    low = layer_cost(conv, 4, 4, cfg, positions=16)
    # 4-bit ADC for 4-bit weights: 2.56 pJ x 2**(4 - 8) per conversion; 16 positions x 4 cycles x 32 columns
    assert low.energy_j == pytest.approx(16 * 4 * 32 * 2.56e-12 / 16)
    bits_model = layer_cost(conv, 4, 4, cfg.replace(adc_scaling="bits"), positions=16)
    assert bits_model.energy_j == pytest.approx(16 * 4 * 32 * 2.56e-12 * 4 / 8)
    # 6-bit weights (3 slices) are not in Table 1: the default 8-bit ADC; 32 // 3 = 10 across -> 1 crossbar
    six = layer_cost(conv, 6, 8, cfg, positions=16)
    assert six.crossbars == 1 and six.energy_j == pytest.approx(high.energy_j)


def test_network_of_specs_and_of_a_model():
    cfg = CrossbarConfig.pelke2024()
    cost = network_cost([(300, 100), LayerShape(27, 8, 16, "c")], [8, (4, 4)], cfg)
    assert [c.name for c in cost.layers] == ["layer1", "c"]
    # layer1 as above (4 crossbars, 8 cycles); c: 1 crossbar, 16 positions x 4 cycles
    assert cost.total.crossbars == 5 and cost.total.cycles == 8 + 64
    assert cost.total.latency_s == pytest.approx(72 * 1.4e-6)
    assert cost.total.area_mm2 == pytest.approx(5 * AREA_256)
    assert cost.total.edap == pytest.approx(cost.total.energy_j * cost.total.latency_s * cost.total.area_mm2)
    table = cost_table(cost)
    assert list(table.index) == ["layer1", "c", "all"] and table.loc["all", "crossbars"] == 5
    assert table.loc["c", "EDAP (J s mm^2)"] == pytest.approx(cost.layers[1].edap)

    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Flatten(), nn.Linear(16, 2))
    net = network_cost(model, {"0": 8, "2": (8, 2)}, cfg, input_shape=(3, 2, 2))
    # conv: 2 x 2 = 4 positions x 8 cycles; dense: 1 x 2 cycles
    assert [c.cycles for c in net.layers] == [32, 2] and net.total.crossbars == 2


@pytest.mark.parametrize("make,error,message", [
    (lambda: CrossbarConfig(cell_bits=3), ValueError, "cell_bits must be one of 1, 2, 4; got 3"),
    (lambda: CrossbarConfig(cell_bits=True), TypeError, "cell_bits must be an integer"),
    (lambda: CrossbarConfig(mapping="twos"), ValueError, "mapping must be one of 'differential', 'offset'"),
    (lambda: CrossbarConfig(rows=0), ValueError, r"rows must be an integer in \[1, 4096\]; got 0"),
    (lambda: CrossbarConfig(mvm_latency_s=0), ValueError, "mvm_latency_s must be a finite number > 0"),
    (lambda: CrossbarConfig(parallel_crossbars=0), ValueError, "parallel_crossbars must be an integer >= 1"),
    (lambda: CrossbarConfig(adc_bits_by_weight={8: 20}), ValueError, r"adc_bits_by_weight\[8\] must be"),
    (lambda: CrossbarConfig(adc_scaling="linear"), ValueError, "adc_scaling must be one of"),
    (lambda: CrossbarConfig.chen2025(64), ValueError, "size must be one of 128, 32; got 64"),
    (lambda: CrossbarConfig().replace(size=3), ValueError, "a CrossbarConfig field must be one of"),
    (lambda: layer_cost((10, 10), 6, 8, CrossbarConfig()), ValueError, "weight_bits must be a multiple of cell_bits=4"),
    (lambda: layer_cost((10, 10), 8, 0, CrossbarConfig()), ValueError, r"input_bits must be an integer in \[1, 16\]"),
    (lambda: layer_cost((10, 10), 8, 8.0, CrossbarConfig()), TypeError, "input_bits must be an integer"),
    (lambda: layer_cost(nn.Conv2d(1, 1, 3), 8, 8, CrossbarConfig()), ValueError, "positions must be given"),
    (lambda: layer_cost((0, 10), 8, 8, CrossbarConfig()), ValueError, "fan_in must be an integer >= 1"),
    (lambda: layer_cost("fc", 8, 8, CrossbarConfig()), TypeError, "layer must be an nn.Conv2d"),
    (lambda: layer_cost((10, 10), 8, 8, "pelke"), TypeError, "config must be a CrossbarConfig"),
    (lambda: layer_cost((10, 10), 8, 8, CrossbarConfig(columns=2, cell_bits=1)), ValueError, "columns=2"),
    (lambda: network_cost([(10, 10)] * 2, [8], CrossbarConfig()), ValueError, "one entry per layer"),
    (lambda: network_cost([(10, 10)], {"x": 8}, CrossbarConfig()), ValueError, "bits must name every layer"),
    (lambda: network_cost([(10, 10)], (8, 4, 2), CrossbarConfig()), ValueError, "bits must be an integer or a pair"),
    (lambda: network_cost(nn.Linear(2, 2), 8, CrossbarConfig()), ValueError, "input_shape must be given"),
    (lambda: network_cost([], 8, CrossbarConfig()), ValueError, "network must be an nn.Module or a non-empty"),
    (lambda: cost_table("x"), TypeError, "cost must be a NetworkCost"),
])
def test_bad_input_names_the_parameter(make, error, message):
    with pytest.raises(error, match=message):
        make()


SHAPES = [(1, 1, 1), (27, 8, 16), (255, 63, 4), (256, 64, 1), (257, 65, 9), (600, 130, 2), (2000, 1000, 1)]


@pytest.mark.parametrize("cell_bits,mapping", list(itertools.product((1, 2, 4), ("differential", "offset"))))
def test_monotone_in_weight_and_input_bits(cell_bits, mapping):
    for parallel, dac in ((None, 1), (2, 1), (None, 2)):
        cfg = CrossbarConfig(cell_bits=cell_bits, mapping=mapping, parallel_crossbars=parallel, dac_bits=dac)
        widths = [w for w in range(cell_bits, 17, cell_bits) if cfg.columns_per_weight(w) <= cfg.columns]
        for shape in SHAPES:
            by_weight = [layer_cost(shape, w, 8, cfg) for w in widths]
            for a, b in zip(by_weight, by_weight[1:]):  # more weight bits: never fewer crossbars, never faster
                assert b.crossbars >= a.crossbars and b.latency_s >= a.latency_s and b.area_mm2 >= a.area_mm2
            by_input = [layer_cost(shape, cell_bits, i, cfg) for i in range(1, 17)]
            for a, b in zip(by_input, by_input[1:]):  # more input bits: more cycles (1-bit DAC), never fewer
                assert b.cycles > a.cycles if dac == 1 else b.cycles >= a.cycles
                assert b.latency_s >= a.latency_s and b.energy_j >= a.energy_j and b.crossbars == a.crossbars
            per_mvm = math.ceil(16 / dac)
            assert by_input[-1].crossbar_reads == by_input[-1].crossbars * shape[2] * per_mvm


def test_seed004_bookkeeping_table():
    table = seed004_bookkeeping(resnet8_paper(), (3, 32, 32))
    model_columns = [c for c in table.columns if c.endswith("(model)")]
    assert "speed-up vs baseline (model)" in model_columns and "crossbars (model)" in model_columns
    paper = table["speed-up (paper, seed 004)"]
    both = table["configuration"] == "weights and inputs low"
    assert (paper[both] == PAPER_SEED004["peak speed-up vs 8-bit"]).all() and paper[~both].isna().all()
    assert table.loc[both, "paper note"].str.contains("not comparable").all()
    for mode, rows in table.groupby("crossbars"):
        rows = rows.set_index("configuration")
        speed = rows["speed-up vs baseline (model)"]
        assert speed["8-bit baseline"] == 1.0
        # fewer cells: fewer crossbars (the paper widths' last stack needs 3 column tiles at 8 bits, 2 at 4)
        assert rows.loc["weights low", "crossbars (model)"] < rows.loc["8-bit baseline", "crossbars (model)"]
        assert speed["weights and inputs low"] >= max(speed["weights low"], speed["inputs low"]) > 1.0 \
            or mode == "weight-stationary"
        if mode == "weight-stationary":  # every crossbar read at once: only input bits (cycles) matter
            assert speed["weights low"] == 1.0
            assert speed["inputs low"] == pytest.approx(1 / rows.loc["inputs low", "cycle ratio vs baseline (model)"])
        else:  # one crossbar, rewritten per round: fewer cells shorten latency too
            assert speed["weights low"] > 1.0
