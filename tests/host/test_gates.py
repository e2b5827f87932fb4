"""`compare --fail-on`: which differences make the exit code 1, on bundles whose answer is known.

Hand-built bundles carry logits chosen so the top-1 class flips (or not) by construction; the
sample images captured in two real environments (Pillow 8.4.0 on IJG libjpeg 9d vs on
libjpeg-turbo) diverge at decode without changing the demo model's top-1 class, which the test
checks on the arrays themselves.
"""

import numpy as np
import pytest

from edgeparity import bundle, cli, errors
from edgeparity.bundle import BundleWriter
from edgeparity.compare.gates import parse_gate

IMAGE = "a.jpg"
PIXELS = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
TENSOR = np.linspace(-1, 1, 3 * 4 * 4, dtype=np.float32).reshape(1, 3, 4, 4)
CHAINS = ("decode=pillow", "decode=pillow>preprocess=pillow",
          "decode=pillow>preprocess=pillow>infer=onnxruntime")


def logits(top):
    """1 x 10 logits whose largest entry is class ``top``."""
    row = np.linspace(0.0, 0.9, 10, dtype=np.float32)[None, :]
    row[0, top] = 5.0
    return row


def make_bundle(path, name, pixels, tensor, scores):
    writer = BundleWriter(str(path))
    for chain, array in zip(CHAINS, (pixels, tensor, scores)):
        if array is None:
            continue  # not captured
        stage, _, impl = chain.split(">")[-1].partition("=")
        writer.add_record({"key": "{}|{}".format(IMAGE, chain), "image": IMAGE, "chain": chain,
                           "stage": stage, "impl": impl, "mode": "e2e", "status": "ok",
                           "sha256": writer.add_array(array)})
    return writer.finish({
        "name": name,
        "images": {IMAGE: {"sha256": "same-bytes"}},
        "pipeline": {"decode": "pillow", "preprocess": "pillow", "infer": "onnxruntime"},
        "implementations": {key: {"status": "available"} for key in (
            "decode/pillow", "preprocess/pillow", "infer/onnxruntime")},
    })


def gate_exit(left, right, gate, capsys):
    """(exit code, what was said); a decided gate's outcome is the last line of the output,
    after the report (what a CI log shows last)."""
    code = cli.main(["compare", left, right, "--fail-on", gate])
    captured = capsys.readouterr()
    if gate != "any" and (code != errors.EXIT_ERROR or "cannot be decided" in captured.out):
        last = captured.out.strip().splitlines()[-1]
        assert last.startswith("edgeparity: exit {}: ".format(code)), captured.out
    return code, captured.out + captured.err


@pytest.fixture()
def flipped(tmp_path):
    """Identical decode and preprocess; inference whose top-1 class flips from 3 to 7."""
    left = make_bundle(tmp_path / "left", "left", PIXELS, TENSOR, logits(3))
    right = make_bundle(tmp_path / "right", "right", PIXELS, TENSOR, logits(7))
    return left, right


def test_top1_fails_on_a_forced_top1_flip(flipped, capsys):
    code, err = gate_exit(*flipped, "top1", capsys)
    assert code == errors.EXIT_DIVERGENCE
    assert "a.jpg top-1 class 3 → 7" in err


def test_stage_gate_counts_the_named_stage_and_earlier_ones_only(flipped, capsys):
    # Only inference differs: a gate on decode (or decode + preprocess) passes, one that
    # reaches inference fails.
    assert gate_exit(*flipped, "stage:decode", capsys)[0] == errors.EXIT_PARITY
    assert gate_exit(*flipped, "stage:preprocess", capsys)[0] == errors.EXIT_PARITY
    assert gate_exit(*flipped, "stage:infer", capsys)[0] == errors.EXIT_DIVERGENCE
    assert gate_exit(*flipped, "any", capsys)[0] == errors.EXIT_DIVERGENCE


def test_statistic_gate_against_the_known_error(flipped, capsys):
    # The logits differ at classes 3 and 7 by 5.0 - 0.3 and 5.0 - 0.7: max abs error 4.7,
    # mean (4.7 + 4.3) / 10 = 0.9.
    assert gate_exit(*flipped, "infer:max>4.6", capsys)[0] == errors.EXIT_DIVERGENCE
    assert gate_exit(*flipped, "infer:max>4.8", capsys)[0] == errors.EXIT_PARITY
    assert gate_exit(*flipped, "mean>0.85", capsys)[0] == errors.EXIT_DIVERGENCE
    assert gate_exit(*flipped, "mean>0.95", capsys)[0] == errors.EXIT_PARITY
    assert gate_exit(*flipped, "decode:max>0", capsys)[0] == errors.EXIT_PARITY


def test_small_logit_change_keeps_top1_and_passes_top1(tmp_path, capsys):
    nudged = logits(3) + np.float32(0.01)
    left = make_bundle(tmp_path / "left", "left", PIXELS, TENSOR, logits(3))
    right = make_bundle(tmp_path / "right", "right", PIXELS, TENSOR, nudged)
    assert gate_exit(left, right, "any", capsys)[0] == errors.EXIT_DIVERGENCE
    code, err = gate_exit(left, right, "top1", capsys)
    assert code == errors.EXIT_PARITY and "passes" in err
    # Under the DIVERGENCE line, the passing gate says what it looks at.
    assert (
        "edgeparity: exit 0: --fail-on top1 passes (it fails only on a changed top-1 class; "
        "the verdict above counts any difference)\n") in err
    code, err = gate_exit(left, right, "stage:preprocess", capsys)
    assert code == errors.EXIT_PARITY and (
        "edgeparity: exit 0: --fail-on stage:preprocess passes (it looks only at decode and "
        "preprocess; the verdict above covers every stage)\n") in err


def test_decode_failing_on_one_side_fails_top1_and_statistics(tmp_path, capsys):
    left = make_bundle(tmp_path / "left", "left", PIXELS, TENSOR, logits(3))
    writer = BundleWriter(str(tmp_path / "right"))
    writer.add_record({"key": IMAGE + "|decode=pillow", "image": IMAGE, "chain": "decode=pillow",
                       "stage": "decode", "impl": "pillow", "mode": "e2e", "status": "error",
                       "error": "OSError: broken data stream"})
    right = writer.finish({
        "name": "right", "images": {IMAGE: {"sha256": "same-bytes"}},
        "pipeline": {"decode": "pillow", "preprocess": "pillow", "infer": "onnxruntime"},
        "implementations": {key: {"status": "available"} for key in (
            "decode/pillow", "preprocess/pillow", "infer/onnxruntime")}})
    assert gate_exit(left, right, "top1", capsys)[0] == errors.EXIT_DIVERGENCE
    assert gate_exit(left, right, "max>1000", capsys)[0] == errors.EXIT_DIVERGENCE


def test_top1_without_inference_cannot_be_decided(tmp_path, capsys):
    pixels_only = {}
    for name in ("left", "right"):
        writer = BundleWriter(str(tmp_path / name))
        writer.add_record({"key": IMAGE + "|decode=pillow", "image": IMAGE,
                           "chain": "decode=pillow", "stage": "decode", "impl": "pillow",
                           "mode": "e2e", "status": "ok", "sha256": writer.add_array(PIXELS)})
        pixels_only[name] = writer.finish({
            "name": name, "images": {IMAGE: {"sha256": "same-bytes"}},
            "pipeline": {"decode": "pillow"},
            "implementations": {"decode/pillow": {"status": "available"}}})
    code, err = gate_exit(pixels_only["left"], pixels_only["right"], "top1", capsys)
    assert code == errors.EXIT_ERROR and next(
        line for line in err.splitlines() if "cannot be decided" in line) == (
        "edgeparity: exit 2: --fail-on top1 cannot be decided: left vs right: infer: neither "
        "side ran it (left: decode=pillow; right: decode=pillow)")
    assert gate_exit(pixels_only["left"], pixels_only["right"], "stage:decode",
                     capsys)[0] == errors.EXIT_PARITY
    # Stages neither pipeline has cannot fail an unqualified gate, but a named one is unknown.
    assert gate_exit(pixels_only["left"], pixels_only["right"], "stage:infer",
                     capsys)[0] == errors.EXIT_PARITY
    assert gate_exit(pixels_only["left"], pixels_only["right"], "max>0",
                     capsys)[0] == errors.EXIT_PARITY
    assert gate_exit(pixels_only["left"], pixels_only["right"], "infer:max>0",
                     capsys)[0] == errors.EXIT_ERROR


@pytest.mark.parametrize("text", ["top5", "stage:train", "median>1", "p99>x", "max>-1",
                                  "p99<0.1", "infer:"])
def test_malformed_gates_are_usage_errors(flipped, capsys, text):
    with pytest.raises(ValueError):
        parse_gate(text)
    code, err = gate_exit(*flipped, text, capsys)
    assert code == errors.EXIT_ERROR and "--fail-on" in err


def test_top1_passes_on_the_sample_images_of_the_case(case_bundles, capsys):
    cloud, edge = case_bundles["cloud"], case_bundles["edge"]
    # Independently of the report: the decoded pixels differ, the top-1 classes do not.
    left, right = bundle.load(cloud), bundle.load(edge)
    flips, compared, pixels_differ = 0, 0, 0
    for key, record in left.records.items():
        if record["mode"] != "e2e" or record["status"] != "ok":
            continue
        if record["chain"] == "decode=pillow":
            pixels_differ += record["sha256"] != right.records[key]["sha256"]
        if record["chain"] == "decode=pillow>preprocess=pillow>infer=mxnet":
            other_key = key.replace("infer=mxnet", "infer=dlr")
            if right.records.get(other_key, {}).get("status") != "ok":
                continue
            a = left.array(record["sha256"])
            b = right.array(right.records[other_key]["sha256"])
            flips += int(np.argmax(a[0]) != np.argmax(b[0]))
            compared += 1
    assert pixels_differ > 0 and compared > 0 and flips == 0
    assert gate_exit(cloud, edge, "any", capsys)[0] == errors.EXIT_DIVERGENCE
    code, err = gate_exit(cloud, edge, "top1", capsys)
    assert code == errors.EXIT_PARITY, err
    assert gate_exit(cloud, edge, "stage:decode", capsys)[0] == errors.EXIT_DIVERGENCE


def test_gate_messages_name_the_worst_images_first(case_bundles, capsys):
    # The sample photos decode differently under IJG libjpeg 9d and libjpeg-turbo; which one
    # differs most is worked out here from the decoded arrays, not from the report.
    cloud, edge = case_bundles["cloud"], case_bundles["edge"]
    left, right = bundle.load(cloud), bundle.load(edge)
    largest, share = {}, {}
    for key, record in left.records.items():
        other = right.records.get(key) or {}
        both_ok = record["status"] == other.get("status") == "ok"
        if record["chain"] != "decode=pillow" or not both_ok:
            continue
        a = left.array(record["sha256"]).astype(np.int16)
        b = right.array(other["sha256"]).astype(np.int16)
        if a.shape == b.shape and not np.array_equal(a, b):
            largest[record["image"]] = int(np.abs(a - b).max())
            share[record["image"]] = float(np.any(a != b, axis=2).mean())
    assert len(largest) > 3
    code, said = gate_exit(cloud, edge, "decode:max>0", capsys)
    assert code == errors.EXIT_DIVERGENCE
    listed = said.split("fails: ")[1].split(" (+")[0].split("; ")
    values = [float(item.rsplit(" ", 1)[1]) for item in listed]  # inf: failed on one side
    assert values == sorted(values, reverse=True) and values[0] == max(largest.values())
    code, said = gate_exit(cloud, edge, "stage:decode", capsys)
    first = said.split("fails: ")[1].split(" diverges at decode")[0].split(": ")[-1]
    assert share[first] == max(share.values())


def test_a_stage_gate_names_each_image_once_at_its_first_divergent_stage(case_bundles, capsys):
    cloud, edge = case_bundles["cloud"], case_bundles["edge"]
    code, said = gate_exit(cloud, edge, "stage:infer", capsys)
    assert code == errors.EXIT_DIVERGENCE
    failed = next(line for line in said.splitlines() if "fails: " in line).split("fails: ")[1]
    listed, _, more = failed.partition(" (+")
    images = [item.split(": ")[-1].split(" diverges at ")[0] for item in listed.split("; ")]
    assert len(set(images)) == len(images) == 3
    assert failed.count(" vs ") == 1  # the pair is named once, not before every image
    assert all(" diverges at decode" in item for item in listed.split("; "))
    # Every image whose decoded pixels differ, each once (the report's first divergent count).
    diverging = int(said.split("first divergent stage: decode (")[1].split(" of ")[0])
    assert int(more.split(" more")[0]) == diverging - 3


def test_several_gates_all_apply_and_the_deciding_one_is_said_last(flipped, capsys):
    # Decode is identical (stage:decode passes) but the top-1 class flips (top1 fails).
    code = cli.main(["compare", *flipped, "--fail-on", "stage:decode", "--fail-on", "top1",
                     "--fail-on", "top1"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == errors.EXIT_DIVERGENCE
    assert lines[-2].startswith("edgeparity: --fail-on stage:decode passes")
    assert lines[-1] == "edgeparity: exit 1: --fail-on top1 fails: left vs right: a.jpg top-1 " \
        "class 3 → 7"
    assert sum("--fail-on top1" in line for line in lines) == 1  # given twice, said once
    # Gates that all pass are said in the order given.
    code = cli.main(["compare", *flipped, "--fail-on", "stage:decode", "--fail-on", "decode:max>0"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == errors.EXIT_PARITY
    assert lines[-2].startswith("edgeparity: --fail-on stage:decode passes")
    assert lines[-1].startswith("edgeparity: exit 0: --fail-on decode:max>0 passes")
    # The other way round: the failing gate still decides, and is said last.
    code = cli.main(["compare", *flipped, "--fail-on", "top1", "--fail-on", "stage:decode"])
    assert code == errors.EXIT_DIVERGENCE
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith(
        "edgeparity: exit 1: --fail-on top1 fails")


def test_a_failing_gate_decides_over_one_that_cannot_be_decided(tmp_path, capsys):
    # Decode-only captures whose pixels differ: stage:decode fails, top1 cannot be decided
    # (nothing ran inference). Exit 1 in either order, the failing gate said last.
    left = make_bundle(tmp_path / "left", "left", PIXELS, None, None)
    right = make_bundle(tmp_path / "right", "right", PIXELS + 1, None, None)
    for gates in (["top1", "stage:decode"], ["stage:decode", "top1"]):
        code = cli.main(["compare", left, right] + [x for g in gates for x in ("--fail-on", g)])
        lines = capsys.readouterr().out.strip().splitlines()
        assert code == errors.EXIT_DIVERGENCE
        assert lines[-2].startswith("edgeparity: --fail-on top1 cannot be decided")
        assert lines[-1].startswith("edgeparity: exit 1: --fail-on stage:decode fails")


def test_failures_of_several_pairs_are_ordered_together(tmp_path, capsys):
    # One reference, two others: the pair listed second holds the larger difference.
    left = make_bundle(tmp_path / "left", "left", PIXELS, TENSOR, logits(3))
    near = make_bundle(tmp_path / "near", "near", PIXELS + 1, TENSOR, logits(3))
    far = make_bundle(tmp_path / "far", "far", PIXELS + 9, TENSOR, logits(3))
    code = cli.main(["compare", left, near, far, "--fail-on", "decode:max>0"])
    assert code == errors.EXIT_DIVERGENCE
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        "edgeparity: exit 1: --fail-on decode:max>0 fails: left vs far: a.jpg decode max abs "
        "error 9; left vs near: a.jpg decode max abs error 1")


def test_the_gates_decision_is_in_the_report_files_too(flipped, tmp_path, capsys):
    # A job summary headed DIVERGENCE under a job that passed must say why it passed.
    import json

    import jsonschema
    from test_report_json import shipped_schema

    out = {kind: tmp_path / "r.{}".format(kind) for kind in ("json", "md", "html")}
    code = cli.main(["compare", *flipped, "--fail-on", "stage:decode", "--json", str(out["json"]),
                     "--md", str(out["md"]), "--html", str(out["html"])])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert code == errors.EXIT_PARITY and last.startswith("edgeparity: exit 0: ")
    report = json.loads(out["json"].read_text())
    assert report["verdict"] == "divergence"
    assert report["gate"] == {"fail_on": ["stage:decode"], "exit_code": 0,
                              "outcomes": [last[len("edgeparity: exit 0: "):]]}
    assert list(jsonschema.Draft202012Validator(shipped_schema()).iter_errors(report)) == []
    markdown = out["md"].read_text()
    assert "**Exit code 0** under `--fail-on stage:decode`:" in markdown
    assert "- --fail-on stage:decode passes (it looks only at decode;" in markdown
    assert "Exit code <b>0</b> under <code>--fail-on stage:decode</code>" in out[
        "html"].read_text()
    # Without --fail-on the exit code is the verdict's: nothing to add.
    cli.main(["compare", *flipped, "--json", str(out["json"])])
    assert "gate" not in json.loads(out["json"].read_text())


@pytest.mark.parametrize("gate", ["top1", "stage:decode", "any", "top5"])
def test_fail_on_with_golden_is_refused_not_ignored(flipped, tmp_path, capsys, gate):
    # The golden gate fails on any change; a --fail-on given with --golden would be silently
    # ignored (even a malformed one), so the combination is a usage error naming both.
    left, right = flipped
    goldens = tmp_path / "goldens"
    assert cli.main(["golden", "update", left, "--dir", str(goldens)]) == errors.EXIT_PARITY
    capsys.readouterr()
    code = cli.main(["compare", right, "--golden", str(goldens), "--golden-name", "left",
                     "--fail-on", gate])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == errors.EXIT_ERROR and len(lines) == 1, captured
    assert "--fail-on" in lines[0] and "--golden" in lines[0]
    assert captured.out == ""  # refused before any bundle is checked
    # Without --fail-on the same check runs, and the changed logits fail it.
    assert cli.main(["compare", right, "--golden", str(goldens),
                     "--golden-name", "left"]) == errors.EXIT_DIVERGENCE


@pytest.mark.parametrize("option", [["--reference", "left"], ["--heatmaps", "5"],
                                    ["--heatmaps", "50"], ["--jobs", "1"], ["-j", "2"]])
def test_compare_options_with_golden_are_refused_not_ignored(flipped, tmp_path, capsys, option):
    # The golden check has no reference side, no difference views and no arrays to compute
    # on: each of these given with --golden (even at its default value) is a usage error.
    left, right = flipped
    goldens = tmp_path / "goldens"
    assert cli.main(["golden", "update", left, "--dir", str(goldens)]) == errors.EXIT_PARITY
    capsys.readouterr()
    code = cli.main(["compare", right, "--golden", str(goldens), "--golden-name", "left"]
                    + option)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == errors.EXIT_ERROR and len(lines) == 1, captured
    named = {"-j": "--jobs"}.get(option[0], option[0])
    assert named in lines[0] and "--golden" in lines[0]
    assert captured.out == ""


def test_one_path_decides_the_exit_code_under_a_gate(flipped, capsys):
    # exit_code(report) is the default gate only; --fail-on goes through gates.evaluate, as
    # the command line does. No second, unused way to pass a gate to exit_code.
    import inspect

    from edgeparity.compare import Tolerances, compare, evaluate, exit_code

    assert list(inspect.signature(exit_code).parameters) == ["report"]
    report, _ = compare(list(flipped), None, Tolerances(), want_heatmaps=False)
    assert exit_code(report) == gate_exit(*flipped, "any", capsys)[0] == errors.EXIT_DIVERGENCE
    for text, code in (("top1", errors.EXIT_DIVERGENCE), ("stage:preprocess", errors.EXIT_PARITY)):
        assert evaluate(report, parse_gate(text)).code == gate_exit(*flipped, text, capsys)[0] \
            == code


@pytest.mark.parametrize("option", [["--float-tolerance"], ["--golden-name", "cloud"]])
def test_golden_options_without_golden_are_refused_not_ignored(flipped, capsys, option):
    code = cli.main(["compare", *flipped, *option])
    captured = capsys.readouterr()
    assert code == errors.EXIT_ERROR, captured
    assert option[0] in captured.err and "--golden DIR" in captured.err
    assert captured.out == ""


def test_json_on_stdout_stays_json_under_a_gate(flipped, capsys):
    import json

    code = cli.main(["compare", *flipped, "--json", "-", "--fail-on", "top1"])
    captured = capsys.readouterr()
    assert code == errors.EXIT_DIVERGENCE
    assert json.loads(captured.out)["verdict"] == "divergence"  # nothing but the JSON
    assert captured.err.strip().splitlines()[-1].startswith("edgeparity: exit 1: ")


def test_a_passing_gate_under_an_incomplete_verdict_says_what_it_needed(tmp_path, capsys):
    left = make_bundle(tmp_path / "left", "left", PIXELS, TENSOR, logits(3))
    # The same pixels, and no preprocess or infer output: those stages are not compared.
    right = make_bundle(tmp_path / "right", "right", PIXELS, None, None)
    code, out = gate_exit(left, right, "decode:max>=1", capsys)
    assert code == errors.EXIT_PARITY and "INCOMPLETE" in out
    assert (
        "edgeparity: exit 0: --fail-on decode:max>=1 passes (what it needs was compared; the "
        "verdict above is about what was not)\n") in out


def test_an_inclusive_threshold_is_said_as_such(tmp_path, capsys):
    left = make_bundle(tmp_path / "left", "left", PIXELS, TENSOR, logits(3))
    right = make_bundle(tmp_path / "right", "right", PIXELS, TENSOR, logits(3) + 0.5)
    code, out = gate_exit(left, right, "infer:max>=0.6", capsys)
    assert code == errors.EXIT_PARITY and (
        "edgeparity: exit 0: --fail-on infer:max>=0.6 passes (it fails only at or above 0.6; "
        "the verdict above counts any difference)\n") in out


def test_the_tolerance_the_advice_names_accepts_the_difference(flipped, tmp_path, capsys):
    # The logits differ by at most 4.7 (classes 3 and 7): the advice names that tolerance,
    # and a compare run with it finds every output within tolerance.
    import json

    out = tmp_path / "r.json"
    assert cli.main(["compare", *flipped, "--json", str(out)]) == errors.EXIT_DIVERGENCE
    [advice] = json.loads(out.read_text())["pairs"][0]["advice"]
    assert advice["text"].endswith(
        "or accept the difference with --tolerance infer:4.7 (the largest absolute error here: "
        "infer 4.7)")
    capsys.readouterr()
    assert cli.main(["compare", *flipped, "--tolerance", "infer:4.7"]) == errors.EXIT_PARITY
    assert cli.main(["compare", *flipped, "--tolerance", "infer:4.6"]) == errors.EXIT_DIVERGENCE
