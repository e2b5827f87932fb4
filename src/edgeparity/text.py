"""Names are data: make a file name, bundle name or error message safe to show.

File names come from users and the internet. One named ``\\x1b]0;pwned\\x07.jpg`` must not
retitle the terminal, one that is not valid UTF-8 must not crash a writer, and one holding a
newline must not forge a report line. Imports nothing of ours; runs on CPython 3.6.
"""

import re

# C0 controls, DEL and C1 controls (ESC, CSI and OSC introducers among them).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Lone surrogates: how Python carries the bytes of a file name that is not valid UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")


def shown_as_is(text: str) -> bool:
    """Whether ``printable(text)`` is ``text`` itself (no control character, no lone
    surrogate). str.isprintable answers most strings in C; it is stricter (a no-break space
    or a line separator is "not printable", and printable() keeps them), so those are looked
    at again."""
    return text.isprintable() or not (_CONTROL.search(text) or _SURROGATE.search(text))


def printable(text: object, multiline: bool = False) -> str:
    """``text`` with control characters and undecodable bytes shown as ``\\xNN`` escapes.

    Ordinary non-ASCII letters (é, 写真) are kept. The result is valid UTF-8 and one line, or
    keeps its newlines and tabs with ``multiline`` (for messages we wrote ourselves).
    """
    value = str(text)
    if value.isprintable():
        # The common case, decided in C: no control character and no lone surrogate (both
        # are non-printable), so nothing below would change it.
        return value
    value = _SURROGATE.sub(
        lambda m: "\\x{:02x}".format(ord(m.group()) - 0xDC00)
        if 0xDC80 <= ord(m.group()) <= 0xDCFF else "\\u{:04x}".format(ord(m.group())), value)
    control = _CONTROL_BUT_LINES if multiline else _CONTROL
    return control.sub(lambda m: "\\x{:02x}".format(ord(m.group())), value)
