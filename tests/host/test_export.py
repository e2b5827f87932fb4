"""`edgeparity export` and the bundle reading API, on real captures and hand-built bundles.

PNG files are read back with Pillow (an independent decoder), .npy files with numpy; expected
pixels come from the bundle's own arrays or from Pillow decoding the sample JPEG directly.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, SAMPLES, tox_python
from edgeparity import bundle, cli, errors
from edgeparity.bundle import BundleError, BundleWriter

PIL_Image = pytest.importorskip("PIL.Image", reason="PNG files are read back with Pillow")


def read_png(path):
    with PIL_Image.open(str(path)) as image:
        assert image.format == "PNG"
        return np.asarray(image)


def export(*argv):
    return cli.main(["export"] + [str(a) for a in argv])


def test_exported_decoded_image_is_bit_identical_to_the_captured_array(here_bundle, tmp_path):
    out = tmp_path / "photo-444.png"
    assert export(here_bundle, "--image", "photo-444.jpg", "--out", out) == errors.EXIT_PARITY
    captured = bundle.load(here_bundle).output("photo-444.jpg|decode=pillow")
    written = read_png(out)
    assert written.dtype == captured.dtype == np.uint8
    assert written.shape == captured.shape == (400, 600, 3)
    assert np.array_equal(written, captured)
    # And it is the photo: the same interpreter's Pillow decoding the file directly.
    with PIL_Image.open(os.path.join(SAMPLES, "photo-444.jpg")) as image:
        assert np.array_equal(written, np.asarray(image.convert("RGB")))


def test_every_decoded_sample_round_trips_through_png(here_bundle, tmp_path):
    loaded = bundle.load(here_bundle)
    exported = 0
    for record in loaded.find(stage="decode", impl="pillow", mode="e2e"):
        if record["status"] != "ok":
            continue  # e.g. the arithmetic-coded file Pillow refuses
        out = tmp_path / (record["image"] + ".png")
        assert export(here_bundle, "--key", record["key"], "--out", out) == errors.EXIT_PARITY
        assert np.array_equal(read_png(out), loaded.output(record["key"])), record["key"]
        exported += 1
    assert exported >= 10


def test_npy_export_of_any_stage(here_bundle, tmp_path):
    loaded = bundle.load(here_bundle)
    out = tmp_path / "d.npy"
    assert export(here_bundle, "--image", "photo-420.jpg", "--out", out) == 0
    assert np.array_equal(np.load(str(out)), loaded.output("photo-420.jpg|decode=pillow"))
    canonical = next(r for r in loaded.records.values() if r["mode"] == "isolated"
                     and r["status"] == "ok")
    assert export(here_bundle, "--key", canonical["key"], "--out", out) == 0
    saved = np.load(str(out))
    assert saved.dtype == np.dtype(canonical["dtype"]) and list(saved.shape) == canonical["shape"]
    assert np.array_equal(saved, loaded.array(canonical["sha256"]))


def make_bundle(path, name, pixels, tensor):
    writer = BundleWriter(str(path))
    chains = (("decode=pillow", pixels), ("decode=pillow>preprocess=pillow", tensor))
    for chain, array in chains:
        stage, _, impl = chain.split(">")[-1].partition("=")
        writer.add_record({"key": "a.jpg|" + chain, "image": "a.jpg", "chain": chain,
                           "stage": stage, "impl": impl, "mode": "e2e", "status": "ok",
                           "sha256": writer.add_array(array)})
    writer.add_record({"key": "b.jpg|decode=pillow", "image": "b.jpg", "chain": "decode=pillow",
                       "stage": "decode", "impl": "pillow", "mode": "e2e", "status": "error",
                       "error": "OSError: broken data stream"})
    return writer.finish({"name": name,
                          "images": {"a.jpg": {"sha256": "x"}, "b.jpg": {"sha256": "y"}},
                          "pipeline": {"decode": "pillow", "preprocess": "pillow"},
                          "implementations": {"decode/pillow": {"status": "available"},
                                              "preprocess/pillow": {"status": "available"}}})


@pytest.fixture()
def pair(tmp_path):
    rng = np.random.RandomState(5)
    pixels = rng.randint(0, 256, (6, 7, 3)).astype(np.uint8)
    other = pixels.copy()
    other[1, 2, 0] = pixels[1, 2, 0] ^ 1  # one level (or so) at one pixel
    other[4, 5] = 255 - pixels[4, 5]  # a large change at another
    tensor = rng.rand(1, 3, 4, 4).astype(np.float32)
    left = make_bundle(tmp_path / "left", "left", pixels, tensor)
    right = make_bundle(tmp_path / "right", "right", other, tensor * 2)
    return {"left": left, "right": right, "pixels": pixels, "other": other, "tensor": tensor}


def test_difference_between_two_bundles(pair, tmp_path):
    npy, grey, colour = (tmp_path / name for name in ("d.npy", "levels.png", "colour.png"))
    assert export(pair["left"], "--image", "a.jpg", "--diff", pair["right"], "--out", npy) == 0
    expected = pair["other"].astype(np.int16) - pair["pixels"].astype(np.int16)
    saved = np.load(str(npy))
    assert saved.dtype == np.int16 and np.array_equal(saved, expected)

    assert export(pair["left"], "--image", "a.jpg", "--diff", pair["right"], "--levels",
                  "--out", grey) == 0
    assert np.array_equal(read_png(grey), np.abs(expected).max(axis=2).astype(np.uint8))

    assert export(pair["left"], "--image", "a.jpg", "--diff", pair["right"], "--out",
                  colour) == 0
    shown = read_png(colour)
    differs = np.abs(expected).max(axis=2) > 0
    assert shown.shape == (6, 7, 3)
    assert (shown[differs].max(axis=1) > 0).all() and (shown[~differs] == 0).all()

    assert export(pair["left"], "--image", "a.jpg", "--stage", "preprocess", "--diff",
                  pair["right"], "--out", npy) == 0
    assert np.allclose(np.load(str(npy)), pair["tensor"].astype(np.float64))


def test_refusals_say_what_to_do(pair, tmp_path, capsys):
    left = pair["left"]
    assert export(left, "--image", "a.jpg", "--stage", "preprocess", "--out",
                  tmp_path / "t.png") == errors.EXIT_ERROR
    assert "write .npy instead" in capsys.readouterr().err
    assert export(left, "--image", "b.jpg", "--out", tmp_path / "b.png") == errors.EXIT_ERROR
    assert "no output: error there (OSError: broken data stream)" in capsys.readouterr().err
    assert export(left, "--image", "c.jpg", "--out", tmp_path / "c.png") == errors.EXIT_ERROR
    assert "no image 'c.jpg'; it has a.jpg, b.jpg" in capsys.readouterr().err
    assert export(left, "--image", "a.jpg", "--out", tmp_path / "a.tiff") == errors.EXIT_ERROR
    assert "write .png or .npy" in capsys.readouterr().err
    assert not any(name.endswith((".png", ".tiff")) for name in os.listdir(str(tmp_path)))


def test_list_names_every_record(pair, capsys):
    assert export(pair["left"], "--list") == errors.EXIT_PARITY
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["a.jpg|decode=pillow  e2e  uint8 6x7x3",
                     "a.jpg|decode=pillow>preprocess=pillow  e2e  float32 1x3x4x4",
                     "b.jpg|decode=pillow  e2e  error: OSError: broken data stream"]


def test_bundle_reading_api(pair):
    loaded = bundle.load(pair["left"])
    assert loaded.name == "left" and loaded.images == ["a.jpg", "b.jpg"]
    assert sorted(loaded.records) == ["a.jpg|decode=pillow",
                                      "a.jpg|decode=pillow>preprocess=pillow",
                                      "b.jpg|decode=pillow"]
    assert [r["key"] for r in loaded.find(stage="decode")] == ["a.jpg|decode=pillow",
                                                               "b.jpg|decode=pillow"]
    assert [r["key"] for r in loaded.find(image="a.jpg", stage="preprocess")] == [
        "a.jpg|decode=pillow>preprocess=pillow"]
    assert loaded.find(impl="mxnet") == []
    assert np.array_equal(loaded.output("a.jpg|decode=pillow"), pair["pixels"])
    record = loaded.records["a.jpg|decode=pillow"]
    assert np.array_equal(loaded.array(record["sha256"]), pair["pixels"])
    with pytest.raises(BundleError, match="has no output: error there"):
        loaded.output("b.jpg|decode=pillow")
    with pytest.raises(BundleError, match="no record"):
        loaded.output("a.jpg|decode=opencv")


def test_bundle_api_refuses_an_edited_array(pair, tmp_path):
    loaded = bundle.load(pair["left"])
    entry = loaded.manifest["arrays"][loaded.records["a.jpg|decode=pillow"]["sha256"]]
    path = os.path.join(pair["left"], entry["file"])
    with open(path, "r+b") as handle:  # flip the last pixel byte, keep the size
        handle.seek(-1, os.SEEK_END)
        last = handle.read(1)
        handle.seek(-1, os.SEEK_END)
        handle.write(bytes([last[0] ^ 0xFF]))
    with pytest.raises(BundleError, match="does not hold the data"):
        bundle.load(pair["left"]).output("a.jpg|decode=pillow")


def test_diff_of_the_444_photo_between_the_case_environments(case_bundles, tmp_path):
    """IJG libjpeg 9d vs libjpeg-turbo on the 4:4:4 photo: ten pixels, one level each."""
    out = tmp_path / "d.npy"
    assert export(case_bundles["cloud"], "--image", "photo-444.jpg", "--diff",
                  case_bundles["edge"], "--out", out) == errors.EXIT_PARITY
    delta = np.load(str(out))
    cloud = bundle.load(case_bundles["cloud"]).output("photo-444.jpg|decode=pillow")
    edge = bundle.load(case_bundles["edge"]).output("photo-444.jpg|decode=pillow")
    assert np.array_equal(delta, edge.astype(np.int16) - cloud.astype(np.int16))
    assert int((np.abs(delta).max(axis=2) > 0).sum()) == 10 and np.abs(delta).max() == 1


def test_export_leaves_a_neighbouring_tmp_file_alone(pair, tmp_path):
    # The writer's temporary file is its own: a file that happens to be called OUT.tmp (another
    # export's, or the user's) is neither overwritten nor deleted.
    out = tmp_path / "a.png"
    bystander = tmp_path / "a.png.tmp"
    bystander.write_bytes(b"not edgeparity's")
    assert export(pair["left"], "--image", "a.jpg", "--out", out) == errors.EXIT_PARITY
    assert np.array_equal(read_png(out), pair["pixels"])
    assert bystander.read_bytes() == b"not edgeparity's"
    assert sorted(os.listdir(str(tmp_path))) == sorted(["a.png", "a.png.tmp", "left", "right"])


def test_report_writer_leaves_a_neighbouring_tmp_file_alone(pair, tmp_path):
    out = tmp_path / "report.md"
    bystander = tmp_path / "report.md.tmp"
    bystander.write_text("mine")
    cli.main(["compare", pair["left"], pair["right"], "--quiet", "--md", str(out)])
    assert "edgeparity: divergence" in out.read_text() and bystander.read_text() == "mine"


def test_an_unwritable_export_is_one_line_naming_the_file_and_the_fix(pair, tmp_path, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    out = blocker / "a.png"  # its folder is a file: no write can succeed
    assert export(pair["left"], "--image", "a.jpg", "--out", out) == errors.EXIT_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("edgeparity: error: cannot write {}: ".format(
        out))
    # The reason and the fix that fit: not "free space" (it said so for any failure).
    assert err.endswith("{} is a file, not a folder. Choose another path.\n".format(blocker))
    deeper = blocker / "sub" / "a.png"
    assert export(pair["left"], "--image", "a.jpg", "--out", deeper) == errors.EXIT_ERROR
    assert capsys.readouterr().err.endswith(
        "{} is a file, not a folder. Choose another path.\n".format(blocker))
    folder = tmp_path / "folder.png"
    folder.mkdir()
    assert export(pair["left"], "--image", "a.jpg", "--out", folder) == errors.EXIT_ERROR
    assert "it is a folder. Give a file name." in capsys.readouterr().err


def test_concurrent_writes_of_one_file_never_mix(tmp_path):
    # Threads writing the same target at once: each write is whole, the last rename wins, and
    # no temporary file is left behind.
    import threading

    from edgeparity.export import write_bytes

    target = str(tmp_path / "out.npy")
    payloads = [bytes([n]) * (1 << 20) for n in range(8)]
    failures = []

    def write(payload):
        try:
            for _ in range(5):
                write_bytes(target, payload)
        except Exception as exc:  # what a clobbered shared temporary file raises
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(p,)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with open(target, "rb") as handle:
        assert handle.read() in payloads
    assert os.listdir(str(tmp_path)) == ["out.npy"]


def test_list_of_an_unknown_image_says_what_exists(pair, capsys):
    # docs/bundle-api.md: exit 2 with what exists, as for any other unknown image.
    assert export(pair["left"], "--list", "--image", "c.jpg") == errors.EXIT_ERROR
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no image 'c.jpg'; it has a.jpg, b.jpg" in captured.err
    assert export(pair["left"], "--list", "--image", "b.jpg") == errors.EXIT_PARITY
    assert capsys.readouterr().out.splitlines() == [
        "b.jpg|decode=pillow  e2e  error: OSError: broken data stream"]


def test_list_of_a_canonical_input_names_its_records(here_bundle, capsys):
    # Records of isolated runs carry the canonical input's name as their image: listable too.
    loaded = bundle.load(here_bundle)
    canonical = sorted({r["image"] for r in loaded.records.values()} - set(loaded.images))
    assert canonical and all(name.startswith(("canonical:", "probe:")) for name in canonical)
    assert export(here_bundle, "--list", "--image", canonical[0]) == errors.EXIT_PARITY
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(line.startswith(canonical[0] + "|") for line in lines)


def test_outputs_of_a_file_cut_short_are_flagged(tmp_path, capsys):
    """MXNet fills in what a cut-short JPEG lacks: --list and export say so for its outputs
    (and only for them), so an exported PNG is not taken for the image."""
    cloud = tox_python("cloud-mxnet")
    images = tmp_path / "images"
    images.mkdir()
    with open(os.path.join(SAMPLES, "photo-420.jpg"), "rb") as handle:
        (images / "cut.jpg").write_bytes(handle.read()[:60000])  # of 72,326 bytes
    with open(os.path.join(SAMPLES, "photo-444.jpg"), "rb") as handle:
        (images / "whole.jpg").write_bytes(handle.read())
    out = tmp_path / "b"
    subprocess.run([cloud, "-m", "edgeparity", "capture", "--images", str(images), "--out",
                    str(out), "--impl", "mxnet", "-q"], check=True, stderr=subprocess.PIPE,
                   env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src")))
    assert export(out, "--list") == errors.EXIT_PARITY
    lines = capsys.readouterr().out.splitlines()
    flagged = [line for line in lines if "from a file cut short" in line]
    assert flagged and all(line.startswith("cut.jpg|") for line in flagged)
    assert any(line.startswith("cut.jpg|decode=mxnet ") and "uint8" in line for line in flagged)
    assert not any("cut short" in line for line in lines if line.startswith("whole.jpg|"))
    mxnet = "{}@decode=mxnet".format(out)
    assert export(mxnet, "--image", "cut.jpg", "--out", tmp_path / "cut.png") == errors.EXIT_PARITY
    said = capsys.readouterr().out
    assert "note: cut.jpg: from a file cut short: the decoder filled in what is missing" in said
    assert export(mxnet, "--image", "whole.jpg", "--out", tmp_path / "w.png") == errors.EXIT_PARITY
    assert "note:" not in capsys.readouterr().out


def test_a_stage_the_capture_never_ran_is_said_as_such(tmp_path, capsys):
    """A bundle captured with --impl pillow ran no runtime: export of its infer output says
    so (it named a record 'photo.jpg|...>infer=?' and asked if the pipeline was captured)."""
    from conftest import PHOTOS, run_capture

    partial = run_capture(sys.executable, tmp_path / "partial", "partial", "decode=pillow",
                          extra=["--impl", "pillow"])
    image = sorted(n for n in os.listdir(PHOTOS) if n.endswith(".jpg"))[0]
    assert cli.main(["export", partial, "--image", image, "--stage", "infer", "--out",
                     str(tmp_path / "x.npy")]) == errors.EXIT_ERROR
    assert "{}: no infer output: it ran no infer implementation (its capture asked only for " \
        "--impl pillow)".format(partial) in capsys.readouterr().err
