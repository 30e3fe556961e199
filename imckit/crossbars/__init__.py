"""ReRAM crossbars (seed 001): Hessian and Fisher sensitivity of strip weights, two-precision strips, crossbar mapping and utilization, an ADC energy proxy.

Modules:

- :mod:`imckit.crossbars.mapping`: Strip-weights on ReRAM crossbars: precision assignment, capacity, utilization, aligned thresholds
- :mod:`imckit.crossbars.hessian`: Hessian traces by Hutchinson's method, per model, per layer and per strip-weight (seed paper 001, Sec. 4).
- :mod:`imckit.crossbars.strips`: Strip-wise mixed precision and precision-coordinated computation (seed paper 001, Secs. 4.2 and 4.4).
- :mod:`imckit.crossbars.fisher`: Empirical Fisher information and the FIM-difference threshold search (seed paper 001, Sec. 4.3, Algorithm 1).
- :mod:`imckit.crossbars.precision`: Two-precision assignments at a compression ratio, and their accuracy (seed paper 001, Secs. 4-5).
- :mod:`imckit.crossbars.energy`: A documented energy and latency *proxy* for strip-wise mixed precision on ReRAM crossbars (seed paper 001,
"""

from imckit.crossbars.mapping import (  # noqa: F401
    CrossbarSpec,
    assign_precision,
    compression_ratio,
    strip_capacity,
    strips_per_crossbar,
    map_strips,
    utilization_table,
    weight_level_utilization,
    align_threshold,
    PAPER_TABLE4,
)
from imckit.crossbars.hessian import (  # noqa: F401
    HessianTrace,
    hessian_trace,
    hessian_vector_product,
    strip_sensitivity,
    strip_view,
    weight_sensitivity,
    diagonal_strip_sensitivity,
    strip_reliability,
)
from imckit.crossbars.strips import (  # noqa: F401
    StripQuantized,
    quantize_strips,
    quantize_mixed,
    coordinated_conv2d,
    coordinated_linear,
    mixed_weights,
    coordinated_logits,
)
from imckit.crossbars.fisher import (  # noqa: F401
    fisher_diagonal,
    fisher_distance,
    threshold_at_ratio,
    fim_sweep,
    fim_threshold,
)
from imckit.crossbars.precision import (  # noqa: F401
    PAPER_TABLE2_ACCURACY,
    strip_assignment,
    weight_assignment,
    random_strip_assignment,
    low_weight_share,
    assignment_weights,
    precision_sweep,
)
from imckit.crossbars.energy import (  # noqa: F401
    ADCSpec,
    output_positions,
    energy_proxy,
    PAPER_TABLE3,
)
