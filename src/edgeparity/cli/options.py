"""Option groups and value parsers more than one command uses."""

import argparse
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from .. import defaults

if TYPE_CHECKING:  # the host side needs Python >= 3.9; `capture` imports this module on 3.6
    from ..compare.gates import Gate
    from ..report.write import Targets


def require_host(command: str) -> None:
    """Host-side commands (compare, golden, matrix, image) need CPython >= 3.9."""
    import sys

    from ..errors import UsageError

    if sys.version_info < (3, 9):
        raise UsageError(
            "`edgeparity {}` runs on the host, which needs Python >= 3.9 (this is {}.{}): copy "
            "the bundles to such a machine, or run it there; capture and probe run "
            "here".format(command, *sys.version_info[:2]))


def split_list(values: Optional[List[str]]) -> Optional[List[str]]:
    """['a,b', 'c'] (repeated, comma-separated options) -> ['a', 'b', 'c']; None when empty."""
    if not values:
        return None
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def add_tolerance_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--atol", type=float, default=defaults.ATOL,
        help="absolute tolerance for float stages (default {})".format(defaults.ATOL),
    )
    parser.add_argument(
        "--rtol", type=float, default=defaults.RTOL,
        help="relative tolerance for float stages (default {})".format(defaults.RTOL),
    )
    parser.add_argument(
        "--tolerance", action="append", metavar="STAGE:ATOL[:RTOL]", default=[],
        help="per-stage tolerance, e.g. infer:1e-4:1e-4 (repeatable)",
    )


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", metavar="FILE",
        help="write the JSON report (schema in docs/report-schema.md); '-' for stdout",
    )
    parser.add_argument(
        "--md", metavar="FILE",
        help="write the Markdown report (fits a CI job summary, e.g. $GITHUB_STEP_SUMMARY)",
    )
    parser.add_argument(
        "--html", metavar="FILE",
        help="write the self-contained HTML report (headline, side-by-side difference views)"
    )
    parser.add_argument(
        "--verbose", "-v", action="store_true",
        help="list every non-identical record in the terminal summary",
    )


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by `compare` and `matrix` (which ends with a compare)."""
    parser.add_argument(
        "--reference", metavar="NAME",
        help="environment every other one is compared with (default: the first)",
    )
    add_tolerance_arguments(parser)
    add_report_arguments(parser)
    parser.add_argument(
        "--heatmaps", type=int, default=defaults.HEATMAPS, metavar="N",
        help="draw side-by-side difference views in the HTML report for the N worst divergent "
        "decoded images of each pair (default {}; the report says how many more diverge)".format(
            defaults.HEATMAPS),
    )
    parser.add_argument(
        "--jobs", "-j", type=int, default=None, metavar="N",
        help="compute differences on N processes (default: one per core)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    # The help is spelled here: the parser is built on CPython 3.6 too (`capture`), where the
    # host-side compare package must not be imported.
    parser.add_argument(
        "--fail-on", default="any", metavar="GATE",
        help="what makes the exit code 1: 'any' divergence (default); 'stage:S' a divergence "
        "at stage S or earlier (decode < preprocess < infer); 'top1' a changed top-1 class; "
        "'[STAGE:]STAT>VALUE' an abs-error statistic of an output over a threshold, STAT one "
        "of max, mean, p99 (e.g. infer:p99>0.01, decode:max>2). Input files that differ "
        "always fail; exit 2 when the gate's stages were not compared",
    )


def compare_options(args: argparse.Namespace) -> Dict[str, Any]:
    """Keyword arguments of edgeparity.compare.compare() from add_compare_arguments' options."""
    from ..errors import UsageError

    if args.heatmaps < 0 or (args.jobs is not None and args.jobs < 1):
        raise UsageError("--heatmaps must be >= 0 and --jobs >= 1")
    return {"max_heatmaps": args.heatmaps, "jobs": args.jobs, "quiet": args.quiet,
            "want_heatmaps": bool(args.html)}


def fail_on_gate(args: argparse.Namespace) -> "Gate":
    """The parsed --fail-on gate; a UsageError for a malformed one (before anything runs)."""
    from ..compare.gates import parse_gate
    from ..errors import UsageError

    try:
        return parse_gate(args.fail_on)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def report_targets(args: argparse.Namespace) -> "Targets":
    """The reports asked for with add_report_arguments' options."""
    from ..report.write import Targets

    return Targets(json=args.json, md=args.md, html=args.html, verbose=args.verbose)
