"""Parameter sweeps (imckit.book.sweep) on a tiny synthetic notebook: Dask local and by address, resume,
failures, validation before any run, the table."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import yaml

from imckit.book import sweep as sweep_module
from imckit.book.sweep import SweepError, load_sweep, local_cluster_size, main, run_sweep
from imckit.book.sweep_table import build_table, load_table, parse_glued, read_glued, read_record

from ..conftest import ROOT

PARAMETERS = """x: float = 1.0  # a number
seed: int = 0  # seed
profile: str = "smoke"  # run size
output_dir: str = "out"  # folder of the outputs
fail: bool = False  # raise in the next cell
log: str = ""  # file where every execution appends a line
slow_flag: str = ""  # while this file exists, the point x == 4 sleeps"""

BODY = """import os, time
from pathlib import Path
from myst_nb import glue
if log:
    with open(log, "a") as f:
        f.write(f"{x} {seed}\\n")
if slow_flag and x == 4 and os.path.exists(slow_flag):
    time.sleep(120)
assert not fail, "asked to fail"
Path(output_dir).mkdir(parents=True, exist_ok=True)
(Path(output_dir) / "y.txt").write_text(str(x))
glue("y", f"{2 * x + seed:.2f}", display=False)
glue("count", f"{1575:,}", display=False)
glue("label", "n/a", display=False)
glue("sentence", "a long sentence " * 10, display=False)"""


@pytest.fixture
def project(tmp_path):
    """A project folder with notebooks/tiny.ipynb and sweeps/; returns a writer of sweep files."""
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                          "language": "python"}})
    nb.cells = [nbformat.v4.new_markdown_cell("# Tiny"),
                nbformat.v4.new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(BODY)]
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "sweeps").mkdir()
    nbformat.write(nb, tmp_path / "notebooks" / "tiny.ipynb")
    log = tmp_path / "executions.log"

    def write(name="s", **data):
        data.setdefault("notebook", "tiny")
        data.setdefault("profile", "smoke")
        data.setdefault("fixed", {})
        data["fixed"].setdefault("log", str(log))
        path = tmp_path / "sweeps" / f"{name}.yml"
        path.write_text(yaml.safe_dump(data))
        return path

    write.root, write.log = tmp_path, log
    write.executions = lambda: log.read_text().splitlines() if log.is_file() else []
    return write


def test_four_point_sweep_on_two_local_workers(project):
    path = project(grid={"x": [1.0, 2.0]}, seeds=[0, 1])
    result = run_sweep(path, workers=2, progress=False)
    assert (result.ran, result.reused, result.failed, result.workers) == (4, 0, 0, 2)
    table = result.table
    assert list(table["status"]) == ["ok"] * 4
    assert list(zip(table["x"], table["seed"], table["y"])) == [(1.0, 0, 2.0), (1.0, 1, 3.0), (2.0, 0, 4.0),
                                                                 (2.0, 1, 5.0)]
    assert list(table["count"]) == [1575.0] * 4 and list(table["label"]) == ["n/a"] * 4
    assert "sentence" not in table.columns  # long texts stay out of the table
    assert (table["wall_s"] > 0).all() and set(table["threads"]) == {1}
    assert result.out == project.root / "results" / "sweeps" / "s" / "smoke"
    stored = load_table(result.out)
    assert list(stored.columns) == list(table.columns) and list(stored["y"]) == list(table["y"])
    assert list(stored["label"]) == ["n/a"] * 4 and result.csv.read_text().startswith("point,notebook,status")
    for point in result.spec.points:  # each point has its own folder, executed notebook and outputs
        folder = result.out / "points" / point.folder_name
        assert (folder / "point.ipynb").is_file() and (folder / "output" / "y.txt").is_file()
        assert read_record(folder / "record.json", point.key)["status"] == "ok"
    assert len(project.executions()) == 4


def test_finished_points_are_not_run_again(project):
    first = run_sweep(project(grid={"x": [1.0, 2.0]}, seeds=[0]), workers=2, progress=False)
    assert first.ran == 2 and len(project.executions()) == 2
    # the same points with a second seed: only the two new points run
    second = run_sweep(project(grid={"x": [1.0, 2.0]}, seeds=[0, 1]), workers=2, progress=False)
    assert (second.ran, second.reused) == (2, 2)
    assert sorted(project.executions()) == ["1.0 0", "1.0 1", "2.0 0", "2.0 1"]
    # a point whose record is gone (killed before its record was written) runs again, alone
    point = second.spec.points[1]
    (second.out / "points" / point.folder_name / "record.json").unlink()
    third = run_sweep(project(grid={"x": [1.0, 2.0]}, seeds=[0, 1]), workers=2, progress=False)
    assert (third.ran, third.reused) == (1, 3) and len(project.executions()) == 5
    assert list(third.table["y"]) == [2.0, 3.0, 4.0, 5.0]


def test_interrupted_sweep_resumes_where_it_stopped(project):
    flag = project.root / "slow"
    flag.write_text("")
    path = project(grid={"x": [1.0, 2.0, 3.0, 4.0]}, fixed={"slow_flag": str(flag)})
    out = project.root / "out"
    command = [sys.executable, "-m", "imckit.book.sweep", str(path), "--workers", "1", "--out", str(out),
               "--no-progress"]
    process = subprocess.Popen(command, cwd=project.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True,  # its own process group: workers and kernels included
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # Ctrl-C works
    # (a background job of a shell ignores SIGINT, and its children inherit that)
    try:
        deadline = time.monotonic() + 120
        while len(list(out.glob("points/*/record.json"))) < 3 or len(project.executions()) < 4:
            assert time.monotonic() < deadline and process.poll() is None, "the sweep did not reach point 4"
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)  # Ctrl-C while the fourth point runs
        process.wait(timeout=90)
    finally:
        try:  # whatever of the sweep still runs (the sleeping point's kernel), by its process group
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)
    assert len(list(out.glob("points/*/record.json"))) == 3
    flag.unlink()
    result = run_sweep(path, out=out, workers=1, progress=False)
    assert (result.ran, result.reused, result.failed) == (1, 3, 0)
    assert sorted(project.executions()) == ["1.0 0", "2.0 0", "3.0 0", "4.0 0", "4.0 0"]


def test_failing_point_is_recorded_while_the_others_finish(project):
    path = project(points=[{"x": 1.0}, {"x": 2.0, "fail": True}, {"x": 3.0}, {"x": 4.0}])
    result = run_sweep(path, workers=2, progress=False)
    assert (result.ran, result.failed) == (4, 1)
    table = result.table.set_index("x")
    assert list(table["status"]) == ["ok", "failed", "ok", "ok"]
    assert table.loc[2.0, "error"] == "AssertionError: asked to fail" and table["error"].isna().sum() == 3
    assert table.loc[4.0, "y"] == 8.0 and table["y"].isna().sum() == 1
    assert run_sweep(path, workers=2, progress=False, retry_failed=False).ran == 0
    again = run_sweep(path, workers=2, progress=False)  # a failed point is tried again by default
    assert (again.ran, again.failed) == (1, 1) and len(project.executions()) == 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sweep_on_a_scheduler_and_worker_started_separately(project):
    dask = Path(sys.executable).parent / "dask"
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([str(dask), "worker", address, "--nthreads", "1", "--name", "separate",
                               "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(1, timeout=60)
        result = run_sweep(project(grid={"x": [1.0, 2.0]}), scheduler=address, progress=False)
        assert (result.ran, result.failed) == (2, 0)
        assert list(result.table["y"]) == [2.0, 4.0]
        assert set(result.table["worker"]) != {"local"} and result.table["worker"].str.startswith("tcp://").all()
        with pytest.raises(SweepError, match="no worker of .* declares"):
            run_sweep(project("gpu", grid={"x": [5.0]}, resources={"GPU": 1}), scheduler=address, progress=False)
        assert len(project.executions()) == 2
    finally:
        for process in (worker, scheduler):
            process.terminate()
        for process in (worker, scheduler):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def test_unknown_parameter_is_rejected_before_any_run(project):
    path = project(grid={"x": [1.0], "xx": [2]})
    with pytest.raises(SweepError, match=r"unknown parameter 'xx'.*did you mean 'x'"):
        run_sweep(path, progress=False)
    assert project.executions() == [] and not (project.root / "results").exists()


@pytest.mark.parametrize("data, message", [
    ({"grid": {"x": []}}, r"^grid\.x is empty"),
    ({"grid": {}}, r"^the grid is empty and no points are listed"),
    ({"grid": {"x": ["a"]}}, r"^tiny\.ipynb: x must be a number"),
    ({"grid": {"x": [1.0]}, "seeds": [0, 0]}, r"^seeds must not repeat"),
    ({"grid": {"x": [1.0]}, "seeds": [-1]}, r"^seeds must be integers"),
    ({"grid": {"x": [1.0]}, "fixed": {"output_dir": "a"}}, r"^fixed sets \['output_dir'\]"),
    ({"grid": {"x": [1.0]}, "grids": {}}, r"^unknown key\(s\) \['grids'\]"),
    ({"grid": {"x": [1.0]}, "profile": "huge"}, r"^profile must be one of"),
    ({"grid": {"x": [1.0]}, "notebook": "nothere"}, r"^notebook 'nothere' not found"),
])
def test_invalid_sweeps_are_one_clear_error(project, data, message):
    with pytest.raises(SweepError, match=message):
        load_sweep(project(**data))


def test_every_problem_is_listed_in_one_error(project):
    with pytest.raises(SweepError, match=r"^2 problems in the sweep:\n  - unknown key.*\n  - grid\.x is empty"):
        load_sweep(project(grid={"x": []}, extra=1))
    with pytest.raises(SweepError, match=r"^2 problems in the sweep:\n  - grid\.x is empty.*\n  - tiny\.ipynb: unknown "
                                         r"parameter 'xx'"):
        load_sweep(project(grid={"x": [], "xx": [1]}))


def test_profile_entry_replaces_the_axes(project):
    path = project(grid={"x": [1.0, 2.0, 3.0]}, seeds=[0, 1, 2], profile="default",
                   profiles={"smoke": {"grid": {"x": [1.0]}, "seeds": [0]}})
    assert len(load_sweep(path).points) == 9
    smoke = load_sweep(path, profile="smoke")
    assert [p.parameters["x"] for p in smoke.points] == [1.0] and smoke.profile == "smoke"
    assert smoke.points[0].parameters["profile"] == "smoke" and smoke.swept == ("x", "seed")


def test_points_are_keyed_by_notebook_parameters_and_profile(project):
    spec = load_sweep(project(grid={"x": [1, 2.0]}, points=[{"x": 2.0}]))  # ints become floats; duplicates go
    assert [p.parameters["x"] for p in spec.points] == [1.0, 2.0]
    assert len({p.key for p in spec.points}) == 2
    assert load_sweep(project(grid={"x": [1.0]})).points[0].key == spec.points[0].key
    other = load_sweep(project(grid={"x": [1.0]}), profile="default")
    assert other.points[0].key != spec.points[0].key


def test_points_needing_a_gpu_are_refused_on_a_machine_without_one(project, monkeypatch):
    monkeypatch.setattr(sweep_module, "_local_gpus", lambda: 0)
    with pytest.raises(SweepError, match=r"need resources \{'GPU': 1\}"):
        run_sweep(project(grid={"x": [1.0]}, resources={"GPU": 1}), progress=False)
    assert project.executions() == []


@pytest.mark.parametrize("kwargs, expected", [
    ({"points": 10, "cores": 2, "memory": 16 * 2**30}, (2, 1)),
    ({"points": 10, "cores": 2, "memory": 16 * 2**30, "threads_per_point": 2}, (1, 2)),
    ({"points": 10, "cores": 8, "memory": 5 * 2**30}, (2, 1)),
    ({"points": 1, "cores": 16, "memory": 64 * 2**30}, (1, 1)),
    ({"points": 3, "workers": 5}, (3, 1)),
])
def test_local_cluster_size_keeps_points_off_each_others_cores(kwargs, expected):
    assert local_cluster_size(**kwargs) == expected


def test_local_cluster_size_checks_its_arguments():
    with pytest.raises(ValueError, match=r"^points must"):
        local_cluster_size(0)
    with pytest.raises(TypeError, match=r"^threads_per_point must"):
        local_cluster_size(2, threads_per_point=1.5)


def test_glued_values_become_numbers_and_short_strings():
    assert parse_glued("'1,575'") == 1575.0 and parse_glued("'4.00'") == 4.0 and parse_glued("3") == 3.0
    assert parse_glued("'n/a'") == "n/a" and parse_glued(repr("x" * 100)) is None and parse_glued("[1]") is None
    nb = nbformat.v4.new_notebook()
    prefix = "application/papermill.record/"
    outputs = [nbformat.v4.new_output("display_data", data={prefix + "text/plain": "'0.50'"},
                                      metadata={"scrapbook": {"name": "a", "mime_prefix": prefix}}),
               nbformat.v4.new_output("display_data", data={prefix + "image/png": "iVBO",
                                                            prefix + "text/plain": "<Figure>"},
                                      metadata={"scrapbook": {"name": "fig", "mime_prefix": prefix}})]
    nb.cells = [nbformat.v4.new_code_cell("", outputs=outputs)]
    assert read_glued(nb) == {"a": 0.5}


def test_table_keeps_parameters_apart_from_glued_names():
    records = [{"key": "k1", "notebook": "n", "status": "ok", "profile": "smoke", "parameters": {"x": 1.0},
                "glued": {"x": 3.0, "v": "n/a"}},
               {"key": "k2", "notebook": "n", "status": "ok", "profile": "smoke", "parameters": {"x": 2.0},
                "glued": {"x": 4.0, "v": 1.5}}]
    table = build_table(records, ("x",))
    assert list(table["x"]) == [1.0, 2.0] and list(table["glue:x"]) == [3.0, 4.0]
    assert list(table["v"]) == ["n/a", "1.5"]  # a column mixing numbers and strings holds strings


def test_command_line_checks_and_lists_points(project, capsys):
    assert main([str(project(grid={"x": [1.0, 2.0]})), "--dry-run"]) == 0
    assert "2 point(s)" in capsys.readouterr().out
    assert main([str(project(grid={"x": []})), "--dry-run"]) == 2
    assert "grid.x is empty" in capsys.readouterr().err
    assert project.executions() == []


@pytest.mark.parametrize("path", sorted((ROOT / "sweeps").glob("*.yml")), ids=lambda p: p.stem)
def test_the_kits_sweep_files_are_valid_at_every_profile(path):
    for profile in ("smoke", "default", "paper"):
        spec = load_sweep(path, profile=profile)
        assert spec.points and spec.root == ROOT and spec.name == yaml.safe_load(path.read_text())["name"]
