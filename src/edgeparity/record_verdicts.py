"""The verdicts a pair of records can get, what the report reads from judged steps, and the
order images are shown in (worst first: reports and ``--fail-on`` messages alike).

Numpy-free on purpose: compare, gates and reports import these names, and a compare whose
digests all match never opens an array, so it should not pay for importing numpy (0.06 s, a
fifth of an identical 10,000-image compare). The numbers behind a verdict: ``diffstats``.
"""

from typing import Any

from .stages.pipeline import STAGES

IDENTICAL = "identical"
WITHIN_TOLERANCE = "within_tolerance"
DIFFERENT = "different"
MISSING = "missing"
ERROR = "error"
SKIPPED = "skipped"
BOTH_ERROR = "both_error"  # the same input fails on both sides: agreement, but worth showing

AGREEING = (IDENTICAL, WITHIN_TOLERANCE, BOTH_ERROR)


def top1_changed(steps: Any) -> bool:
    """Whether any of an image's judged steps (``walk["stages"]``) records a top-1 change."""
    return any((step.get("classification") or {}).get("top1_changed") for step in steps)


def severity(walk: Any) -> tuple:
    """Sort key putting the worst images first: divergent before agreeing, those whose top-1
    class changed before the rest (what the divergence costs), earlier stage first,
    then the larger difference (share of pixels, largest channel or absolute error)."""
    stage = walk.get("first_divergent_stage")
    if not stage:
        return (1, 0, 0, 0.0, 0.0, walk["image"])
    step = next((s for s in walk["stages"] if s["stage"] == stage), {})
    return (0, 0 if top1_changed(walk["stages"]) else 1, STAGES.index(stage),
            -float(step.get("fraction_pixels_differ") or 0),
            -float(step.get("max_channel_diff") or step.get("max_abs_error") or 0), walk["image"])
