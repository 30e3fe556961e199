"""Weight quantization: QKeras-style ``quantized_bits``, integer codes and storage words, quantization-aware training.

Modules:

- :mod:`imckit.quantization.qkeras`: QKeras-style ``quantized_bits`` on torch tensors, integer codes and their storage words.
- :mod:`imckit.quantization.aware`: Quantization-aware training in the manner of QKeras: dedicated uniform networks and one switchable network.
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
from imckit.quantization.aware import (  # noqa: F401
    AwareConfig,
    AwareNetwork,
    configured_weights,
    train_aware,
    aware_network,
)
