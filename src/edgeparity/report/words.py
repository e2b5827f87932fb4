"""Wording every report shares: how numbers, differences, pipelines and lists are written."""

import re
from typing import Any, Dict, List, Mapping, Optional

from ..stages.pipeline import format_pipeline
from ..text import printable, shown_as_is


def pct(value: Optional[float]) -> str:
    if value is None:
        return "?"
    # Never a rounded 0.0% or 100.0% that is not exactly so.
    if 0 < value < 0.001:
        return "<0.1%"
    if 0.999 < value < 1:
        return ">99.9%"
    return "{:.1f}%".format(value * 100)


def num(value: Optional[float]) -> str:
    if value is None:
        return "?"
    if value == 0:
        return "0"
    if abs(value) >= 0.01 and abs(value) < 1e4:
        return "{:.4g}".format(value)
    return "{:.2e}".format(value)


def magnitude(step: Dict[str, Any]) -> str:
    """'93.1% of pixels differ, max channel diff 92' or 'max abs error 3.1e-06 ...'."""
    if step.get("shape_mismatch"):
        a, b = step["shape_mismatch"]
        return "shapes differ: {} vs {}".format(tuple(a), tuple(b))
    if step.get("fraction_pixels_differ") is not None:
        return "{} of pixels differ, max channel diff {}".format(
            pct(step["fraction_pixels_differ"]), step.get("max_channel_diff")
        )
    if step.get("max_abs_error") is not None:
        return "max abs error {}, max rel error {}, {} of values differ".format(
            num(step["max_abs_error"]),
            num(step.get("max_rel_error")),
            pct(step.get("fraction_elements_differ")),
        )
    return ""


def pipeline_text(pipeline: Mapping[str, str]) -> str:
    """'decode=pillow > preprocess=pillow > infer=dlr'."""
    return format_pipeline(pipeline, " > ")


def short_list(items: List[str], limit: int = 6) -> str:
    """The first ``limit`` items, then '(+N more)'."""
    shown = ", ".join(items[:limit])
    return shown + (" (+{} more)".format(len(items) - limit) if len(items) > limit else "")



# -- names are data ---------------------------------------------------------------------------
# Image, bundle and environment names come from users. In Markdown (a GitHub job summary renders
# it) they must stay text: no HTML, no links, no emphasis, no broken table rows.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|#~!])")


def md(text: Any) -> str:
    """``text`` as literal Markdown: one line, HTML escaped, Markdown syntax backslashed."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _html_escape(printable(text)))


def _html_escape(text: str) -> str:
    # html.escape(text, quote=False), without importing html (and html.entities: 1.5 ms of
    # every command's start).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def md_code(text: Any) -> str:
    """``text`` in a code span, safe in a table cell (a ``|`` would split the row)."""
    return "`{}`".format(printable(text).replace("`", "'").replace("|", "\\|"))


# In ASCII JSON text (json.dumps' default): the escapes of what printable() would change, C0
# controls, DEL, C1 controls and surrogates. A character outside the BMP is written as a
# surrogate pair too: a false alarm, which only costs the rebuild.
_ASCII_UNPRINTABLE = re.compile(
    r"\\(?:[bfnrt]|u00[0-1][0-9a-fA-F]|u007[fF]|u00[89][0-9a-fA-F]|u[dD][89a-fA-F])")
_NOT_ASCII = re.compile("[^\x00-\x7f]")


def safe_strings(value: Any, ascii_json: Optional[str] = None) -> Any:
    """A report with every string made printable (one line, no control sequences).

    Almost every report has nothing to escape, and is returned as it is: only a report holding
    such a string is rebuilt (rebuilding a 10,000-image report string by string took longer
    than comparing it). ``ascii_json``: the report already dumped as ASCII JSON (the JSON
    report, holding the same strings), whose escapes tell in C; text that is not ASCII is not
    relied on. Otherwise its strings are looked at one by one (``_all_printable``).
    """
    if ascii_json is not None and not _NOT_ASCII.search(ascii_json):
        if _ASCII_UNPRINTABLE.search(ascii_json.replace("\\\\", "")):
            return _safe_strings(value)
        return value
    return value if _all_printable(value) else _safe_strings(value)


# Values that hold no text: nothing in them to escape.
_NOT_TEXT = (type(None), bool, int, float)


def _all_printable(value: Any) -> bool:
    """Whether ``printable`` would change no string (keys too) in a tree of dicts, lists and
    tuples. False for anything else but a number, a bool or None, which a writer would show
    as str(it): such a report is rebuilt, as it always was.

    One loop over a stack, no call per node (str.isprintable first: ``shown_as_is`` only for
    the rare string it calls unprintable): 9 ms for a 10,000-image report, where dumping it as
    JSON to scan the text took 14 ms.
    """
    stack = [value]
    pop, push = stack.pop, stack.append
    try:
        while stack:
            node = pop()
            if type(node) is str:
                if not shown_as_is(node):
                    return False
                continue
            if type(node) is dict:
                for key in node:
                    # AttributeError: a key that is not a string
                    if not key.isprintable() and not shown_as_is(key):
                        return False
                node = node.values()
            for item in node:  # TypeError: not a container
                kind = type(item)
                if kind is str:
                    if not item.isprintable() and not shown_as_is(item):
                        return False
                elif kind is dict or kind is list or kind is tuple:
                    push(item)
                elif kind not in _NOT_TEXT:
                    return False
    except (AttributeError, TypeError):
        return False
    return True


def _safe_strings(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {_safe_strings(k): _safe_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_safe_strings(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_safe_strings(item) for item in value)
    return value


