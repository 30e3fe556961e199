"""Layer-wise sensitivity to quantization x MLC/SLC configurations (seed paper 000, Sec. III, Table I).

For each mappable layer and each cell configuration, the layer is quantized to the configuration, every
cell is read back through its device ``repetitions`` times, and the network (all other layers at the
uniform 12-bit reference, error-free) is evaluated on the test images. The table reports, per layer and
configuration:

* %ΔMemory: the devices saved against the uniform 12-bit SLC network, in percent of that network's
  devices: ``100 * weights_l * (12 - devices_per_weight) / (12 * all mapped weights)`` (the paper's
  definition; it reproduces the ratios of its Table I memory column);
* %ΔLoss and %ΔAccuracy: the mean relative change against the error-free 12-bit network, in percent,
  with a normal-approximation 95 % confidence half-width over the repetitions.

Layers in ``mlc_excluded`` (default: the dense layers, as in the paper) get only SLC configurations; their
other entries are NaN. Each (layer, configuration) draws its errors from its own seed, derived from
``seed``, the layer's index and the configuration, so an entry does not depend on which other entries
are computed. Results are cached by all their inputs (:mod:`imckit.core.cache`).

Speed: per layer, all configurations and repetitions run together on the layer's input activations,
computed once (:class:`imckit.injection.errors.PerturbedEvaluator`). A configuration whose cells are all on
error-free devices (e.g. every SLC-only configuration with the default SLC) gives the same weights in
every repetition, so it is evaluated once and its value repeated: the table is the same as evaluating it
``repetitions`` times, at a third less work for the paper's ten configurations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from imckit.core.compute import resolve_device
from imckit.core.cache import cached, model_data_digest
from imckit.core.validate import check_bool, check_choice, check_count, check_seed
from imckit.memory.cells import BASELINE_BITS, CellConfig, paper_configurations
from imckit.core.data import ImageTensors
from imckit.memory.devices import SLC, FeFETMLC, check_device
from imckit.injection.errors import PerturbedEvaluator, QuantSpec, check_configs, check_repetitions, is_error_free

__all__ = ["SensitivityTable", "sensitivity_table", "PAPER_Q8_MLC0_REDUCTION"]

# Seed paper 000, Table I, column "Quantized 8, MLC 0" (%ΔMemory of layers 1-7; the dense layer's entry,
# -0.40, is not consistent with the paper's definition and is left out). Q8 MLC0 saves 4 of 12 devices
# per weight, so 3x each value is the layer's share of the paper network's weights.
PAPER_Q8_MLC0_REDUCTION = (0.050, 0.264, 0.264, 0.793, 2.466, 7.135, 22.197)

ARRAYS = ("memory_reduction", "loss_change", "loss_ci", "accuracy_change", "accuracy_ci")
"""The (layers, configurations) arrays of a :class:`SensitivityTable`, in the order of its fields."""


@dataclass(frozen=True, eq=False)
class SensitivityTable:
    """The sensitivity table: arrays of shape (layers, configurations), NaN where not allowed.

    Attributes:
        layers: layer names (rows).
        weights: each layer's number of weights.
        configs: configurations (columns).
        memory_reduction: %ΔMemory against the uniform 12-bit SLC network.
        loss_change, loss_ci: mean relative loss change (%) and its 95 % half-width.
        accuracy_change, accuracy_ci: mean relative accuracy change (%) and its 95 % half-width.
        baseline_loss, baseline_accuracy: the error-free uniform 12-bit network's loss and accuracy.
        repetitions: error draws per entry.
    """

    layers: tuple[str, ...]
    weights: tuple[int, ...]
    configs: tuple[CellConfig, ...]
    memory_reduction: np.ndarray
    loss_change: np.ndarray
    loss_ci: np.ndarray
    accuracy_change: np.ndarray
    accuracy_ci: np.ndarray
    baseline_loss: float
    baseline_accuracy: float
    repetitions: int

    def __post_init__(self):
        # shapes only (a hand-built table may hold any values): a mismatch would broadcast silently
        if not isinstance(self.layers, tuple) or not all(isinstance(name, str) for name in self.layers):
            raise TypeError(f"layers must be a tuple of layer names; got {self.layers!r}")
        if not isinstance(self.weights, tuple) or len(self.weights) != len(self.layers):
            raise ValueError(f"weights must be a tuple of one weight count per layer ({len(self.layers)}); "
                             f"got {self.weights!r}")
        for i, count in enumerate(self.weights):
            check_count(count, f"weights[{i}]")
        shape = (len(self.layers), len(check_configs(self.configs)))
        for name in ARRAYS:
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"{name} must have the shape (layers, configurations) = {shape}; got "
                                 f"{np.shape(getattr(self, name))}")
        check_count(self.repetitions, "repetitions")

    @property
    def memory_shares(self) -> np.ndarray:
        """Each layer's share of all mapped weights (%), i.e. of the uniform 12-bit network's devices."""
        weights = np.asarray(self.weights, dtype=float)
        return 100 * weights / weights.sum()

    @property
    def memory_used(self) -> np.ndarray:
        """Devices of each (layer, configuration) in % of the uniform 12-bit network (NaN where not allowed):
        summed over a genome's layers, the network's memory against the 12-bit one. Equals the layer's
        share minus ``memory_reduction``."""
        devices = np.array([c.devices_per_weight for c in self.configs], dtype=float)
        used = self.memory_shares[:, None] * devices[None, :] / BASELINE_BITS
        return np.where(np.isnan(self.loss_change), np.nan, used)

    def objectives(self) -> tuple[np.ndarray, np.ndarray]:
        """The two (layers, configurations) tables the search minimizes: ``memory_used`` and
        ``loss_change`` (the paper's surrogate: a genome's loss change is the sum of its layers')."""
        return self.memory_used, self.loss_change.copy()

    def frame(self, values: str = "loss_change"):
        """One of the arrays (:data:`ARRAYS`, or ``"memory_used"``) as a pandas DataFrame (rows: layers,
        columns: configuration labels)."""
        import pandas as pd

        check_choice(values, "values", ARRAYS + ("memory_used",))
        return pd.DataFrame(getattr(self, values), index=list(self.layers), columns=[c.label for c in self.configs])


def _entry_seed(seed: int, layer_index: int, config: CellConfig) -> int:
    return int(np.random.SeedSequence([seed, layer_index, config.bits, config.mlc_cells]).generate_state(1)[0])


def sensitivity_table(
    model: nn.Module,
    data: ImageTensors,
    configs: tuple[CellConfig, ...] = paper_configurations(),
    mlc=FeFETMLC(),
    slc=SLC(),
    repetitions: int = 100,
    seed: int = 0,
    quant: QuantSpec = QuantSpec(),
    mlc_excluded: tuple[str, ...] | None = None,
    cache: str | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
) -> SensitivityTable:
    """Compute (or load from the cache) the sensitivity table of ``model`` on ``data``.

    Args:
        model: the trained network (eval mode; not modified).
        data: the test images.
        configs: the configurations (columns), default the paper's ten.
        mlc, slc: devices of the 2-bit and 1-bit cells.
        repetitions: error draws per (layer, configuration), >= 1 (the paper: 100).
        seed: base seed of the error draws.
        quant: how weights are quantized.
        mlc_excluded: layers that may use SLC configurations only (``None``: the dense layers).
        cache: cache folder (``None``: :func:`imckit.core.cache.cache_dir`; ``""``: no cache, see
            :func:`imckit.core.cache.cached`).
        progress: show a progress bar over the layers.
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
    if mlc_excluded is not None:
        names = tuple(mlc_excluded) if hasattr(mlc_excluded, "__iter__") and not isinstance(mlc_excluded, str) \
            else None
        if names is None or not all(isinstance(name, str) for name in names):
            raise TypeError(f"mlc_excluded must be None or a sequence of layer names; got {mlc_excluded!r}")
        mlc_excluded = names
    target = resolve_device(device)
    evaluator = PerturbedEvaluator(model, data, quant, BASELINE_BITS, device=target)
    layers = list(evaluator.layers.values())
    if mlc_excluded is None:
        mlc_excluded = tuple(layer.name for layer in layers if layer.kind == "dense")
    unknown = set(mlc_excluded) - set(evaluator.layers)
    if unknown:
        raise ValueError(f"mlc_excluded must name layers of the model ({list(evaluator.layers)}); got unknown "
                         f"layer(s) {sorted(unknown)}")

    description = {
        "fingerprint": model_data_digest(model, data), "configs": [asdict(c) for c in configs],
        "mlc": mlc.transition_matrix().tolist(), "slc": slc.transition_matrix().tolist(),
        "repetitions": repetitions, "seed": seed, "quant": asdict(quant), "mlc_excluded": sorted(mlc_excluded),
    }
    if target.type != "cpu":  # CPU entries keep their key whatever device asked for
        description["device"] = target.type

    def compute() -> dict:
        base = evaluator.evaluate([{}])
        base_loss, base_acc = float(base.loss[0]), float(base.accuracy[0])
        total_weights = sum(layer.weights for layer in layers)
        shape = (len(layers), len(configs))
        arrays = {k: np.full(shape, np.nan) for k in ARRAYS}
        for i, layer in enumerate(tqdm(layers, desc="sensitivity", unit="layer", disable=not progress)):
            allowed = [j for j, c in enumerate(configs) if not (layer.name in mlc_excluded and c.mlc_cells > 0)]
            if not allowed:  # an MLC-excluded layer and only MLC configurations: its row stays NaN
                continue
            sets, parts = [], []
            for j in allowed:
                draws = 1 if is_error_free(configs[j], mlc, slc) else repetitions  # identical draws: evaluate once
                generator = torch.Generator().manual_seed(_entry_seed(seed, layer.index, configs[j]))
                parts.append(np.arange(len(sets), len(sets) + draws).repeat(repetitions // draws))
                sets += evaluator.perturbed_weight_sets({layer.name: configs[j]}, mlc, slc, draws, generator)
            result = evaluator.evaluate(sets)  # the layer's input activations are computed once for all sets
            for k, j in enumerate(allowed):
                part = torch.from_numpy(parts[k])
                arrays["memory_reduction"][i, j] = 100 * layer.weights * (
                    BASELINE_BITS - configs[j].devices_per_weight) / (BASELINE_BITS * total_weights)
                for name, values, reference in (("loss", result.loss[part], base_loss),
                                                ("accuracy", result.accuracy[part], base_acc)):
                    relative = 100 * (values.numpy() - reference) / reference
                    arrays[f"{name}_change"][i, j] = relative.mean()
                    arrays[f"{name}_ci"][i, j] = 1.959964 * relative.std(ddof=1) / np.sqrt(repetitions) \
                        if repetitions > 1 else np.nan
        return {"layers": [layer.name for layer in layers], "baseline_loss": base_loss, "baseline_accuracy": base_acc,
                **{k: torch.from_numpy(v) for k, v in arrays.items()}}

    # cache="" computes without reading or writing; the key covers torch's version and this module's code
    entry, _ = cached("sensitivity", description, compute, code=__name__, cache=cache, name="table-")
    return SensitivityTable(tuple(entry["layers"]), tuple(layer.weights for layer in layers), configs,
                            *(entry[k].numpy() for k in ARRAYS), entry["baseline_loss"], entry["baseline_accuracy"],
                            repetitions)
