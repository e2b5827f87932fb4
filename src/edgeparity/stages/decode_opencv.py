"""decode with OpenCV: cv2.imdecode, converted from BGR to RGB, EXIF orientation ignored.

Orientation is ignored so this decoder is comparable with plain Pillow; OpenCV applies the
EXIF tag by default, which alone can make two services disagree.
"""

from typing import Any, Dict

import numpy as np

from .. import native
from .base import Implementation, import_or_unavailable


class Impl(Implementation):
    stage = "decode"
    name = "opencv"
    description = "OpenCV cv2.imdecode(IMREAD_COLOR | IMREAD_IGNORE_ORIENTATION), BGR -> RGB"

    def load(self, options: Dict[str, Any]) -> None:
        self.cv2 = import_or_unavailable("cv2", "OpenCV (opencv-python-headless)")

    def run(self, data: bytes) -> np.ndarray:
        flags = self.cv2.IMREAD_COLOR | getattr(self.cv2, "IMREAD_IGNORE_ORIENTATION", 0)
        bgr = self.cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
        if bgr is None:
            raise ValueError("cv2.imdecode could not decode this file")
        return np.ascontiguousarray(bgr[:, :, ::-1])

    def provenance(self) -> Dict[str, Any]:
        info = {"version": self.cv2.__version__}  # type: Dict[str, Any]
        build = self.cv2.getBuildInformation()
        lines = [line.strip() for line in build.splitlines() if line.strip().startswith("JPEG")]
        info["build_info_jpeg"] = lines[0] if lines else None
        binaries = [p for p in native.mapped_files() if "/cv2/" in p and ".so" in p]
        if binaries:
            info["jpeg_library"] = native.jpeg_library_of(binaries[0])
        return info
