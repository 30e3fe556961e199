"""Property-based tests of the search (Hypothesis; the derandomized profile of tests/conftest.py): a search
config is either valid and runnable or rejected at construction, never accepted and then crashing; the exact
Pareto front equals brute force on tiny tables; a search's front is made of valid genomes the exact front
dominates. Populations, generations and tables stay tiny, so each property runs in seconds."""

import itertools
import math
import re

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from imckit.search.genetic import (GeneticSearchConfig, exact_pareto_front, genetic_search, hypervolume,
                                   pareto_mask)

NAN, INF = float("nan"), float("inf")
FIELDS = r"^(population|generations|tournament|elite|mutation|crossover|learning_rate) must be "


@st.composite
def tables(draw, max_layers=4, max_configs=4):
    """A (memory, loss) pair of (layers, configurations) tables with integer values (ties happen) and NaN
    marking forbidden configurations, every layer allowing at least one."""
    layers, configs = draw(st.integers(1, max_layers)), draw(st.integers(1, max_configs))
    cells = st.lists(st.lists(st.integers(-5, 20), min_size=configs, max_size=configs),
                     min_size=layers, max_size=layers)
    memory, loss = np.array(draw(cells), dtype=float), np.array(draw(cells), dtype=float)
    forbidden = np.array(draw(st.lists(st.lists(st.booleans(), min_size=configs, max_size=configs),
                                       min_size=layers, max_size=layers)))
    forbidden[np.arange(layers), draw(st.lists(st.integers(0, configs - 1), min_size=layers, max_size=layers))] = False
    memory[forbidden] = loss[forbidden] = NAN
    return memory, loss


def _brute_force(memory, loss):
    """All genomes, their objectives, and the sorted set of non-dominated objective vectors."""
    allowed = [np.where(~np.isnan(row))[0] for row in memory]
    genomes = np.array(list(itertools.product(*allowed)))
    rows = np.arange(memory.shape[0])
    objectives = np.stack([memory[rows, genomes].sum(1), loss[rows, genomes].sum(1)], axis=1)
    front = {tuple(p) for p in objectives
             if not np.any(np.all(objectives <= p, axis=1) & np.any(objectives < p, axis=1))}
    return genomes, objectives, np.array(sorted(front))


def _sorted(values):
    return values.map(lambda v: tuple(sorted(v)))


def _rates(values):
    return values.map(sorted).map(lambda v: (v[1], v[0], v[2]))  # (initial, low, high), low <= initial <= high


WILD_NUMBER = st.one_of(st.sampled_from([NAN, INF, -INF]), st.floats(-0.5, 1.5))
WILD = {  # anything of the right kind: out of range, NaN, infinite, misordered
    "population": st.integers(-1, 12),
    "generations": st.integers(-1, 4),
    "tournament": st.tuples(st.integers(-1, 14), st.integers(-1, 14)),
    "elite": st.tuples(WILD_NUMBER, WILD_NUMBER),
    "mutation": st.tuples(WILD_NUMBER, WILD_NUMBER, WILD_NUMBER),
    "crossover": st.tuples(WILD_NUMBER, WILD_NUMBER, WILD_NUMBER),
    "learning_rate": st.one_of(st.sampled_from([NAN, INF, -INF, 1e300, 0.0, 10.0]), st.floats(-1, 12)),
}


@st.composite
def search_settings(draw):
    """GeneticSearchConfig keyword arguments: every field in its documented range except at most one, which
    may be anything of its kind (the elite's bound and the tournament's, which depend on the population, are
    left to chance too)."""
    population = draw(st.integers(4, 12))
    settings = {
        "population": population,
        "generations": draw(st.integers(1, 4)),
        "tournament": draw(_sorted(st.tuples(st.integers(1, population), st.integers(1, population)))),
        "elite": draw(_sorted(st.tuples(st.floats(0, 0.75), st.floats(0, 0.75)))),  # the bound: below
        "mutation": draw(_rates(st.lists(st.floats(0, 1), min_size=3, max_size=3))),
        "crossover": draw(_rates(st.lists(st.floats(0, 1), min_size=3, max_size=3))),
        "learning_rate": draw(st.floats(0, 10)),
    }
    wild = draw(st.sampled_from([*WILD, None, None, None]))
    if wild is not None:
        settings[wild] = draw(WILD[wild])
    return settings


SMALL = (np.array([[3.0, 2.0, 1.0], [2.0, 1.0, NAN]]), np.array([[0.0, 1.0, 2.0], [0.0, 3.0, NAN]]))
BASE = {"population": 10, "generations": 3, "tournament": (2, 4)}


@given(table=tables(), seed=st.integers(0, 2**63 - 1), settings=search_settings())
# the cases: an elite share the old config accepted crashed the search, a NaN learning rate switched
# mutation and crossover off, a huge one overflowed exp() and made rates of 0 NaN
@example(table=SMALL, seed=0, settings={**BASE, "elite": (0.05, 0.96)})
@example(table=SMALL, seed=0, settings={**BASE, "learning_rate": NAN})
@example(table=SMALL, seed=0, settings={**BASE, "mutation": (0.0, 0.0, 0.5), "learning_rate": 1e300})
def test_search_configs_are_runnable_or_rejected(table, seed, settings):
    try:
        config = GeneticSearchConfig(**settings)
    except ValueError as error:  # rejected at construction, naming the field
        assert re.match(FIELDS, str(error)), str(error)
        return
    memory, loss = table
    result = genetic_search(memory, loss, seed=seed, config=config)
    rows, n = np.arange(memory.shape[0]), config.population
    # genomes within range, only allowed configurations, objectives their sums, a non-dominated set
    assert result.genomes.dtype.kind == "i" and result.genomes.shape[1] == memory.shape[0]
    assert result.genomes.min() >= 0 and result.genomes.max() < memory.shape[1]
    assert not np.isnan(memory[rows, result.genomes]).any()
    assert np.array_equal(memory[rows, result.genomes].sum(1), result.objectives[:, 0])
    assert np.array_equal(loss[rows, result.genomes].sum(1), result.objectives[:, 1])
    assert pareto_mask(result.objectives).all()
    _, exact = exact_pareto_front(memory, loss)
    for point in result.objectives:  # the exact front weakly dominates every point found
        assert np.any(np.all(exact <= point, axis=1))
    # the history follows the settings: rates within their bounds, the elite leaves children to breed
    history = result.history
    assert all(len(v) == config.generations for v in history.values())
    for name in ("mutation", "crossover"):
        _, low, high = getattr(config, name)
        assert np.all(history[name] >= low - 1e-12) and np.all(history[name] <= high + 1e-12)
    assert np.isfinite(history["hypervolume"]).all() and np.all(np.diff(history["hypervolume"]) >= -1e-9)
    children = n - np.array([int(round(share * n)) for share in history["elite"]])
    assert np.all(children >= 1) and np.array_equal(result.selections.sum(1), 2 * children)


@given(population=st.integers(4, 40), share=st.floats(0, 1), generations=st.integers(1, 3))
def test_the_elite_bound_is_exactly_what_the_search_can_run(population, share, generations):
    runnable = int(round(share * population)) <= population - 1  # at least one child per generation
    try:
        config = GeneticSearchConfig(population=population, generations=generations, tournament=(1, 2),
                                     elite=(0.0, share))
    except ValueError as error:
        assert not runnable and re.match(r"^elite must be ", str(error))
        return
    assert runnable
    memory, loss = np.array([[1.0, 2.0], [2.0, 1.0]]), np.array([[1.0, 0.0], [0.0, 1.0]])
    assert len(genetic_search(memory, loss, seed=0, config=config).genomes) >= 1


@given(table=tables())
def test_exact_front_equals_brute_force(table):
    memory, loss = table
    genomes, objectives = exact_pareto_front(memory, loss)
    every, values, front = _brute_force(memory, loss)
    assert np.array_equal(objectives, front)
    rows = np.arange(memory.shape[0])
    assert not np.isnan(memory[rows, genomes]).any()
    assert np.array_equal(memory[rows, genomes].sum(1), objectives[:, 0])
    assert np.array_equal(loss[rows, genomes].sum(1), objectives[:, 1])
    for genome, point in zip(genomes, objectives):  # of genomes with equal objectives, the smallest
        ties = every[np.all(values == point, axis=1)]
        assert tuple(genome) == min(map(tuple, ties))
    reference = front.max(axis=0) + 1.0
    assert math.isclose(hypervolume(objectives, reference), hypervolume(values, reference), rel_tol=1e-12)


@given(points=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=12))
def test_pareto_mask_keeps_exactly_the_first_of_each_non_dominated_point(points):
    objectives = np.array(points, dtype=float).reshape(-1, 2)
    keep = pareto_mask(objectives)
    expected = [not np.any(np.all(objectives <= p, axis=1) & np.any(objectives < p, axis=1))
                and not any(np.array_equal(objectives[j], p) for j in range(i))
                for i, p in enumerate(objectives)]
    assert keep.tolist() == expected
