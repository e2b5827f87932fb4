"""preprocess with MXNet's image ops: resize_short (bilinear), center_crop, color_normalize, NCHW.

MXNet resizes with OpenCV, Pillow with its own filter: the two are expected to differ from each
other; what matters is that the same implementation agrees across environments.
"""

from typing import Any, Dict

import numpy as np

from . import spec
from .base import Implementation, import_or_unavailable
from .decode_mxnet import mxnet_provenance


class Impl(Implementation):
    stage = "preprocess"
    name = "mxnet"
    description = "MXNet image.resize_short(interp=1) + center_crop + color_normalize, NCHW"

    def load(self, options: Dict[str, Any]) -> None:
        self.mx = import_or_unavailable("mxnet", "MXNet")

    def run(self, rgb: np.ndarray) -> np.ndarray:
        mx = self.mx
        image = mx.nd.array(rgb, dtype=np.uint8)
        width, height = spec.resized_size(rgb.shape[1], rgb.shape[0])
        image = mx.image.imresize(image, width, height, interp=1)  # 1 = bilinear
        image, _ = mx.image.center_crop(image, (spec.CROP, spec.CROP))
        image = image.astype(np.float32) / 255.0
        image = mx.image.color_normalize(
            image, mean=mx.nd.array(spec.MEAN), std=mx.nd.array(spec.STD)
        )
        return np.ascontiguousarray(
            image.transpose((2, 0, 1)).expand_dims(0).asnumpy(), dtype=np.float32
        )

    def provenance(self) -> Dict[str, Any]:
        info = mxnet_provenance(self.mx)
        info.pop("jpeg_library", None)
        return info
