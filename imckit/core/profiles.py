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

from imckit.core.validate import check_choice

PROFILES = ("smoke", "default", "paper")


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is a known profile name, else raise a clear :class:`ValueError`."""
    return check_choice(profile, "profile", PROFILES)
