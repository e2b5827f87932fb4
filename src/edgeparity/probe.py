"""Environment provenance: what this machine, OS, Python and every decoder/runtime really are.

``edgeparity probe`` prints it; ``capture`` stores it in every bundle, so ``compare`` can name
the cause of a divergence ("cloud's Pillow loads IJG libjpeg 9d from ..., jetson's loads
libjpeg-turbo 2.1.5 from ..."). Runs on CPython 3.6 with numpy only.
"""

import base64
import os
import platform
import sys
from typing import Any, Dict, List, Optional

import numpy as np

from . import __version__, native
from .stages import Implementation, Unavailable, all_implementations

# A 16x16 4:2:0 baseline JPEG: decoded once by every decoder so that lazily loaded JPEG
# libraries are mapped before /proc/self/maps is read.
TINY_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIx"
    "wcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIy"
    "MjIyMjIyMjIyMjIyMjIyMjIyMjIyMjL/wAARCAAQABADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAw"
    "QFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkK"
    "FhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmq"
    "KjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEB"
    "AQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRob"
    "HBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOE"
    "hYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+P"
    "n6/9oADAMBAAIRAxEAPwDl6KKKZ+jn/9k="
)

# libjpeg-turbo picks SIMD code paths at run time; these variables override the choice and so
# can change nothing (exact SIMD) or everything (a different DCT) — worth recording.
JPEG_SIMD_VARIABLES = (
    "JSIMD_FORCENONE",
    "JSIMD_FORCEMMX",
    "JSIMD_FORCESSE",
    "JSIMD_FORCESSE2",
    "JSIMD_FORCEAVX2",
    "JSIMD_FORCENEON",
    "JSIMD_FORCEDSPR",
    "JSIMD_NOHUFFENC",
)
OTHER_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_CORETYPE", "MXNET_ENGINE_TYPE", "TVM_NUM_THREADS")

# CPU features that change numeric results or code paths of image and tensor libraries.
NOTABLE_CPU_FEATURES = (
    "sse2",
    "sse4_1",
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "neon",
    "asimd",
    "asimdhp",
    "asimddp",
    "fphp",
    "sve",
    "sve2",
)


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def cpu_info() -> Dict[str, Any]:
    text = _read("/proc/cpuinfo") or ""
    flags = set()  # type: set
    model = None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("flags", "features"):
            flags.update(value.split())
        elif key in ("model name", "cpu model", "hardware") and model is None:
            model = value.strip()
    return {
        "arch": platform.machine(),
        "model": model,
        "cores": os.cpu_count(),
        "notable_features": [name for name in NOTABLE_CPU_FEATURES if name in flags],
    }


def os_info() -> Dict[str, Any]:
    release = {}
    for line in (_read("/etc/os-release") or "").splitlines():
        key, _, value = line.partition("=")
        release[key] = value.strip().strip('"')
    info = {
        "system": platform.system(),
        "kernel": platform.release(),
        "distro": release.get("PRETTY_NAME"),
    }  # type: Dict[str, Any]
    # L4T (the Jetson's Linux) writes its release here; absent everywhere else.
    tegra = _read("/etc/nv_tegra_release")
    if tegra:
        info["l4t_release"] = tegra.splitlines()[0].strip()
    info["in_container"] = os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv")
    return info


def libc_info() -> Dict[str, Any]:
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError, AttributeError):
        version = None
    name, libc_version = platform.libc_ver()
    return {"gnu_libc": version, "detected": "{} {}".format(name, libc_version).strip() or None}


def python_info() -> Dict[str, Any]:
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "prefix": sys.prefix,
    }


def numpy_info() -> Dict[str, Any]:
    info = {"version": np.__version__}  # type: Dict[str, Any]
    blas = [
        os.path.basename(path)
        for path in native.mapped_files()
        if "openblas" in path.lower() or "mkl" in os.path.basename(path).lower()
    ]
    info["blas_libraries_mapped"] = blas
    return info


def environment_variables() -> Dict[str, str]:
    names = JPEG_SIMD_VARIABLES + OTHER_VARIABLES
    return {name: os.environ[name] for name in names if name in os.environ}


def implementation_provenance(
    implementations: Optional[List[Implementation]] = None,
    options: Optional[Dict[str, Any]] = None,
) -> Dict[str, Dict[str, Any]]:
    """Load every implementation, run decoders once on a tiny JPEG, then record provenance.

    A library that cannot be loaded is recorded as skipped with the reason.
    """
    result = {}  # type: Dict[str, Dict[str, Any]]
    for impl in implementations if implementations is not None else all_implementations():
        key = "{}/{}".format(impl.stage, impl.name)
        try:
            impl.load(options or {})
        except Unavailable as exc:
            result[key] = {"status": "skipped", "reason": str(exc), "description": impl.description}
            continue
        except Exception as exc:  # a library that imports but breaks: still not our crash
            result[key] = {
                "status": "skipped",
                "description": impl.description,
                "reason": "failed to load: {}: {}".format(type(exc).__name__, exc),
            }
            continue
        if impl.stage == "decode":
            try:
                impl.run(TINY_JPEG)
            except Exception:
                pass  # provenance is still worth having; the capture records the real error
        try:
            details = impl.provenance()
        except Exception as exc:
            details = {"provenance_error": "{}: {}".format(type(exc).__name__, exc)}
        result[key] = {"status": "available", "description": impl.description, "details": details}
    return result


def collect(implementations: Optional[Dict[str, Dict[str, Any]]] = None) -> Dict[str, Any]:
    """The whole environment record. ``implementations`` may be passed in if already probed."""
    return {
        "edgeparity": __version__,
        "cpu": cpu_info(),
        "os": os_info(),
        "libc": libc_info(),
        "python": python_info(),
        "numpy": numpy_info(),
        "environment_variables": environment_variables(),
        "implementations": implementations
        if implementations is not None
        else implementation_provenance(),
        "jpeg_libraries_mapped": native.loaded_jpeg_libraries(),
    }


def _first_line(text: Any) -> str:
    """The first non-blank line of a reason, or words saying there was none."""
    for line in str(text or "").splitlines():
        if line.strip():
            return line.strip()
    return "no reason recorded"


def format_text(info: Dict[str, Any]) -> str:
    """A short human summary of ``collect()``."""
    lines = [
        "machine   {} ({}), {} cores; {}".format(
            info["cpu"]["arch"],
            info["cpu"]["model"] or "unknown CPU",
            info["cpu"]["cores"],
            " ".join(info["cpu"]["notable_features"]) or "no notable SIMD flags",
        ),
        "os        {}{}".format(
            info["os"]["distro"] or info["os"]["system"],
            ", L4T " + info["os"]["l4t_release"] if info["os"].get("l4t_release") else "",
        ),
        "libc      {}".format(info["libc"]["gnu_libc"] or info["libc"]["detected"]),
        "python    {} ({})".format(info["python"]["version"], info["python"]["executable"]),
        "numpy     {}".format(info["numpy"]["version"]),
    ]
    if info["environment_variables"]:
        lines.append(
            "env       "
            + " ".join(
                "{}={}".format(k, v) for k, v in sorted(info["environment_variables"].items())
            )
        )
    lines.append("")
    for key, entry in sorted(info["implementations"].items()):
        if entry["status"] != "available":
            lines.append("{:<24} skipped: {}".format(key, _first_line(entry.get("reason"))))
            continue
        details = entry.get("details", {})
        text = "{:<24} {}".format(key, details.get("version") or "version unknown")
        if details.get("provenance_error"):
            # Loaded, but describing it failed (e.g. "module 'tvm' has no attribute
            # 'runtime'"): say so rather than print an empty line.
            text += "  provenance not recorded: {}".format(
                _first_line(details["provenance_error"]))
        jpeg = details.get("jpeg_library")
        if jpeg:
            text += "  jpeg: {} ({}{})".format(
                jpeg.get("build") or "unidentified",
                jpeg.get("origin"),
                ": " + jpeg["path"] if jpeg.get("path") and jpeg.get("linkage") == "shared" else "",
            )
        if details.get("jpeg_compiled_version"):
            text += "  compiled for JPEG API {}".format(details["jpeg_compiled_version"])
        if details.get("build_info_jpeg"):
            # OpenCV's own account of its build (whitespace collapsed: it pads its columns).
            text += "  [OpenCV's build information: {}]".format(
                " ".join(str(details["build_info_jpeg"]).split()))
        if details.get("math_library"):
            text += "  math: {}".format(details["math_library"])
        build = details.get("library_build")
        if build and build.get("path"):
            # DLR: the runtime library that ran (the Python API's version says little: on the
            # Jetson images a 1.10.0 API runs a libdlr.so built from the 1.6.0 source).
            text += "  libdlr: {}, {}".format(build["path"], build.get("how") or "how unknown")
        lines.append(text)
    return "\n".join(lines)
