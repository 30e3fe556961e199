"""Regularized quantization-, fault- and variability-aware training (seed 002): N-multiplier quantizers, stuck-at faults, LRS variability, fine-tuning and deployment.

Modules:

- :mod:`imckit.qat.quantizers`: Regularization-based quantization: the N-multiplier quantizer family, its loss and its lambda schedule (seed paper 002, Secs. 3.2-3.4 and 4).
- :mod:`imckit.qat.faults`: Stuck-at faults in the bit cells of quantized weights (seed paper 002, Secs. 3.6 and 5.2).
- :mod:`imckit.qat.variability`: Device-to-device variability of the bit cells' low-resistance state (seed paper 002, Secs. 3.7 and 5.3).
- :mod:`imckit.qat.training`: Regularization-based quantization-, fault- and variability-aware training (seed paper 002, Secs. 3-4).
"""

from imckit.qat.quantizers import (  # noqa: F401
    KINDS,
    LevelQuantizer,
    bit_patterns,
    regularization_loss,
    layer_alpha,
    lambda_schedule,
    nearest_level,
    ste_quantize,
    PAPER_LAMBDAS,
    PAPER_RAMPS,
)
from imckit.qat.faults import (  # noqa: F401
    MITIGATIONS,
    MAPPINGS,
    FaultMap,
    stuck_at_faults,
    layer_fault_maps,
    faulty_weight_share,
    validity_mask,
    forced_level,
    map_to_levels,
)
from imckit.qat.variability import (  # noqa: F401
    lrs_multipliers,
    layer_lrs_multipliers,
    weight_levels,
    realized_weights,
)
from imckit.qat.training import (  # noqa: F401
    QATConfig,
    QATResult,
    LSQActivation,
    attach_input_quantizers,
    quantized_modules,
    post_training,
    train_qat,
    deploy,
    evaluate_weights,
    VARIABILITY_MODES,
)
