"""DLR artifacts: the files of a Neo/TVM graph-executor artifact, its graph inputs, whether its
libraries can load here, and the demo model's artifact, built on demand.

The demo artifact's kernels are C source compiled by the environment's own compiler (or a
prebuilt ``model.so`` a packager put in ``demo_model/dlr/prebuilt/<arch>/``).

CPython 3.6+, standard library only.
"""

import hashlib
import json
import os
import shutil
import struct
import subprocess
from typing import Any, Dict, List, Optional, Tuple

from .. import demo_model, native
from ..cache import cache_dir, publish_directory
from ..stages.base import Unavailable
from .base import ModelError, scratch_directory

TVM_NDARRAY_LIST_MAGIC = 0xF7E58D4F05049CB7

# Compiler flags of the demo DLR kernels. -ffp-contract=off: no fused multiply-add, so the
# kernels round the same way on x86_64 and aarch64 (where FMA is in the base ISA).
DEMO_KERNEL_CFLAGS = ("-shared", "-fPIC", "-O2", "-ffp-contract=off")
# How the demo artifact was built (JSON). Not *.json: DLR refuses a directory with two .json.
DEMO_BUILD_INFO = "edgeparity-build.info"


# ------------------------------------------------------------------------- artifact files


def is_tvm_params(path: str) -> bool:
    """Whether ``path`` is a TVM NDArray-list params file (by its magic number)."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    return len(head) == 8 and struct.unpack("<Q", head)[0] == TVM_NDARRAY_LIST_MAGIC


def read_tvm_param_names(path: str) -> List[str]:
    """Names stored in a TVM NDArray-list params file (only the header is read)."""
    with open(path, "rb") as handle:
        magic, _reserved, count = struct.unpack("<QQQ", handle.read(24))
        if magic != TVM_NDARRAY_LIST_MAGIC:
            raise ModelError("{} is not a TVM/Neo params file (bad magic number)".format(path))
        names = []
        for _ in range(count):
            (length,) = struct.unpack("<Q", handle.read(8))
            names.append(handle.read(length).decode("utf-8"))
    return names


def dlr_artifact_files(directory: str) -> Dict[str, str]:
    """{"so", "json", "params", optional "meta", optional "libdlr"}: paths in an artifact dir."""
    found = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name == "libdlr.so":
            found["libdlr"] = path
        elif name.endswith(".so"):
            found["so"] = path
        elif name.endswith(".json"):
            found["json"] = path
        elif name.endswith(".params"):
            found["params"] = path
        elif name.endswith(".meta"):
            found["meta"] = path
    return found


def dlr_graph_inputs(graph_path: str, params_path: str) -> List[Tuple[str, Tuple[int, ...]]]:
    """(name, shape) of each graph input that is not a weight, from the graph JSON."""
    with open(graph_path) as handle:
        graph = json.load(handle)
    weights = set(read_tvm_param_names(params_path))
    shapes = graph["attrs"]["shape"][1]
    row_ptr = graph["node_row_ptr"]
    inputs = []
    for node_id in graph["arg_nodes"]:
        name = graph["nodes"][node_id]["name"]
        if name not in weights:
            inputs.append((name, tuple(int(d) for d in shapes[row_ptr[node_id]])))
    return inputs


def check_shared_library(path: str) -> None:
    """Raise ModelError if ``path`` cannot be loaded by this process's architecture."""
    found = native.elf_machine(path)
    host = native.host_machine()
    if found is None:
        raise ModelError(
            "{} is not an ELF shared library (was it built for Linux?); use an artifact "
            "compiled for Linux {}".format(path, host)
        )
    arch, bits = found
    here_bits = struct.calcsize("P") * 8
    if arch != host or bits != here_bits:
        raise ModelError(
            "{} is a {}-bit {} library, but this Python runs on {}-bit {}: compile the model "
            "for this machine (e.g. a Neo job whose target is this device) or run edgeparity "
            "on a {} machine".format(path, bits, arch, here_bits, host, arch)
        )


# ------------------------------------------------------------------ the demo model's artifact


def find_compiler() -> Optional[str]:
    return shutil.which(os.environ.get("CC") or "cc") or shutil.which("gcc")


def build_demo_dlr_artifact() -> str:
    """Directory with the demo model as a runnable DLR artifact for this machine.

    The artifact lives in the cache, keyed by the content of graph, params, kernel source and
    flags. On a miss, a prebuilt ``demo_model/dlr/prebuilt/<arch>/model.so`` is used when a
    packager put one there; otherwise kernels.c is compiled with the environment's C compiler.
    ``python -m edgeparity.models`` does this ahead of time (e.g. in a Dockerfile, with
    EDGEPARITY_CACHE_DIR set, for an image that has no compiler at run time).
    """
    arch = native.host_machine()
    graph, params, source = (demo_model.runnable(path) for path in (
        demo_model.DLR_GRAPH, demo_model.DLR_PARAMS, demo_model.DLR_KERNELS))
    key = hashlib.sha256()
    for path in (graph, params, source):
        key.update(native.sha256_file(path).encode())
    key.update(" ".join(DEMO_KERNEL_CFLAGS).encode())
    target = os.path.join(cache_dir(), "dlr-demo", "{}-{}".format(arch, key.hexdigest()[:16]))
    if os.path.isfile(os.path.join(target, "model.so")):
        return target

    prebuilt = demo_model.runnable(os.path.join(demo_model.DLR_DIR, "prebuilt", arch, "model.so"))
    compiler = None if os.path.isfile(prebuilt) else find_compiler()
    if compiler is None and not os.path.isfile(prebuilt):
        raise Unavailable(
            "the demo model's DLR kernels ({}) must be compiled once for {} and no C compiler "
            "was found (tried $CC, cc, gcc): install gcc, or build them ahead of time with "
            "`python -m edgeparity.models` where a compiler exists".format(source, arch)
        )
    scratch = scratch_directory(os.path.dirname(target), ".build-",
                                "build the demo DLR artifact")
    try:
        shutil.copyfile(graph, os.path.join(scratch, "model.json"))
        shutil.copyfile(params, os.path.join(scratch, "model.params"))
        built = os.path.join(scratch, "model.so")
        info = {"source": source, "flags": list(DEMO_KERNEL_CFLAGS)}  # type: Dict[str, Any]
        if compiler is None:
            shutil.copyfile(prebuilt, built)
            info["prebuilt"] = prebuilt
        else:
            command = [compiler] + list(DEMO_KERNEL_CFLAGS) + ["-o", built, source]
            # stdout/stderr pipes, not capture_output=: CPython 3.6 has no such argument.
            result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if result.returncode != 0:
                raise Unavailable(
                    "compiling the demo DLR kernels failed ({}): {}".format(
                        " ".join(command),
                        result.stderr.decode("utf-8", "replace").strip()[-800:],
                    )
                )
            info["compiler"] = _compiler_version(compiler)
        with open(os.path.join(scratch, DEMO_BUILD_INFO), "w") as handle:
            json.dump(info, handle, indent=1, sort_keys=True)
        publish_directory(scratch, target)
    finally:
        if os.path.isdir(scratch):
            shutil.rmtree(scratch, ignore_errors=True)
    return target


def demo_dlr_build_info(artifact_dir: str) -> Dict[str, Any]:
    """How the demo artifact in ``artifact_dir`` was built ({} if it does not say)."""
    try:
        with open(os.path.join(artifact_dir, DEMO_BUILD_INFO)) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def _compiler_version(compiler: str) -> str:
    try:
        result = subprocess.run(
            [compiler, "--version"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        return "{}: {}".format(compiler, result.stdout.decode("utf-8", "replace").splitlines()[0])
    except (OSError, IndexError):
        return compiler
