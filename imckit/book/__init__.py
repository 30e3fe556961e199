"""The book: the papermill runner and Jupyter Book build (``python -m imckit.book``), and the figures the chapters share.

Modules:

- :mod:`imckit.book.runner`: Execute the notebooks with papermill and build the Jupyter Book (1.x) from the executed copies.
- :mod:`imckit.book.parameters`: a notebook's typed parameters cell, and the check of a run's parameters.
- :mod:`imckit.book.plots`: the figures the chapters share.
- :mod:`imckit.book.sweep`: parameter sweeps, a notebook run over a grid as Dask tasks (``python -m imckit.book sweep``).
"""

from imckit.book.parameters import (NotebookParameter, ParameterError, check_parameters,  # noqa: F401
                                    notebook_parameters)
from imckit.book.runner import (BookError, build_book, check_complete, execute_notebook, load_manifest,  # noqa: F401
                                plan_runs, run_notebooks)
