"""Writing a bundle atomically, so no reader ever sees half of one.

Everything goes to a hidden staging directory next to BUNDLE (``.BUNDLE.partial-*``), the
manifest is written last, and only then is the directory renamed into place, under a lock so
that concurrent captures to one ``--out`` replace each other whole (the last complete one wins)
and never delete complete data. A staging directory left by a capture that was killed is
removed by the next capture to the same ``--out`` (its name says which process made it).
Disk full, a read-only folder or a permission problem becomes one BundleError naming the path;
the previous bundle stays intact.

Runs in every environment (CPython 3.6, numpy only).
"""

import collections
import contextlib
import gzip
import hashlib
import io
import os
import shutil
import socket
import sys
import tempfile
import time
from typing import Any, Dict, Iterator, List

import numpy as np

from ..arrays import array_digest, npy_parts
from .format import (
    ARRAYS,
    COMPRESSIONS,
    MANIFEST,
    SCHEMA,
    BundleError,
    refuse_to_replace,
    seal,
)

# A staging/aside directory is named ``.BUNDLE.partial-PID-HOST-RANDOM``: the owner is part of
# the name, so it exists from the instant the directory does (an owner *file* left a window,
# between mkdir and write or during removal, in which a killed capture left an unowned folder).


def _host_tag() -> str:
    # Hostnames may contain '-' and be long; a short digest keeps the name parseable.
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def _make_owned_directory(target: str, kind: str) -> str:
    """Create ``.BASENAME.<kind>-PID-HOST-*`` next to target: hidden, same filesystem."""
    return tempfile.mkdtemp(
        prefix=".{}.{}-{}-{}-".format(os.path.basename(target), kind, os.getpid(), _host_tag()),
        dir=os.path.dirname(target),
    )


def _gzip(parts: List[Any]) -> bytes:
    # mtime=0 keeps the compressed bytes reproducible for identical arrays. (gzip.compress
    # only takes mtime from Python 3.8 on.)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1, mtime=0) as handle:
        for part in parts:
            handle.write(part)
    return buffer.getvalue()


@contextlib.contextmanager
def _writing(what: str, path: str) -> Iterator[None]:
    """Turn an OS error while writing into one clear line (disk full, read-only, permissions)."""
    try:
        yield
    except OSError as exc:
        raise BundleError(
            "cannot {} {}: {}. Free space or fix permissions, or choose another --out; any "
            "previous bundle there is unchanged.".format(what, path, exc.strerror or exc)
        ) from None


def _process_is_gone(pid: int, host: str) -> bool:
    """True only for a process of this host that no longer runs."""
    if host != _host_tag() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # exists (another user's process)
    return False


# Leftovers of edgeparity before 0.1.0's owner-in-the-name scheme: an ``.owner`` file
# ("PID HOSTNAME") inside, or none if the capture died before writing it; those are removed
# once unchanged for this long. (An aside folder may hold the only copy of an older bundle,
# so it must not be left behind forever.)
LEGACY_OWNER_FILE = ".owner"
LEGACY_ORPHAN_SECONDS = 600


def _legacy_owner_is_dead(directory: str) -> bool:
    try:
        with open(os.path.join(directory, LEGACY_OWNER_FILE)) as handle:
            pid_text, host = handle.read().split()
        pid = int(pid_text)
    except FileNotFoundError:
        try:
            return time.time() - os.stat(directory).st_mtime > LEGACY_ORPHAN_SECONDS
        except OSError:
            return False
    except (OSError, ValueError):
        return False  # unreadable owner: leave it alone (named in a warning instead)
    if host != socket.gethostname():
        return False
    return _process_is_gone(pid, _host_tag())


def _owner_is_dead(directory: str, name: str, prefix: str) -> bool:
    """True only when the directory's owner is a process of this host that no longer runs."""
    try:
        pid_text, host, _random = name[len(prefix):].split("-", 2)
        pid = int(pid_text)
    except ValueError:
        return _legacy_owner_is_dead(directory)
    return _process_is_gone(pid, host)


def clean_leftovers(path: str) -> List[str]:
    """Remove staging/aside directories of dead captures of ``path``; return those kept.

    An aside directory (``.BUNDLE.old-*``) holds a complete older bundle moved out of the way
    during a replacement: if the capture died before BUNDLE was back, it is restored first.
    """
    parent, base = os.path.split(path)
    kept = []
    try:
        names = os.listdir(parent)
    except OSError:
        return kept
    for name in sorted(names):
        prefixes = [p for p in ("." + base + ".partial-", "." + base + ".old-")
                    if name.startswith(p)]
        if not prefixes:
            continue
        leftover = os.path.join(parent, name)
        if not _owner_is_dead(leftover, name, prefixes[0]):
            kept.append(leftover)
            continue
        inner = os.path.join(leftover, "bundle")
        if ".old-" in name and os.path.isdir(inner):
            if not os.path.lexists(path):
                try:
                    os.rename(inner, path)
                except OSError:
                    kept.append(leftover)
                    continue
        shutil.rmtree(leftover, ignore_errors=True)
    return kept


@contextlib.contextmanager
def _move_lock(path: str) -> Iterator[None]:
    """Serialise the final move of concurrent captures to one --out (POSIX advisory lock)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the rename sequence is still safe, only less tidy
        yield
        return
    # The lock is taken on the parent folder itself: no lock file is left behind.
    descriptor = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


# renameat2(2) with RENAME_EXCHANGE swaps two paths atomically (Linux >= 3.15). The syscall
# numbers are for when glibc has no wrapper (glibc < 2.28, e.g. JetPack 4's Ubuntu 18.04).
_RENAMEAT2_SYSCALL = {"x86_64": 316, "aarch64": 276}
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def _exchange(first: str, second: str) -> bool:
    """Atomically swap two directories; False where the system cannot (then nothing moved)."""
    try:
        import ctypes
        import platform

        libc = ctypes.CDLL(None, use_errno=True)
        arguments = (ctypes.c_int(_AT_FDCWD), os.fsencode(first), ctypes.c_int(_AT_FDCWD),
                     os.fsencode(second), ctypes.c_uint(_RENAME_EXCHANGE))
        wrapper = getattr(libc, "renameat2", None)
        if wrapper is not None:
            return wrapper(*arguments) == 0
        number = _RENAMEAT2_SYSCALL.get(platform.machine())
        return number is not None and libc.syscall(ctypes.c_long(number), *arguments) == 0
    except (OSError, AttributeError, ValueError):
        return False


# Write-behind for large arrays: a capture of photos writes gigabytes (3.9 MB per 1.3 MP photo),
# which would otherwise fill the page cache with dirty pages, push everything else out of
# memory (a Jetson has 4 GB) and leave all of it for the one sync at the end. So the writeback
# of each large array file is started right after it is written, and its pages are dropped
# from the cache a few arrays later, when they are on disk: the next arrays reuse those pages
# (measured here: 3 ms instead of 12-15 ms to write a photo's array, and no wait at the end).
# Smaller arrays stay cached, for a compare run right after the capture.
WRITE_BEHIND_BYTES = 1 << 20
WRITE_BEHIND_LAG = 4  # arrays written since, before a file's pages are dropped


def _drop_cached(descriptor: int) -> None:
    """Start writing back a file's dirty pages, and drop those already on disk."""
    if hasattr(os, "posix_fadvise"):  # not on macOS
        try:
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        except OSError:
            pass  # only advice


def _first_non_folder(path: str) -> str:
    """The first existing ancestor of ``path`` (itself included) that is not a folder, or ''."""
    while path and path != os.path.dirname(path):
        if os.path.lexists(path):
            return "" if os.path.isdir(path) else path
        path = os.path.dirname(path)
    return ""


class ArrayStore:
    """Arrays and records of a bundle being captured, the arrays written into ``staging``.

    A capture worker process has one of its own on the same staging folder: arrays are named
    by their content digest and written under a temporary name then renamed, so two processes
    storing the same array never corrupt it.
    """

    def __init__(self, staging: str, path: str, compression: str = "none") -> None:
        if compression not in COMPRESSIONS:
            raise ValueError("compression {!r}: use one of {}".format(
                compression, ", ".join(COMPRESSIONS)))
        self.staging = staging
        self.path = path  # the bundle's final path, for messages
        self.compression = compression
        self.arrays = {}  # type: Dict[str, Dict[str, Any]]
        self.records = []  # type: List[Dict[str, Any]]
        # Descriptors of the last large arrays written, oldest first (write-behind).
        self.written = collections.deque()  # type: collections.deque

    def add_array(self, array: np.ndarray) -> str:
        """Store an array once (content-addressed) and return its digest."""
        array = np.ascontiguousarray(array)
        digest = array_digest(array)
        if digest not in self.arrays:
            entry = {
                "shape": list(array.shape),
                "dtype": array.dtype.str,
                "bytes": int(array.nbytes),
            }  # type: Dict[str, Any]
            if self.compression == "gzip":
                data = _gzip(npy_parts(array))
                entry["file"] = "{}/{}.npy.gz".format(ARRAYS, digest)
                entry["file_sha256"] = hashlib.sha256(data).hexdigest()
                parts = [data]  # type: List[Any]
            else:
                # Plain .npy: the file holds exactly the array, whose content digest is its
                # name, so no second hash of the file is needed.
                parts = npy_parts(array)
                entry["file"] = "{}/{}.npy".format(ARRAYS, digest)
            target = os.path.join(self.staging, entry["file"])
            temporary = "{}.{}.tmp".format(target, os.getpid())
            # No fsync per array (it would dominate capture time); finish() syncs once
            # before the manifest is written, so a manifest never points at unwritten data.
            with _writing("write an array of the bundle", self.path):
                with open(temporary, "wb") as handle:
                    for part in parts:
                        handle.write(part)
                    handle.flush()
                    if array.nbytes >= WRITE_BEHIND_BYTES:
                        _drop_cached(handle.fileno())
                        self.written.append(os.dup(handle.fileno()))
                os.replace(temporary, target)
            while len(self.written) > WRITE_BEHIND_LAG:
                self._forget_written()
            self.arrays[digest] = entry
        return digest

    def _forget_written(self) -> None:
        descriptor = self.written.popleft()
        _drop_cached(descriptor)
        os.close(descriptor)

    def close(self) -> None:
        """Close the descriptors kept for write-behind (their data stays for finish's sync)."""
        while self.written:
            os.close(self.written.popleft())

    def add_record(self, record: Dict[str, Any]) -> None:
        self.records.append(record)

    def take(self) -> "tuple":
        """(records, arrays) stored since the last take: what a worker hands to the parent."""
        taken = (self.records, self.arrays)
        self.records, self.arrays = [], {}
        return taken

    def adopt(self, bundle_dir: str, digest: str, entry: Dict[str, Any]) -> None:
        """Take an array file of another bundle (shards being merged, a resumed capture's kept
        records) as it is: hard-linked where the file system allows, else copied."""
        source = os.path.join(bundle_dir, entry["file"])
        target = os.path.join(self.staging, entry["file"])
        try:
            os.link(source, target)
        except OSError:  # another file system, or links not allowed
            shutil.copyfile(source, target)
        self.arrays[digest] = dict(entry)

    def merge(self, records: List[Dict[str, Any]], arrays: Dict[str, Dict[str, Any]]) -> None:
        """Add what a worker stored (its array files are already in ``staging``)."""
        self.records.extend(records)
        for digest, entry in arrays.items():
            self.arrays.setdefault(digest, entry)


class BundleWriter(ArrayStore):
    """Stage a bundle next to its final path and move it into place when complete."""

    def __init__(self, path: str, compression: str = "none") -> None:
        if compression not in COMPRESSIONS:  # before anything is created
            raise ValueError("compression {!r}: use one of {}".format(
                compression, ", ".join(COMPRESSIONS)))
        path = os.path.abspath(path)
        self.path = path
        refuse_to_replace(self.path)
        try:
            refuse_to_replace(self.path + ".interrupted")
        except BundleError:  # its manifest lost or damaged: no capture can use or replace it
            raise BundleError(
                "{}.interrupted exists and is not a bundle: if an interrupted capture kept it, "
                "its manifest.json is lost or damaged and it cannot be resumed. Remove it (or "
                "choose another --out), then capture again".format(self.path)) from None
        parent = os.path.dirname(self.path)
        blocking = _first_non_folder(parent)
        if blocking:
            raise BundleError(
                "cannot create the bundle {}: {} is a file, not a folder. Choose an --out "
                "whose parent folders are folders (e.g. bundles/NAME).".format(self.path, blocking))
        with _writing("create the bundle", self.path):
            os.makedirs(parent, exist_ok=True)
            for leftover in clean_leftovers(self.path) + clean_leftovers(
                    self.path + ".interrupted"):
                sys.stderr.write("edgeparity: note: {} is left from another capture of {} that "
                                 "may still run; remove it if none does.\n".format(
                                     leftover, self.path))
            # Same parent directory, so the final rename is atomic (same filesystem).
            self.staging = _make_owned_directory(self.path, "partial")
            os.makedirs(os.path.join(self.staging, ARRAYS))
            # mkdtemp makes a private (0700) folder; a bundle is meant to be copied and shared.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.staging, 0o777 & ~umask)
        ArrayStore.__init__(self, self.staging, path, compression)
        self.finished = False  # True once the bundle has been moved into place
        self.keep_staging = False

    def _write_manifest(self, manifest: Dict[str, Any]) -> None:
        manifest = dict(manifest)
        manifest["schema"] = SCHEMA
        manifest["records"] = self.records
        manifest["arrays"] = self.arrays
        data = seal(manifest)  # one compact pass, its digest over these very bytes
        with _writing("write the manifest of", self.path):
            with open(os.path.join(self.staging, MANIFEST), "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())

    def finish(self, manifest: Dict[str, Any]) -> str:
        """Write the manifest (complete) and move the bundle into place, replacing an old one."""
        manifest = dict(manifest, complete=True)
        self.close()
        if hasattr(os, "sync"):
            os.sync()
        self._write_manifest(manifest)
        return self._move_into_place(self.path)

    def finish_interrupted(self, manifest: Dict[str, Any]) -> str:
        """Keep what was captured under PATH.interrupted, marked incomplete."""
        manifest = dict(manifest, complete=False, interrupted=True)
        self.close()
        if hasattr(os, "sync"):
            os.sync()  # as finish: a resume carries these arrays into a complete bundle
        self._write_manifest(manifest)
        return self._move_into_place(self.path + ".interrupted")

    def _move_into_place(self, target: str) -> str:
        with _move_lock(target), _writing("move the new bundle into", target):
            if not os.path.lexists(target):
                os.rename(self.staging, target)
                self.finished = True
                return target
            refuse_to_replace(target)
            if _exchange(self.staging, target):
                # One atomic swap: the new bundle is at target, the old one in staging.
                self.finished = True
                shutil.rmtree(self.staging, ignore_errors=True)
                return target
            # No atomic swap here (another kernel or filesystem): move the old bundle aside
            # first, so a half-replaced bundle is never visible; a capture killed between the
            # two renames leaves no bundle at target for a moment, and the next capture puts
            # the old one back (clean_leftovers).
            old = _make_owned_directory(target, "old")
            os.rename(target, os.path.join(old, "bundle"))
            try:
                os.rename(self.staging, target)
            except OSError as exc:
                os.rename(os.path.join(old, "bundle"), target)  # put the old one back
                shutil.rmtree(old, ignore_errors=True)
                self.keep_staging = True  # complete data: never discard it
                raise BundleError(
                    "could not move the new bundle into {} ({}); the previous bundle is "
                    "unchanged and this capture's complete bundle is kept in {}.".format(
                        target, exc.strerror or exc, self.staging)) from None
            self.finished = True
            shutil.rmtree(old, ignore_errors=True)
            return target

    def discard(self) -> None:
        self.close()
        if not self.keep_staging:
            shutil.rmtree(self.staging, ignore_errors=True)
