"""Files written whole or not at all: reports, goldens, exported outputs (host side).

One writer for text and bytes: a unique temporary file in the target's folder (so the final
``os.replace`` is a rename within one file system), renamed over the target. A reader sees the
old file or the new one, never half of one; writers of the same target at once never share a
temporary file, and a file that merely has the temporary-looking name ``TARGET.tmp`` is never
touched. A failure is a ``UserError`` naming the file and what to do, and leaves no temporary
file behind.
"""

import os
import tempfile
from typing import Union

from .errors import UserError
from .text import printable


def write_atomic(path: str, data: Union[bytes, str]) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` atomically; UserError if it cannot be."""
    if isinstance(data, str):
        # backslashreplace: a name that is not valid UTF-8 can never stop a report.
        data = data.encode("utf-8", "backslashreplace")
    directory = os.path.dirname(os.path.abspath(path))
    temporary = None
    try:
        os.makedirs(directory, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            prefix=".{}.".format(os.path.basename(path)), suffix=".tmp", dir=directory)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        # mkstemp makes the file private (0600); the target gets what open() would give it.
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
        temporary = None
    except OSError as exc:
        raise UserError("cannot write {}: {}. Free space or choose another path.".format(
            printable(path), exc.strerror or exc)) from None
    finally:
        if temporary is not None and os.path.exists(temporary):
            os.remove(temporary)


def _umask() -> int:
    """The process's umask, read without changing it where Linux says it (/proc)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
