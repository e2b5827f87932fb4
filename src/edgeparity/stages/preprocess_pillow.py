"""preprocess with Pillow + numpy: resize shorter side (bilinear), centre crop, normalize, NCHW.

Sizes and normalization are the model's declared preprocessing (models/declaration.py).
"""

from typing import Any, Dict

import numpy as np

from ..models import model_preprocessing
from .base import Implementation, import_or_unavailable
from .decode_pillow import pillow_provenance


class Impl(Implementation):
    stage = "preprocess"
    name = "pillow"
    description = ("Pillow resize(BILINEAR) of the shorter side, centre crop, numpy normalize, "
                   "NCHW (sizes and normalization: the model's)")

    def load(self, options: Dict[str, Any]) -> None:
        self.image_module = import_or_unavailable("PIL.Image", "Pillow")
        self.preprocessing = model_preprocessing(options.get("model"))

    def run(self, rgb: np.ndarray) -> np.ndarray:
        steps = self.preprocessing
        image = self.image_module.fromarray(rgb, "RGB")
        image = image.resize(steps.resized_size(*image.size), self.image_module.BILINEAR)
        image = image.crop(steps.crop_box(*image.size))
        return steps.normalize(np.asarray(image))

    def provenance(self) -> Dict[str, Any]:
        info = pillow_provenance()
        info.pop("jpeg_library", None)  # resizing does not touch the JPEG codec
        info["preprocess"] = self.preprocessing.describe()
        return info
