"""Bad input to the search package: every case names the parameter at the start of its message, with the
allowed range and the value received (issue 17); values the old checks let through are marked."""

import numpy as np
import pytest
import torch

from imckit.core.models import resnet8
from imckit.memory.cells import CellConfig
from imckit.search.genetic import (GeneticSearchConfig, evaluations_to_reach, exact_pareto_front, front_regions,
                                   genetic_search, hypervolume, nsga2_search, pareto_mask, reference_point)
from imckit.search.sensitivity import SensitivityTable, sensitivity_table
from imckit.search.simulate import (check_genomes, genome_configs, genome_devices, rank_agreement,
                                    select_solutions, simulate_genomes)

from ..conftest import IDENTITY4, toy_dataset

NAN, INF = float("nan"), float("inf")
MEMORY = np.array([[3.0, 2.0, 1.0], [2.0, 1.0, NAN]])
LOSS = np.array([[0.0, 1.0, 2.0], [0.0, 3.0, NAN]])
TINY = {"population": 6, "generations": 3}


# ----------------------------------------------------------------------------------------------------------
# GeneticSearchConfig: everything it accepts, genetic_search can run with


@pytest.mark.parametrize("kwargs,error,message", [
    # the case: an elite share the old config accepted made genetic_search fail with an IndexError
    ({"population": 10, "elite": (0.05, 0.96)}, ValueError, r"^elite must be .*population - 1 = 9 .*last < 0\.95"),
    ({"population": 4, "tournament": (1, 2), "elite": (0.0, 0.9)}, ValueError,
     r"^elite must be .* <= population - 1 = 3"),
    ({"population": 6, "elite": (0.95, 0.95)}, ValueError, r"^elite must be .*got \(0\.95, 0\.95\)"),
    ({"elite": (0.3, 0.2)}, ValueError, r"^elite must be \(first, last\) shares with 0 <= first <= last"),
    ({"elite": (NAN, 0.1)}, ValueError, r"^elite must be .*got \(nan, 0\.1\)"),
    ({"elite": (-0.1, 0.1)}, ValueError, r"^elite must be"),
    ({"elite": (0.1, INF)}, ValueError, r"^elite must be"),
    ({"elite": (0.1,)}, TypeError, r"^elite must be .*got \(0\.1,\)"),
    ({"elite": (True, True)}, TypeError, r"^elite must be"),
    ({"elite": ("a", "b")}, TypeError, r"^elite must be"),
    # the case: a NaN learning rate silently switched mutation and crossover off
    ({"learning_rate": NAN}, ValueError, r"^learning_rate must be a finite number in \[0\.0, 10\.0\]; got nan"),
    ({"learning_rate": INF}, ValueError, r"^learning_rate must be a finite number in \[0\.0, 10\.0\]; got inf"),
    ({"learning_rate": -1.0}, ValueError, r"^learning_rate must be .*; got -1\.0"),
    ({"learning_rate": 1e300}, ValueError, r"^learning_rate must be"),  # exp overflowed, 0 * inf gave NaN
    ({"learning_rate": True}, TypeError, r"^learning_rate must be .*; got True"),
    ({"learning_rate": "0.3"}, TypeError, r"^learning_rate must be .*; got '0\.3'"),
    ({"learning_rate": None}, TypeError, r"^learning_rate must be"),
    ({"mutation": (NAN, 0.1, 0.5)}, ValueError, r"^mutation must be \(initial, low, high\) rates"),
    ({"mutation": (0.2, 0.1, INF)}, ValueError, r"^mutation must be"),
    ({"mutation": (0.5, 0.6, 0.9)}, ValueError, r"^mutation must be .*0 <= low <= initial <= high <= 1"),
    ({"mutation": (0.2, 0.1)}, TypeError, r"^mutation must be .*got \(0\.2, 0\.1\)"),
    ({"mutation": "abc"}, TypeError, r"^mutation must be"),
    ({"mutation": (True, False, True)}, TypeError, r"^mutation must be"),
    ({"crossover": (NAN, 0.0, 1.0)}, ValueError, r"^crossover must be"),
    ({"crossover": (0.5, 0.0, 2.0)}, ValueError, r"^crossover must be"),
    ({"tournament": (2, 7), **TINY}, ValueError, r"^tournament must be .*<= population = 6; got \(2, 7\)"),
    ({"tournament": (0, 2)}, ValueError, r"^tournament must be"),
    ({"tournament": (5, 2)}, ValueError, r"^tournament must be"),
    ({"tournament": (2.5, 3), **TINY}, TypeError, r"^tournament must be"),  # was rounded silently
    ({"tournament": (True, 2), **TINY}, TypeError, r"^tournament must be"),  # was taken as 1
    ({"tournament": (2, 3, 4), **TINY}, TypeError, r"^tournament must be"),  # the 4 was ignored
    ({"tournament": (2,)}, TypeError, r"^tournament must be"),  # was an IndexError
    ({"population": 3}, ValueError, r"^population must be an integer >= 4; got 3"),
    ({"population": 4.0}, TypeError, r"^population must be an integer >= 4; got 4\.0"),
    ({"population": True}, TypeError, r"^population must be"),
    ({"population": "6"}, TypeError, r"^population must be"),
    ({"generations": 0}, ValueError, r"^generations must be an integer >= 1; got 0"),
    ({"generations": 2.0}, TypeError, r"^generations must be"),
    ({"generations": True}, TypeError, r"^generations must be"),
])
def test_bad_genetic_config(kwargs, error, message):
    with pytest.raises(error, match=message):
        GeneticSearchConfig(**kwargs)


@pytest.mark.parametrize("population,elite", [(4, (0.7, 0.7)), (10, (0.0, 0.94)), (6, (0.0, 0.9)), (5, (0.0, 0.0))])
def test_the_largest_elite_shares_accepted_run(population, elite):
    config = GeneticSearchConfig(population=population, generations=3, tournament=(1, 2), elite=elite)
    result = genetic_search(MEMORY, LOSS, seed=0, config=config)
    assert result.selections.shape == (3, population) and len(result.genomes) >= 1


def test_configs_normalize_numpy_integers_and_lists():
    config = GeneticSearchConfig(population=np.int64(6), generations=np.int64(2), tournament=[2, np.int64(3)],
                                 elite=[0.0, np.float64(0.2)])
    assert config.population == 6 and type(config.population) is int and config.tournament == (2, 3)
    assert config.elite == (0.0, 0.2) and all(type(v) is float for v in config.elite)
    hash(config)  # a list would have made the frozen config unhashable


# ----------------------------------------------------------------------------------------------------------
# seeds and configs of the searches


def _ga(seed=0, config=GeneticSearchConfig(**TINY)):
    return genetic_search(MEMORY, LOSS, seed=seed, config=config)


def _nsga(seed=0, population=4, generations=2):
    return nsga2_search(MEMORY, LOSS, seed=seed, population=population, generations=generations)


SEEDS = [(-1, ValueError), (2**63, ValueError), (1.5, TypeError), (2.0, TypeError), ("1", TypeError),
         (True, TypeError), (None, TypeError)]


@pytest.mark.parametrize("search", [_ga, _nsga], ids=["genetic", "nsga2"])
@pytest.mark.parametrize("seed,error", SEEDS)
def test_bad_seeds(search, seed, error):
    with pytest.raises(error, match=r"^seed must be an integer in \[0, 2\*\*63 - 1\]; got "):
        search(seed=seed)


def test_numpy_integer_seeds_are_seeds():
    assert np.array_equal(_ga(seed=np.int64(3)).objectives, _ga(seed=3).objectives)


@pytest.mark.parametrize("kwargs,error,message", [
    ({"population": 3}, ValueError, r"^population must be an integer >= 4; got 3"),
    ({"population": 4.0}, TypeError, r"^population must be"),
    ({"generations": 0}, ValueError, r"^generations must be an integer >= 1; got 0"),
    ({"generations": True}, TypeError, r"^generations must be"),
])
def test_bad_nsga2_settings(kwargs, error, message):
    with pytest.raises(error, match=message):
        _nsga(**kwargs)


@pytest.mark.parametrize("config", [None, {"population": 4}, "default"])
def test_genetic_search_wants_a_config(config):
    with pytest.raises(TypeError, match=r"^config must be a GeneticSearchConfig"):
        _ga(config=config)


# ----------------------------------------------------------------------------------------------------------
# objective tables, through every function that takes them

TABLES = [
    ([], [], ValueError, r"^memory must be a 2-D table .*got shape \(0,\)"),
    (np.zeros((0, 3)), np.zeros((0, 3)), ValueError, r"^memory must be a 2-D table .*got shape \(0, 3\)"),
    ([1.0, 2.0], [1.0, 2.0], ValueError, r"^memory must be a 2-D table"),
    (np.ones((1, 2, 2)), np.ones((1, 2, 2)), ValueError, r"^memory must be a 2-D table"),
    (None, None, TypeError, r"^memory must be a 2-D table .*holding real numbers"),
    ([["a"]], [["b"]], TypeError, r"^memory must be .*holding real numbers; got \[\['a'\]\]"),
    ([[1, 2], [3]], [[1, 2], [3]], ValueError, r"^memory must be .*got a ragged sequence"),
    ([[True, False]], [[True, True]], TypeError, r"^memory must be .*dtype bool"),  # were taken as 0 and 1
    (np.array([[1 + 1j]]), np.array([[1 + 0j]]), TypeError, r"^memory must be .*complex"),  # imaginary dropped
    ([[1.0, None]], [[1.0, 1.0]], TypeError, r"^memory must be .*dtype object"),  # None was NaN
    (np.ones((1, 2)), [["a", "b"]], TypeError, r"^loss must be .*holding real numbers"),
    (np.ones((2, 2)), np.ones((2, 3)), ValueError, r"^loss must have the shape of memory \(2, 2\); got \(2, 3\)"),
    (np.array([[1.0, NAN]]), np.ones((1, 2)), ValueError, r"^memory and loss must be NaN .* in the same places"),
    (np.array([[INF, 1.0]]), np.ones((1, 2)), ValueError, r"^memory and loss must be finite where allowed"),
    (np.ones((1, 2)), np.array([[-INF, 1.0]]), ValueError, r"^memory and loss must be finite where allowed"),
    (np.array([[NAN, NAN], [1, 2]]), np.array([[NAN, NAN], [1, 2]]), ValueError,
     r"^memory must allow at least one configuration per layer .*layer\(s\) \[0\]"),
    (np.full((3, 2), 1e308), np.ones((3, 2)), ValueError, r"^memory must have sums over the layers that stay finite"),
    (np.ones((3, 2)), np.full((3, 2), -1e308), ValueError, r"^loss must have sums over the layers that stay finite"),
    (np.full((2, 2), 1e160), np.full((2, 2), 1e160), ValueError, r"^memory and loss must have ranges whose"),
]


@pytest.mark.parametrize("function", [
    exact_pareto_front, reference_point,
    lambda m, l: genetic_search(m, l, config=GeneticSearchConfig(**TINY)),
    lambda m, l: nsga2_search(m, l, population=4, generations=1),
], ids=["exact", "reference", "genetic", "nsga2"])
@pytest.mark.parametrize("memory,loss,error,message", TABLES)
def test_bad_tables(function, memory, loss, error, message):
    with pytest.raises(error, match=message):
        function(memory, loss)


@pytest.mark.parametrize("objectives,error,message", [
    ([[1.0, NAN], [2.0, 1.0]], ValueError, r"^objectives must be finite; got 1 NaN and 0 infinite of 4"),  # was dropped
    ([[INF, 1.0]], ValueError, r"^objectives must be finite; got 0 NaN and 1 infinite"),
    ([[1.0, 2.0, 3.0]], ValueError, r"^objectives must be an \(n, 2\) array .*got shape \(1, 3\)"),
    ([1.0, 2.0], ValueError, r"^objectives must be an \(n, 2\) array .*got shape \(2,\)"),
    ([[True, False]], TypeError, r"^objectives must be .*dtype bool"),
    ([["a", "b"]], TypeError, r"^objectives must be"),
])
@pytest.mark.parametrize("function", [pareto_mask, lambda o: hypervolume(o, [10.0, 10.0])], ids=["mask", "hv"])
def test_bad_objectives(function, objectives, error, message):
    with pytest.raises(error, match=message):
        function(objectives)


@pytest.mark.parametrize("reference,error", [([NAN, 1.0], ValueError), ([1.0], ValueError), ([INF, INF], ValueError),
                                             ("ab", TypeError), (None, TypeError)])
def test_bad_hypervolume_reference(reference, error):
    with pytest.raises(error, match=r"^reference must be a point \(memory, loss\)"):
        hypervolume([[1.0, 1.0]], reference)


def test_empty_fronts_stay_valid():
    assert pareto_mask(np.zeros((0, 2))).tolist() == [] and hypervolume([], [1.0, 1.0]) == 0.0


@pytest.mark.parametrize("loss,limits,error,message", [
    ([NAN], (1.0, 50.0), ValueError, r"^loss must be a 1-D array of finite values .*1 not finite"),  # was "C"
    ([[1.0]], (1.0, 50.0), ValueError, r"^loss must be a 1-D array"),
    (["a"], (1.0, 50.0), TypeError, r"^loss must be"),
    ([1.0], (NAN, 1.0), ValueError, r"^limits must be two finite numbers \(A upper, B upper\) with A <= B"),
    ([1.0], (5.0, 1.0), ValueError, r"^limits must be .*got \(5\.0, 1\.0\)"),
    ([1.0], (True, 2.0), TypeError, r"^limits must be"),
    ([1.0], "ab", TypeError, r"^limits must be"),
    ([1.0], (1.0,), TypeError, r"^limits must be"),
])
def test_bad_front_regions(loss, limits, error, message):
    with pytest.raises(error, match=message):
        front_regions(loss, limits)


HISTORY = {"hypervolume": np.array([1.0, 2.0]), "evaluations": np.array([10, 20])}


@pytest.mark.parametrize("history,target,error,message", [
    (HISTORY, NAN, ValueError, r"^target must be a finite number; got nan"),  # was None: "never reached"
    (HISTORY, "1", TypeError, r"^target must be a finite number"),
    ({"hypervolume": [1.0, 2.0]}, 1.0, TypeError, r"^history must be a search's history"),  # was a KeyError
    (None, 1.0, TypeError, r"^history must be"),
    ({"hypervolume": [1.0, 2.0], "evaluations": [1]}, 1.0, ValueError, r"^history must be .*shapes \(2,\) and \(1,\)"),
    ({"hypervolume": [NAN, 2.0], "evaluations": [1, 2]}, 1.0, ValueError, r"^history must be"),
])
def test_bad_evaluations_to_reach(history, target, error, message):
    with pytest.raises(error, match=message):
        evaluations_to_reach(history, target)


# ----------------------------------------------------------------------------------------------------------
# genomes, solutions and agreements (simulate)


@pytest.mark.parametrize("genomes,layers,configs,error,message", [
    ([True] * 8, 8, 4, TypeError, r"^genomes must hold integer configuration indices in \[0, 3\]"),
    ([NAN] * 8, 8, 4, ValueError, r"^genomes must hold integer configuration indices .*whole numbers"),
    ([INF] * 8, 8, 4, ValueError, r"^genomes must hold integer configuration indices .*whole numbers"),
    ([0.5] * 8, 8, 4, ValueError, r"^genomes must hold integer configuration indices .*whole numbers"),
    ([-1] * 8, 8, 4, ValueError, r"^genomes must hold configuration indices in \[0, 3\]; got values from -1"),
    ([4] * 8, 8, 4, ValueError, r"^genomes must hold configuration indices in \[0, 3\]"),
    ("abc", 8, 4, TypeError, r"^genomes must hold"),
    (None, 8, 4, TypeError, r"^genomes must hold"),
    ([[0] * 8, [0] * 7], 8, 4, ValueError, r"^genomes must be .*ragged"),
    ([0] * 7, 8, 4, ValueError, r"^genomes must have shape \(G, 8\)"),
    (np.zeros((0, 8)), 8, 4, ValueError, r"^genomes must have shape \(G, 8\) .*got shape \(0, 8\)"),
    ([0] * 8, 8.0, 4, TypeError, r"^layers must be an integer >= 1; got 8\.0"),
    ([0] * 8, True, 4, TypeError, r"^layers must be"),
    ([0] * 8, 8, 0, ValueError, r"^configs must be an integer >= 1; got 0"),
])
def test_bad_genomes(genomes, layers, configs, error, message):
    with pytest.raises(error, match=message):
        check_genomes(genomes, layers, configs)


NAMES = tuple(f"l{i}" for i in range(3))
CONFIGS = (CellConfig(8, 4), CellConfig(8, 0))


@pytest.mark.parametrize("args,error,message", [
    # several genomes: the first one was used silently
    ((NAMES, CONFIGS, [[0] * 3, [1] * 3]), ValueError, r"^genome must be one genome of shape \(3,\); got 2"),
    (("abc", CONFIGS, [0] * 3), TypeError, r"^layer_names must be a sequence of layer names; got 'abc'"),
    ((("a", "a", "b"), CONFIGS, [0] * 3), ValueError, r"^layer_names must be a non-empty sequence of distinct"),
    (((1, 2, 3), CONFIGS, [0] * 3), ValueError, r"^layer_names must be"),
    ((NAMES, [], [0] * 3), ValueError, r"^configs must be a non-empty sequence of CellConfig"),
    ((NAMES, CONFIGS, [2] * 3), ValueError, r"^genomes must hold configuration indices in \[0, 1\]"),
])
def test_bad_genome_configs(args, error, message):
    with pytest.raises(error, match=message):
        genome_configs(*args)


@pytest.mark.parametrize("weights,error,message", [
    ([10.5] * 3, TypeError, r"^layer_weights\[0\] must be an integer >= 1; got 10\.5"),  # was multiplied as is
    ([10, -1, 10], ValueError, r"^layer_weights\[1\] must be an integer >= 1; got -1"),
    ([True] * 3, TypeError, r"^layer_weights\[0\] must be"),
    ([NAN] * 3, TypeError, r"^layer_weights\[0\] must be"),
    (10, TypeError, r"^layer_weights must be a sequence of weight counts"),
])
def test_bad_genome_devices(weights, error, message):
    with pytest.raises(error, match=message):
        genome_devices(weights, CONFIGS, [0] * 3)


MEM = np.array([10.0, 20.0, 30.0])


@pytest.mark.parametrize("memory,targets,reference,error,message", [
    (MEM, (50,), NAN, ValueError, r"^reference must be a finite number > 0\.0; got nan"),
    (MEM, (50,), -1, ValueError, r"^reference must be a finite number > 0\.0; got -1"),
    (MEM, (50,), True, TypeError, r"^reference must be"),  # was taken as 1
    (MEM, (50,), "40", TypeError, r"^reference must be"),
    (MEM, (NAN,), 40.0, ValueError, r"^targets\[0\] must be a finite number in \(0\.0, 1000\.0\]; got nan"),
    (MEM, (50, INF), 40.0, ValueError, r"^targets\[1\] must be"),
    (MEM, (True,), 40.0, TypeError, r"^targets\[0\] must be"),
    (MEM, 50, 40.0, TypeError, r"^targets must be a sequence of memory targets"),  # was a TypeError from tuple()
    (MEM, "50", 40.0, TypeError, r"^targets must be a sequence"),
    (MEM, [], 40.0, ValueError, r"^targets must name at least one memory target"),
    ([], (50,), 40.0, ValueError, r"^memory must be a non-empty 1-D array of finite values"),
    ([NAN], (50,), 40.0, ValueError, r"^memory must be a non-empty 1-D array of finite values"),
    ([True, False], (50,), 40.0, TypeError, r"^memory must be .*dtype bool"),
])
def test_bad_select_solutions(memory, targets, reference, error, message):
    with pytest.raises(error, match=message):
        select_solutions(memory, targets, reference)


@pytest.mark.parametrize("predicted,simulated,error,message", [
    ([1, 2, 3], [1, 2, NAN], ValueError, r"^simulated must be a 1-D array of finite values; got 1 not finite"),
    ([1, 2, INF], [1, 2, 3], ValueError, r"^predicted must be a 1-D array of finite values"),
    ("abc", "def", TypeError, r"^predicted must be"),
    ([True, False, True], [1, 2, 3], TypeError, r"^predicted must be .*dtype bool"),
    ([1, 2, 3], [3, 2], ValueError, r"^predicted and simulated must be 1-D of the same length >= 3"),
])
def test_bad_rank_agreement(predicted, simulated, error, message):
    with pytest.raises(error, match=message):
        rank_agreement(predicted, simulated)


# ----------------------------------------------------------------------------------------------------------
# the two long computations check everything before they start


@pytest.fixture(scope="module")
def toy():
    torch.manual_seed(0)
    return resnet8(in_channels=1, num_classes=4, width=0.25).eval(), toy_dataset(n_train=8, n_test=8).test


LONG = [
    ({"seed": -1}, ValueError, r"^seed must be an integer in \[0, 2\*\*63 - 1\]; got -1"),
    ({"seed": 1.5}, TypeError, r"^seed must be .*got 1\.5"),  # was truncated (or a SeedSequence error)
    ({"seed": "1"}, TypeError, r"^seed must be"),
    ({"seed": None}, TypeError, r"^seed must be"),
    ({"repetitions": 0}, ValueError, r"^repetitions must be an integer >= 1; got 0"),
    ({"repetitions": 2.0}, TypeError, r"^repetitions must be"),
    ({"progress": 1}, TypeError, r"^progress must be True or False; got 1"),
    ({"configs": []}, ValueError, r"^configs must be a non-empty sequence of CellConfig"),
    ({"mlc": None}, TypeError, r"^mlc must be a device"),
    ({"slc": IDENTITY4}, ValueError, r"^slc device must have bits_per_cell=1; got 2"),
    ({"quant": None}, TypeError, r"^quant must be a QuantSpec"),
]


@pytest.mark.parametrize("kwargs,error,message", LONG + [
    ({"genomes": [[9] * 8]}, ValueError, r"^genomes must hold configuration indices in \[0, 1\]"),
])
def test_bad_simulation_input(toy, kwargs, error, message):
    model, data = toy
    with pytest.raises(error, match=message):
        simulate_genomes(model, data, **{"genomes": [[0] * 8], "configs": CONFIGS, "repetitions": 2, "cache": "",
                                         "progress": False, **kwargs})


@pytest.mark.parametrize("kwargs,error,message", LONG + [
    ({"mlc_excluded": "fc"}, TypeError, r"^mlc_excluded must be None or a sequence of layer names; got 'fc'"),
    ({"mlc_excluded": [1]}, TypeError, r"^mlc_excluded must be None or a sequence of layer names"),
    ({"mlc_excluded": ["fc2"]}, ValueError, r"^mlc_excluded must name layers of the model"),
])
def test_bad_sensitivity_input(toy, kwargs, error, message):
    model, data = toy
    with pytest.raises(error, match=message):
        sensitivity_table(model, data, **{"configs": CONFIGS, "repetitions": 2, "cache": "", "progress": False,
                                          **kwargs})


def test_mlc_excluded_may_be_any_iterable_of_names(toy):
    model, data = toy
    a = sensitivity_table(model, data, CONFIGS, repetitions=1, cache="", progress=False, mlc_excluded=iter(["fc"]))
    b = sensitivity_table(model, data, CONFIGS, repetitions=1, cache="", progress=False, mlc_excluded=("fc",))
    assert np.array_equal(a.loss_change, b.loss_change, equal_nan=True)


def _table(**changes):
    fields = {"layers": ("a", "b"), "weights": (30, 10), "configs": CONFIGS,
              **{k: np.zeros((2, 2)) for k in ("memory_reduction", "loss_change", "loss_ci", "accuracy_change",
                                                "accuracy_ci")},
              "baseline_loss": 1.0, "baseline_accuracy": 0.9, "repetitions": 3}
    return SensitivityTable(**{**fields, **changes})


@pytest.mark.parametrize("changes,error,message", [
    ({"weights": (30,)}, ValueError, r"^weights must be a tuple of one weight count per layer \(2\)"),
    ({"weights": (30, 0)}, ValueError, r"^weights\[1\] must be an integer >= 1; got 0"),
    ({"layers": ["a", "b"]}, TypeError, r"^layers must be a tuple of layer names"),
    ({"loss_change": np.zeros((2, 3))}, ValueError, r"^loss_change must have the shape .* = \(2, 2\); got \(2, 3\)"),
    ({"configs": ()}, ValueError, r"^configs must be a non-empty sequence of CellConfig"),
    ({"repetitions": 0}, ValueError, r"^repetitions must be an integer >= 1"),
])
def test_bad_sensitivity_tables(changes, error, message):
    with pytest.raises(error, match=message):
        _table(**changes)


def test_table_frames_name_their_arrays():
    assert _table().frame("memory_used").shape == (2, 2)
    with pytest.raises(ValueError, match=r"^values must be one of 'memory_reduction', .*; got 'layers'"):
        _table().frame("layers")  # was the tuple of names made into a frame
