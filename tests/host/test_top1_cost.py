"""What the divergence costs, named: top-1 changes with both class names and the margin, the
closest calls first; and outputs preprocessed for different models, never compared.

Hand-built bundles: each image's logits are chosen so that its top-1 class flips (or not) and
its top-2 margin is known by construction, independently of the code under test.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from edgeparity import cli, errors
from edgeparity.bundle import BundleWriter
from edgeparity.bundle.format import index_digest
from edgeparity.models import IMAGENET

ROOT = Path(__file__).resolve().parents[2]
PIXELS = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
TENSOR = np.linspace(-1, 1, 3 * 4 * 4, dtype=np.float32).reshape(1, 3, 4, 4)
CHAINS = ("decode=pillow", "decode=pillow>preprocess=pillow",
          "decode=pillow>preprocess=pillow>infer=onnxruntime")
LABELS = ["tench", "goldfish", "daisy", "yellow lady's slipper", "bee", "ant", "sea anemone",
          "coral reef", "volcano", "geyser"]
LITE = {"resize_shorter_side": 256, "crop": 224, "divide_by": 1.0, "mean": [127.0] * 3,
        "std": [128.0] * 3}
TOY = {"name": "toy", "declared": True, "preprocess": LITE, "labels": LABELS}  # a model record


def scores(top, runner_up, margin):
    """1 x 10 logits: class ``top`` leads class ``runner_up`` by ``margin``, the rest far below."""
    row = np.zeros((1, 10), dtype=np.float32)
    row[0, runner_up] = 4.0
    row[0, top] = 4.0 + margin
    return row


def make_bundle(path, name, logits_by_image, model, pixels=PIXELS, tensor=TENSOR, failing=(),
                error="OSError: broken data stream"):
    """``pixels``: every image's decoded pixels, or {image: pixels}; ``tensor`` likewise.
    ``failing``: images whose decode fails (no output downstream), with ``error`` recorded."""
    writer = BundleWriter(str(path))
    for image in failing:
        writer.add_record({"key": image + "|decode=pillow", "image": image, "chain":
                           "decode=pillow", "stage": "decode", "impl": "pillow", "mode": "e2e",
                           "status": "error", "error": error})
    logits_by_image = dict(logits_by_image, **{image: None for image in failing})
    for image, logits in sorted(logits_by_image.items()):
        if image in failing:
            continue
        decoded = pixels[image] if isinstance(pixels, dict) else pixels
        preprocessed = tensor[image] if isinstance(tensor, dict) else tensor
        for chain, array in zip(CHAINS, (decoded, preprocessed, logits)):
            stage, _, impl = chain.split(">")[-1].partition("=")
            writer.add_record({"key": "{}|{}".format(image, chain), "image": image,
                               "chain": chain, "stage": stage, "impl": impl, "mode": "e2e",
                               "status": "ok", "sha256": writer.add_array(array)})
    return writer.finish({
        "name": name,
        "images": {image: {"sha256": "same-bytes-" + image} for image in logits_by_image},
        "pipeline": {"decode": "pillow", "preprocess": "pillow", "infer": "onnxruntime"},
        "implementations": {key: {"status": "available"} for key in (
            "decode/pillow", "preprocess/pillow", "infer/onnxruntime")},
        "model": model,
    })


@pytest.fixture()
def flips(tmp_path):
    """Three images: two flip (margins 0.5 and 0.008 on the reference), one keeps its class."""
    cloud = make_bundle(tmp_path / "cloud", "cloud", {
        "a.jpg": scores(2, 3, 0.5),      # daisy, then yellow lady's slipper
        "b.jpg": scores(4, 5, 0.008),    # bee, then ant
        "c.jpg": scores(8, 9, 1.0),      # volcano
    }, TOY)
    edge = make_bundle(tmp_path / "edge", "edge", {
        "a.jpg": scores(3, 2, 0.1),      # flipped to yellow lady's slipper
        "b.jpg": scores(5, 4, 0.001),    # flipped to ant
        "c.jpg": scores(8, 9, 0.9),      # still volcano, logits differ
    }, TOY)
    return cloud, edge


def test_the_cost_names_each_flip_with_classes_and_margin_closest_first(flips, tmp_path, capsys):
    cloud, edge = flips
    out = tmp_path / "report.json"
    code = cli.main(["compare", cloud, edge, "--json", str(out), "--md",
                     str(tmp_path / "report.md"), "--html", str(tmp_path / "report.html")])
    assert code == errors.EXIT_DIVERGENCE
    impact = json.loads(out.read_text())["pairs"][0]["inference_impact"]
    assert impact["images"] == 3 and impact["top1_changed"] == 2
    changes = impact["top1_changes"]
    assert [c["image"] for c in changes] == ["b.jpg", "a.jpg"]  # the closest call first
    assert [(c["reference_label"], c["other_label"]) for c in changes] == [
        ("bee", "ant"), ("daisy", "yellow lady's slipper")]
    assert [c["reference_class"] for c in changes] == [4, 2]
    assert changes[0]["margin"] == pytest.approx(0.008, abs=1e-6)
    assert changes[1]["margin"] == pytest.approx(0.5, abs=1e-6)

    said = " ".join(capsys.readouterr().out.split())  # the terminal report wraps lines
    assert "top-1 class changes on 2 of 3 images" in said
    assert "b.jpg: bee → ant, margin 0.008" in said
    assert "a.jpg: daisy → yellow lady's slipper, margin 0.5" in said
    markdown = (tmp_path / "report.md").read_text()
    assert "| b.jpg | bee | ant | 0.008 |" in markdown
    assert "| b.jpg | infer | top-1 bee → ant; " in markdown  # the per-image row says it too
    page = (tmp_path / "report.html").read_text()
    # The HTML shows the flips before the per-image table, flipped images first in it.
    flips_at = page.index("Top-1 class changes")
    assert flips_at < page.index("Divergent images, worst first")
    rows = page[page.index("Divergent images, worst first"):]
    assert rows.index("b.jpg") < rows.index("c.jpg") and rows.index("a.jpg") < rows.index(
        "c.jpg")


def test_without_labels_classes_are_named_by_index(tmp_path):
    model = {"name": "toy", "declared": False, "preprocess": IMAGENET.describe()}
    cloud = make_bundle(tmp_path / "cloud", "cloud", {"a.jpg": scores(2, 3, 0.25)}, model)
    edge = make_bundle(tmp_path / "edge", "edge", {"a.jpg": scores(3, 2, 0.25)}, model)
    out = tmp_path / "report.json"
    cli.main(["compare", cloud, edge, "--json", str(out)])
    change = json.loads(out.read_text())["pairs"][0]["inference_impact"]["top1_changes"][0]
    assert (change["reference_label"], change["other_label"]) == ("class 2", "class 3")


def test_outputs_preprocessed_for_different_models_compare_their_pixels_only(tmp_path, capsys):
    # The logits differ wildly (they would say top-1 changed): the models differ, not the
    # libraries, so that difference is never reported.
    cloud = make_bundle(tmp_path / "cloud", "cloud", {"a.jpg": scores(2, 3, 0.5)},
                        {"name": "efficientnet-lite0", "declared": True, "preprocess": LITE})
    edge = make_bundle(tmp_path / "edge", "edge", {"a.jpg": scores(7, 3, 0.5)},
                       {"name": "demo", "declared": False, "preprocess": IMAGENET.describe()})
    out = tmp_path / "r.json"
    code = cli.main(["compare", cloud, edge, "--json", str(out)])
    said = capsys.readouterr()
    assert code == errors.EXIT_ERROR  # decode agrees, the rest could not be compared
    report = json.loads(out.read_text())
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "src" / "edgeparity" / "report" / "schema" /
                         "compare-report.schema.json").read_text())
    jsonschema.validate(report, schema)  # not_compared counts and the stage notes included
    pair = report["pairs"][0]
    assert pair["verdict"] == "incomplete" and pair["first_divergent_stage"] is None
    assert [(s["stage"], s["compared"]) for s in pair["stages"]] == [
        ("decode", 1), ("preprocess", 0), ("infer", 0)]
    assert pair["inference_impact"] is None  # nothing about inference is said
    # The decoded pixels only; the other outputs both captured are counted apart.
    assert pair["like_for_like"]["counts"] == {"identical": 1, "not_compared": 2}
    text = " ".join((said.out + said.err).split())
    assert ("preprocess: captured with different declared preprocessing (cloud: model "
            "efficientnet-lite0") in text
    assert "(x - 127) / 128" in text and "x / 255" in text
    assert "capture both with the same --model to compare it" in text
    assert ("compared 1 outputs of the same name on both sides (all implementations, "
            "not only the pipelines above): 1 identical; 2 captured on both "
            "sides set aside (the captures' models or preprocessing differ)") in text
    # The exit line of a gate quotes it alone: it names the settings too.
    assert "infer: its inputs were preprocessed differently (cloud: model efficientnet-lite0" \
        in text
    # Checking the decoders alone is possible, and a decoder difference is still found.
    assert cli.main(["compare", cloud, edge, "--fail-on", "stage:decode"]) == errors.EXIT_PARITY
    assert cli.main(["compare", cloud, edge, "--fail-on", "top1"]) == errors.EXIT_ERROR
    capsys.readouterr()
    other_pixels = make_bundle(tmp_path / "edge2", "edge2", {"a.jpg": scores(7, 3, 0.5)},
                               {"name": "demo", "declared": False,
                                "preprocess": IMAGENET.describe()}, pixels=PIXELS + 1)
    assert cli.main(["compare", cloud, other_pixels, "--json", str(out)]) == \
        errors.EXIT_DIVERGENCE
    pair = json.loads(out.read_text())["pairs"][0]
    assert pair["first_divergent_stage"] == "decode" and pair["verdict"] == "divergence"


def test_bundles_from_before_the_model_field_count_as_imagenet(tmp_path):
    logits = {"a.jpg": scores(2, 3, 0.5)}
    older = make_bundle(tmp_path / "older", "older", logits, None)
    newer = make_bundle(tmp_path / "newer", "newer", logits,
                        {"name": "demo", "declared": False, "preprocess": IMAGENET.describe()})
    assert cli.main(["compare", older, newer]) == errors.EXIT_PARITY


def test_labels_for_another_number_of_classes_are_not_used(tmp_path):
    """10 outputs, 11 labels (a list with a background class, say): naming by them would be off
    by one everywhere, so classes are named by index and the cost line says why."""
    model = {"name": "toy", "declared": True, "preprocess": LITE, "labels": ["background"] + LABELS}
    cloud = make_bundle(tmp_path / "cloud", "cloud", {"a.jpg": scores(2, 3, 0.25)}, model)
    edge = make_bundle(tmp_path / "edge", "edge", {"a.jpg": scores(3, 2, 0.25)}, model)
    out = tmp_path / "report.json"
    cli.main(["compare", cloud, edge, "--json", str(out)])
    impact = json.loads(out.read_text())["pairs"][0]["inference_impact"]
    assert impact["labels"] is False
    assert impact["labels_note"] == ("the model declares 11 labels for 10 classes: classes are "
                                     "named by index")
    assert impact["top1_changes"][0]["reference_label"] == "class 2"


def test_a_statistic_gate_lists_the_earlier_stage_first_whatever_the_values(tmp_path, capsys):
    # a.jpg differs at decode by 1 level; b.jpg decodes identically and differs only in its
    # logits, by 2. Pixel levels and logits are different units: decode comes first.
    logits = {"a.jpg": scores(2, 3, 0.25), "b.jpg": scores(4, 5, 1.0)}
    cloud = make_bundle(tmp_path / "cloud", "cloud", logits, TOY)
    edge = make_bundle(tmp_path / "edge", "edge", dict(logits, **{"b.jpg": scores(4, 5, 3.0)}),
                       TOY, pixels={"a.jpg": PIXELS + 1, "b.jpg": PIXELS})
    assert cli.main(["compare", cloud, edge, "--fail-on", "max>0.4"]) == errors.EXIT_DIVERGENCE
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        "edgeparity: exit 1: --fail-on max>0.4 fails: cloud vs edge: a.jpg decode max abs error "
        "1; b.jpg infer max abs error 2")


def _advice_and_exit_code(tmp_path, cloud, edge, *options):
    out = tmp_path / "r.json"
    code = cli.main(["compare", cloud, edge, "--json", str(out)] + list(options))
    return json.loads(out.read_text())["pairs"][0]["advice"][0]["text"], code


def test_the_named_tolerance_accepts_what_an_rtol_let_through_too(tmp_path, capsys):
    # Under --tolerance infer:0:1 a.jpg's 3.0 is within tolerance (|reference| 4.25) and b.jpg's
    # 1.0 is not (on a reference value of 0). The tolerance named must accept both, whatever
    # rtol the next run uses.
    b_edge = scores(4, 5, 0.5)
    b_edge[0, 0] = 1.0
    cloud = make_bundle(tmp_path / "c", "cloud", {"a.jpg": scores(2, 3, 0.25),
                                                 "b.jpg": scores(4, 5, 0.5)}, TOY)
    edge = make_bundle(tmp_path / "e", "edge", {"a.jpg": scores(2, 3, 3.25), "b.jpg": b_edge},
                       TOY)
    text, code = _advice_and_exit_code(tmp_path, cloud, edge, "--tolerance", "infer:0:1")
    assert code == errors.EXIT_DIVERGENCE
    assert text.endswith("--tolerance infer:3 (the largest absolute error here: infer 3)")
    capsys.readouterr()
    assert cli.main(["compare", cloud, edge, "--tolerance", "infer:3"]) == errors.EXIT_PARITY


def test_a_difference_through_two_stages_names_both_tolerances(tmp_path, capsys):
    logits = {"a.jpg": scores(2, 3, 0.5)}
    cloud = make_bundle(tmp_path / "c", "cloud", logits, TOY, tensor=np.zeros_like(TENSOR))
    edge = make_bundle(tmp_path / "e", "edge", {"a.jpg": scores(2, 3, 0.75)}, TOY,
                       tensor=np.full_like(TENSOR, 0.5))
    text, code = _advice_and_exit_code(tmp_path, cloud, edge)
    assert code == errors.EXIT_DIVERGENCE
    assert text.endswith("--tolerance preprocess:0.5 --tolerance infer:0.25 (the largest "
                         "absolute errors here: preprocess 0.5, infer 0.25)")
    capsys.readouterr()
    assert cli.main(["compare", cloud, edge, "--tolerance", "preprocess:0.5", "--tolerance",
                     "infer:0.25"]) == errors.EXIT_PARITY


def test_integer_outputs_get_no_tolerance_named(tmp_path):
    # Integer outputs are compared exactly: no tolerance would accept them.
    counts = np.arange(10, dtype=np.int32)[None, :]
    cloud = make_bundle(tmp_path / "c", "cloud", {"a.jpg": counts}, TOY)
    edge = make_bundle(tmp_path / "e", "edge", {"a.jpg": counts + 1}, TOY)
    text, code = _advice_and_exit_code(tmp_path, cloud, edge)
    assert code == errors.EXIT_DIVERGENCE and text.endswith("--tolerance infer:ATOL")


def test_identical_inference_says_nothing_about_labels(tmp_path, capsys):
    # Every output identical: no class was compared, so no label count can be wrong.
    logits = {"a.jpg": scores(2, 3, 0.25), "b.jpg": scores(4, 5, 0.5)}
    cloud = make_bundle(tmp_path / "cloud", "cloud", logits, TOY)
    edge = make_bundle(tmp_path / "edge", "edge", logits, TOY)
    out = tmp_path / "report.json"
    assert cli.main(["compare", cloud, edge, "--json", str(out)]) == errors.EXIT_PARITY
    impact = json.loads(out.read_text())["pairs"][0]["inference_impact"]
    assert impact["top1_changed"] == 0 and "labels_note" not in impact
    assert "named by index" not in capsys.readouterr().out


def test_changes_without_a_finite_margin_come_last_in_a_stable_order(tmp_path):
    infinite = scores(1, 0, 0.5)
    infinite[0, 1] = np.inf
    nan = scores(6, 7, 0.5)
    nan[0, 0] = np.nan
    cloud = make_bundle(tmp_path / "cloud", "cloud", {
        "z.jpg": infinite, "m.jpg": scores(2, 3, 0.25), "a.jpg": nan}, TOY)
    edge = make_bundle(tmp_path / "edge", "edge", {
        "z.jpg": scores(0, 1, 0.5), "m.jpg": scores(3, 2, 0.25), "a.jpg": scores(7, 6, 0.5)},
        TOY)
    out = tmp_path / "report.json"
    cli.main(["compare", cloud, edge, "--json", str(out)])
    changes = json.loads(out.read_text())["pairs"][0]["inference_impact"]["top1_changes"]
    assert [(c["image"], c["margin"]) for c in changes] == [
        ("m.jpg", pytest.approx(0.25)), ("a.jpg", None), ("z.jpg", None)]


def test_decode_only_bundles_compare_whatever_the_model(tmp_path):
    """Pixels do not depend on the model: only preprocess and infer outputs are refused."""
    writer_models = ({"name": "lite", "declared": True, "preprocess": LITE},
                     {"name": "demo", "declared": False, "preprocess": IMAGENET.describe()})
    paths = []
    for name, model in zip(("cloud", "edge"), writer_models):
        writer = BundleWriter(str(tmp_path / name))
        writer.add_record({"key": "a.jpg|decode=pillow", "image": "a.jpg",
                           "chain": "decode=pillow", "stage": "decode", "impl": "pillow",
                           "mode": "e2e", "status": "ok", "sha256": writer.add_array(PIXELS)})
        paths.append(writer.finish({
            "name": name, "images": {"a.jpg": {"sha256": "same-bytes"}},
            "pipeline": {"decode": "pillow"},
            "implementations": {"decode/pillow": {"status": "available"}}, "model": model}))
    assert cli.main(["compare", *paths]) == errors.EXIT_PARITY


def test_the_top1_gate_names_the_classes_it_fails_on(flips, capsys):
    cloud, edge = flips
    assert cli.main(["compare", cloud, edge, "--fail-on", "top1"]) == errors.EXIT_DIVERGENCE
    said = " ".join(capsys.readouterr().out.split())
    # The closest call first, as the report's cost line lists them (not by name).
    assert ("fails: cloud vs edge: b.jpg top-1 bee → ant (margin 0.008); "
            "a.jpg top-1 daisy → yellow lady's slipper (margin 0.5)") in said


def test_labels_recorded_on_the_other_side_only_are_used(tmp_path):
    unlabelled = {"name": "toy", "declared": True, "preprocess": LITE}
    labelled = dict(unlabelled, labels=LABELS)
    cloud = make_bundle(tmp_path / "cloud", "cloud", {"a.jpg": scores(2, 3, 0.25)}, unlabelled)
    edge = make_bundle(tmp_path / "edge", "edge", {"a.jpg": scores(3, 2, 0.25)}, labelled)
    out = tmp_path / "report.json"
    cli.main(["compare", cloud, edge, "--json", str(out)])
    change = json.loads(out.read_text())["pairs"][0]["inference_impact"]["top1_changes"][0]
    assert (change["reference_label"], change["other_label"]) == (
        "daisy", "yellow lady's slipper")


def test_two_different_models_compare_up_to_preprocessing_and_never_their_logits(tmp_path,
                                                                                   capsys):
    same = IMAGENET.describe()  # declared names: what tells two models apart
    cloud = make_bundle(tmp_path / "cloud", "cloud", {"a.jpg": scores(2, 3, 0.5)},
                        {"name": "efficientnet-lite0", "declared": True, "preprocess": same})
    edge = make_bundle(tmp_path / "edge", "edge", {"a.jpg": scores(7, 3, 0.5)},
                       {"name": "resnet50", "declared": True, "preprocess": same})
    twin = make_bundle(tmp_path / "twin", "twin", {"a.jpg": scores(2, 3, 0.5)},
                       {"name": "efficientnet-lite0", "declared": True, "preprocess": same})
    out = tmp_path / "r.json"
    # Three bundles: only the pair whose models differ leaves inference out.
    code = cli.main(["compare", cloud, twin, edge, "--json", str(out)])
    assert code == errors.EXIT_ERROR, capsys.readouterr()
    with_twin, with_edge = json.loads(out.read_text())["pairs"]
    assert with_twin["verdict"] == "parity"
    assert [(s["stage"], s["compared"]) for s in with_twin["stages"]] == [
        ("decode", 1), ("preprocess", 1), ("infer", 1)]
    assert [(s["stage"], s["compared"]) for s in with_edge["stages"]] == [
        ("decode", 1), ("preprocess", 1), ("infer", 0)]
    assert with_edge["inference_impact"] is None  # no "top-1 changed", no tolerance advice
    assert with_edge["not_compared"] == [
        "infer: captured with different models (cloud: efficientnet-lite0; edge: resnet50): "
        "its outputs differ by the model, not by the runtimes; capture both with the same "
        "--model to compare it (docs/models.md)"]


def test_one_undeclared_model_in_two_forms_is_compared(tmp_path, capsys):
    # Named after their files: the ONNX form and the MXNet prefix of one model read apart.
    same = IMAGENET.describe()
    cloud = make_bundle(tmp_path / "cloud", "cloud", {"a.jpg": scores(2, 3, 0.5)},
                        {"name": "efficientnet-lite0.onnx", "declared": False, "preprocess": same})
    edge = make_bundle(tmp_path / "edge", "edge", {"a.jpg": scores(2, 3, 0.4)},
                       {"name": "efficientnet-lite0", "declared": False, "preprocess": same})
    out = tmp_path / "r.json"
    assert cli.main(["compare", cloud, edge, "--json", str(out)]) == errors.EXIT_DIVERGENCE
    pair = json.loads(out.read_text())["pairs"][0]
    assert pair["first_divergent_stage"] == "infer" and pair["not_compared"] == []


def test_counts_behind_the_advice_leave_out_files_whose_bytes_differ(tmp_path, capsys):
    model = {"name": "toy", "declared": True, "preprocess": LITE}
    cloud = make_bundle(tmp_path / "cloud", "cloud", {
        "a.jpg": scores(2, 3, 0.5), "b.jpg": scores(2, 3, 0.5)}, model)
    edge = make_bundle(tmp_path / "edge", "edge", {
        "a.jpg": scores(3, 2, 0.5), "b.jpg": scores(3, 2, 0.5)}, model)
    manifest_path = tmp_path / "edge" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["images"]["b.jpg"]["sha256"] = "other bytes"  # the same name, another file
    manifest["index_sha256"] = index_digest(manifest)
    manifest_path.write_text(json.dumps(manifest))
    out = tmp_path / "r.json"
    cli.main(["compare", cloud, edge, "--json", str(out)])
    report = json.loads(out.read_text())
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(report, json.loads((ROOT / "src" / "edgeparity" / "report" / "schema" /
                                            "compare-report.schema.json").read_text()))
    pair = report["pairs"][0]
    assert pair["input_files_differ"] == ["b.jpg"]
    # The advice rests on a.jpg alone: the infer step differs on 1 of 1 such images.
    assert [(a["agree"], a["images"]) for a in pair["advice"]] == [(0, 1)]


def test_the_same_model_declared_on_one_side_only_says_to_give_the_folder(tmp_path, capsys):
    cloud = make_bundle(tmp_path / "cloud", "cloud", {"a.jpg": scores(2, 3, 0.5)},
                        {"name": "lite", "declared": True, "preprocess": LITE})
    edge = make_bundle(tmp_path / "edge", "edge", {"a.jpg": scores(2, 3, 0.5)},
                       {"name": "lite", "declared": False, "preprocess": IMAGENET.describe()})
    out = tmp_path / "r.json"
    cli.main(["compare", cloud, edge, "--json", str(out)])
    [preprocess] = [s for s in json.loads(out.read_text())["pairs"][0]["stages"]
                    if s["stage"] == "preprocess"]
    assert preprocess["unavailable"].endswith(
        "if edge ran the same model, give it the model's folder, with its edgeparity-model.json "
        "at the top, not one form of it; else capture both with the same --model to compare it "
        "(docs/models.md)")


def test_the_cost_line_names_images_with_a_class_on_one_side_only(tmp_path, capsys):
    """d.jpg fails to decode on the edge: it has a class in the cloud only. The top1 gate fails
    on it, so the cost line says why it is not among the changes."""
    cloud = make_bundle(tmp_path / "cloud", "cloud", {
        "a.jpg": scores(2, 3, 0.5), "d.jpg": scores(4, 5, 0.5)}, TOY)
    edge = make_bundle(tmp_path / "edge", "edge", {"a.jpg": scores(2, 3, 0.5)}, TOY,
                       failing=("d.jpg",))
    out = tmp_path / "report.json"
    code = cli.main(["compare", cloud, edge, "--json", str(out), "--fail-on", "top1"])
    text = capsys.readouterr().out
    assert code == errors.EXIT_DIVERGENCE
    assert "d.jpg has no decode output on edge (it fails there), so no class" in text
    assert ("top-1 class changes on 0 of 1 images, mean top-5 overlap 100.0%; 1 image has a "
            "class on one side only (a stage fails on the other): d.jpg") in " ".join(
                text.split())
    report = json.loads(out.read_text())
    impact = report["pairs"][0]["inference_impact"]
    assert impact["no_class_on_one_side"] == ["d.jpg"] and impact["images"] == 1
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(report, json.loads((ROOT / "src" / "edgeparity" / "report" / "schema" /
                                            "compare-report.schema.json").read_text()))


def test_the_gate_names_the_failing_side_when_its_record_has_no_error_text(tmp_path, capsys):
    """Which side failed is its record's status, not which side has an error text."""
    cloud = make_bundle(tmp_path / "cloud", "cloud", {"d.jpg": scores(4, 5, 0.5)}, TOY,
                        failing=("d.jpg",), error=None)
    edge = make_bundle(tmp_path / "edge", "edge", {"d.jpg": scores(4, 5, 0.5)}, TOY)
    cli.main(["compare", cloud, edge, "--fail-on", "top1"])
    assert "d.jpg has no decode output on cloud (it fails there)" in capsys.readouterr().out
