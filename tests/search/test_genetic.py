import itertools

import numpy as np
import pytest

from imckit.search.genetic import exact_pareto_front, pareto_mask


def _brute_force(memory, loss):
    allowed = [np.where(~np.isnan(row))[0] for row in memory]
    genomes = np.array(list(itertools.product(*allowed)))
    rows = np.arange(memory.shape[0])
    objectives = np.stack([memory[rows, genomes].sum(1), loss[rows, genomes].sum(1)], axis=1)
    front = []
    for i, p in enumerate(objectives):
        dominated = np.any(np.all(objectives <= p, axis=1) & np.any(objectives < p, axis=1))
        if not dominated:
            front.append(tuple(p))
    return sorted(set(front)), genomes, objectives


@pytest.mark.parametrize("seed", range(6))
def test_exact_front_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    layers, configs = rng.integers(2, 6), rng.integers(2, 6)
    memory = rng.integers(1, 20, (layers, configs)).astype(float)  # integers: ties happen
    loss = np.round(rng.normal(size=(layers, configs)), 1)
    forbidden = rng.random((layers, configs)) < 0.2
    forbidden[:, 0] = False
    memory[forbidden] = loss[forbidden] = np.nan
    genomes, objectives = exact_pareto_front(memory, loss)
    expected, _, _ = _brute_force(memory, loss)
    assert objectives.shape == (len(expected), 2) and np.allclose(objectives, np.array(expected))
    rows = np.arange(layers)
    assert np.allclose(memory[rows, genomes].sum(1), objectives[:, 0])
    assert np.allclose(loss[rows, genomes].sum(1), objectives[:, 1])
    assert not np.isnan(memory[rows, genomes]).any()  # only allowed configurations
    assert np.all(np.diff(objectives[:, 0]) > 0) and np.all(np.diff(objectives[:, 1]) < 0)


def test_ties_keep_the_smallest_genome():
    memory = np.array([[1.0, 1.0], [2.0, 2.0]])
    loss = np.array([[0.0, 0.0], [0.0, 0.0]])
    genomes, objectives = exact_pareto_front(memory, loss)
    assert genomes.tolist() == [[0, 0]] and objectives.tolist() == [[3.0, 0.0]]


def test_pareto_mask():
    points = np.array([[1, 5], [2, 3], [2, 4], [3, 3], [4, 1], [1, 5]])
    assert pareto_mask(points).tolist() == [True, True, False, False, True, False]


@pytest.mark.parametrize("memory,loss,message", [
    (np.ones(3), np.ones(3), "memory must be a 2-D table"),
    (np.ones((2, 3)), np.ones((3, 2)), "loss must have the shape of memory"),
    (np.array([[1.0, np.nan]]), np.array([[1.0, 2.0]]), "NaN .* in the same places"),
    (np.array([[np.nan, np.nan], [1, 2]]), np.array([[np.nan, np.nan], [1, 2]]),
     r"^memory must allow at least one configuration per layer.*layer\(s\) \[0\]"),
    (np.array([[np.inf, 1.0]]), np.array([[1.0, 1.0]]), "finite"),
])
def test_bad_tables(memory, loss, message):
    with pytest.raises(ValueError, match=message):
        exact_pareto_front(memory, loss)


from imckit.search.genetic import GeneticSearchConfig, genetic_search, hypervolume, reference_point  # noqa: E402


def _random_table(seed, layers=8, configs=10):
    rng = np.random.default_rng(seed)
    memory = np.sort(rng.uniform(0, 10, (layers, configs)), axis=1)[:, ::-1].copy()
    loss = np.sort(rng.exponential(1, (layers, configs)), axis=1)
    memory[-1, 1::2] = loss[-1, 1::2] = np.nan  # the last layer allows only some configurations
    return memory, loss


def test_ga_recovers_the_exact_front_of_a_small_problem():
    memory, loss = _random_table(1, layers=4, configs=3)
    _, exact = exact_pareto_front(memory, loss)
    result = genetic_search(memory, loss, seed=0, config=GeneticSearchConfig(population=20, generations=30))
    assert np.allclose(result.objectives, exact)
    assert result.history["hypervolume"][-1] == pytest.approx(hypervolume(exact, result.reference))


def test_ga_approaches_the_exact_hypervolume_and_is_reproducible():
    memory, loss = _random_table(0)
    _, exact = exact_pareto_front(memory, loss)
    a = genetic_search(memory, loss, seed=3)
    b = genetic_search(memory, loss, seed=3)
    c = genetic_search(memory, loss, seed=4)
    assert np.array_equal(a.objectives, b.objectives) and np.array_equal(a.genomes, b.genomes)
    assert not np.array_equal(a.objectives, c.objectives)
    ratio = a.history["hypervolume"][-1] / hypervolume(exact, reference_point(memory, loss))
    assert 0.97 < ratio <= 1 + 1e-12
    rows = np.arange(memory.shape[0])
    assert not np.isnan(memory[rows, a.genomes]).any()
    assert np.all(np.diff(a.history["hypervolume"]) >= -1e-12)  # the archive never loses volume
    assert a.selections.shape == (100, 100) and a.history["tournament"][[0, -1]].tolist() == [2, 6]


@pytest.mark.parametrize("kwargs,message", [
    ({"population": 2}, "population must be an integer >= 4"),
    ({"generations": 0}, "generations must be an integer >= 1"),
    ({"tournament": (5, 2)}, "tournament must be"),
    ({"elite": (0.2, 1.0)}, "elite must be"),
    ({"mutation": (0.5, 0.6, 0.9)}, "mutation must be"),
])
def test_bad_ga_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GeneticSearchConfig(**kwargs)


def test_nsga2_baseline_is_reproducible_and_close_to_the_exact_front():
    from imckit.search.genetic import nsga2_search

    memory, loss = _random_table(2)
    _, exact = exact_pareto_front(memory, loss)
    a = nsga2_search(memory, loss, seed=1, population=40, generations=40)
    b = nsga2_search(memory, loss, seed=1, population=40, generations=40)
    assert np.array_equal(a.objectives, b.objectives)
    ratio = a.history["hypervolume"][-1] / hypervolume(exact, a.reference)
    assert 0.9 < ratio <= 1 + 1e-12
    rows = np.arange(memory.shape[0])
    assert not np.isnan(memory[rows, a.genomes]).any()
    assert np.allclose(memory[rows, a.genomes].sum(1), a.objectives[:, 0])
    with pytest.raises(ValueError, match="population must be an integer >= 4"):
        nsga2_search(memory, loss, population=2)


def test_front_regions():
    from imckit.search.genetic import front_regions

    assert front_regions([-1.0, 1.0, 1.5, 50.0, 51.0], (1.0, 50.0)).tolist() == ["A", "A", "B", "B", "C"]
    with pytest.raises(ValueError, match="limits must be two finite numbers"):
        front_regions([0.0], (5.0, 1.0))


def test_evaluations_to_reach():
    from imckit.search.genetic import evaluations_to_reach

    history = {"hypervolume": np.array([1.0, 2.0, 3.0]), "evaluations": np.array([10, 20, 30])}
    assert evaluations_to_reach(history, 2.0) == 20 and evaluations_to_reach(history, 3.5) is None


def test_table_objectives_sum_to_network_memory():
    from imckit.memory.cells import CellConfig
    from imckit.search.sensitivity import SensitivityTable

    configs = (CellConfig(8, 4), CellConfig(8, 0))
    nan = np.nan
    table = SensitivityTable(("a", "b"), (30, 10), configs, np.array([[20.0, 10.0], [nan, 10 / 3 * 4 / 4]]),
                             np.array([[5.0, 1.0], [nan, 0.5]]), np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2)),
                             1.0, 0.9, 3)
    memory, loss = table.objectives()
    assert np.allclose(table.memory_shares, [75.0, 25.0])
    # all layers Q8 MLC0: 8 of 12 devices per weight
    assert np.nansum(memory[:, 1]) == pytest.approx(100 * 8 / 12)
    assert np.isnan(memory[1, 0]) and memory[0, 0] == pytest.approx(75 * 4 / 12)
    assert np.array_equal(np.isnan(memory), np.isnan(loss))
