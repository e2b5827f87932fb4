"""models/efficientnet-lite0/: every file is the one edgeparity-model.json records.

The manifest lists each file of the directory (except itself) with its sha256; the build that
wrote them is tools/build_real_model.py (`make real-model-check` rebuilds and compares). Here only
the committed bytes are checked, with the standard library: a file changed, missing, or added
without being recorded fails with its name.
"""

import hashlib
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL_DIR = os.path.join(ROOT, "models", "efficientnet-lite0")
MANIFEST = "edgeparity-model.json"


def load_manifest():
    with open(os.path.join(MODEL_DIR, MANIFEST), encoding="utf-8") as handle:
        return json.load(handle)


def files_on_disk():
    found = set()
    for base, _dirs, names in os.walk(MODEL_DIR):
        for name in names:
            relative = os.path.relpath(os.path.join(base, name), MODEL_DIR).replace(os.sep, "/")
            if relative != MANIFEST:
                found.add(relative)
    return found


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


RECORDED = sorted(load_manifest()["files"]) if os.path.isdir(MODEL_DIR) else []


def test_manifest_declares_the_model_in_schema_1():
    manifest = load_manifest()
    assert manifest["schema"] == 1
    assert manifest["name"] == "efficientnet-lite0"
    assert manifest["input"]["shape"] == [1, 3, 224, 224]
    assert manifest["input"]["layout"] == "NCHW"
    assert set(manifest["preprocess"]) == {
        "resize_shorter_side", "crop", "divide_by", "mean", "std"}
    forms = manifest["forms"]
    named = [manifest["labels"], forms["onnx"], forms["mxnet"] + "-symbol.json",
             forms["mxnet"] + "-0000.params"]
    for relative in named:
        assert relative in manifest["files"], "{} is declared but not recorded".format(relative)
    for arch, folder in sorted(forms["dlr"].items()):
        inside = [f for f in manifest["files"] if f.startswith(folder + "/")]
        for suffix in (".so", ".json", ".params"):
            assert len([f for f in inside if f.endswith(suffix)]) == 1, (
                "DLR artifact {} ({}) must hold exactly one {} file: {}".format(
                    folder, arch, suffix, inside))


def test_labels_are_1000_names():
    with open(os.path.join(MODEL_DIR, load_manifest()["labels"]), encoding="utf-8") as handle:
        labels = handle.read().splitlines()
    assert len(labels) == 1000
    assert labels[0] == "tench" and labels[999] == "toilet tissue"


def test_no_file_in_the_model_dir_is_unrecorded():
    unrecorded = sorted(files_on_disk() - set(RECORDED))
    assert not unrecorded, "files in {} not recorded in {}: {}".format(
        MODEL_DIR, MANIFEST, ", ".join(unrecorded))


@pytest.mark.parametrize("relative", RECORDED)
def test_recorded_file_has_its_digest(relative):
    path = os.path.join(MODEL_DIR, relative)
    assert os.path.isfile(path), "{} is recorded in {} but missing".format(relative, MANIFEST)
    recorded = load_manifest()["files"][relative]
    actual = "sha256:" + sha256(path)
    assert actual == recorded, "{} differs from {}: {} on disk, {} recorded".format(
        relative, MANIFEST, actual, recorded)
