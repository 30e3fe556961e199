"""Search over per-layer configurations: both objectives are sums over layers of a (layers, configurations)
table (seed paper 000, Sec. IV: memory and loss change from the sensitivity table).

Tables are plain arrays of shape (layers, configurations); NaN marks a configuration a layer may not use
(e.g. MLC for the dense layer). Both objectives are minimized. A genome holds one configuration index per
layer.

:func:`exact_pareto_front` computes the exact front of this additive problem by dynamic programming over
layers with dominance pruning: a partial assignment of the first layers that is dominated by another can
never complete into a front point, because both get the same later terms added. The genetic search of the
paper (issue 4) is measured against it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_tables", "exact_pareto_front", "pareto_mask"]


def check_tables(memory, loss) -> tuple[np.ndarray, np.ndarray]:
    """Validate two objective tables and return them as float arrays.

    They must be 2-D with the same shape (layers >= 1, configurations >= 1), NaN in the same places, finite
    elsewhere, and every layer must allow at least one configuration.
    """
    memory = np.asarray(memory, dtype=float)
    loss = np.asarray(loss, dtype=float)
    if memory.ndim != 2 or memory.shape[0] < 1 or memory.shape[1] < 1:
        raise ValueError(f"memory must be a 2-D table (layers, configurations); got shape {memory.shape}")
    if loss.shape != memory.shape:
        raise ValueError(f"loss must have the shape of memory {memory.shape}; got {loss.shape}")
    if not np.array_equal(np.isnan(memory), np.isnan(loss)):
        raise ValueError("memory and loss must be NaN (not allowed) in the same places")
    if np.isinf(memory).any() or np.isinf(loss).any():
        raise ValueError("memory and loss must be finite where allowed (NaN marks a forbidden configuration)")
    empty = np.where(np.isnan(memory).all(axis=1))[0]
    if len(empty):
        raise ValueError(f"layer(s) {empty.tolist()} allow no configuration (their whole row is NaN)")
    return memory, loss


def pareto_mask(objectives: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of an (n, 2) array (both minimized). Of points with equal
    objectives only the first is kept."""
    objectives = np.asarray(objectives, dtype=float)
    order = np.lexsort((objectives[:, 1], objectives[:, 0]))  # by memory, then loss
    keep = np.zeros(len(objectives), dtype=bool)
    best = np.inf
    for i in order:
        if objectives[i, 1] < best:
            keep[i] = True
            best = objectives[i, 1]
    return keep


def exact_pareto_front(memory, loss) -> tuple[np.ndarray, np.ndarray]:
    """The exact Pareto front of ``sum_l memory[l, g_l]`` and ``sum_l loss[l, g_l]``.

    Returns:
        ``(genomes, objectives)``: int array (K, layers) and float array (K, 2) of (memory, loss), sorted by
        memory. One genome per front point: of genomes with equal objectives, the lexicographically
        smallest.
    """
    memory, loss = check_tables(memory, loss)
    layers = memory.shape[0]
    genomes = np.zeros((1, 0), dtype=np.int64)
    objectives = np.zeros((1, 2))
    for layer in range(layers):
        allowed = np.where(~np.isnan(memory[layer]))[0]
        # every partial genome extended by every allowed configuration of this layer
        new_genomes = np.concatenate(
            [np.repeat(genomes, len(allowed), axis=0), np.tile(allowed, len(genomes))[:, None]], axis=1)
        new_objectives = np.repeat(objectives, len(allowed), axis=0) + np.stack(
            [np.tile(memory[layer, allowed], len(genomes)), np.tile(loss[layer, allowed], len(genomes))], axis=1)
        # lexicographic genome order first, so that ties keep the smallest genome
        order = np.lexsort(new_genomes.T[::-1])
        new_genomes, new_objectives = new_genomes[order], new_objectives[order]
        keep = pareto_mask(new_objectives)
        genomes, objectives = new_genomes[keep], new_objectives[keep]
    order = np.lexsort((objectives[:, 1], objectives[:, 0]))
    return genomes[order], objectives[order]
