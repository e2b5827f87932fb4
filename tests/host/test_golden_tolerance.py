"""The golden gate's --float-tolerance mode: float outputs that moved in the last bits (another
CPU's rounding) pass, a real float change or any pixel change still fails.

The bundles are built by hand so what moved, and by how much, is known by construction.
"""

import json

import numpy as np

from edgeparity import cli, errors
from edgeparity.bundle import BundleWriter, array_stats

IMAGE = "a.jpg"
PIXELS = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
TENSOR = np.linspace(-2, 2, 3 * 8 * 8, dtype=np.float32).reshape(1, 3, 8, 8)


def output(array):
    """The fields capture records for an output (session.py)."""
    return {"status": "ok", "shape": list(array.shape), "dtype": array.dtype.str,
            "stats": array_stats(array)}


def make_bundle(path, name, pixels, tensor, arch="x86_64", logits=None):
    """decode and preprocess (and, with ``logits``, infer) of one image, each fed the one
    before it."""
    writer = BundleWriter(str(path))
    decoded = writer.add_array(pixels)
    writer.add_record(dict(output(pixels), key=IMAGE + "|decode=pillow", image=IMAGE,
                           chain="decode=pillow", stage="decode", impl="pillow", mode="e2e",
                           sha256=decoded))
    chain = "decode=pillow>preprocess=pillow"
    preprocessed = writer.add_array(tensor)
    writer.add_record(dict(output(tensor), key=IMAGE + "|" + chain, image=IMAGE, chain=chain,
                           stage="preprocess", impl="pillow", mode="e2e", input=decoded,
                           sha256=preprocessed))
    pipeline = {"decode": "pillow", "preprocess": "pillow"}
    if logits is not None:
        chain += ">infer=onnxruntime"
        writer.add_record(dict(output(logits), key=IMAGE + "|" + chain, image=IMAGE,
                               chain=chain, stage="infer", impl="onnxruntime", mode="e2e",
                               input=preprocessed, sha256=writer.add_array(logits)))
        pipeline["infer"] = "onnxruntime"
    return writer.finish({
        "name": name,
        "images": {IMAGE: {"sha256": "same-bytes"}},
        "pipeline": pipeline,
        "implementations": {"{}/{}".format(stage, impl): {"status": "available"}
                            for stage, impl in pipeline.items()},
        "provenance": {"cpu": {"arch": arch}},
    })


def check(bundle_path, goldens, tmp_path, *extra):
    out = tmp_path / "gate.json"
    if out.exists():
        out.unlink()
    code = cli.main(["golden", "check", bundle_path, "--dir", str(goldens), "--json", str(out)]
                    + list(extra))
    return code, json.loads(out.read_text())


def golden_of(tmp_path):
    source = make_bundle(tmp_path / "x86" / "edge", "edge", PIXELS, TENSOR)
    goldens = tmp_path / "goldens"
    assert cli.main(["golden", "update", source, "--dir", str(goldens)]) == errors.EXIT_PARITY
    return goldens


def test_last_bit_float_changes_pass_only_in_tolerance_mode(tmp_path, capsys):
    goldens = golden_of(tmp_path)
    # One ULP up on every element: what another CPU's summation order does to a tensor.
    rounded = np.nextafter(TENSOR, np.float32(np.inf))
    assert (rounded != TENSOR).all()
    other = make_bundle(tmp_path / "arm" / "edge", "edge", PIXELS, rounded, arch="aarch64")

    code, report = check(other, goldens, tmp_path)
    assert code == errors.EXIT_DIVERGENCE and report["mode"] == "exact"
    assert report["environments"][0]["counts"]["changed"] == 1

    code, report = check(other, goldens, tmp_path, "--float-tolerance")
    env = report["environments"][0]
    assert code == errors.EXIT_PARITY and report["mode"] == "float_stats"
    assert env["verdict"] == "unchanged"
    assert env["counts"]["changed"] == 0 and env["counts"]["within_tolerance"] == 1
    assert env["within_tolerance"][0]["stage"] == "preprocess"
    # The CPU change is still reported, as a note, never calling the moved outputs identical.
    assert any(change["what"] == "environment/arch" for change in env["provenance_changes"])
    said = capsys.readouterr().out
    assert "every output is unchanged within tolerance;" in said and "identical" not in said


def test_a_real_float_change_fails_in_tolerance_mode(tmp_path):
    goldens = golden_of(tmp_path)
    moved = make_bundle(tmp_path / "moved" / "edge", "edge", PIXELS, TENSOR + np.float32(0.01))
    code, report = check(moved, goldens, tmp_path, "--float-tolerance")
    assert code == errors.EXIT_DIVERGENCE
    assert report["environments"][0]["changed"][0]["stage"] == "preprocess"
    # A tolerance that covers the shift lets it through: the mode follows --tolerance.
    code, _ = check(moved, goldens, tmp_path, "--float-tolerance", "--tolerance",
                    "preprocess:0.02")
    assert code == errors.EXIT_PARITY


def test_pixels_stay_exact_in_tolerance_mode(tmp_path):
    goldens = golden_of(tmp_path)
    pixels = PIXELS.copy()
    pixels[3, 4, 1] += 1  # one level at one pixel, the 4:4:4 photo's kind of change
    code, report = check(make_bundle(tmp_path / "px" / "edge", "edge", pixels, TENSOR),
                         goldens, tmp_path, "--float-tolerance", "--atol", "10")
    env = report["environments"][0]
    assert code == errors.EXIT_DIVERGENCE
    assert [r["stage"] for r in env["changed"]] == ["decode"]
    assert env["first_changed_stage"] == "decode"


def test_golden_name_checks_another_environment_against_one_golden(tmp_path):
    goldens = golden_of(tmp_path)
    rounded = np.nextafter(TENSOR, np.float32(-np.inf))
    jetson = make_bundle(tmp_path / "jetson" / "jetson", "jetson", PIXELS, rounded, "aarch64")
    code = cli.main(["golden", "check", jetson, "--dir", str(goldens)])
    assert code == errors.EXIT_ERROR  # no goldens/jetson.json
    code, report = check(jetson, goldens, tmp_path, "--golden-name", "edge",
                         "--float-tolerance")
    assert code == errors.EXIT_PARITY
    assert report["environments"][0]["golden"].endswith("edge.json")
    # The alias takes the same options.
    assert cli.main(["compare", jetson, "--golden", str(goldens), "--golden-name", "edge",
                     "--float-tolerance"]) == errors.EXIT_PARITY


def test_the_advice_for_a_named_golden_refreshes_that_golden(tmp_path, capsys):
    """The command a check with --golden-name suggests writes DIR/NAME.json (it wrote a golden
    named after the bundle, and the next check failed again)."""
    goldens = golden_of(tmp_path)  # goldens/edge.json
    moved = make_bundle(tmp_path / "jetson" / "jetson", "jetson", PIXELS, TENSOR + 1, "aarch64")
    capsys.readouterr()
    assert cli.main(["golden", "check", moved, "--dir", str(goldens), "--golden-name",
                     "edge"]) == errors.EXIT_DIVERGENCE
    advice = " ".join(capsys.readouterr().out.split())
    command = "edgeparity golden update {} --dir {} --golden-name edge".format(moved, goldens)
    assert command in advice
    assert cli.main(command.split()[1:]) == errors.EXIT_PARITY
    assert sorted(path.name for path in goldens.iterdir()) == ["edge.json"]
    assert cli.main(["golden", "check", moved, "--dir", str(goldens), "--golden-name",
                     "edge"]) == errors.EXIT_PARITY
    # A missing named golden: the command that creates it, from one bundle.
    assert cli.main(["golden", "check", moved, str(tmp_path / "x86" / "edge"), "--dir",
                     str(goldens), "--golden-name", "nosuch"]) == errors.EXIT_ERROR
    err = " ".join(capsys.readouterr().err.split())
    assert "edgeparity golden update {} --dir {} --golden-name nosuch".format(
        moved, goldens) in err
    assert cli.main(["golden", "update", moved, moved, "--dir", str(goldens), "--golden-name",
                     "two"]) == errors.EXIT_ERROR


def test_non_finite_values_never_pass_as_within_tolerance(tmp_path):
    goldens = golden_of(tmp_path)
    # The statistics skip non-finite values (and count them): with one NaN or one Inf in
    # place of the element nearest 0, min/max/mean/std of the rest stay well within a loose
    # tolerance, yet the output now holds a value no consumer can use.
    middle = np.argmin(np.abs(TENSOR))
    for poison in (np.nan, np.inf):
        tensor = TENSOR.copy()
        tensor.flat[middle] = poison
        assert array_stats(tensor)["nonfinite"] == 1  # what the manifest records
        moved = make_bundle(tmp_path / str(poison) / "edge", "edge", PIXELS, tensor)
        code, report = check(moved, goldens, tmp_path, "--float-tolerance", "--atol", "0.1")
        env = report["environments"][0]
        assert code == errors.EXIT_DIVERGENCE, poison
        assert [r["stage"] for r in env["changed"]] == ["preprocess"]
        assert env["counts"]["within_tolerance"] == 0
        assert env["first_changed_stage"] == "preprocess"
        assert env["changed"][0]["nonfinite"] == {"golden": 0, "now": 1}
    # An output that is all NaN has no statistics at all: not within tolerance either.
    moved = make_bundle(tmp_path / "all-nan" / "edge", "edge", PIXELS,
                        np.full_like(TENSOR, np.nan))
    code, report = check(moved, goldens, tmp_path, "--float-tolerance", "--atol", "10")
    assert code == errors.EXIT_DIVERGENCE
    assert report["environments"][0]["counts"]["within_tolerance"] == 0


def test_a_statistic_missing_on_one_side_is_not_within_tolerance():
    # A fingerprint whose std is unknown (null) cannot show that std stayed within tolerance.
    from edgeparity.compare import Tolerances
    from edgeparity.golden.check import check as check_fingerprints

    def fingerprint(sha256, stats):
        return {"name": "edge", "records": {"a.jpg|p": {
            "image": "a.jpg", "stage": "preprocess", "impl": "pillow", "mode": "e2e",
            "status": "ok", "input": "same", "shape": [4], "dtype": "<f4", "sha256": sha256,
            "stats": stats}}}

    golden = fingerprint("old", {"min": 0.0, "max": 1.0, "mean": 0.5, "std": 0.25})
    now = fingerprint("new", {"min": 0.0, "max": 1.0, "mean": 0.5, "std": None})
    result = check_fingerprints(golden, now, Tolerances(), float_tolerance=True)
    assert result["verdict"] == "changed" and result["counts"]["within_tolerance"] == 0
    assert result["first_changed_stage"] == "preprocess"


def test_first_change_beyond_tolerance_is_named_after_a_tolerated_one(tmp_path, capsys):
    logits = np.linspace(-5, 5, 10, dtype=np.float32).reshape(1, 10)
    source = make_bundle(tmp_path / "x86" / "edge", "edge", PIXELS, TENSOR, logits=logits)
    goldens = tmp_path / "goldens"
    assert cli.main(["golden", "update", source, "--dir", str(goldens)]) == errors.EXIT_PARITY
    # Preprocessing moved in the last bit (within tolerance); inference moved far beyond it.
    rounded = np.nextafter(TENSOR, np.float32(np.inf))
    moved = make_bundle(tmp_path / "arm" / "edge", "edge", PIXELS, rounded, "aarch64",
                        logits=logits + np.float32(0.5))
    capsys.readouterr()
    code, report = check(moved, goldens, tmp_path, "--float-tolerance", "-v")
    env = report["environments"][0]
    assert code == errors.EXIT_DIVERGENCE and env["verdict"] == "changed"
    terminal = capsys.readouterr().out
    assert "first changed stage: infer\n" in terminal
    assert "its input moved within tolerance" in terminal  # -v: why it is not "inherited"
    assert [r["stage"] for r in env["within_tolerance"]] == ["preprocess"]
    assert [(r["stage"], r["origin"]) for r in env["changed"]] == [("infer", "intrinsic")]
    assert env["changed"][0]["input_within_tolerance"] is True
    assert env["first_changed_stage"] == "infer"
    # Exact mode: preprocess is the first change, and inference inherited it.
    code, report = check(moved, goldens, tmp_path)
    env = report["environments"][0]
    assert code == errors.EXIT_DIVERGENCE and env["first_changed_stage"] == "preprocess"
    assert {r["stage"]: r["origin"] for r in env["changed"]} == {
        "preprocess": "intrinsic", "infer": "inherited"}


def test_a_tolerated_move_after_a_real_change_does_not_make_the_next_change_intrinsic(tmp_path,
                                                                                      capsys):
    # decode changed (pixels are exact: a change), preprocess moved within tolerance from those
    # new pixels, inference moved beyond it: the change started at decode, and inference
    # inherited it; the tolerated preprocess in between does not make it inference's own.
    logits = np.linspace(-5, 5, 10, dtype=np.float32).reshape(1, 10)
    source = make_bundle(tmp_path / "x86" / "edge", "edge", PIXELS, TENSOR, logits=logits)
    goldens = tmp_path / "goldens"
    assert cli.main(["golden", "update", source, "--dir", str(goldens)]) == errors.EXIT_PARITY
    pixels = PIXELS.copy()
    pixels[0, 0, 0] ^= 1
    moved = make_bundle(tmp_path / "arm" / "edge", "edge", pixels,
                        np.nextafter(TENSOR, np.float32(np.inf)), "aarch64",
                        logits=logits + np.float32(0.5))
    capsys.readouterr()
    code, report = check(moved, goldens, tmp_path, "--float-tolerance")
    env = report["environments"][0]
    assert code == errors.EXIT_DIVERGENCE and env["first_changed_stage"] == "decode"
    origins = {r["stage"]: r["origin"] for r in env["changed"]}
    assert origins["decode"] == "intrinsic" and origins["infer"] == "inherited", origins
    assert not any(r.get("input_within_tolerance") for r in env["changed"])


def test_a_golden_several_bundles_are_checked_against_is_refreshed_from_one(tmp_path, capsys):
    goldens = golden_of(tmp_path)  # goldens/edge.json
    same = make_bundle(tmp_path / "a" / "edge", "edge", PIXELS, TENSOR)
    moved = make_bundle(tmp_path / "b" / "jetson", "jetson", PIXELS, TENSOR + 1, "aarch64")
    capsys.readouterr()
    assert cli.main(["golden", "check", same, moved, "--dir", str(goldens), "--golden-name",
                     "edge"]) == errors.EXIT_DIVERGENCE
    said = " ".join(capsys.readouterr().out.split())
    # Not "golden update <moved> ... --golden-name edge": that would make `same` fail next.
    assert "refresh the shared golden {} from the one bundle it stands for and commit it: " \
        "edgeparity golden update BUNDLE --dir {} --golden-name edge".format(
            goldens / "edge.json", goldens) in said
    assert cli.main(["golden", "check", same, moved, "--dir", str(goldens), "--golden-name",
                     "other"]) == errors.EXIT_ERROR
    err = capsys.readouterr().err
    assert "no golden for this environment: {}.".format(goldens / "other.json") in err
    for name in ("", "../evil"):
        assert cli.main(["golden", "update", same, "--dir", str(goldens), "--golden-name",
                         name]) == errors.EXIT_ERROR
        assert "--golden-name {!r} cannot be a golden file name".format(name) in \
            capsys.readouterr().err
