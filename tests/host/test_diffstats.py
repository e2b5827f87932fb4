"""The integer fast path of difference_stats gives exactly the numbers of the float64 path.

The float64 path is the definition (numpy.isclose-style, numpy.percentile for p99); the integer
path computes the same statistics in chunks from a histogram, for bounded memory on large
images. Random arrays of every small integer dtype, shape and share of changed values.
"""

import numpy as np
import pytest

from edgeparity import diffstats


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16])
def test_integer_path_matches_the_float_path_exactly(dtype, monkeypatch):
    rng = np.random.RandomState(7)
    info = np.iinfo(dtype)
    for trial in range(60):
        height, width = rng.randint(1, 70, 2)
        shape = (height, width, int(rng.choice([1, 3, 4]))) if trial % 3 else (rng.randint(1, 500),)
        a = rng.randint(info.min, int(info.max) + 1, shape).astype(dtype)
        b = a.copy()
        changed = rng.rand(*shape) < rng.rand()
        b[changed] = rng.randint(info.min, int(info.max) + 1, int(changed.sum())).astype(dtype)
        if trial % 5 == 0:  # a single one-level difference, the 4:4:4 photo's case
            b = a.copy()
            b.flat[0] = a.flat[0] ^ 1
        fast = diffstats.difference_stats(a, b, 1e-5, 1e-5)
        with monkeypatch.context() as patch:
            patch.setattr(diffstats, "_small_integers", lambda array: False)
            slow = diffstats.difference_stats(a, b, 1e-5, 1e-5)
        assert fast == slow, (trial, shape)


def test_large_image_is_chunked(monkeypatch):
    monkeypatch.setattr(diffstats, "_CHUNK_ELEMENTS", 1000)  # force many chunks
    rng = np.random.RandomState(3)
    a = rng.randint(0, 256, (300, 200, 3)).astype(np.uint8)
    b = np.clip(a.astype(np.int16) + rng.randint(-3, 4, a.shape), 0, 255).astype(np.uint8)
    fast = diffstats.difference_stats(a, b, 0, 0)
    monkeypatch.setattr(diffstats, "_small_integers", lambda array: False)
    assert fast == diffstats.difference_stats(a, b, 0, 0)


def _float_path(a, b, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(diffstats, "_small_integers", lambda array: False)
        return diffstats.difference_stats(a, b, 1e-5, 1e-5)


def _random_array(rng, dtype, shape, extremes):
    info = np.iinfo(dtype)
    if extremes:  # only the smallest and largest values, and zero: the widest differences
        return rng.choice(np.array([info.min, 0, info.max], dtype=dtype), shape)
    return rng.randint(info.min, int(info.max) + 1, shape).astype(dtype)


SHAPES = [(1, 1, 1), (1, 1, 3), (1, 1, 4), (7, 5, 3), (9, 11, 4), (13, 6, 1), (17, 23),
          (1,), (5,), (301,), (4, 5, 2), (2, 3, 4, 3)]
DTYPES = [np.uint8, np.int8, np.uint16, np.int16]


@pytest.mark.parametrize("chunk", [7, 1000, 1 << 18])
def test_randomized_integer_path_matches_the_float_path(chunk, monkeypatch):
    """Every 8/16-bit dtype (and mixed pairs), 1/3/4 channels, 2-D and other shapes, a 1 x 1
    image, extreme values, zeros in the reference, all-equal arrays; chunked or not."""
    monkeypatch.setattr(diffstats, "_CHUNK_ELEMENTS", chunk)
    rng = np.random.RandomState(chunk)
    for trial in range(400):
        shape = SHAPES[trial % len(SHAPES)]
        ref_type = DTYPES[rng.randint(len(DTYPES))]
        other_type = ref_type if trial % 4 else DTYPES[rng.randint(len(DTYPES))]
        extremes = trial % 7 == 0
        a = _random_array(rng, ref_type, shape, extremes)
        kind = trial % 5
        if kind == 0:
            b = a.astype(other_type)  # all equal (a dtype mismatch at most)
            b = b if np.array_equal(b.astype(np.int64), a.astype(np.int64)) else a.copy()
        elif kind == 1:  # zeros in the reference, some of them changed
            a[rng.rand(*shape) < 0.3] = 0
            b = _random_array(rng, other_type, shape, extremes)
        elif kind == 2:  # small changes, as two JPEG decoders make
            wide = a.astype(np.int64) + rng.randint(-3, 4, shape)
            info = np.iinfo(other_type)
            b = np.clip(wide, info.min, info.max).astype(other_type)
        else:
            b = _random_array(rng, other_type, shape, extremes)
        fast = diffstats.difference_stats(a, b, 1e-5, 1e-5)
        assert fast == _float_path(a, b, monkeypatch), (trial, shape, a.dtype, b.dtype)


def test_relative_error_ties_and_near_ties(monkeypatch):
    """Ratios that are equal (1/2, 2/4) or nearly so (254/255 vs 253/254) pick the same
    float64 as the float path."""
    a = np.array([[[2, 4, 255], [254, 1, 128]]], np.uint8)
    b = np.array([[[3, 6, 1], [1, 1, 0]]], np.uint8)
    assert diffstats.difference_stats(a, b, 0, 0) == _float_path(a, b, monkeypatch)
    rng = np.random.RandomState(5)
    for _ in range(200):  # every pair of one array has a ratio near the others'
        a = rng.randint(200, 256, (4, 4, 3)).astype(np.uint8)
        b = (a - rng.randint(190, 200, a.shape)).astype(np.uint8)
        assert diffstats.difference_stats(a, b, 0, 0) == _float_path(a, b, monkeypatch)


def test_change_from_zero_is_an_infinite_relative_error():
    a = np.zeros((3, 3, 3), np.uint8)
    b = a.copy()
    b[1, 1, 1] = 1
    stats = diffstats.difference_stats(a, b, 0, 0)
    assert stats["max_rel_error"] == float("inf")
    assert stats["fraction_pixels_differ"] == 1 / 9
    assert stats["max_channel_diff"] == 1


def test_non_contiguous_arrays(monkeypatch):
    rng = np.random.RandomState(11)
    a = rng.randint(0, 256, (20, 30, 3)).astype(np.uint8)
    b = np.clip(a.astype(np.int16) + rng.randint(-2, 3, a.shape), 0, 255).astype(np.uint8)
    for view in (lambda x: x[::2, 1::3], lambda x: np.asfortranarray(x), lambda x: x[:, ::-1]):
        assert diffstats.difference_stats(view(a), view(b), 0, 0) == _float_path(
            view(a), view(b), monkeypatch)


def test_float32_orders_every_8bit_ratio_exactly():
    """_Ratio's premise: float32 neither merges nor reorders two ratios d / |a| of 8-bit values
    (d, |a| <= 255), so its largest float32 is at a pair with the largest exact ratio."""
    d, a = np.meshgrid(np.arange(1, 256, dtype=np.int64), np.arange(1, 256, dtype=np.int64))
    d, a = d.ravel(), a.ravel()
    order = np.argsort(d / a, kind="stable")  # float64 orders them exactly (gaps > 2**-16)
    d, a = d[order], a[order]
    single = d.astype(np.float32) / a.astype(np.float32)
    equal = d[1:] * a[:-1] == d[:-1] * a[1:]
    assert (single[1:][equal] == single[:-1][equal]).all()
    assert (single[1:][~equal] > single[:-1][~equal]).all()
