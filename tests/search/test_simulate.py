import numpy as np
import pytest
import torch

from imckit.memory.cells import CellConfig
from imckit.injection.errors import evaluate_with_errors
from imckit.core.models import mappable_layers, resnet8
from imckit.search.simulate import check_genomes, genome_configs, genome_devices, rank_agreement, simulate_genomes

from ..conftest import IDENTITY4, toy_dataset as _toy_dataset

CONFIGS = (CellConfig(8, 4), CellConfig(8, 0), CellConfig(4, 0), CellConfig(2, 1))


@pytest.fixture(scope="module")
def toy():
    data = _toy_dataset(n_test=40)
    torch.manual_seed(0)
    return resnet8(in_channels=1, num_classes=4, width=0.5).eval(), data.test


def test_simulation_matches_a_direct_evaluation_of_the_same_draws(toy):
    model, data = toy
    genome = np.array([0, 1, 2, 3, 0, 1, 2, 1])
    sim = simulate_genomes(model, data, genome, CONFIGS, repetitions=3, seed=5, cache="", progress=False)
    assert sim.loss.shape == (1, 3) and sim.accuracy.shape == (1, 3)
    # the same draws through evaluate_with_errors: same seed derivation, every layer perturbed at once
    from imckit.search.simulate import _genome_seed

    configs = genome_configs(sim.layers, CONFIGS, genome)
    direct = evaluate_with_errors(model, data, configs, repetitions=3, seed=_genome_seed(5, genome))
    assert np.allclose(sim.loss[0], direct.loss.numpy()) and np.allclose(sim.accuracy[0], direct.accuracy.numpy())
    assert len(set(sim.loss[0])) > 1  # MLC errors: the repetitions differ


def test_genome_results_do_not_depend_on_the_others_and_seeds_reproduce(toy):
    model, data = toy
    genomes = np.array([[0] * 8, [3] * 7 + [1], [1] * 8])
    both = simulate_genomes(model, data, genomes, CONFIGS, repetitions=2, seed=1, cache="", progress=False)
    one = simulate_genomes(model, data, genomes[1], CONFIGS, repetitions=2, seed=1, cache="", progress=False)
    again = simulate_genomes(model, data, genomes, CONFIGS, repetitions=2, seed=1, cache="", progress=False)
    other = simulate_genomes(model, data, genomes, CONFIGS, repetitions=2, seed=2, cache="", progress=False)
    assert np.array_equal(both.loss[1], one.loss[0]) and np.array_equal(both.loss, again.loss)
    assert not np.array_equal(both.loss[0], other.loss[0])
    # the all-SLC genome is error-free: every repetition is the same network
    assert both.loss[2, 0] == both.loss[2, 1]


def test_error_free_devices_give_the_quantized_network(toy):
    model, data = toy
    sim = simulate_genomes(model, data, [[1] * 8], CONFIGS, mlc=IDENTITY4, repetitions=2, cache="", progress=False)
    direct = evaluate_with_errors(model, data, {l.name: CONFIGS[1] for l in mappable_layers(model)}, repetitions=1)
    assert sim.loss[0, 0] == pytest.approx(float(direct.loss[0]))


def test_devices_and_frame(toy):
    model, data = toy
    weights = [layer.weights for layer in mappable_layers(model)]
    genomes = np.array([[0] * 8, [1] * 8])
    devices = genome_devices(weights, CONFIGS, genomes)
    assert devices.tolist() == [4 * sum(weights), 8 * sum(weights)]
    sim = simulate_genomes(model, data, genomes, CONFIGS, repetitions=2, cache="", progress=False)
    frame = sim.frame()
    assert list(frame["devices"]) == devices.tolist() and len(frame) == 2
    expected = 100 * (sim.loss.mean(1) - sim.baseline_loss) / sim.baseline_loss
    assert np.allclose(sim.loss_change, expected)


def test_cache_is_reused_and_keyed_by_inputs(toy, tmp_path):
    model, data = toy
    a = simulate_genomes(model, data, [[0] * 8], CONFIGS, repetitions=2, cache=str(tmp_path), progress=False)
    b = simulate_genomes(model, data, [[0] * 8], CONFIGS, repetitions=2, cache=str(tmp_path), progress=False)
    assert np.array_equal(a.loss, b.loss) and len(list((tmp_path / "simulation").iterdir())) == 1
    simulate_genomes(model, data, [[0] * 7 + [1]], CONFIGS, repetitions=2, cache=str(tmp_path), progress=False)
    simulate_genomes(model, data, [[0] * 8], CONFIGS, repetitions=3, cache=str(tmp_path), progress=False)
    assert len(list((tmp_path / "simulation").iterdir())) == 3
    # a corrupted entry is ignored and recomputed, not trusted
    for path in (tmp_path / "simulation").iterdir():
        path.write_bytes(b"garbage")
    with pytest.warns(RuntimeWarning, match="ignoring cache file"):
        c = simulate_genomes(model, data, [[0] * 8], CONFIGS, repetitions=2, cache=str(tmp_path), progress=False)
    assert np.array_equal(a.loss, c.loss)


def test_bad_genomes():
    with pytest.raises(ValueError, match=r"genomes must have shape \(G, 8\)"):
        check_genomes(np.zeros((2, 7), dtype=int), 8, 4)
    with pytest.raises(ValueError, match=r"configuration indices in \[0, 3\]"):
        check_genomes(np.full((1, 8), 4), 8, 4)
    with pytest.raises(ValueError, match="integer configuration indices"):
        check_genomes(np.full((1, 8), 0.5), 8, 4)
    assert check_genomes(np.zeros(8), 8, 4).shape == (1, 8)


def test_bad_repetitions(toy):
    model, data = toy
    with pytest.raises(ValueError, match="repetitions must be an integer >= 1"):
        simulate_genomes(model, data, [[0] * 8], CONFIGS, repetitions=0, cache="")


def test_rank_agreement():
    assert rank_agreement([1, 2, 3, 4], [10, 20, 30, 40])["spearman"] == pytest.approx(1.0)
    assert rank_agreement([1, 2, 3, 4], [4, 3, 2, 1])["kendall"] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="same length >= 3"):
        rank_agreement([1, 2], [1, 2])


def test_select_solutions():
    from imckit.search.simulate import paper_memory_targets, select_solutions

    memory = np.array([10.0, 20.0, 30.0, 40.0])
    assert select_solutions(memory, (75, 50, 100), reference=40.0).tolist() == [2, 1, 3]
    with pytest.raises(ValueError, match=r"no front solution within the memory target 10 % .* smallest front memory is 10"):
        select_solutions(memory, (10,), reference=40.0)
    with pytest.raises(ValueError, match=r"^targets\[0\] must be a finite number in \(0\.0, 1000\.0\]; got -5"):
        select_solutions(memory, (-5,), reference=40.0)
    targets = paper_memory_targets()
    assert len(targets) == 6 and targets[0] == pytest.approx(100 * 1640 / 2325.1, abs=0.01) and list(targets) == sorted(targets, reverse=True)


def test_cpu_and_auto_give_identical_simulations(toy):
    model, data = toy
    genome = np.array([0, 1, 2, 3, 0, 1, 2, 1])
    cpu = simulate_genomes(model, data, genome, CONFIGS, repetitions=2, cache="", progress=False, device="cpu")
    auto = simulate_genomes(model, data, genome, CONFIGS, repetitions=2, cache="", progress=False, device="auto")
    if not torch.cuda.is_available():
        assert np.array_equal(cpu.loss, auto.loss) and np.array_equal(cpu.accuracy, auto.accuracy)
    with pytest.raises(ValueError, match="device must be one of"):
        simulate_genomes(model, data, genome, CONFIGS, repetitions=1, cache="", device="npu")


def test_no_cache_writes_nothing_and_the_key_knows_torch(toy, tmp_path, monkeypatch):
    import imckit.core.cache as cache

    model, data = toy
    a = simulate_genomes(model, data, [[0] * 8], CONFIGS, repetitions=2, cache="", progress=False)
    assert not cache.cache_dir().exists() or not any(cache.cache_dir().rglob("*.pt"))
    b = simulate_genomes(model, data, [[0] * 8], CONFIGS, repetitions=2, cache=str(tmp_path), progress=False)
    assert np.array_equal(a.loss, b.loss)
    assert [p.name.startswith("genomes-") for p in (tmp_path / "simulation").iterdir()] == [True]
    monkeypatch.setattr(cache, "torch_version", lambda: "99.0")
    simulate_genomes(model, data, [[0] * 8], CONFIGS, repetitions=2, cache=str(tmp_path), progress=False)
    assert len(list((tmp_path / "simulation").iterdir())) == 2
