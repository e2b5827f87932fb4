"""The ``edgeparity`` command line.

Exit codes, everywhere: 0 parity holds, 1 a divergence was found, 2 usage or environment error.
The in-environment commands (probe, capture) run on CPython 3.6; host commands (compare,
matrix, golden) import their modules lazily and need CPython >= 3.9.
"""

import argparse
import json
import os
import sys
from typing import Dict, List, Optional

from . import __version__

EXIT_PARITY, EXIT_DIVERGENCE, EXIT_ERROR = 0, 1, 2


class UsageError(Exception):
    """A problem the user can fix; printed without a traceback, exit code 2."""


def parse_pipeline(text: Optional[str]) -> Dict[str, str]:
    """'decode=pillow,infer=dlr' -> {'decode': 'pillow', 'infer': 'dlr'}, names checked."""
    from .stages import STAGES, all_implementations

    known = {}  # type: Dict[str, List[str]]
    for impl in all_implementations():
        known.setdefault(impl.stage, []).append(impl.name)
    result = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        stage, sep, impl = part.strip().partition("=")
        if not sep or stage not in STAGES or not impl:
            raise UsageError(
                "bad pipeline {!r}: use stage=impl pairs separated by commas, stages are {}".format(
                    text, ", ".join(STAGES)
                )
            )
        if impl not in known.get(stage, []):
            raise UsageError("bad pipeline {!r}: no {} implementation {!r}; known: {}".format(
                text, stage, impl, ", ".join(known.get(stage, []))))
        result[stage] = impl
    return result


def _split(values: Optional[List[str]]) -> Optional[List[str]]:
    if not values:
        return None
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def cmd_probe(args: argparse.Namespace) -> int:
    from . import probe

    info = probe.collect()
    if args.json:
        json.dump(info, sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
    else:
        print(probe.format_text(info))
    return EXIT_PARITY


def cmd_capture(args: argparse.Namespace) -> int:
    from .capture import capture
    from .models import ModelError, resolve_model

    if args.model and (not args.stages or "infer" in ",".join(args.stages)):
        # Check the model before capturing anything: a typo should cost seconds, not a run.
        try:
            resolve_model(args.model)
        except ModelError as exc:
            raise UsageError("--model: {}".format(exc)) from None
    if args.input_shape:
        try:
            input_shape = tuple(int(x) for x in args.input_shape.split(","))  # type: Any
        except ValueError:
            input_shape = ()
        if len(input_shape) != 4 or min(input_shape) < 1:
            raise UsageError("--input-shape {!r}: give four positive integers separated by "
                             "commas, e.g. 1,3,224,224".format(args.input_shape))
    else:
        input_shape = None
    if args.canonical and not os.path.isdir(args.canonical):
        raise UsageError("--canonical {}: no such folder (it holds decoded-*.npy and "
                         "preprocessed-*.npy; sample-images/canonical is one)".format(
                             args.canonical))
    pipeline = parse_pipeline(args.pipeline)
    if args.pipeline_only and not pipeline:
        raise UsageError("--pipeline-only needs --pipeline (which chain to follow)")
    options = {
        "model": args.model,
        "device": args.device,
        "input_name": args.input_name,
        "input_shape": input_shape,
        "layout": args.layout,
    }  # type: Dict[str, Any]
    try:
        path, counts = capture(
            args.images,
            args.out,
            name=args.name,
            stages=_split(args.stages),
            implementations=_split(args.impl),
            options=options,
            pipeline=pipeline,
            canonical_dir=args.canonical,
            quiet=args.quiet,
            pipeline_only=args.pipeline_only,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print("wrote {}: {} outputs, {} errors recorded".format(path, counts["ok"], counts["error"]))
    with open(os.path.join(path, "manifest.json"), encoding="utf-8") as handle:
        implementations = json.load(handle).get("implementations", {})
    skipped = sorted(k for k, v in implementations.items() if v.get("status") != "available")
    for stage, impl in sorted(pipeline.items()):
        entry = implementations.get("{}/{}".format(stage, impl), {})
        if entry.get("status") != "available":
            sys.stderr.write("edgeparity: warning: this environment's pipeline uses {}={}, which "
                             "did not run here: {}\n".format(stage, impl, entry.get("reason")))
    if skipped:
        sys.stderr.write("skipped here (see `edgeparity probe` for why): {}\n".format(
            ", ".join(skipped)))
    if counts["ok"] == 0:
        sys.stderr.write("edgeparity: warning: nothing was captured: no decoder or runtime is "
                         "available in this environment (install e.g. Pillow)\n")
    return EXIT_PARITY


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare_cli

    return compare_cli(args)


def cmd_matrix(args: argparse.Namespace) -> int:
    from .matrix import matrix_cli

    return matrix_cli(args)


def cmd_golden(args: argparse.Namespace) -> int:
    from .golden import golden_cli

    return golden_cli(args)


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by `compare` and `matrix` (which ends with a compare)."""
    parser.add_argument(
        "--reference",
        metavar="NAME",
        help="environment every other one is compared with (default: the first)",
    )
    parser.add_argument(
        "--atol",
        type=float,
        default=1e-5,
        help="absolute tolerance for float stages (default 1e-5)",
    )
    parser.add_argument(
        "--rtol",
        type=float,
        default=1e-5,
        help="relative tolerance for float stages (default 1e-5)",
    )
    parser.add_argument(
        "--tolerance",
        action="append",
        metavar="STAGE:ATOL[:RTOL]",
        default=[],
        help="per-stage tolerance, e.g. infer:1e-4:1e-4 (repeatable)",
    )
    parser.add_argument(
        "--json",
        metavar="FILE",
        help="write the JSON report (schema in docs/report-schema.md); '-' for stdout",
    )
    parser.add_argument(
        "--md",
        metavar="FILE",
        help="write the Markdown report (fits a CI job summary, e.g. $GITHUB_STEP_SUMMARY)",
    )
    parser.add_argument(
        "--html", metavar="FILE", help="write the self-contained HTML report with diff heatmaps"
    )
    parser.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="list every non-identical record in the terminal summary",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgeparity",
        description="Find where and why two environments (e.g. a cloud endpoint and a Jetson) "
        "disagree on the same input: capture decode -> preprocess -> infer outputs in each, "
        "then compare.",
        epilog="Exit codes: 0 parity, 1 divergence found, 2 usage or environment error.",
    )
    parser.add_argument("--version", action="version", version="edgeparity " + __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "probe",
        help="describe this environment: CPU, OS, Python, decoders, "
        "the JPEG library each one actually loads",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser(
        "capture",
        help="run every stage on every image here and write a bundle",
        description="Run decode -> preprocess -> infer with every available implementation on "
        "each image (end-to-end), on the canonical inputs (isolated) and on the all-ones and "
        "noise probes, and write a bundle directory to copy back to the host.",
    )
    p.add_argument(
        "--images",
        required=True,
        metavar="DIR",
        help="folder of images "
        "(e.g. sample-images); its canonical/ subfolder holds the isolation inputs",
    )
    p.add_argument(
        "--out",
        required=True,
        metavar="BUNDLE",
        help="bundle directory to write (replaced atomically if it exists)",
    )
    p.add_argument("--name", help="environment name shown in reports (default: BUNDLE's name)")
    p.add_argument(
        "--stages",
        action="append",
        metavar="STAGE[,STAGE]",
        help="only these stages: decode, preprocess, infer",
    )
    p.add_argument(
        "--impl",
        action="append",
        metavar="NAME[,NAME]",
        help="only these implementations, e.g. pillow,mxnet or decode/pillow",
    )
    p.add_argument(
        "--pipeline",
        metavar="STAGE=IMPL,...",
        help="what this environment runs in "
        "production, e.g. decode=pillow,preprocess=pillow,infer=dlr; compare follows "
        "it to find the first divergent stage",
    )
    p.add_argument(
        "--pipeline-only",
        action="store_true",
        help="run preprocessing and inference only along --pipeline (every decoder still "
        "runs): much faster on large corpora or slow models; other pipelines then cannot be "
        "compared end to end",
    )
    p.add_argument("--canonical", metavar="DIR", help="canonical inputs (default IMAGES/canonical)")
    p.add_argument(
        "--model",
        metavar="PATH",
        help="model for the infer stage: MXNet export "
        "prefix, .onnx file, or Neo/DLR artifact dir or .tar.gz (default: the demo model)",
    )
    p.add_argument("--device", default="cpu", choices=("cpu", "gpu"), help="inference device")
    p.add_argument("--input-name", help="model input name (default: from the model)")
    p.add_argument(
        "--input-shape",
        metavar="N,C,H,W",
        help="model input shape (default: from the model, else 1,3,224,224)",
    )
    p.add_argument(
        "--layout", default="NCHW", choices=("NCHW", "NHWC"),
        help="model input layout (default NCHW)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_capture)

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
        "--golden",
        metavar="DIR",
        help="compare each bundle against committed "
        "golden fingerprints instead of against each other",
    )
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "matrix",
        help="capture in every environment of matrix.toml, then compare",
        description="Build/run every environment, collect bundles, compare, and write the "
        "reports to OUT (terminal, report.md, report.html, report.json).",
    )
    p.add_argument(
        "--backend",
        choices=("auto", "docker", "local"),
        default="auto",
        help="docker: pinned images (needs a Docker engine); local: tox environments "
        "on this machine; auto: docker when an engine is reachable, else local",
    )
    p.add_argument("--config", default="matrix.toml", help="matrix file (default matrix.toml)")
    p.add_argument("--only", action="append", metavar="NAME[,NAME]", help="only these environments")
    p.add_argument("--out", help="output folder (default from the matrix file: matrix-out)")
    p.add_argument("--images", help="images folder (default from the matrix file)")
    p.add_argument("--rebuild", action="store_true", help="rebuild images / environments")
    add_compare_arguments(p)
    p.set_defaults(func=cmd_matrix)

    p = sub.add_parser("golden", help="manage golden fingerprints for the CI gate")
    gsub = p.add_subparsers(dest="golden_command", metavar="ACTION")
    g = gsub.add_parser("update", help="write fingerprints (hashes and stats) of bundles")
    g.add_argument("bundles", nargs="+", metavar="BUNDLE")
    g.add_argument("--dir", required=True, metavar="DIR", help="golden folder to write")
    g.set_defaults(func=cmd_golden)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_ERROR
    try:
        return args.func(args)
    except UsageError as exc:
        sys.stderr.write("edgeparity: error: {}\n".format(exc))
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        sys.stderr.write("edgeparity: {}\n".format(exc or "interrupted"))
        return 130
    except Exception as exc:
        from .bundle import BundleError

        if isinstance(exc, BundleError):
            sys.stderr.write("edgeparity: error: {}\n".format(exc))
            return EXIT_ERROR
        if isinstance(exc, OSError) and exc.filename:
            sys.stderr.write("edgeparity: error: {}: {}\n".format(
                exc.filename, exc.strerror or exc))
            return EXIT_ERROR
        # A bug. Exit 2, not Python's default 1, which would read as "divergence found".
        import traceback

        traceback.print_exc()
        sys.stderr.write("edgeparity: internal error (a bug in edgeparity: please report it with "
                         "the traceback above)\n")
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
