"""JPEG header facts recorded at capture (compare explains differences with them)."""

import os

from conftest import SAMPLES
from edgeparity.inputs import jpeg_header


def header_of(name):
    with open(os.path.join(SAMPLES, name), "rb") as handle:
        return jpeg_header(handle.read())


def test_header_facts_of_the_sample_images():
    # What each file is was chosen when the samples were made (see their names).
    assert header_of("photo-420.jpg") == {"coding": "baseline", "components": 3,
                                          "colour": "YCbCr"}
    assert header_of("photo-progressive.jpg")["coding"] == "progressive"
    assert header_of("photo-arithmetic.jpg")["coding"] == "arithmetic"
    assert header_of("photo-grayscale.jpg")["colour"] == "grayscale"
    assert header_of("photo-cmyk-adobe.jpg")["colour"] == "CMYK"
    assert header_of("cmyk-ycck-photoshop.jpg")["colour"] == "YCCK"
    assert header_of("photo-exif-orientation6.jpg")["exif_orientation"] == 6


def test_truncated_or_foreign_data_never_raises():
    assert jpeg_header(b"\x89PNG\r\n\x1a\n") is None
    with open(os.path.join(SAMPLES, "photo-exif-orientation6.jpg"), "rb") as handle:
        data = handle.read(4096)
    for end in range(0, len(data), 7):
        facts = jpeg_header(data[:end])
        assert facts is None or isinstance(facts, dict)


def test_a_damaged_exif_block_keeps_the_frame_facts():
    with open(os.path.join(SAMPLES, "photo-420.jpg"), "rb") as handle:
        data = handle.read()
    broken_exif = b"\xff\xe1\x00\x10Exif\x00\x00II*\x00\xff\xff\x00\x00"  # IFD beyond the block
    facts = jpeg_header(data[:2] + broken_exif + data[2:])
    assert facts == {"coding": "baseline", "components": 3, "colour": "YCbCr"}


def test_a_file_cut_short_is_flagged_and_no_whole_sample_is():
    """A download or copy that stopped: no end-of-image marker after the last scan. Every whole
    sample (progressive, arithmetic, restart markers, an EXIF thumbnail, a two-image MPO) is not
    flagged."""
    flagged = []
    for folder, _, files in os.walk(SAMPLES):
        for name in files:
            if name.lower().endswith((".jpg", ".jpeg")):
                with open(os.path.join(folder, name), "rb") as handle:
                    facts = jpeg_header(handle.read()) or {}
                if facts.get("truncated"):
                    flagged.append(name)
    assert flagged == []
    for name in ("photo-420.jpg", "photo-progressive.jpg", "photo-exif-orientation6.jpg"):
        with open(os.path.join(SAMPLES, name), "rb") as handle:
            data = handle.read()
        for keep in (0.3, 0.9):
            assert jpeg_header(data[:int(len(data) * keep)])["truncated"] is True, (name, keep)
        assert "truncated" not in jpeg_header(data + b"\x00" * 16)  # padding after the end
        # A trailer after the end (a motion photo's video, an archive) may hold any bytes.
        assert "truncated" not in jpeg_header(data + b"\xff\xda\x00\x08" + bytes(range(256)))
    # Cut before the image's own scan: the EXIF thumbnail's markers (its own scan and end)
    # are inside a segment that is stepped over, not taken for the image's.
    with open(os.path.join(SAMPLES, "camera-canon-s40.jpg"), "rb") as handle:
        data = handle.read()
    assert data.find(b"\xff\xd9") < data.rfind(b"\xff\xda")  # it has a thumbnail
    assert jpeg_header(data[:data.rfind(b"\xff\xda") - 10])["truncated"] is True
