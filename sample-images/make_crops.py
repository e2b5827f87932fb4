#!/usr/bin/env python3
"""Regenerate sample-images/crops/: re-encoded crops of the corpus's two lossless CC0 photos.

Why: on the 14 sample photos the decoder difference (IJG libjpeg 9d vs libjpeg-turbo) changes
the real model's top-1 class on none. A classifier flips where its top two classes are close,
which is rare, so seeing the cost takes more images: crops at several sizes and places, each
JPEG-encoded at a different quality and chroma subsampling (what a camera or a web pipeline
produces), give the matrix that many more chances.

Every crop is cut from a lossless source (coffee.png, chelsea.png: make_corpus.py's sources,
pinned by sha256) by a fixed grid, with no random numbers, and encoded with cjpeg; so the recipe
is exact and the committed files are checked byte for byte like the rest of the corpus.

Needs what make_corpus.py needs for these two sources: Debian bookworm's libjpeg-turbo-progs
(cjpeg 2.1.5), Pillow (only to read the PNGs, losslessly) and pip to fetch the scikit-image
wheel once.

Usage:
  python make_crops.py --sources /tmp/corpus-sources          # rebuild in memory, compare
  python make_crops.py --sources /tmp/corpus-sources --write  # overwrite sample-images/crops/

Exit status: 0 when every rebuilt file equals the committed one (or was written), 1 when some
differ or are missing, 2 when a tool or source is missing.
"""

import argparse
import io
import os
import subprocess
import sys

import make_corpus

HERE = os.path.dirname(os.path.abspath(__file__))
CROPS_DIR = os.path.join(HERE, "crops")

SIDES = (160, 224, 288)  # square crop sizes, in source pixels
# Where the crops sit: fractions of the free room left and above (a 3 x 3 grid).
PLACES = ((0.0, 0.0), (0.5, 0.0), (1.0, 0.0), (0.0, 0.5), (0.5, 0.5), (1.0, 0.5),
          (0.0, 1.0), (0.5, 1.0), (1.0, 1.0))
SAMPLING = (("420", "2x2"), ("422", "2x1"), ("444", "1x1"))
QUALITIES = (50, 60, 70, 75, 80, 85, 90, 95)


def recipes():
    """(file name, source, crop box, cjpeg options) for every crop, in a fixed order."""
    sizes = {"coffee.png": (600, 400), "chelsea.png": (451, 300)}
    count = 0
    for source in ("coffee.png", "chelsea.png"):
        width, height = sizes[source]
        for side in SIDES:
            for across, down in PLACES:
                left = round((width - side) * across)
                top = round((height - side) * down)
                label, sample = SAMPLING[count % len(SAMPLING)]
                quality = QUALITIES[count % len(QUALITIES)]
                name = "{}-{}px-x{}y{}-q{}-{}.jpg".format(
                    source[:-len(".png")], side, left, top, quality, label)
                yield name, source, (left, top, left + side, top + side), [
                    "-quality", str(quality), "-sample", sample]
                count += 1


def crop_ppm(png_bytes: bytes, box: tuple) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.open(io.BytesIO(png_bytes)).convert("RGB").crop(box).save(out, format="PPM")
    return out.getvalue()


def cjpeg(ppm: bytes, options: list) -> bytes:
    command = ["cjpeg"] + options
    result = subprocess.run(  # CPython 3.6 has no capture_output=
        command, input=ppm, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if result.returncode != 0:
        make_corpus.fail("{} failed: {}".format(
            " ".join(command), result.stderr.decode(errors="replace")))
    return result.stdout


def load_photos(cache_dir: str) -> dict:
    """The two lossless photos, from the pinned scikit-image wheel (sha256-checked)."""
    photos = {}
    for name in ("coffee.png", "chelsea.png"):
        archive, member, expected = make_corpus.SOURCES[name]
        data = make_corpus.read_member(make_corpus.fetch_archive(archive, cache_dir), member)
        if make_corpus.sha256_of(data) != expected:
            make_corpus.fail("{} inside {} changed".format(member, archive))
        photos[name] = data
    return photos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", required=True, metavar="DIR",
                        help="cache folder for the fetched source archives")
    parser.add_argument("--write", action="store_true",
                        help="overwrite the committed crops instead of comparing")
    args = parser.parse_args()
    make_corpus.check_tools()
    os.makedirs(args.sources, exist_ok=True)
    sources = load_photos(os.path.abspath(args.sources))
    different = []
    wanted = set()
    for name, source, box, options in recipes():
        wanted.add(name)
        data = cjpeg(crop_ppm(sources[source], box), options)
        path = os.path.join(CROPS_DIR, name)
        if args.write:
            os.makedirs(CROPS_DIR, exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(data)
            continue
        if not os.path.exists(path):
            different.append(name + " (missing)")
            continue
        with open(path, "rb") as handle:
            if handle.read() != data:
                different.append(name)
    extra = sorted(set(os.listdir(CROPS_DIR)) - wanted) if os.path.isdir(CROPS_DIR) else []
    for name in different + [n + " (not made by this recipe)" for n in extra]:
        print("differs: " + name)
    if args.write:
        print("wrote {} crops to {}".format(len(wanted), CROPS_DIR))
        return 0
    if different or extra:
        return 1
    print("all {} crops reproduced byte for byte".format(len(wanted)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
