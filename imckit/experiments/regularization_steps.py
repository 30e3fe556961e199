"""The cached computations of the chapter "Fault- and variability-aware training"
(:mod:`imckit.experiments.regularization`): its fine-tunes and the points of its two sweeps.

The cache rule of the chapters: a cached computation's key names the module that holds its compute code,
and that module holds nothing else (no sentences, plots or result classes), so that editing a chapter's
text or figures never invalidates an expensive result, while editing anything that computes it does. Every
value here is keyed by ``code_version("imckit.experiments.regularization_steps")``, which covers this source
and, through its imports, :mod:`imckit.qat.training` and everything it calls. Descriptions hold
:func:`imckit.core.cache.digest` s of the start network (with its quantizers), the images and the fault map or
chip, the settings, and the device type when it is not the CPU (:func:`imckit.core.compute.cache_device`);
the values are plain data (state dicts, accuracies, the measured seconds), so a warm run reports the cold
run's times.

Devices: ``device`` (``"cpu"``, ``"cuda"``, ``"auto"``) is where the fine-tunes and evaluations run; fault
maps and chips are drawn on the CPU with seeded generators; networks are kept and cached on the CPU.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn

from imckit.core.cache import cached, digest
from imckit.core.compute import cache_device, resolve_device
from imckit.core.data import ImageTensors
from imckit.core.validate import SEED_MAX, check_int, check_seed
from imckit.qat.faults import MITIGATIONS, FaultMap, faulty_weight_share, layer_fault_maps
from imckit.qat.quantizers import LevelQuantizer
from imckit.core.training import evaluate
from imckit.qat.training import QATConfig, QATResult, attach_input_quantizers, deploy, train_qat
from imckit.qat.variability import layer_lrs_multipliers

__all__ = ["CODE", "SWEEPS", "FAULT_REFERENCES", "VARIABILITY_REFERENCES", "VARIABILITY_METHODS", "FineTune",
           "fine_tune", "accuracy", "deployed_accuracy", "chip_seeds", "sweep_point"]

CODE = ("imckit.experiments.regularization_steps",)  # the code behind every cached value of the chapter

SWEEPS = ("faults", "variability")
FAULT_REFERENCES = ("no fine-tuning, naive", "no fine-tuning, nearest valid")
VARIABILITY_REFERENCES = ("no fine-tuning, ideal mapping", "no fine-tuning, aware mapping")
VARIABILITY_METHODS = ("variability-aware", "chip-in-loop")
SEED_LIMIT = (SEED_MAX - 999 - 10**6 * 100) // 1000
"""The largest seed of the chapter: every chip's generator seed (:func:`chip_seeds`) stays a seed."""


def accuracy(model: nn.Module, data: ImageTensors, weights=None, device: str = "cpu") -> float:
    """Accuracy (share, 0-1) of ``model`` on ``data`` with ``weights`` (module -> weight) in place
    (:func:`imckit.core.training.evaluate`: LSQ input quantizers honoured)."""
    return float(evaluate(model, data, weights=weights, device=device).accuracy)


def deployed_accuracy(result: QATResult, data: ImageTensors, device: str = "cpu", **deployment) -> float:
    """Accuracy (%) of ``result`` on ``data`` after writing it into cells
    (:func:`imckit.qat.training.deploy`'s ``faults``, ``mapping``, ``variability``, ``aware``)."""
    return 100 * accuracy(result.model, data, deploy(result, **deployment), device)


# --------------------------------------------------------------------------------------------------------
# fine-tunes


def _state(result: QATResult) -> dict:
    """A fine-tune as plain data: the network's and the quantizers' state dicts (CPU) and the history."""
    return {"model": {k: v.detach().cpu().clone() for k, v in result.model.state_dict().items()},
            "quantizers": {m: {k: v.detach().cpu().clone() for k, v in q.state_dict().items()}
                           for m, q in result.quantizers.items()},
            "history": {k: [float(x) for x in v] for k, v in result.history.items()}}


def _restore(model: nn.Module, state: dict, config: QATConfig) -> QATResult:
    """The :class:`QATResult` of :func:`_state` on a copy of the network it was trained from."""
    work = copy.deepcopy(model).cpu().eval()
    if config.activation_bits is not None:  # the LSQ input quantizers train_qat attached, before their state loads
        attach_input_quantizers(work, list(state["quantizers"]), config.activation_bits)
    work.load_state_dict(state["model"])
    quantizers = {}
    for m, values in state["quantizers"].items():
        quantizers[m] = LevelQuantizer(config.bits, config.kind, work.get_submodule(m).weight)
        quantizers[m].load_state_dict(values)
    for p in list(work.parameters()) + [p for q in quantizers.values() for p in q.parameters()]:
        p.requires_grad_(False)
    return QATResult(work, quantizers, config, {k: list(v) for k, v in state["history"].items()})


@dataclass(frozen=True, eq=False)
class FineTune:
    """One (cached) fine-tune: the result, the seconds it took when it ran, whether it came from the cache."""

    result: QATResult
    seconds: float
    from_cache: bool


def fine_tune(model: nn.Module, train_set: ImageTensors, config: QATConfig, seed: int, *, quantizers=None,
              faults: dict[str, FaultMap] | None = None, mitigation: str | None = None, remaps: int = 5,
              variability: dict[str, torch.Tensor] | None = None, variability_mode: str | None = None,
              device: str = "cpu", cache=None, progress: bool = False) -> FineTune:
    """:func:`imckit.qat.training.train_qat` through the cache (same arguments; ``cache``: the cache folder,
    ``None`` the default). The key holds digests of ``model`` (and ``quantizers``), ``train_set``, the fault
    map or chip, the settings, the device type (not the CPU) and the code; the value the trained state and
    the seconds."""
    if not isinstance(config, QATConfig):
        raise TypeError(f"config must be a QATConfig; got {type(config).__name__}")
    seed = check_seed(seed)
    target = resolve_device(device)
    description = {
        "start": digest(model, quantizers or {}), "train": digest(train_set), "config": asdict(config),
        "seed": seed, "faults": digest(faults) if faults is not None else None, "mitigation": mitigation,
        "remaps": remaps, "variability": digest(variability) if variability is not None else None,
        "variability_mode": variability_mode, "device": cache_device(target),
    }

    def compute():
        started = time.perf_counter()
        result = train_qat(model, train_set, config, seed=seed, quantizers=quantizers, faults=faults,
                           mitigation=mitigation, remaps=remaps, variability=variability,
                           variability_mode=variability_mode, progress=progress, device=target)
        return {"state": _state(result), "seconds": time.perf_counter() - started}

    value, hit = cached("regularization-fine-tune", description, compute, code=CODE, cache=cache)
    return FineTune(_restore(model, value["state"], config), float(value["seconds"]), hit)


# --------------------------------------------------------------------------------------------------------
# one point of a sweep


def _fault_setting(cells, remaps: int):
    """The fault sweep's columns: references deployed without fine-tuning (name -> deployment) and methods
    (name -> (fine-tune arguments, deployment))."""
    references = {name: {"faults": cells, "mapping": mapping}
                  for name, mapping in zip(FAULT_REFERENCES, ("naive", "nearest_valid"))}
    methods = {m: ({"faults": cells, "mitigation": m, "remaps": remaps},
                   {"faults": cells, "mapping": "nearest_valid" if "passive" in m else "naive"}) for m in MITIGATIONS}
    return references, methods


def _variability_setting(chip):
    """The variability sweep's columns (as :func:`_fault_setting`)."""
    references = {name: {"variability": chip, "aware": aware}
                  for name, aware in zip(VARIABILITY_REFERENCES, (False, True))}
    methods = {name: ({"variability": chip, "variability_mode": mode}, {"variability": chip, "aware": aware})
               for name, mode, aware in zip(VARIABILITY_METHODS, ("aware", "chip_in_loop"), (True, False))}
    return references, methods


def chip_seeds(kind: str, seed: int, index: int, chip: int = 0) -> tuple[int, int]:
    """``(generator seed, fine-tune seed)`` of chip ``chip`` (a fault map or an LRS map) at point ``index``
    of a sweep: ``1000 seed + index`` (faults) or ``1000 seed + 500 + index`` (variability), plus
    ``10^6 chip``; the fine-tunes' batch orders ``seed + index + 1000 chip``. Chip 0 is the sweep's."""
    if kind not in SWEEPS:
        raise ValueError(f"kind must be one of {SWEEPS}; got {kind!r}")
    chip, index = check_int(chip, "chip", 0, 99), check_int(index, "index", 0, 499)
    seed = check_int(check_seed(seed), "seed", 0, SEED_LIMIT)
    return seed * 1000 + (0 if kind == "faults" else 500) + index + 10**6 * chip, seed + index + 1000 * chip


def sweep_point(kind: str, start: QATResult, train_set: ImageTensors, test_set: ImageTensors, modules: list[str],
                value: float, index: int, seed: int, *, tune: QATConfig, sa1_share: float = 0.5, remaps: int = 5,
                chip: int = 0, device: str = "cpu", cache=None, progress: bool = False) -> tuple[dict, bool]:
    """One point of the fault sweep (``kind="faults"``, ``value`` a bit-fault rate) or of the variability
    sweep (``"variability"``, ``value`` the LRS's sigma/mu), cached as a whole.

    The chip is drawn on the CPU for ``modules`` of ``start`` (``tune.bits`` bits per weight) with the
    generator seed of :func:`chip_seeds` (``kind``, ``seed``, ``index``, ``chip``; faults stuck at 1 with
    share ``sa1_share``). ``start`` is deployed onto it without fine-tuning (the references), then
    fine-tuned with ``tune`` and the fine-tune seed of :func:`chip_seeds` by each method (the four
    mitigation levels with ``remaps`` remappings; variability-aware and chip-in-loop training) and deployed.
    A fault rate of 0 leaves nothing for the mitigation levels to differ in (no stuck cell, no remapping,
    every level valid): one fine-tune without faults stands for all four.

    Returns ``(value, from_cache)``: ``value["row"]`` the table row (the swept value first: bit-fault rate
    in % with the share of faulty weights in %, or sigma/mu; then the accuracies in %), ``value["seconds"]``
    the seconds of each fine-tune and ``value["computed"]`` how many fine-tunes ran (not from the cache).
    """
    generator_seed, tune_seed = chip_seeds(kind, seed, index, chip)
    description = {"start": digest(start.model, start.quantizers), "train": digest(train_set),
                   "test": digest(test_set), "modules": list(modules), "value": value, "generator": generator_seed,
                   "seed": tune_seed, "tune": asdict(tune), "device": cache_device(device),
                   **({"sa1_share": sa1_share, "remaps": remaps} if kind == "faults" else {})}

    def compute():
        generator = torch.Generator().manual_seed(generator_seed)
        sizes = {m: start.model.get_submodule(m).weight.numel() for m in modules}
        if kind == "faults":
            cells = layer_fault_maps(sizes, tune.bits, value, generator, sa1_share)
            row = {"bit-fault rate (%)": 100 * value, "faulty weights (%)": 100 * faulty_weight_share(cells)}
            references, methods = _fault_setting(cells, remaps)
        else:
            row = {"σ/μ": value}
            references, methods = _variability_setting(layer_lrs_multipliers(sizes, tune.bits, value, generator))
        for name, deployment in references.items():
            row[name] = deployed_accuracy(start, test_set, device, **deployment)
        seconds, computed = [], 0
        if kind == "faults" and value == 0:  # fault-free: the four levels train and deploy the same network
            tuned = fine_tune(start.model, train_set, tune, tune_seed, quantizers=start.quantizers, device=device,
                              cache=cache, progress=progress)
            seconds.append(tuned.seconds)
            computed += not tuned.from_cache
            accuracy_ = deployed_accuracy(tuned.result, test_set, device)
            row.update({name: accuracy_ for name in methods})
            return {"row": row, "seconds": seconds, "computed": computed}
        for name, (training, deployment) in methods.items():
            tuned = fine_tune(start.model, train_set, tune, tune_seed, quantizers=start.quantizers, device=device,
                              cache=cache, progress=progress, **training)
            seconds.append(tuned.seconds)
            computed += not tuned.from_cache
            row[name] = deployed_accuracy(tuned.result, test_set, device, **deployment)
        return {"row": row, "seconds": seconds, "computed": computed}

    return cached(f"regularization-{'fault' if kind == 'faults' else 'variability'}-point", description, compute,
                  code=CODE, cache=cache)
