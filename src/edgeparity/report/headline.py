"""The headline of one compared pair: the facts a reader needs first, in the order the terminal
summary gives them (verdict, first divergent stage and how many images, what agrees, the cost,
why, what to do). Renderer-neutral: (label, text) lines, drawn by the HTML page.

Read from the report dict only, with the wording of ``report.compare`` (stage names, advice).
"""

from typing import Any, Dict, List, Tuple

from .compare import advice, agreeing_images
from .words import STAGE_WORDS, pct, short_list


def first_divergence(pair: Dict[str, Any]) -> str:
    """'decode (10 of 14 images)', or '' when nothing diverges."""
    stage = pair["first_divergent_stage"]
    if not stage:
        return ""
    return "{} ({} of {} images)".format(STAGE_WORDS.get(stage, stage),
                                         len(pair["first_divergent_images"][stage]),
                                         len(pair["images"]))


def cost(pair: Dict[str, Any]) -> str:
    """'top-1 class changes on 0 of 13 images, mean top-5 overlap 100.0%', or ''."""
    impact = pair.get("inference_impact")
    if not impact:
        return ""
    return "top-1 class changes on {} of {} images, mean top-5 overlap {}".format(
        impact["top1_changed"], impact["images"], pct(impact["mean_top5_overlap"]))


def headline(pair: Dict[str, Any]) -> List[Tuple[str, str]]:
    """(label, text) lines: what the terminal prints for the pair before the stage lines, then
    the cost, causes and advice it prints after them."""
    lines = []  # type: List[Tuple[str, str]]
    if pair.get("input_files_differ"):
        lines.append(("input files differ", short_list(pair["input_files_differ"], 5)))
    stage = pair["first_divergent_stage"]
    if stage:
        lines.append(("first divergent stage", first_divergence(pair)))
    elif pair["verdict"] == "incomplete":
        lines.append(("not established", "; ".join(pair["not_compared"])))
    else:
        lines.append(("parity", "every stage agrees on all {} images".format(
            len(pair["images"]))))
    agree, unreadable = agreeing_images(pair)
    if stage and agree:
        lines.append(("agree end to end", short_list(agree)))
    if unreadable:
        lines.append(("fail to decode on both sides", short_list(unreadable)))
    if pair.get("unreadable_on_both_sides"):
        lines.append(("could not be read on either side",
                      short_list(pair["unreadable_on_both_sides"])))
    if cost(pair):
        lines.append(("cost", cost(pair)))
    lines += [("why", cause) for cause in pair["causes"]]
    lines += [("also differs", item) for item in pair.get("also_differs") or ()]
    agreeing = [name for name, a in sorted((pair.get("agreeing_decoders") or {}).items())
                if a["agree"] == a["images"]]
    if stage == "decode" and agreeing:
        lines.append(("decoders that agree across both", ", ".join(agreeing)))
    if stage:
        lines += [("do", item) for item in advice(pair)]
    return lines
