"""Progress of a long step: count, rate and ETA.

On a terminal it is one line that updates in place; in a CI log (not a TTY) it is a plain line
every ``log_every`` seconds, so logs stay short at 50,000 images. Quiet prints nothing.
Runs in every environment (CPython 3.6).
"""

import sys
import time
from typing import Optional, TextIO

from .text import printable


class Progress:
    """``step(label)`` after each item; ``done()`` at the end."""

    def __init__(self, what: str, total: int, quiet: bool = False,
                 stream: Optional[TextIO] = None, log_every: float = 10.0,
                 unit: str = "") -> None:
        self.what = printable(what)  # it names environments, which are data (text.py)
        self.unit = unit  # what is counted, e.g. "differing outputs": "what: unit 1/55"
        self.total = total
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log_every = log_every
        self.started = time.time()
        # When the first item finished: the rate and ETA count from there, so the set-up before
        # it (loading a model, starting workers) does not make them wild.
        self.first_done = None  # type: Optional[float]
        self.count = 0
        self._last_shown = 0.0
        self._width = 0

    def line(self, label: str = "") -> str:
        now = time.time()
        elapsed = now - self.started
        since_first = now - self.first_done if self.first_done is not None else 0.0
        rate = (self.count - 1) / since_first if self.count > 1 and since_first > 0 else 0.0
        text = "{}: {}{}/{}".format(self.what, self.unit + " " if self.unit else "",
                                    self.count, self.total)
        if rate > 0:
            text += "  {:.1f}/s".format(rate)
            if self.count < self.total:
                text += "  ETA {}".format(_duration((self.total - self.count) / rate))
        text += "  {}".format(_duration(elapsed))
        if label:
            text += "  " + printable(label)[:50]
        return text

    def step(self, label: str = "", note: Optional[str] = None) -> None:
        """One more item done. ``note`` (e.g. an error) is always printed on its own line."""
        self.count += 1
        now = time.time()
        if self.first_done is None:
            self.first_done = now
        if self.quiet:
            return
        if note:
            self._write_line("{}: {}".format(printable(label), printable(note)))
        if self.tty:
            if now - self._last_shown >= 0.1 or self.count == self.total:
                text = self.line(label)
                self.stream.write("\r" + text.ljust(self._width))
                self._width = len(text)
                self.stream.flush()
                self._last_shown = now
        elif now - self._last_shown >= self.log_every:
            self._write_line(self.line(label))
            self._last_shown = now

    def _write_line(self, text: str) -> None:
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0
        self.stream.write(text + "\n")
        self.stream.flush()

    def done(self, summary: str = "") -> None:
        if self.quiet:
            return
        if self.total == 0 and self.count == 0:
            # Nothing to count ("differing outputs 0/0" read as if something was left undone;
            # "capture: 0/0" after a resume carried everything over).
            text = "{}: {}  {}".format(self.what, "no " + self.unit if self.unit else
                                       "nothing left to do", _duration(time.time() - self.started))
        else:
            text = self.line()
        if summary:
            text += "  " + summary
        if self.tty:
            self.stream.write("\r" + text.ljust(self._width) + "\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return "{}s".format(seconds)
    if seconds < 3600:
        return "{}m{:02d}s".format(seconds // 60, seconds % 60)
    return "{}h{:02d}m".format(seconds // 3600, seconds // 60 % 60)
