"""`edgeparity probe` and `edgeparity capture`: the commands that run inside every environment.

CPython 3.6 with numpy only: this module and everything it imports stay on the capture side.
"""

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Tuple

from .. import defaults
from ..errors import EXIT_PARITY, UsageError
from ..stages.pipeline import PipelineError, impl_key, parse_pipeline
from ..text import printable
from .options import split_list


def register(sub: Any) -> None:
    p = sub.add_parser(
        "probe",
        help="describe this environment: CPU, OS, Python, decoders, "
        "the JPEG library each one actually loads",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run_probe)

    p = sub.add_parser(
        "capture",
        help="run every stage on every image here and write a bundle",
        description="Run decode -> preprocess -> infer with every available implementation on "
        "each image (end-to-end), on the canonical inputs (isolated) and on the all-ones and "
        "noise probes, and write a bundle directory to copy back to the host.",
    )
    p.add_argument(
        "--images", required=True, metavar="DIR",
        help="folder of images (e.g. {}); a {}/ subfolder in it, if any, holds isolation "
        "inputs of your own".format(defaults.IMAGES_DIR, defaults.CANONICAL_SUBDIR),
    )
    p.add_argument(
        "--out", required=True, metavar="BUNDLE",
        help="bundle directory to write (replaced atomically if it exists)",
    )
    p.add_argument("--name", help="environment name shown in reports (default: BUNDLE's name)")
    p.add_argument(
        "--stages", action="append", metavar="STAGE[,STAGE]",
        help="only these stages: decode, preprocess, infer",
    )
    p.add_argument(
        "--impl", action="append", metavar="NAME[,NAME]",
        help="only these implementations, e.g. pillow,mxnet or decode/pillow",
    )
    p.add_argument(
        "--pipeline", metavar="STAGE=IMPL,...",
        help="what this environment runs in production, e.g. "
        "decode=pillow,preprocess=pillow,infer=dlr; compare follows it to find the first "
        "divergent stage",
    )
    p.add_argument(
        "--pipeline-only", action="store_true",
        help="run preprocessing and inference only along --pipeline (every decoder still "
        "runs): much faster on large corpora or slow models; other pipelines then cannot be "
        "compared end to end",
    )
    p.add_argument(
        "--canonical", metavar="DIR",
        help="canonical inputs for the isolated runs (decoded-*.npy, preprocessed-*.npy); "
        "default: IMAGES/{} when it holds any, else the set shipped with edgeparity".format(
            defaults.CANONICAL_SUBDIR),
    )
    p.add_argument(
        "--model", metavar="PATH",
        help="model for the infer stage (and the preprocessing it declares): a folder of its "
        "forms with edgeparity-model.json, an MXNet export prefix, an .onnx file, or a "
        "Neo/DLR artifact dir or .tar.gz (default: the demo model)",
    )
    p.add_argument("--device", default="cpu", choices=("cpu", "gpu"), help="inference device")
    p.add_argument("--input-name", help="model input name (default: from the model)")
    p.add_argument(
        "--input-shape", metavar="N,C,H,W",
        help="model input shape (default: from the model or its declaration; the demo "
        "model's is 1,3,224,224)",
    )
    p.add_argument(
        "--layout", choices=("NCHW", "NHWC"),
        help="model input layout (default: the model's declaration, else NCHW)",
    )
    p.add_argument(
        "--max-megapixels", type=float, default=defaults.MAX_MEGAPIXELS, metavar="MPX",
        help="record larger images (by the size their header declares) as errors without "
        "decoding them (default {}: fits a 4 GB Jetson Nano)".format(defaults.MAX_MEGAPIXELS),
    )
    p.add_argument(
        "--max-file-mb", type=float, default=defaults.MAX_FILE_MB, metavar="MB",
        help="record larger image files as errors without reading them (default {})".format(
            defaults.MAX_FILE_MB),
    )
    p.add_argument(
        "--compress", choices=("none", "gzip"), default=defaults.COMPRESSION,
        help="how arrays are stored: none (default, fastest) or gzip (30-60%% smaller, "
        "several times slower than decoding)",
    )
    p.add_argument(
        "--jobs", "-j", type=int, default=None, metavar="N",
        help="worker processes sharing the images (default: one per core from a few hundred "
        "images on); the bundle is the same as with --jobs 1, apart from timings",
    )
    p.add_argument(
        "--shard", metavar="I/N",
        help="capture only the I-th of N shares of the images (split by a hash of each path, "
        "the same on every device); join the shard bundles with `edgeparity merge`",
    )
    p.add_argument(
        "--resume", action="store_true",
        help="carry over what an interrupted capture to the same --out kept (BUNDLE.interrupted: "
        "the images it finished whose files are unchanged) and capture only the rest; refused "
        "when it was captured with other options or in another environment",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    p.set_defaults(func=run_capture)


def run_probe(args: argparse.Namespace) -> int:
    from .. import probe

    info = probe.collect()
    if args.json:
        json.dump(info, sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
    else:
        print(probe.format_text(info))
    return EXIT_PARITY


def _input_shape(text: str) -> Tuple[int, ...]:
    try:
        shape = tuple(int(x) for x in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 4 or min(shape) < 1:
        raise UsageError("--input-shape {!r}: give four positive integers separated by "
                         "commas, e.g. 1,3,224,224".format(text))
    return shape


def _shard(text: str) -> Tuple[int, int]:
    index, _, count = text.partition("/")
    try:
        shard = int(index), int(count)
    except ValueError:
        shard = (0, 0)
    if not 1 <= shard[0] <= shard[1]:
        raise UsageError("--shard {!r}: give I/N with 1 <= I <= N, e.g. 2/8".format(text))
    return shard


def run_capture(args: argparse.Namespace) -> int:
    from ..capture import capture
    from ..models import ModelError, resolve_model
    from ..stages import known_implementations

    stages_text = ",".join(args.stages or ())
    if args.model and (not args.stages or "infer" in stages_text or "preprocess" in stages_text):
        # Check the model before capturing anything: a typo should cost seconds, not a run.
        # Preprocessing needs it too: the model declares how images are prepared.
        try:
            resolve_model(args.model)
        except ModelError as exc:
            raise UsageError("--model: {}".format(exc)) from None
    if args.canonical and not os.path.isdir(args.canonical):
        raise UsageError("--canonical {}: no such folder (it holds decoded-*.npy and "
                         "preprocessed-*.npy; leave it out to use the set shipped with "
                         "edgeparity)".format(printable(args.canonical)))
    try:
        pipeline = parse_pipeline(args.pipeline, known_implementations())
    except PipelineError as exc:
        raise UsageError(str(exc)) from None
    for option, value in (("--max-megapixels", args.max_megapixels),
                          ("--max-file-mb", args.max_file_mb),
                          ("--jobs", 1 if args.jobs is None else args.jobs)):
        if not 0 < value < 1e9:  # also refuses nan and inf
            raise UsageError("{} {}: give a positive number".format(option, value))
    shard = _shard(args.shard) if args.shard else None
    if args.pipeline_only and not pipeline:
        raise UsageError("--pipeline-only needs --pipeline (which chain to follow)")
    options = {
        "model": args.model,
        "device": args.device,
        "input_name": args.input_name,
        "input_shape": _input_shape(args.input_shape) if args.input_shape else None,
        "layout": args.layout,
    }  # type: Dict[str, Any]
    try:
        path, counts = capture(
            args.images,
            args.out,
            name=args.name,
            stages=split_list(args.stages),
            implementations=split_list(args.impl),
            options=options,
            pipeline=pipeline,
            canonical_dir=args.canonical,
            quiet=args.quiet,
            pipeline_only=args.pipeline_only,
            max_megapixels=args.max_megapixels,
            max_file_mb=args.max_file_mb,
            compression=args.compress,
            jobs=args.jobs,
            shard=shard,
            resume=args.resume,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print("wrote {}{}: {} output{}, {} error{} recorded".format(
        printable(path), " (shard {}/{})".format(*shard) if shard else "", counts["ok"],
        "" if counts["ok"] == 1 else "s", counts["error"], "" if counts["error"] == 1 else "s"))
    with open(os.path.join(path, "manifest.json"), encoding="utf-8") as handle:
        manifest = json.load(handle)
    implementations = manifest.get("implementations", {})
    warned = set()
    for stage, impl in sorted(pipeline.items()):
        key = impl_key(stage, impl)
        entry = implementations.get(key, {})
        if entry.get("status") != "available":
            warned.add(key)
            why = entry.get("reason") or ("its stage was not captured (--stages)" if not entry
                                          else entry.get("status"))
            sys.stderr.write("edgeparity: warning: this environment's pipeline uses {}={}, which "
                             "did not run here: {}\n".format(stage, impl, printable(why)))
    # The others, grouped by the reason this capture recorded (no MXNet skips three at once).
    skipped: Dict[str, List[str]] = {}
    for key, entry in sorted(implementations.items()):
        if entry.get("status") != "available" and key not in warned:
            reason = str(entry.get("reason") or entry.get("status")).strip().splitlines()[0]
            skipped.setdefault(reason, []).append(key)
    for reason, keys in skipped.items():
        sys.stderr.write("edgeparity: skipped {}: {}\n".format(", ".join(keys), printable(reason)))
    failed = _failing_images(manifest)
    if failed:
        # A large run's per-image notes scrolled by (or -q hid them): which files, once more.
        shown = ["{} ({})".format(printable(image), printable(why)[:100])
                 for image, why in list(failed.items())[:3]]
        sys.stderr.write("edgeparity: errors recorded for {} image{}: {}{}\n".format(
            len(failed), "" if len(failed) == 1 else "s", "; ".join(shown),
            "; and {} more (all are in {}/manifest.json: files not read under \"images\", "
            "failed outputs under \"records\"; a compare's --json lists them too)".format(
                len(failed) - 3, printable(path)) if len(failed) > 3 else ""))
    if counts["ok"] == 0 and manifest.get("images"):  # not an empty shard: nothing ran
        # (No implementation available at all is refused before any image, capture.py.)
        sys.stderr.write("edgeparity: warning: no output was captured: every image failed in "
                         "every implementation (the errors are above)\n")
    return EXIT_PARITY


def _failing_images(manifest: Dict[str, Any]) -> Dict[str, str]:
    """Each image with an error (a file that could not be read, or an output that failed),
    in capture order, with the first reason recorded for it."""
    failed = {}  # type: Dict[str, str]
    for image, entry in (manifest.get("images") or {}).items():
        if isinstance(entry, dict) and entry.get("error"):
            failed[image] = str(entry["error"]).splitlines()[0]
    for record in manifest.get("records") or ():
        if record.get("status") == "error" and record.get("mode") == "e2e":
            failed.setdefault(record["image"], "{}: {}".format(
                record.get("chain"), str(record.get("error") or "").splitlines()[0] if record.get(
                    "error") else "failed"))
    return failed
