"""Strip-weights on ReRAM crossbars: capacity, mapping, utilization, capacity-aligned thresholds
(seed paper 001, Secs. 4.2-4.3, Tables 1 and 4).

Capacity model (the kit's reading of the paper's "crossbar capacity C"): a strip-weight of depth ``D``
(:mod:`imckit.crossbars.strips`) occupies ``D`` rows (its inputs) and ``ceil(bits / cell_bits)`` columns (its
weight bit-sliced into multi-bit cells: an 8-bit weight in 2-bit cells takes 4 columns, as in the paper's
Table 1). A ``rows x columns`` crossbar holds ``floor(rows / D)`` strips down and
``floor(columns / columns_per_weight)`` across. A strip deeper than the crossbar (``D > rows``) is cut
into ``ceil(D / rows)`` row segments, each placed like a strip of depth ``min(D, rows)``. Each layer and
precision is mapped onto its own crossbars (``ceil(segments / capacity)`` of them); utilization is the
share of their cells that hold weight bits.

The paper moves the threshold "so the count of high-precision strips fills whole crossbars": per layer,
:func:`align_threshold` lowers the number of high-precision strips ``q`` to a multiple of the capacity
``C`` by moving the ``q mod C`` least sensitive high-precision strips to low precision (``rounding="down"``,
the paper's rule), or to the nearest multiple (``"nearest"``, which may promote low strips instead).
:func:`alignment_report` maps one assignment before and after alignment onto several crossbar sizes (the
paper's Table 4). Assignments themselves (strips, thresholds, compression ratio) live in
:mod:`imckit.crossbars.strips`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from imckit.core.validate import check_choice, check_count, check_int
from imckit.crossbars.strips import assign_precision, check_assignment, check_model, check_ratio, check_scores, \
    check_threshold, compression_ratio, is_strip_mask, module_weight, strip_assignment, threshold_at_ratio

__all__ = ["CrossbarSpec", "strip_capacity", "strips_per_crossbar", "map_strips", "utilization_table",
           "weight_level_utilization", "align_threshold", "AlignmentReport", "alignment_report", "PAPER_TABLE4"]

# Seed paper 001, Table 4 (ResNet50 at 80 % compression): utilization (%) of the 8-bit crossbars before
# ("origin") and after the capacity-aligned threshold, per crossbar size.
PAPER_TABLE4 = {"128x128": {"origin": 43.55, "aligned": 84.36}, "32x32": {"origin": 65.92, "aligned": 84.96}}


@dataclass(frozen=True)
class CrossbarSpec:
    """A crossbar array and its cells.

    Attributes:
        rows: word lines (inputs), 1 to 4096 (the paper: 128).
        columns: bit lines (outputs), 1 to 4096 (the paper: 128).
        cell_bits: bits per ReRAM cell, 1 to 8 (the paper: 2).
    """

    rows: int = 128
    columns: int = 128
    cell_bits: int = 2

    def __post_init__(self):
        for name, high in (("rows", 4096), ("columns", 4096), ("cell_bits", 8)):
            check_int(getattr(self, name), name, 1, high)

    @property
    def label(self) -> str:
        """``"<rows>x<columns>"``, e.g. ``"128x128"``."""
        return f"{self.rows}x{self.columns}"

    def columns_per_weight(self, bits: int) -> int:
        """Columns one weight of ``bits`` bits takes (bit-sliced over cells of ``cell_bits``)."""
        _check_bits(bits)
        return math.ceil(bits / self.cell_bits)


def _check_bits(bits, name: str = "bits") -> int:
    return check_int(bits, name, 1, 16)


def _check_spec(spec, name: str = "spec") -> CrossbarSpec:
    if not isinstance(spec, CrossbarSpec):
        raise TypeError(f"{name} must be a CrossbarSpec; got {type(spec).__name__}")
    return spec


def strip_capacity(spec: CrossbarSpec, depth: int, bits: int) -> tuple[int, int]:
    """``(C, segments)``: row segments of one strip, and how many segments fit in one crossbar."""
    _check_spec(spec)
    check_count(depth, "depth")
    cpw = spec.columns_per_weight(bits)
    if cpw > spec.columns:
        raise ValueError(f"a {bits}-bit weight needs {cpw} columns of {spec.cell_bits}-bit cells; the crossbar "
                         f"has {spec.columns}")
    segments = math.ceil(depth / spec.rows)
    segment_depth = min(depth, spec.rows)
    return (spec.rows // segment_depth) * (spec.columns // cpw), segments


def strips_per_crossbar(spec: CrossbarSpec, depth: int, bits: int) -> int:
    """The fewest strips whose row segments fill whole crossbars: the capacity ``C`` that the aligned
    threshold makes each layer's high-precision strip count a multiple of (``C`` itself when a strip
    fits in one crossbar)."""
    capacity, segments = strip_capacity(spec, depth, bits)
    return capacity // math.gcd(capacity, segments)


def map_strips(spec: CrossbarSpec, count: int, depth: int, bits: int) -> dict:
    """Map ``count`` strips of depth ``depth`` at ``bits`` bits onto crossbars of ``spec``.

    Returns a dict: ``crossbars`` (number used), ``capacity`` (segments per crossbar), ``segments``
    (per strip), ``used_cells``, ``cells`` (of the crossbars used) and ``utilization`` (0-1; NaN if none used).
    """
    check_count(count, "count", low=0)
    capacity, segments = strip_capacity(spec, depth, bits)
    crossbars = math.ceil(count * segments / capacity)
    used = count * depth * spec.columns_per_weight(bits)
    cells = crossbars * spec.rows * spec.columns
    return {"crossbars": crossbars, "capacity": capacity, "segments": segments, "used_cells": used, "cells": cells,
            "utilization": used / cells if cells else float("nan")}


def _depth(scores: torch.Tensor, weight_shape) -> int:
    return int(weight_shape[1])  # (N, D, K, K) or (N, D): the strip's depth is the input dimension


def _check_strip_masks(model, assignment, name: str = "assignment") -> None:
    """Every mask of ``assignment`` a bool strip mask of its module (a weight mask belongs to
    :func:`weight_level_utilization`)."""
    check_model(model)
    check_assignment(assignment, name)
    for module, mask in assignment.items():
        weight = module_weight(model, module, name)
        if not is_strip_mask(mask, weight):
            raise ValueError(f"{name}[{module!r}] must be a strip mask of shape {tuple(weight.shape[:1])} + "
                             f"{tuple(weight.shape[2:])}; got the weight's shape (weight masks: "
                             "weight_level_utilization)")


def utilization_table(model, assignment: dict[str, torch.Tensor], spec: CrossbarSpec = CrossbarSpec(),
                      high_bits: int = 8, low_bits: int = 4):
    """Per module and in total: strips, crossbars and utilization at each precision (a pandas DataFrame;
    the last row, ``"all"``, sums crossbars and cells over the modules)."""
    import pandas as pd

    _check_strip_masks(model, assignment)
    _check_spec(spec)
    _check_bits(high_bits, "high_bits"), _check_bits(low_bits, "low_bits")
    rows = {}
    totals = {"high": [0, 0, 0], "low": [0, 0, 0]}  # crossbars, used cells, cells
    for module, high in assignment.items():
        depth = _depth(high, model.get_submodule(module).weight.shape)
        row = {"depth": depth, "strips": high.numel()}
        for name, mask, bits in (("high", high, high_bits), ("low", ~high, low_bits)):
            mapped = map_strips(spec, int(mask.sum()), depth, bits)
            row.update({f"{name} strips": int(mask.sum()), f"{name} crossbars": mapped["crossbars"],
                        f"{name} utilization (%)": 100 * mapped["utilization"]})
            for k, key in enumerate(("crossbars", "used_cells", "cells")):
                totals[name][k] += mapped[key]
        rows[module] = row
    all_row = {"depth": float("nan"), "strips": sum(a.numel() for a in assignment.values())}
    for name in ("high", "low"):
        crossbars, used, cells = totals[name]
        all_row.update({f"{name} strips": sum(r[f"{name} strips"] for r in rows.values()), f"{name} crossbars": crossbars,
                        f"{name} utilization (%)": 100 * used / cells if cells else float("nan")})
    rows["all"] = all_row
    return pd.DataFrame.from_dict(rows, orient="index")


def weight_level_utilization(model, high_weights: dict[str, torch.Tensor], spec: CrossbarSpec = CrossbarSpec(),
                             high_bits: int = 8, low_bits: int = 4):
    """Utilization of a weight-by-weight (unstructured, HAP-like) assignment: a strip holding weights of
    both precisions must be mapped onto both kinds of crossbar, with its other-precision weights left as
    unused cells. Same columns as :func:`utilization_table`, plus ``mixed strips``."""
    import pandas as pd

    check_model(model)
    check_assignment(high_weights, "high_weights")
    _check_spec(spec)
    _check_bits(high_bits, "high_bits"), _check_bits(low_bits, "low_bits")
    rows = {}
    totals = {"high": [0, 0, 0], "low": [0, 0, 0]}
    for module, high in high_weights.items():
        weight = module_weight(model, module, "high_weights")
        if high.shape != weight.shape or high.dtype != torch.bool:
            raise ValueError(f"high_weights[{module!r}] must be a bool tensor of the weight's shape {tuple(weight.shape)}")
        strips = high.permute(0, 2, 3, 1) if high.ndim == 4 else high  # (..., D)
        depth = int(weight.shape[1])
        any_high, any_low = strips.any(-1), (~strips).any(-1)
        row = {"depth": depth, "strips": any_high.numel(), "mixed strips": int((any_high & any_low).sum())}
        for name, needs, weights_at, bits in (("high", any_high, int(high.sum()), high_bits),
                                              ("low", any_low, int((~high).sum()), low_bits)):
            mapped = map_strips(spec, int(needs.sum()), depth, bits)
            used = weights_at * spec.columns_per_weight(bits)
            row.update({f"{name} strips": int(needs.sum()), f"{name} crossbars": mapped["crossbars"],
                        f"{name} utilization (%)": 100 * used / mapped["cells"] if mapped["cells"] else float("nan")})
            for k, value in enumerate((mapped["crossbars"], used, mapped["cells"])):
                totals[name][k] += value
        rows[module] = row
    all_row = {"depth": float("nan"), "strips": sum(r["strips"] for r in rows.values()),
               "mixed strips": sum(r["mixed strips"] for r in rows.values())}
    for name in ("high", "low"):
        crossbars, used, cells = totals[name]
        all_row.update({f"{name} strips": sum(r[f"{name} strips"] for r in rows.values()), f"{name} crossbars": crossbars,
                        f"{name} utilization (%)": 100 * used / cells if cells else float("nan")})
    rows["all"] = all_row
    return pd.DataFrame.from_dict(rows, orient="index")


def align_threshold(model, scores: dict[str, torch.Tensor], threshold: float, spec: CrossbarSpec = CrossbarSpec(),
                    high_bits: int = 8, rounding: str = "down") -> dict[str, float]:
    """Per-module thresholds that make each module's number of high-precision strips a multiple of its
    crossbar capacity (in strips), starting from the global ``threshold``.

    With ``rounding="down"`` (the paper) the ``q mod C`` least sensitive high-precision strips move to low
    precision; with ``"nearest"``, if fewer strips are missing to the next multiple than are left over,
    the most sensitive low-precision strips move up instead. A module with fewer strips than one crossbar
    holds ends with none or all of them high (``"down"``: none).

    Returns:
        module -> threshold; use it with :func:`imckit.crossbars.strips.assign_precision`. Ties in sensitivity can make the count
        differ from the target; the thresholds sit midway between neighbouring distinct scores.
    """
    check_model(model)
    check_scores(scores)
    threshold = check_threshold(threshold)
    check_choice(rounding, "rounding", ("down", "nearest"))
    _check_spec(spec)
    _check_bits(high_bits, "high_bits")
    for module in scores:
        module_weight(model, module, "scores")
    out = {}
    for module, s in scores.items():
        flat = torch.sort(s.flatten().double(), descending=True).values
        n = len(flat)
        q = int((flat > threshold).sum())
        depth = _depth(s, model.get_submodule(module).weight.shape)
        per_crossbar = strips_per_crossbar(spec, depth, high_bits)
        target = (q // per_crossbar) * per_crossbar
        if rounding == "nearest" and q - target > (target + per_crossbar - q) and target + per_crossbar <= n:
            target += per_crossbar
        if target == q:
            out[module] = threshold
        elif target == 0:
            out[module] = float(flat[0]) + abs(float(flat[0])) + 1.0  # above every score: all low
        elif target >= n:
            out[module] = float(flat[-1]) - abs(float(flat[-1])) - 1.0  # below every score: all high
        else:
            out[module] = float((flat[target - 1] + flat[target]) / 2)  # the top `target` strips stay high
    return out


ALIGNMENTS = ("origin", "down", "nearest")


@dataclass(frozen=True, eq=False)
class AlignmentReport:
    """One strip assignment mapped onto crossbars before and after the capacity-aligned threshold.

    Attributes:
        table: pandas DataFrame, one row per crossbar size and threshold (``"origin"``: the global threshold;
            ``"down"`` / ``"nearest"``: :func:`align_threshold`'s roundings): ``crossbar``, ``threshold``,
            ``compression ratio (%)``, ``high crossbars``, ``high utilization (%)``, ``low utilization (%)``
            and ``whole crossbars per layer`` (``"yes"`` when every layer's high-precision strips fill
            whole crossbars).
        per_layer: ``(crossbar label, threshold)`` -> :func:`utilization_table` of that assignment.
        assignments: ``(crossbar label, threshold)`` -> the assignment (module -> bool strip mask).
        specs: crossbar label -> :class:`CrossbarSpec`.
        high_bits: word length of the high-precision strips.
    """

    table: object
    per_layer: dict
    assignments: dict
    specs: dict
    high_bits: int

    def _capacity(self, label: str, module: str) -> int:
        return strips_per_crossbar(self.specs[label], int(self.per_layer[(label, "origin")].loc[module, "depth"]),
                                   self.high_bits)

    def _label(self, label) -> str:
        return check_choice(label, "label", self.specs)

    def small_layers(self, label: str) -> list[str]:
        """Layers with some high-precision strips before alignment, but fewer than one ``label`` crossbar holds."""
        self._label(label)
        origin = self.assignments[(label, "origin")]
        return [m for m, high in origin.items() if 0 < int(high.sum()) < self._capacity(label, m)]

    def emptied_layers(self, label: str, rounding: str = "down") -> list[str]:
        """Layers that had high-precision strips before alignment and have none after it."""
        self._label(label)
        check_choice(rounding, "rounding", ("down", "nearest"))
        origin, aligned = self.assignments[(label, "origin")], self.assignments[(label, rounding)]
        return [m for m in origin if int(origin[m].sum()) > 0 and int(aligned[m].sum()) == 0]


def alignment_report(model, scores: dict[str, torch.Tensor], ratio: float, specs=(CrossbarSpec(),),
                     high_bits: int = 8, low_bits: int = 4) -> AlignmentReport:
    """The paper's Table 4 for one network: the strip assignment at the compression ratio ``ratio``
    (:func:`imckit.crossbars.strips.strip_assignment`), and the same after :func:`align_threshold` with each
    rounding, mapped onto each crossbar of ``specs`` (:func:`utilization_table`)."""
    check_model(model)
    check_scores(scores)
    check_ratio(ratio)
    _check_bits(high_bits, "high_bits"), _check_bits(low_bits, "low_bits")
    if isinstance(specs, CrossbarSpec):
        specs = (specs,)
    elif isinstance(specs, (str, bytes)) or not hasattr(specs, "__iter__"):
        raise ValueError(f"specs must be one or more CrossbarSpec; got {specs!r}")
    specs = tuple(specs)
    if not specs or not all(isinstance(spec, CrossbarSpec) for spec in specs):
        raise ValueError(f"specs must be one or more CrossbarSpec; got {specs!r}")
    labels = [spec.label for spec in specs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"specs must have different sizes; got {labels}")
    import pandas as pd

    base = strip_assignment(scores, ratio)
    threshold = threshold_at_ratio(scores, ratio)
    rows, per_layer, assignments = [], {}, {}
    for spec in specs:
        for method in ALIGNMENTS:
            assignment = base if method == "origin" else assign_precision(
                scores, align_threshold(model, scores, threshold, spec, high_bits, rounding=method))
            table = utilization_table(model, assignment, spec, high_bits, low_bits)
            per_layer[(spec.label, method)] = table
            assignments[(spec.label, method)] = assignment
            multiples = all(int(high.sum()) % strips_per_crossbar(spec, int(table.loc[m, "depth"]), high_bits) == 0
                            for m, high in assignment.items())
            rows.append({"crossbar": spec.label, "threshold": method,
                         "compression ratio (%)": 100 * compression_ratio(assignment),
                         "high crossbars": int(table.loc["all", "high crossbars"]),
                         "high utilization (%)": table.loc["all", "high utilization (%)"],
                         "low utilization (%)": table.loc["all", "low utilization (%)"],
                         "whole crossbars per layer": "yes" if multiples else "no"})
    return AlignmentReport(pd.DataFrame(rows), per_layer, assignments, {spec.label: spec for spec in specs}, high_bits)
