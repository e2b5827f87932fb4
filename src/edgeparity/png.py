"""PNG files from numpy arrays, written with zlib and struct only (no imaging library).

The host side draws report images and ``edgeparity export`` writes decoded images with it, so
neither needs Pillow. Lossless 8-bit: what is written is exactly the array's bytes.
"""

import struct
import zlib

import numpy as np

# PNG colour types by channel count: grey, grey + alpha, RGB, RGBA.
_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}


def can_encode(array: np.ndarray) -> bool:
    """Whether ``array`` is an 8-bit image PNG can hold as is (H x W, or H x W x 1..4)."""
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or 0 in array.shape:
        return False
    return array.ndim == 2 or array.shape[2] in _COLOUR_TYPES


def encode_png(pixels: np.ndarray, level: int = 6) -> bytes:
    """The PNG of an 8-bit H x W (grey) or H x W x C image, C in 1..4; ValueError otherwise."""
    if not can_encode(pixels):
        raise ValueError("a PNG holds 8-bit H x W x 1..4 images, not {} {}".format(
            pixels.dtype, tuple(pixels.shape)))
    image = pixels if pixels.ndim == 3 else pixels[:, :, None]
    height, width, channels = image.shape
    rows = np.ascontiguousarray(image).reshape(height, width * channels)
    # Filter "Sub" on every row (each byte minus the same channel of the pixel to its left,
    # modulo 256): a fifth smaller than no filter on photos, and runs of equal pixels (the
    # black of a difference map) become zeros.
    filtered = rows.copy()
    filtered[:, channels:] -= rows[:, :-channels]
    raw = np.concatenate([np.ones((height, 1), np.uint8), filtered], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPES[channels], 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, level)) + chunk(b"IEND", b""))
