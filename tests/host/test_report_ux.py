"""What a new user found confusing, each on hand-built bundles with the expected words written
out: a bundle of a subset of the images, advice for a file failing on both sides, the HTML
headline's last lines, what the progress line counts, golden check's verdict last."""

import io
import json
import os
import shutil

from test_report_evidence import (
    ARITHMETIC,
    BROKEN,
    IJG,
    MXNET_TURBO,
    TURBO,
    YCBCR,
    A,
    B,
    C,
    advice_texts,
    decoder,
    make_bundle,
    pair_of,
)

from edgeparity import cli, errors
from edgeparity.bundle.format import seal
from edgeparity.compare import compare
from edgeparity.progress import Progress
from edgeparity.report.compare import markdown, terminal
from edgeparity.report.html import html_report

IMAGES = ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"]


def cloud_and_device(tmp_path, device_images, device_pixels=A, file_digests=None):
    """cloud captured all IMAGES (pixels A); device only ``device_images``."""
    cloud = make_bundle(tmp_path / "cloud", "cloud", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {i: A for i in IMAGES})}, {i: YCBCR for i in IMAGES})
    device = make_bundle(tmp_path / "device", "device", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {i: device_pixels for i in device_images})},
        {i: YCBCR for i in device_images}, arch="aarch64", file_digests=file_digests)
    return cloud, device


def gate(capsys, bundles, *extra):
    capsys.readouterr()
    code = cli.main(["compare"] + list(bundles) + list(extra))
    return code, capsys.readouterr().out


# -- 1. a bundle of a subset of the images ----------------------------------------------------
def test_images_captured_on_one_side_only_are_listed_not_input_files_that_differ(tmp_path,
                                                                                 capsys):
    cloud, device = cloud_and_device(tmp_path, ["a.jpg", "b.jpg"], device_pixels=B)
    report, _ = compare([cloud, device], want_heatmaps=False, jobs=1)
    pair = report["pairs"][0]
    assert pair["input_files_differ"] == []
    assert pair["only_in"] == {"cloud": ["c.jpg", "d.jpg", "e.jpg"]}
    # Counted on the images both captured.
    assert [walk["image"] for walk in pair["images"]] == ["a.jpg", "b.jpg"]
    assert pair["stages"][0]["images"] == 2
    text = terminal(report, width=100)
    assert "input files differ" not in text
    assert "  first divergent stage: decode (2 of 2 images)" in text.splitlines()
    assert "  only in cloud: 3 images (not compared): c.jpg, d.jpg, e.jpg" in text.splitlines()
    assert text.count("c.jpg") == 1  # listed once
    assert "Only in cloud: 3 images (not compared): c.jpg, d.jpg, e.jpg" in \
        markdown(report).replace("\\", "")
    assert "<dt>only in cloud</dt><dd>3 images (not compared): c.jpg, d.jpg, e.jpg</dd>" in \
        html_report(report, {})
    # A gate fails on the images both captured, never for the ones only one side has.
    code, out = gate(capsys, (cloud, device), "--fail-on", "decode:max>5")
    assert code == errors.EXIT_PARITY, out
    assert out.rstrip().splitlines()[-1] == (
        "edgeparity: exit 0: --fail-on decode:max>5 passes (it fails only above 5; the verdict "
        "above counts any difference)")


def test_a_subset_that_agrees_is_parity_and_passes_every_gate(tmp_path, capsys):
    cloud, device = cloud_and_device(tmp_path, ["a.jpg", "b.jpg"])
    report, _ = compare([cloud, device], want_heatmaps=False, jobs=1)
    pair = report["pairs"][0]
    assert pair["verdict"] == "parity" and pair["not_compared"] == []
    # The records of c, d and e (cloud only) are not counted as "not captured on one side".
    assert pair["like_for_like"]["counts"].get("missing", 0) == 0, pair["like_for_like"]
    assert "  parity: every stage agrees on 2 of 2 images" in \
        terminal(report, width=100).splitlines()
    for extra in ([], ["--fail-on", "stage:decode"], ["--fail-on", "decode:max>0"]):
        code, out = gate(capsys, (cloud, device), *extra)
        assert code == errors.EXIT_PARITY, out
        assert "input files differ" not in out


def test_the_same_name_with_other_bytes_still_differs_and_fails_every_gate(tmp_path, capsys):
    cloud, device = cloud_and_device(tmp_path, ["a.jpg", "b.jpg"],
                                     file_digests={"b.jpg": "other bytes"})
    pair = pair_of(cloud, device)
    assert pair["input_files_differ"] == ["b.jpg"]
    assert pair["only_in"] == {"cloud": ["c.jpg", "d.jpg", "e.jpg"]}
    assert pair["verdict"] == "divergence"
    code, out = gate(capsys, (cloud, device), "--fail-on", "decode:max>5")
    assert code == errors.EXIT_DIVERGENCE
    assert out.rstrip().splitlines()[-1] == (
        "edgeparity: exit 1: --fail-on decode:max>5 fails: cloud vs device: input files differ "
        "(b.jpg)")


def test_no_image_in_common_is_incomplete_with_that_reason(tmp_path):
    cloud = make_bundle(tmp_path / "cloud", "cloud", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"a.jpg": A})}, {"a.jpg": YCBCR})
    device = make_bundle(tmp_path / "device", "device", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"z.jpg": A})}, {"z.jpg": YCBCR})
    report, _ = compare([cloud, device], want_heatmaps=False, jobs=1)
    pair = report["pairs"][0]
    assert pair["verdict"] == "incomplete"
    assert "no image captured on both sides" in pair["not_compared"]
    assert pair["only_in"] == {"cloud": ["a.jpg"], "device": ["z.jpg"]}
    lines = terminal(report, width=100).splitlines()
    assert "  only in cloud: 1 image (not compared): a.jpg" in lines
    assert "  only in device: 1 image (not compared): z.jpg" in lines


def test_only_in_is_valid_under_the_shipped_schema(tmp_path):
    jsonschema = __import__("pytest").importorskip("jsonschema")
    from importlib import resources

    cloud, device = cloud_and_device(tmp_path, ["a.jpg"])
    out = tmp_path / "r.json"
    assert cli.main(["compare", cloud, device, "--json", str(out), "-q"]) == errors.EXIT_PARITY
    schema = json.loads(resources.files("edgeparity.report").joinpath(
        "schema/compare-report.schema.json").read_text())
    report = json.loads(out.read_text())
    jsonschema.validate(report, schema)
    assert report["schema"] == "edgeparity.report/2"
    assert report["pairs"][0]["only_in"] == {"cloud": ["b.jpg", "c.jpg", "d.jpg", "e.jpg"]}


# -- 2. a file failing to decode on both sides ------------------------------------------------
def both_fail_bundles(tmp_path):
    """big.jpg (arithmetic-coded) fails in Pillow on both sides; small.jpg (arithmetic-coded
    too) decodes on both; left's MXNet reads big.jpg."""
    headers = {"photo.jpg": YCBCR, "small.jpg": ARITHMETIC, "big.jpg": ARITHMETIC}
    left = make_bundle(tmp_path / "l", "left", "pillow", {
        "pillow": decoder("8.4.0", IJG, {"photo.jpg": A, "small.jpg": A, "big.jpg": BROKEN}),
        "mxnet": decoder("1.9.1", MXNET_TURBO, {"photo.jpg": B, "small.jpg": A, "big.jpg": C}),
    }, headers)
    right = make_bundle(tmp_path / "r", "right", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": B, "small.jpg": A, "big.jpg": BROKEN}),
    }, headers, arch="aarch64")
    return left, right


def test_a_file_failing_on_both_sides_is_advised_as_such(tmp_path):
    left, right = both_fail_bundles(tmp_path)
    pair = pair_of(left, right)
    assert advice_texts(pair) == [
        "use decode=mxnet in left (now decode=pillow): it gives the same pixels as right's "
        "decode=pillow on 2 of 3 images (now 1)",
        "or build both sides' Pillow against the same JPEG library (now IJG libjpeg 9d vs "
        "libjpeg-turbo 2.0.6): with the same decoder on both sides, 1 of 3 images decode "
        "differently",
        "for big.jpg: it fails to decode on both sides (same error on both: " + BROKEN + "); "
        "it is arithmetic-coded, like small.jpg, which both decode; decode=mxnet in left reads "
        "it; no decoder captured in right does: add a decoder in right that reads it, or "
        "leave such files out"]
    report, _ = compare([left, right], want_heatmaps=False, jobs=1)
    for width in (100, 60):
        text = terminal(report, width=width)
        assert "arithmetic coding" not in text
        assert [line for line in text.splitlines() if len(line) > width] == []


def test_the_coding_is_the_reason_only_when_every_file_of_it_fails(tmp_path):
    headers = {"photo.jpg": YCBCR, "small.jpg": ARITHMETIC, "big.jpg": ARITHMETIC}
    left = make_bundle(tmp_path / "l", "left", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": A, "small.jpg": A, "big.jpg": B})},
        headers)
    right = make_bundle(tmp_path / "r", "right", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": A, "small.jpg": BROKEN,
                                           "big.jpg": BROKEN})}, headers)
    assert pair_of(left, right)["causes"] == [
        "big.jpg, small.jpg: right's Pillow cannot decode it: " + BROKEN + "; right's Pillow "
        "decodes none of the 2 arithmetic-coded files"]


# -- 3. the HTML headline has the terminal's last lines ---------------------------------------
def test_html_headline_says_what_did_not_run_and_the_record_counts(tmp_path):
    left, right = both_fail_bundles(tmp_path)
    report, _ = compare([left, right], want_heatmaps=False, jobs=1)
    text = " ".join(terminal(report, width=1000).split())
    page = html_report(report, {})
    installed = "not run in right: decode/mxnet: its capture did not ask for it (--impl)"
    counts = ("compared 3 outputs of the same name on both sides (all implementations, "
              "not only the pipelines above): 1 identical, 1 different, "
              "1 failing on both sides; 3 not captured on one side")
    for line in (installed, counts):
        assert line in text
        label, words = line.split(": ", 1)
        assert "<dt>{}</dt><dd>{}</dd>".format(label, words) in page
    assert ("Not run in right: decode/mxnet: its capture did not ask for it (--impl)"
            in markdown(report))  # all three say it


# -- 4. what the progress line counts ---------------------------------------------------------
def test_progress_says_what_it_counts(tmp_path, capsys):
    progress = Progress("compare x vs y", 55, unit="differing outputs")
    progress.count = 1
    assert progress.line().startswith("compare x vs y: differing outputs 1/55")
    assert Progress("capture", 14).line().startswith("capture: 0/14")  # unchanged without one
    left, right = both_fail_bundles(tmp_path)
    capsys.readouterr()
    compare([left, right], want_heatmaps=False, jobs=1, quiet=False)
    err = capsys.readouterr().err
    assert "compare left vs right: differing outputs 1/1" in err
    compare([left, left], want_heatmaps=False, jobs=1, quiet=False)
    err = capsys.readouterr().err  # nothing to count is said so, not "0/0"
    assert "compare left vs left#2: no differing outputs" in err and "0/0" not in err


# -- 5. golden check ends with its verdict ----------------------------------------------------
def test_golden_check_ends_with_its_verdict_within_columns(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    headers = {"photo.jpg": YCBCR}
    first = make_bundle(tmp_path / "first" / "edge", "edge", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": A})}, headers)
    changed = make_bundle(tmp_path / "changed" / "edge", "edge", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": B})}, headers)
    goldens = str(tmp_path / "goldens")
    assert cli.main(["golden", "update", first, "--dir", goldens]) == errors.EXIT_PARITY
    for bundle, code, verdict in (
            (first, errors.EXIT_PARITY, "edgeparity golden: UNCHANGED (1 of 1 environments "
             "unchanged)"),
            (changed, errors.EXIT_DIVERGENCE, "edgeparity golden: CHANGED (1 of 1 environments "
             "changed)")):
        capsys.readouterr()
        assert cli.main(["golden", "check", bundle, "--dir", goldens]) == code
        lines = capsys.readouterr().out.rstrip("\n").splitlines()
        assert lines[0].startswith("goldens: ")
        assert lines[-1] == verdict
        assert "UNCHANGED" not in lines[0] and "CHANGED" not in lines[0]
        assert [line for line in lines if len(line) > 60] == []


def test_progress_and_golden_names_are_shown_escaped(here_bundle, tmp_path, capsys):
    """Environment names are data: a compare's progress line names them escaped, and a name
    with control characters is no golden file name."""
    stream = io.StringIO()
    progress = Progress("compare ref vs ev\x1b[2Jil\nX", 1, stream=stream)
    progress.step()
    progress.done()
    assert "\x1b" not in stream.getvalue() and "ev\\x1b[2Jil\\x0aX" in stream.getvalue()
    folder = tmp_path / "b"
    shutil.copytree(here_bundle, str(folder))
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["name"] = "ev\x1b[2Jil"
    manifest_path.write_bytes(seal(manifest))
    assert cli.main(["golden", "update", str(folder), "--dir", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err
    assert "cannot be a golden file name" in err and "\x1b" not in err
    assert not (tmp_path / "g").exists() or not os.listdir(str(tmp_path / "g"))
