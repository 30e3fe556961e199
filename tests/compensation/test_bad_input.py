"""Bad input to the compensation package: every case names the parameter at the start of its message, with
the allowed range and the value received (issue 17). Everything is checked before the first pattern."""

import numpy as np
import pytest
import torch

from imckit.compensation.compensate import CompensationConfig, compensate, requantize
from imckit.core.data import ImageTensors
from imckit.core.models import mappable_layers, resnet8
from imckit.memory.cells import CellConfig
from imckit.quantization.qkeras import quantize

from ..conftest import IDENTITY4, toy_dataset

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("kwargs,error,message", [
    ({"epochs": 0}, ValueError, r"^epochs must be an integer in \[1, 100\]; got 0"),
    ({"epochs": 101}, ValueError, r"^epochs must be an integer in \[1, 100\]; got 101"),
    ({"epochs": 1.0}, TypeError, r"^epochs must be .*got 1\.0"),
    ({"epochs": True}, TypeError, r"^epochs must be"),
    # BatchNorm with batch statistics skips batches of one image: a batch size of one trained nothing, silently
    ({"batch_size": 1}, ValueError, r"^batch_size must be an integer >= 2 in mode 'full' \(BatchNorm .*; got 1"),
    ({"batch_size": 1, "mode": "bn_recalibration"}, ValueError, r"^batch_size must be an integer >= 2 in mode"),
    ({"batch_size": 0, "mode": "healthy_only"}, ValueError, r"^batch_size must be an integer >= 1; got 0"),
    ({"batch_size": 2.0}, TypeError, r"^batch_size must be"),
    ({"train_images": 1}, ValueError, r"^train_images must be None or an integer >= 2 in mode 'full'"),
    ({"train_images": 2.5}, TypeError, r"^train_images must be None or an integer"),
    ({"train_images": True}, TypeError, r"^train_images must be"),
    ({"lr": NAN}, ValueError, r"^lr must be a finite number in \(0\.0, 10\.0\]; got nan"),
    ({"lr": INF}, ValueError, r"^lr must be a finite number in \(0\.0, 10\.0\]; got inf"),
    ({"lr": 0.0}, ValueError, r"^lr must be"),
    ({"lr": True}, TypeError, r"^lr must be"),
    ({"lr": "0.1"}, TypeError, r"^lr must be"),
    ({"momentum": NAN}, ValueError, r"^momentum must be a finite number in \[0\.0, 1\.0\); got nan"),
    ({"momentum": -0.1}, ValueError, r"^momentum must be"),
    ({"momentum": 1.0}, ValueError, r"^momentum must be"),
    ({"fresh_write_errors": 1}, TypeError, r"^fresh_write_errors must be True or False; got 1"),
    ({"fresh_write_errors": "yes"}, TypeError, r"^fresh_write_errors must be True or False"),
    ({"mode": "FULL"}, ValueError, r"^mode must be one of 'full', 'healthy_only', 'bn_recalibration'; got 'FULL'"),
    ({"mode": ["full"]}, ValueError, r"^mode must be one of"),
])
def test_bad_config(kwargs, error, message):
    with pytest.raises(error, match=message):
        CompensationConfig(**kwargs)


def test_configs_accept_numpy_scalars_as_plain_values():
    config = CompensationConfig(epochs=np.int64(2), batch_size=np.int64(4), train_images=np.int64(8))
    assert (config.epochs, config.batch_size, config.train_images) == (2, 4, 8)
    assert type(config.epochs) is int and type(config.batch_size) is int and type(config.train_images) is int
    assert CompensationConfig(batch_size=1, train_images=1, mode="healthy_only").batch_size == 1


@pytest.fixture(scope="module")
def toy():
    torch.manual_seed(0)
    model = resnet8(in_channels=1, num_classes=4, width=0.25).eval()
    configs = {layer.name: CellConfig(4, 2) if layer.kind == "conv" else CellConfig(8, 0)
               for layer in mappable_layers(model)}
    return model, toy_dataset(n_train=16, n_test=8), configs


def _images(n, size=12, value=0.0, label=0):
    return ImageTensors(torch.full((n, 1, size, size), value), torch.full((n,), label, dtype=torch.long))


@pytest.mark.parametrize("kwargs,error,message", [
    ({"patterns": 0}, ValueError, r"^patterns must be an integer >= 1; got 0"),
    ({"patterns": 1.0}, TypeError, r"^patterns must be"),
    ({"patterns": True}, TypeError, r"^patterns must be"),
    ({"seed": -1}, ValueError, r"^seed must be an integer in \[0, 2\*\*63 - 1\]; got -1"),  # was numpy's message
    ({"seed": 1.5}, TypeError, r"^seed must be .*got 1\.5"),  # was truncated
    ({"seed": "1"}, TypeError, r"^seed must be"),
    ({"seed": None}, TypeError, r"^seed must be"),
    ({"progress": 1}, TypeError, r"^progress must be True or False"),
    ({"return_weights": "yes"}, TypeError, r"^return_weights must be True or False"),  # was taken as True
    ({"config": None}, TypeError, r"^config must be a CompensationConfig; got NoneType"),
    ({"config": {}}, TypeError, r"^config must be a CompensationConfig; got dict"),
    ({"config": CompensationConfig(train_images=100)}, ValueError,
     r"^config\.train_images must be at most the 16 training images; got 100"),
    ({"layer_configs": []}, TypeError, r"^layer_configs must be a non-empty dict"),
    ({"layer_configs": {}}, ValueError, r"^layer_configs must be a non-empty dict"),
    ({"layer_configs": {"conv9": CellConfig(8, 0)}}, ValueError,
     r"^layer_configs must name mappable layers of the model .*got unknown layer 'conv9'"),
    ({"layer_configs": {1: CellConfig(8, 0)}}, ValueError, r"^layer_configs must name mappable layers"),
    ({"layer_configs": {"conv1": "Q8"}}, TypeError, r"^layer_configs\['conv1'\] must be a CellConfig; got 'Q8'"),
    ({"mlc": None}, TypeError, r"^mlc must be a device"),
    ({"slc": IDENTITY4}, ValueError, r"^slc device must have bits_per_cell=1; got 2"),
    ({"model": None}, TypeError, r"^model must be a torch\.nn\.Module; got NoneType"),  # was an AttributeError
    ({"train_data": None}, TypeError, r"^train_data must be an ImageTensors"),
    ({"test_data": "x"}, TypeError, r"^test_data must be an ImageTensors"),
    ({"train_data": _images(0)}, ValueError, r"^train_data must hold at least one image; got 0"),
    ({"train_data": _images(4, value=NAN)}, ValueError, r"^train_data\.images must be a tensor of finite values"),
    ({"train_data": _images(4, size=10)}, ValueError,  # was a shape error from inside the first training step
     r"^train_data\.images must have the image shape \(C, H, W\) of test_data \(1, 12, 12\); got \(1, 10, 10\)"),
    ({"train_data": _images(1), "config": CompensationConfig()}, ValueError,  # trained nothing, silently
     r"^train_data must hold at least 2 images in mode 'full'"),
    ({"train_data": _images(8, label=9)}, ValueError,  # was found only by the first training step
     r"^train_data\.labels must be class indices in \[0, 3\] \(the model has 4 outputs\)"),
    ({"quant": None}, TypeError, r"^quant must be a QuantSpec"),
    ({"device": "tpu"}, ValueError, r"^device must be one of"),
])
def test_bad_compensation_input(toy, kwargs, error, message):
    model, data, configs = toy
    arguments = {"model": model, "train_data": data.train, "test_data": data.test, "layer_configs": configs,
                 "patterns": 1, "progress": False, "config": CompensationConfig(train_images=8, batch_size=4)}
    with pytest.raises(error, match=message):
        compensate(**{**arguments, **kwargs})


Q = quantize(torch.linspace(-0.4, 0.4, 12).reshape(4, 3), 4, alpha="auto")


@pytest.mark.parametrize("q,weights,error,message", [
    (Q, torch.full((4, 3), NAN), ValueError, r"^weights must be a tensor of finite values; got 12 NaN"),  # was garbage
    (Q, torch.zeros(3, 4), ValueError, r"^weights must have shape \(4, 3\); got \(3, 4\)"),
    (Q, torch.zeros(4, 3, dtype=torch.long), TypeError, r"^weights must be a floating-point tensor"),
    (Q, np.zeros((4, 3)), TypeError, r"^weights must be a torch\.Tensor; got ndarray"),
    (None, torch.zeros(4, 3), TypeError, r"^q must be a QuantizedTensor"),
])
def test_bad_requantize(q, weights, error, message):
    with pytest.raises(error, match=message):
        requantize(q, weights)
