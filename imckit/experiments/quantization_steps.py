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

from numbers import Integral

from imckit.core.cache import cached, model_data_digest
from imckit.core.compute import cache_device
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

    if not bits or not all(isinstance(b, Integral) and not isinstance(b, bool) and 1 <= b <= 16 for b in bits):
        raise ValueError(f"bits must be a non-empty tuple of integers in [1, 16]; got {bits!r}")
    if not alphas or not all(a in ALPHAS for a in alphas):
        raise ValueError(f"alphas must be a non-empty tuple of values in {ALPHAS}; got {alphas!r}")
    bits, alphas = tuple(int(b) for b in bits), tuple(alphas)

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
