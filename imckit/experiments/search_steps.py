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


def search_front(memory, loss, seed: int = 0, config: GeneticSearchConfig = GeneticSearchConfig(),
                 method: str = "genetic", cache=None) -> tuple[GeneticSearchResult, bool]:
    """The front of the paper's genetic search (``method="genetic"``) or of NSGA-II (``"nsga2"``, with the
    config's population and generations) on the (memory, loss) tables, cached by the tables, the seed, the
    settings and the search code. Returns ``(result, from_cache)``."""
    if method not in ("genetic", "nsga2"):
        raise ValueError(f"method must be 'genetic' or 'nsga2'; got {method!r}")
    if not isinstance(config, GeneticSearchConfig):
        raise ValueError(f"config must be a GeneticSearchConfig; got {type(config).__name__}")
    memory, loss = np.asarray(memory, dtype=float), np.asarray(loss, dtype=float)

    def compute():
        if method == "genetic":
            return _plain(genetic_search(memory, loss, seed=seed, config=config))
        return _plain(nsga2_search(memory, loss, seed=seed, population=config.population,
                                   generations=config.generations))

    settings = asdict(config) if method == "genetic" else {"population": config.population,
                                                           "generations": config.generations}
    description = {"method": method, "memory": memory.tolist(), "loss": loss.tolist(), "seed": int(seed),
                   "settings": settings}
    value, from_cache = cached("search-front", description, compute, code=CODE, cache=cache)
    return _result(value), from_cache
