"""The HTML report on the case's real bundles (Pillow 8.4.0 on IJG libjpeg 9d vs on
libjpeg-turbo), and its difference views on arrays whose differences are known.

Expected facts are computed here from the bundles' arrays (which images differ, where the
4:4:4 photo's pixels differ); embedded PNGs are decoded with Pillow.
"""

import base64
import io
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from edgeparity import bundle, cli
from edgeparity.compare import Tolerances, compare
from edgeparity.diffview import build_view, max_pool

PIL_Image = pytest.importorskip("PIL.Image", reason="embedded PNGs are read back with Pillow")


class Page(HTMLParser):
    """Ids, in-page links, images and the text of the page."""

    def __init__(self):
        super().__init__()
        self.ids, self.links, self.images, self.metas, self.text = set(), [], [], [], []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href", "").startswith("#") and attrs["href"] != "#":
            self.links.append(attrs["href"][1:])
        if tag == "img":
            self.images.append(attrs)
        if tag == "meta":
            self.metas.append(attrs)
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        self.text.append(data)


def decode_png(uri):
    assert uri.startswith("data:image/png;base64,")
    with PIL_Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def page(case_bundles, tmp_path_factory):
    out = tmp_path_factory.mktemp("html") / "r.html"
    cli.main(["compare", case_bundles["cloud"], case_bundles["edge"], "--html", str(out),
              "--quiet"])
    source = out.read_text()
    parsed = Page()
    parsed.feed(source)
    return {"source": source, "page": parsed, "text": " ".join(" ".join(parsed.text).split())}


def decoded_pairs(case_bundles):
    """{image: (cloud pixels or None, edge pixels or None)} of decode=pillow, from the arrays."""
    cloud, edge = (bundle.load(case_bundles[side]) for side in ("cloud", "edge"))
    pairs = {}
    for image in cloud.images:
        arrays = []
        for loaded in (cloud, edge):
            record = loaded.records.get(image + "|decode=pillow")
            ok = record is not None and record["status"] == "ok"
            arrays.append(loaded.array(record["sha256"]) if ok else None)
        pairs[image] = tuple(arrays)
    return pairs


def test_headline_has_the_terminal_facts(page, case_bundles):
    pairs = decoded_pairs(case_bundles)
    differ = [image for image, (a, b) in pairs.items()
              if (a is None) != (b is None) or (a is not None and not np.array_equal(a, b))]
    text = page["text"]
    assert "DIVERGENCE: cloud vs edge" in text
    assert "first divergent stage decode ({} of {} images)".format(len(differ), len(pairs)) \
        in text
    both_fail = sorted(image for image, (a, b) in pairs.items() if a is None and b is None)
    assert both_fail and "fail to decode on both sides (not compared) " + ", ".join(both_fail) \
        in text
    assert "agree end to end" in text and "photo-grayscale.jpg" in text
    assert "cost top-1 class changes on" in text
    assert "why the JPEG library builds differ under the same decoder (Pillow)" in text
    assert "cloud's Pillow 8.4.0 loads IJG libjpeg 9d" in text
    assert "do use decode=mxnet in cloud (now decode=pillow): it gives the same pixels as " \
        "edge's decode=pillow" in text


def test_page_is_self_contained_responsive_and_named(page):
    source, parsed = page["source"], page["page"]
    assert parsed.title.startswith("edgeparity: divergence") and "cloud vs edge" in parsed.title
    assert any(m.get("name") == "viewport" and "width=device-width" in m.get("content", "")
               for m in parsed.metas)
    assert "@media" in source
    assert not re.search(r"""(src|href)=['"]?(https?:)?//""", source)
    assert "<link" not in source and "<script src" not in source
    assert all(img["src"].startswith("data:image/png;base64,") for img in parsed.images)
    # Every in-page link lands somewhere: table rows <-> views.
    assert parsed.links and set(parsed.links) <= parsed.ids
    assert any(link.startswith("p0-view-") for link in parsed.links)
    assert any(link.startswith("p0-row-") for link in parsed.links)


def test_rows_worst_first_and_agreeing_images_folded(page):
    source = page["source"]
    assert source.index(">photo-420.jpg<") < source.index(">photo-444.jpg<")
    folded = source[source.index("without a divergence"):]
    folded = folded[:folded.index("</details>")]
    assert "photo-grayscale.jpg" in folded and "photo-420.jpg" not in folded


def test_each_differing_pixel_of_the_444_photo_is_listed_and_drawn(page, case_bundles):
    cloud, edge = decoded_pairs(case_bundles)["photo-444.jpg"]
    diff = np.abs(cloud.astype(np.int16) - edge.astype(np.int16)).max(axis=2)
    ys, xs = np.nonzero(diff)
    assert len(xs) == 10  # the case: one level at ten pixels
    source = page["source"]
    view = source[source.index(">photo-444.jpg</a> —"):]
    view = view[:view.index("</figure>")]
    for x, y in zip(xs, ys):
        assert "<td>{}, {}</td><td>1</td>".format(x, y) in view
    parsed = Page()
    parsed.feed(view)
    maps = {img["alt"]: decode_png(img["src"]) for img in parsed.images}
    full = maps["difference"]
    assert full.shape[:2] == diff.shape  # full resolution
    assert np.array_equal(full.max(axis=2) > 0, diff > 0)  # exactly those pixels are lit
    # Fitted: max-pooled, each differing pixel's block lit, nothing else.
    overview = maps["difference overview"]
    factor = -(-diff.shape[1] // overview.shape[1])
    assert factor > 1
    assert np.array_equal(overview.max(axis=2) > 0, max_pool(diff, factor) > 0)
    assert len([img for img in parsed.images if img["alt"].startswith("close-up")]) == 10


def test_the_worst_views_embed_both_decodes_bit_exact_within_the_page_bound(page, case_bundles):
    """Decoded photos go to the worst images first, while the report's view budget lasts (the
    4:4:4 photo, least divergent, shows its ten pixels as close-ups instead)."""
    pairs = decoded_pairs(case_bundles)
    source = page["source"]
    embedded = 0
    for name, (cloud, edge) in sorted(pairs.items()):
        marker = ">{}</a> —".format(name)
        if marker not in source:
            continue
        view = source[source.index(marker):]
        parsed = Page()
        parsed.feed(view[:view.index("</figure>")])
        maps = {img["alt"]: decode_png(img["src"]) for img in parsed.images}
        if "reference decode" in maps:
            assert np.array_equal(maps["reference decode"], cloud)
            assert np.array_equal(maps["other decode"], edge)
            embedded += 1
    assert embedded >= 2
    assert len(source.encode()) < 10 * 1000 * 1000


def test_max_pool_keeps_a_lone_pixel_of_a_large_image():
    reference = np.zeros((2000, 3000, 3), np.uint8)
    other = reference.copy()
    spots = [(5, 7), (1003, 2999), (1999, 0)]
    for y, x in spots:
        other[y, x, 1] = 1
    view = build_view(reference, other)
    assert view.scale == 3 and (view.width, view.height) == (1000, 667)
    for png, factor in ((view.difference, view.scale),
                        (view.overview, view.scale * view.overview_scale)):
        with PIL_Image.open(io.BytesIO(png)) as image:
            shown = np.asarray(image.convert("RGB")).max(axis=2) > 0
        expected = np.zeros_like(shown)
        for y, x in spots:
            expected[y // factor, x // factor] = True
        assert np.array_equal(shown, expected), factor
    assert view.peak == 1 and view.bin_counts[0] == 3 and sum(view.bin_counts) == 3


def test_one_colour_scale_across_images_unless_stretched():
    base = np.zeros((4, 4, 3), np.uint8)
    small, large = base.copy(), base.copy()
    small[0, 0, 0] = 1
    large[0, 0, 0], large[3, 3, 2] = 1, 200
    views = [build_view(base, other) for other in (small, large)]

    def pixel(png, y, x):
        with PIL_Image.open(io.BytesIO(png)) as image:
            return tuple(np.asarray(image.convert("RGB"))[y, x])

    # 1 level looks the same in both images on the absolute scale...
    assert pixel(views[0].difference, 0, 0) == pixel(views[1].difference, 0, 0) != (0, 0, 0)
    assert pixel(views[1].difference, 3, 3) != pixel(views[1].difference, 0, 0)
    # ...and stretched, each image's largest difference takes the top colour.
    assert pixel(views[0].difference_stretched, 0, 0) == \
        pixel(views[1].difference_stretched, 3, 3)


def test_library_views_match_the_command(case_bundles):
    report, views = compare([case_bundles["cloud"], case_bundles["edge"]], None, Tolerances(),
                            want_heatmaps=True)
    drawn = {step["heatmap"] for walk in report["pairs"][0]["images"]
             for step in walk["stages"] if step.get("heatmap")}
    assert drawn == set(views) and len(drawn) >= 10


def test_parity_page_says_so(here_bundle, tmp_path):
    out = tmp_path / "same.html"
    assert cli.main(["compare", here_bundle, here_bundle, "--html", str(out), "--quiet"]) == 0
    parsed = Page()
    parsed.feed(out.read_text())
    text = " ".join(" ".join(parsed.text).split())
    loaded = bundle.load(here_bundle)
    images = len(loaded.images)
    # A file this Pillow cannot decode fails on both sides: it does not count as agreeing.
    failing = [image for image in loaded.images
               if loaded.records[image + "|decode=pillow"]["status"] != "ok"]
    assert "PARITY: here vs here#2" in text
    assert "parity every stage agrees on {} of {} images".format(
        images - len(failing), images) in text
    assert "first divergent stage decode" not in text
    assert "Where the decoded pixels differ" not in text and "<figure" not in out.read_text()
    assert parsed.title == "edgeparity: parity — here vs here#2"


def test_grey_alpha_images_get_no_view_instead_of_a_crash():
    # A real grey + alpha image (Pillow's "LA" mode: 2 channels), one pixel changed: PNG views
    # are drawn for 1, 3 or 4 channels (what a decoder gives), so there is no view for it.
    ramp = PIL_Image.linear_gradient("L").resize((12, 10))
    reference = np.asarray(PIL_Image.merge("LA", (ramp, ramp.point(lambda v: 255 - v))))
    assert reference.shape == (10, 12, 2) and reference.dtype == np.uint8
    other = reference.copy()
    other[4, 5, 0] ^= 1
    assert build_view(reference, other) is None
    for channels in (1, 3, 4):  # ...while the decoders' shapes get theirs, close-ups included
        base = np.zeros((10, 12, channels), np.uint8)
        changed = base.copy()
        changed[4, 5, 0] = 1
        view = build_view(base, changed)
        assert view.differing == 1 and len(view.closeups) == 1, channels
    five = np.zeros((10, 12, 5), np.uint8)
    assert build_view(five, five + 1) is None


def test_closeup_of_a_grey_pixel_at_the_corner():
    # Pixel (0, 0) of a grey image: 10 everywhere, 13 in the other image there (3 levels).
    reference = np.full((20, 30, 1), 10, np.uint8)
    other = reference.copy()
    other[0, 0, 0] = 13
    view = build_view(reference, other, photos=False)
    assert view.points == [(0, 0, 3, [10], [13])]
    with PIL_Image.open(io.BytesIO(view.closeups[0])) as image:
        tiles = np.asarray(image.convert("RGB"))
    side = 9 * 8  # CLOSEUP pixels, CLOSEUP_ZOOM times larger
    assert tiles.shape == (side, 3 * side + 2 * 4, 3)
    reference_tile, other_tile, difference_tile = (tiles[:, n * (side + 4):n * (side + 4) + side]
                                                   for n in range(3))
    centre, right = 4 * 8 + 3, 5 * 8 + 3  # inside the pixel's cell, inside its right neighbour's
    assert tuple(reference_tile[centre, centre]) == (10, 10, 10)
    assert tuple(other_tile[centre, centre]) == (13, 13, 13)
    assert tuple(difference_tile[centre, centre]) == (0, 214, 190)  # bin 3..4 levels
    assert tuple(difference_tile[centre, right]) == (0, 0, 0)  # no difference there
    for tile in (reference_tile, other_tile, difference_tile):
        assert tuple(tile[3, 3]) == (128, 128, 128)  # above and left of the image: grey


def test_a_closeup_costs_its_tile_not_the_whole_image():
    # Up to 40 close-ups are drawn per image: each must not colourise a 12 MP image again.
    import tracemalloc

    from edgeparity.diffview import closeup, difference_levels

    reference = np.zeros((3000, 4000, 3), np.uint8)
    other = reference.copy()
    other[1500, 2000, 1] = 7
    levels = difference_levels(reference, other)
    tracemalloc.start()
    try:
        tile = closeup(reference, other, levels, 2000, 1500)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert tile.shape == (72, 3 * 72 + 8, 3)
    assert peak < 1 << 20, peak  # the image's levels alone are 12 MB


def _noise_bundles(tmp_path, shape, differing=None, names=("left", "right"), folder=""):
    """Bundles of 1,000 decoded images of noise, the first one the reference: all pixels
    differ, or ``differing`` pixels per image (each then gets close-ups, marks and a table row
    in its view); the images' names start with ``folder``."""
    from edgeparity.bundle import BundleWriter

    rng = np.random.RandomState(7)
    left = [rng.randint(0, 256, shape).astype(np.uint8) for _ in range(1000)]
    bundles = []
    for name in names:
        writer = BundleWriter(str(tmp_path / name))
        for index, pixels in enumerate(left):
            if name != names[0]:
                if differing is None:
                    pixels = rng.randint(0, 256, shape).astype(np.uint8)
                else:
                    pixels = pixels.copy()
                    spots = rng.choice(shape[0] * shape[1], differing, replace=False)
                    pixels.reshape(-1, shape[2])[spots, 0] ^= 7
            image = folder + "noise{:04d}.jpg".format(index)
            writer.add_record({"key": image + "|decode=pillow", "image": image,
                               "chain": "decode=pillow", "stage": "decode", "impl": "pillow",
                               "mode": "e2e", "status": "ok", "sha256": writer.add_array(pixels),
                               "shape": list(pixels.shape), "dtype": pixels.dtype.str})
        bundles.append(writer.finish({
            "name": name, "pipeline": {"decode": "pillow"},
            "images": {folder + "noise{:04d}.jpg".format(i): {"sha256": "file {}".format(i)}
                       for i in range(1000)},
            "implementations": {"decode/pillow": {"status": "available"}}}))
    return bundles


@pytest.mark.parametrize("shape, differing, names, folder", [
    ((96, 128, 3), None, ("left", "right"), ""),
    ((32, 32, 3), 30, ("left", "right"), ""),
    ((12, 12, 3), 40, ("a", "b", "c", "d"), "/".join(["a-long-folder-name" * 3] * 6) + "/")])
def test_the_page_stays_under_10_mb_when_views_fill_their_budget(tmp_path, shape, differing,
                                                                  names, folder):
    """1,000 divergent images with a view for each asked: the views stop at their budget and
    the page, rows included, stays under 10,000,000 bytes. Noise (incompressible PNGs) made
    10.1 MB: the budget counted PNG bytes before base64 and left nothing for the rows; 30
    differing pixels per image made 17 MB: their close-ups and marks were not counted; three
    pairs of images named by 340-character paths made 10.1 MB: rows were bounded by count."""
    page = str(tmp_path / "r.html")
    assert cli.main(["compare", *_noise_bundles(tmp_path, shape, differing, names, folder),
                     "--html", page, "--heatmaps", "1000", "-q"]) == 1
    with open(page, encoding="utf-8") as handle:
        source = handle.read()
    parsed = Page()
    parsed.feed(source)
    assert len(parsed.images) > 100  # the budget, not the count asked, ended the views
    assert "Views of the " in source and " worst of 1000 images" in source
    assert len(source.encode()) < 10 * 1000 * 1000, len(source.encode())


def test_a_pair_left_without_views_by_the_budget_says_so(tmp_path):
    """Two pairs of 1,000 noisy images: the first spends the views' budget; the second's
    section says its images got no view, and why (it said nothing)."""
    page = str(tmp_path / "r.html")
    bundles = _noise_bundles(tmp_path, (96, 128, 3), None, ("a", "b", "c"))
    assert cli.main(["compare", *bundles, "--html", page, "--heatmaps", "1000", "-q"]) == 1
    with open(page, encoding="utf-8") as handle:
        source = handle.read()
    first, second = source.split("<section id='pair-")[1:3]
    assert "all views of this report together stay under 8 MB" in first
    assert "No difference views for the 1000 images whose decoded pixels differ here: all " \
        "views of this report together stay under 8 MB" in second
