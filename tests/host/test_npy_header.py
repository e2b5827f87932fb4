"""arrays.read_npy parses numpy's standard .npy header itself (numpy's parser compiles it, most
of the cost of opening a small array) and gives exactly what numpy's np.load gives; any other
header still goes through numpy's parser."""

import io
import struct

import numpy as np
import pytest

from edgeparity import arrays


def _npy(array, **kwargs):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize("array", [
    np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
    np.arange(6, dtype=">i2").reshape(3, 2),
    np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4)),
    np.array(3.5),  # 0-d: shape ()
    np.zeros((0, 3), np.uint16),
    np.arange(10, dtype=np.int64),
    np.ones((1, 1, 1), bool),
    np.array([1 + 2j], np.complex128),
    np.array([b"ab", b"c"]),
    np.array(["x", "yz"]),
    np.zeros(3, [("a", "<u1"), ("b", "<f4")]),  # a structured dtype: numpy's parser
])
@pytest.mark.parametrize("version", [None, (2, 0)])
def test_same_array_as_numpy(array, version):
    data = _npy(array, version=version) if version else _npy(array)
    got = arrays.read_npy(io.BytesIO(data), 1 << 20, "x.npy")
    expected = np.load(io.BytesIO(data))
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.flags.f_contiguous == expected.flags.f_contiguous
    assert np.array_equal(got, expected)


def _with_header(text, data=b"\0" * 6):
    header = text.encode("latin1")
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


def test_unusual_headers_go_through_numpys_parser():
    # Keys in another order and no trailing comma: valid for numpy, not the standard form.
    data = _with_header("{'shape': (2, 3), 'fortran_order': False, 'descr': '|u1'}")
    assert arrays.read_npy(io.BytesIO(data), 100, "x").shape == (2, 3)
    data = _with_header("{'descr': '<u2', 'fortran_order': False, 'shape': (3,)}")
    assert arrays.read_npy(io.BytesIO(data), 100, "x").shape == (3,)


@pytest.mark.parametrize("text", [
    "{'descr': '|u1', 'fortran_order': False, 'shape': (6), }",  # not a tuple
    "{'descr': '|u1', 'fortran_order': 0, 'shape': (6,), }",
    "{'descr': '|q9', 'fortran_order': False, 'shape': (6,), }",  # no such dtype
    "{'descr': '|u1', 'fortran_order': False, 'shape': (-6,), }",
    "{'descr': '|u1', 'fortran_order': False, 'shape': (6,), 'x': 1, }",
    "[1, 2]",
])
def test_bad_headers_are_refused(text):
    with pytest.raises(ValueError, match=r"x\.npy: not a readable \.npy array"):
        arrays.read_npy(io.BytesIO(_with_header(text)), 100, "x.npy")


@pytest.mark.parametrize("data", [b"", b"\x93NUMP", b"\x93NUMPY\x01\x00\x80",
                                  b"PK\x03\x04 not npy at all", b"\x93NUMPY\x09\x00\x10\x00"])
def test_truncated_or_foreign_files_are_refused(data):
    with pytest.raises(ValueError, match=r"x\.npy: not a readable \.npy array"):
        arrays.read_npy(io.BytesIO(data), 100, "x.npy")


def test_truncated_header_body():
    data = _npy(np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="not a readable"):
        arrays.read_npy(io.BytesIO(data[:40]), 100, "x.npy")


def test_a_huge_declared_header_is_refused_before_it_is_read():
    """A 2.0 header may declare 4 GiB: refused by its length, not read (nor decompressed)."""

    class Endless(io.RawIOBase):
        def __init__(self, head):
            self.head, self.served = head, 0

        def readable(self):
            return True

        def readinto(self, buffer):
            chunk = (self.head + b" " * len(buffer))[:len(buffer)]
            self.head = self.head[len(chunk):]
            buffer[:len(chunk)] = chunk
            self.served += len(chunk)
            return len(chunk)

    stream = Endless(b"\x93NUMPY\x02\x00" + struct.pack("<I", 2 ** 32 - 1))
    with pytest.raises(ValueError, match="header of"):
        arrays.read_npy(io.BufferedReader(stream), 1 << 20, "bomb.npy")
    assert stream.served < 1 << 20
