"""Bit slicing of storage words into single-level (SLC) and multi-level (MLC) cells, and memory in devices.

Seed paper 000 (Sec. III, Table I) stores each weight's ``bits``-bit word in FeFETs: some 2-bit MLC cells
and the rest 1-bit SLC cells, e.g. "4-bit quantization with SLC for the 2 most significant bits and MLC
for the 2 least". A :class:`CellConfig` ``(bits, mlc_cells)`` puts the ``2 * mlc_cells`` least significant
bits into MLC cells (cell ``k`` holds bits ``2k`` and ``2k + 1``, its state is their value 0-3) and each
remaining bit into its own SLC cell. Memory is counted in devices (cells): ``bits - mlc_cells`` per
weight. The paper's reference is the uniform 12-bit network in SLC cells (12 devices per weight).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from imckit.core.validate import check_int, check_tensor
from imckit.quantization.qkeras import check_bits

__all__ = ["CellConfig", "paper_configurations", "BASELINE_BITS", "slice_words", "assemble_words",
           "memory_table", "check_configs"]

BASELINE_BITS = 12  # the paper's uniform reference: 12-bit weights, one SLC device per bit


@dataclass(frozen=True)
class CellConfig:
    """How one weight is quantized and stored.

    Attributes:
        bits: word length of the quantized weight (1 to 16).
        mlc_cells: number of 2-bit MLC cells holding the least significant bits (0 to ``bits // 2``);
            the other ``bits - 2 * mlc_cells`` bits are in SLC cells.
    """

    bits: int
    mlc_cells: int = 0

    def __post_init__(self):
        object.__setattr__(self, "bits", check_bits(self.bits))
        limit = self.bits // 2
        check_int(self.mlc_cells, "mlc_cells")  # the kind first (a TypeError for 1.0 or True)
        if not 0 <= self.mlc_cells <= limit:
            raise ValueError(f"mlc_cells must be an integer in [0, {limit}] for bits={self.bits} "
                             f"(each MLC cell holds 2 bits); got {self.mlc_cells!r}")
        object.__setattr__(self, "mlc_cells", int(self.mlc_cells))

    @property
    def slc_cells(self) -> int:
        return self.bits - 2 * self.mlc_cells

    @property
    def devices_per_weight(self) -> int:
        return self.mlc_cells + self.slc_cells

    @property
    def label(self) -> str:
        return f"Q{self.bits} MLC{self.mlc_cells}"

    def cells(self) -> list[tuple[int, int]]:
        """Each cell as (lowest bit it holds, bits it holds), least significant first."""
        return [(2 * k, 2) for k in range(self.mlc_cells)] + [
            (2 * self.mlc_cells + k, 1) for k in range(self.slc_cells)]


def paper_configurations() -> tuple[CellConfig, ...]:
    """The 10 configurations of the paper's Table I in its solution-index order 0-9:
    Q8 with 4, 3, 2, 1, 0 MLC cells; Q4 with 2, 1, 0; Q2 with 1, 0."""
    return tuple(CellConfig(bits, m) for bits, cells in ((8, (4, 3, 2, 1, 0)), (4, (2, 1, 0)), (2, (1, 0)))
                 for m in cells)


def check_configs(configs, name: str = "configs") -> tuple[CellConfig, ...]:
    """``configs`` as a tuple if it is a non-empty sequence of :class:`CellConfig`, else a :class:`ValueError`
    naming ``name`` (the one check of a configuration list, used by the injection and search modules)."""
    try:
        configs = tuple(configs)
    except TypeError:
        configs = None
    if not configs or not all(isinstance(c, CellConfig) for c in configs):
        shown = repr(configs) if len(repr(configs)) <= 80 else repr(configs)[:77] + "..."
        raise ValueError(f"{name} must be a non-empty sequence of CellConfig; got {shown}")
    return configs


def check_cell_config(config, name: str = "config") -> CellConfig:
    """``config`` when it is a :class:`CellConfig`; a TypeError naming ``name`` otherwise."""
    if not isinstance(config, CellConfig):
        raise TypeError(f"{name} must be a CellConfig; got {config!r}")
    return config


def _check_integers(values, name: str) -> torch.Tensor:
    values = check_tensor(values, name, nonempty=False)
    if values.is_floating_point() or values.is_complex() or values.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor; got dtype {values.dtype}")
    return values


def _check_range(values: torch.Tensor, name: str, top: int) -> None:
    if values.numel():
        low, high = int(values.min()), int(values.max())
        if low < 0 or high > top:
            raise ValueError(f"{name} must hold integers in [0, {top}]; got {low if low < 0 else high}")


def slice_words(words: torch.Tensor, config: CellConfig) -> torch.Tensor:
    """Cell values of storage words: shape ``words.shape + (cells,)``, least significant cell first.

    ``words`` is an integer tensor of ``config.bits``-bit words, values in ``[0, 2**bits - 1]`` (an empty
    tensor gives an empty result); any other value is an error, never truncated to its low bits.
    """
    config = check_cell_config(config)
    words = _check_integers(words, "words")
    _check_range(words, "words", 2**config.bits - 1)
    columns = [(words >> shift) & ((1 << width) - 1) for shift, width in config.cells()]
    return torch.stack(columns, dim=-1)


def assemble_words(cells: torch.Tensor, config: CellConfig) -> torch.Tensor:
    """Storage words from cell values (the inverse of :func:`slice_words`).

    ``cells`` is an integer tensor whose last axis has one entry per cell of ``config``
    (``config.devices_per_weight``), each in the range of its cell (0-3 for an MLC cell, 0-1 for an SLC cell).
    """
    config = check_cell_config(config)
    cells = _check_integers(cells, "cells")
    count = config.devices_per_weight
    if cells.dim() < 1 or cells.shape[-1] != count:
        raise ValueError(f"cells must have a last axis of {count} cells (one per cell of {config.label}); "
                         f"got shape {tuple(cells.shape)}")
    words = torch.zeros(cells.shape[:-1], dtype=torch.int64, device=cells.device)
    for k, (shift, width) in enumerate(config.cells()):
        column = cells[..., k].to(torch.int64)
        _check_range(column, f"cells[..., {k}]", (1 << width) - 1)
        words = words | (column << shift)
    return words


def memory_table(layers, configs, baseline_bits: int = BASELINE_BITS):
    """Devices per layer under each configuration, and the reduction against the uniform baseline.

    Args:
        layers: :class:`imckit.core.models.MappableLayer` list.
        configs: configurations (columns).
        baseline_bits: the uniform SLC reference (12 in the paper).

    Returns:
        A pandas DataFrame indexed by layer with one column of devices per configuration.
    """
    import pandas as pd

    baseline_bits = check_bits(baseline_bits, "baseline_bits")
    configs = check_configs(configs)
    try:
        layers = list(layers)
    except TypeError:
        raise TypeError(f"layers must be a list of MappableLayer; got {type(layers).__name__}") from None
    if not layers:
        raise ValueError("layers must be a non-empty list of MappableLayer; got []")
    for k, layer in enumerate(layers):
        if not isinstance(getattr(layer, "name", None), str):
            raise TypeError(f"layers[{k}] must be a MappableLayer (with a name and a weight count); got {layer!r}")
        check_int(getattr(layer, "weights", None), f"layers[{k}].weights", 0)
    rows = {}
    for layer in layers:
        rows[layer.name] = {"weights": layer.weights, f"Q{baseline_bits} SLC": layer.weights * baseline_bits,
                            **{c.label: layer.weights * c.devices_per_weight for c in configs}}
    return pd.DataFrame.from_dict(rows, orient="index")
