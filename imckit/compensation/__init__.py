"""One-epoch error compensation with the faulty weights frozen (seed 000, Sec. V).

Modules:

- :mod:`imckit.compensation.compensate`: One-epoch error compensation with the faulty weights frozen (seed paper 000, Sec. V, Table II, Fig. 8).
"""

from imckit.compensation.compensate import (  # noqa: F401
    MODES,
    CompensationConfig,
    CompensationResult,
    requantize,
)
