"""A model's declaration (edgeparity-model.json): preprocessing every implementation honours,
labels, and one form per runner from a directory holding several (DLR: this machine's).

numpy only: these run on CPython 3.6 too.
"""

import json
import os
import shutil

import numpy as np
import pytest

from edgeparity import demo_model, models
from edgeparity.bundle import load as load_bundle
from edgeparity.capture import capture
from edgeparity.stages import preprocess_pillow

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.join(HERE, "..", "..", "sample-images")

LITE = {"resize_shorter_side": 256, "crop": 224, "divide_by": 1.0, "mean": [127, 127, 127],
        "std": [128, 128, 128]}


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEPARITY_CACHE_DIR", str(tmp_path / "cache"))


def declared_model(folder, declaration, labels=("tench", "goldfish")):
    """A model directory: the demo model's ONNX and MXNet files plus ``declaration``."""
    os.makedirs(str(folder))
    shutil.copy(demo_model.ONNX_FILE, str(folder / "m.onnx"))
    shutil.copy(demo_model.MXNET_PREFIX + "-symbol.json", str(folder / "m-symbol.json"))
    shutil.copy(demo_model.MXNET_PREFIX + "-0000.params", str(folder / "m-0000.params"))
    if labels is not None:
        (folder / "labels.txt").write_text("\n".join(labels) + "\n")
    (folder / models.DECLARATION_FILE).write_text(json.dumps(declaration))
    return str(folder)


def lite_declaration(**changes):
    data = {"schema": 1, "name": "lite", "preprocess": dict(LITE), "labels": "labels.txt",
            "input": {"name": "data", "shape": [1, 3, 224, 224], "layout": "NCHW"},
            "forms": {"onnx": "m.onnx", "mxnet": "m"}}
    data.update(changes)
    return data


def test_imagenet_default_is_the_formula_edgeparity_always_used():
    rgb = np.arange(240 * 320 * 3, dtype=np.uint64).reshape(240, 320, 3).astype(np.uint8)
    expected = ((rgb.astype(np.float32) / np.float32(255.0)
                 - np.array([0.485, 0.456, 0.406], np.float32))
                / np.array([0.229, 0.224, 0.225], np.float32))
    got = models.IMAGENET.normalize(rgb)
    assert got.shape == (1, 3, 240, 320) and got.dtype == np.float32
    assert np.array_equal(got[0].transpose(1, 2, 0), expected)


def test_declared_normalization_is_x_minus_127_over_128(tmp_path):
    declaration = models.read_declaration(declared_model(tmp_path / "m", lite_declaration())
                                          + "/" + models.DECLARATION_FILE)
    rgb = np.array([[[0, 127, 255]]], dtype=np.uint8)
    got = declaration.preprocessing.normalize(rgb)[:, :, 0, 0]
    assert got.tolist() == [[-127 / 128, 0.0, 1.0]]
    assert declaration.labels == ["tench", "goldfish"]
    assert declaration.input_name == "data" and declaration.input_shape == (1, 3, 224, 224)
    assert "(x - 127) / 128" in declaration.preprocessing.formula()


def test_preprocess_follows_the_models_declaration(tmp_path):
    folder = declared_model(tmp_path / "m", lite_declaration())
    impl = preprocess_pillow.Impl()
    impl.load({"model": folder})
    rgb = np.full((300, 400, 3), 255, dtype=np.uint8)
    out = impl.run(rgb)
    assert out.shape == (1, 3, 224, 224)
    assert np.all(out == 1.0)  # (255 - 127) / 128, not ImageNet's (1 - mean) / std
    demo = preprocess_pillow.Impl()
    demo.load({})
    assert np.allclose(demo.run(rgb)[0, 0], (1.0 - 0.485) / 0.229)


@pytest.mark.parametrize("change, words", [
    ({"preprocess": dict(LITE, divide_by=0)}, "divide_by"),
    ({"preprocess": dict(LITE, mean=[1, 2])}, "preprocess.mean"),
    ({"preprocess": dict(LITE, crop=300)}, "larger than"),
    ({"preprocess": dict(LITE, colour="rgb")}, "unknown keys colour"),
    ({"schema": 2}, "schema"),
    ({"labels": "../labels.txt"}, "'labels'"),
    ({"labels": "missing.txt"}, "cannot be read"),
    ({"input": {"shape": [1, 3, 0, 224]}}, "input.shape"),
    ({"input": {"shape": [1, 3, 256, 256]}}, "'preprocess.crop' makes 224x224"),
    ({"preprocess": dict(LITE, mean=[float("nan"), 0, 0])}, "must be finite"),
    ({"forms": {"onxx": "m.onnx"}}, "unknown keys onxx"),
    ({"forms": {"dlr": "dlr-x86_64"}}, "'forms.dlr' must map"),
    ({"label": "labels.txt"}, "unknown keys label"),
    ({"forms": {"onnx": "../m.onnx"}}, "'forms.onnx' must be a path inside"),
    ({"forms": {"mxnet": 5}}, "'forms.mxnet' must be a path inside"),
])
def test_a_bad_declaration_names_the_file_and_the_field(tmp_path, change, words):
    folder = declared_model(tmp_path / "m", lite_declaration(**change))
    with pytest.raises(models.ModelError) as caught:
        models.resolve_model(folder)
    message = str(caught.value)
    assert words in message
    assert folder in message


def test_a_directory_of_forms_gives_each_runner_its_own(tmp_path):
    folder = declared_model(tmp_path / "m", lite_declaration())
    source = models.resolve_model(folder)
    assert source.onnx == os.path.join(folder, "m.onnx")
    assert source.mxnet[0] == os.path.join(folder, "m-symbol.json")
    assert source.declaration.name == "lite"


def test_dlr_is_taken_for_this_machines_architecture_only(tmp_path):
    arch = models.machine_architecture()
    other = "aarch64" if arch != "aarch64" else "x86_64"
    folder = declared_model(tmp_path / "m", lite_declaration(
        forms={"onnx": "m.onnx", "dlr": {other: "dlr-" + other}}))
    source = models.resolve_model(folder)
    with pytest.raises(models.ModelError) as caught:
        source.require_dlr()
    assert "for {} only, none for this machine ({})".format(other, arch) in str(caught.value)


def test_the_bundle_records_the_declared_preprocessing_and_labels(tmp_path):
    folder = declared_model(tmp_path / "m", lite_declaration())
    images = tmp_path / "images"
    os.makedirs(str(images))
    shutil.copy(os.path.join(SAMPLES, "photo-420.jpg"), str(images / "photo-420.jpg"))
    path, _ = capture(str(images), str(tmp_path / "bundle"), stages=["decode", "preprocess"],
                      implementations=["decode/pillow", "preprocess/pillow"],
                      options={"model": folder}, quiet=True)
    model = load_bundle(path).manifest["model"]
    assert model["name"] == "lite" and model["declared"] is True
    assert model["preprocess"]["mean"] == [127.0, 127.0, 127.0]
    assert model["labels"] == ["tench", "goldfish"]


def test_a_declared_layout_reaches_the_runner_and_a_contradicting_option_is_refused(tmp_path):
    from edgeparity.stages.runner import ModelRunner

    folder = declared_model(tmp_path / "m", lite_declaration(
        input={"name": "data", "shape": [1, 224, 224, 3], "layout": "NHWC"}))
    assert ModelRunner().resolve({"model": folder}).layout == "NHWC"
    assert ModelRunner().resolve({"model": folder, "layout": "NHWC"}).layout == "NHWC"
    with pytest.raises(models.ModelError, match="--layout NCHW contradicts"):
        ModelRunner().resolve({"model": folder, "layout": "NCHW"})
    assert ModelRunner().resolve({}).layout == "NCHW"  # the demo model
    assert ModelRunner().resolve({"layout": "NHWC"}).layout == "NHWC"


def test_a_missing_declared_form_fails_only_its_runner(tmp_path):
    folder = declared_model(tmp_path / "m", lite_declaration())
    os.remove(os.path.join(folder, "m.onnx"))
    impl = preprocess_pillow.Impl()
    impl.load({"model": folder})  # preprocessing needs only the declaration
    source = models.resolve_model(folder)
    assert source.mxnet is not None
    with pytest.raises(models.ModelError) as caught:
        source.require_onnx()
    assert "m.onnx is missing" in str(caught.value) and "whole folder" in str(caught.value)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks here")
def test_a_declaration_cannot_reach_outside_its_folder_through_a_link(tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("not a label\n")
    folder = declared_model(tmp_path / "m", lite_declaration(labels="inside.txt"), labels=None)
    os.symlink(str(outside), os.path.join(folder, "inside.txt"))
    with pytest.raises(models.ModelError) as caught:
        models.resolve_model(folder)
    assert "is a link leading outside the model's folder" in str(caught.value)
    assert "replace the link with a copy" in str(caught.value)


def test_canonical_inputs_of_another_size_are_left_out_for_inference(tmp_path):
    pytest.importorskip("onnxruntime")
    bigger = dict(LITE, resize_shorter_side=288, crop=256)
    folder = declared_model(tmp_path / "m", lite_declaration(preprocess=bigger, input=None))
    images = tmp_path / "images"
    os.makedirs(str(images))
    shutil.copy(os.path.join(SAMPLES, "photo-420.jpg"), str(images / "photo-420.jpg"))
    path, _ = capture(str(images), str(tmp_path / "bundle"),
                      implementations=["decode/pillow", "preprocess/pillow", "infer/onnxruntime"],
                      options={"model": folder}, quiet=True)
    canonical = load_bundle(path).manifest["canonical"]
    misfits = [label for label, entry in canonical.items() if "error" in entry]
    assert misfits and all("does not fit the model's input 1 x 3 x 256 x 256"
                           in canonical[label]["error"] for label in misfits)
    assert canonical["probe:ones"]["shape"] == [1, 3, 256, 256]


def test_a_declaration_beside_a_dlr_artifact_says_to_move_the_artifact(tmp_path):
    """DLR reads every .json of its folder as a graph: a declaration in a Neo artifact's own
    folder would break it, so edgeparity says what to do instead."""
    folder = tmp_path / "neo"
    os.makedirs(str(folder))
    for name in ("model.json", "model.params"):
        shutil.copy(os.path.join(demo_model.DLR_DIR, name), str(folder / name))
    (folder / "model.so").write_bytes(b"\x7fELF")
    (folder / models.DECLARATION_FILE).write_text(json.dumps(
        {"schema": 1, "name": "neo", "preprocess": LITE}))
    source = models.resolve_model(str(folder))
    with pytest.raises(models.ModelError) as caught:
        source.require_dlr()
    assert "Move the artifact" in str(caught.value) and "forms" in str(caught.value)
    assert source.declaration.name == "neo"


def test_one_form_of_a_declared_model_is_refused_with_its_folder_named(tmp_path):
    """Given alone, the .onnx of a declared model would be preprocessed with the default."""
    folder = declared_model(tmp_path / "m", lite_declaration())
    with pytest.raises(models.ModelError) as caught:
        models.resolve_model(os.path.join(folder, "m.onnx"))
    assert "read only when --model names its folder: pass {}".format(folder) in str(
        caught.value)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks here")
def test_a_linked_mxnet_file_from_outside_is_refused(tmp_path):
    folder = declared_model(tmp_path / "m", lite_declaration())
    os.rename(os.path.join(folder, "m-0000.params"), str(tmp_path / "elsewhere.params"))
    os.symlink(str(tmp_path / "elsewhere.params"), os.path.join(folder, "m-0000.params"))
    with pytest.raises(models.ModelError, match="is a link leading outside"):
        models.resolve_model(folder)


def test_capture_says_which_preprocessing_the_model_gets(tmp_path, capsys):
    images = tmp_path / "images"
    os.makedirs(str(images))
    shutil.copy(os.path.join(SAMPLES, "photo-420.jpg"), str(images / "photo-420.jpg"))
    declared = declared_model(tmp_path / "m", lite_declaration())
    bare = tmp_path / "bare"
    os.makedirs(str(bare))
    shutil.copy(demo_model.ONNX_FILE, str(bare / "m.onnx"))
    said = {}
    for label, model in (("declared", declared), ("bare", str(bare / "m.onnx"))):
        capture(str(images), str(tmp_path / ("bundle-" + label)), stages=["decode", "preprocess"],
                implementations=["decode/pillow", "preprocess/pillow"],
                options={"model": model})
        said[label] = capsys.readouterr().err
    assert "capture: model lite (declared): resize shorter side 256, centre crop 224, " \
        "(x - 127) / 128" in said["declared"]
    assert "has no edgeparity-model.json: preprocessing with the default" in said["bare"]
    assert "(x / 255 - (0.485, 0.456, 0.406))" in said["bare"]


def test_labels_for_another_number_of_classes_are_warned_about_once(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    images = tmp_path / "images"
    os.makedirs(str(images))
    for name in ("photo-420.jpg", "photo-444.jpg"):
        shutil.copy(os.path.join(SAMPLES, name), str(images / name))
    # Two names for the demo model's 1000 outputs.
    folder = declared_model(tmp_path / "m", lite_declaration())
    capture(str(images), str(tmp_path / "b"), implementations=[
        "decode/pillow", "preprocess/pillow", "infer/onnxruntime"], options={"model": folder},
        quiet=True)
    warnings = [line for line in capsys.readouterr().err.splitlines() if "labels" in line]
    assert warnings == [
        "edgeparity: warning: the model declares 2 labels, but infer/onnxruntime outputs 1000 "
        "classes: reports will name classes by index; fix \"labels\" in its "
        "edgeparity-model.json (docs/models.md)"]
    names = ["class {}".format(i) for i in range(1000)]
    folder = declared_model(tmp_path / "m2", lite_declaration(), labels=names)
    capture(str(images), str(tmp_path / "b2"), implementations=[
        "decode/pillow", "preprocess/pillow", "infer/onnxruntime"], options={"model": folder},
        quiet=True)
    assert "labels" not in capsys.readouterr().err  # as many as the outputs: nothing to say


def test_blank_lines_at_the_end_of_labels_are_ignored_and_inside_them_named(tmp_path):
    folder = declared_model(tmp_path / "m", lite_declaration())
    declaration = folder + "/" + models.DECLARATION_FILE
    (tmp_path / "m" / "labels.txt").write_text("tench\ngoldfish\n\n\n")
    assert models.read_declaration(declaration).labels == ["tench", "goldfish"]
    (tmp_path / "m" / "labels.txt").write_text("tench\n\ngoldfish\n")
    with pytest.raises(models.ModelError, match="line 2 is empty"):
        models.read_declaration(declaration)
