"""The verdicts a pair of records can get, and what the report reads from judged steps.

Numpy-free on purpose: compare, gates and reports import these names, and a compare whose
digests all match never opens an array, so it should not pay for importing numpy (0.06 s, a
fifth of an identical 10,000-image compare). The numbers behind a verdict: ``diffstats``.
"""

from typing import Any

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
