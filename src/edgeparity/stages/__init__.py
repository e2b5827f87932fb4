"""Registry of stage implementations: one line per plugin module.

To add an implementation, write ``stages/<stage>_<library>.py`` with one subclass of
``base.Implementation`` named ``Impl`` and add its module name below. Order matters only for
display and for which implementation is the default of a stage (the first available one).
"""

import importlib
from typing import Dict, List

from .base import Implementation, Unavailable
from .pipeline import STAGES

PLUGINS = (
    # decode: bytes -> uint8 HxWx3 RGB
    "decode_pillow",
    "decode_pillow_exif",
    "decode_mxnet",
    "decode_opencv",
    "decode_simplejpeg",
    # preprocess: uint8 HxWx3 -> float32 1x3x224x224
    "preprocess_pillow",
    "preprocess_mxnet",
    # infer: float32 NCHW -> float32 logits
    "infer_mxnet",
    "infer_dlr",
    "infer_onnxruntime",
    "infer_tvm",
)


def all_implementations() -> List[Implementation]:
    """A fresh instance of every registered implementation whose module exists."""
    found = []
    for module_name in PLUGINS:
        try:
            module = importlib.import_module("." + module_name, __name__)
        except ImportError as exc:
            # Only a plugin module that is not written yet may be missing; a plugin's own
            # library is imported lazily in load(), never here.
            if getattr(exc, "name", None) == __name__ + "." + module_name:
                continue
            raise
        found.append(module.Impl())
    return found


def known_implementations() -> Dict[str, List[str]]:
    """Stage -> registered implementation names, in registry order (for parse_pipeline)."""
    known = {stage: [] for stage in STAGES}  # type: Dict[str, List[str]]
    for impl in all_implementations():
        known[impl.stage].append(impl.name)
    return known


__all__ = ["STAGES", "Implementation", "Unavailable", "all_implementations",
           "known_implementations"]
