"""Models for the inference stage: find the user's (or the demo) model in the form a runner needs.

- ``source``: where a model's forms are (:func:`resolve_model` -> :class:`ModelSource`), from a
  prefix, a file, a directory or a ``.tar.gz`` unpacked safely into the cache;
- ``dlr``: what is in a Neo/DLR artifact (files, graph inputs, whether its libraries load here)
  and the demo model's artifact, compiled on demand (``python -m edgeparity.models`` does it
  ahead of time);
- ``declaration``: what a model declares about itself (``edgeparity-model.json``: input,
  preprocessing, labels, forms), and the ImageNet defaults for models that declare nothing;
- ``base``: :class:`ModelError` and the cache directory both share.

How a runner reads its options and feeds its input is in ``stages/runner.py``; which libraries
a runtime loaded, in ``native``. In-environment code: CPython 3.6+, numpy only.
"""

from ..cache import cache_dir
from ..exports import lazy_exports
from .base import ModelError
from .declaration import (
    DECLARATION_FILE,
    IMAGENET,
    Declaration,
    Preprocessing,
    label_of,
    read_declaration,
)

# What compare reads (declarations, labels) is imported above; finding a model's files and
# DLR artifacts (subprocess, zipfile, tempfile, the demo model) only when asked for.
__getattr__, __dir__ = lazy_exports(__name__, dict(
    {name: ".dlr" for name in (
        "DEMO_BUILD_INFO", "DEMO_KERNEL_CFLAGS", "build_demo_dlr_artifact",
        "check_shared_library", "demo_dlr_build_info", "dlr_artifact_files", "dlr_graph_inputs",
        "read_tvm_param_names")},
    **{name: ".source" for name in (
        "USAGE", "ModelSource", "demo_source", "machine_architecture", "model_declaration",
        "model_preprocessing", "resolve_model", "unpack_archive")}), globals())

__all__ = [
    "DECLARATION_FILE",
    "DEMO_BUILD_INFO",
    "DEMO_KERNEL_CFLAGS",
    "IMAGENET",
    "USAGE",
    "Declaration",
    "ModelError",
    "ModelSource",
    "Preprocessing",
    "build_demo_dlr_artifact",
    "cache_dir",
    "check_shared_library",
    "demo_dlr_build_info",
    "demo_source",
    "dlr_artifact_files",
    "dlr_graph_inputs",
    "label_of",
    "machine_architecture",
    "model_declaration",
    "model_preprocessing",
    "read_declaration",
    "read_tvm_param_names",
    "resolve_model",
    "unpack_archive",
]
