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


def make_bundle(path, name, pixels, tensor, arch="x86_64"):
    writer = BundleWriter(str(path))
    decoded = writer.add_array(pixels)
    writer.add_record(dict(output(pixels), key=IMAGE + "|decode=pillow", image=IMAGE,
                           chain="decode=pillow", stage="decode", impl="pillow", mode="e2e",
                           sha256=decoded))
    chain = "decode=pillow>preprocess=pillow"
    writer.add_record(dict(output(tensor), key=IMAGE + "|" + chain, image=IMAGE, chain=chain,
                           stage="preprocess", impl="pillow", mode="e2e", input=decoded,
                           sha256=writer.add_array(tensor)))
    return writer.finish({
        "name": name,
        "images": {IMAGE: {"sha256": "same-bytes"}},
        "pipeline": {"decode": "pillow", "preprocess": "pillow"},
        "implementations": {key: {"status": "available"}
                            for key in ("decode/pillow", "preprocess/pillow")},
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


def test_last_bit_float_changes_pass_only_in_tolerance_mode(tmp_path):
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
    # The CPU change is still reported, as a note.
    assert any(change["what"] == "environment/arch" for change in env["provenance_changes"])


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
