"""Reading a bundle: refuse incomplete, damaged or edited ones with a message saying what to do.

Every path a manifest names is confined to the bundle's ``arrays/`` folder (a fixed name
pattern, no symlinks, regular files only), every field is type-checked (``format.py``), and an
array is checked against the shape and dtype its manifest promised before it is allocated.

Runs in every environment (CPython 3.6, numpy only).
"""

import errno
import gc
import hashlib
import json
import os
import stat
import zlib
from operator import itemgetter
from typing import TYPE_CHECKING, Any, BinaryIO, Dict, List, Optional

from .format import (
    ARRAYS,
    CHANGED_AFTER_CAPTURE,
    MANIFEST,
    SCHEMA,
    BundleError,
    SealCheck,
    manifest_problem,
)

if TYPE_CHECKING:
    import numpy as np  # imported when an array is read (``Bundle.array``), not to open a bundle

READ_CHUNK = 1 << 20


def _nbytes(shape: Any, dtype: str) -> int:
    import numpy as np

    count = 1
    for size in shape:
        count *= int(size)
    return count * np.dtype(dtype).itemsize


def open_array_file(bundle_path: str, relative: str) -> BinaryIO:
    """Open an array file of a bundle, only if it is a regular file inside its arrays/ folder.

    ``relative`` has already matched ``arrays/<digest>.npy[.gz]`` (format._array_problem); this also
    refuses a symlinked arrays/ folder or file, and FIFOs or devices, which could hang or
    read outside the bundle.
    """
    arrays_dir = os.path.join(bundle_path, ARRAYS)
    full = os.path.join(bundle_path, relative)
    if os.path.dirname(full) != arrays_dir or os.path.islink(arrays_dir):
        raise OSError("{} is outside the bundle's arrays/ folder".format(relative))
    # lstat first: a device node is never opened (opening one can have effects). Then
    # O_NOFOLLOW refuses a symlink, O_NONBLOCK keeps a FIFO from blocking, O_NOCTTY a terminal
    # from becoming ours, and fstat checks what was opened (no window between check and open).
    if not stat.S_ISREG(os.lstat(full).st_mode):
        raise OSError("{} is not a regular file".format(relative))
    flags = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
             | getattr(os, "O_NOCTTY", 0))
    try:
        descriptor = os.open(full, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError("{} is not a regular file (a symlink)".format(relative)) from None
        raise
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise OSError("{} is not a regular file".format(relative))
    return os.fdopen(descriptor, "rb")


def _sha256_stream(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(READ_CHUNK), b""):
        digest.update(block)
    return digest.hexdigest()


class Bundle:
    """A loaded, verified bundle (from ``load``). Arrays are read on demand and checked
    against their digest. A public interface (docs/bundle-api.md):

    - ``path``: the bundle directory (absolute); ``name``: the environment's name;
    - ``manifest``: manifest.json as a dict (schema ``edgeparity.bundle/1``);
    - ``records``: every captured output by record key ``IMAGE|CHAIN`` (e.g.
      ``photo.jpg|decode=pillow>preprocess=pillow``), each a dict with ``image``, ``chain``,
      ``stage``, ``impl``, ``mode`` (``e2e``, ``isolated`` or ``probe``), ``status`` (``ok``,
      ``error``, ``skipped``) and, when ok, ``sha256`` (the array's digest), ``shape``,
      ``dtype``, ``stats``; else ``error``;
    - ``provenance``: what the environment was (Python, OS, CPU, each implementation's
      version and the JPEG library it loaded);
    - ``images``: the input image names; ``find(...)``: records by image, stage, ...;
      ``output(key)``: the array of a record; ``array(digest)``: an array by digest.
    """

    def __init__(self, path: str, manifest: Dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
        self.name = manifest.get("name") or os.path.basename(path.rstrip("/"))
        self.records = {record["key"]: record for record in manifest.get("records", [])}

    @property
    def provenance(self) -> Dict[str, Any]:
        """Provenance of the capture environment (``manifest["provenance"]``)."""
        return self.manifest.get("provenance", {})

    @property
    def images(self) -> List[str]:
        """Names of the captured input images, sorted (canonical inputs are not images)."""
        return sorted(self.manifest.get("images", {}))

    def jpeg_header(self, image: str) -> Optional[Dict[str, Any]]:
        """The JPEG header facts capture recorded for ``image``'s file (``coding``,
        ``components``, ``colour``, ``truncated`` when it is cut short, ...), or None when it
        recorded none (not a JPEG, or a capture older than these facts)."""
        facts = self.manifest.get("images", {}).get(image, {}).get("jpeg")
        return facts if isinstance(facts, dict) else None

    def find(self, image: Optional[str] = None, stage: Optional[str] = None,
             impl: Optional[str] = None, mode: Optional[str] = None) -> List[Dict[str, Any]]:
        """The records matching every given field, sorted by key (None: any value)."""
        wanted = {"image": image, "stage": stage, "impl": impl, "mode": mode}
        return [record for _, record in sorted(self.records.items())
                if all(value is None or record.get(field) == value
                       for field, value in wanted.items())]

    def output(self, key: str) -> "np.ndarray":
        """The array record ``key`` captured, checked against its digest.

        Raises BundleError when the bundle has no such record or the record has no output
        (its stage failed or was skipped there), saying which.
        """
        record = self.records.get(key)
        if record is None:
            raise BundleError("{}: no record {!r} in this bundle (`edgeparity export {} "
                              "--list` lists them)".format(self.path, key, self.path))
        if record.get("status") != "ok":
            raise BundleError("{}: record {!r} has no output: {} there ({})".format(
                self.path, key, record.get("status"), record.get("error") or "no reason"))
        return self.array(record["sha256"])

    def array(self, digest: str) -> "np.ndarray":
        """Load one array by its content digest (a record's ``sha256``) and check it is the
        one the manifest promised; BundleError if the file is missing, damaged or edited."""
        # Here, not at the top: numpy's import is a fifth of a compare whose digests all match,
        # which opens no array.
        from ..arrays import array_digest, read_npy

        entry = self.manifest["arrays"].get(digest)
        if entry is None:
            raise BundleError(
                "{}: manifest.json refers to array {} but does not list it; the bundle was "
                "edited or damaged. Re-run `edgeparity capture` to regenerate it.".format(
                    self.path, digest[:12]
                )
            )
        shape, dtype = tuple(entry["shape"]), entry["dtype"]
        try:
            with open_array_file(self.path, entry["file"]) as handle:
                stream = handle
                if entry["file"].endswith(".gz"):  # bundles of older captures
                    import gzip  # here: a compare whose digests all match opens no array

                    stream = gzip.GzipFile(fileobj=handle, mode="rb")
                # The header is checked against the manifest before anything is allocated, and
                # no more than the declared bytes are decompressed: a gzip bomb costs nothing.
                array = read_npy(stream, _nbytes(shape, dtype), entry["file"],
                                 expect=(shape, dtype))
        except (OSError, ValueError, EOFError, TypeError, zlib.error) as exc:
            # read_npy's messages start with the file's name: said once.
            why = str(exc)
            why = why[len(entry["file"]) + 2:] if why.startswith(entry["file"] + ": ") else why
            raise BundleError(
                "{}: cannot read array file {} ({}). The bundle is damaged; re-run "
                "`edgeparity capture` to regenerate it.".format(self.path, entry["file"], why)
            ) from None
        if array_digest(array) != digest:
            raise BundleError(
                "{}: array file {} does not hold the data its name promises (content digest "
                "mismatch): it was modified after capture. Re-run `edgeparity capture`.".format(
                    self.path, entry["file"]
                )
            )
        return array



def load(path: str, verify: bool = False, progress: bool = False,
         interrupted_ok: bool = False, check_files: bool = True) -> Bundle:
    """Open a bundle directory, refusing incomplete, damaged or edited ones with a clear message.

    The manifest is always checked (every field, its index digest). Array files are checked when
    they are opened (content digest against the file name), so a compare of matching digests
    opens none of them; ``verify`` also hashes every array file up front (`edgeparity verify`),
    with a progress line on stderr if ``progress``. ``interrupted_ok``: also the kept records
    of an interrupted capture (``BUNDLE.interrupted``, for ``capture --resume``).
    ``check_files=False``: not even whether the listed array files are there (a resume checks
    them image by image, and captures again the images whose files are not).
    """
    path = os.path.abspath(path)
    manifest_path = os.path.join(path, MANIFEST)
    if os.path.exists(path) and not os.path.isdir(path):
        raise BundleError(
            "{}: this is a file, not a bundle directory. Pass the folder that "
            "`edgeparity capture --out` wrote.".format(path)
        )
    if not os.path.isdir(path):
        if os.path.isdir(path + ".interrupted"):
            raise BundleError(
                "{}: no such bundle directory, but {}.interrupted holds the records of an "
                "interrupted capture of it: finish it with the same `edgeparity capture ... "
                "--out {}` and --resume.".format(path, path, path))
        raise BundleError(
            "{}: no such bundle directory. Create it with `edgeparity capture "
            "--images DIR --out {}`.".format(path, path)
        )
    if not os.path.exists(manifest_path):
        if _holds_images(path):
            raise BundleError(
                "{}: this folder holds images, not a bundle (no manifest.json). Capture it in "
                "each environment first (`edgeparity capture --images {} --out BUNDLE`), then "
                "compare the bundles.".format(path, path))
        hint = ""
        if ".partial-" in os.path.basename(path):
            hint = " It is the staging directory of a capture that was killed before finishing."
        raise BundleError(
            "{}: not a complete bundle (no manifest.json).{} Re-run `edgeparity capture` for "
            "this environment.".format(path, hint)
        )
    # The cyclic garbage collector is paused while the manifest becomes Python objects: none
    # of them is garbage yet, and its passes over the growing heap took a quarter of json.loads
    # (0.03 s per 10,000 records).
    collecting = gc.isenabled()
    gc.disable()
    try:
        manifest = _parse_and_check(path, manifest_path, interrupted_ok)
        loaded = Bundle(path, manifest)
    finally:
        if collecting:
            gc.enable()
    if verify:
        problems = _verify_files(loaded, progress)
    elif not check_files:
        problems = []
    else:
        # Always: each listed file is there and a regular file, from one listing of arrays/
        # (a stat per file cost 0.13 s per 10,000 arrays), so a compare of matching digests
        # reads no array. Sizes and contents are checked when an array is opened.
        problems = _listing_problems(path, manifest.get("arrays", {}))
    if problems:
        shown = "; ".join(problems[:5]) + (
            " (and {} more)".format(len(problems) - 5) if len(problems) > 5 else ""
        )
        raise BundleError(
            "{}: {}. Re-run `edgeparity capture` for this environment to "
            "regenerate the bundle.".format(path, shown)
        )
    return loaded


def _verify_files(loaded: Bundle, progress: bool) -> List[str]:
    """Every array file read and hashed: what is wrong with each that is not intact."""
    from ..progress import Progress  # here: a compare never verifies up front

    arrays = sorted(loaded.manifest.get("arrays", {}).items())
    shown = Progress("verify " + os.path.basename(loaded.path), len(arrays), quiet=not progress,
                     unit="arrays")
    problems = []
    for digest, entry in arrays:
        problem = _file_problem(loaded, digest, entry)
        if problem:
            problems.append(problem)
        shown.step()
    shown.done()
    return problems


def _parse_and_check(path: str, manifest_path: str, interrupted_ok: bool = False
                     ) -> Dict[str, Any]:
    """manifest.json parsed and every field checked; BundleError saying what is wrong."""
    try:
        with open(manifest_path, "rb") as handle:
            raw = handle.read()
        seal_check = SealCheck(raw)  # hashing on a thread from now on, beside the parse
        manifest = json.loads(raw.decode("utf-8"))
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
    if not manifest.get("complete") and not (interrupted_ok and manifest.get("interrupted")):
        raise BundleError(
            "{}: this bundle is incomplete (the capture was interrupted after {} records). "
            "Re-run `edgeparity capture`{} to get a complete one.".format(
                path, len(manifest.get("records", [])),
                " with --out {} --resume (it captures only what is missing)".format(
                    path[:-len(".interrupted")]) if manifest.get("interrupted")
                and path.endswith(".interrupted") else "")
        )
    problem = manifest_problem(manifest, seal_check)
    if problem == CHANGED_AFTER_CAPTURE:
        raise BundleError(
            "{}: manifest.json was changed after capture (its bytes no longer match the digest "
            "it was sealed with, 'index_sha256'). The bundle was edited or damaged; re-run "
            "`edgeparity capture`.".format(path))
    if problem:
        raise BundleError(
            "{}: manifest.json is malformed ({}). The bundle was edited or damaged; re-run "
            "`edgeparity capture`.".format(path, problem)
        )
    return manifest


def _holds_images(path: str) -> bool:
    """Whether a folder without a manifest holds image files (it was given for a bundle)."""
    from ..inputs import IMAGE_SUFFIXES  # here: only when a folder is refused

    try:
        return any(name.lower().endswith(IMAGE_SUFFIXES) for name in os.listdir(path))
    except OSError:
        return False


def _listing_problems(bundle_path: str, arrays: Dict[str, Any]) -> List[str]:
    """Listed array files that are missing or not regular files (symlinks, FIFOs, folders)."""
    prefix = ARRAYS + "/"  # format._array_problem: every file is arrays/<name>
    try:
        with os.scandir(os.path.join(bundle_path, ARRAYS)) as listing:
            regular = {prefix + entry.name for entry in listing
                       if entry.is_file(follow_symlinks=False)}
    except OSError:
        regular = set()
    # In C (one pass, no set of the wanted names): they are looked at one by one only when
    # one is wrong.
    if regular.issuperset(map(itemgetter("file"), arrays.values())):
        return []
    wrong = {entry["file"][len(prefix):] for entry in arrays.values()
             if entry["file"] not in regular}
    try:
        present = set(os.listdir(os.path.join(bundle_path, ARRAYS)))
    except OSError:
        present = set()
    return sorted("{}/{} is {}".format(ARRAYS, name, "not a regular file" if name in present
                                      else "missing") for name in wrong)


def _file_problem(loaded: Bundle, digest: str, entry: Dict[str, Any]) -> Optional[str]:
    """What is wrong with one array file, or None: gzip files by their sha256, plain .npy
    files by reading the array back and checking its content digest."""
    try:
        if entry["file"].endswith(".gz"):
            with open_array_file(loaded.path, entry["file"]) as handle:
                if _sha256_stream(handle) != entry.get("file_sha256"):
                    return "{} is corrupted (sha256 differs from the manifest)".format(
                        entry["file"])
        else:
            with open_array_file(loaded.path, entry["file"]):
                pass  # a missing file, a symlink or a FIFO is named as such
            loaded.array(digest)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            return "{} is missing".format(entry["file"])
        if exc.strerror is None:
            return str(exc)  # open_array_file's own words, which name the file
        return "{} is unusable ({})".format(entry["file"], exc.strerror)
    except BundleError:
        return "{} is corrupted (its content differs from the digest it is named by)".format(
            entry["file"])
    return None
