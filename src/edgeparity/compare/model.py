"""Which model each bundle ran, and whether their outputs may be compared at all.

A bundle's manifest field ``model`` (capture.model_record) holds the model's name, its
declared preprocessing and, when it declares them, its class labels. Bundles made before that
field existed preprocessed with ImageNet mean/std, which is what they are taken to have used.
"""

from typing import Any, Dict, List, Optional

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


def preprocessing_mismatch(reference: Endpoint, other: Endpoint) -> Optional[str]:
    """Why preprocess and infer outputs of the two bundles cannot be compared, or None:
    'captured for different models — <a>: model X (...); <b>: model Y (...) —'.

    Outputs preprocessed for different models differ because of the user's setting, not
    the libraries; a report of that divergence would blame the wrong thing. Their decoded
    pixels still compare (``assemble.compare_pair`` then compares decode only).
    """
    ours, theirs = model_info(reference), model_info(other)
    if not ours or not theirs or ours["preprocess"] == theirs["preprocess"]:
        return None
    if not (_prepares(reference) and _prepares(other)):
        return None  # e.g. decode-only captures: their pixels compare whatever the model
    return "captured for different models — {}: {}; {}: {} —".format(
        reference.label, _describe(ours), other.label, _describe(theirs))


def _prepares(endpoint: Endpoint) -> bool:
    """Whether the bundle holds preprocess or infer outputs (captured with the model's
    preprocessing), i.e. not a decode-only capture."""
    return any(available(endpoint.bundle, stage) for stage in ("preprocess", "infer"))


def labels(endpoint: Endpoint) -> Optional[List[str]]:
    """The model's class names, in class-index order, when its declaration names them."""
    names = model_info(endpoint).get("labels")
    if isinstance(names, list) and all(isinstance(n, str) for n in names):
        return names
    return None
