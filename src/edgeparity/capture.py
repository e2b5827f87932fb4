"""Run every stage implementation on every image and write a bundle.

Three kinds of runs, so ``compare`` can tell *where* a divergence starts:

- ``e2e``: the environment's own chain. Each decoder's output feeds each preprocessor, whose
  output feeds each runner. Chain keys read like ``decode=pillow>preprocess=pillow>infer=dlr``.
- ``isolated``: a stage on canonical inputs shipped with the samples (the same bytes in every
  environment): ``canonical:decoded-photo>preprocess=pillow``. If the isolated run agrees
  across environments but the e2e run does not, the divergence was inherited from upstream.
- ``probe``: runners on the case's two synthetic inputs, an all-ones tensor and seeded uniform
  [0, 1) noise: ``probe:ones>infer=mxnet``.

Decoding needs no isolated run: its input, the file's bytes, is already identical everywhere
(each image's sha256 is recorded to prove it).

Runs on CPython 3.6 with numpy only.
"""

import datetime
import hashlib
import os
import re
import signal
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import __version__, defaults, probe
from .arrays import array_stats
from .bundle import BundleWriter
from .inputs import (
    IMAGE_SUFFIXES,
    InputError,
    find_canonical,
    find_images,
    load_canonical,
    read_image_file,
)
from .progress import Progress
from .stages import Implementation, Unavailable, all_implementations, spec
from .stages.pipeline import (
    STAGES,
    extend_chain,
    impl_key,
    record_key,
    split_impl_key,
)
from .text import printable

NOISE_SEED = 0


def probe_inputs() -> Dict[str, np.ndarray]:
    """The two inputs the case used to check inference alone: all ones, and seeded noise."""
    return {
        "ones": np.ones(spec.INPUT_SHAPE, dtype=np.float32),
        "noise": np.random.RandomState(NOISE_SEED)
        .uniform(0, 1, spec.INPUT_SHAPE)
        .astype(np.float32),
    }


class _Interrupted(BaseException):
    # BaseException, like KeyboardInterrupt: a plugin's `except Exception` must not swallow it.
    pass


def _raise_interrupted(signum: int, frame: Any) -> None:
    raise _Interrupted("signal {}".format(signum))


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return "{}: {}".format(type(exc).__name__, text[0] if text else "").rstrip(": ")


class Capture:
    """Holds the loaded implementations and the bundle being written."""

    def __init__(
        self,
        writer: BundleWriter,
        implementations: Sequence[Implementation],
        options: Dict[str, Any],
    ) -> None:
        self.writer = writer
        self.options = options
        self.pipeline = {}  # type: Dict[str, str]
        self.pipeline_only = False
        self.loaded = {stage: [] for stage in STAGES}  # type: Dict[str, List[Implementation]]
        self.implementation_status = {}  # type: Dict[str, Dict[str, Any]]
        self.counts = {"ok": 0, "error": 0, "skipped": 0}
        for impl in implementations:
            key = impl_key(impl.stage, impl.name)
            try:
                impl.load(options)
            except Unavailable as exc:
                self.implementation_status[key] = {
                    "status": "skipped",
                    "reason": str(exc),
                    "description": impl.description,
                }
                continue
            except Exception as exc:
                self.implementation_status[key] = {
                    "status": "skipped",
                    "description": impl.description,
                    "reason": "failed to load: " + _error_text(exc),
                }
                continue
            self.implementation_status[key] = {
                "status": "available",
                "description": impl.description,
            }
            self.loaded[impl.stage].append(impl)

    def record(
        self,
        image: str,
        mode: str,
        chain: str,
        impl: Implementation,
        run: Callable[[], np.ndarray],
        input_digest: Optional[str],
    ) -> Optional[Tuple[np.ndarray, str]]:
        """Run one stage, store its output and a record. Errors are recorded, never raised."""
        record = {
            "key": record_key(image, chain),
            "image": image,
            "mode": mode,
            "chain": chain,
            "stage": impl.stage,
            "impl": impl.name,
            "input": input_digest,
        }  # type: Dict[str, Any]
        started = time.time()
        try:
            output = np.asarray(run())
            stats = array_stats(output)
        except (_Interrupted, KeyboardInterrupt):
            raise
        except Exception as exc:  # MemoryError included: one output never loses the run
            # Decoders read from memory, so their messages say "<_io.BytesIO object at 0x...>";
            # name the file instead.
            error = re.sub(r"<_io\.BytesIO object at 0x[0-9a-f]+>", image, _error_text(exc))
            record.update(status="error", error=error, seconds=round(time.time() - started, 6))
            self.writer.add_record(record)
            self.counts["error"] += 1
            return None
        seconds = time.time() - started
        digest = self.writer.add_array(output)
        record.update(
            status="ok",
            error=None,
            shape=list(output.shape),
            dtype=output.dtype.str,
            sha256=digest,
            stats=stats,
            seconds=round(seconds, 6),
        )
        self.writer.add_record(record)
        self.counts["ok"] += 1
        return output, digest

    def follows_pipeline(self, stage: str, name: str) -> bool:
        """Whether end-to-end chains continue through ``stage=name``.

        By default every combination is captured, so any pipeline can be compared later.
        With ``pipeline_only`` (large corpora, slow models), every decoder still runs (it is
        cheap and shows which decoders agree across environments), but preprocessing and
        inference follow only the declared pipeline.
        """
        return not self.pipeline_only or self.pipeline.get(stage, name) == name

    def run_image(self, image: str, data: bytes) -> None:
        """The e2e chain for one image file."""
        for decoder in self.loaded["decode"]:
            decoded = self.record(
                image, "e2e", extend_chain("", "decode", decoder.name), decoder,
                lambda d=decoder: d.run(data), None,
            )
            if decoded is None or not self.follows_pipeline("decode", decoder.name):
                continue
            self.run_downstream(
                image, "e2e", extend_chain("", "decode", decoder.name), decoded, "preprocess")

    def run_downstream(
        self, image: str, mode: str, chain: str, upstream: Tuple[np.ndarray, str], stage: str
    ) -> None:
        """Feed ``upstream`` to every implementation of ``stage`` and onwards to the end."""
        array, digest = upstream
        for impl in self.loaded[stage]:
            if not self.follows_pipeline(stage, impl.name):
                continue
            child_chain = extend_chain(chain, stage, impl.name)
            result = self.record(
                image, mode, child_chain, impl, lambda i=impl: i.run(array), digest
            )
            if result is not None and stage == "preprocess":
                self.run_downstream(image, mode, child_chain, result, "infer")


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
) -> Tuple[str, Dict[str, int]]:
    """Capture a bundle. Returns (bundle path, counts of ok/error records).

    ``stages`` limits the stages run (default all); ``implementations`` limits implementations
    by name or ``stage/name``. ``pipeline`` is the deployed pipeline of this environment
    (e.g. {"decode": "pillow", "infer": "dlr"}), stored for ``compare``. Images over
    ``max_megapixels`` (declared in their header) or ``max_file_mb`` are recorded as errors
    without being decoded.
    """
    limits = {
        "max_pixels": int(max_megapixels * 1e6),
        "max_file_bytes": int(max_file_mb * 1024 * 1024),
        "max_canonical_bytes": defaults.MAX_CANONICAL_MB * 1024 * 1024,
    }
    images_dir = os.path.abspath(images_dir)
    if not os.path.isdir(images_dir):
        raise ValueError(
            "{}: no such images directory. Point --images at a folder of JPEG "
            "files (the repository ships {}/).".format(images_dir, defaults.IMAGES_DIR)
        )
    images, skipped_folders = find_images(images_dir)
    for folder in skipped_folders:
        sys.stderr.write("edgeparity: warning: folder {} was not captured: {}\n".format(
            printable(os.path.join(images_dir, folder["folder"])), folder["reason"]))
    if not images:
        raise ValueError(
            "{}: no image files found (looked for {}).".format(
                images_dir, ", ".join(IMAGE_SUFFIXES)
            )
        )
    canonical_dir = canonical_dir or os.path.join(images_dir, defaults.CANONICAL_SUBDIR)
    canonical = find_canonical(canonical_dir)

    chosen = _select(all_implementations(), stages, implementations)
    if not (canonical["preprocess"] or canonical["infer"]) and not quiet:
        sys.stderr.write(
            "edgeparity: note: no canonical inputs in {} (decoded-*.npy, preprocessed-*.npy): "
            "compare will not be able to tell intrinsic from inherited divergences. Pass "
            "--canonical {}/{} from the edgeparity repository; any fixed arrays work, as "
            "long as every environment gets the same bytes.\n".format(
                canonical_dir, defaults.IMAGES_DIR, defaults.CANONICAL_SUBDIR)
        )
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
        "limits": limits,
        "images": {},
        "skipped_folders": skipped_folders,
    }  # type: Dict[str, Any]
    session = None  # type: Optional[Capture]
    try:
        session = Capture(writer, chosen, options or {})
        session.pipeline = dict(pipeline or {})
        session.pipeline_only = pipeline_only
        progress = Progress("capture", len(images), quiet)
        for image in images:
            try:
                data = read_image_file(os.path.join(images_dir, image),
                                       limits["max_file_bytes"], limits["max_pixels"])
            except InputError as exc:
                # Counted as an error, and every decoder's record says why it did not run.
                manifest["images"][image] = {"error": str(exc)}
                session.counts["error"] += 1
                progress.step(image, note=str(exc))
                continue
            manifest["images"][image] = {
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
            }
            session.run_image(image, data)
            progress.step(image)
            del data
        _run_isolated(session, canonical_dir, canonical, manifest, limits["max_canonical_bytes"])
        progress.done("{ok} outputs, {error} errors".format(**session.counts))
        manifest["implementations"] = session.implementation_status
        manifest["provenance"] = probe.collect(_provenance(session))
        manifest["finished"] = datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z"
        manifest["counts"] = session.counts
        # From here on the bundle is complete: finish it rather than keep a partial copy.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        path = writer.finish(manifest)
        return path, session.counts
    except (_Interrupted, KeyboardInterrupt):
        if writer.finished:
            raise KeyboardInterrupt(
                "interrupted after the bundle was complete: {} is whole".format(writer.path)
            ) from None
        if session is not None:
            manifest["implementations"] = session.implementation_status
        # A second Ctrl-C (or SIGTERM) while the partial bundle is saved must not strand it.
        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            kept = writer.finish_interrupted(manifest)
        finally:
            signal.signal(signal.SIGINT, previous_int)
        raise KeyboardInterrupt(
            "capture interrupted; the {} records captured so far are kept in {} (marked "
            "incomplete, so compare refuses it). Re-run capture to get a complete bundle.".format(
                len(writer.records), kept
            )
        ) from None
    except BaseException:
        if not writer.finished:
            writer.discard()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_isolated(
    session: Capture, canonical_dir: str, canonical: Dict[str, List[str]], manifest: Dict[str, Any],
    max_bytes: int,
) -> None:
    manifest["canonical"] = {}
    inputs = []  # type: List[Tuple[str, str, np.ndarray]]
    for stage in ("preprocess", "infer"):
        for name in canonical[stage] if session.loaded[stage] else ():
            path = os.path.join(canonical_dir, name)
            try:
                array = load_canonical(path, max_bytes)
            except InputError as exc:
                manifest["canonical"]["canonical/" + name] = {"error": str(exc)}
                sys.stderr.write("edgeparity: warning: canonical input {} not used: {}\n".format(
                    printable(path), printable(exc)))
                continue
            inputs.append((stage, "canonical:" + name[: -len(".npy")], array))
    for label, array in sorted(probe_inputs().items()):
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


def _provenance(session: Capture) -> Dict[str, Dict[str, Any]]:
    """Implementation provenance gathered *after* the runs, when lazy libraries are mapped."""
    result = {}
    for key, status in session.implementation_status.items():
        entry = dict(status)
        if status["status"] == "available":
            stage, name = split_impl_key(key)
            impl = next(i for i in session.loaded[stage] if i.name == name)
            try:
                entry["details"] = impl.provenance()
            except Exception as exc:
                entry["details"] = {"provenance_error": _error_text(exc)}
        result[key] = entry
    return result


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
