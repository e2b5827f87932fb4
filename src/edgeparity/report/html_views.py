"""One divergent decoded image in the HTML report: reference, other and difference side by side.

Each view shows the two decoded images and a difference map in absolute levels (the same colours
for every image; a checkbox stretches them to this image's largest difference). Fitted to its
panel, the map is a max-pooled overview scaled *up*, so a lone differing pixel stays visible at
any window size; zoomed (1x..16x), every pixel is drawn as a block. When few pixels differ each
is ringed on all three panels and listed with its values.
"""

import base64
import html
from typing import Any, Dict, List, Optional

import numpy as np

from ..diffview import BIN_COLOURS, CLOSEUP, CLOSEUP_ZOOM, LEVEL_BINS, DiffView, bin_index
from .words import magnitude

ZOOMS = ("fit", "1", "2", "4", "8", "16")


def data_uri(png: bytes) -> str:
    """A PNG as a data: URI, so the page needs no other file."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _swatch(colour: Any) -> str:
    return "<span class='sw' style='background:rgb({},{},{})'></span>".format(*colour)


def _range(low: int, high: int) -> str:
    return str(low) if low == high else "{}&ndash;{}".format(low, high)


def absolute_legend(counts: Optional[List[int]] = None) -> str:
    """The absolute colour scale; with ``counts``, how many pixels of one image fall in each."""
    items = ["<span>{}equal</span>".format(_swatch((0, 0, 0)))]
    for index, ((low, high), colour) in enumerate(zip(LEVEL_BINS, BIN_COLOURS)):
        count = "" if counts is None else ": {} px".format(counts[index])
        if counts is not None and not counts[index]:
            continue
        items.append("<span>{}{}{}</span>".format(_swatch(colour), _range(low, high), count))
    label = "difference in levels (largest channel)" + (
        ", pixels per colour" if counts is not None else "")
    return "<div class='legend abs'><b>{}:</b> {}</div>".format(label, " ".join(items))


def stretched_legend(peak: int) -> str:
    """The per-image scale: which levels each colour stands for when stretched to ``peak``."""
    groups = {}  # type: Dict[int, List[int]]
    for level in range(1, peak + 1):
        index = -(-level * len(LEVEL_BINS) // peak)  # the same rounding as diffview.colourise
        groups.setdefault(min(index, len(LEVEL_BINS)), []).append(level)
    items = ["<span>{}equal</span>".format(_swatch((0, 0, 0)))]
    for index, levels in sorted(groups.items()):
        items.append("<span>{}{}</span>".format(_swatch(BIN_COLOURS[index - 1]),
                                                _range(levels[0], levels[-1])))
    return ("<div class='legend rel'><b>stretched to this image's largest difference ({}):"
            "</b> {}</div>".format(peak, " ".join(items)))


def _marks(view: DiffView, squares: bool = False) -> str:
    """Rings around each listed differing pixel, in the view's pixel coordinates; with
    ``squares`` also the pixel itself in its level's colour, at least a few screen pixels wide
    (the script keeps both a constant size on screen at every zoom)."""
    if not view.points:
        return ""
    radius = max(view.width, view.height) / 60.0  # without the script; it resizes them
    side = max(1.0, max(view.width, view.height) / 200.0)
    shapes = []
    for x, y, level, _, _ in view.points:
        cx, cy = (x + 0.5) / view.scale, (y + 0.5) / view.scale
        if squares:
            colour = BIN_COLOURS[int(bin_index(np.array([level]))[0])]
            shapes.append("<rect class='px' data-cx='{0:.2f}' data-cy='{1:.2f}' x='{2:.2f}' "
                          "y='{3:.2f}' width='{4:.2f}' height='{4:.2f}' fill='rgb({5},{6},{7})'"
                          "/>".format(cx, cy, cx - side / 2, cy - side / 2, side, *colour))
        for cls in () if squares else ("halo", "ring"):
            shapes.append("<circle class='{}' cx='{:.2f}' cy='{:.2f}' r='{:.2f}'/>".format(
                cls, cx, cy, radius))
    return ("<svg class='marks' viewBox='0 0 {} {}' preserveAspectRatio='none' "
            "aria-hidden='true'>{}</svg>".format(view.width, view.height, "".join(shapes)))


def _panel(label: str, images: str, marks: str) -> str:
    return ("<div class='panel'><div class='label'>{}</div><div class='scroll'>"
            "<div class='canvas'>{}{}</div></div></div>".format(label, images, marks))


def _points_table(view: DiffView) -> str:
    if not view.points:
        return ""
    rows = "".join(
        "<tr><td>{x}, {y}</td><td>{level}</td><td>{a}</td><td>{b}</td>"
        "<td><img class='closeup' src='{png}' alt='close-up of pixel {x}, {y}' width='{w}' "
        "height='{h}'></td><td><a href='#' class='zoomto' data-x='{vx}' data-y='{vy}'>zoom "
        "here</a></td></tr>".format(
            x=x, y=y, level=level, a=html.escape(str(tuple(a))), b=html.escape(str(tuple(b))),
            png=data_uri(png), w=CLOSEUP * CLOSEUP_ZOOM * 3 + 8, h=CLOSEUP * CLOSEUP_ZOOM,
            vx=x // view.scale, vy=y // view.scale)
        for (x, y, level, a, b), png in zip(view.points, view.closeups))
    return ("<details open><summary>The {} differing pixels (x, y from the top left)</summary>"
            "<div class='wide'><table class='points'><tr><th>x, y</th><th>levels</th>"
            "<th>reference</th><th>other</th><th>close-up: reference | other | difference"
            "</th><th></th></tr>{}</table></div></details>".format(len(view.points), rows))


def view_figure(view_id: str, row_id: str, image: str, step: Dict[str, Any],
                view: DiffView, reference: str, other: str) -> str:
    """The figure for one image (``image``, ``reference``, ``other`` already escaped)."""
    def img(png: bytes, cls: str, alt: str) -> str:
        return "<img class='{}' src='{}' alt='{}' width='{}' height='{}'>".format(
            cls, data_uri(png), alt, view.width, view.height)

    marks = _marks(view)
    panels = []
    if view.reference is not None and view.other is not None:
        panels.append(_panel("reference: " + reference, img(view.reference, "photo",
                                                             "reference decode"), marks))
        panels.append(_panel("other: " + other, img(view.other, "photo", "other decode"), marks))
    maps = "".join((img(view.overview, "map ov abs", "difference overview"),
                    img(view.overview_stretched, "map ov rel", "difference overview, stretched"),
                    img(view.difference, "map full abs", "difference"),
                    img(view.difference_stretched, "map full rel", "difference, stretched")))
    panels.append(_panel("difference (black = equal)", maps, _marks(view, squares=True)))
    notes = []
    if view.scale > 1:
        notes.append("shown at 1/{} of its {} x {} pixels; the difference keeps each block's "
                     "largest value".format(view.scale, *view.original))
    if view.overview_scale > 1:
        notes.append("fitted, each square of the difference map is the largest difference of "
                     "{0} x {0} pixels: zoom to 1x or more for single pixels".format(
                         view.overview_scale))
    if view.reference is None:
        notes.append("images not embedded for this view (only the worst few are, to keep the "
                     "page small): `edgeparity export` writes them")
    stretch_id = view_id + "-stretch"
    buttons = "".join("<button type='button' data-z='{}'{}>{}</button>".format(
        z, " class='on'" if z == "fit" else "", z if z == "fit" else z + "&times;")
        for z in ZOOMS)
    return (
        "<figure class='view' id='{vid}' data-w='{w}' data-h='{h}' data-zoom='fit'>"
        "<figcaption><a href='#{rid}'>{image}</a> — {what}; {n} pixel{s} differ{verb}, largest "
        "difference {peak} level{ps}</figcaption>"
        "<div class='tools'><span>zoom {buttons}</span></div>"
        # A sibling of the panels and legends: the colour stretch works by CSS alone.
        "<input type='checkbox' class='stretch' id='{sid}'><label for='{sid}'> stretch "
        "colours to this image's largest difference</label>"
        "<div class='panels'>{panels}</div>"
        "{legends}{notes}{points}</figure>").format(
            vid=view_id, rid=row_id, image=image, what=html.escape(magnitude(step)),
            n=view.differing, s="" if view.differing == 1 else "s",
            verb="s" if view.differing == 1 else "", peak=view.peak,
            ps="" if view.peak == 1 else "s", sid=stretch_id, w=view.width, h=view.height,
            buttons=buttons, panels="".join(panels),
            legends="<div class='legends'>{}{}</div>".format(
                absolute_legend(view.bin_counts), stretched_legend(view.peak)),
            notes="".join("<p class='note'>{}</p>".format(html.escape(n)) for n in notes),
            points=_points_table(view))
