"""infer with Apache TVM: compile the model's ONNX form for this CPU (llvm) and run it.

apache-tvm on PyPI is 0.25+ only (Relax IR, Python >= 3.10), so this runner compiles with
the Relax ONNX frontend and runs on the Relax virtual machine. It cannot produce a module
DLR loads (different runtime ABI); it is an independent compiler's answer for the same model.
"""

import os
from typing import Any, Dict

import numpy as np

from .. import models, native
from .base import Unavailable, import_or_unavailable
from .runner import ModelRunner, model_input


class Impl(ModelRunner):
    name = "tvm"
    description = "Apache TVM (Relax) compiling the ONNX model for llvm"

    def load(self, options: Dict[str, Any]) -> None:
        settings = self.resolve(options)
        self.path = self.source.require_onnx()
        watch = native.LibraryWatch()
        tvm = import_or_unavailable("tvm", "Apache TVM (pip install apache-tvm; Python >= 3.10)")
        onnx = import_or_unavailable("onnx", "the onnx package (TVM's ONNX frontend needs it)")
        try:
            from tvm import relax
            from tvm.relax.frontend.onnx import from_onnx
        except ImportError as exc:
            raise Unavailable("TVM {} has no Relax ONNX frontend ({}); edgeparity needs "
                              "apache-tvm >= 0.25".format(tvm.__version__, exc)) from exc
        self.tvm = tvm

        if settings.device == "gpu":
            self.target, self.device = "cuda", tvm.cuda(0)
            if not self.device.exist:
                raise Unavailable("device gpu asked, but TVM sees no CUDA device")
        else:
            self.target, self.device = "llvm", tvm.cpu(0)

        model = onnx.load(self.path)
        weights = {init.name for init in model.graph.initializer}
        inputs = [(i.name, [d.dim_value if d.HasField("dim_value") else None
                            for d in i.type.tensor_type.shape.dim])
                  for i in model.graph.input if i.name not in weights]
        self.input_name, self.input_shape = settings.choose_input(inputs, self.source.label)
        if self.input_shape is None or any(not d or d < 0 for d in self.input_shape):
            raise models.ModelError(
                "{} input {!r} has no fixed shape ({}); TVM compiles for one shape: pass it with "
                "--input-shape".format(self.path, self.input_name, self.input_shape))
        try:
            module = from_onnx(model, shape_dict={self.input_name: list(self.input_shape)},
                               dtype_dict={self.input_name: "float32"})
            executable = relax.build(module, target=tvm.target.Target(self.target))
        except Exception as exc:  # TVM raises its own error types for unsupported operators
            raise Unavailable("TVM {} cannot compile {}: {}".format(
                tvm.__version__, self.path, str(exc).strip().splitlines()[-1])) from exc
        self.vm = relax.VirtualMachine(executable, self.device)
        self.new_libraries = watch.new()

    def run(self, data: Any) -> np.ndarray:
        x = model_input(data, self.input_shape, self.settings.layout, self.input_name,
                        self.source.label)
        tvm = self.tvm
        # tvm.runtime.tensor is the 0.2x name; tvm.nd.array the older one.
        make_tensor = getattr(tvm.runtime, "tensor", None) or tvm.nd.array
        out = self.vm["main"](make_tensor(x, self.device))
        if not hasattr(out, "numpy"):  # a tuple of outputs
            out = out[0]
        return np.asarray(out.numpy(), dtype=np.float32)

    def provenance(self) -> Dict[str, Any]:
        tvm = self.tvm
        llvm_major = getattr(getattr(tvm.target, "codegen", None), "llvm_version_major", None)
        package_dir = os.path.dirname(tvm.__file__)
        loaded = native.math_libraries(native.owned_libraries(package_dir) + self.new_libraries)
        names = ["TVM-generated {} code".format(self.target)] + [e["name"] for e in loaded]
        if not loaded:
            names[0] += " (no BLAS or DNN library loaded)"
        return {
            "version": tvm.__version__,
            "library": next((p for p in native.loaded_libraries()
                             if os.path.basename(p) == "libtvm_runtime.so"), None),
            "target": str(tvm.target.Target(self.target)),
            "llvm_version_major": llvm_major() if llvm_major else None,
            "math_library": " + ".join(names),
            "math_libraries_loaded": loaded,
            "model": self.source.provenance([self.path]),
            "device": self.settings.device,
            "input": {"name": self.input_name, "shape": self.input_shape,
                      "layout": self.settings.layout},
            "environment": native.relevant_environment(("TVM_", "OMP_")),
        }
