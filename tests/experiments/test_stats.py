"""The statistics every chapter's verdicts share (one rule for what counts as noise)."""

import math

import numpy as np
import pytest

from imckit.experiments.stats import beyond_noise, noise_tolerance, standard_error, standard_error_of_difference


def test_standard_errors_by_hand():
    assert standard_error(50.0, 100) == pytest.approx(5.0)  # 100 sqrt(0.25 / 100)
    assert standard_error_of_difference(50.0, 50) == pytest.approx(10.0)  # 100 sqrt(2 * 0.25 / 50)
    assert standard_error_of_difference(71.09, 256) == pytest.approx(math.sqrt(2) * standard_error(71.09, 256))
    assert standard_error(100.0, 10) == standard_error_of_difference(0.0, 10) == 0.0
    assert standard_error(np.float64(50.0), np.int64(100)) == pytest.approx(5.0)  # numpy numbers are numbers


@pytest.mark.parametrize("accuracy,images,message", [
    (140.0, 10, r"^accuracy must be a finite number in \[0, 100\]; got 140.0"),
    (float("nan"), 10, r"^accuracy must be a finite number in \[0, 100\]"),
    (50.0, 0, "^images must be an integer >= 1; got 0"),
    (50.0, 2.5, "^images must be an integer >= 1; got 2.5"),
    (50.0, True, "^images must be an integer >= 1; got True"),
])
def test_bad_accuracy_or_image_count(accuracy, images, message):
    with pytest.raises((ValueError, TypeError), match=message):
        standard_error(accuracy, images)
    with pytest.raises((ValueError, TypeError), match=message):
        standard_error_of_difference(accuracy, images)


def test_noise_is_twice_the_standard_error_of_a_difference_and_inclusive():
    assert noise_tolerance(4.0) == 8.0
    tolerance = noise_tolerance(standard_error_of_difference(71.09, 256))
    assert tolerance == pytest.approx(2 * math.sqrt(2) * standard_error(71.09, 256))  # the chapters' 8.0 points
    assert not beyond_noise(8.0, 8.0) and not beyond_noise(-8.0, 8.0)  # exactly the tolerance: still noise
    assert beyond_noise(8.01, 8.0) and beyond_noise(-8.01, 8.0)
    assert not beyond_noise(0.0, 0.0) and beyond_noise(0.1, 0.0)
    with pytest.raises(ValueError, match="^difference_error must be a finite number >= 0"):
        noise_tolerance(-1.0)
    with pytest.raises(ValueError, match="^tolerance must be a finite number >= 0"):
        beyond_noise(1.0, -1.0)
    with pytest.raises(ValueError, match="^difference must be a finite number"):
        beyond_noise(float("nan"), 1.0)
