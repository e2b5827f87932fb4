"""infer with the Neo-AI DLR runtime: a Neo/TVM graph-executor artifact (the Jetson side).

Privacy and air-gapped devices: DLR "phones home" (an HTTPS POST to an AWS endpoint) when
``dlr`` is imported and when a model is loaded, unless ``dlr/counter/ccm_config.json`` says
``{"enable_phone_home": false}``. That file is read at import, so it is written *before* the
import, after finding the package with importlib.util.find_spec (which does not import it).
If it cannot be written, this runner refuses to load rather than let DLR connect.
"""

import importlib.util
import json
import logging
import os
import sys
from typing import Any, Dict, Optional

import numpy as np

from .. import models, native
from .base import Unavailable, import_or_unavailable
from .runner import ModelRunner, model_input


def disable_dlr_phone_home() -> Dict[str, Any]:
    """Write DLR's opt-out file without importing dlr. Returns what was done, for provenance."""
    already_imported = "dlr" in sys.modules
    spec = importlib.util.find_spec("dlr")
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable("DLR is not installed (pip install dlr; dlr==1.6.0 is the last release "
                          "whose x86_64 wheel ships libdlr.so)")
    package_dir = next(iter(spec.submodule_search_locations))
    counter_dir = os.path.join(package_dir, "counter")
    if not os.path.isdir(counter_dir):  # a DLR build without the phone-home module
        return {"phone_home": "absent (no dlr/counter module)", "dlr_dir": package_dir}
    config_path = os.path.join(counter_dir, "ccm_config.json")
    config = {}  # type: Dict[str, Any]
    try:
        with open(config_path) as handle:
            config = json.load(handle)
    except (OSError, ValueError):
        config = {}  # missing or unreadable: start fresh
    if not isinstance(config, dict):
        config = {}
    if config.get("enable_phone_home") is not False:
        config["enable_phone_home"] = False
        try:
            with open(config_path, "w") as handle:
                json.dump(config, handle)
        except OSError as exc:
            raise Unavailable(
                "cannot turn off DLR's phone-home (it contacts AWS when dlr is imported): {} is "
                "not writable ({}). Create it once as its owner with the content "
                '{{"enable_phone_home": false}} and retry'.format(config_path, exc)) from exc
    info = {"phone_home": "disabled", "config": config_path, "dlr_dir": package_dir}
    if already_imported:
        info["warning"] = "dlr was imported before edgeparity could disable phone-home"
    return info


def _drop_info(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


class Impl(ModelRunner):
    name = "dlr"
    description = "Neo-AI DLR runtime (TVM graph executor) on a Neo/DLR artifact"

    def load(self, options: Dict[str, Any]) -> None:
        settings = self.resolve(options)
        self.artifact = self.source.require_dlr()
        self.files = models.dlr_artifact_files(self.artifact)
        for key in ("so", "libdlr"):
            if key in self.files:
                models.check_shared_library(self.files[key])

        self.privacy = disable_dlr_phone_home()
        watch = native.LibraryWatch()
        dlr = import_or_unavailable("dlr", "DLR (pip install dlr)")
        # DLR logs INFO lines ("Could not find libdlr.so in model artifact...") to the console
        # on every load, resetting its logger's level each time; a filter on the logger object
        # survives that. Warnings and errors still show.
        dlr_logger = logging.getLogger("dlr.neologger_logger")
        if _drop_info not in dlr_logger.filters:
            dlr_logger.addFilter(_drop_info)
        self.dlr = dlr
        failure = None
        with native.NativeStderr() as stderr:
            try:
                # A libdlr.so inside the artifact (Neo ships one for the device) is used by
                # DLR in preference to the package's own: use_default_dlr=False.
                self.model = dlr.DLRModel(self.artifact, dev_type=settings.device, dev_id=0,
                                          use_default_dlr=False)
            except Exception as exc:  # DLRError, DLRLibraryNotFound, ValueError...
                failure = exc
        if failure is not None:
            reason = str(failure).strip().splitlines()[0] if str(failure).strip() else ""
            reason = reason or stderr.reason() or type(failure).__name__
            hint = ""
            if settings.device == "gpu":
                hint = ("; a GPU run needs a libdlr.so built with CUDA (Neo ships one inside "
                        "artifacts compiled for a GPU target)")
            raise Unavailable("DLR {} cannot load {}: {}{}".format(
                getattr(dlr, "__version__", "?"), self.artifact, reason, hint)) from failure
        self.new_libraries = watch.new()

        inputs = [(name, None) for name in self.model.get_input_names()]
        if "json" in self.files and "params" in self.files:
            shapes = dict(models.dlr_graph_inputs(self.files["json"], self.files["params"]))
            inputs = [(name, shapes.get(name)) for name, _ in inputs]
        self.input_name, self.input_shape = settings.choose_input(inputs, self.source.label)

    def run(self, data: Any) -> np.ndarray:
        x = model_input(data, self.input_shape, self.settings.layout, self.input_name,
                        self.source.label)
        try:
            outputs = self.model.run({self.input_name: x})
        except Exception as exc:
            raise models.ModelError("DLR could not run {} on input {} {}: {}".format(
                self.artifact, self.input_name, x.shape,
                str(exc).strip().splitlines()[0] if str(exc) else type(exc).__name__)) from exc
        return np.asarray(outputs[0], dtype=np.float32)

    def _loaded_libdlr(self) -> Optional[str]:
        """The libdlr.so this model runs on, as mapped (the artifact's own one if it has one)."""
        mapped = [p for p in native.loaded_libraries() if os.path.basename(p).startswith("libdlr")]
        own = self.files.get("libdlr")
        if own and os.path.realpath(own) in [os.path.realpath(p) for p in mapped]:
            return own
        return mapped[0] if mapped else None

    def _library_build(self, library: Optional[str]) -> Dict[str, Any]:
        """Which libdlr.so ran and how it was made: its sha256, and the build record that the
        jetson images' source build (docker/common/libdlr.sh) leaves next to it."""
        if not library:
            return {}
        info = {"path": library}  # type: Dict[str, Any]
        try:
            info["sha256"] = native.sha256_file(library)
        except OSError as exc:
            info["sha256"] = None
            info["error"] = str(exc)
        record = os.path.join(os.path.dirname(library), "libdlr.build.json")
        if "libdlr" in self.files and os.path.realpath(library) == os.path.realpath(
                self.files["libdlr"]):
            info["how"] = "shipped inside the model artifact"
        elif os.path.isfile(record):
            try:
                with open(record) as handle:
                    info.update(json.load(handle))
            except (OSError, ValueError) as exc:
                info["how"] = "unknown ({} unreadable: {})".format(record, exc)
        else:
            info["how"] = ("not built by edgeparity: no libdlr.build.json beside it (e.g. a "
                           "PyPI dlr wheel's own)")
        return info

    def provenance(self) -> Dict[str, Any]:
        compiled = self.files.get("so")
        if self.source.demo:
            kernels = "plain C kernels of the edgeparity demo model ({})".format(compiled)
        else:
            kernels = "the artifact's compiled operators ({})".format(compiled)
        # DLR's TVM runtime brings no BLAS; a Neo artifact may link cuDNN/cuBLAS/TensorRT,
        # which then show up among the libraries mapped while DLR loaded it. (Libraries
        # mapped before, like numpy's OpenBLAS, are not DLR's and are left out.)
        loaded = native.math_libraries(self.new_libraries)
        extra = [entry["name"] for entry in loaded]
        if not extra:
            kernels += " (no BLAS or DNN library loaded)"
        files = [self.files[k] for k in ("so", "json", "params", "meta", "libdlr")
                 if k in self.files]
        library = self._loaded_libdlr()
        info = {
            "version": getattr(self.dlr, "__version__", None),
            "library": library,
            "library_build": self._library_build(library),
            "libdlr_from_artifact": "libdlr" in self.files,
            "backend": getattr(getattr(self.model, "_impl", None), "backend", None),
            "math_library": " + ".join([kernels] + extra),
            "math_libraries_loaded": loaded,
            "libraries_loaded": self.new_libraries,
            "model": self.source.provenance(files),
            "device": self.settings.device,
            "input": {"name": self.input_name, "shape": self.input_shape,
                      "layout": self.settings.layout},
            "privacy": self.privacy,
            "environment": native.relevant_environment(("TVM_", "OMP_", "DLR_", "CUDA_")),
        }
        if self.source.demo:
            info["demo_build"] = models.demo_dlr_build_info(self.artifact)
        return info
