"""What model sources and DLR artifacts share: the error they raise and where they cache files.

CPython 3.6+, standard library only.
"""

import os

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
