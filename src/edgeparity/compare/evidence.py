"""Why two decoders differ and what to do, stated only as far as the bundles show it.

Every sentence here rests on records of the two bundles: which decoded outputs are bit-identical,
which failed, what each file's JPEG header says (coding, colour space, EXIF orientation: recorded
at capture), and which JPEG library each decoder loaded. A difference between the sides that the
data does not tie to a differing image is reported as "also differs", never as a cause, and no
advice asks to change what is already the same on both sides.
"""

import functools
import hashlib
import os
from typing import Any, Dict, List, Optional, Tuple

from ..inputs import jpeg_header
from ..stages.pipeline import pipeline_chain, record_key
from .endpoints import Endpoint, available, implementation_details

DISPLAY_NAMES = {
    "pillow": "Pillow",
    "pillow-exif": "Pillow",
    "mxnet": "MXNet",
    "opencv": "OpenCV",
    "simplejpeg": "simplejpeg",
    "dlr": "DLR",
    "onnxruntime": "ONNX Runtime",
    "tvm": "TVM",
}

# Colour spaces a decoder hands to libjpeg's own YCbCr/grayscale/RGB output path: a pixel
# difference there comes from the JPEG decoding itself (IDCT, chroma upsampling).
ORDINARY_COLOURS = ("YCbCr", "grayscale", "RGB")
CMYK_COLOURS = ("CMYK", "YCCK")

# Kinds of difference, in the order the report lists them.
PIXELS, CMYK, TRUNCATED, FAILS, ORIENTATION, UNEXPLAINED = (
    "pixels", "cmyk", "truncated", "fails_on_one_side", "exif_orientation", "unexplained")
KIND_WORDS = {
    PIXELS: "ordinary JPEG", CMYK: "CMYK", TRUNCATED: "cut-short", FAILS: "failing",
    ORIENTATION: "rotated", UNEXPLAINED: "unexplained",
}


def display_name(impl: str) -> str:
    return DISPLAY_NAMES.get(impl, impl)


def two_names(a: str, b: str) -> Tuple[str, str]:
    """Display names of two implementations, or their own names when those would read alike
    ('pillow' vs 'pillow-exif', both 'Pillow')."""
    if display_name(a) == display_name(b) and a != b:
        return a, b
    return display_name(a), display_name(b)


def plural(count: int, word: str) -> str:
    return "{} {}{}".format(count, word, "" if count == 1 else "s")


def listed(items: List[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (" and {} more".format(len(items) - limit) if len(items) > limit else "")


def decoded_key(image: str, impl: str) -> str:
    return record_key(image, _decode_chain(impl))


@functools.lru_cache(maxsize=None)
def _decode_chain(impl: str) -> str:
    # Asked for every image, several times: the chain of a decoder never changes.
    return pipeline_chain({"decode": impl}, "decode")


class Side:
    """One endpoint decoding with one decoder: what the sentences are about."""

    def __init__(self, endpoint: Endpoint, decoder: str) -> None:
        self.endpoint = endpoint
        self.decoder = decoder
        details = implementation_details(endpoint.bundle, "decode", decoder)
        self.version = details.get("version")
        self.build = (details.get("jpeg_library") or {}).get("build")

    @property
    def label(self) -> str:
        return self.endpoint.label

    def record(self, image: str) -> Optional[Dict[str, Any]]:
        return self.endpoint.bundle.records.get(decoded_key(image, self.decoder))

    def named(self) -> str:
        """"cloud's Pillow"."""
        return "{}'s {}".format(self.label, display_name(self.decoder))


# Largest image file read again on the host to learn its header (older bundles only).
HEADER_READ_LIMIT = 64 << 20


def header(reference: Endpoint, other: Endpoint, image: str) -> Dict[str, Any]:
    """The JPEG header facts recorded at capture (the file bytes are the same on both sides).

    A bundle captured before they were recorded: the header is read from the capture's own
    images folder when that folder is on this machine and the file's sha256 still matches."""
    recorded = [facts for facts in (endpoint.bundle.jpeg_header(image)
                                     for endpoint in (other, reference)) if facts is not None]
    if recorded:
        # Both, merged: a newer capture records facts an older one did not (``truncated``).
        return recorded[0] if len(recorded) == 1 else dict(recorded[0], **recorded[1])
    for endpoint in (reference, other):
        cache = endpoint.bundle.__dict__.setdefault("_edgeparity_headers", {})
        if image not in cache:
            cache[image] = _header_from_file(endpoint.bundle.manifest, image)
        if cache[image]:
            return cache[image]
    return {}


def _header_from_file(manifest: Dict[str, Any], image: str) -> Dict[str, Any]:
    entry = manifest.get("images", {}).get(image, {})
    folder = manifest.get("images_dir")
    if not isinstance(folder, str) or not entry.get("sha256"):
        return {}
    path = os.path.join(folder, image)
    try:
        if not os.path.isfile(path) or os.path.getsize(path) > HEADER_READ_LIMIT:
            return {}
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return {}
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        return {}  # not the file that was captured
    return jpeg_header(data) or {}


def outcome(a: Side, b: Side, image: str) -> Optional[str]:
    """'same' (bit-identical pixels), 'both_fail', 'differ', or None (no record on a side)."""
    return _outcome(a.record(image), b.record(image))


def _outcome(x: Optional[Dict[str, Any]], y: Optional[Dict[str, Any]]) -> Optional[str]:
    if x is None or y is None:
        return None
    if x["status"] == y["status"] == "ok" and x["sha256"] == y["sha256"]:
        return "same"
    if x["status"] == y["status"] == "error":
        return "both_fail"
    return "differ"


def agreement(a: Side, b: Side, images: List[str]) -> Tuple[List[str], List[str]]:
    """Images on which two sides give the same result (same pixels, or both fail), and those
    on which they do not; images without a record on a side are left out."""
    # Asked twice per pair with the same sides and images (agreeing decoders, alternatives):
    # answered once. The answer depends on the two bundles' records and decoders only; the
    # other bundle is named by its id, which no other object takes while a compare holds it
    # (holding the endpoint itself tied the two in a cycle that outlived the compare).
    asked = (a.decoder, id(b.endpoint.bundle), b.decoder, tuple(images))
    known = a.endpoint.agreements.get(asked)
    if known is None:
        known = a.endpoint.agreements[asked] = _agreement(a, b, images)
    return list(known[0]), list(known[1])


def _agreement(a: Side, b: Side, images: List[str]) -> Tuple[List[str], List[str]]:
    agree, disagree = [], []
    # Asked several times per pair for every image of the corpus: the records are looked up
    # directly (a key is the image's name and this suffix) and judged inline, as _outcome does.
    records_a, suffix_a = a.endpoint.bundle.records, record_key("", _decode_chain(a.decoder))
    records_b, suffix_b = b.endpoint.bundle.records, record_key("", _decode_chain(b.decoder))
    for image in images:
        x, y = records_a.get(image + suffix_a), records_b.get(image + suffix_b)
        if x is None or y is None:
            continue
        status = x["status"]
        if status == y["status"] and (status == "error" or (
                status == "ok" and x["sha256"] == y["sha256"])):
            agree.append(image)  # same pixels, or both fail
        else:
            disagree.append(image)
    return agree, disagree


def first_error_line(record: Optional[Dict[str, Any]]) -> str:
    """The first line of a failed record's error ('no reason recorded' without one)."""
    record = record or {}
    error = str(record.get("error") or record.get("status")).strip().splitlines()
    return error[0] if error else "no reason recorded"


def _decodes(side: Side, image: str) -> bool:
    return (side.record(image) or {}).get("status") == "ok"


def coding_fact(failing: List[Side], image: str, images: List[str]) -> str:
    """The file's JPEG coding as a fact, with what the data says about other files of that
    coding on the failing side(s): '; it is arithmetic-coded, like b.jpg, which it decodes'.
    The coding is named as the reason only when every other file of it fails there too."""
    ends = (failing[0].endpoint, failing[-1].endpoint)
    coding = header(ends[0], ends[1], image).get("coding")
    if not coding:
        return ""
    text = "; it is {}-coded".format(coding)
    peers = [other for other in images if other != image
             and header(ends[0], ends[1], other).get("coding") == coding
             and all(side.record(other) is not None for side in failing)]
    if not peers:
        return text
    decoded = [peer for peer in peers if all(_decodes(side, peer) for side in failing)]
    who = "it" if len(failing) == 1 else "both"
    if decoded:
        return text + ", like {}, which {} decode{}".format(
            listed(decoded), who, "s" if who == "it" else "")
    if all(not _decodes(side, peer) for side in failing for peer in peers):
        # Every file of that coding fails there: the data does tie the failure to it.
        return "; {} of the {} {}-coded files".format(
            failing[0].named() + " decodes none" if len(failing) == 1 else
            "neither side decodes any", len(peers) + 1, coding)
    return text


def classify(a: Side, b: Side, image: str, facts: Dict[str, Any],
             images: Optional[List[str]] = None) -> Tuple[str, str]:
    """(kind, words) for one image the two sides decode differently (``images``: the pair's
    images, to say what the data shows about other files of the same JPEG coding)."""
    x, y = a.record(image) or {}, b.record(image) or {}
    failing = [(side, r) for side, r in ((a, x), (b, y)) if r.get("status") != "ok"]
    if facts.get("truncated"):
        # What a decoder makes of the missing part is its own invention, not the image.
        if len(failing) == 1:
            side, record = failing[0]
            filler = b if side is a else a
            return TRUNCATED, "{} refuses it ({}); {} fills in the missing part".format(
                side.named(), first_error_line(record), filler.named())
        return TRUNCATED, "both sides fill in the missing part, differently"
    if len(failing) == 1:
        side, record = failing[0]
        return FAILS, "{} cannot decode it: {}{}".format(
            side.named(), first_error_line(record),
            coding_fact([side], image, images or [image]))
    shapes = x.get("shape"), y.get("shape")
    if (shapes[0] and shapes[1] and shapes[0] != shapes[1]
            and list(shapes[0][:2]) == list(shapes[1][1::-1])
            and facts.get("exif_orientation") in (5, 6, 7, 8)):
        return ORIENTATION, "one side turns it by its EXIF orientation ({}), the other does " \
            "not: shapes {} vs {}".format(facts["exif_orientation"], tuple(shapes[0]),
                                        tuple(shapes[1]))
    colour = facts.get("colour")
    if colour in CMYK_COLOURS and a.decoder != b.decoder:
        return CMYK, "{} and {} convert CMYK to RGB differently".format(
            *two_names(a.decoder, b.decoder))
    if colour in ORDINARY_COLOURS or colour in CMYK_COLOURS:
        return PIXELS, "decoded pixel values differ ({} {})".format(
            facts.get("coding", ""), colour).replace("( ", "(")
    return UNEXPLAINED, "decoded pixel values differ (no JPEG header recorded)"


def group(a: Side, b: Side, images: List[str], reference: Endpoint,
          other: Endpoint) -> List[Dict[str, Any]]:
    """The images ``a`` and ``b`` decode differently, grouped by kind: [{kind, images, why}]."""
    groups = {}  # type: Dict[str, Dict[str, Any]]
    by_why = {}  # type: Dict[str, Dict[str, List[str]]]
    for image in agreement(a, b, images)[1]:
        kind, why = classify(a, b, image, header(reference, other, image), images)
        entry = groups.setdefault(kind, {"kind": kind, "images": [], "why": []})
        entry["images"].append(image)
        by_why.setdefault(kind, {}).setdefault(why, []).append(image)
    for kind, entry in groups.items():
        # Several reasons in one group: each names its files ("a.jpg: it fails ...; b.jpg: ..."),
        # or no one could tell which file gets which.
        reasons = by_why[kind]
        entry["why"] = list(reasons) if len(reasons) == 1 else [
            "{}: {}".format(listed(files), why) for why, files in reasons.items()]
    order = (PIXELS, CMYK, TRUNCATED, FAILS, ORIENTATION, UNEXPLAINED)
    return [groups[kind] for kind in order if kind in groups]


def describe_group(entry: Dict[str, Any]) -> str:
    """'2 CMYK files (a.jpg, b.jpg): MXNet and Pillow convert CMYK to RGB differently'."""
    images = entry["images"]
    several = len(entry["why"]) > 1  # then each reason names its files
    ends = "{} before its end-of-image marker".format(
        "it ends" if len(images) == 1 else "each ends") if entry["kind"] == TRUNCATED else ""
    if several or (entry["kind"] != FAILS and len(images) > 1):
        inside = "; ".join(part for part in ("" if several else listed(images), ends) if part)
        head = plural(len(images), KIND_WORDS[entry["kind"]] + " file") + (
            " ({})".format(inside) if inside else "")
    else:
        head = listed(images) + (" ({})".format(ends) if ends else "")
    return "{}: {}".format(head, "; ".join(entry["why"]))


def build_relation(a: Side, b: Side) -> str:
    """'same', 'differ' or 'unknown': whether the two JPEG library builds are known to differ."""
    if not a.build or not b.build or "not embedded" in a.build + b.build:
        return "unknown"
    return "same" if a.build == b.build else "differ"


def ordinary_images(a: Side, b: Side, images: List[str], reference: Endpoint,
                    other: Endpoint) -> List[str]:
    """Images with an ordinary colour space that both sides decoded to identical pixels."""
    return [image for image in images if outcome(a, b, image) == "same"
            and header(reference, other, image).get("colour") in ORDINARY_COLOURS
            and not header(reference, other, image).get("truncated")]


def describe_library(side: Side) -> str:
    """"cloud's Pillow 8.4.0 loads IJG libjpeg 9d (bundled in the Pillow wheel: /path)"."""
    details = implementation_details(side.endpoint.bundle, "decode", side.decoder)
    jpeg = details.get("jpeg_library") or {}
    where = library_origin(jpeg)
    if jpeg.get("path") and jpeg.get("linkage") == "shared":
        where += ": " + jpeg["path"]
    text = "{} {} loads {}".format(side.named(), side.version or "",
                                   jpeg.get("build") or "an unidentified JPEG library")
    return (text + (" ({})".format(where) if where else "")).replace("  ", " ")


def library_origin(jpeg: Dict[str, Any]) -> str:
    """Where the library comes from; recomputed from the path of a shared library, so a bundle
    written before the origin named a wheel's ``.libs`` folder correctly reads right too."""
    if jpeg.get("path") and jpeg.get("linkage") == "shared":
        from ..native.libjpeg import library_origin as origin_of_path

        return origin_of_path(jpeg["path"])
    return jpeg.get("origin") or ""


def candidates(reference: Endpoint, other: Endpoint) -> List[Tuple[Side, Side, str]]:
    """Decoder choices to test against the data: one side switched, or both to one decoder.

    Returns (reference side, other side, what changes) triples, the deployed choice excluded.
    """
    ref_dec, oth_dec = str(reference.pipeline.get("decode")), str(other.pipeline.get("decode"))
    same_bundle = reference.bundle is other.bundle
    ref_names = sorted(available(reference.bundle, "decode"))
    oth_names = sorted(available(other.bundle, "decode"))
    found = []
    # One bundle read two ways: switching a side to the other side's decoder, or to a variant
    # of it (pillow-exif for pillow: the same library in the same environment), agrees
    # trivially and says nothing about the two decoders being compared.
    for name in ref_names:
        if name != ref_dec and not (same_bundle and display_name(name) == display_name(oth_dec)):
            found.append((Side(reference, name), Side(other, oth_dec), "reference"))
    for name in oth_names:
        if name != oth_dec and not (same_bundle and display_name(name) == display_name(ref_dec)):
            found.append((Side(reference, ref_dec), Side(other, name), "other"))
    if not same_bundle:  # one bundle agrees with itself on any decoder: nothing learnt
        for name in sorted(set(ref_names) & set(oth_names)):
            if (name, name) != (ref_dec, oth_dec):
                found.append((Side(reference, name), Side(other, name), "both"))
    return found


def _fact_values(endpoint: Endpoint) -> Dict[str, Any]:
    provenance = endpoint.bundle.provenance
    os_info = provenance.get("os") or {}
    return {
        "OS": os_info.get("distro"),
        "L4T release": os_info.get("l4t_release"),
        "libc": (provenance.get("libc") or {}).get("gnu_libc"),
        "numpy": (provenance.get("numpy") or {}).get("version"),
        "CPU features": (provenance.get("cpu") or {}).get("notable_features"),
    }


def other_recorded_differences(reference: Endpoint, other: Endpoint, stage: str,
                               impls: Tuple[str, str]) -> List[str]:
    """What else the two bundles record as different that can change ``stage``'s outputs,
    besides the implementation's version and the CPU architecture (said by the caller):
    ``["OS Debian GNU/Linux 11 (bullseye) vs Debian GNU/Linux 12 (bookworm)",
    "JSIMD_FORCESSE2=1 in cloud only"]``. Empty when nothing else differs: only then may a
    version difference be called the only recorded difference.

    Decoding does not go through numpy (the decoded buffer is copied as it is), so numpy is
    left out for decode; libjpeg-turbo reads only the JSIMD_* variables, so decode looks only
    at those and the later stages at the others (threads, BLAS core type, ...).
    """
    ref_facts, other_facts = _fact_values(reference), _fact_values(other)
    found = []
    for fact, ref_value in ref_facts.items():
        other_value = other_facts[fact]
        if fact == "numpy" and stage == "decode":
            continue
        if ref_value == other_value or ref_value is None or other_value is None:
            continue  # unrecorded on a side is not a recorded difference
        if fact == "CPU features":
            if not isinstance(ref_value, list) or not isinstance(other_value, list):
                continue
            gained = sorted(set(other_value) - set(ref_value))
            lost = sorted(set(ref_value) - set(other_value))
            parts = (["{} only in {}".format(", ".join(lost), reference.label)] if lost else []) \
                + (["{} only in {}".format(", ".join(gained), other.label)] if gained else [])
            if parts:
                found.append("CPU features ({})".format("; ".join(parts)))
            continue
        found.append("{} {} vs {}".format(fact, ref_value, other_value))
    variables = [(e.label, e.bundle.provenance.get("environment_variables") or {})
                 for e in (reference, other)]
    names = sorted(set(variables[0][1]) | set(variables[1][1]))
    for name in names:
        if name.startswith("JSIMD_") != (stage == "decode"):
            continue
        values = [env.get(name) for _label, env in variables]
        if values[0] == values[1]:
            continue
        if None in values:
            label = variables[0][0] if values[1] is None else variables[1][0]
            found.append("{}={} in {} only".format(
                name, values[0] if values[1] is None else values[1], label))
        else:
            found.append("{}={} vs {}".format(name, *values))
    files = [(implementation_details(e.bundle, stage, impl).get("jpeg_library") or {})
             for e, impl in zip((reference, other), impls)] if stage == "decode" else []
    # Shared libraries only: a statically linked one is recorded with the digest of the module
    # that carries it, which differs with every build of that module.
    if files and files[0].get("build") and files[0].get("build") == files[1].get("build") \
            and all(f.get("linkage") == "shared" for f in files) \
            and files[0].get("sha256") and files[1].get("sha256") \
            and files[0]["sha256"] != files[1]["sha256"]:
        found.append("the {} library files (same build name, sha256 {} vs {})".format(
            files[0]["build"], files[0]["sha256"][:12], files[1]["sha256"][:12]))
    return found


def advice_item(text: str, agree: int, images: int) -> Dict[str, Any]:
    """One piece of advice and the evidence count it rests on ("on 11 of 14 images")."""
    return {"text": text, "agree": agree, "images": images}
