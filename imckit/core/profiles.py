"""Run profiles: the three sizes at which every chapter can run.

``smoke``
    seconds to a minute per chapter; what the test suite executes. Numbers are not meaningful.
``default``
    what the published book shows; minutes per chapter on 2 CPU cores.
``paper``
    the scale of the source papers (full data, more epochs / repetitions); hours.

See the book page "How this book is built" for the conventions.
"""

from __future__ import annotations

PROFILES = ("smoke", "default", "paper")


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is a known profile name, else raise a clear :class:`ValueError`."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(map(repr, PROFILES))}; got {profile!r}")
    return profile
