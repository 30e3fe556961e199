"""Stuck-at faults in the bit cells of quantized weights (seed paper 002, Secs. 3.6 and 5.2).

Each weight is stored in ``N`` bit cells (:class:`imckit.qat.quantizers.LevelQuantizer`: level ``k`` is the bit
pattern of ``k``). A cell may be *stuck*: it reads 0 or 1 whatever is written. A fault map draws, for every
bit cell independently, a fault with probability ``rate`` (the paper's bit-fault rate), stuck at 1 with
probability ``sa1_share`` and at 0 otherwise (the kit's choice: the paper does not give the split; 0.5).

A level is *reachable* (valid) for a weight when its pattern agrees with every stuck bit of that weight
(the paper's validity term ``val_iq`` of Eq. 11). Writing a weight maps it to a level in one of two ways:

``"naive"``
    the nearest level, ignoring faults; the stuck bits then override the written ones, so the stored
    level is the written pattern with the stuck bits forced.
``"nearest_valid"``
    the nearest *reachable* level (nearest valid level mapping, Hanif & Shafique 2023): stored exactly.

The four mitigation levels of the paper's Sec. 5.2, as this kit runs them (:mod:`imckit.qat`):

``"basic"``
    fault-unaware regularization; every few epochs the weights are replaced by what the faulty cells
    store under naive mapping (periodic remapping based on the fault map); deployed naively.
``"passive"``
    fault-unaware regularization; nearest valid level mapping, periodically during training and at
    deployment.
``"active"``
    the fault-aware regularization of Eq. 11 (invalid levels penalized), no remapping; deployed naively
    (the loss has already pulled the weights to reachable levels).
``"active+passive"``
    Eq. 11 and nearest valid level mapping, periodically and at deployment (the paper's method).

Devices: fault maps are drawn on the CPU with a seeded generator and then moved to ``device``, so the same
seed gives the same map everywhere; the other functions compute on the device of their inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from imckit.core.compute import resolve_device
from imckit.core.validate import check_choice, check_count, check_int, check_generator, check_probability, check_tensor
from imckit.qat.quantizers import MAX_WEIGHTS, _check_levels, _nearest, bit_patterns

__all__ = ["MITIGATIONS", "MAPPINGS", "FaultMap", "stuck_at_faults", "layer_fault_maps", "faulty_weight_share",
           "validity_mask", "forced_level", "map_to_levels"]

MITIGATIONS = ("basic", "passive", "active", "active+passive")
MAPPINGS = ("naive", "nearest_valid")


def _check_rate(value, name: str) -> float:
    return check_probability(value, name)


def check_sizes(sizes, name: str = "sizes") -> dict[str, int]:
    """``sizes`` when it is a non-empty mapping module -> number of weights (each an integer >= 1)."""
    if not isinstance(sizes, Mapping) or not sizes:
        raise ValueError(f"{name} must be a non-empty mapping module -> number of weights; got {sizes!r}"[:200])
    for m, n in sizes.items():
        check_count(n, f"{name}[{m!r}]", high=MAX_WEIGHTS)
    return dict(sizes)


@dataclass(frozen=True, eq=False)
class FaultMap:
    """Stuck bits of ``n`` weights of ``bits`` bits each.

    Attributes:
        stuck: bool ``(n, bits)``, True where the cell is stuck.
        value: bool ``(n, bits)``, the value a stuck cell reads (meaningless where not stuck).
        rate: the bit-fault rate it was drawn with.
    """

    stuck: torch.Tensor
    value: torch.Tensor
    rate: float

    def __post_init__(self):
        for name in ("stuck", "value"):
            tensor = getattr(self, name)
            check_tensor(tensor, name, ndim=2, finite=False)
            if tensor.dtype != torch.bool:
                raise TypeError(f"{name} must be a bool tensor (n, bits); got dtype {tensor.dtype}")
        if self.value.shape != self.stuck.shape:
            raise ValueError(f"value must have the shape of stuck {tuple(self.stuck.shape)}; got "
                             f"{tuple(self.value.shape)}")
        check_probability(self.rate, "rate")
        check_int(self.bits, "bits (stuck.shape[1])", 1, 12)

    @property
    def bits(self) -> int:
        return int(self.stuck.shape[1])

    def faulty_weights(self) -> torch.Tensor:
        """bool ``(n,)``: weights with at least one stuck cell."""
        return self.stuck.any(dim=1)

    def to(self, device: str | torch.device) -> "FaultMap":
        """The same map on ``device`` (``"cpu"``, ``"cuda"``, ``"auto"``)."""
        device = resolve_device(device)
        if self.stuck.device == device and self.value.device == device:
            return self
        return FaultMap(self.stuck.to(device), self.value.to(device), self.rate)


def stuck_at_faults(n_weights: int, bits: int, rate: float, generator: torch.Generator,
                    sa1_share: float = 0.5, device: str | torch.device = "cpu") -> FaultMap:
    """Draw a fault map: every bit cell stuck with probability ``rate``, at 1 with probability ``sa1_share``
    (drawn on the CPU with ``generator``, returned on ``device``)."""
    device = resolve_device(device)
    rate = _check_rate(rate, "rate")
    sa1_share = _check_rate(sa1_share, "sa1_share")
    check_count(n_weights, "n_weights", high=MAX_WEIGHTS)
    generator = check_generator(generator)
    bit_patterns(bits)  # validates bits
    stuck = torch.rand(n_weights, bits, generator=generator) < rate
    value = torch.rand(n_weights, bits, generator=generator) < sa1_share
    return FaultMap(stuck, value & stuck, rate).to(device)


def layer_fault_maps(sizes: Mapping[str, int], bits: int, rate: float, generator: torch.Generator,
                     sa1_share: float = 0.5, device: str | torch.device = "cpu") -> dict[str, FaultMap]:
    """One chip's fault maps: module -> :func:`stuck_at_faults` of its ``sizes[module]`` weights, drawn one
    module after the other (in the order of ``sizes``) from the same ``generator`` (or seed)."""
    check_sizes(sizes)
    generator = check_generator(generator)  # one generator for all modules, also when given a seed
    _check_rate(rate, "rate"), _check_rate(sa1_share, "sa1_share"), bit_patterns(bits), resolve_device(device)
    return {m: stuck_at_faults(n, bits, rate, generator, sa1_share, device) for m, n in sizes.items()}


def check_fault_maps(faults, name: str = "faults") -> Mapping[str, FaultMap]:
    """``faults`` when it is a non-empty mapping module -> :class:`FaultMap`."""
    if not isinstance(faults, Mapping) or not faults:
        raise ValueError(f"{name} must be a non-empty mapping module -> FaultMap; got {faults!r}"[:200])
    for m, f in faults.items():
        _check_fault_map(f, f"{name}[{m!r}]")
    return faults


def _check_fault_map(faults, name: str = "faults") -> FaultMap:
    if not isinstance(faults, FaultMap):
        raise TypeError(f"{name} must be a FaultMap (stuck_at_faults); got {type(faults).__name__}")
    return faults


def faulty_weight_share(faults: Mapping[str, FaultMap]) -> float:
    """The share (in [0, 1]) of all weights of ``faults`` that have at least one stuck cell."""
    check_fault_maps(faults)
    faulty = sum(int(f.faulty_weights().sum()) for f in faults.values())
    return faulty / sum(int(f.stuck.shape[0]) for f in faults.values())


def validity_mask(faults: FaultMap) -> torch.Tensor:
    """bool ``(n, 2^bits)``: whether each level's bit pattern agrees with every stuck bit of each weight."""
    _check_fault_map(faults)
    patterns = bit_patterns(faults.bits, faults.stuck.device).bool()  # (L, N)
    agree = patterns.unsqueeze(0) == faults.value.unsqueeze(1)  # (n, L, N)
    return (agree | ~faults.stuck.unsqueeze(1)).all(dim=2)


def forced_level(index: torch.Tensor, faults: FaultMap) -> torch.Tensor:
    """The level each weight stores when pattern ``index`` (``(n,)``, each in ``[0, 2^bits)``) is written into
    its faulty cells."""
    _check_fault_map(faults)
    check_tensor(index, "index", ndim=1, nonempty=False)
    if index.is_floating_point() or index.dtype == torch.bool or index.is_complex():
        raise TypeError(f"index must be an integer tensor of level indices; got dtype {index.dtype}")
    if index.shape[0] != faults.stuck.shape[0]:
        raise ValueError(f"index must hold one level per weight of faults ({faults.stuck.shape[0]}); got "
                         f"{index.shape[0]}")
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= 2**faults.bits):
        raise ValueError(f"index must hold levels in [0, {2**faults.bits - 1}]; got values from {int(index.min())} "
                         f"to {int(index.max())}")
    return _forced(index, faults)


def _forced(index: torch.Tensor, faults: FaultMap) -> torch.Tensor:
    shifts = torch.arange(faults.bits, device=index.device)
    written = (index.unsqueeze(1) >> shifts) & 1
    stored = torch.where(faults.stuck, faults.value.to(written.dtype), written)
    return (stored << shifts).sum(dim=1)


def map_to_levels(weight: torch.Tensor, levels: torch.Tensor, faults: FaultMap | None = None,
                  mapping: str = "nearest_valid") -> torch.Tensor:
    """The values a layer stores: each weight written by ``mapping`` into its (faulty) cells.

    Args:
        weight: the float weight (any shape, ``n`` elements).
        levels: ``(2^bits,)`` levels, or ``(n, 2^bits)`` per weight (variability).
        faults: the fault map of the layer's ``n`` weights (``None``: no faults, plain quantization).
        mapping: ``"naive"`` or ``"nearest_valid"`` (module docstring).

    Returns:
        a tensor of the weight's shape.
    """
    check_choice(mapping, "mapping", MAPPINGS)
    _check_levels(weight, levels, None)
    if faults is not None:
        _check_fault_map(faults)
    levels = levels.detach()
    if faults is not None and (faults.stuck.shape[0] != weight.numel() or 2**faults.bits != levels.shape[-1]):
        raise ValueError(f"faults cover {faults.stuck.shape[0]} weights of {faults.bits} bits; the layer has "
                         f"{weight.numel()} weights and {levels.shape[-1]} levels")
    if faults is None:
        index = _nearest(weight, levels)
    elif mapping == "nearest_valid":
        index = _nearest(weight, levels, validity_mask(faults))
    else:
        index = _forced(_nearest(weight, levels), faults)
    values = levels[index] if levels.ndim == 1 else levels.gather(1, index.unsqueeze(1)).squeeze(1)
    return values.reshape(weight.shape)
