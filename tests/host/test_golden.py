"""The golden gate on real bundles: it fails when a decode really changed, passes when not.

Bundles are captured in this interpreter with the real Pillow (decode + preprocess), from copies
of sample images. A changed decode is produced for real: the same file name re-encoded at another
JPEG quality, or (when the tox envs exist) the same files decoded by Pillow 8.4.0 on IJG libjpeg
9d versus Pillow 8.4.0 on libjpeg-turbo. What changed is checked on the arrays with numpy, not
only through edgeparity's own report.
"""

import json
import os
import shutil

import pytest

from conftest import CANONICAL, SAMPLES, run_capture, tox_python
from edgeparity import bundle, cli, errors

PIL_Image = pytest.importorskip("PIL.Image", reason="the golden tests capture with Pillow")

IMAGES = ("photo-420.jpg", "photo-444.jpg", "photo-grayscale.jpg")


def make_images(folder):
    """A small images folder: three sample JPEGs and the canonical inputs."""
    folder.mkdir()
    for name in IMAGES:
        shutil.copy(os.path.join(SAMPLES, name), str(folder / name))
    shutil.copytree(CANONICAL, str(folder / "canonical"), ignore=shutil.ignore_patterns("*.md"))
    return folder


def capture(images, out, name="edge"):
    from edgeparity.capture import capture as run

    path, counts = run(str(images), str(out), name=name, stages=["decode", "preprocess"],
                       implementations=["decode/pillow", "preprocess/pillow"],
                       pipeline={"decode": "pillow", "preprocess": "pillow"}, quiet=True)
    assert counts["ok"] > 0
    return path


def reencode(path, quality):
    """Replace a JPEG by itself decoded and encoded again: same name, different bytes."""
    with PIL_Image.open(path) as image:
        pixels = image.convert("RGB")
    pixels.save(path, "JPEG", quality=quality)


def decoded(path, image):
    loaded = bundle.load(path)
    return loaded.array(loaded.records["{}|decode=pillow".format(image)]["sha256"])


COMPARE_GOLDEN = ("compare", "--golden")  # the alias
GOLDEN_CHECK = ("golden", "check", "--dir")


def gate(bundle_path, goldens, tmp_path, *extra, command=COMPARE_GOLDEN):
    """Run the gate through the CLI; return (exit code, JSON, Markdown).

    ``command`` is `compare ... --golden DIR` (the alias) or `golden check ... --dir DIR`.
    """
    report_json, report_md = tmp_path / "gate.json", tmp_path / "gate.md"
    for stale in (report_json, report_md):
        if stale.exists():
            stale.unlink()
    name, option = command[:-1], command[-1]
    code = cli.main(list(name) + [bundle_path, option, str(goldens), "--json", str(report_json),
                                  "--md", str(report_md)] + list(extra))
    if not report_json.exists():
        return code, None, None
    return code, json.loads(report_json.read_text()), report_md.read_text()


@pytest.fixture(scope="module")
def golden_setup(tmp_path_factory):
    """Goldens made from one capture, and the images folder they were made from."""
    root = tmp_path_factory.mktemp("golden")
    images = make_images(root / "images")
    first = capture(images, root / "first" / "edge")
    goldens = root / "goldens"
    assert cli.main(["golden", "update", first, "--dir", str(goldens)]) == errors.EXIT_PARITY
    return {"root": root, "images": images, "first": first, "goldens": goldens}


def test_unchanged_bundle_passes_the_gate(golden_setup, tmp_path):
    again = capture(golden_setup["images"], tmp_path / "again" / "edge")
    code, report, md = gate(again, golden_setup["goldens"], tmp_path)
    assert code == errors.EXIT_PARITY
    env = report["environments"][0]
    assert env["verdict"] == "unchanged"
    assert env["counts"]["changed"] == env["counts"]["new"] == env["counts"]["removed"] == 0
    assert env["counts"]["unchanged"] == env["counts"]["records"] > 0
    assert env["provenance_changes"] == []
    assert md.startswith("## ✅ edgeparity golden gate: unchanged")


def test_changed_decode_fails_the_gate_and_names_the_records(golden_setup, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(str(golden_setup["images"]), str(images))
    reencode(str(images / "photo-420.jpg"), quality=60)
    changed = capture(images, tmp_path / "changed" / "edge")
    # Independently of edgeparity's report: the decoded pixels really differ, the rest not.
    assert (decoded(changed, "photo-420.jpg") != decoded(golden_setup["first"],
                                                         "photo-420.jpg")).any()
    assert (decoded(changed, "photo-444.jpg") == decoded(golden_setup["first"],
                                                         "photo-444.jpg")).all()

    code, report, md = gate(changed, golden_setup["goldens"], tmp_path)
    assert code == errors.EXIT_DIVERGENCE
    env = report["environments"][0]
    assert env["verdict"] == "changed"
    assert env["inputs_changed"] == ["photo-420.jpg"]
    assert env["first_changed_stage"] == "decode"
    by_key = {record["key"]: record for record in env["changed"]}
    decode = by_key["photo-420.jpg|decode=pillow"]
    assert decode["origin"] == "input file changed"
    assert decode["max_stats_delta"] > 0
    assert by_key["photo-420.jpg|decode=pillow>preprocess=pillow"]["origin"] == "inherited"
    assert {record["image"] for record in env["changed"]} == {"photo-420.jpg"}
    assert "photo-420.jpg\\|decode=pillow" in md and md.startswith("## ❌")
    assert "edgeparity golden update" in md


def test_golden_check_is_the_same_gate_as_compare_golden(golden_setup, tmp_path, capsys):
    images = tmp_path / "images"
    shutil.copytree(str(golden_setup["images"]), str(images))
    reencode(str(images / "photo-420.jpg"), quality=60)
    changed = capture(images, tmp_path / "changed" / "edge")
    goldens = golden_setup["goldens"]
    for bundle_path, expected in ((golden_setup["first"], errors.EXIT_PARITY),
                                  (changed, errors.EXIT_DIVERGENCE)):
        alias = gate(bundle_path, goldens, tmp_path, "--tolerance", "preprocess:0.5")
        alias_out = capsys.readouterr().out
        check = gate(bundle_path, goldens, tmp_path, "--tolerance", "preprocess:0.5",
                     command=GOLDEN_CHECK)
        assert check[0] == alias[0] == expected
        assert check[1] == alias[1] and check[2] == alias[2]  # same JSON, same Markdown
        assert capsys.readouterr().out == alias_out  # same terminal summary
    assert check[1]["environments"][0]["changed"]

    code = cli.main(["golden", "check", changed, "--dir", str(tmp_path / "no-goldens")])
    assert code == errors.EXIT_ERROR
    error = capsys.readouterr().err
    assert str(tmp_path / "no-goldens" / "edge.json") in error
    assert "edgeparity golden update" in error and "Traceback" not in error


def test_float_change_within_tolerance_is_still_a_change_and_says_how_big(golden_setup,
                                                                          tmp_path):
    images = tmp_path / "images"
    shutil.copytree(str(golden_setup["images"]), str(images))
    reencode(str(images / "photo-444.jpg"), quality=98)
    changed = capture(images, tmp_path / "changed" / "edge")
    code, report, _ = gate(changed, golden_setup["goldens"], tmp_path,
                           "--tolerance", "preprocess:0.5")
    assert code == errors.EXIT_DIVERGENCE
    records = {r["key"]: r for r in report["environments"][0]["changed"]}
    preprocess = records["photo-444.jpg|decode=pillow>preprocess=pillow"]
    assert 0 < preprocess["max_stats_delta"] <= 0.5
    assert preprocess["stats_within_tolerance"] is True
    # Decoded pixels are integers: no tolerance applies to them.
    assert "stats_within_tolerance" not in records["photo-444.jpg|decode=pillow"]


def test_removed_image_fails_the_gate(golden_setup, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(str(golden_setup["images"]), str(images))
    os.remove(str(images / "photo-grayscale.jpg"))
    fewer = capture(images, tmp_path / "fewer" / "edge")
    code, report, _ = gate(fewer, golden_setup["goldens"], tmp_path)
    assert code == errors.EXIT_DIVERGENCE
    env = report["environments"][0]
    assert env["inputs_removed"] == ["photo-grayscale.jpg"]
    assert env["counts"]["changed"] == 0 and env["counts"]["removed"] > 0
    assert {r["image"] for r in env["removed"]} == {"photo-grayscale.jpg"}


def test_missing_golden_is_an_error_naming_the_file_and_the_command(golden_setup, tmp_path,
                                                                    capsys):
    other = capture(golden_setup["images"], tmp_path / "cloud", name="cloud")
    code, report, _ = gate(other, golden_setup["goldens"], tmp_path)
    assert code == errors.EXIT_ERROR and report is None
    error = capsys.readouterr().err
    assert str(golden_setup["goldens"] / "cloud.json") in error
    assert "edgeparity golden update" in error and "Traceback" not in error


def test_damaged_golden_is_an_error(golden_setup, tmp_path, capsys):
    goldens = tmp_path / "goldens"
    shutil.copytree(str(golden_setup["goldens"]), str(goldens))
    path = goldens / "edge.json"
    path.write_text("<<<<<<< HEAD\n" + path.read_text())
    code, _, _ = gate(golden_setup["first"], goldens, tmp_path)
    assert code == errors.EXIT_ERROR
    error = capsys.readouterr().err
    assert str(path) in error and "golden update" in error


def test_golden_files_are_stable_and_diff_friendly(golden_setup, tmp_path):
    again = capture(golden_setup["images"], tmp_path / "elsewhere" / "edge")
    goldens = tmp_path / "goldens"
    assert cli.main(["golden", "update", again, "--dir", str(goldens)]) == errors.EXIT_PARITY
    text = (goldens / "edge.json").read_text()
    # Another capture of the same inputs at another path writes the very same bytes.
    assert text == (golden_setup["goldens"] / "edge.json").read_text()
    golden = json.loads(text)
    record_lines = [line for line in text.splitlines() if line.startswith('  "') and "|" in line]
    assert len(record_lines) == len(golden["records"]) == len(bundle.load(again).records)
    assert str(tmp_path) not in text and str(golden_setup["root"]) not in text
    import PIL

    pillow = golden["implementations"]["decode/pillow"]
    assert pillow["version"] == PIL.__version__
    assert pillow["jpeg_library"]["build"]
    assert "path" not in pillow["jpeg_library"]


def test_other_libjpeg_build_fails_the_gate_and_names_both_libraries(tmp_path):
    """Golden from Pillow 8.4.0 on IJG libjpeg 9d; bundle from Pillow 8.4.0 on libjpeg-turbo."""
    ijg, turbo = tox_python("cloud-mxnet"), tox_python("edge-source")
    extra = ("--stages", "decode,preprocess", "--impl", "pillow")
    golden_bundle = run_capture(ijg, tmp_path / "ijg" / "edge", "edge", "decode=pillow", extra)
    turbo_bundle = run_capture(turbo, tmp_path / "turbo" / "edge", "edge", "decode=pillow", extra)
    goldens = tmp_path / "goldens"
    assert cli.main(["golden", "update", golden_bundle, "--dir", str(goldens)]) == 0
    assert gate(golden_bundle, goldens, tmp_path)[0] == errors.EXIT_PARITY

    code, report, md = gate(turbo_bundle, goldens, tmp_path)
    assert code == errors.EXIT_DIVERGENCE
    env = report["environments"][0]
    assert env["inputs_changed"] == []  # the very same files
    assert env["first_changed_stage"] == "decode"
    decode_changes = [r for r in env["changed"] if r["stage"] == "decode" and r["impl"] == "pillow"]
    assert decode_changes and all(r["origin"] == "intrinsic" for r in decode_changes)
    assert (decoded(golden_bundle, "photo-420.jpg") != decoded(turbo_bundle,
                                                               "photo-420.jpg")).any()
    why = [change["text"] for change in env["provenance_changes"]
           if change["what"] == "jpeg_library"
           and "decode/pillow" in change.get("implementations", [])]
    assert len(why) == 1
    assert "now loads libjpeg-turbo" in why[0] and "golden says IJG libjpeg 9d" in why[0]
    assert why[0] in md
    # Grayscale JPEGs have no chroma to upsample: both libraries agree on them.
    assert "photo-grayscale.jpg|decode=pillow" not in {r["key"] for r in env["changed"]}


def test_shipped_goldens_are_canonical_and_name_matrix_environments():
    """Every committed golden loads, is in the exact form `golden update` writes (so a hand
    edit or a merge shows up here), and belongs to an environment of matrix.toml."""
    from edgeparity.golden import dumps, load

    try:
        import tomllib
    except ImportError:  # Python < 3.11
        tomllib = pytest.importorskip("tomli")
    root = os.path.dirname(SAMPLES)
    with open(os.path.join(root, "matrix.toml"), "rb") as handle:
        matrix = tomllib.load(handle)
    found = 0
    for backend in ("local", "docker"):
        folder = os.path.join(root, "goldens", backend)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".json"):
                continue
            path = os.path.join(folder, name)
            loaded = load(path, "edgeparity golden update")
            with open(path, encoding="utf-8") as handle:
                assert handle.read() == dumps(loaded), path
            assert loaded["name"] + ".json" == name
            assert loaded["name"] in matrix.get(backend, {}), (path, sorted(matrix[backend]))
            found += 1
    if not found:
        pytest.skip("no goldens shipped yet (make goldens)")


def test_verbose_golden_check_lists_whole_record_keys(tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    long_name = "a-folder-of-camera-uploads-from-the-edge-device-number-seven.jpg"
    shutil.copy(os.path.join(SAMPLES, "photo-420.jpg"), str(images / long_name))
    first = capture(images, tmp_path / "first" / "edge")
    goldens = tmp_path / "goldens"
    assert cli.main(["golden", "update", first, "--dir", str(goldens)]) == errors.EXIT_PARITY
    reencode(str(images / long_name), quality=60)
    changed = capture(images, tmp_path / "changed" / "edge")
    capsys.readouterr()
    assert cli.main(["golden", "check", changed, "--dir", str(goldens), "-v"]) == \
        errors.EXIT_DIVERGENCE
    out = capsys.readouterr().out
    # A key cut at 60 characters would name no record.
    assert long_name + "|decode=pillow>preprocess=pillow" in out
