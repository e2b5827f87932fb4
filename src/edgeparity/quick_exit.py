"""Ending the `edgeparity` process without freeing what it holds, one object at a time.

A compare of two 10,000-image bundles holds both parsed manifests (about 600,000 Python
objects) until its end. Freeing them as compare returns and again as the interpreter shuts
down took 20 ms of a 0.3 s compare, for memory the operating system takes back at once
when the process ends. So the command-line entry point (``cli.run``) arms this module,
compare's ``load_endpoints`` hands the bundles it opens to ``keep_until_exit``, and
``exit_process`` then runs the atexit handlers, flushes the standard streams and ends the
process with ``os._exit`` (every file edgeparity writes is closed by then: the streams and
the handlers are all such an exit needs). A command that holds no bundle at its end (a
capture, a golden check, a compare that wrote report files: ``release_kept``) ends as Python
programs do.

The standard streams are flushed here too, before that exit (``flush_standard_streams``): a
write to stdout or stderr that failed because its reader left early (`edgeparity verify B |
head`) makes the process exit 141, as a shell reports for a program a closed pipe stopped,
with no traceback (a broken pipe met while the command ran is told apart from one of
edgeparity's own pipes by poll() on the two streams).

Only the process entry arms it: code calling ``cli.main`` or the library in a long-running
process (tests, a notebook) keeps nothing and exits nowhere. While a thread other than the
main one runs, the exit is the interpreter's own (it waits for such threads; ``os._exit``
would kill them).
"""

import atexit
import os
import select
import sys
import threading
from typing import Any, List

from .errors import EXIT_DIVERGENCE, EXIT_ERROR, EXIT_PARITY, EXIT_READER_LEFT

_armed = False
_kept: List[Any] = []


def arm() -> None:
    """Called by the process entry point only: from now on, kept objects are never freed."""
    global _armed
    _armed = True


def keep_until_exit(value: Any) -> None:
    """Keep ``value`` alive until the process ends, if the process entry armed this module
    (nothing is kept otherwise: a library caller gets its memory back as usual)."""
    if _armed:
        _kept.append(value)


def release_kept() -> None:
    """Free what was kept now, while the process still has work that needs the memory (a
    command writing large report files): the time saved at the exit is not worth a higher
    peak."""
    del _kept[:]


def exit_process(code: int) -> None:
    """End the process with ``code``: without the interpreter's teardown when it is safe."""
    if not _kept or threading.active_count() > 1:
        # Nothing large held (a capture, a compare that wrote report files), or a library
        # caller: the interpreter's own exit, as in any Python program. Threads are waited for.
        sys.exit(code)
    atexit._run_exitfuncs()  # what a normal exit runs first (pool and temporary-file cleanups)
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            # A closed pipe (`| head`) or a closed stream: the interpreter's own exit reports
            # it as it always did.
            sys.exit(code)
    os._exit(code)


def flush_standard_streams(code: int) -> int:
    """Write what stdout and stderr still buffer now, while a reader that left can be told
    apart (at the interpreter's exit it would be exit 120 and "Exception ignored"), and return
    the exit code: EXIT_READER_LEFT for a verdict (0 or 1) whose output could not all be
    written, an error's code as it was. A stream that cannot take its output is pointed at
    /dev/null. A reader that left after reading everything (`| head -1` of one line) changes
    nothing: nothing was lost."""
    left = False
    for fd, stream in ((1, sys.stdout), (2, sys.stderr)):
        try:
            if stream is not None:
                stream.flush()
        except BrokenPipeError:
            _to_devnull(fd)
            left = True
        except OSError as exc:  # `> /dev/full`, a full disk
            _to_devnull(fd)
            if fd == 1 and code != EXIT_ERROR:  # (an error already said it: not twice)
                sys.stderr.write("edgeparity: error: cannot write the output (stdout): "
                                 "{}\n".format(exc.strerror or exc))
                code = EXIT_ERROR
        except ValueError:
            pass  # closed by the command: nothing buffered can be written
    return EXIT_READER_LEFT if left and code in (EXIT_PARITY, EXIT_DIVERGENCE) else code


def silence_streams_whose_reader_left() -> bool:
    """Point stdout and stderr, where the program reading them has gone (`| head`), at
    /dev/null, so that what is still buffered for them is dropped instead of failing again as
    the process ends. Whether either had such a reader; a pipe of edgeparity's own (a worker's)
    is not one."""
    left = False
    for fd in (1, 2):
        if _reader_left(fd):
            _to_devnull(fd)
            left = True
    return left


def _reader_left(fd: int) -> bool:
    """Whether ``fd`` is a pipe or socket whose reading end is closed: poll says so at once
    (POLLERR for a pipe, POLLHUP for a socket), without writing anything."""
    try:
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        events = poller.poll(0)
    except (OSError, ValueError, AttributeError):  # no poll() on this platform
        return False
    return any(event & (select.POLLERR | select.POLLHUP) and not event & select.POLLNVAL
               for _, event in events)


def _to_devnull(fd: int) -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    os.dup2(devnull, fd)
    os.close(devnull)
