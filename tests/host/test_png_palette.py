"""Indexed-colour PNGs (difference maps): what Pillow reads back is colourise's RGB image."""

import io

import numpy as np
import pytest
from PIL import Image

from edgeparity import diffview
from edgeparity.png import encode_png


@pytest.mark.parametrize("peak", [None, 1, 7, 255])
def test_map_png_shows_colourise(peak):
    rng = np.random.RandomState(0)
    levels = rng.randint(0, 256, (37, 53)).astype(np.uint8)
    levels[rng.rand(37, 53) < 0.5] = 0
    levels[0, 0] = 255
    with Image.open(io.BytesIO(diffview.map_png(levels, peak))) as image:
        assert image.mode == "P"
        shown = np.asarray(image.convert("RGB"))
    assert np.array_equal(shown, diffview.colourise(levels, peak))


def test_colour_index_is_the_bins():
    levels = np.arange(256, dtype=np.uint8)
    assert np.array_equal(diffview.colour_index(levels), diffview.bin_index(levels) + 1)


def test_bad_palette_images_are_refused():
    palette = np.zeros((3, 3), np.uint8)
    with pytest.raises(ValueError):
        encode_png(np.full((2, 2), 3, np.uint8), palette=palette)  # past the palette
    with pytest.raises(ValueError):
        encode_png(np.zeros((2, 2, 3), np.uint8), palette=palette)
