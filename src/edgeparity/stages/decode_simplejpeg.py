"""decode with simplejpeg: a thin wrapper of libjpeg-turbo's TurboJPEG API (statically linked)."""

from typing import Any, Dict

import numpy as np

from .. import native
from .base import Implementation, import_or_unavailable


class Impl(Implementation):
    stage = "decode"
    name = "simplejpeg"
    description = "simplejpeg.decode_jpeg(colorspace='RGB')"

    def load(self, options: Dict[str, Any]) -> None:
        self.simplejpeg = import_or_unavailable("simplejpeg")

    def run(self, data: bytes) -> np.ndarray:
        return np.ascontiguousarray(self.simplejpeg.decode_jpeg(data, colorspace="RGB"))

    def provenance(self) -> Dict[str, Any]:
        info = {"version": getattr(self.simplejpeg, "__version__", None)}  # type: Dict[str, Any]
        binaries = [p for p in native.mapped_files() if "/simplejpeg/" in p and ".so" in p]
        if binaries:
            info["jpeg_library"] = native.jpeg_library_of(binaries[0])
        return info
