#!/usr/bin/env python3
"""Regenerate the sample JPEG corpus from its public sources, with the exact commands.

The committed ``*.jpg`` files are the truth; this script documents how each one was made and
checks that the recipe still reproduces them byte for byte.

Needs (what produced the committed files):
  - Debian bookworm packages: ``libjpeg-turbo-progs`` (cjpeg 2.1.5) and, only for fetching the
    libjpeg-turbo source, a ``deb-src`` line for bookworm (``apt-get source`` needs it).
  - Python >= 3.6 with ``Pillow==10.4.0`` (its wheel bundles libjpeg-turbo 3.0.3, which encodes
    the one Pillow-written file, photo-cmyk-adobe.jpg). Another Pillow writes other bytes.
  - ``pip`` and ``apt-get`` on PATH when the sources are not in the cache directory yet.

Usage:
  python make_corpus.py --sources /tmp/corpus-sources          # rebuild into a temp dir, compare
  python make_corpus.py --sources /tmp/corpus-sources --write  # overwrite the committed files

Exit status: 0 when every rebuilt file is identical to the committed one (or was written),
1 when some differ, 2 when a tool or source is missing.
"""

import argparse
import hashlib
import io
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))

# Where each source archive comes from, and its sha256 (pinned, so a changed upstream is noticed).
ARCHIVES = {
    "pillow-10.4.0.tar.gz": {
        "sha256": "166c1cd4d24309b30d61f79f4a9114b7b2313d7450912277855ff5dfd7cd4a06",
        "fetch": "{python} -m pip download --no-deps --no-binary :all: Pillow==10.4.0 -d {dir}",
    },
    # The wheel is platform-specific but its data/*.png are not; the platform is pinned so that
    # pip on any interpreter fetches this exact file.
    "scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl": {
        "sha256": "74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af",
        "fetch": "{python} -m pip download --no-deps --only-binary :all: "
        "--platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp --abi cp311 "
        "scikit-image==0.26.0 -d {dir}",
    },
    # Debian bookworm's libjpeg-turbo source package (orig tarball = upstream 2.1.5).
    "libjpeg-turbo_2.1.5.orig.tar.gz": {
        "sha256": "254f3642b04e309fee775123133c6464181addc150499561020312ec61c1bf7c",
        "fetch": "apt-get source --download-only libjpeg-turbo=1:2.1.5-2",
    },
}

# The individual source files, taken from the archives above (sha256 of the file itself).
SOURCES = {
    "coffee.png": (
        "scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
        "skimage/data/coffee.png",
        "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
    ),
    "chelsea.png": (
        "scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
        "skimage/data/chelsea.png",
        "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
    ),
    "flower.jpg": (
        "pillow-10.4.0.tar.gz",
        "pillow-10.4.0/Tests/images/flower.jpg",
        "8a9d04b92d0de5836c59ede8ae421235488e4031e893e07b1fe7e4b78f6a9901",
    ),
    "sugarshack.mpo": (
        "pillow-10.4.0.tar.gz",
        "pillow-10.4.0/Tests/images/sugarshack.mpo",
        "e21649efe1bb04e342203fbb73fb8381609e3577949d4a8868cfeb90acfa1579",
    ),
    "pil_sample_cmyk.jpg": (
        "pillow-10.4.0.tar.gz",
        "pillow-10.4.0/Tests/images/pil_sample_cmyk.jpg",
        "1086f923d60bb5d6c4f2d3f7f56ba5d315d98e6f19ee8c8797dabac630c8ae80",
    ),
    "testimgari.jpg": (
        "libjpeg-turbo_2.1.5.orig.tar.gz",
        "libjpeg-turbo-2.1.5/testimages/testimgari.jpg",
        "4672c7f08864cd0a8c73a4fa4b66ca32b635d38464551c1ecf06564ae8c89b38",
    ),
}

# cjpeg settings shared by the photo variants: only the option under test changes between them.
CJPEG_BASE = ["cjpeg", "-quality", "90"]

# name -> (recipe kind, arguments). Kinds: "copy" a source verbatim, "cjpeg" a PPM made from a
# lossless PNG, "cmyk" via Pillow, "exif6" = rotated PPM -> cjpeg -> Exif APP1 spliced in.
CORPUS = [
    ("photo-420.jpg", "cjpeg", ("coffee.png", ["-sample", "2x2"])),
    ("photo-422.jpg", "cjpeg", ("coffee.png", ["-sample", "2x1"])),
    ("photo-444.jpg", "cjpeg", ("coffee.png", ["-sample", "1x1"])),
    ("photo-progressive.jpg", "cjpeg", ("coffee.png", ["-sample", "2x2", "-progressive"])),
    ("photo-restart.jpg", "cjpeg", ("coffee.png", ["-sample", "2x2", "-restart", "1"])),
    ("photo-grayscale.jpg", "cjpeg", ("coffee.png", ["-grayscale"])),
    ("photo-arithmetic.jpg", "cjpeg", ("coffee.png", ["-sample", "2x2", "-arithmetic"])),
    ("photo-exif-orientation6.jpg", "exif6", ("coffee.png", ["-sample", "2x2"])),
    ("photo-cmyk-adobe.jpg", "cmyk", ("coffee.png", 90)),
    ("cat-420-oddsize.jpg", "cjpeg", ("chelsea.png", ["-sample", "2x2"])),
    ("camera-canon-s40.jpg", "copy", ("flower.jpg",)),
    ("camera-nintendo3ds-mpo.jpg", "copy", ("sugarshack.mpo",)),
    ("cmyk-ycck-photoshop.jpg", "copy", ("pil_sample_cmyk.jpg",)),
    ("ijg-testimgari.jpg", "copy", ("testimgari.jpg",)),
]


def fail(message: str) -> None:
    sys.stderr.write("make_corpus: " + message + "\n")
    sys.exit(2)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_archive(name: str, cache_dir: str) -> str:
    path = os.path.join(cache_dir, name)
    if not os.path.exists(path):
        # Split first, then fill in: paths with spaces stay one argument.
        command = [
            part.format(python=sys.executable, dir=cache_dir)
            for part in ARCHIVES[name]["fetch"].split()
        ]
        print("fetching: " + " ".join(command))
        result = subprocess.run(command, cwd=cache_dir)
        if result.returncode != 0 or not os.path.exists(path):
            fail(
                "could not fetch {} (command: {}). Put the file into {} by hand and rerun.".format(
                    name, " ".join(command), cache_dir
                )
            )
    with open(path, "rb") as handle:
        digest = sha256_of(handle.read())
    if digest != ARCHIVES[name]["sha256"]:
        fail("{} has sha256 {}, expected {}".format(path, digest, ARCHIVES[name]["sha256"]))
    return path


def read_member(archive_path: str, member: str) -> bytes:
    if archive_path.endswith(".whl"):
        with zipfile.ZipFile(archive_path) as wheel:
            return wheel.read(member)
    with tarfile.open(archive_path) as tar:
        return tar.extractfile(member).read()


def load_sources(cache_dir: str) -> dict:
    sources = {}
    for name, (archive, member, expected) in SOURCES.items():
        data = read_member(fetch_archive(archive, cache_dir), member)
        if sha256_of(data) != expected:
            fail("{} inside {} changed: sha256 {}".format(member, archive, sha256_of(data)))
        sources[name] = data
    return sources


def png_to_ppm(png_bytes: bytes, rotate_ccw: bool = False) -> bytes:
    """Lossless PNG -> binary PPM (what cjpeg reads). Rotation by 90 degrees is exact."""
    from PIL import Image

    image = Image.open(io.BytesIO(png_bytes)).convert("RGB")
    if rotate_ccw:
        image = image.transpose(Image.ROTATE_90)  # counter-clockwise
    out = io.BytesIO()
    image.save(out, format="PPM")
    return out.getvalue()


def run_cjpeg(ppm: bytes, options: list) -> bytes:
    command = CJPEG_BASE + options
    # stdout=/stderr=PIPE rather than capture_output=: the script also runs on CPython 3.6.
    result = subprocess.run(  # noqa: UP022
        command, input=ppm, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    if result.returncode != 0:
        fail("{} failed: {}".format(" ".join(command), result.stderr.decode(errors="replace")))
    return result.stdout


def exif_orientation_segment(orientation: int) -> bytes:
    """A minimal APP1 Exif segment: little-endian TIFF header, IFD0 with one Orientation tag."""
    tiff = b"II*\x00" + struct.pack("<I", 8)  # byte order, magic 42, IFD0 right after header
    tiff += struct.pack("<H", 1)  # one entry
    # tag 0x0112 Orientation, type 3 (SHORT), count 1, value left-justified in the 4-byte field
    tiff += struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff += struct.pack("<I", 0)  # no next IFD
    payload = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def insert_after_app0(jpeg: bytes, segment: bytes) -> bytes:
    """Splice a segment in after SOI + the JFIF APP0 that cjpeg writes (no re-encoding)."""
    if jpeg[:4] != b"\xff\xd8\xff\xe0":
        fail("expected cjpeg output to start with SOI + APP0")
    app0_end = 4 + struct.unpack(">H", jpeg[4:6])[0]
    return jpeg[:app0_end] + segment + jpeg[app0_end:]


def pillow_cmyk(png_bytes: bytes, quality: int) -> bytes:
    """Pillow's RGB->CMYK (C=255-R, M=255-G, Y=255-B, K=0) saved as JPEG.

    libjpeg writes an Adobe APP14 marker with transform 0 for CMYK and Pillow stores the
    channels inverted, which is the convention Photoshop uses for its CMYK JPEGs.
    """
    import PIL
    from PIL import Image

    if PIL.__version__ != "10.4.0":
        sys.stderr.write(
            "make_corpus: warning: Pillow {} (the committed file came from 10.4.0)\n".format(
                PIL.__version__
            )
        )
    out = io.BytesIO()
    Image.open(io.BytesIO(png_bytes)).convert("CMYK").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def build(name: str, kind: str, args: tuple, sources: dict) -> bytes:
    if kind == "copy":
        return sources[args[0]]
    if kind == "cjpeg":
        return run_cjpeg(png_to_ppm(sources[args[0]]), args[1])
    if kind == "exif6":
        # Stored pixels are the photo turned 90 degrees counter-clockwise; Orientation 6 tells a
        # viewer to turn it 90 degrees clockwise, so an EXIF-aware decoder shows it upright.
        jpeg = run_cjpeg(png_to_ppm(sources[args[0]], rotate_ccw=True), args[1])
        return insert_after_app0(jpeg, exif_orientation_segment(6))
    if kind == "cmyk":
        return pillow_cmyk(sources[args[0]], args[1])
    raise ValueError("unknown recipe kind " + kind)


def check_tools() -> None:
    if shutil.which("cjpeg") is None:
        fail("cjpeg not found: apt-get install libjpeg-turbo-progs")
    result = subprocess.run(  # noqa: UP022 (CPython 3.6 has no capture_output=)
        ["cjpeg", "-version"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    version = (result.stdout + result.stderr).decode(errors="replace").strip()
    print("cjpeg: " + version)
    if "2.1.5" not in version:
        sys.stderr.write(
            "make_corpus: warning: the committed files came from cjpeg 2.1.5 (Debian bookworm)\n"
        )
    try:
        import PIL  # noqa: F401
    except ImportError:
        fail("Pillow is not importable: pip install Pillow==10.4.0")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", required=True, help="cache directory for source archives")
    parser.add_argument("--write", action="store_true", help="overwrite the committed files")
    options = parser.parse_args()

    check_tools()
    os.makedirs(options.sources, exist_ok=True)
    sources = load_sources(os.path.abspath(options.sources))

    out_dir = HERE if options.write else tempfile.mkdtemp(prefix="corpus-")
    differing = []
    for name, kind, args in CORPUS:
        data = build(name, kind, args, sources)
        committed_path = os.path.join(HERE, name)
        committed = None
        if os.path.exists(committed_path):
            with open(committed_path, "rb") as handle:
                committed = handle.read()
        if not options.write:
            with open(os.path.join(out_dir, name), "wb") as handle:
                handle.write(data)
        else:
            with open(committed_path, "wb") as handle:
                handle.write(data)
        same = committed == data
        if not same and not options.write:
            differing.append(name)
        print(
            "{:30s} {:7d} bytes  sha256 {}  {}".format(
                name, len(data), sha256_of(data), "identical" if same else "DIFFERS/new"
            )
        )
    if not options.write:
        print("rebuilt into " + out_dir)
    if differing:
        print("differ from the committed files: " + ", ".join(differing))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
