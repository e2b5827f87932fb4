"""`edgeparity golden update|check`: golden fingerprints for the CI gate."""

import argparse
from typing import Any

from ..errors import EXIT_DIVERGENCE, EXIT_PARITY, UsageError
from ..text import printable
from .options import add_report_arguments, add_tolerance_arguments, report_targets


def register(sub: Any) -> None:
    p = sub.add_parser("golden", help="manage golden fingerprints for the CI gate")
    gsub = p.add_subparsers(dest="golden_command", metavar="ACTION")
    g = gsub.add_parser("update", help="write fingerprints (hashes and stats) of bundles")
    g.add_argument("bundles", nargs="+", metavar="BUNDLE")
    g.add_argument("--dir", required=True, metavar="DIR", help="golden folder to write")
    g.add_argument("--golden-name", metavar="NAME",
                   help="write DIR/NAME.json from one bundle: the golden that `golden check "
                   "--golden-name NAME` checks other environments against")
    g.set_defaults(func=run_update)

    g = gsub.add_parser(
        "check",
        help="check bundles against their golden fingerprints (the CI gate)",
        description="Match each bundle to DIR/<bundle name>.json and report every output that "
        "changed since the golden, and why (provenance changes). The same as `edgeparity "
        "compare BUNDLE... --golden DIR`. Exit 0 if nothing changed, 1 if something did, "
        "2 on errors.",
    )
    g.add_argument("bundles", nargs="+", metavar="BUNDLE")
    g.add_argument("--dir", required=True, metavar="DIR", dest="golden_dir",
                   help="golden folder to check against")
    add_tolerance_arguments(g)
    add_golden_mode_arguments(g)
    add_report_arguments(g)
    g.set_defaults(func=run_check)


def add_golden_mode_arguments(parser: Any) -> None:
    """How strict the gate is; shared with `compare --golden`."""
    parser.add_argument(
        "--float-tolerance", action="store_true",
        help="float outputs (preprocess, infer) pass when their min/max/mean/std moved within "
        "--atol/--rtol/--tolerance instead of needing identical digests: one golden for "
        "x86_64 and aarch64, whose float rounding differs. Decoded pixels stay exact",
    )
    parser.add_argument(
        "--golden-name", metavar="NAME",
        help="check every bundle against DIR/NAME.json instead of the golden named like the "
        "bundle (e.g. an aarch64 bundle against the x86_64 golden)",
    )


def run_update(args: argparse.Namespace) -> int:
    """`golden update BUNDLE... --dir DIR`: write goldens, say what moved since the last ones."""
    from ..bundle import BundleError
    from ..golden import update

    try:
        written = update(list(args.bundles), args.dir, args.golden_name)
    except (ValueError, BundleError) as exc:
        raise UsageError(str(exc)) from None
    for target, golden, counts in written:
        text = "wrote {}: {} records".format(printable(target), len(golden["records"]))
        if counts:
            text += " ({} changed, {} new, {} removed since the previous golden)".format(
                counts["changed"], counts["new"], counts["removed"])
        print(text)
    return EXIT_PARITY


def run_check(args: argparse.Namespace) -> int:
    """`golden check BUNDLE... --dir DIR` and `compare BUNDLE... --golden DIR`: 0 unchanged,
    1 changed, 2 error."""
    from ..bundle import BundleError
    from ..compare import Tolerances
    from ..golden import check_bundles
    from ..report.write import write_golden_reports

    try:
        tolerances = Tolerances.parse(args.atol, args.rtol, args.tolerance)
        targets = report_targets(args)  # an unwritable report path too
        report = check_bundles(list(args.bundles), args.golden_dir, tolerances,
                               float_tolerance=getattr(args, "float_tolerance", False),
                               golden_name=getattr(args, "golden_name", None))
    except (ValueError, BundleError) as exc:
        raise UsageError(str(exc)) from None
    write_golden_reports(report, targets)
    return EXIT_DIVERGENCE if report["verdict"] == "changed" else EXIT_PARITY
