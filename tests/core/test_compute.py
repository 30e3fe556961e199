import pytest
import torch

from imckit.core.compute import resolve_device


@pytest.mark.parametrize("name", ["cpu", "CPU", " cpu ", torch.device("cpu")])
def test_cpu_spellings(name):
    assert resolve_device(name) == torch.device("cpu")


def test_auto_is_the_gpu_when_there_is_one_else_the_cpu():
    expected = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    assert resolve_device("auto") == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "CUDA:1"])
def test_cuda_without_a_gpu_is_a_clear_error(name):
    with pytest.raises(ValueError, match="asks for a CUDA GPU but torch sees none"):
        resolve_device(name)


@pytest.mark.parametrize("bad", ["tpu", "cuda:x", "", 0, None, "gpu"])
def test_unknown_devices_name_the_parameter_and_the_choices(bad):
    with pytest.raises(ValueError, match=r"device must be one of 'cpu', 'cuda', 'auto' or 'cuda:N'; got"):
        resolve_device(bad)
