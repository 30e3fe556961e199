"""imckit: a reproducible paper kit for in-memory-computing aware neural-network compression.

The packages follow the data path the book teaches; each imports only from the ones above it::

    core           data, models, graph (traced layer graph), engine (evaluate), fit (the one training
                   loop), training (the cached baseline), cache (keys that know their code),
                   compute (device="cpu"|"cuda"|"auto"), profiles, provenance
      |
    quantization   qkeras (quantized_bits, codes, storage words)
    memory         devices (FeFET MLC, SLC, transition matrices), cells (bit slicing, memory in devices)
      |
    injection      errors (read errors injected into weights, repeated evaluation of perturbed networks)
      |
    search         sensitivity (Table I), genetic (exact front, GA, NSGA-II), simulate (whole network)   seed 000
    compensation   compensate (one epoch with the faulty weights frozen)                                 seed 000
    crossbars      mapping, hessian, fisher, strips, precision, energy                                  seed 001
    qat            quantizers, faults, variability, training                                            seed 002
      |
    experiments    one module per chapter: a frozen config with a preset per profile -> a result object
      |
    book           runner (papermill + Jupyter Book, ``python -m imckit.book``), plots

See the README's "Layout" section for where each public name lives and where the old flat modules went.
"""

__version__ = "0.3.0"
