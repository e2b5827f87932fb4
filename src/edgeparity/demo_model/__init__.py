"""The demo model shipped inside edgeparity: a small CNN in MXNet, ONNX and DLR form.

It exists so that every environment has the *same* model to run without downloading anything:
1x3x224x224 float32 -> [conv3x3 stride 2 (8) -> ReLU -> maxpool 2] -> [conv3x3 (16) -> ReLU
-> maxpool 2] -> [conv3x3 stride 2 (32) -> ReLU -> maxpool 2] -> global average pool over 7x7
-> dense (1000) = logits 1x1000.

The 7x7 map before global pooling (as in ResNet) is deliberate: averaging a 28x28 map in
float32 lost up to 2e-5 to summation rounding, the whole 1e-5 agreement budget; with 7x7 every
runtime measured stays within 2.5e-6 of a float64 reference (tests/inenv/test_infer.py).

Weights come from ``numpy.random.RandomState(SEED)`` (whose stream numpy guarantees stable), so
``tools/build_demo_model.py`` regenerates the committed files byte for byte, and tests can
recompute the network independently from :func:`weights`.

Files in this package (package data, shipped in the wheel and the zipapp; from a zipapp they
runtimes open them through :func:`runnable`, a copy in the cache):
- ``demo-symbol.json`` + ``demo-0000.params``: MXNet export (prefix ``demo``)
- ``demo.onnx``: ONNX (opset 11, IR version 6, so old ONNX Runtime builds on a Jetson load it)
- ``dlr/model.json`` + ``dlr/model.params`` + ``dlr/kernels.c``: a DLR graph-executor artifact
  whose operator library is plain C, compiled on first use (see ``edgeparity.models``)

This module runs in every environment (CPython 3.6+, numpy only).
"""

import hashlib
import os
import shutil
import tempfile
import zipfile
from collections import OrderedDict
from typing import TYPE_CHECKING, Dict, Optional

if TYPE_CHECKING:  # imported in weights(): compare reads this package's paths, not its weights
    import numpy as np

from ..cache import cache_dir, publish_directory

SEED = 20190611
INPUT_NAME = "data"
INPUT_SHAPE = (1, 3, 224, 224)
NUM_CLASSES = 1000



def _unpacked(folder: str) -> Optional[str]:
    """A real folder holding this package's files when they are inside a zipapp, else None.

    MXNet, ONNX Runtime, DLR and the C compiler open the model files by path, which a member of
    ``edgeparity.pyz`` does not have: the files are copied once per content into the cache
    (``demo-model/<digest>``, published by rename, so concurrent captures agree) and read from
    there. When the cache cannot be written, the runners skip with the reason.
    """
    archive = getattr(globals().get("__loader__"), "archive", None)
    if archive is None or os.path.isdir(folder):
        return None
    archive = os.path.abspath(archive)
    prefix = os.path.relpath(folder, archive).replace(os.sep, "/") + "/"
    try:
        with zipfile.ZipFile(archive) as handle:
            members = sorted((info.filename, info.CRC, info.file_size)
                             for info in handle.infolist()
                             if info.filename.startswith(prefix) and info.filename[-1] != "/"
                             and not info.filename.endswith((".py", ".pyc")))
            key = hashlib.sha256(repr(members).encode()).hexdigest()[:16]
            target = os.path.join(cache_dir(), "demo-model", key)
            if os.path.isdir(target):
                return target
            os.makedirs(os.path.dirname(target), exist_ok=True)
            scratch = tempfile.mkdtemp(prefix=".unpack-", dir=os.path.dirname(target))
            try:
                for name, _crc, _size in members:
                    path = os.path.join(scratch, *name[len(prefix):].split("/"))
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with handle.open(name) as source, open(path, "wb") as copy:
                        shutil.copyfileobj(source, copy)
                publish_directory(scratch, target)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            return target
    except (OSError, zipfile.BadZipFile):
        return None


HERE = os.path.dirname(os.path.abspath(__file__))
_ON_DISK = []  # type: list  # the folder runnable() maps to, once known


def runnable(path: str) -> str:
    """``path`` (one of this package's files below) as a real file a runtime can open.

    The package folder itself, except when edgeparity runs from a zipapp: then the files are
    copied into the cache on first use (not at import: probe and decode-only captures never
    need them).
    """
    if not _ON_DISK:
        _ON_DISK.append(_unpacked(HERE) or HERE)
    return os.path.join(_ON_DISK[0], os.path.relpath(path, HERE))


MXNET_PREFIX = os.path.join(HERE, "demo")
ONNX_FILE = os.path.join(HERE, "demo.onnx")
DLR_DIR = os.path.join(HERE, "dlr")
DLR_GRAPH = os.path.join(DLR_DIR, "model.json")
DLR_PARAMS = os.path.join(DLR_DIR, "model.params")
DLR_KERNELS = os.path.join(DLR_DIR, "kernels.c")

# (name, input channels, output channels, stride); every convolution is 3x3 with padding 1,
# followed by ReLU and a 2x2 stride-2 max pool: 224 -> 112 -> 56 -> 56 -> 28 -> 14 -> 7.
CONVOLUTIONS = (
    ("conv1", 3, 8, 2),
    ("conv2", 8, 16, 1),
    ("conv3", 16, 32, 2),
)
DENSE = ("fc1", 32, NUM_CLASSES)


def weights() -> Dict[str, "np.ndarray"]:
    """All parameters by name (MXNet naming: ``conv1_weight``, ``conv1_bias``, ... ``fc1_bias``).

    He-scaled normal weights keep ReLU activations O(1) for inputs in [0, 1] or ImageNet-
    normalised ranges; the dense layer is scaled by 1/sqrt(fan_in) so logits are O(1).

    Each class's dense weights are centred (zero sum over the 32 features). The pooled ReLU
    features of an untrained network share one large common component; without centring, that
    component picks the same top-1 class for every input, and a top-1 change between two
    environments could never show. With it, the ranking depends on the image.
    """
    import numpy as np

    rng = np.random.RandomState(SEED)
    params = OrderedDict()  # type: Dict[str, np.ndarray]
    for name, in_channels, out_channels, _stride in CONVOLUTIONS:
        fan_in = in_channels * 3 * 3
        params[name + "_weight"] = rng.normal(
            0.0, np.sqrt(2.0 / fan_in), (out_channels, in_channels, 3, 3)
        ).astype(np.float32)
        params[name + "_bias"] = rng.normal(0.0, 0.05, (out_channels,)).astype(np.float32)
    name, features, units = DENSE
    dense = rng.normal(0.0, 1.0 / np.sqrt(features), (units, features))
    params[name + "_weight"] = (dense - dense.mean(axis=1, keepdims=True)).astype(np.float32)
    params[name + "_bias"] = rng.normal(0.0, 0.05, (units,)).astype(np.float32)
    return params
