"""Result bundles: the only thing that travels from an environment to the host.

A bundle is a directory::

    BUNDLE/
      manifest.json            human-readable: provenance, one record per output, array index
      arrays/<digest>.npy.gz   each distinct output array stored once, named by its content digest

Writing is atomic: everything goes to a hidden staging directory next to BUNDLE, the manifest is
written last, and only then is the directory renamed into place. A capture killed midway leaves
only the staging directory (no manifest), which ``load`` refuses with a message saying so.
An interrupted capture (Ctrl-C, SIGTERM) keeps what it had under ``BUNDLE.interrupted`` with
``"complete": false`` so nothing is lost, and nothing mistakes it for a complete bundle.

This module runs in every environment (CPython 3.6, numpy only).
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import tempfile
from typing import Any, Dict, Optional

import numpy as np

from .errors import UserError

SCHEMA = "edgeparity.bundle/1"
MANIFEST = "manifest.json"
ARRAYS = "arrays"


class BundleError(UserError):
    """A bundle that cannot be used: missing, incomplete, damaged. The message says what to do."""


def array_digest(array: np.ndarray) -> str:
    """sha256 of an array's dtype, shape and C-order bytes: equal digests mean identical arrays.

    The dtype and shape go in first so that, e.g., 4 zero bytes as uint8[4] and as float32[1]
    never collide.
    """
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256()
    digest.update("{}|{}|".format(array.dtype.str, ",".join(map(str, array.shape))).encode())
    digest.update(memoryview(array).cast("B") if array.size else b"")
    return digest.hexdigest()


def array_stats(array: np.ndarray) -> Dict[str, Optional[float]]:
    """Small summary kept in the manifest, so goldens and reports need no array files."""
    if array.size == 0 or not np.issubdtype(array.dtype, np.number):
        return {"min": None, "max": None, "mean": None, "std": None}
    values = array.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.all():
        values = values[finite]
        if values.size == 0:
            return {
                "min": None,
                "max": None,
                "mean": None,
                "std": None,
                "nonfinite": int((~finite).sum()),
            }
    return {
        "min": float(values.min()),
        "max": float(values.max()),
        "mean": float(values.mean()),
        "std": float(values.std()),
    }


def _gzip(data: bytes) -> bytes:
    # mtime=0 keeps the compressed bytes reproducible for identical arrays. (gzip.compress
    # only takes mtime from Python 3.8 on.)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1, mtime=0) as handle:
        handle.write(data)
    return buffer.getvalue()


def _fsync_write(path: str, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
    if os.path.lexists(path) and not is_bundle(path):
        raise BundleError(
            "{} exists and is not an edgeparity bundle; refusing to replace it. Choose a new "
            "--out path (e.g. bundles/NAME), or remove it yourself if it is disposable.".format(
                path
            )
        )


class BundleWriter:
    """Stage a bundle next to its final path and move it into place when complete."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        for target in (self.path, self.path + ".interrupted"):
            refuse_to_replace(target)
        parent = os.path.dirname(self.path)
        try:
            os.makedirs(parent, exist_ok=True)
            # Same parent directory, so the final rename is atomic (same filesystem).
            self.staging = tempfile.mkdtemp(
                prefix="." + os.path.basename(self.path) + ".partial-", dir=parent
            )
            os.makedirs(os.path.join(self.staging, ARRAYS))
        except OSError as exc:
            raise BundleError(
                "cannot create the bundle {} ({}). Choose an --out in a writable folder.".format(
                    self.path, exc.strerror or exc
                )
            ) from None
        # mkdtemp makes a private (0700) folder; a bundle is meant to be copied and shared.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.staging, 0o777 & ~umask)
        self.arrays = {}  # type: Dict[str, Dict[str, Any]]
        self.records = []  # type: List[Dict[str, Any]]
        self.finished = False  # True once the bundle has been moved into place
        self.keep_staging = False

    def add_array(self, array: np.ndarray) -> str:
        """Store an array once (content-addressed) and return its digest."""
        array = np.ascontiguousarray(array)
        digest = array_digest(array)
        if digest not in self.arrays:
            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            packed = _gzip(buffer.getvalue())
            relative = "{}/{}.npy.gz".format(ARRAYS, digest)
            # No fsync per array (it would dominate capture time); finish() syncs once
            # before the manifest is written, so a manifest never points at unwritten data.
            with open(os.path.join(self.staging, relative), "wb") as handle:
                handle.write(packed)
            self.arrays[digest] = {
                "file": relative,
                "file_sha256": _sha256_bytes(packed),
                "shape": list(array.shape),
                "dtype": array.dtype.str,
                "bytes": int(array.nbytes),
            }
        return digest

    def add_record(self, record: Dict[str, Any]) -> None:
        self.records.append(record)

    def _write_manifest(self, manifest: Dict[str, Any]) -> None:
        manifest = dict(manifest)
        manifest["schema"] = SCHEMA
        manifest["records"] = self.records
        manifest["arrays"] = self.arrays
        text = json.dumps(manifest, indent=1, sort_keys=False, default=str)
        _fsync_write(os.path.join(self.staging, MANIFEST), text.encode("utf-8"))

    def finish(self, manifest: Dict[str, Any]) -> str:
        """Write the manifest (complete) and move the bundle into place, replacing an old one."""
        manifest = dict(manifest, complete=True)
        if hasattr(os, "sync"):
            os.sync()
        self._write_manifest(manifest)
        return self._move_into_place(self.path)

    def finish_interrupted(self, manifest: Dict[str, Any]) -> str:
        """Keep what was captured under PATH.interrupted, marked incomplete."""
        manifest = dict(manifest, complete=False, interrupted=True)
        self._write_manifest(manifest)
        return self._move_into_place(self.path + ".interrupted")

    def _move_into_place(self, target: str) -> str:
        if not os.path.lexists(target):
            os.rename(self.staging, target)
            self.finished = True
            return target
        refuse_to_replace(target)
        # Move the old bundle aside first: at no moment is a half-replaced bundle visible.
        old = tempfile.mkdtemp(
            prefix="." + os.path.basename(target) + ".old-", dir=os.path.dirname(target)
        )
        os.rename(target, os.path.join(old, "bundle"))
        try:
            os.rename(self.staging, target)
        except OSError as exc:
            # Another capture to the same --out got there first: keep its bundle, and say
            # where this capture's complete data is rather than deleting it.
            if not os.path.lexists(target):
                os.rename(os.path.join(old, "bundle"), target)
            shutil.rmtree(old, ignore_errors=True)
            self.keep_staging = True  # complete data: never discard it
            raise BundleError(
                "could not move the new bundle into {} ({}); did another capture write the same "
                "--out at the same time? This capture's complete bundle is kept in {}.".format(
                    target, exc.strerror or exc, self.staging
                )
            ) from None
        self.finished = True
        shutil.rmtree(old, ignore_errors=True)
        return target

    def discard(self) -> None:
        if not self.keep_staging:
            shutil.rmtree(self.staging, ignore_errors=True)


class Bundle:
    """A loaded, verified bundle. Arrays are read on demand and checked against their digest."""

    def __init__(self, path: str, manifest: Dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
        self.name = manifest.get("name") or os.path.basename(path.rstrip("/"))
        self.records = {record["key"]: record for record in manifest.get("records", [])}

    @property
    def provenance(self) -> Dict[str, Any]:
        return self.manifest.get("provenance", {})

    def array(self, digest: str) -> np.ndarray:
        """Load one array and check it is the one the manifest promised."""
        entry = self.manifest["arrays"].get(digest)
        if entry is None:
            raise BundleError(
                "{}: manifest.json refers to array {} but does not list it; the bundle was "
                "edited or damaged. Re-run `edgeparity capture` to regenerate it.".format(
                    self.path, digest[:12]
                )
            )
        file_path = os.path.join(self.path, entry["file"])
        try:
            with open(file_path, "rb") as handle:
                packed = handle.read()
            array = np.load(io.BytesIO(gzip.decompress(packed)), allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise BundleError(
                "{}: cannot read array file {} ({}). The bundle is damaged; re-run "
                "`edgeparity capture` to regenerate it.".format(self.path, entry["file"], exc)
            ) from None
        if array_digest(array) != digest:
            raise BundleError(
                "{}: array file {} does not hold the data its name promises (content digest "
                "mismatch): it was modified after capture. Re-run `edgeparity capture`.".format(
                    self.path, entry["file"]
                )
            )
        return array


RECORD_FIELDS = ("key", "image", "mode", "chain", "stage", "impl", "status")


def _manifest_problem(manifest: Any) -> Optional[str]:
    """What is structurally wrong with a manifest, or None."""
    if not isinstance(manifest, dict):
        return "not a JSON object"
    if manifest.get("schema") != SCHEMA:
        return None  # reported separately, with the supported version
    if not isinstance(manifest.get("records"), list):
        return "no 'records' list"
    if not isinstance(manifest.get("arrays"), dict):
        return "no 'arrays' table"
    for index, record in enumerate(manifest["records"]):
        if not isinstance(record, dict):
            return "record {} is not an object".format(index)
        missing = [name for name in RECORD_FIELDS if name not in record]
        if missing:
            return "record {} lacks {}".format(index, ", ".join(missing))
        if record["status"] == "ok" and record.get("sha256") not in manifest["arrays"]:
            return "record {} ({}) points at an array that is not listed".format(
                index, record["key"])
    for digest, entry in manifest["arrays"].items():
        if not isinstance(entry, dict) or "file" not in entry:
            return "array {} has no file".format(digest[:12])
    return None


def load(path: str, verify: bool = True) -> Bundle:
    """Open a bundle directory, refusing incomplete or damaged ones with a clear message.

    ``verify`` checks every array file's sha256 against the manifest (cheap: no decompression);
    each array's content digest is checked again whenever it is loaded.
    """
    path = os.path.abspath(path)
    manifest_path = os.path.join(path, MANIFEST)
    if os.path.exists(path) and not os.path.isdir(path):
        raise BundleError(
            "{}: this is a file, not a bundle directory. Pass the folder that "
            "`edgeparity capture --out` wrote.".format(path)
        )
    if not os.path.isdir(path):
        raise BundleError(
            "{}: no such bundle directory. Create it with `edgeparity capture "
            "--images DIR --out {}`.".format(path, path)
        )
    if not os.path.exists(manifest_path):
        hint = ""
        if ".partial-" in os.path.basename(path):
            hint = " It is the staging directory of a capture that was killed before finishing."
        raise BundleError(
            "{}: not a complete bundle (no manifest.json).{} Re-run `edgeparity capture` for "
            "this environment.".format(path, hint)
        )
    try:
        with open(manifest_path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, ValueError) as exc:
        raise BundleError(
            "{}: manifest.json is unreadable ({}). The bundle is damaged; re-run "
            "`edgeparity capture`.".format(path, exc)
        ) from None
    if not isinstance(manifest, dict):
        raise BundleError(
            "{}: manifest.json is malformed (not a JSON object). The bundle was edited or "
            "damaged; re-run `edgeparity capture`.".format(path)
        )
    schema = manifest.get("schema")
    if schema != SCHEMA:
        raise BundleError(
            "{}: bundle schema {!r} is not supported (this edgeparity reads {!r}). "
            "Capture it again with this version.".format(path, schema, SCHEMA)
        )
    if not manifest.get("complete"):
        raise BundleError(
            "{}: this bundle is incomplete (the capture was interrupted after {} records). "
            "Re-run `edgeparity capture` to get a complete one.".format(
                path, len(manifest.get("records", []))
            )
        )
    problem = _manifest_problem(manifest)
    if problem:
        raise BundleError(
            "{}: manifest.json is malformed ({}). The bundle was edited or damaged; re-run "
            "`edgeparity capture`.".format(path, problem)
        )
    if verify:
        problems = []
        for _digest, entry in sorted(manifest.get("arrays", {}).items()):
            file_path = os.path.join(path, entry["file"])
            try:
                with open(file_path, "rb") as handle:
                    actual = _sha256_bytes(handle.read())
            except OSError:
                problems.append("{} is missing".format(entry["file"]))
                continue
            if actual != entry.get("file_sha256"):
                problems.append(
                    "{} is corrupted (sha256 differs from the manifest)".format(entry["file"])
                )
        if problems:
            shown = "; ".join(problems[:5]) + (
                " (and {} more)".format(len(problems) - 5) if len(problems) > 5 else ""
            )
            raise BundleError(
                "{}: {}. Re-run `edgeparity capture` for this environment to "
                "regenerate the bundle.".format(path, shown)
            )
    return Bundle(path, manifest)
