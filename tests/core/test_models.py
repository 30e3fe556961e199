import pytest
import torch

from imckit.core.models import (MODELS, PAPER_RESNET8_WIDTHS, ResNet8, build_model, layer_table, mappable_layers,
                                 resnet8, resnet8_paper)


def _weights(in_channels, classes=10, widths=(16, 32, 64)):
    # hand count: kernels only, skip 1x1 convs bundled with the first conv of their stack
    a, b, c = widths
    return [
        ("conv1", 3 * 3 * in_channels * a),
        ("stack1.conv1", 3 * 3 * a * a),
        ("stack1.conv2", 3 * 3 * a * a),
        ("stack2.conv1", 3 * 3 * a * b + a * b),
        ("stack2.conv2", 3 * 3 * b * b),
        ("stack3.conv1", 3 * 3 * b * c + b * c),
        ("stack3.conv2", 3 * 3 * c * c),
        ("fc", c * classes),
    ]


@pytest.mark.parametrize("in_channels", [1, 3])
def test_mappable_layers_of_resnet8(in_channels):
    layers = mappable_layers(resnet8(in_channels=in_channels))
    assert [(l.name, l.weights) for l in layers] == _weights(in_channels)
    assert [l.index for l in layers] == list(range(1, 9))
    assert [l.kind for l in layers] == ["conv"] * 7 + ["dense"]
    assert layers[3].modules == ("stack2.conv1", "stack2.skip") and layers[3].biases == 32
    assert layers[7].biases == 10


def test_every_weight_is_in_exactly_one_layer():
    model = resnet8(in_channels=3)
    mapped = sum(l.weights + l.biases for l in mappable_layers(model))
    bn = sum(p.numel() for n, p in model.named_parameters() if ".bn" in n or n.startswith("stem.bn"))
    assert mapped + bn == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("in_channels,size", [(1, 28), (3, 32)])
def test_forward_shapes(in_channels, size):
    model = resnet8(in_channels=in_channels, num_classes=7, width=0.5)
    assert model(torch.randn(2, in_channels, size, size)).shape == (2, 7)
    assert mappable_layers(model)[-1].weights == 32 * 7


def test_layer_table_shares_sum_to_100():
    table = layer_table(resnet8(in_channels=1))
    assert abs(table["share of weights (%)"].sum() - 100) < 1e-9
    assert table.loc[4, "weight shapes"] == "32x16x3x3 + 32x16x1x1"


def test_generic_model_lists_every_conv_and_linear():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8, 3))
    assert [(l.name, l.weights) for l in mappable_layers(model)] == [("0", 18), ("3", 24)]


@pytest.mark.parametrize("kwargs,error,message", [
    ({"in_channels": 0}, ValueError, r"^in_channels must be an integer in \[1, 64\]; got 0"),
    ({"in_channels": 3.0}, TypeError, r"^in_channels must be an integer in \[1, 64\]; got 3.0"),
    ({"num_classes": 1}, ValueError, r"^num_classes must be an integer in \[2, 100000\]"),
    ({"num_classes": True}, TypeError, r"^num_classes must be an integer in \[2, 100000\]; got True"),
    ({"width": 0.1}, ValueError, r"^width must be a finite number in \[0.25, 8.0\]; got 0.1"),
    ({"width": float("nan")}, ValueError, r"^width must be a finite number in \[0.25, 8.0\]; got nan"),
    ({"width": "1"}, TypeError, r"^width must be a finite number in \[0.25, 8.0\]; got '1'"),
])
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        resnet8(**kwargs)


def test_unknown_model():
    with pytest.raises(ValueError, match="model must be one of 'resnet8', 'resnet8_paper', 'vgg_small', "
                                         "'mobilenet_small'; got 'vgg16'"):
        build_model("vgg16")


def test_vgg_small_layers_are_every_conv_and_the_dense_layer():
    model = build_model("vgg_small", in_channels=3, num_classes=7)
    layers = mappable_layers(model)
    assert [(l.name, l.weights, l.biases) for l in layers] == [
        ("features.0", 3 * 9 * 16, 0), ("features.3", 16 * 9 * 16, 0), ("features.7", 16 * 9 * 32, 0),
        ("features.10", 32 * 9 * 32, 0), ("features.14", 32 * 9 * 64, 0), ("classifier", 64 * 7, 7)]
    assert [l.kind for l in layers] == ["conv"] * 5 + ["dense"]
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    assert model(torch.randn(2, 3, 28, 28)).shape == (2, 7)


def test_mobilenet_small_has_depthwise_and_pointwise_layers():
    model = build_model("mobilenet_small", in_channels=1, num_classes=10, width=0.5)
    layers = mappable_layers(model)
    assert [(l.name, l.weights) for l in layers] == [
        ("stem.0", 9 * 8), ("blocks.0.0", 8 * 9), ("blocks.0.3", 8 * 16), ("blocks.1.0", 16 * 9),
        ("blocks.1.3", 16 * 32), ("blocks.2.0", 32 * 9), ("blocks.2.3", 32 * 32), ("classifier", 32 * 10)]
    depthwise = model.get_submodule("blocks.1.0")
    assert depthwise.groups == depthwise.in_channels == depthwise.out_channels == 16
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    total = sum(l.weights + l.biases for l in layers)
    bn = sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters())
    assert total + bn == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", ["vgg_small", "mobilenet_small"])
def test_new_models_check_their_arguments(name):
    with pytest.raises(ValueError, match=r"^width must be a finite number in \[0.25, 8.0\]; got 9.0"):
        build_model(name, width=9)
    with pytest.raises(ValueError, match=r"in_channels must be an integer in \[1, 64\]; got 0"):
        build_model(name, in_channels=0)


def _paper_weights(in_channels, classes=10):
    # the paper-sized ResNet-8: stack widths 16/48/144, skips bundled as the kit does
    return _weights(in_channels, classes, widths=(16, 48, 144))


def test_paper_resnet8_has_the_papers_weight_count():
    model = build_model("resnet8_paper", in_channels=3, num_classes=10)
    layers = mappable_layers(model)
    assert isinstance(model, ResNet8) and model.widths == PAPER_RESNET8_WIDTHS == (16, 48, 144)
    assert [(l.name, l.weights) for l in layers] == _paper_weights(3)
    assert layers[3].modules == ("stack2.conv1", "stack2.skip") and layers[5].biases == 144
    total = sum(l.weights for l in layers)
    assert total == 290_640 and total * 8 == pytest.approx(2_325.1e3, abs=50)  # Table II "Full 8": 2325.1k
    assert total / sum(l.weights for l in mappable_layers(resnet8(in_channels=1))) == pytest.approx(3.77, abs=0.01)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_paper_resnet8_shares_match_table_i():
    # Table I, "Quantized 8 / MLC 0": 3x each entry is the layer's share (%), the skips counted with the
    # stack's second convolution; the kit counts them with the first, which moves 16*48 and 48*144 weights
    weights = [w for _, w in _paper_weights(3)]
    weights[3], weights[4] = weights[3] - 16 * 48, weights[4] + 16 * 48
    weights[5], weights[6] = weights[5] - 48 * 144, weights[6] + 48 * 144
    shares = [100 * w / sum(weights) / 3 for w in weights[:7]]
    assert shares == pytest.approx([0.050, 0.264, 0.264, 0.793, 2.466, 7.135, 22.197], abs=5e-4)


def test_per_stack_widths_and_width_multiplier():
    model = resnet8(in_channels=1, num_classes=4, widths=(8, 24, 40), width=0.5)
    assert model.widths == (4, 12, 20) and model.stack3.conv2.weight.shape == (20, 20, 3, 3)
    assert resnet8_paper(width=0.5).widths == (8, 24, 72)
    assert MODELS["resnet8_paper"] is resnet8_paper
    for widths in [(16, 32), "abc"]:
        with pytest.raises(ValueError, match=r"^widths must be three integers in \[1, 4096\]"):
            resnet8(widths=widths)
    with pytest.raises(ValueError, match=r"^widths\[1\] must be an integer in \[1, 4096\]; got 0"):
        resnet8(widths=(16, 0, 64))
    with pytest.raises(TypeError, match=r"^widths\[1\] must be an integer in \[1, 4096\]; got 32.0"):
        resnet8(widths=(16, 32.0, 64))


def test_default_widths_initialize_as_before():
    # the explicit MLPerf Tiny widths and the default build the same modules, in the same order, so the
    # same seed gives the same weights
    torch.manual_seed(3)
    a = resnet8(in_channels=1, width=0.5).state_dict()
    torch.manual_seed(3)
    b = resnet8(in_channels=1, width=0.5, widths=(16, 32, 64)).state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    torch.manual_seed(3)
    reference = torch.nn.Conv2d(1, 8, 3, padding=1, bias=False).weight  # the first module created
    assert torch.equal(a["stem.conv.weight"], reference)
