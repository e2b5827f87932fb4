"""The JSON report: validated against the JSON Schema shipped in the package; numbers stay
numbers; "agrees" and "fails on both sides" told apart per image, per pair and overall."""

import copy
import json
from importlib import resources

import jsonschema
import numpy as np
import pytest
from test_compare_logic import PIXELS, make_bundle
from test_report_evidence import CMYK, IJG, TURBO, YCBCR, decoder
from test_report_evidence import make_bundle as make_decode_bundle

from edgeparity import cli, errors


def shipped_schema():
    text = (resources.files("edgeparity.report") / "schema" /
            "compare-report.schema.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def strict_json(path):
    return json.loads(path.read_text(),
                      parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))


def report_of(tmp_path, *specs):
    out = tmp_path / "report.json"
    code = cli.main(["compare"] + list(specs) + ["--json", str(out)])
    return code, strict_json(out)


@pytest.fixture
def infinite_report(tmp_path):
    tensor = np.array([[0.0, np.inf, 1.0]], np.float32)
    left = make_bundle(tmp_path / "l", "left", {
        "decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": tensor})
    right = make_bundle(tmp_path / "r", "right", {
        "decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": np.ones_like(tensor)})
    code, report = report_of(tmp_path, left, right)
    assert code == errors.EXIT_DIVERGENCE
    return report


def test_reports_validate_against_the_shipped_schema(infinite_report, tmp_path):
    validator = jsonschema.Draft202012Validator(shipped_schema())
    assert list(validator.iter_errors(infinite_report)) == []
    headers = {"photo.jpg": YCBCR, "cmyk.jpg": CMYK}
    left = make_decode_bundle(tmp_path / "a", "a", "pillow", {
        "pillow": decoder("8.4.0", IJG, {"photo.jpg": PIXELS, "cmyk.jpg": PIXELS}),
        "mxnet": decoder("1.9.1", TURBO, {"photo.jpg": PIXELS + 1, "cmyk.jpg": PIXELS})},
        headers)
    right = make_decode_bundle(tmp_path / "b", "b", "pillow", {
        "pillow": decoder("8.4.0", TURBO, {"photo.jpg": PIXELS + 1, "cmyk.jpg": PIXELS})},
        headers)
    _, decode_report = report_of(tmp_path, left, right, left + "@decode=mxnet")
    assert decode_report["pairs"][0]["advice"]  # the evidence fields are there to validate
    assert list(validator.iter_errors(decode_report)) == []


def test_non_finite_numbers_are_null_and_flagged(infinite_report):
    step = infinite_report["pairs"][0]["images"][0]["stages"][1]
    assert step["max_rel_error"] is None and step["non_finite"]["max_rel_error"] == "inf"
    assert isinstance(step["fraction_elements_differ"], float)
    # A report in the old style (a string in a numeric field) is rejected by the schema.
    old_style = copy.deepcopy(infinite_report)
    old_style["pairs"][0]["images"][0]["stages"][1]["max_rel_error"] = "inf"
    validator = jsonschema.Draft202012Validator(shipped_schema())
    assert [e.validator for e in validator.iter_errors(old_style)] == ["type"]


def test_agrees_and_fails_on_both_sides_are_told_apart(tmp_path):
    headers = {"fine.jpg": YCBCR, "broken.jpg": YCBCR, "differs.jpg": YCBCR}
    outputs = {"fine.jpg": PIXELS, "broken.jpg": "OSError: broken", "differs.jpg": PIXELS}
    left = make_decode_bundle(tmp_path / "l", "left", "pillow",
                              {"pillow": decoder("8.4.0", TURBO, outputs)}, headers)
    right = make_decode_bundle(tmp_path / "r", "right", "pillow", {
        "pillow": decoder("8.4.0", TURBO, dict(outputs, **{"differs.jpg": PIXELS + 1}))},
        headers)
    _, report = report_of(tmp_path, left, right)
    pair = report["pairs"][0]
    by_image = {walk["image"]: (walk["first_divergent_stage"], walk["outcome"])
                for walk in pair["images"]}
    assert by_image == {"fine.jpg": (None, "agrees"),
                        "broken.jpg": (None, "fails_on_both_sides"),
                        "differs.jpg": ("decode", "diverges")}
    expected = {"agrees": 1, "fails_on_both_sides": 1, "diverges": 1}
    assert pair["outcomes"] == expected and report["outcomes"] == expected
    assert report["schema"] == "edgeparity.report/2"
