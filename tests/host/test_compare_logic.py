"""compare's judgement on hand-built bundles, where the right answer is known by construction."""

import json

import numpy as np

from edgeparity import cli, errors
from edgeparity.bundle import BundleWriter
from edgeparity.bundle.format import index_digest
from edgeparity.diffstats import difference_stats

IMAGE = "a.jpg"
PIXELS = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)


def make_bundle(path, name, outputs, available=("decode/pillow", "preprocess/pillow"),
                skipped=None, provenance=None, selection=None):
    """outputs: {chain: array, or None for an error}; canonical:* chains are isolated runs,
    probe:* chains probe runs; 'b.jpg|chain' is an output of another image than a.jpg.
    skipped: {stage/impl: the reason capture recorded}."""
    writer = BundleWriter(str(path))
    images = {IMAGE: {"sha256": "same-bytes"}}
    for chain, array in outputs.items():
        image, _, chain = chain.rpartition("|")
        isolated = chain.startswith(("canonical:", "probe:"))
        image = chain.split(">")[0] if isolated else image or IMAGE
        if not isolated:
            images[image] = {"sha256": "same-bytes of " + image}
        last = chain.split(">")[-1]
        stage, _, impl = last.partition("=")
        record = {"key": "{}|{}".format(image, chain), "image": image, "chain": chain,
                  "stage": stage, "impl": impl,
                  "mode": "probe" if image.startswith("probe:") else
                  "isolated" if isolated else "e2e"}
        if array is None:
            record.update(status="error", error="boom")
        else:
            record.update(status="ok", sha256=writer.add_array(array))
        writer.add_record(record)
    extra = {"selection": selection} if selection else {}  # none: as older bundles are
    return writer.finish(dict(extra, **{
        "name": name,
        "images": images,
        "pipeline": {"decode": "pillow", "preprocess": "pillow"},
        "implementations": dict(
            {key: {"status": "available"} for key in available},
            **{key: {"status": "skipped", "reason": why} for key, why in (skipped or {}).items()}),
        "provenance": provenance or {},
    }))


def run_compare(tmp_path, left, right, *extra):
    out = tmp_path / "r.json"
    code = cli.main(["compare", left, right, "--json", str(out)] + list(extra))
    text = out.read_text()
    report = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    return code, report["pairs"][0]


def test_first_divergence_after_identical_input_is_intrinsic(tmp_path):
    tensor = np.zeros((1, 3, 2, 2), np.float32)
    canonical = {"canonical:decoded-x>preprocess=pillow": tensor}
    left = make_bundle(tmp_path / "l", "left", dict(canonical, **{
        "decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": tensor}))
    right = make_bundle(tmp_path / "r", "right", dict(canonical, **{
        "decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": tensor + 1}))
    code, pair = run_compare(tmp_path, left, right)
    assert code == errors.EXIT_DIVERGENCE
    step = pair["images"][0]["stages"][1]
    # Same input on both sides, different output: the stage itself differs, whatever the
    # canonical run says.
    assert step["verdict"] == "different" and step["origin"] == "intrinsic"


def test_isolated_input_run_on_one_side_only_gives_unknown_origin(tmp_path):
    tensor = np.zeros((1, 3, 2, 2), np.float32)
    left = make_bundle(tmp_path / "l", "left", {
        "decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": tensor,
        "canonical:decoded-x>preprocess=pillow": tensor})
    right = make_bundle(tmp_path / "r", "right", {
        "decode=pillow": PIXELS + 1, "decode=pillow>preprocess=pillow": tensor + 1})
    _, pair = run_compare(tmp_path, left, right)
    assert pair["isolation"]["preprocess"]["inputs"] == 0
    assert pair["isolation"]["preprocess"]["missing"] == 1
    assert pair["images"][0]["stages"][1]["origin"].startswith("unknown")


def test_a_pipeline_stage_captured_nowhere_is_not_parity(tmp_path):
    left = make_bundle(tmp_path / "l", "left", {"decode=pillow": PIXELS})
    right = make_bundle(tmp_path / "r", "right", {"decode=pillow": PIXELS})
    code, pair = run_compare(tmp_path, left, right)
    # The bundles' pipelines say preprocess=pillow, and neither side has that output.
    assert code == errors.EXIT_ERROR and pair["verdict"] == "incomplete"
    assert any("preprocess" in note for note in pair["not_compared"])


def test_a_stage_failing_on_both_sides_everywhere_is_not_parity(tmp_path):
    outputs = {"decode=pillow": None}
    code, pair = run_compare(tmp_path, make_bundle(tmp_path / "l", "left", outputs),
                             make_bundle(tmp_path / "r", "right", outputs))
    assert code == errors.EXIT_ERROR and pair["verdict"] == "incomplete"


def test_exit_code_follows_the_verdict_and_prints_nothing(tmp_path, capsys):
    from edgeparity.compare import compare, exit_code

    tensor = np.zeros((1, 3, 2, 2), np.float32)
    same = {"decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": tensor}
    left = make_bundle(tmp_path / "l", "left", same)
    right = make_bundle(tmp_path / "r", "right", same)
    shifted = make_bundle(tmp_path / "s", "shifted", dict(same, **{"decode=pillow": PIXELS + 1}))
    decode_only = make_bundle(tmp_path / "d", "decode-only", {"decode=pillow": PIXELS})
    expected = {right: ("parity", errors.EXIT_PARITY),
                shifted: ("divergence", errors.EXIT_DIVERGENCE),
                decode_only: ("incomplete", errors.EXIT_ERROR)}
    for other, (verdict, code) in expected.items():
        report, _ = compare([left, other])
        assert (report["verdict"], exit_code(report)) == (verdict, code)
    # The library says nothing: the command line explains an incomplete comparison.
    assert capsys.readouterr() == ("", "")


def test_infinite_values_never_pass_and_the_json_stays_strict(tmp_path):
    stats = difference_stats(np.array([np.inf], np.float32), np.array([1.0], np.float32),
                             1e-5, 1e-5)
    assert stats["verdict"] == "different" and stats["max_abs_error"] == np.inf
    same = difference_stats(np.array([np.inf, np.nan]), np.array([np.inf, np.nan]), 0, 0)
    assert same["verdict"] == "within_tolerance" and same["fraction_elements_differ"] == 0
    tensor = np.array([[0.0, np.inf, 1.0]], np.float32)
    left = make_bundle(tmp_path / "l", "left", {
        "decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": tensor})
    right = make_bundle(tmp_path / "r", "right", {
        "decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": np.ones_like(tensor)})
    code, pair = run_compare(tmp_path, left, right)  # json.loads above rejects Infinity/NaN
    assert code == errors.EXIT_DIVERGENCE
    # Numeric fields stay numeric (schema /2): null, and the object says what it was.
    step = pair["images"][0]["stages"][1]
    assert step["max_rel_error"] is None and step["max_abs_error"] is None
    assert step["non_finite"] == {key: "inf" for key in (
        "max_abs_error", "mean_abs_error", "p99_abs_error", "max_rel_error", "min_atol_to_pass",
        "min_rtol_to_pass")}


def test_dtype_mismatch_is_reported_as_such():
    stats = difference_stats(np.zeros(3, np.uint8), np.zeros(3, np.int32), 0, 0)
    assert stats["verdict"] == "different" and stats["dtype_mismatch"] == ["|u1", "<i4"]


def test_inherited_first_divergence_advice_follows_its_evidence(tmp_path):
    """Decode within tolerance, preprocess differs, and preprocess agrees on every canonical
    input and probe: the advice says the difference comes from upstream, never that the step
    itself computes differently; ``agree`` counts the inputs that agree."""
    decoded = np.full((2, 2, 3), 100.0, np.float32)
    tensor = np.zeros((1, 3, 2, 2), np.float32)
    isolated = {"canonical:decoded-x>preprocess=pillow": tensor,
                "canonical:decoded-y>preprocess=pillow": tensor + 1,
                "probe:ramp>preprocess=pillow": tensor + 2}
    left = make_bundle(tmp_path / "l", "left", dict(isolated, **{
        "decode=pillow": decoded, "decode=pillow>preprocess=pillow": tensor}))
    right = make_bundle(tmp_path / "r", "right", dict(isolated, **{
        "decode=pillow": decoded + 1e-4, "decode=pillow>preprocess=pillow": tensor + 1}))
    _, pair = run_compare(tmp_path, left, right)
    steps = pair["images"][0]["stages"]
    assert [s["verdict"] for s in steps] == ["within_tolerance", "different"]
    assert steps[1]["origin"] == "inherited"
    assert pair["advice"] == [{
        "text": "the preprocess step agrees on all 2 canonical inputs and 1 probe: the "
                "difference comes from the within-tolerance change upstream (the decode outputs "
                "it gets): accept the difference with --tolerance preprocess:1 (the largest "
                "absolute error here: preprocess 1), or make decode identical on both sides",
        "agree": 3, "images": 3}]


def test_later_stage_advice_counts_what_agrees():
    from edgeparity.compare.causes import later_stage_advice

    # The reviewers' repro: every input agrees; the step is not said to compute differently.
    advice = later_stage_advice("infer", ("dlr", "dlr"), {"inputs": 4, "agree": 4}, 3, 10)
    assert advice == {
        "text": "the infer step agrees on all 4 canonical inputs and probes: the difference "
                "comes from the within-tolerance change upstream (the preprocess outputs it "
                "gets): accept the difference with --tolerance infer:ATOL, or make preprocess "
                "identical on both sides",
        "agree": 4, "images": 4}
    verdicts = [{"input": "canonical:a", "verdict": "identical"},
                {"input": "canonical:b", "verdict": "different"},
                {"input": "probe:ramp", "verdict": "identical"}]
    advice = later_stage_advice("preprocess", ("pillow", "mxnet"),
                                {"inputs": 3, "agree": 2, "verdicts": verdicts}, 3, 10)
    assert advice == {
        "text": "the preprocess step itself computes differently (the two sides differ on 1 of 3 "
                "isolated inputs, 2 canonical and 1 probe): use one preprocess implementation "
                "on both sides (now pillow vs mxnet), or accept the difference with --tolerance "
                "preprocess:ATOL",
        "agree": 2, "images": 3}
    # Agreeing on the canonical inputs, yet differing on an image whose inputs were identical.
    advice = later_stage_advice("infer", ("dlr", "dlr"), {"inputs": 2, "agree": 2}, 3, 10,
                                inherited=2)
    assert advice == {
        "text": "the infer step itself computes differently (the two sides agree on all 2 "
                "canonical inputs and probes, yet it differs on 1 image whose inputs were "
                "identical on both sides; the other 2 that differ got differing inputs): both "
                "sides already use infer=dlr: align what differs under why, "
                "or accept the difference with --tolerance infer:ATOL",
        "agree": 7, "images": 10}  # the step differs on 3 of the 10
    said = [later_stage_advice("infer", ("dlr", "dlr"), {"inputs": 2, "agree": 2}, divergent,
                               10, inherited=inherited)["text"].split("(")[1].split(")")[0]
            for divergent, inherited in ((2, 0), (2, 1))]
    assert said == [
        "the two sides agree on all 2 canonical inputs and probes, yet it differs on 2 images "
        "whose inputs were identical on both sides",
        "the two sides agree on all 2 canonical inputs and probes, yet it differs on 1 image "
        "whose inputs were identical on both sides; the other one that differs got differing "
        "inputs"]
    advice = later_stage_advice("infer", ("dlr", "dlr"), {}, 3, 10)
    assert (advice["agree"], advice["images"]) == (7, 10)
    # With the largest error known, the tolerance that accepts it is named (rounded up).
    assert later_stage_advice("infer", ("mxnet", "dlr"), {}, 3, 10, None, {"infer": 9.12e-6})[
        "text"].endswith("--tolerance infer:9.2e-06 (the largest absolute error here: infer "
                         "9.12e-06)")


def test_what_did_not_run_on_one_side_says_why_not_always_not_installed(tmp_path):
    from edgeparity.compare import compare
    from edgeparity.report.compare import markdown, terminal

    left = make_bundle(tmp_path / "l", "left", {"decode=pillow": PIXELS}, available=(
        "decode/pillow", "decode/mxnet", "decode/opencv", "preprocess/pillow", "infer/dlr",
        "infer/tvm"))
    right = make_bundle(tmp_path / "r", "<b>right</b>", {"decode=pillow": PIXELS}, available=(
        "decode/pillow",), skipped={
            # As bundles before 0.1.0's wording said it ("here": the capture's machine).
            "decode/mxnet": "MXNet is not importable here (ModuleNotFoundError: No module "
                            "named 'mxnet')\nsecond line",
            "infer/dlr": "failed to load: OSError: libdlr.so: cannot open shared object file",
            "infer/tvm": ""})
    _, pair = run_compare(tmp_path, left, right)
    like_for_like = pair["like_for_like"]
    assert like_for_like["missing_in"] == {"<b>right</b>": [
        "decode/mxnet", "decode/opencv", "preprocess/pillow", "infer/dlr", "infer/tvm"]}
    assert like_for_like["not_run_why"] == {"<b>right</b>": {
        # What right's capture recorded (its first line), or what it left out and how.
        "decode/mxnet": "MXNet is not importable (ModuleNotFoundError: No module named "
                        "'mxnet')",
        "decode/opencv": "its capture did not ask for it (--impl)",
        # The manifest does not say whether --stages or --impl left a whole stage out.
        "preprocess/pillow": "its capture ran no preprocess implementation (--stages or --impl "
                             "left it out)",
        "infer/dlr": "failed to load: OSError: libdlr.so: cannot open shared object file",
        "infer/tvm": "its capture recorded it as skipped"}}

    report, _ = compare([left, right], want_heatmaps=False, jobs=1)
    lines = [" ".join(line.split()) for line in terminal(report, width=1000).splitlines()]
    assert not [line for line in lines if "not installed" in line]
    said = [line for line in lines if line.startswith("not run in")]
    assert said == [  # one line per reason
        "not run in <b>right</b>: decode/mxnet: MXNet is not importable (ModuleNotFoundError: "
        "No module named 'mxnet')",
        "not run in <b>right</b>: decode/opencv: its capture did not ask for it (--impl)",
        "not run in <b>right</b>: preprocess/pillow: its capture ran no preprocess "
        "implementation (--stages or --impl left it out)",
        "not run in <b>right</b>: infer/dlr: failed to load: OSError: libdlr.so: cannot open "
        "shared object file",
        "not run in <b>right</b>: infer/tvm: its capture recorded it as skipped"]
    page = markdown(report)
    assert "Not run in &lt;b&gt;right&lt;/b&gt;: infer/tvm:" in page  # a name is data
    assert "<b>" not in page


def _environment(pillow, numpy, distro="Debian GNU/Linux 12 (bookworm)", variables=None):
    return {"cpu": {"arch": "x86_64", "notable_features": ["sse2", "avx2"]},
            "os": {"distro": distro}, "numpy": {"version": numpy},
            "environment_variables": variables or {},
            "implementations": {"preprocess/pillow": {"status": "available",
                                                      "details": {"version": pillow}}}}


def _preprocess_pair(tmp_path, left_env, right_env):
    tensor = np.zeros((1, 3, 2, 2), np.float32)
    left = make_bundle(tmp_path / "l", "left", {
        "decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": tensor},
        provenance=left_env)
    right = make_bundle(tmp_path / "r", "right", {
        "decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": tensor + 1},
        provenance=right_env)
    return run_compare(tmp_path, left, right)[1]


def test_a_version_is_the_only_recorded_difference_only_when_nothing_else_differs(tmp_path):
    pair = _preprocess_pair(tmp_path / "1", _environment("8.4.0", "1.26.4"),
                            _environment("9.0.0", "1.26.4"))
    assert pair["causes"] == [
        "Pillow 8.4.0 in left vs 9.0.0 in right, the only recorded difference"]
    # numpy, the OS and a thread count differ too: the version is not alone any more.
    pair = _preprocess_pair(
        tmp_path / "2", _environment("8.4.0", "1.23.5", "Debian GNU/Linux 11 (bullseye)"),
        _environment("9.0.0", "1.26.4", variables={"OMP_NUM_THREADS": "1",
                                                   "JSIMD_FORCESSE2": "1"}))
    assert pair["causes"] == [
        "Pillow 8.4.0 in left vs 9.0.0 in right; also recorded as different: OS Debian "
        "GNU/Linux 11 (bullseye) vs Debian GNU/Linux 12 (bookworm); numpy 1.23.5 vs 1.26.4; "
        "OMP_NUM_THREADS=1 in right only (the data cannot tell which matters)"]
    # The same version on both sides: what else differs is listed, not called a cause.
    pair = _preprocess_pair(tmp_path / "3", _environment("9.0.0", "1.23.5"),
                            _environment("9.0.0", "1.26.4"))
    assert pair["causes"] == []
    assert pair["also_differs"] == [
        "recorded as different between the environments (whether it is a cause cannot be "
        "told): numpy 1.23.5 vs 1.26.4"]


def test_the_environment_lines_say_only_what_the_capture_used_in_todays_words(tmp_path):
    from edgeparity.compare import compare
    from edgeparity.report.compare import markdown, terminal

    old_words = {"decode/mxnet": {"status": "skipped", "reason": "MXNet is not importable here "
                                  "(ModuleNotFoundError: No module named 'mxnet')\nline 2"}}
    tensor = np.zeros((1, 3, 2, 2), np.float32)
    full = make_bundle(tmp_path / "f", "full", {
        "decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": tensor},
        provenance={"implementations": old_words})
    decode_only = make_bundle(tmp_path / "d", "decodes", {"decode=pillow": PIXELS},
                              available=("decode/pillow",))
    for path in (full, decode_only):  # both captures recorded the model they would use
        manifest_path = tmp_path / path / "manifest.json"
        manifest = json.loads(manifest_path.read_text())
        manifest["model"] = {"name": "demo"}
        if path == decode_only:  # as `capture --stages decode` records it
            manifest["pipeline"] = {"decode": "pillow"}
        manifest["index_sha256"] = index_digest(manifest)
        manifest_path.write_text(json.dumps(manifest))
    report, _ = compare([full, decode_only], want_heatmaps=False, jobs=1)
    assert report["environments"][0]["implementations"]["decode/mxnet"]["reason"] == (
        "MXNet is not importable (ModuleNotFoundError: No module named 'mxnet')\nline 2")
    lines = [line.strip() for line in terminal(report, width=1000).splitlines()]
    assert [line for line in lines if line.startswith(("full:", "decodes:"))] == [
        "full: unknown CPU, unknown OS, Python ?; decode=pillow > preprocess=pillow; model demo",
        "decodes: unknown CPU, unknown OS, Python ?; decode=pillow"]
    assert [env["model"] for env in report["environments"]] == ["demo", None]  # JSON too
    rows = [line for line in markdown(report).splitlines() if line.startswith("| decodes |")]
    assert rows and rows[0].endswith("| — |")


def test_not_run_names_the_option_that_left_it_out(tmp_path):
    left = make_bundle(tmp_path / "l", "left", {"decode=pillow": PIXELS}, available=(
        "decode/pillow", "decode/opencv", "preprocess/pillow", "infer/onnxruntime"))
    by_stages = make_bundle(tmp_path / "s", "stages", {"decode=pillow": PIXELS},
                            available=("decode/pillow",),
                            selection={"stages": ["decode"], "implementations": None})
    by_impl = make_bundle(tmp_path / "i", "impl", {"decode=pillow": PIXELS},
                          available=("decode/pillow", "preprocess/pillow"),
                          selection={"stages": None, "implementations": ["pillow"]})
    assert run_compare(tmp_path, left, by_stages)[1]["like_for_like"]["not_run_why"] == {
        # Neither option left opencv out: that capture's edgeparity did not have it.
        "stages": {"decode/opencv": "its capture did not try it (edgeparity had no such "
                                    "implementation)",
                   "preprocess/pillow": "its capture left the preprocess stage out (--stages "
                                        "decode)",
                   "infer/onnxruntime": "its capture left the infer stage out (--stages "
                                        "decode)"}}
    assert run_compare(tmp_path, left, by_impl)[1]["like_for_like"]["not_run_why"] == {
        "impl": {"decode/opencv": "its capture did not ask for it (--impl pillow)",
                 "infer/onnxruntime": "its capture did not ask for it (--impl pillow)"}}


def test_an_inference_difference_names_model_files_that_differ(tmp_path):
    tensor = np.zeros((1, 3, 2, 2), np.float32)
    logits = np.zeros((1, 10), np.float32)

    def runner(onnx_digest, files=("/models/m/model.onnx",)):
        # The math library's words name where the model is: not a difference of the library.
        return {"cpu": {"arch": "x86_64"}, "implementations": {"infer/onnxruntime": {
            "status": "available", "details": {"version": "1.19.2", "model": {
                "path": "/models/m", "files": {f: onnx_digest for f in files}},
                "math_library": "compiled operators ({}/model.so)".format(
                    files[0].rpartition("/")[0])}}}}

    def pair(name, left_env, right_env):
        outputs = {"decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": tensor}
        chain = "decode=pillow>preprocess=pillow>infer=onnxruntime"
        available = ("decode/pillow", "preprocess/pillow", "infer/onnxruntime")
        left = make_bundle(tmp_path / name / "l", "left", dict(outputs, **{chain: logits}),
                           available=available, provenance=left_env)
        right = make_bundle(tmp_path / name / "r", "right", dict(outputs, **{chain: logits + 1}),
                            available=available, provenance=right_env)
        return run_compare(tmp_path / name, left, right)[1]

    found = pair("digest", runner("sha256:" + "ec03b862cad4" * 5), runner("sha256:" + "0" * 64))
    assert found["first_divergent_stage"] == "infer"
    # Same runtime, same version, same CPU: the model was exported again.
    assert found["causes"] == [
        "the model files differ: model.onnx is sha256:ec03b862cad4 in left vs sha256:000000000000 "
        "in right"]
    found = pair("names", runner("sha256:" + "1" * 64),
                 runner("sha256:" + "1" * 64, files=("/opt/other.onnx",)))
    assert found["causes"] == [
        "the model files differ: left loaded model.onnx, right loaded other.onnx"]
    # The same files in other folders are the same model: nothing recorded tells them apart.
    found = pair("same", runner("sha256:" + "1" * 64),
                 runner("sha256:" + "1" * 64, files=("/elsewhere/model.onnx",)))
    assert found["causes"] == []


def test_a_stage_nothing_reached_is_listed_with_why(tmp_path):
    tensor = np.zeros((1, 3, 2, 2), np.float32)
    chain = "decode=pillow>preprocess=pillow>infer=onnxruntime"
    left = make_bundle(tmp_path / "l", "left", {
        "decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": tensor,
        chain: np.zeros((1, 10), np.float32)},
        available=("decode/pillow", "preprocess/pillow", "infer/onnxruntime"))
    # Captured with --impl decode/pillow,onnxruntime: a runner, but no preprocessing to feed it.
    right = make_bundle(tmp_path / "r", "right", {"decode=pillow": PIXELS},
                        available=("decode/pillow", "infer/onnxruntime"),
                        selection={"stages": None,
                                   "implementations": ["decode/pillow", "onnxruntime"]})
    code, pair = run_compare(tmp_path, left, right)
    assert code == errors.EXIT_ERROR
    infer = [s for s in pair["stages"] if s["stage"] == "infer"]
    assert infer and infer[0]["compared"] == 0
    assert infer[0]["unavailable"] == (
        "infer: nothing to compare: its input stage, preprocess, was not compared")
    assert infer[0]["unavailable"] in pair["not_compared"]
    from edgeparity.compare import compare
    from edgeparity.report.compare import markdown, terminal

    report, _ = compare([left, right], want_heatmaps=False, jobs=1)
    rows = [" ".join(line.split()) for line in terminal(report, width=1000).splitlines()
            if line.strip().startswith("infer ")]
    # The row names the stage once; the note keeps its stage name where it stands alone.
    assert rows == ["infer onnxruntime NOT COMPARED: nothing to compare: its input stage, "
                    "preprocess, was not compared"]
    assert "| not compared: nothing to compare: its input stage, preprocess, was not compared |" \
        in markdown(report)


def test_provenance_parts_recorded_as_null_read_as_unknown(tmp_path):
    tensor = np.zeros((1, 3, 2, 2), np.float32)
    outputs = {"decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": tensor}
    nulls = {"cpu": None, "os": None, "python": None, "numpy": None, "libc": None}
    left = make_bundle(tmp_path / "l", "left", outputs, provenance=nulls)
    right = make_bundle(tmp_path / "r", "right", dict(outputs, **{
        "decode=pillow>preprocess=pillow": tensor + 1}), provenance=nulls)
    code, pair = run_compare(tmp_path, left, right)
    assert code == errors.EXIT_DIVERGENCE and pair["first_divergent_stage"] == "preprocess"


def test_a_later_stage_that_differs_on_its_own_gets_its_why_and_do_after_the_first(tmp_path):
    """Decode differs first; preprocess then differs everywhere, inherited or not. Only when
    its implementations also disagree on isolated inputs (the same on both sides) does fixing
    decode leave it different: then it gets its own cause and advice, after decode's."""
    tensor = np.zeros((1, 3, 2, 2), np.float32)
    left_isolated = {"canonical:decoded-x>preprocess=pillow": tensor,
                     "canonical:decoded-y>preprocess=pillow": tensor + 1}
    e2e = {"decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": tensor}
    left = make_bundle(tmp_path / "l", "left", dict(left_isolated, **e2e))
    e2e_right = {"decode=pillow": PIXELS + 1, "decode=pillow>preprocess=pillow": tensor + 1}
    on_its_own = make_bundle(tmp_path / "own", "right", dict(e2e_right, **{
        "canonical:decoded-x>preprocess=pillow": tensor,
        "canonical:decoded-y>preprocess=pillow": tensor + 3}))
    _, pair = run_compare(tmp_path, left, on_its_own)
    assert pair["first_divergent_stage"] == "decode"
    assert pair["causes"][-1] == (
        "besides the decode difference, preprocess differs on its own (1 of 2 isolated inputs "
        "differ)")
    # Nothing recorded explains it: the advice does not point at a "why" that is not there.
    assert pair["advice"][-1] == {
        "text": "the preprocess step itself computes differently (the two sides differ on 1 of 2 "
                "isolated inputs, 2 canonical): both sides already use preprocess=pillow: look "
                "for what differs in how each side built or runs it, or accept the difference "
                "with --tolerance preprocess:ATOL",
        "agree": 1, "images": 2}
    # Agreeing on every isolated input, the preprocess difference is decode's: nothing more.
    inherited = make_bundle(tmp_path / "inh", "right", dict(left_isolated, **e2e_right))
    _, pair = run_compare(tmp_path, left, inherited)
    assert not any("preprocess" in cause for cause in pair["causes"])
    assert not any("preprocess" in item["text"] for item in pair["advice"])


def test_a_later_stage_differing_on_identical_inputs_is_on_its_own_whatever_isolation_says(
        tmp_path):
    """a.jpg decodes differently (first divergent stage: decode); b.jpg decodes identically,
    yet its preprocessing differs: the step computes differently on its own, though it agrees
    on every isolated input."""
    tensor = np.zeros((1, 3, 2, 2), np.float32)
    isolated = {"canonical:decoded-x>preprocess=pillow": tensor}
    left = make_bundle(tmp_path / "l", "left", dict(isolated, **{
        "decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": tensor,
        "b.jpg|decode=pillow": PIXELS, "b.jpg|decode=pillow>preprocess=pillow": tensor}))
    right = make_bundle(tmp_path / "r", "right", dict(isolated, **{
        "decode=pillow": PIXELS + 1, "decode=pillow>preprocess=pillow": tensor + 5,
        "b.jpg|decode=pillow": PIXELS, "b.jpg|decode=pillow>preprocess=pillow": tensor + 1}))
    _, pair = run_compare(tmp_path, left, right)
    assert pair["first_divergent_stage"] == "decode"
    assert pair["causes"][-1] == (
        "besides the decode difference, preprocess differs on its own (it differs on 1 image "
        "whose inputs were identical on both sides)")
    assert pair["advice"][-1]["text"].startswith(
        "the preprocess step itself computes differently (the two sides agree on all 1 "
        "canonical input, yet it differs on 1 image whose inputs were identical on both "
        "sides; the other one that differs got differing inputs)")
    assert (pair["advice"][-1]["agree"], pair["advice"][-1]["images"]) == (0, 2)
    # Its tolerance is what it differs by where its inputs were identical (b.jpg), not what
    # it inherits from the decode difference (a.jpg, 5), which the advice says it leaves.
    assert pair["advice"][-1]["text"].endswith(
        "--tolerance preprocess:1 (the largest absolute error on the images whose inputs were "
        "identical: preprocess 1; the images whose inputs differed still differ until the "
        "upstream difference is fixed)")
    # Inherited by less than that tolerance: it accepts them too, and says no more.
    right = make_bundle(tmp_path / "r2", "right", dict(isolated, **{
        "decode=pillow": PIXELS + 1, "decode=pillow>preprocess=pillow": tensor + 0.5,
        "b.jpg|decode=pillow": PIXELS, "b.jpg|decode=pillow>preprocess=pillow": tensor + 1}))
    _, pair = run_compare(tmp_path, left, right)
    assert pair["advice"][-1]["text"].endswith(
        "--tolerance preprocess:1 (the largest absolute error here: preprocess 1)")


def test_a_later_stage_failing_on_one_side_is_not_offered_a_tolerance(tmp_path):
    tensor = np.zeros((1, 3, 2, 2), np.float32)
    left = make_bundle(tmp_path / "l", "left", {
        "decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": tensor,
        "canonical:decoded-x>preprocess=pillow": tensor})
    right = make_bundle(tmp_path / "r", "right", {
        "decode=pillow": PIXELS + 1, "decode=pillow>preprocess=pillow": tensor + 1,
        "canonical:decoded-x>preprocess=pillow": None})  # fails there
    _, pair = run_compare(tmp_path, left, right)
    assert pair["advice"][-1]["text"] == (
        "the preprocess step itself computes differently (the two sides differ on 1 of 1 isolated "
        "inputs, 1 canonical; it fails on one side on 1 of them): both sides already use "
        "preprocess=pillow: look for what differs in how each side built or runs it; see why "
        "it fails (the JSON report's isolation has each error)")


def test_a_later_stage_advice_names_a_captured_implementation_that_agrees(tmp_path):
    """left deploys preprocess=mxnet, which differs from right's pillow on the isolated input;
    left also captured pillow, which agrees there: the advice names it, with its evidence. The
    architectures differ too, but with different implementations that is not called a cause."""
    tensor = np.zeros((1, 3, 2, 2), np.float32)
    left = make_bundle(tmp_path / "l", "left", {
        "decode=pillow": PIXELS, "decode=pillow>preprocess=mxnet": tensor + 1,
        "decode=pillow>preprocess=pillow": tensor,
        "canonical:decoded-x>preprocess=mxnet": tensor + 1,
        "canonical:decoded-x>preprocess=pillow": tensor},
        available=("decode/pillow", "preprocess/pillow", "preprocess/mxnet"),
        provenance={"cpu": {"arch": "x86_64"}})
    right = make_bundle(tmp_path / "r", "right", {
        "decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": tensor,
        "canonical:decoded-x>preprocess=pillow": tensor}, provenance={"cpu": {"arch": "aarch64"}})
    _, pair = run_compare(tmp_path, str(left) + "@preprocess=mxnet", str(right))
    assert pair["first_divergent_stage"] == "preprocess"
    assert pair["causes"] == [
        "the two sides use different implementations for preprocess: mxnet vs pillow"]
    assert pair["also_differs"] == [
        "the CPU architectures differ too (x86_64 vs aarch64); with different implementations "
        "the data cannot tell whether that matters"]
    assert pair["advice"][0]["text"] == (
        "the preprocess step itself computes differently (the two sides differ on 1 of 1 "
        "isolated inputs, 1 canonical): use preprocess=pillow in left@preprocess=mxnet (now "
        "preprocess=mxnet): it agrees with right's preprocess=pillow on 1 of 1 isolated inputs "
        "(now 0), or accept the difference with --tolerance preprocess:1 (the largest absolute "
        "error here: preprocess 1)")
    # The evidence count is the named choice's, as the text says it.
    assert (pair["advice"][0]["agree"], pair["advice"][0]["images"]) == (1, 1)


def test_a_later_stage_advice_names_an_implementation_both_sides_captured_that_agrees(tmp_path):
    """left runs infer=tvm, right infer=mxnet; neither side has the other's runtime, and neither
    agrees with the other's on the isolated input, but both captured onnxruntime, which agrees
    across them: that is the advice (not 'use one infer implementation on both sides')."""
    tensor = np.zeros((1, 3, 2, 2), np.float32)
    logits = np.zeros((1, 10), np.float32)
    chain = "decode=pillow>preprocess=pillow>infer="
    common = {"decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": tensor,
              chain + "onnxruntime": logits, "canonical:preprocessed-x>infer=onnxruntime": logits}
    left = make_bundle(tmp_path / "l", "left", dict(common, **{
        chain + "tvm": logits + 1, "canonical:preprocessed-x>infer=tvm": logits + 1}),
        available=("decode/pillow", "preprocess/pillow", "infer/tvm", "infer/onnxruntime"))
    right = make_bundle(tmp_path / "r", "right", dict(common, **{
        chain + "mxnet": logits + 2, "canonical:preprocessed-x>infer=mxnet": logits + 2}),
        available=("decode/pillow", "preprocess/pillow", "infer/mxnet", "infer/onnxruntime"))
    _, pair = run_compare(tmp_path, str(left) + "@infer=tvm", str(right) + "@infer=mxnet")
    assert pair["first_divergent_stage"] == "infer"
    assert pair["advice"][0]["text"].startswith(
        "the infer step itself computes differently (the two sides differ on 1 of 1 isolated "
        "inputs, 1 canonical): use infer=onnxruntime on both sides (now tvm vs mxnet): the two "
        "sides' infer=onnxruntime agree on 1 of 1 isolated inputs (now 0), or accept")


def test_on_its_own_needs_a_stage_that_differs_and_a_difference_of_values(tmp_path):
    """Review findings: a later stage identical on every image is not called different on its
    own whatever its isolated runs say; a failure on one side (b.jpg's preprocess) is not a
    difference a tolerance accepts; an implementation failing on both sides' isolated input is
    never advised."""
    tensor = np.zeros((1, 3, 2, 2), np.float32)
    left = make_bundle(tmp_path / "l", "left", {
        "decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": tensor,
        "canonical:decoded-x>preprocess=pillow": tensor})
    same_everywhere = make_bundle(tmp_path / "r1", "right", {
        "decode=pillow": PIXELS + 1, "decode=pillow>preprocess=pillow": tensor,
        "canonical:decoded-x>preprocess=pillow": tensor + 1})
    _, pair = run_compare(tmp_path, left, same_everywhere)
    assert pair["first_divergent_stage"] == "decode"
    assert not any("preprocess" in cause for cause in pair["causes"])
    fails = make_bundle(tmp_path / "r2", "right", {
        "decode=pillow": PIXELS + 1, "decode=pillow>preprocess=pillow": tensor + 1,
        "b.jpg|decode=pillow": PIXELS, "b.jpg|decode=pillow>preprocess=pillow": None,
        "canonical:decoded-x>preprocess=pillow": tensor})
    left_b = make_bundle(tmp_path / "l2", "left", {
        "decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": tensor,
        "b.jpg|decode=pillow": PIXELS, "b.jpg|decode=pillow>preprocess=pillow": tensor,
        "canonical:decoded-x>preprocess=pillow": tensor})
    _, pair = run_compare(tmp_path, left_b, fails)
    # b.jpg fails on one side though its input was identical: said, and no tolerance offered.
    assert pair["causes"][-1] == (
        "besides the decode difference, preprocess differs on its own (it fails on one side "
        "on 1 image whose inputs were identical)")
    assert pair["advice"][-1]["text"].endswith(
        "look for what differs in how each side built or runs it; see why it fails (on 1 image "
        "whose inputs were identical: the image rows say where)")
    # With a value difference beside it (c.jpg), still no tolerance: none accepts b.jpg.
    fails_and_differs = make_bundle(tmp_path / "r4", "right", {
        "decode=pillow": PIXELS + 1, "decode=pillow>preprocess=pillow": tensor + 1,
        "b.jpg|decode=pillow": PIXELS, "b.jpg|decode=pillow>preprocess=pillow": None,
        "c.jpg|decode=pillow": PIXELS, "c.jpg|decode=pillow>preprocess=pillow": tensor + 0.5,
        "canonical:decoded-x>preprocess=pillow": tensor})
    left_c = make_bundle(tmp_path / "l4", "left", {
        "decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": tensor,
        "b.jpg|decode=pillow": PIXELS, "b.jpg|decode=pillow>preprocess=pillow": tensor,
        "c.jpg|decode=pillow": PIXELS, "c.jpg|decode=pillow>preprocess=pillow": tensor,
        "canonical:decoded-x>preprocess=pillow": tensor})
    _, pair = run_compare(tmp_path, left_c, fails_and_differs)
    assert pair["causes"][-1] == (
        "besides the decode difference, preprocess differs on its own (it differs on 1 image "
        "whose inputs were identical on both sides; it fails on one side on 1 image whose "
        "inputs were identical)")
    assert "--tolerance" not in pair["advice"][-1]["text"]
    # left deploys mxnet, which differs on the isolated input; its pillow fails there, as
    # right's does: failing on both sides is no reason to switch.
    left_m = make_bundle(tmp_path / "l3", "left", {
        "decode=pillow": PIXELS, "decode=pillow>preprocess=mxnet": tensor + 1,
        "canonical:decoded-x>preprocess=mxnet": tensor + 1,
        "canonical:decoded-x>preprocess=pillow": None},
        available=("decode/pillow", "preprocess/pillow", "preprocess/mxnet"))
    right_m = make_bundle(tmp_path / "r3", "right", {
        "decode=pillow": PIXELS, "decode=pillow>preprocess=pillow": tensor,
        "canonical:decoded-x>preprocess=pillow": None})
    _, pair = run_compare(tmp_path, str(left_m) + "@preprocess=mxnet", right_m)
    assert pair["first_divergent_stage"] == "preprocess"
    assert not any("use preprocess=pillow in" in item["text"] for item in pair["advice"])
