"""Which model each bundle ran, and whether their outputs may be compared at all.

A bundle's manifest field ``model`` (capture.model_record) holds the model's name, its
declared preprocessing and, when it declares them, its class labels. Bundles made before that
field existed preprocessed with ImageNet mean/std, which is what they are taken to have used.
"""

from typing import Any, Dict, List, NamedTuple, Optional

from ..models import IMAGENET, Preprocessing
from .endpoints import Endpoint, available

# What a bundle from before the `model` field is taken to have run.
_OLDER_BUNDLE = {"name": "demo or unnamed model", "preprocess": IMAGENET.describe()}


def model_info(endpoint: Endpoint) -> Dict[str, Any]:
    """The bundle's ``model`` record ({} when capture could not read the model)."""
    info = endpoint.bundle.manifest.get("model")
    if info is None:
        return dict(_OLDER_BUNDLE)
    return info if isinstance(info, dict) and "preprocess" in info else {}


def _describe(info: Dict[str, Any]) -> str:
    steps = info["preprocess"]
    try:
        text = Preprocessing(**steps).formula()
    except (TypeError, ValueError):
        text = str(steps)
    if not info.get("declared"):
        text += "; no edgeparity-model.json: the default"
    return "model {} ({})".format(info.get("name", "?"), text)


class Incomparable(NamedTuple):
    """The stages after ``last_compared`` cannot be compared, for ``notes`` {stage: why}."""

    last_compared: str
    notes: Dict[str, str]


def incomparable_stages(reference: Endpoint, other: Endpoint) -> Optional[Incomparable]:
    """Which stages of two bundles must not be compared because the captures were set up
    differently (not because the libraries differ), or None.

    Outputs preprocessed for different declared preprocessing differ by that setting: only the
    decoded pixels compare. Logits of two different models (names the captures recorded)
    differ by the model: preprocessing still compares, inference does not. A report of either
    divergence would blame the libraries for the user's setting.
    """
    ours, theirs = model_info(reference), model_info(other)
    if not ours or not theirs:
        return None
    fix = "capture both with the same --model to compare it (docs/models.md)"
    if ours["preprocess"] != theirs["preprocess"]:
        if not (runs_the_model(reference) and runs_the_model(other)):
            return None  # e.g. decode-only captures: their pixels compare whatever the model
        settings = "{}: {}; {}: {}".format(
            reference.label, _describe(ours), other.label, _describe(theirs))
        undeclared = [e.label for e, info in ((reference, ours), (other, theirs))
                      if not info.get("declared")]
        if len(undeclared) == 1:
            # Declared on one side only: often a device given one form of the model (its name
            # then reads differently too: "model.onnx" against the declared "model").
            fix = ("if {} ran the same model, give it the model's folder, with its "
                   "edgeparity-model.json at the top, not one form of it; else {}".format(
                       undeclared[0], fix))
        return Incomparable("decode", {
            "preprocess": "preprocess: captured with different declared preprocessing ({}): "
                          "its outputs differ by that setting, not by the libraries; {}".format(
                              settings, fix),
            "infer": "infer: its inputs were preprocessed differently ({}); {}".format(
                settings, fix)})
    # Names are compared only as declarations give them: an undeclared model is named after
    # its file, which differs between the forms of one model (model.onnx, an MXNet prefix).
    names = [str(info.get("name")) if info.get("declared") else None for info in (ours, theirs)]
    if names[0] and names[1] and names[0] != names[1] and runs_the_model(reference) \
            and runs_the_model(other):
        return Incomparable("preprocess", {
            "infer": "infer: captured with different models ({}: {}; {}: {}): its outputs "
                     "differ by the model, not by the runtimes; {}".format(
                         reference.label, names[0], other.label, names[1], fix)})
    return None


def runs_the_model(endpoint: Endpoint) -> bool:
    """Whether the bundle holds preprocess or infer outputs (captured with the model's
    preprocessing), i.e. not a decode-only capture."""
    return any(available(endpoint.bundle, stage) for stage in ("preprocess", "infer"))


def labels(endpoint: Endpoint) -> Optional[List[str]]:
    """The model's class names, in class-index order, when its declaration names them."""
    names = model_info(endpoint).get("labels")
    if isinstance(names, list) and all(isinstance(n, str) for n in names):
        return names
    return None
