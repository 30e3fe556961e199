"""The cached computation of the chapters "Genetic search" and "Validation and one-epoch compensation"
(:mod:`imckit.experiments.search`, :mod:`imckit.experiments.compensation`): the front of a search.

The cache rule of the chapters: a cached computation's key names the module that holds its compute code,
and that module holds nothing else (no sentences, plots or result classes), so that editing a chapter's
text or figures never invalidates an expensive result, while editing anything that computes it does.
:func:`search_front` is keyed by ``code_version("imckit.experiments.search_steps")``, which covers this
source and the search it calls (:mod:`imckit.search.genetic`). The searches run on the CPU (NumPy), so the
key holds no device.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch

from imckit.core.cache import cached
from imckit.core.validate import check_choice, check_seed
from imckit.search.genetic import GeneticSearchConfig, GeneticSearchResult, genetic_search, nsga2_search

__all__ = ["CODE", "search_front"]

CODE = ("imckit.experiments.search_steps",)  # the code behind the cached fronts


def _plain(result: GeneticSearchResult) -> dict:
    """A search's result as plain data (tensors) for the cache."""
    return {"genomes": torch.from_numpy(np.ascontiguousarray(result.genomes)),
            "objectives": torch.from_numpy(np.ascontiguousarray(result.objectives)),
            "history": {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in result.history.items()},
            "selections": torch.from_numpy(np.ascontiguousarray(result.selections)),
            "reference": torch.from_numpy(np.ascontiguousarray(result.reference))}


def _result(value: dict) -> GeneticSearchResult:
    """The :class:`GeneticSearchResult` of :func:`_plain`."""
    return GeneticSearchResult(value["genomes"].numpy(), value["objectives"].numpy(),
                               {k: v.numpy() for k, v in value["history"].items()}, value["selections"].numpy(),
                               value["reference"].numpy())


def _table(values, name: str) -> np.ndarray:
    """An objective table: a non-empty 2-D array of numbers, NaN where a layer may not use a configuration
    (no infinity)."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a 2-D array of numbers (layers, configurations); got "
                        f"{type(values).__name__}") from None
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (layers, configurations); got shape {array.shape}")
    if np.isinf(array).any():
        raise ValueError(f"{name} must be a table of finite numbers (NaN: not allowed); got "
                         f"{int(np.isinf(array).sum())} infinite values")
    return array


def search_front(memory, loss, seed: int = 0, config: GeneticSearchConfig = GeneticSearchConfig(),
                 method: str = "genetic", cache=None) -> tuple[GeneticSearchResult, bool]:
    """The front of the paper's genetic search (``method="genetic"``) or of NSGA-II (``"nsga2"``, with the
    config's population and generations) on the (memory, loss) tables, cached by the tables, the seed, the
    settings and the search code. Returns ``(result, from_cache)``."""
    check_choice(method, "method", ("genetic", "nsga2"))
    if not isinstance(config, GeneticSearchConfig):
        raise TypeError(f"config must be a GeneticSearchConfig; got {type(config).__name__}")
    seed = check_seed(seed)
    memory, loss = _table(memory, "memory"), _table(loss, "loss")
    if memory.shape != loss.shape:
        raise ValueError(f"loss must be a table of memory's shape {memory.shape} (layers, configurations); got "
                         f"{loss.shape}")
    if (~np.isnan(memory)).sum(axis=1).min() < 1:
        raise ValueError("memory must be a table that leaves every layer at least one configuration (NaN: not "
                         "allowed); got a row of NaN only")
    if not np.array_equal(np.isnan(memory), np.isnan(loss)):
        raise ValueError("loss must be NaN exactly where memory is (a configuration a layer may not use)")

    def compute():
        if method == "genetic":
            return _plain(genetic_search(memory, loss, seed=seed, config=config))
        return _plain(nsga2_search(memory, loss, seed=seed, population=config.population,
                                   generations=config.generations))

    settings = asdict(config) if method == "genetic" else {"population": config.population,
                                                           "generations": config.generations}
    description = {"method": method, "memory": memory.tolist(), "loss": loss.tolist(), "seed": seed,
                   "settings": settings}
    value, from_cache = cached("search-front", description, compute, code=CODE, cache=cache)
    return _result(value), from_cache
