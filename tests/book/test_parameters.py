"""A notebook's typed parameters cell, and the check of a run's parameters against it (no kernel runs here)."""

import os

import nbformat
import pytest

from imckit.book.parameters import (NotebookParameter, ParameterError, check_parameters, notebook_parameters,
                                    parse_value)

from ..conftest import ROOT

CELL = """\
profile: str = "default"  # run size
seed: int = 0  # seed of every draw
rate: float = 0.04  # a rate, in [0, 1]
fresh: bool = False  # draw again
widths: list[int] = [4, 3]  # bit widths
sigmas: list[float] = [0.1]  # spreads
options: dict = {}  # extra options
label: Optional[str] = None  # a label or None
legacy = 3  # no annotation: the default's type
anything = None  # no annotation, None: any value
"""


def _notebook(path, source=CELL, tagged=True):
    cells = [nbformat.v4.new_markdown_cell("# T"),
             nbformat.v4.new_code_cell(source, metadata={"tags": ["parameters"] if tagged else []})]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def test_reads_names_types_defaults_and_help(tmp_path):
    params = notebook_parameters(_notebook(tmp_path / "t.ipynb"))
    assert list(params) == ["profile", "seed", "rate", "fresh", "widths", "sigmas", "options", "label", "legacy",
                            "anything"]
    assert params["rate"] == NotebookParameter("rate", "float", 0.04, "a rate, in [0, 1]", "float")
    assert (params["widths"].type, params["widths"].items, params["widths"].default) == ("list", "int", [4, 3])
    assert params["label"].optional and params["label"].type == "str"
    assert (params["legacy"].type, params["legacy"].annotation) == ("int", "")
    assert params["anything"].type == "any"


def test_no_parameters_cell_means_no_parameters(tmp_path):
    path = _notebook(tmp_path / "t.ipynb", tagged=False)
    assert notebook_parameters(path) == {}
    with pytest.raises(ParameterError, match=r"unknown parameter 'seed'.*no parameters cell"):
        check_parameters(path, {"seed": 1})


def test_a_default_that_is_not_a_literal_is_an_error(tmp_path):
    path = _notebook(tmp_path / "t.ipynb", "a: int = 1  # one\nb: int = 2 * a  # two\n")
    with pytest.raises(ParameterError, match=r"t.ipynb: parameter b must have a literal default.*got 2 \* a"):
        notebook_parameters(path)


def test_missing_notebook_is_named(tmp_path):
    with pytest.raises(ParameterError, match=r"^notebook must be an existing .ipynb file; got .*nope.ipynb"):
        notebook_parameters(tmp_path / "nope.ipynb")


def test_cache_follows_the_file(tmp_path):
    path = _notebook(tmp_path / "t.ipynb", "a: int = 1  # one\n")
    assert list(notebook_parameters(path)) == ["a"]
    _notebook(path, "a: int = 1  # one\nb: str = 'x'  # two\n")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a later modification time
    assert list(notebook_parameters(path)) == ["a", "b"]


def test_unknown_name_lists_the_known_ones_and_a_close_match(tmp_path):
    path = _notebook(tmp_path / "fefet.ipynb")
    expected = (r"^fefet.ipynb: unknown parameter 'sed' \(= 3\) \(did you mean 'seed'\?\)"
                r".*: anything, fresh, label, legacy, options, profile, rate, seed")
    with pytest.raises(ParameterError, match=expected) as info:
        check_parameters(path, {"seed": 1, "sed": 3})
    assert (info.value.notebook, info.value.parameter, info.value.value) == ("fefet.ipynb", "sed", 3)
    assert "seed" in info.value.allowed
    with pytest.raises(ParameterError, match=r"unknown parameter 'zzz' \(= 1\); a parameter"):  # no close match
        check_parameters(path, {"zzz": 1})


def test_runner_names_are_allowed_unless_told_otherwise(tmp_path):
    path = _notebook(tmp_path / "t.ipynb", "seed: int = 0  # seed\n")
    assert check_parameters(path, {"output_dir": "x", "data_root": "", "profile": "smoke"}) == \
        {"output_dir": "x", "data_root": "", "profile": "smoke"}
    with pytest.raises(ParameterError, match="unknown parameter 'output_dir'"):
        check_parameters(path, {"output_dir": "x"}, allow=())


@pytest.mark.parametrize("name, value, expected", [
    ("seed", 2.0, r"seed must be an integer \(int, as its parameters cell declares\); got 2.0"),
    ("seed", True, r"seed must be an integer \(int.*; got True"),
    ("seed", "3", r"seed must be an integer \(int.*; got '3'"),
    ("rate", False, r"rate must be a number \(float.*; got False"),
    ("rate", "0.1", r"rate must be a number \(float.*; got '0.1'"),
    ("profile", 1, r"profile must be a string \(str.*; got 1"),
    ("fresh", 1, r"fresh must be True or False \(bool.*; got 1"),
    ("widths", 4, r"widths must be a list of integers \(list\[int\].*; got 4"),
    ("widths", [4, 2.5], r"widths must be a list of integers \(list\[int\].*; got \[4, 2.5\]"),
    ("options", [], r"options must be a mapping \(dict.*; got \[\]"),
    ("legacy", 1.5, r"legacy must be an integer \(int.*; got 1.5"),
    ("label", 3, r"label must be a string or None \(Optional\[str\].*; got 3"),
])
def test_wrong_types_are_rejected(tmp_path, name, value, expected):
    path = _notebook(tmp_path / "t.ipynb")
    with pytest.raises(ParameterError, match=rf"^t.ipynb: {expected}$") as info:
        check_parameters(path, {name: value})
    assert info.value.parameter == name and isinstance(info.value, ValueError)


def test_right_types_pass_and_are_normalized(tmp_path):
    path = _notebook(tmp_path / "t.ipynb")
    given = {"seed": 3, "rate": 1, "profile": "smoke", "fresh": True, "widths": (8, 4), "sigmas": [1, 0.5],
             "options": {"a": 1}, "label": None, "legacy": 7, "anything": object}
    checked = check_parameters(path, given)
    assert checked == {**given, "rate": 1.0, "widths": [8, 4], "sigmas": [1.0, 0.5]}
    assert type(checked["rate"]) is float and type(checked["sigmas"][0]) is float
    assert check_parameters(path, {}) == {}
    with pytest.raises(ParameterError, match=r"^parameters must be a mapping"):
        check_parameters(path, [("seed", 1)])


def test_command_line_values_follow_the_declared_type(tmp_path):
    path = _notebook(tmp_path / "t.ipynb")
    assert parse_value(path, "profile", "123") == "123"  # a str parameter keeps the text
    assert parse_value(path, "rate", "1") == 1.0 and parse_value(path, "seed", "7") == 7
    assert parse_value(path, "fresh", "true") is True and parse_value(path, "widths", "[4, 2]") == [4, 2]
    assert parse_value(path, "label", "None") is None
    assert parse_value(path, "unknown", "2.5") == 2.5  # papermill's own rule; check_parameters rejects the name
    with pytest.raises(ParameterError, match=r"^t.ipynb: seed must be an integer.*; got '2.5'$"):
        parse_value(path, "seed", "2.5")
    with pytest.raises(ParameterError, match=r"^t.ipynb: fresh must be True or False.*; got 'yes'$"):
        parse_value(path, "fresh", "yes")


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb")))
def test_every_chapter_declares_typed_parameters_its_defaults_satisfy(name):
    path = ROOT / "notebooks" / f"{name}.ipynb"
    params = notebook_parameters(path)
    untyped = [p.name for p in params.values() if not p.annotation or p.type == "any"]
    assert not untyped, f"{name}.ipynb: parameters without a type annotation: {untyped}"
    defaults = {p.name: p.default for p in params.values()}
    assert check_parameters(path, defaults, allow=()) == defaults
