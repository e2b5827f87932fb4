"""The real pretrained model (models/efficientnet-lite0) in every runtime this environment has.

Two independent checks: the runtimes agree with each other within 1e-5 on the same tensors
(MXNet, DLR and ONNX Runtime run different files converted from one ONNX export), and the
model, fed the sample photos through the declared preprocessing, names what a person sees in
them (a coffee cup, a cat): wrong normalization, channel order or labels would not.

Skips with the reason where the model folder or a runtime is missing (e.g. numpy-only CPython
3.6, or inside a matrix image, which gets the model mounted only for capture).
"""

import itertools
import os

import numpy as np
import pytest

from edgeparity import models
from edgeparity.stages import (
    Unavailable,
    decode_pillow,
    infer_dlr,
    infer_mxnet,
    infer_onnxruntime,
    preprocess_pillow,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(REPO, "models", "efficientnet-lite0")
SAMPLES = os.path.join(REPO, "sample-images")
ATOL = RTOL = 1e-5
RUNNERS = {"mxnet": infer_mxnet.Impl, "dlr": infer_dlr.Impl,
           "onnxruntime": infer_onnxruntime.Impl}
# What a person sees in the sample photos, as ImageNet classes (several are fine answers).
SEEN = {
    "photo-420.jpg": {"espresso", "cup", "coffee mug", "eggnog", "tray", "saucer"},
    "cat-420-oddsize.jpg": {"tabby", "tiger cat", "Egyptian cat", "tabby cat", "lynx"},
}

pytestmark = pytest.mark.skipif(
    not os.path.isfile(os.path.join(MODEL, models.DECLARATION_FILE)),
    reason="models/efficientnet-lite0 is not here (it is mounted into matrix images only for "
           "capture)")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEPARITY_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def runners():
    loaded, why = {}, {}
    for name, cls in RUNNERS.items():
        runner = cls()
        try:
            runner.load({"model": MODEL})
        except Unavailable as exc:
            why[name] = str(exc).splitlines()[0]
            continue
        loaded[name] = runner
    if not loaded:
        pytest.skip("no runtime for the real model here: {}".format(why))
    return loaded


def photo_tensor(name):
    decoder = decode_pillow.Impl()
    decoder.load({})
    steps = preprocess_pillow.Impl()
    steps.load({"model": MODEL})
    with open(os.path.join(SAMPLES, name), "rb") as handle:
        return steps.run(decoder.run(handle.read()))


def test_runtimes_agree_on_the_real_model(runners):
    if len(runners) < 2:
        pytest.skip("only {} here: nothing to compare".format(", ".join(runners)))
    inputs = {"ones": np.ones((1, 3, 224, 224), np.float32),
              "photo-420.jpg": photo_tensor("photo-420.jpg")}
    for label, tensor in inputs.items():
        outputs = {name: runner.run(tensor) for name, runner in runners.items()}
        for (a, out_a), (b, out_b) in itertools.combinations(sorted(outputs.items()), 2):
            assert out_a.shape == out_b.shape == (1, 1000)
            worst = float(np.max(np.abs(out_a - out_b)))
            print("{} vs {} on {}: max abs difference {:.2e}".format(a, b, label, worst))
            assert np.allclose(out_a, out_b, atol=ATOL, rtol=RTOL), (a, b, label, worst)


@pytest.mark.parametrize("photo", sorted(SEEN))
def test_the_model_sees_what_a_person_sees(runners, photo):
    labels = models.model_declaration(MODEL).labels
    assert labels is not None and len(labels) == 1000
    runner = runners[sorted(runners)[0]]
    scores = runner.run(photo_tensor(photo))[0]
    top5 = [labels[i] for i in np.argsort(-scores)[:5]]
    assert SEEN[photo] & set(top5), (photo, top5)
