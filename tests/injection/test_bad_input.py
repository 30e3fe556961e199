"""Bad input to the injection package: each case names the exact parameter at the start of its message
(issue 17: NaN weights flowing into injection, non-stochastic devices on the injection path, seeds)."""

import math

import pytest
import torch

from imckit.core.models import resnet8
from imckit.injection.errors import (PerturbedEvaluator, QuantSpec, check_configs, check_repetitions,
                                     evaluate_with_errors, expected_changed_share, inject_cell_errors, is_error_free,
                                     quantize_layer)
from imckit.memory.cells import CellConfig
from imckit.memory.devices import SLC, FeFETMLC, TransitionMatrixDevice
from imckit.quantization.qkeras import quantize

from ..conftest import toy_dataset

NAN, INF = float("nan"), float("inf")
Q = quantize(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)) * 0.1, 8)
C = CellConfig(8, 2)


class Device:
    """A device object as users write them: any object with ``bits_per_cell`` and ``transition_matrix()``."""

    def __init__(self, matrix, bits_per_cell=2):
        self.matrix, self.bits_per_cell = torch.as_tensor(matrix, dtype=torch.float64), bits_per_cell

    def transition_matrix(self):
        return self.matrix


NOT_STOCHASTIC = Device(torch.full((4, 4), 0.3))  # rows sum to 1.2
NEGATIVE = Device([[1.2, -0.2, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
NAN_DEVICE = Device(torch.eye(4) * NAN)
BAD_DEVICES = [
    (dict(mlc=NOT_STOCHASTIC), ValueError, r"^mlc transition matrix rows must sum to 1 within 1e-6; row 0 sums to 1.2"),
    (dict(mlc=NEGATIVE), ValueError, r"^mlc transition matrix must have non-negative entries; got -0.2"),
    (dict(mlc=NAN_DEVICE), ValueError, r"^mlc transition matrix must be a tensor of finite values"),
    (dict(mlc=Device(torch.eye(2))), ValueError, r"^mlc transition matrix must have 2\*\*bits_per_cell = 4 states"),
    (dict(mlc=SLC()), ValueError, r"^mlc device must have bits_per_cell=2; got 1"),
    (dict(mlc="FeFET"), TypeError, r"^mlc must be a device"),
    (dict(slc=Device([[0.5, 0.6], [0.5, 0.5]], 1)), ValueError, r"^slc transition matrix rows must sum to 1"),
    (dict(slc=FeFETMLC()), ValueError, r"^slc device must have bits_per_cell=1; got 2"),
    (dict(slc=None), TypeError, r"^slc must be a device"),
]


@pytest.mark.parametrize("devices,error,message", BAD_DEVICES)
def test_devices_are_validated_on_the_injection_path(devices, error, message):
    with pytest.raises(error, match=message):
        inject_cell_errors(Q, C, **devices)
    with pytest.raises(error, match=message):
        is_error_free(C, **devices)
    with pytest.raises(error, match=message):
        expected_changed_share(Q, C, **devices)


@pytest.mark.parametrize("kwargs,error,message", [
    *[(dict(repetitions=r), ValueError, r"^repetitions must be an integer >= 1; got ") for r in (0, -1)],
    *[(dict(repetitions=r), TypeError, r"^repetitions must be an integer >= 1; got ") for r in (2.0, 1.5, True, "3")],
    *[(dict(generator=g), ValueError, r"^generator must be") for g in (-1, 2**63)],
    *[(dict(generator=g), TypeError, r"^generator must be") for g in (1.5, "0", True)],
    (dict(q=Q.dequantize()), TypeError, r"^q must be a QuantizedTensor"),
    (dict(config=(8, 2)), TypeError, r"^config must be a CellConfig; got \(8, 2\)"),
    (dict(config=CellConfig(4, 1)), ValueError, r"^config has 4 bits but the weights were quantized to 8"),
])
def test_inject_cell_errors_names_the_parameter(kwargs, error, message):
    with pytest.raises(error, match=message):
        inject_cell_errors(**{"q": Q, "config": C, **kwargs})


def test_shares_and_checks_name_the_parameter():
    with pytest.raises(ValueError, match=r"^config has 4 bits"):
        expected_changed_share(Q, CellConfig(4, 1))
    with pytest.raises(TypeError, match=r"^config must be a CellConfig"):
        is_error_free("Q8 MLC2")
    with pytest.raises(ValueError, match=r"^repetitions must be an integer >= 1; got 0"):
        check_repetitions(0)
    with pytest.raises(ValueError, match=r"^configs must be a non-empty sequence of CellConfig"):
        check_configs([(8, 4)])


@pytest.fixture(scope="module")
def toy():
    data = toy_dataset(n_train=8, n_test=6)
    torch.manual_seed(0)
    return resnet8(in_channels=1, num_classes=4, width=0.25).eval(), data.test


def _broken(value):
    torch.manual_seed(0)
    model = resnet8(in_channels=1, num_classes=4, width=0.25).eval()
    with torch.no_grad():
        model.stack2.conv1.weight[1, 0, 0, 0] = value
    return model


@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_non_finite_weights_never_reach_injection(toy, value):
    """A NaN or infinite weight is named (module and parameter), not quantized into huge codes or a NaN channel."""
    model, data = toy
    broken = _broken(value)
    message = r"^stack2.conv1.weight must be a tensor of finite values; got \d NaN and \d infinite of \d+ values"
    with pytest.raises(ValueError, match=message):
        quantize_layer(broken, ("stack2.conv1",), 8, QuantSpec())
    with pytest.raises(ValueError, match=message):  # the base weights (12 bits) of the evaluator too
        PerturbedEvaluator(broken, data)
    with pytest.raises(ValueError, match=message):
        evaluate_with_errors(broken, data, {"stack2.conv1": CellConfig(8, 4)}, repetitions=1, base_bits=None)


def test_quantize_layer_names_the_parameter(toy):
    model, _ = toy
    with pytest.raises(ValueError, match=r"^modules must name submodules of model that have a weight; got 'conv9'"):
        quantize_layer(model, ("conv9",), 8, QuantSpec())
    with pytest.raises(ValueError, match=r"^modules must be a non-empty tuple of module names; got 'conv1'"):
        quantize_layer(model, "conv1", 8, QuantSpec())
    with pytest.raises(ValueError, match=r"^bits must be an integer in \[1, 16\]; got 0"):
        quantize_layer(model, ("conv1",), 0, QuantSpec())
    with pytest.raises(TypeError, match=r"^quant must be a QuantSpec; got str"):
        quantize_layer(model, ("conv1",), 8, "auto")
    with pytest.raises(TypeError, match=r"^model must be a torch.nn.Module"):
        quantize_layer(None, ("conv1",), 8, QuantSpec())


@pytest.mark.parametrize("kwargs,error,message", [
    *[(dict(batch_size=b), ValueError, r"^batch_size must be an integer >= 1; got ") for b in (0, -256)],
    *[(dict(batch_size=b), TypeError, r"^batch_size must be an integer >= 1; got ") for b in (256.0, True)],
    *[(dict(base_bits=b), ValueError, r"^base_bits must be an integer in \[1, 16\]; got ") for b in (0, 17)],
    (dict(base_bits=12.0), TypeError, r"^base_bits must be an integer in \[1, 16\]"),
    (dict(quant="auto"), TypeError, r"^quant must be a QuantSpec; got str"),
    (dict(model="resnet8"), TypeError, r"^model must be a torch.nn.Module"),
    (dict(data=(torch.ones(1, 1, 12, 12), torch.zeros(1))), (TypeError, ValueError), r"^data must be an ImageTensors"),
])
def test_evaluator_names_the_parameter(toy, kwargs, error, message):
    model, data = toy
    with pytest.raises(error, match=message):
        PerturbedEvaluator(**{"model": model, "data": data, **kwargs})


def test_evaluator_draws_name_the_parameter(toy):
    model, data = toy
    evaluator = PerturbedEvaluator(model, data, base_bits=None)
    configs = {"stack2.conv1": CellConfig(8, 4)}
    with pytest.raises(ValueError, match=r"^repetitions must be an integer >= 1; got 0"):
        evaluator.perturbed_weight_sets(configs, repetitions=0)
    with pytest.raises(TypeError, match=r"^repetitions must be an integer >= 1; got 2.0"):
        evaluator.perturbed_weight_sets(configs, repetitions=2.0)
    with pytest.raises(ValueError, match=r"^generator must be"):
        evaluator.perturbed_weight_sets(configs, generator=-3)
    with pytest.raises(ValueError, match=r"^mlc transition matrix rows must sum to 1"):
        evaluator.perturbed_weight_sets(configs, mlc=NOT_STOCHASTIC)
    with pytest.raises(ValueError, match=r"^layer_configs names unknown layer 'stack9.conv1'; the model's mappable"):
        evaluator.perturbed_weight_sets({"stack9.conv1": CellConfig(8, 4)})
    with pytest.raises(ValueError, match=r"^layer_configs\['fc'\] must be a CellConfig; got \(8, 0\)"):
        evaluator.perturbed_weight_sets({"fc": (8, 0)})
    with pytest.raises(TypeError, match=r"^layer_configs must be a dict"):
        evaluator.perturbed_weight_sets([("stack2.conv1", CellConfig(8, 4))])
    with pytest.raises(TypeError, match=r"^progress must be True or False"):
        evaluator.evaluate(None, progress="no")


@pytest.mark.parametrize("seed,error", [(-1, ValueError), (2**63, ValueError), (2.5, TypeError), (2.0, TypeError),
                                        ("1", TypeError), (True, TypeError), (None, TypeError)])
def test_evaluate_with_errors_checks_the_seed(toy, seed, error):
    model, data = toy
    with pytest.raises(error, match=r"^seed must be an integer in \[0, 2\*\*63 - 1\]; got "):
        evaluate_with_errors(model, data, {"stack2.conv1": CellConfig(8, 4)}, repetitions=1, seed=seed)


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(repetitions=0), ValueError, r"^repetitions must be an integer >= 1; got 0"),
    (dict(repetitions=1.0), TypeError, r"^repetitions must be an integer >= 1; got 1.0"),
    (dict(mlc=NOT_STOCHASTIC), ValueError, r"^mlc transition matrix rows must sum to 1"),
    (dict(slc=Device(torch.eye(4), 1)), ValueError, r"^slc transition matrix must have 2\*\*bits_per_cell = 2"),
    (dict(progress=1), TypeError, r"^progress must be True or False"),
])
def test_evaluate_with_errors_names_the_parameter(toy, kwargs, error, message):
    model, data = toy
    with pytest.raises(error, match=message):
        evaluate_with_errors(model, data, {"stack2.conv1": CellConfig(8, 4)}, **{"repetitions": 1, **kwargs})


def test_a_device_whose_matrix_was_broken_after_construction_is_caught():
    """A frozen device validates its matrix once; the injection path validates what it is given again."""
    device = TransitionMatrixDevice(torch.eye(4).tolist())
    object.__setattr__(device, "matrix", ((0.5, 0.6, 0.0, 0.0),) + device.matrix[1:])
    with pytest.raises(ValueError, match=r"^mlc transition matrix rows must sum to 1 within 1e-6; row 0 sums to 1.1"):
        inject_cell_errors(Q, C, mlc=device)
    assert math.isclose(float(device.transition_matrix()[0].sum()), 1.1)
