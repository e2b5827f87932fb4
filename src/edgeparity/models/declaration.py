"""What a model says about itself: its input, the preprocessing it was trained with, its labels.

A model directory may hold ``edgeparity-model.json`` (schema in docs/models.md)::

    {"schema": 1, "name": "efficientnet-lite0",
     "input": {"name": "input", "shape": [1, 3, 224, 224], "layout": "NCHW"},
     "preprocess": {"resize_shorter_side": 256, "crop": 224, "divide_by": 1.0,
                    "mean": [127, 127, 127], "std": [128, 128, 128]},
     "labels": "labels.txt",
     "forms": {"onnx": "m.onnx", "mxnet": "m", "dlr": {"x86_64": "dlr-x86_64", ...}}}

Preprocessing is declared because a model only gives the right answer on the inputs it was
trained with: EfficientNet-Lite takes ``(x - 127) / 128``, most ImageNet models
``(x / 255 - mean) / std``. Every preprocess implementation reads one :class:`Preprocessing`,
the bundle records it, and compare never compares preprocess or infer outputs made with
different ones (the difference would be the user's setting, not the libraries): it compares
their decoded pixels only.

A model without a declaration (a bare .onnx, an MXNet prefix, a Neo artifact) and the demo
model get :data:`IMAGENET`, edgeparity's preprocessing before declarations existed.

In-environment code: CPython 3.6+, standard library only (numpy in ``normalize``).
"""

import hashlib
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .base import ModelError

DECLARATION_FILE = "edgeparity-model.json"
SCHEMA = 1
MAX_DECLARATION_BYTES = 1024 * 1024  # a declaration is a few KB; refuse to parse a huge file
MAX_LABELS_BYTES = 4 * 1024 * 1024


class Preprocessing:
    """Resize the shorter side (bilinear), centre-crop a square, then per channel
    ``(pixel / divide_by - mean) / std`` in float32, NCHW."""

    def __init__(self, resize_shorter_side: int, crop: int, divide_by: float,
                 mean: Sequence[float], std: Sequence[float]) -> None:
        self.resize_shorter_side = int(resize_shorter_side)
        self.crop = int(crop)
        self.divide_by = float(divide_by)
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)

    def describe(self) -> Dict[str, Any]:
        """The JSON form the bundle records and compare matches on."""
        return {"resize_shorter_side": self.resize_shorter_side, "crop": self.crop,
                "divide_by": self.divide_by, "mean": list(self.mean), "std": list(self.std)}

    @property
    def input_shape(self) -> Tuple[int, int, int, int]:
        return (1, 3, self.crop, self.crop)

    def resized_size(self, width: int, height: int) -> Tuple[int, int]:
        """(width, height) with the shorter side scaled to ``resize_shorter_side``.

        The longer side is rounded down, as torchvision's Resize does (320x240 -> 341x256);
        integer arithmetic so every implementation and Python version agrees.
        """
        short = self.resize_shorter_side
        if width <= height:
            return short, height * short // width
        return width * short // height, short

    def crop_box(self, width: int, height: int) -> Tuple[int, int, int, int]:
        """(left, top, right, bottom) of the centre crop."""
        left = (width - self.crop) // 2
        top = (height - self.crop) // 2
        return left, top, left + self.crop, top + self.crop

    def normalize(self, rgb: Any) -> Any:
        """uint8 H x W x 3 -> float32 1 x 3 x H x W, in float32 throughout."""
        import numpy as np

        scaled = rgb.astype(np.float32) / np.float32(self.divide_by)
        normalized = (scaled - np.array(self.mean, np.float32)) / np.array(self.std, np.float32)
        return np.ascontiguousarray(normalized.transpose(2, 0, 1)[np.newaxis], dtype=np.float32)

    def formula(self) -> str:
        """'(x / 255 - mean) / std' or '(x - 127) / 128', for messages."""
        def number(value: float) -> str:
            return "{:g}".format(value)

        def channels(values: Tuple[float, ...]) -> str:
            if len(set(values)) == 1:
                return number(values[0])
            return "(" + ", ".join(number(v) for v in values) + ")"

        x = "x" if self.divide_by == 1 else "x / " + number(self.divide_by)
        return "resize shorter side {}, centre crop {}, ({} - {}) / {}".format(
            self.resize_shorter_side, self.crop, x, channels(self.mean), channels(self.std))


# ImageNet mean/std on [0, 1] values: the demo model's and the default for undeclared models.
IMAGENET = Preprocessing(256, 224, 255.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


class Declaration:
    """A model's ``edgeparity-model.json``, checked. Build with :func:`read_declaration`."""

    def __init__(self, path: Optional[str], name: str, preprocessing: Preprocessing) -> None:
        self.path = path  # None for the demo model and undeclared models
        self.name = name
        self.preprocessing = preprocessing
        self.input_name = None  # type: Optional[str]
        self.input_shape = None  # type: Optional[Tuple[int, ...]]
        self.layout = None  # type: Optional[str]  # None: the runner's option, else NCHW
        self.labels = None  # type: Optional[List[str]]
        self.forms = {}  # type: Dict[str, Any]
        self.sha256 = None  # type: Optional[str]

    def record(self) -> Dict[str, Any]:
        """What a bundle stores about the model's declaration (manifest field ``model``)."""
        info = {"name": self.name, "declared": self.path is not None,
                "preprocess": self.preprocessing.describe()}  # type: Dict[str, Any]
        if self.path:
            info["declaration"] = self.path
            info["declaration_sha256"] = self.sha256
        if self.labels is not None:
            info["labels"] = list(self.labels)
        return info


def model_identity(record: Dict[str, Any]) -> Dict[str, Any]:
    """What of a bundle's ``model`` record decides its outputs, for goldens and merges: the
    name, whether it was declared, the preprocessing and a digest of the labels; not the
    declaration's path or file digest (a device's copy, or an edited README beside it, must not
    count as another model)."""
    identity = {key: record[key] for key in ("name", "declared", "preprocess", "error")
                if key in record}
    if record.get("labels") is not None:
        identity["labels_sha256"] = hashlib.sha256(
            json.dumps(record["labels"], ensure_ascii=False).encode("utf-8")).hexdigest()
    return identity


def default_declaration(name: str) -> Declaration:
    """What an undeclared model (or the demo) is taken to be: ImageNet preprocessing, no labels."""
    return Declaration(None, name, IMAGENET)


def _problem(path: str, what: str) -> ModelError:
    return ModelError("{}: {}; fix the file (schema: docs/models.md)".format(path, what))


FORM_KEYS = ("onnx", "mxnet", "dlr")
# Top-level keys edgeparity reads, and those it keeps for people and tools (not read). Anything
# else is refused: a misspelt "label" or "form" would otherwise drop names or forms silently.
READ_KEYS = ("schema", "name", "input", "preprocess", "labels", "forms")
INFORMATIVE_KEYS = ("description", "files", "origin", "licence", "license")


def path_inside(directory: str, relative: Any, declaration_path: str, field: str) -> str:
    """``directory``/``relative`` when it stays inside ``directory``, links resolved; else the
    declaration's error. A model folder comes from elsewhere: its declaration must not make
    edgeparity read (and copy into bundles) files outside it."""
    if not isinstance(relative, str) or not relative or os.path.isabs(relative) or (
            ".." in relative.replace("\\", "/").split("/")):
        raise _problem(declaration_path, "'{}' must be a path inside the model's folder, got "
                                         "{!r}".format(field, relative))
    path = os.path.join(directory, *relative.split("/"))
    root = os.path.realpath(directory)
    if os.path.commonpath([root, os.path.realpath(path)]) != root:
        raise ModelError(
            "{}: '{}' ({}) is a link leading outside the model's folder; replace the link with "
            "a copy of the file (linking the whole folder is fine)".format(
                declaration_path, field, relative))
    return path


def _number_list(value: Any, length: int) -> bool:
    return (isinstance(value, list) and len(value) == length
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))


def _read_preprocessing(path: str, data: Any) -> Preprocessing:
    if not isinstance(data, dict):
        raise _problem(path, "'preprocess' must be an object")
    unknown = sorted(set(data) - {"resize_shorter_side", "crop", "divide_by", "mean", "std"})
    if unknown:
        raise _problem(path, "'preprocess' has unknown keys {}".format(", ".join(unknown)))
    for key in ("resize_shorter_side", "crop"):
        value = data.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= 16384:
            raise _problem(path, "'preprocess.{}' must be a positive integer".format(key))
    if data["crop"] > data["resize_shorter_side"]:
        raise _problem(path, "'preprocess.crop' is larger than 'resize_shorter_side'")
    divide_by = data.get("divide_by")
    if not isinstance(divide_by, (int, float)) or isinstance(divide_by, bool) or not (
            0 < divide_by < 1e6):
        raise _problem(path, "'preprocess.divide_by' must be a positive number (255 for "
                             "[0, 1] inputs, 1 for raw pixel values)")
    for key in ("mean", "std"):
        if not _number_list(data.get(key), 3):
            raise _problem(path, "'preprocess.{}' must be a list of 3 numbers (R, G, B)".format(
                key))
    if any(not -1e6 < value < 1e6 for value in data["mean"]):  # also refuses NaN, Infinity
        raise _problem(path, "'preprocess.mean' values must be finite")
    if any(not 0 < value < 1e6 for value in data["std"]):
        raise _problem(path, "'preprocess.std' values must be positive and finite")
    return Preprocessing(data["resize_shorter_side"], data["crop"], divide_by, data["mean"],
                         data["std"])


def _read_labels(path: str, directory: str, name: Any) -> List[str]:
    labels_file = path_inside(directory, name, path, "labels")
    try:
        with open(labels_file, "rb") as handle:
            raw = handle.read(MAX_LABELS_BYTES + 1)
    except OSError as exc:
        raise _problem(path, "its labels file {} cannot be read ({})".format(
            labels_file, exc.strerror or exc)) from None
    if len(raw) > MAX_LABELS_BYTES:
        raise _problem(path, "its labels file {} is over {} MB".format(
            labels_file, MAX_LABELS_BYTES // (1024 * 1024)))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _problem(path, "its labels file {} is not UTF-8 text".format(labels_file)) from None
    labels = text.splitlines()
    while labels and not labels[-1].strip():
        labels.pop()  # blank lines at the end (an editor's last newline) name no class
    empty = [number for number, label in enumerate(labels, 1) if not label.strip()]
    if not labels or empty:
        raise _problem(path, "its labels file {} must hold one non-empty class name per "
                             "line{}".format(labels_file, "; line {} is empty".format(empty[0])
                                             if empty else ""))
    return labels


def read_declaration(path: str) -> Declaration:
    """Read and check ``path`` (an ``edgeparity-model.json``); ModelError naming the problem."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_DECLARATION_BYTES + 1)
    except OSError as exc:
        raise ModelError("cannot read the model declaration {} ({})".format(
            path, exc.strerror or exc)) from None
    if len(raw) > MAX_DECLARATION_BYTES:
        raise _problem(path, "it is over 1 MB")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _problem(path, "it is not JSON ({})".format(exc)) from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise _problem(path, "expected a JSON object with \"schema\": {}".format(SCHEMA))
    unknown = sorted(set(data) - set(READ_KEYS) - set(INFORMATIVE_KEYS))
    if unknown:
        raise _problem(path, "unknown keys {} (known: {})".format(
            ", ".join(unknown), ", ".join(READ_KEYS + INFORMATIVE_KEYS)))
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _problem(path, "'name' must be a non-empty string")
    declaration = Declaration(os.path.abspath(path), name,
                              _read_preprocessing(path, data.get("preprocess")))
    declaration.sha256 = "sha256:" + hashlib.sha256(raw).hexdigest()
    model_input = data.get("input")
    if model_input is not None:
        if not isinstance(model_input, dict):
            raise _problem(path, "'input' must be an object")
        input_name, shape, layout = (model_input.get("name"), model_input.get("shape"),
                                     model_input.get("layout"))
        if input_name is not None and not isinstance(input_name, str):
            raise _problem(path, "'input.name' must be a string")
        if shape is not None and not (isinstance(shape, list) and shape and all(
                isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)):
            raise _problem(path, "'input.shape' must be a list of positive integers")
        if layout not in (None, "NCHW", "NHWC"):
            raise _problem(path, "'input.layout' must be NCHW or NHWC")
        crop = declaration.preprocessing.crop
        if shape and len(shape) == 4:
            height, width = shape[1:3] if layout == "NHWC" else shape[2:4]
            if (height, width) != (crop, crop):
                raise _problem(path, "'input.shape' {} ({}) takes {}x{} images but "
                                     "'preprocess.crop' makes {}x{}".format(
                                         shape, layout or "NCHW", height, width, crop, crop))
        declaration.input_name = input_name
        declaration.input_shape = tuple(shape) if shape else None
        declaration.layout = layout
    directory = os.path.dirname(os.path.abspath(path))
    if data.get("labels") is not None:
        declaration.labels = _read_labels(path, directory, data["labels"])
    forms = data.get("forms", {})
    if not isinstance(forms, dict):
        raise _problem(path, "'forms' must be an object")
    unknown = sorted(set(forms) - set(FORM_KEYS))
    if unknown:
        raise _problem(path, "'forms' has unknown keys {} (known: {})".format(
            ", ".join(unknown), ", ".join(FORM_KEYS)))
    dlr = forms.get("dlr")
    if dlr is not None and not (isinstance(dlr, dict) and dlr and all(
            isinstance(k, str) and isinstance(v, str) for k, v in dlr.items())):
        raise _problem(path, "'forms.dlr' must map a CPU architecture to a folder, e.g. "
                             "{\"aarch64\": \"dlr-aarch64\", \"x86_64\": \"dlr-x86_64\"}")
    for form, value in sorted(forms.items()):  # the paths themselves, before any build
        for arch, relative in (sorted(value.items()) if form == "dlr" else [(None, value)]):
            path_inside(directory, relative, path,
                        "forms.{}".format(form) + (".{}".format(arch) if arch else ""))
    declaration.forms = forms
    return declaration


def find_declaration(directory: str) -> Optional[Declaration]:
    """The declaration in a model directory, or None when it has none."""
    path = os.path.join(directory, DECLARATION_FILE)
    return read_declaration(path) if os.path.isfile(path) else None


def label_of(labels: Optional[Sequence[str]], index: Optional[int]) -> str:
    """'daisy' for a class index with labels, else 'class 985'."""
    if index is None:
        return "?"
    if labels and 0 <= index < len(labels):
        return str(labels[index])
    return "class {}".format(index)
