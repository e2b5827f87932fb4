"""Causes and advice only from evidence in the bundles: one hand-built case per rule.

Each bundle is built here with known pixels, errors, JPEG header facts and library provenance;
the expected sentences are written out by hand (never produced by the code under test).
"""

import numpy as np

from edgeparity.bundle import BundleWriter
from edgeparity.compare import compare

A = np.zeros((2, 2, 3), np.uint8)  # "the pixels one decoder gives"
B = A + 1  # "the pixels another decoder gives"
C = A + 2

YCBCR = {"coding": "baseline", "components": 3, "colour": "YCbCr"}
GRAY = {"coding": "baseline", "components": 1, "colour": "grayscale"}
CMYK = {"coding": "baseline", "components": 4, "colour": "CMYK"}
ARITHMETIC = {"coding": "arithmetic", "components": 3, "colour": "YCbCr"}
BROKEN = "OSError: broken data stream when reading image file"

IJG = {"build": "IJG libjpeg 9d", "linkage": "shared", "origin": "stale words",
       "path": "/site/Pillow.libs/libjpeg-183418da.so.9.4.0"}
TURBO = {"build": "libjpeg-turbo 2.0.6", "linkage": "shared", "origin": "system library",
         "path": "/usr/lib/aarch64-linux-gnu/libjpeg.so.62.3.0"}
MXNET_TURBO = {"build": "libjpeg-turbo 2.0.2", "linkage": "static",
               "origin": "statically linked into libmxnet.so", "path": "/site/mxnet/libmxnet.so"}


def decoder(version, library, outputs):
    return {"version": version, "jpeg_library": library, "outputs": outputs}


def make_bundle(path, name, deployed, decoders, headers, arch="x86_64", file_digests=None,
                environment=None, selection=None):
    """decoders: {impl: decoder(...)}; an output is an array, or an error string; the images
    are ``headers``' keys, their file digests 'bytes of <image>' unless ``file_digests`` says."""
    writer = BundleWriter(str(path))
    for impl, spec in decoders.items():
        for image, output in spec["outputs"].items():
            record = {"key": "{}|decode={}".format(image, impl), "image": image,
                      "chain": "decode=" + impl, "stage": "decode", "impl": impl, "mode": "e2e"}
            if isinstance(output, str):
                record.update(status="error", error=output)
            else:  # as capture records them
                record.update(status="ok", sha256=writer.add_array(output),
                              shape=list(output.shape), dtype=output.dtype.str)
            writer.add_record(record)
    keys = ["decode/" + impl for impl in decoders]
    extra = {"selection": selection} if selection else {}
    return writer.finish(dict(extra, **{
        "name": name,
        "images": {image: {"sha256": (file_digests or {}).get(image, "bytes of " + image),
                           "jpeg": facts}
                   for image, facts in headers.items()},
        "pipeline": {"decode": deployed},
        "implementations": {key: {"status": "available"} for key in keys},
        "provenance": dict({"cpu": {"arch": arch}, "implementations": {
            "decode/" + impl: {"status": "available", "details": {
                "version": spec["version"], "jpeg_library": spec["jpeg_library"]}}
            for impl, spec in decoders.items()}}, **(environment or {})),
    }))


def pair_of(*specs):
    report, _ = compare(list(specs), want_heatmaps=False, jobs=1)
    return report["pairs"][0]


def advice_texts(pair):
    return [item["text"] for item in pair["advice"]]


def test_libjpeg_build_differs_is_the_cause_and_the_version_only_also_differs(tmp_path):
    old_wheel = dict(IJG, path="/site/PIL/.libs/libjpeg-3b1c.so.9.2.0")  # Pillow 6.1.0's layout
    headers = {"photo.jpg": YCBCR, "gray.jpg": GRAY}
    left = make_bundle(tmp_path / "l", "left", "pillow", {
        "pillow": decoder("6.1.0", old_wheel, {"photo.jpg": A, "gray.jpg": C}),
        "mxnet": decoder("1.9.1", MXNET_TURBO, {"photo.jpg": B, "gray.jpg": C})}, headers)
    right = make_bundle(tmp_path / "r", "right", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": B, "gray.jpg": C})}, headers)
    pair = pair_of(left, right)
    assert pair["causes"] == [
        "the JPEG library builds differ under the same decoder (Pillow): 1 of 2 ordinary JPEG "
        "files decode differently; left's Pillow 6.1.0 loads IJG libjpeg 9d (bundled in the PIL "
        "wheel: /site/PIL/.libs/libjpeg-3b1c.so.9.2.0); right's Pillow 8.4.0 loads "
        "libjpeg-turbo 2.0.6 (system library: /usr/lib/aarch64-linux-gnu/libjpeg.so.62.3.0)"]
    # The version differs too, but is not called a cause: the library alone explains the data.
    assert pair["also_differs"] == [
        "Pillow 6.1.0 in left vs 8.4.0 in right (not a cause on its own: the JPEG library "
        "builds differ too)"]
    assert advice_texts(pair) == [
        "use decode=mxnet in left (now decode=pillow): it gives the same pixels as right's "
        "decode=pillow on 2 of 2 images (now 1)",
        "or build both sides' Pillow against the same JPEG library (now IJG libjpeg 9d vs "
        "libjpeg-turbo 2.0.6): with the same decoder on both sides, 1 of 2 images decode "
        "differently; Pillow 6.1.0 vs 8.4.0 differs too"]
    assert [(a["agree"], a["images"]) for a in pair["advice"]] == [(2, 2), (1, 2)]


def test_build_advice_counts_the_images_that_agree_not_those_that_differ(tmp_path):
    # "agree" of an advice is "on agree of images images" (report schema): with the same
    # decoder, photo.jpg and cmyk.jpg decode differently (2, the build's doing), bad.jpg fails
    # on one side: gray.jpg, other.jpg and more.jpg give the same pixels (3; failing on both
    # sides, as fail.jpg does, is no evidence for a fix: as the other advice counts).
    headers = {"photo.jpg": YCBCR, "gray.jpg": GRAY, "other.jpg": YCBCR, "more.jpg": YCBCR,
               "cmyk.jpg": CMYK, "bad.jpg": YCBCR, "fail.jpg": YCBCR}
    left = make_bundle(tmp_path / "l", "left", "pillow", {
        "pillow": decoder("8.4.0", IJG, {"photo.jpg": A, "gray.jpg": C, "other.jpg": C,
                                         "more.jpg": C, "cmyk.jpg": A, "bad.jpg": A,
                                         "fail.jpg": BROKEN})}, headers)
    right = make_bundle(tmp_path / "r", "right", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": B, "gray.jpg": C, "other.jpg": C,
                                           "more.jpg": C, "cmyk.jpg": B, "bad.jpg": BROKEN,
                                           "fail.jpg": BROKEN})}, headers)
    pair = pair_of(left, right)
    build = next(item for item in pair["advice"] if "same JPEG library" in item["text"])
    assert "2 of 7 images decode differently" in build["text"]
    assert (build["agree"], build["images"]) == (3, 7)
    assert pair["outcomes"] == {"agrees": 3, "diverges": 3, "fails_on_both_sides": 1}


def test_only_the_decoder_differs_falls_back_to_one_decoder_on_both_sides(tmp_path):
    headers = {"photo.jpg": YCBCR}
    left = make_bundle(tmp_path / "l", "left", "opencv", {
        "opencv": decoder("4.8.0", TURBO, {"photo.jpg": A})}, headers)
    right = make_bundle(tmp_path / "r", "right", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": B})}, headers)
    pair = pair_of(left, right)
    assert pair["causes"] == [
        "the decoders differ (OpenCV vs Pillow): 1 of 1 ordinary JPEG files decode differently; "
        "left's OpenCV 4.8.0 loads libjpeg-turbo 2.0.6 (system library: "
        "/usr/lib/aarch64-linux-gnu/libjpeg.so.62.3.0); right's Pillow 8.4.0 loads "
        "libjpeg-turbo 2.0.6 (system library: /usr/lib/aarch64-linux-gnu/libjpeg.so.62.3.0)"]
    assert pair["also_differs"] == []
    # The library build is the same on both sides: never advise changing it.
    assert advice_texts(pair) == [
        "for photo.jpg: use the same decoder on both sides (they differ on 1 of 1); no decoder "
        "ran on both (left has opencv, right has pillow)"]


def test_cmyk_formula_and_unsupported_coding_with_the_same_libjpeg_family(tmp_path):
    """The reviewers' case: MXNet (turbo 2.0.2) in the cloud, Pillow (turbo 2.0.6) on the edge."""
    headers = {"photo.jpg": YCBCR, "cmyk.jpg": CMYK, "arith.jpg": ARITHMETIC}
    cloud = make_bundle(tmp_path / "c", "cloud", "pillow", {
        "mxnet": decoder("1.9.1", MXNET_TURBO, {"photo.jpg": B, "cmyk.jpg": A, "arith.jpg": B}),
        "pillow": decoder("8.4.0", IJG, {"photo.jpg": A, "cmyk.jpg": C, "arith.jpg": BROKEN}),
    }, headers)
    edge = make_bundle(tmp_path / "e", "edge", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": B, "cmyk.jpg": C, "arith.jpg": BROKEN}),
    }, headers, arch="aarch64")
    pair = pair_of(cloud + "@decode=mxnet", edge)
    assert pair["causes"] == [
        "cmyk.jpg: MXNet and Pillow convert CMYK to RGB differently",
        "arith.jpg: edge's Pillow cannot decode it: " + BROKEN + "; it is arithmetic-coded"]
    assert pair["also_differs"] == [
        "the JPEG library builds differ, but not as a cause here (every one of the 1 ordinary "
        "JPEG files decodes identically): cloud@decode=mxnet's MXNet 1.9.1 loads libjpeg-turbo "
        "2.0.2 (statically linked into libmxnet.so); edge's Pillow 8.4.0 loads libjpeg-turbo "
        "2.0.6 (system library: /usr/lib/aarch64-linux-gnu/libjpeg.so.62.3.0)"]
    assert advice_texts(pair) == [
        "keep decode=mxnet in cloud@decode=mxnet and decode=pillow in edge: they already give "
        "the same pixels on 1 of 3 images",
        "for cmyk.jpg: decode with pillow on both sides, which gives the same pixels on 1 of 1",
        # Why it fails is the why line's; the advice says what to do about it.
        "for arith.jpg: no other decoder captured in edge gives the other side's pixels: leave "
        "it out or add a decoder in edge that reads it"]
    assert not any("JPEG library" in text for text in advice_texts(pair))
    kinds = {d["kind"]: d["images"] for d in pair["decode_differences"]}
    assert kinds == {"cmyk": ["cmyk.jpg"], "fails_on_one_side": ["arith.jpg"]}


def test_same_library_different_version_is_a_cause_only_when_nothing_else_differs(tmp_path):
    headers = {"photo.jpg": YCBCR}
    left = make_bundle(tmp_path / "l", "left", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": A})}, headers)
    right = make_bundle(tmp_path / "r", "right", "pillow", {
        "pillow": decoder("9.0.0", TURBO, {"photo.jpg": B})}, headers)
    pair = pair_of(left, right)
    assert pair["causes"] == [
        "Pillow 8.4.0 in left vs 9.0.0 in right, the only recorded difference (both load "
        "libjpeg-turbo 2.0.6): 1 of 1 ordinary JPEG files decode differently"]
    assert pair["also_differs"] == [] and pair["advice"] == []


def test_a_version_is_not_the_only_difference_when_more_is_recorded(tmp_path):
    headers = {"photo.jpg": YCBCR}
    left = make_bundle(tmp_path / "l", "left", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": A})}, headers, environment={
            "os": {"distro": "Debian GNU/Linux 11 (bullseye)"}, "numpy": {"version": "1.19.5"},
            "environment_variables": {"JSIMD_FORCESSE2": "1", "OMP_NUM_THREADS": "2"}})
    right = make_bundle(tmp_path / "r", "right", "pillow", {
        "pillow": decoder("9.0.0", TURBO, {"photo.jpg": B})}, headers, environment={
            "os": {"distro": "Debian GNU/Linux 12 (bookworm)"}, "numpy": {"version": "1.26.4"}})
    pair = pair_of(left, right)
    # numpy and OMP_NUM_THREADS do not reach a decoder: not named for decode.
    assert pair["causes"] == [
        "Pillow 8.4.0 in left vs 9.0.0 in right (both load libjpeg-turbo 2.0.6); also recorded "
        "as different: OS Debian GNU/Linux 11 (bullseye) vs Debian GNU/Linux 12 (bookworm); "
        "JSIMD_FORCESSE2=1 in left only; the data cannot tell which matters: 1 of 1 ordinary "
        "JPEG files decode differently"]


def test_the_same_build_name_from_different_files_is_named(tmp_path):
    headers = {"photo.jpg": YCBCR}
    left = make_bundle(tmp_path / "l", "left", "pillow", {
        "pillow": decoder("9.0.0", dict(TURBO, sha256="a" * 64), {"photo.jpg": A})}, headers,
        environment={"cpu": {"arch": "x86_64", "notable_features": ["sse2", "avx2"]}})
    right = make_bundle(tmp_path / "r", "right", "pillow", {
        "pillow": decoder("9.0.0", dict(TURBO, sha256="b" * 64), {"photo.jpg": B})}, headers,
        environment={"cpu": {"arch": "x86_64", "notable_features": ["sse2"]}})
    pair = pair_of(left, right)
    assert pair["causes"] == [
        "same Pillow and JPEG library build (libjpeg-turbo 2.0.6) on both sides, yet 1 of 1 "
        "ordinary JPEG files decode differently: look at CPU-specific code paths (SIMD: x86_64 "
        "vs x86_64) or the JSIMD_* variables; recorded as different: CPU features (avx2 only "
        "in left); the libjpeg-turbo 2.0.6 library files (same build name, sha256 aaaaaaaaaaaa "
        "vs bbbbbbbbbbbb)"]


def test_a_file_whose_bytes_differ_is_not_blamed_on_the_decoders(tmp_path):
    headers = {"a.jpg": YCBCR, "b.jpg": YCBCR}
    left = make_bundle(tmp_path / "l", "left", "pillow", {
        "pillow": decoder("9.0.0", TURBO, {"a.jpg": A, "b.jpg": A})}, headers)
    right = make_bundle(tmp_path / "r", "right", "pillow", {
        "pillow": decoder("9.0.0", TURBO, {"a.jpg": A, "b.jpg": B})}, headers,
        file_digests={"b.jpg": "other bytes"})
    pair = pair_of(left, right)
    assert pair["input_files_differ"] == ["b.jpg"] and pair["verdict"] == "divergence"
    # b.jpg differs because the files do: no decoder, library or CPU is named for it.
    assert pair["causes"] == [] and pair["advice"] == []
    [step] = [walk["stages"][0] for walk in pair["images"] if walk["image"] == "b.jpg"]
    assert step["verdict"] == "different" and step["origin"] == "input files differ"


def test_advice_to_add_a_decoder_says_when_the_capture_left_decoders_out(tmp_path):
    headers = {"photo.jpg": YCBCR, "arith.jpg": ARITHMETIC}
    cloud = make_bundle(tmp_path / "c", "cloud", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": A, "arith.jpg": A})}, headers)
    edge = make_bundle(tmp_path / "e", "edge", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": A, "arith.jpg": BROKEN})}, headers,
        selection={"stages": ["decode"], "implementations": ["pillow"]})
    [text] = [t for t in advice_texts(pair_of(cloud, edge)) if t.startswith("for arith.jpg")]
    # Other decoders may be installed there: the capture did not try them.
    assert "no other decoder captured in edge (its capture asked only for --impl pillow) " \
        "gives the other side's pixels" in text


def test_single_bundle_names_the_decoder_that_agrees(tmp_path):
    headers = {"photo.jpg": YCBCR, "cmyk.jpg": CMYK}
    one = make_bundle(tmp_path / "one", "one", "pillow", {
        "pillow": decoder("11.3.0", TURBO, {"photo.jpg": A, "cmyk.jpg": B}),
        "opencv": decoder("5.0.0", MXNET_TURBO, {"photo.jpg": A, "cmyk.jpg": C}),
        "simplejpeg": decoder("1.9.0", MXNET_TURBO, {"photo.jpg": A, "cmyk.jpg": C}),
    }, headers)
    pair = pair_of(one + "@decode=pillow", one + "@decode=opencv")
    assert pair["causes"] == ["cmyk.jpg: Pillow and OpenCV convert CMYK to RGB differently"]
    assert advice_texts(pair) == [
        "in one, decode=simplejpeg gives the same pixels as decode=opencv on 2 of 2 images "
        "(decode=pillow on 1)"]
    assert [(a["agree"], a["images"]) for a in pair["advice"]] == [(2, 2)]


def test_exif_orientation_applied_on_one_side(tmp_path):
    turned = np.zeros((3, 2, 3), np.uint8)
    upright = np.zeros((2, 3, 3), np.uint8)
    headers = {"rotated.jpg": dict(YCBCR, exif_orientation=6)}
    one = make_bundle(tmp_path / "one", "one", "pillow", {
        "pillow": decoder("11.3.0", TURBO, {"rotated.jpg": upright}),
        "pillow-exif": decoder("11.3.0", TURBO, {"rotated.jpg": turned})}, headers)
    pair = pair_of(one + "@decode=pillow", one + "@decode=pillow-exif")
    assert pair["causes"] == [
        "rotated.jpg: one side turns it by its EXIF orientation (6), the other does not: "
        "shapes (2, 3, 3) vs (3, 2, 3)"]
    assert advice_texts(pair) == [
        "for rotated.jpg: apply the EXIF orientation on both sides or on neither (differs on 1 "
        "of 1)"]


def test_one_bundle_read_two_ways_is_not_advised_its_other_sides_decoder(tmp_path):
    """One environment, its Pillow and MXNet compared: switching the MXNet side to pillow-exif
    (Pillow again) or the Pillow side to MXNet for a file only MXNet reads would agree
    trivially, so neither is advised. Read as Pillow vs pillow-exif, a file both fail on names
    the decoder that reads it once, not once per side, and the turned image gets the
    orientation advice, not a switch of decoders."""
    turned, upright = np.zeros((3, 2, 3), np.uint8), np.zeros((2, 3, 3), np.uint8)
    headers = {"p1.jpg": YCBCR, "p2.jpg": YCBCR, "arith.jpg": ARITHMETIC,
               "rotated.jpg": dict(YCBCR, exif_orientation=6)}
    pillow = {"p1.jpg": A, "p2.jpg": A, "arith.jpg": BROKEN, "rotated.jpg": upright}
    one = make_bundle(tmp_path / "one", "one", "pillow", {
        "pillow": decoder("11.3.0", IJG, pillow),
        "pillow-exif": decoder("11.3.0", IJG, dict(pillow, **{"rotated.jpg": turned})),
        "mxnet": decoder("1.9.1", MXNET_TURBO, {"p1.jpg": B, "p2.jpg": B, "arith.jpg": C,
                                                "rotated.jpg": turned})}, headers)
    texts = advice_texts(pair_of(one + "@decode=pillow", one + "@decode=mxnet"))
    assert texts == ["in one, decode=pillow-exif gives the same pixels as decode=mxnet on 1 of "
                     "4 images (decode=pillow on 0)"], texts  # it turns rotated.jpg as MXNet
    texts = advice_texts(pair_of(one + "@decode=pillow", one + "@decode=pillow-exif"))
    assert texts == [
        "for rotated.jpg: apply the EXIF orientation on both sides or on neither (differs on 1 "
        "of 1)",
        "for arith.jpg: it fails to decode on both sides (same error on both: " + BROKEN
        + "); it is arithmetic-coded; decode=mxnet reads it: decode such files with a decoder "
        "that reads them, or leave them out"], texts


def test_an_older_bundle_without_headers_reads_them_from_its_images_folder(tmp_path):
    """Captured before headers were recorded: the file itself tells, if its sha256 matches."""
    import hashlib
    import json
    import os

    from edgeparity.bundle.format import index_digest

    samples = os.path.join(os.path.dirname(__file__), "..", "..", "sample-images")
    name = "photo-cmyk-adobe.jpg"
    with open(os.path.join(samples, name), "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    paths = []
    for side, impl, pixels in (("l", "mxnet", A), ("r", "pillow", B)):
        path = make_bundle(tmp_path / side, side, impl, {
            impl: decoder("1", TURBO, {name: pixels})}, {name: {}})
        manifest_path = os.path.join(path, "manifest.json")
        with open(manifest_path) as handle:
            manifest = json.load(handle)
        manifest["images"] = {name: {"sha256": digest}}  # no "jpeg": an older capture
        manifest["images_dir"] = samples
        manifest["index_sha256"] = index_digest(manifest)
        with open(manifest_path, "w") as handle:
            json.dump(manifest, handle)
        paths.append(path)
    pair = pair_of(*paths)
    assert pair["causes"] == [name + ": MXNet and Pillow convert CMYK to RGB differently"]


def test_a_version_difference_with_an_unidentified_library_is_not_said_to_have_builds_differ(
        tmp_path):
    headers = {"photo.jpg": YCBCR}
    left = make_bundle(tmp_path / "l", "left", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": A})}, headers)
    right = make_bundle(tmp_path / "r", "right", "pillow", {
        "pillow": decoder("9.0.0", None, {"photo.jpg": B})}, headers)
    pair = pair_of(left, right)
    assert pair["causes"] == [
        "1 of 1 ordinary JPEG files decode differently; the JPEG library is not identified on "
        "both sides: left's Pillow 8.4.0 loads libjpeg-turbo 2.0.6 (system library: "
        "/usr/lib/aarch64-linux-gnu/libjpeg.so.62.3.0); right's Pillow 9.0.0 loads an "
        "unidentified JPEG library"]
    assert pair["also_differs"] == [
        "Pillow 8.4.0 in left vs 9.0.0 in right (whether it is a cause cannot be told: the JPEG "
        "library is not identified on both sides)"]


def test_a_version_difference_is_not_the_only_one_when_the_cpu_differs_too(tmp_path):
    headers = {"photo.jpg": YCBCR}
    left = make_bundle(tmp_path / "l", "left", "pillow", {
        "pillow": decoder("6.1.0", IJG, {"photo.jpg": A})}, headers)
    right = make_bundle(tmp_path / "r", "right", "pillow", {
        "pillow": decoder("8.4.0", IJG, {"photo.jpg": B})}, headers, arch="aarch64")
    pair = pair_of(left, right)
    assert pair["causes"] == [
        "Pillow 6.1.0 in left vs 8.4.0 in right, and the CPU architectures differ (x86_64 vs "
        "aarch64; both load IJG libjpeg 9d): 1 of 1 ordinary JPEG files decode differently; "
        "the data cannot tell which matters"]
    assert pair["also_differs"] == [] and pair["advice"] == []


def test_files_failing_on_either_side_get_advice_about_the_side_that_fails(tmp_path):
    """a.jpg and a2.jpg fail in left, b.jpg in right; left's OpenCV reads a.jpg (as right's
    Pillow does) but not a2.jpg: each side's files are counted on their own, and a decoder
    fixing some of them is named with how many."""
    headers = {"a.jpg": ARITHMETIC, "a2.jpg": ARITHMETIC, "b.jpg": ARITHMETIC, "c.jpg": YCBCR}
    left = make_bundle(tmp_path / "l", "left", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"a.jpg": BROKEN, "a2.jpg": BROKEN, "b.jpg": B,
                                           "c.jpg": A}),
        "opencv": decoder("4.8.0", TURBO, {"a.jpg": B, "a2.jpg": BROKEN, "b.jpg": B,
                                           "c.jpg": C})}, headers)
    right = make_bundle(tmp_path / "r", "right", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"a.jpg": B, "a2.jpg": B, "b.jpg": BROKEN,
                                           "c.jpg": A})}, headers)
    pair = pair_of(left, right)
    assert advice_texts(pair) == [
        "for the 2 failing files (a.jpg, a2.jpg): decode=opencv in left gives the other "
        "side's pixels on 1 of 2 (a.jpg): decode those with it, and leave the others out or "
        "add a decoder that reads them",
        "for b.jpg: no other decoder captured in right gives the other side's pixels: leave it "
        "out or add a decoder in right that reads it"]
    assert [(a["agree"], a["images"]) for a in pair["advice"]] == [(1, 2), (0, 1)]


def test_a_file_cut_short_is_named_as_such_and_is_no_evidence_for_a_decoder(tmp_path):
    """cut.jpg ends before its end-of-image marker (its recorded header says so): left's Pillow
    refuses it, right's fills in the missing part, and left's MXNet does too, the same way. What
    a decoder fills in is not the image: no decoder is advised for it; the file is named."""
    headers = {"photo.jpg": YCBCR, "cut.jpg": dict(YCBCR, truncated=True)}
    left = make_bundle(tmp_path / "l", "left", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": A, "cut.jpg": BROKEN}),
        "mxnet": decoder("1.9.1", MXNET_TURBO, {"photo.jpg": A, "cut.jpg": B})}, headers)
    right = make_bundle(tmp_path / "r", "right", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": A, "cut.jpg": B})}, headers)
    pair = pair_of(left, right)
    assert pair["causes"] == [
        "cut.jpg (it ends before its end-of-image marker): left's Pillow refuses it (" + BROKEN
        + "); right's Pillow fills in the missing part"]
    # Without the header fact, left's MXNet would be advised: "same pixels on 2 of 2 (now 1)".
    assert pair["advice"] == [{
        "text": "for cut.jpg (cut short): replace it with a whole copy, or leave it out (no "
                "decoder gets the image from a file cut short)",
        "agree": 0, "images": 1}]
    assert [d["kind"] for d in pair["decode_differences"]] == ["truncated"]


def test_several_reasons_in_one_group_each_name_their_files(tmp_path):
    headers = {"photo.jpg": YCBCR, "a.jpg": YCBCR, "b.jpg": YCBCR}
    left = make_bundle(tmp_path / "l", "left", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": A, "a.jpg": BROKEN,
                                           "b.jpg": "OSError: image file is truncated"})},
        headers)
    right = make_bundle(tmp_path / "r", "right", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": A, "a.jpg": A, "b.jpg": A})}, headers)
    assert pair_of(left, right)["causes"] == [
        "2 failing files: a.jpg: left's Pillow cannot decode it: " + BROKEN + "; it is "
        "baseline-coded, like photo.jpg, which it decodes; b.jpg: left's Pillow cannot decode it: "
        "OSError: image file is truncated; it is baseline-coded, like photo.jpg, which it "
        "decodes"]


def test_several_files_cut_short_are_named_together(tmp_path):
    cut = dict(YCBCR, truncated=True)
    headers = {"photo.jpg": YCBCR, "c1.jpg": cut, "c2.jpg": cut}
    left = make_bundle(tmp_path / "l", "left", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": A, "c1.jpg": B, "c2.jpg": B})}, headers)
    right = make_bundle(tmp_path / "r", "right", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": A, "c1.jpg": C, "c2.jpg": C})}, headers)
    pair = pair_of(left, right)
    assert pair["causes"] == [
        "2 cut-short files (c1.jpg, c2.jpg; each ends before its end-of-image marker): both "
        "sides fill in the missing part, differently"]
    assert advice_texts(pair) == [
        "for the 2 cut-short files (c1.jpg, c2.jpg): replace them with whole copies, or leave "
        "them out (no decoder gets the image from a file cut short)"]


def test_a_file_cut_short_is_no_ordinary_file_in_the_counts(tmp_path):
    # cut.jpg decodes the same on both sides (both fill in alike): it is not counted among the
    # ordinary files that decode identically, in the why line as in the advice.
    headers = {"photo.jpg": YCBCR, "gray.jpg": GRAY, "cut.jpg": dict(YCBCR, truncated=True)}
    left = make_bundle(tmp_path / "l", "left", "pillow", {
        "pillow": decoder("8.4.0", IJG, {"photo.jpg": A, "gray.jpg": C, "cut.jpg": C})},
        headers)
    right = make_bundle(tmp_path / "r", "right", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": B, "gray.jpg": C, "cut.jpg": C})},
        headers)
    assert "1 of 2 ordinary JPEG files decode differently" in pair_of(left, right)["causes"][0]


def test_jpeg_facts_of_both_bundles_are_merged(tmp_path):
    # The reference was captured before cut-short files were recorded; the other says so.
    left = make_bundle(tmp_path / "l", "left", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": A, "cut.jpg": BROKEN})},
        {"photo.jpg": YCBCR, "cut.jpg": YCBCR})
    right = make_bundle(tmp_path / "r", "right", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": A, "cut.jpg": B})},
        {"photo.jpg": YCBCR, "cut.jpg": dict(YCBCR, truncated=True)})
    assert [d["kind"] for d in pair_of(left, right)["decode_differences"]] == ["truncated"]


def test_advice_after_a_switch_says_it_is_worked_out_on_the_switched_pair(tmp_path):
    """Switching left to MXNet is advised (3 photos); the lines after it are worked out on that
    switched pair: cmyk.jpg and arith.jpg (which MXNet cannot decode) are its exceptions ("but
    for ...: keep decode=pillow on both sides"), not advice against what is deployed now."""
    D = A + 3
    photos = {"p1.jpg": YCBCR, "p2.jpg": YCBCR, "p3.jpg": YCBCR}
    headers = dict(photos, **{"cmyk.jpg": CMYK, "arith.jpg": ARITHMETIC})
    left = make_bundle(tmp_path / "l", "left", "pillow", {
        "pillow": decoder("8.4.0", IJG, dict({p: A for p in photos}, **{
            "cmyk.jpg": C, "arith.jpg": B})),
        "mxnet": decoder("1.9.1", MXNET_TURBO, dict({p: B for p in photos}, **{
            "cmyk.jpg": D, "arith.jpg": BROKEN}))}, headers)
    right = make_bundle(tmp_path / "r", "right", "pillow", {
        "pillow": decoder("8.4.0", TURBO, dict({p: B for p in photos}, **{
            "cmyk.jpg": C, "arith.jpg": B}))}, headers)
    texts = advice_texts(pair_of(left, right))
    assert texts[0].startswith("use decode=mxnet in left (now decode=pillow)")
    assert "but for cmyk.jpg: keep decode=pillow on both sides, which gives the same pixels on " \
        "1 of 1" in texts
    assert "but for arith.jpg: keep decode=pillow on both sides, which gives the same pixels on " \
        "1 of 1" in texts


def test_an_empty_file_is_not_advised_a_decoder(tmp_path):
    empty = "EmptyFile: the file is empty (0 bytes)"  # what capture records for every decoder
    headers = {"photo.jpg": YCBCR, "empty.jpg": {}}
    left = make_bundle(tmp_path / "l", "left", "pillow", {
        "pillow": decoder("8.4.0", IJG, {"photo.jpg": A, "empty.jpg": empty})}, headers)
    right = make_bundle(tmp_path / "r", "right", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": B, "empty.jpg": empty})}, headers)
    assert advice_texts(pair_of(left, right))[-1] == (
        "for empty.jpg: it fails to decode on both sides (same error on both: " + empty + "); "
        "no decoder can read an empty file: put the image in it or leave it out")


def test_a_switch_that_makes_a_file_fail_on_both_sides_says_so(tmp_path):
    """MXNet on the left matches the right's pixels on the photos but fails arith.jpg, which
    the right's MXNet fails too: after the advised switch it would fail on both sides (which
    counts as agreeing), where Pillow on both sides gives the same pixels now."""
    photos = {"p1.jpg": YCBCR, "p2.jpg": YCBCR, "p3.jpg": YCBCR}
    headers = dict(photos, **{"arith.jpg": ARITHMETIC})
    left = make_bundle(tmp_path / "l", "left", "pillow", {
        "pillow": decoder("8.4.0", IJG, dict({p: A for p in photos}, **{"arith.jpg": B})),
        "mxnet": decoder("1.9.1", MXNET_TURBO, dict({p: B for p in photos},
                                                    **{"arith.jpg": BROKEN}))}, headers)
    right = make_bundle(tmp_path / "r", "right", "pillow", {
        "pillow": decoder("8.4.0", TURBO, dict({p: C for p in photos}, **{"arith.jpg": B})),
        "mxnet": decoder("1.9.1", MXNET_TURBO, dict({p: B for p in photos},
                                                    **{"arith.jpg": BROKEN}))}, headers)
    texts = advice_texts(pair_of(left, right))
    assert texts[0].startswith("use decode=mxnet on both sides")
    assert ("but after that switch arith.jpg would fail to decode on both sides (" + BROKEN
            + "): keep decode=pillow on both sides for it, which gives the same pixels") in texts


def test_files_failing_on_both_sides_are_counted_in_words(tmp_path):
    empty = "EmptyFile: the file is empty (0 bytes)"
    headers = {"photo.jpg": YCBCR, "e1.jpg": {}, "e2.jpg": {}}
    left = make_bundle(tmp_path / "l", "left", "pillow", {
        "pillow": decoder("8.4.0", IJG, {"photo.jpg": A, "e1.jpg": empty, "e2.jpg": empty})},
        headers)
    right = make_bundle(tmp_path / "r", "right", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": B, "e1.jpg": empty, "e2.jpg": empty})},
        headers)
    assert advice_texts(pair_of(left, right))[-1].startswith(
        "for the 2 files failing on both sides (e1.jpg, e2.jpg): they fail to decode")


def test_a_stage_whose_worst_is_a_change_of_shape_says_so_without_up_to(tmp_path):
    from edgeparity.report.compare import stage_line

    turned, upright = np.zeros((3, 2, 3), np.uint8), np.zeros((2, 3, 3), np.uint8)
    one = make_bundle(tmp_path / "one", "one", "pillow", {
        "pillow": decoder("11.3.0", TURBO, {"rotated.jpg": upright}),
        "pillow-exif": decoder("11.3.0", TURBO, {"rotated.jpg": turned})},
        {"rotated.jpg": dict(YCBCR, exif_orientation=6)})
    [summary] = pair_of(one + "@decode=pillow", one + "@decode=pillow-exif")["stages"]
    assert "DIFFERS on 1/1 images: shapes differ: (2, 3, 3) vs (3, 2, 3)" in stage_line(summary)


def test_one_bundle_read_two_ways_names_a_third_decoder_for_a_file_one_side_fails(tmp_path):
    """Pillow fails arith.jpg, MXNet reads it; simplejpeg reads it as MXNet does: that is
    advised for the Pillow side. MXNet itself (the other side's decoder) never is."""
    headers = {"p1.jpg": YCBCR, "arith.jpg": ARITHMETIC}
    one = make_bundle(tmp_path / "one", "one", "pillow", {
        "pillow": decoder("11.3.0", IJG, {"p1.jpg": A, "arith.jpg": BROKEN}),
        "simplejpeg": decoder("1.9.0", MXNET_TURBO, {"p1.jpg": B, "arith.jpg": C}),
        "mxnet": decoder("1.9.1", MXNET_TURBO, {"p1.jpg": A, "arith.jpg": C})}, headers)
    assert advice_texts(pair_of(one + "@decode=pillow", one + "@decode=mxnet")) == [
        "for arith.jpg: decode=simplejpeg in one@decode=pillow gives the other side's pixels on "
        "1 of 1: decode it with it"]
