"""`edgeparity matrix`: run the suite in every environment of matrix.toml, then compare."""

import argparse
import sys
import time
from typing import Any

from .. import defaults
from ..errors import UsageError
from .compare import report_and_exit
from .options import (
    add_compare_arguments,
    compare_options,
    fail_on_gates,
    split_list,
    writable_targets,
)


def say(message: str) -> None:
    sys.stderr.write("edgeparity matrix: {}\n".format(message))
    sys.stderr.flush()


def register(sub: Any) -> None:
    p = sub.add_parser(
        "matrix",
        help="capture in every environment of matrix.toml, then compare",
        description="Build/run every environment, collect bundles, compare, and write the "
        "reports to OUT (terminal, report.md, report.html, report.json). In each environment "
        "the in-environment tests run first (they assert expect_libjpeg), then the capture.",
    )
    p.add_argument(
        "--backend", choices=("auto", "docker", "local"), default="auto",
        help="docker: pinned images (needs a Docker engine); local: tox environments "
        "on this machine; auto: docker when an engine is reachable, else local",
    )
    p.add_argument("--config", default=defaults.MATRIX_CONFIG,
                   help="matrix file (default {})".format(defaults.MATRIX_CONFIG))
    p.add_argument("--only", action="append", metavar="NAME[,NAME]",
                   help="only these environments (also those with default = false)")
    p.add_argument("--out", help="output folder (default from the matrix file: {})".format(
        defaults.MATRIX_OUT))
    p.add_argument("--images", help="images folder (default from the matrix file: {})".format(
        defaults.IMAGES_DIR))
    p.add_argument("--model", metavar="PATH",
                   help="model every environment runs (a folder of its forms with "
                   "edgeparity-model.json, an .onnx, an MXNet prefix, a DLR artifact); default "
                   "from the matrix file, else the demo model")
    p.add_argument("--rebuild", action="store_true", help="rebuild images / environments")
    add_compare_arguments(p)
    p.set_defaults(func=run_matrix)


def run_matrix(args: argparse.Namespace) -> int:
    from ..bundle import BundleError
    from ..compare import Tolerances, compare
    from ..matrix import config as matrix_config
    from ..matrix.run import choose_backend, make_backend, run_all
    from ..report.write import Targets

    gates = fail_on_gates(args)  # before anything else: a typo costs seconds, not a run
    config = matrix_config.load(args.config)
    try:
        # Before any build: a typo here should cost seconds, not a matrix run.
        tolerances = Tolerances.parse(args.atol, args.rtol, args.tolerance)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    from pathlib import Path  # here: `edgeparity compare` imports this module too

    images_dir = Path(args.images).resolve() if args.images else config.images
    out_dir = Path(args.out).resolve() if args.out else config.out
    # Checked before any build: a bad option or a report path that cannot be written costs
    # seconds, not a run.
    options = compare_options(args)
    options["want_heatmaps"] = True  # the matrix always writes report.html
    targets = writable_targets(Targets(json=args.json or str(out_dir / "report.json"),
                                       md=args.md or str(out_dir / "report.md"),
                                       html=args.html or str(out_dir / "report.html"),
                                       verbose=args.verbose))
    model = matrix_config.chosen_model(config, args.model)
    backend_name, why = choose_backend(args.backend, config)
    if backend_name == "local" and args.backend == "auto":
        say("{}; falling back to the local backend (tox environments on this machine)".format(
            why))
    try:
        environments = config.select(backend_name, split_list(args.only))
    except matrix_config.ConfigError as exc:
        raise UsageError("--only names {}".format(exc)) from None
    if not environments:
        declared = config.environments(backend_name)
        raise UsageError("{} has no [{}.*] environments{}".format(
            args.config, backend_name,
            " in its default matrix (name one with --only)" if declared else ""))
    if len(environments) < 2:
        say("only {} is selected: it is tested and captured, but there is nothing to compare "
            "it with (name two or more with --only)".format(environments[0].name))
    say("backend {}: {} environments ({}); images {}; model {}; output {}".format(
        backend_name, len(environments), ", ".join(e.name for e in environments), images_dir,
        model or "the demo model", out_dir))
    started = time.time()
    backend = make_backend(backend_name, say, rebuild=args.rebuild)
    bundles = run_all(backend, environments, images_dir, out_dir, model)
    if len(bundles) < 2:
        raise UsageError("one environment captured ({}); nothing to compare, so no verdict "
                         "(name two or more with --only)".format(
                             ", ".join(str(p) for p in bundles.values())))
    say("comparing")
    reference = args.reference or config.reference
    if reference not in bundles:
        reference = next(iter(bundles))
    specs = [str(bundles[reference])] + [str(p) for n, p in bundles.items() if n != reference]
    try:
        report, heatmaps = compare(specs, reference, tolerances, **options)
    except (ValueError, BundleError) as exc:
        raise UsageError(str(exc)) from None
    # Everything else is said before the report, whose last line is the verdict.
    say("compared in {:.0f}s; reports: {}, {}, {}".format(
        time.time() - started, targets.md, targets.html, targets.json))
    return report_and_exit(report, heatmaps, targets, gates)
