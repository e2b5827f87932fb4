"""What the HTML report shows of two decoded images that differ: both images and where they
differ, in absolute levels, at full resolution and shrunk without losing a single pixel.

Pure numpy (no imaging library). Colours follow one absolute scale for every image of a report
(1 level always looks like 1 level), with a per-image stretch as an option; shrinking keeps each
block's largest difference (max-pool), so a lone 1-level pixel survives any scale.
"""

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from .diffstats import is_image
from .png import encode_png

# Absolute difference bins (largest channel difference of a pixel, in levels) and their colours
# on black. Level 1 is already a saturated blue: the 4:4:4 photo's one-level pixels must show.
LEVEL_BINS = ((1, 1), (2, 2), (3, 4), (5, 8), (9, 16), (17, 32), (33, 64), (65, 128), (129, 255))
BIN_COLOURS = ((64, 96, 255), (0, 170, 255), (0, 214, 190), (40, 220, 70), (180, 235, 30),
               (255, 215, 0), (255, 140, 0), (255, 50, 40), (255, 255, 255))
# Longest side of the images a view embeds: larger ones are shrunk by an integer factor (photo:
# every factor-th pixel; difference: max-pool), so a 12 MP photo costs no more than ~1 MP.
VIEW_SIDE = 1024
# Longest side of the overview difference map shown when a view is fitted to its panel: small
# enough to be scaled *up* in any panel at least this wide (upscaling never drops a pixel).
OVERVIEW_SIDE = 200
# At most this many differing pixels are listed and ringed one by one, each with a close-up:
# its CLOSEUP x CLOSEUP neighbourhood in both images and the difference, ZOOMED times larger.
POINT_LIMIT = 40
CLOSEUP = 9
CLOSEUP_ZOOM = 8
_OUTLINE = (255, 43, 214)  # the rings' magenta
# zlib level of the views' PNGs: on difference maps of noisy photos level 6 takes four times as
# long as level 4 for 3% fewer bytes (level 9: forty times); photos barely compress either way.
PNG_LEVEL = 4


@dataclass
class DiffView:
    """One divergent decoded image: PNGs to show side by side, and what the legend needs."""

    width: int  # of the images below (the view resolution)
    height: int
    scale: int  # the view is 1/scale of the original resolution (1: full resolution)
    original: Tuple[int, int]  # (width, height) of the decoded image
    difference: bytes  # absolute colours, view resolution
    difference_stretched: bytes  # colours stretched to this image's largest difference
    overview: bytes  # absolute colours, max-pooled to OVERVIEW_SIDE
    overview_stretched: bytes
    overview_scale: int  # overview pixels per view pixel, per side
    peak: int  # largest channel difference
    differing: int  # pixels that differ
    bin_counts: List[int]  # differing pixels per LEVEL_BINS entry
    # (x, y, level, reference pixel, other pixel) of each differing pixel, when there are few
    points: List[Tuple[int, int, int, List[int], List[int]]] = field(default_factory=list)
    closeups: List[bytes] = field(default_factory=list)  # one PNG per point
    reference: Optional[bytes] = None  # the photos, view resolution (None: not embedded)
    other: Optional[bytes] = None


def difference_levels(reference: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Per pixel, the largest absolute channel difference (0..255), as uint8 H x W."""
    levels = np.zeros(reference.shape[:2], np.uint8)
    for channel in range(reference.shape[2]):  # one channel at a time: a few MB at most
        a, b = reference[:, :, channel], other[:, :, channel]
        np.maximum(levels, np.maximum(a, b) - np.minimum(a, b), out=levels)  # |b - a| in uint8
    return levels


def max_pool(levels: np.ndarray, factor: int) -> np.ndarray:
    """Shrink by ``factor`` per side keeping each block's largest value (edges padded with 0)."""
    if factor <= 1:
        return levels
    height = -(-levels.shape[0] // factor) * factor
    width = -(-levels.shape[1] // factor) * factor
    padded = np.zeros((height, width), levels.dtype)
    padded[:levels.shape[0], :levels.shape[1]] = levels
    return padded.reshape(height // factor, factor, width // factor, factor).max(axis=(1, 3))


def bin_index(levels: np.ndarray) -> np.ndarray:
    """LEVEL_BINS index of each level (-1 for 0: no difference)."""
    uppers = np.array([upper for _, upper in LEVEL_BINS])
    index = np.searchsorted(uppers, levels, side="left")
    return np.where(levels == 0, -1, index)


# Black, then the LEVEL_BINS colours: a difference map is an index into it.
PALETTE = np.array(((0, 0, 0),) + BIN_COLOURS, np.uint8)
# Palette index of each level 0..255 on the absolute scale: a table lookup per pixel.
_ABSOLUTE = (bin_index(np.arange(256)) + 1).astype(np.uint8)


def colour_index(levels: np.ndarray, peak: Optional[int] = None) -> np.ndarray:
    """PALETTE index (uint8) of each level: 0 where equal, 1 + its LEVEL_BINS index elsewhere.

    With ``peak`` the scale is stretched: 1..peak is spread over all colours (the largest
    difference of this image is white), so a faint pattern shows its shape.
    """
    table = _ABSOLUTE
    if peak:
        stretched = np.ceil(np.arange(256, dtype=np.float64) * len(LEVEL_BINS) / peak)
        table = np.clip(stretched, 0, len(LEVEL_BINS)).astype(np.uint8)
    return table[levels]


def colourise(levels: np.ndarray, peak: Optional[int] = None) -> np.ndarray:
    """RGB image of ``levels``: black where equal, LEVEL_BINS colours elsewhere (see
    colour_index for ``peak``)."""
    return PALETTE[colour_index(levels, peak)]


def map_png(levels: np.ndarray, peak: Optional[int] = None) -> bytes:
    """colourise(levels, peak) as an indexed-colour PNG: a third of the bytes to compress,
    and a fraction of the size, of the RGB one; the same colours."""
    return encode_png(colour_index(levels, peak), PNG_LEVEL, palette=PALETTE)


def shrink_factor(width: int, height: int, side: int) -> int:
    return max(1, -(-max(width, height) // side))


def view_bytes(view: DiffView) -> int:
    """What a view adds to an HTML page: its PNGs (close-ups included) base64-encoded, and the
    markup of its figure and of each differing pixel's marks, close-up and table row (measured:
    ~1 KB, and up to ~600 bytes per pixel with the longest names; counted high)."""
    pngs = sum(len(value) for value in vars(view).values() if isinstance(value, bytes))
    pngs += sum(len(png) for png in view.closeups)
    return (pngs + 2) // 3 * 4 + 2000 + 700 * len(view.points)


def build_view(reference: np.ndarray, other: np.ndarray, photos: bool = True
               ) -> Optional[DiffView]:
    """The view of two decoded images (uint8 H x W x C of one shape, C 1, 3 or 4: grey, RGB,
    RGBA/CMYK, what decoders give); None for anything else (e.g. grey + alpha).

    ``photos``: embed both images too (a few hundred KB each), not only the difference maps.
    """
    if reference.shape != other.shape or not (is_image(reference) and is_image(other)):
        return None
    levels = difference_levels(reference, other)
    height, width = levels.shape
    scale = shrink_factor(width, height, VIEW_SIDE)
    shown = max_pool(levels, scale)
    overview_scale = shrink_factor(shown.shape[1], shown.shape[0], OVERVIEW_SIDE)
    pooled = max_pool(shown, overview_scale)
    peak = int(levels.max())
    counts = np.bincount(colour_index(levels).ravel(), minlength=len(PALETTE))[1:]
    differing = int((levels > 0).sum())
    points = []
    closeups = []
    if 0 < differing <= POINT_LIMIT:
        for y, x in zip(*np.nonzero(levels)):
            points.append((int(x), int(y), int(levels[y, x]),
                           reference[y, x].tolist(), other[y, x].tolist()))
            closeups.append(encode_png(closeup(reference, other, levels, int(x), int(y)),
                                       PNG_LEVEL))
    view = DiffView(
        width=shown.shape[1], height=shown.shape[0], scale=scale, original=(width, height),
        difference=map_png(shown),
        difference_stretched=map_png(shown, peak),
        overview=map_png(pooled),
        overview_stretched=map_png(pooled, peak),
        overview_scale=overview_scale, peak=peak, differing=differing,
        bin_counts=[int(c) for c in counts], points=points,
        closeups=closeups)
    if photos:
        view.reference = encode_png(_photo(reference, scale), PNG_LEVEL)
        view.other = encode_png(_photo(other, scale), PNG_LEVEL)
    return view


def closeup(reference: np.ndarray, other: np.ndarray, levels: np.ndarray, x: int, y: int
            ) -> np.ndarray:
    """Pixel (x, y) and its neighbours: reference | other | difference, each CLOSEUP pixels
    square drawn CLOSEUP_ZOOM times larger, the pixel outlined (grey beyond the image edge)."""
    half = CLOSEUP // 2
    top, left = y - half, x - half
    rows = slice(max(0, top), min(levels.shape[0], top + CLOSEUP))
    cols = slice(max(0, left), min(levels.shape[1], left + CLOSEUP))
    inside = (slice(rows.start - top, rows.stop - top), slice(cols.start - left, cols.stop - left))
    tiles = []
    # Cut the neighbourhood first: only 9 x 9 pixels are converted, however large the image.
    for part in (_rgb(reference[rows, cols]), _rgb(other[rows, cols]),
                 colourise(levels[rows, cols])):
        tile = np.full((CLOSEUP, CLOSEUP, 3), 128, np.uint8)
        tile[inside] = part
        big = np.repeat(np.repeat(tile, CLOSEUP_ZOOM, axis=0), CLOSEUP_ZOOM, axis=1)
        low, high = half * CLOSEUP_ZOOM - 1, (half + 1) * CLOSEUP_ZOOM
        big[low, low:high + 1] = big[high, low:high + 1] = _OUTLINE
        big[low:high + 1, low] = big[low:high + 1, high] = _OUTLINE
        tiles.append(big)
    gap = np.full((tiles[0].shape[0], 4, 3), 255, np.uint8)
    return np.concatenate([tiles[0], gap, tiles[1], gap, tiles[2]], axis=1)


def _rgb(pixels: np.ndarray) -> np.ndarray:
    """Three channels: grey repeated, a fourth (alpha) dropped."""
    if pixels.shape[2] == 1:
        return np.repeat(pixels, 3, axis=2)
    return pixels[:, :, :3]


def _photo(pixels: np.ndarray, scale: int) -> np.ndarray:
    """The image as a PNG can show it at the view resolution (grey stays grey, CMYK-like
    4-channel arrays keep their first three channels)."""
    shown = pixels[::scale, ::scale]
    if shown.shape[2] == 4:
        shown = shown[:, :, :3]
    return np.ascontiguousarray(shown)
