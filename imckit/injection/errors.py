"""Read errors of memory cells injected into quantized weights, and fast evaluation of perturbed networks.

The scheme of seed paper 000 (Sec. III, Fig. 4): quantize a layer's weights, slice each weight's word into
cells (:mod:`imckit.memory.cells`), read every cell back through its device's transition matrix
(:mod:`imckit.memory.devices`), reassemble the words and evaluate the network. Repeated R times, each repetition
an independent draw of every cell.

Sign handling: words are offset binary (:mod:`imckit.quantization.qkeras`), so a cell read one state too high always
raises the weight by one unit of that cell's significance, for negative and positive weights alike. A
read-back word is always a valid ``bits``-bit word, so a perturbed code stays in
``[-2**(bits-1), 2**(bits-1) - 1]``.

Speed: :class:`PerturbedEvaluator` splits the forward pass into the model's layer graph
(:func:`imckit.core.models.layer_graph`). Per micro-batch of images it computes once every node that no
perturbed weight feeds, then runs only the remaining nodes for each weight set. The model is never copied:
replacement weights are passed functionally.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from imckit.memory.cells import BASELINE_BITS, CellConfig
from imckit.core.data import ImageTensors
from imckit.memory.devices import SLC, FeFETMLC, sample_reads
from imckit.core.models import layer_graph, mappable_layers
from imckit.quantization.qkeras import ALPHAS, QuantizedTensor, quantize

__all__ = ["QuantSpec", "inject_cell_errors", "is_error_free", "expected_changed_share", "quantize_layer", "PerturbedEvaluator", "InjectionResult",
           "evaluate_with_errors", "naive_evaluate_with_errors"]


@dataclass(frozen=True)
class QuantSpec:
    """How the kit quantizes weights (arguments of :func:`imckit.quantization.qkeras.quantize` other than ``bits``).

    Attributes:
        alpha: ``None`` (fixed-point grid), ``"auto"`` or ``"auto_po2"`` (per-output-channel scale). The
            default ``"auto"`` is the one mode that keeps the baseline's accuracy at 12, 8 and 4 bits alike
            (chapter "Quantization and cell mapping").
        integer: integer bits (``alpha=None``: weights beyond +-2**integer are clipped).
        symmetric: symmetric grid (``alpha=None`` only; the auto modes are symmetric).
    """

    alpha: str | None = "auto"
    integer: int = 0
    symmetric: bool = False

    def __post_init__(self):
        if self.alpha not in ALPHAS:
            raise ValueError(f"alpha must be one of {ALPHAS}; got {self.alpha!r}")

    def apply(self, weight: torch.Tensor, bits: int) -> QuantizedTensor:
        return quantize(weight, bits, self.integer, self.symmetric, True, self.alpha, channel_axis=0)


def inject_cell_errors(
    q: QuantizedTensor,
    config: CellConfig,
    mlc=FeFETMLC(),
    slc=SLC(),
    repetitions: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Codes read back from cells: shape ``(repetitions, *q.codes.shape)``.

    Args:
        q: the quantized weights; ``q.bits`` must equal ``config.bits``.
        config: the cell configuration (which bits sit in MLC and SLC cells).
        mlc: device of the 2-bit cells (any object with ``bits_per_cell == 2`` and ``transition_matrix()``).
        slc: device of the 1-bit cells.
        repetitions: independent reads of every cell (>= 1).
        generator: random source (``None``: a fresh ``torch.Generator`` seeded with 0).
    """
    if q.bits != config.bits:
        raise ValueError(f"config has {config.bits} bits but the weights were quantized to {q.bits}")
    if isinstance(repetitions, bool) or not isinstance(repetitions, int) or repetitions < 1:
        raise ValueError(f"repetitions must be an integer >= 1; got {repetitions!r}")
    for device, width, role in ((mlc, 2, "mlc"), (slc, 1, "slc")):
        if int(device.bits_per_cell) != width:
            raise ValueError(f"{role} device must have bits_per_cell={width}; got {device.bits_per_cell}")
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    words = q.to_words()
    shape = (repetitions, *words.shape)
    read = words.expand(shape).clone()
    matrices = {2: mlc.transition_matrix(), 1: slc.transition_matrix()}
    for shift, width in config.cells():
        matrix = matrices[width]
        if torch.equal(matrix, torch.eye(len(matrix), dtype=matrix.dtype)):
            continue  # an error-free device: nothing to draw
        mask = (1 << width) - 1
        values = (words >> shift) & mask
        delta = sample_reads(matrix, values.expand(shape), generator) - values
        read += delta << shift
    return q.from_words(read)


def is_error_free(config: CellConfig, mlc=FeFETMLC(), slc=SLC()) -> bool:
    """Whether every cell of ``config`` sits on a device that always reads back what was written (an identity
    transition matrix), so that every repetition of an injection gives the same weights."""
    matrices = {2: mlc.transition_matrix(), 1: slc.transition_matrix()}
    return all(torch.equal(matrices[width], torch.eye(len(matrices[width]), dtype=matrices[width].dtype))
               for _, width in config.cells())


def expected_changed_share(q: QuantizedTensor, config: CellConfig, mlc=FeFETMLC(), slc=SLC()) -> float:
    """Expected share of weights whose code changes in one read: ``1 - mean_w prod_cells P(correct | state)``,
    from the states the cells of ``q`` actually hold."""
    words = q.to_words().flatten()
    survive = torch.ones(words.shape, dtype=torch.float64)
    diagonals = {2: torch.diagonal(mlc.transition_matrix()), 1: torch.diagonal(slc.transition_matrix())}
    for shift, width in config.cells():
        survive *= diagonals[width][(words >> shift) & ((1 << width) - 1)]
    return float(1 - survive.mean())


def quantize_layer(model: nn.Module, modules: tuple[str, ...], bits: int, quant: QuantSpec) -> dict[str, QuantizedTensor]:
    """Quantize the weights of ``modules`` (a mappable layer's bundle), each with its own scales."""
    return {name: quant.apply(model.get_submodule(name).weight, bits) for name in modules}


@dataclass(frozen=True)
class InjectionResult:
    """Per-weight-set (per-repetition) mean loss and accuracy.

    Attributes:
        loss: float64 tensor (R,), mean cross-entropy over the images.
        accuracy: float64 tensor (R,), top-1 accuracy (0 to 1).
    """

    loss: torch.Tensor
    accuracy: torch.Tensor

    def summary(self, confidence: float = 0.95) -> dict[str, float]:
        """Means with a normal-approximation confidence half-width over the repetitions."""
        from scipy.stats import norm

        if not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
            raise ValueError(f"confidence must be a number in (0, 1); got {confidence!r}")
        z = float(norm.ppf(0.5 + confidence / 2))
        out = {}
        for name in ("loss", "accuracy"):
            values = getattr(self, name)
            n = len(values)
            half = z * float(values.std(unbiased=True)) / math.sqrt(n) if n > 1 else math.nan
            out[f"{name}_mean"] = float(values.mean())
            out[f"{name}_ci"] = half
        return out


class PerturbedEvaluator:
    """Evaluates a network whose mappable weights are quantized, with some of them replaced per weight set.

    The *base* network has every mappable weight quantized to ``base_bits`` (the paper's uniform 12-bit
    reference) without errors. A weight set maps module names to replacement weights; each is evaluated
    on ``data`` through the layer graph, reusing every activation that no replaced weight feeds.

    Args:
        model: the trained network (put in eval mode; never modified).
        data: the images to evaluate on.
        quant: how weights are quantized.
        base_bits: word length of the unperturbed weights (``None``: keep them in float).
        batch_size: images per micro-batch (256 was fastest on 2 CPU cores, benchmarks/bench_injection.py).
    """

    def __init__(self, model: nn.Module, data: ImageTensors, quant: QuantSpec = QuantSpec(),
                 base_bits: int | None = BASELINE_BITS, batch_size: int = 256):
        model.eval()
        self.model, self.data, self.quant, self.batch_size = model, data, quant, batch_size
        self.layers = {layer.name: layer for layer in mappable_layers(model)}
        self.graph = layer_graph(model)
        self.base_bits = base_bits
        self.base_weights = {}
        if base_bits is not None:
            for layer in self.layers.values():
                for name, q in quantize_layer(model, layer.modules, base_bits, quant).items():
                    self.base_weights[name] = q.dequantize()

    def layer(self, name: str):
        if name not in self.layers:
            raise ValueError(f"unknown layer {name!r}; the model's mappable layers are {list(self.layers)}")
        return self.layers[name]

    def perturbed_weight_sets(self, layer_configs: dict[str, CellConfig], mlc=FeFETMLC(), slc=SLC(),
                              repetitions: int = 1, generator: torch.Generator | None = None) -> list[dict]:
        """``repetitions`` weight sets with the layers of ``layer_configs`` quantized to their configuration
        and read back through the devices (one independent draw of every cell per set)."""
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        sets = [dict() for _ in range(repetitions)]
        for layer_name, config in layer_configs.items():
            if not isinstance(config, CellConfig):
                raise ValueError(f"configuration of layer {layer_name!r} must be a CellConfig; got {config!r}")
            for module, q in quantize_layer(self.model, self.layer(layer_name).modules, config.bits, self.quant).items():
                codes = inject_cell_errors(q, config, mlc, slc, repetitions, generator)
                weights = q.with_codes(codes).dequantize()
                for r in range(repetitions):
                    sets[r][module] = weights[r]
        return sets

    def _plan(self, changed: set[str]) -> tuple[list, list]:
        dirty = set()
        for node in self.graph:
            if set(node.modules) & changed or any(i in dirty for i in node.inputs):
                dirty.add(node.name)
        prefix = [n for n in self.graph if n.name not in dirty]
        suffix = [n for n in self.graph if n.name in dirty]
        return prefix, suffix

    @torch.no_grad()
    def evaluate(self, weight_sets: list[dict], progress: bool = False) -> InjectionResult:
        """Loss and accuracy of the base network with each weight set's replacements.

        Args:
            weight_sets: one dict per evaluation, module name -> replacement weight (``{}``: the base).
            progress: show a progress bar over micro-batches.

        Running several sets at once through ``torch.func.vmap`` (their filters side by side in one
        convolution) was measured 0.3-1.0x the speed of one set after another on 2 CPU cores (8 sets,
        2,000 images, during development), so the sets run one by one on the shared cached activations.
        """
        if not weight_sets:
            raise ValueError("weight_sets must hold at least one set (an empty dict is the base network)")
        known = {m for layer in self.layers.values() for m in layer.modules}
        changed = set().union(*weight_sets)
        if changed - known:
            raise ValueError(f"unknown module(s) {sorted(changed - known)}; mappable modules are {sorted(known)}")
        for ws in weight_sets:
            for name, w in ws.items():
                expected = tuple(self.model.get_submodule(name).weight.shape)
                if tuple(w.shape) != expected:
                    raise ValueError(f"replacement weight for {name!r} has shape {tuple(w.shape)}; expected {expected}")
        prefix, suffix = self._plan(changed)
        needed = {i for node in suffix for i in node.inputs} | {"logits"}
        merged = [{**self.base_weights, **ws} for ws in weight_sets]
        loss = torch.zeros(len(weight_sets), dtype=torch.float64)
        correct = torch.zeros(len(weight_sets), dtype=torch.float64)
        n = len(self.data)
        starts = range(0, n, self.batch_size)
        for start in tqdm(starts, desc="evaluating", unit="batch", disable=not progress, mininterval=2.0):
            x = self.data.images[start : start + self.batch_size].contiguous(memory_format=torch.channels_last)
            y = self.data.labels[start : start + self.batch_size]
            values = {"input": x}
            for node in prefix:
                values[node.name] = node.run([values[i] for i in node.inputs], self.base_weights)
            cached = {k: v for k, v in values.items() if k in needed}
            for s, weights in enumerate(merged):
                local = dict(cached)
                for node in suffix:
                    local[node.name] = node.run([local[i] for i in node.inputs], weights)
                logits = local["logits"]
                loss[s] += nn.functional.cross_entropy(logits, y, reduction="sum").item()
                correct[s] += (logits.argmax(1) == y).sum().item()
        return InjectionResult(loss / n, correct / n)


def evaluate_with_errors(
    model: nn.Module,
    data: ImageTensors,
    layer_configs: dict[str, CellConfig],
    mlc=FeFETMLC(),
    slc=SLC(),
    repetitions: int = 10,
    seed: int = 0,
    quant: QuantSpec = QuantSpec(),
    base_bits: int | None = BASELINE_BITS,
    batch_size: int = 256,
    progress: bool = False,
) -> InjectionResult:
    """Evaluate ``model`` with the layers of ``layer_configs`` stored in cells of the given devices.

    Every other mappable layer is quantized to ``base_bits`` without errors. Returns the loss and accuracy
    of each of the ``repetitions`` independent error draws (seeded by ``seed``).
    """
    evaluator = PerturbedEvaluator(model, data, quant, base_bits, batch_size)
    generator = torch.Generator().manual_seed(int(seed))
    sets = evaluator.perturbed_weight_sets(layer_configs, mlc, slc, repetitions, generator)
    return evaluator.evaluate(sets, progress=progress)


@torch.no_grad()
def naive_evaluate_with_errors(model: nn.Module, data: ImageTensors, weight_sets: list[dict],
                               base_weights: dict, batch_size: int = 128) -> InjectionResult:
    """The naive way, for benchmarks and tests: write each set's weights into the model in place and run
    full forward passes (the original weights are restored afterwards)."""
    model.eval()
    originals = {name: model.get_submodule(name).weight.detach().clone() for name in base_weights}
    loss = np.zeros(len(weight_sets))
    correct = np.zeros(len(weight_sets))
    try:
        for s, ws in enumerate(weight_sets):
            for name, w in {**base_weights, **ws}.items():
                model.get_submodule(name).weight.copy_(w)
            for start in range(0, len(data), batch_size):
                x = data.images[start : start + batch_size]
                y = data.labels[start : start + batch_size]
                logits = model(x)
                loss[s] += nn.functional.cross_entropy(logits, y, reduction="sum").item()
                correct[s] += (logits.argmax(1) == y).sum().item()
    finally:
        for name, w in originals.items():
            model.get_submodule(name).weight.copy_(w)
    n = len(data)
    return InjectionResult(torch.from_numpy(loss / n), torch.from_numpy(correct / n))
