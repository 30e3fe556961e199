"""Chapter "FeFET multi-level cells": the device model, the simulated measurement campaign, the fit.

Seed paper 000 (Sec. II-A, Fig. 2) measured 25 arrays of 9 x 7 two-bit FeFETs and reports an average bit
error rate of 4 %, mostly into neighbouring states. :func:`run` calibrates the kit's
:class:`imckit.memory.devices.FeFETMLC` to that rate, simulates the campaign (Fig. 2b-d) and fits the model
back from a larger simulated campaign, as a user would from their own measurements. Everything here costs
milliseconds, so nothing is cached.

The cache rule of the chapters: a cached computation's key names only the modules that compute it (a
``<chapter>_steps`` module of :mod:`imckit.experiments`, or a module of the library), never a chapter module
with sentences, plots or result classes, so editing a chapter's text invalidates no expensive result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from imckit.core.profiles import check_profile
from imckit.core.validate import check_count, check_number, check_tensor
from imckit.experiments.checks import check_config, check_seed_plus
from imckit.memory.devices import FeFETMLC, MeasurementCampaign, bit_error_rate, fit_fefet_mlc, simulate_campaign

__all__ = ["FefetConfig", "FefetResult", "state_table", "far_error_share", "neighbour_share", "run", "scorecard"]


@dataclass(frozen=True)
class FefetConfig:
    """The device model and the simulated campaigns.

    Attributes:
        target_ber: average bit error rate of a uniform random 2-bit pattern the model is calibrated to,
            a share in (0, 0.7) (the paper: 0.04).
        arrays: arrays of the simulated campaign (the paper: 25).
        wordlines: wordlines per array (the paper: 9).
        bitlines: bitlines per array (the paper: 7).
        fit_arrays: arrays of the larger simulated campaign the model is fitted back from.
        seed: seed of the campaign's pattern and read currents (the fit's campaign uses ``seed + 1``).
    """

    target_ber: float = 0.04
    arrays: int = 25
    wordlines: int = 9
    bitlines: int = 7
    fit_arrays: int = 400
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "target_ber", check_number(self.target_ber, "target_ber", 0, 0.7,
                                                            low_open=True, high_open=True))
        for name in ("arrays", "wordlines", "bitlines", "fit_arrays"):
            object.__setattr__(self, name, check_count(getattr(self, name), name, 1, 100_000))
        object.__setattr__(self, "seed", check_seed_plus(self.seed, "seed", extra=1))  # the fit's campaign: seed + 1

    @classmethod
    def preset(cls, profile: str, seed: int = 0, target_ber: float = 0.04, arrays: int = 25,
               wordlines: int = 9, bitlines: int = 7, fit_arrays: int = 400) -> "FefetConfig":
        """The chapter's settings. The chapter costs milliseconds, so every profile runs the paper's campaign
        (25 arrays of 9 x 7 cells) and a fit from 400 arrays; the profile is checked and otherwise unused."""
        check_profile(profile)
        return cls(target_ber, arrays, wordlines, bitlines, fit_arrays, seed)


def state_table(device: FeFETMLC):
    """Per written state: mean and spread of log10 of the read current and the state's error rate (%)."""
    import pandas as pd

    check_config(device, "device", FeFETMLC)
    matrix = device.transition_matrix()
    return pd.DataFrame({
        "mean log10(I / A)": list(device.log10_current),
        "sigma (decades)": list(device.sigma_decades),
        "error rate (%)": (100 * (1 - torch.diagonal(matrix))).tolist(),
    }, index=pd.Index(range(matrix.shape[0]), name="written state"))


def far_error_share(matrix) -> float:
    """The share (0-1) of all read errors of a uniform random pattern that jump two or more states:
    the mean over written states of P(read j | written i) for |i - j| > 1, divided by the bit error rate.
    0 for an error-free matrix."""
    try:
        matrix = torch.as_tensor(matrix, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"matrix must be a square matrix of probabilities; got {type(matrix).__name__}") from None
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"matrix must be square; got shape {tuple(matrix.shape)}")
    check_tensor(matrix, "matrix")
    if bool((matrix < 0).any()) or bool((matrix > 1).any()):
        raise ValueError(f"matrix must be a matrix of probabilities in [0, 1]; got values from {float(matrix.min())} "
                         f"to {float(matrix.max())}")
    n = matrix.shape[0]
    distance = (torch.arange(n)[:, None] - torch.arange(n)[None, :]).abs()
    far = float(matrix[distance > 1].sum()) / n
    ber = bit_error_rate(matrix)
    return far / ber if ber > 0 else 0.0


def neighbour_share(written, read) -> float:
    """The share (%) of a campaign's read errors that land in a neighbouring state (100 when there is no
    error: no error jumped further)."""
    written, read = torch.as_tensor(written), torch.as_tensor(read)
    if written.shape != read.shape:
        raise ValueError(f"written and read must have the same shape; got {tuple(written.shape)} and "
                         f"{tuple(read.shape)}")
    distance = (read - written).abs()[read != written]
    return 100 * float((distance == 1).double().mean()) if len(distance) else 100.0


@dataclass(frozen=True, eq=False)
class FefetResult:
    """What the chapter shows.

    Attributes:
        config: the configuration it ran with.
        device: the calibrated model.
        states: :func:`state_table` of the model.
        campaign: the simulated campaign (Fig. 2b-d).
        fit_campaign: the larger campaign the model is fitted from.
        fitted: the model fitted from ``fit_campaign``.
    """

    config: FefetConfig
    device: FeFETMLC
    states: object  # pandas.DataFrame
    campaign: MeasurementCampaign
    fit_campaign: MeasurementCampaign
    fitted: FeFETMLC

    @property
    def matrix(self) -> torch.Tensor:
        """The model's transition matrix P(read j | written i)."""
        return self.device.transition_matrix()

    @property
    def model_ber(self) -> float:
        """The model's bit error rate (share)."""
        return bit_error_rate(self.matrix)

    @property
    def state_error_rates(self) -> np.ndarray:
        """Each written state's error rate (%)."""
        return self.states["error rate (%)"].to_numpy()

    @property
    def far_share(self) -> float:
        """The share (0-1) of errors that jump two or more states (:func:`far_error_share`)."""
        return far_error_share(self.matrix)

    @property
    def campaign_errors(self) -> int:
        """Cells of the campaign read in a wrong state."""
        return int((self.campaign.read != self.campaign.written).sum())

    @property
    def campaign_neighbour_share(self) -> float:
        """The share (%) of the campaign's errors that land in a neighbouring state."""
        return neighbour_share(self.campaign.written, self.campaign.read)

    @property
    def fit_error(self) -> float:
        """The largest absolute difference between the fitted and the true transition matrix (share)."""
        return float((self.fitted.transition_matrix() - self.matrix).abs().max())

    @property
    def fit_ber(self) -> float:
        """The fitted model's bit error rate (share)."""
        return bit_error_rate(self.fitted.transition_matrix())

    def fit_table(self):
        """True against fitted mean and spread of log10(I) per state."""
        import pandas as pd

        return pd.DataFrame({"true mean": list(self.device.log10_current),
                             "fitted mean": list(self.fitted.log10_current),
                             "true sigma": list(self.device.sigma_decades),
                             "fitted sigma": list(self.fitted.sigma_decades)},
                            index=pd.Index(range(len(self.device.log10_current)), name="state"))


def run(config: FefetConfig) -> FefetResult:
    """Calibrate the model, simulate the campaign and fit the model back (see the module docstring)."""
    check_config(config, "config", FefetConfig)
    device = FeFETMLC.calibrated(config.target_ber)
    campaign = simulate_campaign(device, arrays=config.arrays, wordlines=config.wordlines,
                                 bitlines=config.bitlines, seed=config.seed)
    big = simulate_campaign(device, arrays=config.fit_arrays, wordlines=config.wordlines,
                            bitlines=config.bitlines, seed=config.seed + 1)
    fitted = fit_fefet_mlc(big.written.flatten(), big.currents.flatten())
    return FefetResult(config, device, state_table(device), campaign, big, fitted)


def scorecard(result: FefetResult, profile: str):
    """The chapter's "Paper vs this kit" table: the simulated campaign's BER and where its errors land."""
    from imckit.papers import Scorecard

    config = result.config
    cells = config.wordlines * config.bitlines
    card = Scorecard("fefet", profile=profile, setting={
        "dataset": "none (device measurement)", "bits": "2-bit MLC cells",
        "device": "the kit's FeFET MLC model calibrated to the paper's 4 % BER, simulated",
        "other": f"{config.arrays} arrays x {cells} FeFETs, simulated"})
    card.add("000/mlc-average-ber", 100 * result.campaign.error_rate)
    neighbour = result.campaign_neighbour_share
    if result.campaign_errors == 0 or not np.isfinite(neighbour):
        card.add("000/mlc-errors-neighbouring", None, reason="the simulated campaign read no cell wrong")
    else:
        card.add("000/mlc-errors-neighbouring",
                 {"neighbouring state": neighbour, "two or more states away": 100 - neighbour},
                 kit_text=f"{neighbour:.0f} % of errors in a neighbouring state")
    return card
