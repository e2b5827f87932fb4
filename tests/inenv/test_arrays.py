"""array_stats: the manifest's min/max/mean/std are numpy's, computed without a float64 copy."""

import numpy as np
import pytest

from edgeparity import arrays
from edgeparity.arrays import array_stats


def _numpy_stats(array):
    values = array.astype(np.float64)
    return {"min": values.min(), "max": values.max(), "mean": values.mean(),
            "std": values.std()}


def _assert_same(array):
    got, expected = array_stats(array), _numpy_stats(array)
    assert got["min"] == expected["min"] and got["max"] == expected["max"]
    assert got["mean"] == pytest.approx(expected["mean"], rel=1e-12, abs=1e-12)
    assert got["std"] == pytest.approx(expected["std"], rel=1e-9, abs=1e-12)
    for key in ("min", "max", "mean", "std"):
        assert type(got[key]) is float  # JSON numbers, not numpy scalars


# Sizes around the float32 row and block boundaries of the 8-bit path, and a photo's.
SIZES = [1, 2, 255, 256, 257, 511, arrays._BYTE_BLOCK - 1, arrays._BYTE_BLOCK,
         arrays._BYTE_BLOCK + 257, 3 * arrays._BYTE_BLOCK + 5, 480 * 640 * 3]


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("size", SIZES)
def test_8bit_stats_equal_numpys_on_random_data(dtype, size):
    info = np.iinfo(dtype)
    rng = np.random.RandomState(size)
    _assert_same(rng.randint(info.min, info.max + 1, size).astype(dtype))


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_8bit_extremes_and_constants(dtype):
    info = np.iinfo(dtype)
    size = arrays._BYTE_BLOCK + 300
    for value in (info.min, info.max, 0, 1, -1 if info.min < 0 else 128):
        constant = np.full(size, value, dtype=dtype)
        _assert_same(constant)
        assert array_stats(constant)["std"] == 0.0
    # Every square at its largest, in every row: the exactness bound of the float32 rows.
    _assert_same(np.full(size, info.min, dtype=dtype))
    half = np.resize(np.array([info.min, info.max], dtype=dtype), size)
    _assert_same(half)
    stats = array_stats(half)
    assert stats["mean"] == (info.min + info.max) / 2.0
    assert stats["std"] == (info.max - info.min) / 2.0


def test_8bit_shapes_and_layouts():
    rng = np.random.RandomState(7)
    image = rng.randint(0, 256, (123, 77, 3)).astype(np.uint8)
    _assert_same(image)
    _assert_same(image[:, ::2])  # not contiguous
    _assert_same(np.asfortranarray(image))
    assert array_stats(image) == array_stats(image.reshape(-1))


def test_the_sums_are_exact_integers():
    rng = np.random.RandomState(3)
    for dtype in (np.uint8, np.int8):
        info = np.iinfo(dtype)
        flat = rng.randint(info.min, info.max + 1, 2 * arrays._BYTE_BLOCK + 999).astype(dtype)
        wide = flat.astype(np.int64)
        assert arrays._byte_sums(flat) == (int(wide.sum()), int((wide * wide).sum()))


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.float32, np.float64, np.int32])
def test_empty_arrays_have_no_stats(dtype):
    assert array_stats(np.zeros((0, 3), dtype=dtype)) == {
        "min": None, "max": None, "mean": None, "std": None}


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint16, np.int32])
def test_wider_dtypes_equal_numpys(dtype):
    rng = np.random.RandomState(11)
    values = rng.uniform(-1000, 1000, 10007)
    _assert_same(values.astype(dtype))


def test_nonfinite_values_are_counted_and_left_out():
    values = np.array([1.0, np.nan, 3.0, np.inf, -np.inf], dtype=np.float32)
    stats = array_stats(values)
    assert stats["nonfinite"] == 3
    assert (stats["min"], stats["max"], stats["mean"], stats["std"]) == (1.0, 3.0, 2.0, 1.0)
