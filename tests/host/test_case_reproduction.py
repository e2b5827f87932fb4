"""The case, reproduced with real builds: same Pillow 8.4.0, IJG libjpeg 9d vs libjpeg-turbo.

Expected facts are checked against the arrays themselves (numpy, in the test), never against
numbers edgeparity computed.
"""

import json
import os

import numpy as np
import pytest

from conftest import loaded_libjpeg, tox_python
from edgeparity import bundle, cli, errors

SUBSAMPLED = [
    "photo-420.jpg",
    "photo-422.jpg",
    "photo-progressive.jpg",
    "photo-restart.jpg",
    "cat-420-oddsize.jpg",
    "camera-canon-s40.jpg",
    "camera-nintendo3ds-mpo.jpg",
]


def _decoded(path, image, impl="pillow"):
    loaded = bundle.load(path)
    record = loaded.records["{}|decode={}".format(image, impl)]
    assert record["status"] == "ok", record
    return loaded.array(record["sha256"])


@pytest.fixture(scope="module")
def report(case_bundles, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    code = cli.main(
        [
            "compare",
            case_bundles["cloud"],
            case_bundles["edge"],
            "--json",
            str(out / "r.json"),
            "--md",
            str(out / "r.md"),
            "--html",
            str(out / "r.html"),
        ]
    )
    with open(str(out / "r.json")) as handle:
        data = json.load(handle)
    return {
        "code": code,
        "json": data,
        "md": (out / "r.md").read_text(),
        "html": (out / "r.html").read_text(),
    }


def test_pillow_decode_differs_on_chroma_subsampled_images(case_bundles):
    for image in SUBSAMPLED:
        cloud = _decoded(case_bundles["cloud"], image)
        edge = _decoded(case_bundles["edge"], image)
        assert cloud.shape == edge.shape
        assert (cloud != edge).any(axis=2).mean() > 0.05, image


def test_pillow_decode_agrees_on_grayscale_and_nearly_on_444(case_bundles):
    gray = [_decoded(case_bundles[side], "photo-grayscale.jpg") for side in ("cloud", "edge")]
    assert (gray[0] == gray[1]).all()
    full = [_decoded(case_bundles[side], "photo-444.jpg").astype(int) for side in ("cloud", "edge")]
    # Measured: no chroma upsampling, so at most rounding-level differences in a few pixels.
    assert np.abs(full[0] - full[1]).max() <= 1
    assert (full[0] != full[1]).any(axis=2).mean() < 0.001


def test_mxnet_decode_in_the_cloud_equals_pillow_on_libjpeg_turbo(case_bundles):
    for image in SUBSAMPLED + ["photo-grayscale.jpg", "photo-444.jpg"]:
        assert (
            _decoded(case_bundles["cloud"], image, "mxnet") == _decoded(case_bundles["edge"], image)
        ).all(), image


def test_report_names_decode_and_both_libjpeg_builds(report):
    assert report["code"] == errors.EXIT_DIVERGENCE
    pair = report["json"]["pairs"][0]
    assert pair["first_divergent_stage"] == "decode"
    assert set(SUBSAMPLED) <= set(pair["first_divergent_images"]["decode"])
    cause = " ".join(pair["causes"])
    assert "IJG libjpeg 9d" in cause and "libjpeg-turbo" in cause
    for env in ("cloud-mxnet", "edge-source"):
        paths = loaded_libjpeg(tox_python(env))
        assert paths and any(path in cause for path in paths), (paths, cause)


def test_isolated_preprocessing_agrees_so_preprocess_divergence_is_inherited(report, case_bundles):
    pair = report["json"]["pairs"][0]
    preprocess = next(s for s in pair["stages"] if s["stage"] == "preprocess")
    assert preprocess["divergent"] > 0
    assert set(preprocess["origins"]) == {"inherited"}
    # Independently: isolated records have identical digests on both sides.
    cloud, edge = (bundle.load(case_bundles[s]) for s in ("cloud", "edge"))
    isolated = [
        k
        for k, r in cloud.records.items()
        if r["mode"] == "isolated" and r["stage"] == "preprocess" and r["impl"] == "pillow"
    ]
    assert isolated
    for key in isolated:
        assert cloud.records[key]["sha256"] == edge.records[key]["sha256"], key


def _mxnet_vs_edge_pillow_mismatches(case_bundles):
    """Images where cloud's MXNet decode and edge's Pillow decode differ, computed here."""
    cloud, edge = (bundle.load(case_bundles[s]) for s in ("cloud", "edge"))
    mismatches = set()
    for image in cloud.manifest["images"]:
        a = cloud.records[image + "|decode=mxnet"]
        b = edge.records[image + "|decode=pillow"]
        if a["status"] != "ok" or b["status"] != "ok":
            if a["status"] != b["status"]:
                mismatches.add(image)
            continue
        x, y = cloud.array(a["sha256"]), edge.array(b["sha256"])
        if x.shape != y.shape or (x != y).any():
            mismatches.add(image)
    return mismatches


def test_fix_from_the_case_is_suggested(report, case_bundles):
    alternatives = report["json"]["pairs"][0]["alternatives"]
    mxnet = next(a for a in alternatives if a["impl"] == "mxnet")
    assert mxnet["environment"] == "cloud" and mxnet["matches_impl"] == "pillow"
    mismatches = _mxnet_vs_edge_pillow_mismatches(case_bundles)
    assert set(mxnet["still_differ"]) == mismatches
    # Measured: only the CMYK files (colour conversion differs) and the arithmetic-coded file
    # (Pillow cannot decode it) keep differing; every YCbCr and grayscale photo matches.
    assert set(SUBSAMPLED) & mismatches == set()
    assert "decode=mxnet" in report["md"]


def test_pipeline_mapping_expresses_the_fix(case_bundles):
    # Cloud decodes with MXNet, the edge with Pillow on libjpeg-turbo.
    from edgeparity.compare import compare

    result, _ = compare(
        [
            case_bundles["cloud"] + "@decode=mxnet,preprocess=pillow,infer=mxnet",
            case_bundles["edge"],
        ]
    )
    pair = result["pairs"][0]
    assert set(
        pair["first_divergent_images"].get("decode", [])
    ) == _mxnet_vs_edge_pillow_mismatches(case_bundles)


def test_html_report_is_self_contained_with_heatmaps(report):
    html = report["html"]
    assert "data:image/png;base64," in html
    assert "<script src" not in html and "<link" not in html


def test_inference_divergence_is_inherited_and_its_cost_counted(report, case_bundles):
    pair = report["json"]["pairs"][0]
    infer = next(s for s in pair["stages"] if s["stage"] == "infer")
    assert (infer["reference_impl"], infer["other_impl"]) == ("mxnet", "dlr")
    assert infer["divergent"] > 0 and set(infer["origins"]) == {"inherited"}
    # On the probes and canonical tensors, MXNet in the cloud and DLR on the edge agree (the
    # case's own check), so the inference divergence comes from upstream.
    assert pair["isolation"]["infer"]["agree"] == pair["isolation"]["infer"]["inputs"] > 0
    # Top-1 changes, recomputed here from the logits themselves.
    cloud, edge = (bundle.load(case_bundles[s]) for s in ("cloud", "edge"))
    changed = []
    for image in cloud.manifest["images"]:
        a = cloud.records.get(image + "|decode=pillow>preprocess=pillow>infer=mxnet")
        b = edge.records.get(image + "|decode=pillow>preprocess=pillow>infer=dlr")
        if a and b and a["status"] == b["status"] == "ok":
            if np.argmax(cloud.array(a["sha256"])) != np.argmax(edge.array(b["sha256"])):
                changed.append(image)
    impact = pair["inference_impact"]
    assert impact["top1_changed"] == len(changed)
    assert sorted(impact["top1_changed_images"]) == sorted(changed)


def test_mxnet_against_turbo_pillow_names_the_decoder_not_the_library(case_bundles):
    """The reviewers' case: MXNet (libjpeg-turbo 2.0.2 inside) in the cloud, Pillow on the
    system libjpeg-turbo on the edge. Both are libjpeg-turbo: never advise a JPEG library."""
    from PIL import Image

    from conftest import SAMPLES
    from edgeparity.compare import compare

    result, _ = compare([case_bundles["cloud"] + "@decode=mxnet", case_bundles["edge"]],
                        want_heatmaps=False, jobs=1)
    pair = result["pairs"][0]
    mismatches = _mxnet_vs_edge_pillow_mismatches(case_bundles)
    # Independently of edgeparity: which of those files are CMYK, which Pillow cannot open.
    cmyk = set()
    for image in mismatches:
        try:
            with Image.open(os.path.join(SAMPLES, image)) as opened:
                if opened.mode == "CMYK":
                    cmyk.add(image)
        except OSError:
            pass
    assert cmyk and cmyk < mismatches
    kinds = {d["kind"]: set(d["images"]) for d in pair["decode_differences"]}
    assert kinds["cmyk"] == cmyk
    assert kinds["fails_on_one_side"] == mismatches - cmyk
    assert any("convert CMYK to RGB differently" in cause for cause in pair["causes"])
    texts = [item["text"] for item in pair["advice"]]
    assert texts and not any("JPEG library" in text for text in texts), texts
    assert texts[0].startswith("keep decode=mxnet")
    total = len(bundle.load(case_bundles["cloud"]).manifest["images"])
    assert "{} of {} images".format(total - len(mismatches), total) in texts[0]
    assert not any("libjpeg" in cause for cause in pair["causes"])
    assert any("not as a cause here" in text and "libjpeg-turbo" in text
               for text in pair["also_differs"]), pair["also_differs"]
