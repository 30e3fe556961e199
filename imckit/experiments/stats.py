"""The statistics behind the chapters' verdicts: how far apart two test accuracies must be to count.

An accuracy of ``p`` measured on ``n`` test images has the binomial standard error
``100 sqrt(p (1 - p) / n)`` points (:func:`standard_error`). The difference of two such accuracies has
``sqrt(2)`` times that (:func:`standard_error_of_difference`), and the chapters call a difference *noise*
when it is at most twice the standard error of a difference (:func:`noise_tolerance`, ``2 sqrt(2)`` standard
errors of one accuracy) and *visible* beyond (:func:`beyond_noise`); :func:`imckit.experiments.regularization.compare`
applies this rule. Two accuracies measured on the *same* images are paired: the hessian chapter compares
assignments with McNemar's test (:func:`imckit.crossbars.precision.mcnemar`, a difference is visible at
mid-p < 0.05) instead, which this independent-errors rule would overstate or understate.
"""

from __future__ import annotations

import math

from imckit.core.validate import check_count, check_number

__all__ = ["standard_error", "standard_error_of_difference", "noise_tolerance", "beyond_noise"]


def _share(accuracy, images) -> float:
    accuracy = check_number(accuracy, "accuracy", 0, 100)  # percent
    check_count(images, "images")
    return accuracy / 100


def standard_error(accuracy: float, images: int) -> float:
    """Binomial standard error (accuracy points) of an accuracy (%) measured on ``images`` test images:
    ``100 sqrt(p (1 - p) / n)``."""
    p = _share(accuracy, images)
    return 100 * math.sqrt(p * (1 - p) / images)


def standard_error_of_difference(accuracy: float, images: int) -> float:
    """Standard error (points) of the difference between two accuracies near ``accuracy`` (%), each measured
    on ``images`` test images: ``100 sqrt(2 p (1 - p) / n)``, ``sqrt(2)`` times :func:`standard_error`."""
    p = _share(accuracy, images)
    return 100 * math.sqrt(2 * p * (1 - p) / images)


def noise_tolerance(difference_error: float) -> float:
    """The largest difference (points) the chapters call noise: twice ``difference_error``, the standard
    error of a difference (:func:`standard_error_of_difference`)."""
    difference_error = check_number(difference_error, "difference_error", 0)
    return 2 * difference_error


def beyond_noise(difference: float, tolerance: float) -> bool:
    """Whether ``difference`` (points, either sign) is larger than ``tolerance`` (:func:`noise_tolerance`):
    a difference of exactly ``tolerance`` is still noise."""
    difference, tolerance = check_number(difference, "difference"), check_number(tolerance, "tolerance", 0)
    return abs(difference) > tolerance
