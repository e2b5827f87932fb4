"""Which JPEG codec a module really decodes with: the mapped libjpeg it links, or the one
compiled into it.

Why this exists: ``PIL.features.version("jpg")`` reports the JPEG API version Pillow was
*compiled* against ("6.2" for libjpeg-turbo's libjpeg-6b API, "9.0" for IJG libjpeg 9). Two builds
with the same number can still load different libraries, and only the loaded file decides the
pixels. So we read ``/proc/self/maps`` after a decode, and look inside the mapped file.

CPython 3.6+, standard library only.
"""

import mmap
import os
import re
from typing import Dict, List, Optional

from .elf import read_needed, read_soname
from .maps import mapped_files, sha256_file

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


def library_origin(path: str) -> str:
    """Where a library comes from, in words a user recognises."""
    folder = os.path.dirname(path)
    parent = os.path.basename(folder)
    if parent.endswith(".libs"):
        # auditwheel puts a wheel's vendored libraries in <dist>.libs next to the package;
        # older auditwheel (e.g. Pillow 6.1.0's wheel) in <package>/.libs: name the package.
        package = parent[: -len(".libs")] or os.path.basename(os.path.dirname(folder))
        return "bundled in the {} wheel".format(package or "Python")
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
                info["origin"] = library_origin(path)
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
