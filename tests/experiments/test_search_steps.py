"""The cached computation of the chapters "Genetic search" and "Validation and one-epoch compensation": the
front of a search, keyed by the search's code only."""

import numpy as np
import pytest

from imckit.experiments.search_steps import CODE, search_front
from imckit.search.genetic import GeneticSearchConfig, genetic_search

from .closure import chapter_modules, covered_modules


def test_keys_cover_the_search_and_no_chapter_text():
    assert covered_modules(CODE[0]) >= {"imckit.search.genetic"} and chapter_modules(CODE[0]) == set()


def _tables(seed=0):
    rng = np.random.default_rng(seed)
    memory = rng.uniform(1, 10, (5, 4))
    loss = rng.uniform(0, 20, (5, 4))
    memory[4, :2] = loss[4, :2] = np.nan  # the last layer allows two configurations only
    return memory, loss


def test_search_front_is_cached_and_equals_the_search(tmp_path):
    memory, loss = _tables()
    config = GeneticSearchConfig(population=12, generations=6)
    first, cached_first = search_front(memory, loss, seed=3, config=config, cache=tmp_path)
    again, cached_again = search_front(memory, loss, seed=3, config=config, cache=tmp_path)
    direct = genetic_search(memory, loss, seed=3, config=config)
    assert not cached_first and cached_again
    for result in (first, again):
        assert np.array_equal(result.genomes, direct.genomes)
        assert np.array_equal(result.objectives, direct.objectives)
        assert np.array_equal(result.selections, direct.selections)
        assert set(result.history) == set(direct.history)
        assert all(np.array_equal(result.history[k], direct.history[k], equal_nan=True) for k in direct.history)
    _, other_seed = search_front(memory, loss, seed=4, config=config, cache=tmp_path)
    nsga, nsga_cached = search_front(memory, loss, seed=3, config=config, method="nsga2", cache=tmp_path)
    assert not other_seed and not nsga_cached and nsga.selections.shape == (0, 12)
    assert len(list((tmp_path / "search-front").iterdir())) == 3
    with pytest.raises(ValueError, match="method"):
        search_front(memory, loss, method="random")
