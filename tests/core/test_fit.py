import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from imckit.core.data import ImageTensors
from imckit.core.fit import EpochRecord, StepInfo, cosine_decay, cross_entropy_step, fit, random_crop_flip
from imckit.core.models import resnet8
from imckit.core.training import TrainConfig, train

from ..conftest import toy_dataset as _toy_dataset

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback of 'auto'")


def _model(seed=0):
    # width 0.5, not 0.25: with torch 2.14.1 on this machine, channels-last training of the 4-channel
    # width-0.25 ResNet-8 gives different weights from one run to the next *within one process* (oneDNN;
    # runs in separate processes agree, and so do runs at width 0.5 or 1, or with mkldnn off), which the
    # bit-identity tests below would report as the kit's fault
    torch.manual_seed(seed)
    return resnet8(in_channels=1, num_classes=4, width=0.5)


def _sgd(model, **kwargs):
    return torch.optim.SGD(model.parameters(), **{"lr": 0.05, "momentum": 0.9, **kwargs})


def _flat(model):
    return torch.cat([t.detach().flatten() for t in model.state_dict().values() if t.is_floating_point()])


def _reference_train(model, data, config, seed):
    """The plain training loop as the kit wrote it before the loop was shared (imckit 0.1's ``train``)."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay, nesterov=config.momentum > 0)
    total = max(1, math.ceil(len(data) / config.batch_size) * config.epochs)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    model.to(memory_format=torch.channels_last)
    for _ in range(config.epochs):
        model.train()
        order = torch.randperm(len(data), generator=generator)
        for start in range(0, len(data), config.batch_size):
            index = order[start : start + config.batch_size]
            x = data.images[index].contiguous(memory_format=torch.channels_last)
            loss = nn.functional.cross_entropy(model(x), data.labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    model.to(memory_format=torch.contiguous_format)
    model.eval()


def test_train_is_bit_identical_to_the_loop_it_replaced():
    data = _toy_dataset(n_train=81).train  # 81 = 5 x 16 + 1: the last batch holds one image
    config = TrainConfig(epochs=2, batch_size=16, lr=0.05)
    a, b = _model(), _model()
    _reference_train(a, data, config, seed=3)
    train(b, data, config, seed=3, progress=False)
    assert torch.equal(_flat(a), _flat(b))


def test_same_seed_same_weights_and_a_seed_is_a_fresh_generator():
    data = _toy_dataset().train
    runs = []
    for generator in (5, 5, torch.Generator().manual_seed(5), 6):
        model = _model()
        fit(model, data, optimizer=_sgd(model), epochs=2, batch_size=16, generator=generator)
        runs.append(_flat(model))
    assert torch.equal(runs[0], runs[1]) and torch.equal(runs[0], runs[2])
    assert not torch.equal(runs[0], runs[3])


def test_the_generator_draws_one_permutation_per_epoch_and_nothing_else():
    # compensation draws its batch order from the generator that drew the error pattern: the loop must
    # consume it in a fixed, documented order (one randperm(len(data)) per epoch) and not copy it
    data = _toy_dataset().train
    model = _model()
    generator = torch.Generator().manual_seed(11)
    fit(model, data, optimizer=_sgd(model), epochs=3, batch_size=32, images=40, generator=generator)
    expected = torch.Generator().manual_seed(11)
    for _ in range(3):
        torch.randperm(len(data), generator=expected)
    assert torch.equal(generator.get_state(), expected.get_state())


def test_masked_entries_never_move_and_the_others_do():
    data = _toy_dataset().train
    model = _model()
    weight = model.stack1.conv1.weight
    before = weight.detach().clone()
    mask = torch.rand(weight.shape, generator=torch.Generator().manual_seed(0)) < 0.5
    fit(model, data, optimizer=_sgd(model), epochs=2, batch_size=16, generator=0, grad_masks={weight: mask})
    assert torch.equal(weight.detach()[~mask], before[~mask])  # momentum included: exactly unchanged
    assert (weight.detach()[mask] != before[mask]).float().mean() > 0.9
    with pytest.raises(ValueError, match="weight_decay 0"):
        fit(model, data, optimizer=_sgd(model, weight_decay=1e-4), epochs=1, batch_size=16, generator=0,
            grad_masks={weight: mask})
    with pytest.raises(ValueError, match="does not train"):
        fit(model, data, optimizer=torch.optim.SGD([model.stem.conv.weight], lr=0.1), epochs=1, batch_size=16,
            generator=0, grad_masks={weight: mask})
    # the hooks are removed afterwards: the weight trains normally again
    again = weight.detach().clone()
    fit(model, data, optimizer=_sgd(model), epochs=1, batch_size=16, generator=0)
    assert (weight.detach()[~mask] != again[~mask]).any()


def test_small_batches_are_skipped_and_do_not_count_as_steps():
    data = _toy_dataset().train  # 96 images
    model = _model()
    seen, after = [], []
    step = lambda m, x, y, info: (seen.append((len(y), info)) or cross_entropy_step(m, x, y, info))  # noqa: E731
    records = fit(model, data, step, optimizer=_sgd(model), epochs=2, batch_size=16, images=33, min_batch=2,
                  generator=0, after_step=after.append)
    # 33 = 2 x 16 + 1: two steps per epoch, the one-image batch skipped; the schedule still plans 3 per epoch
    assert [n for n, _ in seen] == [16, 16, 16, 16]
    assert [info.step for _, info in seen] == [0, 1, 2, 3] and {info.total for _, info in seen} == {6}
    assert [info.step for info in after] == [1, 2, 3, 4] and [info.epoch for info in after] == [0, 0, 1, 1]
    assert [(r.epoch, r.steps, r.images) for r in records] == [(0, 2, 32), (1, 4, 32)]


def test_records_hold_per_image_means_of_the_step_statistics():
    data = _toy_dataset().train
    model = _model()

    def step(m, x, y, info):
        return cross_entropy_step(m, x, y, info)[0], {"ones": len(y), "two": 2 * len(y)}

    records = fit(model, data, step, optimizer=_sgd(model), epochs=1, batch_size=40, generator=0)
    assert records[0].means == {"ones": 1.0, "two": 2.0} and records[0].images == 96
    model = _model()
    record = fit(model, data, optimizer=_sgd(model), epochs=1, batch_size=40, generator=0)[0]
    assert set(record.means) == {"loss", "accuracy"} and 0 <= record.means["accuracy"] <= 1
    assert record.means["accuracy"] * 96 == pytest.approx(round(record.means["accuracy"] * 96))


def test_eval_mode_keeps_batchnorm_statistics_and_train_mode_updates_them():
    data = _toy_dataset().train
    for train_mode in (False, True):
        model = _model()
        running = model.stem.bn.running_mean.clone()
        modes = []
        step = lambda m, x, y, info: (modes.append(m.training) or cross_entropy_step(m, x, y, info))  # noqa: E731
        fit(model, data, step, optimizer=_sgd(model), epochs=1, batch_size=32, generator=0, train_mode=train_mode)
        assert set(modes) == {train_mode} and not model.training
        assert torch.equal(model.stem.bn.running_mean, running) != train_mode


def test_schedules():
    assert cosine_decay(10)(0) == 1.0 and cosine_decay(10)(10) == pytest.approx(0.0, abs=1e-12)
    assert cosine_decay(10)(5) == pytest.approx(0.5) and cosine_decay(10)(20) == cosine_decay(10)(10)
    data = _toy_dataset().train
    for schedule, factor in (("cosine", 0.0), ("constant", 1.0), (lambda s: 0.5 ** s, 0.5**6)):
        model = _model()
        optimizer = _sgd(model)
        fit(model, data, optimizer=optimizer, epochs=2, batch_size=32, generator=0, schedule=schedule)
        assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05 * factor, abs=1e-12)


def test_memory_layouts():
    g = torch.Generator().manual_seed(0)
    data = ImageTensors(torch.randn(40, 3, 12, 12, generator=g), torch.randint(0, 4, (40,), generator=g))
    for channels_last, model_layout in ((True, torch.channels_last), ("inputs", torch.contiguous_format),
                                        (False, torch.contiguous_format)):
        torch.manual_seed(0)
        model = resnet8(in_channels=3, num_classes=4, width=0.25)
        seen = {}

        def step(m, x, y, info):
            seen["x"] = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
            seen["w"] = m.stack1.conv1.weight.is_contiguous(memory_format=model_layout)
            return cross_entropy_step(m, x, y, info)

        def on_epoch(record):
            seen["epoch"] = model.stack1.conv1.weight.is_contiguous()

        fit(model, data, step, optimizer=_sgd(model), epochs=1, batch_size=32, generator=0,
            channels_last=channels_last, on_epoch=on_epoch)
        assert seen == {"x": channels_last is not False, "w": True, "epoch": True}
        assert model.stack1.conv1.weight.is_contiguous()  # returned in the default layout


@no_gpu
def test_cpu_and_auto_give_identical_weights_on_the_cpu():
    data = _toy_dataset().train
    weights = []
    for device in ("cpu", "auto", torch.device("cpu")):
        model = _model()
        fit(model, data, optimizer=_sgd(model), epochs=1, batch_size=16, generator=2, device=device)
        assert model.stem.conv.weight.device.type == "cpu"
        weights.append(_flat(model))
    assert torch.equal(weights[0], weights[1]) and torch.equal(weights[0], weights[2])
    with pytest.raises(ValueError, match="asks for a CUDA GPU"):
        fit(_model(), data, optimizer=_sgd(_model()), epochs=1, batch_size=16, generator=0, device="cuda")


def test_epoch_callback_sees_every_epoch_and_zero_epochs_train_nothing():
    data = _toy_dataset().train
    model = _model()
    before = _flat(model)
    got = []
    assert fit(model, data, optimizer=_sgd(model), epochs=0, batch_size=16, generator=0, on_epoch=got.append) == []
    assert torch.equal(_flat(model), before) and got == []
    records = fit(model, data, optimizer=_sgd(model), epochs=2, batch_size=16, generator=0, on_epoch=got.append)
    assert got == records and all(isinstance(r, EpochRecord) and r.seconds >= 0 for r in records)
    assert isinstance(StepInfo(0, 0, 1), StepInfo)


@pytest.mark.parametrize("kwargs,error,message", [
    ({"epochs": -1}, ValueError, r"^epochs must be an integer >= 0; got -1"),
    ({"epochs": 1.5}, TypeError, "^epochs must be an integer"),
    ({"batch_size": 0}, ValueError, r"^batch_size must be an integer >= 1; got 0"),
    ({"batch_size": -4}, ValueError, r"^batch_size must be an integer >= 1; got -4"),
    ({"images": 97}, ValueError, r"^images must be an integer in \[1, 96\]; got 97"),
    ({"min_batch": 0}, ValueError, "^min_batch must be an integer >= 1"),
    ({"generator": "seed"}, TypeError,
     r"^generator must be a torch.Generator or a seed \(an integer in \[0, 2\*\*63 - 1\]\)"),
    ({"generator": True}, TypeError, "^generator must be a torch.Generator or a seed"),
    ({"generator": -1}, ValueError, r"^generator must be an integer in \[0, 2\*\*63 - 1\]; got -1"),
    ({"schedule": "linear"}, ValueError, "^schedule must be one of 'cosine', 'constant'"),
    ({"channels_last": "model"}, ValueError, "^channels_last must be one of True, False, 'inputs'"),
    ({"channels_last": 1}, TypeError, "^channels_last must be True or False"),
    ({"device": "tpu"}, ValueError, "^device must be one of"),
    ({"optimizer": "sgd"}, TypeError, "^optimizer must be a torch.optim.Optimizer"),
    ({"augment": "crop_flip"}, TypeError, "^augment must be None or a function"),
    ({"train_mode": "yes"}, TypeError, "^train_mode must be True or False"),
    ({"progress": 1}, TypeError, "^progress must be True or False"),
])
def test_bad_input(kwargs, error, message):
    data = _toy_dataset().train
    model = _model()
    args = {"optimizer": _sgd(model), "epochs": 1, "batch_size": 16, "generator": 0, **kwargs}
    with pytest.raises(error, match=message):
        fit(model, data, **args)
    with pytest.raises(ValueError, match="^data must hold at least one image; got 0"):
        fit(model, ImageTensors(data.images[:0], data.labels[:0]), optimizer=_sgd(model), epochs=1, batch_size=4,
            generator=0)


class _LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 10 * 10, 4)

    def forward(self, x):
        x = nn.functional.relu(self.conv(x))
        return self.fc(x.view(x.size(0), -1))  # impossible on a channels-last tensor


def test_a_model_that_views_its_activations_trains_in_the_default_layout():
    data = _toy_dataset().train
    weights = []
    for channels_last in (True, "inputs", False):
        torch.manual_seed(0)
        model = _LeNet()
        state = torch.random.get_rng_state()
        records = fit(model, data, optimizer=_sgd(model), epochs=1, batch_size=16, generator=0,
                      channels_last=channels_last)
        assert records[-1].steps == 6 and model.conv.weight.is_contiguous()
        weights.append(_flat(model))
        assert torch.equal(state, torch.random.get_rng_state())  # trying the layout draws nothing
    assert torch.equal(weights[0], weights[2]) and torch.equal(weights[1], weights[2])


def test_bad_data_is_named_and_leaves_the_model_as_it_was():
    data = _toy_dataset().train
    model = _model()
    before = _flat(model)
    with pytest.raises(ValueError, match=r"data.labels must be class indices in \[0, 3\] \(the model has 4 outputs\); "
                                         r"got values from 4 to 7"):
        fit(model, ImageTensors(data.images, data.labels + 4), optimizer=_sgd(model), epochs=1, batch_size=16,
            generator=0)
    assert torch.equal(before, _flat(model)) and model.stem.conv.weight.is_contiguous()
    nan = data.images.clone()
    nan[0, 0, 0, 0] = float("nan")
    for bad, error, message in (
            (ImageTensors(data.images, data.labels.float()), TypeError, "^data.labels must be class indices of dtype"),
            (ImageTensors(data.images.double(), data.labels), TypeError, "^data.images must have the model's dtype"),
            (ImageTensors(data.images[:, 0], data.labels), ValueError, "^data.images must have 4 dimensions"),
            (SimpleNamespace(images=data.images, labels=data.labels[:-1]), ValueError,
             r"^data.labels must have shape \(96\)"),
            (ImageTensors(nan, data.labels), ValueError, "^data.images must be a tensor of finite values; got 1 NaN")):
        with pytest.raises(error, match=message):
            fit(model, bad, optimizer=_sgd(model), epochs=1, batch_size=16, generator=0)
    assert torch.equal(before, _flat(model))


# --------------------------------------------------------------------------------------------------------
# augmentation


def _draws(seed, n, padding=4):
    """The offsets and flips random_crop_flip draws from a generator seeded with ``seed``."""
    g = torch.Generator().manual_seed(seed)
    offsets = torch.randint(0, 2 * padding + 1, (n, 2), generator=g)
    return offsets, torch.randint(0, 2, (n,), generator=g, dtype=torch.bool)


def test_crop_flip_keeps_shape_and_is_deterministic():
    x = torch.randn(64, 3, 32, 32)
    a = random_crop_flip(x, torch.Generator().manual_seed(1))
    b = random_crop_flip(x, torch.Generator().manual_seed(1))
    c = random_crop_flip(x, torch.Generator().manual_seed(2))
    assert a.shape == x.shape and a.dtype == x.dtype and a.device == x.device
    assert torch.equal(a, b) and not torch.equal(a, c)
    channels_last = random_crop_flip(x.contiguous(memory_format=torch.channels_last),
                                     torch.Generator().manual_seed(1))
    assert torch.equal(channels_last, a)  # the layout of the batch does not change the result


def test_crop_moves_a_pixel_by_at_most_the_padding_and_flips_mirror():
    n, r, c = 256, 10, 20
    x = torch.zeros(n, 2, 32, 32)
    x[:, :, r, c] = 1.0
    out = random_crop_flip(x, torch.Generator().manual_seed(7))
    offsets, flips = _draws(7, n)
    assert (out.sum((1, 2, 3)) == 2).all()  # one pixel per channel, never lost from the interior
    assert torch.equal(out[:, 0], out[:, 1])  # every channel cropped alike
    rows, cols = (out[:, 0] == 1).nonzero()[:, 1], (out[:, 0] == 1).nonzero()[:, 2]
    assert torch.equal(rows, r + 4 - offsets[:, 0])
    mirrored = torch.where(flips, 31 - c, torch.full_like(cols, c))
    assert torch.equal(cols, mirrored + torch.where(flips, offsets[:, 1] - 4, 4 - offsets[:, 1]))
    assert (rows - r).abs().max() == 4 and (cols - mirrored).abs().max() == 4  # shifts up to 4 pixels occur
    assert 0 < int(flips.sum()) < n  # both flipped and unflipped images


def test_crop_pads_with_zeros_and_without_padding_only_flips():
    n = 128
    out = random_crop_flip(torch.ones(n, 1, 32, 32), torch.Generator().manual_seed(3))
    offsets, _ = _draws(3, n)
    kept = (32 - (offsets[:, 0] - 4).abs()) * (32 - (offsets[:, 1] - 4).abs())
    assert torch.equal(out.sum((1, 2, 3)).long(), kept) and set(out.unique().tolist()) == {0.0, 1.0}
    x = torch.randn(n, 3, 8, 8)
    out = random_crop_flip(x, torch.Generator().manual_seed(4), padding=0)
    _, flips = _draws(4, n, padding=0)
    assert torch.equal(out[flips], x[flips].flip(-1)) and torch.equal(out[~flips], x[~flips])


def test_crop_flip_bad_input():
    with pytest.raises(ValueError, match=r"^x must be a batch of images \(N, C, H, W\)"):
        random_crop_flip(torch.zeros(3, 32, 32), torch.Generator())
    with pytest.raises(TypeError, match="^generator must be a CPU torch.Generator"):
        random_crop_flip(torch.zeros(1, 3, 32, 32), 0)
    with pytest.raises(TypeError, match=r"^padding must be an integer in \[0, 64\]; got 2.0"):
        random_crop_flip(torch.zeros(1, 3, 32, 32), torch.Generator(), padding=2.0)
    with pytest.raises(ValueError, match=r"^padding must be an integer in \[0, 64\]; got -1"):
        random_crop_flip(torch.zeros(1, 3, 32, 32), torch.Generator(), padding=-1)


def test_augment_sees_every_batch_with_the_loops_generator_after_the_permutation():
    data = _toy_dataset().train
    seen = []

    def augment(x, generator):
        seen.append((x.clone(), generator.get_state()))
        return x.flip(-1)

    model = _model()
    generator = torch.Generator().manual_seed(9)
    fit(model, data, optimizer=_sgd(model), epochs=1, batch_size=32, generator=generator, augment=augment)
    expected = torch.Generator().manual_seed(9)
    order = torch.randperm(len(data), generator=expected)
    assert len(seen) == 3 and all(torch.equal(state, expected.get_state()) for _, state in seen)
    assert torch.equal(seen[0][0], data.images[order[:32]])
    # augmenting changes the training; None is the loop without augmentation (default layout: the
    # comparison of weights must not depend on the channels-last kernels' float reductions)
    plain, none, flipped = _model(), _model(), _model()
    args = {"epochs": 1, "batch_size": 32, "generator": 9, "channels_last": False}
    fit(plain, data, optimizer=_sgd(plain), **args)
    fit(none, data, optimizer=_sgd(none), augment=None, **args)
    fit(flipped, data, optimizer=_sgd(flipped), augment=augment, **args)
    assert torch.equal(_flat(plain), _flat(none)) and not torch.equal(_flat(plain), _flat(flipped))
