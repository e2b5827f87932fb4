"""`edgeparity compare`: bundles against each other (or, with --golden, against goldens)."""

import argparse
from typing import Any

from .options import add_compare_arguments


def register(sub: Any) -> None:
    p = sub.add_parser(
        "compare",
        help="compare bundles; report the first divergent stage and its cause",
        description="Compare bundles from different environments (or the same bundle under "
        "different pipelines). Each BUNDLE may carry a pipeline after '@': "
        "cloud@decode=mxnet,infer=mxnet compares cloud's MXNet decode with the other side's "
        "pipeline. Exit 0 if everything agrees, 1 if something diverges, 2 on errors.",
    )
    p.add_argument("bundles", nargs="+", metavar="BUNDLE[@STAGE=IMPL,...]")
    add_compare_arguments(p)
    p.add_argument(
        "--golden", metavar="DIR",
        help="compare each bundle against committed golden fingerprints instead of against "
        "each other (the same as `edgeparity golden check`)",
    )
    p.set_defaults(func=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    from ..compare import compare_cli  # TODO(issue 8): moves here

    return compare_cli(args)
