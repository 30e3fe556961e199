"""The cached computation of the chapter "Validation and one-epoch compensation"
(:mod:`imckit.experiments.compensation`): the compensation runs of its solutions, in the method's mode and
in its ablation modes (``CompensationConfig.mode``, part of each run's key: a mode's runs are cached on
their own, and with the same seed every mode compensates the same error patterns).

The cache rule of the chapters: a cached computation's key names the module that holds its compute code,
and that module holds nothing else (no sentences, plots or result classes), so that editing a chapter's
text or figures never invalidates an expensive result, while editing anything that computes it does.
:func:`compensation_runs` is keyed by ``code_version("imckit.experiments.compensation_steps")``, which covers
this source and, through its imports, :mod:`imckit.compensation.compensate` and everything it calls.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import torch

from imckit.compensation.compensate import CompensationConfig, CompensationResult, compensate
from imckit.core.cache import cached, model_data_digest
from imckit.core.compute import cache_device, resolve_device
from imckit.core.validate import check_count, check_seed
from imckit.core.data import ImageTensors
from imckit.injection.errors import QuantSpec
from imckit.memory.devices import SLC, FeFETMLC

__all__ = ["CODE", "CompensationRun", "compensation_runs"]

CODE = ("imckit.experiments.compensation_steps",)  # the code behind the cached runs


@dataclass(frozen=True, eq=False)
class CompensationRun:
    """One solution's compensation runs (in one mode).

    Attributes:
        result: per error pattern, the accuracy and loss before and after compensation (the same pattern and
            images: a paired measurement) and the faulty share.
        seconds: how long the runs took when they were computed (read back from the cache afterwards).
        from_cache: whether they were read from the cache.
    """

    result: CompensationResult
    seconds: float
    from_cache: bool


def compensation_runs(model, train_data: ImageTensors, test_data: ImageTensors, solutions: dict, patterns: int,
                      seed: int, config: CompensationConfig, mlc=FeFETMLC(), slc=SLC(), quant: QuantSpec = QuantSpec(),
                      cache=None, device: str = "cpu") -> dict[str, CompensationRun]:
    """:func:`imckit.compensation.compensate` of several configured networks (``solutions``: name -> layer
    name -> :class:`imckit.memory.cells.CellConfig`) on ``device``, each cached on its own by the model, both
    image sets, its configurations, the devices, the patterns, the seed, the training settings, the device
    type (when not the CPU) and the code (this module's and the compensation's); the model and images are
    digested once for all. ``config.mode`` selects the method (``"full"``) or an ablation. Returns name ->
    :class:`CompensationRun`."""
    for name, value, kind in (("config", config, CompensationConfig), ("quant", quant, QuantSpec)):
        if not isinstance(value, kind):
            raise TypeError(f"{name} must be a {kind.__name__}; got {type(value).__name__}")
    patterns, seed = check_count(patterns, "patterns"), check_seed(seed)
    resolve_device(device)  # before any work
    if not isinstance(solutions, Mapping):
        raise TypeError(f"solutions must be a mapping name -> layer name -> CellConfig; got {type(solutions).__name__}")
    common = {"model_test": model_data_digest(model, test_data), "model_train": model_data_digest(model, train_data),
              "mlc": mlc.transition_matrix().tolist(), "slc": slc.transition_matrix().tolist(),
              "patterns": patterns, "seed": seed, "quant": asdict(quant), "config": asdict(config),
              "device": cache_device(device)}
    runs = {}
    for name, layer_configs in solutions.items():
        def compute(layer_configs=layer_configs):
            started = time.perf_counter()
            result = compensate(model, train_data, test_data, layer_configs, mlc=mlc, slc=slc, patterns=patterns,
                                seed=seed, quant=quant, config=config, progress=False, device=device)
            return {"seconds": time.perf_counter() - started,
                    **{k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in asdict(result).items()}}

        description = {**common, "layer_configs": {layer: asdict(c) for layer, c in layer_configs.items()}}
        value, from_cache = cached("compensation", description, compute, code=CODE, cache=cache)
        result = CompensationResult(**{k: v.numpy() for k, v in value.items() if k != "seconds"})
        runs[name] = CompensationRun(result, float(value["seconds"]), from_cache)
    return runs
