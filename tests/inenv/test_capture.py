"""Capture: records per image x stage x implementation, errors kept, interruption handled."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from edgeparity import bundle
from edgeparity.capture import capture, probe_inputs

pytest.importorskip("PIL", reason="Pillow is not installed in this environment")

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")


def test_capture_records_every_image_and_keeps_going_after_a_corrupt_one(small_images, tmp_path):
    path, counts = capture(
        str(small_images),
        str(tmp_path / "b"),
        name="here",
        implementations=["pillow", "pillow-exif"],
        quiet=True,
    )
    loaded = bundle.load(path)
    records = loaded.records
    assert loaded.name == "here"
    good = ["photo-420.jpg", "photo-444.jpg", "photo-grayscale.jpg", "photo-exif-orientation6.jpg"]
    for image in good:
        record = records[image + "|decode=pillow"]
        assert record["status"] == "ok"
        assert record["dtype"] == "|u1" and record["shape"][2] == 3
        pre = records[image + "|decode=pillow>preprocess=pillow"]
        assert pre["shape"] == [1, 3, 224, 224] and pre["dtype"] == "<f4"
    broken = records["truncated.jpg|decode=pillow"]
    assert broken["status"] == "error" and broken["error"]
    assert counts["error"] >= 1
    # The orientation-6 photo is stored sideways; only the EXIF-aware decoder turns it upright.
    plain = records["photo-exif-orientation6.jpg|decode=pillow"]["shape"]
    upright = records["photo-exif-orientation6.jpg|decode=pillow-exif"]["shape"]
    assert plain[:2] == upright[:2][::-1]


def test_isolated_runs_use_the_canonical_bytes(small_images, tmp_path):
    path, _ = capture(
        str(small_images),
        str(tmp_path / "b"),
        stages=["preprocess"],
        implementations=["pillow"],
        quiet=True,
    )
    loaded = bundle.load(path)
    isolated = [r for r in loaded.records.values() if r["mode"] == "isolated"]
    names = sorted(
        n[:-4] for n in os.listdir(str(small_images / "canonical")) if n.startswith("decoded-")
    )
    assert sorted(r["image"] for r in isolated) == ["canonical:" + n for n in names]
    for record in isolated:
        source = np.load(str(small_images / "canonical" / (record["image"][10:] + ".npy")))
        assert record["input"] == bundle.array_digest(source)
    # No e2e runs when decode is not selected.
    assert not [r for r in loaded.records.values() if r["mode"] == "e2e"]


def _isolated_inputs(images, out, canonical_dir=None):
    """(manifest's canonical_source, sorted isolated input labels) of a preprocess capture."""
    path, _ = capture(str(images), str(out), stages=["preprocess"], implementations=["pillow"],
                      canonical_dir=canonical_dir, quiet=True)
    loaded = bundle.load(path)
    labels = sorted(r["image"] for r in loaded.records.values() if r["mode"] == "isolated")
    return loaded.manifest["canonical_source"], labels


def test_canonical_inputs_come_from_option_then_images_folder_then_the_package(small_images,
                                                                               tmp_path):
    packaged = os.path.join(os.path.dirname(os.path.abspath(SRC)), "src", "edgeparity",
                            "canonical")
    shipped = sorted("canonical:" + n[:-4] for n in os.listdir(packaged)
                     if n.startswith("decoded-"))
    beside = small_images / "canonical"
    # IMAGES/canonical holding inputs wins over the package: drop one to tell them apart.
    (beside / "decoded-photo-444.npy").unlink()
    source, labels = _isolated_inputs(small_images, tmp_path / "a")
    assert source["origin"] == "images" and source["location"] == str(beside)
    assert labels == [n for n in shipped if n != "canonical:decoded-photo-444"]

    # --canonical wins over both.
    own = tmp_path / "own"
    own.mkdir()
    np.save(str(own / "decoded-mine.npy"), np.zeros((8, 8, 3), np.uint8), allow_pickle=False)
    source, labels = _isolated_inputs(small_images, tmp_path / "b", canonical_dir=str(own))
    assert (source["origin"], source["location"], source["files"]) == (
        "option", str(own), ["decoded-mine.npy"])
    assert labels == ["canonical:decoded-mine"]

    # An IMAGES/canonical without inputs does not switch isolation off: the package's set runs.
    for name in os.listdir(str(beside)):
        (beside / name).unlink()
    source, labels = _isolated_inputs(small_images, tmp_path / "c")
    assert source["origin"] == "packaged"
    assert os.path.realpath(source["location"]) == os.path.realpath(packaged)
    assert labels == shipped


def test_the_no_canonical_note_says_what_was_looked_at(small_images, tmp_path, capsys,
                                                        monkeypatch):
    from edgeparity import inputs

    for name in os.listdir(str(small_images / "canonical")):
        (small_images / "canonical" / name).unlink()
    empty = tmp_path / "empty"
    empty.mkdir()
    capture(str(small_images), str(tmp_path / "a"), stages=["preprocess"],
            implementations=["pillow"], canonical_dir=str(empty))
    note = " ".join(capsys.readouterr().err.split())
    assert ("edgeparity: note: no canonical inputs in {} (decoded-*.npy, preprocessed-*.npy): "
            "compare will not be able to tell intrinsic from inherited divergences. Leave out "
            "--canonical to use the set shipped with edgeparity, or put inputs there; any fixed "
            "arrays work, as long as every environment gets the same bytes.".format(empty)
            ) in note

    # No --canonical, nothing beside the images, no shipped set: never "leave out --canonical".
    monkeypatch.setattr(inputs, "PACKAGED_CANONICAL", "no-such-folder")
    capture(str(small_images), str(tmp_path / "b"), stages=["preprocess"],
            implementations=["pillow"])
    note = " ".join(capsys.readouterr().err.split())
    assert "--canonical to use" not in note
    assert ("no canonical inputs in {} (decoded-*.npy, preprocessed-*.npy): compare will not "
            "be able to tell intrinsic from inherited divergences. This edgeparity ships no "
            "canonical set here (its canonical/ folder is missing or empty): pass --canonical "
            "DIR, or put inputs in IMAGES/canonical; any fixed arrays work, as long as every "
            "environment gets the same bytes.".format(
                os.path.join(os.path.dirname(inputs.__file__), "no-such-folder"))) in note


def test_an_impl_naming_no_implementation_of_a_stage_is_said(small_images, tmp_path, capsys):
    # --impl pillow over every stage has nothing for infer: said, not silently left out.
    capture(str(small_images), str(tmp_path / "a"), implementations=["pillow"])
    note = " ".join(capsys.readouterr().err.split())
    assert ("edgeparity: note: --impl pillow names no infer implementation: that stage is not "
            "captured") in note
    capture(str(small_images), str(tmp_path / "b"), stages=["decode", "preprocess"],
            implementations=["pillow"])
    assert "names no" not in capsys.readouterr().err  # both asked-for stages have one
    capture(str(small_images), str(tmp_path / "c"), implementations=["pillow"], quiet=True)
    assert "names no infer implementation" in capsys.readouterr().err  # -q: no progress only
    # The manifest keeps what was asked for: a compare can then say which option left it out.
    assert bundle.load(str(tmp_path / "b")).manifest["selection"] == {
        "stages": ["decode", "preprocess"], "implementations": ["pillow"]}
    assert bundle.load(str(tmp_path / "c")).manifest["selection"] == {
        "stages": None, "implementations": ["pillow"]}


def test_probe_inputs_are_the_cases_ones_and_seeded_noise():
    probes = probe_inputs()
    assert probes["ones"].shape == (1, 3, 224, 224) and (probes["ones"] == 1).all()
    noise = probes["noise"]
    assert noise.dtype == np.float32 and 0 <= noise.min() and noise.max() < 1
    again = np.random.RandomState(0).uniform(0, 1, (1, 3, 224, 224)).astype(np.float32)
    assert (noise == again).all()


def test_unknown_implementation_and_missing_folder_are_usage_errors(small_images, tmp_path):
    with pytest.raises(ValueError, match="unknown implementation 'pilow'"):
        capture(str(small_images), str(tmp_path / "b"), implementations=["pilow"], quiet=True)
    with pytest.raises(ValueError, match="no such images directory"):
        capture(str(tmp_path / "absent"), str(tmp_path / "b"), quiet=True)
    with pytest.raises(ValueError, match=r"photo-420\.jpg: a file, not a folder\. Point --images"):
        capture(str(small_images / "photo-420.jpg"), str(tmp_path / "b"), quiet=True)
    assert not os.path.exists(str(tmp_path / "b"))


def _start_long_capture(images, out):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(SRC))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgeparity",
            "capture",
            "--images",
            str(images),
            "--out",
            str(out),
            "--impl",
            "pillow",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )


def _many_images(tmp_path, count=60):
    import shutil

    folder = tmp_path / "many"
    folder.mkdir()
    source = os.path.join(os.path.dirname(__file__), "..", "..", "sample-images", "photo-420.jpg")
    for index in range(count):
        shutil.copy(source, str(folder / "img{:03d}.jpg".format(index)))
    return folder


def _wait_for_progress(process):
    # Wait for the first per-image progress line ("capture: 1/60 ..."), not the line saying
    # what is being loaded: then images are being captured.
    progress = re.compile(rb"^capture: \d+/\d+")
    line = process.stderr.readline()
    while line and not progress.match(line):
        line = process.stderr.readline()
    assert progress.match(line), line


def test_killed_capture_leaves_nothing_compare_would_accept(tmp_path):
    process = _start_long_capture(_many_images(tmp_path), tmp_path / "out")
    _wait_for_progress(process)
    process.kill()
    process.wait()
    assert not os.path.exists(str(tmp_path / "out"))
    leftovers = [n for n in os.listdir(str(tmp_path)) if n.startswith(".out.partial-")]
    assert leftovers
    with pytest.raises(bundle.BundleError, match="not a complete bundle"):
        bundle.load(str(tmp_path / leftovers[0]))


def test_sigterm_keeps_captured_records_marked_incomplete(tmp_path):
    process = _start_long_capture(_many_images(tmp_path, 200), tmp_path / "out")
    _wait_for_progress(process)
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert b"interrupted" in stderr
    assert not os.path.exists(str(tmp_path / "out"))
    kept = str(tmp_path / "out.interrupted")
    with open(os.path.join(kept, "manifest.json")) as handle:
        manifest = json.load(handle)
    assert manifest["complete"] is False and manifest["records"]
    with pytest.raises(bundle.BundleError, match="incomplete"):
        bundle.load(kept)


def _same_apart_from_timings(path):
    with open(os.path.join(path, "manifest.json")) as handle:
        manifest = json.load(handle)
    for key in ("name", "created", "finished", "index_sha256", "provenance"):
        manifest.pop(key, None)
    for record in manifest["records"]:
        record.pop("seconds", None)
    return manifest


def test_an_interrupted_capture_resumes_into_the_uninterrupted_bundle(tmp_path):
    """SIGTERM partway, one finished image changed since, then the same capture with
    --resume: the unchanged finished images are carried over, the rest captured, and the
    bundle is the one a capture without a break writes (apart from timings); the kept
    records are removed. Resuming with other options is refused and keeps them."""
    import shutil

    images = _many_images(tmp_path, 200)
    shutil.copy(os.path.join(os.path.dirname(__file__), "..", "..", "sample-images",
                             "camera-canon-s40.jpg"), str(images / "camera.jpg"))
    process = _start_long_capture(images, tmp_path / "out")
    _wait_for_progress(process)
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and b"--resume" in stderr, stderr
    kept = str(tmp_path / "out.interrupted")
    with open(os.path.join(kept, "manifest.json")) as handle:
        finished = sorted(json.load(handle)["images"])
    assert finished, "the capture was stopped before it finished an image"
    with open(str(images / finished[0]), "ab") as handle:
        handle.write(b"appended after the end of the image")  # changed: captured again

    env = dict(os.environ, PYTHONPATH=os.path.abspath(SRC))
    command = [sys.executable, "-m", "edgeparity", "capture", "--images", str(images),
               "--impl", "pillow"]
    other = subprocess.run(command + ["--out", str(tmp_path / "out"), "--resume", "--stages",
                                      "decode", "--max-megapixels", "50"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                           universal_newlines=True)
    # Every option that differs, said as the option; not what follows from them.
    assert other.returncode == 2 and "was captured with other settings (--stages differ: not " \
        "given vs decode; --max-megapixels differ: 64 vs 50): resume" in other.stderr, \
        other.stderr
    elsewhere = subprocess.run(  # a mistyped folder would carry nothing and replace the rest
        [sys.executable, "-m", "edgeparity", "capture", "--images", str(tmp_path),
         "--impl", "pillow", "--out", str(tmp_path / "out"), "--resume"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, universal_newlines=True)
    assert elsewhere.returncode == 2 and "images folder (--images) differ" in elsewhere.stderr
    assert os.path.isdir(kept)

    resumed = subprocess.run(command + ["--out", str(tmp_path / "out"), "--resume"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                             universal_newlines=True)
    assert resumed.returncode == 0, resumed.stderr
    carried = re.search(r"resuming .*: (\d+) of 201 images carried over", resumed.stderr)
    assert carried and int(carried.group(1)) == len(finished) - 1, resumed.stderr
    assert not os.path.exists(kept)
    whole = subprocess.run(command + ["--out", str(tmp_path / "whole"), "-q"], env=env)
    assert whole.returncode == 0
    assert _same_apart_from_timings(str(tmp_path / "out")) == _same_apart_from_timings(
        str(tmp_path / "whole"))
    bundle.load(str(tmp_path / "out"), verify=True)


def test_resume_without_an_interrupted_capture_says_so(small_images, tmp_path, capsys):
    from edgeparity import cli, errors

    out = str(tmp_path / "b")
    assert cli.main(["capture", "--images", str(small_images), "--out", out, "--resume",
                     "-q"]) == errors.EXIT_ERROR
    assert "--resume: nothing to resume: {}.interrupted does not exist".format(out) in \
        capsys.readouterr().err
    assert not os.path.exists(out)


def test_missing_model_is_refused_before_anything_is_captured(small_images, tmp_path, capsys):
    from edgeparity import cli, errors

    code = cli.main(
        [
            "capture",
            "--images",
            str(small_images),
            "--out",
            str(tmp_path / "b"),
            "--model",
            str(tmp_path / "typo.onnx"),
        ]
    )
    assert code == errors.EXIT_ERROR
    err = capsys.readouterr().err
    assert "typo.onnx" in err and "does not exist" in err
    assert not os.path.exists(str(tmp_path / "b"))


def test_out_never_replaces_something_that_is_not_a_bundle(small_images, tmp_path, capsys):
    from edgeparity import cli, errors

    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "notes.md").write_text("keep me")
    for out in (str(precious), str(small_images)):
        code = cli.main(["capture", "--images", str(small_images), "--out", out, "-q",
                         "--impl", "pillow"])
        assert code == errors.EXIT_ERROR
        assert "is not an edgeparity bundle; refusing to replace it" in capsys.readouterr().err
    assert (precious / "notes.md").read_text() == "keep me"
    assert (small_images / "photo-420.jpg").exists()
    # ...while an older bundle is replaced as promised.
    bundle_path = str(tmp_path / "b")
    for _ in range(2):
        assert cli.main(["capture", "--images", str(small_images), "--out", bundle_path, "-q",
                         "--impl", "pillow"]) == errors.EXIT_PARITY


def test_bad_capture_options_are_refused_before_capturing(small_images, tmp_path, capsys):
    from edgeparity import cli, errors

    base = ["capture", "--images", str(small_images), "--out", str(tmp_path / "b")]
    assert cli.main(base + ["--pipeline", "decode=pilow"]) == errors.EXIT_ERROR
    assert cli.main(base + ["--input-shape", "1,3,224"]) == errors.EXIT_ERROR
    assert cli.main(base + ["--canonical", str(tmp_path / "nowhere")]) == errors.EXIT_ERROR
    err = capsys.readouterr().err
    assert "no decode implementation 'pilow'" in err
    assert "four positive integers" in err and "no such folder" in err
    assert not os.path.exists(str(tmp_path / "b"))


def test_decode_errors_name_the_file(small_images, tmp_path):
    path, _ = capture(str(small_images), str(tmp_path / "b"), implementations=["pillow"],
                      quiet=True)
    (small_images / "empty.jpg").write_bytes(b"")
    path, _ = capture(str(small_images), str(tmp_path / "b"), implementations=["pillow"],
                      quiet=True)
    error = bundle.load(path).records["empty.jpg|decode=pillow"]["error"]
    assert error == "EmptyFile: the file is empty (0 bytes)"
    (small_images / "empty.jpg").write_bytes(b"not an image")
    path, _ = capture(str(small_images), str(tmp_path / "b"), implementations=["pillow"],
                      quiet=True)
    error = bundle.load(path).records["empty.jpg|decode=pillow"]["error"]
    assert "empty.jpg" in error and "BytesIO" not in error


def test_an_error_message_is_the_line_that_says_what_failed():
    from edgeparity.session import error_text

    class MXNetError(Exception):
        pass

    # MXNet's own layout of a decode failure: the C++ traceback first, the message last.
    cpp = MXNetError('Traceback (most recent call last):\n  File "../src/io/image_io.cc", line '
                     '146\nMXNetError: Check failed: !res.empty(): Decoding failed. Invalid '
                     'image file.')
    assert error_text(cpp) == ("MXNetError: Check failed: !res.empty(): Decoding failed. "
                               "Invalid image file.")
    assert error_text(OSError("broken data stream\nmore")) == "OSError: broken data stream"
    assert error_text(ValueError()) == "ValueError"


def test_an_opencv_error_is_named_by_its_module():
    cv2 = pytest.importorskip("cv2", reason="OpenCV is not installed in this environment")
    from edgeparity.session import error_text

    with pytest.raises(cv2.error) as raised:
        cv2.imdecode(np.zeros(0, np.uint8), cv2.IMREAD_COLOR)
    # Its type is called "error": "error: OpenCV(...)" said nothing of where it came from.
    assert error_text(raised.value).startswith("cv2.error: OpenCV(")


def test_a_real_mxnet_decode_failure_is_recorded_by_its_message(tmp_path):
    pytest.importorskip("mxnet", reason="MXNet is not installed in this environment")
    images = tmp_path / "images"
    images.mkdir()
    (images / "garbage.jpg").write_bytes(b"\xff\xd8 this is no JPEG")
    path, _ = capture(str(images), str(tmp_path / "b"), implementations=["mxnet"],
                      stages=["decode"], quiet=True)
    error = bundle.load(path).records["garbage.jpg|decode=mxnet"]["error"]
    assert error.startswith("MXNetError: ") and "Traceback" not in error


def test_pipeline_only_follows_the_declared_chain_but_keeps_every_decoder(small_images,
                                                                          tmp_path):
    path, _ = capture(str(small_images), str(tmp_path / "b"), quiet=True, pipeline_only=True,
                      pipeline={"decode": "pillow", "preprocess": "pillow"},
                      implementations=["pillow", "pillow-exif"])
    chains = {r["chain"] for r in bundle.load(path).records.values() if r["mode"] == "e2e"}
    assert {"decode=pillow", "decode=pillow-exif", "decode=pillow>preprocess=pillow"} <= chains
    assert "decode=pillow-exif>preprocess=pillow" not in chains


@pytest.mark.parametrize("version, refused", [
    (None, "and this Python has none"), ("1.10.4", "has numpy 1.10.4"),
    ("1.9.0rc1", "has numpy 1.9.0rc1"), ("1.11.3", None), ("1.13.3", None), ("1.19.5", None),
    ("2.4.6", None), ("1.26.0.dev0+1234", None),
])
def test_numpy_older_than_the_measured_minimum_is_refused_with_what_to_do(version, refused):
    from edgeparity.cli.options import MIN_NUMPY, numpy_problem, numpy_version

    assert MIN_NUMPY == (1, 11)
    problem = numpy_problem(version)
    if refused is None:
        assert problem is None
    else:
        assert refused in problem and "needs numpy >= 1.11" in problem
        assert ("-m pip install numpy" if version is None else "-m pip install --upgrade numpy"
                ) in problem
    assert numpy_problem(numpy_version()) is None  # this environment's numpy runs capture
    broken = numpy_problem(None, "RuntimeError: boom")
    assert "numpy fails to import (RuntimeError: boom)" in broken
    assert "-m pip install --force-reinstall numpy" in broken


def test_numpy_version_read_from_its_metadata_matches_numpy():
    import numpy

    from edgeparity.cli.options import numpy_version

    assert numpy_version() == numpy_version(load=False) == numpy.__version__


@pytest.mark.parametrize("metadata, expected", [
    (["numpy-1.13.3-py3.6.egg-info"], "1.13.3"),  # Debian/Ubuntu's python3-numpy
    (["numpy-2.4.6.dist-info"], "2.4.6"),
    (["numpy-1.19.5.dist-info", "numpy-1.11.3.dist-info"], "1.9.1"),  # ambiguous: asks numpy
    ([], "1.9.1"),  # a source checkout: asks numpy
])
def test_numpy_version_falls_back_to_numpy_itself_unless_one_metadata_folder_names_it(
        tmp_path, metadata, expected):
    # A folder on sys.path ahead of the real numpy, holding a package named numpy that says
    # it is 1.9.1: what the version check reads is what a user's interpreter would import.
    (tmp_path / "numpy").mkdir()
    (tmp_path / "numpy" / "__init__.py").write_text("__version__ = '1.9.1'\n")
    for name in metadata:
        (tmp_path / name).mkdir()
    src = os.path.dirname(os.path.dirname(os.path.dirname(bundle.__file__)))  # above edgeparity/
    found = subprocess.run(
        [sys.executable, "-c", "from edgeparity.cli.options import numpy_version as v; "
         "print(v(load=False), v())"],
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), src])),
        stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.strip()
    assert found == "{} 1.9.1".format(expected)  # importing it: what numpy itself says


@pytest.mark.parametrize("error", [
    "ImportError('broken build')", "RuntimeError('broken build')",
    # numpy's own message: a banner of advice, the cause on its "Original error was:" line
    "ImportError('\\n\\nIMPORTANT: PLEASE READ THIS FOR ADVICE\\n...\\n"
    "Original error was: broken build\\n')"])
def test_capture_with_a_numpy_that_fails_to_import_says_so_in_one_line(tmp_path, error):
    # Its metadata folder says 2.4.6, but the package itself cannot be imported: capture needs
    # numpy at once, so it imports it to check it instead of trusting the metadata.
    (tmp_path / "numpy").mkdir()
    (tmp_path / "numpy" / "__init__.py").write_text("raise {}\n".format(error))
    (tmp_path / "numpy-2.4.6.dist-info").mkdir()
    src = os.path.dirname(os.path.dirname(os.path.dirname(bundle.__file__)))
    result = subprocess.run(
        [sys.executable, "-m", "edgeparity", "capture", "--images", str(tmp_path),
         "--out", str(tmp_path / "out")],
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), src])),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert result.returncode == 2
    assert result.stderr.startswith("edgeparity: error: edgeparity needs numpy >= 1.11; this "
                                    "Python's numpy fails to import ({}: broken build)".format(
                                        error.split("(")[0]))
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_the_capture_summary_names_the_images_with_errors_even_when_quiet(small_images,
                                                                          tmp_path, capsys):
    """On a large set the per-image notes scroll by (and -q hides them): the end says which
    files failed and why, the first three of them."""
    from edgeparity import cli, errors

    (small_images / "empty.jpg").write_bytes(b"")
    assert cli.main(["capture", "--images", str(small_images), "--out", str(tmp_path / "b"),
                     "--impl", "pillow", "--stages", "decode", "-q"]) == errors.EXIT_PARITY
    err = " ".join(capsys.readouterr().err.split())
    assert ("errors recorded for 2 images: empty.jpg (decode=pillow: EmptyFile: the file is "
            "empty (0 bytes)); truncated.jpg (decode=pillow: OSError: image file is truncated")\
        in err, err
    for index in range(3):  # more than three: the rest are counted, and where to list them
        (small_images / "empty{}.jpg".format(index)).write_bytes(b"")
    out = str(tmp_path / "more")
    assert cli.main(["capture", "--images", str(small_images), "--out", out, "--impl", "pillow",
                     "--stages", "decode", "-q"]) == errors.EXIT_PARITY
    assert "; and 2 more (all are in {}/manifest.json: files not read under \"images\", " \
        "failed outputs under \"records\"; a compare's --json lists them too)".format(out) in \
        capsys.readouterr().err


def _stop_at_call(monkeypatch, owner, name, count):
    """Ctrl-C at the ``count``-th call of ``owner.name`` (1-based): an interruption at an exact
    point of a real capture, instead of a signal at a moment left to chance."""
    original = getattr(owner, name)
    calls = []

    def stopping(*args, **kwargs):
        calls.append(None)
        if len(calls) == count:
            raise KeyboardInterrupt("stopped by the test")
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, stopping)


def _interrupted_at(monkeypatch, call, images, out, **options):
    """A capture of ``images`` to ``out`` stopped by Ctrl-C at its ``call``-th image."""
    from edgeparity.session import Session

    with monkeypatch.context() as patch:
        _stop_at_call(patch, Session, "run_file", call)
        with pytest.raises(KeyboardInterrupt) as stop:
            capture(images, out, **options)
    return str(stop.value)


def _kept_images(path):
    with open(os.path.join(path, "manifest.json")) as handle:
        manifest = json.load(handle)
    return sorted(manifest["images"]), sorted(record["key"] for record in manifest["records"])


def test_a_resume_stopped_while_carrying_over_or_loading_loses_nothing_kept(
        small_images, tmp_path, monkeypatch):
    """Ctrl-C while a resume loads its implementations, or in the middle of carrying the kept
    records over, leaves them exactly as they were (failed images, which are not carried,
    included). Resumed once more, the bundle is the uninterrupted one."""
    import shutil

    from edgeparity.resume import Carried
    from edgeparity.session import Session
    for index in range(6):
        shutil.copy(str(small_images / "photo-420.jpg"), str(small_images / "z{}.jpg".format(
            index)))
    out = str(tmp_path / "b")
    options = dict(implementations=["pillow"], quiet=True, jobs=1)
    _interrupted_at(monkeypatch, 8, str(small_images), out, **options)
    kept = out + ".interrupted"
    before = _kept_images(kept)
    assert len(before[0]) == 7
    with open(os.path.join(kept, "manifest.json"), "rb") as handle:
        kept_bytes = handle.read()

    for owner, name, call in ((Session, "__init__", 1), (Carried, "carry", 4)):
        # Stopped while loading, then partway through carrying over.
        with monkeypatch.context() as patch:
            _stop_at_call(patch, owner, name, call)
            with pytest.raises(KeyboardInterrupt, match="before it resumed"):
                capture(str(small_images), out, resume=True, **options)
        with open(os.path.join(kept, "manifest.json"), "rb") as handle:
            assert handle.read() == kept_bytes, name
    bundle.load(kept, interrupted_ok=True, verify=True)
    assert any(key.startswith("truncated.jpg|") for key in before[1])  # a failed image kept

    capture(str(small_images), out, resume=True, **options)
    capture(str(small_images), str(tmp_path / "whole"), **options)
    assert _same_apart_from_timings(out) == _same_apart_from_timings(str(tmp_path / "whole"))
    assert not os.path.exists(kept)


def test_a_resume_captures_again_the_images_whose_kept_arrays_are_gone(
        small_images, tmp_path, monkeypatch, capsys):
    """An array file of the kept records deleted (to free space) or cut short: only the images
    that need it are captured again, said by name; the rest is carried over and the bundle is
    the uninterrupted one (it refused the whole resume)."""

    out = str(tmp_path / "b")
    options = dict(implementations=["pillow"], stages=["decode"], jobs=1)
    _interrupted_at(monkeypatch, 5, str(small_images), out, quiet=True, **options)
    kept = out + ".interrupted"
    with open(os.path.join(kept, "manifest.json")) as handle:
        manifest = json.load(handle)
    files = {}
    for record in manifest["records"]:
        if record["status"] == "ok" and record["image"] in manifest["images"]:
            files.setdefault(record["image"], manifest["arrays"][record["sha256"]]["file"])
    assert len(files) >= 3, files
    gone, cut = sorted(files)[:2]
    os.remove(os.path.join(kept, files[gone]))
    with open(os.path.join(kept, files[cut]), "r+b") as handle:
        handle.truncate(os.path.getsize(os.path.join(kept, files[cut])) - 64)  # a header's size
    capsys.readouterr()
    capture(str(small_images), out, resume=True, quiet=False, **options)
    said = capsys.readouterr().err
    assert "{} of {} images carried over".format(len(files) - 2, len(os.listdir(
        str(small_images))) - 1) in said, said  # the canonical/ folder is no image
    assert "; 2 of the finished ones lost array files, captured again ({}, {})".format(
        gone, cut) in said, said
    capture(str(small_images), str(tmp_path / "whole"), quiet=True, **options)
    assert _same_apart_from_timings(out) == _same_apart_from_timings(str(tmp_path / "whole"))
    bundle.load(out, verify=True)


def test_resume_refuses_a_model_file_replaced_since_and_takes_a_tuple_option(
        small_images, tmp_path, monkeypatch):
    """The same model path holding another export (same version of everything else) is
    another setup: refused, the kept records untouched. An --input-shape (a tuple here, a
    list once written) is the same setup."""
    pytest.importorskip("onnxruntime", reason="ONNX Runtime is not installed here")
    onnx = pytest.importorskip("onnx", reason="the onnx package is not installed here")
    import shutil

    from edgeparity.errors import UserError

    model = str(tmp_path / "model.onnx")
    shutil.copy(os.path.join(SRC, "edgeparity", "demo_model", "demo.onnx"), model)
    out = str(tmp_path / "b")
    options = dict(implementations=["pillow", "onnxruntime"], quiet=True, jobs=1,
                   options={"model": model, "input_shape": (1, 3, 224, 224)})
    _interrupted_at(monkeypatch, 3, str(small_images), out, **options)
    with open(out + ".interrupted/manifest.json", "rb") as handle:
        kept_bytes = handle.read()
    exported = onnx.load(model)
    exported.doc_string = "the same graph, exported again"
    onnx.save(exported, model)
    with pytest.raises(UserError, match="infer/onnxruntime differ"):
        capture(str(small_images), out, resume=True, **options)
    with open(out + ".interrupted/manifest.json", "rb") as handle:
        assert handle.read() == kept_bytes
    shutil.copy(os.path.join(SRC, "edgeparity", "demo_model", "demo.onnx"), model)
    path, _ = capture(str(small_images), out, resume=True, **options)
    assert path == os.path.abspath(out)


def test_a_capture_without_resume_stopped_in_its_turn_keeps_whichever_finished_more(
        small_images, tmp_path, monkeypatch):
    """OUT.interrupted holds 3 finished images; the same capture run without --resume (the
    user forgot it) is stopped after 1: the earlier records stay byte for byte and it says so
    (they were replaced by fewer). Stopped after more images than kept, it replaces them."""

    out = str(tmp_path / "b")
    options = dict(implementations=["pillow"], stages=["decode"], jobs=1, quiet=True)

    def stopped_at(call):
        return _interrupted_at(monkeypatch, call, str(small_images), out, **options)

    stopped_at(4)
    kept = os.path.join(out + ".interrupted", "manifest.json")
    with open(kept, "rb") as handle:
        before = handle.read()
    assert len(json.loads(before.decode())["images"]) == 3
    said = stopped_at(2)
    assert "{}.interrupted holds an earlier interrupted capture of more images (3 vs 1 here): " \
        "it is kept as it was and this capture's records are dropped".format(out) in said, said
    with open(kept, "rb") as handle:
        assert handle.read() == before
    assert "are kept in {}.interrupted".format(out) in stopped_at(5)
    assert _kept_images(out + ".interrupted")[0] != sorted(json.loads(before.decode())["images"])
    assert len(_kept_images(out + ".interrupted")[0]) == 4


def test_an_interrupted_capture_is_pointed_to_and_replaced_by_a_complete_one(
        small_images, tmp_path, monkeypatch, capsys):
    """Opening OUT while only OUT.interrupted exists says how to finish it; a complete capture
    without --resume replaces it (it is not left beside, gigabytes on a large set)."""

    out = str(tmp_path / "b")
    options = dict(implementations=["pillow"], stages=["decode"], jobs=1)
    _interrupted_at(monkeypatch, 3, str(small_images), out, quiet=True, **options)
    with pytest.raises(bundle.BundleError, match=r"\.interrupted holds the records of an "
                       "interrupted capture of it: finish it with the same `edgeparity "
                       "capture ... --out .*` and --resume"):
        bundle.load(out)
    with pytest.raises(bundle.BundleError, match="with --out {} --resume".format(out)):
        bundle.load(out + ".interrupted")
    capsys.readouterr()
    capture(str(small_images), out, quiet=False, **options)
    assert not os.path.exists(out + ".interrupted")
    err = capsys.readouterr().err
    assert "{}.interrupted holds the records of an interrupted capture: --resume carries them " \
        "over; this capture replaces them".format(out) in err  # said before it starts
    assert "removed {}.interrupted (an interrupted capture this complete one replaces)".format(
        out) in err


def test_an_interrupted_capture_whose_manifest_is_lost_says_to_remove_it(
        small_images, tmp_path, monkeypatch, capsys):
    """OUT.interrupted with its manifest.json damaged or lost: --resume and a new capture both
    say it cannot be resumed and to remove it (a new capture only said to choose another
    --out, after a note that --resume would carry its records over)."""
    from edgeparity.bundle import BundleError
    from edgeparity.errors import UserError

    out = str(tmp_path / "b")
    options = dict(implementations=["pillow"], stages=["decode"], jobs=1, quiet=True)
    _interrupted_at(monkeypatch, 3, str(small_images), out, **options)
    manifest = os.path.join(out + ".interrupted", "manifest.json")
    with open(manifest, "rb") as handle:
        kept = handle.read()
    with open(manifest, "wb") as handle:
        handle.write(kept[:len(kept) // 2])  # damaged
    with pytest.raises(BundleError, match="It cannot be resumed: remove {}.interrupted and run "
                       "the capture without --resume".format(re.escape(out))):
        capture(str(small_images), out, resume=True, **options)
    os.remove(manifest)  # lost
    with pytest.raises(UserError, match="--resume: {}.interrupted has no manifest.json (.*): "
                       "it cannot be resumed; remove it and run the capture without "
                       "--resume".format(re.escape(out))):
        capture(str(small_images), out, resume=True, **options)
    with pytest.raises(BundleError, match="{}.interrupted exists and is not a bundle: if an "
                       "interrupted capture kept it, its manifest.json is lost or damaged and "
                       "it cannot be resumed. Remove it".format(re.escape(out))):
        capture(str(small_images), out, **dict(options, quiet=False))
    # Not first told that --resume would carry its records over.
    assert "--resume carries them over" not in capsys.readouterr().err
    assert os.path.isdir(out + ".interrupted") and not os.path.exists(out)


def test_fewer_worker_processes_than_asked_are_said(small_images, tmp_path, capsys):
    """-j 4 on 5 images: one chunk of work, so one process, and the line says why."""
    capture(str(small_images), str(tmp_path / "b"), implementations=["pillow"],
            stages=["decode"], jobs=4, quiet=False)
    assert "on 1 process (not 4: work is handed out 8 images at a time)" in \
        capsys.readouterr().err
