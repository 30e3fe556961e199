"""The one training loop of the kit: plain training, compensation and regularized QAT all run :func:`fit`.

>>> from imckit.core.fit import fit
>>> optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)  # doctest: +SKIP
>>> epochs = fit(model, data.train, optimizer=optimizer, epochs=2, batch_size=128, generator=0)  # doctest: +SKIP
>>> epochs[-1].means["loss"], epochs[-1].means["accuracy"]                                  # doctest: +SKIP

What the loop does, every epoch: draw the batch order with ``torch.randperm`` from a CPU generator (the
first ``images`` of it), put the model in train (or eval) mode, and for every batch call a *step function*
for the loss, then ``zero_grad``, ``backward``, the optimizer's step and the learning-rate schedule's step.
What differs between the kit's three trainings is passed in, not copied:

* plain training (:func:`imckit.core.training.train`): the default :func:`cross_entropy_step`; SGD with
  Nesterov momentum and weight decay over the model's parameters; ``on_epoch`` evaluates on the test data
  and keeps the history; ``generator`` is the run's seed; model and images channels-last.
* compensation (:func:`imckit.compensation.compensate.compensate`): a step whose forward pass uses the
  faulty weights fixed and the healthy ones fake-quantized onto their grid (straight-through); SGD over
  float shadows of the stored weights (plus BatchNorm and biases when they train); ``grad_masks`` freeze
  the faulty entries; ``train_mode`` and ``min_batch=2`` only when BatchNorm trains; ``generator`` is the
  error pattern's, which drew the pattern's errors first; images channels-last (``"inputs"``).
* regularized QAT (:func:`imckit.qat.training.train_qat`): a step with the cross-entropy plus
  ``lambda(step) * regularizer`` (or the STE / chip-in-loop forward pass), reading the step count from
  :class:`StepInfo`; SGD with plain momentum and a second parameter group for the quantizers;
  ``after_step`` remaps faulty weights; ``on_epoch`` records the distance to the levels and lambda;
  ``min_batch=2``; images channels-last (``"inputs"``).

The loop is hand-written on purpose: it is a few dozen lines; no training library is a dependency of the
kit; and the chapters, run by papermill, need batch orders that are drawn from a seeded generator in a
known order (compensation draws its batch order from the same generator that drew the error pattern, so
the order of the draws is part of the result).

Data augmentation: ``augment`` (plain training passes :func:`random_crop_flip` for colour 32x32 images,
:attr:`imckit.core.training.TrainConfig.augment`) transforms each batch on the training device after it is
drawn, with its random numbers drawn from the same generator, after the epoch's permutation; without it
nothing else is drawn, so the batches and results are those of the loop without augmentation.

Devices: ``device`` (``"cpu"``, ``"cuda"``, ``"auto"``; :func:`imckit.core.compute.resolve_device`) is where
the model, the data and the steps run; the batch order is still drawn on the CPU generator and its indices
moved, so the same seed gives the same batches everywhere, and a run with ``device="cpu"`` or ``"auto"`` on a
machine without a GPU is bit-identical. The model comes back on the device it came in on.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm import tqdm

from imckit.core.compute import resolve_device
from imckit.core.data import check_image_tensors
from imckit.core.validate import check_bool, check_choice, check_count, check_generator, check_int

__all__ = ["StepInfo", "EpochRecord", "fit", "cross_entropy_step", "batch_sum", "cosine_decay", "random_crop_flip",
           "SCHEDULES"]

SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class StepInfo:
    """Where the loop stands, passed to the step function and to ``after_step``.

    Attributes:
        epoch: the epoch, from 0.
        step: optimizer steps done so far (before this step for the step function, including it for
            ``after_step``); skipped batches do not count.
        total: steps planned, ``ceil(images / batch_size) * epochs`` (the schedule's length).
    """

    epoch: int
    step: int
    total: int


@dataclass
class EpochRecord:
    """What one epoch did.

    Attributes:
        epoch: the epoch, from 0.
        steps: optimizer steps done by the end of this epoch (all epochs together).
        images: images trained on in this epoch (skipped batches excluded).
        seconds: wall time of the epoch's steps (without ``on_epoch``).
        means: per statistic the step function returned, its mean per image over the epoch.
    """

    epoch: int
    steps: int
    images: int
    seconds: float
    means: dict[str, float] = field(default_factory=dict)


StepFunction = Callable[[nn.Module, torch.Tensor, torch.Tensor, StepInfo], "tuple[torch.Tensor, dict]"]


def batch_sum(mean: torch.Tensor, n: int) -> torch.Tensor:
    """A batch-mean statistic as its sum over the batch's ``n`` images, in double precision (the value
    ``float(mean) * n`` without a host synchronization); ``n`` is an integer >= 0."""
    check_int(n, "n", 0)
    return mean.detach().double() * n


def cross_entropy_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, info: StepInfo):
    """The plain step: cross-entropy of ``model(x)``; statistics ``loss`` and ``accuracy``."""
    logits = model(x)
    loss = nn.functional.cross_entropy(logits, y)
    return loss, {"loss": batch_sum(loss, len(y)), "accuracy": (logits.argmax(1) == y).sum()}


def cosine_decay(total: int) -> Callable[[int], float]:
    """The learning-rate factor after ``step`` of ``total`` steps: ``0.5 (1 + cos(pi min(step, total) / total))``
    (1 at the start, 0 at the end); ``total`` is an integer >= 0 (0 and 1 alike: one step)."""
    total = max(1, check_int(total, "total", 0))
    return lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total))


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """The standard CIFAR augmentation of a batch, vectorized on its device: each image is padded with
    ``padding`` zeros on every side, cropped back to its size at a random offset (0 to ``2 * padding`` in
    each direction, uniform) and mirrored left-right with probability 1/2.

    The images are the kit's normalized tensors, so a zero is the training split's mean colour. The random
    numbers (per image: the row offset, the column offset, then, for the whole batch, the flips) are drawn
    from the CPU ``generator`` and moved to ``x``'s device, so the same generator state gives the same batch
    on any device. ``x`` is (N, C, H, W); the result has its shape, dtype and device (default layout).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a batch of images (N, C, H, W), a torch.Tensor; got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"x must be a batch of images (N, C, H, W); got shape {tuple(x.shape)}")
    if not isinstance(generator, torch.Generator) or generator.device.type != "cpu":
        raise TypeError(f"generator must be a CPU torch.Generator; got {generator!r}")
    padding = check_int(padding, "padding", 0, 64)
    n, _, height, width = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (n, 2), generator=generator).to(x.device)
    flips = torch.randint(0, 2, (n,), generator=generator, dtype=torch.bool).to(x.device)
    padded = nn.functional.pad(x, (padding, padding, padding, padding))
    rows = offsets[:, :1] + torch.arange(height, device=x.device)  # (N, H): padded row of each output row
    columns = torch.arange(width, device=x.device).expand(n, width)
    columns = offsets[:, 1:] + torch.where(flips[:, None], columns.flip(1), columns)  # (N, W)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], columns[:, None, None, :]].contiguous()


def _probe(model: nn.Module, x: torch.Tensor, layout: torch.memory_format, device: torch.device):
    """``(output, failed)`` of one eval-mode forward of a copy of ``model`` on ``x`` in ``layout`` (the model,
    its state and the random generators are left as they were); ``(None, False)`` when the model cannot be
    copied."""
    try:
        probe = copy.deepcopy(model)
    except Exception:  # noqa: BLE001 -- a model that cannot be copied is not probed
        return None, False
    devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        try:
            return probe.eval()(x.contiguous(memory_format=layout)), False
        except Exception:  # noqa: BLE001 -- the training step raises it again, with its context
            return None, True


def fit(
    model: nn.Module,
    data,
    step: StepFunction = cross_entropy_step,
    *,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    batch_size: int,
    generator: torch.Generator | int,
    images: int | None = None,
    schedule: str | Callable[[int], float] = "cosine",
    min_batch: int = 1,
    train_mode: bool = True,
    grad_masks: dict[torch.Tensor, torch.Tensor] | None = None,
    after_step: Callable[[StepInfo], None] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    channels_last: bool | str = True,
    progress: bool = False,
    desc: str = "training",
    device: str | torch.device = "cpu",
) -> list[EpochRecord]:
    """Train ``model`` in place with ``optimizer`` for ``epochs`` passes over ``data``; return one
    :class:`EpochRecord` per epoch (see the module docstring for what each of the kit's trainings passes).

    Args:
        model: the network; moved to ``device`` for the run and back to its device at the end, left in
            eval mode and in the default memory layout.
        data: an :class:`imckit.core.data.ImageTensors`: floating-point images (N, C, H, W) of the model's
            dtype, labels (N,) of class indices (checked against the model's number of outputs, read from the
            forward pass that tries the layout; :func:`imckit.core.data.check_image_tensors`).
        step: ``step(model, x, y, info) -> (loss, stats)``: the loss of one batch (a scalar tensor to
            backpropagate) and a dict of statistics, each the batch's *sum* over its images (a number or
            a 0-d tensor; :func:`batch_sum` turns a mean into one); the records hold their per-image
            means. Default :func:`cross_entropy_step`.
        optimizer: built over the parameters to train (and any other leaf tensors, e.g. float shadows
            of stored weights, created on ``device``).
        epochs: passes over the data (an integer >= 0; 0: nothing is trained).
        batch_size: images per step (an integer >= 1).
        generator: the CPU :class:`torch.Generator` that draws each epoch's batch order (one
            ``torch.randperm(len(data))`` per epoch, consumed in this order), or a seed for a new one (an
            integer in [0, 2**63 - 1], :func:`imckit.core.validate.check_generator`).
        images: images per epoch, the first of each permutation (``None``: all).
        schedule: learning-rate factor per step: ``"cosine"`` (:func:`cosine_decay` over all planned
            steps), ``"constant"``, or a function of the step count.
        min_batch: batches with fewer images are skipped (2 where BatchNorm takes batch statistics and
            the last batch could hold one image); a skipped batch is not a step.
        train_mode: the module mode during the steps (``False``: BatchNorm uses and keeps its running
            statistics).
        grad_masks: leaf tensor -> mask of its shape (1 trains the entry, 0 freezes it): gradients are
            multiplied by the mask, so a frozen entry never moves (its momentum stays 0; its group must
            have no weight decay).
        after_step: called after every optimizer step (e.g. to remap weights).
        on_epoch: called after every epoch with its record, the model in the default memory layout
            (e.g. to evaluate on test data and keep a history).
        augment: ``augment(x, generator) -> x``, applied to each batch's images on ``device`` before the
            step, drawing its random numbers from ``generator`` (e.g. :func:`random_crop_flip`); ``None``:
            the images as they are (and nothing more is drawn from the generator).
        channels_last: run the steps in the channels-last memory layout, ~15-30 % faster on CPU
            (benchmarks/bench_training.py): ``True`` converts the model and the images, ``"inputs"`` the
            images only (the model keeps its layout; regularized QAT runs so, as it did before the loop was
            shared: converting its model changes the float rounding of its results), ``False`` neither.
            A model whose forward cannot take channels-last tensors (e.g. ``x.view(...)`` after a
            convolution) trains in the default layout: before the first step one eval-mode forward of a copy
            of the model on two images tries the layout (the model and the random generators are untouched).
        progress: show a progress bar over the steps.
        desc: the progress bar's label.
        device: where to train (see the module docstring).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    if not callable(step):
        raise TypeError(f"step must be a function (model, x, y, info) -> (loss, stats); got {step!r}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer; got {type(optimizer).__name__}")
    epochs = check_count(epochs, "epochs", 0)
    batch_size = check_count(batch_size, "batch_size")
    min_batch = check_count(min_batch, "min_batch")
    check_image_tensors(data, "data", dtype=next((p.dtype for p in model.parameters() if p.is_floating_point()),
                                                 None), nonempty=epochs > 0)
    n_data = len(data)
    if images is not None:
        images = check_count(images, "images", 1, max(1, n_data))
    n = n_data if images is None else images
    generator = check_generator(generator)
    if generator.device.type != "cpu":
        raise ValueError(f"generator must be a CPU torch.Generator or a seed; got one on {generator.device}")
    if not callable(schedule):
        check_choice(schedule, "schedule", SCHEDULES)
    if augment is not None and not callable(augment):
        raise TypeError(f"augment must be None or a function (images, generator) -> images; got {augment!r}")
    if not isinstance(channels_last, str):
        channels_last = check_bool(channels_last, "channels_last")
    check_choice(channels_last, "channels_last", (True, False, "inputs"))
    train_mode = check_bool(train_mode, "train_mode")
    progress = check_bool(progress, "progress")
    if not isinstance(desc, str):
        raise TypeError(f"desc must be a str; got {type(desc).__name__}")
    if after_step is not None and not callable(after_step):
        raise TypeError(f"after_step must be None or a function of a StepInfo; got {after_step!r}")
    if on_epoch is not None and not callable(on_epoch):
        raise TypeError(f"on_epoch must be None or a function of an EpochRecord; got {on_epoch!r}")
    if grad_masks is not None and not isinstance(grad_masks, dict):
        raise TypeError(f"grad_masks must be None or a dict (tensor -> mask); got {type(grad_masks).__name__}")
    target = resolve_device(device)

    steps_per_epoch = math.ceil(n / batch_size)
    total = steps_per_epoch * epochs
    factor = cosine_decay(total) if schedule == "cosine" else None if schedule == "constant" else schedule
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor) if factor is not None else None

    masks = []
    in_groups = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    for tensor, mask in (grad_masks or {}).items():
        if not isinstance(tensor, torch.Tensor) or not isinstance(mask, torch.Tensor) or mask.shape != tensor.shape:
            raise ValueError("grad_masks must map each tensor to a mask tensor of its shape; got shapes "
                             f"{getattr(tensor, 'shape', None)} and {getattr(mask, 'shape', None)}")
        group = in_groups.get(id(tensor))
        if group is None:
            raise ValueError("grad_masks names a tensor the optimizer does not train")
        if group.get("weight_decay", 0):
            raise ValueError(f"a masked tensor's optimizer group must have weight_decay 0 (decay would move its "
                             f"frozen entries); got {group['weight_decay']}")
        masks.append((tensor, mask.to(device=target, dtype=tensor.dtype)))

    home = next((t.device for t in model.parameters()), torch.device("cpu"))
    model.to(target)
    x_all, y_all = data.images.to(target), data.labels.to(target)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    convert = channels_last is True  # the model too, not only the images
    if convert:
        model.to(memory_format=torch.channels_last)
    if epochs > 0 and n_data > 0:
        logits, failed = _probe(model, x_all[:2], layout, target)
        if failed and channels_last:  # e.g. ``x.view(...)`` after a convolution: does the default layout work?
            if convert:
                model.to(memory_format=torch.contiguous_format)
            logits, failed = _probe(model, x_all[:2], torch.contiguous_format, target)
            if failed:  # neither works: train as asked, and let the step raise the model's own error
                if convert:
                    model.to(memory_format=torch.channels_last)
            else:
                layout, convert = torch.contiguous_format, False
        if isinstance(logits, torch.Tensor) and logits.ndim == 2 and logits.shape[0] == min(2, n_data):
            try:
                check_image_tensors(data, "data", classes=int(logits.shape[1]))
            except ValueError:
                if convert:
                    model.to(memory_format=torch.contiguous_format)
                model.to(home)  # as it came in
                raise
    hooks = [t.register_hook(lambda grad, mask=mask: grad * mask) for t, mask in masks]
    bar = tqdm(total=total, desc=desc, unit="step", disable=not progress, mininterval=2.0)
    records, done = [], 0
    try:
        for epoch in range(epochs):
            model.train(train_mode)
            started = time.perf_counter()
            order = torch.randperm(n_data, generator=generator)[:n]
            sums, seen = {}, 0
            for begin in range(0, n, batch_size):
                index = order[begin : begin + batch_size]
                if len(index) < min_batch:
                    continue  # e.g. BatchNorm cannot take batch statistics of one image
                index = index.to(target)
                x, y = x_all[index], y_all[index]
                if augment is not None:
                    x = augment(x, generator)
                if x.dim() == 4:
                    x = x.contiguous(memory_format=layout)
                loss, stats = step(model, x, y, StepInfo(epoch, done, total))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                done += 1
                if after_step is not None:
                    after_step(StepInfo(epoch, done, total))
                seen += len(index)
                for key, value in stats.items():
                    sums[key] = sums.get(key, 0.0) + float(value)
                bar.update(1)
                if progress:
                    bar.set_postfix(epoch=epoch + 1, **{k: f"{v / seen:.3f}" for k, v in sums.items()}, refresh=False)
            record = EpochRecord(epoch, done, seen, time.perf_counter() - started,
                                 {k: v / max(seen, 1) for k, v in sums.items()})
            records.append(record)
            if on_epoch is not None:
                if convert:
                    model.to(memory_format=torch.contiguous_format)
                on_epoch(record)
                if convert:
                    model.to(memory_format=torch.channels_last)
    finally:
        bar.close()
        for hook in hooks:
            hook.remove()
        if convert:  # the default layout, so that a trained and a reloaded model evaluate bit-identically
            model.to(memory_format=torch.contiguous_format)
        model.eval()
        model.to(home)
    return records
