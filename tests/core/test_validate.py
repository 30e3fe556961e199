"""The shared validators of imckit.core.validate: what each accepts, how it normalizes, each rejection and the
exact shape of its message ("<name> must be <allowed>; got <value>")."""

import math
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from imckit.core.validate import (SEED_MAX, check_bool, check_choice, check_count, check_finite, check_generator,
                                  check_int, check_number, check_probability, check_seed, check_shape, check_tensor,
                                  check_writable_dir)

# ---- integers and counts


@pytest.mark.parametrize("value", [3, np.int64(3), np.int8(3), np.uint16(3), torch.tensor(3).item()])
def test_check_int_accepts_integers_and_returns_a_python_int(value):
    result = check_int(value, "bits", 1, 8)
    assert result == 3 and type(result) is int


@pytest.mark.parametrize("value, error, message", [
    (9, ValueError, r"^bits must be an integer in \[1, 8\]; got 9$"),
    (0, ValueError, r"^bits must be an integer in \[1, 8\]; got 0$"),
    (np.int64(-2), ValueError, r"^bits must be an integer in \[1, 8\]; got -2$"),
    (True, TypeError, r"^bits must be an integer in \[1, 8\]; got True$"),
    (False, TypeError, r"^bits must be an integer in \[1, 8\]; got False$"),
    (np.bool_(True), TypeError, r"^bits must be an integer in \[1, 8\]; got "),
    (2.0, TypeError, r"^bits must be an integer in \[1, 8\]; got 2.0$"),
    (2.5, TypeError, r"^bits must be an integer in \[1, 8\]; got 2.5$"),
    (np.float64(3.0), TypeError, r"^bits must be an integer in \[1, 8\]; got "),
    (float("nan"), TypeError, r"^bits must be an integer in \[1, 8\]; got nan$"),
    ("3", TypeError, r"^bits must be an integer in \[1, 8\]; got '3'$"),
    (None, TypeError, r"^bits must be an integer in \[1, 8\]; got None$"),
    (torch.tensor(3), TypeError, r"^bits must be an integer in \[1, 8\]; got tensor\(3\)$"),
    ([3], TypeError, r"^bits must be an integer in \[1, 8\]; got \[3\]$"),
])
def test_check_int_rejections(value, error, message):
    with pytest.raises(error, match=message):
        check_int(value, "bits", 1, 8)


def test_check_int_open_bounds_are_worded():
    assert check_int(-10**30, "offset") == -10**30
    with pytest.raises(ValueError, match=r"^k must be an integer >= 2; got 1$"):
        check_int(1, "k", 2)
    with pytest.raises(ValueError, match=r"^k must be an integer <= 5; got 6$"):
        check_int(6, "k", None, 5)
    with pytest.raises(TypeError, match=r"^k must be an integer; got 'x'$"):
        check_int("x", "k")


def test_long_values_are_shortened_in_messages():
    with pytest.raises(TypeError) as error:
        check_int("x" * 500, "k")
    assert str(error.value).startswith("k must be an integer; got 'xxx") and str(error.value).endswith("...")
    assert len(str(error.value)) < 120


def test_check_count_defaults_to_one_and_allows_zero_when_asked():
    assert check_count(1, "batch_size") == 1 and check_count(0, "epochs", low=0) == 0
    assert check_count(np.int32(5), "repetitions", 1, 5) == 5
    with pytest.raises(ValueError, match=r"^batch_size must be an integer >= 1; got 0$"):
        check_count(0, "batch_size")
    with pytest.raises(ValueError, match=r"^batch_size must be an integer >= 1; got -128$"):
        check_count(-128, "batch_size")
    with pytest.raises(TypeError, match=r"^epochs must be an integer >= 0; got True$"):
        check_count(True, "epochs", low=0)
    with pytest.raises(ValueError, match=r"^images must be an integer in \[1, 96\]; got 97$"):
        check_count(97, "images", 1, 96)


# ---- numbers and probabilities


@pytest.mark.parametrize("value, expected", [
    (0.5, 0.5), (1, 1.0), (np.float32(0.25), 0.25), (np.int64(2), 2.0), (torch.tensor(0.75), 0.75),
    (torch.tensor([0.125]), 0.125), (Fraction(1, 4), 0.25),
])
def test_check_number_accepts_reals_and_returns_a_float(value, expected):
    result = check_number(value, "lr", 0, 10)
    assert result == expected and type(result) is float


@pytest.mark.parametrize("value, kwargs, error, message", [
    (float("nan"), {}, ValueError, r"^lr must be a finite number > 0; got nan$"),
    (float("inf"), {}, ValueError, r"^lr must be a finite number > 0; got inf$"),
    (-math.inf, {}, ValueError, r"^lr must be a finite number > 0; got -inf$"),
    (0.0, {}, ValueError, r"^lr must be a finite number > 0; got 0.0$"),
    (-1, {}, ValueError, r"^lr must be a finite number > 0; got -1.0$"),
    (True, {}, TypeError, r"^lr must be a finite number > 0; got True$"),
    ("0.1", {}, TypeError, r"^lr must be a finite number > 0; got '0.1'$"),
    (None, {}, TypeError, r"^lr must be a finite number > 0; got None$"),
    (torch.ones(2), {}, TypeError, r"^lr must be a finite number > 0; got tensor"),
    (1 + 2j, {}, TypeError, r"^lr must be a finite number > 0; got \(1\+2j\)$"),
])
def test_check_number_rejections(value, kwargs, error, message):
    with pytest.raises(error, match=message):
        check_number(value, "lr", 0, None, low_open=True, **kwargs)


def test_check_number_intervals_are_worded_open_or_closed():
    assert check_number(1.0, "x", 0, 1) == 1.0 and check_number(0, "x", 0, 1) == 0.0
    assert check_number(-1e300, "x") == -1e300
    with pytest.raises(ValueError, match=r"^x must be a finite number in \(0, 1\); got 1.0$"):
        check_number(1.0, "x", 0, 1, low_open=True, high_open=True)
    with pytest.raises(ValueError, match=r"^x must be a finite number in \[0, 1\); got 1.0$"):
        check_number(1.0, "x", 0, 1, high_open=True)
    with pytest.raises(ValueError, match=r"^x must be a finite number < 3; got 3.0$"):
        check_number(3, "x", None, 3, high_open=True)
    with pytest.raises(ValueError, match=r"^x must be a finite number; got nan$"):
        check_number(float("nan"), "x")


@pytest.mark.parametrize("value", [0, 0.0, 1, 1.0, 0.5, np.float64(0.3), 1e-300])
def test_check_probability_accepts_the_unit_interval(value):
    assert check_probability(value, "p") == float(value)


@pytest.mark.parametrize("value, error", [(-1e-12, ValueError), (1.0000001, ValueError), (float("nan"), ValueError),
                                          (True, TypeError), ("0.5", TypeError)])
def test_check_probability_rejections(value, error):
    with pytest.raises(error, match=r"^rate must be a finite number in \[0.0, 1.0\]; got "):
        check_probability(value, "rate")


# ---- seeds and generators


@pytest.mark.parametrize("value", [0, 1, 2**32, SEED_MAX, np.int64(7), np.uint64(2**63 - 1)])
def test_check_seed_accepts_the_whole_range(value):
    assert check_seed(value) == int(value) and type(check_seed(value)) is int
    torch.Generator().manual_seed(check_seed(value))  # torch takes every seed the kit accepts


@pytest.mark.parametrize("value, error", [
    (-1, ValueError), (SEED_MAX + 1, ValueError), (2**64, ValueError), (np.int64(-5), ValueError),
    (2.0, TypeError), (2.5, TypeError), (True, TypeError), ("3", TypeError), (None, TypeError),
    (float("nan"), TypeError),
])
def test_check_seed_rejections(value, error):
    with pytest.raises(error, match=r"^seed must be an integer in \[0, 2\*\*63 - 1\]; got "):
        check_seed(value)


def test_check_seed_names_the_parameter():
    with pytest.raises(ValueError, match=r"^pattern_seed must be an integer in \[0, 2\*\*63 - 1\]; got -3$"):
        check_seed(-3, "pattern_seed")


def test_check_generator_passes_generators_and_seeds_a_new_one():
    g = torch.Generator().manual_seed(5)
    assert check_generator(g) is g
    made = check_generator(5)
    assert isinstance(made, torch.Generator) and made.device.type == "cpu"
    assert torch.equal(torch.rand(4, generator=made), torch.rand(4, generator=torch.Generator().manual_seed(5)))
    assert torch.equal(torch.rand(2, generator=check_generator(np.int64(5))),
                       torch.rand(2, generator=torch.Generator().manual_seed(5)))


@pytest.mark.parametrize("value, error, message", [
    (-1, ValueError, r"^generator must be an integer in \[0, 2\*\*63 - 1\]; got -1$"),
    (1.5, TypeError, r"^generator must be a torch.Generator or a seed \(an integer in \[0, 2\*\*63 - 1\]\); got 1.5$"),
    (True, TypeError, r"^generator must be a torch.Generator or a seed"),
    ("0", TypeError, r"^generator must be a torch.Generator or a seed"),
    (None, TypeError, r"^generator must be a torch.Generator or a seed"),
    (np.random.default_rng(0), TypeError, r"^generator must be a torch.Generator or a seed"),
])
def test_check_generator_rejections(value, error, message):
    with pytest.raises(error, match=message):
        check_generator(value)


# ---- flags and choices


@pytest.mark.parametrize("value", [True, False])
def test_check_bool_accepts_flags(value):
    assert check_bool(value, "progress") is value


@pytest.mark.parametrize("value", [np.bool_(True), np.bool_(False)])
def test_check_bool_accepts_numpy_flags(value):
    assert check_bool(value, "progress") is bool(value)


@pytest.mark.parametrize("value", [0, 1, "True", "yes", None, 1.0, torch.tensor(True)])
def test_check_bool_rejects_everything_else(value):
    with pytest.raises(TypeError, match=r"^progress must be True or False; got "):
        check_bool(value, "progress")


def test_check_choice():
    assert check_choice("fast", "path", ("auto", "fast")) == "fast"
    assert check_choice("b", "key", {"a": 1, "b": 2}) == "b"  # a mapping's keys are its choices
    with pytest.raises(ValueError, match=r"^path must be one of 'auto', 'fast'; got 'quick'$"):
        check_choice("quick", "path", ("auto", "fast"))
    with pytest.raises(ValueError, match=r"^path must be one of 'auto', 'fast'; got \['auto'\]$"):
        check_choice(["auto"], "path", ("auto", "fast"))  # unhashable: not a choice, no TypeError from `in`
    with pytest.raises(ValueError, match=r"^path must be one of 'auto', 'fast'; got None$"):
        check_choice(None, "path", iter(("auto", "fast")))  # any iterable of choices


# ---- tensors


def test_check_finite_counts_nan_and_infinite_values():
    ok = torch.arange(6.0)
    assert check_finite(ok, "w") is ok
    assert check_finite(torch.arange(6), "codes") is not None  # integers are always finite
    bad = torch.tensor([[math.nan, 1.0, math.inf], [-math.inf, math.nan, 0.0]])
    with pytest.raises(ValueError, match=r"^w must be a tensor of finite values; got 2 NaN and 2 infinite of 6 "
                                         r"values$"):
        check_finite(bad, "w")
    with pytest.raises(ValueError, match=r"^w must be a tensor of finite values; got 0 NaN and 1 infinite"):
        check_finite(torch.tensor([1.0, math.inf], dtype=torch.float16), "w")


def test_check_tensor():
    x = torch.zeros(2, 3)
    assert check_tensor(x, "x", ndim=2, floating=True) is x
    assert check_tensor(x, "x", ndim=(1, 2)) is x
    assert check_tensor(torch.zeros(0), "x", nonempty=False).numel() == 0
    assert check_tensor(torch.tensor([math.nan]), "x", finite=False) is not None
    with pytest.raises(TypeError, match=r"^x must be a torch.Tensor; got ndarray$"):
        check_tensor(np.zeros(3), "x")
    with pytest.raises(TypeError, match=r"^x must be a torch.Tensor; got list$"):
        check_tensor([1.0], "x")
    with pytest.raises(ValueError, match=r"^x must have 3 dimensions; got shape \(2, 3\)$"):
        check_tensor(x, "x", ndim=3)
    with pytest.raises(ValueError, match=r"^x must have 1 or 3 dimensions; got shape \(2, 3\)$"):
        check_tensor(x, "x", ndim=(1, 3))
    with pytest.raises(TypeError, match=r"^x must be a floating-point tensor; got dtype torch.int64$"):
        check_tensor(torch.zeros(2, dtype=torch.int64), "x", floating=True)
    with pytest.raises(ValueError, match=r"^x must not be empty; got shape \(0, 3\)$"):
        check_tensor(torch.zeros(0, 3), "x")
    with pytest.raises(ValueError, match=r"^x must be a tensor of finite values; got 1 NaN"):
        check_tensor(torch.tensor([math.nan, 1.0]), "x")


def test_check_shape():
    x = torch.zeros(4, 3)
    assert check_shape(x, "w", (4, 3)) is x and check_shape(x, "w", (None, 3)) is x
    with pytest.raises(ValueError, match=r"^w must have shape \(4, 2\); got \(4, 3\)$"):
        check_shape(x, "w", (4, 2))
    with pytest.raises(ValueError, match=r"^w must have shape \(any, 3, any\); got \(4, 3\)$"):
        check_shape(x, "w", (None, 3, None))
    with pytest.raises(ValueError, match=r"^labels must have shape \(4\); got \(4, 1\)$"):
        check_shape(torch.zeros(4, 1), "labels", (4,))


# ---- folders


def test_check_writable_dir_creates_the_folder_and_leaves_nothing(tmp_path):
    folder = tmp_path / "a" / "b"
    assert check_writable_dir(folder) == folder and folder.is_dir()
    assert list(folder.iterdir()) == []  # the probe file is gone
    assert check_writable_dir(str(folder), "out") == folder


def test_check_writable_dir_below_a_regular_file(tmp_path):
    # works as root too, where permission bits do not stop writes: nothing can be created below a file
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=r"^cache must be a folder this user can write to; got '.*file/c' \("):
        check_writable_dir(tmp_path / "file" / "c", "cache")
    with pytest.raises(ValueError, match=r"^folder must be a folder this user can write to; got '.*file' \("):
        check_writable_dir(tmp_path / "file")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root writes into read-only folders (chmod does not stop it); the case below a regular "
                           "file covers the error as root")
def test_check_writable_dir_read_only(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(ValueError, match=r"^out must be a folder this user can write to; got .*Permission"):
            check_writable_dir(folder, "out")
    finally:
        folder.chmod(0o755)


def test_check_writable_dir_expands_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert check_writable_dir("~/x") == Path(tmp_path) / "x"


# ---- properties


@given(st.integers())
def test_property_check_int_accepts_exactly_the_interval(value):
    if 1 <= value <= 8:
        assert check_int(value, "bits", 1, 8) == value
    else:
        with pytest.raises(ValueError, match=r"^bits must be an integer in \[1, 8\]; got -?\d+$"):
            check_int(value, "bits", 1, 8)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_property_check_probability_accepts_exactly_the_unit_interval(value):
    if math.isfinite(value) and 0 <= value <= 1:
        assert check_probability(value, "p") == value
    else:
        with pytest.raises(ValueError, match=r"^p must be a finite number in \[0.0, 1.0\]; got "):
            check_probability(value, "p")


@given(st.one_of(st.integers(), st.floats(), st.booleans(), st.text(max_size=3), st.none()))
def test_property_check_seed_accepts_exactly_the_integers_torch_takes(value):
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= SEED_MAX:
        assert check_seed(value) == value
        check_generator(value)
    else:
        with pytest.raises((TypeError, ValueError), match=r"^seed must be an integer in \[0, 2\*\*63 - 1\]; got "):
            check_seed(value)
