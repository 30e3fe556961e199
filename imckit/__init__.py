"""imckit: a reproducible paper kit for in-memory-computing aware neural-network compression.

One module per concept:

- :mod:`imckit.data`: real datasets (Fashion-MNIST, CIFAR-10, any ImageFolder tree) as in-memory tensors.
- :mod:`imckit.models`: ResNet-8 (MLPerf Tiny) and the list of its crossbar-mappable layers.
- :mod:`imckit.train`: training, evaluation and the cached shared baseline (:func:`imckit.train.pretrained`).
- :mod:`imckit.devices`: memory cells as read-error models (``FeFETMLC``, ``SLC``, any transition matrix).
- :mod:`imckit.quant`: QKeras-style ``quantized_bits``, integer codes and storage words.
- :mod:`imckit.cells`: bit slicing into SLC/MLC cells (``CellConfig``), memory in devices.
- :mod:`imckit.inject`: read errors injected into weights; fast repeated evaluation of perturbed networks.
- :mod:`imckit.plots`: the figures the chapters share.
- :mod:`imckit.cache`: atomic, validated on-disk caches.
- :mod:`imckit.profiles`: the ``smoke`` / ``default`` / ``paper`` run sizes every chapter understands.
- :mod:`imckit.provenance`: versions and parameters recorded with every result.
- :mod:`imckit.book`: executes the notebooks with papermill and builds the Jupyter Book.
"""

__version__ = "0.1.0"
