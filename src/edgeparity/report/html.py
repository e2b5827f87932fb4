"""The comparison report as one self-contained HTML page, difference heatmaps inlined."""

import base64
import html
from typing import Any, Dict

from .compare import advice, stage_line, tolerance_text
from .words import magnitude, pipeline_text, severity

# Image rows per pair: the page stays a few MB at any corpus size.
HTML_IMAGES = 1000

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.5em} .divergence{color:#b00} .parity{color:#070}
table{border-collapse:collapse;margin:.6em 0} td,th{border:1px solid #ccc;padding:3px 8px;
text-align:left;vertical-align:top} th{background:#f4f4f4} code{background:#f4f4f4;padding:0 3px}
.maps{display:flex;flex-wrap:wrap;gap:12px} figure{margin:0} figcaption{font-size:12px}
img.heat{image-rendering:pixelated;max-width:320px;border:1px solid #999}
pre{white-space:pre-wrap;background:#f8f8f8;padding:6px}
"""


def html_report(report: Dict[str, Any], heatmaps: Dict[str, bytes],
                max_images: int = HTML_IMAGES) -> str:
    """The page; per pair at most ``max_images`` image rows, worst first (bounded size)."""
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>edgeparity report</title>",
        "<style>{}</style></head><body>".format(_CSS),
    ]
    parts.append("<h1>edgeparity: <span class='{0}'>{0}</span></h1>".format(esc(report["verdict"])))
    parts.append(
        "<p>Reference <b>{}</b>; tolerances {}.</p>".format(
            esc(report["reference"]), esc(tolerance_text(report))
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
                esc(pipeline_text(env["pipeline"])),
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
        parts.append("<pre>{}</pre>".format(esc("\n".join(stage_line(s) for s in pair["stages"]))))
        for cause in pair["causes"]:
            parts.append("<p><b>Why:</b> {}</p>".format(esc(cause)))
        if pair["first_divergent_stage"]:
            for item in advice(pair):
                parts.append("<p><b>What to do:</b> {}</p>".format(esc(item)))
        parts.append("<table><tr><th>image</th><th>first divergent stage</th><th>stages</th></tr>")
        maps = []
        walks = sorted(pair["images"], key=severity)  # worst first
        for walk in walks[:max_images]:
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
        if len(walks) > max_images:
            parts.append("<p>… and {} more images, {} of them divergent (every image is in the "
                         "JSON report).</p>".format(
                             len(walks) - max_images,
                             sum(1 for w in walks[max_images:] if w["first_divergent_stage"])))
        divergent_maps = sum(1 for w in walks for st in w["stages"]
                             if st["verdict"] == "different" and "fraction_pixels_differ" in st)
        if maps and divergent_maps > len(maps):
            parts.append("<p>Heatmaps of the {} worst of {} images whose decoded pixels differ "
                         "(<code>--heatmaps N</code> for more).</p>".format(
                             len(maps), divergent_maps))
        if maps:
            parts.append(
                "<h3>Where the decoded pixels differ (black = equal, bright = largest "
                "difference)</h3><div class='maps'>{}</div>".format("".join(maps))
            )
    parts.append("</body></html>")
    return "\n".join(parts)



def heatmap_data_uri(png: bytes) -> str:
    """A PNG as a data: URI, so the page needs no other file."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
