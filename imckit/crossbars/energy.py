"""A documented energy and latency *proxy* for strip-wise mixed precision on ReRAM crossbars (seed paper 001,
Tables 1 and 3). It counts events, it does not simulate circuits: use it to compare configurations of the
same network, never as joules or seconds.

What it counts, per inference (one image) and layer, for each precision's crossbars:

* **MVMs**: a convolution performs one matrix-vector product per output position (``H_out x W_out``), a
  dense layer one. Inputs are applied bit-serially, ``input_bits`` read cycles per MVM (the usual scheme of
  crossbar simulators such as DNN+NeuroSim, which the paper used; the kit's assumption: 8).
* **ADC conversions**: every column of every active crossbar is converted in every read cycle; an ADC is
  shared by ``columns_per_adc`` columns (seed paper 001, Table 1: 4 columns for 8-bit weights, 2 for 4-bit).
  Unused columns of a partly filled crossbar are converted too, which is why utilization matters.
* **ADC energy proxies**, with the paper's resolutions (Table 1: 256 levels = 8 bits for 8-bit weights, 16
  levels = 4 bits for 4-bit), in two models that bracket how ADC energy grows with resolution:
  ``bit decisions`` = conversions x resolution bits (a successive-approximation ADC takes one comparator
  decision per bit: energy linear in bits) and ``level units`` = conversions x levels (energy dominated by
  a capacitive DAC whose total capacitance doubles with every bit: exponential in bits). Both are the kit's
  assumptions, stated here rather than hidden in a constant. A 4-bit crossbar read converts as many
  columns as an 8-bit one, so it costs half the bit decisions and 1/16 of the level units; the sharing of
  ADCs (``columns_per_adc``) changes how long the conversions take, not how many there are. The paper's
  Table 3 (ADC energy falling ~2,500x from 0 % to 100 % compression) is closer to the second model.
* **Latency proxy**: within a layer all crossbars run in parallel and the two precisions side by side;
  each ADC serves its columns one after another, each conversion taking ``bits`` cycles. Cycles per layer =
  MVMs x input_bits x columns_per_adc x bits, the larger of the two precisions; layers run in sequence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from imckit.crossbars.mapping import CrossbarSpec, map_strips
from imckit.crossbars.strips import check_ratio, strip_assignment

__all__ = ["ADCSpec", "output_positions", "energy_proxy", "energy_sweep", "PAPER_TABLE3"]

# Seed paper 001, Table 3 (ResNet18 on CIFAR-10, DNN+NeuroSim): compression ratio (%) -> top-1 accuracy (%),
# system energy (mJ) and ADC energy (mJ), for comparison with this kit's proxy (relative values only).
PAPER_TABLE3 = {0: (90.91, 7.62, 7.593), 10: (87.25, 5.38, 5.357), 50: (85.58, 4.45, 4.432),
                70: (86.33, 4.17, 4.155), 90: (52.01, 2.50, 2.485), 100: (13.88, 0.01, 0.003)}


@dataclass(frozen=True)
class ADCSpec:
    """ADC settings per weight precision (defaults: seed paper 001, Table 1) and the input scheme.

    Attributes:
        levels: weight bits -> ADC levels (resolution ``log2(levels)`` bits).
        columns_per_adc: weight bits -> columns sharing one ADC.
        input_bits: read cycles per MVM (bit-serial inputs; the kit's assumption).
    """

    levels: dict = field(default_factory=lambda: {8: 256, 4: 16})
    columns_per_adc: dict = field(default_factory=lambda: {8: 4, 4: 2})
    input_bits: int = 8

    def __post_init__(self):
        if set(self.levels) != set(self.columns_per_adc):
            raise ValueError("levels and columns_per_adc must name the same weight precisions")
        for bits, levels in self.levels.items():
            if not isinstance(levels, int) or levels < 2 or levels & (levels - 1):
                raise ValueError(f"levels[{bits}] must be a power of two >= 2; got {levels!r}")
            cpa = self.columns_per_adc[bits]
            if isinstance(cpa, bool) or not isinstance(cpa, int) or cpa < 1:
                raise ValueError(f"columns_per_adc[{bits}] must be an integer >= 1; got {cpa!r}")
        if isinstance(self.input_bits, bool) or not isinstance(self.input_bits, int) or not 1 <= self.input_bits <= 32:
            raise ValueError(f"input_bits must be an integer in [1, 32]; got {self.input_bits!r}")

    def resolution(self, bits: int) -> int:
        if bits not in self.levels:
            raise ValueError(f"no ADC setting for {bits}-bit weights; known: {sorted(self.levels)}")
        return int(math.log2(self.levels[bits]))


@torch.no_grad()
def output_positions(model: nn.Module, input_shape: tuple[int, ...], modules: list[str]) -> dict[str, int]:
    """MVMs per image of each module: output height x width for a convolution, 1 for a dense layer
    (one forward pass of a zero image of ``input_shape`` = (channels, height, width))."""
    positions, hooks = {}, []
    for name in modules:
        module = model.get_submodule(name)

        def record(_, __, out, name=name):
            positions[name] = int(out.shape[2] * out.shape[3]) if out.ndim == 4 else 1

        hooks.append(module.register_forward_hook(record))
    try:
        was_training = model.training
        model.eval()
        model(torch.zeros(1, *input_shape))
        model.train(was_training)
    finally:
        for hook in hooks:
            hook.remove()
    missing = set(modules) - set(positions)
    if missing:
        raise ValueError(f"module(s) {sorted(missing)} did not run in a forward pass")
    return positions


def energy_proxy(model: nn.Module, assignment: dict[str, torch.Tensor], input_shape: tuple[int, ...],
                 spec: CrossbarSpec = CrossbarSpec(), adc: ADCSpec = ADCSpec(), high_bits: int = 8,
                 low_bits: int = 4):
    """The proxy per module and precision for a strip assignment (module -> bool strips, True = high).

    Returns a pandas DataFrame, one row per module plus ``"all"``: crossbars, ADC conversions, ADC bit
    decisions and ADC level units at each precision and in total, and latency cycles (module docstring).
    """
    import pandas as pd

    positions = output_positions(model, input_shape, list(assignment))
    rows = {}
    for module, high in assignment.items():
        depth = int(model.get_submodule(module).weight.shape[1])
        row, cycles = {"MVMs": positions[module]}, 0
        for name, mask, bits in (("high", high, high_bits), ("low", ~high, low_bits)):
            crossbars = map_strips(spec, int(mask.sum()), depth, bits)["crossbars"]
            conversions = positions[module] * adc.input_bits * crossbars * spec.columns  # every column, every cycle
            row[f"{name} crossbars"] = crossbars
            row[f"{name} ADC conversions"] = conversions
            row[f"{name} ADC bit decisions"] = conversions * adc.resolution(bits)
            row[f"{name} ADC level units"] = conversions * adc.levels[bits]
            if crossbars:
                cycles = max(cycles, positions[module] * adc.input_bits * adc.columns_per_adc[bits] * adc.resolution(bits))
        row["ADC bit decisions"] = row["high ADC bit decisions"] + row["low ADC bit decisions"]
        row["ADC level units"] = row["high ADC level units"] + row["low ADC level units"]
        row["latency cycles"] = cycles
        rows[module] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.loc["all"] = frame.sum(numeric_only=True)
    return frame


ENERGY_COLUMNS = ("ADC bit decisions", "ADC level units", "latency cycles")


def energy_sweep(model: nn.Module, scores: dict[str, torch.Tensor], ratios, input_shape: tuple[int, ...],
                 spec: CrossbarSpec = CrossbarSpec(), adc: ADCSpec = ADCSpec(), high_bits: int = 8,
                 low_bits: int = 4):
    """The proxy's totals for the strip assignment at each compression ratio (the paper's Table 3).

    Returns a pandas DataFrame indexed by ``compression ratio (%)``: ``crossbars`` (both precisions), ``ADC bit
    decisions``, ``ADC level units``, ``latency cycles`` and each of the last three relative to the first
    ratio (``... (rel.)``; put ratio 0 first to read them against every strip at high precision).
    """
    import pandas as pd

    ratios = [check_ratio(r, "each ratio") for r in ratios]
    if not ratios:
        raise ValueError("ratios must hold at least one compression ratio")
    rows = []
    for ratio in ratios:
        total = energy_proxy(model, strip_assignment(scores, ratio), input_shape, spec, adc, high_bits,
                             low_bits).loc["all"]
        rows.append({"compression ratio (%)": 100 * ratio,
                     "crossbars": int(total["high crossbars"] + total["low crossbars"]),
                     **{column: total[column] for column in ENERGY_COLUMNS}})
    frame = pd.DataFrame(rows).set_index("compression ratio (%)")
    for column in ENERGY_COLUMNS:
        frame[f"{column} (rel.)"] = frame[column] / frame[column].iloc[0]
    return frame
