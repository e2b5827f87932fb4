"""What native code printed: capture file descriptor 2 around a call into a C/C++ runtime.

CPython 3.6+, standard library only.
"""

import os
import sys
import tempfile
from typing import Any


class NativeStderr:
    """Copy what native code writes to file descriptor 2 while the block runs.

    Some runtimes (libdlr) print the real reason of a failure from C++ and raise a Python
    exception with an empty message; this recovers that reason for our error message. The
    text is passed through to the real stderr afterwards, so nothing is hidden.
    """

    def __init__(self) -> None:
        self.text = ""

    def __enter__(self) -> "NativeStderr":
        sys.stderr.flush()
        self._saved = os.dup(2)
        self._file = tempfile.TemporaryFile()
        os.dup2(self._file.fileno(), 2)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._file.seek(0)
        self.text = self._file.read().decode("utf-8", "replace")
        self._file.close()
        if self.text:
            sys.stderr.write(self.text)
            sys.stderr.flush()

    def reason(self) -> str:
        """The most telling line: a failed check's message, else the last line printed."""
        lines = [line.strip() for line in self.text.splitlines() if line.strip()]
        for line in reversed(lines):
            if "Check failed" in line:  # "Check failed: <condition>: <message>"
                return line.split("Check failed", 1)[1].lstrip(": ").split(": ", 1)[-1]
        return lines[-1] if lines else ""
