"""Files written whole or not at all: reports, goldens, exported outputs (host side).

One writer for text and bytes: a unique temporary file in the target's folder (so the final
``os.replace`` is a rename within one file system), renamed over the target. A reader sees the
old file or the new one, never half of one; writers of the same target at once never share a
temporary file, and a file that merely has the temporary-looking name ``TARGET.tmp`` is never
touched. A failure is a ``UserError`` naming the file and what to do, and leaves no temporary
file behind.

Only regular files are written. A symlink is written through (the file it points to is
replaced, as ``open`` would write it); a device, a FIFO or a socket is refused: renamed over,
``--html /dev/full`` run as root replaced the device with a file.
"""

import errno
import os
import stat
from typing import Optional, Union

from .errors import UserError
from .text import printable


def write_atomic(path: str, data: Union[bytes, str]) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` atomically; UserError if it cannot be."""
    if isinstance(data, str):
        # backslashreplace: a name that is not valid UTF-8 can never stop a report.
        data = data.encode("utf-8", "backslashreplace")
    import tempfile  # here: a compare writing no report file does not need it

    _refuse_if_not_a_file(path)
    target = os.path.realpath(path)  # through symlinks, as open() would write
    directory = os.path.dirname(target)
    temporary = None
    try:
        os.makedirs(directory, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            prefix=".{}.".format(os.path.basename(target)), suffix=".tmp", dir=directory)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        # mkstemp makes the file private (0600); the target gets what open() would give it.
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, target)
        temporary = None
    except OSError as exc:
        raise UserError("cannot write {}: {}".format(printable(path), _why(exc, path))) from None
    finally:
        if temporary is not None and os.path.exists(temporary):
            os.remove(temporary)


def check_writable(path: str) -> None:
    """Refuse now what ``write_atomic(path, ...)`` would refuse at the end of a long run: a
    path that is a folder, a device, a FIFO or a socket, a folder on the way that is a file,
    or a folder this process may not write to (permissions, a read-only file system). Creates
    nothing. UserError, worded as write_atomic words it."""
    _refuse_if_not_a_file(path)
    code = _unwritable(os.path.realpath(path))
    if code:
        raise UserError("cannot write {}: {}".format(
            printable(path), _why(OSError(code, os.strerror(code)), path)))


# What a path that exists is, when it is no file a report can replace.
_SPECIAL = ((stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
            (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"))


def _refuse_if_not_a_file(path: str) -> None:
    special = _not_a_file(path)
    if special:
        raise UserError("cannot write {}: {}".format(printable(path), special))


def _not_a_file(path: str) -> Optional[str]:
    """Why ``path`` (through symlinks, /dev/stdout's too) cannot be replaced by a file, or
    None."""
    try:
        found = os.stat(path)
    except OSError:
        return None  # not there (yet): written as a new file
    for fd, stream in ((1, "output"), (2, "error"), (0, "input")):
        try:
            std = os.fstat(fd)
        except OSError:
            continue
        if (std.st_dev, std.st_ino) == (found.st_dev, found.st_ino):
            # /dev/stdout while the shell sends stdout to a file: that file would be replaced
            # (what was in it and the summary lost).
            return ("it is this process's standard {}. Give a file path (the JSON report goes "
                    "to stdout with --json -).".format(stream))
    mode = found.st_mode
    for test, what in _SPECIAL:
        if test(mode):
            return "it is {}, not a file. Give a file path.".format(what)
    return None


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
    if exc.errno == errno.EPERM and os.path.lexists(path) and os.access(
            os.path.dirname(os.path.abspath(path)) or ".", os.W_OK):
        # The folder takes files, this one may not be replaced (immutable, a sticky folder).
        return "{}: the file there cannot be replaced. Choose another path.".format(what)
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
