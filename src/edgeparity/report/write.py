"""Where reports go: the terminal summary, and the JSON, Markdown and HTML files asked for."""

import json
import math
import sys
from typing import TYPE_CHECKING, Any, Callable, Dict, NamedTuple, Optional

from ..atomic import write_atomic
from . import compare as compare_report
from . import golden as golden_report
from .layout import terminal_width, use_colour
from .words import safe_strings

if TYPE_CHECKING:
    from ..diffview import DiffView


class Targets(NamedTuple):
    """Which reports to write: a file path each (``json`` may be '-' for stdout), or None."""

    json: Optional[str] = None
    md: Optional[str] = None
    html: Optional[str] = None
    verbose: bool = False  # list every non-identical record in the terminal summary


def write_compare_reports(report: Dict[str, Any], heatmaps: Dict[str, "DiffView"],
                          targets: Targets) -> None:
    """Outputs of `edgeparity compare` and `matrix` (``heatmaps``: compare()'s views by id)."""
    _write_outputs(report, targets, compare_report.terminal, compare_report.markdown,
                   lambda r: _html_page(r, heatmaps), laid_out=True, to_json=json_numbers)


def _html_page(report: Dict[str, Any], heatmaps: Dict[str, "DiffView"]) -> str:
    # Imported only when an HTML report is asked for: its views need numpy, whose import is a
    # fifth of an identical 10,000-image compare.
    from .html import html_report

    return html_report(report, heatmaps)


def write_golden_reports(report: Dict[str, Any], targets: Targets) -> None:
    """Outputs of the golden gate."""
    _write_outputs(report, targets, golden_report.terminal, golden_report.markdown,
                   golden_report.html_page, laid_out=True)


def json_safe(value: Any) -> Any:
    """Strict JSON: infinities and NaN (e.g. a relative error against 0) become strings."""
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


NON_FINITE = "non_finite"


def json_numbers(value: Any) -> Any:
    """Strict JSON whose numeric fields stay numeric (compare reports, schema /2).

    A non-finite statistic (e.g. the relative error against 0) becomes null, and the object
    holding it gets ``"non_finite": {field: "inf" | "-inf" | "nan"}``, so a reader can tell
    "unknown" from "infinite" without a field ever holding a string.
    """
    if isinstance(value, dict):
        out = {}  # type: Dict[str, Any]
        flags = {}  # type: Dict[str, str]
        for key, item in value.items():
            if isinstance(item, float) and not math.isfinite(item):
                flags[key] = "nan" if item != item else ("inf" if item > 0 else "-inf")
                out[key] = None
            else:
                out[key] = json_numbers(item)
        if flags:
            out[NON_FINITE] = dict(flags, **out.get(NON_FINITE) or {})
        return out
    if isinstance(value, (list, tuple)):
        # No object to flag in: a non-finite number in a list is null.
        return [None if isinstance(item, float) and not math.isfinite(item)
                else json_numbers(item) for item in value]
    return value


def _write_outputs(
    report: Dict[str, Any],
    targets: Targets,
    render_terminal: Callable[..., str],
    render_markdown: Callable[[Dict[str, Any]], str],
    render_html: Callable[[Dict[str, Any]], str],
    laid_out: bool = False,
    to_json: Callable[[Any], Any] = json_safe,
) -> None:
    """Print the terminal summary and write the files ``targets`` asks for.

    With ``json='-'`` the JSON goes to stdout and the summary to stderr, so pipes stay clean.
    """
    json_to_stdout = targets.json == "-"
    payload = None
    if targets.json:
        # Compact: only then does json use its C encoder (an indented 10,000-image report took
        # 1.2 s instead of 0.4 s). `python -m json.tool` or jq indent it for reading.
        payload = json.dumps(to_json(report), default=str, allow_nan=False,
                             check_circular=False)  # a tree: nothing to look for
    # Names are data: no control sequence from a file name reaches a terminal or a Markdown
    # line (the JSON keeps every name as captured).
    shown = safe_strings(report, ascii_json=payload)
    stream = sys.stderr if json_to_stdout else sys.stdout
    if laid_out:  # fitted to the terminal's width, coloured where wanted
        text = render_terminal(shown, verbose=targets.verbose, width=terminal_width(stream),
                               colour=use_colour(stream))
    else:
        text = render_terminal(shown, verbose=targets.verbose)
    stream.write(text + "\n")
    if payload is not None:
        if json_to_stdout:
            sys.stdout.write(payload + "\n")
        else:
            write_file(targets.json, payload)
    if targets.md:
        write_file(targets.md, render_markdown(shown))
    if targets.html:
        write_file(targets.html, render_html(shown))


def write_file(path: str, text: str) -> None:
    """Write a text file atomically (a reader never sees half a report or half a golden);
    UserError naming the file when it cannot be written."""
    write_atomic(path, text)
