"""`edgeparity export`: one captured output, or the difference of two, as a PNG or .npy file.

An output is named like in `compare`: a bundle read with a pipeline (``cloud@decode=mxnet``),
an image and a stage, or a record key outright. Decoded images (8-bit H x W x C) can be written
as PNG, exactly (the PNG holds the array's bytes); any output as .npy. The difference of two
bundles' outputs is ``other - reference`` as .npy (signed: int16 for 8-bit pixels, float64 for
floats), or for decoded images a PNG in the HTML report's absolute colours (``levels=True``:
8-bit grey, each pixel its largest channel difference, for tools).

Host side (CPython >= 3.9); no imaging library needed.
"""

import io
import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .atomic import write_atomic
from .bundle import Bundle, BundleError
from .bundle import load as load_bundle
from .compare.endpoints import Endpoint, parse_endpoint, resolve_pipelines
from .compare.failing import asked_only
from .diffstats import is_image
from .diffview import colourise, difference_levels
from .png import can_encode, encode_png
from .stages.pipeline import STAGES

FORMATS = (".png", ".npy")


def open_endpoint(spec: str) -> Endpoint:
    """``PATH[@stage=impl,...]`` as compare reads it alone (stages not named: the bundle's
    pipeline, else what ``compare.endpoints.resolve_pipelines`` fills in)."""
    return open_endpoints([spec])[0]


def open_endpoints(specs: List[str]) -> List[Endpoint]:
    """Several ``PATH[@stage=impl,...]`` as one compare of them reads them: the stages no
    pipeline names are filled in together (like for like), so `export --diff` shows the pair
    that compare compared."""
    endpoints = []
    for spec in specs:
        path, pipeline = parse_endpoint(spec)
        loaded = load_bundle(path)
        endpoints.append(Endpoint(loaded, dict(pipeline), loaded.name))
    resolve_pipelines(endpoints)
    return endpoints


def select(endpoint: Endpoint, image: Optional[str], stage: str, key: Optional[str]
           ) -> Tuple[str, Dict[str, Any]]:
    """(record key, record) of ``image`` at ``stage`` along the endpoint's pipeline, or of
    ``key``; ValueError saying what exists instead."""
    loaded = endpoint.bundle
    if key is None:
        if image is None:
            raise ValueError("name the output: --image NAME (and --stage), or --key KEY")
        if stage not in STAGES:
            raise ValueError("--stage {!r}: one of {}".format(stage, ", ".join(STAGES)))
        _require_image(loaded, image)
        missing = [s for s in STAGES[:STAGES.index(stage) + 1] if s not in endpoint.pipeline]
        if missing:  # a chain with a gap ('infer=?') names no record
            raise ValueError("{}: no {} output: it ran no {} implementation{}".format(
                loaded.path, stage, missing[0], asked_only(loaded)))
        key = endpoint.chain_key(image, stage)
    record = loaded.records.get(key)
    if record is None:
        near = [k for k in loaded.records if image is None or loaded.records[k]["image"] == image]
        raise ValueError("{}: no record {!r} (the pipeline {} was not captured there?); "
                         "records of this image: {}".format(
                             loaded.path, key, _pipeline_text(endpoint), _few(sorted(near))))
    if record["status"] != "ok":
        raise ValueError("{}: {} has no output: {} there ({})".format(
            loaded.path, key, record["status"], record.get("error") or "no reason recorded"))
    return key, record


def _require_image(loaded: Bundle, image: str) -> None:
    """ValueError naming the images the bundle has when ``image`` is not one of them."""
    if image not in loaded.manifest.get("images", {}):
        raise ValueError("{}: no image {!r}; it has {}".format(
            loaded.path, image, _few(loaded.images)))


def output_array(endpoint: Endpoint, image: Optional[str], stage: str = "decode",
                 key: Optional[str] = None) -> Tuple[str, np.ndarray]:
    """(record key, array) of one captured output (see ``select``)."""
    key, _ = select(endpoint, image, stage, key)
    return key, endpoint.bundle.output(key)


def difference(reference: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``other - reference``, signed and without overflow: int16 for 8-bit, int64 for other
    integers, float64 for floats."""
    if reference.shape != other.shape:
        raise ValueError("the outputs have different shapes, {} and {}: no element-wise "
                         "difference".format(tuple(reference.shape), tuple(other.shape)))
    kinds = {reference.dtype.kind, other.dtype.kind}
    if kinds <= {"u", "i"}:
        small = reference.dtype.itemsize == other.dtype.itemsize == 1
        wide = np.int16 if small else np.int64
        return other.astype(wide) - reference.astype(wide)
    return other.astype(np.float64) - reference.astype(np.float64)


def encode(array: np.ndarray, path: str) -> bytes:
    """The bytes of ``path``'s format (by extension): PNG for 8-bit images, .npy for anything."""
    extension = os.path.splitext(path)[1].lower()
    if extension == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return buffer.getvalue()
    if extension == ".png":
        if not can_encode(array):
            raise ValueError("{} is a {} array of shape {}: PNG holds 8-bit images (decoded "
                             "pixels); write .npy instead".format(
                                 path, array.dtype, tuple(array.shape)))
        return encode_png(array)
    raise ValueError("{}: write .png or .npy".format(path))


def difference_file(reference: np.ndarray, other: np.ndarray, path: str,
                    levels: bool = False) -> bytes:
    """The difference as ``path`` wants it: signed .npy, or for decoded images a PNG."""
    delta = difference(reference, other)
    if path.lower().endswith(".png"):
        if not (is_image(reference) and is_image(other)):
            raise ValueError("{}: a difference PNG is drawn for decoded images only; write "
                             ".npy for {} outputs".format(path, reference.dtype))
        grey = difference_levels(reference, other)
        return encode_png(grey if levels else colourise(grey))
    return encode(delta, path)


def write_bytes(path: str, data: bytes) -> None:
    """Write atomically (a reader never sees half a file); UserError naming the file when it
    cannot be written (``atomic.write_atomic``, the report writer's too)."""
    write_atomic(path, data)


def listing(loaded: Bundle, image: Optional[str] = None) -> List[str]:
    """One line per record: key, status, dtype and shape (what `export --list` prints).

    With ``image``, that image's records (an input image, or a canonical or probe input such as
    ``canonical:decoded-photo-420``); ValueError saying what exists for an unknown one."""
    lines = []
    for record in loaded.find(image=image):
        if record["status"] == "ok":
            # The array index always has shape and dtype (a record may omit them).
            entry = loaded.manifest["arrays"][record["sha256"]]
            what = "{} {}".format(np.dtype(entry["dtype"]).name,
                                  "x".join(str(n) for n in entry["shape"]))
            if cut_short(loaded, record["image"]):
                what += "  ({})".format(CUT_SHORT)
        else:
            what = "{}: {}".format(record["status"], record.get("error") or "")
        lines.append("{}  {}  {}".format(record["key"], record["mode"], what))
    if image is not None and not lines:
        _require_image(loaded, image)
    return lines


CUT_SHORT = "from a file cut short: the decoder filled in what is missing"


def cut_short(loaded: Bundle, image: str) -> bool:
    """Whether capture found ``image``'s file cut short (a JPEG with no end-of-image marker after
    its first scan): what a decoder outputs for it is partly its own invention."""
    return bool((loaded.jpeg_header(image) or {}).get("truncated"))


def _pipeline_text(endpoint: Endpoint) -> str:
    return ",".join("{}={}".format(s, endpoint.pipeline[s]) for s in STAGES
                    if s in endpoint.pipeline)


def _few(items: List[str], limit: int = 8) -> str:
    if not items:
        return "none"
    return ", ".join(items[:limit]) + (" (+{} more)".format(len(items) - limit)
                                       if len(items) > limit else "")


__all__ = [
    "CUT_SHORT",
    "BundleError",
    "cut_short",
    "difference",
    "difference_file",
    "encode",
    "listing",
    "open_endpoint",
    "open_endpoints",
    "output_array",
    "select",
    "write_bytes",
]
