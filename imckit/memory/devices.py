"""Memory-cell devices as read-error models: P(read state j | written state i).

Seed paper 000 (Vardar et al., Sec. II-A, Fig. 2) programmed a uniform random 2-bit pattern into 25 arrays
of 63 FeFETs (9 wordlines x 7 bitlines) with a write-verify scheme and read them back at V_WL = 1.4 V,
V_BL = 1 V: an average bit error rate (BER) of 4 %, errors mostly into neighbouring states, rates differing
by state. The paper publishes no current values or matrix entries, so :class:`FeFETMLC` is a generative
model with the structure the paper describes, calibrated to its one published number:

* each written state ``i`` is read back as a current whose decimal logarithm is normal with mean
  ``log10_current[i]`` and standard deviation ``sigma_decades[i]`` (device-to-device spread of a
  write-verified FeFET; read currents spread over decades, so the spread is log-normal);
* three read thresholds split the current axis into the four read states (default: midway between
  neighbouring state means, in log10 units);
* so ``P(read j | written i)`` is the normal probability mass between thresholds ``j`` and ``j + 1``.

Errors then go to neighbouring states almost exclusively (a two-state jump needs a spread of several
sigma), and the rates differ by state (the two middle states have two neighbours, the spreads differ).
:meth:`FeFETMLC.calibrated` scales all spreads by one factor so the BER of a uniform random pattern equals
a target (default 4 %). :func:`fit_fefet_mlc` builds the model from a measurement table instead.

Every device exposes ``bits_per_cell`` and ``transition_matrix()`` (float64, rows sum to 1);
:class:`TransitionMatrixDevice` takes any user-given matrix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = [
    "FeFETMLC", "SLC", "TransitionMatrixDevice", "fit_fefet_mlc", "validate_transition_matrix",
    "bit_error_rate", "sample_reads", "MeasurementCampaign", "simulate_campaign",
]


def validate_transition_matrix(matrix, name: str = "transition matrix") -> torch.Tensor:
    """Check a read-error matrix and return it as a float64 tensor.

    It must be square with a power-of-two size of at least 2 (2**bits states), non-negative, finite, and
    each row must sum to 1 within 1e-6. Raises :class:`ValueError` naming what is wrong.
    """
    m = torch.as_tensor(np.asarray(matrix, dtype=np.float64))
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"{name} must be a square 2-D matrix; got shape {tuple(m.shape)}")
    n = m.shape[0]
    if n < 2 or n & (n - 1):
        raise ValueError(f"{name} size must be a power of two >= 2 (2**bits_per_cell states); got {n}")
    if not torch.isfinite(m).all() or (m < 0).any():
        raise ValueError(f"{name} entries must be finite and non-negative")
    sums = m.sum(1)
    bad = (sums - 1).abs() > 1e-6
    if bad.any():
        row = int(bad.nonzero()[0])
        raise ValueError(f"{name} rows must sum to 1 within 1e-6; row {row} sums to {sums[row].item():.8f}")
    return m


def bit_error_rate(matrix) -> float:
    """Probability that a cell reads back another state, for a uniform random pattern of written states.

    This is the paper's "bit error rate" of its MLC campaign: its Fig. 2c counts errors per FeFET, with
    their distance in states, so an error is a cell read in a wrong state (one that may flip one or both
    of its bits), not a count of flipped bits.
    """
    m = validate_transition_matrix(matrix)
    return float(1 - torch.diagonal(m).mean())


@dataclass(frozen=True)
class TransitionMatrixDevice:
    """A device given directly by its transition matrix ``P[i, j] = P(read j | written i)``.

    Attributes:
        matrix: the square matrix, as nested tuples (validated; see :func:`validate_transition_matrix`).
        name: a label for tables and figures.
    """

    matrix: tuple
    name: str = "custom"

    def __post_init__(self):
        m = validate_transition_matrix(self.matrix)
        object.__setattr__(self, "matrix", tuple(tuple(float(v) for v in row) for row in m.tolist()))

    @property
    def bits_per_cell(self) -> int:
        return int(math.log2(len(self.matrix)))

    def transition_matrix(self) -> torch.Tensor:
        return torch.tensor(self.matrix, dtype=torch.float64)


@dataclass(frozen=True)
class SLC:
    """A single-level cell (1 bit) that flips with probability ``error_rate``.

    The paper treats SLC storage as reliable (its errors come from MLC cells), hence the default 0.

    Attributes:
        error_rate: probability that a stored bit reads back inverted (0 to 1).
    """

    error_rate: float = 0.0
    name: str = "SLC"

    def __post_init__(self):
        if not isinstance(self.error_rate, (int, float)) or not 0 <= self.error_rate <= 1:
            raise ValueError(f"error_rate must be a number in [0, 1]; got {self.error_rate!r}")

    bits_per_cell = 1

    def transition_matrix(self) -> torch.Tensor:
        p = float(self.error_rate)
        return torch.tensor([[1 - p, p], [p, 1 - p]], dtype=torch.float64)


def _normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.special.erfc(-x / math.sqrt(2.0))


@dataclass(frozen=True)
class FeFETMLC:
    """A 2-bit multi-level FeFET cell: four read-current distributions and three read thresholds.

    Attributes:
        log10_current: mean of log10(read current / A) for written states 0, 1, 2, 3 (increasing).
        sigma_decades: standard deviation of log10(read current / A) per written state (decades, > 0).
        thresholds: log10(current / A) of the three read thresholds (increasing); ``None`` puts each midway
            between neighbouring state means.
        name: a label for tables and figures.

    The defaults are :meth:`calibrated` to a 4 % BER on a uniform random pattern (seed paper 000, Sec. II-A):
    state means one decade apart from 10 nA to 10 uA (the range of MLC FeFET read currents in the
    measurements the paper cites, its Fig. 2b), relative spreads ``(1.0, 1.3, 1.2, 0.8)`` so that the states
    differ in stability, scaled by the factor that gives the target BER.
    """

    log10_current: tuple[float, float, float, float] = (-8.0, -7.0, -6.0, -5.0)
    sigma_decades: tuple[float, float, float, float] = (0.222569, 0.289340, 0.267083, 0.178056)
    thresholds: tuple[float, float, float] | None = None
    name: str = "FeFET MLC"

    bits_per_cell = 2

    def __post_init__(self):
        mu = np.asarray(self.log10_current, dtype=float)
        sd = np.asarray(self.sigma_decades, dtype=float)
        if mu.shape != (4,) or not np.all(np.isfinite(mu)) or not np.all(np.diff(mu) > 0):
            raise ValueError(f"log10_current must be 4 finite, strictly increasing values; got {self.log10_current!r}")
        if sd.shape != (4,) or not np.all(np.isfinite(sd)) or not np.all(sd > 0):
            raise ValueError(f"sigma_decades must be 4 positive values (decades); got {self.sigma_decades!r}")
        if self.thresholds is not None:
            t = np.asarray(self.thresholds, dtype=float)
            if t.shape != (3,) or not np.all(np.isfinite(t)) or not np.all(np.diff(t) > 0):
                raise ValueError(f"thresholds must be 3 finite, strictly increasing values or None; got {self.thresholds!r}")

    def read_thresholds(self) -> torch.Tensor:
        """The three read thresholds, log10(current / A)."""
        if self.thresholds is not None:
            return torch.tensor(self.thresholds, dtype=torch.float64)
        mu = torch.tensor(self.log10_current, dtype=torch.float64)
        return (mu[1:] + mu[:-1]) / 2

    def transition_matrix(self) -> torch.Tensor:
        """``P[i, j]`` = probability that a cell written to state ``i`` reads as state ``j`` (4x4, float64)."""
        mu = torch.tensor(self.log10_current, dtype=torch.float64)[:, None]
        sd = torch.tensor(self.sigma_decades, dtype=torch.float64)[:, None]
        edges = torch.cat([torch.tensor([-math.inf]), self.read_thresholds(), torch.tensor([math.inf])])
        cdf = _normal_cdf((edges[None, :] - mu) / sd)
        return cdf[:, 1:] - cdf[:, :-1]

    def sample_currents(self, states: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Read currents (A) of cells written to ``states`` (an integer tensor of values 0-3)."""
        states = torch.as_tensor(states, dtype=torch.int64)
        mu = torch.tensor(self.log10_current, dtype=torch.float64)[states]
        sd = torch.tensor(self.sigma_decades, dtype=torch.float64)[states]
        z = torch.randn(states.shape, generator=generator, dtype=torch.float64)
        return torch.pow(10.0, mu + sd * z)

    def read_states(self, currents: torch.Tensor) -> torch.Tensor:
        """The state a sense amplifier reads for each current (comparison with the read thresholds)."""
        return torch.bucketize(torch.log10(torch.as_tensor(currents, dtype=torch.float64)), self.read_thresholds())

    @classmethod
    def calibrated(cls, target_ber: float = 0.04, log10_current=(-8.0, -7.0, -6.0, -5.0),
                   relative_sigma=(1.0, 1.3, 1.2, 0.8), thresholds=None, name: str = "FeFET MLC") -> "FeFETMLC":
        """The model whose spreads ``s * relative_sigma`` give ``target_ber`` on a uniform random pattern.

        ``s`` is found by bisection (the BER grows monotonically with ``s``).
        """
        if not isinstance(target_ber, (int, float)) or not 0 < target_ber < 0.7:
            raise ValueError(f"target_ber must be a number in (0, 0.7); got {target_ber!r}")
        rel = np.asarray(relative_sigma, dtype=float)

        def ber(scale: float) -> float:
            device = cls(tuple(log10_current), tuple(float(v) for v in scale * rel), thresholds, name)
            return bit_error_rate(device.transition_matrix())

        low, high = 1e-4, 1e-4
        if ber(low) > target_ber:
            raise ValueError(f"target_ber {target_ber} is below the error rate these thresholds give even with "
                             f"vanishing spread ({ber(low):.4f}); put the thresholds between the state means")
        while ber(high) < target_ber:
            high *= 2
            if high > 1e4:
                raise ValueError(f"target_ber {target_ber} cannot be reached with these thresholds")
        for _ in range(200):
            mid = (low + high) / 2
            low, high = (mid, high) if ber(mid) < target_ber else (low, mid)
        return cls(tuple(log10_current), tuple(float(v) for v in high * rel), thresholds, name)


def fit_fefet_mlc(states, currents, thresholds=None, name: str = "FeFET MLC (fitted)") -> FeFETMLC:
    """Fit a :class:`FeFETMLC` to a measurement table of (target state, read current in A).

    Each state's log10-current mean and standard deviation are their sample estimates (maximum likelihood
    of the log-normal model); thresholds are the given ones, or midway between the fitted means.

    Args:
        states: target (written) state of each measured cell, values 0-3; every state needs >= 2 cells.
        currents: measured read current of each cell, in A (> 0).
        thresholds: the read thresholds used, log10(current / A), or ``None``.
    """
    s = np.asarray(states)
    i = np.asarray(currents, dtype=float)
    if s.shape != i.shape or s.ndim != 1:
        raise ValueError(f"states and currents must be 1-D of the same length; got {s.shape} and {i.shape}")
    if not np.all(np.isin(s, [0, 1, 2, 3])):
        raise ValueError("states must hold the target states 0, 1, 2, 3 only")
    if not np.all(np.isfinite(i)) or not np.all(i > 0):
        raise ValueError("currents must be finite and positive (in A)")
    logi = np.log10(i)
    mu, sd = [], []
    for state in range(4):
        values = logi[s == state]
        if len(values) < 2:
            raise ValueError(f"state {state} has {len(values)} measured cells; the fit needs at least 2 per state")
        mu.append(float(values.mean()))
        sd.append(float(values.std(ddof=1)))
    order = np.argsort(mu)
    if not np.array_equal(order, np.arange(4)):
        raise ValueError(f"fitted mean currents are not increasing with the state: {mu}")
    return FeFETMLC(tuple(mu), tuple(sd), None if thresholds is None else tuple(thresholds), name)


def sample_reads(matrix: torch.Tensor, written: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Read back cells written to ``written`` (int64 states) through ``matrix``; same shape as ``written``.

    Inverse-CDF sampling: one uniform number per cell compared with the cumulative row of its state.
    """
    cumulative = torch.cumsum(matrix.to(torch.float64), dim=1)
    cumulative[:, -1] = 1.0
    u = torch.rand(written.shape, generator=generator, dtype=torch.float64)
    rows = cumulative[written]  # (..., L)
    return (u.unsqueeze(-1) >= rows[..., :-1]).sum(-1)


@dataclass(frozen=True)
class MeasurementCampaign:
    """A simulated (or real) array measurement like the paper's Fig. 2.

    Attributes:
        written: target states, shape (arrays, wordlines, bitlines).
        currents: read currents in A, same shape.
        read: states read back with the device's thresholds, same shape.
    """

    written: torch.Tensor
    currents: torch.Tensor
    read: torch.Tensor
    device: FeFETMLC = field(repr=False)

    @property
    def error_rate(self) -> float:
        return float((self.read != self.written).double().mean())

    def empirical_matrix(self) -> torch.Tensor:
        """Counts of (written, read) pairs normalized per written state."""
        counts = torch.zeros(4, 4, dtype=torch.float64)
        counts.index_put_((self.written.flatten(), self.read.flatten()),
                          torch.ones(self.written.numel(), dtype=torch.float64), accumulate=True)
        return counts / counts.sum(1, keepdim=True).clamp_min(1)


def simulate_campaign(device: FeFETMLC, arrays: int = 25, wordlines: int = 9, bitlines: int = 7,
                      seed: int = 0) -> MeasurementCampaign:
    """Program a uniform random 2-bit pattern into ``arrays`` arrays of ``wordlines`` x ``bitlines`` cells and
    read them back (the paper's campaign: 25 arrays of 9 x 7 FeFETs)."""
    for name, value in (("arrays", arrays), ("wordlines", wordlines), ("bitlines", bitlines)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    generator = torch.Generator().manual_seed(int(seed))
    written = torch.randint(0, 4, (arrays, wordlines, bitlines), generator=generator)
    currents = device.sample_currents(written, generator)
    return MeasurementCampaign(written, currents, device.read_states(currents), device)
