"""Numbers that describe how two arrays differ, in the spirit of Polygraphy's comparator.

Everything here is a pure function of two numpy arrays, so it is easy to check by hand.
"""

import math
from typing import Any, Dict, Optional

import numpy as np

from .record_verdicts import DIFFERENT, WITHIN_TOLERANCE


def is_image(array: np.ndarray) -> bool:
    return array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] in (1, 3, 4)


def difference_stats(
    reference: np.ndarray, other: np.ndarray, atol: float, rtol: float
) -> Dict[str, Any]:
    """Verdict and error statistics of ``other`` against ``reference`` (same shape).

    Tolerance follows numpy.isclose: |other - reference| <= atol + rtol * |reference|.
    Integer arrays (decoded pixels) get no tolerance: any difference is a difference.
    """
    if reference.shape != other.shape:
        return {
            "verdict": DIFFERENT,
            "shape_mismatch": [list(reference.shape), list(other.shape)],
        }
    if _small_integers(reference) and _small_integers(other) and reference.size:
        return _integer_stats(reference, other)
    a = reference.astype(np.float64)
    b = other.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        # Equal values (same-sign infinities, NaN against NaN) are no difference at all;
        # any other mismatch involving a non-finite value is an infinite one.
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        diff = np.where(same, 0.0, np.abs(b - a))
        diff = np.where(np.isnan(diff), np.inf, diff)
        magnitude = np.abs(a)
        relative = np.where(
            same, 0.0, np.where(magnitude > 0, diff / np.where(magnitude > 0, magnitude, 1), np.inf)
        )
        relative = np.where(np.isnan(relative), np.inf, relative)
        finite_pair = np.isfinite(a) & np.isfinite(b)
        within = same | (finite_pair & (diff <= atol + rtol * magnitude))
    stats = {
        "max_abs_error": float(diff.max()) if diff.size else 0.0,
        "mean_abs_error": float(diff.mean()) if diff.size else 0.0,
        "p99_abs_error": _p99(diff),
        "max_rel_error": float(relative.max()) if relative.size else 0.0,
        "fraction_elements_differ": float((~same).mean()) if diff.size else 0.0,
        # The smallest tolerances under which the comparison would pass: what a user would
        # have to accept (Polygraphy calls this the minimum required tolerance).
        "min_atol_to_pass": float(diff.max()) if diff.size else 0.0,
        "min_rtol_to_pass": float(relative.max()) if relative.size else 0.0,
    }  # type: Dict[str, Any]
    if reference.dtype != other.dtype:
        stats["dtype_mismatch"] = [reference.dtype.str, other.dtype.str]
    floating = np.issubdtype(reference.dtype, np.floating) and np.issubdtype(
        other.dtype, np.floating
    )
    if floating and bool(np.all(within)):
        stats["verdict"] = WITHIN_TOLERANCE
    else:
        stats["verdict"] = DIFFERENT
    if is_image(reference) and is_image(other):
        per_pixel = diff.max(axis=2)
        stats["fraction_pixels_differ"] = float((per_pixel > 0).mean())
        stats["max_channel_diff"] = int(per_pixel.max())
    return stats


def _small_integers(array: np.ndarray) -> bool:
    return array.dtype.kind in "ui" and array.dtype.itemsize <= 2


# Elements per chunk of the integer path: 256 Ki elements keep each chunk's scratch (two float32
# arrays of it, a few uint8 ones) around 2 MB, in cache, for any image size.
_CHUNK_ELEMENTS = 1 << 18


def _integer_stats(reference: np.ndarray, other: np.ndarray) -> Dict[str, Any]:
    """difference_stats for 8/16-bit integer arrays (decoded pixels), in chunks.

    The same numbers as the float path (tests check them against it) without its float64
    copies: absolute differences are computed in the arrays' own width and counted in a
    histogram, from which the mean and the 99th percentile follow exactly; the largest
    relative error comes from one division per element (see ``_Ratio``).
    """
    image = is_image(reference) and is_image(other)
    channels = reference.shape[2] if image else 1
    chunk = max(channels, _CHUNK_ELEMENTS // channels * channels)  # whole pixels
    # One common type holds both arrays' values; max - min in it wraps modulo 2**bits at
    # most once (int8 127 - -128), and the true difference is below 2**bits, so reading the
    # result as the unsigned type of the same width gives it exactly.
    common = np.result_type(reference.dtype, other.dtype)
    unsigned = np.dtype("u{}".format(common.itemsize))
    narrow = common.itemsize == 1
    a_all = reference.reshape(-1)  # a view for the C-contiguous arrays bundles hold
    b_all = other.reshape(-1)
    counts = np.zeros(256 if narrow else 1, dtype=np.int64)
    best = _Ratio()
    pixels_differ = 0
    for start in range(0, a_all.size, chunk):
        a = a_all[start:start + chunk].astype(common, copy=False)
        b = b_all[start:start + chunk].astype(common, copy=False)
        diff = np.maximum(a, b)
        diff -= np.minimum(a, b)
        diff = diff.view(unsigned)
        if narrow:
            counts += np.bincount(diff, minlength=256)
        else:
            chunk_counts = np.bincount(diff)
            if chunk_counts.size > counts.size:
                chunk_counts[:counts.size] += counts
                counts = chunk_counts.astype(np.int64)
            else:
                counts[:chunk_counts.size] += chunk_counts
        best.update(diff, a, narrow)
        if image:
            pixels_differ += _pixels_differ(diff, channels)
    total = a_all.size
    max_abs = float(np.flatnonzero(counts)[-1])
    differing = total - int(counts[0])
    max_rel = best.exact
    stats = {
        "max_abs_error": max_abs,
        "mean_abs_error": float(counts.dot(np.arange(counts.size, dtype=np.int64))) / total,
        "p99_abs_error": _histogram_percentile(counts, 99),
        "max_rel_error": max_rel,
        "fraction_elements_differ": differing / total,
        "min_atol_to_pass": max_abs,
        "min_rtol_to_pass": max_rel,
    }  # type: Dict[str, Any]
    if reference.dtype != other.dtype:
        stats["dtype_mismatch"] = [reference.dtype.str, other.dtype.str]
    stats["verdict"] = DIFFERENT  # integers get no tolerance
    if image:
        stats["fraction_pixels_differ"] = pixels_differ / (total // channels)
        stats["max_channel_diff"] = int(max_abs)  # the largest difference of any channel
    return stats


def _pixels_differ(diff: np.ndarray, channels: int) -> int:
    """How many pixels have any channel differing, in a chunk of whole uint8 pixels."""
    if channels == 1:
        return int(np.count_nonzero(diff))
    if channels == 4:
        return int(np.count_nonzero(diff.view(np.uint32)))  # one 32-bit word per pixel
    # Three channels: OR the strided planes (a per-row max(axis=-1) is ten times slower).
    pixel = diff[0::3] | diff[1::3]
    pixel |= diff[2::3]
    return int(np.count_nonzero(pixel))


class _Ratio:
    """The largest |other - reference| / |reference| over chunks, exactly as float64 gives it.

    The float path divides in float64 and takes the max. Rounding is monotonic, so the same
    number is float64(d) / float64(|a|) of the pair whose exact ratio d / |a| is largest. For
    8-bit arrays that pair is found in float32, half the work: two different ratios
    p/q != p'/q' with p, p', q, q' <= 255 differ relatively by at least 1 / (p * q') > 2**-16,
    far more than float32's 2**-24 rounding, so float32 neither merges nor reorders them.
    Wider arrays divide in float64 directly.
    """

    def __init__(self) -> None:
        self.top = -1.0  # the largest ratio so far, in the chunk's float type (-1: none yet)
        self.exact = 0.0  # float64 of that ratio

    def update(self, diff: np.ndarray, a: np.ndarray, narrow: bool) -> None:
        if self.exact == float("inf"):
            return  # nothing is larger
        kind = np.float32 if narrow else np.float64
        ratio = diff.astype(kind)
        with np.errstate(divide="ignore", invalid="ignore"):
            # d / 0 is inf (a change from zero, as the float path says); 0 / 0 is NaN, an
            # equal zero, which fmax skips.
            ratio /= a.astype(kind) if a.dtype.kind == "u" else np.abs(a.astype(kind))
        top = float(np.fmax.reduce(ratio))
        if top != top or top <= self.top:
            return  # all NaN (equal zeros only), or no larger than before
        self.top = top
        if narrow and top != float("inf"):
            where = int(np.argmax(ratio == top))
            self.exact = float(diff[where]) / abs(float(a[where]))
        else:
            self.exact = top


def _histogram_percentile(counts: np.ndarray, percent: float) -> float:
    """numpy.percentile(values, percent) (its default 'linear' method) from value counts."""
    cumulative = np.cumsum(counts)
    total = int(cumulative[-1])
    index = (total - 1) * (percent / 100.0)
    below = math.floor(index)
    above = min(below + 1, total - 1)
    gamma = index - below
    # The methods, not np.searchsorted: a few microseconds less each, per pair of images.
    low = float(cumulative.searchsorted(below, side="right"))
    high = float(cumulative.searchsorted(above, side="right"))
    # numpy's _lerp, including its symmetric form for gamma >= 0.5
    difference = high - low
    if gamma >= 0.5:
        return high - difference * (1 - gamma)
    return low + difference * gamma


def _p99(values: np.ndarray) -> float:
    if not values.size:
        return 0.0
    with np.errstate(invalid="ignore"):  # infinities make numpy's interpolation warn
        result = float(np.percentile(values, 99))
    return float("inf") if result != result else result


def classifier_stats(reference: np.ndarray, other: np.ndarray) -> Optional[Dict[str, Any]]:
    """Top-1 and top-5 agreement for classifier outputs (N x classes logits)."""
    if reference.shape != other.shape or reference.ndim != 2 or reference.shape[1] < 5:
        return None
    top1_changed = 0
    overlap = []
    for row_a, row_b in zip(reference, other):
        top5_a = np.argsort(-row_a, kind="stable")[:5]
        top5_b = np.argsort(-row_b, kind="stable")[:5]
        top1_changed += int(top5_a[0] != top5_b[0])
        overlap.append(len(set(top5_a.tolist()) & set(top5_b.tolist())) / 5.0)
    return {
        "top1_reference": int(np.argmax(reference[0])),
        "top1_other": int(np.argmax(other[0])),
        "top1_changed": top1_changed,
        "top5_overlap": float(np.mean(overlap)),
        # How close each side was to choosing another class: the gap between its two highest
        # scores (first row). Flips happen where this is small.
        "margin_reference": _top2_margin(reference[0]),
        "margin_other": _top2_margin(other[0]),
        "classes": int(reference.shape[1]),
    }


def _top2_margin(scores: np.ndarray) -> Optional[float]:
    """The gap between the two highest scores; None when either is not finite (no margin)."""
    with np.errstate(invalid="ignore"):
        top2 = np.sort(scores.astype(np.float64))[-2:]  # NaN sorts last
        if not np.all(np.isfinite(top2)):
            return None
        return float(top2[1] - top2[0])
