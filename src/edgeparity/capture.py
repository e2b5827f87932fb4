"""Run every stage implementation on every image and write a bundle.

Three kinds of runs, so ``compare`` can tell *where* a divergence starts:

- ``e2e``: the environment's own chain. Each decoder's output feeds each preprocessor, whose
  output feeds each runner. Chain keys read like ``decode=pillow>preprocess=pillow>infer=dlr``.
- ``isolated``: a stage on canonical inputs (the same bytes in every environment; by default
  the set shipped inside edgeparity): ``canonical:decoded-photo>preprocess=pillow``. If the
  isolated run agrees across environments but the e2e run does not, the divergence was
  inherited from upstream.
- ``probe``: runners on the case's two synthetic inputs, an all-ones tensor and seeded uniform
  [0, 1) noise: ``probe:ones>infer=mxnet``.

Decoding needs no isolated run: its input, the file's bytes, is already identical everywhere
(each image's sha256 is recorded to prove it).

Runs on CPython 3.6 with numpy only.
"""

import datetime
import os
import signal
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import __version__, defaults, probe
from .allocator import keep_image_buffers
from .bundle import BundleError, BundleWriter
from .bundle.format import is_bundle
from .errors import UserError
from .inputs import (
    IMAGE_SUFFIXES,
    CanonicalInputs,
    InputError,
    find_images,
    in_shard,
    locate_canonical,
    shard_facts,
)
from .models import DECLARATION_FILE, IMAGENET, ModelError, Preprocessing, model_declaration
from .parallel import CHUNK, choose_jobs, run_pool
from .progress import Progress
from .resume import (
    carry_over,
    keep_records,
    kept_note,
    open_interrupted,
    remove_superseded,
    restore_order,
)
from .session import Interrupted, Session, error_text
from .stages import Implementation, all_implementations
from .stages.pipeline import STAGES, extend_chain, impl_key
from .text import printable

NOISE_SEED = 0


def probe_inputs(shape: Tuple[int, ...] = IMAGENET.input_shape) -> Dict[str, np.ndarray]:
    """The two inputs the case used to check inference alone: all ones, and seeded noise.

    ``shape`` (NCHW) is the model's input: its declared crop, 1 x 3 x 224 x 224 by default.
    """
    return {
        "ones": np.ones(shape, dtype=np.float32),
        "noise": np.random.RandomState(NOISE_SEED).uniform(0, 1, shape).astype(np.float32),
    }


def model_record(options: Dict[str, Any]) -> Dict[str, Any]:
    """The manifest's ``model``: the name, declared preprocessing and labels of the model.

    Compare never compares preprocess or infer outputs whose preprocessing differs. A model
    that cannot be read is recorded with the reason (its runners record it too).
    """
    try:
        return model_declaration(options.get("model")).record()
    except ModelError as exc:
        return {"error": str(exc)}


def _no_canonical_note(canonical: CanonicalInputs) -> str:
    """Why there are no canonical inputs, and what would give some: worded by where capture
    looked (``canonical.origin``)."""
    if canonical.origin == "option":
        fix = ("Leave out --canonical to use the set shipped with edgeparity, or put inputs "
               "there")
    else:  # no --canonical, nothing beside the images, and the shipped set missing or empty
        fix = ("This edgeparity ships no canonical set here (its canonical/ folder is missing "
               "or empty): pass --canonical DIR, or put inputs in IMAGES/{}".format(
                   defaults.CANONICAL_SUBDIR))
    return ("edgeparity: note: no canonical inputs in {} (decoded-*.npy, preprocessed-*.npy): "
            "compare will not be able to tell intrinsic from inherited divergences. {}; any "
            "fixed arrays work, as long as every environment gets the same bytes.\n".format(
                printable(canonical.location), fix))


def _model_line(model: Dict[str, Any], given: Optional[str]) -> str:
    """What the model preprocesses with, said before the run: an undeclared model gets the
    ImageNet default, which is wrong for a model trained otherwise (EfficientNet-Lite)."""
    if "error" in model:
        return "capture: model: {}\n".format(printable(model["error"]))
    steps = Preprocessing(**model["preprocess"]).formula()
    if model.get("declared"):
        return "capture: model {} (declared): {}\n".format(printable(model["name"]), steps)
    if not given:
        return "capture: the demo model: {}\n".format(steps)
    return ("capture: model {} has no {}: preprocessing with the default, {}; if it was "
            "trained otherwise, declare it (docs/models.md)\n".format(
                printable(given), DECLARATION_FILE, steps))


def _raise_interrupted(signum: int, frame: Any) -> None:
    raise Interrupted("signal {}".format(signum))


def capture(
    images_dir: str,
    out: str,
    name: Optional[str] = None,
    stages: Optional[Sequence[str]] = None,
    implementations: Optional[Sequence[str]] = None,
    options: Optional[Dict[str, Any]] = None,
    pipeline: Optional[Dict[str, str]] = None,
    canonical_dir: Optional[str] = None,
    quiet: bool = False,
    pipeline_only: bool = False,
    max_megapixels: float = defaults.MAX_MEGAPIXELS,
    max_file_mb: float = defaults.MAX_FILE_MB,
    compression: str = defaults.COMPRESSION,
    jobs: Optional[int] = None,
    shard: Optional[Tuple[int, int]] = None,
    resume: bool = False,
) -> Tuple[str, Dict[str, int]]:
    """Capture a bundle. Returns (bundle path, counts of ok/error records).

    ``stages`` limits the stages run (default all); ``implementations`` limits implementations
    by name or ``stage/name``. ``pipeline`` is the deployed pipeline of this environment
    (e.g. {"decode": "pillow", "infer": "dlr"}), stored for ``compare``. Images over
    ``max_megapixels`` (declared in their header) or ``max_file_mb`` are recorded as errors
    without being decoded. ``jobs`` worker processes share the images (default: one per
    core on large corpora); the bundle is the same as a serial run's, apart from timings.
    ``shard=(i, n)`` captures only the i-th of n deterministic shares of the images
    (``edgeparity merge`` joins the shard bundles). Canonical inputs come from
    ``canonical_dir``, else ``images_dir/canonical`` when it holds any, else the set shipped
    with edgeparity; the manifest's ``canonical_source`` says which. ``resume`` carries over
    what an interrupted capture to ``out`` kept (resume.py) and captures only the rest.
    """
    limits = {
        "max_pixels": int(max_megapixels * 1e6),
        "max_file_bytes": int(max_file_mb * 1024 * 1024),
        "max_canonical_bytes": defaults.MAX_CANONICAL_MB * 1024 * 1024,
    }
    images_dir = os.path.abspath(images_dir)
    if not os.path.isdir(images_dir):
        raise ValueError(
            "{}: {}. Point --images at a folder of JPEG files (the repository ships {}/)."
            .format(images_dir, "a file, not a folder" if os.path.exists(images_dir) else
                    "no such images directory", defaults.IMAGES_DIR))
    images, skipped_folders = find_images(images_dir)
    for folder in skipped_folders:
        sys.stderr.write("edgeparity: warning: folder {} was not captured: {}\n".format(
            printable(os.path.join(images_dir, folder["folder"])), folder["reason"]))
    if not images:
        raise ValueError("{}: no image files found (looked for {}).".format(
            images_dir, ", ".join(IMAGE_SUFFIXES)))
    every_image = images
    if shard is not None:
        images = [image for image in images if in_shard(image, shard)]
        if not images:
            # A small set split many ways: this share is empty. Its bundle is still written
            # (environment, canonical inputs, no image) so that merge finds every shard.
            sys.stderr.write("edgeparity: note: shard {}/{} holds none of the {} image{} in {}: "
                             "writing an empty shard bundle for `edgeparity merge`\n".format(
                                 shard[0], shard[1], len(every_image),
                                 "" if len(every_image) == 1 else "s", printable(images_dir)))
    canonical = locate_canonical(canonical_dir, images_dir)

    chosen = _select(all_implementations(), stages, implementations)
    if implementations:  # said under -q too (it only silences progress), like warnings
        # `--impl pillow` over all stages leaves inference out without a word otherwise; a
        # later compare can then only say that no infer implementation ran.
        empty = [stage for stage in (stages or STAGES)
                 if not any(impl.stage == stage for impl in chosen)]
        if empty:
            sys.stderr.write("edgeparity: note: --impl {} names no {} implementation: {} not "
                             "captured\n".format(",".join(implementations), " or ".join(empty),
                                                 "that stage is" if len(empty) == 1 else
                                                 "those stages are"))
    if not canonical and not quiet:
        sys.stderr.write(_no_canonical_note(canonical))
    carried = open_interrupted(out, compression) if resume else None
    if carried is None and not quiet and is_bundle(os.path.abspath(out) + ".interrupted"):
        # Forgetting --resume would redo hours of work (a stop keeps whichever holds more).
        sys.stderr.write("edgeparity: note: {}.interrupted holds the records of an interrupted "
                         "capture: --resume carries them over; this capture replaces them when "
                         "it completes (or, stopped, if it finished more images)\n"
                         .format(printable(os.path.abspath(out))))
    writer = BundleWriter(out, compression)
    # SIGTERM (docker stop, CI timeouts) is treated like Ctrl-C: keep what was captured.
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    started = datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z"
    manifest = {
        "name": name or os.path.basename(os.path.abspath(out).rstrip("/")),
        "created": started,
        "edgeparity_version": __version__,
        "images_dir": images_dir,
        "pipeline": pipeline or {},
        "pipeline_only": pipeline_only,
        "options": {k: v for k, v in (options or {}).items() if v is not None},
        # What --stages and --impl asked for (null: everything), so that a compare can say
        # which of them left an implementation or a stage out.
        "selection": {"stages": sorted(set(stages)) if stages else None,
                      "implementations": sorted(set(implementations)) if implementations
                      else None},
        "limits": limits,
        "shard": shard_facts(shard, every_image) if shard else None,
        "images": {},
        "skipped_folders": skipped_folders,
        "canonical_source": canonical.describe(),
        "model": model_record(options or {}),
    }  # type: Dict[str, Any]
    session = None  # type: Optional[Session]
    # Each image allocates and frees the same large buffers: keep them in the heap (allocator.py).
    keep_image_buffers()
    try:
        requested_jobs, jobs = jobs, choose_jobs(len(images), jobs)
        if not quiet:
            # Loading a runtime or a model takes seconds before the first image: say what runs.
            sys.stderr.write("capture: {} image{} on {}{}; loading {} implementation{}\n".format(
                len(images), "" if len(images) == 1 else "s",
                "1 process" if jobs == 1 else "{} worker processes".format(jobs),
                " (not {}: work is handed out {} images at a time)".format(requested_jobs, CHUNK)
                if requested_jobs and requested_jobs > jobs else "",
                len(chosen), "" if len(chosen) == 1 else "s"))
            if any(impl.stage != "decode" for impl in chosen):
                sys.stderr.write(_model_line(manifest["model"], (options or {}).get("model")))
        session = Session(writer, chosen, options or {})
        _refuse_nothing_available(session.implementation_status, implementations, stages)
        session.pipeline = dict(pipeline or {})
        session.pipeline_only = pipeline_only
        pending = images
        if carried is not None:
            pending = carry_over(carried, session, manifest, images_dir, images, limits, quiet)
            jobs = choose_jobs(len(pending), requested_jobs)
        progress = Progress("capture", len(pending), quiet)

        def done(image: str, entry: Dict[str, Any]) -> None:
            manifest["images"][image] = entry
            progress.step(image, note=entry.get("error"))

        if jobs > 1 or not pending:
            if pending:
                run_pool(jobs, pending, session, writer, images_dir, limits, options or {}, done)
            # Decoders map their JPEG library on first use: decode once here too, so the
            # provenance read below names the library the workers loaded (an empty shard:
            # the one its other shards loaded, or merge would find them different).
            session.warm_up(images_dir, pending or images or every_image, limits)
        else:
            for image in pending:
                done(image, session.run_file(images_dir, image, limits))
        if carried is not None:
            restore_order(writer, manifest, images)
        _run_isolated(session, canonical, manifest, limits["max_canonical_bytes"])
        progress.done("{} outputs, {} error{}".format(
            session.counts["ok"], session.counts["error"],
            "" if session.counts["error"] == 1 else "s"))
        manifest["implementations"] = session.implementation_status
        _warn_about_label_count(manifest["model"], writer.records)
        manifest["provenance"] = probe.collect(session.provenance())
        manifest["finished"] = datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z"
        manifest["counts"] = session.counts
        # From here on the bundle is complete: finish it rather than keep a partial copy.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        path = writer.finish(manifest)
        if carried is not None:
            carried.remove()  # all it held is in the complete bundle now
        else:
            remove_superseded(path, quiet)
        return path, session.counts
    except (Interrupted, KeyboardInterrupt) as exc:
        if writer.finished:
            raise KeyboardInterrupt(
                "interrupted after the bundle was complete: {} is whole".format(writer.path)
            ) from None
        if carried is not None and not carried.released:
            # Stopped before anything new was captured (loading, checking, carrying over):
            # the kept records stay exactly as they were.
            writer.discard()
            raise KeyboardInterrupt("capture interrupted before it resumed: {} is as it was"
                                    .format(carried.path)) from None
        if not writer.records:
            writer.discard()  # nothing to keep: an earlier capture's kept records stay
            raise KeyboardInterrupt("capture interrupted before any output was captured; "
                                    "nothing kept") from None
        manifest["stopped_by"] = "interrupted ({})".format(str(exc) or "Ctrl-C")
        kept = keep_records(writer, session, manifest, carried)
        raise KeyboardInterrupt("capture interrupted; " + kept_note(writer, manifest, kept)
                                ) from None
    except Exception as exc:
        # A run that must stop (an error no single image caused) keeps what it captured; a
        # resume that stopped before capturing anything (refused) leaves the kept records be.
        if writer.finished or not writer.records or (carried is not None and
                                                     not carried.released):
            if not writer.finished:
                writer.discard()
            raise
        manifest["stopped_by"] = error_text(exc)
        try:
            kept = keep_records(writer, session, manifest, carried)
        except Exception:
            writer.discard()  # e.g. the disk is full: nothing more can be written
            raise exc from None
        note = kept_note(writer, manifest, kept)
        if isinstance(exc, UserError):
            raise BundleError("{} ({})".format(exc, note)) from None
        sys.stderr.write("edgeparity: {}\n".format(note))
        raise
    except BaseException:
        if not writer.finished:
            writer.discard()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def _warn_about_label_count(model: Dict[str, Any], records: List[Dict[str, Any]]) -> None:
    """Said once: labels declared for another number of classes than the runtimes output (e.g.
    1000 names, 1001 outputs with a background class) would name every class wrongly, so
    reports name classes by index; the declaration is what to fix."""
    labels = model.get("labels")
    if not isinstance(labels, list):
        return
    sizes = {}  # type: Dict[int, set]
    for record in records:
        shape = record.get("shape")
        # (batch, classes), the outputs compare names classes for (diffstats.classifier_stats).
        if record.get("stage") == "infer" and record.get("status") == "ok" and shape and \
                len(shape) == 2:
            sizes.setdefault(int(shape[-1]), set()).add("infer/" + str(record.get("impl")))
    wrong = {size: runners for size, runners in sizes.items() if size != len(labels)}
    if wrong:
        runners = sorted(set().union(*wrong.values()))
        sys.stderr.write(
            "edgeparity: warning: the model declares {} labels, but {} output{} {} classes: "
            "reports will name classes by index; fix \"labels\" in its edgeparity-model.json "
            "(docs/models.md)\n".format(
                len(labels), ", ".join(runners), "s" if len(runners) == 1 else "",
                " or ".join(str(size) for size in sorted(wrong))))


def _run_isolated(
    session: Session, canonical: CanonicalInputs, manifest: Dict[str, Any], max_bytes: int,
) -> None:
    manifest["canonical"] = {}
    inputs = []  # type: List[Tuple[str, str, np.ndarray]]
    crop = (manifest.get("model") or {}).get("preprocess", {}).get("crop", IMAGENET.crop)
    misfits = []  # type: List[str]
    for stage in ("preprocess", "infer"):
        for name in canonical.names[stage] if session.loaded[stage] else ():
            path = canonical.path(name)
            try:
                array = canonical.load(name, max_bytes)
            except InputError as exc:
                manifest["canonical"]["canonical/" + name] = {"error": str(exc)}
                sys.stderr.write("edgeparity: warning: canonical input {} not used: {}\n".format(
                    printable(path), printable(exc)))
                continue
            if stage == "infer" and array.shape != (1, 3, crop, crop):
                # Made for another model's input size: every runner would only fail on it.
                manifest["canonical"]["canonical/" + name] = {"error": (
                    "shape {} does not fit the model's input 1 x 3 x {} x {}".format(
                        array.shape, crop, crop))}
                misfits.append(name)
                continue
            inputs.append((stage, "canonical:" + name[: -len(".npy")], array))
    if misfits:
        sys.stderr.write("edgeparity: note: {} canonical input{} not used for inference: made "
                         "for another input size than the model's {}x{} ({})\n".format(
                             len(misfits), "" if len(misfits) == 1 else "s", crop, crop,
                             ", ".join(misfits)))
    for label, array in sorted(probe_inputs((1, 3, crop, crop)).items()):
        inputs.append(("infer", "probe:" + label, array))
    for stage, label, array in inputs:
        if not session.loaded[stage]:
            continue  # e.g. a decode-only capture: store no input nothing reads
        digest = session.writer.add_array(array)
        manifest["canonical"][label] = {
            "sha256": digest,
            "shape": list(array.shape),
            "dtype": array.dtype.str,
        }
        mode = "probe" if label.startswith("probe:") else "isolated"
        for impl in session.loaded[stage]:
            chain = extend_chain(label, stage, impl.name)
            session.record(label, mode, chain, impl, lambda i=impl, a=array: i.run(a), digest)


def _refuse_nothing_available(status: Dict[str, Dict[str, Any]],
                              asked: Optional[Sequence[str]],
                              stages: Optional[Sequence[str]]) -> None:
    """UserError, before any image, when no implementation chosen can run here: the bundle
    would record nothing (it was written, exit 0, advising to install Pillow)."""
    if not status:  # --stages infer --impl pillow
        raise UserError("nothing to capture: --stages {} with --impl {} selects no "
                        "implementation".format(",".join(stages or ()), ",".join(asked or ())))
    if any(entry["status"] == "available" for entry in status.values()):
        return
    reasons = "; ".join("{}: {}".format(key, str(entry.get("reason")).splitlines()[0])
                        for key, entry in sorted(status.items()))
    raise UserError("nothing can be captured: {} is available here ({}). Install one, or choose "
                    "others with --impl (`edgeparity probe` lists what runs here)".format(
                        "none of --impl {}".format(",".join(asked)) if asked else
                        "no implementation", printable(reasons)))


def _select(
    implementations: List[Implementation],
    stages: Optional[Sequence[str]],
    names: Optional[Sequence[str]],
) -> List[Implementation]:
    chosen = []
    known = {impl_key(i.stage, i.name) for i in implementations}
    for wanted in names or ():
        if wanted not in known and not any(k.endswith("/" + wanted) for k in known):
            raise ValueError(
                "unknown implementation {!r}; known: {}".format(wanted, ", ".join(sorted(known)))
            )
    for stage in stages or ():
        if stage not in STAGES:
            raise ValueError("unknown stage {!r}; stages are {}".format(stage, ", ".join(STAGES)))
    for impl in implementations:
        if stages and impl.stage not in stages:
            continue
        if names and impl.name not in names and impl_key(impl.stage, impl.name) not in names:
            continue
        chosen.append(impl)
    return chosen
