"""Result bundles: the only thing that travels from an environment to the host.

A bundle is a directory::

    BUNDLE/
      manifest.json            human-readable: provenance, one record per output, array index
      arrays/<digest>.npy      each distinct output array stored once, named by its content digest
                               (.npy.gz with capture --compress gzip)

``writer.py`` writes one atomically (staging directory, manifest last, rename into place; an
interrupted capture keeps what it had under ``BUNDLE.interrupted``, marked incomplete).
``reader.py`` loads one and refuses anything incomplete, damaged, edited or pointing outside
itself. ``format.py`` says what a valid manifest is.

This package runs in every environment (CPython 3.6, numpy only).
"""

import importlib
import sys
from typing import Any

from .format import SCHEMA, BundleError, is_bundle, refuse_to_replace
from .reader import Bundle, load, open_array_file

# Writing and digesting arrays needs numpy; opening a bundle does not. These are imported on
# first use (PEP 562), so a compare whose digests all match never imports numpy (0.06 s, a
# fifth of an identical 10,000-image compare). Python 3.6 has no module __getattr__: there
# they are imported with the package, as before.
_WITH_NUMPY = {"BundleWriter": ".writer", "clean_leftovers": ".writer",
               "array_digest": "..arrays", "array_stats": "..arrays"}


def __getattr__(name: str) -> Any:
    if name not in _WITH_NUMPY:
        raise AttributeError("module {!r} has no attribute {!r}".format(__name__, name))
    return getattr(importlib.import_module(_WITH_NUMPY[name], __name__), name)


if sys.version_info < (3, 7):
    from ..arrays import array_digest, array_stats
    from .writer import BundleWriter, clean_leftovers

__all__ = [
    "SCHEMA",
    "Bundle",
    "BundleError",
    "BundleWriter",
    "array_digest",
    "array_stats",
    "clean_leftovers",
    "is_bundle",
    "load",
    "open_array_file",
    "refuse_to_replace",
]
