"""Chapter experiments: one module per chapter of the book.

Each module holds a frozen config with one preset per run profile (``Config.preset("smoke" | "default" |
"paper")``), a ``run(...)`` function that computes everything the chapter shows (expensive steps cached by
:func:`imckit.core.cache.cached`), and a result object with its tables, figures' data and the verdicts that
turn numbers into sentences. The notebooks keep narrative, parameters, calls, figures and glue.
"""
