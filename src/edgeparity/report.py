"""Render a comparison report: terminal summary, Markdown, self-contained HTML, JSON.

All renderers read the same report dict (schema in docs/report-schema.md); none computes
anything new, so the four outputs cannot disagree.
"""

import html
import json
import sys
from typing import Any, Callable, Dict, List, Optional

from .compare import heatmap_data_uri

STAGE_WORDS = {"decode": "decode", "preprocess": "preprocess", "infer": "inference"}


def _pct(value: Optional[float]) -> str:
    if value is None:
        return "?"
    if 0 < value < 0.001:
        return "<0.1%"
    return "{:.1f}%".format(value * 100)


def _num(value: Optional[float]) -> str:
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
            _pct(step["fraction_pixels_differ"]), step.get("max_channel_diff")
        )
    if step.get("max_abs_error") is not None:
        return "max abs error {}, max rel error {}, {} of values differ".format(
            _num(step["max_abs_error"]),
            _num(step.get("max_rel_error")),
            _pct(step.get("fraction_elements_differ")),
        )
    return ""


def _tolerance_text(report: Dict[str, Any]) -> str:
    tolerances = report["tolerances"]
    fallback = "atol={} rtol={}".format(tolerances["atol"], tolerances["rtol"])
    return tolerances.get("text") or fallback


def _pipeline_text(pipeline: Dict[str, str]) -> str:
    return " > ".join(
        "{}={}".format(s, pipeline[s]) for s in ("decode", "preprocess", "infer") if s in pipeline
    )


def _stage_line(summary: Dict[str, Any]) -> str:
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


def _advice(pair: Dict[str, Any]) -> List[str]:
    """What to do, in the user's words."""
    advice = []
    stage = pair["first_divergent_stage"]
    for alt in pair["alternatives"][:2]:
        still = alt["still_differ"]
        advice.append(
            "{env} decode={impl} agrees with {other}'s decode={oimpl} on "
            "{agree} of {n} images{rest}: switch {env}'s decoder to {impl}, or build "
            "both sides' decoder against the same libjpeg.".format(
                env=alt["environment"],
                impl=alt["impl"],
                other=alt["matches"],
                oimpl=alt["matches_impl"],
                agree=alt["agree"],
                n=alt["images"],
                rest=" (still differs on {})".format(_short_list(still, 3)) if still else "",
            )
        )
    builds = set((pair.get("decode_jpeg_builds") or {}).values())
    if stage == "decode" and not advice and len(builds) > 1:
        advice.append(
            "use the same JPEG library build on both sides (pin the Pillow build or "
            "decode with a libjpeg-turbo based decoder everywhere)"
        )
    if stage in ("preprocess", "infer"):
        advice.append(
            "the {} step itself computes differently: align its implementation or "
            "accept the difference with --tolerance {}:ATOL".format(stage, stage)
        )
    return advice


def terminal(report: Dict[str, Any], verbose: bool = False) -> str:
    lines = []
    verdict = report["verdict"].upper()
    lines.append(
        "edgeparity: {}  (reference: {}, {})".format(
            verdict, report["reference"], _tolerance_text(report)
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
                _pipeline_text(ref["pipeline"]), _pipeline_text(other["pipeline"])
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
                lines.append("  agree end to end: {}".format(_short_list(agree)))
            if unreadable:
                lines.append("  fail to decode on both sides: {}".format(_short_list(unreadable)))
        elif pair["verdict"] == "incomplete":
            lines.append("  NOT ESTABLISHED: " + "; ".join(pair["not_compared"]))
        else:
            lines.append(
                "  parity: every stage agrees on all {} images".format(len(pair["images"]))
            )
        for summary in pair["stages"]:
            lines.append("    " + _stage_line(summary))
        impact = pair.get("inference_impact")
        if impact:
            lines.append(
                "  cost: top-1 class changes on {} of {} images, mean top-5 overlap {}".format(
                    impact["top1_changed"], impact["images"], _pct(impact["mean_top5_overlap"])
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
            for item in _advice(pair):
                lines.append("  do: " + item)
        for label, names in sorted(pair["like_for_like"].get("missing_in", {}).items()):
            lines.append("  not installed in {}: {}".format(label, ", ".join(names)))
        if verbose:
            for record in pair["like_for_like"]["records"]:
                lines.append(
                    "    {:<16} {:<60} {}".format(
                        record["verdict"], record["key"][:60], magnitude(record)
                    )
                )
        counts = pair["like_for_like"]["counts"]
        lines.append(
            "  all records like for like: "
            + ", ".join("{} {}".format(v, k.replace("_", " ")) for k, v in sorted(counts.items()))
        )
    return "\n".join(lines)


def _agreeing_images(pair: Dict[str, Any]) -> "tuple":
    """(images that agree at every stage, images that fail to decode in both environments)."""
    agree, unreadable = [], []
    for walk in pair["images"]:
        if walk["first_divergent_stage"]:
            continue
        steps = walk["stages"]
        if steps and steps[0]["verdict"] == "both_error":
            unreadable.append(walk["image"])
        else:
            agree.append(walk["image"])
    return agree, unreadable


def _short_list(items: List[str], limit: int = 6) -> str:
    shown = ", ".join(items[:limit])
    return shown + (" (+{} more)".format(len(items) - limit) if len(items) > limit else "")


def _differing_cell(summary: Dict[str, Any]) -> str:
    if summary.get("compared", summary["images"]) == 0:
        return "not compared: " + (summary.get("unavailable") or "no outputs on one side")
    return "{}/{}".format(summary["divergent"], summary["images"])


def markdown(report: Dict[str, Any]) -> str:
    out = []
    icon = {"divergence": "❌", "incomplete": "⚠️"}.get(report["verdict"], "✅")
    out.append("## {} edgeparity: {}".format(icon, report["verdict"]))
    out.append("")
    out.append(
        "Reference: **{}** · tolerances {}".format(report["reference"], _tolerance_text(report))
    )
    out.append("")
    out.append("| environment | arch | OS | Python | pipeline |")
    out.append("|---|---|---|---|---|")
    for env in report["environments"]:
        out.append(
            "| {} | {} | {} | {} | `{}` |".format(
                env["label"], env["arch"], env["os"], env["python"], _pipeline_text(env["pipeline"])
            )
        )
    for pair in report["pairs"]:
        out.append("")
        out.append("### {} vs {}".format(pair["reference"], pair["other"]))
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
            out.append("**Parity not established**: " + "; ".join(pair["not_compared"]))
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
                    summary["stage"],
                    impls,
                    _differing_cell(summary),
                    magnitude(summary["worst"]) if summary.get("worst") else "—",
                    ", ".join(sorted(summary.get("origins") or {})) or "—",
                )
            )
        impact = pair.get("inference_impact")
        if impact:
            out.append("")
            out.append(
                "Inference cost: top-1 changes on **{}** of {} images; "
                "mean top-5 overlap {}.".format(
                    impact["top1_changed"], impact["images"], _pct(impact["mean_top5_overlap"])
                )
            )
        if pair["causes"]:
            out.append("")
            out.append("**Why**")
            out.append("")
            for cause in pair["causes"]:
                out.append("- " + cause)
        if stage:
            out.append("")
            out.append("**What to do**")
            out.append("")
            for item in _advice(pair):
                out.append("- " + item)
        rows = [w for w in pair["images"] if w["first_divergent_stage"]]
        if rows:
            out.append("")
            out.append("<details><summary>Per image</summary>")
            out.append("")
            out.append("| image | first divergent stage | how much |")
            out.append("|---|---|---|")
            for walk in rows:
                step = next(
                    s for s in walk["stages"] if s["stage"] == walk["first_divergent_stage"]
                )
                out.append(
                    "| {} | {} | {} |".format(
                        walk["image"],
                        walk["first_divergent_stage"],
                        magnitude(step) or step["verdict"],
                    )
                )
            out.append("")
            out.append("</details>")
    out.append("")
    return "\n".join(out)


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.5em} .divergence{color:#b00} .parity{color:#070}
table{border-collapse:collapse;margin:.6em 0} td,th{border:1px solid #ccc;padding:3px 8px;
text-align:left;vertical-align:top} th{background:#f4f4f4} code{background:#f4f4f4;padding:0 3px}
.maps{display:flex;flex-wrap:wrap;gap:12px} figure{margin:0} figcaption{font-size:12px}
img.heat{image-rendering:pixelated;max-width:320px;border:1px solid #999}
pre{white-space:pre-wrap;background:#f8f8f8;padding:6px}
"""


def html_report(report: Dict[str, Any], heatmaps: Dict[str, bytes]) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>edgeparity report</title>",
        "<style>{}</style></head><body>".format(_CSS),
    ]
    parts.append("<h1>edgeparity: <span class='{0}'>{0}</span></h1>".format(esc(report["verdict"])))
    parts.append(
        "<p>Reference <b>{}</b>; tolerances {}.</p>".format(
            esc(report["reference"]), esc(_tolerance_text(report))
        )
    )
    parts.append(
        "<table><tr><th>environment</th><th>arch</th><th>OS</th><th>Python</th>"
        "<th>pipeline</th><th>JPEG library per decoder</th></tr>"
    )
    for env in report["environments"]:
        jpeg = "<br>".join(
            "{}: {}".format(
                esc(key),
                esc(
                    "{} ({})".format(
                        (v.get("jpeg_library") or {}).get("build"),
                        (v.get("jpeg_library") or {}).get("path"),
                    )
                ),
            )
            for key, v in sorted(env["implementations"].items())
            if v.get("jpeg_library")
        )
        parts.append(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td>"
            "<td>{}</td></tr>".format(
                esc(env["label"]),
                esc(str(env["arch"])),
                esc(str(env["os"])),
                esc(str(env["python"])),
                esc(_pipeline_text(env["pipeline"])),
                jpeg,
            )
        )
    parts.append("</table>")
    for pair in report["pairs"]:
        parts.append(
            "<h2>{} vs {} — <span class='{}'>{}</span></h2>".format(
                esc(pair["reference"]), esc(pair["other"]), pair["verdict"], pair["verdict"]
            )
        )
        parts.append("<pre>{}</pre>".format(esc("\n".join(_stage_line(s) for s in pair["stages"]))))
        for cause in pair["causes"]:
            parts.append("<p><b>Why:</b> {}</p>".format(esc(cause)))
        if pair["first_divergent_stage"]:
            for item in _advice(pair):
                parts.append("<p><b>What to do:</b> {}</p>".format(esc(item)))
        parts.append("<table><tr><th>image</th><th>first divergent stage</th><th>stages</th></tr>")
        maps = []
        for walk in pair["images"]:
            cells = "<br>".join(
                "{}: {} {}".format(esc(s["stage"]), esc(s["verdict"]), esc(magnitude(s)))
                for s in walk["stages"]
            )
            parts.append(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>".format(
                    esc(walk["image"]), esc(str(walk["first_divergent_stage"] or "—")), cells
                )
            )
            for step in walk["stages"]:
                if step.get("heatmap") in heatmaps:
                    maps.append(
                        "<figure><img class='heat' src='{}' alt='difference heatmap'>"
                        "<figcaption>{}: {} {}</figcaption></figure>".format(
                            heatmap_data_uri(heatmaps[step["heatmap"]]),
                            esc(walk["image"]),
                            esc(step["stage"]),
                            esc(magnitude(step)),
                        )
                    )
        parts.append("</table>")
        if maps:
            parts.append(
                "<h3>Where the decoded pixels differ (black = equal, bright = largest "
                "difference)</h3><div class='maps'>{}</div>".format("".join(maps))
            )
    parts.append("</body></html>")
    return "\n".join(parts)


def json_safe(value: Any) -> Any:
    """Strict JSON: infinities and NaN (e.g. a relative error against 0) become strings."""
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def write_outputs(
    report: Dict[str, Any],
    args: Any,
    render_terminal: Callable[..., str],
    render_markdown: Callable[[Dict[str, Any]], str],
    render_html: Callable[[Dict[str, Any]], str],
) -> None:
    """Print the terminal summary and write the files asked for with --json/--md/--html.

    With ``--json -`` the JSON goes to stdout and the summary to stderr, so pipes stay clean.
    """
    json_to_stdout = getattr(args, "json", None) == "-"
    text = render_terminal(report, verbose=getattr(args, "verbose", False))
    (sys.stderr if json_to_stdout else sys.stdout).write(text + "\n")
    if getattr(args, "json", None):
        payload = json.dumps(json_safe(report), indent=1, default=str, allow_nan=False)
        if json_to_stdout:
            sys.stdout.write(payload + "\n")
        else:
            _write(args.json, payload)
    if getattr(args, "md", None):
        _write(args.md, render_markdown(report))
    if getattr(args, "html", None):
        _write(args.html, render_html(report))


def write_all(report: Dict[str, Any], heatmaps: Dict[str, bytes], args: Any) -> None:
    """Outputs of `edgeparity compare` and `matrix`."""
    write_outputs(report, args, terminal, markdown, lambda r: html_report(r, heatmaps))


def _write(path: str, text: str) -> None:
    """Write a report file atomically (a reader never sees half a report)."""
    import os

    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temporary = path + ".tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
