"""Models for the inference stage: find the user's (or the demo) model in the form a runner needs.

A model is given as one of (``--model`` / ``options["model"]``):

- nothing: the demo model shipped in ``edgeparity/demo_model`` (MXNet, ONNX and DLR forms);
- an MXNet export prefix ``PREFIX`` (``PREFIX-symbol.json`` + ``PREFIX-0000.params``), or the
  ``-symbol.json`` file itself;
- an ``.onnx`` file;
- a Neo/DLR artifact directory (``*.so`` + ``*.json`` + ``*.params``, maybe ``libdlr.so``);
- a ``.tar.gz`` / ``.tgz`` / ``.tar`` of such a directory (Neo's output), unpacked safely into
  the cache directory.

Each runner asks :class:`ModelSource` for the one form it runs and gets a clear
:class:`ModelError` (a kind of ``Unavailable``) naming the file and what to do when it is not
there. Also here: the demo DLR artifact's on-demand build (its kernels are C source compiled by
the environment's own compiler), ELF architecture checks, and reading ``/proc/self/maps`` to
report which math libraries a runtime actually loaded.

In-environment code: CPython 3.6+, numpy only; everything else is imported lazily.
"""

import glob
import hashlib
import json
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import demo_model, native
from .stages.base import Unavailable

USAGE = (
    "pass an MXNet export prefix (PREFIX-symbol.json + PREFIX-0000.params), an .onnx file, "
    "a Neo/DLR artifact directory (*.so + *.json + *.params) or a .tar.gz of one"
)
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
TVM_NDARRAY_LIST_MAGIC = 0xF7E58D4F05049CB7

# Compiler flags of the demo DLR kernels. -ffp-contract=off: no fused multiply-add, so the
# kernels round the same way on x86_64 and aarch64 (where FMA is in the base ISA).
DEMO_KERNEL_CFLAGS = ("-shared", "-fPIC", "-O2", "-ffp-contract=off")
# How the demo artifact was built (JSON). Not *.json: DLR refuses a directory with two .json.
DEMO_BUILD_INFO = "edgeparity-build.info"


class ModelError(Unavailable):
    """The model a runner was pointed at cannot be used as given (missing file, wrong shape,
    built for another architecture). The message names the file and what to do."""


# ----------------------------------------------------------------------------------- utilities


def cache_dir() -> str:
    """Where built and unpacked artifacts go: $EDGEPARITY_CACHE_DIR, else the XDG cache."""
    explicit = os.environ.get("EDGEPARITY_CACHE_DIR")
    if explicit:
        return os.path.abspath(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "edgeparity")


sha256_file = native.sha256_file


def describe_files(paths: Sequence[str]) -> Dict[str, str]:
    """{absolute path: "sha256:<hex>"} for provenance."""
    return {os.path.abspath(p): "sha256:" + sha256_file(p) for p in paths}


def _make_dirs(path: str) -> None:
    if not os.path.isdir(path):
        os.makedirs(path)


# ------------------------------------------------------------------------ ELF architecture

# e_machine values of the ELF header (System V ABI) for the machines edgeparity meets.
ELF_MACHINES = {3: "i386", 40: "arm", 62: "x86_64", 183: "aarch64", 243: "riscv", 21: "ppc64"}
PLATFORM_TO_ELF = {
    "x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64",
    "i386": "i386", "i686": "i386", "armv7l": "arm", "armv6l": "arm", "ppc64le": "ppc64",
    "riscv64": "riscv",
}


def host_machine() -> str:
    machine = platform.machine().lower()
    return PLATFORM_TO_ELF.get(machine, machine)


def elf_machine(path: str) -> Optional[Tuple[str, int]]:
    """(architecture, 32 or 64) of an ELF file, or None if it is not ELF."""
    with open(path, "rb") as handle:
        header = handle.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    bits = 64 if header[4] == 2 else 32
    endian = "<" if header[5] == 1 else ">"
    (machine,) = struct.unpack(endian + "H", header[18:20])
    return ELF_MACHINES.get(machine, "e_machine %d" % machine), bits


def check_shared_library(path: str) -> None:
    """Raise ModelError if ``path`` cannot be loaded by this process's architecture."""
    found = elf_machine(path)
    if found is None:
        raise ModelError(
            "{} is not an ELF shared library (was it built for Linux?); use an artifact "
            "compiled for Linux {}".format(path, host_machine())
        )
    arch, bits = found
    here_bits = struct.calcsize("P") * 8
    if arch != host_machine() or bits != here_bits:
        raise ModelError(
            "{} is a {}-bit {} library, but this Python runs on {}-bit {}: compile the model "
            "for this machine (e.g. a Neo job whose target is this device) or run edgeparity "
            "on a {} machine".format(path, bits, arch, here_bits, host_machine(), arch)
        )


# ------------------------------------------------------------------ loaded libraries (maps)

# Substrings of a shared object's file name -> the math library it is.
MATH_LIBRARIES = (
    ("oneDNN (MKL-DNN)", ("libdnnl", "libmkldnn")),
    ("Intel MKL", ("libmkl_",)),
    ("OpenBLAS", ("libopenblas",)),
    ("Arm Performance Libraries", ("libarmpl",)),
    ("Arm Compute Library", ("libarm_compute",)),
    ("BLIS", ("libblis",)),
    ("ATLAS", ("libatlas", "libsatlas", "libtatlas")),
    ("reference BLAS", ("libblas.so", "libcblas.so")),
    ("cuBLAS", ("libcublas",)),
    ("cuDNN", ("libcudnn",)),
    ("TensorRT", ("libnvinfer",)),
)


def loaded_libraries() -> List[str]:
    """Shared objects mapped into this process, in load order (Linux; [] elsewhere).

    This is what was *actually* loaded, which can differ from what a package says it links.
    """
    return [path for path in native.mapped_files() if ".so" in os.path.basename(path)]


def math_libraries(paths: Sequence[str]) -> List[Dict[str, str]]:
    """The known math libraries among ``paths``, each as {"name", "path"} (+ OpenBLAS config)."""
    found = []
    for path in paths:
        base = os.path.basename(path).lower()
        for name, needles in MATH_LIBRARIES:
            if any(needle in base for needle in needles):
                entry = {"name": name, "path": path}
                if name == "OpenBLAS":
                    entry.update(openblas_config(path))
                found.append(entry)
                break
    return found


def openblas_config(path: str) -> Dict[str, str]:
    """OpenBLAS's own build string and the CPU kernel it chose (it differs per machine)."""
    import ctypes

    try:
        lib = ctypes.CDLL(path)  # already mapped: this only returns a handle
        info = {}
        for key, symbol in (("config", "openblas_get_config"), ("core", "openblas_get_corename")):
            func = getattr(lib, symbol, None)
            if func is None:  # builds with a symbol suffix (numpy's openblas64_) differ
                func = getattr(lib, symbol + "64_", None)
            if func is not None:
                func.restype = ctypes.c_char_p
                info[key] = func().decode("utf-8", "replace").strip()
        return info
    except (OSError, AttributeError):
        return {}


class LibraryWatch:
    """Which shared objects a runtime mapped between ``start()`` and ``new()``."""

    def __init__(self) -> None:
        self.before = set(loaded_libraries())

    def new(self) -> List[str]:
        return [path for path in loaded_libraries() if path not in self.before]


def owned_libraries(package_dir: str) -> List[str]:
    """Loaded shared objects that live under a package's directory (its bundled libraries)."""
    prefix = os.path.abspath(package_dir) + os.sep
    return [path for path in loaded_libraries() if path.startswith(prefix)]


# ------------------------------------------------------------------------------ model forms


class ModelSource:
    """Where one model's files are, per form. Build with :func:`resolve_model`."""

    def __init__(self, label: str, demo: bool = False) -> None:
        self.label = label  # what the user gave (or "demo model"), for messages
        self.demo = demo
        self.mxnet = None  # type: Optional[Tuple[str, str]]  # (symbol json, params)
        self.onnx = None  # type: Optional[str]
        self.dlr_dir = None  # type: Optional[str]
        self.dlr_problem = None  # type: Optional[str]  # why a directory is not a DLR artifact
        self.archive = None  # type: Optional[str]  # the .tar.gz it was unpacked from

    def forms(self) -> List[str]:
        return [name for name, value in (("mxnet", self.mxnet), ("onnx", self.onnx),
                                         ("dlr", self.dlr_dir)) if value]

    def _missing(self, wanted: str) -> ModelError:
        have = ", ".join(self.forms()) or "nothing usable"
        return ModelError(
            "no {} found for model {} (it has: {}); export the model in that form, or run "
            "this runner on a model that has it".format(wanted, self.label, have)
        )

    def require_mxnet(self) -> Tuple[str, str]:
        if self.mxnet is None:
            raise self._missing("MXNet export (PREFIX-symbol.json + PREFIX-0000.params)")
        return self.mxnet

    def require_onnx(self) -> str:
        if self.onnx is None:
            raise self._missing("ONNX file (*.onnx)")
        return self.onnx

    def require_dlr(self) -> str:
        """The artifact directory DLR loads; for the demo model it is built on first use."""
        if self.demo:
            return build_demo_dlr_artifact()
        if self.dlr_dir is None:
            if self.dlr_problem:
                raise ModelError(self.dlr_problem)
            raise self._missing("Neo/DLR artifact (directory with *.so + *.json + *.params)")
        return self.dlr_dir

    def provenance(self, files: Sequence[str]) -> Dict[str, Any]:
        """{"path", "demo", "files": {path: sha256}} of the files a runner actually loaded."""
        info = {"path": self.label, "demo": self.demo, "files": describe_files(files)}
        if self.archive:
            info["archive"] = {self.archive: "sha256:" + sha256_file(self.archive)}
        return info


def demo_source() -> ModelSource:
    source = ModelSource("demo model (edgeparity/demo_model)", demo=True)
    prefix = demo_model.MXNET_PREFIX
    source.mxnet = (prefix + "-symbol.json", prefix + "-0000.params")
    source.onnx = demo_model.ONNX_FILE
    source.dlr_dir = demo_model.DLR_DIR  # the source form; require_dlr() builds the runnable one
    return source


def resolve_model(model: Optional[str]) -> ModelSource:
    """Find every form of the model ``model`` points at (None: the demo model)."""
    if not model:
        return demo_source()
    path = os.path.abspath(os.path.expanduser(model))
    if os.path.isdir(path):
        return _scan_directory(path, ModelSource(model))
    if os.path.isfile(path):
        lower = path.lower()
        source = ModelSource(model)
        if lower.endswith(".onnx"):
            source.onnx = path
        elif lower.endswith("-symbol.json"):
            source.mxnet = _mxnet_pair(path[: -len("-symbol.json")])
        elif re.search(r"-\d{4}\.params$", lower) and os.path.exists(
            re.sub(r"-\d{4}\.params$", "-symbol.json", path)
        ):
            source.mxnet = (re.sub(r"-\d{4}\.params$", "-symbol.json", path), path)
        elif lower.endswith(ARCHIVE_SUFFIXES):
            source.archive = path
            _scan_directory(unpack_archive(path), source)
        else:
            raise ModelError("{}: not a model form edgeparity knows; {}".format(path, USAGE))
        return source
    if os.path.isfile(path + "-symbol.json"):
        source = ModelSource(model)
        source.mxnet = _mxnet_pair(path)
        return source
    raise ModelError("model not found: {} does not exist; {}".format(path, USAGE))


def _mxnet_pair(prefix: str) -> Tuple[str, str]:
    symbol = prefix + "-symbol.json"
    params = prefix + "-0000.params"
    if not os.path.isfile(params):
        # An export of another epoch: take the latest one.
        candidates = sorted(p for p in glob.glob(glob.escape(prefix) + "-*.params")
                            if re.search(r"-\d{4}\.params$", p))
        if not candidates:
            raise ModelError(
                "{} has no parameters file: expected {} next to it (mx.model.save_checkpoint "
                "or HybridBlock.export writes both)".format(symbol, params)
            )
        params = candidates[-1]
    return symbol, params


def _scan_directory(directory: str, source: ModelSource) -> ModelSource:
    names = sorted(os.listdir(directory))
    symbols = [n for n in names if n.endswith("-symbol.json")]
    if len(symbols) == 1:
        source.mxnet = _mxnet_pair(os.path.join(directory, symbols[0][: -len("-symbol.json")]))
    onnx_files = [n for n in names if n.lower().endswith(".onnx")]
    if len(onnx_files) == 1:
        source.onnx = os.path.join(directory, onnx_files[0])

    libraries = [n for n in names if n.endswith(".so") and n != "libdlr.so"]
    graphs = [n for n in names if n.endswith(".json") and not n.endswith("-symbol.json")]
    params = [
        n for n in names if n.endswith(".params") and _is_tvm_params(os.path.join(directory, n))
    ]
    if libraries and graphs and params:
        if len(libraries) > 1 or len(graphs) > 1 or len(params) > 1 or symbols:
            source.dlr_problem = (
                "{} mixes several model files ({}); DLR needs a directory holding one "
                "artifact: its .so, graph .json and .params (plus optional .meta and "
                "libdlr.so)".format(directory, ", ".join(libraries + graphs + params + symbols))
            )
        else:
            source.dlr_dir = directory
    if not source.forms() and not source.dlr_problem:
        raise ModelError(
            "{} holds no model edgeparity recognises (found: {}); {}".format(
                directory, ", ".join(names[:20]) or "an empty directory", USAGE
            )
        )
    return source


def _is_tvm_params(path: str) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(8)
    return len(head) == 8 and struct.unpack("<Q", head)[0] == TVM_NDARRAY_LIST_MAGIC


# -------------------------------------------------------------------------- archives (.tar.gz)


def unpack_archive(archive: str) -> str:
    """Unpack a Neo-style ``.tar.gz`` into the cache (once per content) and return its root.

    Only regular files and directories with relative, non-escaping names are accepted: an
    archive is data from elsewhere, and a link or ``../`` member could write outside the cache.
    """
    digest = sha256_file(archive)
    parent = os.path.join(cache_dir(), "models")
    target = os.path.join(parent, digest[:20])
    if not os.path.isdir(target):
        try:
            _make_dirs(parent)
            scratch = tempfile.mkdtemp(prefix=".unpack-", dir=parent)
        except OSError as exc:
            raise ModelError(
                "cannot unpack {}: cache directory {} is not writable ({}); set "
                "EDGEPARITY_CACHE_DIR to a writable directory".format(archive, parent, exc)
            ) from exc
        try:
            _safe_extract(archive, scratch)
            try:
                os.rename(scratch, target)
            except OSError:  # unpacked concurrently by another process: keep theirs
                if not os.path.isdir(target):
                    raise
        finally:
            if os.path.isdir(scratch):
                shutil.rmtree(scratch, ignore_errors=True)
    # Neo archives hold files at the top; others wrap one directory.
    entries = os.listdir(target)
    if len(entries) == 1 and os.path.isdir(os.path.join(target, entries[0])):
        return os.path.join(target, entries[0])
    return target


def _safe_extract(archive: str, destination: str) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                name = member.name
                parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
                if name.startswith("/") or ".." in parts or not parts:
                    raise ModelError(
                        "{}: refusing archive member {!r} (absolute or parent-relative path); "
                        "re-create the archive with relative paths".format(archive, name)
                    )
                if not (member.isfile() or member.isdir()):
                    raise ModelError(
                        "{}: refusing archive member {!r} (links and special files are not "
                        "accepted); re-create the archive with regular files".format(archive, name)
                    )
            for member in members:
                path = os.path.join(destination, *member.name.replace("\\", "/").split("/"))
                if member.isdir():
                    _make_dirs(path)
                    continue
                _make_dirs(os.path.dirname(path))
                reader = tar.extractfile(member)
                with open(path, "wb") as out:
                    shutil.copyfileobj(reader, out)
                os.chmod(path, 0o755 if member.mode & 0o111 else 0o644)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ModelError(
            "cannot unpack {} ({}: {}); check that it is a complete .tar.gz".format(
                archive, type(exc).__name__, exc
            )
        ) from exc


# ------------------------------------------------------------------------------ DLR artifacts


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
    arch = host_machine()
    graph, params, source = demo_model.DLR_GRAPH, demo_model.DLR_PARAMS, demo_model.DLR_KERNELS
    key = hashlib.sha256()
    for path in (graph, params, source):
        key.update(sha256_file(path).encode())
    key.update(" ".join(DEMO_KERNEL_CFLAGS).encode())
    target = os.path.join(cache_dir(), "dlr-demo", "{}-{}".format(arch, key.hexdigest()[:16]))
    if os.path.isfile(os.path.join(target, "model.so")):
        return target

    prebuilt = os.path.join(demo_model.DLR_DIR, "prebuilt", arch, "model.so")
    compiler = None if os.path.isfile(prebuilt) else find_compiler()
    if compiler is None and not os.path.isfile(prebuilt):
        raise Unavailable(
            "the demo model's DLR kernels ({}) must be compiled once for {} and no C compiler "
            "was found (tried $CC, cc, gcc): install gcc, or build them ahead of time with "
            "`python -m edgeparity.models` where a compiler exists".format(source, arch)
        )
    parent = os.path.dirname(target)
    try:
        _make_dirs(parent)
        scratch = tempfile.mkdtemp(prefix=".build-", dir=parent)
    except OSError as exc:
        raise Unavailable(
            "cannot build the demo DLR artifact: cache directory {} is not writable ({}); set "
            "EDGEPARITY_CACHE_DIR to a writable directory".format(parent, exc)
        ) from exc
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
        try:
            os.rename(scratch, target)
        except OSError:  # built concurrently by another process: keep theirs
            if not os.path.isdir(target):
                raise
    finally:
        if os.path.isdir(scratch):
            shutil.rmtree(scratch, ignore_errors=True)
    return target


def demo_dlr_build_info(artifact_dir: str) -> Dict[str, Any]:
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


# ------------------------------------------------------------------------------- input tensors


def model_input(tensor: Any, expected: Optional[Sequence[Optional[int]]], layout: str,
                name: str, model_label: str) -> np.ndarray:
    """Check a float32 NCHW tensor against the model's input and convert it to its layout.

    ``expected`` is the input shape in the model's own layout; ``None``/non-positive dims are
    free. Raises ModelError naming the model and the shapes when they do not fit.
    """
    array = np.asarray(tensor)
    if array.dtype != np.float32 or array.ndim != 4:
        raise ModelError(
            "model {} input {!r}: expected a float32 N x C x H x W array, got {} {}".format(
                model_label, name, array.dtype, array.shape
            )
        )
    if layout == "NHWC":
        array = array.transpose(0, 2, 3, 1)
    elif layout != "NCHW":
        raise ModelError("unknown input layout {!r}: use NCHW or NHWC".format(layout))
    array = np.ascontiguousarray(array)
    if expected is not None:
        fits = len(expected) == array.ndim and all(
            want is None or int(want) <= 0 or int(want) == got
            for want, got in zip(expected, array.shape)
        )
        if not fits:
            raise ModelError(
                "model {} expects input {!r} of shape {} ({}), got {}: preprocess to that size, "
                "or pass the model's real input shape (--input-shape)".format(
                    model_label, name, tuple(expected), layout, array.shape
                )
            )
    return array


class RunnerSettings:
    """The capture options a runner reads, normalised once (see stages/base.py for the keys).

    ``input_shape`` is the model's input shape in the model's own ``layout``; run() always
    receives NCHW and converts.
    """

    def __init__(self, options: Dict[str, Any]) -> None:
        self.model = options.get("model")  # type: Optional[str]
        self.device = (options.get("device") or "cpu").lower()
        self.input_name = options.get("input_name")  # type: Optional[str]
        shape = options.get("input_shape")
        self.input_shape = tuple(int(d) for d in shape) if shape else None
        self.layout = (options.get("layout") or "NCHW").upper()
        if self.device not in ("cpu", "gpu"):
            raise ModelError("unknown device {!r}: use cpu or gpu".format(self.device))
        if self.layout not in ("NCHW", "NHWC"):
            raise ModelError("unknown input layout {!r}: use NCHW or NHWC".format(self.layout))

    def choose_input(
        self, inputs: Sequence[Tuple[str, Optional[Sequence[Any]]]], model_label: str
    ) -> Tuple[str, Optional[Tuple[Any, ...]]]:
        """Pick the input to feed from the model's (name, shape) list, honouring the options."""
        names = [name for name, _shape in inputs]
        if self.input_name:
            if self.input_name not in names:
                raise ModelError(
                    "model {} has no input named {!r} (its inputs: {}); pass one of those as "
                    "--input-name".format(model_label, self.input_name, ", ".join(names))
                )
            chosen = self.input_name
        elif len(names) == 1:
            chosen = names[0]
        else:
            raise ModelError(
                "model {} has {} inputs ({}); say which one takes the image with "
                "--input-name".format(model_label, len(names), ", ".join(names) or "none")
            )
        shape = dict(inputs)[chosen]
        if self.input_shape is not None:
            shape = self.input_shape
        return chosen, tuple(shape) if shape is not None else None


class NativeStderr:
    """Copy what native code writes to file descriptor 2 while the block runs.

    Some runtimes (libdlr) print the real reason of a failure from C++ and raise a Python
    exception with an empty message; this recovers that reason for our error message. The
    text is passed through to the real stderr afterwards, so nothing is hidden.
    """

    def __init__(self) -> None:
        self.text = ""

    def __enter__(self) -> "NativeStderr":
        sys.stderr.flush()
        self._saved = os.dup(2)
        self._file = tempfile.TemporaryFile()
        os.dup2(self._file.fileno(), 2)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._file.seek(0)
        self.text = self._file.read().decode("utf-8", "replace")
        self._file.close()
        if self.text:
            sys.stderr.write(self.text)
            sys.stderr.flush()

    def reason(self) -> str:
        """The most telling line: a failed check's message, else the last line printed."""
        lines = [line.strip() for line in self.text.splitlines() if line.strip()]
        for line in reversed(lines):
            if "Check failed" in line:  # "Check failed: <condition>: <message>"
                return line.split("Check failed", 1)[1].lstrip(": ").split(": ", 1)[-1]
        return lines[-1] if lines else ""


def relevant_environment(prefixes: Sequence[str]) -> Dict[str, str]:
    """Environment variables that change a runtime's numerics or threading (for provenance)."""
    return {key: value for key, value in sorted(os.environ.items())
            if any(key.startswith(prefix) for prefix in prefixes)}


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m edgeparity.models``: build the demo DLR artifact now (e.g. in a Dockerfile,
    where a compiler exists at build time but not at run time) and print where it is."""
    try:
        print(build_demo_dlr_artifact())
    except Unavailable as exc:
        print("edgeparity: {}".format(exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
