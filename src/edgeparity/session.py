"""What one process does with each image: run every loaded implementation along the chains,
store each output and its record. A capture runs one session, or one per worker process.

Runs on CPython 3.6 with numpy only.
"""

import hashlib
import os
import re
import time
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from .arrays import array_stats
from .bundle.writer import ArrayStore
from .errors import UserError
from .inputs import InputError, jpeg_header, read_image_file
from .stages import Implementation, Unavailable
from .stages.pipeline import STAGES, extend_chain, impl_key, record_key, split_impl_key


class Interrupted(KeyboardInterrupt):
    # A KeyboardInterrupt (a BaseException): a plugin's `except Exception` must not swallow it,
    # and the command line reports it like Ctrl-C (exit 130) wherever it surfaces.
    pass


def error_text(exc: BaseException) -> str:
    """One line: the exception's type and the line of its message that says what failed."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    line = lines[0] if lines else ""
    if line.startswith("Traceback (most recent call last)"):
        # MXNet and TVM errors carry their C++ traceback first and the message last
        # ("MXNetError: Check failed: !res.empty(): Decoding failed. Invalid image file.").
        line = lines[-1]
    name = type(exc).__name__
    if name == "error":  # OpenCV's cv2.error: "error: error: OpenCV(...)" said nothing
        name = "{}.error".format(type(exc).__module__)
    if line.startswith(name + ":"):
        return line
    return "{}: {}".format(name, line).rstrip(": ")


class EmptyFile(ValueError):
    pass


def _empty_file() -> "np.ndarray":
    # Every decoder has its own words for no data ("cannot identify image file"): this one
    # says what is wrong with the file.
    raise EmptyFile("the file is empty (0 bytes)")


class Session:
    """Holds the loaded implementations and the bundle being written."""

    def __init__(
        self,
        writer: ArrayStore,
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
                    "reason": "failed to load: " + error_text(exc),
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
            seconds = time.time() - started
            # Storing copies the array once more: out of memory here is this output's error.
            digest = self.writer.add_array(output)
        except (Interrupted, KeyboardInterrupt, UserError):
            raise  # UserError: the bundle itself cannot be written (disk full)
        except Exception as exc:  # MemoryError included: one output never loses the run
            # Decoders read from memory, so their messages say "<_io.BytesIO object at 0x...>";
            # name the file instead.
            error = re.sub(r"<_io\.BytesIO object at 0x[0-9a-f]+>", image, error_text(exc))
            record.update(status="error", error=error, seconds=round(time.time() - started, 6))
            self.writer.add_record(record)
            self.counts["error"] += 1
            return None
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
                (lambda d=decoder: d.run(data)) if data else _empty_file, None,
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


    def run_file(self, images_dir: str, image: str, limits: Dict[str, int]
                 ) -> Dict[str, Any]:
        """Read one image file (with the limits) and run its chains; its manifest entry."""
        try:
            data = read_image_file(os.path.join(images_dir, image),
                                   limits["max_file_bytes"], limits["max_pixels"])
        except InputError as exc:
            # Counted as an error; the manifest's image entry says why nothing ran.
            self.counts["error"] += 1
            return {"error": str(exc)}
        self.run_image(image, data)
        entry = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        # The header facts (coding, colour space, EXIF orientation) let compare say why two
        # decoders differ on this file, from the bundle alone.
        header = jpeg_header(data)
        if header:
            entry["jpeg"] = header
        return entry

    def provenance(self) -> Dict[str, Dict[str, Any]]:
        """Each implementation's status with its provenance, gathered *after* the runs, when
        lazily loaded libraries are mapped."""
        result = {}
        for key, status in self.implementation_status.items():
            entry = dict(status)
            if status["status"] == "available":
                stage, name = split_impl_key(key)
                impl = next(i for i in self.loaded[stage] if i.name == name)
                try:
                    entry["details"] = impl.provenance()
                except Exception as exc:
                    entry["details"] = {"provenance_error": error_text(exc)}
            result[key] = entry
        return result

    def warm_up(self, images_dir: str, images: Sequence[str], limits: Dict[str, int]) -> None:
        """Decode one readable image with every decoder, keeping nothing (see capture)."""
        for image in images:
            try:
                data = read_image_file(os.path.join(images_dir, image),
                                       limits["max_file_bytes"], limits["max_pixels"])
            except InputError:
                continue
            self.decode_once(data)
            return

    def decode_once(self, data: bytes) -> None:
        """Decode ``data`` with every decoder, keeping nothing: each maps its JPEG library (on
        first use, for some), which the provenance then names."""
        for decoder in self.loaded["decode"]:
            try:
                decoder.run(data)
            except Exception:
                pass  # only the mapping of its libraries matters here
