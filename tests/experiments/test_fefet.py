import pytest
import torch

from imckit.experiments.fefet import FefetConfig, far_error_share, neighbour_share, run, state_table
from imckit.memory.devices import FeFETMLC


def test_far_error_share_on_hand_made_matrices():
    assert far_error_share(torch.eye(4)) == 0.0
    matrix = torch.eye(4, dtype=torch.float64)
    matrix[0] = torch.tensor([0.9, 0.05, 0.05, 0.0])  # one error in two jumps two states
    assert far_error_share(matrix) == pytest.approx(0.5)
    matrix[3] = torch.tensor([0.1, 0.0, 0.0, 0.9])  # another, three states far
    assert far_error_share(matrix) == pytest.approx(0.15 / 0.2)
    with pytest.raises(ValueError, match="square"):
        far_error_share(torch.ones(2, 3))


def test_neighbour_share_counts_errors_one_state_away():
    written = torch.tensor([0, 1, 2, 3])
    assert neighbour_share(written, torch.tensor([1, 1, 0, 3])) == pytest.approx(50.0)
    assert neighbour_share(written, torch.tensor([1, 2, 3, 2])) == pytest.approx(100.0)
    assert neighbour_share(written, written) == 100.0  # no error: none jumped further
    with pytest.raises(ValueError, match="same shape"):
        neighbour_share(written, written[:2])


def test_state_table_lists_each_state():
    device = FeFETMLC.calibrated(0.04)
    table = state_table(device)
    assert list(table.index) == [0, 1, 2, 3]
    assert table["mean log10(I / A)"].tolist() == list(device.log10_current)
    assert table["error rate (%)"].mean() == pytest.approx(4.0)


def test_preset_is_the_papers_campaign_in_every_profile():
    assert FefetConfig.preset("smoke") == FefetConfig.preset("paper") == FefetConfig()
    assert FefetConfig.preset("default", seed=2, arrays=3).arrays == 3
    with pytest.raises(ValueError, match="profile"):
        FefetConfig.preset("tiny")


@pytest.mark.parametrize("field, value", [("target_ber", 0.8), ("target_ber", 0), ("arrays", 0),
                                          ("wordlines", 1.5), ("fit_arrays", True), ("seed", "0")])
def test_bad_config_values_are_named(field, value):
    with pytest.raises((ValueError, TypeError), match=f"^{field} must be"):
        FefetConfig(**{field: value})


def test_run_calibrates_simulates_and_fits_back():
    result = run(FefetConfig(target_ber=0.05, arrays=4, wordlines=3, bitlines=2, fit_arrays=200, seed=1))
    assert result.model_ber == pytest.approx(0.05)
    assert result.campaign.written.shape == (4, 3, 2) and result.fit_campaign.written.shape == (200, 3, 2)
    errors = int((result.campaign.read != result.campaign.written).sum())
    assert result.campaign_errors == errors
    assert 0 <= result.far_share < 0.01  # neighbour-only errors, by construction of the model
    assert result.fit_error < 0.03 and result.fit_ber == pytest.approx(0.05, abs=0.01)
    assert list(result.fit_table().columns) == ["true mean", "fitted mean", "true sigma", "fitted sigma"]
    again = run(FefetConfig(target_ber=0.05, arrays=4, wordlines=3, bitlines=2, fit_arrays=200, seed=1))
    assert torch.equal(again.campaign.read, result.campaign.read)  # same seed, same campaign
    with pytest.raises(TypeError, match="^config must be a FefetConfig"):
        run({"target_ber": 0.04})
