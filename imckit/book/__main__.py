"""``python -m imckit.book``: execute the notebooks and build the book (see :mod:`imckit.book.runner`)."""

import sys

from imckit.book.runner import main

sys.exit(main())
