"""The headline of one compared pair: the facts a reader needs first, as one list of
(label, text) lines that the terminal summary, the Markdown report and the HTML page all
render (each in its own style, none with its own copy of the facts).

In order: whether the input files differ; the verdict line (first divergent stage and how many
images, parity not established, or parity); which images agree end to end; which fail on both
sides, by the stage that fails; which could not be read; which were captured on one side
only (not compared); then, after the stage lines, the
cost, why, what also differs, the decoders that agree, and what to do.

Read from the report dict only: what became of each image is its ``outcome`` (assembled once,
in ``compare.assemble``).
"""

from typing import Any, Dict, List, Tuple

from .words import pct, short_list

Fact = Tuple[str, str]

# Labels the renderers style on their own (the rest are "label: text").
INPUT_FILES_DIFFER = "input files differ between the bundles"
FIRST_DIVERGENCE = "first divergent stage"
NOT_ESTABLISHED = "parity not established"
PARITY = "parity"
STATUS = (FIRST_DIVERGENCE, NOT_ESTABLISHED, PARITY)
WHY, ALSO_DIFFERS, DO = "why", "also differs", "do"

# "fail to decode on both sides": what failing at a stage reads as.
FAIL_WORDS = {"decode": "fail to decode", "preprocess": "fail to preprocess",
              "infer": "fail at inference"}


def first_divergence(pair: Dict[str, Any]) -> str:
    """'decode (10 of 14 images)', or '' when nothing diverges."""
    stage = pair["first_divergent_stage"]
    if not stage:
        return ""
    # The stage's name as every row and option says it (`infer`, not "inference").
    return "{} ({} of {} images)".format(stage,
                                         len(pair["first_divergent_images"][stage]),
                                         len(pair["images"]))


COST_CHANGES_SHOWN = 5  # top-1 changes named in the headline; the report lists more


def top1_by_image(pair: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """{image: its top-1 change} for the pair (empty when no class changed)."""
    return {change["image"]: change
            for change in (pair.get("inference_impact") or {}).get("top1_changes") or ()}


def margin_text(change: Dict[str, Any]) -> str:
    margin = change.get("margin")
    return "—" if margin is None else "{:.3g}".format(margin)


def top1_change(change: Dict[str, Any]) -> str:
    """'photo.jpg: daisy → yellow lady's slipper, margin 0.008'."""
    margin = margin_text(change)
    return "{}: {} → {}{}".format(
        change["image"], change["reference_label"], change["other_label"],
        "" if margin == "—" else ", margin " + margin)


def cost(pair: Dict[str, Any]) -> str:
    """'top-1 class changes on 3 of 200 images (a.jpg: daisy → bee, margin 0.008; ...), mean
    top-5 overlap 99.1%', or ''. The closest calls are named first."""
    impact = pair.get("inference_impact")
    if not impact:
        return ""
    changes = impact.get("top1_changes") or []
    named = ""
    if changes:
        shown = [top1_change(change) for change in changes[:COST_CHANGES_SHOWN]]
        if len(changes) > COST_CHANGES_SHOWN:
            shown.append("and {} more".format(len(changes) - COST_CHANGES_SHOWN))
        named = " ({})".format("; ".join(shown))
    text = "top-1 class changes on {} of {} images{}, mean top-5 overlap {}".format(
        impact["top1_changed"], impact["images"], named, pct(impact["mean_top5_overlap"]))
    if impact.get("labels_note"):
        text += " ({})".format(impact["labels_note"])
    one_sided = impact.get("no_class_on_one_side") or []
    if one_sided:
        # A top1 gate fails on them: the cost line says why they are not among the changes.
        text += "; {} {} a class on one side only (a stage fails on the other): {}".format(
            len(one_sided), "image has" if len(one_sided) == 1 else "images have",
            short_list(one_sided))
    return text


def advice(pair: Dict[str, Any]) -> List[str]:
    """What to do: computed at compare time from the bundles, each with its evidence count."""
    return [item["text"] for item in pair.get("advice") or ()]


def image_outcomes(pair: Dict[str, Any]) -> Tuple[List[str], Dict[str, List[str]]]:
    """(images that agree end to end, {stage: images failing there on both sides}), from each
    image's ``outcome``; files neither side could read are listed apart, not here."""
    agree = []  # type: List[str]
    failing = {}  # type: Dict[str, List[str]]
    not_read = set(pair.get("unreadable_on_both_sides") or ())
    for walk in pair["images"]:
        if walk["image"] in not_read:
            continue
        if walk["outcome"] == "agrees":
            agree.append(walk["image"])
        elif walk["outcome"] == "fails_on_both_sides":
            stage = next((step["stage"] for step in walk["stages"]
                          if step["verdict"] == "both_error"), "")
            failing.setdefault(stage, []).append(walk["image"])
    return agree, failing


def headline(pair: Dict[str, Any]) -> Tuple[List[Fact], List[Fact]]:
    """(the facts before the stage lines, the facts after them), as (label, text) lines."""
    before = []  # type: List[Fact]
    if pair.get("input_files_differ"):
        before.append((INPUT_FILES_DIFFER, short_list(pair["input_files_differ"], 5)))
    agree, failing = image_outcomes(pair)
    stage = pair["first_divergent_stage"]
    if stage:
        before.append((FIRST_DIVERGENCE, first_divergence(pair)))
        if pair.get("partial_corpus"):  # else said as why parity is not established
            before.append(("only part of the images", pair["partial_corpus"]))
    elif pair["verdict"] == "incomplete":
        before.append((NOT_ESTABLISHED, "; ".join(pair["not_compared"])))
    else:
        before.append((PARITY, "every stage agrees on {} of {} images".format(
            len(agree), len(pair["images"]))))
    if stage and agree:
        before.append(("agree end to end", short_list(agree)))
    for name in sorted(failing, key=lambda s: (list(FAIL_WORDS) + [s]).index(s)):
        words = FAIL_WORDS.get(name, "fail at {}".format(name or "a stage"))
        before.append(("{} on both sides (not compared)".format(words),
                       short_list(failing[name])))
    if pair.get("unreadable_on_both_sides"):
        before.append(("could not be read on either side",
                       short_list(pair["unreadable_on_both_sides"])))
    for label, names in sorted((pair.get("only_in") or {}).items()):
        before.append(("only in {}".format(label), "{} image{} (not compared): {}".format(
            len(names), "" if len(names) == 1 else "s", short_list(names))))
    after = []  # type: List[Fact]
    if cost(pair):
        after.append(("cost", cost(pair)))
    after += [(WHY, cause) for cause in pair["causes"]]
    after += [(ALSO_DIFFERS, item) for item in pair.get("also_differs") or ()]
    agreeing = [name for name, a in sorted((pair.get("agreeing_decoders") or {}).items())
                if a["agree"] == a["images"]]
    if stage == "decode" and agreeing:
        after.append(("decoders that agree across both sides", ", ".join(agreeing)))
    if stage:
        after += [(DO, item) for item in advice(pair)]
    return before, after


def not_run(pair: Dict[str, Any]) -> List[Fact]:
    """('not run in jetson-dlr', 'decode/mxnet, infer/mxnet: MXNet (pip install mxnet) is not
    importable (...)') per side missing some, with the reason its capture recorded."""
    like_for_like = pair["like_for_like"]
    facts = []
    for label, names in sorted(like_for_like.get("missing_in", {}).items()):
        why = like_for_like.get("not_run_why", {}).get(label, {})
        by_reason = {}  # type: Dict[str, List[str]]
        for name in names:
            by_reason.setdefault(why.get(name, ""), []).append(name)
        # One line per reason: reasons hold their own ';', ':' and parentheses.
        facts += [("not run in {}".format(label), ", ".join(keys) + (": " + reason if reason
                                                                       else ""))
                  for reason, keys in by_reason.items()]
    return facts
