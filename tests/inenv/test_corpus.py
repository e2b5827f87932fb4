"""The sample corpus has the properties sample-images/PROVENANCE.md claims, byte for byte.

The expectations below are facts about the committed files, verified with exiftool 12.57 and
ImageMagick 6.9 ``identify -verbose`` when the corpus was made (see PROVENANCE.md). The JPEG
markers are read by a small parser in this file, so the test needs no image library and runs on
a Jetson's CPython 3.6 with numpy only.
"""

import hashlib
import os
import re
import struct

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS_DIR = os.path.join(REPO_ROOT, "sample-images")
CANONICAL_DIR = os.path.join(REPO_ROOT, "src", "edgeparity", "canonical")

# Start-of-frame markers that appear in the corpus: they name the coding process.
SOF_NAMES = {
    0xC0: "SOF0",  # baseline DCT, Huffman
    0xC1: "SOF1",  # extended sequential DCT, Huffman
    0xC2: "SOF2",  # progressive DCT, Huffman
    0xC9: "SOF9",  # extended sequential DCT, arithmetic
    0xCA: "SOF10",  # progressive DCT, arithmetic
}

S420 = ((2, 2), (1, 1), (1, 1))
S422 = ((2, 1), (1, 1), (1, 1))
S444 = ((1, 1), (1, 1), (1, 1))
GRAY = ((1, 1),)
FOUR = ((1, 1), (1, 1), (1, 1), (1, 1))


def expect(sof, size, sampling, **unusual):
    """What parse_jpeg must find in a file; keyword arguments name what differs from the usual."""
    facts = {
        "sof": sof,  # coding process
        "size": size,  # (width, height)
        "sampling": sampling,  # (h, v) per component
        "dri": None,  # restart interval in MCUs
        "rst_count": 0,  # RSTn markers in the entropy-coded data
        "adobe_transform": None,  # APP14 "Adobe": 0 = CMYK/RGB as is, 1 = YCbCr, 2 = YCCK
        "orientation": None,  # EXIF IFD0 Orientation
        "make": None,  # EXIF IFD0 Make
        "scans": 1,  # SOS segments
        "trailing_bytes": 0,  # bytes after the first EOI
    }
    assert set(unusual) <= set(facts), "unknown fact in expect()"
    facts.update(unusual)
    return facts


EXPECTED = {
    "photo-420.jpg": expect("SOF0", (600, 400), S420),
    "photo-422.jpg": expect("SOF0", (600, 400), S422),
    "photo-444.jpg": expect("SOF0", (600, 400), S444),
    "photo-progressive.jpg": expect("SOF2", (600, 400), S420, scans=10),
    # 600 px / 16 px per MCU = 38 MCUs per row (last one partial); -restart 1 = one row each,
    # so 25 MCU rows give 24 RST markers.
    "photo-restart.jpg": expect("SOF0", (600, 400), S420, dri=38, rst_count=24),
    "photo-grayscale.jpg": expect("SOF0", (600, 400), GRAY),
    "photo-arithmetic.jpg": expect("SOF9", (600, 400), S420),
    "photo-exif-orientation6.jpg": expect("SOF0", (400, 600), S420, orientation=6),
    "photo-cmyk-adobe.jpg": expect("SOF0", (600, 400), FOUR, adobe_transform=0),
    "cat-420-oddsize.jpg": expect("SOF0", (451, 300), S420),
    "camera-canon-s40.jpg": expect("SOF0", (480, 360), S420, orientation=1, make="Canon"),
    # An MPO straight from the device: the second (right-eye) JPEG follows the first EOI.
    "camera-nintendo3ds-mpo.jpg": expect(
        "SOF0", (640, 480), S422, make="Nintendo", trailing_bytes=60191
    ),
    # Photoshop CS writes CMYK JPEGs as YCCK (Adobe transform 2); this one with restart markers
    # every 13 MCUs: 13 x 13 MCUs of 8x8 give 13 intervals, 12 RST markers.
    "cmyk-ycck-photoshop.jpg": expect(
        "SOF0", (100, 100), FOUR, dri=13, rst_count=12, adobe_transform=2, orientation=1
    ),
    "ijg-testimgari.jpg": expect("SOF9", (227, 149), S420),
}


def _sha256sum_table(text):
    """{file name: sha256} from ``sha256sum`` output, so one command regenerates a table."""
    pairs = (line.split() for line in text.split("\n") if line)
    return dict((name, digest) for digest, name in pairs)


# `cd sample-images && sha256sum *.jpg`
CORPUS_SHA256 = _sha256sum_table("""
8a9d04b92d0de5836c59ede8ae421235488e4031e893e07b1fe7e4b78f6a9901  camera-canon-s40.jpg
e21649efe1bb04e342203fbb73fb8381609e3577949d4a8868cfeb90acfa1579  camera-nintendo3ds-mpo.jpg
2c0357a57121a80b7145db42b093f743c9a0405e33f9e48fd102319a6ce3af89  cat-420-oddsize.jpg
1086f923d60bb5d6c4f2d3f7f56ba5d315d98e6f19ee8c8797dabac630c8ae80  cmyk-ycck-photoshop.jpg
4672c7f08864cd0a8c73a4fa4b66ca32b635d38464551c1ecf06564ae8c89b38  ijg-testimgari.jpg
14e95c22745cc5335c4c7a9979efb309af519622208406c0ab39e18fabb19317  photo-420.jpg
5b6ac1079c99d8e5042c426c4b1685963843aee954e3f8e7ce544e6e1d3eca2a  photo-422.jpg
a0ad2ae27b7836c538e38a9453b18726c229850eedb913295f01408cd1e4c52d  photo-444.jpg
39ab2540bc8df50a0b85ca8a5923e127d410364fa26612643872a9d215ed66cd  photo-arithmetic.jpg
c86f1dcfee2149168a2f0e9d97e64ad1f2624fc703d1a4ab99307e73cbee61e5  photo-cmyk-adobe.jpg
173db602e476cfdff68a5deda38c6328626cb67227294e4db6cba8dc584ff92a  photo-exif-orientation6.jpg
79abe4d09efc43677bb102ad33608fc3d81fa97ccf421765fcd4f18613e439f4  photo-grayscale.jpg
409959a5d2ddd84c1640cb4bbaac2fe8cd79f39fb8f8407fc171ded81a95ed6d  photo-progressive.jpg
5d881e91dd1cf19576ebbf23647701aafa8c6a81c4cd3b824d1936f96cd5c475  photo-restart.jpg
""")

IMAGENET_MEAN_STD = ((0.485, 0.229), (0.456, 0.224), (0.406, 0.225))

# The canonical inputs must be the same bytes in every environment: that is their whole point.
# `cd src/edgeparity/canonical && sha256sum *.npy`
CANONICAL_SHA256 = _sha256sum_table("""
98ee7ae2e24999657dd9a0639cf6a6b87e8b43e0c3a8a646e3dab3877e0c398c  decoded-camera-canon-s40.npy
5029b09e1af07dbc9c3f11d31bacce74b3422a656f5a702934995b5f704ae81f  decoded-photo-420.npy
ceca05be17676facbaebc54e5493b9c3b457205c1054ae1d0609aee8dec06d2a  decoded-photo-444.npy
911e677aa5ba24236a850a3cb0a1b2eda1d6686441a63bac360a1d006e8852bf  preprocessed-camera-canon-s40.npy
e749b9ed55c5ed7bbbc301c6444dd8909a9c2083800f5877dde75ca78936da2c  preprocessed-photo-420.npy
d0a34742670e086c70e3c6085d17f9182078fd519c8fd90303e97a261f806dcb  preprocessed-photo-444.npy
""")


def read_exif_ifd0(tiff):
    """Orientation and Make from IFD0 of a TIFF-structured Exif payload."""
    order = "<" if tiff[:2] == b"II" else ">"
    ifd_offset = struct.unpack(order + "I", tiff[4:8])[0]
    count = struct.unpack(order + "H", tiff[ifd_offset : ifd_offset + 2])[0]
    found = {}
    for index in range(count):
        entry = tiff[ifd_offset + 2 + 12 * index : ifd_offset + 14 + 12 * index]
        tag, kind, length = struct.unpack(order + "HHI", entry[:8])
        if tag == 0x0112 and kind == 3:  # Orientation, SHORT
            found["orientation"] = struct.unpack(order + "H", entry[8:10])[0]
        elif tag == 0x010F and kind == 2:  # Make, ASCII (inline when it fits in 4 bytes)
            if length <= 4:
                raw = entry[8 : 8 + length]
            else:
                offset = struct.unpack(order + "I", entry[8:12])[0]
                raw = tiff[offset : offset + length]
            found["make"] = raw.split(b"\x00")[0].decode("ascii")
    return found


def parse_jpeg(data):
    """Facts from the marker segments of the first JPEG stream in ``data``."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("no SOI marker: not a JPEG")
    facts = {
        "sof": None,
        "size": None,
        "sampling": None,
        "dri": None,
        "rst_count": 0,
        "adobe_transform": None,
        "orientation": None,
        "make": None,
        "scans": 0,
    }
    position = 2
    while True:
        if data[position] != 0xFF:
            raise ValueError("expected a marker at byte {}".format(position))
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker == 0xD9:  # EOI
            facts["trailing_bytes"] = len(data) - (position + 2)
            return facts
        length = struct.unpack(">H", data[position + 2 : position + 4])[0]
        segment = data[position + 4 : position + 2 + length]
        if marker in SOF_NAMES:
            _, height, width, components = struct.unpack(">BHHB", segment[:6])
            facts["sof"] = SOF_NAMES[marker]
            facts["size"] = (width, height)
            facts["sampling"] = tuple(
                (segment[7 + 3 * index] >> 4, segment[7 + 3 * index] & 0x0F)
                for index in range(components)
            )
        elif marker == 0xDD:  # DRI
            facts["dri"] = struct.unpack(">H", segment[:2])[0]
        elif marker == 0xEE and segment[:5] == b"Adobe":
            facts["adobe_transform"] = segment[11]
        elif marker == 0xE1 and segment[:6] == b"Exif\x00\x00":
            facts.update(read_exif_ifd0(segment[6:]))
        position += 2 + length
        if marker == 0xDA:  # SOS: skip the entropy-coded data that follows the header
            facts["scans"] += 1
            while True:
                position = data.index(b"\xff", position)
                following = data[position + 1]
                if following == 0x00:  # stuffed 0xFF data byte
                    position += 2
                elif 0xD0 <= following <= 0xD7:  # RSTn
                    facts["rst_count"] += 1
                    position += 2
                elif following == 0xFF:  # fill bytes
                    position += 1
                else:
                    break


def read_corpus_file(name):
    with open(os.path.join(CORPUS_DIR, name), "rb") as handle:
        return handle.read()


def test_corpus_directory_matches_the_table():
    on_disk = sorted(name for name in os.listdir(CORPUS_DIR) if name.endswith(".jpg"))
    assert on_disk == sorted(EXPECTED), "document a new corpus file in EXPECTED and PROVENANCE.md"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_has_documented_properties(name):
    data = read_corpus_file(name)
    assert hashlib.sha256(data).hexdigest() == CORPUS_SHA256[name]
    facts = parse_jpeg(data)
    assert facts == EXPECTED[name]
    trailing = facts["trailing_bytes"]
    if trailing:
        # The 3DS pads its first stream with one zero byte; the MPF header says the second
        # image is 60190 bytes.
        second_stream = data[len(data) - trailing :].lstrip(b"\x00")
        assert second_stream[:2] == b"\xff\xd8", "bytes after EOI should be the MPO's 2nd JPEG"
        assert len(second_stream) == 60190


def test_provenance_documents_every_file():
    with open(os.path.join(CORPUS_DIR, "PROVENANCE.md"), encoding="utf-8") as handle:
        provenance = handle.read()
    for name, digest in CORPUS_SHA256.items():
        assert "`{}`".format(name) in provenance
        assert digest in provenance, "sha256 of {} missing from PROVENANCE.md".format(name)


def test_parser_rejects_non_jpeg():
    with pytest.raises(ValueError):
        parse_jpeg(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize("name", sorted(CANONICAL_SHA256))
def test_canonical_input_is_the_documented_array(name):
    numpy = pytest.importorskip("numpy", reason="canonical arrays are .npy files")
    path = os.path.join(CANONICAL_DIR, name)
    with open(path, "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == CANONICAL_SHA256[name]
    array = numpy.load(path, allow_pickle=False)
    if name.startswith("decoded-"):
        assert array.dtype == numpy.uint8
        assert array.shape == (240, 320, 3)
    else:
        assert array.dtype == numpy.float32
        assert array.shape == (1, 3, 224, 224)
        # Each channel of ImageNet-normalised [0, 1] data lies in [-mean/std, (1-mean)/std].
        assert numpy.isfinite(array).all()
        for channel, (mean, std) in enumerate(IMAGENET_MEAN_STD):
            assert array[0, channel].min() >= (0.0 - mean) / std - 1e-5
            assert array[0, channel].max() <= (1.0 - mean) / std + 1e-5


def test_canonical_readme_lists_every_sha256():
    with open(os.path.join(CANONICAL_DIR, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    pairs = re.findall(r"([0-9a-f]{64})\s+(\S+\.npy)", readme)
    listed = dict((name, digest) for digest, name in pairs)
    assert listed == CANONICAL_SHA256


# The cost corpus (sample-images/crops/, made by make_crops.py): the sha256 of the lines
# "NAME\0SHA256\n" of every file in name order, so that any changed, added or removed crop is
# caught; `python make_crops.py --sources DIR` says which.
CROPS_DIR = os.path.join(CORPUS_DIR, "crops")
CROPS_COUNT = 54
CROPS_SHA256 = "a1ada0e923221fb572e2383774b33cca7ba441b6c33fba1c6270f5a7de750d18"


def test_the_cost_corpus_is_the_committed_one():
    names = sorted(os.listdir(CROPS_DIR))
    assert len(names) == CROPS_COUNT and all(n.endswith(".jpg") for n in names)
    listing = hashlib.sha256()
    for name in names:
        with open(os.path.join(CROPS_DIR, name), "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        listing.update(name.encode() + b"\0" + digest.encode() + b"\n")
    assert listing.hexdigest() == CROPS_SHA256, (
        "sample-images/crops/ changed: run sample-images/make_crops.py --sources DIR to see which "
        "file differs from its recipe")
