"""Memory devices and cells (seed 000): FeFET multi-level cells as read-error models, bit slicing of words into cells, memory in devices.

Modules:

- :mod:`imckit.memory.cells`: Bit slicing of storage words into single-level (SLC) and multi-level (MLC) cells, and memory in devices.
- :mod:`imckit.memory.devices`: Memory-cell devices as read-error models: P(read state j | written state i).
"""

from imckit.memory.cells import (  # noqa: F401
    CellConfig,
    paper_configurations,
    BASELINE_BITS,
    slice_words,
    assemble_words,
    memory_table,
    check_configs,
    check_cell_config,
)
from imckit.memory.devices import (  # noqa: F401
    FeFETMLC,
    SLC,
    TransitionMatrixDevice,
    fit_fefet_mlc,
    validate_transition_matrix,
    check_device,
    bit_error_rate,
    sample_reads,
    MeasurementCampaign,
    simulate_campaign,
)
