"""Two or three objectives over per-layer configurations: additive tables or network-level functions, their exact
front, NSGA-II/NSGA-III from pymoo, and the hypervolume (issue 18, item 2).

A genome holds one configuration index per layer (as in :mod:`imckit.search.genetic`). Every objective is
minimized and is one of:

* **additive**: a (layers, configurations) float table; a genome's value is the sum over layers of its entries
  (the sensitivity table's loss or accuracy change, memory, and the per-layer latency or energy of
  :func:`imckit.crossbars.cost.layer_cost`). NaN marks a configuration the layer may not use;
* **network-level**: a function ``genome -> float`` (accuracy from a simulation, EDAP, the area of a time-multiplexed
  crossbar pool: anything that is not a sum of per-layer terms). It receives a 1-D int array of configuration
  indices, one per layer, and must return a finite number.

Where the tables come from: :meth:`imckit.search.sensitivity.SensitivityTable.objectives` (memory used, loss
change; ``-accuracy_change`` for the accuracy loss); the crossbar cost model (:mod:`imckit.crossbars.cost`, a
package beside this one, so not imported here): column ``j`` of a latency, energy or crossbar-count table is
``network_cost(network, choices[j], config).layers``' values (a layer's cost depends only on its own bits, so the
network's latency, energy and crossbars are sums over layers); EDAP, and the area of a time-multiplexed crossbar
pool (the largest layer's share), are not sums: pass ``genome -> network_cost(...).total`` as network-level.

What pymoo does, pymoo does here: the NSGA-II/NSGA-III algorithms, their integer operators, the reference
directions, non-dominated filtering and the hypervolume indicator. Written by hand, because no library offers it:
the dynamic-programming exact front of :func:`exact_front` (the kit's 2-objective
:func:`imckit.search.genetic.exact_pareto_front`, extended to k objectives).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imckit.core.validate import check_choice, check_count, check_int, check_seed
from imckit.search.genetic import _array, _shown

__all__ = ["Objective", "Objectives", "exact_front", "ParetoSearchResult", "pymoo_search", "hypervolume",
           "nondominated"]

ALGORITHMS = ("nsga2", "nsga3")


def check_table(value, name: str, or_callable: bool = False) -> np.ndarray:
    """``value`` as a float (layers, configurations) table with at least one of each, finite where allowed
    (NaN marks a configuration a layer may not use); errors name ``name`` (``or_callable``: say a callable
    is the alternative)."""
    what = "a 2-D table (layers, configurations)"
    other = ", or a callable" if or_callable else ""
    table = _array(value, name, what + (" or a callable" if or_callable else ""))
    if table.ndim != 2 or table.shape[0] < 1 or table.shape[1] < 1:
        raise ValueError(f"{name} must be {what} with at least one of each{other}; got shape {table.shape}")
    if np.isinf(table).any():
        raise ValueError(f"{name} must be finite where allowed (NaN marks a forbidden configuration); got "
                         f"{int(np.isinf(table).sum())} infinite entries")
    return table


@dataclass(frozen=True, eq=False)
class Objective:
    """One minimized objective.

    Attributes:
        name: a non-empty string (a column of the results, an axis of a plot).
        value: a (layers, configurations) table of real numbers (additive; NaN = not allowed) or a callable
            ``genome -> float`` (network-level).
        unit: the unit of the values (free text, e.g. ``"s"``, ``"J"``, ``"% of 12-bit devices"``).
    """

    name: str
    value: object
    unit: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a non-empty string; got {_shown(self.name)}")
        if not isinstance(self.unit, str):
            raise TypeError(f"unit must be a string; got {_shown(self.unit)}")
        if not callable(self.value):
            table = check_table(self.value, f"{self.name} (value)", or_callable=True)
            table.setflags(write=False)
            object.__setattr__(self, "value", table)

    @property
    def additive(self) -> bool:
        """Whether the objective is a table (a sum over layers), not a network-level function."""
        return not callable(self.value)


class Objectives:
    """Two or three named objectives over the genomes of one (layers, configurations) search space.

    Args:
        objectives: a list of 2 or 3 :class:`Objective` (or ``(name, value)`` / ``(name, value, unit)`` tuples)
            with distinct names.
        allowed: optional bool array (layers, configurations), True where a layer may use a configuration. When
            any objective is a table, it is the tables' non-NaN entries (all tables must have the same shape and
            NaN in the same places) and ``allowed``, if given, must equal it; with network-level objectives only,
            it is required.

    Raises ValueError/TypeError naming the parameter (``objectives``, ``allowed``, or the objective's name).
    """

    def __init__(self, objectives, allowed=None):
        if not isinstance(objectives, (list, tuple)) or not 2 <= len(objectives) <= 3:
            raise ValueError(f"objectives must be a list of 2 or 3 objectives; got {_shown(objectives)}")
        items = []
        for i, item in enumerate(objectives):
            if isinstance(item, tuple) and len(item) in (2, 3):
                item = Objective(*item)
            if not isinstance(item, Objective):
                raise TypeError(f"objectives[{i}] must be an Objective or a tuple (name, value[, unit]); "
                                f"got {_shown(item)}")
            items.append(item)
        names = [o.name for o in items]
        if len(set(names)) != len(names):
            raise ValueError(f"objectives must have distinct names; got {names}")
        tables = [o for o in items if o.additive]
        mask = None
        for o in tables:
            here = ~np.isnan(o.value)
            if mask is None:
                mask, first = here, o
            elif o.value.shape != mask.shape:
                raise ValueError(f"{o.name} (value) must have the shape of {first.name} {mask.shape}; "
                                 f"got {o.value.shape}")
            elif not np.array_equal(here, mask):
                raise ValueError(f"{o.name} (value) must be NaN (not allowed) in the same places as {first.name}; "
                                 f"they differ at {int((here != mask).sum())} entries")
        if allowed is not None:
            given = np.asarray(allowed)
            if given.dtype != bool or given.ndim != 2 or given.shape[0] < 1 or given.shape[1] < 1:
                raise TypeError(f"allowed must be a 2-D bool array (layers, configurations); got {_shown(allowed)}")
            if mask is not None and not np.array_equal(given, mask):
                raise ValueError(f"allowed must equal the tables' non-NaN entries {mask.shape}; got an array of shape "
                                 f"{given.shape} that differs")
            mask = given.copy()
        if mask is None:
            raise ValueError("allowed must be given when no objective is a table: a bool array (layers, "
                             "configurations); got None")
        empty = np.where(~mask.any(axis=1))[0]
        if len(empty):
            raise ValueError(f"allowed must allow at least one configuration per layer; got layer(s) "
                             f"{empty.tolist()} with none")
        for o in tables:
            with np.errstate(over="ignore"):
                span = np.nanmax(np.abs(o.value), axis=1).sum()
            if not np.isfinite(3 * span):
                raise ValueError(f"{o.name} (value) must have sums over the layers that stay finite; got entries "
                                 f"up to {np.nanmax(np.abs(o.value)):.3g}")
        mask.setflags(write=False)
        self.items = tuple(items)
        self.allowed = mask
        self.choices = tuple(np.where(row)[0] for row in mask)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.items)

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(o.unit for o in self.items)

    @property
    def k(self) -> int:
        """The number of objectives (2 or 3)."""
        return len(self.items)

    @property
    def layers(self) -> int:
        return self.allowed.shape[0]

    @property
    def additive(self) -> bool:
        """Whether every objective is a table (then :func:`exact_front` and :meth:`reference` apply)."""
        return all(o.additive for o in self.items)

    def check_genomes(self, genomes, name: str = "genomes") -> np.ndarray:
        """``genomes`` as an int array (n, layers) of allowed configuration indices."""
        array = np.asarray(genomes)
        if array.ndim == 1:
            array = array[None]
        if array.dtype == bool or array.dtype.kind not in "iu" or array.ndim != 2 or array.shape[1] != self.layers:
            raise ValueError(f"{name} must be an int array (n, {self.layers}) of configuration indices; "
                             f"got {_shown(genomes)}")
        if ((array < 0) | (array >= self.allowed.shape[1])).any() or \
                not self.allowed[np.arange(self.layers), array].all():
            raise ValueError(f"{name} must use only allowed configurations of each layer; got {_shown(genomes)}")
        return array.astype(np.int64)

    def evaluate(self, genomes) -> np.ndarray:
        """The objective values (n, k) of ``genomes`` (n, layers) (a single genome gives (1, k))."""
        genomes = self.check_genomes(genomes)
        rows = np.arange(self.layers)
        columns = []
        for o in self.items:
            if o.additive:
                columns.append(_layer_sums(o.value[rows, genomes]))
            else:
                values = []
                for g in genomes:
                    v = o.value(g.copy())
                    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)) \
                            or not np.isfinite(v):
                        raise ValueError(f"{o.name} (value) must return a finite number for every genome; got "
                                         f"{_shown(v)} for {g.tolist()}")
                    values.append(float(v))
                columns.append(np.array(values))
        return np.stack(columns, axis=1)

    def reference(self) -> np.ndarray:
        """A hypervolume reference point every genome dominates, for all-additive objectives: the worst sums
        plus 1 % of each objective's range, a range of at least 1e-6 of the worst sum's size (as
        :func:`imckit.search.genetic.reference_point`)."""
        self._need_additive("reference")
        worst = np.array([np.nanmax(o.value, axis=1).sum() for o in self.items])
        best = np.array([np.nanmin(o.value, axis=1).sum() for o in self.items])
        return worst + 0.01 * np.maximum(worst - best, 1e-6 * np.maximum(np.abs(worst), 1e-6))

    def ideal(self) -> np.ndarray:
        """The best sum of each additive objective on its own (a lower corner for :func:`hypervolume`)."""
        self._need_additive("ideal")
        return np.array([np.nanmin(o.value, axis=1).sum() for o in self.items])

    def _need_additive(self, what: str):
        network = [o.name for o in self.items if not o.additive]
        if network:
            raise ValueError(f"objectives must all be additive tables for {what}; got network-level "
                             f"objective(s) {network}")

    def __repr__(self):
        kinds = ", ".join(f"{o.name} ({'table' if o.additive else 'network'})" for o in self.items)
        return f"Objectives({kinds}; {self.layers} layers x {self.allowed.shape[1]} configurations)"


def _check_objectives(objectives) -> Objectives:
    if not isinstance(objectives, Objectives):
        raise TypeError(f"objectives must be an Objectives; got {_shown(objectives)}")
    return objectives


def _layer_sums(values: np.ndarray) -> np.ndarray:
    """Row sums of (n, layers) added layer by layer, in the same order as :func:`exact_front` adds them (so that
    equal sums compare equal bit for bit)."""
    total = np.zeros(len(values))
    for column in values.T:
        total = total + column
    return total


def nondominated(points) -> np.ndarray:
    """Boolean mask of the non-dominated rows of an (n, k) array (all minimized; pymoo's ``find_non_dominated``).
    Of rows with equal values only the first is kept."""
    from pymoo.util.nds.non_dominated_sorting import find_non_dominated

    points = _points(points, "points")
    keep = np.zeros(len(points), dtype=bool)
    if len(points):
        _, first = np.unique(points, axis=0, return_index=True)
        keep[first[find_non_dominated(points[first])]] = True
    return keep


def exact_front(objectives: Objectives) -> tuple[np.ndarray, np.ndarray]:
    """The exact Pareto front of 2 or 3 additive objectives, by dynamic programming over the layers.

    Layer by layer, every kept partial genome (configurations of the layers so far) is extended by every allowed
    configuration of the next layer, and only the non-dominated partial sums are kept. This is exact because the
    objectives are sums: two partial genomes completed by the same rest of the genome get the same terms added to
    every objective, so if one partial sum dominates another, the first's completion dominates the second's for
    every possible rest, and a dominated partial genome can never become a front point. (Of partial genomes with
    equal sums one is enough for the same reason.) Written by hand: no library computes this front. Its size,
    and so the run time, grow with the front's size, not with the configurations**layers genomes.

    Returns:
        ``(genomes, values)``: int array (K, layers) and float array (K, k), sorted by the objectives in order.
        One genome per front point: of genomes with equal values, the lexicographically smallest.

    Raises ValueError when an objective is network-level (no sum over layers to prune by): use
    :func:`pymoo_search`.
    """
    objectives = _check_objectives(objectives)
    if not objectives.additive:
        network = [o.name for o in objectives.items if not o.additive]
        raise ValueError(f"objectives must all be additive tables for the exact front; got network-level "
                         f"objective(s) {network}: use pymoo_search")
    tables = np.stack([o.value for o in objectives.items], axis=-1)  # (layers, configurations, k)
    genomes = np.zeros((1, 0), dtype=np.int64)
    values = np.zeros((1, objectives.k))
    for layer, allowed in enumerate(objectives.choices):
        new_genomes = np.concatenate(
            [np.repeat(genomes, len(allowed), axis=0), np.tile(allowed, len(genomes))[:, None]], axis=1)
        new_values = np.repeat(values, len(allowed), axis=0) + np.tile(tables[layer, allowed], (len(genomes), 1))
        order = np.lexsort(new_genomes.T[::-1])  # lexicographic genome order: ties keep the smallest genome
        new_genomes, new_values = new_genomes[order], new_values[order]
        keep = nondominated(new_values)
        genomes, values = new_genomes[keep], new_values[keep]
    order = np.lexsort(values.T[::-1])
    return genomes[order], values[order]


def _points(points, name: str, k: int | None = None) -> np.ndarray:
    what = "an (n, k) array of objective values with k = 2 or 3"
    array = _array(points, name, what)
    if array.size == 0:
        return array.reshape(0, k or 2)
    if array.ndim != 2 or array.shape[1] not in (2, 3) or (k is not None and array.shape[1] != k):
        raise ValueError(f"{name} must be {what}{'' if k is None else f' (k = {k})'}; got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite; got {int(np.isnan(array).sum())} NaN and "
                         f"{int(np.isinf(array).sum())} infinite of {array.size} values")
    return array


def hypervolume(points, reference, ideal=None) -> float:
    """Hypervolume of ``points`` (n, 2 or 3), all minimized, against ``reference`` (pymoo's HV indicator).

    Normalization: with ``ideal=None`` the volume is in the product of the objectives' units (as
    :func:`imckit.search.genetic.hypervolume`, which handles 2 objectives only). With ``ideal`` (a point at least
    as good as every point, e.g. :meth:`Objectives.ideal`), each objective is mapped linearly by
    ``(f - ideal) / (reference - ideal)`` before the volume is taken, so the result is the dominated share of the
    box ``[ideal, reference]``, in [0, 1], and objectives of different units weigh alike. Points that do not
    dominate ``reference`` add nothing.
    """
    from pymoo.indicators.hv import HV

    points = _points(points, "points")
    k = points.shape[1]
    reference = _array(reference, "reference", f"a point of {k} finite numbers")
    if reference.shape != (k,) or not np.isfinite(reference).all():
        raise ValueError(f"reference must be a point of {k} finite numbers; got {_shown(reference)}")
    if ideal is not None:
        ideal = _array(ideal, "ideal", f"a point of {k} finite numbers below reference")
        if ideal.shape != (k,) or not np.isfinite(ideal).all() or not (ideal < reference).all() \
                or (len(points) and (points < ideal).any()):
            raise ValueError(f"ideal must be a point of {k} finite numbers below reference and no worse than any "
                             f"point; got {_shown(ideal)}")
        points = (points - ideal) / (reference - ideal)
        reference = np.ones(k)
    inside = (points < reference).all(axis=1)
    return float(HV(ref_point=reference)(points[inside])) if inside.any() else 0.0


@dataclass(frozen=True, eq=False)
class ParetoSearchResult:
    """What :func:`pymoo_search` found.

    Attributes:
        genomes: int array (K, layers): the non-dominated genomes among all evaluated, sorted by the objectives.
        values: float array (K, k): their objective values.
        names: the objectives' names (columns of ``values``).
        evaluations: int array (generations,): genomes pymoo had evaluated after each generation.
        fronts: per generation, the (K_g, k) values of the non-dominated set of everything evaluated so far.
        algorithm: ``"nsga2"`` or ``"nsga3"``; ``ref_dirs``: NSGA-III's reference directions (None for NSGA-II).
    """

    genomes: np.ndarray
    values: np.ndarray
    names: tuple
    evaluations: np.ndarray
    fronts: tuple
    algorithm: str
    ref_dirs: np.ndarray | None

    def hypervolumes(self, reference, ideal=None) -> np.ndarray:
        """The hypervolume of the front after each generation (:func:`hypervolume`; plot it against
        :attr:`evaluations`)."""
        return np.array([hypervolume(front, reference, ideal) for front in self.fronts])


def _reference_directions(k: int, population: int) -> np.ndarray:
    """Das-Dennis directions from pymoo, the most partitions whose number of directions fits ``population``."""
    from pymoo.util.ref_dirs import get_reference_directions

    partitions = 1
    while len(get_reference_directions("das-dennis", k, n_partitions=partitions + 1)) <= population:
        partitions += 1
    return get_reference_directions("das-dennis", k, n_partitions=partitions)


def pymoo_search(objectives: Objectives, algorithm: str = "nsga2", population: int = 100, generations: int = 100,
                 seed: int = 0) -> ParetoSearchResult:
    """NSGA-II or NSGA-III from pymoo on 2 or 3 objectives (additive or network-level).

    Encoding and operators as :func:`imckit.search.genetic.nsga2_search`: variable ``l`` is the position of layer
    ``l``'s configuration among its allowed ones, an integer handled with pymoo's float SBX crossover and
    polynomial mutation plus ``RoundingRepair`` and sampled with ``IntegerRandomSampling``. A disallowed
    configuration is therefore never proposed: it is repaired away by the encoding, not penalized. NSGA-III
    uses pymoo's Das-Dennis reference directions (``get_reference_directions``) with as many partitions as fit
    ``population``. Network-level functions are called once per distinct genome (memoized).

    Seeded through pymoo (``minimize(..., seed=seed)``): the same seed gives the same front. After each generation
    the non-dominated set of every genome evaluated so far (offspring included) and pymoo's evaluation count are
    recorded (:attr:`ParetoSearchResult.fronts`, :attr:`ParetoSearchResult.evaluations`).
    """
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.algorithms.moo.nsga3 import NSGA3
    from pymoo.core.callback import Callback
    from pymoo.core.problem import Problem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling
    from pymoo.optimize import minimize

    objectives = _check_objectives(objectives)
    algorithm = check_choice(algorithm, "algorithm", ALGORITHMS)
    population = check_int(population, "population", 4)
    generations = check_count(generations, "generations")
    seed = check_seed(seed)
    choices = objectives.choices
    upper = np.array([len(c) - 1 for c in choices])
    memo: dict = {}

    def genomes_of(x):
        index = np.clip(np.rint(x).astype(int), 0, upper)
        return np.stack([choices[l][index[:, l]] for l in range(len(choices))], axis=1)

    def values_of(genomes):
        missing = [g for g in map(tuple, genomes) if g not in memo]
        if missing:
            unique = list(dict.fromkeys(missing))
            for g, v in zip(unique, objectives.evaluate(np.array(unique))):
                memo[g] = v
        return np.array([memo[g] for g in map(tuple, genomes)])

    class Space(Problem):
        def __init__(self):
            super().__init__(n_var=objectives.layers, n_obj=objectives.k, xl=np.zeros(objectives.layers),
                             xu=upper.astype(float), vtype=int)

        def _evaluate(self, x, out, *args, **kwargs):
            out["F"] = values_of(genomes_of(x))

    archive = {"g": np.zeros((0, objectives.layers), dtype=np.int64), "f": np.zeros((0, objectives.k))}
    fronts, evaluations = [], []

    class Record(Callback):
        def notify(self, algorithm):
            for pop in (algorithm.pop, algorithm.off):
                if pop is not None and len(pop):
                    archive["g"] = np.concatenate([archive["g"], genomes_of(pop.get("X"))])
                    archive["f"] = np.concatenate([archive["f"], pop.get("F")])
            keep = nondominated(archive["f"])
            archive["g"], archive["f"] = archive["g"][keep], archive["f"][keep]
            fronts.append(archive["f"].copy())
            evaluations.append(algorithm.evaluator.n_eval)

    operators = dict(sampling=IntegerRandomSampling(),
                     crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
                     mutation=PM(eta=20, vtype=float, repair=RoundingRepair()), eliminate_duplicates=True)
    ref_dirs = None
    if algorithm == "nsga2":
        method = NSGA2(pop_size=population, **operators)
    else:
        ref_dirs = _reference_directions(objectives.k, population)
        method = NSGA3(ref_dirs=ref_dirs, pop_size=population, **operators)
    minimize(Space(), method, ("n_gen", generations), seed=seed, callback=Record(), verbose=False)
    order = np.lexsort(archive["f"].T[::-1])
    return ParetoSearchResult(archive["g"][order], archive["f"][order], objectives.names,
                              np.array(evaluations, dtype=np.int64), tuple(fronts), algorithm, ref_dirs)

