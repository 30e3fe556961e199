from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from imckit.core.models import PAPER_RESNET8_WIDTHS, build_model, mappable_layers
from imckit.core.training import PAPER_EPOCHS, BaselineSpec, TrainConfig, baseline_spec
from imckit.experiments.baseline import (PAPER_FULL8_DEVICES, BaselineConfig, PaperWidthFit, augmentation_phrase,
                                         fit_paper_widths, largest_layer, paper_network_table, paper_size_sentence,
                                         paper_weight_shares, resnet8_layer_weights, run)


@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
def test_preset_is_the_shared_baseline_spec(profile):
    config = BaselineConfig.preset(profile, dataset="cifar10", seed=3)
    assert config.spec == baseline_spec(profile, dataset="cifar10", seed=3)


def test_preset_sizes_differ_by_profile():
    smoke, default, paper = (BaselineConfig.preset(p).spec for p in ("smoke", "default", "paper"))
    assert (smoke.train_size, smoke.test_size, smoke.train.epochs) == (4096, 1024, 2)
    assert (default.train_size, default.train.epochs) == (None, 6)
    assert (paper.train_size, paper.train.epochs) == (None, PAPER_EPOCHS)
    assert (smoke.model, default.model, paper.model) == ("resnet8", "resnet8", "resnet8_paper")


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="profile"):
        BaselineConfig.preset("huge")
    with pytest.raises(TypeError, match="^spec must be a BaselineSpec"):
        BaselineConfig("smoke")
    with pytest.raises(TypeError, match="^config must be a BaselineConfig"):
        run(BaselineSpec())
    with pytest.raises(ValueError, match="at least one layer"):
        largest_layer(pd.DataFrame({"name": [], "weights": [], "share of weights (%)": []}))


def test_largest_layer_reads_the_row_with_the_most_weights():
    table = pd.DataFrame({"name": ["a", "b", "c"], "weights": [10, 70, 20],
                          "share of weights (%)": [10.0, 70.0, 20.0]})
    assert largest_layer(table) == ("b", 70.0)


def test_run_trains_once_and_tabulates_the_mappable_layers(tiny_fashion_mnist):
    spec = BaselineSpec(width=0.25, train=TrainConfig(epochs=1, batch_size=16))
    config = BaselineConfig(spec)
    first = run(config, data_root=str(tiny_fashion_mnist), progress=False)
    again = run(config, data_root=str(tiny_fashion_mnist), progress=False)
    assert not first.trained.from_cache and again.trained.from_cache
    assert len(first.layers) == 8 and first.mapped_weights == int(first.layers["weights"].sum())
    assert first.largest_layer == first.layers["name"].iloc[first.layers["weights"].argmax()]
    assert first.largest_share == pytest.approx(first.layers["share of weights (%)"].max())
    assert "/" not in first.checkpoint and first.checkpoint == again.checkpoint
    assert first.train_seconds >= 0 and again.train_seconds == pytest.approx(first.train_seconds)
    assert not first.augmented  # Fashion-MNIST: grey 28x28 images
    assert augmentation_phrase(first.augmented) == "no data augmentation"
    assert "flips" in augmentation_phrase(True)


# --------------------------------------------------------------------------------------------------------
# the paper's network size


def test_paper_weight_shares_from_table_i():
    shares = paper_weight_shares()
    assert shares[:7] == pytest.approx([0.150, 0.792, 0.792, 2.379, 7.398, 21.405, 66.591])
    assert shares[7] == pytest.approx(0.493) and shares.sum() == pytest.approx(100)
    assert paper_weight_shares([1.0], bits=4) == pytest.approx([1.5, 98.5])  # 8 of 12 devices saved
    with pytest.raises(ValueError, match="reductions must be a non-empty sequence"):
        paper_weight_shares([])
    with pytest.raises(ValueError, match=r"bits must be an integer in \[1, 11\]; got 12"):
        paper_weight_shares(bits=12)
    with pytest.raises(ValueError, match="must leave a share for the last layer"):
        paper_weight_shares([20.0, 20.0])


@pytest.mark.parametrize("widths,in_channels", [((16, 32, 64), 1), ((16, 48, 144), 3), ((8, 20, 36), 3)])
def test_formula_counts_the_models_layers(widths, in_channels):
    model = build_model("resnet8", in_channels=in_channels, num_classes=10, widths=widths)
    counted = resnet8_layer_weights(widths, in_channels)
    assert counted.tolist() == [layer.weights for layer in mappable_layers(model)]
    second = resnet8_layer_weights(widths, in_channels, skip_with="second")
    assert second.sum() == counted.sum() and second[4] - counted[4] == widths[0] * widths[1]
    with pytest.raises(ValueError, match="skip_with must be one of 'first', 'second'"):
        resnet8_layer_weights(widths, in_channels, skip_with="both")


def test_fit_recovers_the_papers_widths():
    fit = fit_paper_widths()
    assert fit.widths == PAPER_RESNET8_WIDTHS == (16, 48, 144)
    assert fit.in_channels == 3 and fit.skip_with == "second" and fit.candidates == 64**3 * 2 * 2
    assert fit.within_rounding and fit.error < 0.003
    assert fit.runner_up_error > 5 * max(fit.tolerances)  # no other candidate is within Table I's rounding
    assert fit.bundling_errors["first"] > 1.0  # the kit's bundling cannot reproduce the paper's shares
    assert fit.weights == 290_640 and fit.paper_weights == PAPER_FULL8_DEVICES / 8 == 290_637.5
    assert abs(fit.weights_gap) < 1e-5
    sentence = paper_size_sentence(fit)
    assert "16/48/144 on 3-channel images give the layer shares" in sentence and "290,640 weights are Table II's 290.6k" in sentence
    assert "with the second convolution" in sentence


def test_fit_sentence_when_nothing_matches():
    fit = fit_paper_widths(reductions=(1, 1, 1, 1, 1, 1, 1), step=16, max_width=64, in_channels=3)
    assert not fit.within_rounding and fit.candidates == 4**3 * 2
    assert paper_size_sentence(fit).startswith("None of the 128 candidate ResNet-8s gives")
    close = fit_paper_widths(step=16, max_width=160)  # holds 16/48/144
    far = replace(close, weights=100_000)  # as if Table II held another size
    assert close.within_rounding and "differ from Table II's 290.6k by -65.6%" in paper_size_sentence(far)


@pytest.mark.parametrize("kwargs,message", [
    ({"step": 0}, r"step must be an integer in \[1, 64\]; got 0"),
    ({"max_width": 2}, r"max_width must be an integer in \[4, 1024\]; got 2"),
    ({"in_channels": (0,)}, r"in_channels\[0\] must be an integer in \[1, 64\]"),
    ({"devices": -1}, "devices must be a finite number > 0"),
    ({"reductions": (1, 2)}, "reductions must give layers 1-7"),
    ({"decimals": -1}, r"decimals must be an integer in \[0, 12\]"),
])
def test_fit_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit_paper_widths(**kwargs)
    with pytest.raises(TypeError, match="^fit must be a PaperWidthFit"):
        paper_size_sentence("16/48/144")


def test_paper_network_table():
    table = paper_network_table()
    assert list(table.index) == [str(i) for i in range(1, 9)] + ["total (weights)"]
    assert list(table.columns) == ["layer", "paper (Table I)", "resnet8, Fashion-MNIST", "resnet8_paper, CIFAR-10",
                                   "resnet8_paper, skips as the paper"]
    shares, totals = table.iloc[:8, 1:], table.iloc[8, 1:]
    assert np.allclose(shares.sum(), 100)
    assert totals.tolist() == [290_637.5, 77_072, 290_640, 290_640]
    assert table["layer"].iloc[:8].tolist() == [layer.name for layer in mappable_layers(build_model("resnet8"))]
    fit = fit_paper_widths()
    gaps = (shares["resnet8_paper, skips as the paper"] - shares["paper (Table I)"]).abs()
    assert (gaps.to_numpy() <= np.asarray(fit.tolerances) + 1e-12).all()
    assert shares["resnet8_paper, skips as the paper"].tolist() == pytest.approx(list(fit.shares))
    kit = shares["resnet8_paper, CIFAR-10"]
    assert kit.iloc[3] > shares["paper (Table I)"].iloc[3] + 0.2  # the skip counted with layer 4
    assert isinstance(fit, PaperWidthFit)
