from types import SimpleNamespace

import numpy as np
import pytest
import torch

from imckit.compensation.compensate import CompensationConfig
from imckit.core.models import resnet8
from imckit.crossbars.cost import CrossbarConfig
from imckit.experiments import hardware
from imckit.experiments.hardware import (HardwareConfig, agent_text, crossbar_text, images_text, ranking_text,
                                         speed_up_to_loss, step_curve, validation_text, widths_text, within_budget)
from imckit.experiments.sensitivity import TableConfig

from ..conftest import toy_dataset


def test_presets_per_profile_and_overrides():
    smoke, default, paper = (HardwareConfig.preset(p) for p in ("smoke", "default", "paper"))
    assert (smoke.evaluations, smoke.repeats, smoke.fine_tune.train_images) == (40, 1, 256)
    assert (default.evaluations, default.repeats, default.fine_tune.train_images) == (300, 10, 5000)
    assert (paper.evaluations, paper.repeats, paper.fine_tune.train_images) == (1000, 20, None)
    assert default.table == TableConfig.preset("default")  # the shared table's network and images
    assert default.crossbar.rows == default.crossbar.columns == 64 and default.crossbar.parallel_crossbars == 1
    assert default.crossbar.cell_bits == 2 and default.crossbar.mvm_latency_s == 1.4e-6  # seed 004's design
    custom = HardwareConfig.preset("smoke", evaluations=12, repeats=3, crossbar_size=256, parallel_crossbars=0,
                                   cell_bits=4, weight_bits=[4, 8])
    assert (custom.evaluations, custom.repeats, custom.population) == (12, 3, 6)
    assert custom.crossbar.rows == 256 and custom.crossbar.parallel_crossbars is None
    assert custom.weight_bits == (8, 4) and custom.seeds == (0, 1, 2)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"cell_bits": 3}, ValueError, "cell_bits"),
    ({"cell_bits": 4}, ValueError, r"weight_bits must be multiples of the crossbar's cell_bits=4.*\[6, 2\]"),
    ({"weight_bits": [4, 2]}, ValueError, "weight_bits must include fixed_bits=8"),
    ({"weight_bits": [8, 8]}, ValueError, "distinct"),
    ({"weight_bits": [8]}, ValueError, "at least two"),
    ({"weight_bits": "8"}, TypeError, "weight_bits"),
    ({"crossbar_size": 4}, ValueError, "crossbar_size"),
    ({"parallel_crossbars": -1}, ValueError, "parallel_crossbars"),
    ({"input_bits": 0}, ValueError, "input_bits"),
    ({"evaluations": 4}, ValueError, "evaluations"),
    ({"repeats": 1.5}, TypeError, "repeats"),
    ({"budget_fractions": [0.5, 1.5]}, ValueError, r"budget_fractions\[1\]"),
    ({"budget_fractions": []}, ValueError, "budget_fractions"),
    ({"network": "int8"}, ValueError, "network"),
])
def test_bad_parameters_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        HardwareConfig.preset("smoke", **kwargs)


def test_step_curve_reads_the_last_observation():
    curve = step_curve([10, 20, 40], [1.0, 3.0, 4.0], [5, 10, 15, 20, 50])
    assert curve.tolist() == [0.0, 1.0, 1.0, 3.0, 4.0]
    with pytest.raises(ValueError, match="non-decreasing"):
        step_curve([2, 1], [1, 2], [1])


def test_speed_up_to_loss_is_undefined_without_a_loss():
    assert speed_up_to_loss(2.0, 0.5) == 4.0
    assert np.isnan(speed_up_to_loss(2.0, 0.0)) and np.isnan(speed_up_to_loss(2.0, -0.3))
    with pytest.raises(ValueError, match="speed_up"):
        speed_up_to_loss(0.0, 1.0)


def test_within_budget_picks_the_most_accurate_that_fits():
    values = np.array([[5.0, 10.0], [2.0, 30.0], [2.0, 20.0], [1.0, 50.0]])
    genomes = np.arange(4)[:, None]
    assert within_budget(genomes, values, 30.0) == 2  # loss 2 at latency 20 beats loss 2 at 30
    assert within_budget(genomes, values, 10.0) == 0 and within_budget(genomes, values, 9.0) is None
    assert within_budget(genomes, values, 50.0) == 3


def test_texts():
    assert widths_text([0, 2, 1], (8, 4, 2)) == "8-2-4"
    assert images_text(None) == "the whole training set" and images_text(5000) == "5,000 training images"
    text = crossbar_text(CrossbarConfig.pelke2024(2, parallel_crossbars=1, size=64))
    assert text.startswith("64x64 1T1R arrays with 2-bit cells") and "1 shared crossbar" in text
    assert "weight-stationary" in crossbar_text(CrossbarConfig.pelke2024(4))


def _fake_result(agent_finals, random_finals):
    """A result whose runs give the agent and random search these final hypervolumes (raw; exact front 10)."""
    runs = {s: [{"evaluations": np.array([1, 8]), "hv2": np.array([0.0, v]), "hv3": np.array([0.0, v])}
                for v in finals] for s, finals in (("agent", agent_finals), ("random", random_finals),
                                                   ("genetic", [5.0] * len(agent_finals)),
                                                   ("nsga2", [9.0] * len(agent_finals)),
                                                   ("nsga3", [9.0] * len(agent_finals)))}
    result = SimpleNamespace(runs=runs, config=SimpleNamespace(evaluations=8))
    for name in ("grid", "curves", "final_frame", "strategies"):
        setattr(result, name, getattr(hardware.HardwareResult, name).__get__(result))
    result.exact_hypervolume = lambda k: 10.0
    return result


def test_agent_text_follows_the_seeds():
    assert "beat random search in every seed" in agent_text(_fake_result([6.0, 7.0], [5.0, 6.0]))
    assert "random search beat the agent in every seed" in agent_text(_fake_result([4.0, 5.0], [5.0, 6.0]))
    assert "in 1 of 3 seeds and tied in 1" in agent_text(_fake_result([6.0, 5.0, 1.0], [5.0, 5.0, 5.0]))
    assert "is within twice its standard error" in agent_text(_fake_result([6.0, 5.0, 1.0], [5.0, 5.0, 5.0]))
    assert "+10.0 points, is beyond" in agent_text(_fake_result([6.0, 7.0, 6.5], [5.0, 6.0, 5.5]))
    assert agent_text(_fake_result([6.0], [5.0])).endswith("one seed says nothing about noise.")
    ranking = ranking_text(_fake_result([6.0, 7.0], [5.0, 6.0]), 2)
    assert ranking.startswith("NSGA-II (pymoo) 90.0 ± 0.0 %") and ranking.index("HAQ") < ranking.index("random")


def test_validation_text_is_chosen_by_the_numbers():
    import pandas as pd

    frame = pd.DataFrame({"configuration": ["uniform 8-bit", "budget 50 %: exact optimum", "budget 50 %: agent"],
                          "found by": ["reference", "exact front", "HAQ-style agent"],
                          "widths": ["8-8-8", "8-4-8", "8-2-8"], "speed-up vs 8-bit": [1.0, 1.5, 1.5],
                          "predicted accuracy loss (%)": [0.0, -1.0, -1.0],
                          "accuracy loss (pts)": [0.0, 0.1, 0.1], "drop quantized (pts)": [0.0, 2.0, 2.0]})
    frame.attrs["noise (pts)"] = 0.5
    text = validation_text(SimpleNamespace(validation=frame))
    assert "exact optimum's predicted accuracy in 1 of 1 budgets" in text and "1.50x faster at +0.10 points" in text
    frame.loc[1:, "accuracy loss (pts)"] = 3.0
    assert "lost accuracy beyond noise" in validation_text(SimpleNamespace(validation=frame))


@pytest.fixture
def toy_baseline():
    data = toy_dataset(n_train=64, n_test=32)
    torch.manual_seed(0)
    model = resnet8(in_channels=1, num_classes=4, width=0.25).eval()
    return SimpleNamespace(model=model, test_set=data.test, train_set=data.train,
                           spec=SimpleNamespace(model="resnet8"), data=SimpleNamespace(name="toy"))


def _toy_config(**changes):
    values = dict(crossbar=CrossbarConfig.pelke2024(2, parallel_crossbars=1, size=8), evaluations=16,
                  population=4, repeats=2, budget_fractions=(0.3, 0.8), agent_warmup=2, checkpoints=4,
                  fine_tune=CompensationConfig(train_images=32, batch_size=16))
    values.update(changes)
    return HardwareConfig(TableConfig(1, 16, aware_epochs=1, frozen_epochs=0), **values)


def test_run_on_a_toy_network(toy_baseline):
    config = _toy_config()
    result = hardware.run(toy_baseline, config)
    layers = len(result.layers)
    assert result.accuracy.shape == result.latency.shape == result.energy.shape == (layers, 4)
    for table in (result.accuracy, result.latency, result.energy):  # first and last fixed at 8 bits
        assert np.isnan(table[[0, -1], 1:]).all() and not np.isnan(table[1:-1]).any()
    assert result.space == 4 ** (layers - 2) and result.free_layers == layers - 2
    # fewer bits never take more crossbars or more time (time-multiplexed on one crossbar)
    assert (np.diff(result.crossbars[1:-1], axis=1) <= 0).all() and (np.diff(result.latency[1:-1], axis=1) <= 0).all()
    assert (result.crossbars[1:-1, 0] > result.crossbars[1:-1, -1]).any()
    frame = result.final_frame()
    assert set(frame["strategy"]) == set(hardware.STRATEGY_LABELS.values())
    assert ((frame["mean (%)"] > 0) & (frame["mean (%)"] <= 100 + 1e-6)).all()
    assert (frame["seeds"] == 2).all()
    for k in (2, 3):
        for curve in result.curves(k).values():  # a front only grows: hypervolume never falls
            assert curve.shape == (2, len(result.grid())) and (np.diff(curve, axis=1) >= -1e-9).all()
    validation = result.validation
    assert validation["configuration"].iloc[0] == "uniform 8-bit" and validation["speed-up vs 8-bit"].iloc[0] == 1
    assert validation["accuracy loss (pts)"].iloc[0] == 0 and (validation["speed-up vs 8-bit"] >= 1 - 1e-12).all()
    agents = result.agent_rows()
    assert len(agents) == 2 and (agents["latency (ms)"].to_numpy() <= np.array(result.budgets) + 1e-6).all()
    exact = validation[validation["found by"] == "exact front"]
    for _, row in exact.iterrows():  # the exact optimum within a budget is at least as good as the agent's pick
        agent = validation[validation["configuration"] == row["configuration"].replace("exact optimum", "agent")]
        assert row["predicted accuracy loss (%)"] <= agent["predicted accuracy loss (%)"].iloc[0] + 1e-9
    assert len(result.cost_table()) == layers + 1 and len(result.bookkeeping()) == 8
    again = hardware.run(toy_baseline, config)
    assert again.from_cache and again.validation.equals(result.validation)
    card = hardware.scorecard(result, toy_baseline, "smoke")
    assert set(card.rows) == {f"004/{c}" for c in ("peak-speedup", "speedup-4bit-cells", "max-accuracy-loss",
                                                   "best-accuracy-gain", "sal-resnet18-2bit-cells",
                                                   "sal-resnet18-4bit-cells")}
    assert {row.verdict.verdict for row in card.rows.values()} == {"not comparable"}


def test_search_runs_reject_tables_that_do_not_fix_the_fixed_layers():
    from imckit.experiments.hardware_steps import search_runs

    loss = np.zeros((3, 2))
    with pytest.raises(ValueError, match="fixed must name the only configuration"):
        search_runs(loss, loss + 1, loss + 1, {0: 0}, [0], 8, 4, [0.5], cache="")
    with pytest.raises(ValueError, match="budget_fractions"):
        search_runs(loss, loss + 1, loss + 1, {}, [0], 8, 4, [], cache="")


def test_latency_text_says_when_latency_cannot_trade():
    from imckit.experiments.hardware import latency_text

    spread = SimpleNamespace(latency=np.array([[10.0, np.nan], [30.0, 20.0]]))
    assert latency_text(spread) == "The fastest configuration takes 30.0 ms, the slowest 40.0 ms (1.33x)."
    flat = SimpleNamespace(latency=np.array([[10.0, np.nan], [30.0, 30.0]]))
    assert "every configuration takes the same time, 40.0 ms" in latency_text(flat)


def test_search_runs_same_seed_same_numbers_without_the_cache():
    from imckit.experiments.hardware_steps import STRATEGIES, search_runs

    rng = np.random.default_rng(3)
    loss, latency, energy = rng.random((5, 3)), rng.random((5, 3)) + 1, rng.random((5, 3)) + 1
    for table in (loss, latency, energy):
        table[[0, -1], 1:] = np.nan
    args = (loss, latency, energy, {0: 0, 4: 0}, [5, 6], 12, 4, [0.3, 0.9])
    first, cached_first = search_runs(*args, warmup=2, checkpoints=3, cache="")
    second, _ = search_runs(*args, warmup=2, checkpoints=3, cache="")
    assert not cached_first and set(first) == set(STRATEGIES)
    for strategy in STRATEGIES:
        for a, b in zip(first[strategy], second[strategy]):
            assert a.keys() == b.keys() and all(np.array_equal(a[key], b[key]) for key in a)
    other, _ = search_runs(loss, latency, energy, {0: 0, 4: 0}, [7, 8], 12, 4, [0.3, 0.9], warmup=2,
                           checkpoints=3, cache="")
    assert any(not np.array_equal(a["genomes"], b["genomes"]) for a, b in zip(first["random"], other["random"]))


def test_a_flat_latency_validates_one_budget(toy_baseline):
    result = hardware.run(toy_baseline, _toy_config(crossbar=CrossbarConfig.pelke2024(2, size=8), repeats=1))
    assert np.allclose(np.nanmax(result.latency, axis=1), np.nanmin(result.latency, axis=1))  # weight-stationary
    assert "every configuration takes the same time" in hardware.latency_text(result)
    assert len(result.agent_rows()) == 1 and (result.validation["speed-up vs 8-bit"] == 1).all()


def test_budgets_are_kept_by_every_strategy():
    from imckit.experiments.hardware_steps import agent_warmup, genetic_generations, search_runs

    assert agent_warmup(20, 100) == 20 and agent_warmup(20, 13) == 6  # the actor acts in small runs too
    from imckit.experiments.hardware_steps import _genetic_config
    from imckit.search.genetic import genetic_search

    table = np.random.default_rng(3).random((5, 4))
    for evaluations, population in ((300, 20), (40, 8), (16, 4), (1000, 50)):
        made = [int(genetic_search(table, table[::-1], seed=0, config=_genetic_config(population, g))
                    .history["evaluations"][-1]) for g in (genetic_generations(evaluations, population),
                                                            genetic_generations(evaluations, population) + 1)]
        assert made[0] <= evaluations < made[1], (evaluations, population, made)  # the most generations that fit
    rng = np.random.default_rng(4)
    loss, latency, energy = rng.random((6, 4)), rng.random((6, 4)) + 1, rng.random((6, 4)) + 1
    for table in (loss, latency, energy):
        table[[0, -1], 1:] = np.nan
    runs, _ = search_runs(loss, latency, energy, {0: 0, 5: 0}, [0], 40, 8, [0.5], warmup=4, checkpoints=5,
                          cache="")
    made = {s: [int(np.max(r.get("evaluations2", r.get("evaluations3", r.get("evaluations"))))) for r in rs]
            for s, rs in runs.items()}
    assert made["agent"] == made["random"] == [40]
    assert 40 - 8 < made["genetic"][0] <= 40  # as many whole generations as fit
    assert 40 - 8 <= made["nsga2"][0] <= 40 and 40 - 8 <= made["nsga3"][0] <= 40
