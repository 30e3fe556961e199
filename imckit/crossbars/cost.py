"""A crossbar cost model: crossbars, cycles, latency, energy, area and EDAP of a network whose layers carry
their own weight and input bit widths (issue 18, item 1; see seed 004 (Pelke et al.) for the latency model,
seed 001 (Chen et al.) Table 1 for the ADC settings, seed 003 (CIMNAS) for EDAP).

Unlike :mod:`imckit.crossbars.energy` (event counts, relative values only), this model puts seconds, joules
and mm^2 on the counts. Every constant is a field of :class:`CrossbarConfig`; its docstring names the source
of each preset value, or says that it is the kit's assumption because no seed paper gives it.

What it computes for one layer (a weight matrix of ``fan_in`` rows, its inputs, by ``outputs`` columns):

* **Mapping** (im2col, the usual layout of crossbar compilers and simulators; seed 004's summary does not spell its
  layout out, so this is the kit's assumption, and it differs from seed 001's strip packing in
  :func:`imckit.crossbars.mapping.map_strips`): a convolution is unrolled to a ``(in_channels * kh * kw) x
  out_channels`` matrix, one MVM per output position (a grouped convolution is stored as its block-diagonal
  matrix, zeros included; biases stay digital, as elsewhere in the kit). A weight of ``w`` bits is
  bit-sliced into ``w / cell_bits`` cells (:meth:`imckit.crossbars.mapping.CrossbarSpec.columns_per_weight`;
  seed 004: weight widths are multiples of the cell resolution), each slice on one column (``"offset"``
  mapping) or on a pair of columns (``"differential"``, seed 004: 2N cells per column). A weight's columns
  stay in one crossbar: ``floor(columns / columns_per_weight)`` weights across, ``rows`` inputs down, so a
  layer takes ``ceil(fan_in / rows) * ceil(outputs / weights_across)`` crossbars.
* **Cycles**: a 1-bit DAC streams the inputs one bit per cycle (seed 004), so one MVM takes
  ``ceil(input_bits / dac_bits)`` crossbar read cycles of ``mvm_latency_s`` each.
* **Latency**, two readings of how crossbars are shared (``CrossbarConfig.parallel_crossbars``):
  ``None`` (weight-stationary): every layer's weights stay on its own crossbars, all of a layer's crossbars are
  read at once, nothing is rewritten; latency = positions x cycles per MVM x ``mvm_latency_s``.
  ``k`` (time-multiplexed): a pool of ``k`` crossbars shared by all layers; a layer runs in
  ``ceil(crossbars / k)`` rounds, each programming its crossbars (``write_latency_s``, the crossbars of a round
  written in parallel) and then reading them for every position; latency = rounds x (write + positions x
  cycles per MVM x mvm). Only here do fewer cells (fewer crossbars) shorten latency.
  Layers run one after another; the modules bundled in one layer (a residual block's skip convolution) too.
* **Energy**: ADC conversions only (seed 001 Table 3: the ADC is 7.593 of 7.62 mJ at 0 % compression). As in
  :mod:`imckit.crossbars.energy`, every column of every active crossbar is converted in every read cycle;
  one conversion costs ``adc_energy_j`` at 8 bits, scaled to the ADC resolution by levels (``2**(b-8)``,
  capacitive-DAC dominated) or by bits (``b/8``, one comparator decision per bit).
* **Area**: crossbars x ``crossbar_area_mm2`` (the arrays only: no ADC, no periphery). Weight-stationary: all
  crossbars a layer or the network holds; time-multiplexed: the pool (``min(crossbars, k)`` per layer, the
  largest of those for the network).
* **EDAP** = energy (J) x latency (s) x area (mm^2) (seed 003's CIMNAS objective), per layer with the layer's
  numbers and for the network with its totals (not a sum of the layers' EDAPs).

None of this is a circuit simulation: it is bookkeeping with sourced and labelled constants, to compare
configurations and search strategies on one set of assumptions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

from torch import nn

from imckit.core.validate import check_choice, check_count, check_int, check_number
from imckit.crossbars.energy import ADCSpec, output_positions
from imckit.crossbars.mapping import CrossbarSpec

__all__ = ["CrossbarConfig", "LayerShape", "LayerCost", "NetworkCost", "layer_cost", "network_cost", "cost_table",
           "seed004_bookkeeping", "PAPER_SEED004", "MAPPINGS", "CELL_BITS", "ADC_SCALINGS", "ADC_REFERENCE_BITS"]

MAPPINGS = ("differential", "offset")
CELL_BITS = (1, 2, 4)  # seed 004: cells of 1, 2 or 4 bits
ADC_SCALINGS = ("levels", "bits")
ADC_REFERENCE_BITS = 8  # adc_energy_j is the energy of one conversion at this resolution

# Seed 004 (Pelke et al., ResNet-18 / VGG-16 / ViT-B/32, dataset not named in the summary, their simulator): reported numbers, for
# comparison rows only; the kit's network and setting differ.
PAPER_SEED004 = {"peak speed-up vs 8-bit": 2.48, "speed-up vs 8-bit, 4-bit cells (at least)": 2.20,
                 "max accuracy loss (%)": 0.086, "S/AL ResNet-18, 2-bit cells": 3.373,
                 "S/AL ResNet-18, 4-bit cells": 2.924}

# Kit assumptions shared by the presets (no seed paper gives them):
_ADC_ENERGY_J = 2.56e-12  # one 8-bit conversion: 10 fJ per conversion step x 256 levels (a Walden figure of merit
#                           typical of SAR ADCs; the kit's assumption)
_NODE_NM = 32  # seed 001 Table 1 (32 nm); seed 004 gives none, the kit uses the same
_CELL_AREA_F2 = 12  # 1T1R cell area in F^2 (the kit's assumption)


def _array_area_mm2(rows: int, columns: int, node_nm: float = _NODE_NM, cell_f2: float = _CELL_AREA_F2) -> float:
    """Area of a ``rows x columns`` array of ``cell_f2`` F^2 cells at feature size ``node_nm`` (mm^2)."""
    return rows * columns * cell_f2 * (node_nm * 1e-6) ** 2


@dataclass(frozen=True)
class CrossbarConfig:
    """One crossbar design and how a network runs on it (see the module docstring, seed 004 / 001).

    Attributes:
        rows: word lines (inputs) per crossbar, 1 to 4096. Seed 004: 256; seed 001 Table 1: 128 (Table 4: 32).
        columns: bit lines (outputs) per crossbar, 1 to 4096. Same sources as ``rows``.
        cell_bits: bits per cell, 1, 2 or 4 (seed 004 studies all three; seed 001 Table 1: 2-bit devices).
        mapping: ``"differential"`` (2 cells per weight slice, a column pair; seed 004) or ``"offset"`` (1 cell
            per slice; the offset is removed digitally, no reference column: the kit's assumption, and the
            kit's reading of seed 001, whose Table 1 puts an 8-bit weight in 4 columns of 2-bit cells).
        dac_bits: input bits applied per read cycle, 1 to 8 (seed 004: a 1-bit DAC; seed 001 gives none, the
            kit assumes 1, the bit-serial scheme of DNN+NeuroSim).
        mvm_latency_s: seconds per crossbar read cycle (one MVM with ``dac_bits``-bit inputs). Seed 004: 1.4 us;
            seed 001 gives none (the kit uses seed 004's).
        write_latency_s: seconds to program one crossbar (the crossbars of one round in parallel). Seed 004:
            56 us "write latency"; that it covers a whole crossbar is the kit's reading. Seed 001: none (seed
            004's is used). Only charged when ``parallel_crossbars`` is set.
        adc_bits: ADC resolution (bits) for weight widths ``adc_bits_by_weight`` does not name, 1 to 16. Seed 004
            gives none: the kit assumes 8.
        adc_bits_by_weight: weight bits -> ADC bits. Seed 001 Table 1: 256 levels (8 bits) for 8-bit weights,
            16 levels (4 bits) for 4-bit weights (read from :class:`imckit.crossbars.energy.ADCSpec`).
        adc_energy_j: joules per conversion at 8 bits (:data:`ADC_REFERENCE_BITS`). No seed paper gives it:
            the kit assumes 2.56 pJ (10 fJ per conversion step x 256 levels).
        adc_scaling: ``"levels"`` (energy x ``2**(b - 8)``) or ``"bits"`` (x ``b / 8``), the two models that
            :mod:`imckit.crossbars.energy` brackets ADC energy with (the kit's assumption: ``"levels"``; seed 001
            Sec. 2.2: energy grows exponentially with resolution).
        crossbar_area_mm2: mm^2 per crossbar, the array only. No seed paper gives it: the kit assumes 1T1R cells
            of 12 F^2 at 32 nm (seed 001's node), ``rows * columns * 12 * (32 nm)^2``.
        parallel_crossbars: ``None`` (weight-stationary, every crossbar read at once) or the size of a shared
            pool of crossbars (time-multiplexed, rewritten per round). The kit's modelling choice.
        name: a label for tables.
    """

    rows: int = 256
    columns: int = 256
    cell_bits: int = 4
    mapping: str = "differential"
    dac_bits: int = 1
    mvm_latency_s: float = 1.4e-6
    write_latency_s: float = 56e-6
    adc_bits: int = 8
    adc_bits_by_weight: Mapping = field(default_factory=dict)
    adc_energy_j: float = _ADC_ENERGY_J
    adc_scaling: str = "levels"
    crossbar_area_mm2: float = _array_area_mm2(256, 256)
    parallel_crossbars: int | None = None
    name: str = "custom"

    def __post_init__(self):
        check_int(self.rows, "rows", 1, 4096)
        check_int(self.columns, "columns", 1, 4096)
        check_int(self.cell_bits, "cell_bits", 1, 4)
        check_choice(self.cell_bits, "cell_bits", CELL_BITS)
        check_choice(self.mapping, "mapping", MAPPINGS)
        check_int(self.dac_bits, "dac_bits", 1, 8)
        check_number(self.mvm_latency_s, "mvm_latency_s", 0, None, low_open=True)
        check_number(self.write_latency_s, "write_latency_s", 0, None)
        check_int(self.adc_bits, "adc_bits", 1, 16)
        if not isinstance(self.adc_bits_by_weight, Mapping):
            raise TypeError(f"adc_bits_by_weight must be a mapping weight bits -> ADC bits; got "
                            f"{self.adc_bits_by_weight!r}")
        for bits, adc in self.adc_bits_by_weight.items():
            check_int(bits, "adc_bits_by_weight (its keys, weight bits)", 1, 16)
            check_int(adc, f"adc_bits_by_weight[{bits}]", 1, 16)
        check_number(self.adc_energy_j, "adc_energy_j", 0, None)
        check_choice(self.adc_scaling, "adc_scaling", ADC_SCALINGS)
        check_number(self.crossbar_area_mm2, "crossbar_area_mm2", 0, None, low_open=True)
        if self.parallel_crossbars is not None:
            check_count(self.parallel_crossbars, "parallel_crossbars")
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a string; got {self.name!r}")

    @classmethod
    def pelke2024(cls, cell_bits: int = 4, parallel_crossbars: int | None = None, size: int = 256) -> "CrossbarConfig":
        """Seed 004 (Pelke et al.): 256x256 1T1R crossbars, differential mapping, 1-bit DAC, MVM 1.4 us, write
        56 us, cells of ``cell_bits`` (1, 2 or 4). ADC resolution, ADC energy and area: the kit's assumptions
        (class docstring). ``size`` other than 256 (1-4096) keeps everything but the array's rows, columns and
        area: seed 004's design scaled to a smaller network (the kit's choice where a chapter says so)."""
        size = check_int(size, "size", 1, 4096)
        label = "" if size == 256 else f", {size}x{size}"
        return cls(rows=size, columns=size, cell_bits=cell_bits, mapping="differential", dac_bits=1,
                   mvm_latency_s=1.4e-6, write_latency_s=56e-6, adc_bits=8, crossbar_area_mm2=_array_area_mm2(size, size),
                   parallel_crossbars=parallel_crossbars, name=f"pelke2024 ({cell_bits}-bit cells{label})")

    @classmethod
    def chen2025(cls, size: int = 128, parallel_crossbars: int | None = None) -> "CrossbarConfig":
        """Seed 001 (Chen et al.) Table 1: ``size`` x ``size`` arrays (128; Table 4 also 32), 2-bit cells, ADC of
        16 levels for 4-bit and 256 levels for 8-bit weights, 32 nm. Offset mapping, 1-bit DAC, the latencies
        (seed 004's), ADC energy and area: the kit's assumptions (class docstring)."""
        check_choice(size, "size", (128, 32))
        adc = ADCSpec()
        return cls(rows=size, columns=size, cell_bits=2, mapping="offset", dac_bits=1, mvm_latency_s=1.4e-6,
                   write_latency_s=56e-6, adc_bits=8, adc_bits_by_weight={b: adc.resolution(b) for b in adc.levels},
                   crossbar_area_mm2=_array_area_mm2(size, size), parallel_crossbars=parallel_crossbars,
                   name=f"chen2025 ({size}x{size})")

    def replace(self, **changes) -> "CrossbarConfig":
        """A copy with some fields changed (checked again)."""
        known = {f.name for f in fields(self)}
        for key in changes:
            check_choice(key, "a CrossbarConfig field", sorted(known))
        return replace(self, **changes)

    @property
    def spec(self) -> CrossbarSpec:
        """The array as :class:`imckit.crossbars.mapping.CrossbarSpec` (rows, columns, cell bits)."""
        return CrossbarSpec(self.rows, self.columns, self.cell_bits)

    def columns_per_weight(self, weight_bits: int) -> int:
        """Columns one weight takes: its ``weight_bits / cell_bits`` slices, 2 columns each when differential."""
        self.check_weight_bits(weight_bits)
        return self.spec.columns_per_weight(weight_bits) * (2 if self.mapping == "differential" else 1)

    def check_weight_bits(self, weight_bits, name: str = "weight_bits") -> int:
        """``weight_bits`` in [1, 16] and a multiple of ``cell_bits`` (seed 004)."""
        check_int(weight_bits, name, 1, 16)
        if weight_bits % self.cell_bits:
            raise ValueError(f"{name} must be a multiple of cell_bits={self.cell_bits} (seed 004: weight widths are "
                             f"multiples of the cell resolution); got {weight_bits}")
        return weight_bits

    def adc_resolution(self, weight_bits: int) -> int:
        """ADC bits used for a layer of ``weight_bits`` weights."""
        return int(self.adc_bits_by_weight.get(weight_bits, self.adc_bits))

    def conversion_energy_j(self, adc_bits: int) -> float:
        """Joules per ADC conversion at ``adc_bits`` bits (``adc_energy_j`` scaled from 8 bits)."""
        check_int(adc_bits, "adc_bits", 1, 16)
        if self.adc_scaling == "levels":
            return self.adc_energy_j * 2.0 ** (adc_bits - ADC_REFERENCE_BITS)
        return self.adc_energy_j * adc_bits / ADC_REFERENCE_BITS


@dataclass(frozen=True)
class LayerShape:
    """A layer as a weight matrix: ``fan_in`` inputs (rows) by ``outputs`` (columns), ``positions`` MVMs per
    inference (output height x width of a convolution; 1 for a dense layer)."""

    fan_in: int
    outputs: int
    positions: int = 1
    name: str = ""

    def __post_init__(self):
        check_count(self.fan_in, "fan_in")
        check_count(self.outputs, "outputs")
        check_count(self.positions, "positions")


@dataclass(frozen=True)
class LayerCost:
    """The cost of one layer (or, as :attr:`NetworkCost.total`, of a network); units in the names."""

    name: str
    weight_bits: int | None
    input_bits: int | None
    crossbars: int
    utilization: float
    cycles: int
    crossbar_reads: int
    adc_conversions: int
    latency_s: float
    energy_j: float
    area_mm2: float

    @property
    def edap(self) -> float:
        """Energy x delay x area (J s mm^2), seed 003's CIMNAS objective."""
        return self.energy_j * self.latency_s * self.area_mm2


def _shape_of(layer, positions, name: str = "layer") -> LayerShape:
    if positions is not None:
        check_count(positions, "positions")
    if isinstance(layer, LayerShape):
        return layer if positions is None else replace(layer, positions=positions)
    if isinstance(layer, nn.Linear):
        return LayerShape(layer.in_features, layer.out_features, 1 if positions is None else positions)
    if isinstance(layer, nn.Conv2d):
        if positions is None:
            raise ValueError("positions must be given for a convolution: its output height x width, an integer >= 1 "
                             "(network_cost measures it from input_shape)")
        kh, kw = layer.kernel_size
        return LayerShape(layer.in_channels * kh * kw, layer.out_channels, positions)  # groups: block-diagonal
    if isinstance(layer, tuple) and len(layer) in (2, 3) and not any(isinstance(v, bool) for v in layer):
        return LayerShape(*layer) if positions is None else LayerShape(*layer[:2], positions)
    raise TypeError(f"{name} must be an nn.Conv2d, an nn.Linear, a LayerShape or a tuple "
                    "(fan_in, outputs[, positions]);"
                    f" got {type(layer).__name__}")


def _check_config(config) -> CrossbarConfig:
    if not isinstance(config, CrossbarConfig):
        raise TypeError("config must be a CrossbarConfig (e.g. CrossbarConfig.pelke2024()); got "
                        f"{type(config).__name__}")
    return config


def layer_cost(layer, weight_bits: int, input_bits: int, config: CrossbarConfig, positions: int | None = None,
               name: str | None = None) -> LayerCost:
    """The cost of one layer at ``weight_bits`` / ``input_bits`` on ``config`` (module docstring; seed 004 / 001).

    Args:
        layer: an ``nn.Conv2d`` (``positions`` required), an ``nn.Linear``, a :class:`LayerShape` or a tuple
            ``(fan_in, outputs[, positions])``.
        weight_bits: 1 to 16, a multiple of ``config.cell_bits``.
        input_bits: 1 to 16, streamed ``config.dac_bits`` per cycle.
        positions: MVMs per inference (overrides the layer's own).
    """
    config = _check_config(config)
    shape = _shape_of(layer, positions)
    config.check_weight_bits(weight_bits)
    check_int(input_bits, "input_bits", 1, 16)
    cpw = config.columns_per_weight(weight_bits)
    if cpw > config.columns:
        raise ValueError(f"a {weight_bits}-bit weight needs {cpw} columns ({config.mapping} mapping, {config.cell_bits}"
                         f"-bit cells); the crossbar has columns={config.columns}")
    across = config.columns // cpw
    crossbars = math.ceil(shape.fan_in / config.rows) * math.ceil(shape.outputs / across)
    per_mvm = math.ceil(input_bits / config.dac_bits)
    reads = crossbars * shape.positions * per_mvm
    k = config.parallel_crossbars
    if k is None:
        rounds, writes, held = 1, 0.0, crossbars
    else:
        rounds = math.ceil(crossbars / k)
        writes, held = rounds * config.write_latency_s, min(crossbars, k)
    cycles = rounds * shape.positions * per_mvm
    conversions = reads * config.columns
    return LayerCost(
        name=shape.name if name is None else str(name), weight_bits=weight_bits, input_bits=input_bits,
        crossbars=crossbars,
        utilization=shape.fan_in * shape.outputs * cpw / (crossbars * config.rows * config.columns),
        cycles=cycles, crossbar_reads=reads, adc_conversions=conversions,
        latency_s=writes + cycles * config.mvm_latency_s,
        energy_j=conversions * config.conversion_energy_j(config.adc_resolution(weight_bits)),
        area_mm2=held * config.crossbar_area_mm2)


def _combine(name: str, costs: list[LayerCost], config: CrossbarConfig, area_mm2: float | None = None) -> LayerCost:
    """Costs run one after another: counts, latency and energy add; area adds (weight-stationary) or is the
    largest pool share (time-multiplexed)."""
    cells = sum(c.crossbars for c in costs) * config.rows * config.columns
    used = sum(c.utilization * c.crossbars for c in costs) * config.rows * config.columns
    bits = {(c.weight_bits, c.input_bits) for c in costs}
    w, i = bits.pop() if len(bits) == 1 else (None, None)
    if area_mm2 is None:
        areas = [c.area_mm2 for c in costs]
        area_mm2 = sum(areas) if config.parallel_crossbars is None else max(areas)
    return LayerCost(name, w, i, sum(c.crossbars for c in costs), used / cells if cells else float("nan"),
                     sum(c.cycles for c in costs), sum(c.crossbar_reads for c in costs),
                     sum(c.adc_conversions for c in costs), sum(c.latency_s for c in costs),
                     sum(c.energy_j for c in costs), area_mm2)


@dataclass(frozen=True)
class NetworkCost:
    """Per-layer costs in order and the network's total (layers run one after another)."""

    layers: tuple
    total: LayerCost
    config: CrossbarConfig

    def table(self):
        """:func:`cost_table` of this cost."""
        return cost_table(self)


def _bits_for(bits, names: list[str]) -> list[tuple[int, int]]:
    """``bits`` (an int, a pair (weight, input), a list of those per layer, or a dict layer name -> those) as one
    (weight bits, input bits) pair per layer."""
    def pair(value, where):
        if isinstance(value, tuple) and len(value) == 2:
            return (check_int(value[0], f"{where} (weight bits)", 1, 16),
                    check_int(value[1], f"{where} (input bits)", 1, 16))
        if isinstance(value, tuple):
            raise ValueError(f"{where} must be an integer or a pair (weight bits, input bits); got {value!r}")
        value = check_int(value, where, 1, 16)
        return value, value

    if isinstance(bits, Mapping):
        unknown = sorted(set(bits) - set(names), key=repr)
        missing = [n for n in names if n not in bits]
        if unknown or missing:
            raise ValueError(f"bits must name every layer, {names}; unknown {unknown}, missing {missing}")
        return [pair(bits[n], f"bits[{n!r}]") for n in names]
    if isinstance(bits, list):
        if len(bits) != len(names):
            raise ValueError(f"bits must have one entry per layer ({len(names)}); got {len(bits)}")
        return [pair(b, f"bits[{k}]") for k, b in enumerate(bits)]
    return [pair(bits, "bits")] * len(names)


def network_cost(network, bits, config: CrossbarConfig, input_shape: tuple[int, ...] | None = None) -> NetworkCost:
    """The cost of a network, layer by layer (module docstring; see seed 004 / 001).

    Args:
        network: an ``nn.Module`` (its layers are :func:`imckit.core.models.mappable_layers`; the modules bundled in
            one layer share its bits and run one after another; ``input_shape`` = (channels, height, width) of
            one input gives each convolution's positions) or a list of layer specs (``nn.Linear``,
            :class:`LayerShape`, tuples ``(fan_in, outputs[, positions])``).
        bits: one width for weights and inputs of every layer (int), a pair ``(weight bits, input bits)``, a list of
            those per layer, or a dict layer name -> those.
    """
    from imckit.core.models import mappable_layers

    config = _check_config(config)
    if isinstance(network, nn.Module):
        if input_shape is None:
            raise ValueError("input_shape must be given for a model: the shape of one input, e.g. (3, 32, 32)")
        layers = mappable_layers(network)
        names = [layer.name for layer in layers]
        pairs = _bits_for(bits, names)
        modules = [m for layer in layers for m in layer.modules]
        positions = output_positions(network, input_shape, modules)
        costs = []
        for layer, (w, i) in zip(layers, pairs):
            parts = [layer_cost(network.get_submodule(m), w, i, config, positions=positions[m], name=m)
                     for m in layer.modules]
            costs.append(parts[0] if len(parts) == 1 else _combine(layer.name, parts, config))
            costs[-1] = replace(costs[-1], name=layer.name)
    else:
        if isinstance(network, (str, bytes)) or not isinstance(network, (list, tuple)) or not network:
            raise ValueError(f"network must be an nn.Module or a non-empty list of layer specs; got {network!r}")
        shapes = [_shape_of(spec, None, f"network[{k}]") for k, spec in enumerate(network)]
        names = [s.name or f"layer{k + 1}" for k, s in enumerate(shapes)]
        if len(set(names)) != len(names):
            raise ValueError(f"network's layer names must differ; got {names}")
        pairs = _bits_for(bits, names)
        costs = [layer_cost(s, w, i, config, name=n) for s, n, (w, i) in zip(shapes, names, pairs)]
    return NetworkCost(tuple(costs), _combine("all", costs, config), config)


def cost_table(cost: NetworkCost):
    """A pandas DataFrame, one row per layer plus ``"all"``: bits, crossbars, utilization (%), cycles, crossbar
    reads, ADC conversions, latency (s), energy (J), area (mm^2), EDAP (J s mm^2)."""
    import pandas as pd

    if not isinstance(cost, NetworkCost):
        raise TypeError(f"cost must be a NetworkCost (from network_cost); got {type(cost).__name__}")
    rows = {}
    for c in (*cost.layers, cost.total):
        rows[c.name] = {"weight bits": c.weight_bits, "input bits": c.input_bits, "crossbars": c.crossbars,
                        "utilization (%)": 100 * c.utilization, "cycles": c.cycles, "crossbar reads": c.crossbar_reads,
                        "ADC conversions": c.adc_conversions, "latency (s)": c.latency_s, "energy (J)": c.energy_j,
                        "area (mm^2)": c.area_mm2, "EDAP (J s mm^2)": c.edap}
    return pd.DataFrame.from_dict(rows, orient="index")


_PAPER_NOTE = (f"seed 004: peak {PAPER_SEED004['peak speed-up vs 8-bit']}x, at least "
               f"{PAPER_SEED004['speed-up vs 8-bit, 4-bit cells (at least)']}x with 4-bit cells, max accuracy loss "
               f"{PAPER_SEED004['max accuracy loss (%)']} %; ResNet-18/VGG-16/ViT-B/32 (dataset not named in the summary), RL-searched "
               "per-layer bits, the paper's simulator: not comparable")


def seed004_bookkeeping(model: nn.Module, input_shape: tuple[int, ...], config: CrossbarConfig | None = None,
                        low_bits: int = 4, high_bits: int = 8):
    """Seed 004's comparison, redone by this model for ``model``: an all-``high_bits`` baseline against the
    inner layers at ``low_bits`` (weights and inputs; the first and last layer stay at ``high_bits``, as in seed
    004), both on the same crossbars ``config`` (the kit's reading of "8-bit baseline ... for 4-bit cells";
    default: :meth:`CrossbarConfig.pelke2024` with 4-bit cells), once weight-stationary and once
    time-multiplexed on one crossbar. Rows lower only weights, only inputs, or both, to split the speed-up
    into fewer cells (crossbars) and fewer cycles (input bits).

    Returns a pandas DataFrame; columns ending in ``(model)`` are this model's numbers for ``model``; ``speed-up
    (paper, seed 004)`` holds the paper's reported peak value on the row with both lowered, and ``paper note`` its
    setting (its networks, its RL-searched per-layer bits, its simulator: not comparable, shown beside).
    """
    import pandas as pd

    config = CrossbarConfig.pelke2024() if config is None else _check_config(config)
    config.check_weight_bits(low_bits, "low_bits"), config.check_weight_bits(high_bits, "high_bits")
    from imckit.core.models import mappable_layers

    names = [layer.name for layer in mappable_layers(model)]
    if len(names) < 3:
        raise ValueError(f"model must have at least 3 mappable layers (first and last stay at high_bits); got {names}")
    cases = [("8-bit baseline", high_bits, high_bits), ("weights low", low_bits, high_bits),
             ("inputs low", high_bits, low_bits), ("weights and inputs low", low_bits, low_bits)]
    rows = []
    for mode, k in (("weight-stationary", None), ("time-multiplexed, 1 crossbar", 1)):
        cfg = config.replace(parallel_crossbars=k)
        base = None
        for label, w, i in cases:
            bits = {n: (high_bits, high_bits) if n in (names[0], names[-1]) else (w, i) for n in names}
            total = network_cost(model, bits, cfg, input_shape).total
            base = base or total
            rows.append({"crossbars": mode, "configuration": label, "inner weight bits": w, "inner input bits": i,
                         "crossbars (model)": total.crossbars, "cycles (model)": total.cycles,
                         "latency (s, model)": total.latency_s, "energy (J, model)": total.energy_j,
                         "area (mm^2, model)": total.area_mm2,
                         "crossbar ratio vs baseline (model)": total.crossbars / base.crossbars,
                         "cycle ratio vs baseline (model)": total.cycles / base.cycles,
                         "speed-up vs baseline (model)": base.latency_s / total.latency_s,
                         "speed-up (paper, seed 004)": float("nan"), "paper note": ""})
        rows[-1]["speed-up (paper, seed 004)"] = PAPER_SEED004["peak speed-up vs 8-bit"]
        rows[-1]["paper note"] = _PAPER_NOTE
    return pd.DataFrame(rows)
