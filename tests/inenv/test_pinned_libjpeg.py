"""The JPEG library Pillow really loads is the one this environment pins.

Each matrix image states the libjpeg its Pillow must decode with (``expect_libjpeg`` in
matrix.toml, passed in as EDGEPARITY_EXPECT_LIBJPEG), e.g. "IJG libjpeg 9d" for the 8.4.0
manylinux wheel or "libjpeg-turbo 2.0.6" for a Pillow built against Debian bullseye's
libjpeg62-turbo ("libjpeg-turbo 3" accepts any 3.x.y). A rebuilt base image, a changed build
argument or a different wheel can silently swap the library and with it the decoded pixels;
this test makes that drift fail loudly.

The library is identified from the file actually mapped into this process after a decode (read
from /proc/self/maps, then its embedded version string), not from PIL.features, which reports
only the API version Pillow was compiled against. Runs on CPython 3.6 with numpy and Pillow.
"""

import io
import os

import pytest

EXPECT_VARIABLE = "EDGEPARITY_EXPECT_LIBJPEG"


def matches(found, expected):
    """``expected`` names the build exactly or up to a version boundary.

    "libjpeg-turbo 3" accepts "libjpeg-turbo 3.1.1"; "libjpeg-turbo" accepts any turbo;
    "IJG libjpeg 9" does not accept "IJG libjpeg 9d" (9d is a different release than 9).
    """
    if not found:
        return False
    return found == expected or (found.startswith(expected) and found[len(expected)] in " .")


def test_matches_is_strict_at_version_boundaries():
    assert matches("libjpeg-turbo 3.1.1", "libjpeg-turbo 3")
    assert matches("libjpeg-turbo 2.0.6", "libjpeg-turbo")
    assert matches("IJG libjpeg 9d", "IJG libjpeg 9d")
    assert not matches("libjpeg-turbo 3.1.1", "libjpeg-turbo 3.1.10")
    assert not matches("libjpeg-turbo 2.0.6", "libjpeg-turbo 2.0.60")
    assert not matches("IJG libjpeg 9d", "IJG libjpeg 9")
    assert not matches("libjpeg-turbo 2.1.5", "IJG libjpeg 9d")
    assert not matches(None, "IJG libjpeg 9d")


def _decode_once_with_pillow():
    """Encode and decode a small JPEG so Pillow's codec is certainly loaded and used."""
    Image = pytest.importorskip("PIL.Image")
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 90)).save(buffer, "JPEG")
    decoded = Image.open(io.BytesIO(buffer.getvalue()))
    decoded.load()
    return Image


def test_pillow_loads_the_pinned_libjpeg():
    expected = os.environ.get(EXPECT_VARIABLE)
    if not expected:
        pytest.skip("{} is not set: this environment pins no libjpeg".format(EXPECT_VARIABLE))
    if not os.path.exists("/proc/self/maps"):
        pytest.skip("no /proc/self/maps here: cannot see which libjpeg is loaded")

    from edgeparity import native

    Image = _decode_once_with_pillow()
    binary = native.module_binary(Image.core)
    assert binary, "cannot locate Pillow's compiled _imaging module ({!r})".format(Image.core)
    loaded = native.jpeg_library_of(binary)

    where = loaded.get("path") or "(not mapped)"
    assert matches(loaded.get("build"), expected), (
        "Pillow decodes JPEG with {found} ({where}, {origin}), but this environment pins "
        "{expected} ({var}). The image's build changed: check its Pillow build and libjpeg "
        "package pins, or update expect_libjpeg in matrix.toml if the change is intended.".format(
            found=loaded.get("build") or "an unidentified library",
            where=where,
            origin=loaded.get("origin"),
            expected=expected,
            var=EXPECT_VARIABLE,
        )
    )
