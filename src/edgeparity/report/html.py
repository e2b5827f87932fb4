"""The comparison report as one self-contained HTML page (no network, no other file).

Per compared pair: a headline with the terminal summary's facts (verdict, first divergent stage
and how many images, what agrees, the cost, why, what to do), the stage lines, the images worst
first (agreeing ones folded), and for each divergent decoded image a side-by-side view of the
reference, the other decode and where they differ (``html_views``). Table rows and views link to
each other. Readable from a phone to a wide screen.
"""

import html
from typing import Any, Dict, Optional

from ..diffview import DiffView
from ..record_verdicts import severity
from .compare import record_counts, stage_line, tolerance_text
from .headline import (
    cost,
    first_divergence,
    headline,
    margin_text,
    not_run,
    top1_by_image,
)
from .html_assets import CSS, SCRIPT
from .html_views import absolute_legend, view_figure
from .words import magnitude, pipeline_text

# Image rows per pair, and of all pairs together; and the bytes all rows may take (long paths
# make long rows): with the views (compare/verdicts.py VIEW_BUDGET: at most 8 MB of page) the
# page stays under 10 MB (10,000,000 bytes) at any corpus size and number of pairs.
HTML_IMAGES = 1000
HTML_IMAGES_ALL_PAIRS = 3000
HTML_ROW_BYTES = 1500000

esc = html.escape


def page_title(report: Dict[str, Any]) -> str:
    """'edgeparity: divergence — cloud-mxnet vs jetson-dlr, reference'."""
    others = [pair["other"] for pair in report["pairs"]]
    names = "{} vs {}".format(report["reference"], ", ".join(others)) if others else \
        report["reference"]
    return "edgeparity: {} — {}".format(report["verdict"], names)


def html_report(report: Dict[str, Any], heatmaps: Dict[str, DiffView],
                max_images: int = HTML_IMAGES) -> str:
    """The page; per pair at most ``max_images`` image rows, worst first, fewer when there are
    many pairs (bounded size)."""
    max_images = max(1, min(max_images, HTML_IMAGES_ALL_PAIRS // max(1, len(report["pairs"]))))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<title>{}</title><style>{}</style></head><body>".format(esc(page_title(report)), CSS),
        "<h1>edgeparity: <span class='{0}'>{0}</span></h1>".format(esc(report["verdict"])),
        "<p class='sub'>Reference <b>{}</b>; tolerances {}.</p>".format(
            esc(report["reference"]), esc(tolerance_text(report))),
    ]
    gate = report.get("gate")
    if gate:  # what decided the exit code, when --fail-on did
        parts.append("<p class='sub'>Exit code <b>{}</b> under {}:</p><ul>{}</ul>".format(
            gate["exit_code"], " ".join("<code>--fail-on {}</code>".format(esc(text))
                                        for text in gate["fail_on"]),
            "".join("<li>{}</li>".format(esc(reason)) for reason in gate["outcomes"])))
    if len(report["pairs"]) > 1:
        parts.append(_pairs_table(report))
    parts.append(_environments_table(report))
    row_bytes = HTML_ROW_BYTES // max(1, len(report["pairs"]))
    for index, pair in enumerate(report["pairs"]):
        parts.append(_pair_section(index, pair, heatmaps, max_images, row_bytes))
    parts.append("<script>{}</script></body></html>".format(SCRIPT))
    return "\n".join(parts)


def _pairs_table(report: Dict[str, Any]) -> str:
    """One line per pair, linking to its section: the page's headline across pairs."""
    rows = []
    for index, pair in enumerate(report["pairs"]):
        rows.append("<tr><td><a href='#pair-{}'>{} vs {}</a></td><td class='{v}'>{v}</td>"
                    "<td>{}</td><td>{}</td></tr>".format(
                        index, esc(pair["reference"]), esc(pair["other"]),
                        esc(first_divergence(pair) or "—"), esc(cost(pair) or "—"),
                        v=esc(pair["verdict"])))
    return ("<div class='wide'><table><tr><th>pair</th><th>verdict</th>"
            "<th>first divergent stage</th><th>cost</th></tr>{}</table></div>".format(
                "".join(rows)))


def _environments_table(report: Dict[str, Any]) -> str:
    rows = []
    for env in report["environments"]:
        jpeg = "<br>".join(
            "{}: {}".format(esc(key), esc("{} ({})".format(
                (v.get("jpeg_library") or {}).get("build"),
                (v.get("jpeg_library") or {}).get("path"))))
            for key, v in sorted(env["implementations"].items()) if v.get("jpeg_library"))
        rows.append("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td>"
                    "<td>{}</td><td>{}</td></tr>".format(
                        esc(env["label"]), esc(str(env["arch"])), esc(str(env["os"])),
                        esc(str(env["python"])), esc(pipeline_text(env["pipeline"])),
                        esc(env.get("model") or "—"), jpeg))
    return ("<details><summary>Environments ({})</summary><div class='wide'><table><tr>"
            "<th>environment</th><th>arch</th><th>OS</th><th>Python</th><th>pipeline</th>"
            "<th>model</th><th>JPEG library per decoder</th></tr>{}</table></div></details>"
            "".format(
                len(rows), "".join(rows)))


def _headline_box(pair: Dict[str, Any]) -> str:
    verdict = pair["verdict"]
    words = {"divergence": "DIVERGENCE", "parity": "PARITY",
             "incomplete": "PARITY NOT ESTABLISHED"}.get(verdict, verdict.upper())
    before, after = headline(pair)
    # The terminal's last lines of a pair too, in its words: what did not run on one side and
    # why, and the like-for-like counts ("compared N outputs of the same name on both sides:
    # ...").
    counted, _, counts = record_counts(pair["like_for_like"]).partition(": ")
    facts = before + after + not_run(pair) + [(counted, counts)]
    items = "".join("<dt>{}</dt><dd>{}</dd>".format(esc(label), esc(text))
                    for label, text in facts)
    return ("<div class='headline hl-{v}'><p class='verdict {v}'>{w}: {r} vs {o}</p>"
            "<dl>{items}</dl></div>".format(v=esc(verdict), w=words, r=esc(pair["reference"]),
                                            o=esc(pair["other"]), items=items))


def _views_limit(pair: Dict[str, Any]) -> str:
    """What stopped a pair's difference views: their budget, or --heatmaps."""
    if pair.get("views_budget_spent"):
        return ("all views of this report together stay under 8 MB, so that the page stays "
                "under 10 MB, and they are spent; <code>--heatmaps N</code> with fewer views "
                "per pair leaves room for more pairs")
    return "<code>--heatmaps N</code> sets how many"


def _step_cells(walk: Dict[str, Any]) -> str:
    return "<br>".join("{}: {} {}".format(esc(s["stage"]), esc(s["verdict"].replace("_", " ")),
                                         esc(magnitude(s))) for s in walk["stages"])


def _pair_section(index: int, pair: Dict[str, Any], views: Dict[str, DiffView],
                  max_images: int, row_bytes: int) -> str:
    parts = ["<section id='pair-{}'><h2>{} vs {} — <span class='{v}'>{v}</span></h2>".format(
        index, esc(pair["reference"]), esc(pair["other"]), v=esc(pair["verdict"]))]
    parts.append(_headline_box(pair))
    parts.append("<pre>{}</pre>".format(esc("\n".join(stage_line(s) for s in pair["stages"]))))
    walks = sorted(pair["images"], key=severity)  # worst first
    shown = walks[:max_images]
    ids = {id(walk): n for n, walk in enumerate(shown)}
    flipped = top1_by_image(pair)

    def view_of(walk: Dict[str, Any]) -> Optional[str]:
        step = next((s for s in walk["stages"] if s.get("heatmap") in views), None)
        return step["heatmap"] if step else None

    def row(walk: Dict[str, Any]) -> str:
        n = ids[id(walk)]
        name = esc(walk["image"])
        if view_of(walk):
            name = "<a href='#p{}-view-{}'>{}</a>".format(index, n, name)
        stage = walk["first_divergent_stage"]
        step = next((s for s in walk["stages"] if s["stage"] == stage), None)
        how = esc(magnitude(step) or step["verdict"]) if step else "—"
        if walk["image"] in flipped:
            how = "top-1 {} → {}; {}".format(esc(flipped[walk["image"]]["reference_label"]),
                                             esc(flipped[walk["image"]]["other_label"]), how)
        return ("<tr id='p{}-row-{}'><td>{}</td><td>{}</td><td>{}</td><td class='every'>{}</td>"
                "</tr>").format(
            index, n, name, esc(stage or "—"), how,
            _step_cells(walk))

    # As many of the worst rows as fit their share of the page's bytes (the names' lengths
    # decide it), counted once rendered.
    used, rows = 0, {}  # type: int, Dict[int, str]
    for count, walk in enumerate(shown):
        rows[id(walk)] = row(walk)
        used += len(rows[id(walk)])
        if used > row_bytes:
            shown = shown[:count]
            break
    max_images = len(shown)
    divergent = [w for w in shown if w["first_divergent_stage"]]
    agreeing = [w for w in shown if not w["first_divergent_stage"]]
    changes = (pair.get("inference_impact") or {}).get("top1_changes") or []
    if changes:
        parts.append("<h3>Top-1 class changes, closest calls first ({})</h3>".format(
            len(changes)))
        parts.append("<p class='note'>margin: the gap between the reference's two highest "
                     "scores; small margins flip first.</p>")
        parts.append("<div class='wide'><table><tr><th>image</th><th>{}</th><th>{}</th>"
                     "<th>margin</th></tr>{}</table></div>".format(
                         esc(pair["reference"]), esc(pair["other"]), "".join(
                             "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
                                 esc(c["image"]), esc(c["reference_label"]),
                                 esc(c["other_label"]), esc(margin_text(c)))
                             for c in changes[:max_images])))
        if len(changes) > max_images:
            parts.append("<p>… and {} more (every change is in the JSON report).</p>".format(
                len(changes) - max_images))
    header = ("<tr><th>image</th><th>first divergent stage</th><th>how much there</th>"
              "<th class='every'>every stage</th></tr>")
    if divergent:
        parts.append("<h3>Divergent images, worst first ({}; top-1 changes first)</h3>".format(
            len(divergent)))
        parts.append("<div class='wide'><table>{}{}</table></div>".format(
            header, "".join(rows[id(w)] for w in divergent)))
    if agreeing:
        parts.append("<details><summary>{} image{} without a divergence (identical, within "
                     "tolerance, or failing on both sides)</summary><div class='wide'><table>"
                     "{}{}</table></div></details>".format(
                         len(agreeing), "" if len(agreeing) == 1 else "s", header,
                         "".join(rows[id(w)] for w in agreeing)))
    if len(walks) > max_images:
        parts.append("<p>… and {} more images, {} of them divergent (every image is in the "
                     "JSON report).</p>".format(
                         len(walks) - max_images,
                         sum(1 for w in walks[max_images:] if w["first_divergent_stage"])))
    figures = []
    for walk in divergent:
        key = view_of(walk)
        if key:
            step = next(s for s in walk["stages"] if s.get("heatmap") == key)
            n = ids[id(walk)]
            name = esc(walk["image"])
            if walk["image"] in flipped:  # what these pixels cost, beside them
                change = flipped[walk["image"]]
                name += " (top-1 {} → {})".format(esc(change["reference_label"]),
                                                  esc(change["other_label"]))
            figures.append(view_figure("p{}-view-{}".format(index, n),
                                       "p{}-row-{}".format(index, n), name, step,
                                       views[key], esc(pair["reference"]), esc(pair["other"])))
    pixel_steps = sum(1 for w in walks for st in w["stages"]
                      if st["verdict"] == "different" and "fraction_pixels_differ" in st)
    if figures:
        parts.append("<h3>Where the decoded pixels differ</h3>")
        parts.append("<p class='note'>Reference, other and difference side by side, one colour "
                     "scale for every image (below); a checkbox per image stretches it. "
                     "Zoom to see single pixels; the three panels scroll together.</p>")
        parts.append(absolute_legend())
        if pixel_steps > len(figures):
            parts.append("<p class='note'>Views of the {} worst of {} images whose decoded "
                         "pixels differ ({}).</p>".format(len(figures), pixel_steps,
                                                         _views_limit(pair)))
        parts += figures
    elif pixel_steps and pair.get("views_budget_spent"):
        parts.append("<p class='note'>No difference views for the {} images whose decoded "
                     "pixels differ here: {}.</p>".format(pixel_steps, _views_limit(pair)))
    parts.append("</section>")
    return "\n".join(parts)

