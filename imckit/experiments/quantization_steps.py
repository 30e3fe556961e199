"""The cached computation of the chapter "Quantization and cell mapping" (:mod:`imckit.experiments.quantization`):
the accuracy of the network quantized uniformly.

The cache rule of the chapters: a cached computation's key names the module that holds its compute code,
and that module holds nothing else (no sentences, plots or result classes), so that editing a chapter's
text or figures never invalidates an expensive result, while editing anything that computes it does.
:func:`uniform_quantization` is keyed by ``code_version("imckit.experiments.quantization_steps")``, which
covers this source and, through its imports, the evaluation it calls (:mod:`imckit.injection.errors`, the
engine, the quantizer).
"""

from __future__ import annotations

from imckit.core.cache import cached, model_data_digest
from imckit.core.compute import cache_device, resolve_device
from imckit.core.validate import check_choice, check_int
from imckit.injection.errors import PerturbedEvaluator, QuantSpec
from imckit.quantization.qkeras import ALPHAS

__all__ = ["CODE", "uniform_quantization"]

CODE = ("imckit.experiments.quantization_steps",)  # the code behind the cached table


def uniform_quantization(model, data, bits=(12, 8, 4, 2), alphas=(None, "auto", "auto_po2"),
                         cache=None, device: str = "cpu"):
    """Accuracy and loss of ``model`` on ``data`` with every mappable layer quantized to each width, for each
    ``alpha`` (no cell errors), on ``device``. Cached by the model, the images, the widths, the modes, the
    device type (when not the CPU) and the code.

    Returns:
        ``(frame, from_cache)``: a pandas DataFrame with columns ``alpha`` (as text), ``bits``,
        ``accuracy (%)`` and ``loss``, one row per (alpha, bits) in the given order.
    """
    import pandas as pd

    for name, values, allowed in (("bits", bits, "integers in [1, 16]"), ("alphas", alphas, f"values in {ALPHAS}")):
        if isinstance(values, (str, bytes, dict)) or not isinstance(values, (tuple, list)):
            raise TypeError(f"{name} must be a non-empty tuple of {allowed}; got {values!r}")
        if not values:
            raise ValueError(f"{name} must be a non-empty tuple of {allowed}; got {values!r}")
    bits = tuple(check_int(b, f"bits[{k}]", 1, 16) for k, b in enumerate(bits))
    alphas = tuple(check_choice(a, f"alphas[{k}]", ALPHAS) for k, a in enumerate(alphas))
    resolve_device(device)  # before any work

    def compute():
        rows = []
        for alpha in alphas:
            for b in bits:
                evaluator = PerturbedEvaluator(model, data, QuantSpec(alpha=alpha), base_bits=b, device=device)
                result = evaluator.evaluate([{}])
                rows.append({"alpha": str(alpha), "bits": b, "accuracy (%)": 100 * float(result.accuracy[0]),
                             "loss": float(result.loss[0])})
        return rows

    description = {"fingerprint": model_data_digest(model, data), "bits": list(bits),
                   "alphas": [str(a) for a in alphas], "device": cache_device(device)}
    rows, from_cache = cached("uniform-quantization", description, compute, code=CODE, cache=cache)
    return pd.DataFrame(rows), from_cache
