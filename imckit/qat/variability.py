"""Device-to-device variability of the bit cells' low-resistance state (seed paper 002, Secs. 3.7 and 5.3).

A bit cell that stores a 1 (LRS) contributes its bit multiplier ``m_j`` scaled by its conductance relative
to the nominal one; a 0 (HRS) contributes nothing (the paper neglects HRS variability). The *LRS
multiplier* of each cell is drawn once per chip from a normal distribution with mean 1 and standard
deviation ``sigma_over_mu`` (the paper's sigma/mu of device-to-device variability), clipped at 0 because a
conductance cannot be negative (the kit's choice). The chip is characterized: the map is known.

Weight ``i`` with bit pattern ``S`` then stores ``<var_i * m, S> + c`` (the paper's Eq. 12): each weight has
its own ``2^N`` levels, :func:`weight_levels`. Two ways to write a weight onto such a chip:

* *ideal mapping*: choose the pattern of the nearest *ideal* level, as if the chip had no variability;
  the stored value is that pattern's level on this chip;
* *variability-aware mapping*: choose the pattern whose level *on this chip* is nearest (the map is
  characterized), which is what the variability-aware regularization trains for.

Devices: the multipliers are drawn on the CPU with a seeded generator and then moved to ``device``, so the
same seed gives the same chip everywhere; the other functions compute on the device of their inputs.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from imckit.core.compute import resolve_device
from imckit.core.validate import check_bool, check_count, check_generator, check_number, check_tensor
from imckit.qat.faults import check_sizes
from imckit.qat.quantizers import MAX_WEIGHTS, _check_levels, _nearest, bit_patterns

__all__ = ["lrs_multipliers", "layer_lrs_multipliers", "weight_levels", "realized_weights"]


def lrs_multipliers(n_weights: int, bits: int, sigma_over_mu: float, generator: torch.Generator,
                    device: str | torch.device = "cpu") -> torch.Tensor:
    """Draw the LRS multipliers ``(n, bits)`` of one chip: ``max(0, N(1, sigma_over_mu))`` per bit cell (drawn
    on the CPU with ``generator``, returned on ``device``)."""
    device = resolve_device(device)
    check_number(sigma_over_mu, "sigma_over_mu", 0, 1)
    check_count(n_weights, "n_weights", high=MAX_WEIGHTS)
    generator = check_generator(generator)
    bit_patterns(bits)  # validates bits
    return torch.clamp(1 + sigma_over_mu * torch.randn(n_weights, bits, generator=generator), min=0.0).to(device)


def layer_lrs_multipliers(sizes: Mapping[str, int], bits: int, sigma_over_mu: float, generator: torch.Generator,
                          device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """One chip's LRS multipliers: module -> :func:`lrs_multipliers` of its ``sizes[module]`` weights, drawn
    one module after the other (in the order of ``sizes``) from the same ``generator``."""
    check_sizes(sizes)
    generator = check_generator(generator)  # one generator for all modules, also when given a seed
    check_number(sigma_over_mu, "sigma_over_mu", 0, 1), bit_patterns(bits), resolve_device(device)
    return {m: lrs_multipliers(n, bits, sigma_over_mu, generator, device) for m, n in sizes.items()}


def weight_levels(multipliers: torch.Tensor, offset: torch.Tensor, variability: torch.Tensor) -> torch.Tensor:
    """Every weight's levels on the chip, ``(n, 2^bits)``: ``(variability * multipliers) @ patterns^T + offset``
    (differentiable in the multipliers and the offset)."""
    _check_chip(multipliers, offset, variability)
    return _weight_levels(multipliers, offset, variability)


def _check_chip(multipliers, offset, variability) -> None:
    check_tensor(multipliers, "multipliers", ndim=1, floating=True)
    check_tensor(offset, "offset", floating=True)
    if offset.numel() != 1:
        raise ValueError(f"offset must be one number (a tensor of one element); got shape {tuple(offset.shape)}")
    bits = multipliers.shape[0]
    check_tensor(variability, "variability", floating=True)
    if variability.ndim != 2 or variability.shape[1] != bits:
        raise ValueError(f"variability must have shape (n_weights, {bits}); got {tuple(variability.shape)}")
    if bool((variability < 0).any()):
        raise ValueError("variability must hold LRS multipliers >= 0 (conductances); got a negative value")


def _weight_levels(multipliers, offset, variability):
    bits = multipliers.shape[0]
    return (variability * multipliers) @ bit_patterns(bits, multipliers.device).T + offset


def realized_weights(weight: torch.Tensor, multipliers: torch.Tensor, offset: torch.Tensor,
                     variability: torch.Tensor, aware: bool) -> torch.Tensor:
    """The values a layer stores on the chip (weight's shape): by ideal mapping (``aware=False``) or by
    variability-aware mapping (``aware=True``); see the module docstring."""
    check_bool(aware, "aware")
    _check_chip(multipliers, offset, variability)
    levels = _weight_levels(multipliers.detach(), offset.detach(), variability)
    _check_levels(weight, levels, None)
    if aware:
        index = _nearest(weight, levels)
    else:
        patterns = bit_patterns(multipliers.shape[0], multipliers.device)
        index = _nearest(weight, patterns @ multipliers.detach() + offset.detach())
    return levels.gather(1, index.unsqueeze(1)).squeeze(1).reshape(weight.shape)
