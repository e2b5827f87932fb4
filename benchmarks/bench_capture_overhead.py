"""What does capturing cost on top of the work being captured?

Measured side by side in one run, as ratios (absolute times depend on the machine):
  decode            Pillow decode of each sample image (the work itself)
  + digest          the same plus the content digest (sha256) of the output: the floor
  + store           the same plus writing the gzip'd array into a bundle (what capture does)

Usage: python benchmarks/bench_capture_overhead.py [--images DIR] [--repeat N]
"""

import argparse
import io
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import numpy as np
from PIL import Image

from edgeparity.bundle import BundleWriter, array_digest
from edgeparity.capture import find_images


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--images", default=os.path.join(os.path.dirname(__file__), "..", "sample-images")
    )
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    files = []
    for name in find_images(args.images):
        with open(os.path.join(args.images, name), "rb") as handle:
            data = handle.read()
        try:
            decode(data)
        except OSError:
            continue  # files Pillow cannot decode are not part of this measurement
        files.append(data)

    timings = {"decode": [], "decode + digest": [], "decode + digest + store": []}
    with tempfile.TemporaryDirectory() as folder:
        for round_index in range(args.repeat):
            # Interleave the variants in every round so drift affects all of them alike.
            started = time.perf_counter()
            for data in files:
                decode(data)
            timings["decode"].append(time.perf_counter() - started)

            started = time.perf_counter()
            for data in files:
                array_digest(decode(data))
            timings["decode + digest"].append(time.perf_counter() - started)

            writer = BundleWriter(os.path.join(folder, "b{}".format(round_index)))
            started = time.perf_counter()
            for data in files:
                writer.add_array(decode(data))
            timings["decode + digest + store"].append(time.perf_counter() - started)
            raw = sum(entry["bytes"] for entry in writer.arrays.values())
            stored = sum(os.path.getsize(os.path.join(writer.staging, entry["file"]))
                         for entry in writer.arrays.values())
            writer.discard()

    base = min(timings["decode"])
    print("{} images x {} rounds (best round shown)".format(len(files), args.repeat))
    for name, values in timings.items():
        print("  {:<26} {:8.1f} ms   x{:.2f}".format(name, min(values) * 1000, min(values) / base))
    print("  bundle arrays: {:.1f} MB decoded, {:.1f} MB on disk (gzip level 1)".format(
        raw / 1e6, stored / 1e6))


if __name__ == "__main__":
    main()
