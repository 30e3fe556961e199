"""Read errors of memory cells injected into quantized weights, and evaluation of the perturbed networks.

Modules:

- :mod:`imckit.injection.errors`: Read errors of memory cells injected into quantized weights, and fast evaluation of perturbed networks.
"""

from imckit.injection.errors import (  # noqa: F401
    QuantSpec,
    inject_cell_errors,
    is_error_free,
    expected_changed_share,
    quantize_layer,
    PerturbedEvaluator,
    InjectionResult,
    evaluate_with_errors,
)
