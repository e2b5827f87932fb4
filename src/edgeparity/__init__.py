"""edgeparity: find where and why two environments disagree on the same input."""

import sys

__version__ = "0.1.0"

# Checked here, before any module with 3.6 syntax is read, so an older interpreter (a copy of
# the wheel forced onto it, PYTHONPATH=src) gets this sentence instead of a SyntaxError. This
# file must stay parseable by Python 2.7 and 3.5. The zipapp's __main__ says the same earlier.
MIN_PYTHON = (3, 6)
if sys.version_info < MIN_PYTHON:
    raise ImportError(
        "edgeparity needs CPython >= {}.{}; this is {}.{} ({}). On JetPack 4 use python3 "
        "(3.6.9).".format(MIN_PYTHON[0], MIN_PYTHON[1], sys.version_info[0],
                          sys.version_info[1], sys.executable))
