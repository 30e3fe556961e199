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

from imckit.core.validate import (check_count, check_finite, check_generator, check_number,
                                  check_probability, check_seed, check_tensor)

__all__ = [
    "FeFETMLC", "SLC", "TransitionMatrixDevice", "fit_fefet_mlc", "validate_transition_matrix", "check_device",
    "bit_error_rate", "sample_reads", "MeasurementCampaign", "simulate_campaign",
]


def _as_float64(values, name: str, what: str) -> torch.Tensor:
    """``values`` (a tensor, an array or nested lists of real numbers) as a float64 CPU tensor; strings, bools,
    ragged lists and complex numbers are a :class:`TypeError` naming ``name``."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu()
        if values.dtype == torch.bool or values.is_complex():
            raise TypeError(f"{name} must be {what}; got a tensor of dtype {values.dtype}")
        return values.to(torch.float64)
    try:
        array = np.asarray(values)
        if array.dtype == bool or array.dtype.kind not in "iuf":
            raise TypeError
        return torch.as_tensor(array.astype(np.float64))
    except (TypeError, ValueError):
        shown = repr(values) if len(repr(values)) <= 80 else repr(values)[:77] + "..."
        raise TypeError(f"{name} must be {what}; got {shown}") from None


def validate_transition_matrix(matrix, name: str = "transition matrix") -> torch.Tensor:
    """Check a read-error matrix and return it as a float64 tensor.

    It must be square with a power-of-two size of at least 2 (2**bits states), of real numbers (not
    booleans), finite, non-negative, and each row must sum to 1 within 1e-6 (a stochastic matrix). Raises
    :class:`ValueError` (:class:`TypeError` for what is no matrix of numbers) whose message starts with
    ``name``.
    """
    what = "a square stochastic matrix (rows of probabilities summing to 1)"
    m = _as_float64(matrix, name, what)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"{name} must be a square 2-D matrix; got shape {tuple(m.shape)}")
    n = m.shape[0]
    if n < 2 or n & (n - 1):
        raise ValueError(f"{name} must have a size that is a power of two >= 2 (2**bits_per_cell states); "
                         f"got {n}")
    check_finite(m, name)
    if (m < 0).any():
        raise ValueError(f"{name} must have non-negative entries; got {m.min().item()!r}")
    sums = m.sum(1)
    bad = (sums - 1).abs() > 1e-6
    if bad.any():
        row = int(bad.nonzero()[0])
        raise ValueError(f"{name} rows must sum to 1 within 1e-6; row {row} sums to {sums[row].item():.8f}")
    return m


def check_device(device, name: str = "device", bits_per_cell: int | None = None) -> torch.Tensor:
    """The validated transition matrix (float64) of a device object, checked where the device is used.

    ``device`` must have an integer ``bits_per_cell`` (equal to ``bits_per_cell`` when given) and a
    ``transition_matrix()`` that returns a stochastic matrix (:func:`validate_transition_matrix`) of
    ``2**bits_per_cell`` states. A frozen dataclass validates its matrix once, but any object with these
    two members is a device, so the injection path checks it again here.
    """
    if not hasattr(device, "bits_per_cell") or not callable(getattr(device, "transition_matrix", None)):
        raise TypeError(f"{name} must be a device (with bits_per_cell and transition_matrix()); "
                        f"got {type(device).__name__}")
    width = device.bits_per_cell
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or \
            (bits_per_cell is not None and width != bits_per_cell):
        allowed = f"={bits_per_cell}" if bits_per_cell is not None else " an integer >= 1"
        raise ValueError(f"{name} device must have bits_per_cell{allowed}; got {width!r}")
    matrix = validate_transition_matrix(device.transition_matrix(), f"{name} transition matrix")
    if len(matrix) != 2**int(width):
        raise ValueError(f"{name} transition matrix must have 2**bits_per_cell = {2 ** int(width)} states; "
                         f"got {len(matrix)}")
    return matrix


def bit_error_rate(matrix) -> float:
    """Probability that a cell reads back another state, for a uniform random pattern of written states.

    This is the paper's "bit error rate" of its MLC campaign: its Fig. 2c counts errors per FeFET, with
    their distance in states, so an error is a cell read in a wrong state (one that may flip one or both
    of its bits), not a count of flipped bits.
    """
    m = validate_transition_matrix(matrix, "matrix")
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
        m = validate_transition_matrix(self.matrix, "matrix")
        _check_name(self.name)
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
        check_probability(self.error_rate, "error_rate")  # checked, not converted (the field keeps its key)
        _check_name(self.name)

    bits_per_cell = 1

    def transition_matrix(self) -> torch.Tensor:
        p = float(self.error_rate)
        return torch.tensor([[1 - p, p], [p, 1 - p]], dtype=torch.float64)


def _check_name(name) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a string; got {type(name).__name__}")
    return name


def _check_increasing(values, name: str, count: int, what: str) -> np.ndarray:
    array = _as_float64(values, name, f"{count} {what}").numpy()
    if array.shape != (count,) or not np.all(np.isfinite(array)) or not np.all(np.diff(array) > 0):
        raise ValueError(f"{name} must be {count} finite, strictly increasing values ({what}); got {values!r}")
    return array


def _check_positive(values, name: str, count: int, what: str) -> np.ndarray:
    array = _as_float64(values, name, f"{count} positive values ({what})").numpy()
    if array.shape != (count,) or not np.all(np.isfinite(array)) or not np.all(array > 0):
        raise ValueError(f"{name} must be {count} positive values ({what}); got {values!r}")
    return array


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
        _check_increasing(self.log10_current, "log10_current", 4, "log10 of A")
        _check_positive(self.sigma_decades, "sigma_decades", 4, "decades")
        if self.thresholds is not None:
            _check_increasing(self.thresholds, "thresholds", 3, "log10 of A; or None")
        _check_name(self.name)

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
        """Read currents (A) of cells written to ``states`` (an integer tensor of values 0-3); ``generator``
        a ``torch.Generator`` or a seed."""
        states = _check_states(states, "states", 3)
        generator = check_generator(generator)
        mu = torch.tensor(self.log10_current, dtype=torch.float64)[states]
        sd = torch.tensor(self.sigma_decades, dtype=torch.float64)[states]
        z = torch.randn(states.shape, generator=generator, dtype=torch.float64)
        return torch.pow(10.0, mu + sd * z)

    def read_states(self, currents: torch.Tensor) -> torch.Tensor:
        """The state a sense amplifier reads for each current (comparison with the read thresholds); currents
        are finite and positive (A)."""
        currents = _check_currents(currents, "currents")
        return torch.bucketize(torch.log10(currents), self.read_thresholds())

    @classmethod
    def calibrated(cls, target_ber: float = 0.04, log10_current=(-8.0, -7.0, -6.0, -5.0),
                   relative_sigma=(1.0, 1.3, 1.2, 0.8), thresholds=None, name: str = "FeFET MLC") -> "FeFETMLC":
        """The model whose spreads ``s * relative_sigma`` give ``target_ber`` on a uniform random pattern.

        ``s`` is found by bisection (the BER grows monotonically with ``s``).
        """
        check_number(target_ber, "target_ber", 0, 0.7, low_open=True, high_open=True)
        rel = _check_positive(relative_sigma, "relative_sigma", 4, "relative spreads")
        _check_increasing(log10_current, "log10_current", 4, "log10 of A")
        if thresholds is not None:
            _check_increasing(thresholds, "thresholds", 3, "log10 of A; or None")
        _check_name(name)

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
    s = _check_states(states, "states", 3).numpy()
    i = _check_currents(currents, "currents").numpy()
    if s.shape != i.shape or s.ndim != 1:
        raise ValueError(f"states and currents must be 1-D of the same length; got {s.shape} and {i.shape}")
    if thresholds is not None:
        _check_increasing(thresholds, "thresholds", 3, "log10 of A; or None")
    _check_name(name)
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


def _check_states(states, name: str, top: int) -> torch.Tensor:
    """``states`` as an int64 CPU tensor of integers in [0, top] (a tensor, array or list; floats and bools
    are a :class:`TypeError`, never truncated)."""
    if not isinstance(states, torch.Tensor):
        array = np.asarray(states)
        if array.dtype == bool or array.dtype.kind not in "iu":
            raise TypeError(f"{name} must be integer states in [0, {top}]; got dtype {array.dtype}")
        states = torch.as_tensor(array.astype(np.int64))
    check_tensor(states, name, nonempty=False)
    if states.is_floating_point() or states.is_complex() or states.dtype == torch.bool:
        raise TypeError(f"{name} must be integer states in [0, {top}]; got dtype {states.dtype}")
    if states.numel():
        low, high = int(states.min()), int(states.max())
        if low < 0 or high > top:
            raise ValueError(f"{name} must be integer states in [0, {top}]; got {low if low < 0 else high}")
    return states.to(torch.int64)


def _check_currents(currents, name: str) -> torch.Tensor:
    currents = _as_float64(currents, name, "finite positive currents (A)")
    check_finite(currents, name)
    if currents.numel() and not bool((currents > 0).all()):
        raise ValueError(f"{name} must be finite and positive (in A); got {currents.min().item()!r}")
    return currents


def sample_reads(matrix: torch.Tensor, written: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Read back cells written to ``written`` (integer states) through ``matrix``; same shape as ``written``.

    ``matrix`` is validated (:func:`validate_transition_matrix`), ``written`` must hold states in
    ``[0, len(matrix) - 1]``, ``generator`` is a ``torch.Generator`` or a seed. Inverse-CDF sampling: one
    uniform number per cell compared with the cumulative row of its state.
    """
    matrix = validate_transition_matrix(matrix, "matrix")
    if not isinstance(written, torch.Tensor):
        raise TypeError(f"written must be a torch.Tensor of states; got {type(written).__name__}")
    written = _check_states(written, "written", len(matrix) - 1)
    generator = check_generator(generator)
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

    def __post_init__(self):
        if not isinstance(self.device, FeFETMLC):
            raise TypeError(f"device must be a FeFETMLC; got {type(self.device).__name__}")
        for name in ("written", "currents", "read"):
            if not isinstance(getattr(self, name), torch.Tensor):
                raise TypeError(f"{name} must be a torch.Tensor; got {type(getattr(self, name)).__name__}")
        _check_states(self.written, "written", 3)
        _check_states(self.read, "read", 3)
        _check_currents(self.currents, "currents")
        for name in ("currents", "read"):
            if getattr(self, name).shape != self.written.shape:
                raise ValueError(f"{name} must have the shape of written {tuple(self.written.shape)}; "
                                 f"got {tuple(getattr(self, name).shape)}")

    @property
    def error_rate(self) -> float:
        return float((self.read != self.written).double().mean())

    def empirical_matrix(self) -> torch.Tensor:
        """Counts of (written, read) pairs normalized per written state."""
        counts = torch.zeros(4, 4, dtype=torch.float64)
        counts.index_put_((self.written.flatten(), self.read.flatten()),
                          torch.ones(self.written.numel(), dtype=torch.float64), accumulate=True)
        return counts / counts.sum(1, keepdim=True).clamp_min(1)


_MAX_CAMPAIGN_CELLS = 10**8  # 2.4 GB of float64 currents and int64 states: beyond it a campaign cannot fit


def simulate_campaign(device: FeFETMLC, arrays: int = 25, wordlines: int = 9, bitlines: int = 7,
                      seed: int = 0) -> MeasurementCampaign:
    """Program a uniform random 2-bit pattern into ``arrays`` arrays of ``wordlines`` x ``bitlines`` cells and
    read them back (the paper's campaign: 25 arrays of 9 x 7 FeFETs)."""
    if not isinstance(device, FeFETMLC):
        raise TypeError(f"device must be a FeFETMLC (it samples read currents); got {type(device).__name__}")
    arrays, wordlines, bitlines = (check_count(value, name) for name, value in
                                   (("arrays", arrays), ("wordlines", wordlines), ("bitlines", bitlines)))
    if arrays * wordlines * bitlines > _MAX_CAMPAIGN_CELLS:
        raise ValueError(f"arrays must keep arrays * wordlines * bitlines at most {_MAX_CAMPAIGN_CELLS:,} cells; "
                         f"got {arrays} * {wordlines} * {bitlines} = {arrays * wordlines * bitlines:.3g}")
    generator = torch.Generator().manual_seed(check_seed(seed))
    written = torch.randint(0, 4, (arrays, wordlines, bitlines), generator=generator)
    currents = device.sample_currents(written, generator)
    return MeasurementCampaign(written, currents, device.read_states(currents), device)
