#!/usr/bin/env python3
"""Regenerate the canonical inputs used for isolated stage runs (src/edgeparity/canonical/).

decoded-<name>.npy       uint8 240 x 320 x 3 RGB: the centre 320x240 of the corpus file <name>.jpg,
                         decoded once with Pillow 10.4.0 (bundled libjpeg-turbo 3.0.3),
                         Image.open(...).convert("RGB"). The bytes are the point, not the decoder.
preprocessed-<name>.npy  float32 1 x 3 x 224 x 224: the case's preprocessing applied to the
                         decoded array above (see preprocess() below for the exact steps).

Usage:
  python tools/make_canonical.py          # recompute, compare with the committed files
                                          # (exit 1 if any differ)
  python tools/make_canonical.py --write  # (re)write the committed files

Needs numpy and Pillow (10.4.0 made the committed files). The comparison mode is also a cheap
way to see whether *this* environment's Pillow decode or resize differs from the canonical bytes.
"""

import argparse
import hashlib
import io
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS_DIR = os.path.join(ROOT, "sample-images")
# Package data: the wheel and the zipapp carry them, so capture finds them without a checkout.
HERE = os.path.join(ROOT, "src", "edgeparity", "canonical")

# The canonical images: a 4:2:0 photo (the subsampling where IJG 9 and libjpeg-turbo disagree
# most), the same photo at 4:4:4 (where they nearly agree), and a real camera file.
CANONICAL = ("photo-420", "photo-444", "camera-canon-s40")

CROP_WIDTH, CROP_HEIGHT = 320, 240  # keeps each decoded array at 230 KB

SHORTER_SIDE = 256
CROP = 224
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def decode_centre(jpeg_path: str) -> np.ndarray:
    from PIL import Image

    with open(jpeg_path, "rb") as handle:
        image = Image.open(io.BytesIO(handle.read())).convert("RGB")
    width, height = image.size
    left = (width - CROP_WIDTH) // 2
    top = (height - CROP_HEIGHT) // 2
    cropped = np.asarray(image, dtype=np.uint8)[top : top + CROP_HEIGHT, left : left + CROP_WIDTH]
    return np.ascontiguousarray(cropped)


def preprocess(decoded: np.ndarray) -> np.ndarray:
    """The case's preprocessing, step by step, on a uint8 H x W x 3 RGB array.

    1. Resize so the shorter side is 256 with Pillow bilinear on the uint8 image; the longer side
       is int(256 * longer / shorter) (truncated, as torchvision's Resize(256) does): 320x240 ->
       341x256.
    2. Centre crop 224x224: left = (w - 224) // 2, top = (h - 224) // 2.
    3. float32, / 255, minus ImageNet mean, divided by ImageNet std (all in float32).
    4. HWC -> CHW, add a batch dimension: 1 x 3 x 224 x 224.
    """
    from PIL import Image

    image = Image.fromarray(decoded, "RGB")
    width, height = image.size
    if width <= height:
        new_size = (SHORTER_SIDE, int(SHORTER_SIDE * height / width))
    else:
        new_size = (int(SHORTER_SIDE * width / height), SHORTER_SIDE)
    image = image.resize(new_size, Image.BILINEAR)
    left = (new_size[0] - CROP) // 2
    top = (new_size[1] - CROP) // 2
    image = image.crop((left, top, left + CROP, top + CROP))
    pixels = np.asarray(image, dtype=np.float32) / np.float32(255.0)
    normalised = (pixels - MEAN) / STD
    return np.ascontiguousarray(normalised.transpose(2, 0, 1)[np.newaxis], dtype=np.float32)


def npy_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="(re)write the committed files")
    options = parser.parse_args()

    import PIL

    print("numpy {}, Pillow {}".format(np.__version__, PIL.__version__))
    differing = []
    for name in CANONICAL:
        decoded = decode_centre(os.path.join(CORPUS_DIR, name + ".jpg"))
        outputs = (
            ("decoded-{}.npy".format(name), decoded),
            # Always preprocess the *committed* decoded bytes when they exist, so that a
            # different decoder here cannot leak into the preprocessed canonical input.
            ("preprocessed-{}.npy".format(name), None),
        )
        for filename, array in outputs:
            path = os.path.join(HERE, filename)
            if array is None:
                decoded_path = os.path.join(HERE, "decoded-{}.npy".format(name))
                source = decoded if options.write else np.load(decoded_path, allow_pickle=False)
                array = preprocess(source)
            data = npy_bytes(array)
            committed = None
            if os.path.exists(path):
                with open(path, "rb") as handle:
                    committed = handle.read()
            if options.write:
                with open(path, "wb") as handle:
                    handle.write(data)
            elif committed != data:
                differing.append(filename)
            print(
                "{:36s} {} {:9s} sha256 {}  {}".format(
                    filename,
                    array.dtype,
                    "x".join(str(n) for n in array.shape),
                    hashlib.sha256(data).hexdigest(),
                    "identical" if committed == data else "DIFFERS/new",
                )
            )
    if differing:
        print("differ from the committed files: " + ", ".join(differing))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
