"""Bad input to the quantization package: each case names the exact parameter at the start of its message
(issue 17: NaN/inf weights, keep_negative with a scaled alpha, out-of-range axes, seeds, bools as ints)."""

import math

import pytest
import torch

from imckit.core.models import resnet8
from imckit.quantization.aware import AwareConfig, aware_network, configured_weights, train_aware
from imckit.quantization.qkeras import QuantizedTensor, QuantSpec, fake_quantize, quantize, quantized_bits

from ..conftest import toy_dataset

X = torch.tensor([[0.3, -0.7, 0.1], [0.05, 0.2, -0.4]])
ALPHAS = (None, "auto", "auto_po2", "midrise")
NAN, INF = float("nan"), float("inf")


def _with(value, index=(0, 1)):
    x = X.clone()
    x[index] = value
    return x


# (arguments of quantize, exception, message start)
QUANTIZE_CASES = [
    # non-finite or unusable tensors, for every grid: never huge codes or a NaN channel
    *[(dict(x=_with(v), alpha=a), ValueError, r"^x must be a tensor of finite values; got \d NaN and \d infinite")
      for v in (NAN, INF, -INF) for a in ALPHAS],
    *[(dict(x=torch.full((2, 2), 1e35), alpha=a), ValueError, r"^x must have magnitudes below 2\*\*100")
      for a in ALPHAS[1:]],
    (dict(x=torch.ones(0)), ValueError, r"^x must not be empty; got shape \(0,\)"),
    (dict(x=torch.ones(2, 0, 3), alpha="auto"), ValueError, r"^x must not be empty"),
    (dict(x=torch.tensor([1, 2])), TypeError, r"^x must be a floating-point tensor; got dtype torch.int64"),
    (dict(x=torch.tensor([True])), TypeError, r"^x must be a floating-point tensor"),
    (dict(x=[0.1, 0.2]), TypeError, r"^x must be a torch.Tensor; got list"),
    # bits: a count in [1, 16], never a float or a bool
    *[(dict(x=X, bits=b), ValueError, r"^bits must be an integer in \[1, 16\]; got ") for b in (0, -1, 17)],
    *[(dict(x=X, bits=b), TypeError, r"^bits must be an integer in \[1, 16\]; got ")
      for b in (2.0, 4.5, True, "8", None)],
    (dict(x=X, bits=1, alpha="auto"), ValueError, r"^bits must be >= 2 for alpha='auto'"),
    (dict(x=X, bits=1, alpha="auto_po2"), ValueError, r"^bits must be >= 2 for alpha='auto_po2'"),
    # integer bits
    *[(dict(x=X, bits=4, integer=i), ValueError, r"^integer must be an integer in \[0, 4\]; got ") for i in (-1, 5)],
    *[(dict(x=X, integer=i), TypeError, r"^integer must be an integer") for i in (1.0, False)],
    # alpha and the flags
    *[(dict(x=X, alpha=a), ValueError, r"^alpha must be one of None, 'auto', 'auto_po2', 'midrise'; got ")
      for a in ("max", "AUTO", ["auto"], 0)],
    *[(dict(x=X, alpha=a, keep_negative=False), ValueError, r"^keep_negative must be True for alpha=")
      for a in ALPHAS[1:]],
    *[(dict(x=X, keep_negative=v), TypeError, r"^keep_negative must be True or False") for v in (0, 1, "no", None)],
    *[(dict(x=X, symmetric=v), TypeError, r"^symmetric must be True or False") for v in (0, 1, "yes")],
    # channel_axis: [-ndim, ndim - 1] or None, never wrapped around
    *[(dict(x=X, alpha=a, channel_axis=c), ValueError, r"^channel_axis must be an integer in \[-2, 1\]; got ")
      for a in ALPHAS for c in (2, -3, 100)],
    *[(dict(x=X, alpha="auto", channel_axis=c), TypeError, r"^channel_axis must be an integer")
      for c in (0.0, True, "0")],
    (dict(x=torch.ones(3), alpha="auto", channel_axis=1), ValueError, r"^channel_axis must be an integer in \[-1, 0\]"),
]


@pytest.mark.parametrize("kwargs,error,message", QUANTIZE_CASES)
def test_quantize_names_the_parameter(kwargs, error, message):
    with pytest.raises(error, match=message):
        quantize(**kwargs)
    with pytest.raises(error, match=message):
        quantized_bits(**kwargs)


def test_valid_axes_and_the_wrapped_axis_agree():
    """Negative axes count from the end, as in torch: -1 and 1 are the same axis of a 2-D tensor."""
    for alpha in ALPHAS[1:]:
        a, b = quantize(X, 4, alpha=alpha, channel_axis=1), quantize(X, 4, alpha=alpha, channel_axis=-1)
        assert torch.equal(a.codes, b.codes) and torch.equal(a.step, b.step)
        assert a.step.shape == (1, 3)


def _q(**kwargs):
    base = dict(codes=torch.tensor([-8, 0, 7]), step=torch.tensor(0.5), bits=4, signed=True, code_offset=-8)
    return {**base, **kwargs}


QUANTIZED_TENSOR_CASES = [
    (_q(codes=torch.tensor([0.5])), TypeError, r"^codes must be an integer tensor; got dtype torch.float32"),
    (_q(codes=torch.tensor([True])), TypeError, r"^codes must be an integer tensor"),
    (_q(codes=[1, 2]), TypeError, r"^codes must be a torch.Tensor"),
    (_q(codes=torch.tensor([8])), ValueError, r"^codes must hold 4-bit codes in \[-8, 7\]; got 8"),
    (_q(codes=torch.tensor([-9])), ValueError, r"^codes must hold 4-bit codes in \[-8, 7\]; got -9"),
    (_q(codes=torch.tensor([2]), code_stride=2, code_offset=-15), ValueError, r"^codes must be codes word \* 2"),
    (_q(step=torch.tensor(NAN)), ValueError, r"^step must be a tensor of finite values"),
    (_q(step=torch.tensor(-0.5)), ValueError, r"^step must be a tensor of values >= 0; got -0.5"),
    (_q(step=torch.ones(2)), ValueError, r"^step must broadcast to the shape of codes \(3,\); got shape \(2,\)"),
    (_q(step=torch.tensor(1)), TypeError, r"^step must be a floating-point tensor"),
    (_q(step=0.5), TypeError, r"^step must be a torch.Tensor"),
    (_q(bits=0), ValueError, r"^bits must be an integer in \[1, 16\]"),
    (_q(bits=4.0), TypeError, r"^bits must be an integer in \[1, 16\]"),
    (_q(signed=1), TypeError, r"^signed must be True or False"),
    (_q(code_stride=0), ValueError, r"^code_stride must be an integer >= 1; got 0"),
    (_q(code_offset=-8.0), TypeError, r"^code_offset must be an integer"),
]


@pytest.mark.parametrize("kwargs,error,message", QUANTIZED_TENSOR_CASES)
def test_quantized_tensor_names_the_field(kwargs, error, message):
    with pytest.raises(error, match=message):
        QuantizedTensor(**kwargs)


@pytest.mark.parametrize("method,value,error,message", [
    ("to_words", torch.tensor([8]), ValueError, r"^codes must hold 4-bit codes in \[-8, 7\]; got 8"),
    ("to_words", torch.tensor([0.0]), TypeError, r"^codes must be an integer tensor"),
    ("from_words", torch.tensor([16]), ValueError, r"^words must hold 4-bit words in \[0, 15\]; got 16"),
    ("from_words", torch.tensor([-1]), ValueError, r"^words must hold 4-bit words in \[0, 15\]; got -1"),
    ("from_words", torch.tensor([1.0]), TypeError, r"^words must be an integer tensor"),
    ("from_words", [3], TypeError, r"^words must be a torch.Tensor"),
    ("with_codes", torch.tensor([[7, 8]]), ValueError, r"^codes must hold 4-bit codes"),
])
def test_words_and_codes_outside_the_word_are_rejected(method, value, error, message):
    q = QuantizedTensor(**_q())
    with pytest.raises(error, match=message):
        getattr(q, method)(value)


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(alpha="max"), ValueError, r"^alpha must be one of"),
    (dict(integer=-1), ValueError, r"^integer must be an integer in \[0, 16\]; got -1"),
    (dict(integer=1.0), TypeError, r"^integer must be an integer"),
    (dict(integer=True), TypeError, r"^integer must be an integer"),
    (dict(symmetric=1), TypeError, r"^symmetric must be True or False"),
])
def test_quant_spec_names_the_field(kwargs, error, message):
    with pytest.raises(error, match=message):
        QuantSpec(**kwargs)


def test_spec_apply_and_fake_quantize_name_the_weight():
    bad = _with(NAN)
    with pytest.raises(ValueError, match=r"^weight must be a tensor of finite values; got 1 NaN and 0 infinite"):
        QuantSpec().apply(bad, 4)
    with pytest.raises(ValueError, match=r"^conv1.weight must be a tensor of finite values"):
        QuantSpec().apply(bad, 4, "conv1.weight")
    with pytest.raises(TypeError, match=r"^spec must be a QuantSpec; got str"):
        fake_quantize(X, 4, "auto")
    with pytest.raises(ValueError, match=r"^bits must be an integer in \[1, 16\]; got 0"):
        fake_quantize(X, 0, QuantSpec())


@pytest.mark.parametrize("field,value,error", [
    *[("bits", v, ValueError) for v in ((), (8, 8), (17,), (0,), [8, 4])],
    *[("bits", v, TypeError) for v in ((2.0,), (True,), ("8",))],
    *[("epochs", v, ValueError) for v in (0, -1, 1001)],
    *[("epochs", v, TypeError) for v in (1.0, True, "3")],
    *[("batch_size", v, ValueError) for v in (1, 0, -128)],
    *[("batch_size", v, TypeError) for v in (64.0, True)],
    *[("lr", v, ValueError) for v in (0.0, -0.1, NAN, INF, 11.0)],
    *[("lr", v, TypeError) for v in ("0.1", True, None)],
    *[(name, v, ValueError) for name in ("momentum", "weight_decay", "uniform_share") for v in (-0.1, 1.5, NAN)],
    *[(name, True, TypeError) for name in ("momentum", "weight_decay", "uniform_share")],
    ("alpha", "ternary", ValueError),
    *[("frozen_epochs", v, ValueError) for v in (-1, 1001)],
    ("frozen_epochs", 1.0, TypeError),
    *[("frozen_lr", v, ValueError) for v in (0, -1.0, NAN, 10.5)],
])
def test_aware_config_names_the_field(field, value, error):
    with pytest.raises(error, match=rf"^{field} must be"):
        AwareConfig(**{field: value})


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    return resnet8(in_channels=1, num_classes=4, width=0.25).eval(), toy_dataset(n_train=8, n_test=4).train


def test_configured_weights_names_the_parameter(small):
    model, _ = small
    with pytest.raises(ValueError, match=r"^layer_bits must be an integer in \[1, 16\]; got 0"):
        configured_weights(model, 0, QuantSpec())
    with pytest.raises(TypeError, match=r"^layer_bits must be an integer in \[1, 16\]; got 2.5"):
        configured_weights(model, 2.5, QuantSpec())
    with pytest.raises(TypeError, match=r"^layer_bits\['conv1'\] must be an integer in \[1, 16\]; got True"):
        configured_weights(model, {"conv1": True}, QuantSpec())
    with pytest.raises(TypeError, match=r"^quant must be a QuantSpec; got str"):
        configured_weights(model, 4, "midrise")
    with pytest.raises(TypeError, match=r"^model must be a torch.nn.Module"):
        configured_weights("resnet8", 4, QuantSpec())
    broken = resnet8(in_channels=1, num_classes=4, width=0.25)
    with torch.no_grad():
        broken.stem.conv.weight[0, 0, 0, 0] = math.inf
    message = r"^stem.conv.weight must be a tensor of finite values; got 0 NaN and 1 infinite"
    with pytest.raises(ValueError, match=message):
        configured_weights(broken, 4, QuantSpec())


@pytest.mark.parametrize("seed,error", [(-1, ValueError), (2**63, ValueError), (2.5, TypeError), (1.0, TypeError),
                                        ("0", TypeError), (True, TypeError), (None, TypeError)])
def test_training_seeds_are_checked_before_anything_runs(small, seed, error, tmp_path):
    model, data = small
    config = AwareConfig(bits=(4,), epochs=1, batch_size=4)
    with pytest.raises(error, match=r"^seed must be an integer in \[0, 2\*\*63 - 1\]"):
        train_aware(model, data, config, seed)
    with pytest.raises(error, match=r"^seed must be an integer in \[0, 2\*\*63 - 1\]"):
        aware_network(model, data, config, seed, cache=str(tmp_path))
    assert not any(p.is_file() for p in tmp_path.rglob("*")), "nothing is trained or cached for a bad seed"


def test_training_arguments_name_the_parameter(small):
    model, data = small
    config = AwareConfig(bits=(4,), epochs=1, batch_size=4)
    with pytest.raises(TypeError, match=r"^config must be an AwareConfig; got dict"):
        train_aware(model, data, {"bits": (4,)}, 0)
    with pytest.raises(TypeError, match=r"^progress must be True or False"):
        train_aware(model, data, config, 0, progress="yes")
    with pytest.raises(TypeError, match=r"^model must be a torch.nn.Module"):
        train_aware(None, data, config, 0)
    with pytest.raises(TypeError, match=r"^float_model must be a torch.nn.Module"):
        aware_network(None, data, config, 0, cache="")
    with pytest.raises((TypeError, ValueError), match=r"^data must be an ImageTensors"):  # core's check
        train_aware(model, (data.images, data.labels), config, 0)
    with pytest.raises(ValueError, match=r"^data must hold at least 2 images"):
        train_aware(model, data.subset(1, 0), config, 0)


def test_train_aware_checks_the_weights_once_before_training(small):
    """fake_quantize skips the values' check at every step (a GPU sync); train_aware checks them first."""
    _, data = small
    broken = resnet8(in_channels=1, num_classes=4, width=0.25)
    with torch.no_grad():
        broken.stem.conv.weight[0, 0, 0, 0] = math.nan
    before = [p.detach().clone() for p in broken.parameters()]
    with pytest.raises(ValueError, match=r"^stem.conv.weight must be a tensor of finite values; got 1 NaN"):
        train_aware(broken, data, AwareConfig(bits=(4,), epochs=1, batch_size=4), 0)
    after = list(broken.parameters())
    assert all(torch.equal(a.nan_to_num(), b.nan_to_num()) for a, b in zip(before, after)), "no step ran"
