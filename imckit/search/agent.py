"""An HAQ-style reinforcement-learning search for per-layer configurations under a cost budget (issue 18, item 3).

What is HAQ's (Wang et al., "HAQ: Hardware-Aware Automated Quantization with Mixed Precision", CVPR 2019, the
backend that seed 004, Pelke et al., enhances):

* an episode walks the layers one by one; at each layer a DDPG agent takes a continuous action ``a`` in [0, 1],
  mapped to one of ``n`` choices by HAQ's equal-width rule ``round(n a - 0.5)`` (clipped to [0, n - 1]);
* the state of a layer is a vector of its features (HAQ: index, channels, kernel, stride, parameters,
  depthwise or not), each min-max normalized to [0, 1] across the layers, and the previous action (the chosen bit
  width over the largest; here the chosen configuration's 1-based position in the cost order over their number);
* after the last layer, if the genome exceeds the budget, configurations are lowered one step at a time until it
  fits (HAQ's ``_final_action_wall``): sweeps over the layers from the last to the first, each layer not yet at
  its cheapest choice goes one step down (in the cost order below), and the sweep stops as soon as the genome
  fits;
* the reward is given at the end of the episode: ``lambda x (accuracy - original accuracy)`` (HAQ: lambda = 0.1
  on accuracies in %), zero at the other steps, no discount (gamma = 1), a warm-up of episodes with uniformly
  random actions (HAQ: 20), then the actor's action plus Gaussian noise whose width decays by a factor per
  episode (HAQ: 0.5, decay 0.99), and updates after each episode. Seed 004: first and last layers fixed at 8 bits.

What the kit changed:

* no network is run: the accuracy and the cost of a genome are sums over layers of two (layers, configurations)
  tables (the sensitivity table's ``accuracy_change``; a per-layer latency or energy column built by a caller from
  :mod:`imckit.crossbars.cost`, a package beside this one and so not imported here). ``accuracy - original
  accuracy`` is the sum of the accuracy-change table (higher is better; pass the negative of a loss table);
* the choices are configurations, not bit widths: a layer's allowed configurations (non-NaN entries) are ordered
  by that layer's cost (ties by index), so a larger action spends more of the budget as more bits do in HAQ;
* the state's table features are the layer's cheapest and dearest cost and its accuracy span (largest minus
  smallest entry), plus caller-given features (optional), plus one feature HAQ lacks: the cost spent so far
  (layers decided and fixed layers) over the budget, clipped to [0, 1];
* fixed layers (``fixed``, e.g. first and last) are not actions: an episode visits only the free layers;
* the default lambda is 1 / (sum of the layers' accuracy spans), so that rewards lie in about [-1, 1];
* the agent is stable-baselines3's DDPG (or TD3) on a gymnasium environment, not HAQ's own code; the noise decay
  is HAQ's (:class:`_DecayingNoise`, reset at each episode end). HAQ's actor/critic widths (300, 300), batch 64 and
  tau 0.01 are kept; HAQ's reward moving-average baseline is not.

Every episode evaluates one complete genome (after the budget wall), so the number of evaluations equals the
number of episodes; :class:`HAQResult` records all of them to compare with NSGA-II/III
(:func:`imckit.search.objectives.pymoo_search`) at equal evaluation counts.
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from dataclasses import dataclass

import gymnasium as gym
from gymnasium import spaces
import numpy as np

from imckit.core.validate import (check_choice, check_count, check_int, check_number, check_probability,
                                  check_seed)
from imckit.search.genetic import _array, _shown
from imckit.search.objectives import check_table, nondominated

__all__ = ["BitWidthEnv", "HAQResult", "haq_search", "random_search", "AGENT_ALGORITHMS"]

AGENT_ALGORITHMS = ("ddpg", "td3")


def _table(value, name: str) -> np.ndarray:
    return check_table(value, name)


def _normalized(columns: np.ndarray) -> np.ndarray:
    """Min-max normalization of each column to [0, 1] across the layers (HAQ); a constant column becomes 0."""
    low, high = columns.min(axis=0), columns.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    return np.clip((columns - low) / span, 0.0, 1.0)


class BitWidthEnv(gym.Env):
    """A gymnasium environment: one episode chooses a configuration for every free layer, HAQ-style.

    Args:
        accuracy_table: (layers, configurations) accuracy change of each layer in each configuration (higher is
            better; NaN = not allowed); a genome's accuracy change is the sum over its layers.
        cost_table: (layers, configurations) cost (latency, energy, ...; NaN in the same places); summed too.
        budget: the largest total cost allowed; at least the cheapest genome's (fixed layers included).
        fixed: optional ``{layer: configuration}`` held fixed (seed 004: first and last at 8 bits); negative
            layer indices count from the end.
        features: optional (layers, f) per-layer features (HAQ's channels, kernel, ...), min-max normalized.
        reward_scale: HAQ's lambda; None = 1 / (sum of the layers' accuracy spans).

    Observation (float32 in [0, 1]): layer index / (layers - 1), the normalized cheapest cost, dearest cost and
    accuracy span of the layer, the normalized given features, the cost spent so far over the budget (clipped),
    the previous choice ((position + 1) / number of the layer's configurations in cost order; 0 at the start).
    Action: a float in [0, 1]. Reward: ``reward_scale x accuracy change`` of the genome after
    the budget wall at the last free layer, 0 before. ``info`` of the last step holds ``genome``, ``accuracy``,
    ``cost``. Every complete genome is recorded in ``genomes``, ``accuracies``, ``costs`` (one per episode).

    Raises ValueError/TypeError naming the parameter.
    """

    metadata = {"render_modes": []}

    def __init__(self, accuracy_table, cost_table, budget, fixed=None, features=None, reward_scale=None):
        super().__init__()
        accuracy = _table(accuracy_table, "accuracy_table")
        cost = _table(cost_table, "cost_table")
        if cost.shape != accuracy.shape:
            raise ValueError(f"cost_table must have the shape of accuracy_table {accuracy.shape}; got "
                             f"{cost.shape}")
        allowed = ~np.isnan(accuracy)
        if not np.array_equal(allowed, ~np.isnan(cost)):
            raise ValueError(f"cost_table must be NaN (not allowed) in the same places as accuracy_table; they "
                             f"differ at {int((allowed != ~np.isnan(cost)).sum())} entries")
        empty = np.where(~allowed.any(axis=1))[0]
        if len(empty):
            raise ValueError(f"accuracy_table must allow at least one configuration per layer; got layer(s) "
                             f"{empty.tolist()} with none")
        layers, configurations = accuracy.shape
        if fixed is None:
            fixed = {}
        if not isinstance(fixed, dict):
            raise TypeError(f"fixed must be a dict {{layer: configuration}}; got {_shown(fixed)}")
        pinned = {}
        for layer, config in fixed.items():
            layer = check_int(layer, "fixed (layer)", -layers, layers - 1) % layers
            config = check_int(config, "fixed (configuration)", 0, configurations - 1)
            if not allowed[layer, config]:
                raise ValueError(f"fixed must give allowed configurations; got configuration {config} for "
                                 f"layer {layer}, which is NaN in the tables")
            if layer in pinned:
                raise ValueError(f"fixed must name each layer once; got layer {layer} twice")
            pinned[layer] = config
        free = [l for l in range(layers) if l not in pinned]
        if not free:
            raise ValueError(f"fixed must leave at least one layer free; got all {layers} layers fixed")
        if features is not None:
            given = _array(features, "features", "a 2-D array (layers, features)")
            if given.ndim != 2 or given.shape[0] != layers or not np.isfinite(given).all():
                raise ValueError(f"features must be a finite 2-D array ({layers}, features); got "
                                 f"{_shown(features)}")
        else:
            given = np.zeros((layers, 0))
        # each layer's allowed configurations, cheapest first (ties by index)
        self.order = tuple(np.array(sorted(np.where(allowed[l])[0], key=lambda c: (cost[l, c], c)))
                           for l in range(layers))
        cheapest = np.array([cost[l, self.order[l][0]] for l in range(layers)])
        dearest = np.array([cost[l, self.order[l][-1]] for l in range(layers)])
        for l, c in pinned.items():
            cheapest[l] = dearest[l] = cost[l, c]
        least = float(cheapest.sum())
        budget = check_number(budget, "budget")
        if budget < least:
            raise ValueError(f"budget must be at least the cheapest genome's cost {least!r} (fixed layers "
                             f"included); got {budget!r}")
        span = np.nanmax(accuracy, axis=1) - np.nanmin(accuracy, axis=1)
        if reward_scale is None:
            reward_scale = 1.0 / span.sum() if span.sum() > 0 else 1.0
        self.reward_scale = check_number(reward_scale, "reward_scale", 0, None, low_open=True)
        self.accuracy, self.cost, self.budget = accuracy, cost, budget
        self.fixed, self.free = pinned, tuple(free)
        self.layers, self.configurations = layers, configurations
        index = np.arange(layers, dtype=float)[:, None] / max(layers - 1, 1)
        self.layer_features = np.concatenate(
            [index, _normalized(np.stack([cheapest, dearest, span], axis=1)), _normalized(given)], axis=1)
        size = self.layer_features.shape[1] + 2  # + spent share of the budget + previous choice
        self.observation_space = spaces.Box(0.0, 1.0, shape=(size,), dtype=np.float32)
        self.action_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self.genomes, self.accuracies, self.costs = [], [], []
        self._step, self._genome, self._previous = 0, None, 0.0

    def _observation(self) -> np.ndarray:
        layer = self.free[min(self._step, len(self.free) - 1)]
        spent = sum(self.cost[l, self._genome[l]] for l in range(self.layers) if self._genome[l] >= 0)
        extra = [min(max(spent / self.budget, 0.0), 1.0) if self.budget > 0 else 1.0, self._previous]
        return np.concatenate([self.layer_features[layer], extra]).astype(np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._step, self._previous = 0, 0.0
        self._genome = np.full(self.layers, -1, dtype=np.int64)
        for l, c in self.fixed.items():
            self._genome[l] = c
        return self._observation(), {}

    def choice(self, layer: int, action: float) -> int:
        """HAQ's mapping of an action in [0, 1] to one of the layer's allowed configurations."""
        order = self.order[layer]
        position = int(np.clip(np.round(len(order) * float(action) - 0.5), 0, len(order) - 1))
        return int(order[position])

    def wall(self, genome) -> np.ndarray:
        """HAQ's final action wall: lower configurations until the genome fits the budget (see the module)."""
        genome = np.array(genome, dtype=np.int64)
        position = {l: int(np.where(self.order[l] == genome[l])[0][0]) for l in self.free}
        total = self.cost[np.arange(self.layers), genome].sum()
        while total > self.budget:
            moved = False
            for l in reversed(self.free):
                if position[l] > 0:
                    position[l] -= 1
                    genome[l] = self.order[l][position[l]]
                    total = self.cost[np.arange(self.layers), genome].sum()
                    moved = True
                    if total <= self.budget:
                        break
            if not moved:  # unreachable: the budget was checked against the cheapest genome
                break
        return genome

    def evaluate(self, genome) -> tuple[float, float]:
        """The accuracy-change and cost sums of a complete genome (counted as one evaluation)."""
        rows = np.arange(self.layers)
        accuracy, cost = float(self.accuracy[rows, genome].sum()), float(self.cost[rows, genome].sum())
        self.genomes.append(np.array(genome, dtype=np.int64))
        self.accuracies.append(accuracy)
        self.costs.append(cost)
        return accuracy, cost

    def step(self, action):
        value = float(np.clip(np.asarray(action, dtype=float).reshape(-1)[0], 0.0, 1.0))
        layer = self.free[self._step]
        self._genome[layer] = self.choice(layer, value)
        order = self.order[layer]  # HAQ's previous-action feature: the chosen bits over the largest bits
        self._previous = (int(np.where(order == self._genome[layer])[0][0]) + 1) / len(order)
        self._step += 1
        if self._step < len(self.free):
            return self._observation(), 0.0, False, False, {}
        genome = self.wall(self._genome)
        accuracy, cost = self.evaluate(genome)
        self._genome = genome
        info = {"genome": genome.copy(), "accuracy": accuracy, "cost": cost}
        return self._observation(), float(self.reward_scale * accuracy), True, False, info


@dataclass(frozen=True, eq=False)
class HAQResult:
    """What :func:`haq_search` or :func:`random_search` found.

    Attributes:
        genome: int array (layers,): the best genome evaluated (all are within the budget): the largest accuracy
            change, ties by the lower cost, then the first found.
        accuracy, cost: its accuracy-change and cost sums.
        genomes: int array (evaluations, layers): every genome evaluated, in order (one per episode).
        accuracies, costs: float arrays (evaluations,): their sums.
        best_so_far: float array (evaluations,): the best accuracy change after each evaluation.
        algorithm: ``"ddpg"``, ``"td3"`` or ``"random"``; seed: the seed used.
    """

    genome: np.ndarray
    accuracy: float
    cost: float
    genomes: np.ndarray
    accuracies: np.ndarray
    costs: np.ndarray
    best_so_far: np.ndarray
    algorithm: str
    seed: int

    @property
    def evaluations(self) -> int:
        """The number of complete genomes evaluated (one per episode)."""
        return len(self.genomes)

    def front(self, evaluations: int | None = None) -> np.ndarray:
        """The non-dominated (minimized) points ``(-accuracy change, cost)`` among the first ``evaluations``
        genomes (all by default), for :func:`imckit.search.objectives.hypervolume` at equal evaluation counts."""
        n = self.evaluations if evaluations is None else check_count(evaluations, "evaluations", 1,
                                                                     self.evaluations)
        points = np.stack([-self.accuracies[:n], self.costs[:n]], axis=1)
        return points[nondominated(points)]


def _result(env, algorithm: str, seed: int) -> HAQResult:
    genomes = np.array(env.genomes, dtype=np.int64).reshape(-1, env.layers)
    accuracies, costs = np.array(env.accuracies), np.array(env.costs)
    best = min(range(len(genomes)), key=lambda i: (-accuracies[i], costs[i], i))
    return HAQResult(genomes[best].copy(), float(accuracies[best]), float(costs[best]), genomes, accuracies, costs,
                     np.maximum.accumulate(accuracies), algorithm, seed)


@contextmanager
def _quiet_rngs(threads: int = 1):
    """Run with one torch thread (bit-for-bit repeatable CPU training) and restore the global random states
    (python, numpy, torch) that stable-baselines3's seeding sets."""
    import torch

    before = torch.get_num_threads()
    python_state, numpy_state = random.getstate(), np.random.get_state()
    torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        torch.set_num_threads(before)
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def _noise_class():
    from stable_baselines3.common.noise import ActionNoise

    class _DecayingNoise(ActionNoise):
        """HAQ's exploration: none in the ``warmup`` episodes (their actions are uniformly random), then Gaussian
        noise of width ``sigma`` (in stable-baselines3's scaled action units) multiplied by ``decay`` at every
        later episode end (``reset``), drawn from its own seeded generator."""

        def __init__(self, sigma: float, decay: float, warmup: int, seed: int):
            super().__init__()
            self.sigma, self.decay, self.warmup, self.episodes = sigma, decay, warmup, 0
            self.rng = np.random.default_rng(seed)

        def __call__(self) -> np.ndarray:
            if self.episodes < self.warmup:
                return np.zeros(1, dtype=np.float32)
            return self.rng.normal(0.0, self.sigma, size=1).astype(np.float32)

        def reset(self) -> None:
            if self.episodes >= self.warmup:
                self.sigma *= self.decay
            self.episodes += 1

    return _DecayingNoise


def haq_search(accuracy_table, cost_table, budget: float, fixed: dict | None = None, episodes: int = 100,
               seed: int = 0, algorithm: str = "ddpg", features=None, warmup: int = 20, noise: float = 0.5,
               noise_decay: float = 0.99, reward_scale: float | None = None) -> HAQResult:
    """HAQ's search with stable-baselines3: ``episodes`` episodes of :class:`BitWidthEnv`, one genome each.

    Args:
        accuracy_table, cost_table, budget, fixed, features, reward_scale: as :class:`BitWidthEnv`.
        episodes: the number of episodes = complete-genome evaluations.
        seed: seeds the agent, its warm-up actions and its noise; the same seed gives the same result on CPU (the
            training runs on one torch thread; the global random states are restored afterwards).
        algorithm: ``"ddpg"`` (HAQ's) or ``"td3"`` (stable-baselines3's TD3, DDPG with twin critics and delayed
            actor updates; offered for comparison, not HAQ's).
        warmup: episodes of uniformly random actions before the actor acts (HAQ: 20); at most ``episodes``.
        noise, noise_decay: the exploration noise's width in action units of [0, 1] and its decay per episode
            (HAQ: 0.5 and 0.99).

    Hyper-parameters kept from HAQ: actor and critic of two hidden layers of 300, batch 64, tau 0.01, gamma 1,
    learning rates 1e-4 (actor; stable-baselines3 uses one rate for both, HAQ's critic has 1e-3), updates after
    each episode (as many gradient steps as the episode had steps).

    Returns a :class:`HAQResult`; every genome in it is within ``budget``.
    """
    episodes = check_count(episodes, "episodes")
    seed = check_seed(seed)
    algorithm = check_choice(algorithm, "algorithm", AGENT_ALGORITHMS)
    warmup = check_count(warmup, "warmup", 0, episodes)
    noise = check_number(noise, "noise", 0)
    noise_decay = check_probability(noise_decay, "noise_decay")
    env = BitWidthEnv(accuracy_table, cost_table, budget, fixed, features, reward_scale)
    from stable_baselines3 import DDPG, TD3

    steps = episodes * len(env.free)
    with _quiet_rngs():
        method = DDPG if algorithm == "ddpg" else TD3
        agent = method("MlpPolicy", env, learning_rate=1e-4, buffer_size=max(steps, 1),
                       learning_starts=warmup * len(env.free), batch_size=64, tau=0.01, gamma=1.0,
                       train_freq=(1, "episode"), gradient_steps=-1,
                       # the noise width is doubled: [0, 1] actions are scaled to [-1, 1] by stable-baselines3
                       action_noise=_noise_class()(2 * noise, noise_decay, warmup, seed),
                       policy_kwargs={"net_arch": [300, 300]}, seed=seed, device="cpu", verbose=0)
        agent.learn(total_timesteps=steps)
    return _result(env, algorithm, seed)


def random_search(accuracy_table, cost_table, budget: float, fixed: dict | None = None, episodes: int = 100,
                  seed: int = 0) -> HAQResult:
    """The fair random baseline of :func:`haq_search`: ``episodes`` episodes of uniformly random actions in
    [0, 1] through the same :class:`BitWidthEnv` (same action mapping, same budget wall, same evaluation count);
    HAQ's warm-up phase run for the whole search."""
    episodes = check_count(episodes, "episodes")
    seed = check_seed(seed)
    env = BitWidthEnv(accuracy_table, cost_table, budget, fixed)
    rng = np.random.default_rng(seed)
    for _ in range(episodes):
        env.reset()
        done = False
        while not done:
            _, _, done, _, _ = env.step(rng.random(1))
    return _result(env, "random", seed)
