"""imckit: a reproducible paper kit for in-memory-computing aware neural-network compression.

One module per concept:

- :mod:`imckit.data`: real datasets (Fashion-MNIST, CIFAR-10, any ImageFolder tree) as in-memory tensors.
- :mod:`imckit.models`: ResNet-8 (MLPerf Tiny) and the list of its crossbar-mappable layers.
- :mod:`imckit.train`: training, evaluation and the cached shared baseline (:func:`imckit.train.pretrained`).
- :mod:`imckit.devices`: memory cells as read-error models (``FeFETMLC``, ``SLC``, any transition matrix).
- :mod:`imckit.quant`: QKeras-style ``quantized_bits``, integer codes and storage words.
- :mod:`imckit.cells`: bit slicing into SLC/MLC cells (``CellConfig``), memory in devices.
- :mod:`imckit.inject`: read errors injected into weights; fast repeated evaluation of perturbed networks.
- :mod:`imckit.sensitivity`: the layer-wise sensitivity table (seed 000, Table I), cached by all its inputs.
- :mod:`imckit.search`: exact Pareto front, the paper's self-adaptive genetic search, NSGA-II (pymoo).
- :mod:`imckit.validate`: whole-network simulation of selected configurations; the solution-selection rule.
- :mod:`imckit.compensate`: one-epoch error compensation with the faulty weights frozen.
- :mod:`imckit.hessian`: Hutchinson traces per model, layer and strip-weight; strip scores and their reliability.
- :mod:`imckit.fisher`: empirical Fisher diagonal and the FIM-guided threshold search.
- :mod:`imckit.strips`: strip-wise two-precision quantization and precision-coordinated computation.
- :mod:`imckit.precision`: strip, single-weight and random two-precision assignments, compared by accuracy.
- :mod:`imckit.crossbar`: crossbar capacity, mapping, utilization and capacity-aligned thresholds.
- :mod:`imckit.energy`: an ADC energy and latency proxy for two-precision crossbars.
- :mod:`imckit.regularize`: N-multiplier quantizers, the regularization loss and its lambda schedule.
- :mod:`imckit.faults`: stuck-at faults in bit cells, reachable levels, nearest-valid-level mapping.
- :mod:`imckit.variability`: device-to-device LRS variability of bit cells, per-weight levels.
- :mod:`imckit.qat`: regularized quantization-, fault- and variability-aware fine-tuning and deployment.
- :mod:`imckit.plots`: the figures the chapters share.
- :mod:`imckit.cache`: atomic, validated on-disk caches.
- :mod:`imckit.profiles`: the ``smoke`` / ``default`` / ``paper`` run sizes every chapter understands.
- :mod:`imckit.provenance`: versions and parameters recorded with every result.
- :mod:`imckit.book`: executes the notebooks with papermill and builds the Jupyter Book.
"""

__version__ = "0.1.0"
