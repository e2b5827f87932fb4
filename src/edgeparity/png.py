"""PNG files from numpy arrays, written with zlib and struct only (no imaging library).

The host side draws report images and ``edgeparity export`` writes decoded images with it, so
neither needs Pillow. Lossless 8-bit: what is written is exactly the array's bytes.
"""

import struct
import zlib
from typing import Optional

import numpy as np

# PNG colour types by channel count: grey, grey + alpha, RGB, RGBA.
_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}


def can_encode(array: np.ndarray) -> bool:
    """Whether ``array`` is an 8-bit image PNG can hold as is (H x W, or H x W x 1..4)."""
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or 0 in array.shape:
        return False
    return array.ndim == 2 or array.shape[2] in _COLOUR_TYPES


def encode_png(pixels: np.ndarray, level: int = 6,
               palette: Optional[np.ndarray] = None) -> bytes:
    """The PNG of an 8-bit H x W (grey) or H x W x C image, C in 1..4; ValueError otherwise.

    With ``palette`` (N x 3 uint8, N <= 256), ``pixels`` (H x W) are indices into it: an
    indexed-colour PNG, a third of the bytes of the RGB image to compress.
    """
    if palette is not None:
        palette = np.asarray(palette, np.uint8)
        if pixels.dtype != np.uint8 or pixels.ndim != 2 or 0 in pixels.shape or not (
                palette.ndim == 2 and palette.shape[1] == 3 and 0 < len(palette) <= 256):
            raise ValueError("an indexed PNG holds uint8 H x W indices into N x 3 colours")
        if int(pixels.max()) >= len(palette):
            raise ValueError("an index is past the palette's {} colours".format(len(palette)))
    elif not can_encode(pixels):
        raise ValueError("a PNG holds 8-bit H x W x 1..4 images, not {} {}".format(
            pixels.dtype, tuple(pixels.shape)))
    image = pixels if pixels.ndim == 3 else pixels[:, :, None]
    height, width, channels = image.shape
    rows = np.ascontiguousarray(image).reshape(height, width * channels)
    if palette is None:
        # Filter "Sub" on every row (each byte minus the same channel of the pixel to its
        # left, modulo 256): a fifth smaller than no filter on photos, and runs of equal
        # pixels (the black of a difference map) become zeros.
        filtered = rows.copy()
        filtered[:, channels:] -= rows[:, :-channels]
        kind = 1
    else:
        filtered, kind = rows, 0  # indices are no intensities: no filter, as PNG advises
    raw = np.concatenate([np.full((height, 1), kind, np.uint8), filtered], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    colour_type = _COLOUR_TYPES[channels] if palette is None else 3
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    colours = chunk(b"PLTE", palette.tobytes()) if palette is not None else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + colours
            + chunk(b"IDAT", zlib.compress(raw, level)) + chunk(b"IEND", b""))
