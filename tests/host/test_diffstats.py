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
