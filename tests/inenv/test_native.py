"""Which JPEG library is really loaded: checked against Pillow's own claims and binutils."""

import io
import os
import shutil
import subprocess

import pytest

from edgeparity import native

PIL = pytest.importorskip("PIL", reason="Pillow is not installed in this environment")
from PIL import Image, features  # noqa: E402


def _decode_something():
    with open(
        os.path.join(os.path.dirname(__file__), "..", "..", "sample-images", "photo-420.jpg"), "rb"
    ) as handle:
        Image.open(io.BytesIO(handle.read())).convert("RGB")


def test_the_jpeg_library_pillow_links_is_mapped_after_a_decode():
    _decode_something()
    from PIL import _imaging

    info = native.jpeg_library_of(_imaging.__file__)
    assert info["linkage"] == "shared", info
    assert info["path"] and os.path.exists(info["path"])
    assert info["path"] in native.mapped_files()
    assert len(info["sha256"]) == 64


def test_identified_build_agrees_with_what_pillow_was_compiled_against():
    # Pillow knows its compile-time JPEG API: 9.0 for IJG libjpeg 9, 6.2/7.0/8.0 for turbo.
    _decode_something()
    from PIL import _imaging

    compiled = features.version("jpg")
    if compiled is None:
        pytest.skip("this Pillow does not report its JPEG version")
    build = native.jpeg_library_of(_imaging.__file__)["build"]
    if compiled.startswith("9"):
        assert build.startswith("IJG libjpeg 9"), build
    else:
        assert build.startswith("libjpeg-turbo"), build
        if hasattr(features, "check_feature"):
            turbo = features.check_feature("libjpeg_turbo")
            if turbo is not None:
                assert turbo


@pytest.mark.skipif(not shutil.which("readelf"), reason="readelf (binutils) is not installed")
def test_soname_and_needed_match_readelf():
    from PIL import _imaging

    _decode_something()
    library = native.jpeg_library_of(_imaging.__file__)["path"]
    output = subprocess.check_output(["readelf", "-d", library]).decode()
    sonames = [line.split("[")[1].rstrip("]") for line in output.splitlines() if "(SONAME)" in line]
    assert native.read_soname(library) == (sonames[0] if sonames else None)
    output = subprocess.check_output(["readelf", "-d", _imaging.__file__]).decode()
    needed = [
        line.split("[")[1].rstrip("]").strip() for line in output.splitlines() if "(NEEDED)" in line
    ]
    assert native.read_needed(_imaging.__file__) == needed


def test_non_elf_and_missing_files_are_harmless(tmp_path):
    text = tmp_path / "not-elf.so"
    text.write_text("hello")
    assert native.read_soname(str(text)) is None
    assert native.identify_jpeg_build(str(text)) is None
    assert native.identify_jpeg_build(str(tmp_path / "absent.so")) is None


def test_native_stderr_recovers_the_failed_check_and_passes_the_text_on(capfd):
    with native.NativeStderr() as stderr:
        # What libdlr prints from C++ before raising an exception with an empty message.
        os.write(2, b"[12:00:00] src/dlr.cc:42: some note\n")
        os.write(2, b"Check failed: (fp) != nullptr: cannot open model.so\n")
    assert "some note" in stderr.text
    assert stderr.reason() == "cannot open model.so"
    assert "Check failed" in capfd.readouterr().err  # nothing hidden from the user


@pytest.mark.skipif(not shutil.which("readelf"), reason="readelf (binutils) is not installed")
def test_every_mapped_library_reads_like_readelf_from_a_few_kilobytes(monkeypatch):
    from edgeparity.native import elf

    read = []

    class Counting(io.FileIO):
        def read(self, size=-1):
            data = super().read(size)
            read.append(len(data))
            return data

    monkeypatch.setattr(elf, "open", lambda path, mode: Counting(path, "r"), raising=False)
    _decode_something()
    libraries = [path for path in native.loaded_libraries() if os.path.isfile(path)]
    assert libraries
    for library in libraries[:40]:
        output = subprocess.check_output(["readelf", "-d", library]).decode()
        needed = [line.split("[")[1].rstrip("]").strip() for line in output.splitlines()
                  if "(NEEDED)" in line]
        sonames = [line.split("[")[1].rstrip("]") for line in output.splitlines()
                   if "(SONAME)" in line]
        del read[:]
        assert elf.read_dynamic(library) == {
            "soname": sonames[0] if sonames else None, "needed": needed}, library
        size = os.path.getsize(library)
        # The headers, the section table, .dynamic and .dynstr: not the code.
        assert sum(read) < max(64 * 1024, size // 4), (library, sum(read), size)


def _elf_with_dynamic_section(offset, size, shnum=2, shentsize=64):
    """A little-endian ELF64 header and a section table whose second section is SHT_DYNAMIC at
    ``offset``/``size`` (sizes a damaged or hostile file may declare)."""
    import struct

    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", header, 0x28, 64)  # e_shoff
    struct.pack_into("<HH", header, 0x3A, shentsize, shnum)
    table = bytearray(64 * 2)
    struct.pack_into("<I", table, 64 + 4, 6)  # SHT_DYNAMIC
    struct.pack_into("<QQ", table, 64 + 0x18, offset, size)
    struct.pack_into("<I", table, 64 + 0x28, 0)  # sh_link: the (empty) first section
    return bytes(header + table)


@pytest.mark.parametrize("fields", [
    dict(offset=0, size=2 ** 64 - 1),  # does not fit an index: OverflowError unless refused
    dict(offset=2 ** 40, size=4096),  # beyond the end of the file
    dict(offset=0, size=64, shnum=65535, shentsize=65535),  # a 4 GB section table
])
def test_read_dynamic_refuses_sizes_the_file_cannot_hold(tmp_path, fields):
    from edgeparity.native.elf import read_dynamic

    path = tmp_path / "hostile.so"
    path.write_bytes(_elf_with_dynamic_section(**fields))
    assert read_dynamic(str(path)) == {}


def test_probe_quotes_opencvs_own_build_line_as_such_without_its_padding():
    """OpenCV pads its build information in columns; its JPEG line is its own account (next
    to what edgeparity found in the binary), and is said to be."""
    cv2 = pytest.importorskip("cv2", reason="OpenCV is not installed in this environment")
    from edgeparity import probe
    from edgeparity.stages.decode_opencv import Impl

    decoder = Impl()
    decoder.load({})
    entry = {"status": "available", "details": decoder.provenance(), "description": ""}
    text = probe.format_text(dict(probe.collect({}), implementations={"decode/opencv": entry}))
    quoted = text.split("[OpenCV's build information: ", 1)[1].split("]", 1)[0]
    assert quoted.startswith("JPEG:") and "  " not in quoted, (quoted, cv2.__version__)
