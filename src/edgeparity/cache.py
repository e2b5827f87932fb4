"""Where edgeparity keeps what it builds or unpacks once (compiled DLR kernels, unpacked model
archives, the demo model copied out of a zipapp), and how a finished folder is published there.

Bottom layer: imports nothing of edgeparity. Runs in every environment (CPython 3.6, stdlib).
"""

import os
import shutil


def cache_dir() -> str:
    """$EDGEPARITY_CACHE_DIR, else the XDG cache (~/.cache/edgeparity)."""
    explicit = os.environ.get("EDGEPARITY_CACHE_DIR")
    if explicit:
        return os.path.abspath(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "edgeparity")


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
