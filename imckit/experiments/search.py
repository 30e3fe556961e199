"""Chapter "Genetic search over per-layer configurations" (seed paper 000, Sec. IV-V, Figs. 5-7).

:func:`run` reads the shared sensitivity table (:func:`imckit.experiments.sensitivity.table_for`), computes
the exact Pareto front, runs the paper's genetic search and pymoo's NSGA-II (both cached:
:func:`imckit.experiments.search_steps.search_front`, the module that holds the computation and nothing else,
so editing this module's sentences invalidates no front), describes how the search behaved (selection
pressure, rates), splits its front into the paper's regions A-C and checks the surrogate (the summed table)
against a simulation of whole networks (cached by :func:`imckit.search.simulate.simulate_genomes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from imckit.core.profiles import check_profile
from imckit.core.validate import check_count, check_int, check_number, check_seed
from imckit.experiments.checks import check_config, check_device, check_items, check_override
from imckit.experiments.search_steps import search_front
from imckit.experiments.sensitivity import TableConfig, TableInputs, table_for
from imckit.search.genetic import (GeneticSearchConfig, GeneticSearchResult, evaluations_to_reach,
                                   exact_pareto_front, front_regions, hypervolume, reference_point)
from imckit.search.simulate import GenomeSimulation, rank_agreement, simulate_genomes

__all__ = ["SearchConfig", "SearchResult", "search_front", "on_front_count", "top_share", "never_selected_share",
           "reach_text", "format_or_na",
           "uniform_references", "region_summary", "favourite_configs", "spread_picks", "rank_agreement_text",
           "median_ratio_offset", "run", "rate_fluctuation", "scorecard"]

# Front genomes simulated and error draws per genome, per profile.
SIMULATION_PRESETS = {"smoke": (4, 2), "default": (24, 10), "paper": (48, 100)}


@dataclass(frozen=True)
class SearchConfig:
    """The chapter's settings.

    Attributes:
        table: the shared sensitivity table's settings (the profile's: the same table as the chapter
            "Layer sensitivity").
        genetic: settings of the paper's genetic search; NSGA-II runs with the same population and
            generations.
        regions: (A, B) upper limits of the predicted loss change (%) of the front's regions A and B;
            region C lies above B.
        simulated_genomes: front genomes simulated to check the surrogate, spread evenly along the front
            (1 to 100,000).
        simulation_repetitions: error draws per simulated genome (1 to 100,000).
        hypervolume_target: share of the exact front's hypervolume a search must reach (0-1) to count as
            having found the front.
        seed: seed of the searches and the simulations.
    """

    table: TableConfig
    genetic: GeneticSearchConfig = field(default_factory=GeneticSearchConfig)
    regions: tuple[float, float] = (1.0, 50.0)
    simulated_genomes: int = 24
    simulation_repetitions: int = 10
    hypervolume_target: float = 0.99
    seed: int = 0

    def __post_init__(self):
        check_config(self.table, "table", TableConfig)
        check_config(self.genetic, "genetic", GeneticSearchConfig)
        regions = check_items(self.regions, "regions", lambda v, n: check_number(v, n),
                              allowed="two finite limits (A, B) with A <= B")
        if len(regions) != 2 or regions[0] > regions[1]:
            raise ValueError(f"regions must be two finite limits (A, B) with A <= B; got {self.regions!r}")
        object.__setattr__(self, "regions", regions)
        for name in ("simulated_genomes", "simulation_repetitions"):
            object.__setattr__(self, name, check_count(getattr(self, name), name, 1, 100_000))
        object.__setattr__(self, "hypervolume_target", check_number(self.hypervolume_target, "hypervolume_target",
                                                                    0, 1, low_open=True))
        object.__setattr__(self, "seed", check_seed(self.seed))

    @classmethod
    def preset(cls, profile: str, seed: int = 0, population: int = 100, generations: int = 100,
               region_a_max: float = 1.0, region_b_max: float = 50.0, simulated_genomes: int = 0,
               simulation_repetitions: int = 0, network: str = "switchable") -> "SearchConfig":
        """The profile's settings: the profile's table, and 4 genomes x 2 draws (``smoke``), 24 x 10
        (``default``) or 48 x 100 (``paper``) simulated. ``simulated_genomes`` and
        ``simulation_repetitions`` other than 0 replace the profile's. ``network``: the table's network
        (:data:`imckit.experiments.sensitivity.NETWORKS`)."""
        genomes, repetitions = SIMULATION_PRESETS[check_profile(profile)]
        seed = check_seed(seed)
        population = check_int(population, "population", 4, 100_000)
        generations = check_count(generations, "generations", 1, 100_000)
        region_a_max = check_number(region_a_max, "region_a_max")
        region_b_max = check_number(region_b_max, "region_b_max")
        if region_b_max < region_a_max:
            raise ValueError(f"region_b_max must be a finite number >= region_a_max ({region_a_max!r}); got "
                             f"{region_b_max!r}")
        simulated_genomes = check_override(simulated_genomes, "simulated_genomes", 1, 100_000)
        simulation_repetitions = check_override(simulation_repetitions, "simulation_repetitions", 1, 100_000)
        return cls(TableConfig.preset(profile, seed, network),
                   GeneticSearchConfig(population=population, generations=generations),
                   (region_a_max, region_b_max), simulated_genomes or genomes,
                   simulation_repetitions or repetitions, seed=seed)


# ------------------------------------------------------------------------------------------------------
# small decisions, each unit-tested


def on_front_count(found, exact, decimals: int = 9) -> int:
    """How many points of ``found`` (K, 2) lie on the ``exact`` front (equal after rounding to ``decimals``)."""
    decimals = check_int(decimals, "decimals", 0, 15)
    exact_set = {tuple(o) for o in np.round(np.asarray(exact, dtype=float), decimals)}
    return sum(tuple(o) in exact_set for o in np.round(np.asarray(found, dtype=float), decimals))


def top_share(counts, parts: int = 10) -> float:
    """The share (%) of all selections that the most selected ``1/parts`` of the individuals (at least one)
    received (``parts=10``: the most selected tenth)."""
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 1 or len(counts) == 0 or counts.sum() <= 0:
        raise ValueError("counts must be a non-empty 1-D array of selections with a positive sum")
    parts = check_count(parts, "parts")
    top = max(1, len(counts) // parts)
    return 100 * np.sort(counts)[::-1][:top].sum() / counts.sum()


def never_selected_share(counts) -> float:
    """The share (%) of the individuals of a generation that were never picked as a parent (``counts``: how
    often each was picked)."""
    counts = np.asarray(counts)
    if counts.ndim != 1 or len(counts) == 0:
        raise ValueError("counts must be a non-empty 1-D array of selections")
    return 100 * float((counts == 0).mean())


def format_or_na(value, spec: str = ".1f") -> str:
    """``value`` formatted with ``spec``, or ``"n/a"`` for ``None`` (nothing qualified)."""
    return "n/a" if value is None else format(value, spec)


def reach_text(evaluations: int | None, budget: int) -> str:
    """``"2,863"`` evaluations, or ``"more than 8,600"`` when the search never reached the target."""
    return f"{evaluations:,}" if evaluations else f"more than {int(budget):,}"


def uniform_references(memory, loss, labels, bits=(8, 4, 2)) -> dict[str, tuple[float, float]]:
    """(memory, predicted loss change) of the uniform SLC networks: every layer at ``Q<b> MLC0``."""
    references = {}
    for b in bits:
        j = list(labels).index(f"Q{b} MLC0")
        references[f"uniform {b}-bit"] = (float(np.nansum(memory[:, j])), float(np.nansum(loss[:, j])))
    return references


def region_summary(objectives, regions, reference_loss: float) -> dict:
    """Points per region, the smallest memory in region A and on the whole front, and the smallest memory
    of a front point whose predicted loss is at most ``reference_loss`` (``None`` where nothing qualifies).
    """
    objectives, regions = np.asarray(objectives, dtype=float), np.asarray(regions)
    a_mask = regions == "A"
    below = objectives[:, 1] <= reference_loss
    return {"counts": {r: int((regions == r).sum()) for r in "ABC"},
            "a_min_memory": float(objectives[a_mask, 0].min()) if a_mask.any() else None,
            "min_memory": float(objectives[:, 0].min()),
            "best_at_reference": float(objectives[below, 0].min()) if below.any() else None}


def favourite_configs(genomes, regions, layer_names, labels):
    """Each layer's most frequent configuration among the front genomes of each region (``"-"`` for an
    empty region); ties go to the lower index."""
    import pandas as pd

    genomes, regions = np.asarray(genomes), np.asarray(regions)
    columns = {}
    for r in "ABC":
        mask = regions == r
        columns[f"most frequent in {r}"] = [
            labels[int(np.bincount(genomes[mask, layer], minlength=len(labels)).argmax())] if mask.any() else "-"
            for layer in range(len(layer_names))]
    return pd.DataFrame(columns, index=[f"{i + 1} {n}" for i, n in enumerate(layer_names)])


def spread_picks(size: int, count: int) -> np.ndarray:
    """Up to ``count`` indices spread evenly over ``range(size)`` (first and last included, no repeats)."""
    size, count = check_count(size, "size"), check_count(count, "count")
    return np.unique(np.linspace(0, size - 1, min(count, size)).round().astype(int))


def rank_agreement_text(predicted, simulated) -> str:
    """Spearman's rho with the sample size, ``"0.943 (n = 12)"``, or ``"n/a (fewer than 3 genomes)"``."""
    if len(predicted) < 3:
        return "n/a (fewer than 3 genomes)"
    agreement = rank_agreement(predicted, simulated)
    return f"{agreement['spearman']:.3f} (n = {agreement['n']})"


def median_ratio_offset(predicted, simulated) -> float | None:
    """The median of ``100 * ((simulated + 100) / (predicted + 100) - 1)``: how far, in % of the loss, the
    simulated loss lies from the predicted one (loss changes in %); ``None`` for no genome."""
    predicted, simulated = np.asarray(predicted, dtype=float), np.asarray(simulated, dtype=float)
    if len(predicted) == 0:
        return None
    return float(np.median(100 * ((simulated + 100) / (predicted + 100) - 1)))


# ------------------------------------------------------------------------------------------------------
# the chapter


@dataclass(frozen=True, eq=False)
class SearchResult:
    """What the chapter shows.

    Attributes:
        config: the configuration it ran with.
        inputs: the shared table with its images.
        memory, loss: the (layers, configurations) objective tables (NaN: not allowed).
        exact_genomes, exact: the exact Pareto front (genomes and objectives).
        exact_hypervolume: its hypervolume against ``reference``.
        reference: the hypervolume reference point.
        ga, nsga: the genetic search's and NSGA-II's results.
        regions: region ``"A"``/``"B"``/``"C"`` of every point of the genetic search's front.
        references: (memory, predicted loss) of the uniform 8-, 4- and 2-bit networks.
        picks: indices of the simulated front genomes.
        simulation: their simulation.
        from_cache: whether each search came from the cache (``{"GA": ..., "NSGA-II": ...}``).
    """

    config: SearchConfig
    inputs: TableInputs
    memory: np.ndarray
    loss: np.ndarray
    exact_genomes: np.ndarray
    exact: np.ndarray
    exact_hypervolume: float
    reference: np.ndarray
    ga: GeneticSearchResult
    nsga: GeneticSearchResult
    regions: np.ndarray
    references: dict
    picks: np.ndarray
    simulation: GenomeSimulation
    from_cache: dict

    @property
    def table(self):
        return self.inputs.table

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.table.configs]

    @property
    def space(self) -> int:
        """Genomes in the search space (allowed configurations per layer, multiplied)."""
        return int(np.prod((~np.isnan(self.memory)).sum(axis=1)))

    @property
    def target(self) -> float:
        """The hypervolume a search must reach."""
        return self.config.hypervolume_target * self.exact_hypervolume

    @property
    def evaluations(self) -> int:
        """Genomes the genetic search evaluated."""
        return int(self.ga.history["evaluations"][-1])

    def hypervolume_share(self, result: GeneticSearchResult) -> float:
        """A search's final hypervolume in % of the exact front's."""
        return 100 * float(result.history["hypervolume"][-1]) / self.exact_hypervolume

    def reach(self, result: GeneticSearchResult) -> int | None:
        """Evaluations a search needed to reach :attr:`target` (``None``: never)."""
        return evaluations_to_reach(result.history, self.target)

    @property
    def on_exact(self) -> int:
        """Points of the genetic search's front that lie on the exact front."""
        return on_front_count(self.ga.objectives, self.exact)

    @property
    def summary(self) -> dict:
        """:func:`region_summary` of the genetic search's front against the uniform 4-bit network."""
        return region_summary(self.ga.objectives, self.regions, self.references["uniform 4-bit"][1])

    def favourites(self):
        """:func:`favourite_configs` of the genetic search's front."""
        return favourite_configs(self.ga.genomes, self.regions, self.table.layers, self.labels)

    def front_frame(self):
        """The genetic search's front: genome, memory, predicted loss change and region per point."""
        import pandas as pd

        return pd.DataFrame({"genome": [str(list(map(int, g))) for g in self.ga.genomes],
                             "memory (%)": self.ga.objectives[:, 0],
                             "predicted loss change (%)": self.ga.objectives[:, 1], "region": self.regions})

    @property
    def predicted(self) -> np.ndarray:
        """Predicted loss change (%) of the simulated genomes."""
        return self.ga.objectives[self.picks, 1]

    @property
    def moderate(self) -> np.ndarray:
        """Which simulated genomes lie in regions A and B (predicted loss change at most the B limit)."""
        return self.predicted <= self.config.regions[1]

    def agreement(self) -> dict:
        """:func:`imckit.search.simulate.rank_agreement` of predicted against simulated loss change."""
        return rank_agreement(self.predicted, self.simulation.loss_change)

    def simulated_frame(self):
        """The simulated genomes with their memory and predicted loss change."""
        frame = self.simulation.frame()
        frame.insert(2, "memory (%)", self.ga.objectives[self.picks, 0])
        frame.insert(3, "predicted loss change (%)", self.predicted)
        return frame


def run(baseline, config: SearchConfig, device: str = "cpu") -> SearchResult:
    """The chapter's computations on ``baseline`` (see the module docstring)."""
    check_config(config, "config", SearchConfig)
    check_device(device)
    inputs = table_for(baseline, config.table, device=device)
    table = inputs.table
    memory, loss = table.objectives()
    exact_genomes, exact = exact_pareto_front(memory, loss)
    reference = reference_point(memory, loss)
    ga, ga_cached = search_front(memory, loss, config.seed, config.genetic, "genetic")
    nsga, nsga_cached = search_front(memory, loss, config.seed, config.genetic, "nsga2")
    regions = front_regions(ga.objectives[:, 1], config.regions)
    references = uniform_references(memory, loss, [c.label for c in table.configs])
    picks = spread_picks(len(ga.genomes), config.simulated_genomes)
    simulation = simulate_genomes(inputs.model, inputs.images, ga.genomes[picks], table.configs,
                                  repetitions=config.simulation_repetitions, seed=config.seed, quant=inputs.quant,
                                  progress=False, device=device)
    return SearchResult(config, inputs, memory, loss, exact_genomes, exact, hypervolume(exact, reference),
                        reference, ga, nsga, regions, references, picks, simulation,
                        {"GA": ga_cached, "NSGA-II": nsga_cached})


def rate_fluctuation(rates, share: float = 0.2) -> dict[str, float]:
    """How much a self-adaptive rate (population mean per generation) moves from one generation to the next
    early and late in the search: the standard deviation of its generation-to-generation changes over the
    first and the last ``share`` of the generations (the paper's Fig. 5b: rates "fluctuate" early and
    "stabilize" near convergence). Needs at least 3 generations in each part."""
    share = check_number(share, "share", 0, 0.5, low_open=True)
    rates = np.asarray(rates, dtype=float)
    part = int(len(rates) * share)
    if part < 3:
        raise ValueError(f"rates must cover at least {int(np.ceil(3 / share))} generations for share {share}; "
                         f"got {len(rates)}")
    return {"early generations": float(np.std(np.diff(rates[:part]))),
            "late generations": float(np.std(np.diff(rates[-part:])))}


def scorecard(result, baseline, profile: str):
    """The chapter's "Paper vs this kit" table: the GA's schedules and how its self-adaptive rates settle."""
    from imckit.experiments.setting import FEFET_DEVICE, kit_setting
    from imckit.papers import Scorecard

    card = Scorecard("search", profile=profile, setting=kit_setting(baseline, device=FEFET_DEVICE))
    history = result.ga.history
    for key, name in (("000/ga-tournament-grows", "tournament"), ("000/ga-elite-grows", "elite")):
        first, last = float(history[name][0]), float(history[name][-1])
        card.add(key, {"first generation": first, "last generation": last},
                 kit_text=f"{first:g} → {last:g} (first → last generation)")
    for key, name in (("000/ga-mutation-stabilizes", "mutation"), ("000/ga-crossover-stabilizes", "crossover")):
        try:
            moves = rate_fluctuation(history[name])
        except ValueError as error:
            card.add(key, None, reason=f"too few generations: {error}")
            continue
        card.add(key, moves, kit_text=f"std of changes {moves['early generations']:.2g} early, "
                                      f"{moves['late generations']:.2g} late")
    return card
