import pytest
import torch

from imckit.memory.cells import CellConfig, assemble_words, memory_table, paper_configurations, slice_words
from imckit.core.models import mappable_layers, resnet8


def test_paper_configurations_in_solution_index_order():
    configs = paper_configurations()
    assert [(c.bits, c.mlc_cells) for c in configs] == [
        (8, 4), (8, 3), (8, 2), (8, 1), (8, 0), (4, 2), (4, 1), (4, 0), (2, 1), (2, 0)]
    assert [c.devices_per_weight for c in configs] == [4, 5, 6, 7, 8, 2, 3, 4, 1, 2]


def test_paper_example_q4_with_two_slc_msbs_and_one_mlc():
    config = CellConfig(4, 1)  # solution index 6
    assert config.cells() == [(0, 2), (2, 1), (3, 1)]  # MLC holds bits 0-1, SLC bits 2 and 3


def test_slicing_round_trips_every_word():
    for config in paper_configurations() + (CellConfig(12, 0), CellConfig(16, 8), CellConfig(5, 2), CellConfig(1)):
        words = torch.arange(2**config.bits)
        cells = slice_words(words, config)
        assert cells.shape == (2**config.bits, config.devices_per_weight)
        widths = torch.tensor([w for _, w in config.cells()])
        assert torch.all(cells < 2**widths)
        assert torch.equal(assemble_words(cells, config), words)


@pytest.mark.parametrize("bits,mlc,message", [
    (0, 0, r"bits must be an integer in \[1, 16\]"),
    (17, 0, r"bits must be an integer in \[1, 16\]"),
    (4, 3, r"mlc_cells must be an integer in \[0, 2\] for bits=4"),
    (3, -1, r"mlc_cells must be an integer in \[0, 1\]"),
])
def test_bad_configurations(bits, mlc, message):
    with pytest.raises(ValueError, match=message):
        CellConfig(bits, mlc)


def test_memory_table_in_devices():
    layers = mappable_layers(resnet8(in_channels=1))
    table = memory_table(layers, paper_configurations())
    assert table.loc["conv1", "Q12 SLC"] == 144 * 12
    assert table.loc["stack3.conv2", "Q8 MLC4"] == 36864 * 4
    assert table.loc["fc", "Q2 MLC1"] == 640
