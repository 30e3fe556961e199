import math

import pytest
import torch

from imckit.memory.devices import (SLC, FeFETMLC, TransitionMatrixDevice, bit_error_rate, fit_fefet_mlc, sample_reads,
                            simulate_campaign, validate_transition_matrix)


def test_default_fefet_is_calibrated_to_the_papers_4_percent():
    device = FeFETMLC()
    m = device.transition_matrix()
    validate_transition_matrix(m)
    assert bit_error_rate(m) == pytest.approx(0.04, abs=1e-5)
    assert bit_error_rate(FeFETMLC.calibrated(0.04).transition_matrix()) == pytest.approx(0.04, abs=1e-9)
    per_state = 1 - torch.diagonal(m)
    assert per_state.max() > 3 * per_state.min()  # rates differ by state
    neighbours = sum(m[i, j] for i in range(4) for j in range(4) if abs(i - j) == 1)
    far = sum(m[i, j] for i in range(4) for j in range(4) if abs(i - j) > 1)
    assert far < 1e-3 * neighbours  # errors go to neighbouring states


def test_matrix_is_the_normal_mass_between_thresholds():
    d = FeFETMLC((0.0, 1.0, 2.0, 3.0), (0.5, 0.5, 0.5, 0.5))
    m = d.transition_matrix()
    phi = lambda z: 0.5 * math.erfc(-z / math.sqrt(2))  # noqa: E731
    assert m[0, 1].item() == pytest.approx(phi(3.0) - phi(1.0))  # state 0 between thresholds 0.5 and 1.5
    assert m[1, 1].item() == pytest.approx(phi(1.0) - phi(-1.0))


@pytest.mark.parametrize("seed", [0, 1])
def test_sampled_error_rates_match_the_matrix(seed):
    device = FeFETMLC()
    matrix = device.transition_matrix()
    n = 250_000
    written = torch.arange(4).repeat_interleave(n)  # 10^6 cells
    read = sample_reads(matrix, written, torch.Generator().manual_seed(seed))
    for i in range(4):
        counts = torch.bincount(read[written == i], minlength=4).double() / n
        sd = torch.sqrt(matrix[i] * (1 - matrix[i]) / n)
        assert torch.all((counts - matrix[i]).abs() <= 5 * sd + 1e-12), (i, counts, matrix[i])


def test_reading_sampled_currents_matches_the_matrix():
    device = FeFETMLC()
    written = torch.arange(4).repeat_interleave(100_000)
    read = device.read_states(device.sample_currents(written, torch.Generator().manual_seed(3)))
    empirical = 1 - (read == written).double().mean()
    assert empirical.item() == pytest.approx(0.04, abs=0.002)


@pytest.mark.parametrize("matrix,message", [
    ([[1.0, 0.0, 0.0]], "square"),
    ([[1.0, 0, 0], [0, 1, 0], [0, 0, 1]], "power of two"),
    ([[1.2, -0.2], [0, 1]], "non-negative"),
    ([[0.9, 0.05], [0, 1]], "row 0 sums to 0.95"),
    ([[1.0]], "power of two"),
])
def test_invalid_matrices_are_rejected(matrix, message):
    with pytest.raises(ValueError, match=message):
        TransitionMatrixDevice(matrix)


def test_custom_device():
    d = TransitionMatrixDevice([[0.9, 0.1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0.2, 0.8]])
    assert d.bits_per_cell == 2 and bit_error_rate(d.transition_matrix()) == pytest.approx(0.075)


def test_slc_device():
    assert torch.equal(SLC().transition_matrix(), torch.eye(2, dtype=torch.float64))
    assert SLC(0.1).transition_matrix()[0, 1] == pytest.approx(0.1)
    with pytest.raises(ValueError, match=r"^error_rate must be a finite number in \[0.0, 1.0\]; got 1.5"):
        SLC(1.5)


def test_fit_round_trip_on_simulated_measurements():
    truth = FeFETMLC()
    campaign = simulate_campaign(truth, arrays=400, seed=4)  # 25,200 cells
    fitted = fit_fefet_mlc(campaign.written.flatten(), campaign.currents.flatten())
    for a, b in zip(fitted.log10_current, truth.log10_current):
        assert a == pytest.approx(b, abs=0.02)
    for a, b in zip(fitted.sigma_decades, truth.sigma_decades):
        assert a == pytest.approx(b, rel=0.05)
    assert (fitted.transition_matrix() - truth.transition_matrix()).abs().max() < 0.01


def test_fit_rejects_bad_tables():
    with pytest.raises(ValueError, match="same length"):
        fit_fefet_mlc([0, 1], [1e-8])
    with pytest.raises(ValueError, match=r"^states must be integer states in \[0, 3\]; got 5"):
        fit_fefet_mlc([0, 5], [1e-8, 1e-7])
    with pytest.raises(ValueError, match="finite and positive"):
        fit_fefet_mlc([0, 1], [1e-8, -1.0])
    with pytest.raises(ValueError, match="state 3 has 0 measured cells"):
        fit_fefet_mlc([0, 0, 1, 1, 2, 2], [1e-8, 2e-8, 1e-7, 2e-7, 1e-6, 2e-6])


def test_bad_fefet_parameters():
    with pytest.raises(ValueError, match="log10_current must be 4 finite, strictly increasing"):
        FeFETMLC(log10_current=(-5.0, -6.0, -7.0, -8.0))
    with pytest.raises(ValueError, match="sigma_decades must be 4 positive"):
        FeFETMLC(sigma_decades=(0.1, 0.0, 0.1, 0.1))
    with pytest.raises(ValueError, match=r"^target_ber must be a finite number in \(0, 0.7\); got 0.0"):
        FeFETMLC.calibrated(0.0)


def test_campaign_shape_and_reproducibility():
    a = simulate_campaign(FeFETMLC(), seed=1)
    b = simulate_campaign(FeFETMLC(), seed=1)
    c = simulate_campaign(FeFETMLC(), seed=2)
    assert a.written.shape == (25, 9, 7)
    assert torch.equal(a.currents, b.currents) and not torch.equal(a.currents, c.currents)
    assert torch.allclose(a.empirical_matrix().sum(1), torch.ones(4, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"^arrays must be an integer >= 1; got 0"):
        simulate_campaign(FeFETMLC(), arrays=0)


def test_calibration_refuses_an_unreachable_target():
    with pytest.raises(ValueError, match="below the error rate these thresholds give"):
        FeFETMLC.calibrated(0.04, thresholds=(-9.0, -8.5, -8.2))
