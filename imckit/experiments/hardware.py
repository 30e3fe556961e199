"""Chapter "Hardware-aware search" (issue 18; seed 004, Pelke et al.; seed 003's CIMNAS for joint hardware
objectives; seed 000's genetic search as the first strategy).

Per-layer weight widths of the quantization-aware network are searched against costs of RRAM crossbars
(:mod:`imckit.crossbars.cost`) by four strategies at one budget of evaluated configurations: seed 000's genetic
search, pymoo's NSGA-II and NSGA-III (:mod:`imckit.search.objectives`), and an HAQ-style reinforcement-learning
agent (:mod:`imckit.search.agent`), with uniformly random search as the floor. :func:`run`:

1. the network and images: the shared table's network (:func:`imckit.experiments.sensitivity.table_network`,
   the switchable quantization-aware network) and its images (:func:`table_images`); the held-out test images
   serve the final validation;
2. the accuracy table: each layer alone at each width of ``weight_bits`` (error-free cells; the other layers at
   the 12-bit reference), the relative accuracy change (%) against the 12-bit network
   (:func:`imckit.search.sensitivity.sensitivity_table`, cached); its negative sum over layers is the surrogate
   "predicted accuracy loss" every strategy minimizes;
3. the cost tables: each layer's latency (ms) and ADC energy (uJ) at each width on the crossbar design
   (:func:`imckit.crossbars.cost.network_cost`; layers run one after another, so both are sums over layers);
4. first and last layer fixed at ``fixed_bits`` (seed 004: 8 bits), every other width allowed;
5. every strategy for ``repeats`` seeds at ``evaluations`` evaluations each (cached,
   :func:`imckit.experiments.hardware_steps.search_runs`); hypervolume against evaluations as a share of the exact
   front's (:func:`imckit.search.objectives.exact_front`), for (accuracy loss, latency) and for (accuracy loss,
   latency, energy);
6. validation: per latency budget the configuration the agent returned (first seed) and the exact optimum within
   that budget, with the uniform 8-bit network and the inner layers at 4 bits as references, are quantized whole
   (all layers at once) and evaluated on the held-out images, then fine-tuned quantization-aware for one short
   epoch and evaluated again (:func:`imckit.experiments.compensation_steps.compensation_runs` with error-free
   cells: the compensation step without faults is a quantization-aware fine-tune).

The kit's choices, said in the chapter: the network quantizes weights only (activations stay float), so the
search chooses weight widths and the crossbar inputs are streamed at ``input_bits`` for every layer; with inputs
fixed, a weight-stationary mapping's latency does not depend on the weight widths (fewer cycles come from fewer
input bits only), so the chapter's default maps the network time-multiplexed onto ``parallel_crossbars`` shared
crossbars, where fewer cells mean fewer crossbar rounds. Speed-up-to-accuracy-loss (S/AL): seed 004's summary
gives values but no definition; the kit divides the speed-up over the 8-bit network by the accuracy loss in
points against the 8-bit network after the same fine-tune, and gives none where the loss is within the noise of
the validation images (two standard errors of a difference) or negative.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from imckit.compensation.compensate import CompensationConfig
from imckit.core.profiles import check_profile
from imckit.core.validate import check_choice, check_count, check_int, check_number, check_seed
from imckit.crossbars.cost import CELL_BITS, CrossbarConfig, network_cost, seed004_bookkeeping
from imckit.experiments.checks import check_config, check_device, check_items, check_override
from imckit.experiments.compensation_steps import compensation_runs
from imckit.experiments.hardware_steps import STRATEGIES, agent_budgets, objectives_of, search_runs
from imckit.experiments.sensitivity import NETWORKS, TableConfig, table_images, table_network
from imckit.experiments.stats import noise_tolerance, standard_error_of_difference
from imckit.memory.cells import CellConfig
from imckit.search.objectives import exact_front, hypervolume
from imckit.search.sensitivity import sensitivity_table

__all__ = ["HardwareConfig", "HardwareResult", "run", "scorecard", "STRATEGY_LABELS", "step_curve",
           "speed_up_to_loss", "within_budget", "widths_text", "PRESETS", "crossbar_text", "images_text",
           "ranking_text", "agent_text", "validation_text", "latency_text"]

# Evaluations per search, population of the population-based searches, seeds, fine-tuning images and hypervolume
# checkpoints of the agent's runs, per profile.
PRESETS = {
    "smoke": {"evaluations": 40, "population": 8, "repeats": 1, "train_images": 256, "checkpoints": 10},
    "default": {"evaluations": 300, "population": 20, "repeats": 10, "train_images": 5000, "checkpoints": 40},
    "paper": {"evaluations": 1000, "population": 50, "repeats": 20, "train_images": None, "checkpoints": 100},
}
STRATEGY_LABELS = {"genetic": "genetic search (seed 000)", "nsga2": "NSGA-II (pymoo)", "nsga3": "NSGA-III (pymoo)",
                   "agent": "HAQ-style agent (DDPG)", "random": "random search"}


@dataclass(frozen=True)
class HardwareConfig:
    """The chapter's settings.

    Attributes:
        table: the shared table's settings: which network (the profile's switchable quantization-aware network)
            and which images (the table's; the held-out rest validates). Its FeFET table is not needed.
        crossbar: the crossbar design and mapping (:class:`imckit.crossbars.cost.CrossbarConfig`; default seed
            004's differential 1T1R arrays with 2-bit cells, scaled to 64x64, time-multiplexed on one crossbar).
        weight_bits: the widths a layer may take (at least two), each a multiple of ``crossbar.cell_bits`` (seed
            004), 1-16.
        input_bits: bits of every layer's inputs streamed through the 1-bit DAC (cycles per MVM), 1-16.
        fixed_bits: width of the first and last layer (seed 004: 8), one of ``weight_bits``.
        evaluations: configurations every strategy may evaluate per seed (its budget; the population searches
            make the most whole generations that fit, see :mod:`imckit.experiments.hardware_steps`), 8-1,000,000.
        population: individuals per generation of the genetic search and NSGA-II/III, 4 to evaluations / 2.
        repeats: seeds per strategy (``seed``, ``seed + 1``, ...), 1-1000.
        budget_fractions: the agent's latency budgets, each a share in [0, 1] of the way from the fastest
            configuration to the slowest; its episodes are split evenly among them.
        agent_warmup: random episodes per budget before the agent's actor acts (HAQ: 20), 0-100,000.
        checkpoints: evaluation counts at which the agent's and random search's hypervolume is taken, 2-10,000.
        fine_tune: the short quantization-aware fine-tune of the validated configurations (one pass over
            ``train_images`` training images, :class:`imckit.compensation.compensate.CompensationConfig`).
        seed: seed of the searches, the image split and the fine-tune.
    """

    table: TableConfig
    crossbar: CrossbarConfig = field(default_factory=lambda: CrossbarConfig.pelke2024(2, parallel_crossbars=1, size=64))
    weight_bits: tuple[int, ...] = (8, 6, 4, 2)
    input_bits: int = 8
    fixed_bits: int = 8
    evaluations: int = 300
    population: int = 20
    repeats: int = 10
    budget_fractions: tuple[float, ...] = (0.25, 0.5, 0.75)
    agent_warmup: int = 20
    checkpoints: int = 40
    fine_tune: CompensationConfig = field(default_factory=lambda: CompensationConfig(train_images=5000))
    seed: int = 0

    def __post_init__(self):
        check_config(self.table, "table", TableConfig)
        check_config(self.crossbar, "crossbar", CrossbarConfig)
        check_config(self.fine_tune, "fine_tune", CompensationConfig)
        widths = check_items(self.weight_bits, "weight_bits", lambda v, n: check_int(v, n, 1, 16),
                             allowed="a non-empty list of distinct widths in [1, 16]")
        if len(set(widths)) != len(widths) or len(widths) < 2:
            raise ValueError(f"weight_bits must be a list of at least two distinct widths in [1, 16] (one width leaves "
                             f"nothing to search); got {self.weight_bits!r}")
        cell = self.crossbar.cell_bits
        odd = [b for b in widths if b % cell]
        if odd:
            raise ValueError(f"weight_bits must be multiples of the crossbar's cell_bits={cell} (seed 004: weight "
                             f"widths are multiples of the cell resolution); got {odd} in {list(widths)}")
        object.__setattr__(self, "weight_bits", tuple(sorted(widths, reverse=True)))
        object.__setattr__(self, "input_bits", check_int(self.input_bits, "input_bits", 1, 16))
        fixed = check_int(self.fixed_bits, "fixed_bits", 1, 16)
        if fixed not in widths:
            raise ValueError(f"weight_bits must include fixed_bits={fixed} (the first and last layer's width; seed "
                             f"004: 8); got {list(widths)}")
        object.__setattr__(self, "evaluations", check_count(self.evaluations, "evaluations", 8, 1_000_000))
        object.__setattr__(self, "population", check_int(self.population, "population", 4, self.evaluations // 2))
        object.__setattr__(self, "repeats", check_count(self.repeats, "repeats", 1, 1000))
        fractions = check_items(self.budget_fractions, "budget_fractions", lambda v, n: check_number(v, n, 0, 1),
                                allowed="a non-empty list of shares in [0, 1]")
        object.__setattr__(self, "budget_fractions", fractions)
        if len(fractions) > self.evaluations:
            raise ValueError(f"budget_fractions must have at most evaluations={self.evaluations} budgets (one "
                             f"episode each at least); got {len(fractions)}")
        object.__setattr__(self, "agent_warmup", check_int(self.agent_warmup, "agent_warmup", 0, 100_000))
        object.__setattr__(self, "checkpoints", check_count(self.checkpoints, "checkpoints", 2, 10_000))
        object.__setattr__(self, "seed", check_seed(self.seed))

    @property
    def seeds(self) -> tuple[int, ...]:
        """The searches' seeds: ``seed``, ``seed + 1``, ... (``repeats`` of them)."""
        return tuple(self.seed + r for r in range(self.repeats))

    @classmethod
    def preset(cls, profile: str, seed: int = 0, cell_bits: int = 2, crossbar_size: int = 64,
               parallel_crossbars: int = 1, input_bits: int = 8, weight_bits=(8, 6, 4, 2), evaluations: int = 0, repeats: int = 0,
               budget_fractions=(0.25, 0.5, 0.75), network: str = "switchable") -> "HardwareConfig":
        """The profile's settings (:data:`PRESETS`): ``smoke`` 40 evaluations x 1 seed, fine-tune on 256 images;
        ``default`` 300 x 10, 5,000 images; ``paper`` 1,000 x 20, the whole training set. ``evaluations`` and
        ``repeats`` other than 0 replace the profile's. ``cell_bits``: 1, 2 or 4 (seed 004's cells);
        ``crossbar_size``: rows = columns of a crossbar, 8-4096 (seed 004: 256; the chapter's default 64 scales
        seed 004's arrays to the kit's four times narrower network, see the chapter);
        ``parallel_crossbars``: crossbars shared by the time-multiplexed layers (1-4096) or 0 for
        weight-stationary mapping (every layer on crossbars of its own). ``network``: the table's network
        (:data:`imckit.experiments.sensitivity.NETWORKS`)."""
        values = PRESETS[check_profile(profile)]
        seed = check_seed(seed)
        check_choice(cell_bits, "cell_bits", CELL_BITS)
        parallel = check_int(parallel_crossbars, "parallel_crossbars", 0, 4096)
        check_choice(network, "network", NETWORKS)
        evaluations = check_override(evaluations, "evaluations", 8, 1_000_000) or values["evaluations"]
        repeats = check_override(repeats, "repeats", 1, 1000) or values["repeats"]
        population = min(values["population"], evaluations // 2)
        size = check_int(crossbar_size, "crossbar_size", 8, 4096)
        crossbar = CrossbarConfig.pelke2024(cell_bits, parallel_crossbars=parallel or None, size=size)
        return cls(TableConfig.preset(profile, seed, network), crossbar, tuple(weight_bits) if isinstance(
                       weight_bits, (list, tuple)) else weight_bits, input_bits, 8, evaluations, population, repeats,
                   tuple(budget_fractions) if isinstance(budget_fractions, (list, tuple)) else budget_fractions,
                   20, values["checkpoints"], CompensationConfig(train_images=values["train_images"]), seed)


# ------------------------------------------------------------------------------------------------------
# small decisions, each unit-tested


def step_curve(evaluations, values, grid) -> np.ndarray:
    """A search's record (``values`` observed after ``evaluations`` evaluations, increasing) read at ``grid``:
    the last value observed at or before each grid point, 0 before the first observation."""
    evaluations, values, grid = (np.asarray(a, dtype=float) for a in (evaluations, values, grid))
    if evaluations.ndim != 1 or evaluations.shape != values.shape or len(evaluations) == 0:
        raise ValueError("evaluations and values must be non-empty 1-D arrays of one length")
    if np.any(np.diff(evaluations) < 0):
        raise ValueError("evaluations must be non-decreasing")
    index = np.searchsorted(evaluations, grid, side="right") - 1
    return np.where(index >= 0, values[np.clip(index, 0, None)], 0.0)


def speed_up_to_loss(speed_up: float, loss_points: float) -> float:
    """S/AL, the kit's reading of seed 004's score: speed-up divided by the accuracy loss in points; NaN when
    the loss is not positive (no loss to divide by)."""
    speed_up = check_number(speed_up, "speed_up", 0, None, low_open=True)
    loss_points = check_number(loss_points, "loss_points")
    return speed_up / loss_points if loss_points > 0 else float("nan")


def within_budget(genomes, values, budget: float) -> int | None:
    """Index of the genome with the lowest first objective (accuracy loss) among those whose second (latency) is
    at most ``budget`` (ties: the lower latency, then the first); ``None`` if none fits."""
    values = np.asarray(values, dtype=float)
    fits = np.where(values[:, 1] <= budget * (1 + 1e-12))[0]
    if len(fits) == 0:
        return None
    return int(min(fits, key=lambda i: (values[i, 0], values[i, 1], i)))


def widths_text(genome, widths) -> str:
    """A genome's per-layer widths as text, e.g. ``"8-4-4-2-8"``."""
    return "-".join(str(widths[int(g)]) for g in genome)


# ------------------------------------------------------------------------------------------------------
# the chapter


@dataclass(frozen=True, eq=False)
class HardwareResult:
    """What :func:`run` computed (see the module docstring).

    Attributes:
        config: the settings.
        layers: layer names (rows of the tables); widths: the configurations' widths (columns).
        accuracy: (layers, widths) relative accuracy change (%) of each layer alone at each width, NaN where fixed.
        latency, energy: (layers, widths) latency (ms) and ADC energy (uJ), NaN where fixed.
        crossbars: (layers, widths) crossbars each layer takes.
        runs: :func:`imckit.experiments.hardware_steps.search_runs`'s runs; from_cache: whether they were cached.
        exact2, exact3: the exact fronts ``(genomes, values)`` of two and three objectives.
        budgets: the agent's latency budgets (ms).
        validation: pandas DataFrame, one row per validated configuration.
        input_shape: one input's shape (channels, height, width); model: the network.
        test_images: images of the validation; table_images: images the accuracy table was measured on.
    """

    config: HardwareConfig
    layers: tuple
    widths: tuple
    accuracy: np.ndarray
    latency: np.ndarray
    energy: np.ndarray
    crossbars: np.ndarray
    runs: dict
    from_cache: bool
    exact2: tuple
    exact3: tuple
    budgets: list
    validation: object
    input_shape: tuple
    model: object
    test_images: int
    table_images: int

    @property
    def loss(self) -> np.ndarray:
        """The predicted accuracy loss table (%): the negative accuracy change."""
        return -self.accuracy

    @property
    def space(self) -> int:
        """Configurations in the search space."""
        return int(np.prod((~np.isnan(self.latency)).sum(axis=1)))

    @property
    def free_layers(self) -> int:
        return int(((~np.isnan(self.latency)).sum(axis=1) > 1).sum())

    def objectives(self, k: int):
        """The ``k`` (2 or 3) objectives (:func:`imckit.experiments.hardware_steps.objectives_of`)."""
        check_choice(k, "k", (2, 3))
        return objectives_of(self.loss, self.latency, self.energy if k == 3 else None)

    def exact_hypervolume(self, k: int) -> float:
        objectives = self.objectives(k)
        return hypervolume((self.exact2 if k == 2 else self.exact3)[1], objectives.reference())

    def strategies(self, k: int) -> list[str]:
        """The strategies that searched ``k`` objectives (the genetic search two only, NSGA-III three only)."""
        check_choice(k, "k", (2, 3))
        return [s for s in STRATEGIES if not (k == 3 and s == "genetic") and not (k == 2 and s == "nsga3")]

    def grid(self, points: int = 60) -> np.ndarray:
        """Evaluation counts at which the curves are compared: 1 to the budget."""
        return np.unique(np.linspace(1, self.config.evaluations, points).round())

    def curves(self, k: int) -> dict[str, np.ndarray]:
        """Per strategy, (repeats, grid) hypervolume in % of the exact front's, read at :meth:`grid`."""
        grid, exact = self.grid(), self.exact_hypervolume(k)
        out = {}
        for s in self.strategies(k):
            rows = []
            for run in self.runs[s]:
                evaluations = run.get(f"evaluations{k}", run.get("evaluations"))
                rows.append(100 * step_curve(evaluations, run[f"hv{k}"], grid) / exact)
            out[s] = np.array(rows)
        return out

    def final_frame(self):
        """Per strategy and number of objectives: hypervolume share (%) at the budget, mean, standard deviation
        and worst over the seeds, and how many evaluations it actually made (fewest and most over the seeds; the
        population searches make whole generations, and pymoo drops duplicate offspring)."""
        import pandas as pd

        rows = []
        for k in (2, 3):
            for s, matrix in self.curves(k).items():
                final = matrix[:, -1]
                made = [int(np.max(run.get(f"evaluations{k}", run.get("evaluations")))) for run in self.runs[s]]
                shown = f"{min(made)}" if min(made) == max(made) else f"{min(made)}-{max(made)}"
                rows.append({"objectives": k, "strategy": STRATEGY_LABELS[s], "mean (%)": final.mean(),
                             "std (%)": final.std(ddof=1) if len(final) > 1 else float("nan"),
                             "worst (%)": final.min(), "evaluations made": shown, "seeds": len(final)})
        return pd.DataFrame(rows)

    def ranking(self, k: int) -> list[str]:
        """Strategies by mean final hypervolume share, best first."""
        frame = self.final_frame()
        frame = frame[frame["objectives"] == k].sort_values("mean (%)", ascending=False, kind="stable")
        return list(frame["strategy"])

    def fronts(self, k: int = 2) -> dict[str, np.ndarray]:
        """Each strategy's final front (first seed) in the two-objective space (accuracy loss, latency)."""
        rows = np.arange(len(self.layers))
        out = {}
        for s in self.strategies(k):
            run = self.runs[s][0]
            genomes = run.get("genomes2", run.get("genomes"))
            values = np.stack([self.loss[rows, genomes].sum(1), self.latency[rows, genomes].sum(1)], axis=1)
            from imckit.search.objectives import nondominated

            out[STRATEGY_LABELS[s]] = values[nondominated(values)]
        return out

    def layer_frame(self, values: str = "accuracy"):
        """One of the (layers, widths) tables as a DataFrame (``accuracy``, ``latency``, ``energy``,
        ``crossbars``)."""
        import pandas as pd

        check_choice(values, "values", ("accuracy", "latency", "energy", "crossbars"))
        return pd.DataFrame(getattr(self, values), index=list(self.layers),
                            columns=[f"{b}-bit" for b in self.widths])

    def cost_table(self, bits: int | None = None):
        """The cost model's per-layer table (:func:`imckit.crossbars.cost.cost_table`) of the uniform network at
        ``bits`` (default: ``fixed_bits``)."""
        bits = self.config.fixed_bits if bits is None else bits
        return network_cost(self.model, (bits, self.config.input_bits), self.config.crossbar,
                            self.input_shape).table()

    def bookkeeping(self):
        """:func:`imckit.crossbars.cost.seed004_bookkeeping` of the network on the chapter's crossbars
        (weight-stationary and on one crossbar). Its baseline streams ``fixed_bits``-bit inputs, seed 004's case,
        whatever the chapter's ``input_bits``."""
        low = 4 if 4 % self.config.crossbar.cell_bits == 0 else self.config.crossbar.cell_bits
        return seed004_bookkeeping(self.model, self.input_shape, self.config.crossbar.replace(parallel_crossbars=None),
                                   low_bits=low, high_bits=self.config.fixed_bits)

    def agent_rows(self):
        """The validation rows of the agent's configurations."""
        frame = self.validation
        return frame[frame["found by"].str.contains("agent")]


def _bits_tables(model, input_shape, widths, input_bits, crossbar, layers):
    latency, energy, crossbars = (np.zeros((len(layers), len(widths))) for _ in range(3))
    for j, b in enumerate(widths):
        cost = network_cost(model, (b, input_bits), crossbar, input_shape)
        names = tuple(c.name for c in cost.layers)
        if names != tuple(layers):
            raise RuntimeError(f"the cost model's layers {names} differ from the accuracy table's {tuple(layers)}")
        latency[:, j] = [1e3 * c.latency_s for c in cost.layers]
        energy[:, j] = [1e6 * c.energy_j for c in cost.layers]
        crossbars[:, j] = [c.crossbars for c in cost.layers]
    return latency, energy, crossbars


def _validation(result_parts: dict, config: HardwareConfig, model, baseline, images, device):
    """Quantize and fine-tune the chosen configurations; one row each."""
    import pandas as pd

    layers, widths = result_parts["layers"], result_parts["widths"]
    loss, latency, energy = result_parts["loss"], result_parts["latency"], result_parts["energy"]
    rows = np.arange(len(layers))
    fixed = widths.index(config.fixed_bits)
    free = [l for l in range(len(layers)) if (~np.isnan(latency[l])).sum() > 1]
    picks = {}  # name -> (genome, found by)
    uniform = np.full(len(layers), fixed)
    picks["uniform 8-bit" if config.fixed_bits == 8 else f"uniform {config.fixed_bits}-bit"] = (uniform, "reference")
    if 4 in widths and config.fixed_bits != 4:
        inner = uniform.copy()
        inner[free] = widths.index(4)
        picks["inner layers 4-bit"] = (inner, "reference")
    exact_genomes, exact_values = result_parts["exact2"]
    agent = result_parts["runs"]["agent"][0]["best"]
    seen = set()
    for k, (fraction, budget) in enumerate(zip(config.budget_fractions, result_parts["budgets"])):
        if round(budget, 9) in seen:  # a flat latency (weight-stationary) makes every budget the same one
            continue
        seen.add(round(budget, 9))
        label = f"budget {100 * fraction:g} %"
        index = within_budget(exact_genomes, exact_values, budget)
        if index is not None:
            picks[f"{label}: exact optimum"] = (exact_genomes[index], "exact front")
        if k < len(agent):
            picks[f"{label}: agent"] = (agent[k], "HAQ-style agent")
    solutions = {name: {layers[l]: CellConfig(widths[int(g)], 0) for l, g in enumerate(genome)}
                 for name, (genome, _) in picks.items()}
    runs = compensation_runs(model, baseline.train_set, images, solutions, patterns=1, seed=config.seed,
                             config=config.fine_tune, quant=config.table.quant, device=device)
    reference = next(iter(picks))
    base_before = 100 * float(runs[reference].result.before_accuracy[0])
    base_after = 100 * float(runs[reference].result.after_accuracy[0])
    base_latency = float(latency[rows, picks[reference][0]].sum())
    tolerance = noise_tolerance(standard_error_of_difference(base_after, len(images)))
    out = []
    for name, (genome, found) in picks.items():
        result = runs[name].result
        before, after = 100 * float(result.before_accuracy[0]), 100 * float(result.after_accuracy[0])
        total = network_cost(model, [(widths[int(g)], config.input_bits) for g in genome], config.crossbar,
                             result_parts["input_shape"]).total
        time_ms = float(latency[rows, genome].sum())
        if not np.isclose(time_ms, 1e3 * total.latency_s):
            raise RuntimeError(f"{name}: the latency table's sum {time_ms} ms differs from the network's "
                               f"{1e3 * total.latency_s} ms")
        speed = base_latency / time_ms
        drop = base_after - after
        out.append({"configuration": name, "found by": found, "widths": widths_text(genome, widths),
                    "predicted accuracy loss (%)": float(loss[rows, genome].sum()),
                    "latency (ms)": time_ms, "speed-up vs 8-bit": speed, "energy (uJ)": float(energy[rows, genome].sum()),
                    "crossbars": total.crossbars, "area (mm^2)": total.area_mm2, "EDAP (J s mm^2)": total.edap,
                    "accuracy quantized (%)": before, "drop quantized (pts)": base_before - before,
                    "accuracy fine-tuned (%)": after, "accuracy loss (pts)": drop,
                    "difference beyond noise": bool(abs(drop) > tolerance),
                    "S/AL": speed_up_to_loss(speed, drop) if drop > tolerance else float("nan")})
    frame = pd.DataFrame(out)
    frame.attrs["noise (pts)"] = tolerance
    return frame


def run(baseline, config: HardwareConfig, device: str = "cpu") -> HardwareResult:
    """The chapter's computations on ``baseline`` (see the module docstring)."""
    check_config(config, "config", HardwareConfig)
    check_device(device)
    images, held_out = table_images(baseline.test_set, config.table)
    model = table_network(baseline, config.table, device=device)
    widths = config.weight_bits
    table = sensitivity_table(model, images, configs=tuple(CellConfig(b, 0) for b in widths), repetitions=1,
                              seed=config.seed, quant=config.table.quant, progress=False, device=device)
    layers = tuple(table.layers)
    input_shape = tuple(baseline.test_set.images.shape[1:])
    latency, energy, crossbars = _bits_tables(model, input_shape, widths, config.input_bits, config.crossbar, layers)
    accuracy = np.array(table.accuracy_change, dtype=float)
    fixed_index = widths.index(config.fixed_bits)
    ends = (0, len(layers) - 1)
    for table_ in (accuracy, latency, energy):
        for l in ends:
            keep = table_[l, fixed_index]
            table_[l] = np.nan
            table_[l, fixed_index] = keep
    fixed = {l: fixed_index for l in ends}
    runs, from_cache = search_runs(-accuracy, latency, energy, fixed, config.seeds, config.evaluations,
                                   config.population, config.budget_fractions, warmup=config.agent_warmup,
                                   checkpoints=config.checkpoints)
    exact2 = exact_front(objectives_of(-accuracy, latency))
    exact3 = exact_front(objectives_of(-accuracy, latency, energy))
    budgets = agent_budgets(latency, config.budget_fractions)
    test = held_out if held_out is not None else images
    parts = {"layers": layers, "widths": widths, "loss": -accuracy, "latency": latency, "energy": energy,
             "exact2": exact2, "runs": runs, "budgets": budgets, "input_shape": input_shape}
    validation = _validation(parts, config, model, baseline, test, device)
    return HardwareResult(config, layers, widths, accuracy, latency, energy, crossbars, runs, from_cache, exact2,
                          exact3, budgets, validation, input_shape, model, len(test), len(images))


def scorecard(result: HardwareResult, baseline, profile: str):
    """The chapter's "Paper vs this kit" table: seed 004's headline numbers beside the kit's validated
    configurations (not comparable: the paper's networks and simulator against the kit's ResNet-8)."""
    from imckit.experiments.setting import kit_setting
    from imckit.papers import Scorecard

    cell = result.config.crossbar.cell_bits
    device = (f"the kit's crossbar cost model: {result.config.crossbar.rows}x{result.config.crossbar.columns} "
              f"{result.config.crossbar.mapping} RRAM crossbars, {cell}-bit cells")
    card = Scorecard("hardware", profile=profile,
                     setting=kit_setting(baseline, device=device, bits=f"{'/'.join(map(str, result.widths))}-bit "
                                         f"weights per layer", training="QKeras-style quantization-aware, "
                                         "short fine-tune per configuration"))
    frame = result.validation
    agents = result.agent_rows()
    quiet = agents[~agents["difference beyond noise"] | (agents["accuracy loss (pts)"] <= 0)]
    if len(quiet):
        best = quiet.sort_values("speed-up vs 8-bit", ascending=False).iloc[0]
        card.add("004/peak-speedup", float(best["speed-up vs 8-bit"]),
                 kit_text=f"{best['speed-up vs 8-bit']:.2f}x ({best['configuration']}, accuracy loss "
                          f"{best['accuracy loss (pts)']:+.2f} pts, within noise)")
    else:
        card.add("004/peak-speedup", None, reason="every agent configuration lost accuracy beyond noise")
    inner = frame[frame["configuration"] == "inner layers 4-bit"]
    if len(inner) and cell == 4:
        card.add("004/speedup-4bit-cells", float(inner["speed-up vs 8-bit"].iloc[0]),
                 kit_text=f"{inner['speed-up vs 8-bit'].iloc[0]:.2f}x (inner layers at 4 bits)")
    else:
        card.add("004/speedup-4bit-cells", None, reason=f"this run used {cell}-bit cells (parameter cell_bits)")
    if len(agents):
        worst = float(agents["accuracy loss (pts)"].max())
        card.add("004/max-accuracy-loss", worst, kit_text=f"{worst:.2f} pts (largest over the agent's configurations)")
        gain = float(-agents["accuracy loss (pts)"].min())
        if gain > 0:
            card.add("004/best-accuracy-gain", gain, kit_text=f"{gain:+.2f} pts (largest gain over the agent's "
                                                                "configurations)")
        else:
            card.add("004/best-accuracy-gain", None, reason="no agent configuration gained accuracy")
    else:
        for key in ("004/max-accuracy-loss", "004/best-accuracy-gain"):
            card.add(key, None, reason="no agent configuration was validated")
    for key, bits in (("004/sal-resnet18-2bit-cells", 2), ("004/sal-resnet18-4bit-cells", 4)):
        scores = agents["S/AL"].dropna()
        if cell != bits:
            card.add(key, None, reason=f"this run used {cell}-bit cells (parameter cell_bits)")
        elif len(scores):
            card.add(key, float(scores.max()), kit_text=f"{scores.max():.2f} (best of the agent's configurations)")
        else:
            card.add(key, None, reason="no agent configuration lost accuracy beyond noise (S/AL undefined)")
    return card


# ------------------------------------------------------------------------------------------------------
# sentences, chosen by the numbers


def crossbar_text(crossbar: CrossbarConfig) -> str:
    """The crossbar design in words, for the chapter."""
    check_config(crossbar, "crossbar", CrossbarConfig)
    sharing = ("weight-stationary (every layer on crossbars of its own)" if crossbar.parallel_crossbars is None
               else f"time-multiplexed on {crossbar.parallel_crossbars} shared crossbar"
                    f"{'s' if crossbar.parallel_crossbars != 1 else ''}")
    return (f"{crossbar.rows}x{crossbar.columns} 1T1R arrays with {crossbar.cell_bits}-bit cells and "
            f"{crossbar.mapping} mapping, a {crossbar.dac_bits}-bit DAC, {1e6 * crossbar.mvm_latency_s:g} us per "
            f"read cycle and {1e6 * crossbar.write_latency_s:g} us per write, {sharing}")


def images_text(images: int | None) -> str:
    """``"5,000 training images"`` or ``"the whole training set"``."""
    return "the whole training set" if images is None else f"{images:,} training images"


def ranking_text(result: HardwareResult, k: int) -> str:
    """The strategies by mean final hypervolume share for ``k`` objectives, with mean and spread."""
    frame = result.final_frame()
    frame = frame[frame["objectives"] == k].sort_values("mean (%)", ascending=False, kind="stable")
    parts = []
    for _, row in frame.iterrows():
        spread = "" if np.isnan(row["std (%)"]) else f" ± {row['std (%)']:.1f}"
        parts.append(f"{row['strategy']} {row['mean (%)']:.1f}{spread} %")
    return "; ".join(parts)


def agent_text(result: HardwareResult) -> str:
    """How the agent compares with random search at the budget (two objectives), seed by seed."""
    curves = result.curves(2)
    agent, random = curves["agent"][:, -1], curves["random"][:, -1]
    better, ties = int((agent > random + 1e-9).sum()), int((np.abs(agent - random) <= 1e-9).sum())
    n = len(agent)
    if better == n:
        verdict = "the agent beat random search in every seed"
    elif better == 0 and ties == 0:
        verdict = "random search beat the agent in every seed"
    else:
        verdict = (f"the agent beat random search in {better} of {n} seed{'s' * (n != 1)}"
                   f"{f' and tied in {ties}' if ties else ''}")
    text = (f"Against its floor, {verdict} (two objectives, mean {agent.mean():.1f} % against "
            f"{random.mean():.1f} %)")
    if n < 2:
        return text + "; one seed says nothing about noise."
    difference = agent - random
    error = float(difference.std(ddof=1) / np.sqrt(n))
    where = "beyond" if abs(difference.mean()) > 2 * error else "within"
    return (text + f"; the mean difference, {difference.mean():+.1f} points, is {where} twice its standard error "
            f"over the seeds ({error:.1f}).")


def validation_text(result: HardwareResult) -> str:
    """What the whole-network check says: whether the agent found the exact optima, the fastest configuration
    within noise of the 8-bit network after the fine-tune, and how much the fine-tune recovered."""
    frame = result.validation
    noise = frame.attrs["noise (pts)"]
    agents = frame[frame["found by"] == "HAQ-style agent"]
    sentences = []
    if len(agents):
        exact = frame[frame["found by"] == "exact front"].set_index("configuration")["predicted accuracy loss (%)"]
        same = sum(abs(exact.get(name.replace(": agent", ": exact optimum"), np.inf) - loss) <= 1e-9
                   for name, loss in zip(agents["configuration"], agents["predicted accuracy loss (%)"]))
        sentences.append(f"The agent's choice reached the exact optimum's predicted accuracy in {same} of "
                         f"{len(agents)} budgets.")
    chosen = frame[frame["found by"] != "reference"]
    quiet = chosen[chosen["accuracy loss (pts)"] <= noise]
    if len(quiet):
        best = quiet.sort_values("speed-up vs 8-bit", ascending=False, kind="stable").iloc[0]
        sentences.append(f"The fastest searched configuration whose fine-tuned accuracy is within noise of the "
                         f"8-bit network's (or better) is {best['configuration']}, {best['speed-up vs 8-bit']:.2f}x "
                         f"faster at {best['accuracy loss (pts)']:+.2f} points.")
    else:
        sentences.append("Every searched configuration lost accuracy beyond noise after the fine-tune.")
    before, after = chosen["drop quantized (pts)"].max(), chosen["accuracy loss (pts)"].max()
    sentences.append(f"Quantized whole, the searched configurations lost up to {before:.2f} points against the "
                     f"quantized 8-bit network; after the fine-tune, up to {after:.2f} points against the "
                     "fine-tuned 8-bit network.")
    return " ".join(sentences)


def latency_text(result: HardwareResult) -> str:
    """How far the configurations' latencies spread, or that they do not (then the latency objective cannot
    trade against accuracy and every strategy searches accuracy alone)."""
    fastest = float(np.nansum(np.nanmin(result.latency, axis=1)))
    slowest = float(np.nansum(np.nanmax(result.latency, axis=1)))
    if np.isclose(fastest, slowest, rtol=1e-9, atol=0):
        return (f"Under this mapping every configuration takes the same time, {fastest:,.1f} ms: latency cannot be "
                "traded against accuracy, and the hypervolume comparison below measures accuracy (and energy) alone.")
    return (f"The fastest configuration takes {fastest:,.1f} ms, the slowest {slowest:,.1f} ms "
            f"({slowest / fastest:.2f}x).")
