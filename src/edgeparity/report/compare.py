"""The comparison report (schema edgeparity.report/2) as a terminal summary and as Markdown."""

from typing import Any, Dict, List, Optional

from ..record_verdicts import severity
from .headline import (
    ALSO_DIFFERS,
    DO,
    FIRST_DIVERGENCE,
    INPUT_FILES_DIFFER,
    NOT_ESTABLISHED,
    PARITY,
    STATUS,
    WHY,
    Fact,
    headline,
    margin_text,
    not_run,
    top1_by_image,
)
from .layout import colourize, field, shorten_paths
from .words import magnitude, md, md_code, pipeline_text

# Per-image rows in the Markdown report, per pair: keeps it far below GitHub's 1 MiB job
# summary limit at any corpus size.
MARKDOWN_IMAGES = 100


def tolerance_text(report: Dict[str, Any]) -> str:
    tolerances = report["tolerances"]
    fallback = "atol={} rtol={}".format(tolerances["atol"], tolerances["rtol"])
    return tolerances.get("text") or fallback



def stage_implementations(summary: Dict[str, Any]) -> str:
    """'pillow', or 'mxnet vs dlr'; a side that runs no such stage shows as '—'."""
    reference, other = (summary[side] or "—" for side in ("reference_impl", "other_impl"))
    return reference if reference == other else "{} vs {}".format(reference, other)


def not_compared_note(summary: Dict[str, Any]) -> str:
    """Why a stage row was not compared, without the stage name the row already shows (the
    note itself starts with it, so that it reads alone in NOT ESTABLISHED and gate lines)."""
    note = summary.get("unavailable") or "no outputs on one side"
    prefix = summary["stage"] + ": "
    return note[len(prefix):] if note.startswith(prefix) else note


def stage_line(summary: Dict[str, Any]) -> str:
    """One stage of a pair in one line: implementations, and how far they agree."""
    stage = summary["stage"]
    head = "{:<10} {:<22}".format(stage, stage_implementations(summary))
    compared = summary.get("compared", summary["images"])
    if compared == 0:
        return head + " NOT COMPARED: " + not_compared_note(summary)
    if not summary["divergent"]:
        verdicts = summary["verdicts"]
        if set(verdicts) <= {"identical"}:
            return head + " identical on {}/{} images".format(summary["images"], summary["images"])
        return head + " agrees on {} of {} images ({})".format(
            compared,
            summary["images"],
            ", ".join("{} {}".format(v, k.replace("_", " ")) for k, v in sorted(verdicts.items())),
        )
    text = head + " DIFFERS on {}/{} images".format(summary["divergent"], summary["images"])
    worst = summary.get("worst")
    if worst:  # "up to" a size; a change of shape has none ("shapes differ: ...")
        text += (": " if worst.get("shape_mismatch") else ": up to ") + magnitude(worst)
    origins = summary.get("origins") or {}
    if origins:
        text += "  [{}]".format(", ".join(sorted(origins)))
    isolated = summary.get("isolated")
    if isolated and isolated["inputs"]:
        # The isolated runs: the canonical inputs, and the probe tensors where infer ran them.
        text += "; on canonical inputs{} {}/{} agree".format(
            " and probes" if isolated.get("probes") else "", isolated["agree"],
            isolated["inputs"])
    return text


# How the like-for-like record counts read, in the order they are listed.
COUNT_WORDS = (
    ("identical", "identical"),
    ("within_tolerance", "within tolerance"),
    ("different", "different"),
    ("error", "failing on one side"),
    ("both_error", "failing on both sides"),
    ("skipped", "skipped on one side (not available there)"),
)


def record_counts(like_for_like: Dict[str, Any]) -> str:
    """'compared 119 outputs of the same name on both sides (all implementations, not only the
    pipelines above): 26 identical, ...; 264 not captured on one side' (the total counts only
    what both sides captured)."""
    if like_for_like.get("same_bundle"):  # the same records on both sides: always identical
        return "compared outputs of the same name: none (one bundle read two ways: they are " \
            "the same records)"
    counts = like_for_like["counts"]
    aside = ("missing", "not_compared")  # not part of the total compared
    total = sum(n for key, n in counts.items() if key not in aside)
    parts = ["{} {}".format(counts[key], words) for key, words in COUNT_WORDS if counts.get(key)]
    parts += ["{} {}".format(n, key.replace("_", " ")) for key, n in sorted(counts.items())
              if key not in dict(COUNT_WORDS) and key not in aside]
    # "all implementations": these counts take in every chain both sides captured, so they
    # differ from what the pipelines above (or BUNDLE@PIPELINE) compared.
    text = "compared {} outputs of the same name on both sides (all implementations, not only " \
        "the pipelines above): {}".format(total, ", ".join(parts) or "none on both sides")
    if counts.get("not_compared"):
        text += "; {} captured on both sides set aside (the captures' models or "\
                "preprocessing differ)".format(counts["not_compared"])
    if counts.get("missing"):
        text += "; {} not captured on one side".format(counts["missing"])
    return text


def environment_line(env: Dict[str, Any]) -> str:
    """'x86_64, Debian GNU/Linux 11 (bullseye), Python 3.9.2; decode=pillow > ...; model
    efficientnet-lite0'."""
    line = "{}, {}, Python {}; {}".format(env["arch"] or "unknown CPU", env["os"] or "unknown OS",
                                          env["python"] or "?", pipeline_text(env["pipeline"]))
    return line + ("; model " + env["model"] if env.get("model") else "")


def verdict_line(report: Dict[str, Any]) -> str:
    """The last line: the verdict, as pytest and tox end on theirs."""
    pairs = report["pairs"]
    counts = {}  # type: Dict[str, int]
    for pair in pairs:
        counts[pair["verdict"]] = counts.get(pair["verdict"], 0) + 1
    words = {"divergence": "diverge", "incomplete": "not established", "parity": "at parity"}
    detail = ", ".join("{} of {} {}".format(counts[v], len(pairs), words[v])
                       for v in ("divergence", "incomplete", "parity") if counts.get(v))
    return "edgeparity: {} ({} pair{}: {})".format(
        report["verdict"].upper(), len(pairs), "" if len(pairs) == 1 else "s", detail)


def terminal(report: Dict[str, Any], verbose: bool = False, width: int = 100,
             colour: bool = False) -> str:
    """The summary for a terminal or a CI log: every line at most ``width`` columns, the
    verdict last; shared-object paths shortened to file names unless ``verbose``."""
    lines = []  # type: List[str]

    def add(prefix: str, text: str, indent: Optional[int] = None) -> None:
        if not verbose:
            text = shorten_paths(text)
        lines.extend(field(prefix, text, width, indent))

    def add_fact(fact: Fact) -> None:
        label, text = fact
        if label == INPUT_FILES_DIFFER:
            add("  ! ", "{}: {}".format(label, text))
        elif label in (FIRST_DIVERGENCE, PARITY):
            add("  ", "{}: {}".format(label, text))
        elif label == NOT_ESTABLISHED:
            add("  NOT ESTABLISHED: ", text, 4)
        else:
            add("  {}: ".format(label), text, 4)

    add("", "reference: {}; tolerances {}".format(report["reference"], tolerance_text(report)),
        2)
    envs = {e["label"]: e for e in report["environments"]}
    for pair in report["pairs"]:
        lines.append("")
        ref, other = envs[pair["reference"]], envs[pair["other"]]
        add("", "{} vs {}".format(ref["label"], other["label"]))
        for env in (ref, other):
            add("  {}: ".format(env["label"]), environment_line(env), 4)
        before, after = headline(pair)
        for fact in before:
            add_fact(fact)
        for summary in pair["stages"]:
            add("    ", stage_line(summary), 8)
        for fact in after:
            add_fact(fact)
        for fact in not_run(pair):
            add_fact(fact)
        if verbose:
            for record in pair["like_for_like"]["records"]:
                detail = magnitude(record) or record.get("other_error") or record.get(
                    "reference_error") or ""
                add("    {} ".format(record["verdict"]), "{}  {}".format(record["key"], detail),
                    8)
        add("  ", record_counts(pair["like_for_like"]), 4)
    lines.append("")
    add("", verdict_line(report), 2)
    if colour:
        lines = colourize(lines, report["verdict"].upper())
    return "\n".join(lines)


def _differing_cell(summary: Dict[str, Any]) -> str:
    if summary.get("compared", summary["images"]) == 0:
        return "not compared: " + not_compared_note(summary)
    return "{}/{}".format(summary["divergent"], summary["images"])


# Facts the Markdown report lists under a title, one bullet each.
MARKDOWN_SECTIONS = {WHY: "Why", ALSO_DIFFERS: "Also differs (not a cause)", DO: "What to do"}


def _markdown_facts(facts: List[Fact]) -> List[str]:
    """The headline facts in Markdown: the verdict line in bold, lists as paragraphs, causes,
    other differences and advice as bullets under a title."""
    out = []  # type: List[str]
    section = None  # type: Optional[str]
    for label, text in facts:
        if label in MARKDOWN_SECTIONS:
            if label != section:
                out += ["", "**{}**".format(MARKDOWN_SECTIONS[label]), ""]
                section = label
            out.append("- " + md(text))
            continue
        section = None
        name = label[:1].upper() + label[1:]
        if label in STATUS:
            out += ["", "**{}**: {}{}".format(name, md(text), "." if label == PARITY else "")]
        else:  # a label may hold an environment's name ("not run in NAME"): data, escaped
            out += ["", "{}: {}".format(md(name), md(text))]
    return out


def markdown(report: Dict[str, Any], max_images: int = MARKDOWN_IMAGES) -> str:
    """The report in GitHub Markdown, bounded at any corpus size (a job summary's limit is
    1 MiB): per image, only the ``max_images`` worst of each pair; report.json has them all."""
    out = []
    icon = {"divergence": "❌", "incomplete": "⚠️"}.get(report["verdict"], "✅")
    out.append("## {} edgeparity: {}".format(icon, report["verdict"]))
    out.append("")
    gate = report.get("gate")
    if gate:  # what decided the job's exit code, when --fail-on did
        out.append("**Exit code {}** under {}:".format(
            gate["exit_code"], " ".join(md_code("--fail-on " + text) for text in gate["fail_on"])))
        out.append("")
        out += ["- {}".format(md(reason)) for reason in gate["outcomes"]]
        out.append("")
    out.append(
        "Reference: **{}** · tolerances {}".format(md(report["reference"]),
                                                   md(tolerance_text(report)))
    )
    out.append("")
    out.append("| environment | arch | OS | Python | pipeline | model |")
    out.append("|---|---|---|---|---|---|")
    for env in report["environments"]:
        out.append(
            "| {} | {} | {} | {} | {} | {} |".format(
                md(env["label"]), md(env["arch"]), md(env["os"]), md(env["python"]),
                md_code(pipeline_text(env["pipeline"])), md(env.get("model") or "—"),
            )
        )
    for pair in report["pairs"]:
        out.append("")
        out.append("### {} vs {}".format(md(pair["reference"]), md(pair["other"])))
        before, after = headline(pair)
        out.extend(_markdown_facts(before))
        out.append("")
        out.append("| stage | implementations | images differing | worst | origin |")
        out.append("|---|---|---|---|---|")
        for summary in pair["stages"]:
            impls = stage_implementations(summary)
            out.append(
                "| {} | {} | {} | {} | {} |".format(
                    md(summary["stage"]),
                    md(impls),
                    md(_differing_cell(summary)),
                    md(magnitude(summary["worst"])) if summary.get("worst") else "—",
                    md(", ".join(sorted(summary.get("origins") or {}))) or "—",
                )
            )
        out.extend(_markdown_facts(after))
        out.extend(_markdown_facts(not_run(pair)))
        changes = (pair.get("inference_impact") or {}).get("top1_changes") or []
        if changes:
            out.append("")
            out.append("Top-1 class changes, closest calls first ({}; margin: the gap between "
                       "the reference's two highest scores):".format(len(changes)))
            out.append("")
            out.append("| image | {} | {} | margin |".format(md(pair["reference"]),
                                                            md(pair["other"])))
            out.append("|---|---|---|---|")
            for change in changes[:max_images]:
                out.append("| {} | {} | {} | {} |".format(
                    md(change["image"]), md(change["reference_label"]),
                    md(change["other_label"]), margin_text(change)))
            if len(changes) > max_images:
                out.append("")
                out.append("… and {} more (every change is in the JSON report).".format(
                    len(changes) - max_images))
        out.append("")
        counts = record_counts(pair["like_for_like"])
        out.append(md(counts[:1].upper() + counts[1:]) + ".")
        rows = sorted((w for w in pair["images"] if w["first_divergent_stage"]), key=severity)
        if rows:
            out.append("")
            out.append("<details><summary>Per image, worst first (top-1 changes first)"
                       "</summary>")
            out.append("")
            out.append("| image | first divergent stage | how much |")
            out.append("|---|---|---|")
            flipped = top1_by_image(pair)
            for walk in rows[:max_images]:
                step = next(
                    s for s in walk["stages"] if s["stage"] == walk["first_divergent_stage"]
                )
                how = magnitude(step) or step["verdict"]
                if walk["image"] in flipped:
                    how = "top-1 {} → {}; {}".format(
                        flipped[walk["image"]]["reference_label"],
                        flipped[walk["image"]]["other_label"], how)
                out.append(
                    "| {} | {} | {} |".format(
                        md(walk["image"]),
                        md(walk["first_divergent_stage"]),
                        md(how),
                    )
                )
            if len(rows) > max_images:
                out.append("")
                out.append("… and {} more divergent images (every image is in the JSON "
                           "report).".format(len(rows) - max_images))
            out.append("")
            out.append("</details>")
    out.append("")
    out.append("**{}**".format(md(verdict_line(report))))
    out.append("")
    return "\n".join(out)
