"""Array bookkeeping with bounded memory: content digests, summary statistics, and reading
``.npy`` data whose header is checked before anything is allocated.

A Jetson Nano has 4 GB. A decoded 13000 x 13000 photo is 507 MB as uint8 and 4 GB as float64,
so nothing here makes a whole-array copy in a wider dtype: statistics go through the array in
chunks (8-bit data as exact sums over one reused float32 block), and an ``.npy`` header
declaring more bytes than allowed is refused before its data is read.

Runs in every environment (CPython 3.6, numpy only).
"""

import hashlib
import io
import re
import struct
import threading
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

# Elements per chunk: 4 Mi elements is 32 MB of float64 scratch at most.
CHUNK_ELEMENTS = 1 << 22


class ArrayTooLarge(ValueError):
    """An array (or an .npy header) larger than the configured limit."""


def array_digest(array: np.ndarray) -> str:
    """sha256 of an array's dtype, shape and C-order bytes: equal digests mean identical arrays.

    The dtype and shape go in first so that, e.g., 4 zero bytes as uint8[4] and as float32[1]
    never collide.
    """
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256()
    digest.update("{}|{}|".format(array.dtype.str, ",".join(map(str, array.shape))).encode())
    digest.update(memoryview(array).cast("B") if array.size else b"")
    return digest.hexdigest()


def _chunks(flat: np.ndarray):  # type: ignore[no-untyped-def]
    for start in range(0, flat.size, CHUNK_ELEMENTS):
        yield flat[start:start + CHUNK_ELEMENTS]


# 8-bit statistics in float32 blocks of _ROW values: every square (<= 255**2) and every sum of
# _ROW of them (<= 256 * 65025 < 2**24) is an integer float32 holds exactly, whatever order
# BLAS adds in, so the per-row sums are exact; rows are then added in float64 (exact below
# 2**53) and the totals kept as Python ints. One float32 scratch block of _BYTE_BLOCK values
# (1 MB) is reused: no whole-array copy, and ~4x less CPU than np.bincount, which first
# converts every byte to an 8-byte intp.
_ROW = 256
_BYTE_BLOCK = 1 << 18


_SCRATCH = threading.local()


def _byte_scratch() -> Tuple[np.ndarray, np.ndarray]:
    """This thread's float32 block and row of ones, allocated once: a 1 MB block allocated and
    freed per array makes glibc hand memory back to the kernel and fault it in again, which
    cost more than the sums themselves."""
    if not hasattr(_SCRATCH, "block"):
        _SCRATCH.block = np.empty((_BYTE_BLOCK // _ROW, _ROW), dtype=np.float32)
        _SCRATCH.ones = np.ones(_ROW, dtype=np.float32)
    return _SCRATCH.block, _SCRATCH.ones


def _byte_sums(flat: np.ndarray) -> Tuple[int, int]:
    """(sum, sum of squares) of an 8-bit array, exactly."""
    block, ones = _byte_scratch()
    total, squares = 0, 0
    whole = flat.size - flat.size % _ROW
    for start in range(0, whole, _BYTE_BLOCK):
        chunk = flat[start:min(start + _BYTE_BLOCK, whole)]
        scratch = block[:chunk.size // _ROW]
        np.copyto(scratch, chunk.reshape(-1, _ROW))
        total += int(np.dot(scratch, ones).sum(dtype=np.float64))
        np.multiply(scratch, scratch, out=scratch)
        squares += int(np.dot(scratch, ones).sum(dtype=np.float64))
    tail = flat[whole:].astype(np.int64)  # fewer than _ROW values
    return total + int(tail.sum()), squares + int((tail * tail).sum())


def array_stats(array: np.ndarray) -> Dict[str, Optional[float]]:
    """min/max/mean/std kept in the manifest, so goldens and reports need no array files.

    Same numbers as numpy's ``min``/``max``/``mean``/``std`` on a float64 copy, without making
    that copy: 8-bit data through exact integer sums (``_byte_sums``), wider data in float64
    chunks (two passes, like numpy's std, so the deviation is not computed from a rounded sum
    of squares).
    """
    if array.size == 0 or not np.issubdtype(array.dtype, np.number):
        return {"min": None, "max": None, "mean": None, "std": None}
    flat = np.ascontiguousarray(array).reshape(-1)
    if flat.dtype.itemsize == 1 and flat.dtype.kind in "ui":
        count = flat.size
        total, squares = _byte_sums(flat)
        # Exact integers until the one rounding of each division: the same numbers as numpy's
        # two-pass float64 mean and std, to within their rounding.
        variance = (count * squares - total * total) / (count * count)
        return {"min": float(flat.min()), "max": float(flat.max()), "mean": total / count,
                "std": variance ** 0.5}
    count, total, low, high, nonfinite = 0, 0.0, None, None, 0
    for chunk in _chunks(flat):
        values = chunk.astype(np.float64)
        finite = np.isfinite(values)
        if not finite.all():
            nonfinite += int((~finite).sum())
            values = values[finite]
        if values.size == 0:
            continue
        count += values.size
        total += float(values.sum())
        chunk_low, chunk_high = float(values.min()), float(values.max())
        low = chunk_low if low is None else min(low, chunk_low)
        high = chunk_high if high is None else max(high, chunk_high)
    if count == 0:
        return {"min": None, "max": None, "mean": None, "std": None, "nonfinite": nonfinite}
    mean = total / count
    squares = 0.0
    for chunk in _chunks(flat):
        values = chunk.astype(np.float64)
        if nonfinite:
            values = values[np.isfinite(values)]
        squares += float(((values - mean) ** 2).sum())
    stats = {"min": low, "max": high, "mean": mean, "std": (squares / count) ** 0.5}
    if nonfinite:
        stats["nonfinite"] = nonfinite  # the others are of the finite values
    return stats


def read_npy(stream: Any, max_bytes: int, what: str,
             expect: Optional[Tuple[Tuple[int, ...], str]] = None) -> np.ndarray:
    """Read one ``.npy`` array from a binary stream (a file, or a gzip stream) with a bound.

    The header's shape x dtype is checked against ``max_bytes`` (and against ``expect``, the
    (shape, dtype.str) a manifest promised) before the data is read, and never more than the
    declared number of bytes is read: a header declaring a huge array, or a gzip bomb, costs
    nothing. Raises ArrayTooLarge or ValueError naming ``what``.
    """
    try:
        shape, fortran, dtype = _read_header(stream)
    except (ValueError, EOFError, OSError) as exc:
        raise ValueError("{}: not a readable .npy array ({})".format(what, exc)) from None
    if any(int(size) < 0 for size in shape):  # numpy's parser lets them through
        raise ValueError("{}: not a readable .npy array (shape {})".format(what, list(shape)))
    if dtype.hasobject:
        raise ValueError("{}: holds Python objects; only numeric arrays are read".format(what))
    count = 1
    for size in shape:
        count *= int(size)
    nbytes = count * dtype.itemsize
    if expect is not None and (tuple(shape) != tuple(expect[0]) or dtype.str != expect[1]):
        raise ValueError("{}: holds {} {}, not the {} {} its manifest lists".format(
            what, dtype.str, list(shape), expect[1], list(expect[0])))
    if nbytes > max_bytes:
        raise ArrayTooLarge("{}: declares a {} array of {} (shape {}), over the {} limit".format(
            what, dtype.name, _megabytes(nbytes), list(shape), _megabytes(max_bytes)))
    flat = np.empty(count, dtype=dtype)
    # readinto the final buffer: no second copy, and never more than the declared bytes.
    view = memoryview(flat).cast("B") if count else memoryview(b"")
    filled = 0
    while filled < nbytes:
        got = stream.readinto(view[filled:])
        if not got:
            raise ValueError("{}: truncated ({} of {} bytes)".format(what, filled, nbytes))
        filled += got
    if stream.read(1):
        raise ValueError("{}: holds data after its array (the file was changed)".format(what))
    return flat.reshape(shape, order="F" if fortran else "C")


# The header numpy's writer produces for a plain dtype (every array a bundle holds), e.g.
# "{'descr': '|u1', 'fortran_order': False, 'shape': (163, 248, 3), }" padded with spaces and a
# newline. numpy parses it with ast.literal_eval, whose compile() is most of the cost of opening
# a small array; anything else still goes through numpy's own parser.
_SIMPLE_HEADER = re.compile(
    r"\{'descr': '([<>|=]?[a-zA-Z][0-9]*)', 'fortran_order': (True|False), "
    r"'shape': \((|(?:0|[1-9][0-9]*),|(?:0|[1-9][0-9]*)(?:, (?:0|[1-9][0-9]*))+)\), \} *\n\Z")
_MAGIC = b"\x93NUMPY"
# numpy (>= 1.24) refuses longer headers by default: they go its way, to be refused the same.
_HEADER_LIMIT = 10000
# What a header may declare at all (format 1.0's largest): a 2.0 header may declare 4 GiB, which
# would be read, or decompressed from a gzip bomb, before anything else is checked.
_HEADER_READ_LIMIT = 65535


def _read_exactly(stream: Any, size: int) -> bytes:
    data = b""
    while len(data) < size:
        got = stream.read(size - len(data))
        if not got:
            raise ValueError("truncated header ({} of {} bytes)".format(len(data), size))
        data += got
    return data


def _read_header(stream: Any) -> Tuple[Tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) from an .npy header, leaving the stream at the data."""
    start = _read_exactly(stream, 10)  # magic, version, and a v1.0 header length
    if start[:6] != _MAGIC:
        raise ValueError("the magic string is not correct; not an .npy file")
    version = (start[6], start[7])
    if version == (1, 0):
        prefix = start[8:]
        length = struct.unpack("<H", prefix)[0]
    elif version in ((2, 0), (3, 0)):
        prefix = start[8:] + _read_exactly(stream, 2)
        length = struct.unpack("<I", prefix)[0]
    else:
        raise ValueError("unsupported .npy format version {}.{}".format(*version))
    if length > _HEADER_READ_LIMIT:  # refused before it is read (or decompressed)
        raise ValueError("header of {} bytes declared; an .npy header is at most {}".format(
            length, _HEADER_READ_LIMIT))
    header = _read_exactly(stream, length)
    match = _SIMPLE_HEADER.match(header.decode("latin1")) if length <= _HEADER_LIMIT else None
    if match:
        descr, fortran, dims = match.groups()
        shape = tuple(int(size) for size in dims.split(",") if size)
        try:
            dtype = np.dtype(descr)
        except TypeError:  # as numpy's parser says it
            raise ValueError("descr is not a valid dtype descriptor: {!r}".format(descr)) from None
        return shape, fortran == "True", dtype
    from numpy.lib import format as npy

    rest = io.BytesIO(prefix + header)
    if version == (1, 0):
        return npy.read_array_header_1_0(rest)
    return npy.read_array_header_2_0(rest)


def _megabytes(nbytes: int) -> str:
    return "{:.0f} MB".format(nbytes / 1e6) if nbytes >= 1e6 else "{} bytes".format(nbytes)


def npy_parts(array: np.ndarray) -> List[Any]:
    """The bytes ``np.save`` writes for a C-contiguous array, as [header, the array's memory].

    The array's own memory goes to the file as it is: np.save into a BytesIO made two more
    copies of it (tobytes, then the buffer). Not np.save(file) either: numpy reports a full
    disk as a short write without an errno, the file object as ENOSPC.
    """
    from numpy.lib import format as npy

    header = io.BytesIO()
    try:
        npy.write_array_header_1_0(header, npy.header_data_from_array_1_0(array))
    except ValueError:  # a header too long for format 1.0 (thousands of dimensions)
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return [buffer.getvalue()]
    return [header.getvalue(), memoryview(array).cast("B") if array.size else b""]


def npy_file_size(shape: Any, dtype: str) -> Optional[int]:
    """The size of the .npy file ``npy_parts`` writes for an array of ``shape`` and ``dtype``
    (None when its header would not be format 1.0)."""
    from numpy.lib import format as npy

    header = io.BytesIO()
    try:
        npy.write_array_header_1_0(header, {"descr": npy.dtype_to_descr(np.dtype(dtype)),
                                            "fortran_order": False, "shape": tuple(shape)})
    except (ValueError, TypeError):
        return None
    count = 1
    for size in shape:
        count *= int(size)
    return len(header.getvalue()) + count * np.dtype(dtype).itemsize
