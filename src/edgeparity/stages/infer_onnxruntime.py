"""infer with ONNX Runtime: the model's .onnx form, one intra-op thread.

Why one thread: ONNX Runtime sizes its intra-op pool from the machine's core count, and MLAS
splits convolutions and GEMMs across that pool. Splits that cut a reduction change the order of
float additions, so the same build could give different bits on a 2-core VM and a 6-core Jetson.
With one thread the output depends on the ONNX Runtime build and the CPU's instruction set only,
which is what edgeparity compares. (Measured on the demo model, x86_64, ORT 1.19.2: 1-4 threads
gave identical bits, so the pin costs nothing there; it is a guarantee, not a fix.) Speed does
not matter for a handful of images.
"""

import os
from typing import Any, Dict

import numpy as np

from .. import models, native
from .base import Unavailable, import_or_unavailable
from .runner import ModelRunner, model_input


class Impl(ModelRunner):
    name = "onnxruntime"
    description = "ONNX Runtime InferenceSession, CPU (or CUDA) provider, 1 intra-op thread"

    def load(self, options: Dict[str, Any]) -> None:
        settings = self.resolve(options)
        self.path = self.source.require_onnx()
        watch = native.LibraryWatch()
        ort = import_or_unavailable("onnxruntime", "ONNX Runtime (pip install onnxruntime)")
        self.ort = ort
        wanted = "CUDAExecutionProvider" if settings.device == "gpu" else "CPUExecutionProvider"
        if wanted not in ort.get_available_providers():
            raise Unavailable("this ONNX Runtime has no {} (it has: {})".format(
                wanted, ", ".join(ort.get_available_providers())))
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = 1
        session_options.inter_op_num_threads = 1
        session_options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self.session = ort.InferenceSession(self.path, session_options, providers=[wanted])
        except Exception as exc:  # ORT raises its own pybind11 exception types
            raise models.ModelError("ONNX Runtime cannot load {}: {}".format(
                self.path, str(exc).strip().splitlines()[0] if str(exc) else type(exc).__name__)
            ) from exc
        inputs = [(i.name, [d if isinstance(d, int) else None for d in i.shape])
                  for i in self.session.get_inputs()]
        self.input_name, self.input_shape = settings.choose_input(inputs, self.source.label)
        self.output_name = self.session.get_outputs()[0].name
        self.new_libraries = watch.new()

    def run(self, data: Any) -> np.ndarray:
        x = model_input(data, self.input_shape, self.settings.layout, self.input_name,
                        self.source.label)
        try:
            out = self.session.run([self.output_name], {self.input_name: x})[0]
        except Exception as exc:
            raise models.ModelError("ONNX Runtime could not run {} on input {} {}: {}".format(
                self.path, self.input_name, x.shape, str(exc).strip().splitlines()[0])) from exc
        return np.asarray(out, dtype=np.float32)

    def provenance(self) -> Dict[str, Any]:
        ort = self.ort
        package_dir = os.path.dirname(ort.__file__)
        owned = native.owned_libraries(package_dir)
        loaded = native.math_libraries(owned)
        providers = self.session.get_providers()
        if providers and providers[0] == "CPUExecutionProvider":
            names = ["MLAS (ONNX Runtime's built-in CPU kernels)"]
        else:
            names = [providers[0] if providers else "unknown provider"]
        names += [entry["name"] for entry in loaded]
        build_info = getattr(ort, "get_build_info", None)
        options = self.session.get_session_options()
        return {
            "version": ort.__version__,
            # The Python wheel's runtime is its pybind11 module; other builds use libonnxruntime.
            "library": next((p for p in owned if "pybind11_state" in p), None)
            or next((p for p in owned if "libonnxruntime.so" in p), None),
            "build_info": build_info() if build_info else None,
            "providers": providers,
            "math_library": " + ".join(names),
            "math_libraries_loaded": loaded,
            "threads": {"intra_op": options.intra_op_num_threads,
                        "inter_op": options.inter_op_num_threads},
            "graph_optimization_level": str(options.graph_optimization_level),
            "model": self.source.provenance([self.path]),
            "device": self.settings.device,
            "input": {"name": self.input_name, "shape": self.input_shape,
                      "layout": self.settings.layout},
            "environment": native.relevant_environment(("ORT_", "OMP_", "CUDA_")),
        }
