"""The comparison report (schema edgeparity.report/1) as a terminal summary and as Markdown."""

from typing import Any, Dict, List, Tuple

from .words import (
    STAGE_WORDS,
    magnitude,
    md,
    md_code,
    pct,
    pipeline_text,
    severity,
    short_list,
)

# Per-image rows in the Markdown report, per pair: keeps it far below GitHub's 1 MiB job
# summary limit at any corpus size.
MARKDOWN_IMAGES = 100


def tolerance_text(report: Dict[str, Any]) -> str:
    tolerances = report["tolerances"]
    fallback = "atol={} rtol={}".format(tolerances["atol"], tolerances["rtol"])
    return tolerances.get("text") or fallback



def stage_line(summary: Dict[str, Any]) -> str:
    """One stage of a pair in one line: implementations, and how far they agree."""
    stage = summary["stage"]
    impls = (
        summary["reference_impl"]
        if summary["reference_impl"] == summary["other_impl"]
        else "{} vs {}".format(summary["reference_impl"], summary["other_impl"])
    )
    head = "{:<10} {:<22}".format(stage, impls)
    compared = summary.get("compared", summary["images"])
    if compared == 0:
        return head + " NOT COMPARED: " + (summary.get("unavailable") or "no outputs on one side")
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
    if worst:
        text += ": up to " + magnitude(worst)
    origins = summary.get("origins") or {}
    if origins:
        text += "  [{}]".format(", ".join(sorted(origins)))
    isolated = summary.get("isolated")
    if isolated and isolated["inputs"]:
        text += "; on canonical inputs {}/{} agree".format(isolated["agree"], isolated["inputs"])
    return text


def advice(pair: Dict[str, Any]) -> List[str]:
    """What to do: computed at compare time from the bundles, each with its evidence count."""
    return [item["text"] for item in pair.get("advice") or ()]


def terminal(report: Dict[str, Any], verbose: bool = False) -> str:
    lines = []
    verdict = report["verdict"].upper()
    lines.append(
        "edgeparity: {}  (reference: {}, {})".format(
            verdict, report["reference"], tolerance_text(report)
        )
    )
    envs = {e["label"]: e for e in report["environments"]}
    for pair in report["pairs"]:
        lines.append("")
        ref, other = envs[pair["reference"]], envs[pair["other"]]
        lines.append(
            "{} ({} {}, Python {})  vs  {} ({} {}, Python {})".format(
                ref["label"],
                ref["arch"],
                ref["os"] or "",
                ref["python"],
                other["label"],
                other["arch"],
                other["os"] or "",
                other["python"],
            )
        )
        lines.append(
            "  pipelines: {}  |  {}".format(
                pipeline_text(ref["pipeline"]), pipeline_text(other["pipeline"])
            )
        )
        if pair["input_files_differ"]:
            lines.append(
                "  ! input files differ between the bundles: {}".format(
                    ", ".join(pair["input_files_differ"][:5])
                )
            )
        stage = pair["first_divergent_stage"]
        if stage:
            images = pair["first_divergent_images"][stage]
            total = len(pair["images"])
            lines.append(
                "  first divergent stage: {} ({} of {} images)".format(
                    STAGE_WORDS[stage], len(images), total
                )
            )
            agree, unreadable = _agreeing_images(pair)
            if agree:
                lines.append("  agree end to end: {}".format(short_list(agree)))
            if unreadable:
                lines.append("  fail to decode on both sides: {}".format(short_list(unreadable)))
            if pair.get("unreadable_on_both_sides"):
                lines.append("  could not be read on either side: {}".format(
                    short_list(pair["unreadable_on_both_sides"])))
        elif pair["verdict"] == "incomplete":
            lines.append("  NOT ESTABLISHED: " + "; ".join(pair["not_compared"]))
        else:
            lines.append(
                "  parity: every stage agrees on all {} images".format(len(pair["images"]))
            )
        for summary in pair["stages"]:
            lines.append("    " + stage_line(summary))
        impact = pair.get("inference_impact")
        if impact:
            lines.append(
                "  cost: top-1 class changes on {} of {} images, mean top-5 overlap {}".format(
                    impact["top1_changed"], impact["images"], pct(impact["mean_top5_overlap"])
                )
            )
        for cause in pair["causes"]:
            lines.append("  why: " + cause)
        agreeing = [
            name
            for name, a in sorted(pair["agreeing_decoders"].items())
            if a["agree"] == a["images"]
        ]
        if stage == "decode" and agreeing:
            lines.append("  decoders that agree across both: " + ", ".join(agreeing))
        if stage:
            for item in advice(pair):
                lines.append("  do: " + item)
        for label, names in sorted(pair["like_for_like"].get("missing_in", {}).items()):
            lines.append("  not installed in {}: {}".format(label, ", ".join(names)))
        if verbose:
            for record in pair["like_for_like"]["records"]:
                detail = magnitude(record) or record.get("other_error") or record.get(
                    "reference_error") or ""
                lines.append("    {:<16} {}  {}".format(record["verdict"], record["key"], detail))
        counts = pair["like_for_like"]["counts"]
        lines.append(
            "  all records like for like: "
            + ", ".join("{} {}".format(v, k.replace("_", " ")) for k, v in sorted(counts.items()))
        )
    return "\n".join(lines)


def _agreeing_images(pair: Dict[str, Any]) -> Tuple[List[str], List[str]]:
    """(images that agree at every stage, images that fail to decode in both environments)."""
    agree, unreadable = [], []
    not_read = set(pair.get("unreadable_on_both_sides") or ())
    for walk in pair["images"]:
        if walk["first_divergent_stage"] or walk["image"] in not_read:
            continue
        steps = walk["stages"]
        if steps and steps[0]["verdict"] == "both_error":
            unreadable.append(walk["image"])
        elif steps and all(s["verdict"] in ("identical", "within_tolerance") for s in steps):
            agree.append(walk["image"])
    return agree, unreadable


def _differing_cell(summary: Dict[str, Any]) -> str:
    if summary.get("compared", summary["images"]) == 0:
        return "not compared: " + (summary.get("unavailable") or "no outputs on one side")
    return "{}/{}".format(summary["divergent"], summary["images"])


def markdown(report: Dict[str, Any], max_images: int = MARKDOWN_IMAGES) -> str:
    """The report in GitHub Markdown, bounded at any corpus size (a job summary's limit is
    1 MiB): per image, only the ``max_images`` worst of each pair; report.json has them all."""
    out = []
    icon = {"divergence": "❌", "incomplete": "⚠️"}.get(report["verdict"], "✅")
    out.append("## {} edgeparity: {}".format(icon, report["verdict"]))
    out.append("")
    out.append(
        "Reference: **{}** · tolerances {}".format(md(report["reference"]),
                                                   md(tolerance_text(report)))
    )
    out.append("")
    out.append("| environment | arch | OS | Python | pipeline |")
    out.append("|---|---|---|---|---|")
    for env in report["environments"]:
        out.append(
            "| {} | {} | {} | {} | {} |".format(
                md(env["label"]), md(env["arch"]), md(env["os"]), md(env["python"]),
                md_code(pipeline_text(env["pipeline"])),
            )
        )
    for pair in report["pairs"]:
        out.append("")
        out.append("### {} vs {}".format(md(pair["reference"]), md(pair["other"])))
        stage = pair["first_divergent_stage"]
        if stage:
            out.append(
                "**First divergent stage: {}** ({} of {} images)".format(
                    STAGE_WORDS[stage],
                    len(pair["first_divergent_images"][stage]),
                    len(pair["images"]),
                )
            )
        elif pair["verdict"] == "incomplete":
            out.append("**Parity not established**: " + md("; ".join(pair["not_compared"])))
        else:
            out.append(
                "**Parity**: every stage agrees on all {} images.".format(len(pair["images"]))
            )
        out.append("")
        out.append("| stage | implementations | images differing | worst | origin |")
        out.append("|---|---|---|---|---|")
        for summary in pair["stages"]:
            impls = (
                summary["reference_impl"]
                if summary["reference_impl"] == summary["other_impl"]
                else "{} vs {}".format(summary["reference_impl"], summary["other_impl"])
            )
            out.append(
                "| {} | {} | {} | {} | {} |".format(
                    md(summary["stage"]),
                    md(impls),
                    md(_differing_cell(summary)),
                    md(magnitude(summary["worst"])) if summary.get("worst") else "—",
                    md(", ".join(sorted(summary.get("origins") or {}))) or "—",
                )
            )
        impact = pair.get("inference_impact")
        if impact:
            out.append("")
            out.append(
                "Inference cost: top-1 changes on **{}** of {} images; "
                "mean top-5 overlap {}.".format(
                    impact["top1_changed"], impact["images"], pct(impact["mean_top5_overlap"])
                )
            )
        if pair["causes"]:
            out.append("")
            out.append("**Why**")
            out.append("")
            for cause in pair["causes"]:
                out.append("- " + md(cause))
        if stage:
            out.append("")
            out.append("**What to do**")
            out.append("")
            for item in advice(pair):
                out.append("- " + md(item))
        rows = sorted((w for w in pair["images"] if w["first_divergent_stage"]), key=severity)
        if rows:
            out.append("")
            out.append("<details><summary>Per image, worst first</summary>")
            out.append("")
            out.append("| image | first divergent stage | how much |")
            out.append("|---|---|---|")
            for walk in rows[:max_images]:
                step = next(
                    s for s in walk["stages"] if s["stage"] == walk["first_divergent_stage"]
                )
                out.append(
                    "| {} | {} | {} |".format(
                        md(walk["image"]),
                        md(walk["first_divergent_stage"]),
                        md(magnitude(step) or step["verdict"]),
                    )
                )
            if len(rows) > max_images:
                out.append("")
                out.append("… and {} more divergent images (every image is in the JSON "
                           "report).".format(len(rows) - max_images))
            out.append("")
            out.append("</details>")
    out.append("")
    return "\n".join(out)
