"""Which files a process has mapped (``/proc/<pid>/maps``), and their fingerprints.

This is what was *actually* loaded, which can differ from what a package says it links.
CPython 3.6+, standard library only.
"""

import hashlib
import os
from typing import List

_SHA256_CACHE = {}  # type: dict  # (path, size, mtime) -> sha256 hex digest


def sha256_file(path: str) -> str:
    """sha256 of a file, cached per (path, size, mtime): libmxnet.so alone is ~100 MB."""
    stat = os.stat(path)
    key = (path, stat.st_size, stat.st_mtime)
    if key not in _SHA256_CACHE:
        _SHA256_CACHE[key] = _sha256_uncached(path)
    return _SHA256_CACHE[key]


def _sha256_uncached(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def mapped_files(pid: str = "self") -> List[str]:
    """Paths of all files mapped into a process, in first-mapped order (Linux only)."""
    paths = []  # type: List[str]
    seen = set()
    try:
        with open("/proc/{}/maps".format(pid)) as handle:
            for line in handle:
                parts = line.split(None, 5)
                if len(parts) == 6:
                    path = parts[5].strip()
                    if path.startswith("/") and path not in seen:
                        seen.add(path)
                        paths.append(path)
    except OSError:
        return []
    return paths


def loaded_libraries() -> List[str]:
    """Shared objects mapped into this process, in load order (Linux; [] elsewhere)."""
    return [path for path in mapped_files() if ".so" in os.path.basename(path)]


def owned_libraries(package_dir: str) -> List[str]:
    """Loaded shared objects that live under a package's directory (its bundled libraries)."""
    prefix = os.path.abspath(package_dir) + os.sep
    return [path for path in loaded_libraries() if path.startswith(prefix)]


class LibraryWatch:
    """Which shared objects a runtime mapped between creating the watch and ``new()``."""

    def __init__(self) -> None:
        self.before = set(loaded_libraries())

    def new(self) -> List[str]:
        return [path for path in loaded_libraries() if path not in self.before]
