"""Every benchmark reports its tables through _timing.report, and run_all records them with a stamp."""

import ast
import json

import pytest

from .conftest import BENCHMARKS
from ..conftest import ROOT

SCRIPTS = sorted(BENCHMARKS.glob("bench_*.py"))


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_every_benchmark_reports_through_the_helper(path):
    """A benchmark's tables reach the README only through _timing.report: no table typed or printed by hand."""
    tree = ast.parse(path.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module == "_timing"
                for alias in node.names}
    calls = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert "report" in imported and "report" in calls, f"{path.name}: show results with _timing.report(title, rows)"
    assert "table" not in imported, f"{path.name}: print tables through report(), not table()"
    typed = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
             and ("|---" in node.value or "| ---" in node.value)]
    assert not typed, f"{path.name}: a hand-made Markdown table {typed[0]!r}"
    main = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main"]
    assert main, f"{path.name}: run_all calls main()"
    arguments = main[0].args
    required = len(arguments.args) - len(arguments.defaults) + sum(d is None for d in arguments.kw_defaults)
    assert required == 0, f"{path.name}: every argument of main() needs a default (run_all passes none)"


def test_run_all_runs_every_benchmark():
    import run_all

    assert sorted(run_all.discover()) == [p.stem for p in SCRIPTS]
    assert run_all.discover()[: len(run_all.ORDER)] == [n for n in run_all.ORDER if n in run_all.discover()]


def test_report_prints_and_records(capsys):
    import _timing

    _timing.take_recorded()
    markdown = _timing.report("Speed", [{"path": "naive", "s": 2}, {"path": "kit", "s": 1}], note="tiny.")
    assert markdown == "| path | s |\n| --- | --- |\n| naive | 2 |\n| kit | 1 |"
    assert "### Speed" in capsys.readouterr().out
    assert _timing.take_recorded() == [{"title": "Speed", "note": "tiny.", "columns": ["path", "s"],
                                        "rows": [["naive", "2"], ["kit", "1"]]}]
    assert _timing.take_recorded() == []
    with pytest.raises(ValueError, match="title"):
        _timing.report(" ", [{"a": 1}])
    with pytest.raises(ValueError, match="at least one row"):
        _timing.report("t", [])
    with pytest.raises(ValueError, match=r"row 1 has \['b'\]"):
        _timing.report("t", [{"a": 1}, {"b": 2}])


FAKE = '''"""Fake benchmark: sums numbers.

Nothing is timed.
Run: python bench_fake.py
"""

from _timing import report


def main(n: int = 3, label: str = "sum") -> list[dict]:
    rows = [{"n": n, label: sum(range(n))}]
    report("Sums", rows, note=f"n = {n}.")
    return rows
'''


def test_run_records_tables_with_date_commit_and_machine(tmp_path, monkeypatch):
    import run_all

    (tmp_path / "bench_fake.py").write_text(FAKE)
    (tmp_path / "bench_silent.py").write_text("def main():\n    return []\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "out" / "results.json"
    status = tmp_path / "status.json"
    status.write_text(json.dumps({"profile": "smoke", "complete": True, "runs": []}))
    run_all.run(["bench_fake"], out, {"bench_fake": {"n": 4}}, book_status=status, folder=tmp_path)
    results = json.loads(out.read_text())
    entry = results["benchmarks"]["bench_fake"]
    assert entry["tables"] == [{"title": "Sums", "note": "n = 4.", "columns": ["n", "sum"], "rows": [["4", "6"]]}]
    assert entry["arguments"] == {"n": 4, "label": "sum"}
    assert entry["description"] == "Fake benchmark: sums numbers.\n\nNothing is timed."
    assert entry["date"][:4].isdigit() and "T" in entry["date"]
    assert "commit" in entry and "dirty" in entry
    assert {"platform", "torch threads", "gpu"} <= set(entry["machine"]) and "torch" in entry["versions"]
    assert results["book"] is None, "a smoke book run is not recorded"

    status.write_text(json.dumps({"profile": "default", "complete": True, "date": "d", "runs": []}))
    first = entry
    run_all.run(["bench_fake"], out, book_status=status, folder=tmp_path)
    results = json.loads(out.read_text())
    assert results["benchmarks"]["bench_fake"]["tables"][0]["rows"] == [["3", "3"]]
    assert results["book"]["profile"] == "default"
    assert first["tables"] != results["benchmarks"]["bench_fake"]["tables"]

    (tmp_path / "bench_broken.py").write_text("def main():\n    raise RuntimeError('out of memory')\n")
    with pytest.raises(run_all.BenchmarkFailed, match=r"bench_silent: main\(\) reported no table[\s\S]*out of memory"):
        run_all.run(["bench_silent", "bench_broken", "bench_fake"], out, {"bench_fake": {"n": 5}}, folder=tmp_path)
    results = json.loads(out.read_text())["benchmarks"]
    assert set(results) == {"bench_fake"} and results["bench_fake"]["tables"][0]["rows"] == [["5", "10"]], \
        "a failing benchmark does not stop the next ones, and records nothing"
    with pytest.raises(ValueError, match="unknown benchmark"):
        run_all.run(["bench_nothing"], out, folder=tmp_path)


def test_set_parses_arguments():
    import run_all

    assert run_all._parse_sets(["bench_eval.images=64", "bench_x.profile=smoke", "bench_x.r=0.5"]) == \
        {"bench_eval": {"images": 64}, "bench_x": {"profile": "smoke", "r": 0.5}}
    with pytest.raises(ValueError, match="BENCHMARK.ARGUMENT=VALUE"):
        run_all._parse_sets(["images=64"])
