"""Files written whole or not at all: reports, goldens, exported outputs (host side).

One writer for text and bytes: a unique temporary file in the target's folder (so the final
``os.replace`` is a rename within one file system), renamed over the target. A reader sees the
old file or the new one, never half of one; writers of the same target at once never share a
temporary file, and a file that merely has the temporary-looking name ``TARGET.tmp`` is never
touched. A failure is a ``UserError`` naming the file and what to do, and leaves no temporary
file behind.
"""

import errno
import os
from typing import Union

from .errors import UserError
from .text import printable


def write_atomic(path: str, data: Union[bytes, str]) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` atomically; UserError if it cannot be."""
    if isinstance(data, str):
        # backslashreplace: a name that is not valid UTF-8 can never stop a report.
        data = data.encode("utf-8", "backslashreplace")
    import tempfile  # here: a compare writing no report file does not need it

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
        raise UserError("cannot write {}: {}".format(printable(path), _why(exc, path))) from None
    finally:
        if temporary is not None and os.path.exists(temporary):
            os.remove(temporary)


def check_writable(path: str) -> None:
    """Refuse now what ``write_atomic(path, ...)`` would refuse at the end of a long run: a
    path that is a folder, a folder on the way that is a file, or a folder this process may
    not write to (permissions, a read-only file system). Creates nothing. UserError, worded
    as write_atomic words it."""
    code = _unwritable(os.path.abspath(path))
    if code:
        raise UserError("cannot write {}: {}".format(
            printable(path), _why(OSError(code, os.strerror(code)), path)))


def _unwritable(target: str) -> int:
    """The errno writing ``target`` atomically would end in, or 0."""
    if os.path.isdir(target):
        return errno.EISDIR
    folder = os.path.dirname(target)
    while not os.path.lexists(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)  # not there yet: write_atomic will make it here
    if not os.path.isdir(folder):
        return errno.ENOTDIR
    if not os.access(folder, os.W_OK | os.X_OK):
        return errno.EROFS if os.statvfs(folder).f_flag & os.ST_RDONLY else errno.EACCES
    return 0


def _why(exc: OSError, path: str) -> str:
    """What went wrong, and the fix that fits it (not "free space" for a folder that is a file)."""
    what = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "{}. Free space or choose another path.".format(what)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "{}. Choose a folder you can write to.".format(what)
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        # A folder on the way is a file: name it.
        folder = os.path.dirname(os.path.abspath(path))
        while folder and not os.path.lexists(folder):
            folder = os.path.dirname(folder)
        if folder and not os.path.isdir(folder):
            return "{} is a file, not a folder. Choose another path.".format(printable(folder))
    if exc.errno == errno.EISDIR:
        return "it is a folder. Give a file name."
    return "{}. Choose another path.".format(what)


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
