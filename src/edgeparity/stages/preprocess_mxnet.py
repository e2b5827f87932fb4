"""preprocess with MXNet's image ops: resize_short (bilinear), center_crop, color_normalize, NCHW.

MXNet resizes with OpenCV, Pillow with its own filter: the two are expected to differ from each
other; what matters is that the same implementation agrees across environments.
"""

from typing import Any, Dict

import numpy as np

from ..models import model_preprocessing
from .base import Implementation, import_or_unavailable
from .decode_mxnet import mxnet_provenance


class Impl(Implementation):
    stage = "preprocess"
    name = "mxnet"
    description = ("MXNet image.imresize(interp=1) of the shorter side + center_crop + "
                   "color_normalize, NCHW (sizes and normalization: the model's)")

    def load(self, options: Dict[str, Any]) -> None:
        self.mx = import_or_unavailable("mxnet", "MXNet (pip install mxnet)")
        self.preprocessing = model_preprocessing(options.get("model"))

    def run(self, rgb: np.ndarray) -> np.ndarray:
        mx = self.mx
        steps = self.preprocessing
        image = mx.nd.array(rgb, dtype=np.uint8)
        width, height = steps.resized_size(rgb.shape[1], rgb.shape[0])
        image = mx.image.imresize(image, width, height, interp=1)  # 1 = bilinear
        image, _ = mx.image.center_crop(image, (steps.crop, steps.crop))
        image = image.astype(np.float32) / steps.divide_by
        image = mx.image.color_normalize(
            image, mean=mx.nd.array(steps.mean), std=mx.nd.array(steps.std)
        )
        return np.ascontiguousarray(
            image.transpose((2, 0, 1)).expand_dims(0).asnumpy(), dtype=np.float32
        )

    def provenance(self) -> Dict[str, Any]:
        info = mxnet_provenance(self.mx)
        info.pop("jpeg_library", None)
        info["preprocess"] = self.preprocessing.describe()
        return info
