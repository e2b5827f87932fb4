"""decode with Pillow, then apply the EXIF orientation (ImageOps.exif_transpose).

Phones store portrait photos sideways plus an orientation tag. Code that honours the tag and
code that does not see different images; this variant makes that visible.
"""

from typing import Any, Dict

from . import decode_pillow
from .base import Unavailable, import_or_unavailable


class Impl(decode_pillow.Impl):
    name = "pillow-exif"
    description = "Pillow Image.open -> ImageOps.exif_transpose -> convert('RGB')"

    def load(self, options: Dict[str, Any]) -> None:
        super().load(options)
        self.image_ops = import_or_unavailable("PIL.ImageOps", "Pillow")
        if not hasattr(self.image_ops, "exif_transpose"):
            raise Unavailable("this Pillow has no ImageOps.exif_transpose (needs Pillow >= 6.0)")

    def prepare(self, image: Any) -> Any:
        return self.image_ops.exif_transpose(image)
