"""The inference stage on the demo model: runners vs each other and vs an independent reference.

The reference below recomputes the network in float64 numpy from ``demo_model.weights()`` with
the architecture written out here by hand, so a mistake baked into the model files (or into the
DLR kernels) makes the runners disagree with it even if they all agree with each other.

Runs everywhere: on CPython 3.6 with only numpy the runner tests skip with their reasons, while
the model-file and C-kernel checks (numpy + a C compiler) still run.
"""

import ctypes
import glob
import hashlib
import itertools
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from edgeparity import demo_model, models, native
from edgeparity.stages import Unavailable, infer_dlr, infer_mxnet, infer_onnxruntime, infer_tvm

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHAPE = (1, 3, 224, 224)
ATOL = RTOL = 1e-5
PROBES = {
    "ones": np.ones(SHAPE, dtype=np.float32),
    "noise": np.random.RandomState(0).uniform(0, 1, SHAPE).astype(np.float32),
}
RUNNERS = {
    "mxnet": infer_mxnet.Impl,
    "dlr": infer_dlr.Impl,
    "onnxruntime": infer_onnxruntime.Impl,
    "tvm": infer_tvm.Impl,
}


def real_inputs():
    """Preprocessed tensors of real photos from the sample corpus, when it has been built."""
    paths = sorted(glob.glob(os.path.join(REPO, "src", "edgeparity", "canonical",
                                          "preprocessed-*.npy")))
    return {os.path.basename(p): np.load(p).astype(np.float32) for p in paths}


# ------------------------------------------------------------------ independent reference


def conv3x3(x, weight, bias, stride):
    """3x3 convolution, padding 1, as a sum of 9 shifted channel mixes (float64)."""
    _n, _c, height, width = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="constant")
    out_h = (height + 2 - 3) // stride + 1
    out_w = (width + 2 - 3) // stride + 1
    out = np.zeros((x.shape[0], weight.shape[0], out_h, out_w))
    for ky in range(3):
        for kx in range(3):
            patch = padded[:, :, ky:ky + stride * out_h:stride, kx:kx + stride * out_w:stride]
            out += np.einsum("nchw,oc->nohw", patch, weight[:, :, ky, kx].astype(np.float64))
    return out + bias.astype(np.float64)[None, :, None, None]


def maxpool2x2(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def reference_logits(x):
    """The demo network, each block conv3x3 (pad 1) -> relu -> maxpool 2x2: conv/2 8,
    conv/1 16, conv/2 32; then global average pooling (7x7) and dense 1000."""
    p = demo_model.weights()
    h = x.astype(np.float64)
    for name, stride in (("conv1", 2), ("conv2", 1), ("conv3", 2)):
        h = np.maximum(conv3x3(h, p[name + "_weight"], p[name + "_bias"], stride), 0)
        h = maxpool2x2(h)
    assert h.shape[1:] == (32, 7, 7)
    features = h.mean(axis=(2, 3))
    return features @ p["fc1_weight"].astype(np.float64).T + p["fc1_bias"]


@pytest.fixture(scope="module")
def references():
    inputs = dict(PROBES)
    inputs.update(real_inputs())
    return {name: (x, reference_logits(x)) for name, x in inputs.items()}


def test_reference_logits_are_not_degenerate(references):
    """O(1), finite logits whose ranking depends on the input (else top-1 changes never show)."""
    top1 = set()
    for name, (_x, logits) in references.items():
        assert logits.shape == (1, 1000), name
        assert np.isfinite(logits).all(), name
        assert 0.3 < logits.std() < 10, (name, logits.std())
        top1.add(int(logits.argmax()))
    stripes = np.zeros(SHAPE, dtype=np.float32)
    stripes[:, :, :, ::8] = 1.0  # vertical lines: an input with structure, unlike the probes
    top1.add(int(reference_logits(stripes).argmax()))
    assert len(top1) >= 2, "every input has the same top-1 class"


# --------------------------------------------------------------------------------- runners


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """Built DLR demo artifacts go to a fresh cache, not the user's."""
    path = str(tmp_path_factory.mktemp("edgeparity-cache"))
    old = os.environ.get("EDGEPARITY_CACHE_DIR")
    os.environ["EDGEPARITY_CACHE_DIR"] = path
    yield path
    if old is None:
        del os.environ["EDGEPARITY_CACHE_DIR"]
    else:
        os.environ["EDGEPARITY_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def loaded(cache_dir):
    """Every runner loaded on the demo model, or the reason it could not be."""
    result = {}
    for name, cls in RUNNERS.items():
        impl = cls()
        try:
            impl.load({"model": None, "device": "cpu", "layout": "NCHW"})
        except Unavailable as exc:
            result[name] = str(exc)
            continue
        result[name] = impl
    return result


def runner_or_skip(loaded, name):
    impl = loaded[name]
    if isinstance(impl, str):
        pytest.skip("{} runner unavailable here: {}".format(name, impl))
    return impl


def max_abs_diff(a, b):
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


@pytest.mark.parametrize("name", sorted(RUNNERS))
def test_runner_matches_reference(loaded, references, name):
    impl = runner_or_skip(loaded, name)
    for label, (x, expected) in sorted(references.items()):
        out = impl.run(x)
        assert out.dtype == np.float32 and out.shape == (1, 1000), (label, out.dtype, out.shape)
        print("{} vs reference on {}: max abs diff {:.3g}".format(name, label,
                                                               max_abs_diff(out, expected)))
        np.testing.assert_allclose(out, expected, atol=ATOL, rtol=RTOL, err_msg=label)


def test_mxnet_dlr_onnxruntime_agree(loaded, references):
    """The case's check: cloud (MXNet) and edge (DLR) runtimes agree on identical inputs."""
    missing = {n: loaded[n] for n in ("mxnet", "dlr", "onnxruntime") if isinstance(loaded[n], str)}
    if missing:
        pytest.skip("needs MXNet, DLR and ONNX Runtime together; missing: " + "; ".join(
            "{} ({})".format(n, reason) for n, reason in sorted(missing.items())))
    for label, (x, _expected) in sorted(references.items()):
        outputs = {n: loaded[n].run(x) for n in ("mxnet", "dlr", "onnxruntime")}
        for a, b in itertools.combinations(sorted(outputs), 2):
            print("{} vs {} on {}: max abs diff {:.3g}".format(
                a, b, label, max_abs_diff(outputs[a], outputs[b])))
            np.testing.assert_allclose(outputs[a], outputs[b], atol=ATOL, rtol=RTOL,
                                       err_msg="{} vs {} on {}".format(a, b, label))


def test_real_preprocessed_inputs_present_or_skip(references):
    if not real_inputs():
        pytest.skip("no src/edgeparity/canonical/preprocessed-*.npy yet; runner tests used the "
                    "probes only")
    assert len(references) > len(PROBES)


@pytest.mark.parametrize("name", sorted(RUNNERS))
def test_provenance_names_version_math_library_model_device(loaded, name):
    impl = runner_or_skip(loaded, name)
    impl.run(PROBES["ones"])
    info = impl.provenance()
    json.dumps(info)  # goes into the bundle manifest as is
    assert info["version"]
    assert info["math_library"]
    assert info["device"] == "cpu"
    digests = info["model"]["files"]
    assert digests and all(v.startswith("sha256:") and len(v) == 71 for v in digests.values())
    for path, digest in digests.items():
        assert digest == "sha256:" + native.sha256_file(path)
    print(name, "math_library:", info["math_library"])


def test_mxnet_reports_onednn_and_openblas(loaded):
    info = runner_or_skip(loaded, "mxnet").provenance()
    assert "MKLDNN" in info["features"]
    assert "oneDNN" in info["math_library"]
    if "BLAS_OPEN" in info["features"]:
        blas = [e for e in info["math_libraries_loaded"] if e["name"] == "OpenBLAS"]
        assert blas and blas[0]["path"].startswith(os.path.dirname(info["library"]))


def test_dlr_uses_the_demo_kernels_and_reports_phone_home_off(loaded):
    info = runner_or_skip(loaded, "dlr").provenance()
    assert info["backend"] == "tvm"
    assert info["privacy"]["phone_home"] in ("disabled", "absent (no dlr/counter module)")
    assert "plain C kernels" in info["math_library"]
    assert any(p.endswith("model.so") for p in info["model"]["files"])
    assert os.path.basename(info["library"]).startswith("libdlr")


# sha256 of third_party/neo-ai-dlr/neo-ai-dlr-1.6.0-src.tar.xz, as published (its README).
DLR_SOURCE_SHA256 = "d4c57c4aaec7d3ee610f076cbb8718b97983a6f3c668dc252b540c3af22b45b5"


@pytest.mark.skipif(not os.environ.get("EDGEPARITY_LIBDLR"),
                    reason="EDGEPARITY_LIBDLR is not set: this environment did not build its "
                    "libdlr.so (the Jetson images set it: source | provided)")
def test_dlr_runs_on_the_libdlr_this_image_built(loaded):
    """The Jetson images compile libdlr.so themselves (no PyPI wheel ships one for aarch64):
    DLR must load it, and provenance must name it, its sha256 and how it was built."""
    impl = runner_or_skip(loaded, "dlr")
    build = impl.provenance()["library_build"]
    library = build["path"]
    assert os.path.basename(library) == "libdlr.so"
    assert os.path.dirname(os.path.realpath(library)) == os.path.realpath(
        impl.privacy["dlr_dir"])  # next to DLR's Python package, where the image put it
    with open(library, "rb") as handle:
        assert build["sha256"] == hashlib.sha256(handle.read()).hexdigest()
        handle.seek(0)
        header = handle.read(20)
    machine = struct.unpack("<H", header[18:20])[0]  # ELF e_machine
    assert machine == {"aarch64": 183, "x86_64": 62}[os.uname().machine]
    if os.environ["EDGEPARITY_LIBDLR"] == "source":
        assert build["source_sha256"] == DLR_SOURCE_SHA256
        assert build["how"].endswith("for aarch64") or build["how"] == "compiled natively on " \
            "aarch64", build["how"]
    else:
        assert build["how"] == "provided"


def test_probe_names_the_libdlr_that_ran(loaded):
    """`edgeparity probe` says which libdlr.so DLR ran on and how it was built: the Python
    API's version alone does not tell (the Jetson images run a 1.10.0 API on a 1.6.0 build)."""
    from edgeparity import probe

    impl = runner_or_skip(loaded, "dlr")
    library = impl.provenance()["library"]
    entry = {"status": "available", "details": impl.provenance(), "description": ""}
    text = probe.format_text(dict(probe.collect({}), implementations={"infer/dlr": entry}))
    line = next(item for item in text.splitlines() if item.startswith("infer/dlr"))
    assert "  libdlr: {}, ".format(library) in line, line


def test_dlr_runs_a_user_artifact_archive_with_its_own_libdlr(loaded, cache_dir, tmp_path):
    """A Neo-style .tar.gz holding model files *and* libdlr.so: DLR must use that libdlr."""
    demo = runner_or_skip(loaded, "dlr")
    user_dir = tmp_path / "neo"
    user_dir.mkdir()
    for name, target in (("so", "compiled.so"), ("json", "compiled_model.json"),
                         ("params", "compiled.params")):
        shutil.copyfile(demo.files[name], str(user_dir / target))
    shutil.copyfile(demo.provenance()["library"], str(user_dir / "libdlr.so"))
    archive = str(tmp_path / "model-x86_64.tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        for name in sorted(os.listdir(str(user_dir))):
            tar.add(str(user_dir / name), arcname=name)

    impl = infer_dlr.Impl()
    impl.load({"model": archive, "device": "cpu"})
    x = PROBES["noise"]
    np.testing.assert_array_equal(impl.run(x), demo.run(x))
    info = impl.provenance()
    assert info["libdlr_from_artifact"]
    assert info["library"].startswith(cache_dir) and info["library"].endswith("libdlr.so")
    assert info["model"]["demo"] is False and archive in info["model"]["archive"]


def test_wrong_input_shape_is_a_clear_model_error(loaded):
    available = [impl for impl in loaded.values() if not isinstance(impl, str)]
    if not available:
        pytest.skip("no inference runtime installed here")
    for impl in available:
        with pytest.raises(models.ModelError) as info:
            impl.run(np.ones((1, 3, 200, 200), dtype=np.float32))
        message = str(info.value)
        assert "(1, 3, 224, 224)" in message and "(1, 3, 200, 200)" in message, message


# ------------------------------------------------------------------------ the model files


def read_tvm_params(path):
    """Parse TVM's NDArray-list format independently of the writer in tools/."""
    with open(path, "rb") as handle:
        blob = handle.read()
    magic, _reserved, count = struct.unpack_from("<QQQ", blob, 0)
    assert magic == 0xF7E58D4F05049CB7
    offset, names = 24, []
    for _ in range(count):
        (length,) = struct.unpack_from("<Q", blob, offset)
        names.append(blob[offset + 8:offset + 8 + length].decode())
        offset += 8 + length
    (arrays,) = struct.unpack_from("<Q", blob, offset)
    offset += 8
    assert arrays == count
    result = {}
    for name in names:
        magic, _reserved, device_type, _device_id, ndim = struct.unpack_from("<QQiii", blob, offset)
        assert magic == 0xDD5E40F096B4A13F and device_type == 1
        offset += 28
        code, bits, lanes = struct.unpack_from("<BBH", blob, offset)
        assert (code, bits, lanes) == (2, 32, 1)
        offset += 4
        shape = struct.unpack_from("<%dq" % ndim, blob, offset)
        offset += 8 * ndim
        (nbytes,) = struct.unpack_from("<q", blob, offset)
        offset += 8
        result[name] = np.frombuffer(blob[offset:offset + nbytes], dtype="<f4").reshape(shape)
        offset += nbytes
    assert offset == len(blob)
    return result


def test_dlr_params_hold_the_generated_weights():
    stored = read_tvm_params(demo_model.DLR_PARAMS)
    expected = demo_model.weights()
    assert list(stored) == list(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(stored[name], value, err_msg=name)


def test_onnx_initializers_hold_the_generated_weights():
    onnx = pytest.importorskip("onnx", reason="the onnx package is not installed here")
    from onnx import numpy_helper

    model = onnx.load(demo_model.ONNX_FILE)
    onnx.checker.check_model(model)
    stored = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for name, value in demo_model.weights().items():
        np.testing.assert_array_equal(stored[name], value, err_msg=name)


def test_mxnet_params_hold_the_generated_weights():
    mx = pytest.importorskip("mxnet", reason="MXNet is not installed here")
    stored = mx.nd.load(demo_model.MXNET_PREFIX + "-0000.params")
    for name, value in demo_model.weights().items():
        np.testing.assert_array_equal(stored["arg:" + name].asnumpy(), value, err_msg=name)


def test_committed_files_are_reproduced_by_the_build_script():
    for module in ("mxnet", "onnx"):
        pytest.importorskip(module, reason="{} is needed to rebuild that form".format(module))
    script = os.path.join(REPO, "tools", "build_demo_model.py")
    result = subprocess.run([sys.executable, script, "--check"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    assert result.returncode == 0, result.stdout.decode("utf-8", "replace")


# ---------------------------------------------- the DLR kernels, without libdlr (ctypes)


class DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device_type", ctypes.c_int),
        ("device_id", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("dtype_code", ctypes.c_uint8),
        ("dtype_bits", ctypes.c_uint8),
        ("dtype_lanes", ctypes.c_uint16),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


def as_dltensor(array):
    shape = (ctypes.c_int64 * array.ndim)(*array.shape)
    tensor = DLTensor(array.ctypes.data, 1, 0, array.ndim, 2, 32, 1, shape, None, 0)
    tensor._keep = (array, shape)  # keep the buffers alive as long as the struct
    return tensor


def call_packed(func, arrays):
    """Call a kernel the way TVM's graph executor does: DLTensor handles, type code 7."""
    tensors = [as_dltensor(a) for a in arrays]
    values = (ctypes.c_void_p * len(tensors))(*[ctypes.addressof(t) for t in tensors])
    codes = (ctypes.c_int * len(tensors))(*([7] * len(tensors)))
    return func(values, codes, len(tensors), None, None, None)


@pytest.fixture(scope="module")
def demo_kernels(cache_dir):
    try:
        artifact = models.build_demo_dlr_artifact()
    except Unavailable as exc:
        pytest.skip(str(exc))
    lib = ctypes.CDLL(os.path.join(artifact, "model.so"))
    return artifact, lib


def execute_graph(artifact, lib, x):
    """A minimal graph executor over the artifact's JSON and params (mirrors TVM's logic)."""
    with open(os.path.join(artifact, "model.json")) as handle:
        graph = json.load(handle)
    params = read_tvm_params(os.path.join(artifact, "model.params"))
    shapes = graph["attrs"]["shape"][1]
    entries = [np.zeros(shape, dtype=np.float32) for shape in shapes]
    for node_id, node in enumerate(graph["nodes"]):
        out = graph["node_row_ptr"][node_id]
        if node["op"] == "null":
            entries[out][...] = x if node["name"] == "data" else params[node["name"]]
            continue
        func = getattr(lib, node["attrs"]["func_name"])
        func.restype = ctypes.c_int
        args = [entries[graph["node_row_ptr"][i]] for i, _index, _version in node["inputs"]]
        assert call_packed(func, args + [entries[out]]) == 0, node["name"]
    head = graph["heads"][0][0]
    return entries[graph["node_row_ptr"][head]]


def test_dlr_kernels_compute_the_reference_network(demo_kernels, references):
    artifact, lib = demo_kernels
    for label, (x, expected) in sorted(references.items()):
        out = execute_graph(artifact, lib, x)
        print("C kernels vs reference on {}: max abs diff {:.3g}".format(
            label, max_abs_diff(out, expected)))
        np.testing.assert_allclose(out, expected, atol=ATOL, rtol=RTOL, err_msg=label)


def test_dlr_kernel_reports_errors_through_tvm_last_error(demo_kernels):
    _artifact, lib = demo_kernels
    messages = []
    setter_type = ctypes.CFUNCTYPE(None, ctypes.c_char_p)
    setter = setter_type(lambda message: messages.append(message.decode()))
    pointer = ctypes.c_void_p.in_dll(lib, "__TVMAPISetLastError")
    pointer.value = ctypes.cast(setter, ctypes.c_void_p).value
    try:
        func = lib.demo_maxpool2x2
        func.restype = ctypes.c_int
        x = np.zeros((1, 2, 4, 4), dtype=np.float32)
        assert call_packed(func, [x]) == -1  # one argument instead of input + output
        assert messages == ["edgeparity demo kernel demo_maxpool2x2: wrong number of arguments"]
    finally:
        pointer.value = None


def test_demo_artifact_is_built_once_and_reused(demo_kernels):
    artifact, _lib = demo_kernels
    assert models.build_demo_dlr_artifact() == artifact
    assert sorted(os.listdir(artifact)) == sorted(
        ["model.so", "model.json", "model.params", models.DEMO_BUILD_INFO])
    assert native.elf_machine(os.path.join(artifact, "model.so"))[0] == native.host_machine()


def test_no_compiler_is_a_clear_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEPARITY_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", "no-such-compiler")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(Unavailable) as info:
        models.build_demo_dlr_artifact()
    assert "no C compiler" in str(info.value) and "kernels.c" in str(info.value)
