"""The book: the papermill runner and Jupyter Book build (``python -m imckit.book``), and the figures the chapters share.

Modules:

- :mod:`imckit.book.runner`: Execute the notebooks with papermill and build the Jupyter Book (1.x) from the executed copies.
- :mod:`imckit.book.plots`: the figures the chapters share.
"""

from imckit.book.runner import BookError, build_book, check_complete, load_manifest, plan_runs, run_notebooks  # noqa: F401
