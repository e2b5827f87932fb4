"""infer with Apache MXNet: symbol JSON + params through a Gluon SymbolBlock (the cloud side)."""

import os
import warnings
from typing import Any, Dict

import numpy as np

from .. import models, native
from .base import Unavailable, import_or_unavailable
from .runner import ModelRunner, model_input

# MXNet's own name for each math back end in mxnet.runtime.Features.
FEATURE_LIBRARIES = (
    ("MKLDNN", "oneDNN (MKL-DNN), linked into libmxnet"),
    ("BLAS_MKL", "Intel MKL"),
    ("BLAS_OPEN", "OpenBLAS"),
    ("BLAS_ATLAS", "ATLAS"),
    ("BLAS_APPLE", "Apple Accelerate"),
    ("CUDNN", "cuDNN"),
    ("CUDA", "cuBLAS (CUDA)"),
)


class Impl(ModelRunner):
    name = "mxnet"
    description = "MXNet symbol + params, Gluon SymbolBlock"

    def load(self, options: Dict[str, Any]) -> None:
        settings = self.resolve(options)
        self.files = self.source.require_mxnet()
        watch = native.LibraryWatch()
        with warnings.catch_warnings():
            # MXNet 1.9 touches numpy aliases that numpy >= 1.20 deprecates; harmless noise.
            warnings.simplefilter("ignore", DeprecationWarning)
            mx = import_or_unavailable("mxnet", "MXNet (pip install mxnet)")
        self.mx = mx
        if settings.device == "gpu":
            if mx.context.num_gpus() == 0:
                raise Unavailable("device gpu asked, but this MXNet sees no GPU (CPU-only build "
                                  "or no CUDA device)")
            self.ctx = mx.gpu(0)
        else:
            self.ctx = mx.cpu()

        symbol_file, params_file = self.files
        try:
            symbol = mx.sym.load(symbol_file)
            saved = mx.nd.load(params_file)
        except mx.base.MXNetError as exc:
            raise models.ModelError("MXNet cannot read {} / {}: {}; re-export the model".format(
                symbol_file, params_file, str(exc).strip().splitlines()[0])) from exc
        weights = {key.split(":", 1)[-1] for key in saved}
        inputs = [(n, None) for n in symbol.list_inputs() if n not in weights]
        self.input_name, self.input_shape = settings.choose_input(inputs, self.source.label)
        with warnings.catch_warnings():
            # SymbolBlock warns that it cannot infer the input's dtype before the first call.
            warnings.simplefilter("ignore")
            self.block = mx.gluon.SymbolBlock.imports(
                symbol_file, [self.input_name], params_file, ctx=self.ctx)
        self.new_libraries = watch.new()

    def run(self, data: Any) -> np.ndarray:
        x = model_input(data, self.input_shape, self.settings.layout, self.input_name,
                        self.source.label)
        try:
            out = self.block(self.mx.nd.array(x, ctx=self.ctx, dtype=np.float32))
            if isinstance(out, (list, tuple)):
                out = out[0]
            return out.asnumpy().astype(np.float32, copy=False)
        except self.mx.base.MXNetError as exc:
            raise models.ModelError("MXNet could not run model {} on input {} {}: {}".format(
                self.source.label, self.input_name, x.shape,
                str(exc).strip().splitlines()[0])) from exc

    def provenance(self) -> Dict[str, Any]:
        mx = self.mx
        enabled = [f.name for f in mx.runtime.Features().values() if f.enabled]
        package_dir = os.path.dirname(mx.__file__)
        loaded = native.math_libraries(native.owned_libraries(package_dir))
        names = [label for feature, label in FEATURE_LIBRARIES if feature in enabled]
        for entry in loaded:  # e.g. Arm Performance Libraries on aarch64 builds
            if not any(entry["name"] in name for name in names):
                names.append(entry["name"])
        return {
            "version": mx.__version__,
            "library": next(iter(mx.libinfo.find_lib_path()), None),
            "features": enabled,
            "math_library": " + ".join(names) or "none reported",
            "math_libraries_loaded": loaded,
            "model": self.source.provenance(self.files),
            "device": self.settings.device,
            "input": {"name": self.input_name, "shape": self.input_shape,
                      "layout": self.settings.layout},
            "environment": native.relevant_environment(
                ("MXNET_", "OMP_", "KMP_", "DNNL_", "MKLDNN_", "OPENBLAS_")),
        }
