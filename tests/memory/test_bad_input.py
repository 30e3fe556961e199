"""Bad input to the memory package (cells and devices): each case names the exact parameter at the start of
its message (issue 17: non-stochastic matrices, words outside the word, seeds, bools as numbers)."""

import pytest
import torch

from imckit.core.models import mappable_layers, resnet8
from imckit.memory.cells import CellConfig, assemble_words, check_configs, memory_table, slice_words
from imckit.memory.devices import (SLC, FeFETMLC, MeasurementCampaign, TransitionMatrixDevice, bit_error_rate,
                                   check_device, fit_fefet_mlc, sample_reads, simulate_campaign,
                                   validate_transition_matrix)

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("bits,mlc,error,message", [
    *[(b, 0, ValueError, r"^bits must be an integer in \[1, 16\]; got ") for b in (0, -2, 17)],
    *[(b, 0, TypeError, r"^bits must be an integer in \[1, 16\]; got ") for b in (4.0, True, "4", None)],
    (4, 3, ValueError, r"^mlc_cells must be an integer in \[0, 2\] for bits=4 \(each MLC cell holds 2 bits\); got 3"),
    (3, -1, ValueError, r"^mlc_cells must be an integer in \[0, 1\] for bits=3"),
    *[(8, m, TypeError, r"^mlc_cells must be an integer") for m in (1.0, True, "1")],
])
def test_cell_config_names_the_field(bits, mlc, error, message):
    with pytest.raises(error, match=message):
        CellConfig(bits, mlc)


Q4 = CellConfig(4, 1)  # cells: MLC (bits 0-1), SLC (bit 2), SLC (bit 3)


@pytest.mark.parametrize("words,error,message", [
    (torch.tensor([16]), ValueError, r"^words must hold integers in \[0, 15\]; got 16"),
    (torch.tensor([3, -1]), ValueError, r"^words must hold integers in \[0, 15\]; got -1"),
    (torch.tensor([2**40]), ValueError, r"^words must hold integers in \[0, 15\]"),
    (torch.tensor([1.0]), TypeError, r"^words must be an integer tensor; got dtype torch.float32"),
    (torch.tensor([True]), TypeError, r"^words must be an integer tensor; got dtype torch.bool"),
    ([1, 2], TypeError, r"^words must be a torch.Tensor; got list"),
])
def test_slice_words_rejects_words_outside_the_word(words, error, message):
    with pytest.raises(error, match=message):
        slice_words(words, Q4)


@pytest.mark.parametrize("cells,error,message", [
    (torch.tensor([[4, 0, 0]]), ValueError, r"^cells\[\.\.\., 0\] must hold integers in \[0, 3\]; got 4"),
    (torch.tensor([[0, 2, 0]]), ValueError, r"^cells\[\.\.\., 1\] must hold integers in \[0, 1\]; got 2"),
    (torch.tensor([[0, 0, -1]]), ValueError, r"^cells\[\.\.\., 2\] must hold integers in \[0, 1\]; got -1"),
    (torch.tensor([[0, 0]]), ValueError, r"^cells must have a last axis of 3 cells"),
    (torch.tensor(1), ValueError, r"^cells must have a last axis of 3 cells"),
    (torch.tensor([[0.0, 0.0, 0.0]]), TypeError, r"^cells must be an integer tensor"),
    ([[0, 0, 0]], TypeError, r"^cells must be a torch.Tensor"),
])
def test_assemble_words_rejects_cells_outside_their_states(cells, error, message):
    with pytest.raises(error, match=message):
        assemble_words(cells, Q4)


def test_slicing_needs_a_cell_config():
    with pytest.raises(TypeError, match=r"^config must be a CellConfig; got \(4, 1\)"):
        slice_words(torch.tensor([1]), (4, 1))
    with pytest.raises(TypeError, match=r"^config must be a CellConfig"):
        assemble_words(torch.tensor([[1, 0, 0]]), "Q4 MLC1")


@pytest.mark.parametrize("configs", [[], (), [(8, 4)], [CellConfig(8), 8], None, 5, "Q8"])
def test_configuration_lists(configs):
    with pytest.raises(ValueError, match=r"^configs must be a non-empty sequence of CellConfig; got "):
        check_configs(configs)


def test_memory_table_names_the_parameter():
    layers = mappable_layers(resnet8(in_channels=1, width=0.25))
    with pytest.raises(ValueError, match=r"^baseline_bits must be an integer in \[1, 16\]; got 0"):
        memory_table(layers, [Q4], 0)
    with pytest.raises(ValueError, match=r"^configs must be a non-empty sequence of CellConfig"):
        memory_table(layers, [])
    with pytest.raises(ValueError, match=r"^layers must be a non-empty list"):
        memory_table([], [Q4])
    with pytest.raises(TypeError, match=r"^layers must be a list of MappableLayer"):
        memory_table(5, [Q4])
    with pytest.raises(TypeError, match=r"^layers\[0\] must be a MappableLayer"):
        memory_table(["conv1"], [Q4])


BAD_MATRICES = [
    ([[1.0, 0.0, 0.0]], ValueError, r"must be a square 2-D matrix; got shape \(1, 3\)"),
    (torch.eye(2)[None], ValueError, r"must be a square 2-D matrix; got shape \(1, 2, 2\)"),
    (torch.eye(3), ValueError, r"must have a size that is a power of two >= 2 .*; got 3"),
    ([[1.0]], ValueError, r"must have a size that is a power of two >= 2 .*; got 1"),
    ([[NAN, 1.0], [0.0, 1.0]], ValueError, r"must be a tensor of finite values; got 1 NaN and 0 infinite of 4"),
    ([[INF, 0.0], [0.0, 1.0]], ValueError, r"must be a tensor of finite values; got 0 NaN and 1 infinite of 4"),
    ([[1.2, -0.2], [0.0, 1.0]], ValueError, r"must have non-negative entries; got -0.2"),
    ([[0.9, 0.05], [0.0, 1.0]], ValueError, r" rows must sum to 1 within 1e-6; row 0 sums to 0.95"),
    ([[0.5, 0.5], [0.5, 0.6]], ValueError, r" rows must sum to 1 within 1e-6; row 1 sums to 1.1"),
    (torch.full((4, 4), 0.3), ValueError, r" rows must sum to 1 within 1e-6; row 0 sums to 1.2"),
    ([[True, False], [False, True]], TypeError, r"must be a square stochastic matrix"),
    ([[1j, 0], [0, 1]], TypeError, r"must be a square stochastic matrix"),
    ("identity", TypeError, r"must be a square stochastic matrix"),
    ([[1.0, 0.0], [1.0]], TypeError, r"must be a square stochastic matrix"),
    (None, TypeError, r"must be a square stochastic matrix"),
]


@pytest.mark.parametrize("matrix,error,message", BAD_MATRICES)
def test_non_stochastic_matrices_are_rejected_everywhere(matrix, error, message):
    with pytest.raises(error, match=r"^matrix " + message.lstrip(" ")):
        TransitionMatrixDevice(matrix)
    with pytest.raises(error, match=r"^matrix "):
        bit_error_rate(matrix)
    with pytest.raises(error, match=r"^matrix "):
        sample_reads(matrix, torch.tensor([0, 1]), torch.Generator())
    with pytest.raises(error, match=r"^P "):
        validate_transition_matrix(matrix, "P")


class _Device:
    """A device object as the injection path receives it: any object with the two members."""

    def __init__(self, matrix, bits_per_cell=2):
        self.matrix, self.bits_per_cell = matrix, bits_per_cell

    def transition_matrix(self):
        return self.matrix


@pytest.mark.parametrize("device,error,message", [
    (_Device(torch.full((4, 4), 0.3)), ValueError, r"^mlc transition matrix rows must sum to 1"),
    (_Device(torch.eye(4) * NAN), ValueError, r"^mlc transition matrix must be a tensor of finite values"),
    (_Device(torch.eye(2)), ValueError, r"^mlc transition matrix must have 2\*\*bits_per_cell = 4 states; got 2"),
    (_Device(torch.eye(4), 1), ValueError, r"^mlc device must have bits_per_cell=2; got 1"),
    (_Device(torch.eye(4), 2.0), ValueError, r"^mlc device must have bits_per_cell=2; got 2.0"),
    (SLC(), ValueError, r"^mlc device must have bits_per_cell=2; got 1"),
    ("FeFET", TypeError, r"^mlc must be a device \(with bits_per_cell and transition_matrix\(\)\); got str"),
])
def test_check_device_validates_the_matrix_where_it_is_used(device, error, message):
    with pytest.raises(error, match=message):
        check_device(device, "mlc", 2)


@pytest.mark.parametrize("kwargs,error,message", [
    *[(dict(error_rate=v), ValueError, r"^error_rate must be a finite number in \[0.0, 1.0\]; got ")
      for v in (-0.1, 1.5, NAN, INF)],
    *[(dict(error_rate=v), TypeError, r"^error_rate must be a finite number") for v in (True, "0.1", None)],
    (dict(name=3), TypeError, r"^name must be a string; got int"),
])
def test_slc_names_the_field(kwargs, error, message):
    with pytest.raises(error, match=message):
        SLC(**kwargs)


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(log10_current=(-5.0, -6.0, -7.0, -8.0)), ValueError, r"^log10_current must be 4 finite, strictly increasing"),
    (dict(log10_current=(-8.0, -7.0, -6.0)), ValueError, r"^log10_current must be 4 finite"),
    (dict(log10_current=(-8.0, NAN, -6.0, -5.0)), ValueError, r"^log10_current must be 4 finite"),
    (dict(log10_current="abcd"), TypeError, r"^log10_current must be 4 "),
    (dict(sigma_decades=(0.1, 0.0, 0.1, 0.1)), ValueError, r"^sigma_decades must be 4 positive values"),
    (dict(sigma_decades=(0.1, INF, 0.1, 0.1)), ValueError, r"^sigma_decades must be 4 positive values"),
    (dict(sigma_decades=(True, True, True, True)), TypeError, r"^sigma_decades must be 4 positive values"),
    (dict(thresholds=(-7.5, -7.6, -5.5)), ValueError, r"^thresholds must be 3 finite, strictly increasing"),
    (dict(thresholds=(-7.5, -6.5)), ValueError, r"^thresholds must be 3 finite"),
    (dict(name=None), TypeError, r"^name must be a string"),
])
def test_fefet_names_the_field(kwargs, error, message):
    with pytest.raises(error, match=message):
        FeFETMLC(**kwargs)


@pytest.mark.parametrize("kwargs,error,message", [
    *[(dict(target_ber=v), ValueError, r"^target_ber must be a finite number in \(0, 0.7\); got ")
      for v in (0.0, 0.7, -0.1, NAN)],
    (dict(target_ber="4%"), TypeError, r"^target_ber must be a finite number"),
    (dict(relative_sigma=(1.0, 1.0, 1.0, -1.0)), ValueError, r"^relative_sigma must be 4 positive values"),
    (dict(relative_sigma=(1.0, 1.0)), ValueError, r"^relative_sigma must be 4 positive values"),
    (dict(log10_current=(0, 0, 0, 0)), ValueError, r"^log10_current must be 4 finite, strictly increasing"),
    (dict(thresholds=(3, 2, 1)), ValueError, r"^thresholds must be 3 finite, strictly increasing"),
])
def test_calibration_names_the_parameter(kwargs, error, message):
    with pytest.raises(error, match=message):
        FeFETMLC.calibrated(**kwargs)


def test_sampling_and_reading_name_the_parameter():
    device = FeFETMLC()
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match=r"^states must be integer states in \[0, 3\]; got 4"):
        device.sample_currents(torch.tensor([0, 4]), g)
    with pytest.raises(TypeError, match=r"^states must be integer states in \[0, 3\]; got dtype"):
        device.sample_currents(torch.tensor([0.5]), g)
    with pytest.raises(ValueError, match=r"^currents must be finite and positive \(in A\); got -1e-08"):
        device.read_states(torch.tensor([1e-7, -1e-8], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"^currents must be a tensor of finite values"):
        device.read_states(torch.tensor([NAN]))
    with pytest.raises(ValueError, match=r"^written must be integer states in \[0, 1\]; got 2"):
        sample_reads(torch.eye(2), torch.tensor([0, 2]), g)
    with pytest.raises(TypeError, match=r"^written must be integer states"):
        sample_reads(torch.eye(2), torch.tensor([0.0]), g)
    with pytest.raises(TypeError, match=r"^written must be a torch.Tensor"):
        sample_reads(torch.eye(2), [0, 1], g)


@pytest.mark.parametrize("generator,error", [(-1, ValueError), (2**63, ValueError), (1.5, TypeError),
                                             ("0", TypeError), (True, TypeError), (None, TypeError)])
def test_generators_and_seeds_of_sampling(generator, error):
    with pytest.raises(error, match=r"^generator must be"):
        sample_reads(torch.eye(2), torch.tensor([0, 1]), generator)
    with pytest.raises(error, match=r"^generator must be"):
        FeFETMLC().sample_currents(torch.tensor([0, 1]), generator)


def test_a_seed_makes_the_same_draw_as_its_generator():
    m = FeFETMLC().transition_matrix()
    written = torch.arange(4).repeat(50)
    assert torch.equal(sample_reads(m, written, 7), sample_reads(m, written, torch.Generator().manual_seed(7)))


@pytest.mark.parametrize("states,currents,error,message", [
    ([0, 1], [1e-8], ValueError, r"^states and currents must be 1-D of the same length"),
    ([0, 5], [1e-8, 1e-7], ValueError, r"^states must be integer states in \[0, 3\]; got 5"),
    ([0.0, 1.0], [1e-8, 1e-7], TypeError, r"^states must be integer states in \[0, 3\]; got dtype float64"),
    ([True, False], [1e-8, 1e-7], TypeError, r"^states must be integer states"),
    ([0, 1], [1e-8, -1.0], ValueError, r"^currents must be finite and positive"),
    ([0, 1], [1e-8, NAN], ValueError, r"^currents must be a tensor of finite values"),
    ([0, 1], ["a", "b"], TypeError, r"^currents must be finite positive currents"),
    ([0, 0, 1, 1, 2, 2], [1e-8, 2e-8, 1e-7, 2e-7, 1e-6, 2e-6], ValueError, r"^state 3 has 0 measured cells"),
])
def test_fit_names_the_parameter(states, currents, error, message):
    with pytest.raises(error, match=message):
        fit_fefet_mlc(states, currents)


@pytest.mark.parametrize("kwargs,error,message", [
    *[(dict(seed=s), ValueError, r"^seed must be an integer in \[0, 2\*\*63 - 1\]") for s in (-1, 2**63)],
    *[(dict(seed=s), TypeError, r"^seed must be an integer in \[0, 2\*\*63 - 1\]") for s in (1.5, 2.0, "1", True)],
    *[(dict(**{name: v}), ValueError, rf"^{name} must be an integer >= 1")
      for name in ("arrays", "wordlines", "bitlines") for v in (0, -3)],
    *[(dict(**{name: v}), TypeError, rf"^{name} must be an integer") for name in ("arrays", "bitlines")
      for v in (2.0, True)],
    (dict(arrays=10**30), ValueError, r"^arrays must keep arrays \* wordlines \* bitlines at most"),
])
def test_campaign_names_the_parameter(kwargs, error, message):
    with pytest.raises(error, match=message):
        simulate_campaign(FeFETMLC(), **{"arrays": 1, **kwargs})


def test_campaign_needs_a_fefet_and_consistent_tables():
    with pytest.raises(TypeError, match=r"^device must be a FeFETMLC"):
        simulate_campaign(SLC(), arrays=1)
    good = simulate_campaign(FeFETMLC(), arrays=1, seed=0)
    with pytest.raises(ValueError, match=r"^read must have the shape of written \(1, 9, 7\)"):
        MeasurementCampaign(good.written, good.currents, good.read[:, :3], good.device)
    with pytest.raises(ValueError, match=r"^read must be integer states in \[0, 3\]; got [4-7]"):
        MeasurementCampaign(good.written, good.currents, good.read + 4, good.device)
    with pytest.raises(ValueError, match=r"^currents must be finite and positive"):
        MeasurementCampaign(good.written, -good.currents, good.read, good.device)
