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

from ..exports import lazy_exports
from .format import SCHEMA, BundleError, is_bundle, refuse_to_replace
from .reader import Bundle, load, open_array_file

# Writing and digesting arrays needs numpy; opening a bundle does not.
__getattr__, __dir__ = lazy_exports(__name__, {
    "BundleWriter": ".writer", "clean_leftovers": ".writer",
    "array_digest": "..arrays", "array_stats": "..arrays",
}, globals())

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
