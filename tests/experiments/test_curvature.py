"""Hutchinson, Fisher and GGN strip scores side by side: the decisions on hand-made numbers, and a tiny comparison
end to end (cached, sharing the chapter's cache entries)."""

import math

import pandas as pd
import pytest
import torch
from torch import nn

from imckit.crossbars.ggn import ggn_diagonal_halves
from imckit.crossbars.hessian import score_reliability
from imckit.experiments import curvature as cv
from imckit.experiments import hessian as hs

from ..conftest import toy_dataset

# --------------------------------------------------------------------------------------------------------
# decisions, on hand-made numbers


@pytest.mark.parametrize("reliability,seconds,expected", [
    (0.9, 120.0, True),  # both at the edge of the goal
    (0.95, 3.0, True),
    (0.8999, 3.0, False),
    (0.95, 120.01, False),
    (float("nan"), 1.0, False),
    (-0.2, 0.0, False),
])
def test_meets_goal(reliability, seconds, expected):
    assert cv.meets_goal(reliability, seconds) is expected


@pytest.mark.parametrize("kwargs,message", [
    ({"target": 1.0}, r"target must be a finite number in \(0, 1\); got 1.0"),
    ({"budget": 0}, "budget must be a finite number > 0; got 0.0"),
    ({"seconds": -1.0}, "seconds must be a finite number >= 0; got -1.0"),
    ({"reliability": 1.5}, r"reliability must be a finite number in \[-1, 1\]; got 1.5"),
    ({"reliability": "high"}, r"reliability must be a number in \[-1, 1\] or NaN; got 'high'"),
])
def test_meets_goal_rejects_bad_input(kwargs, message):
    args = {"reliability": 0.9, "seconds": 1.0, **kwargs}
    with pytest.raises((ValueError, TypeError), match="^" + message):
        cv.meets_goal(**args)


def _table(reliability: dict, seconds: dict) -> pd.DataFrame:
    table = pd.DataFrame({"reliability": reliability, "seconds": seconds}).loc[list(cv.METHODS)]
    table.attrs.update({"images": 512, "ggn images": 1024, "probes": 64})
    return table


def test_comparison_text_states_who_meets_the_goal_from_the_numbers():
    text = cv.comparison_text(_table({"hutchinson": 0.12, "fisher": 0.97, "ggn": 0.99},
                                     {"hutchinson": 95.0, "fisher": 0.7, "ggn": 5.2}))
    assert text["cv_verdict"] == ("The empirical Fisher and the exact GGN diagonal reach a split-half reliability of "
                                  "at least 0.90 within 120 s here; Hutchinson does not.")
    assert (text["cv_rel_hutchinson"], text["cv_sec_ggn"], text["cv_images"], text["cv_ggn_images"],
            text["cv_probes"]) == ("0.12", "5.2", "512", "1,024", "64")
    only = cv.comparison_text(_table({"hutchinson": 0.12, "fisher": 0.85, "ggn": 0.93},
                                     {"hutchinson": 95.0, "fisher": 0.7, "ggn": 5.2}))
    assert only["cv_verdict"].startswith("The exact GGN diagonal reaches a split-half reliability")
    slow = cv.comparison_text(_table({"hutchinson": 0.95, "fisher": 0.85, "ggn": 0.95},
                                     {"hutchinson": 300.0, "fisher": 0.7, "ggn": 200.0}))
    assert slow["cv_verdict"] == ("None of the three scorings reaches a split-half reliability of at least 0.90 "
                                  "within 120 s here.")
    every = cv.comparison_text(_table({"hutchinson": 0.95, "fisher": 0.95, "ggn": math.nan},
                                      {"hutchinson": 10.0, "fisher": 0.7, "ggn": 1.0}), target=0.9, budget=60)
    assert every["cv_verdict"] == ("Hutchinson and the empirical Fisher reach a split-half reliability of at least "
                                   "0.90 within 60 s here.")
    assert every["cv_rel_ggn"] == "undefined"


def test_comparison_text_rejects_other_tables():
    with pytest.raises(ValueError, match="table must be curvature_comparison's"):
        cv.comparison_text(pd.DataFrame({"reliability": [0.5]}, index=["fisher"]))
    table = _table({"hutchinson": 0.1, "fisher": 0.9, "ggn": 0.9}, {"hutchinson": 1, "fisher": 1, "ggn": 1})
    table.attrs.clear()
    with pytest.raises(ValueError, match="table.attrs must hold"):
        cv.comparison_text(table)


# --------------------------------------------------------------------------------------------------------
# a tiny comparison end to end


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv1(x)))
        return self.fc(torch.relu(self.conv2(x)).mean((2, 3)))


@pytest.fixture(scope="module")
def trained():
    data = toy_dataset(n_train=96, n_test=64, seed=0)
    torch.manual_seed(0)
    model = Toy()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.train()
    for _ in range(30):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(data.train.images), data.train.labels).backward()
        optimizer.step()
    return model.eval(), data


CONFIG = hs.HessianConfig(hessian_images=32, probes=4, test_images=48, ratio_step=0.25, crossbar_sizes=(16, 8),
                          coordinated_images=16, fim_steps=3)


@pytest.fixture(scope="module")
def compared(trained, tmp_path_factory):
    model, data = trained
    cache = tmp_path_factory.mktemp("cache")
    first = cv.curvature_comparison(model, data.train, data.test, CONFIG, seed=1, cache=cache)
    second = cv.curvature_comparison(model, data.train, data.test, CONFIG, seed=1, cache=cache)
    return model, data, first, second, cache


def test_table_rows_columns_and_ranges(compared):
    _, _, table, _, _ = compared
    assert list(table.index) == ["hutchinson", "fisher", "ggn", "random strips"]
    assert list(table.columns[:7]) == ["estimate", "reliability", "reliability (full)", "trace reliability",
                                       "rank correlation with GGN", "negative scores (%)", "seconds"]
    assert [c for c in table.columns if c.startswith("FIM ratio")] == ["FIM ratio (%), 8/4-bit",
                                                                        "FIM ratio (%), 8/3-bit"]
    assert table.loc["hutchinson", "estimate"] == "4 probes on 32 images"
    assert table.loc["ggn", "estimate"] == "32 images (16 + 16)"
    methods = list(cv.METHODS)
    assert table.loc[methods, "reliability"].between(-1, 1).all()
    assert table.loc["ggn", "rank correlation with GGN"] == pytest.approx(1.0)
    assert (table.loc[methods, "seconds"] >= 0).all()
    assert table.loc["ggn", "negative scores (%)"] == 0  # a sum of squares
    accuracy = [c for c in table.columns if "accuracy" in c]
    fim = [c for c in table.columns if c.startswith("FIM")]
    assert len(accuracy) == 4 and len(fim) == 4
    values = table.loc[methods, accuracy + fim].to_numpy()
    assert ((values >= 0) & (values <= 100)).all()  # no NaN for the three scorings
    control = table.loc["random strips"]
    assert 0 <= control["accuracy at 80 % (%), 8/4-bit"] <= 100 and 0 <= control["accuracy at 80 % (%), 8/3-bit"] <= 100
    assert control[["reliability", "seconds", *fim]].isna().all()
    assert table.attrs["images"] == 32 and table.attrs["ggn images"] == 32 and table.attrs["test images"] == 48
    assert table.attrs["fixed ratio"] == 0.8 and 0 <= table.attrs["accuracy all high (%)"] <= 100


def test_ggn_reliability_is_that_of_the_two_image_halves(compared):
    model, data, table, _, _ = compared
    batch = data.train.subset(32, seed=1)
    modules = ["conv1", "conv2", "fc"]
    first, second, _ = ggn_diagonal_halves(model, batch.images, modules)
    assert table.loc["ggn", "reliability"] == pytest.approx(score_reliability(model, first, second, modules))


def test_second_call_reads_everything_from_the_cache(compared):
    _, _, first, second, _ = compared
    assert not any(first.attrs["from cache"].values())
    assert all(second.attrs["from cache"].values()) and "ggn halves" in second.attrs["from cache"]
    pd.testing.assert_frame_equal(first, second)


def test_shares_the_chapter_cache_entries(trained, tmp_path):
    model, data = trained
    config = hs.HessianConfig(hessian_images=16, probes=2, test_images=24, ratio_step=0.5, crossbar_sizes=(16,),
                              coordinated_images=8, fim_steps=1, contrast_low_bits=0)
    hs.run(model, data.train, data.test, config, seed=2, cache=tmp_path)
    table = cv.curvature_comparison(model, data.train, data.test, config, seed=2, cache=tmp_path)
    hits = table.attrs["from cache"]
    assert hits["hessian trace"] and hits["fisher diagonals"] and not hits["ggn halves"]


def test_ggn_images_and_fixed_ratio(trained):
    model, data = trained
    config = hs.HessianConfig(hessian_images=16, probes=2, test_images=24, ratio_step=0.5, fim_steps=1,
                              contrast_low_bits=0)
    table = cv.curvature_comparison(model, data.train, data.test, config, ggn_images=40, fixed_ratio=0.5, cache="")
    assert table.attrs["ggn images"] == 40 and table.loc["ggn", "estimate"] == "40 images (20 + 20)"
    assert "accuracy at 50 % (%), 8/4-bit" in table.columns and "FIM ratio (%), 8/3-bit" not in table.columns


@pytest.mark.parametrize("kwargs,message", [
    ({"config": {"probes": 4}}, "config must be a HessianConfig; got dict"),
    ({"seed": -1}, r"seed must be an integer in \[0, 2\*\*63 - 1\]"),
    ({"ggn_images": 1}, r"ggn_images must be an integer in \[2, 96\]; got 1"),
    ({"ggn_images": 97}, r"ggn_images must be an integer in \[2, 96\]"),
    ({"fixed_ratio": 1.5}, r"fixed_ratio must be a finite number in \[0, 1\]"),
    ({"train_set": "images"}, "train_set must be an imckit.core.data.ImageTensors; got str"),
    ({"model": None}, "model must be a torch.nn.Module; got NoneType"),
    ({"device": "tpu"}, "device must be one of"),
])
def test_bad_input(trained, kwargs, message):
    model, data = trained
    args = {"model": model, "train_set": data.train, "test_set": data.test, "config": CONFIG, **kwargs}
    with pytest.raises((ValueError, TypeError), match="^" + message):
        cv.curvature_comparison(**args, cache="")
