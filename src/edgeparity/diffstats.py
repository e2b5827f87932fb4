"""Numbers that describe how two arrays differ, in the spirit of Polygraphy's comparator.

Everything here is a pure function of two numpy arrays, so it is easy to check by hand.
"""

from typing import Any, Dict, Optional

import numpy as np

IDENTICAL = "identical"
WITHIN_TOLERANCE = "within_tolerance"
DIFFERENT = "different"
MISSING = "missing"
ERROR = "error"
SKIPPED = "skipped"
BOTH_ERROR = "both_error"  # the same input fails on both sides: agreement, but worth showing

AGREEING = (IDENTICAL, WITHIN_TOLERANCE, BOTH_ERROR)


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


# Rows per chunk of the integer path: bounds the int32 scratch to a few MB for any image.
_CHUNK_ELEMENTS = 1 << 20


def _integer_stats(reference: np.ndarray, other: np.ndarray) -> Dict[str, Any]:
    """difference_stats for 8/16-bit integer arrays (decoded pixels), in row chunks.

    The same numbers as the float path (tests check them against it), with a few MB of scratch
    instead of ten float64 copies of the image: absolute differences are counted in a
    histogram, from which the mean and the 99th percentile follow exactly.
    """
    rows = max(1, _CHUNK_ELEMENTS // max(1, reference[0].size)) if reference.ndim else 1
    counts = np.zeros(1, dtype=np.int64)
    max_rel = 0.0
    image = is_image(reference) and is_image(other)
    pixels_differ, max_channel = 0, 0
    a_all = reference.reshape(reference.shape[0], -1) if reference.ndim else reference.reshape(1)
    b_all = other.reshape(a_all.shape)
    for start in range(0, a_all.shape[0], rows):
        a = a_all[start:start + rows].astype(np.int32)
        b = b_all[start:start + rows].astype(np.int32)
        diff = np.abs(b - a)
        chunk_counts = np.bincount(diff.ravel())
        if chunk_counts.size > counts.size:
            chunk_counts[:counts.size] += counts
            counts = chunk_counts.astype(np.int64)
        else:
            counts[:chunk_counts.size] += chunk_counts
        changed = diff > 0
        if changed.any():
            magnitude = np.abs(a[changed])
            if (magnitude == 0).any():
                max_rel = float("inf")
            elif max_rel != float("inf"):
                max_rel = max(max_rel, float((diff[changed] / magnitude.astype(np.float64)).max()))
        if image:
            per_pixel = diff.reshape(diff.shape[0], -1, reference.shape[2]).max(axis=2)
            pixels_differ += int((per_pixel > 0).sum())
            max_channel = max(max_channel, int(per_pixel.max()))
    total = int(counts.sum())
    values = np.nonzero(counts)[0]
    max_abs = float(values[-1])
    differing = total - int(counts[0])
    stats = {
        "max_abs_error": max_abs,
        "mean_abs_error": float(np.dot(np.arange(counts.size, dtype=np.int64), counts)) / total,
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
        stats["fraction_pixels_differ"] = pixels_differ / (total // reference.shape[2])
        stats["max_channel_diff"] = max_channel
    return stats


def _histogram_percentile(counts: np.ndarray, percent: float) -> float:
    """numpy.percentile(values, percent) (its default 'linear' method) from value counts."""
    total = int(counts.sum())
    index = (total - 1) * (percent / 100.0)
    below = int(np.floor(index))
    above = min(below + 1, total - 1)
    gamma = index - below
    cumulative = np.cumsum(counts)
    low = float(np.searchsorted(cumulative, below, side="right"))
    high = float(np.searchsorted(cumulative, above, side="right"))
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
    }
