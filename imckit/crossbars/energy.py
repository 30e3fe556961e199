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
* **Latency proxies**, in *ADC cycles per image*: one cycle is one comparator decision of a
  successive-approximation ADC, so a conversion at ``b`` bits takes ``b`` cycles; an ADC serves its
  ``columns_per_adc`` columns one after another; layers run in sequence. Two models bracket how the
  crossbars of one layer share time (both the kit's assumptions):

  ``latency cycles`` (parallel crossbars): every crossbar has its own ADCs and all crossbars of a layer, of
  both precisions, are read at once. Cycles per layer = MVMs x input_bits x columns_per_adc x bits, the
  larger of the two precisions. It does not depend on how many crossbars a layer needs, so crossbar
  utilization cannot change it; it is the *ADC read latency* of one crossbar read.

  ``serial latency cycles`` (one ADC bank per layer): the crossbars of a layer are read one after another
  through one crossbar's ADCs, so each crossbar adds MVMs x input_bits x columns_per_adc x bits. Every
  partly filled crossbar costs a full read: this is the model in which utilization changes latency.

  The paper's latency (Table 2: 2.629 ms for HAP, 1.121 ms for its method; Sec. 5.1 "memory access
  latency"; Sec. 1 "ReRAM latency" and "ADC read latency") is DNN+NeuroSim's simulated inference latency
  of the whole chip, in ms; neither proxy is that, and only relative values of one network compare.

Assignments may be strip masks (the paper's) or weight masks (an unstructured, HAP-like assignment): as in
:func:`imckit.crossbars.mapping.weight_level_utilization`, a strip holding weights of both precisions is
mapped onto crossbars of both precisions (the cells of the other precision's weights stay unused), so it
counts once on each side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from imckit.core.validate import check_count, check_int
from imckit.crossbars.mapping import CrossbarSpec, _check_spec, map_strips
from imckit.crossbars.strips import check_assignment, check_model, check_modules, check_ratios, check_scores, \
    is_strip_mask, module_weight, strip_assignment, strip_view

__all__ = ["ADCSpec", "output_positions", "energy_proxy", "energy_sweep", "PAPER_TABLE3", "ENERGY_COLUMNS"]

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
        for name in ("levels", "columns_per_adc"):
            if not isinstance(getattr(self, name), Mapping) or not getattr(self, name):
                raise TypeError(f"{name} must be a non-empty mapping weight bits -> integer; got "
                                f"{getattr(self, name)!r}")
        if set(self.levels) != set(self.columns_per_adc):
            raise ValueError("levels and columns_per_adc must name the same weight precisions; got "
                             f"{sorted(self.levels, key=repr)} and {sorted(self.columns_per_adc, key=repr)}")
        for bits, levels in self.levels.items():
            check_int(bits, "levels (its keys, weight bits)", 1, 16)
            check_int(levels, f"levels[{bits}]", 2, 2**16)
            if levels & (levels - 1):
                raise ValueError(f"levels[{bits}] must be a power of two >= 2; got {levels!r}")
            check_count(self.columns_per_adc[bits], f"columns_per_adc[{bits}]")
        check_int(self.input_bits, "input_bits", 1, 32)

    def resolution(self, bits: int) -> int:
        if bits not in self.levels:
            raise ValueError(f"no ADC setting for {bits}-bit weights; known: {sorted(self.levels)}")
        return int(math.log2(self.levels[bits]))


@torch.no_grad()
def output_positions(model: nn.Module, input_shape: tuple[int, ...], modules: list[str]) -> dict[str, int]:
    """MVMs per image of each module: output height x width for a convolution, 1 for a dense layer
    (one forward pass of a zero image of ``input_shape`` = (channels, height, width))."""
    check_model(model)
    modules = check_modules(model, modules)
    input_shape = _check_input_shape(input_shape)
    positions, hooks = {}, []
    for name in modules:
        module = model.get_submodule(name)

        def record(_, __, out, name=name):
            positions[name] = int(out.shape[2] * out.shape[3]) if out.ndim == 4 else 1

        hooks.append(module.register_forward_hook(record))
    try:
        was_training = model.training
        model.eval()
        try:
            model(torch.zeros(1, *input_shape))
        except RuntimeError as error:
            raise ValueError(f"input_shape must be the shape of one input of the model; got {input_shape} "
                             f"({str(error).splitlines()[0]})") from None
        finally:
            model.train(was_training)
    finally:
        for hook in hooks:
            hook.remove()
    missing = set(modules) - set(positions)
    if missing:
        raise ValueError(f"module(s) {sorted(missing)} did not run in a forward pass")
    return positions


def _check_input_shape(input_shape) -> tuple[int, ...]:
    if isinstance(input_shape, (str, bytes, torch.Tensor)) or not isinstance(input_shape, (tuple, list, torch.Size)) \
            or not input_shape:
        raise ValueError(f"input_shape must be a non-empty tuple of sizes, e.g. (channels, height, width); "
                         f"got {input_shape!r}")
    return tuple(check_count(n, f"input_shape[{k}]", high=2**31 - 1) for k, n in enumerate(input_shape))


def _strip_counts(model: nn.Module, module: str, mask: torch.Tensor) -> tuple[int, int]:
    """Strips mapped onto high- and onto low-precision crossbars (a mixed strip of a weight mask on both)."""
    weight = model.get_submodule(module).weight
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise ValueError(f"assignment[{module!r}] must be a bool tensor (True = high precision); got "
                         f"{getattr(mask, 'dtype', type(mask).__name__)}")
    if is_strip_mask(mask, weight):
        return int(mask.sum()), int((~mask).sum())
    strips = strip_view(mask)
    return int(strips.any(-1).sum()), int((~strips).any(-1).sum())


def energy_proxy(model: nn.Module, assignment: dict[str, torch.Tensor], input_shape: tuple[int, ...],
                 spec: CrossbarSpec = CrossbarSpec(), adc: ADCSpec = ADCSpec(), high_bits: int = 8,
                 low_bits: int = 4):
    """The proxy per module and precision for an assignment (module -> bool strip mask, or bool weight mask
    for an unstructured assignment; True = high).

    Returns a pandas DataFrame, one row per module plus ``"all"``: crossbars, ADC conversions, ADC bit
    decisions and ADC level units at each precision and in total, ``latency cycles`` (parallel crossbars)
    and ``serial latency cycles`` (one ADC bank per layer), both in ADC cycles per image (module docstring).
    """
    import pandas as pd

    check_model(model)
    check_assignment(assignment)
    for module in assignment:
        module_weight(model, module, "assignment")
    _check_spec(spec)
    if not isinstance(adc, ADCSpec):
        raise TypeError(f"adc must be an ADCSpec; got {type(adc).__name__}")
    for name, bits in (("high_bits", high_bits), ("low_bits", low_bits)):
        check_int(bits, name, 1, 16)
        if bits not in adc.levels:
            raise ValueError(f"{name} must be a weight precision the ADC spec knows, one of "
                             f"{sorted(adc.levels)}; got {bits}")
    positions = output_positions(model, input_shape, list(assignment))
    rows = {}
    for module, high in assignment.items():
        depth = int(model.get_submodule(module).weight.shape[1])
        counts = dict(zip(("high", "low"), _strip_counts(model, module, high)))
        row, cycles, serial = {"MVMs": positions[module]}, 0, 0
        for name, bits in (("high", high_bits), ("low", low_bits)):
            crossbars = map_strips(spec, counts[name], depth, bits)["crossbars"]
            conversions = positions[module] * adc.input_bits * crossbars * spec.columns  # every column, every cycle
            row[f"{name} crossbars"] = crossbars
            row[f"{name} ADC conversions"] = conversions
            row[f"{name} ADC bit decisions"] = conversions * adc.resolution(bits)
            row[f"{name} ADC level units"] = conversions * adc.levels[bits]
            read = positions[module] * adc.input_bits * adc.columns_per_adc[bits] * adc.resolution(bits)
            if crossbars:
                cycles = max(cycles, read)
            serial += crossbars * read
        row["ADC bit decisions"] = row["high ADC bit decisions"] + row["low ADC bit decisions"]
        row["ADC level units"] = row["high ADC level units"] + row["low ADC level units"]
        row["latency cycles"] = cycles
        row["serial latency cycles"] = serial
        rows[module] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.loc["all"] = frame.sum(numeric_only=True)
    return frame


ENERGY_COLUMNS = ("ADC bit decisions", "ADC level units", "latency cycles", "serial latency cycles")


def energy_sweep(model: nn.Module, scores: dict[str, torch.Tensor], ratios, input_shape: tuple[int, ...],
                 spec: CrossbarSpec = CrossbarSpec(), adc: ADCSpec = ADCSpec(), high_bits: int = 8,
                 low_bits: int = 4):
    """The proxy's totals for the strip assignment at each compression ratio (the paper's Table 3).

    Returns a pandas DataFrame indexed by ``compression ratio (%)``: ``crossbars`` (both precisions), ``ADC bit
    decisions``, ``ADC level units``, ``latency cycles``, ``serial latency cycles`` and each of the last four
    relative to the first ratio (``... (rel.)``; put ratio 0 first to read them against every strip at high
    precision).
    """
    import pandas as pd

    ratios = check_ratios(ratios)
    check_scores(scores)
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
