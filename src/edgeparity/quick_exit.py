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

Only the process entry arms it: code calling ``cli.main`` or the library in a long-running
process (tests, a notebook) keeps nothing and exits nowhere. While a thread other than the
main one runs, the exit is the interpreter's own (it waits for such threads; ``os._exit``
would kill them).
"""

import atexit
import os
import sys
import threading
from typing import Any, List

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
