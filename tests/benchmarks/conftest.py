import pytest

from ..conftest import ROOT

BENCHMARKS = ROOT / "benchmarks"


@pytest.fixture(autouse=True)
def benchmarks_importable(monkeypatch):
    """The benchmark scripts import each other by name, as when run from their folder."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
