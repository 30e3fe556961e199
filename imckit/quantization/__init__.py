"""Weight quantization: QKeras-style ``quantized_bits``, integer codes and storage words.

Modules:

- :mod:`imckit.quantization.qkeras`: QKeras-style ``quantized_bits`` on torch tensors, integer codes and their storage words.
"""

from imckit.quantization.qkeras import (  # noqa: F401
    QuantizedTensor,
    QuantSpec,
    quantize,
    quantized_bits,
    fake_quantize,
    ALPHAS,
    check_bits,
)
