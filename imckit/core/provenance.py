"""What every result carries: library versions, the machine, and the parameters it ran with."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

PACKAGES = ("imckit", "torch", "torchvision", "numpy", "scipy", "pymoo", "papermill", "jupyter-book")


def versions() -> dict[str, str]:
    """Versions of Python and the kit's main packages (``"not installed"`` where absent)."""
    found = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def machine() -> dict[str, str]:
    """A short description of the machine: platform, processor and the threads torch uses."""
    import torch

    return {
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
        "torch threads": str(torch.get_num_threads()),
        "cuda": torch.version.cuda or "none",
    }
