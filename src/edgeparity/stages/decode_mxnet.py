"""decode with MXNet: mx.image.imdecode (OpenCV + libjpeg-turbo linked into libmxnet.so).

The fix in the case: decoding with MXNet in the cloud matched Pillow-on-libjpeg-turbo on the Jetson.
"""

from typing import Any, Dict

import numpy as np

from .. import native
from .base import Implementation, import_or_unavailable


def mxnet_provenance(mx: Any) -> Dict[str, Any]:
    info = {"version": getattr(mx, "__version__", None)}  # type: Dict[str, Any]
    try:
        features = mx.runtime.Features()
        info["features"] = sorted(name for name in features if features.is_enabled(name))
    except Exception:
        pass
    libraries = [path for path in native.mapped_files() if path.endswith("/libmxnet.so")]
    if libraries:
        # MXNet's pip wheels link OpenCV and libjpeg-turbo statically into libmxnet.so.
        info["jpeg_library"] = native.jpeg_library_of(libraries[0])
    return info


class Impl(Implementation):
    stage = "decode"
    name = "mxnet"
    description = "MXNet mx.image.imdecode (to RGB)"

    def load(self, options: Dict[str, Any]) -> None:
        self.mx = import_or_unavailable("mxnet", "MXNet (pip install mxnet)")

    def run(self, data: bytes) -> np.ndarray:
        decoded = self.mx.image.imdecode(bytearray(data), flag=1, to_rgb=1)
        return np.ascontiguousarray(decoded.asnumpy(), dtype=np.uint8)

    def provenance(self) -> Dict[str, Any]:
        return mxnet_provenance(self.mx)
