"""``capture --resume``: carry over what an interrupted capture kept, capture only the rest.

A capture of a large set that had to stop (Ctrl-C, SIGTERM, a worker killed, a full disk)
keeps its records as ``OUT.interrupted``. Resumed with the same setup in the same environment
(checked before any image is captured: what ``merge`` requires of its shards, and the same
files: JPEG libraries, model files, interpreter, CPU model, environment variables), it takes
over every image the interrupted run finished whose file is unchanged (same sha256) and whose
outputs were all captured, links their arrays into the new bundle, and captures the others.
The result is the bundle an uninterrupted capture writes, apart from timings (the records in
the same order). Images that failed are captured again: a failure is cheap to meet twice, and
the cause (a file being copied in, a full disk) may have gone. A resume stopped before it
captured anything new (while loading, checking or carrying over) leaves ``OUT.interrupted``
exactly as it was.

Runs in every environment (CPython 3.6, numpy only).
"""

import hashlib
import json
import os
import shutil
import signal
import sys
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from . import probe
from .arrays import npy_file_size
from .bundle import BundleError, load
from .bundle.format import ARRAYS
from .bundle.merge import differences, environment
from .bundle.writer import ArrayStore, BundleWriter
from .errors import UserError
from .inputs import InputError, read_image_file
from .text import printable

if TYPE_CHECKING:  # the session imports nothing of this module; no cycle at run time
    from .session import Session

Records = List[Dict[str, Any]]
Held = Tuple[Dict[str, Any], Records]  # an image's manifest entry and its records


class Carried:
    """What an interrupted capture finished, image by image, ready to be carried over."""

    def __init__(self, path: str, manifest: Dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
        # Set once everything held was carried over and the rest is being captured: a stop
        # before that leaves the interrupted bundle as it was.
        self.released = False
        self.changed = []  # type: List[str]  # finished, but the file is another one now
        self.unusable = []  # type: List[str]  # finished, but an array file is gone or cut
        self.arrays = manifest["arrays"]  # type: Dict[str, Dict[str, Any]]
        self.stored = _stored_sizes(path)
        records_of = {}  # type: Dict[str, Records]
        for record in manifest["records"]:
            if record.get("mode") == "e2e":
                records_of.setdefault(record["image"], []).append(record)
        # Only images with an entry: an image the run stopped in the middle of has records
        # but no entry yet. Only images without an error: those are captured again.
        self.images = {}  # type: Dict[str, Held]
        for image, entry in (manifest.get("images") or {}).items():
            records = records_of.get(image, [])
            if isinstance(entry, dict) and "error" not in entry and records and all(
                    record["status"] == "ok" for record in records):
                self.images[image] = (entry, records)

    def _stored(self, digest: str) -> bool:
        """Whether the array file of ``digest`` is there, and an .npy file of its exact size
        (a gzip file cannot tell; contents are checked when a compare or `verify` opens
        them)."""
        entry = self.arrays.get(digest)
        if not isinstance(entry, dict) or entry.get("file") not in self.stored:
            return False
        if entry["file"].endswith(".gz"):
            return True
        size = npy_file_size(entry.get("shape") or (), str(entry.get("dtype")))
        return self.stored[entry["file"]] == size if size is not None else True

    def refuse_another_setup(self, now: Dict[str, Any]) -> None:
        """UserError unless ``now`` (the new capture's manifest so far, with the provenance of
        its loaded implementations) is the same setup in the same environment."""
        if not self.manifest.get("provenance"):
            raise UserError("--resume: {} does not record the environment it was captured in "
                            "(kept by an older edgeparity, or recording it failed); capture "
                            "without --resume".format(self.path))
        # As written to a manifest and read back (a tuple option is a list there).
        now = json.loads(json.dumps(now, default=str))
        differ = []  # type: List[str]
        if self.manifest.get("edgeparity_version") != now.get("edgeparity_version"):
            differ.append("edgeparity versions differ: {} vs {}".format(
                self.manifest.get("edgeparity_version"), now.get("edgeparity_version")))
        # Strict: the same place, so also the same files (a model or libjpeg replaced under
        # the same version), CPU model, interpreter and environment variables. Every
        # difference is said: each retry costs loading the implementations again.
        differ += differences(environment(self.manifest, canonical=False, strict=True),
                              environment(now, canonical=False, strict=True))
        if differ:
            raise UserError("--resume: {} was captured with other settings ({}): resume with "
                            "the same options in the same environment, or capture without "
                            "--resume (a complete capture replaces it)".format(
                                self.path, "; ".join(differ)))

    def carry(self, image: str, images_dir: str, limits: Dict[str, int],
              store: ArrayStore) -> Optional[Dict[str, Any]]:
        """Add ``image``'s records and arrays to ``store`` and return its manifest entry, if
        the interrupted run finished it and its file is unchanged; else None."""
        held = self.images.get(image)
        if held is None:
            return None
        entry, records = held
        if not all(self._stored(record["sha256"]) for record in records):
            self.unusable.append(image)  # deleted to free space, or cut short: captured again
            return None
        try:  # read as capture reads it (regular files only, within the limits)
            data = read_image_file(os.path.join(images_dir, image), limits["max_file_bytes"],
                                   limits["max_pixels"])
        except InputError:
            data = None
        if data is None or hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            self.changed.append(image)  # changed since (or unreadable now): captured again
            return None
        del self.images[image]
        self._add(store, records)
        return entry

    def _add(self, store: ArrayStore, records: Records) -> None:
        for record in records:
            if record["sha256"] not in store.arrays:
                store.adopt(self.path, record["sha256"], self.arrays[record["sha256"]])
        store.merge(records, {})  # the parsed records themselves: no copy of a large set

    def release(self) -> None:
        """Drop the interrupted run's parsed manifest (a large set's is tens of MB) once what
        it held has been carried over."""
        self.manifest, self.arrays, self.images, self.stored = {}, {}, {}, {}
        self.released = True

    def remove(self) -> None:
        """Remove the interrupted bundle, once a complete one holds everything it carried."""
        shutil.rmtree(self.path, ignore_errors=True)


def _stored_sizes(path: str) -> Dict[str, int]:
    """{'arrays/NAME': size} of the regular files in bundle ``path``'s arrays/ folder."""
    try:
        with os.scandir(os.path.join(path, ARRAYS)) as listing:
            return {ARRAYS + "/" + entry.name: entry.stat(follow_symlinks=False).st_size
                    for entry in listing if entry.is_file(follow_symlinks=False)}
    except OSError:
        return {}


def open_interrupted(out: str, compression: str) -> Carried:
    """The records ``capture --out OUT`` kept when it was interrupted (``OUT.interrupted``)."""
    path = os.path.abspath(out).rstrip(os.sep) + ".interrupted"
    if not os.path.isdir(path):
        raise UserError("--resume: nothing to resume: {} does not exist (an interrupted capture "
                        "keeps its records there); capture without --resume".format(path))
    if not os.path.exists(os.path.join(path, "manifest.json")):
        raise UserError("--resume: {} has no manifest.json (what it kept is lost): it cannot be "
                        "resumed; remove it and run the capture without --resume".format(path))
    try:
        manifest = load(path, interrupted_ok=True, check_files=False).manifest
    except BundleError as exc:
        manifest_path = os.path.join(path, "manifest.json")
        if os.path.exists(manifest_path) and not os.access(manifest_path, os.R_OK):
            raise BundleError("--resume: {}".format(exc)) from None  # a permission to fix
        raise BundleError("--resume: {} It cannot be resumed: remove {} and run the capture "
                          "without --resume.".format(str(exc).rstrip(), path)) from None
    stored = {entry["file"].endswith(".gz") for entry in manifest["arrays"].values()}
    if stored and stored != {compression == "gzip"}:
        raise UserError("--resume: {} stored its arrays {}; resume with --compress {}".format(
            path, "compressed (gzip)" if True in stored else "uncompressed",
            "gzip" if True in stored else "none"))
    return Carried(path, manifest)


def carry_over(carried: Carried, session: "Session", manifest: Dict[str, Any], images_dir: str,
               images: List[str], limits: Dict[str, int], quiet: bool) -> List[str]:
    """Take over what the interrupted capture finished, after checking it was this setup in
    this environment; the images left to capture."""
    carried.refuse_another_setup(dict(manifest, provenance=environment_now(session)))
    pending = []
    before = len(session.writer.records)
    for image in images:
        entry = carried.carry(image, images_dir, limits, session.writer)
        if entry is None:
            pending.append(image)
        else:
            manifest["images"][image] = entry
    carried.release()
    outputs = len(session.writer.records) - before
    session.counts["ok"] += outputs  # every carried record is an output (errors are not)
    if not quiet:
        again = "".join(
            "; {} of the finished ones {}, captured again ({}{})".format(
                len(names), why, ", ".join(printable(i) for i in names[:3]),
                ", …" if len(names) > 3 else "")
            for names, why in ((carried.changed, "changed since"),
                               (carried.unusable, "lost array files")) if names)
        sys.stderr.write("capture: resuming {}: {} of {} images carried over ({} outputs), {} "
                         "to capture{}\n".format(printable(carried.path),
                                                  len(images) - len(pending), len(images),
                                                  outputs, len(pending), again))
    return pending


def kept_images(path: str) -> int:
    """How many images the interrupted capture kept beside bundle ``path`` finished (0: none
    there, or unreadable)."""
    try:
        with open(os.path.join(path.rstrip(os.sep) + ".interrupted", "manifest.json"),
                  "rb") as handle:
            images = json.loads(handle.read().decode("utf-8")).get("images")
    except (OSError, ValueError, AttributeError):
        return 0
    return len(images) if isinstance(images, dict) else 0


def remove_superseded(path: str, quiet: bool) -> None:
    """A complete capture to ``path`` replaces what an earlier interrupted one kept there
    (``path.interrupted``, often gigabytes beside it)."""
    kept = path.rstrip(os.sep) + ".interrupted"
    if os.path.isfile(os.path.join(kept, "manifest.json")):
        shutil.rmtree(kept, ignore_errors=True)
        if not quiet:
            sys.stderr.write("capture: removed {} (an interrupted capture this complete one "
                             "replaces)\n".format(printable(kept)))


def environment_now(session: "Session") -> Dict[str, Any]:
    """The provenance a resume is checked by, taken the same way on both sides (at the stop,
    and when resuming): after each decoder read a tiny JPEG, which maps its JPEG library
    (whatever the images, and even when only workers decoded)."""
    session.decode_once(probe.TINY_JPEG)
    return probe.collect(session.provenance())


def keep_records(writer: BundleWriter, session: Optional["Session"], manifest: Dict[str, Any],
                 carried: Optional[Carried]) -> Optional[str]:
    """Keep what a stopped capture captured as OUT.interrupted (its path), unless an earlier
    interrupted capture there finished more images (None: that one is kept, these dropped):
    a capture run without --resume, stopped in its turn, would replace hours of work."""
    if carried is None and kept_images(writer.path) > len(manifest["images"]):
        writer.discard()
        return None
    # A second Ctrl-C (or SIGTERM) while the partial bundle is saved must not strand it.
    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        _record_environment(session, manifest)
        return writer.finish_interrupted(manifest)
    finally:
        signal.signal(signal.SIGINT, previous_int)


def kept_note(writer: BundleWriter, manifest: Dict[str, Any], kept: Optional[str]) -> str:
    """What a stopped capture says of what ``keep_records`` kept (``kept``: its path, or None
    when the earlier interrupted capture was kept instead)."""
    if kept is None:
        return ("{}.interrupted holds an earlier interrupted capture of more images ({} vs {} "
                "here): it is kept as it was and this capture's records are dropped (the same "
                "capture with --resume carries those over)".format(
                    writer.path, kept_images(writer.path), len(manifest["images"])))
    count = len(writer.records)
    return ("the {} record{} captured so far are kept in {}, marked incomplete (compare refuses "
            "it); the same capture with --resume captures only the images it lacks".format(
                count, "" if count == 1 else "s", kept))


def _record_environment(session: Optional["Session"], manifest: Dict[str, Any]) -> None:
    """What an interrupted capture ran in, so that --resume can check it is the same."""
    if session is None:
        return  # stopped while loading (an error): nothing ran, nothing to say
    manifest["implementations"] = session.implementation_status
    try:
        manifest["provenance"] = environment_now(session)
    except Exception:  # never lose the kept records over it: --resume then refuses them
        manifest.pop("provenance", None)


def restore_order(store: ArrayStore, manifest: Dict[str, Any], images: List[str]) -> None:
    """Records, image entries and arrays in the order of ``images``, as a run without a break
    writes them (carried images were added first, the captured ones after)."""
    position = {image: index for index, image in enumerate(images)}
    store.records.sort(key=lambda record: position.get(record["image"], len(images)))
    manifest["images"] = {image: manifest["images"][image] for image in images
                          if image in manifest["images"]}
    arrays = {}  # type: Dict[str, Dict[str, Any]]
    for record in store.records:  # each array where the first output stored it
        digest = record.get("sha256")
        if digest in store.arrays and digest not in arrays:
            arrays[digest] = store.arrays[digest]
    for digest, entry in store.arrays.items():  # none in a capture's images, but never lost
        arrays.setdefault(digest, entry)
    store.arrays = arrays
