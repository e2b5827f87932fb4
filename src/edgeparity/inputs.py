"""What capture reads, read defensively: image files and canonical input arrays.

A validation folder comes from users and from the internet. Nothing here may hang, exhaust
memory or silently skip a file:

- only regular files are opened (a FIFO would block forever, ``/dev/zero`` never ends);
- a file larger than ``max_file_bytes`` is not read;
- an image whose header declares more than ``max_pixels`` is refused *before* any decoder sees
  it (a 2.6 KB JPEG can declare 13000 x 13000, i.e. 507 MB decoded);
- folders that cannot be listed are reported, symlinked folders are followed once each (a loop
  is reported, not walked forever).

Canonical inputs come from ``--canonical DIR``, else the images folder's ``canonical/``, else
the set shipped inside edgeparity (``edgeparity/canonical/``, package data), which is read from
the archive when edgeparity runs as a zipapp: nothing is extracted or written anywhere.

Runs in every environment (CPython 3.6, numpy only).
"""

import hashlib
import os
import stat
import struct
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Tuple

from . import defaults

# numpy (with arrays.read_npy) is imported when an input array is read: compare uses the JPEG
# header helpers below and should not pay for numpy's import when it opens no array.
if TYPE_CHECKING:
    import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".tif", ".tiff", ".webp")


# edgeparity/canonical/: the canonical inputs shipped as package data.
PACKAGED_CANONICAL = "canonical"


class InputError(Exception):
    """One input that cannot be used; recorded for that input, the capture goes on."""


def find_images(images_dir: str) -> Tuple[List[str], List[Dict[str, str]]]:
    """(image files under ``images_dir``, sorted and relative; folders that were not walked).

    Folders named canonical/ and hidden entries are left out. Symlinked folders are followed, each
    real folder at most once, so a link loop ends; every folder that could not be listed or was
    a repeat is returned with the reason, for a warning and the manifest.
    """
    found = []  # type: List[str]
    skipped = []  # type: List[Dict[str, str]]
    seen = set()  # type: set

    def walk(folder: str, relative: str) -> None:
        try:
            info = os.stat(folder)
            entries = sorted(os.listdir(folder))
        except OSError as exc:
            skipped.append({"folder": relative or ".", "reason": exc.strerror or str(exc)})
            return
        if (info.st_dev, info.st_ino) in seen:
            skipped.append({"folder": relative, "reason": "already walked (a symlink loop or "
                            "a second link to the same folder)"})
            return
        seen.add((info.st_dev, info.st_ino))
        for name in entries:
            if name.startswith("."):
                continue
            path = os.path.join(folder, name)
            child = os.path.join(relative, name) if relative else name
            if os.path.isdir(path):
                if name != defaults.CANONICAL_SUBDIR:
                    walk(path, child)
            elif name.lower().endswith(IMAGE_SUFFIXES):
                found.append(child)

    walk(images_dir, "")
    return sorted(found), skipped


def in_shard(image: str, shard: Tuple[int, int]) -> bool:
    """Whether ``image`` (a path relative to the images folder) is in shard ``(i, n)``, 1-based.

    Decided by a hash of the path alone, so every device agrees on the split without talking
    to the others, and an image keeps its shard when files are added.
    """
    index, count = shard
    digest = hashlib.sha256(image.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % count == index - 1


def shard_facts(shard: Tuple[int, int], every_image: List[str]) -> Dict[str, Any]:
    """--shard I/N, and which set of images it is a share of (their number and a digest of
    their names): merge refuses shards cut from different copies of the images."""
    names = hashlib.sha256("\n".join(sorted(every_image)).encode("utf-8", "surrogateescape"))
    return {"index": shard[0], "count": shard[1], "of_images": len(every_image),
            "names_sha256": names.hexdigest()}


def find_canonical(canonical_dir: str) -> Dict[str, List[str]]:
    """Canonical inputs: ``decoded-*.npy`` feed preprocess, ``preprocessed-*.npy`` feed infer."""
    if not os.path.isdir(canonical_dir):
        return {"preprocess": [], "infer": []}
    return _sort_canonical(os.listdir(canonical_dir))


def _sort_canonical(names: List[str]) -> Dict[str, List[str]]:
    result = {"preprocess": [], "infer": []}  # type: Dict[str, List[str]]
    for name in sorted(names):
        if name.endswith(".npy"):
            if name.startswith("decoded-"):
                result["preprocess"].append(name)
            elif name.startswith("preprocessed-"):
                result["infer"].append(name)
    return result


class CanonicalInputs:
    """One set of canonical inputs and where it came from.

    ``origin`` is ``option`` (--canonical), ``images`` (IMAGES/canonical), ``packaged`` (the set
    shipped inside edgeparity) or ``none``; ``location`` is a folder, or ``ARCHIVE/MEMBER``
    inside a zipapp. ``names`` maps a stage to the file names that feed it.
    """

    def __init__(self, origin: str, location: str, names: Dict[str, List[str]],
                 archive: Optional[str] = None, member_prefix: str = "") -> None:
        self.origin = origin
        self.location = location
        self.names = names
        self._archive = archive  # a zipapp: files are members under member_prefix
        self._prefix = member_prefix

    def __bool__(self) -> bool:
        return bool(self.names["preprocess"] or self.names["infer"])

    def path(self, name: str) -> str:
        """Where input ``name`` is, for messages."""
        return os.path.join(self.location, name)

    def load(self, name: str, max_bytes: int) -> "np.ndarray":
        """One input array, checked like any .npy capture reads (limits, no objects)."""
        import zipfile  # here, like numpy: compare reads JPEG headers, never canonical inputs

        from .arrays import read_npy

        if self._archive is None:
            return load_canonical(os.path.join(self.location, name), max_bytes)
        try:
            with zipfile.ZipFile(self._archive) as archive:
                info = archive.getinfo(self._prefix + name)
                if info.file_size > max_bytes + 4096:
                    raise InputError("not read: {} bytes, over the {} byte limit".format(
                        info.file_size, max_bytes))
                with archive.open(info) as stream:
                    return read_npy(stream, max_bytes, name)
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise InputError("unreadable in {}: {}".format(self._archive, exc)) from None
        except ValueError as exc:
            raise InputError(str(exc)) from None

    def describe(self) -> Dict[str, Any]:
        """The manifest's ``canonical_source``: which set the isolated runs used."""
        return {"origin": self.origin, "location": self.location,
                "files": sorted(self.names["preprocess"] + self.names["infer"])}


def packaged_canonical() -> CanonicalInputs:
    """The canonical set shipped inside edgeparity: a folder, or members of the zipapp."""
    # This module sits in the edgeparity package, next to canonical/.
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), PACKAGED_CANONICAL)
    if os.path.isdir(folder):
        return CanonicalInputs("packaged", folder, find_canonical(folder))
    # Inside a zip (python3 edgeparity.pyz): this module's loader is a zipimporter whose
    # archive holds the files. They are read from there, never extracted.
    loader = globals().get("__loader__")
    archive = getattr(loader, "archive", None)
    if archive is None:
        return CanonicalInputs("none", folder, _sort_canonical([]))
    # __file__ is ARCHIVE/<folders>/edgeparity/inputs.py: the members are under <folders>/...
    archive = os.path.abspath(archive)
    package = os.path.relpath(os.path.dirname(os.path.abspath(__file__)), archive)
    prefix = "{}/{}/".format(package.replace(os.sep, "/"), PACKAGED_CANONICAL)
    import zipfile

    try:
        with zipfile.ZipFile(archive) as handle:
            members = [n[len(prefix):] for n in handle.namelist() if n.startswith(prefix)]
    except (OSError, zipfile.BadZipFile):
        members = []
    names = _sort_canonical([n for n in members if n and "/" not in n])
    return CanonicalInputs("packaged", archive + "/" + prefix.rstrip("/"), names,
                           archive=archive, member_prefix=prefix)


def locate_canonical(explicit: Optional[str], images_dir: str) -> CanonicalInputs:
    """The canonical set a capture uses: ``--canonical DIR`` > IMAGES/canonical > packaged.

    An explicit folder is used as it is, even when it holds no inputs (the user asked for it;
    capture then says so). IMAGES/canonical is used when it holds at least one input, so an
    unrelated empty folder of that name does not switch isolation off.
    """
    if explicit:
        folder = os.path.abspath(explicit)
        return CanonicalInputs("option", folder, find_canonical(folder))
    folder = os.path.join(images_dir, defaults.CANONICAL_SUBDIR)
    beside = CanonicalInputs("images", folder, find_canonical(folder))
    return beside if beside else packaged_canonical()


def _open_regular(path: str, max_bytes: int) -> "os.stat_result":
    """Stat ``path`` (following links) and refuse anything but a small enough regular file."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise InputError("unreadable: {}".format(exc.strerror or exc)) from None
    if not stat.S_ISREG(info.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device"
                if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "a socket"
                if stat.S_ISSOCK(info.st_mode) else "not a regular file")
        raise InputError("not read: {} (only regular files are read)".format(kind))
    if info.st_size > max_bytes:
        raise InputError("not read: {} bytes, over the {} byte file limit (--max-file-mb)"
                         .format(info.st_size, max_bytes))
    return info


def read_image_file(path: str, max_bytes: int, max_pixels: int) -> bytes:
    """The bytes of one image file, after the file-kind, size and declared-size checks."""
    _open_regular(path, max_bytes)
    try:
        # O_NONBLOCK: should the file have been swapped for a FIFO since the stat, open() must
        # not block; the read then fails instead of hanging.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(descriptor, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise InputError("unreadable: {}".format(exc.strerror or exc)) from None
    if len(data) > max_bytes:
        raise InputError("not read: over the {} byte file limit (--max-file-mb)".format(
            max_bytes))
    size = declared_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise InputError(
            "not decoded: its header declares {} x {} = {:.0f} Mpx, over the {:.0f} Mpx limit "
            "(--max-megapixels; decoding it would need about {:.1f} GB)".format(
                size[0], size[1], size[0] * size[1] / 1e6, max_pixels / 1e6,
                size[0] * size[1] * 3 * 4 / 1e9))
    return data


def load_canonical(path: str, max_bytes: int) -> "np.ndarray":
    """One canonical input array, its header checked against ``max_bytes`` before allocation."""
    from .arrays import read_npy

    _open_regular(path, max_bytes + 4096)
    try:
        with open(path, "rb") as handle:
            return read_npy(handle, max_bytes, os.path.basename(path))
    except OSError as exc:
        raise InputError("unreadable: {}".format(exc.strerror or exc)) from None
    except ValueError as exc:
        raise InputError(str(exc)) from None


# -- declared image size, from the header alone -------------------------------------------------

# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic...): all but DHT (C4),
# JPG (C8) and DAC (CC), which share the C0-CF range.
_JPEG_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def declared_size(data: bytes) -> Optional[Tuple[int, int]]:
    """(width, height) a file's header declares, for JPEG, PNG, GIF, BMP and WebP; else None.

    Only headers are parsed (no decoding), so a hostile file costs nothing here. None means
    "unknown format or no size found": the decoder's own limits then apply.
    """
    try:
        if data[:2] == b"\xff\xd8":
            return _jpeg_size(data)
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", data[6:10])
        if data[:2] == b"BM":
            width, height = struct.unpack("<ii", data[18:26])
            return abs(width), abs(height)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_size(data)
    except struct.error:
        return None
    return None


def _jpeg_segments(data: bytes) -> Iterator[Tuple[int, bytes]]:
    """(marker, segment payload) of a JPEG's header segments, up to the first frame header
    (SOF) included: the one walk over the markers that declared_size and jpeg_header share.
    Stops quietly at anything malformed or truncated."""
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD9:  # markers without a length
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2:position + 4])
        yield marker, data[position + 4:position + 2 + length]
        if marker in _JPEG_SOF:
            return  # everything a header tells comes before the first frame
        position += 2 + length


def _jpeg_size(data: bytes) -> Optional[Tuple[int, int]]:
    for marker, segment in _jpeg_segments(data):
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", segment[1:5])
            return width, height
    return None


# SOF marker -> how the entropy-coded data is coded. Decoders differ in what they support
# (Pillow's libjpeg builds may refuse arithmetic coding), so this explains an error on one side.
_JPEG_CODING = {0xC0: "baseline", 0xC1: "extended", 0xC2: "progressive", 0xC3: "lossless",
                0xC5: "differential", 0xC6: "differential progressive",
                0xC7: "differential lossless", 0xC9: "arithmetic", 0xCA: "arithmetic progressive",
                0xCB: "arithmetic lossless", 0xCD: "arithmetic differential",
                0xCE: "arithmetic differential progressive",
                0xCF: "arithmetic differential lossless"}


def jpeg_header(data: bytes) -> Optional[Dict[str, Any]]:
    """What a JPEG's header says about how to decode it, for compare to explain a difference.

    ``{"coding": "baseline", "components": 3, "colour": "YCbCr", "exif_orientation": 6}``
    (``exif_orientation`` only when an EXIF block carries one; ``truncated: True`` when the
    file ends before its end-of-image marker); None when ``data`` is not a JPEG or its header
    cannot be parsed. Only markers are read, never the image data.
    """
    if data[:2] != b"\xff\xd8":
        return None
    facts = {}  # type: Dict[str, Any]
    adobe_transform = None  # type: Optional[int]
    try:
        for marker, segment in _jpeg_segments(data):
            if marker == 0xEE and segment[:5] == b"Adobe" and len(segment) >= 12:
                adobe_transform = segment[11]
            elif marker == 0xE1 and segment[:6] == b"Exif\x00\x00":
                orientation = _exif_orientation(segment[6:])
                if orientation:
                    facts["exif_orientation"] = orientation
            elif marker in _JPEG_SOF:
                facts["coding"] = _JPEG_CODING.get(marker, "SOF{:X}".format(marker & 0xF))
                facts["components"] = segment[5]
    except (struct.error, IndexError):
        return facts or None
    if "components" not in facts:
        return facts or None
    facts["colour"] = _jpeg_colour(facts["components"], adobe_transform)
    # Cut short (a download or copy that stopped): some decoders fill in the missing part,
    # others refuse it.
    if not _ends_whole(data):
        facts["truncated"] = True
    return facts


def _ends_whole(data: bytes) -> bool:
    """Whether the image's end-of-image marker comes before the data ends. The header segments
    are stepped over by their lengths (an EXIF thumbnail's own markers with them) up to the
    first scan; from there the first 0xFFD9 is the end (scan data holds none: its 0xFF bytes are
    stuffed), found in C. What follows the end (a trailer, an MPO's second picture) is not
    looked at; a header that cannot be walked is not called cut short."""
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return True  # not what a JPEG header looks like: nothing to say
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            position += 2
        elif marker == 0xD9:
            return True
        else:
            end_of_segment = position + 2 + ((data[position + 2] << 8) | data[position + 3])
            if marker == 0xDA:
                return data.find(b"\xff\xd9", end_of_segment) >= 0
            position = end_of_segment
    return False  # the data ends before the first scan


def _jpeg_colour(components: int, adobe_transform: Optional[int]) -> str:
    """libjpeg's own rule (jdapimin.c default_decompress_parms) for the file's colour space."""
    if components == 1:
        return "grayscale"
    if components == 3:
        return "RGB" if adobe_transform == 0 else "YCbCr"
    if components == 4:
        return "YCCK" if adobe_transform == 2 else "CMYK"
    return "{} components".format(components)


def _exif_orientation(tiff: bytes) -> Optional[int]:
    """The Orientation tag (0x0112) of IFD0 in an EXIF block's TIFF data, if present."""
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None:
        return None
    try:  # a damaged EXIF block must not hide the frame header that follows it
        (ifd,) = struct.unpack(order + "I", tiff[4:8])
        (count,) = struct.unpack(order + "H", tiff[ifd:ifd + 2])
        for index in range(count):
            entry = tiff[ifd + 2 + 12 * index:ifd + 14 + 12 * index]
            tag, kind = struct.unpack(order + "HH", entry[:4])
            if tag == 0x0112 and kind == 3:
                (value,) = struct.unpack(order + "H", entry[8:10])
                return value if 1 <= value <= 8 else None
    except struct.error:
        return None
    return None


def _webp_size(data: bytes) -> Optional[Tuple[int, int]]:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None
