"""ReRAM crossbars (seed 001): Hessian and Fisher sensitivity of strip weights, two-precision strips, crossbar
mapping and utilization, an ADC energy proxy, and a crossbar cost model (seed 004).

Modules, each importing only from the ones above it (inside this package)::

    strips      strip-weights: geometry, precision assignment (threshold, compression ratio, random and
                unstructured assignments), two-precision quantization, precision-coordinated computation
      |
    hessian     Hutchinson traces per model, layer and strip; strip scores from any diagonal; reliability
    fisher      empirical Fisher diagonal, FIM distance, FIM-guided threshold search (Algorithm 1)
    ggn         exact Gauss-Newton diagonal (per-sample output Jacobians, BackPACK's DiagGGNExact)
    mapping     crossbar capacity, mapping, utilization, capacity-aligned thresholds (Table 4)
    precision   accuracy of assignments and the compression-ratio sweep (Tables 2-3)
      |
    energy      ADC energy and latency proxy (Table 3; uses mapping)
      |
    cost        crossbar cost model: crossbars, cycles, latency, energy, area, EDAP per layer and network
                (seed 004's latency model, seed 001's ADC; uses mapping and energy)
"""

from imckit.crossbars.strips import (  # noqa: F401
    ACCUMULATIONS,
    accumulation_comparison,
    StripQuantized,
    assign_precision,
    assignment_weights,
    compression_ratio,
    coordinated_conv2d,
    coordinated_linear,
    coordinated_logits,
    coordination_check,
    is_strip_mask,
    low_weight_share,
    model_on_device,
    quantize_mixed,
    quantize_strips,
    random_strip_assignment,
    strip_assignment,
    strip_shape,
    strip_view,
    threshold_at_ratio,
    weight_assignment,
)
from imckit.crossbars.hessian import (  # noqa: F401
    HessianTrace,
    diagonal_strip_sensitivity,
    diagonal_weight_sensitivity,
    hessian_trace,
    hessian_vector_product,
    negative_share,
    probes_for_reliability,
    rank_agreement,
    score_reliability,
    spearman_brown,
    strip_reliability,
    strip_sensitivity,
    weight_sensitivity,
)
from imckit.crossbars.fisher import (  # noqa: F401
    joint_threshold,
    pareto_front,
    fim_sweep,
    fim_threshold,
    fisher_diagonal,
    fisher_diagonal_halves,
    fisher_distance,
)
from imckit.crossbars.ggn import (  # noqa: F401
    ggn_diagonal,
    ggn_diagonal_halves,
    loss_hessian_factor,
)
from imckit.crossbars.mapping import (  # noqa: F401
    PAPER_TABLE4,
    AlignmentReport,
    CrossbarSpec,
    align_threshold,
    alignment_report,
    map_strips,
    strip_capacity,
    strips_per_crossbar,
    utilization_table,
    weight_level_utilization,
)
from imckit.crossbars.precision import (  # noqa: F401
    PAPER_TABLE2,
    mcnemar,
    paired_difference,
    per_image_outcomes,
    PAPER_TABLE2_ACCURACY,
    evaluate_assignments,
    precision_sweep,
)
from imckit.crossbars.energy import (  # noqa: F401
    ENERGY_COLUMNS,
    PAPER_TABLE3,
    ADCSpec,
    energy_proxy,
    energy_sweep,
    output_positions,
)
from imckit.crossbars.cost import (  # noqa: F401
    PAPER_SEED004,
    CrossbarConfig,
    LayerCost,
    LayerShape,
    NetworkCost,
    cost_table,
    layer_cost,
    network_cost,
    seed004_bookkeeping,
)
