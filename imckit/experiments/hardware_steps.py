"""The cached computation of the chapter "Hardware-aware search" (:mod:`imckit.experiments.hardware`): every
search strategy's run on the chapter's objective tables, for several seeds.

The cache rule of the chapters: a cached computation's key names the module that holds its compute code,
and that module holds nothing else (no sentences, plots or result classes), so that editing a chapter's
text or figures never invalidates an expensive result, while editing anything that computes it does.
:func:`search_runs` is keyed by ``code_version("imckit.experiments.hardware_steps")``, which covers this
source and, through its imports, the searches it runs (:mod:`imckit.search.genetic`,
:mod:`imckit.search.objectives`, :mod:`imckit.search.agent`). The searches run on the CPU, so the key holds no
device. (The chapter's whole-network checks are cached by
:func:`imckit.experiments.compensation_steps.compensation_runs`.)

What one run records, per strategy and seed: the evaluation counts at which it was observed and, at each, the
hypervolume (raw, against the objectives' reference point, :meth:`imckit.search.objectives.Objectives.reference`)
of the non-dominated set of every genome it had evaluated so far, for the two-objective problem (predicted
accuracy loss, latency) and, where the strategy covers it, the three-objective one (+ energy). Strategies:

* ``"genetic"``: seed 000's genetic search (:func:`imckit.search.genetic.genetic_search`), two objectives only
  (it is written for two); its per-generation hypervolume uses the same reference (checked). It evaluates its
  initial population and then only the children of each generation (the elite is not evaluated again), so it
  runs the most generations whose evaluations stay within the budget (:func:`genetic_generations`); it records
  its front after each generation, not after its initial population, so its curve starts one generation later.
* ``"nsga2"``: pymoo's NSGA-II, once on two and once on three objectives; ``"nsga3"``: NSGA-III on three. pymoo
  counts the initial population as the first generation: ``evaluations // population`` generations of
  ``population`` each (pymoo drops duplicate offspring, so a run can make a few evaluations fewer).
* ``"agent"``: the HAQ-style DDPG agent (:func:`imckit.search.agent.haq_search`) under latency budgets, its
  episodes split evenly among the budgets, the runs' evaluations interleaved round-robin (as if the budgets
  ran side by side); its random warm-up takes at most half of a budget's episodes (HAQ: 20), so that the actor
  acts in small runs too; ``"random"``: the same with uniformly random actions (:func:`random_search`). Their
  three-objective hypervolume takes each evaluated genome's energy from the energy table.
"""

from __future__ import annotations

import numpy as np
import torch

from imckit.core.cache import cached
from imckit.core.validate import check_count, check_int, check_number, check_seed
from imckit.search.agent import haq_search, random_search
from imckit.search.genetic import GeneticSearchConfig, genetic_search
from imckit.search.objectives import Objectives, hypervolume, nondominated, pymoo_search

__all__ = ["CODE", "STRATEGIES", "search_runs", "objectives_of", "agent_budgets", "genetic_generations",
           "agent_warmup"]

CODE = ("imckit.experiments.hardware_steps",)  # the code behind the cached runs
STRATEGIES = ("genetic", "nsga2", "nsga3", "agent", "random")
OBJECTIVE_NAMES = ("predicted accuracy loss", "latency", "energy")


def objectives_of(loss, latency, energy=None) -> Objectives:
    """The two (``energy`` None) or three additive objectives of the chapter, all minimized: predicted accuracy
    loss (%, the negative of the summed accuracy-change table), latency (ms), energy (uJ)."""
    tables = [(OBJECTIVE_NAMES[0], loss, "%"), (OBJECTIVE_NAMES[1], latency, "ms")]
    if energy is not None:
        tables.append((OBJECTIVE_NAMES[2], energy, "uJ"))
    return Objectives(tables)


def agent_budgets(latency, fractions) -> list[float]:
    """Latency budgets of the agent: ``fraction`` of the way from the fastest genome's latency to the slowest's
    (the sums of the table's row minima and maxima, NaN = not allowed)."""
    latency = np.asarray(latency, dtype=float)
    fastest, slowest = np.nanmin(latency, axis=1).sum(), np.nanmax(latency, axis=1).sum()
    return [float(fastest + check_number(f, "agent budget fraction", 0, 1) * (slowest - fastest)) for f in fractions]


def genetic_generations(evaluations: int, population: int) -> int:
    """The most generations of :func:`imckit.search.genetic.genetic_search` (population ``population``, the GA's
    elite schedule, tournaments capped by the population) whose evaluations (the initial population plus each
    generation's children) stay within ``evaluations``; at least 1."""
    def made(generations):
        config = _genetic_config(population, generations)
        return population + sum(population - config._schedule(g)[2] for g in range(generations))

    generations = 1
    while made(generations + 1) <= evaluations:
        generations += 1
    return generations


def _genetic_config(population: int, generations: int) -> GeneticSearchConfig:
    # the GA's default tournament grows from 2 to 6 individuals; a smaller population caps it
    return GeneticSearchConfig(population=population, generations=generations, tournament=(2, min(6, population)))


def agent_warmup(warmup: int, episodes: int) -> int:
    """The agent's random warm-up episodes in a run of ``episodes``: ``warmup`` (HAQ: 20), at most half of them."""
    return min(warmup, episodes // 2)


def _curve(points, checkpoints, reference) -> np.ndarray:
    """Raw hypervolume of the non-dominated set of ``points[:n]`` for each ``n`` in ``checkpoints``."""
    values = []
    for n in checkpoints:
        front = points[:n][nondominated(points[:n])]
        values.append(hypervolume(front, reference))
    return np.array(values)


def _interleaved(results) -> np.ndarray:
    """Indices that interleave the evaluations of several runs round-robin: (run, evaluation) pairs in order."""
    order = [(r, i) for i in range(max(len(x.genomes) for x in results)) for r, x in enumerate(results)
             if i < len(x.genomes)]
    return np.array(order, dtype=np.int64)


def _agent_run(agent: bool, tables: tuple, fixed: dict, budgets: list[float], episodes: int, seed: int,
               warmup: int, checkpoints: int) -> dict:
    loss, latency, energy = tables
    per_budget = [episodes // len(budgets) + (k < episodes % len(budgets)) for k in range(len(budgets))]
    results = []
    for k, (budget, count) in enumerate(zip(budgets, per_budget)):
        if count == 0:
            continue
        run_seed = int(np.random.SeedSequence([seed, k]).generate_state(1)[0] >> 1)
        if agent:
            results.append(haq_search(-loss, latency, budget, fixed=fixed, episodes=count, seed=run_seed,
                                      warmup=agent_warmup(warmup, count)))
        else:
            results.append(random_search(-loss, latency, budget, fixed=fixed, episodes=count, seed=run_seed))
    order = _interleaved(results)
    genomes = np.stack([results[r].genomes[i] for r, i in order])
    rows = np.arange(loss.shape[0])
    values3 = np.stack([loss[rows, genomes].sum(1), latency[rows, genomes].sum(1),
                        energy[rows, genomes].sum(1)], axis=1)
    marks = np.unique(np.linspace(1, len(genomes), min(checkpoints, len(genomes))).round().astype(int))
    two, three = objectives_of(loss, latency), objectives_of(loss, latency, energy)
    return {"evaluations": marks, "hv2": _curve(values3[:, :2], marks, two.reference()),
            "hv3": _curve(values3, marks, three.reference()), "genomes": genomes,
            "best": np.stack([r.genome for r in results]), "budgets": np.array(budgets)}


def _run(strategy: str, tables: tuple, fixed: dict, seed: int, evaluations: int, population: int,
         budgets: list[float], warmup: int, checkpoints: int) -> dict:
    loss, latency, energy = tables
    two, three = objectives_of(loss, latency), objectives_of(loss, latency, energy)
    if strategy == "genetic":
        settings = _genetic_config(population, genetic_generations(evaluations, population))
        result = genetic_search(latency, loss, seed=seed, config=settings)
        if not np.allclose(result.reference, two.reference()[::-1]):
            raise RuntimeError("the genetic search's hypervolume reference differs from the objectives' reference")
        return {"evaluations": np.asarray(result.history["evaluations"]),
                "hv2": np.asarray(result.history["hypervolume"], dtype=float), "genomes": result.genomes}
    if strategy in ("nsga2", "nsga3"):
        out = {}
        for key, objectives in (("2", two), ("3", three)):
            if strategy == "nsga3" and key == "2":
                continue
            result = pymoo_search(objectives, strategy, population=population,
                                  generations=max(1, evaluations // population), seed=seed)
            out[f"hv{key}"] = result.hypervolumes(objectives.reference())
            out[f"evaluations{key}"] = np.asarray(result.evaluations)
            out[f"genomes{key}"] = result.genomes
        return out
    return _agent_run(strategy == "agent", tables, fixed, budgets, evaluations, seed, warmup, checkpoints)


def _tensors(value):
    if isinstance(value, dict):
        return {k: _tensors(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tensors(v) for v in value]
    return torch.from_numpy(np.ascontiguousarray(value))


def _arrays(value):
    if isinstance(value, dict):
        return {k: _arrays(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_arrays(v) for v in value]
    return value.numpy()


def search_runs(loss, latency, energy, fixed: dict, seeds, evaluations: int, population: int, budget_fractions,
                warmup: int = 20, checkpoints: int = 40, cache=None) -> tuple[dict, bool]:
    """Every strategy of :data:`STRATEGIES` on the (layers, configurations) tables ``loss`` (predicted accuracy
    loss, %), ``latency`` (ms) and ``energy`` (uJ), NaN where a layer may not use a configuration, once per seed
    of ``seeds``, each with at most ``evaluations`` genome evaluations (population-based searches: ``population``
    per generation, as many generations as fit (module docstring); the agent and random search: exactly
    ``evaluations`` episodes, split among the latency budgets ``budget_fractions``
    (:func:`agent_budgets`)). ``fixed``: ``{layer: configuration}`` the agent holds fixed (the tables must allow
    only that configuration there, so the population searches hold it too). ``warmup``: the agent's random
    episodes per budget (:func:`agent_warmup`); ``checkpoints``: evaluation counts at which the agent's and
    random search's hypervolume is taken.

    Returns ``({strategy: [run per seed]}, from_cache)``; a run is a dict of arrays (module docstring).
    """
    tables = tuple(np.asarray(t, dtype=float) for t in (loss, latency, energy))
    objectives_of(*tables)  # checks shapes and NaN places
    seeds = tuple(check_seed(s, f"seeds[{k}]") for k, s in enumerate(seeds))
    if not seeds:
        raise ValueError("seeds must be a non-empty list of seeds")
    evaluations = check_count(evaluations, "evaluations", 2, 1_000_000)
    population = check_int(population, "population", 4, evaluations // 2)
    warmup = check_count(warmup, "warmup", 0)
    checkpoints = check_count(checkpoints, "checkpoints", 2, 10_000)
    fractions = [check_number(f, f"budget_fractions[{k}]", 0, 1) for k, f in enumerate(budget_fractions)]
    if not fractions:
        raise ValueError("budget_fractions must be a non-empty list of shares in [0, 1]")
    fixed = {int(k): int(v) for k, v in fixed.items()}
    for layer, config in fixed.items():
        row = np.where(~np.isnan(tables[0][layer]))[0]
        if row.tolist() != [config]:
            raise ValueError(f"fixed must name the only configuration the tables allow in its layer; layer {layer} "
                             f"allows {row.tolist()}, fixed says {config}")
    budgets = agent_budgets(tables[1], fractions)

    def compute():
        return {s: [_tensors(_run(s, tables, fixed, seed, evaluations, population, budgets, warmup, checkpoints))
                    for seed in seeds] for s in STRATEGIES}

    from importlib.metadata import version

    description = {"tables": [t.tolist() for t in tables], "fixed": sorted(fixed.items()), "seeds": list(seeds),
                   "evaluations": evaluations, "population": population, "budget_fractions": fractions,
                   "warmup": warmup, "checkpoints": checkpoints,
                   "libraries": {name: version(name) for name in ("pymoo", "stable-baselines3", "gymnasium")}}
    value, from_cache = cached("hardware-searches", description, compute, code=CODE, cache=cache)
    return {s: [_arrays(run) for run in runs] for s, runs in value.items()}, from_cache
