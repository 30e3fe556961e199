"""The chapters' parameter checks, composed of the kit's shared validators (:mod:`imckit.core.validate`).

A notebook's parameters become a chapter config through its ``preset``; every parameter is checked there (by
the notebook's name for it) and every field again in the config's ``__post_init__``, so a bad papermill
parameter fails at once, naming the parameter, the allowed range and the value received, before any data is
loaded or any network trained. The rules are the kit's: a seed is an integer in ``[0, 2**63 - 1]``, a count
an integer ``>= 1``, a share or rate a finite number in ``[0, 1]``; booleans are not numbers and floats are
not integers. :class:`TypeError` for a value of the wrong kind, :class:`ValueError` for one out of range.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping, Sequence
from typing import Any, Callable

from imckit.core.compute import resolve_device
from imckit.core.profiles import PROFILES
from imckit.core.validate import check_choice, check_count, check_int, check_seed

__all__ = ["check_items", "check_override", "check_optional_count", "check_config", "check_device",
           "check_profile_name", "check_text", "check_data_root", "check_seed_plus"]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_items(values, name: str, check: Callable[[Any, str], Any], *, allowed: str,
                nonempty: bool = True) -> tuple:
    """``values`` (a list or tuple, not a string or a mapping) as a tuple, each item checked by
    ``check(item, f"{name}[k]")``; ``allowed`` describes the whole (``"a non-empty list of integers in
    [1, 16]"``) for the error on the container itself."""
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be {allowed}; got {_show(values)}")
    if nonempty and len(values) == 0:
        raise ValueError(f"{name} must be {allowed}; got {_show(values)}")
    return tuple(check(value, f"{name}[{k}]") for k, value in enumerate(values))


def check_override(value, name: str, low: int = 1, high: int | None = None) -> int:
    """A chapter parameter whose ``0`` keeps the profile's value: 0, or an integer in ``[low, high]``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value == 0:
        return 0
    allowed = f"[{low}, {high}]" if high is not None else f">= {low}"
    try:
        return check_int(value, name, low, high)
    except TypeError:
        raise TypeError(f"{name} must be 0 (the profile's) or an integer {allowed}; got {_show(value)}") from None
    except ValueError:
        raise ValueError(f"{name} must be 0 (the profile's) or an integer {allowed}; got {_show(value)}") from None


def check_optional_count(value, name: str, low: int = 1, high: int | None = None) -> int | None:
    """``None`` (all of them), or a count: an integer in ``[low, high]``."""
    return None if value is None else check_count(value, name, low, high)


def check_config(value, name: str, kind: type, label: str | None = None):
    """``value`` when it is an instance of ``kind`` (a config class), else a :class:`TypeError` that calls
    the class ``label`` (default: its name)."""
    if not isinstance(value, kind):
        label = label or kind.__name__
        article = "an" if label[0].lower() in "aeiou" else "a"
        raise TypeError(f"{name} must be {article} {label}; got {type(value).__name__}")
    return value


def check_device(device, name: str = "device"):
    """``device`` unchanged once :func:`imckit.core.compute.resolve_device` accepts it (``"cpu"``,
    ``"cuda"``, ``"cuda:N"``, ``"auto"`` or a :class:`torch.device`): checked before any work starts."""
    resolve_device(device)
    return device


def check_profile_name(profile, name: str = "profile") -> str:
    """One of the run profiles (:data:`imckit.core.profiles.PROFILES`)."""
    return check_choice(profile, name, PROFILES)


def check_text(value, name: str, *, nonempty: bool = True) -> str:
    """A string (not empty unless ``nonempty=False``)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a {'non-empty ' if nonempty else ''}string; got {_show(value)}")
    if nonempty and not value.strip():
        raise ValueError(f"{name} must be a non-empty string; got {value!r}")
    return value


def check_data_root(value, name: str = "data_root"):
    """A dataset folder: a string or a path (``""`` or ``None``: the default search)."""
    if value is None or isinstance(value, (str, os.PathLike)):
        return value
    raise TypeError(f"{name} must be a folder (a string or a path; \"\": the default); got {_show(value)}")


def check_seed_plus(value, name: str = "seed", extra: int = 0) -> int:
    """A seed from which ``seed + extra`` seeds are derived: an integer in ``[0, 2**63 - 1 - extra]``."""
    if extra:
        return check_int(check_seed(value, name), name, 0, 2**63 - 1 - extra)
    return check_seed(value, name)

