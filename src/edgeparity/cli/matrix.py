"""`edgeparity matrix`: capture in every environment of matrix.toml, then compare."""

import argparse
from typing import Any

from .. import defaults
from .options import add_compare_arguments


def register(sub: Any) -> None:
    p = sub.add_parser(
        "matrix",
        help="capture in every environment of matrix.toml, then compare",
        description="Build/run every environment, collect bundles, compare, and write the "
        "reports to OUT (terminal, report.md, report.html, report.json).",
    )
    p.add_argument(
        "--backend", choices=("auto", "docker", "local"), default="auto",
        help="docker: pinned images (needs a Docker engine); local: tox environments "
        "on this machine; auto: docker when an engine is reachable, else local",
    )
    p.add_argument("--config", default=defaults.MATRIX_CONFIG,
                   help="matrix file (default {})".format(defaults.MATRIX_CONFIG))
    p.add_argument("--only", action="append", metavar="NAME[,NAME]", help="only these environments")
    p.add_argument("--out", help="output folder (default from the matrix file: {})".format(
        defaults.MATRIX_OUT))
    p.add_argument("--images", help="images folder (default from the matrix file)")
    p.add_argument("--rebuild", action="store_true", help="rebuild images / environments")
    add_compare_arguments(p)
    p.set_defaults(func=run_matrix)


def run_matrix(args: argparse.Namespace) -> int:
    from ..matrix import matrix_cli  # TODO(issue 8): moves here

    return matrix_cli(args)
