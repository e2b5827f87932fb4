"""Wording every report shares: how numbers, differences, pipelines and lists are written."""

from typing import Any, Dict, List, Mapping, Optional

from ..stages.pipeline import format_pipeline

STAGE_WORDS = {"decode": "decode", "preprocess": "preprocess", "infer": "inference"}


def pct(value: Optional[float]) -> str:
    if value is None:
        return "?"
    if 0 < value < 0.001:
        return "<0.1%"
    return "{:.1f}%".format(value * 100)


def num(value: Optional[float]) -> str:
    if value is None:
        return "?"
    if value == 0:
        return "0"
    if abs(value) >= 0.01 and abs(value) < 1e4:
        return "{:.4g}".format(value)
    return "{:.2e}".format(value)


def magnitude(step: Dict[str, Any]) -> str:
    """'93.1% of pixels differ, max channel diff 92' or 'max abs error 3.1e-06 ...'."""
    if step.get("shape_mismatch"):
        a, b = step["shape_mismatch"]
        return "shapes differ: {} vs {}".format(tuple(a), tuple(b))
    if step.get("fraction_pixels_differ") is not None:
        return "{} of pixels differ, max channel diff {}".format(
            pct(step["fraction_pixels_differ"]), step.get("max_channel_diff")
        )
    if step.get("max_abs_error") is not None:
        return "max abs error {}, max rel error {}, {} of values differ".format(
            num(step["max_abs_error"]),
            num(step.get("max_rel_error")),
            pct(step.get("fraction_elements_differ")),
        )
    return ""


def pipeline_text(pipeline: Mapping[str, str]) -> str:
    """'decode=pillow > preprocess=pillow > infer=dlr'."""
    return format_pipeline(pipeline, " > ")


def short_list(items: List[str], limit: int = 6) -> str:
    """The first ``limit`` items, then '(+N more)'."""
    shown = ", ".join(items[:limit])
    return shown + (" (+{} more)".format(len(items) - limit) if len(items) > limit else "")

