"""The terminal summary as a user and a CI log see it: width, verdict last, colour, words."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from test_report_evidence import IJG, TURBO, YCBCR, decoder, make_bundle

from edgeparity import probe
from edgeparity.native.libjpeg import library_origin
from edgeparity.report.words import pct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
LONG = "a-rather-long-image-name-from-a-real-corpus-folder/with/sub-folders/and-more-words"


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    folder = tmp_path_factory.mktemp("terminal")
    images = ["{}-{}.jpg".format(LONG, n) for n in range(8)]
    pixels = np.zeros((2, 2, 3), np.uint8)
    headers = {image: YCBCR for image in images}
    left = make_bundle(folder / "cloud-environment-with-a-long-name", "cloud-environment-with-"
                       "a-long-name", "pillow",
                       {"pillow": decoder("8.4.0", IJG, {i: pixels for i in images})}, headers)
    right = make_bundle(folder / "jetson", "jetson", "pillow",
                        {"pillow": decoder("8.4.0", TURBO, {i: pixels + 1 for i in images[:6]})},
                        headers, arch="aarch64")
    return left, right


def run(args, **env):
    environment = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src"))
    for name in ("COLUMNS", "NO_COLOR", "FORCE_COLOR"):
        environment.pop(name, None)
    environment.update(env)
    result = subprocess.run([sys.executable, "-m", "edgeparity", "compare"] + args,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment,
                            universal_newlines=True)
    assert result.returncode == 1, result.stderr
    return result.stdout


@pytest.mark.parametrize("columns", [100, 60])
def test_lines_fit_columns_and_the_verdict_is_last(bundles, columns):
    out = run(list(bundles), COLUMNS=str(columns))
    lines = out.rstrip("\n").split("\n")
    too_long = [line for line in lines if len(line) > columns]
    assert too_long == []
    assert lines[-1] == "edgeparity: DIVERGENCE (1 pair: 1 of 1 diverge)"
    assert len(lines) > 10  # the whole report, not a cut one
    # Wrapped at word boundaries: every word of the cause survives whole.
    assert "IJG libjpeg 9d" in " ".join(out.split())


def test_so_paths_are_file_names_unless_verbose(bundles):
    short = run(list(bundles), COLUMNS="100")
    assert "libjpeg.so.62.3.0" in short and "/usr/lib/aarch64-linux-gnu/" not in short
    verbose = run(list(bundles) + ["-v"], COLUMNS="100")
    assert "/usr/lib/aarch64-linux-gnu/libjpeg.so.62.3.0" in verbose
    # -v lists records with their whole keys (wrapped, never cut).
    assert "{}-0.jpg|decode=pillow".format(LONG) in "".join(
        line.strip() for line in verbose.split("\n"))


def test_colour_follows_force_color_and_no_color(bundles):
    assert "\x1b[" not in run(list(bundles), COLUMNS="100")  # a pipe: no colour
    coloured = run(list(bundles), COLUMNS="100", FORCE_COLOR="1")
    assert "\x1b[31m" in coloured
    assert all(len(ESCAPE.sub("", line)) <= 100 for line in coloured.split("\n"))
    assert ESCAPE.sub("", coloured.rstrip("\n").split("\n")[-1]).startswith(
        "edgeparity: DIVERGENCE")
    assert "\x1b[" not in run(list(bundles), COLUMNS="100", FORCE_COLOR="1", NO_COLOR="1")


def test_record_counts_in_plain_words(bundles):
    out = " ".join(run(list(bundles), COLUMNS="100").split())
    # 8 images decoded on the left, 6 on the right: 6 compared (all different), 2 only left.
    assert ("compared 6 outputs of the same name on both sides (all implementations, "
            "not only the pipelines above): 6 different; 2 not captured "
            "on one side") in out


def test_markdown_says_what_the_terminal_says(bundles, tmp_path):
    md = tmp_path / "r.md"
    out = " ".join(run(list(bundles) + ["--md", str(md), "-v"], COLUMNS="100").split())
    text = md.read_text()
    for sentence in ("the JPEG library builds differ under the same decoder (Pillow)",
                     "build both sides' Pillow against the same JPEG library",
                     "compared 6 outputs of the same name on both sides (all implementations, "
                     "not only the pipelines above): 6 different"):
        assert sentence in out
        assert sentence.replace("compared", "Compared") in text.replace("\\_", "_")
    assert text.rstrip().endswith("**edgeparity: DIVERGENCE (1 pair: 1 of 1 diverge)**")


def test_percentages_never_round_to_all_or_nothing():
    assert pct(0.999967) == ">99.9%"
    assert pct(1.0) == "100.0%"
    assert pct(0.00004) == "<0.1%"
    assert pct(0.0) == "0.0%"
    assert pct(0.5) == "50.0%"


def test_library_origin_names_the_package_of_an_old_wheel():
    assert library_origin("/site/PIL/.libs/libjpeg-3b1c.so.9.2.0") == "bundled in the PIL wheel"
    assert library_origin("/site/pillow.libs/libjpeg-8a.so.62.4.0") == \
        "bundled in the pillow wheel"


def test_probe_prints_the_reason_an_implementation_did_not_load():
    info = probe.collect(implementations={
        "infer/tvm": {"status": "skipped",
                      "reason": "\nfailed to load: AttributeError: module 'tvm' has no "
                                "attribute 'runtime'"},
        "infer/dlr": {"status": "skipped", "reason": ""},
        "decode/odd": {"status": "available", "details": {
            "provenance_error": "AttributeError: module 'odd' has no attribute 'runtime'"}},
    })
    lines = probe.format_text(info).split("\n")
    assert "infer/tvm                skipped: failed to load: AttributeError: module 'tvm' has " \
        "no attribute 'runtime'" in lines
    assert "infer/dlr                skipped: no reason recorded" in lines
    assert "decode/odd               version unknown  provenance not recorded: AttributeError: " \
        "module 'odd' has no attribute 'runtime'" in lines


def test_the_verdict_is_last_in_a_merged_log_when_parity_is_not_established(tmp_path):
    from test_compare_logic import PIXELS
    from test_compare_logic import make_bundle as make_pipeline_bundle

    # The bundles' pipelines say preprocess=pillow, and neither side has that output.
    left = make_pipeline_bundle(tmp_path / "l", "left", {"decode=pillow": PIXELS})
    right = make_pipeline_bundle(tmp_path / "r", "right", {"decode=pillow": PIXELS})
    environment = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src"), COLUMNS="100")
    result = subprocess.run([sys.executable, "-m", "edgeparity", "compare", left, right],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=environment,
                            universal_newlines=True)
    assert result.returncode == 2
    lines = result.stdout.rstrip("\n").split("\n")
    assert "parity could not be established" in result.stdout
    assert lines[-1] == "edgeparity: INCOMPLETE (1 pair: 1 of 1 not established)"


def test_parity_with_a_file_failing_on_both_sides_does_not_say_all_agree(tmp_path):
    from test_report_evidence import A

    outputs = {"fine.jpg": A, "broken.jpg": "OSError: broken"}
    headers = {"fine.jpg": YCBCR, "broken.jpg": YCBCR}
    left = make_bundle(tmp_path / "l", "left", "pillow",
                       {"pillow": decoder("8.4.0", TURBO, outputs)}, headers)
    right = make_bundle(tmp_path / "r", "right", "pillow",
                        {"pillow": decoder("8.4.0", TURBO, outputs)}, headers)
    md, page = tmp_path / "r.md", tmp_path / "r.html"
    environment = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src"), COLUMNS="100")
    result = subprocess.run([sys.executable, "-m", "edgeparity", "compare", left, right,
                             "--md", str(md), "--html", str(page)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=environment, universal_newlines=True)
    assert result.returncode == 0, result.stderr
    assert "parity: every stage agrees on 1 of 2 images" in result.stdout
    assert "fail to decode on both sides (not compared): broken.jpg" in result.stdout
    text = md.read_text()
    assert "**Parity**: every stage agrees on 1 of 2 images." in text
    assert "Fail to decode on both sides (not compared): broken.jpg" in text
    html = page.read_text()
    assert "<dt>parity</dt><dd>every stage agrees on 1 of 2 images</dd>" in html
    assert "all 2 images" not in html
    assert "<dt>fail to decode on both sides (not compared)</dt><dd>broken.jpg</dd>" in html


def test_a_file_failing_preprocess_on_both_sides_is_listed_in_every_report(tmp_path):
    """JSON calls it fails_on_both_sides; the terminal, Markdown and HTML name it too."""
    import json

    from test_compare_logic import IMAGE, PIXELS
    from test_compare_logic import make_bundle as make_pipeline_bundle

    outputs = {"decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": None}
    left = make_pipeline_bundle(tmp_path / "l", "left", outputs)
    right = make_pipeline_bundle(tmp_path / "r", "right", outputs)
    md, page, report = tmp_path / "r.md", tmp_path / "r.html", tmp_path / "r.json"
    environment = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src"), COLUMNS="100")
    result = subprocess.run([sys.executable, "-m", "edgeparity", "compare", left, right,
                             "--md", str(md), "--html", str(page), "--json", str(report)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment,
                            universal_newlines=True)
    assert json.loads(report.read_text())["pairs"][0]["images"][0]["outcome"] == \
        "fails_on_both_sides"
    assert IMAGE == "a.jpg"
    assert "  fail to preprocess on both sides (not compared): a.jpg" in result.stdout
    assert "Fail to preprocess on both sides (not compared): a.jpg" in md.read_text()
    assert "<dt>fail to preprocess on both sides (not compared)</dt><dd>a.jpg</dd>" in \
        page.read_text()


def test_terminal_markdown_and_html_render_the_same_headline_facts(tmp_path):
    """One list of headline facts: the Markdown report used to leave out the decoders that
    agree across both sides, which the terminal and the HTML page name."""
    from test_report_evidence import A, B, pair_of

    from edgeparity.compare import compare
    from edgeparity.report.compare import markdown, terminal
    from edgeparity.report.html import html_report

    headers = {"photo.jpg": YCBCR, "gray.jpg": YCBCR}
    left = make_bundle(tmp_path / "l", "left", "pillow", {
        "pillow": decoder("8.4.0", IJG, {"photo.jpg": A, "gray.jpg": A}),
        "opencv": decoder("4.8.0", TURBO, {"photo.jpg": A, "gray.jpg": A})}, headers)
    right = make_bundle(tmp_path / "r", "right", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": B, "gray.jpg": A}),
        "opencv": decoder("4.8.0", TURBO, {"photo.jpg": A, "gray.jpg": A})}, headers)
    assert pair_of(left, right)["agreeing_decoders"]["opencv"] == {"agree": 2, "images": 2}
    report, _ = compare([left, right], want_heatmaps=False, jobs=1)
    text = " ".join(terminal(report, width=100).split())
    page = html_report(report, {})
    md = markdown(report).replace("\\", "")
    for line in ("first divergent stage: decode (1 of 2 images)",
                 "agree end to end: gray.jpg",
                 "decoders that agree across both sides: opencv"):
        assert line in text
        assert line[:1].upper() + line[1:] in md or line.replace(
            "first divergent stage", "**First divergent stage**") in md
        label, words = line.split(": ", 1)
        assert "<dt>{}</dt><dd>{}</dd>".format(label, words) in page
