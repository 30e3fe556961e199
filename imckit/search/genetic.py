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

from dataclasses import dataclass

import numpy as np

from imckit.core.validate import check_count, check_int, check_number, check_probability, check_seed

__all__ = ["check_tables", "exact_pareto_front", "pareto_mask", "reference_point", "hypervolume",
           "GeneticSearchConfig", "GeneticSearchResult", "genetic_search", "nsga2_search", "front_regions",
           "evaluations_to_reach"]


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _entries(value, name: str, length: int, check, allowed: str) -> tuple:
    """``value`` as a tuple of ``length`` entries, each passed through the shared validator ``check``; any
    failure is reported for the whole field (``"<name> must be <allowed>; got <value>"``)."""
    if not isinstance(value, (tuple, list)) or len(value) != length:
        raise TypeError(f"{name} must be {allowed}; got {_shown(value)}")
    try:
        checked = tuple(check(v) for v in value)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{name} must be {allowed}; got {_shown(value)}") from None
    return checked


def _plain(value):
    """A numpy scalar as the Python number it holds (so that configs stay JSON-able); anything else as is."""
    return value.item() if isinstance(value, np.generic) else value


def _array(value, name: str, what: str) -> np.ndarray:
    """``value`` as a float array if it holds real numbers (not booleans, strings, objects or complex)."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):  # a ragged nesting of sequences
        raise ValueError(f"{name} must be {what}; got a ragged sequence {_shown(value)}") from None
    if array.dtype == bool or array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be {what} holding real numbers; got {_shown(value)} (dtype {array.dtype})")
    return array.astype(float)


def check_tables(memory, loss) -> tuple[np.ndarray, np.ndarray]:
    """Validate two objective tables and return them as float arrays.

    They must be 2-D tables of real numbers with the same shape (layers >= 1, configurations >= 1), NaN in
    the same places, finite elsewhere, every layer must allow at least one configuration, and the sums over
    layers (and the hypervolumes of their ranges) must stay finite.
    """
    what = "a 2-D table (layers, configurations)"
    memory = _array(memory, "memory", what)
    loss = _array(loss, "loss", what)
    if memory.ndim != 2 or memory.shape[0] < 1 or memory.shape[1] < 1:
        raise ValueError(f"memory must be {what} with at least one of each; got shape {memory.shape}")
    if loss.shape != memory.shape:
        raise ValueError(f"loss must have the shape of memory {memory.shape}; got {loss.shape}")
    if not np.array_equal(np.isnan(memory), np.isnan(loss)):
        raise ValueError("memory and loss must be NaN (not allowed) in the same places; got NaN at "
                         f"{int(np.isnan(memory).sum())} and {int(np.isnan(loss).sum())} entries")
    if np.isinf(memory).any() or np.isinf(loss).any():
        raise ValueError("memory and loss must be finite where allowed (NaN marks a forbidden configuration); "
                         f"got {int(np.isinf(memory).sum())} and {int(np.isinf(loss).sum())} infinite entries")
    empty = np.where(np.isnan(memory).all(axis=1))[0]
    if len(empty):
        raise ValueError(f"memory must allow at least one configuration per layer (a row not all NaN); "
                         f"got layer(s) {empty.tolist()} with none")
    spans = []
    for name, table in (("memory", memory), ("loss", loss)):
        with np.errstate(over="ignore"):
            span = 3 * np.nanmax(np.abs(table), axis=1).sum()  # bounds every sum and the reference's range
        if not np.isfinite(span):
            raise ValueError(f"{name} must have sums over the layers that stay finite; got entries up to "
                             f"{np.nanmax(np.abs(table)):.3g} in {table.shape[0]} layers")
        spans.append(span)
    with np.errstate(over="ignore"):
        if not np.isfinite(spans[0] * spans[1]):
            raise ValueError("memory and loss must have ranges whose hypervolume stays finite; got sums up to "
                             f"{spans[0] / 3:.3g} and {spans[1] / 3:.3g}")
    return memory, loss


def _objectives(objectives, name: str = "objectives") -> np.ndarray:
    """``objectives`` as a finite float array (n, 2) (n may be 0)."""
    array = _array(objectives, name, "an (n, 2) array of (memory, loss)")
    if array.size == 0:
        return array.reshape(0, 2)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{name} must be an (n, 2) array of (memory, loss); got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite; got {int(np.isnan(array).sum())} NaN and "
                         f"{int(np.isinf(array).sum())} infinite of {array.size} values")
    return array


def pareto_mask(objectives: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of an (n, 2) array (both minimized). Of points with equal
    objectives only the first is kept."""
    objectives = _objectives(objectives)
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


# ----------------------------------------------------------------------------------------------------------
# the paper's genetic algorithm


def reference_point(memory, loss) -> np.ndarray:
    """A hypervolume reference point every genome dominates: the worst sums plus 1 % of their range (of at least
    1e-6 of the worst sum's size, so that an objective on which every genome scores alike still leaves a margin
    that floating point can resolve)."""
    memory, loss = check_tables(memory, loss)
    worst = np.array([np.nanmax(memory, axis=1).sum(), np.nanmax(loss, axis=1).sum()])
    best = np.array([np.nanmin(memory, axis=1).sum(), np.nanmin(loss, axis=1).sum()])
    return worst + 0.01 * np.maximum(worst - best, 1e-6 * np.maximum(np.abs(worst), 1e-6))


def hypervolume(objectives, reference) -> float:
    """Hypervolume (pymoo's HV indicator) of ``objectives`` (n, 2) against ``reference``, both minimized."""
    from pymoo.indicators.hv import HV

    objectives = _objectives(objectives)
    reference = _array(reference, "reference", "a point (memory, loss)")
    if reference.shape != (2,) or not np.isfinite(reference).all():
        raise ValueError(f"reference must be a point (memory, loss) of two finite numbers; got {_shown(reference)}")
    return float(HV(ref_point=reference)(objectives)) if len(objectives) else 0.0


def _rank_and_crowding(objectives: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    rank = np.empty(len(objectives), dtype=int)
    crowding = np.zeros(len(objectives))
    for r, front in enumerate(NonDominatedSorting().do(objectives)):
        rank[front] = r
        if len(front) <= 2:
            crowding[front] = np.inf
            continue
        for m in range(objectives.shape[1]):
            order = front[np.argsort(objectives[front, m], kind="stable")]
            span = objectives[order[-1], m] - objectives[order[0], m]
            crowding[order[0]] = crowding[order[-1]] = np.inf
            if span > 0:
                crowding[order[1:-1]] += (objectives[order[2:], m] - objectives[order[:-2], m]) / span
    return rank, crowding


@dataclass(frozen=True)
class GeneticSearchConfig:
    """Settings of :func:`genetic_search`. The defaults reached 99.3 % of the exact front's hypervolume
    on a random 8 x 10 table with a 351-point front, in 1 s (10,000 evaluations).

    Attributes:
        population: individuals per generation (an integer >= 4).
        generations: generations (an integer >= 1).
        tournament: (first, last) tournament size, grown linearly over the generations (the paper: small
            first, for diversity; larger later, for exploitation); integers, 1 <= first <= last <= population.
        elite: (first, last) share of the population carried over unchanged, grown linearly; 0 <= first <=
            last, and ``round(last * population)`` at most ``population - 1``, so that every generation
            breeds at least one child.
        mutation: (initial, low, high) per-gene mutation rate: each individual carries its own, inherited
            and perturbed log-normally every generation (self-adaptive, as in the paper); 0 <= low <=
            initial <= high <= 1.
        crossover: (initial, low, high) uniform-crossover probability, self-adaptive likewise.
        learning_rate: the log-normal step size tau of the rate genes, in [0, 10] (0: the rates stay put).

    A value the search cannot run with is refused at construction (:class:`ValueError`, or
    :class:`TypeError` for the wrong kind), with the range it can run with.
    """

    population: int = 100
    generations: int = 100
    tournament: tuple[int, int] = (2, 6)
    elite: tuple[float, float] = (0.05, 0.25)
    mutation: tuple[float, float, float] = (0.2, 0.01, 0.6)
    crossover: tuple[float, float, float] = (0.8, 0.1, 1.0)
    learning_rate: float = 0.3

    def __post_init__(self):
        # Every value the search cannot run with is refused here, with the range it can run with: the
        # population, generations, tournament and elite sizes are the search's own (see _schedule).
        n = check_int(self.population, "population", 4)
        object.__setattr__(self, "population", n)
        object.__setattr__(self, "generations", check_count(self.generations, "generations"))
        allowed = f"(first, last) sizes: integers with 1 <= first <= last <= population = {n}"
        first, last = _entries(self.tournament, "tournament", 2, lambda v: check_int(v, "tournament", 1, n), allowed)
        if first > last:
            raise ValueError(f"tournament must be {allowed}; got {_shown(self.tournament)}")
        object.__setattr__(self, "tournament", (first, last))
        # the elite keeps round(share * population) individuals; at least one child must be bred per generation
        top = (n - 0.5) / n
        bound = f"last <= {top!r}" if _elite_count(top, n) <= n - 1 else f"last < {top!r}"
        allowed = (f"(first, last) shares with 0 <= first <= last and round(last * population) <= "
                   f"population - 1 = {n - 1} (a child bred every generation; {bound} for population {n})")
        first, last = _entries(self.elite, "elite", 2, lambda v: check_number(v, "elite", 0.0, 1.0), allowed)
        if first > last or max(_elite_count(share, n) for share in (last, *self._shares())) > n - 1:
            raise ValueError(f"elite must be {allowed}; got {_shown(self.elite)}")
        object.__setattr__(self, "elite", tuple(map(_plain, self.elite)))
        for name in ("mutation", "crossover"):
            value = getattr(self, name)
            allowed = "(initial, low, high) rates with 0 <= low <= initial <= high <= 1"
            start, low, high = _entries(value, name, 3, lambda v: check_probability(v, name), allowed)
            if not low <= start <= high:
                raise ValueError(f"{name} must be {allowed}; got {_shown(value)}")
            object.__setattr__(self, name, tuple(map(_plain, value)))
        # 0: no self-adaptation; above 10, exp(tau * N(0, 1)) may overflow and 0 * inf turn a rate into NaN
        check_number(self.learning_rate, "learning_rate", 0.0, 10.0)
        object.__setattr__(self, "learning_rate", _plain(self.learning_rate))

    def _shares(self) -> tuple[float, float]:
        """The elite shares of the first and the last generation exactly as :func:`genetic_search` computes
        them (the linear schedule's end points)."""
        return self._schedule(0)[1], self._schedule(self.generations - 1)[1]

    def _schedule(self, generation: int) -> tuple[int, float, int]:
        """``(tournament size, elite share, elite count)`` of ``generation``: grown linearly over the run."""
        progress = generation / max(1, self.generations - 1)
        tournament = int(round(self.tournament[0] + progress * (self.tournament[1] - self.tournament[0])))
        elite_share = self.elite[0] + progress * (self.elite[1] - self.elite[0])
        return tournament, elite_share, _elite_count(elite_share, self.population)


def _elite_count(share: float, population: int) -> int:
    """Individuals an elite ``share`` of ``population`` carries over unchanged."""
    return int(round(share * population))


@dataclass(frozen=True, eq=False)
class GeneticSearchResult:
    """What :func:`genetic_search` found.

    Attributes:
        genomes: int array (K, layers): the non-dominated genomes among all evaluated, sorted by memory.
        objectives: float array (K, 2): their (memory, loss).
        history: per generation, a dict of arrays: ``mutation`` and ``crossover`` (population means),
            ``tournament``, ``elite``, ``hypervolume`` (of the front found so far, against
            ``reference``), ``evaluations`` (genomes evaluated so far).
        selections: int array (generations, population): how often each parent slot was picked in the
            tournaments of each generation (the paper's Fig. 5a selection pressure).
        reference: the hypervolume reference point.
    """

    genomes: np.ndarray
    objectives: np.ndarray
    history: dict
    selections: np.ndarray
    reference: np.ndarray


def genetic_search(memory, loss, seed: int = 0,
                   config: GeneticSearchConfig = GeneticSearchConfig()) -> GeneticSearchResult:
    """The paper's genetic algorithm (Sec. IV) on an additive (layers, configurations) table.

    Individuals are genomes of per-layer configuration indices plus their own mutation and crossover rates.
    Parents are chosen by tournaments that compare Pareto rank, then crowding distance (NSGA-II's order; the
    paper does not say how its tournaments compare two objectives); children come from uniform crossover
    and per-gene mutation to another allowed configuration; an elite share survives unchanged. Tournament
    size and elite share grow linearly from their first to their last value. Every evaluated genome enters
    an archive whose non-dominated set is the result.
    """
    memory, loss = check_tables(memory, loss)
    seed = check_seed(seed)
    if not isinstance(config, GeneticSearchConfig):
        raise TypeError(f"config must be a GeneticSearchConfig; got {_shown(config)}")
    rng = np.random.default_rng(seed)
    layers = memory.shape[0]
    allowed = [np.where(~np.isnan(row))[0] for row in memory]
    rows = np.arange(layers)
    reference = reference_point(memory, loss)

    def evaluate(genomes):
        return np.stack([memory[rows, genomes].sum(1), loss[rows, genomes].sum(1)], axis=1)

    def random_genes(n):
        return np.stack([rng.choice(a, size=n) for a in allowed], axis=1)

    n = config.population
    genomes = random_genes(n)
    mutation = np.full(n, config.mutation[0])
    crossover = np.full(n, config.crossover[0])
    objectives = evaluate(genomes)
    archive_g, archive_f = genomes.copy(), objectives.copy()
    history = {k: [] for k in ("mutation", "crossover", "tournament", "elite", "hypervolume", "evaluations")}
    selections = np.zeros((config.generations, n), dtype=int)
    evaluations = n
    for generation in range(config.generations):
        tournament, elite_share, n_elite = config._schedule(generation)
        rank, crowding = _rank_and_crowding(objectives)
        order = np.lexsort((-crowding, rank))  # best first

        def pick():
            entrants = rng.choice(n, size=tournament, replace=False)
            winner = entrants[np.lexsort((-crowding[entrants], rank[entrants]))[0]]
            selections[generation, winner] += 1
            return winner

        children, child_mut, child_cross = [], [], []
        while len(children) < n - n_elite:
            a, b = pick(), pick()
            m = np.clip((mutation[a] + mutation[b]) / 2 * np.exp(config.learning_rate * rng.normal()),
                        config.mutation[1], config.mutation[2])
            c = np.clip((crossover[a] + crossover[b]) / 2 * np.exp(config.learning_rate * rng.normal()),
                        config.crossover[1], config.crossover[2])
            child = genomes[a].copy()
            if rng.random() < c:
                take = rng.random(layers) < 0.5
                child[take] = genomes[b][take]
            for layer in np.where(rng.random(layers) < m)[0]:
                child[layer] = rng.choice(allowed[layer])
            children.append(child)
            child_mut.append(m)
            child_cross.append(c)
        elite = order[:n_elite]
        new = np.array(children).reshape(-1, layers)
        genomes = np.concatenate([genomes[elite], new])
        mutation = np.concatenate([mutation[elite], child_mut])
        crossover = np.concatenate([crossover[elite], child_cross])
        new_objectives = evaluate(new)
        objectives = np.concatenate([objectives[elite], new_objectives])
        evaluations += len(new)
        archive_g = np.concatenate([archive_g, new])
        archive_f = np.concatenate([archive_f, new_objectives])
        keep = pareto_mask(archive_f)
        archive_g, archive_f = archive_g[keep], archive_f[keep]
        for key, value in (("mutation", mutation.mean()), ("crossover", crossover.mean()), ("tournament", tournament),
                           ("elite", elite_share), ("hypervolume", hypervolume(archive_f, reference)),
                           ("evaluations", evaluations)):
            history[key].append(value)
    order = np.lexsort((archive_f[:, 1], archive_f[:, 0]))
    return GeneticSearchResult(archive_g[order], archive_f[order], {k: np.array(v) for k, v in history.items()},
                               selections, reference)


def nsga2_search(memory, loss, seed: int = 0, population: int = 100, generations: int = 100) -> GeneticSearchResult:
    """NSGA-II from pymoo on the same table, as the baseline the paper's GA is compared with.

    Each variable is the position of a layer's configuration among its allowed ones (an integer, handled
    with pymoo's float operators and ``RoundingRepair``). The result has the same form as
    :func:`genetic_search` (``mutation``/``crossover`` history entries are NaN: NSGA-II's rates are fixed;
    ``selections`` is empty).
    """
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.callback import Callback
    from pymoo.core.problem import Problem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling
    from pymoo.optimize import minimize

    memory, loss = check_tables(memory, loss)
    seed = check_seed(seed)
    population = check_int(population, "population", 4)
    generations = check_count(generations, "generations")
    allowed = [np.where(~np.isnan(row))[0] for row in memory]
    rows = np.arange(memory.shape[0])
    reference = reference_point(memory, loss)

    def genomes_of(x):
        index = np.clip(np.rint(x).astype(int), 0, [len(a) - 1 for a in allowed])
        return np.stack([allowed[l][index[:, l]] for l in rows], axis=1)

    class Table(Problem):
        def __init__(self):
            super().__init__(n_var=len(rows), n_obj=2, xl=np.zeros(len(rows)),
                             xu=np.array([len(a) - 1 for a in allowed], dtype=float), vtype=int)

        def _evaluate(self, x, out, *args, **kwargs):
            g = genomes_of(x)
            out["F"] = np.stack([memory[rows, g].sum(1), loss[rows, g].sum(1)], axis=1)

    history = {k: [] for k in ("mutation", "crossover", "tournament", "elite", "hypervolume", "evaluations")}
    archive = {"g": np.zeros((0, len(rows)), dtype=int), "f": np.zeros((0, 2))}

    class Record(Callback):
        def notify(self, algorithm):
            pop = algorithm.pop
            g, f = genomes_of(pop.get("X")), pop.get("F")
            archive["g"] = np.concatenate([archive["g"], g])
            archive["f"] = np.concatenate([archive["f"], f])
            keep = pareto_mask(archive["f"])
            archive["g"], archive["f"] = archive["g"][keep], archive["f"][keep]
            for key, value in (("mutation", np.nan), ("crossover", np.nan), ("tournament", 2), ("elite", np.nan),
                               ("hypervolume", hypervolume(archive["f"], reference)),
                               ("evaluations", algorithm.evaluator.n_eval)):
                history[key].append(value)

    algorithm = NSGA2(pop_size=population, sampling=IntegerRandomSampling(),
                      crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
                      mutation=PM(eta=20, vtype=float, repair=RoundingRepair()), eliminate_duplicates=True)
    minimize(Table(), algorithm, ("n_gen", generations), seed=seed, callback=Record(), verbose=False)
    order = np.lexsort((archive["f"][:, 1], archive["f"][:, 0]))
    return GeneticSearchResult(archive["g"][order], archive["f"][order], {k: np.array(v) for k, v in history.items()},
                               np.zeros((0, population), dtype=int), reference)


def front_regions(loss, limits: tuple[float, float] = (1.0, 50.0)) -> np.ndarray:
    """The paper's regions of a front (Fig. 7), by each point's loss objective: ``"A"`` (little to no loss:
    ``loss <= limits[0]``), ``"C"`` (a heavy penalty: ``loss > limits[1]``), ``"B"`` between.

    The paper draws the regions by eye; this rule is the kit's, with the limits as its parameters (in the
    loss objective's units, e.g. % loss change).
    """
    loss = _array(loss, "loss", "a 1-D array of the front's loss objective")
    if loss.ndim != 1 or not np.isfinite(loss).all():
        raise ValueError(f"loss must be a 1-D array of finite values (the front's loss objective); got "
                         f"{_shown(loss) if loss.ndim != 1 else f'{int((~np.isfinite(loss)).sum())} not finite'}")
    allowed = "two finite numbers (A upper, B upper) with A <= B"
    low, high = _entries(limits, "limits", 2, lambda v: check_number(v, "limits"), allowed)
    if low > high:
        raise ValueError(f"limits must be {allowed}; got {_shown(limits)}")
    return np.where(loss <= low, "A", np.where(loss <= high, "B", "C"))


def evaluations_to_reach(history: dict, target: float) -> int | None:
    """Evaluations a search needed before its front's hypervolume reached ``target`` (``None``: never)."""
    target = check_number(target, "target")
    allowed = "a search's history: a dict with 1-D arrays 'hypervolume' and 'evaluations' of the same length"
    if not isinstance(history, dict) or not {"hypervolume", "evaluations"} <= set(history):
        raise TypeError(f"history must be {allowed}; got {_shown(history)}")
    hv = _array(history["hypervolume"], "history", allowed)
    evaluations = _array(history["evaluations"], "history", allowed)
    if hv.ndim != 1 or hv.shape != evaluations.shape or np.isnan(hv).any():
        raise ValueError(f"history must be {allowed} (hypervolume not NaN); got shapes {hv.shape} and "
                         f"{evaluations.shape}")
    reached = np.where(hv >= target)[0]
    return int(np.asarray(history["evaluations"])[reached[0]]) if len(reached) else None
