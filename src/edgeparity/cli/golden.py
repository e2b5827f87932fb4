"""`edgeparity golden update|check`: golden fingerprints for the CI gate."""

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("golden", help="manage golden fingerprints for the CI gate")
    gsub = p.add_subparsers(dest="golden_command", metavar="ACTION")
    g = gsub.add_parser("update", help="write fingerprints (hashes and stats) of bundles")
    g.add_argument("bundles", nargs="+", metavar="BUNDLE")
    g.add_argument("--dir", required=True, metavar="DIR", help="golden folder to write")
    g.set_defaults(func=run_update)


def run_update(args: argparse.Namespace) -> int:
    from ..golden import golden_cli  # TODO(issue 8): moves here

    return golden_cli(args)
