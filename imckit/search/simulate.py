"""Whole-network simulation of per-layer configurations (seed paper 000, Sec. V).

A *genome* holds one configuration index per mappable layer (the paper's "variables for each layer",
indices into :func:`imckit.memory.cells.paper_configurations` by default). Simulating a genome quantizes every
layer to its configuration, reads every cell back through its device and evaluates the network, all
layers perturbed at once, ``repetitions`` times with independent draws. This is what the paper's Table II
reports and what the table-based surrogate of the genetic search (:mod:`imckit.search`: the sum of the
layers' mean %ΔLoss) only predicts; :func:`rank_agreement` measures how well.

Each genome draws its errors from its own seed, derived from ``seed`` and the genome, so its result does
not depend on which other genomes are simulated with it. Results are cached by all their inputs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from imckit.core.compute import resolve_device
from imckit.core.cache import cached, model_data_digest
from imckit.core.validate import check_bool, check_count, check_number, check_seed
from imckit.memory.cells import BASELINE_BITS, CellConfig, paper_configurations
from imckit.core.data import ImageTensors
from imckit.memory.devices import SLC, FeFETMLC, check_device
from imckit.injection.errors import PerturbedEvaluator, QuantSpec, check_configs, check_repetitions, is_error_free
from imckit.search.genetic import _array, _shown

__all__ = ["GenomeSimulation", "check_genomes", "genome_configs", "genome_devices", "simulate_genomes",
           "rank_agreement", "PAPER_TABLE2_KILO_DEVICES", "paper_memory_targets", "select_solutions"]

# Seed paper 000, Table II: memory in kilo devices of the uniform 8-bit network and of its six selected
# solutions. Their ratios are the paper's memory targets, used by default to pick this kit's six solutions.
PAPER_TABLE2_KILO_DEVICES = {"Full 8": 2325.1, "Full 4": 1162.6, "Full 2": 581.3, "Solution 1": 1640.0,
                             "Solution 2": 1172.3, "Solution 3": 961.1, "Solution 4": 628.1,
                             "Solution 5": 433.7, "Solution 6": 321.8}


def paper_memory_targets() -> tuple[float, ...]:
    """The memory of the paper's six solutions in % of its uniform 8-bit network (Table II)."""
    full8 = PAPER_TABLE2_KILO_DEVICES["Full 8"]
    return tuple(round(100 * PAPER_TABLE2_KILO_DEVICES[f"Solution {k}"] / full8, 2) for k in range(1, 7))


def select_solutions(memory, targets, reference: float) -> np.ndarray:
    """Pick one front solution per memory target: the one with the most memory (on a front: the lowest
    loss) that stays within ``target`` % of ``reference`` (e.g. the uniform 8-bit network's memory).

    Args:
        memory: the front's memory objective, one value per solution (any units, those of ``reference``).
        targets: memory caps in % of ``reference``, each in (0, 1000].
        reference: the memory the targets are relative to (> 0).

    Returns:
        Indices into the front, one per target (a solution may be picked by two targets).
    """
    memory = _array(memory, "memory", "a non-empty 1-D array (the front's memory objective)")
    if memory.ndim != 1 or len(memory) == 0 or not np.isfinite(memory).all():
        raise ValueError("memory must be a non-empty 1-D array of finite values (the front's memory objective); "
                         f"got {_shown(memory)}")
    reference = check_number(reference, "reference", 0.0, None, low_open=True)
    if isinstance(targets, (str, bytes)) or not hasattr(targets, "__iter__"):
        raise TypeError(f"targets must be a sequence of memory targets in (0, 1000] (% of the reference); "
                        f"got {_shown(targets)}")
    targets = tuple(targets)
    if not targets:
        raise ValueError("targets must name at least one memory target; got ()")
    for i, target in enumerate(targets):
        check_number(target, f"targets[{i}]", 0.0, 1000.0, low_open=True)
    picks = []
    for target in targets:
        cap = target / 100 * reference
        within = np.where(memory <= cap * (1 + 1e-12))[0]
        if len(within) == 0:
            raise ValueError(f"no front solution within the memory target {target} % of the reference "
                             f"({cap:.4g}); the smallest front memory is {memory.min():.4g} "
                             f"({100 * memory.min() / reference:.2f} % of the reference)")
        picks.append(int(within[np.argmax(memory[within])]))
    return np.array(picks)


def check_genomes(genomes, layers: int, configs: int) -> np.ndarray:
    """Validate genomes and return them as an int array (G, layers): one configuration index in
    ``[0, configs - 1]`` per layer (a single genome may be 1-D). Floats are accepted only where they hold
    whole numbers exactly (e.g. a float array of indices); booleans, NaN and infinities are refused."""
    layers = check_count(layers, "layers")
    configs = check_count(configs, "configs")
    allowed = f"integer configuration indices in [0, {configs - 1}], shape (G, {layers})"
    try:
        array = np.asarray(genomes)
    except (ValueError, TypeError):
        raise ValueError(f"genomes must be {allowed}; got a ragged sequence {_shown(genomes)}") from None
    if array.dtype == bool or array.dtype.kind not in "iuf":
        raise TypeError(f"genomes must hold {allowed}; got {_shown(genomes)} (dtype {array.dtype})")
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] != layers:
        raise ValueError(f"genomes must have shape (G, {layers}) (one configuration index per layer); "
                         f"got shape {np.asarray(genomes).shape}")
    if array.dtype.kind == "f":
        if not np.isfinite(array).all() or not np.all(array == np.round(array)):
            raise ValueError(f"genomes must hold {allowed} (whole numbers); got {_shown(genomes)}")
        array = array.astype(np.int64)
    if array.min() < 0 or array.max() >= configs:
        raise ValueError(f"genomes must hold configuration indices in [0, {configs - 1}]; "
                         f"got values from {array.min()} to {array.max()}")
    return array.astype(np.int64)


def _layer_names(layer_names) -> tuple[str, ...]:
    if isinstance(layer_names, str) or not hasattr(layer_names, "__iter__"):
        raise TypeError(f"layer_names must be a sequence of layer names; got {_shown(layer_names)}")
    names = tuple(layer_names)
    if not names or not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        raise ValueError(f"layer_names must be a non-empty sequence of distinct layer names; got {_shown(names)}")
    return names


def genome_configs(layer_names, configs, genome) -> dict[str, CellConfig]:
    """The layer -> configuration mapping of one genome."""
    layer_names = _layer_names(layer_names)
    configs = check_configs(configs)
    genomes = check_genomes(genome, len(layer_names), len(configs))
    if len(genomes) != 1:
        raise ValueError(f"genome must be one genome of shape ({len(layer_names)},); got {len(genomes)} genomes")
    genome = genomes[0]
    return {name: configs[int(g)] for name, g in zip(layer_names, genome)}


def genome_devices(layer_weights, configs, genomes) -> np.ndarray:
    """Memory of each genome in devices: sum over layers of weights x devices per weight."""
    if isinstance(layer_weights, str) or not hasattr(layer_weights, "__iter__"):
        raise TypeError(f"layer_weights must be a sequence of weight counts, one per layer; got "
                        f"{_shown(layer_weights)}")
    layer_weights = [check_count(w, f"layer_weights[{i}]") for i, w in enumerate(layer_weights)]
    configs = check_configs(configs)
    genomes = check_genomes(genomes, len(layer_weights), len(configs))
    per_weight = np.array([c.devices_per_weight for c in configs])
    return (np.asarray(layer_weights)[None, :] * per_weight[genomes]).sum(axis=1)


@dataclass(frozen=True, eq=False)
class GenomeSimulation:
    """Loss and accuracy of simulated genomes.

    Attributes:
        layers: layer names (the genome's positions).
        configs: the configurations the genome indices refer to.
        genomes: int array (G, layers).
        loss, accuracy: float arrays (G, R): each repetition's mean cross-entropy and top-1 accuracy (0-1).
        devices: int array (G,): memory in devices.
        baseline_loss, baseline_accuracy: the error-free uniform 12-bit network on the same images.
    """

    layers: tuple[str, ...]
    configs: tuple[CellConfig, ...]
    genomes: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray
    devices: np.ndarray
    baseline_loss: float
    baseline_accuracy: float

    @property
    def loss_change(self) -> np.ndarray:
        """Mean relative loss change per genome against the 12-bit baseline (%)."""
        return 100 * (self.loss.mean(axis=1) - self.baseline_loss) / self.baseline_loss

    def frame(self):
        """One row per genome: genome, devices, mean/min/max accuracy (%), mean %ΔLoss."""
        import pandas as pd

        return pd.DataFrame({
            "genome": [str(list(map(int, g))) for g in self.genomes],
            "devices": self.devices,
            "accuracy mean (%)": 100 * self.accuracy.mean(axis=1),
            "accuracy min (%)": 100 * self.accuracy.min(axis=1),
            "accuracy max (%)": 100 * self.accuracy.max(axis=1),
            "loss change (%)": self.loss_change,
        })


def _genome_seed(seed: int, genome: np.ndarray) -> int:
    return int(np.random.SeedSequence([int(seed), *map(int, genome)]).generate_state(1)[0])


def simulate_genomes(
    model: nn.Module,
    data: ImageTensors,
    genomes,
    configs: tuple[CellConfig, ...] = paper_configurations(),
    mlc=FeFETMLC(),
    slc=SLC(),
    repetitions: int = 10,
    seed: int = 0,
    quant: QuantSpec = QuantSpec(),
    cache: str | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
) -> GenomeSimulation:
    """Simulate whole-network configurations: every layer quantized to its genome entry and read back
    through the devices, ``repetitions`` independent draws per genome.

    Args:
        model: the trained network (eval mode; not modified).
        data: the test images.
        genomes: int array (G, layers) of configuration indices (a single genome may be 1-D).
        configs: the configurations the indices refer to (default: the paper's ten).
        mlc, slc: devices of the 2-bit and 1-bit cells.
        repetitions: error draws per genome (>= 1; the paper: 400). A genome whose cells are all
            error-free is evaluated once and its value repeated.
        seed: base seed of the error draws.
        quant: how weights are quantized.
        cache: cache folder (``None``: :func:`imckit.core.cache.cache_dir`; ``""``: no cache, see
            :func:`imckit.core.cache.cached`).
        progress: show a progress bar over the genomes.
        device: where the networks are evaluated (``"cpu"``, ``"cuda"``, ``"auto"``;
            :func:`imckit.core.compute.resolve_device`). Errors are drawn on the CPU either way; a table
            computed on a GPU can differ from the CPU's in float rounding, so its cache entry is separate.
    """
    repetitions = check_repetitions(repetitions)
    seed = check_seed(seed)
    progress = check_bool(progress, "progress")
    configs = check_configs(configs)
    check_device(mlc, "mlc", 2)
    check_device(slc, "slc", 1)
    target = resolve_device(device)
    evaluator = PerturbedEvaluator(model, data, quant, BASELINE_BITS, device=target)
    layers = list(evaluator.layers.values())
    genomes = check_genomes(genomes, len(layers), len(configs))
    names = tuple(layer.name for layer in layers)
    devices = genome_devices([layer.weights for layer in layers], configs, genomes)

    description = {
        "fingerprint": model_data_digest(model, data), "configs": [asdict(c) for c in configs],
        "genomes": genomes.tolist(), "mlc": mlc.transition_matrix().tolist(), "slc": slc.transition_matrix().tolist(),
        "repetitions": repetitions, "seed": seed, "quant": asdict(quant),
    }
    if target.type != "cpu":  # CPU entries keep their key whatever device asked for
        description["device"] = target.type

    def compute() -> dict:
        base = evaluator.evaluate([{}])
        loss = np.empty((len(genomes), repetitions))
        accuracy = np.empty((len(genomes), repetitions))
        for g, genome in enumerate(tqdm(genomes, desc="simulating", unit="genome", disable=not progress)):
            layer_configs = {name: configs[i] for name, i in zip(names, genome)}
            draws = 1 if all(is_error_free(c, mlc, slc) for c in layer_configs.values()) else repetitions
            generator = torch.Generator().manual_seed(_genome_seed(seed, genome))
            sets = evaluator.perturbed_weight_sets(layer_configs, mlc, slc, draws, generator)
            result = evaluator.evaluate(sets)
            loss[g] = np.resize(result.loss.numpy(), repetitions)
            accuracy[g] = np.resize(result.accuracy.numpy(), repetitions)
        return {"loss": torch.from_numpy(loss), "accuracy": torch.from_numpy(accuracy),
                "baseline_loss": float(base.loss[0]), "baseline_accuracy": float(base.accuracy[0])}

    # cache="" computes without reading or writing; the key covers torch's version and this module's code
    entry, _ = cached("simulation", description, compute, code=__name__, cache=cache, name="genomes-")
    return GenomeSimulation(names, configs, genomes, entry["loss"].numpy(), entry["accuracy"].numpy(), devices,
                            entry["baseline_loss"], entry["baseline_accuracy"])


def rank_agreement(predicted, simulated) -> dict[str, float]:
    """How well a surrogate ranks genomes: Spearman's rho and Kendall's tau (with p-values) between the
    predicted and the simulated values (e.g. summed table %ΔLoss against simulated %ΔLoss). Both must be
    finite, 1-D, of the same length >= 3; where one of them is constant the correlations are undefined and
    come back NaN (with scipy's ``ConstantInputWarning``)."""
    from scipy.stats import kendalltau, spearmanr

    what = "a 1-D array of finite values"
    predicted = _array(predicted, "predicted", what)
    simulated = _array(simulated, "simulated", what)
    if predicted.ndim != 1 or predicted.shape != simulated.shape or len(predicted) < 3:
        raise ValueError(f"predicted and simulated must be 1-D of the same length >= 3; got shapes "
                         f"{predicted.shape} and {simulated.shape}")
    for name, values in (("predicted", predicted), ("simulated", simulated)):
        if not np.isfinite(values).all():
            raise ValueError(f"{name} must be {what}; got {int((~np.isfinite(values)).sum())} not finite of "
                             f"{len(values)}")
    rho = spearmanr(predicted, simulated)
    tau = kendalltau(predicted, simulated)
    return {"spearman": float(rho.statistic), "spearman_p": float(rho.pvalue),
            "kendall": float(tau.statistic), "kendall_p": float(tau.pvalue), "n": len(predicted)}
