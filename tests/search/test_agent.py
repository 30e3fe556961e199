"""HAQ-style agent (issue 18, item 3): the gymnasium environment passes the checkers, HAQ's action mapping and
budget wall, budget and fixed layers respected, seeded runs repeat, the agent against a random search with the
same evaluation count and against brute force, bad input. Training runs stay at a few hundred steps."""

import itertools
import warnings

import numpy as np
import pytest

from imckit.search.agent import BitWidthEnv, HAQResult, haq_search, random_search
from imckit.search.objectives import hypervolume

NAN = float("nan")
FIXED = {0: 3, -1: 3}  # seed 004: first and last layer at the largest configuration ("8 bits")


def _problem(seed, layers=8, configs=4, share=0.4, fixed=None):
    """Configuration j has cost size x (j + 1) and loses accuracy like 2**(-2 (j + 1)) times a layer sensitivity;
    the budget allows ``share`` of the way from the cheapest to the dearest genome with ``fixed`` (default:
    first and last at the top configuration)."""
    rng = np.random.default_rng(seed)
    bits = np.arange(1, configs + 1)
    cost = rng.integers(1, 10, layers)[:, None] * bits[None, :] * 1.0
    accuracy = -rng.random((layers, 1)) * 2.0 ** (-2 * bits[None, :]) * 100
    low, high = cost[:, 0].copy(), cost[:, -1].copy()
    for layer, config in ({0: configs - 1, -1: configs - 1} if fixed is None else fixed).items():
        low[layer] = high[layer] = cost[layer, config]
    return accuracy, cost, float(low.sum() + share * (high - low).sum())


def _brute_force(accuracy, cost, budget, fixed):
    layers = accuracy.shape[0]
    pinned = {l % layers: c for l, c in fixed.items()}
    choices = [[pinned[l]] if l in pinned else np.where(~np.isnan(accuracy[l]))[0] for l in range(layers)]
    best = -np.inf
    for genome in itertools.product(*choices):
        if cost[np.arange(layers), genome].sum() <= budget:
            best = max(best, accuracy[np.arange(layers), genome].sum())
    return best


@pytest.fixture(scope="module")
def run():
    accuracy, cost, budget = _problem(0)
    return accuracy, cost, budget, haq_search(accuracy, cost, budget, FIXED, episodes=40, warmup=10, seed=3)


def test_environment_passes_the_gymnasium_and_stable_baselines3_checkers():
    from gymnasium.utils.env_checker import check_env as gymnasium_check
    from stable_baselines3.common.env_checker import check_env

    accuracy, cost, budget = _problem(1)
    with warnings.catch_warnings():
        # only advice: SB3 recommends a [-1, 1] action box (HAQ's is [0, 1]); no spec for render modes
        warnings.filterwarnings("ignore", message=".*symmetric and normalized Box action space.*")
        warnings.filterwarnings("ignore", message=".*render modes.*")
        gymnasium_check(BitWidthEnv(accuracy, cost, budget, FIXED, features=np.arange(16.0).reshape(8, 2)))
        check_env(BitWidthEnv(accuracy, cost, budget, FIXED))


def test_haq_action_mapping_and_episode():
    accuracy, cost, budget = _problem(2, layers=4)
    env = BitWidthEnv(accuracy, cost, 1e9, {0: 1})  # no budget pressure
    assert env.free == (1, 2, 3)
    assert [env.choice(1, a) for a in (0.0, 0.24, 0.26, 0.5, 0.74, 0.76, 1.0)] == [0, 0, 1, 2, 2, 3, 3]
    observation, _ = env.reset(seed=0)
    assert observation.shape == env.observation_space.shape and observation.dtype == np.float32
    rewards = []
    for action in (0.1, 0.6, 0.9):
        observation, reward, done, truncated, info = env.step(np.array([action], dtype=np.float32))
        rewards.append(reward)
    assert done and not truncated and rewards[:2] == [0.0, 0.0]
    assert observation[-1] == np.float32(1.0)  # the previous choice (4th of 4) is the last feature
    assert info["genome"].tolist() == [1, 0, 2, 3]
    assert info["accuracy"] == pytest.approx(accuracy[np.arange(4), [1, 0, 2, 3]].sum())
    assert rewards[-1] == pytest.approx(env.reward_scale * info["accuracy"])
    assert len(env.genomes) == 1  # one evaluation per episode


def test_budget_wall_lowers_from_the_last_free_layer_one_step_per_sweep():
    cost = np.array([[1.0, 2.0, 3.0]] * 4)
    accuracy = -np.array([[3.0, 2.0, 1.0]] * 4)
    env = BitWidthEnv(accuracy, cost, budget=8.0, fixed={0: 2})
    # all at the top costs 12; the sweep goes layer 3, 2, 1 (each one step down) and then 3 again
    assert env.wall([2, 2, 2, 2]).tolist() == [2, 1, 1, 0]  # 9 after the first sweep, 8 after one more step
    env = BitWidthEnv(accuracy, cost, budget=9.0, fixed={0: 2})
    assert env.wall([2, 2, 2, 2]).tolist() == [2, 1, 1, 1]
    env = BitWidthEnv(accuracy, cost, budget=10.0, fixed={0: 2})
    assert env.wall([2, 2, 2, 2]).tolist() == [2, 2, 1, 1]


def test_configurations_are_ordered_by_cost_and_nan_is_never_chosen():
    accuracy = np.array([[0.0, -1.0, NAN, -3.0], [0.0, -1.0, -2.0, -3.0]])
    cost = np.array([[4.0, 1.0, NAN, 2.0], [1.0, 2.0, 3.0, 4.0]])
    env = BitWidthEnv(accuracy, cost, budget=100.0)
    assert env.order[0].tolist() == [1, 3, 0]
    assert {env.choice(0, a) for a in np.linspace(0, 1, 101)} == {0, 1, 3}


def test_random_search_respects_budget_and_fixed_layers():
    for seed in range(5):
        accuracy, cost, budget = _problem(seed, share=0.25 * seed)
        result = random_search(accuracy, cost, budget, FIXED, episodes=30, seed=seed)
        assert isinstance(result, HAQResult) and result.evaluations == 30
        assert (result.costs <= budget + 1e-9).all() and result.cost <= budget
        assert (result.genomes[:, 0] == 3).all() and (result.genomes[:, -1] == 3).all()
        assert np.array_equal(result.best_so_far, np.maximum.accumulate(result.accuracies))


def test_agent_respects_budget_fixed_layers_and_counts_evaluations(run):
    accuracy, cost, budget, result = run
    assert result.evaluations == 40 and result.algorithm == "ddpg" and len(result.best_so_far) == 40
    assert (result.costs <= budget).all() and result.cost <= budget
    assert (result.genomes[:, 0] == 3).all() and (result.genomes[:, -1] == 3).all()
    assert result.accuracy == result.accuracies.max() == result.best_so_far[-1]
    rows = np.arange(accuracy.shape[0])
    assert result.accuracy == pytest.approx(accuracy[rows, result.genome].sum())
    front = result.front()
    reference = np.array([-accuracy.min(axis=1).sum(), budget]) + 1.0
    assert hypervolume(result.front(10), reference) <= hypervolume(front, reference)


def test_agent_is_reproducible_with_a_seed(run):
    accuracy, cost, budget, result = run
    state = np.random.get_state()
    again = haq_search(accuracy, cost, budget, FIXED, episodes=40, warmup=10, seed=3)
    assert np.array_equal(again.genomes, result.genomes) and np.array_equal(again.accuracies, result.accuracies)
    assert np.array_equal(np.random.get_state()[1], state[1])  # the global numpy state is restored
    other = haq_search(accuracy, cost, budget, FIXED, episodes=40, warmup=10, seed=4)
    assert not np.array_equal(other.genomes, result.genomes)


def test_agent_is_not_worse_than_random_search_with_the_same_evaluations():
    """8 layers x 4 configurations, first and last fixed (4**6 = 4096 genomes), 60 evaluations each, seeds 0-4.
    Measured when written: summed best accuracy change agent -84.14, random search -88.93; the agent at least as
    good in 4 of these 5 seeds (7 of seeds 0-9, strictly better in 3). Asserted: the agent's sum is at least the
    random search's."""
    agent_sum = random_sum = 0.0
    for seed in range(5):
        accuracy, cost, budget = _problem(seed)
        agent_sum += haq_search(accuracy, cost, budget, FIXED, episodes=60, seed=seed).accuracy
        random_sum += random_search(accuracy, cost, budget, FIXED, episodes=60, seed=seed).accuracy
    assert agent_sum >= random_sum


def test_agent_reaches_the_brute_force_optimum_on_a_trivial_problem_and_td3_runs():
    """5 layers x 3 configurations, first and last fixed (27 genomes), 30 evaluations. Measured when written:
    the optimum within budget reached in seeds 0-4 of 0-5 (missed in seed 5); asserted: 3 of seeds 0-3."""
    fixed = {0: 2, 4: 2}
    hits = 0
    for seed in range(4):
        accuracy, cost, budget = _problem(seed, layers=5, configs=3, share=0.5, fixed=fixed)
        result = haq_search(accuracy, cost, budget, fixed, episodes=30, warmup=10, seed=seed)
        hits += result.accuracy == pytest.approx(_brute_force(accuracy, cost, budget, fixed))
    assert hits >= 3
    td3 = haq_search(accuracy, cost, budget, fixed, episodes=12, warmup=4, seed=0, algorithm="td3")
    assert td3.algorithm == "td3" and (td3.costs <= budget).all()


@pytest.mark.parametrize("change, name", [
    (dict(accuracy_table=np.zeros(3)), "accuracy_table"),
    (dict(cost_table=np.zeros((2, 2))), "cost_table"),
    (dict(cost_table=np.array([[1.0, NAN, 3.0]] * 3)), "cost_table"),
    (dict(budget=1.0), "budget"),
    (dict(budget="big"), "budget"),
    (dict(fixed=[0]), "fixed"),
    (dict(fixed={5: 0}), "fixed"),
    (dict(fixed={0: 7}), "fixed"),
    (dict(fixed={0: 0, 1: 0, 2: 0}), "fixed"),
    (dict(episodes=0), "episodes"),
    (dict(seed=-1), "seed"),
    (dict(algorithm="ppo"), "algorithm"),
    (dict(warmup=5), "warmup"),
    (dict(features=np.zeros((2, 1))), "features"),
    (dict(reward_scale=0.0), "reward_scale"),
    (dict(noise_decay=2.0), "noise_decay"),
])
def test_bad_input_names_the_parameter(change, name):
    arguments = dict(accuracy_table=-np.ones((3, 3)), cost_table=np.array([[1.0, 2.0, 3.0]] * 3), budget=6.0,
                     fixed=None, episodes=2, seed=0, algorithm="ddpg", warmup=1)
    arguments.update(change)
    with pytest.raises((ValueError, TypeError), match=name):
        haq_search(**arguments)
