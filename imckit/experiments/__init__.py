"""Chapter experiments: one module per chapter of the book.

Each chapter module holds a frozen config with one preset per run profile (``Config.preset("smoke" |
"default" | "paper")``), the functions that run the chapter, and result objects with its tables, figures'
data and the verdicts that turn numbers into sentences (small functions, unit-tested). The notebooks keep
narrative, parameters, calls, figures and glue.

Cache rule: every expensive step a chapter caches lives in its ``<chapter>_steps`` module
(``hessian_steps``, ``regularization_steps``, ``search_steps``, ``quantization_steps``,
``compensation_steps``), which holds nothing else and imports only library modules (``curvature``, the
strip-score comparison of the hessian chapter, still keeps its cached steps in its own module). A cache key names that
module (:func:`imckit.core.cache.code_version` follows its imports), so editing a sentence or a plot in a
chapter module never throws away a computed result, while editing the computation does. ``stats`` holds the
noise statistics the verdicts share (standard errors, the two-standard-error rule).

Parameters: every chapter's ``preset`` checks the notebook's parameters by their names, and every config's
``__post_init__`` its fields, with the kit's shared validators (:mod:`imckit.core.validate`, composed in
:mod:`imckit.experiments.checks`), and every ``run`` checks its config's type, seed and device before any work:
a bad papermill parameter fails at once, naming the parameter, the allowed range and the value received.
"""
