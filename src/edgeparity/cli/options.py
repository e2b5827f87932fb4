"""Option groups and value parsers more than one command uses."""

import argparse
from typing import TYPE_CHECKING, List, Optional

from .. import defaults

if TYPE_CHECKING:  # the host side needs Python >= 3.9; `capture` imports this module on 3.6
    from ..report.write import Targets


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
        "--html", metavar="FILE", help="write the self-contained HTML report with diff heatmaps"
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


def report_targets(args: argparse.Namespace) -> "Targets":
    """The reports asked for with add_report_arguments' options."""
    from ..report.write import Targets

    return Targets(json=args.json, md=args.md, html=args.html, verbose=args.verbose)
