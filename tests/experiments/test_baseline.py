import pandas as pd
import pytest

from imckit.core.training import BaselineSpec, TrainConfig, baseline_spec
from imckit.experiments.baseline import BaselineConfig, largest_layer, run


@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
def test_preset_is_the_shared_baseline_spec(profile):
    config = BaselineConfig.preset(profile, dataset="cifar10", seed=3)
    assert config.spec == baseline_spec(profile, dataset="cifar10", seed=3)


def test_preset_sizes_differ_by_profile():
    smoke, default, paper = (BaselineConfig.preset(p).spec for p in ("smoke", "default", "paper"))
    assert (smoke.train_size, smoke.test_size, smoke.train.epochs) == (4096, 1024, 2)
    assert (default.train_size, default.train.epochs) == (None, 6)
    assert (paper.train_size, paper.train.epochs) == (None, 30)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="profile"):
        BaselineConfig.preset("huge")
    with pytest.raises(ValueError, match="spec must be a BaselineSpec"):
        BaselineConfig("smoke")
    with pytest.raises(ValueError, match="config must be a BaselineConfig"):
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
