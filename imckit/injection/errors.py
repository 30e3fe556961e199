"""Read errors of memory cells injected into quantized weights, and fast evaluation of perturbed networks.

The scheme of seed paper 000 (Sec. III, Fig. 4): quantize a layer's weights, slice each weight's word into
cells (:mod:`imckit.memory.cells`), read every cell back through its device's transition matrix
(:mod:`imckit.memory.devices`), reassemble the words and evaluate the network. Repeated R times, each repetition
an independent draw of every cell.

Sign handling: words are offset binary (:mod:`imckit.quantization.qkeras`), so a cell read one state too high always
raises the weight by one unit of that cell's significance, for negative and positive weights alike. A
read-back word is always a valid ``bits``-bit word, so a perturbed code stays in
``[-2**(bits-1), 2**(bits-1) - 1]``.

Speed: :class:`PerturbedEvaluator` evaluates on the kit's engine (:mod:`imckit.core.engine`): for any
network it can trace, per micro-batch of images every node of the layer graph that no perturbed weight feeds
is computed once, then only the remaining nodes run for each weight set (BatchNorm folded, channels-last);
a network it cannot trace exactly (or whose hooks tracing would skip) is evaluated with whole forward passes.
The model is never written to: replacement weights are passed functionally. Error draws are made on the CPU
from seeded generators, whatever ``device`` the evaluation runs on.
"""

from __future__ import annotations

import torch
from torch import nn

from imckit.core.data import ImageTensors, check_image_tensors
from imckit.core.engine import Engine, Evaluation
from imckit.core.models import mappable_layers
from imckit.core.validate import check_bool, check_count, check_generator, check_seed
from imckit.memory.cells import BASELINE_BITS, CellConfig, check_cell_config, check_configs
from imckit.memory.devices import SLC, FeFETMLC, check_device, sample_reads
from imckit.quantization.qkeras import QuantizedTensor, QuantSpec, check_bits  # QuantSpec: re-exported

__all__ = ["QuantSpec", "check_repetitions", "check_configs", "inject_cell_errors", "is_error_free",
           "expected_changed_share", "quantize_layer", "PerturbedEvaluator", "InjectionResult", "evaluate_with_errors"]


def check_repetitions(repetitions) -> int:
    """``repetitions`` (independent error draws) as an ``int`` >= 1 (:func:`imckit.core.validate.check_count`)."""
    return check_count(repetitions, "repetitions")


# check_configs (a non-empty sequence of CellConfig) lives in imckit.memory.cells; imported above, kept here
# for the modules that import it from this one.


def _check_quantized(q, name: str = "q") -> QuantizedTensor:
    if not isinstance(q, QuantizedTensor):
        raise TypeError(f"{name} must be a QuantizedTensor (imckit.quantization.quantize); got {type(q).__name__}")
    return q


def _check_matching(q: QuantizedTensor, config: CellConfig) -> None:
    if q.bits != config.bits:
        raise ValueError(f"config has {config.bits} bits but the weights were quantized to {q.bits}")


def _device_matrices(mlc, slc) -> dict[int, torch.Tensor]:
    """The validated transition matrices of the two devices, by bits per cell (checked on every use: a device
    is any object with ``bits_per_cell`` and ``transition_matrix()``)."""
    return {2: check_device(mlc, "mlc", 2), 1: check_device(slc, "slc", 1)}


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
        generator: random source, a ``torch.Generator`` or a seed (``None``: a fresh generator seeded with 0).

    The devices' transition matrices are validated here (square, stochastic, 2**bits_per_cell states), and
    every read-back code is a valid code of ``q``'s word.
    """
    _check_quantized(q)
    check_cell_config(config)
    _check_matching(q, config)
    repetitions = check_repetitions(repetitions)
    matrices = _device_matrices(mlc, slc)
    generator = check_generator(generator) if generator is not None else torch.Generator().manual_seed(0)
    words = q.to_words()
    shape = (repetitions, *words.shape)
    read = words.expand(shape).clone()
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
    check_cell_config(config)
    matrices = _device_matrices(mlc, slc)
    return all(torch.equal(matrices[width], torch.eye(len(matrices[width]), dtype=matrices[width].dtype))
               for _, width in config.cells())


def expected_changed_share(q: QuantizedTensor, config: CellConfig, mlc=FeFETMLC(), slc=SLC()) -> float:
    """Expected share of weights whose code changes in one read: ``1 - mean_w prod_cells P(correct | state)``,
    from the states the cells of ``q`` actually hold."""
    _check_quantized(q)
    check_cell_config(config)
    _check_matching(q, config)
    diagonals = {width: torch.diagonal(m) for width, m in _device_matrices(mlc, slc).items()}
    words = q.to_words().flatten()
    survive = torch.ones(words.shape, dtype=torch.float64)
    for shift, width in config.cells():
        survive *= diagonals[width][(words >> shift) & ((1 << width) - 1)]
    return float(1 - survive.mean())


def quantize_layer(model: nn.Module, modules: tuple[str, ...], bits: int,
                   quant: QuantSpec) -> dict[str, QuantizedTensor]:
    """Quantize the weights of ``modules`` (a mappable layer's bundle), each with its own scales (on the CPU,
    wherever the model is). Each weight must be finite: a NaN or infinite weight is a :class:`ValueError`
    naming it (``"conv1.weight must be a tensor of finite values; ..."``)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    if isinstance(modules, str) or not isinstance(modules, (tuple, list)) or not modules:
        raise ValueError(f"modules must be a non-empty tuple of module names; got {modules!r}")
    bits = check_bits(bits)
    if not isinstance(quant, QuantSpec):
        raise TypeError(f"quant must be a QuantSpec; got {type(quant).__name__}")
    weights = {}
    for name in modules:
        try:
            weight = model.get_submodule(name).weight if isinstance(name, str) else None
        except AttributeError:
            weight = None
        if not isinstance(weight, torch.Tensor):
            raise ValueError(f"modules must name submodules of model that have a weight; got {name!r}")
        weights[name] = weight
    return {name: quant.apply(weight.detach().cpu(), bits, f"{name}.weight") for name, weight in weights.items()}


InjectionResult = Evaluation
"""Per-weight-set loss and accuracy: the engine's :class:`imckit.core.engine.Evaluation` (the old name)."""


class PerturbedEvaluator:
    """Evaluates a network whose mappable weights are quantized, with some of them replaced per weight set.

    The *base* network has every mappable weight quantized to ``base_bits`` (the paper's uniform 12-bit
    reference) without errors. A weight set maps module names to replacement weights; each is evaluated
    on ``data`` by the engine (:class:`imckit.core.engine.Engine`), which reuses every activation that no
    replaced weight feeds (the base weights are the same in every set, so they never count as replaced).

    Args:
        model: the trained network (evaluated in eval mode; never moved or modified).
        data: the images to evaluate on.
        quant: how weights are quantized.
        base_bits: word length of the unperturbed weights (``None``: keep them in float).
        batch_size: images per micro-batch (256 was fastest on 2 CPU cores, benchmarks/bench_injection.py).
        device: where to evaluate (``"cpu"``, ``"cuda"``, ``"auto"``); weights are quantized and errors drawn
            on the CPU either way.
    """

    def __init__(self, model: nn.Module, data: ImageTensors, quant: QuantSpec = QuantSpec(),
                 base_bits: int | None = BASELINE_BITS, batch_size: int = 256, device: str | torch.device = "cpu"):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
        check_image_tensors(data, "data")
        if len(data) == 0:
            raise ValueError("data must hold at least one image; got 0")
        if not isinstance(quant, QuantSpec):
            raise TypeError(f"quant must be a QuantSpec; got {type(quant).__name__}")
        base_bits = None if base_bits is None else check_bits(base_bits, "base_bits")
        batch_size = check_count(batch_size, "batch_size")
        self.model, self.data, self.quant, self.batch_size = model, data, quant, batch_size
        self.engine = Engine(model, device)
        self.layers = {layer.name: layer for layer in mappable_layers(model)}
        self.base_bits = base_bits
        self.base_weights = {}
        if base_bits is not None:
            for layer in self.layers.values():
                for name, q in quantize_layer(model, layer.modules, base_bits, quant).items():
                    self.base_weights[name] = q.dequantize()

    @property
    def path(self) -> str:
        """``"fast"`` (layer graph) or ``"forward"`` (whole forward per set): how :meth:`evaluate` runs."""
        return self.engine.path

    def layer(self, name: str):
        if name not in self.layers:
            raise ValueError(f"unknown layer {name!r}; the model's mappable layers are {list(self.layers)}")
        return self.layers[name]

    def perturbed_weight_sets(self, layer_configs: dict[str, CellConfig], mlc=FeFETMLC(), slc=SLC(),
                              repetitions: int = 1, generator: torch.Generator | None = None) -> list[dict]:
        """``repetitions`` weight sets with the layers of ``layer_configs`` quantized to their configuration
        and read back through the devices (one independent draw of every cell per set; CPU tensors)."""
        self._check_layer_configs(layer_configs)
        _device_matrices(mlc, slc)
        repetitions = check_repetitions(repetitions)
        generator = check_generator(generator) if generator is not None else torch.Generator().manual_seed(0)
        sets = [dict() for _ in range(repetitions)]
        for layer_name, config in layer_configs.items():
            modules = self.layer(layer_name).modules
            for module, q in quantize_layer(self.model, modules, config.bits, self.quant).items():
                codes = inject_cell_errors(q, config, mlc, slc, repetitions, generator)
                weights = q.with_codes(codes).dequantize()
                for r in range(repetitions):
                    sets[r][module] = weights[r]
        return sets

    def _check_layer_configs(self, layer_configs) -> None:
        """``layer_configs`` must be a dict: known layer name -> :class:`CellConfig` (checked before any draw)."""
        if not isinstance(layer_configs, dict):
            raise TypeError(f"layer_configs must be a dict: layer name -> CellConfig; "
                            f"got {type(layer_configs).__name__}")
        for layer_name, config in layer_configs.items():
            if layer_name not in self.layers:
                raise ValueError(f"layer_configs names unknown layer {layer_name!r}; the model's mappable layers "
                                 f"are {list(self.layers)}")
            if not isinstance(config, CellConfig):
                raise ValueError(f"layer_configs[{layer_name!r}] must be a CellConfig; got {config!r}")

    def evaluate(self, weight_sets: list[dict] | None, progress: bool = False) -> Evaluation:
        """Loss and accuracy of the base network with each weight set's replacements.

        Args:
            weight_sets: one dict per evaluation, module name -> replacement weight (``{}``: the base; ``None``:
                the base alone); checked by :meth:`imckit.core.engine.Engine.check_weight_sets`.
            progress: show a progress bar over micro-batches.

        Running several sets at once through ``torch.func.vmap`` (their filters side by side in one
        convolution) was measured 0.3-1.0x the speed of one set after another on 2 CPU cores (8 sets,
        2,000 images, during development), so the sets run one by one on the shared cached activations.
        """
        progress = check_bool(progress, "progress")
        sets = self.engine.check_weight_sets(weight_sets)  # the engine's checks, before the base weights join
        merged = [{**self.base_weights, **ws} for ws in sets]
        return self.engine.evaluate(self.data, merged, batch_size=self.batch_size, progress=progress)


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
    device: str | torch.device = "cpu",
) -> Evaluation:
    """Evaluate ``model`` with the layers of ``layer_configs`` stored in cells of the given devices.

    Every other mappable layer is quantized to ``base_bits`` without errors. Returns the loss and accuracy
    of each of the ``repetitions`` independent error draws (seeded by ``seed``, drawn on the CPU), evaluated
    on ``device``. Every argument is checked before the evaluator quantizes anything (``seed`` an integer in
    ``[0, 2**63 - 1]``, ``repetitions`` >= 1, the devices' matrices stochastic).
    """
    seed = check_seed(seed)
    repetitions = check_repetitions(repetitions)
    progress = check_bool(progress, "progress")
    _device_matrices(mlc, slc)
    evaluator = PerturbedEvaluator(model, data, quant, base_bits, batch_size, device)
    generator = torch.Generator().manual_seed(seed)
    sets = evaluator.perturbed_weight_sets(layer_configs, mlc, slc, repetitions, generator)
    return evaluator.evaluate(sets, progress=progress)
