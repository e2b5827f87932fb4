"""What a bundle on disk is: names, the error type, and the checks a manifest must pass.

Runs in every environment (CPython 3.6, numpy only).
"""

import hashlib
import json
import os
import re
import threading
from typing import Any, Dict, Optional, Union

from ..errors import UserError
from ..stages.pipeline import STAGES

SCHEMA = "edgeparity.bundle/1"
MANIFEST = "manifest.json"
ARRAYS = "arrays"
# How arrays are stored. "none" by default: measured here, gzip level 1 cost 3.6x the decode
# it records (75 ms per 1 MP photo) to save 37-39 % of the bytes.
COMPRESSIONS = ("none", "gzip")
RECORD_FIELDS = ("key", "image", "mode", "chain", "stage", "impl", "status")
RECORD_STATUSES = ("ok", "error")
RECORD_MODES = ("e2e", "isolated", "probe")


class BundleError(UserError):
    """A bundle that cannot be used: missing, incomplete, damaged. The message says what to do."""


def index_digest(manifest: Dict[str, Any]) -> str:
    """sha256 of the whole manifest but for this digest itself, as older bundles carry it
    (over a canonical re-serialisation). Still accepted (``manifest_problem``), and what a test
    that edits a manifest on purpose recomputes; ``seal`` is what capture writes now.

    Stored in the manifest as ``index_sha256``: an edited, swapped, duplicated or removed record,
    an edited image digest, pipeline or provenance changes it, so a hand-edited manifest is
    refused instead of giving false parity. (It guards against accidents and careless edits,
    not against someone who recomputes it.)
    """
    content = {key: value for key, value in manifest.items() if key != "index_sha256"}
    text = json.dumps(content, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# The sealed form of manifest.json: compact JSON whose last member is the sha256 of the same
# text without that member. Checking it is one hash of the file's bytes, instead of parsing,
# re-serialising with sorted keys and hashing (0.25 s per 10,000 records, more than json.load).
_SEAL = b',"index_sha256":"%s"}'
_SEAL_MEMBER = _SEAL.split(b"%s")[0]  # how the seal member starts


def seal(manifest: Dict[str, Any]) -> bytes:
    """manifest.json's bytes for ``manifest`` (any ``index_sha256`` in it is replaced).

    Written by the C encoder in one pass (compact: an indented dump takes Python's slow encoder);
    ASCII only, undecodable file names kept as ``\\udcXX`` escapes.
    """
    content = {key: value for key, value in manifest.items() if key != "index_sha256"}
    body = json.dumps(content, default=str, separators=(",", ":")).encode("ascii")
    digest = hashlib.sha256(body).hexdigest().encode("ascii")
    return body[:-1] + _SEAL % digest + b"\n"


class SealCheck:
    """The seal of manifest.json's bytes (``seal``), hashed while the manifest is parsed.

    sha256 releases the GIL: for a large manifest the hash runs on a thread, beside json's
    parse and the field checks on this one (12 ms of an identical 10,000-image compare, which
    the two cores of a CI runner do at once). The bytes are hashed up to where the seal member
    must begin; ``matches`` then checks that member holds this very digest.
    """

    _ON_A_THREAD = 1 << 20  # bytes: below this, starting a thread costs more than it saves

    def __init__(self, raw: bytes, beside: bool = True) -> None:
        """``beside``: hash on a thread (when large enough), for a caller that parses ``raw``
        meanwhile."""
        end = len(raw)
        while end and raw[end - 1] in b" \t\r\n":
            end -= 1
        self._raw, self._end = raw, end
        self._start = end - len(_SEAL % (b"0" * 64))  # where a sealed file's seal member starts
        self._digest = None  # type: Optional[str]
        self._thread = None  # type: Optional[threading.Thread]
        if self._start < 0 or not raw.startswith(_SEAL_MEMBER, self._start):
            return  # not sealed (too short, or an older bundle's form): nothing to hash
        if beside and end >= self._ON_A_THREAD:
            try:
                thread = threading.Thread(target=self._hash, name="seal-check", daemon=True)
                thread.start()
            except RuntimeError:  # no thread to be had (a pids limit): hashed here instead
                self._hash()
            else:
                self._thread = thread
        else:
            self._hash()

    def _hash(self) -> None:
        # Hashed in place: slicing or stripping would copy the whole manifest, twice.
        digest = hashlib.sha256(memoryview(self._raw)[:self._start])
        digest.update(b"}")
        self._digest = digest.hexdigest()

    def matches(self, stored: str) -> bool:
        """Whether the bytes are the sealed form and their digest is ``stored``."""
        if self._thread is not None:
            self._thread.join()
        if self._digest is None or self._raw[self._start:self._end] != _SEAL % stored.encode(
                "ascii", "replace"):
            return False
        return self._digest == stored


def is_bundle(path: str) -> bool:
    """Whether ``path`` is a directory holding an edgeparity bundle (complete or not)."""
    try:
        with open(os.path.join(path, MANIFEST), encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("schema") == SCHEMA


def refuse_to_replace(path: str) -> None:
    """A bundle may replace an older bundle, never anything else (a user's folder, images)."""
    if os.path.isdir(path) and not os.path.islink(path) and not os.listdir(path):
        return  # an empty folder made for it holds nothing to lose
    if os.path.lexists(path) and not is_bundle(path):
        raise BundleError(
            "{} exists and is not an edgeparity bundle; refusing to replace it. Choose a new "
            "--out path (e.g. bundles/NAME), or remove it yourself if it is disposable.".format(
                path
            )
        )


def _is_int_list(value: Any) -> bool:
    if type(value) is not list:
        return False
    for v in value:  # a loop, not all(genexpr): called for every record and array
        if type(v) is not int or v < 0:  # type(), not isinstance: a bool is not a size
            return False
    return True


# manifest_problem's answer for bytes that no longer match their seal (the reader words it).
CHANGED_AFTER_CAPTURE = "it was changed after capture ('index_sha256' differs)"
_RECORD_FIELD_SET = frozenset(RECORD_FIELDS)
_STAGE_SET = frozenset(STAGES)
_MODE_SET = frozenset(RECORD_MODES)
# An array's digest, which is also its file's name: the only shape an array file name may have
# is arrays/<digest>.npy or arrays/<digest>.npy.gz, so a manifest cannot point anywhere else.
_DIGEST = re.compile(r"[0-9a-f]{64}\Z")


def _record_problem(index: int, record: Any, arrays: Dict[str, Any]) -> Optional[str]:
    # Checked for every record of every bundle opened: the common case (a well-formed record)
    # takes the fewest steps; the message is worked out only when something is wrong.
    if type(record) is not dict:
        return "record {} is not an object".format(index)
    if not record.keys() >= _RECORD_FIELD_SET:
        return "record {} lacks {}".format(
            index, ", ".join(name for name in RECORD_FIELDS if name not in record))
    # Written out, not looped over: these lines run for every record of every bundle opened.
    if (type(record["key"]) is not str or type(record["image"]) is not str
            or type(record["chain"]) is not str or type(record["impl"]) is not str):
        field = next(name for name in ("key", "image", "chain", "impl")
                     if type(record[name]) is not str)
        return "record {} field {!r} is not a string".format(index, field)
    # Strings first: a list or a dict (unhashable) is not looked up in a set.
    if type(record["stage"]) is not str or record["stage"] not in _STAGE_SET:
        return "record {} field 'stage' is {!r}, not one of {}".format(
            index, record["stage"], ", ".join(STAGES))
    if type(record["mode"]) is not str or record["mode"] not in _MODE_SET:
        return "record {} field 'mode' is {!r}".format(index, record["mode"])
    status = record["status"]
    if status == "ok":
        digest = record.get("sha256")
        entry = arrays.get(digest) if type(digest) is str else None
        if entry is None:
            return "record {} ({}) points at an array that is not listed".format(
                index, record["key"])
        if record.get("shape", entry["shape"]) != entry["shape"]:
            return "record {} ({}) field 'shape' disagrees with its array".format(
                index, record["key"])
        if record.get("dtype", entry["dtype"]) != entry["dtype"]:
            return "record {} ({}) field 'dtype' disagrees with its array".format(
                index, record["key"])
        if type(record.get("stats", {})) is not dict:
            return "record {} ({}) field 'stats' is not an object".format(index, record["key"])
    elif status not in RECORD_STATUSES:
        return "record {} ({}) field 'status' is {!r}, not 'ok' or 'error'".format(
            index, record["key"], status)
    return None


def _all_digests(names: Any) -> bool:
    """Whether every one of ``names`` (strings: JSON object keys) is a sha256 hex digest.

    Decided on the names joined by newlines, in C: the joined text holds only [0-9a-f] and
    newlines, a newline at every 65th character and nowhere else (a regex per name took 4 ms
    per 10,000 arrays; this, under 1 ms).
    """
    count = len(names)
    if not count:
        return True
    try:
        joined = "\n".join(names)
    except TypeError:  # a name that is not a string: said by the check of each name
        return False
    if len(joined) != 65 * count - 1 or joined[64::65] != "\n" * (count - 1) or joined.count(
            "\n") != count - 1:
        return False
    try:
        return not joined.encode("ascii").translate(None, b"0123456789abcdef\n")
    except UnicodeEncodeError:
        return False


def _array_problem(digest: Any, entry: Any, digest_checked: bool = False) -> Optional[str]:
    if type(entry) is not dict:
        return "array {} is not an object".format(str(digest)[:12])
    name = entry.get("file")
    plain = "arrays/" + digest + ".npy" if type(digest) is str else None
    if plain is None or (not digest_checked and _DIGEST.match(digest) is None) or (
            name != plain and name != plain + ".gz"):
        return "array {} field 'file' is {!r}, not arrays/<its digest>.npy[.gz]".format(
            str(digest)[:12], name)
    if not _is_int_list(entry.get("shape")) or type(entry.get("dtype")) is not str:
        return "array {} field 'shape' or 'dtype' is malformed".format(digest[:12])
    if name != plain and type(entry.get("file_sha256")) is not str:
        return "array {} field 'file_sha256' is missing".format(digest[:12])
    return None


def manifest_problem(manifest: Dict[str, Any],
                     raw: Union[bytes, SealCheck, None] = None) -> Optional[str]:
    """What is wrong with a complete manifest of our schema, or None. Names the field.

    ``raw``: the bytes it was parsed from (or their ``SealCheck``, started before the parse),
    to check the seal (``seal``) with one hash of them instead of re-serialising the manifest.
    Every field is checked either way: the seal only shows the bytes were not damaged, and
    anyone can recompute it.
    """
    stored = manifest.get("index_sha256")
    records, arrays = manifest.get("records"), manifest.get("arrays")
    problem = _field_problem(manifest)
    if problem:
        return problem
    if not isinstance(records, list):
        return "no 'records' list"
    if not isinstance(arrays, dict):
        return "no 'arrays' table"
    # The names are checked all at once first; one by one only to say which is wrong.
    digests_ok = _all_digests(arrays)
    for digest, entry in arrays.items():
        problem = _array_problem(digest, entry, digests_ok)
        if problem:
            return problem
    for index, record in enumerate(records):
        problem = _record_problem(index, record, arrays)
        if problem:
            return problem
    if len({record["key"] for record in records}) != len(records):
        seen = set()  # type: set
        for index, record in enumerate(records):  # which one: only when one is repeated
            if record["key"] in seen:
                return "record {} repeats the key {!r}".format(index, record["key"])
            seen.add(record["key"])
    if stored is None:
        return ("no 'index_sha256' (every capture writes one: the manifest was edited, or written "
                "by an older edgeparity)")
    if not isinstance(stored, str):
        return "'index_sha256' is not a string"
    if isinstance(raw, bytes):
        raw = SealCheck(raw, beside=False)
    sealed = raw is not None and raw.matches(stored)
    if not sealed and stored != index_digest(manifest):  # older bundles: the canonical form
        return CHANGED_AFTER_CAPTURE
    return None


# Top-level fields and the JSON type each must have (None: may be absent or null).
_FIELD_TYPES = (("name", str), ("images", dict), ("pipeline", dict), ("implementations", dict),
                ("provenance", dict), ("canonical", dict), ("counts", dict), ("options", dict),
                ("limits", dict), ("model", dict), ("selection", dict))


def _field_problem(manifest: Dict[str, Any]) -> Optional[str]:
    for field, kind in _FIELD_TYPES:
        value = manifest.get(field)
        if value is not None and not isinstance(value, kind):
            return "field {!r} is a {}, not a JSON {}".format(
                field, type(value).__name__, "object" if kind is dict else "string")
    for stage, impl in (manifest.get("pipeline") or {}).items():
        if stage not in STAGES or not isinstance(impl, str):
            return "field 'pipeline' has {!r}: {!r}".format(stage, impl)
    model = manifest.get("model") or {}
    if model.get("name") is not None and not isinstance(model["name"], str):
        return "field 'model.name' is not a string"
    for image, entry in (manifest.get("images") or {}).items():
        if not isinstance(entry, dict) or not isinstance(
                entry.get("sha256", entry.get("error", "")), str):
            return "field 'images' entry {!r} is malformed".format(image)
    for key, entry in (manifest.get("implementations") or {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("status"), str):
            return "field 'implementations' entry {!r} is malformed".format(key)
    return _provenance_problem(manifest.get("provenance") or {})


# Parts of ``provenance`` compare reads, and the JSON type each must have when present.
_PROVENANCE_OBJECTS = ("cpu", "os", "libc", "python", "numpy", "environment_variables",
                       "implementations")
_DETAIL_OBJECTS = ("jpeg_library", "model", "library_build")
# Facts the report shows as text.
_PROVENANCE_TEXTS = (("cpu", "arch"), ("os", "distro"), ("python", "version"),
                     ("numpy", "version"), ("libc", "gnu_libc"))


def _provenance_problem(provenance: Dict[str, Any]) -> Optional[str]:
    for field in _PROVENANCE_OBJECTS:
        if provenance.get(field) is not None and not isinstance(provenance[field], dict):
            return "field 'provenance.{}' is not a JSON object".format(field)
    features = (provenance.get("cpu") or {}).get("notable_features")
    if features is not None and (not isinstance(features, list)
                                 or not all(isinstance(f, str) for f in features)):
        return "field 'provenance.cpu.notable_features' is not a list of strings"
    for part, field in _PROVENANCE_TEXTS:
        value = (provenance.get(part) or {}).get(field)
        if value is not None and not isinstance(value, str):
            return "field 'provenance.{}.{}' is not a string".format(part, field)
    for name, value in (provenance.get("environment_variables") or {}).items():
        if not isinstance(value, str):
            return "field 'provenance.environment_variables' entry {!r} is not a string".format(
                name)
    for key, entry in (provenance.get("implementations") or {}).items():
        details = entry.get("details") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not isinstance(details or {}, dict) or any(
                (details or {}).get(field) is not None
                and not isinstance(details[field], dict) for field in _DETAIL_OBJECTS):
            return "field 'provenance.implementations' entry {!r} is malformed".format(key)
    return None
