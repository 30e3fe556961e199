"""The cached computations of the chapter "Hessian and Fisher sensitivity" (:mod:`imckit.experiments.hessian`).

The cache rule of the chapters: a cached computation's key names the module that holds its compute code,
and that module holds nothing else (no sentences, plots or result classes), so that editing a chapter's
text or figures never invalidates an expensive result, while editing anything that computes it does.
This module is that module for the chapter: every step of :class:`HessianSteps` is keyed by
``code_version("imckit.experiments.hessian_steps")``, which covers this source and, through its imports,
the algorithms it calls (:mod:`imckit.crossbars.hessian`, :mod:`~imckit.crossbars.fisher`,
:mod:`~imckit.crossbars.precision`, the engine, the quantizer). Descriptions hold digests of the network
and the images (:func:`imckit.core.cache.model_data_digest`, :func:`imckit.core.cache.digest`), the
settings, and the device type when it is not the CPU (:func:`imckit.core.compute.cache_device`).
"""

from __future__ import annotations

import time

import torch
from torch import nn

from imckit.core.cache import cached, digest, model_data_digest
from imckit.core.compute import cache_device, model_on_device
from imckit.crossbars.fisher import fim_sweep, fim_threshold, fisher_diagonal_halves
from imckit.crossbars.hessian import HessianTrace, hessian_trace
from imckit.crossbars.precision import evaluate_assignments, precision_sweep
from imckit.crossbars.strips import ACCUMULATIONS, accumulation_comparison, quantize_strips, strip_assignment

__all__ = ["HessianSteps", "FISHER_BATCH_SIZE", "CODE"]

CODE = ("imckit.experiments.hessian_steps",)  # the code behind every cached value of the chapter
FISHER_BATCH_SIZE = 64  # per-sample gradients per vmap call


def _frame_data(frame) -> dict:
    """A DataFrame as plain data (column order kept) for the cache."""
    return {"columns": list(frame.columns), "values": {c: frame[c].tolist() for c in frame.columns}}


def _frame(data):
    """The DataFrame of :func:`_frame_data`."""
    import pandas as pd

    return pd.DataFrame({c: data["values"][c] for c in data["columns"]}, columns=data["columns"])


def _timed(compute):
    """``compute`` wrapped to store its value with the seconds it took (a cached value keeps the time of its
    computation)."""
    def run():
        started = time.perf_counter()
        value = compute()
        return {"value": value, "seconds": time.perf_counter() - started}

    return run


class HessianSteps:
    """The cached computations of one run of the chapter (each records in :attr:`from_cache` whether it came
    from the cache). ``config`` is the chapter's :class:`imckit.experiments.hessian.HessianConfig` (read for
    its fields only); ``device`` a resolved :class:`torch.device`."""

    def __init__(self, model, batch, test, config, seed, device, cache, progress):
        self.model, self.batch, self.test, self.config = model, batch, test, config
        self.seed, self.device, self.cache, self.progress = seed, device, cache, progress
        self.batch_digest = model_data_digest(model, batch)
        self.test_digest = model_data_digest(model, test)
        self.from_cache = {}
        self.work = model_on_device(model, device)  # one copy on the device for every step

    def _cached(self, name, kind, description, compute):
        description = {**description, "device": cache_device(self.device)}
        value, hit = cached(kind, description, compute, code=CODE, cache=self.cache)
        self.from_cache[name] = hit
        return value

    def trace(self, modules) -> tuple[HessianTrace, float]:
        c = self.config
        parameters = [f"{m}.weight" for m in modules]

        def compute():
            trace = hessian_trace(self.work, nn.CrossEntropyLoss(), self.batch.images, self.batch.labels,
                                  n_probes=c.probes, seed=self.seed, tol=c.probe_tolerance, min_probes=c.min_probes,
                                  parameters=parameters, progress=self.progress, device=self.device)
            return trace.to_data()

        entry = self._cached("hessian trace", "hessian-trace", {
            "model_data": self.batch_digest, "probes": c.probes, "seed": self.seed, "tolerance": c.probe_tolerance,
            "min_probes": c.min_probes, "parameters": parameters, "loss": "cross-entropy"},
            _timed(compute))
        return HessianTrace.from_data(entry["value"]), entry["seconds"]

    def fisher_halves(self, modules):
        entry = self._cached("fisher diagonals", "fisher-halves", {
            "model_data": self.batch_digest, "modules": list(modules), "batch_size": FISHER_BATCH_SIZE},
            _timed(lambda: list(fisher_diagonal_halves(self.work, self.batch.images, self.batch.labels, modules,
                                                       FISHER_BATCH_SIZE, self.device))))
        first, second, whole = entry["value"]
        return first, second, whole, entry["seconds"]

    def sweep(self, methods, bits):
        """The sweep's frame and each row's per-image correctness (bool tensor, rows x test images)."""
        c = self.config

        def compute():
            frame, correct = precision_sweep(self.work, self.test, methods, ratios=c.ratios, high_bits=c.high_bits,
                                             low_bits=bits, seed=self.seed, progress=self.progress,
                                             device=self.device, per_image=True)
            return {"frame": _frame_data(frame), "correct": correct}

        value = self._cached(f"precision sweep {c.high_bits}/{bits}", "precision-sweep", {
            "model_data": self.test_digest, "scores": {m: digest(s) for m, s in methods.items()},
            "ratios": c.ratios, "high_bits": c.high_bits, "low_bits": bits, "seed": self.seed,
            "random_strips": True, "per_image": True}, compute)
        return _frame(value["frame"]), value["correct"]

    def fim(self, scores, bits):
        c = self.config
        common = {"model_data": self.batch_digest, "scores": digest(scores), "high_bits": c.high_bits,
                  "low_bits": bits, "batch_size": FISHER_BATCH_SIZE}
        swept = self._cached(f"FIM sweep {c.high_bits}/{bits}", "fim-sweep", {**common, "ratios": c.ratios},
                             _timed(lambda: _frame_data(fim_sweep(
                                 self.work, self.batch.images, self.batch.labels, scores, ratios=c.ratios,
                                 high_bits=c.high_bits, low_bits=bits, batch_size=FISHER_BATCH_SIZE,
                                 device=self.device))))
        searched = self._cached(f"FIM threshold {c.high_bits}/{bits}", "fim-threshold",
                                {**common, "tolerance": c.fim_tolerance, "steps": c.fim_steps},
                                _timed(lambda: fim_threshold(
                                    self.work, self.batch.images, self.batch.labels, scores,
                                    tolerance=c.fim_tolerance, steps=c.fim_steps, high_bits=c.high_bits,
                                    low_bits=bits, batch_size=FISHER_BATCH_SIZE, device=self.device)))
        return _frame(swept["value"]), searched["value"], swept["seconds"] + searched["seconds"]

    def accuracies(self, assignments: list, lows: list) -> tuple[list[float], object]:
        """Accuracy (%) of each assignment and each one's per-image correctness (bool, assignments x images)."""
        c = self.config
        result = self._cached("assignment accuracies", "assignment-accuracy", {
            "model_data": self.test_digest, "assignments": [digest(a) for a in assignments], "high_bits": c.high_bits,
            "low_bits": list(lows), "per_image": True},
            lambda: evaluate_assignments(self.work, self.test, assignments, c.high_bits, list(lows), self.device,
                                         self.progress, per_image=True))
        return [100 * a for a in result["accuracy"]], result["correct"]

    def accumulation(self, scores, ratios, images: int):
        """The two accumulations (:func:`imckit.crossbars.strips.accumulation_comparison`) of the strip
        assignment at each ratio (low precision ``low_bits``) on the first ``images`` test images: a list of
        rows (ratio, accumulation, difference, agreement, accuracy, intended accuracy) and each ratio's
        per-image correctness (``{"intended": bool (ratios, n), "expanded": ..., "unaligned": ...}``)."""
        c = self.config
        modules = list(scores)

        def compute():
            inputs, labels = self.test.images[:images], self.test.labels[:images]
            rows, correct = [], {name: [] for name in ("intended", *ACCUMULATIONS)}
            for ratio in ratios:
                high = strip_assignment(scores, ratio)
                quantized = {m: quantize_strips(self.model.get_submodule(m).weight, high[m], c.high_bits, c.low_bits)
                             for m in modules}
                result = accumulation_comparison(self.model, quantized, inputs, labels, self.device)
                correct["intended"].append(result["intended"]["correct"])
                for name in ACCUMULATIONS:
                    r = result[name]
                    rows.append({"ratio": ratio, "accumulation": name, "difference": r["difference"],
                                 "agreement": r["agreement"], "accuracy": r["accuracy"],
                                 "intended accuracy": result["intended"]["accuracy"]})
                    correct[name].append(r["correct"])
            return {"rows": rows, "correct": {k: torch.stack(v) for k, v in correct.items()}}

        value = self._cached(f"accumulation {c.high_bits}/{c.low_bits}", "accumulation", {
            "model_data": self.test_digest, "scores": digest(scores), "ratios": list(ratios), "images": images,
            "high_bits": c.high_bits, "low_bits": c.low_bits}, compute)
        return value["rows"], value["correct"]
