"""Where tensors are computed: ``device="cpu"``, ``"cuda"`` (or ``"cuda:N"``) or ``"auto"``.

Every compute entry point of the kit takes a ``device`` argument and resolves it here. ``"auto"`` picks the
first CUDA GPU when one is available and the CPU otherwise. Random draws (error injection, batch order) are
always made on the CPU with a seeded :class:`torch.Generator` and then moved, so the same seed gives the
same draws on every device; results computed on the CPU are bit-identical whatever ``device`` asked for
(``"auto"`` on a machine without a GPU *is* the CPU).
"""

from __future__ import annotations

import copy

import torch

DEVICES = ("cpu", "cuda", "auto")


def resolve_device(device: str | torch.device = "cpu") -> torch.device:
    """The :class:`torch.device` for ``device``: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"`` (CUDA if
    available, else CPU) or a :class:`torch.device`. Asking for CUDA on a machine without it is an error."""
    if isinstance(device, torch.device):
        name = str(device)
    elif isinstance(device, str):
        name = device.strip().lower()
    else:
        raise ValueError(f"device must be one of {', '.join(map(repr, DEVICES))} or 'cuda:N'; got {device!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ValueError(f"device must be 'cpu' or 'auto' on this machine; got {device!r}, which asks for a CUDA "
                             "GPU but torch sees none")
        index = int(name[5:]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device must be 'cuda:N' with N in [0, {torch.cuda.device_count() - 1}] (the CUDA "
                             f"devices visible); got {device!r}")
        return torch.device(name)
    raise ValueError(f"device must be one of {', '.join(map(repr, DEVICES))} or 'cuda:N'; got {device!r}")


def cache_device(device: str | torch.device = "cpu") -> str | None:
    """What a cache description records of ``device``: ``None`` for the CPU, whose results do not depend on
    what ``device`` asked for (``"auto"`` without a GPU *is* the CPU), else the device type (``"cuda"``):
    a GPU's float rounding differs from the CPU's, so its values are kept apart from the CPU's."""
    kind = resolve_device(device).type
    return None if kind == "cpu" else kind


def model_on_device(model: torch.nn.Module, device: str | torch.device) -> torch.nn.Module:
    """``model`` itself when its parameters and buffers already live on ``device``, else a copy moved there
    (the caller's model is never moved)."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    device = resolve_device(device)
    tensors = [*model.parameters(), *model.buffers()]
    if all(t.device == device for t in tensors):
        return model
    return copy.deepcopy(model).to(device)
