"""One-epoch error compensation with the faulty weights frozen (seed paper 000, Sec. V, Table II, Fig. 8).

After a network is written into its cells, program-verify reads every weight back and finds the ones whose
stored code differs from the written code. Those cannot be fixed (rewriting them gives the same error) and
stay as they are; the healthy weights are retrained for one epoch so that the network compensates, then
written again. For each of ``patterns`` independent error patterns this module:

1. quantizes every mappable layer to its configuration (per-channel scale, :class:`imckit.injection.errors.QuantSpec`)
   and reads every cell back once through its device;
2. marks the weights whose read code differs from the written one as *faulty* and fixes them at their
   erroneous values;
3. evaluates the network (the accuracy "without retraining");
4. retrains the healthy weights: the forward pass uses the faulty values where marked and the healthy
   weights fake-quantized onto the layer's fixed grid (straight-through estimator) elsewhere; gradients of
   faulty weights are masked to zero, so neither the gradient nor the optimizer's momentum ever moves them;
5. re-quantizes the retrained healthy weights onto the same grid, writes them (see ``fresh_write_errors``)
   and evaluates again with the same faults in place, on the same images (the accuracy "with
   retraining"). Steps 3 and 5 measure the same pattern, so their difference is a *paired* gain.

What the epoch may change is :attr:`CompensationConfig.mode` (:data:`MODES`); the two modes besides the
method itself are ablations that split its recovery into parts, each run on the very same error patterns
and batch orders (the same ``seed``):

- ``"full"`` (the method, the default): an ordinary training epoch apart from the frozen weights, as Keras'
  ``fit`` would run it: BatchNorm normalizes with batch statistics and updates its running averages, and
  the full-precision parameters the kit does not store in cells (BatchNorm scales and shifts, the dense
  bias) are trained too;
- ``"healthy_only"``: only the stored healthy weights move; BatchNorm is frozen (eval mode: it normalizes
  with its stored running statistics and keeps them; its scales and shifts and the dense bias are not
  trained). During development this diverged at lr 0.01 on a float-trained default baseline: without
  batch statistics the network loses BatchNorm's scale invariance;
- ``"bn_recalibration"``: no weight moves at all: the epoch's forward passes run in train mode with the
  written (faulty) weights, so BatchNorm re-estimates its running statistics for the network as stored
  (with the model's own BatchNorm momentum, the same update the full method's epoch makes); nothing else
  changes and nothing is rewritten.

Choices where the paper is silent (documented in the book's chapter): the grid (per-channel step) is the
one of the first write, so the faulty codes keep their meaning. SGD with Nesterov momentum, a cosine
learning-rate decay over the epoch, no weight decay. The model itself is never modified: the epoch trains a
copy made once per error pattern. The epoch is the kit's one training loop, :func:`imckit.core.fit.fit`,
with this module's step (the forward pass above) and the faulty entries' gradients masked; its batch order
is drawn from the pattern's generator right after the pattern's errors (the BatchNorm recalibration draws
the same order the same way and runs the forward passes itself, without gradients).
By default the retrained weights are written without new errors (``fresh_write_errors=False``): the
paper's program-verify scheme writes and verifies them. With ``True`` every healthy weight whose code
changed is written again and read back through its device, so it may draw a new error (which then stays).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from imckit.core.compute import resolve_device
from imckit.core.data import ImageTensors, check_image_tensors
from imckit.core.fit import fit
from imckit.core.validate import (check_bool, check_choice, check_count, check_int, check_number, check_seed,
                                  check_shape, check_tensor)
from imckit.memory.cells import BASELINE_BITS, CellConfig
from imckit.memory.devices import SLC, FeFETMLC, check_device
from imckit.injection.errors import PerturbedEvaluator, QuantSpec, inject_cell_errors, quantize_layer
from imckit.quantization.qkeras import QuantizedTensor

__all__ = ["MODES", "CompensationConfig", "CompensationResult", "requantize", "compensate"]

# What the compensation epoch may change (see the module docstring): the method and its two ablations.
MODES = ("full", "healthy_only", "bn_recalibration")


@dataclass(frozen=True)
class CompensationConfig:
    """Settings of the compensation training.

    Attributes:
        epochs: passes over ``train_images`` (the paper: 1).
        train_images: training images per pass (``None``: the whole training set; the default profile uses
            a subset to fit its time budget).
        batch_size: images per SGD step (>= 2 in the modes where BatchNorm takes batch statistics,
            ``"full"`` and ``"bn_recalibration"``: they skip batches of one image; so must ``train_images``).
        lr: initial learning rate, decayed to 0 by a cosine over all steps.
        momentum: SGD momentum (Nesterov).
        fresh_write_errors: whether rewritten healthy weights draw new read errors (default ``False``,
            the paper's assumption: program-verify writes them correctly).
        mode: what the epoch changes (:data:`MODES`, see the module docstring): ``"full"`` (the method:
            healthy weights, BatchNorm with batch statistics and running averages, its scales and shifts and
            the biases), ``"healthy_only"`` (healthy weights only, BatchNorm frozen in eval mode) or
            ``"bn_recalibration"`` (no weight moves; train-mode forward passes re-estimate BatchNorm's
            running statistics).
    """

    epochs: int = 1
    train_images: int | None = None
    batch_size: int = 128
    lr: float = 0.01
    momentum: float = 0.9
    fresh_write_errors: bool = False
    mode: str = "full"

    def __post_init__(self):
        plain = lambda value: value.item() if isinstance(value, np.generic) else value  # noqa: E731 (JSON-able)
        check_choice(self.mode, "mode", MODES)
        check_int(self.epochs, "epochs", 1, 100)
        # BatchNorm's batch statistics need two images: modes that use them skip batches of one image, so a
        # batch size (or a training set) of one would silently train nothing
        least = 2 if self.mode in ("full", "bn_recalibration") else 1
        why = f" in mode {self.mode!r} (BatchNorm takes batch statistics)" if least == 2 else ""
        for name, allowed in (("train_images", f"None or an integer >= {least}"),
                              ("batch_size", f"an integer >= {least}")):
            value = getattr(self, name)
            if name == "train_images" and value is None:
                continue
            try:
                check_count(value, name, least)
            except (TypeError, ValueError) as error:
                raise type(error)(f"{name} must be {allowed}{why}; got {value!r}") from None
        check_number(self.lr, "lr", 0.0, 10.0, low_open=True)
        check_number(self.momentum, "momentum", 0.0, 1.0, high_open=True)
        check_bool(self.fresh_write_errors, "fresh_write_errors")
        for name in ("epochs", "train_images", "batch_size", "lr", "momentum", "fresh_write_errors"):
            object.__setattr__(self, name, plain(getattr(self, name)))

    @property
    def trains_weights(self) -> bool:
        """Whether the epoch retrains the healthy stored weights (all modes but ``"bn_recalibration"``)."""
        return self.mode != "bn_recalibration"

    @property
    def batch_statistics(self) -> bool:
        """Whether BatchNorm runs in train mode during the epoch (batch statistics, running averages
        updated): ``"full"`` and ``"bn_recalibration"``."""
        return self.mode != "healthy_only"


@dataclass(frozen=True, eq=False)
class CompensationResult:
    """Per error pattern (arrays of shape (patterns,)).

    Attributes:
        before_loss, before_accuracy: the faulty network without retraining.
        after_loss, after_accuracy: after compensation, same faults in place.
        faulty_share: share of all mapped weights that program-verify found faulty (0-1).
        rewritten_share: share of the healthy weights whose code retraining changed (0-1).
        new_fault_share: share of all mapped weights that became faulty when rewritten (0 unless
            ``fresh_write_errors``).
    """

    before_loss: np.ndarray
    before_accuracy: np.ndarray
    after_loss: np.ndarray
    after_accuracy: np.ndarray
    faulty_share: np.ndarray
    rewritten_share: np.ndarray
    new_fault_share: np.ndarray


def requantize(q: QuantizedTensor, weights: torch.Tensor) -> torch.Tensor:
    """Codes of ``weights`` on the fixed grid of ``q`` (its step, stride and offset): the nearest valid
    code, clipped to the word range. ``weights`` must be finite and of the shape of ``q.codes``."""
    if not isinstance(q, QuantizedTensor):
        raise TypeError(f"q must be a QuantizedTensor (imckit.quantization.quantize); got {type(q).__name__}")
    check_tensor(weights, "weights", floating=True, nonempty=False)
    check_shape(weights, "weights", tuple(q.codes.shape))
    return _requantize(q, weights)


def _requantize(q: QuantizedTensor, weights: torch.Tensor) -> torch.Tensor:
    words = torch.round((weights / q.step - q.code_offset) / q.code_stride).clamp(0, 2 ** q.bits - 1)
    return q.from_words(words.to(torch.int64))


def _pattern_seed(seed: int, pattern: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(pattern), 7]).generate_state(1)[0])


def _check_configs(evaluator: PerturbedEvaluator, layer_configs) -> None:
    """``layer_configs`` must be a non-empty dict of the evaluator's layer names to :class:`CellConfig`."""
    if not isinstance(layer_configs, dict):
        raise TypeError(f"layer_configs must be a non-empty dict: layer name -> CellConfig; got "
                        f"{type(layer_configs).__name__}")
    if not layer_configs:
        raise ValueError("layer_configs must be a non-empty dict: layer name -> CellConfig; got {}")
    for name, config in layer_configs.items():
        if not isinstance(name, str) or name not in evaluator.layers:
            raise ValueError(f"layer_configs must name mappable layers of the model ({list(evaluator.layers)}); "
                             f"got unknown layer {name!r}")
        if not isinstance(config, CellConfig):
            raise TypeError(f"layer_configs[{name!r}] must be a CellConfig; got {config!r}")


def compensate(
    model: nn.Module,
    train_data: ImageTensors,
    test_data: ImageTensors,
    layer_configs: dict[str, CellConfig],
    mlc=FeFETMLC(),
    slc=SLC(),
    patterns: int = 3,
    seed: int = 0,
    quant: QuantSpec = QuantSpec(),
    config: CompensationConfig = CompensationConfig(),
    progress: bool = True,
    return_weights: bool = False,
    device: str | torch.device = "cpu",
):
    """Compensate ``patterns`` independent error patterns of a configured network (see the module
    docstring) and return a :class:`CompensationResult`.

    Args:
        model: the trained network (never modified: retraining works on copies of the stored weights).
        train_data: images the healthy weights are retrained on (``config.train_images`` of them, drawn
            per pattern).
        test_data: images evaluated before and after.
        layer_configs: layer name -> configuration; layers not named stay at the error-free 12-bit base.
        mlc, slc: devices of the 2-bit and 1-bit cells.
        patterns: independent error patterns (>= 1).
        seed: base seed (error draws, training subset and batch order of each pattern).
        quant: how weights are quantized.
        config: training settings.
        progress: show a progress bar over the patterns.
        return_weights: also return, per pattern, a dict with the written weights before and after
            retraining and the faulty masks (for tests and figures).
        device: where the retraining and the evaluations run (``"cpu"``, ``"cuda"``, ``"auto"``; see
            :mod:`imckit.core.compute`); the error patterns are drawn on the CPU from the seeded generators
            either way, and every returned tensor is on the CPU.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    patterns = check_count(patterns, "patterns")
    seed = check_seed(seed)
    progress = check_bool(progress, "progress")
    return_weights = check_bool(return_weights, "return_weights")
    if not isinstance(config, CompensationConfig):
        raise TypeError(f"config must be a CompensationConfig; got {type(config).__name__}")
    check_image_tensors(train_data, "train_data", nonempty=True)
    check_image_tensors(test_data, "test_data", nonempty=True)
    if tuple(train_data.images.shape[1:]) != tuple(test_data.images.shape[1:]):
        raise ValueError(f"train_data.images must have the image shape (C, H, W) of test_data "
                         f"{tuple(test_data.images.shape[1:])}; got {tuple(train_data.images.shape[1:])}")
    if config.train_images is not None and config.train_images > len(train_data):
        raise ValueError(f"config.train_images must be at most the {len(train_data)} training images; got "
                         f"{config.train_images}")
    if config.train_images is None and config.batch_statistics and len(train_data) < 2:
        raise ValueError(f"train_data must hold at least 2 images in mode {config.mode!r} (BatchNorm takes "
                         f"batch statistics); got {len(train_data)}")
    check_device(mlc, "mlc", 2)
    check_device(slc, "slc", 1)
    target = resolve_device(device)
    model.eval()
    evaluator = PerturbedEvaluator(model, test_data, quant, BASELINE_BITS, device=target)
    _check_configs(evaluator, layer_configs)
    if config.trains_weights:  # the training labels must be classes of the model (one image tells how many)
        with torch.no_grad():
            first = next((p for p in model.parameters()), None)
            probe = test_data.images[:1].to(first.device if first is not None else "cpu")  # checked above
            classes = model(probe).shape[-1]
        check_image_tensors(train_data, "train_data", classes=classes)
    quantized = {}  # module -> (QuantizedTensor, CellConfig)
    for name, cell_config in layer_configs.items():
        for module, q in quantize_layer(model, evaluator.layer(name).modules, cell_config.bits, quant).items():
            quantized[module] = (q, cell_config)
    total_weights = sum(q.codes.numel() for q, _ in quantized.values())
    n_train = config.train_images or len(train_data)
    keys = ("before_loss", "before_accuracy", "after_loss", "after_accuracy", "faulty_share", "rewritten_share",
            "new_fault_share")
    out = {k: np.empty(patterns) for k in keys}
    kept = []
    for p in tqdm(range(patterns), desc="compensating", unit="pattern", disable=not progress):
        generator = torch.Generator().manual_seed(_pattern_seed(seed, p))
        read = {m: inject_cell_errors(q, c, mlc, slc, 1, generator)[0] for m, (q, c) in quantized.items()}
        faulty = {m: read[m] != quantized[m][0].codes for m in quantized}
        written = {m: quantized[m][0].with_codes(read[m]).dequantize() for m in quantized}
        before = evaluator.evaluate([written])
        if config.trains_weights:
            trained, retrained_model = _retrain(model, train_data, quantized, read, faulty, n_train, config,
                                                generator, target)
            codes = {m: torch.where(faulty[m], read[m], _requantize(quantized[m][0], trained[m])) for m in quantized}
        else:  # BatchNorm recalibration: the stored codes stay as read, only running statistics change
            retrained_model = _recalibrate(model, train_data, written, n_train, config, generator, target)
            trained = {m: model.get_submodule(m).weight.detach().clone() for m in quantized}
            codes = dict(read)
        rewritten = {m: (codes[m] != quantized[m][0].codes) & ~faulty[m] for m in quantized}
        new_faults = 0
        if config.fresh_write_errors and config.trains_weights:
            for m, (q, c) in quantized.items():
                again = inject_cell_errors(q.with_codes(codes[m]), c, mlc, slc, 1, generator)[0]
                changed = rewritten[m] & (again != codes[m])
                codes[m] = torch.where(changed, again, codes[m])
                new_faults += int(changed.sum())
        final = {m: quantized[m][0].with_codes(codes[m]).dequantize() for m in quantized}
        after_evaluator = PerturbedEvaluator(retrained_model, test_data, quant, BASELINE_BITS, device=target) \
            if config.batch_statistics else evaluator  # its BatchNorm (and, in "full", its biases) changed
        after = after_evaluator.evaluate([final])
        healthy = total_weights - sum(int(f.sum()) for f in faulty.values())
        for key, value in (("before_loss", before.loss[0]), ("before_accuracy", before.accuracy[0]),
                           ("after_loss", after.loss[0]), ("after_accuracy", after.accuracy[0]),
                           ("faulty_share", (total_weights - healthy) / total_weights),
                           ("rewritten_share", sum(int(r.sum()) for r in rewritten.values()) / max(healthy, 1)),
                           ("new_fault_share", new_faults / total_weights)):
            out[key][p] = float(value)
        if return_weights:
            kept.append({"written": written, "final": final, "faulty": faulty, "trained": trained})
    result = CompensationResult(**out)
    return (result, kept) if return_weights else result


def _retrain(model, data, quantized, read, faulty, n_train, config, generator, device):
    """One compensation run on a copy of ``model`` (the loop is :func:`imckit.core.fit.fit`): float shadows of
    the stored weights are trained with the faulty entries fixed. Returns the trained float weights (faulty
    entries unchanged from the original float weights) and the copy (with its retrained BatchNorm and
    biases in mode ``"full"``; unchanged in ``"healthy_only"``), both on the CPU."""
    full = config.mode == "full"
    work = copy.deepcopy(model).to(device)
    stored = {f"{m}.weight" for m in quantized}
    for name, param in work.named_parameters():
        param.requires_grad_(full and name not in stored)
    params = {m: model.get_submodule(m).weight.detach().clone().to(device).requires_grad_(True) for m in quantized}
    grids = {m: replace(q, codes=q.codes.to(device), step=q.step.to(device)) for m, (q, _) in quantized.items()}
    fixed = {m: grids[m].with_codes(read[m].to(device)).dequantize() for m in quantized}
    frozen = {m: faulty[m].to(device) for m in quantized}
    extra = [p for p in work.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(list(params.values()) + extra, lr=config.lr, momentum=config.momentum,
                                nesterov=config.momentum > 0)

    def step(net, x, y, info):
        weights = {}
        for m, param in params.items():
            q = grids[m]
            grid = q.with_codes(_requantize(q, param.detach())).dequantize()
            ste = param + (grid - param).detach()  # forward: on the grid; backward: identity
            weights[f"{m}.weight"] = torch.where(frozen[m], fixed[m], ste)
        logits = torch.func.functional_call(net, weights, (x,))
        return nn.functional.cross_entropy(logits, y), {}

    fit(work, data, step, optimizer=optimizer, epochs=config.epochs, batch_size=config.batch_size,
        generator=generator, images=n_train, min_batch=2 if full else 1, train_mode=full,
        grad_masks={params[m]: ~faulty[m] for m in quantized},  # faulty weights get no gradient
        channels_last="inputs", desc="compensation", device=device)
    for param in work.parameters():
        param.requires_grad_(False)
    return {m: p.detach().cpu() for m, p in params.items()}, work.cpu()


def _recalibrate(model, data, written, n_train, config, generator, device):
    """BatchNorm recalibration on a copy of ``model``: ``config.epochs`` passes over ``n_train`` images in
    train mode, without gradients, with the stored weights replaced by ``written`` (the faulty network as
    read back), so that BatchNorm's running statistics follow the stored network; nothing else changes.
    The batch order is drawn from ``generator`` exactly as :func:`imckit.core.fit.fit` draws it (one
    ``torch.randperm`` per epoch, its first ``n_train``, batches of ``config.batch_size``, a last batch of
    one image skipped), so the full method's epoch and this one see the same batches. Returns the copy, on
    the CPU, in eval mode."""
    work = copy.deepcopy(model).to(device)
    weights = {f"{m}.weight": w.to(device) for m, w in written.items()}
    images = data.images
    work.train()
    with torch.no_grad():
        for _ in range(config.epochs):
            order = torch.randperm(len(data), generator=generator)[:n_train]
            for begin in range(0, n_train, config.batch_size):
                index = order[begin : begin + config.batch_size]
                if len(index) < 2:
                    continue  # BatchNorm cannot take batch statistics of one image
                torch.func.functional_call(work, weights, (images[index].to(device),))
    return work.eval().cpu()
