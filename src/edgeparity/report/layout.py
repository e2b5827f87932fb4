"""Terminal layout: lines that fit the terminal, shortened paths, colour only where wanted.

CI log viewers and terminals wrap long lines mid-word, so every line is wrapped here at word
boundaries to the terminal's width (``COLUMNS`` or the terminal's size), continuation lines
indented under their field. Colour follows the conventions of no-color.org and FORCE_COLOR:
``NO_COLOR`` (any non-empty value) turns it off, ``FORCE_COLOR`` turns it on even in a pipe;
otherwise it is on for a terminal only.
"""

import os
import re
import shutil
import textwrap
from typing import IO, List, Optional

# A shared object's path ('/usr/lib/x86_64-linux-gnu/libjpeg.so.62.3.0'): the file name says
# which library it is; the folders are in the JSON report and under -v.
_SO_PATH = re.compile(r"(?<![\w.])/(?:[^\s/:;,()]+/)+([^\s/:;,()]+\.so(?:\.[0-9]+)*)")

NARROWEST = 40  # below this, wrapping helps no one: lines are cut at 40


def terminal_width(stream: Optional[IO[str]] = None) -> int:
    """Columns to fit: ``COLUMNS`` when set, else the terminal's width, else 100."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return max(NARROWEST, int(columns))
    if stream is not None and _isatty(stream):
        try:
            columns_now = os.get_terminal_size(stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            columns_now = 0
        if columns_now > 0:  # some ptys (script, docker run -t) report 0 x 0: not a width
            return max(NARROWEST, columns_now)
    return max(NARROWEST, shutil.get_terminal_size((100, 24)).columns)


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def use_colour(stream: Optional[IO[str]] = None) -> bool:
    """Colour for a terminal, unless NO_COLOR; always with FORCE_COLOR."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream is not None and _isatty(stream)


def shorten_paths(text: str) -> str:
    """'/usr/lib/aarch64-linux-gnu/libjpeg.so.62.3.0' -> 'libjpeg.so.62.3.0'."""
    return _SO_PATH.sub(r"\1", text)


def field(prefix: str, text: str, width: int, indent: Optional[int] = None) -> List[str]:
    """``prefix + text`` wrapped at word boundaries to ``width`` columns, continuation lines
    indented by ``indent`` (default: under the text). A word longer than a line is broken."""
    indent = len(prefix) if indent is None else indent
    indent = min(indent, width // 2)
    wrapper = textwrap.TextWrapper(
        width=width, initial_indent=prefix, subsequent_indent=" " * indent,
        break_on_hyphens=False, break_long_words=True, drop_whitespace=True)
    return wrapper.wrap(text) or [prefix.rstrip()]


# -- colour -----------------------------------------------------------------------------------
_CODES = {"red": "31", "green": "32", "yellow": "33", "bold": "1", "dim": "2"}
_WORDS = [
    (re.compile(r"\b(DIFFERS|NOT COMPARED|NOT ESTABLISHED)\b"), "red"),
    (re.compile(r"^(\s*)(why:|do:|also differs:)"), "bold"),
]
_VERDICT_COLOUR = {"DIVERGENCE": "red", "INCOMPLETE": "yellow", "PARITY": "green"}


def paint(text: str, colour: str) -> str:
    return "\x1b[{}m{}\x1b[0m".format(_CODES[colour], text)


def colourize(lines: List[str], verdict: str) -> List[str]:
    """Colour the news in laid-out lines (codes take no columns, so widths are unchanged)."""
    out = []
    for line in lines:
        for pattern, colour in _WORDS:
            if pattern.groups == 2:
                line = pattern.sub(lambda m, c=colour: m.group(1) + paint(m.group(2), c), line)
            else:
                line = pattern.sub(lambda m, c=colour: paint(m.group(1), c), line)
        out.append(line)
    if out:
        out[-1] = paint(out[-1], _VERDICT_COLOUR.get(verdict, "bold"))
    return out
