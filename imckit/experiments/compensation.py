"""Chapter "Validation and one-epoch compensation (Table II)" (seed paper 000, Sec. V, Table II, Fig. 8).

:func:`run` reads the shared sensitivity table and the genetic search's front (both cached, the same as
in the chapters "Layer sensitivity" and "Genetic search"), selects one front solution per memory target
(:func:`imckit.search.simulate.select_solutions`), simulates the solutions and the uniform 8-, 4- and
2-bit networks on held-out images (cached by :func:`imckit.search.simulate.simulate_genomes`) and
compensates each solution's error patterns with one epoch of retraining (cached:
:func:`imckit.experiments.compensation_steps.compensation_runs`, the module that holds the computation and
nothing else, so editing this module's sentences invalidates no run). :func:`table_two` assembles the
paper's Table II; :func:`check_claims` turns it into the paper's three claims.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from imckit.compensation.compensate import CompensationConfig
from imckit.core.data import ImageTensors
from imckit.core.profiles import check_profile
from imckit.experiments.compensation_steps import CompensationRun, compensation_runs
from imckit.experiments.search_steps import search_front
from imckit.experiments.sensitivity import TableConfig, TableInputs, table_for
from imckit.search.genetic import GeneticSearchConfig, GeneticSearchResult
from imckit.search.simulate import (PAPER_TABLE2_KILO_DEVICES, GenomeSimulation, genome_configs, genome_devices,
                                    paper_memory_targets, select_solutions, simulate_genomes)

__all__ = ["CompensationChapterConfig", "CompensationChapterResult", "CompensationRun", "compensation_runs",
           "validation_set", "uniform_genomes", "table_two", "table_texts", "Claims", "check_claims", "count_word",
           "held_out_text", "paper_memory_comparison", "run"]

# Per profile: simulated error draws per solution, compensated error patterns per solution, training
# images of the compensation epoch (None: all) and held-out validation images (None: all held out).
PRESETS = {
    "smoke": {"simulation_repetitions": 2, "patterns": 1, "train_images": 512, "validation_images": 256},
    "default": {"simulation_repetitions": 40, "patterns": 3, "train_images": 10_000, "validation_images": 1000},
    "paper": {"simulation_repetitions": 400, "patterns": 400, "train_images": None, "validation_images": None},
}


@dataclass(frozen=True)
class CompensationChapterConfig:
    """The chapter's settings.

    Attributes:
        table: the shared sensitivity table's settings (the profile's).
        search: the genetic search whose front the solutions are selected from (the defaults: the same
            front as the chapter "Genetic search" with its default population and generations).
        memory_targets: memory caps (% of the uniform 8-bit network's devices), one selected solution each
            (default: the memory of the paper's six solutions relative to its 8-bit network).
        simulation_repetitions: error draws per simulated network (the paper: 400).
        patterns: error patterns compensated per solution (the paper: 400).
        validation_images: held-out test images (not seen by the table or the search) the networks are
            simulated and compensated on (``None``: all held-out images; when the table used the whole test
            set nothing is held out and the table's images are used).
        training: the compensation epoch (:class:`imckit.compensation.compensate.CompensationConfig`:
            training images, learning rate, fresh write errors, ...).
        accuracy_drop: accuracy points (absolute, in %) a solution may lose against the uniform 8-bit
            network and still count as close to it (the paper's claim: at most 3).
        seed: seed of the search, the simulations and the compensation runs.
    """

    table: TableConfig
    search: GeneticSearchConfig = field(default_factory=GeneticSearchConfig)
    memory_targets: tuple[float, ...] = field(default_factory=paper_memory_targets)
    simulation_repetitions: int = 40
    patterns: int = 3
    validation_images: int | None = 1000
    training: CompensationConfig = field(default_factory=lambda: CompensationConfig(train_images=10_000))
    accuracy_drop: float = 3.0
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.table, TableConfig):
            raise ValueError(f"table must be a TableConfig; got {type(self.table).__name__}")
        if not isinstance(self.search, GeneticSearchConfig):
            raise ValueError(f"search must be a GeneticSearchConfig; got {type(self.search).__name__}")
        if not isinstance(self.training, CompensationConfig):
            raise ValueError(f"training must be a CompensationConfig; got {type(self.training).__name__}")
        targets = tuple(self.memory_targets)
        if not targets or not all(isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t <= 1000
                                  for t in targets):
            raise ValueError(f"memory_targets must be one or more numbers in (0, 1000] (% of the uniform "
                             f"8-bit network); got {self.memory_targets!r}")
        object.__setattr__(self, "memory_targets", targets)
        for name in ("simulation_repetitions", "patterns"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
        if self.validation_images is not None and (isinstance(self.validation_images, bool) or not isinstance(
                self.validation_images, int) or self.validation_images < 1):
            raise ValueError(f"validation_images must be None or an integer >= 1; got {self.validation_images!r}")
        if isinstance(self.accuracy_drop, bool) or not isinstance(self.accuracy_drop, (int, float)) \
                or not 0 <= self.accuracy_drop <= 100:
            raise ValueError(f"accuracy_drop must be a number in [0, 100] (accuracy points); "
                             f"got {self.accuracy_drop!r}")

    @classmethod
    def preset(cls, profile: str, seed: int = 0, memory_targets=(), simulation_repetitions: int = 0,
               patterns: int = 0, train_images: int = 0, compensation_lr: float = 0.01,
               fresh_write_errors: bool = False, validation_images: int = 0) -> "CompensationChapterConfig":
        """The profile's settings (:data:`PRESETS`): ``smoke`` 2 draws, 1 pattern, 512 training and 256
        validation images; ``default`` 40, 3, 10,000 and 1,000; ``paper`` 400, 400, all and all. Counts other
        than 0 and a non-empty ``memory_targets`` replace the profile's."""
        preset = PRESETS[check_profile(profile)]
        for name, value in (("simulation_repetitions", simulation_repetitions), ("patterns", patterns),
                            ("train_images", train_images), ("validation_images", validation_images)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0 (0: the profile's); got {value!r}")
        training = CompensationConfig(train_images=train_images or preset["train_images"], lr=compensation_lr,
                                      fresh_write_errors=fresh_write_errors)
        return cls(TableConfig.preset(profile, seed), GeneticSearchConfig(),
                   tuple(memory_targets) or paper_memory_targets(),
                   simulation_repetitions or preset["simulation_repetitions"], patterns or preset["patterns"],
                   validation_images or preset["validation_images"], training, seed=seed)


# ------------------------------------------------------------------------------------------------------
# images and genomes (the cached compensation runs are imckit.experiments.compensation_steps')


def validation_set(inputs: TableInputs, count: int | None, seed: int) -> ImageTensors:
    """Images the chapter validates on: ``count`` of the table's held-out images (all of them for ``None``
    or more than there are), drawn with ``seed``; the table's own images when nothing is held out."""
    if inputs.held_out is None:
        return inputs.images
    held_out = inputs.held_out
    return held_out.subset(min(count, len(held_out)) if count else None, seed=seed)


def uniform_genomes(labels, layers: int, bits=(8, 4, 2)) -> dict[str, np.ndarray]:
    """The uniform SLC networks as genomes: ``{"Full 8": [index of "Q8 MLC0"] * layers, ...}``."""
    labels = list(labels)
    return {f"Full {b}": np.array([labels.index(f"Q{b} MLC0")] * layers) for b in bits}


# ------------------------------------------------------------------------------------------------------
# Table II and the claims


def table_two(genomes: dict, devices: dict, before: dict, after: dict):
    """The paper's Table II for this network.

    Args:
        genomes: name -> genome, the uniform networks ``"Full 8"``, ``"Full 4"``, ``"Full 2"`` first.
        devices: name -> memory in devices.
        before: name -> accuracy (%) per simulated draw, without retraining.
        after: name -> accuracy (%) per compensated pattern (solutions only; missing: not compensated).

    Returns:
        A pandas DataFrame, one row per genome: its variables, memory (kilo devices), the memory saved
        against each uniform network (%), the mean accuracy without and with retraining (NaN: none).
    """
    import pandas as pd

    for needed in ("Full 8", "Full 4", "Full 2"):
        if needed not in devices:
            raise ValueError(f"devices must include the uniform network {needed!r}")
    rows = []
    for name, genome in genomes.items():
        n = devices[name]
        rows.append({"variables": str(list(map(int, genome))), "memory (kilo devices)": n / 1000,
                     **{f"vs Full {b} (%)": 100 * (1 - n / devices[f"Full {b}"]) for b in (8, 4, 2)},
                     "accuracy w/o retraining (%)": float(np.mean(before[name])),
                     "accuracy w/ retraining (%)": float(np.mean(after[name])) if name in after else np.nan})
    return pd.DataFrame(rows, index=list(genomes))


def table_texts(table, solutions) -> dict[str, str]:
    """The texts of a :func:`table_two` frame by ``"<row>_<column>"``, ``<row>`` the row's name without spaces
    in lower case: ``before`` and ``after`` (only for the compensated ``solutions``) retraining, ``vs8`` and
    ``vs4`` (memory saved against Full 8 and Full 4), in % with one decimal."""
    columns = {"before": "accuracy w/o retraining (%)", "after": "accuracy w/ retraining (%)",
               "vs8": "vs Full 8 (%)", "vs4": "vs Full 4 (%)"}
    texts = {}
    for name, row in table.iterrows():
        key = str(name).lower().replace(" ", "")
        for suffix, column in columns.items():
            if suffix != "after" or name in solutions:
                texts[f"{key}_{suffix}"] = f"{row[column]:.1f}"
    return texts


_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def count_word(n: int) -> str:
    """``6 -> "six"`` up to ten, digits beyond."""
    return _WORDS[n] if 0 <= n < len(_WORDS) else f"{n:,}"


def held_out_text(held_out: bool) -> str:
    """What the validation images are, for the chapter's sentence."""
    return ("held-out test images that neither the table nor the search saw" if held_out
            else "the test images of the table (the whole test set)")


@dataclass(frozen=True)
class Claims:
    """The paper's three claims of Sec. V, checked on a Table II.

    Attributes:
        accuracy_8, accuracy_4: the uniform 8- and 4-bit networks' accuracy (%) without retraining.
        close_to_8: the largest memory saving (% against Full 8) of a solution within ``accuracy_drop``
            points of Full 8 before retraining, as ``"73.2 % (Solution 4)"``, or a sentence saying none is.
        best_after: the best accuracy after compensation, ``"74.6 % (Solution 5)"``.
        matched_4: the largest saving against Full 4 of a solution that saves memory against it and is at
            least as accurate after compensation, or a sentence saying none is.
        gain_min, gain_max: the smallest and largest change of a solution's mean accuracy by compensation
            (accuracy points).
    """

    accuracy_8: float
    accuracy_4: float
    close_to_8: str
    best_after: str
    matched_4: str
    gain_min: float
    gain_max: float


def check_claims(table, solutions, accuracy_drop: float = 3.0) -> Claims:
    """The claims (see :class:`Claims`) on a :func:`table_two` frame; ``solutions`` names its compensated
    rows."""
    names = list(solutions)
    if not names:
        raise ValueError("solutions must name at least one row of the table")
    before, after = "accuracy w/o retraining (%)", "accuracy w/ retraining (%)"
    acc8, acc4 = float(table.loc["Full 8", before]), float(table.loc["Full 4", before])
    rows = table.loc[names]
    within = rows[rows[before] >= acc8 - accuracy_drop]
    close = (f"{within['vs Full 8 (%)'].max():.1f} % ({within['vs Full 8 (%)'].idxmax()})" if len(within)
             else f"none of the {count_word(len(names))} solutions")
    best = f"{rows[after].max():.1f} % ({rows[after].idxmax()})"
    matched = rows[(rows[after] >= acc4) & (rows["vs Full 4 (%)"] > 0)]
    matched_text = (f"{matched['vs Full 4 (%)'].max():.1f} % ({matched['vs Full 4 (%)'].idxmax()})" if len(matched)
                    else "none: no selected solution that saves memory against it is as accurate after "
                         "compensation")
    gains = rows[after] - rows[before]
    return Claims(acc8, acc4, close, best, matched_text, float(gains.min()), float(gains.max()))


def paper_memory_comparison(devices: dict, paper=PAPER_TABLE2_KILO_DEVICES):
    """Memory of the paper's networks in % of its Full 8 next to this network's in % of its own Full 8
    (NaN for a paper network this one has no counterpart of, e.g. with fewer memory targets)."""
    import pandas as pd

    paper = pd.Series(paper)
    ours = [100 * devices[n] / devices["Full 8"] if n in devices else np.nan for n in paper.index]
    return pd.DataFrame({"paper memory (% of its Full 8)": 100 * paper / paper["Full 8"],
                         "this network (% of its Full 8)": ours}, index=paper.index)


# ------------------------------------------------------------------------------------------------------
# the chapter


@dataclass(frozen=True, eq=False)
class CompensationChapterResult:
    """What the chapter shows.

    Attributes:
        config: the configuration it ran with.
        inputs: the shared table with its images.
        front: the genetic search's front.
        picks: the selected front indices, one per memory target.
        genomes: name -> genome: ``"Full 8"``, ``"Full 4"``, ``"Full 2"``, then ``"Solution 1"`` ...
        devices: name -> memory in devices.
        validation: the images simulated and compensated on.
        simulation: the simulation of every genome (in the order of ``genomes``).
        runs: solution name -> its compensation runs.
        train_images: training images per compensation epoch.
    """

    config: CompensationChapterConfig
    inputs: TableInputs
    front: GeneticSearchResult
    picks: np.ndarray
    genomes: dict
    devices: dict
    validation: ImageTensors
    simulation: GenomeSimulation
    runs: dict
    train_images: int

    @property
    def solutions(self) -> list[str]:
        return list(self.runs)

    @property
    def held_out(self) -> bool:
        """Whether the validation images are disjoint from the table's."""
        return self.inputs.held_out is not None

    def selection(self):
        """The selected solutions: memory target and selected memory (% of Full 8), predicted loss change,
        variables."""
        import pandas as pd

        full8 = self.devices["Full 8"]
        return pd.DataFrame({"memory target (% of Full 8)": self.config.memory_targets,
                             "selected memory (% of Full 8)": [100 * self.devices[n] / full8 for n in self.solutions],
                             "predicted loss change (%)": self.front.objectives[self.picks, 1],
                             "variables": [str(list(map(int, self.genomes[n]))) for n in self.solutions]},
                            index=self.solutions)

    @property
    def simulated_accuracy(self) -> dict[str, np.ndarray]:
        """name -> accuracy (%) per simulated draw."""
        return {name: 100 * self.simulation.accuracy[k] for k, name in enumerate(self.genomes)}

    @property
    def compensated_accuracy(self) -> dict[str, np.ndarray]:
        """solution -> accuracy (%) per compensated pattern."""
        return {name: 100 * run.result.after_accuracy for name, run in self.runs.items()}

    @property
    def uniform_accuracy(self) -> dict[int, float]:
        """Bits -> the mean accuracy (%) of the uniform network ``"Full <bits>"`` over its simulated draws."""
        return {bits: float(np.mean(self.simulated_accuracy[f"Full {bits}"])) for bits in (8, 4, 2)}

    @property
    def baseline_accuracy(self) -> float:
        """The error-free uniform 12-bit network's accuracy on the validation images (%)."""
        return 100 * float(self.simulation.baseline_accuracy)

    def table_two(self):
        return table_two(self.genomes, self.devices, self.simulated_accuracy, self.compensated_accuracy)

    def table_texts(self) -> dict[str, str]:
        """The chapter's glued texts of :meth:`table_two`: ``"<row>_before"``, ``"<row>_after"`` (solutions
        only), ``"<row>_vs8"`` and ``"<row>_vs4"`` for each row, ``<row>`` its name without spaces in lower
        case (``"full8"``, ``"solution1"``), each value with one decimal."""
        return table_texts(self.table_two(), self.solutions)

    def claims(self) -> Claims:
        return check_claims(self.table_two(), self.solutions, self.config.accuracy_drop)

    @property
    def faulty_share(self) -> tuple[float, float]:
        """The mean and the largest share (%) of stored weights program-verify found faulty."""
        shares = [run.result.faulty_share for run in self.runs.values()]
        return 100 * float(np.mean([s.mean() for s in shares])), 100 * float(max(s.max() for s in shares))

    @property
    def seconds_per_pattern(self) -> float:
        """Seconds one compensated pattern took (both evaluations included) when the runs were computed."""
        return sum(run.seconds for run in self.runs.values()) / (self.config.patterns * len(self.runs))

    def paper_hours(self, train_set_size: int, patterns: int = 400) -> float:
        """Hours the paper's setting (``patterns`` per solution, each on ``train_set_size`` images) would take
        at :attr:`seconds_per_pattern`."""
        return self.seconds_per_pattern * train_set_size / self.train_images * patterns * len(self.runs) / 3600

    def memory_comparison(self):
        return paper_memory_comparison(self.devices)


def run(baseline, config: CompensationChapterConfig, device: str = "cpu") -> CompensationChapterResult:
    """The chapter's computations on ``baseline`` (see the module docstring)."""
    if not isinstance(config, CompensationChapterConfig):
        raise ValueError(f"config must be a CompensationChapterConfig; got {type(config).__name__}")
    inputs = table_for(baseline, config.table, device=device)
    table = inputs.table
    memory, loss = table.objectives()
    front, _ = search_front(memory, loss, config.seed, config.search, "genetic")
    labels = [c.label for c in table.configs]
    uniform = uniform_genomes(labels, len(table.layers))
    devices = {k: int(genome_devices(table.weights, table.configs, g)[0]) for k, g in uniform.items()}
    front_devices = genome_devices(table.weights, table.configs, front.genomes)
    picks = select_solutions(front_devices, config.memory_targets, reference=devices["Full 8"])
    solutions = {f"Solution {k}": front.genomes[i] for k, i in enumerate(picks, start=1)}
    devices.update({name: int(front_devices[i]) for name, i in zip(solutions, picks)})
    genomes = {**uniform, **solutions}
    validation = validation_set(inputs, config.validation_images, config.seed)
    simulation = simulate_genomes(baseline.model, validation, np.stack(list(genomes.values())), table.configs,
                                  repetitions=config.simulation_repetitions, seed=config.seed, progress=False,
                                  device=device)
    layer_configs = {name: genome_configs(table.layers, table.configs, g) for name, g in solutions.items()}
    runs = compensation_runs(baseline.model, baseline.train_set, validation, layer_configs, config.patterns,
                             config.seed, config.training, device=device)
    train_images = config.training.train_images or len(baseline.train_set)
    return CompensationChapterResult(config, inputs, front, picks, genomes, devices, validation, simulation,
                                     runs, train_images)
