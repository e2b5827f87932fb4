"""Finding user models: every accepted form, and one clear message for each way it goes wrong.

numpy only: these run on CPython 3.6 too. Runner-level checks that happen before the runtime
is imported (e.g. an artifact built for another architecture) run without the runtime.
"""

import importlib.util
import io
import os
import shutil
import struct
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from edgeparity import demo_model, models, native
from edgeparity.models import dlr as dlr_module
from edgeparity.stages import Unavailable, infer_dlr, infer_mxnet, infer_onnxruntime
from edgeparity.stages.runner import RunnerSettings, model_input


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEPARITY_CACHE_DIR", str(tmp_path / "cache"))


def real_elf():
    """An ELF file of this very interpreter: right architecture, right word size."""
    return os.path.realpath(sys.executable)


def foreign_elf(path, machine=183):
    """A copy of a real ELF header with e_machine set to another architecture (183: aarch64)."""
    with open(real_elf(), "rb") as handle:
        header = bytearray(handle.read(4096))
    if native.host_machine() == "aarch64":
        machine = 62  # on an aarch64 host, pretend x86_64
    struct.pack_into("<H", header, 18, machine)
    with open(path, "wb") as handle:
        handle.write(bytes(header))
    return path


def make_neo_dir(directory, so_bytes_from=None):
    """A Neo-style directory: the demo graph and params plus a compiled-looking .so."""
    os.makedirs(directory)
    shutil.copyfile(demo_model.DLR_GRAPH, os.path.join(directory, "compiled_model.json"))
    shutil.copyfile(demo_model.DLR_PARAMS, os.path.join(directory, "compiled.params"))
    so = os.path.join(directory, "compiled.so")
    if so_bytes_from is None:
        shutil.copyfile(real_elf(), so)
    else:
        shutil.copyfile(so_bytes_from, so)
    return directory


# ----------------------------------------------------------------------------------- forms


def test_no_model_means_the_demo_model_in_every_form():
    source = models.resolve_model(None)
    assert source.demo
    assert source.forms() == ["mxnet", "onnx", "dlr"]
    symbol, params = source.require_mxnet()
    assert os.path.isfile(symbol) and os.path.isfile(params)
    assert os.path.isfile(source.require_onnx())


def test_mxnet_prefix_symbol_file_params_file_and_other_epochs(tmp_path):
    prefix = str(tmp_path / "resnet")
    shutil.copyfile(demo_model.MXNET_PREFIX + "-symbol.json", prefix + "-symbol.json")
    shutil.copyfile(demo_model.MXNET_PREFIX + "-0000.params", prefix + "-0012.params")
    expected = (prefix + "-symbol.json", prefix + "-0012.params")
    for given in (prefix, prefix + "-symbol.json", prefix + "-0012.params", str(tmp_path)):
        assert models.resolve_model(given).require_mxnet() == expected, given


def test_onnx_file_and_directory(tmp_path):
    path = str(tmp_path / "model.onnx")
    shutil.copyfile(demo_model.ONNX_FILE, path)
    assert models.resolve_model(path).require_onnx() == path
    assert models.resolve_model(str(tmp_path)).require_onnx() == path


def test_neo_directory_is_a_dlr_artifact(tmp_path):
    directory = make_neo_dir(str(tmp_path / "neo"))
    source = models.resolve_model(directory)
    assert source.forms() == ["dlr"]
    assert source.require_dlr() == directory
    files = models.dlr_artifact_files(directory)
    assert sorted(files) == ["json", "params", "so"]
    assert models.dlr_graph_inputs(files["json"], files["params"]) == [("data", (1, 3, 224, 224))]


def test_missing_model_names_the_path_and_the_accepted_forms(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(models.ModelError) as info:
        models.resolve_model(missing)
    assert missing in str(info.value) and ".onnx" in str(info.value)


def test_runner_asked_for_a_form_the_model_lacks(tmp_path):
    path = str(tmp_path / "model.onnx")
    shutil.copyfile(demo_model.ONNX_FILE, path)
    with pytest.raises(models.ModelError) as info:
        infer_mxnet.Impl().load({"model": path})
    message = str(info.value)
    assert "no MXNet export" in message and path in message and "onnx" in message


def test_mxnet_symbol_without_params(tmp_path):
    prefix = str(tmp_path / "net")
    shutil.copyfile(demo_model.MXNET_PREFIX + "-symbol.json", prefix + "-symbol.json")
    with pytest.raises(models.ModelError) as info:
        models.resolve_model(prefix)
    assert prefix + "-0000.params" in str(info.value)


def test_directory_without_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(models.ModelError) as info:
        models.resolve_model(str(tmp_path))
    assert "notes.txt" in str(info.value)


def test_mixed_directory_is_not_passed_to_dlr(tmp_path):
    directory = make_neo_dir(str(tmp_path / "neo"))
    shutil.copyfile(os.path.join(directory, "compiled.so"), os.path.join(directory, "other.so"))
    with pytest.raises(models.ModelError) as info:
        models.resolve_model(directory).require_dlr()
    assert "one artifact" in str(info.value)


# ----------------------------------------------------------------------------- architecture


def test_elf_machine_reads_this_interpreter():
    arch, bits = native.elf_machine(real_elf())
    assert arch == native.host_machine()
    assert bits == struct.calcsize("P") * 8
    models.check_shared_library(real_elf())  # no error


def test_library_for_another_architecture_is_refused_with_the_file_named(tmp_path):
    path = foreign_elf(str(tmp_path / "model.so"))
    with pytest.raises(models.ModelError) as info:
        models.check_shared_library(path)
    message = str(info.value)
    assert path in message and native.host_machine() in message


def test_not_an_elf_file(tmp_path):
    path = tmp_path / "model.so"
    path.write_bytes(b"MZ\x90\x00 a windows dll")
    with pytest.raises(models.ModelError) as info:
        models.check_shared_library(str(path))
    assert "not an ELF" in str(info.value)


def test_dlr_runner_refuses_a_foreign_artifact_before_importing_dlr(tmp_path):
    foreign = foreign_elf(str(tmp_path / "foreign.so"))
    directory = make_neo_dir(str(tmp_path / "neo"), so_bytes_from=foreign)
    modules_before = set(sys.modules)
    with pytest.raises(models.ModelError) as info:
        infer_dlr.Impl().load({"model": directory})
    assert os.path.join(directory, "compiled.so") in str(info.value)
    assert "dlr" not in set(sys.modules) - modules_before


def test_foreign_libdlr_inside_the_artifact_is_refused(tmp_path):
    directory = make_neo_dir(str(tmp_path / "neo"))
    foreign_elf(os.path.join(directory, "libdlr.so"))
    with pytest.raises(models.ModelError) as info:
        infer_dlr.Impl().load({"model": directory})
    assert os.path.join(directory, "libdlr.so") in str(info.value)


def test_python_m_models_builds_the_demo_artifact_ahead_of_time(tmp_path):
    """The Dockerfiles run ``python3 -m edgeparity.models`` at image build time."""
    if dlr_module.find_compiler() is None:
        pytest.skip("no C compiler here to build the demo DLR kernels with")
    env = dict(os.environ, EDGEPARITY_CACHE_DIR=str(tmp_path / "cache"))
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    result = subprocess.run([sys.executable, "-m", "edgeparity.models"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert result.returncode == 0, result.stderr.decode()
    artifact = result.stdout.decode().strip()
    assert artifact.startswith(str(tmp_path / "cache"))
    assert models.build_demo_dlr_artifact() == artifact  # what runs will find


# --------------------------------------------------------------------------------- archives


def add_bytes(tar, name, data, **fields):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data))


def test_neo_tar_gz_is_unpacked_once_and_found(tmp_path):
    directory = make_neo_dir(str(tmp_path / "neo"))
    archive = str(tmp_path / "model-ml_m5.tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        for name in sorted(os.listdir(directory)):
            tar.add(os.path.join(directory, name), arcname=name)
    source = models.resolve_model(archive)
    unpacked = source.require_dlr()
    assert unpacked.startswith(str(tmp_path / "cache"))
    assert sorted(os.listdir(unpacked)) == sorted(os.listdir(directory))
    assert models.resolve_model(archive).require_dlr() == unpacked  # cached by content
    assert archive in source.provenance([])["archive"]


def test_archive_wrapping_one_directory(tmp_path):
    directory = make_neo_dir(str(tmp_path / "neo"))
    archive = str(tmp_path / "wrapped.tgz")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(directory, arcname="export")
    assert os.path.basename(models.resolve_model(archive).require_dlr()) == "export"


@pytest.mark.parametrize("name", ["../escape.so", "/abs/escape.so", "a/../../escape.so"])
def test_archive_with_escaping_path_is_refused(tmp_path, name):
    archive = str(tmp_path / "evil.tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        add_bytes(tar, "compiled.params", b"x")
        add_bytes(tar, name, b"\x7fELF")
    with pytest.raises(models.ModelError) as info:
        models.resolve_model(archive)
    assert archive in str(info.value) and "refusing" in str(info.value)
    assert not (tmp_path / "escape.so").exists()
    assert not os.path.exists("/abs/escape.so")


def test_archive_with_a_link_is_refused(tmp_path):
    archive = str(tmp_path / "link.tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        add_bytes(tar, "compiled.so", b"", type=tarfile.SYMTYPE, linkname="/etc/passwd")
    with pytest.raises(models.ModelError) as info:
        models.resolve_model(archive)
    assert "links" in str(info.value)


def test_truncated_archive(tmp_path):
    directory = make_neo_dir(str(tmp_path / "neo"))
    archive = tmp_path / "cut.tar.gz"
    with tarfile.open(str(archive), "w:gz") as tar:
        tar.add(directory, arcname=".")
    archive.write_bytes(archive.read_bytes()[:2000])
    with pytest.raises(models.ModelError) as info:
        models.resolve_model(str(archive))
    assert "complete .tar.gz" in str(info.value)


# ---------------------------------------------------------------------------- input checks


def test_model_input_converts_layout_and_checks_shape():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    nhwc = model_input(x, (2, 4, 5, 3), "NHWC", "data", "m")
    assert nhwc.shape == (2, 4, 5, 3) and nhwc.flags["C_CONTIGUOUS"]
    assert nhwc[1, 2, 3, 0] == x[1, 0, 2, 3]
    assert model_input(x, (None, 3, -1, 5), "NCHW", "data", "m") is not None
    with pytest.raises(models.ModelError):
        model_input(x.astype(np.float64), None, "NCHW", "data", "m")


def test_settings_pick_the_input_and_reject_unknown_names():
    settings = RunnerSettings({"input_name": "image", "input_shape": (1, 3, 32, 32)})
    assert settings.choose_input([("image", None), ("mask", None)], "m") == ("image",
                                                                             (1, 3, 32, 32))
    with pytest.raises(models.ModelError) as info:
        RunnerSettings({}).choose_input([("a", None), ("b", None)], "m")
    assert "--input-name" in str(info.value)
    with pytest.raises(models.ModelError):
        RunnerSettings({"input_name": "x"}).choose_input([("a", None)], "m")
    with pytest.raises(models.ModelError):
        RunnerSettings({"device": "tpu"})


def test_runners_without_their_runtime_skip_with_a_reason():
    missing = [(module, cls) for module, cls in (("mxnet", infer_mxnet.Impl),
                                                  ("onnxruntime", infer_onnxruntime.Impl))
               if importlib.util.find_spec(module) is None]
    if not missing:
        pytest.skip("MXNet and ONNX Runtime are both installed here")
    for module, cls in missing:
        with pytest.raises(Unavailable) as info:
            cls().load({})
        assert "not importable" in str(info.value) and "pip install" in str(info.value), module
