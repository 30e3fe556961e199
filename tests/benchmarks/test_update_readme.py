"""The README's speed section is rewritten from the benchmark results, and only between its markers."""

import json

import pytest

from .conftest import BENCHMARKS
from ..conftest import ROOT

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _results():
    """A hand-made results file: one benchmark with two tables, and a book run."""
    stamp = {"date": "2026-03-04T05:06:07+00:00", "commit": COMMIT, "dirty": True,
             "machine": {"platform": "Linux-6.1-x86_64", "machine": "x86_64", "torch threads": "2", "cuda": "none",
                         "gpu": "none"},
             "versions": {"python": "3.11.7", "torch": "2.4.0"}}
    return {
        "format": 1,
        "benchmarks": {
            "bench_fake": {
                "script": "benchmarks/bench_fake.py",
                "description": "Fake throughput: the kit against the naive way.\n\nIt measures nothing real.",
                "arguments": {"images": 64},
                **stamp,
                "tables": [
                    {"title": "Throughput", "note": "64 images, 2 threads.", "columns": ["path", "images/s"],
                     "rows": [["naive", "1,234"], ["kit | fast", "5,678"]]},
                    {"title": "Totals", "note": "", "columns": ["what", "s"], "rows": [["all", "9.9"]]},
                ],
            },
        },
        "book": {"profile": "default", "complete": True, "date": "2026-03-03T01:00:00+00:00",
                 "commit": "fedcba9876543210fedcba9876543210fedcba98", "dirty": False,
                 "runs": [{"output": "baseline.ipynb", "seconds": 12.4, "budget_s": 360, "cell_seconds": 10.2,
                           "error": None}]},
    }


README = """# Project

Intro text that stays.

## Speed

Prose before the markers stays.

<!-- bench:begin -->
| old | hand-typed |
| --- | --- |
| 1 | 2 |
<!-- bench:end -->

## After

Text after the markers stays.
"""


@pytest.fixture
def update_readme():
    import update_readme

    return update_readme


def _write(tmp_path, results=None, readme=README):
    (tmp_path / "results.json").write_text(json.dumps(results or _results()))
    (tmp_path / "README.md").write_text(readme)
    return tmp_path / "results.json", tmp_path / "README.md"


def test_rewrite_renders_the_tables_with_their_stamp(tmp_path, update_readme):
    results, readme = _write(tmp_path)
    assert update_readme.update(results, readme) is True
    text = readme.read_text()
    inside = text[text.index(update_readme.BEGIN):text.index(update_readme.END)]
    assert "hand-typed" not in text
    assert "### Fake throughput: the kit against the naive way (`benchmarks/bench_fake.py`)" in inside
    assert "It measures nothing real." in inside
    assert "**Throughput** 64 images, 2 threads." in inside and "**Totals**" in inside
    assert "| path | images/s |\n| --- | --- |\n| naive | 1,234 |\n| kit \\| fast | 5,678 |" in inside
    stamp = ("*Measured on 2026-03-04 at commit `0123456` with uncommitted changes; Linux-6.1-x86_64, "
             "2 torch threads, GPU: none; python 3.11.7, torch 2.4.0; arguments `images=64`.*")
    assert inside.count(stamp) == 2, "every table carries its stamp"
    assert "### Book chapters, `default` profile" in inside
    assert "| baseline | 10 | 12 | 360 |" in inside and "commit `fedcba9`;" not in inside
    assert "*Measured on 2026-03-03 at commit `fedcba9`.*" in inside
    assert text.startswith(README[:README.index(update_readme.BEGIN)])
    assert text.endswith(README[README.index(update_readme.END):])
    assert update_readme.update(results, readme) is False, "a second run changes nothing"
    assert readme.read_text() == text


def test_check_writes_nothing(tmp_path, update_readme):
    results, readme = _write(tmp_path)
    assert update_readme.main(["--results", str(results), "--readme", str(readme), "--check"]) == 1
    assert readme.read_text() == README
    assert update_readme.main(["--results", str(results), "--readme", str(readme)]) == 0
    assert update_readme.main(["--results", str(results), "--readme", str(readme), "--check"]) == 0


@pytest.mark.parametrize("readme, message", [
    (README.replace("<!-- bench:begin -->\n", ""), "once each"),
    (README.replace("<!-- bench:end -->\n", ""), "once each"),
    (README + "<!-- bench:end -->\n", "once each"),
    ("<!-- bench:end -->\ntext\n<!-- bench:begin -->\n", "comes before"),
])
def test_markers_must_be_there_once_and_in_order(tmp_path, update_readme, readme, message):
    results, path = _write(tmp_path, readme=readme)
    with pytest.raises(ValueError, match=message):
        update_readme.update(results, path)
    assert path.read_text() == readme
    assert update_readme.main(["--results", str(results), "--readme", str(path)]) == 1


def test_missing_results_say_how_to_make_them(tmp_path, update_readme):
    _, readme = _write(tmp_path)
    with pytest.raises(ValueError, match="make bench"):
        update_readme.update(tmp_path / "absent.json", readme)
    with pytest.raises(ValueError, match="no benchmark"):
        update_readme.render({"format": 1, "benchmarks": {}, "book": None})


def test_the_readme_has_the_markers_around_its_speed_section(update_readme):
    text = (ROOT / "README.md").read_text()
    update_readme.rewrite(text, "x")  # raises unless the markers are there, once each and in order
    speed = text.index("## Speed")
    assert speed < text.index(update_readme.BEGIN) < text.index(update_readme.END)
    assert "\n## " not in text[speed + 1:text.index(update_readme.END)], "the markers are inside the speed section"


def test_the_readme_shows_the_last_results(update_readme):
    """Where benchmark results exist, the README's section is their rendering (no hand edits in between)."""
    results = BENCHMARKS / "out" / "results.json"
    if not results.is_file():
        pytest.skip("no benchmarks/out/results.json here (make bench writes it)")
    assert not update_readme.update(results, ROOT / "README.md", check=True), \
        "README.md's speed section differs from benchmarks/out/results.json: run `make readme-bench`"


def test_heading_is_the_whole_summary_when_it_wraps(tmp_path, update_readme):
    results = _results()
    entry = next(iter(results["benchmarks"].values()))
    entry["description"] = "Fake throughput: the kit against\nthe naive way (one by one).\n\nIt measures nothing."
    results_path, readme = _write(tmp_path, results)
    update_readme.update(results_path, readme)
    text = readme.read_text()
    assert "### Fake throughput: the kit against the naive way (one by one) (`benchmarks/" in text
    assert "the naive way (one by one).\n" not in text, "the summary's second line is not repeated as body"
    assert "It measures nothing." in text
