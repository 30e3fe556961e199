"""The kit's one validation layer: every public function and config checks its inputs with these.

Each validator returns the value, normalized (an ``int`` for an integer, a ``float`` for a number, a
``torch.Generator`` for a seed-or-generator), or raises an error that names the parameter, the allowed
range and the value received, in one form everywhere::

    seed must be an integer in [0, 2**63 - 1]; got -1
    probability must be a finite number in [0, 1]; got nan
    weight must be a tensor of finite values; got 3 NaN and 0 infinite of 144 values

:class:`ValueError` for a value of the right kind out of its range, :class:`TypeError` for the wrong kind
(a string where a number belongs). Booleans are never accepted as numbers (``True`` is not a batch size),
and floats are never truncated to integers (``2.5`` is not a seed; ``2.0`` is not either: an integer
parameter takes an integer).

The rules the same kind of parameter follows everywhere:

- a **seed** is an integer in ``[0, 2**63 - 1]`` (what ``torch.Generator.manual_seed`` and numpy accept
  alike); numpy integers count as integers;
- a **count** (batch size, epochs, repetitions, images) is an integer ``>= 1`` unless the function says
  0 is allowed;
- a **probability** or **rate** is a finite number in ``[0, 1]``;
- a **tensor of values** that the kit quantizes, injects or evaluates is finite (no NaN, no infinity).

Hand-written: pydantic or attrs validators check a config's fields, but the kit's checks run at function
entry points on tensors, generators and numbers alike, and must word every message the same way; a few
lines here do that with no new dependency.
"""

from __future__ import annotations

import math
import numbers
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch

SEED_MAX = 2**63 - 1

__all__ = [
    "SEED_MAX",
    "check_int",
    "check_count",
    "check_number",
    "check_probability",
    "check_seed",
    "check_generator",
    "check_bool",
    "check_choice",
    "check_finite",
    "check_tensor",
    "check_shape",
    "check_writable_dir",
]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _interval(low, high, kind: str, low_open: bool = False, high_open: bool = False) -> str:
    if low is None and high is None:
        return kind
    if high is None:
        return f"{kind} {'>' if low_open else '>='} {low}"
    if low is None:
        return f"{kind} {'<' if high_open else '<='} {high}"
    return f"{kind} in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def check_int(value, name: str, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an ``int`` in ``[low, high]`` (either bound may be None); bools and floats are refused.

    >>> check_int(3, "bits", 1, 8)
    3
    >>> check_int(9, "bits", 1, 8)
    Traceback (most recent call last):
    ...
    ValueError: bits must be an integer in [1, 8]; got 9
    """
    allowed = _interval(low, high, "an integer")
    if not _is_int(value):
        raise TypeError(f"{name} must be {allowed}; got {_show(value)}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be {allowed}; got {value}")
    return value


def check_count(value, name: str, low: int = 1, high: int | None = None) -> int:
    """A count: an integer ``>= low`` (1 by default; pass ``low=0`` where none is allowed)."""
    return check_int(value, name, low, high)


def check_number(value, name: str, low: float | None = None, high: float | None = None, *,
                 low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite ``float`` in the interval (open or closed at each end); bools are refused.

    >>> check_number(0.5, "lr", 0, None, low_open=True)
    0.5
    >>> check_number(float("nan"), "lr", 0, None, low_open=True)
    Traceback (most recent call last):
    ...
    ValueError: lr must be a finite number > 0; got nan
    """
    allowed = _interval(low, high, "a finite number", low_open, high_open)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {allowed}; got {_show(value)}")
    value = float(value)
    if not math.isfinite(value) \
            or (low is not None and (value <= low if low_open else value < low)) \
            or (high is not None and (value >= high if high_open else value > high)):
        raise ValueError(f"{name} must be {allowed}; got {value!r}")
    return value


def check_probability(value, name: str) -> float:
    """A probability or rate: a finite number in ``[0, 1]``."""
    return check_number(value, name, 0.0, 1.0)


def check_seed(value, name: str = "seed") -> int:
    """A seed: an integer in ``[0, 2**63 - 1]``, the same rule in every function of the kit.

    >>> check_seed(2.5)
    Traceback (most recent call last):
    ...
    TypeError: seed must be an integer in [0, 2**63 - 1]; got 2.5
    """
    if not _is_int(value) or not 0 <= int(value) <= SEED_MAX:
        error = TypeError if not _is_int(value) else ValueError
        raise error(f"{name} must be an integer in [0, 2**63 - 1]; got {_show(value)}")
    return int(value)


def check_generator(value, name: str = "generator") -> torch.Generator:
    """A ``torch.Generator``, or a seed (see :func:`check_seed`) made into a CPU generator."""
    if isinstance(value, torch.Generator):
        return value
    if not _is_int(value):
        raise TypeError(f"{name} must be a torch.Generator or a seed (an integer in [0, 2**63 - 1]); "
                        f"got {_show(value)}")
    return torch.Generator().manual_seed(check_seed(value, name))


def check_bool(value, name: str) -> bool:
    """A flag: ``True`` or ``False`` (numpy bools too), never 0/1 or a string."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False; got {_show(value)}")


def check_choice(value, name: str, choices: Iterable) -> Any:
    """``value`` when it is one of ``choices``; the error lists them."""
    choices = tuple(choices)
    try:
        ok = value in choices
    except TypeError:  # an unhashable or incomparable value is not a choice
        ok = False
    if not ok:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {_show(value)}")
    return value


def check_finite(tensor: torch.Tensor, name: str) -> torch.Tensor:
    """``tensor`` when every value is finite; the error counts the NaN and infinite values."""
    if tensor.is_floating_point() or tensor.is_complex():
        finite = torch.isfinite(tensor)
        if not bool(finite.all()):
            nans = int(torch.isnan(tensor).sum())
            raise ValueError(f"{name} must be a tensor of finite values; got {nans} NaN and "
                             f"{int((~finite).sum()) - nans} infinite of {tensor.numel()} values")
    return tensor


def check_tensor(value, name: str, *, ndim: int | Sequence[int] | None = None, floating: bool = False,
                 finite: bool = True, nonempty: bool = True) -> torch.Tensor:
    """``value`` when it is a ``torch.Tensor`` with ``ndim`` dimensions (one or several allowed), floating
    point if asked, finite if floating, and not empty unless ``nonempty=False``."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(value).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.dim() not in allowed:
            dims = " or ".join(map(str, allowed))
            raise ValueError(f"{name} must have {dims} dimensions; got shape {tuple(value.shape)}")
    if floating and not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor; got dtype {value.dtype}")
    if nonempty and value.numel() == 0:
        raise ValueError(f"{name} must not be empty; got shape {tuple(value.shape)}")
    if finite:
        check_finite(value, name)
    return value


def check_shape(tensor: torch.Tensor, name: str, shape: Sequence[int | None]) -> torch.Tensor:
    """``tensor`` when its shape matches ``shape`` (None matches any size on that axis)."""
    actual = tuple(tensor.shape)
    if len(actual) != len(shape) or any(s is not None and s != a for s, a in zip(shape, actual)):
        wanted = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {wanted}; got {actual}")
    return tensor


def check_writable_dir(folder: str | os.PathLike, name: str = "folder") -> Path:
    """``folder`` as a :class:`~pathlib.Path`, created if missing, after proving a file can be written and
    removed there: a long computation checks its destination before it starts, not after."""
    path = Path(folder).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=path, prefix=".write-test.", suffix=".part")
        os.close(handle)
        Path(probe).unlink()
    except OSError as error:
        raise ValueError(f"{name} must be a folder this user can write to; got {str(path)!r} "
                         f"({error.strerror or error})") from None
    return path
