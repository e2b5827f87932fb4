"""preprocess with Pillow + numpy: resize shorter side (bilinear), centre crop, normalize, NCHW."""

from typing import Any, Dict

import numpy as np

from . import spec
from .base import Implementation, import_or_unavailable
from .decode_pillow import pillow_provenance


def normalize_to_nchw(rgb: np.ndarray) -> np.ndarray:
    """uint8 H x W x 3 -> float32 1 x 3 x H x W with ImageNet mean/std, in float32 throughout."""
    scaled = rgb.astype(np.float32) / np.float32(255.0)
    normalized = (scaled - np.array(spec.MEAN, np.float32)) / np.array(spec.STD, np.float32)
    return np.ascontiguousarray(normalized.transpose(2, 0, 1)[np.newaxis], dtype=np.float32)


class Impl(Implementation):
    stage = "preprocess"
    name = "pillow"
    description = "Pillow resize(BILINEAR) shorter side 256, centre crop 224, numpy normalize, NCHW"

    def load(self, options: Dict[str, Any]) -> None:
        self.image_module = import_or_unavailable("PIL.Image", "Pillow")

    def run(self, rgb: np.ndarray) -> np.ndarray:
        image = self.image_module.fromarray(rgb, "RGB")
        image = image.resize(spec.resized_size(*image.size), self.image_module.BILINEAR)
        image = image.crop(spec.crop_box(*image.size))
        return normalize_to_nchw(np.asarray(image))

    def provenance(self) -> Dict[str, Any]:
        info = pillow_provenance()
        info.pop("jpeg_library", None)  # resizing does not touch the JPEG codec
        return info
