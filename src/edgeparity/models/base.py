"""What model sources and DLR artifacts share: the error they raise and where they cache files.

CPython 3.6+, standard library only.
"""

import os
import shutil
import tempfile

from ..stages.base import Unavailable


class ModelError(Unavailable):
    """The model a runner was pointed at cannot be used as given (missing file, wrong shape,
    built for another architecture). The message names the file and what to do."""


def cache_dir() -> str:
    """Where built and unpacked artifacts go: $EDGEPARITY_CACHE_DIR, else the XDG cache."""
    explicit = os.environ.get("EDGEPARITY_CACHE_DIR")
    if explicit:
        return os.path.abspath(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "edgeparity")


def make_dirs(path: str) -> None:
    """Create ``path`` and its parents unless it is already a directory."""
    if not os.path.isdir(path):
        os.makedirs(path)


def scratch_directory(parent: str, prefix: str, what: str) -> str:
    """A fresh hidden folder in the cache ``parent`` to build ``what`` in before publishing it."""
    try:
        make_dirs(parent)
        return tempfile.mkdtemp(prefix=prefix, dir=parent)
    except OSError as exc:
        raise ModelError(
            "cannot {}: cache directory {} is not writable ({}); set EDGEPARITY_CACHE_DIR to a "
            "writable directory".format(what, parent, exc)
        ) from exc


def publish_directory(scratch: str, target: str) -> None:
    """Move a finished scratch directory to ``target`` atomically, then remove the scratch.

    Another process may have published the same target meanwhile (two captures building the
    demo artifact at once): theirs is kept, which is the same content.
    """
    try:
        os.rename(scratch, target)
    except OSError:
        if not os.path.isdir(target):
            raise
    finally:
        if os.path.isdir(scratch):
            shutil.rmtree(scratch, ignore_errors=True)
