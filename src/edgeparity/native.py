"""Which native libraries a process actually runs: mapped shared objects, their SONAME and build.

Why this exists: ``PIL.features.version("jpg")`` reports the JPEG API version Pillow was
*compiled* against ("6.2" for libjpeg-turbo's libjpeg-6b API, "9.0" for IJG libjpeg 9). Two builds
with the same number can still load different libraries, and only the loaded file decides the
pixels. So we read ``/proc/self/maps`` after a decode, and look inside the mapped file.

Runs on CPython 3.6 with the standard library only.
"""

import hashlib
import mmap
import os
import re
import struct
from typing import Dict, List, Optional

# A JPEG codec shows up under these file names: Debian's libjpeg.so.62 (libjpeg-turbo), IJG's
# libjpeg.so.9, a wheel's vendored libjpeg-<hash>.so.9.4.0, libturbojpeg.so.0.
_JPEG_FILE = re.compile(r"lib(?:turbo)?jpeg[^/]*\.so(?:\.[0-9.]+)?$")

# libjpeg-turbo >= 2.0 embeds "libjpeg-turbo version 2.1.5 (build 20230203)".
_TURBO_VERSION = re.compile(rb"libjpeg-turbo version ([0-9][0-9.]*)")
# Older libjpeg-turbo (1.5.x, e.g. Ubuntu 18.04 / L4T r32) only has its copyright line.
_TURBO_COPYRIGHT = re.compile(rb"(?:D\. R\. Commander|The libjpeg-turbo Project)")
# IJG libjpeg embeds JVERSION, e.g. "9d  12-Jan-2020", and a copyright naming Guido Vollbeding.
# libjpeg-turbo also carries an (emulated) JVERSION "6b  27-Mar-1998", so the turbo checks
# run first.
_IJG_VERSION = re.compile(rb"\x00([6-9][a-z]?)  ([0-9]{1,2}-[A-Z][a-z]{2}-[0-9]{4})\x00")


_SHA256_CACHE = {}  # type: Dict[tuple, str]


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


def read_soname(path: str) -> Optional[str]:
    """DT_SONAME of an ELF shared object, or None if it has none or is not ELF."""
    return read_dynamic(path).get("soname")  # type: ignore


def read_needed(path: str) -> List[str]:
    """DT_NEEDED entries (the sonames a binary links against) of an ELF file."""
    return read_dynamic(path).get("needed") or []  # type: ignore


def read_dynamic(path: str) -> Dict[str, object]:
    """SONAME and NEEDED entries of an ELF file's dynamic section ({} if not ELF)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return {}
    if data[:4] != b"\x7fELF":
        return {}
    is64 = data[4] == 2
    endian = "<" if data[5] == 1 else ">"
    if is64:
        (shoff,) = struct.unpack_from(endian + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(endian + "HH", data, 0x3A)
    else:
        (shoff,) = struct.unpack_from(endian + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(endian + "HH", data, 0x2E)
    sections = []
    for index in range(shnum):
        base = shoff + index * shentsize
        if is64:
            (sh_type,) = struct.unpack_from(endian + "I", data, base + 4)
            sh_offset, sh_size = struct.unpack_from(endian + "QQ", data, base + 0x18)
            (sh_link,) = struct.unpack_from(endian + "I", data, base + 0x28)
        else:
            (sh_type,) = struct.unpack_from(endian + "I", data, base + 4)
            sh_offset, sh_size, sh_link = struct.unpack_from(endian + "III", data, base + 0x10)
        sections.append((sh_type, sh_offset, sh_size, sh_link))
    SHT_DYNAMIC, DT_NEEDED, DT_SONAME = 6, 1, 14
    result = {"soname": None, "needed": []}  # type: Dict[str, object]
    for sh_type, sh_offset, sh_size, sh_link in sections:
        if sh_type != SHT_DYNAMIC or sh_link >= len(sections):
            continue
        strtab_offset = sections[sh_link][1]
        entry_format = endian + ("qQ" if is64 else "iI")
        entry_size = struct.calcsize(entry_format)
        for offset in range(sh_offset, sh_offset + sh_size, entry_size):
            tag, value = struct.unpack_from(entry_format, data, offset)
            if tag == 0:
                break
            if tag in (DT_SONAME, DT_NEEDED):
                end = data.index(b"\x00", strtab_offset + value)
                name = data[strtab_offset + value : end].decode("ascii", "replace")
                if tag == DT_SONAME:
                    result["soname"] = name
                else:
                    result["needed"].append(name)  # type: ignore
    return result


def identify_jpeg_build(path: str) -> Optional[str]:
    """Name the JPEG codec compiled into a file: "libjpeg-turbo 2.1.5", "IJG libjpeg 9d", ...

    Works for a libjpeg shared object and for a binary that links one statically (libmxnet.so,
    OpenCV's cv2 module). Returns None when no JPEG codec is recognisable in the file.
    """
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                return None
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                match = _TURBO_VERSION.search(data)
                if match:
                    return "libjpeg-turbo " + match.group(1).decode()
                if _TURBO_COPYRIGHT.search(data):
                    return "libjpeg-turbo (version string not embedded)"
                match = _IJG_VERSION.search(data)
                if match:
                    return "IJG libjpeg " + match.group(1).decode()
    except (OSError, ValueError):
        return None
    return None


def describe_library(path: str) -> Dict[str, Optional[str]]:
    """Path, SONAME, build and sha256 of one shared object, as recorded in provenance."""
    return {
        "path": path,
        "soname": read_soname(path),
        "build": identify_jpeg_build(path),
        "sha256": sha256_file(path),
    }


def loaded_jpeg_libraries(pid: str = "self") -> List[Dict[str, Optional[str]]]:
    """The JPEG shared objects mapped into this process right now, described."""
    return [
        describe_library(path)
        for path in mapped_files(pid)
        if _JPEG_FILE.search(os.path.basename(path)) and os.path.exists(path)
    ]


def module_binary(module: object) -> Optional[str]:
    """Path of a compiled extension module's .so (``module.__file__`` when it is one)."""
    path = getattr(module, "__file__", None)
    if path and path.endswith(".so") and os.path.exists(path):
        return path
    return None


def _origin(path: str) -> str:
    """Where a library comes from, in words a user recognises."""
    parent = os.path.basename(os.path.dirname(path))
    if parent.endswith(".libs"):
        # auditwheel puts a wheel's vendored libraries in <dist>.libs next to the package.
        return "bundled in the {} wheel".format(parent[: -len(".libs")])
    if path.startswith(("/usr/lib", "/lib", "/usr/local/lib")):
        return "system library"
    return "loaded from " + os.path.dirname(path)


def jpeg_library_of(binary: str, pid: str = "self") -> Dict[str, Optional[str]]:
    """The JPEG codec a compiled module really uses: the mapped .so it links, or itself if static.

    ``binary`` is an extension module such as PIL/_imaging.so. Call this after a decode, since
    some modules load their codec lazily.
    """
    needed = [name for name in read_needed(binary) if _JPEG_FILE.search(name)]
    if needed:
        for path in mapped_files(pid):
            name = os.path.basename(path)
            if name in needed or read_soname(path) in needed:
                info = describe_library(path)
                info["linkage"] = "shared"
                info["origin"] = _origin(path)
                return info
        return {
            "linkage": "shared",
            "soname": needed[0],
            "path": None,
            "build": None,
            "origin": "linked but not mapped in this process yet",
        }
    build = identify_jpeg_build(binary)
    return {
        "linkage": "static" if build else "none found",
        "path": binary,
        "soname": None,
        "build": build,
        "sha256": sha256_file(binary),
        "origin": "statically linked into {}".format(os.path.basename(binary)),
    }
