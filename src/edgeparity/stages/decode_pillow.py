"""decode with Pillow: Image.open -> convert("RGB"), as most Python serving code does."""

import io
import os
from typing import Any, Dict

import numpy as np

from .. import native
from .base import Implementation, import_or_unavailable


def pillow_provenance() -> Dict[str, Any]:
    """Pillow's version, the JPEG API it was compiled for, and the libjpeg it actually loaded."""
    import PIL
    from PIL import features

    imaging = __import__("PIL._imaging", fromlist=["_imaging"])
    info = {
        "version": getattr(PIL, "__version__", None),
        "module": os.path.dirname(PIL.__file__),
        # Compile-time JPEG_LIB_VERSION: "6.2" for libjpeg-turbo's default API, "9.0" for IJG 9.
        "jpeg_compiled_version": _safe(lambda: features.version("jpg")),
        "libjpeg_turbo_feature": _safe(lambda: features.check_feature("libjpeg_turbo")),
    }  # type: Dict[str, Any]
    binary = native.module_binary(imaging)
    if binary:
        info["jpeg_library"] = native.jpeg_library_of(binary)
    return info


def _safe(call: Any) -> Any:
    # features.version/check_feature exist from Pillow 8.0 / 7.x on; older builds lack them.
    try:
        return call()
    except Exception:
        return None


class Impl(Implementation):
    stage = "decode"
    name = "pillow"
    description = "Pillow Image.open(...).convert('RGB')"

    def load(self, options: Dict[str, Any]) -> None:
        self.image_module = import_or_unavailable("PIL.Image", "Pillow")

    def run(self, data: bytes) -> np.ndarray:
        with self.image_module.open(io.BytesIO(data)) as image:
            return np.ascontiguousarray(np.asarray(self.prepare(image).convert("RGB")))

    def prepare(self, image: Any) -> Any:
        """Hook for variants (EXIF transpose) that change the image before conversion."""
        return image

    def provenance(self) -> Dict[str, Any]:
        return pillow_provenance()
