"""What model sources and DLR artifacts share: the error they raise and where they cache files.

CPython 3.6+, standard library only.
"""

import os

from ..stages.base import Unavailable


class ModelError(Unavailable):
    """The model a runner was pointed at cannot be used as given (missing file, wrong shape,
    built for another architecture). The message names the file and what to do."""


def make_dirs(path: str) -> None:
    """Create ``path`` and its parents unless it is already a directory."""
    if not os.path.isdir(path):
        os.makedirs(path)


def scratch_directory(parent: str, prefix: str, what: str) -> str:
    """A fresh hidden folder in the cache ``parent`` to build ``what`` in before publishing it."""
    import tempfile  # here: the models package is imported by every compare

    try:
        make_dirs(parent)
        return tempfile.mkdtemp(prefix=prefix, dir=parent)
    except OSError as exc:
        raise ModelError(
            "cannot {}: cache directory {} is not writable ({}); set EDGEPARITY_CACHE_DIR to a "
            "writable directory".format(what, parent, exc)
        ) from exc


