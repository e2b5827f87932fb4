"""Shard bundles of one environment, merged, compare like an unsharded capture.

Two real environments: the cloud-mxnet tox env (IJG libjpeg 9d) unsharded, and this
interpreter (libjpeg-turbo) captured once whole and once as three shards.
"""

import json
import os
import re
import shutil
import subprocess
import sys

from conftest import CANONICAL, PHOTOS, SAMPLES, run_capture, tox_python
from edgeparity import cli, errors

ROOT = os.path.dirname(SAMPLES)


def _report(tmp_path, name, *bundles):
    path = str(tmp_path / name)
    code = cli.main(["compare", *bundles, "--json", path, "-q"])
    with open(path) as handle:
        report = json.load(handle)
    for pair in report["pairs"]:
        pair.pop("other")
        for environment in report["environments"]:
            environment.pop("bundle")
    return code, report


def test_merged_shards_give_the_verdicts_of_an_unsharded_capture(tmp_path):
    cloud = run_capture(tox_python("cloud-mxnet"), tmp_path / "cloud", "cloud",
                        "decode=pillow,preprocess=pillow", extra=["--impl", "pillow"])
    whole = run_capture(sys.executable, tmp_path / "whole", "edge", "decode=pillow,"
                        "preprocess=pillow", extra=["--impl", "pillow"])
    shards = [run_capture(sys.executable, tmp_path / "shard{}".format(i), "edge",
                          "decode=pillow,preprocess=pillow",
                          extra=["--impl", "pillow", "--shard", "{}/3".format(i)])
              for i in (1, 2, 3)]
    sizes = [len(json.load(open(os.path.join(s, "manifest.json")))["images"]) for s in shards]
    assert sum(sizes) == 14 and all(sizes), sizes  # a real split of the 14 sample images
    merged = str(tmp_path / "merged")
    assert cli.main(["merge", *shards, "--out", merged]) == errors.EXIT_PARITY
    code_whole, whole_report = _report(tmp_path, "whole.json", cloud, whole)
    code_merged, merged_report = _report(tmp_path, "merged.json", cloud, merged)
    assert code_whole == code_merged == errors.EXIT_DIVERGENCE
    whole_pair, merged_pair = whole_report["pairs"][0], merged_report["pairs"][0]
    for key in ("verdict", "first_divergent_stage", "first_divergent_images", "images",
                "stages", "like_for_like"):
        assert merged_pair[key] == whole_pair[key], key


def test_merge_refuses_an_incomplete_set_or_another_environment(tmp_path, capsys):
    one = run_capture(sys.executable, tmp_path / "one", "edge", "decode=pillow",
                      extra=["--impl", "pillow", "--stages", "decode", "--shard", "1/2"])
    other = run_capture(tox_python("cloud-mxnet"), tmp_path / "other", "edge", "decode=pillow",
                        extra=["--impl", "pillow", "--stages", "decode", "--shard", "2/2"])
    again = run_capture(sys.executable, tmp_path / "again", "edge", "decode=pillow",
                        extra=["--impl", "pillow", "--stages", "decode", "--shard", "1/2"])
    out = str(tmp_path / "merged")
    assert cli.main(["merge", one, other, "--out", out]) == errors.EXIT_ERROR
    assert "not shards of one environment" in capsys.readouterr().err
    assert cli.main(["merge", one, again, "--out", out]) == errors.EXIT_ERROR
    assert "are both shard 1/2 (one shard captured twice?)" in capsys.readouterr().err
    assert not os.path.exists(out)
    assert subprocess.run([sys.executable, "-m", "edgeparity", "capture", "--images", PHOTOS,
                           "--out", out, "--shard", "3/2"], env=dict(
                               os.environ, PYTHONPATH=os.path.join(ROOT, "src")),
                          stderr=subprocess.PIPE).returncode == errors.EXIT_ERROR


def test_merge_refuses_shards_isolated_on_different_canonical_inputs(tmp_path, capsys):
    own = tmp_path / "own"
    own.mkdir()
    shutil.copy(os.path.join(CANONICAL, "decoded-photo-420.npy"), str(own))
    common = ["--impl", "pillow", "--stages", "preprocess"]
    one = run_capture(sys.executable, tmp_path / "one", "edge", "decode=pillow",
                      extra=common + ["--shard", "1/2"])
    two = run_capture(sys.executable, tmp_path / "two", "edge", "decode=pillow",
                      extra=common + ["--shard", "2/2", "--canonical", str(own)])
    out = str(tmp_path / "merged")
    assert cli.main(["merge", one, two, "--out", out]) == errors.EXIT_ERROR
    err = capsys.readouterr().err
    assert "(canonical inputs differ: [canonical:" in err
    assert not re.search("[0-9a-f]{64}", err)  # named, not a list of digests
    # Shards captured with other --stages: that is said, not what follows from it (another
    # set of canonical inputs ran).
    decode_only = run_capture(sys.executable, tmp_path / "decode-only", "edge", "decode=pillow",
                              extra=["--impl", "pillow", "--stages", "decode", "--shard", "2/2"])
    assert cli.main(["merge", one, decode_only, "--out", out]) == errors.EXIT_ERROR
    assert "(--stages differ: preprocess vs decode)" in capsys.readouterr().err
    same = run_capture(sys.executable, tmp_path / "same", "edge", "decode=pillow",
                       extra=common + ["--shard", "2/2"])
    assert cli.main(["merge", one, same, "--out", out]) == errors.EXIT_PARITY


def test_merge_refuses_an_unsharded_bundle_and_its_own_input_as_out(tmp_path, capsys):
    whole = run_capture(sys.executable, tmp_path / "whole", "edge", "decode=pillow",
                        extra=["--impl", "pillow", "--stages", "decode"])
    one = run_capture(sys.executable, tmp_path / "one", "edge", "decode=pillow",
                      extra=["--impl", "pillow", "--stages", "decode", "--shard", "1/2"])
    assert cli.main(["merge", one, whole, "--out", str(tmp_path / "m")]) == errors.EXIT_ERROR
    assert "{} is not a shard bundle".format(whole) in capsys.readouterr().err
    assert cli.main(["merge", one, whole, "--out", one]) == errors.EXIT_ERROR
    assert "is one of the shards" in capsys.readouterr().err
    assert cli.main(["merge", one, "--out", str(tmp_path / "m")]) == errors.EXIT_ERROR
    assert "shard 2/2 is missing: capture it with `edgeparity capture --shard 2/2`" in \
        capsys.readouterr().err


def test_merge_refuses_shards_captured_with_another_selection(tmp_path, capsys):
    one = run_capture(sys.executable, tmp_path / "one", "edge", "decode=pillow",
                      extra=["--impl", "pillow", "--stages", "decode", "--shard", "1/2"])
    # The same implementations run, asked for another way: a compare would word their
    # not-run reasons differently, so the merged manifest could not say which was used.
    other = run_capture(sys.executable, tmp_path / "other", "edge", "decode=pillow",
                        extra=["--impl", "decode/pillow", "--stages", "decode",
                               "--shard", "2/2"])
    out = str(tmp_path / "merged")
    assert cli.main(["merge", one, other, "--out", out]) == errors.EXIT_ERROR
    assert "(--impl differ: pillow vs decode/pillow)" in capsys.readouterr().err
    # The same selection written in another order is the same capture.
    same = run_capture(sys.executable, tmp_path / "same", "edge", "decode=pillow",
                       extra=["--stages", "decode", "--impl", "pillow", "--shard", "2/2"])
    assert cli.main(["merge", one, same, "--out", out]) == errors.EXIT_PARITY


def test_an_empty_shard_is_written_and_merged(tmp_path, capsys):
    """One image split two ways: one shard holds none. Its bundle is still written (said, exit
    0), so merge joins the split and the result compares like the whole capture."""
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(os.path.join(SAMPLES, "photo-420.jpg"), str(images / "only.jpg"))
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src"))

    def capture(out, *extra):
        result = subprocess.run(
            [sys.executable, "-m", "edgeparity", "capture", "--images", str(images), "--out",
             str(tmp_path / out), "--impl", "pillow", "--stages", "decode", "-q"] + list(extra),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        assert result.returncode == 0, result.stderr.decode()
        with open(str(tmp_path / out / "manifest.json")) as handle:
            return sorted(json.load(handle)["images"]), result.stderr.decode()

    shards = [capture("s{}".format(i), "--shard", "{}/2".format(i)) for i in (1, 2)]
    assert sorted(len(held) for held, _ in shards) == [0, 1]
    empty_note = next(err for held, err in shards if not held)
    assert "holds none of the 1 image in" in empty_note
    assert "no output was captured" not in empty_note
    empty = next(i for i, (held, _) in zip((1, 2), shards) if not held)
    result = subprocess.run(  # its progress says so, not "capture: 0/0"
        [sys.executable, "-m", "edgeparity", "capture", "--images", str(images), "--out",
         str(tmp_path / "said"), "--impl", "pillow", "--stages", "decode", "--shard",
         "{}/2".format(empty)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        universal_newlines=True)
    assert "capture: nothing left to do" in result.stderr and "0/0" not in result.stderr, \
        result.stderr
    assert "wrote {} (shard {}/2): 0 outputs".format(tmp_path / "said", empty) in result.stdout
    whole, _ = capture("whole")
    assert whole == ["only.jpg"]
    merged = str(tmp_path / "merged")
    assert cli.main(["merge", str(tmp_path / "s1"), str(tmp_path / "s2"), "--out", merged]) == 0
    assert "2 shards merged: 1 image, " in capsys.readouterr().out
    code, report = _report(tmp_path, "r.json", str(tmp_path / "whole"), merged)
    assert code == errors.EXIT_PARITY and report["pairs"][0]["images"]


def test_a_resume_is_checked_by_content_and_interpreter_not_by_the_names_of_paths(tmp_path):
    """environment(strict=True), the check of capture --resume: bin/python and a symlink to it
    are one interpreter; model files found at another path with the same bytes are the same;
    another model file or a JPEG library with other bytes under the same version is not."""
    from edgeparity.bundle.merge import differences, environment

    real = tmp_path / "python"
    real.write_text("")
    (tmp_path / "python3").symlink_to("python")

    def manifest(executable, model_path, model_sha, jpeg_sha):
        details = {"version": "1.0", "jpeg_library": {"build": "libjpeg-turbo 3.0",
                                                      "sha256": jpeg_sha},
                   "model": {"files": {model_path: "sha256:" + model_sha}}}
        return {"provenance": {"python": {"version": "3.11", "executable": executable,
                                          "prefix": str(tmp_path)},
                               "implementations": {"infer/x": {"status": "available",
                                                               "details": details}}}}

    def differ(a, b):
        said = differences(environment(a, canonical=False, strict=True),
                           environment(b, canonical=False, strict=True))
        return said[0] if said else None

    first = manifest(str(real), "/cache/a/model.onnx", "aa", "11")
    assert differ(first, manifest(str(tmp_path / "python3"), "/other/model.onnx", "aa", "11")) \
        is None
    assert differ(first, manifest(str(real), "/cache/a/model.onnx", "bb", "11")) == (
        "infer/x differ: model files sha256: ['sha256:aa'] vs ['sha256:bb']")
    assert differ(first, manifest(str(real), "/cache/a/model.onnx", "aa", "22")) == (
        "infer/x differ: JPEG library sha256: 11 vs 22")


def test_merge_names_the_environment_and_refuses_a_shard_given_twice(tmp_path, capsys):
    """Shards captured without --name are named after their folders: the merged bundle takes
    merge --name, else its own folder's name, not the first shard's. A shard given twice (or
    captured twice) is said as such, not as a missing one."""
    def shard(folder, index, *extra):
        command = [sys.executable, "-m", "edgeparity", "capture", "--images", PHOTOS, "--out",
                   str(tmp_path / folder), "--impl", "pillow", "--stages", "decode", "-q",
                   "--shard", "{}/2".format(index)] + list(extra)
        subprocess.run(command, check=True, env=dict(
            os.environ, PYTHONPATH=os.path.join(ROOT, "src")))
        return str(tmp_path / folder)

    def name(bundle):
        with open(os.path.join(bundle, "manifest.json")) as handle:
            return json.load(handle)["name"]

    one, two = shard("jetson-1", 1), shard("jetson-2", 2)
    capsys.readouterr()
    assert cli.main(["merge", one, two, "--out", str(tmp_path / "jetson")]) == 0
    assert name(str(tmp_path / "jetson")) == "jetson"
    assert "(environment jetson): 2 shards merged" in capsys.readouterr().out  # said
    assert cli.main(["merge", one, two, "--out", str(tmp_path / "m"), "--name", "orin"]) == 0
    assert name(str(tmp_path / "m")) == "orin"
    named = [shard("n{}".format(i), i, "--name", "edge") for i in (1, 2)]
    assert cli.main(["merge", *named, "--out", str(tmp_path / "merged")]) == 0
    assert name(str(tmp_path / "merged")) == "edge"
    capsys.readouterr()
    out = str(tmp_path / "refused")
    assert cli.main(["merge", one, two, two, "--out", out]) == errors.EXIT_ERROR
    err = capsys.readouterr().err
    assert "{} is given 2 times: pass each shard once".format(two) in err
    assert "missing" not in err
    assert cli.main(["merge", one, shard("again", 1), two, "--out", out]) == errors.EXIT_ERROR
    assert "are both shard 1/2" in capsys.readouterr().err
    assert not os.path.exists(out)


def test_a_shard_compared_with_a_whole_capture_or_another_shard_is_not_parity(tmp_path, capsys):
    """Shard 1/2 against the whole set agrees on what both hold, but the other images were
    never compared: not established (exit 2, saying to merge), never PARITY (exit 0). The
    same shard of two captures compares as usual."""
    def decode_only(folder, *extra):
        return run_capture(sys.executable, tmp_path / folder, folder, "decode=pillow",
                           extra=["--impl", "pillow", "--stages", "decode"] + list(extra))

    whole, one, two = decode_only("whole"), decode_only("one", "--shard", "1/2"), \
        decode_only("two", "--shard", "2/2")
    capsys.readouterr()
    assert cli.main(["compare", whole, one, "-q"]) == errors.EXIT_ERROR
    out = capsys.readouterr().out
    assert "NOT ESTABLISHED: whole holds all of its images and one only shard 1/2 of its " \
        "images (capture --shard): merge each environment's shards with `edgeparity merge`" \
        in " ".join(out.split()), out
    assert cli.main(["compare", one, two, "-q"]) == errors.EXIT_ERROR
    again = decode_only("again", "--shard", "1/2")
    assert cli.main(["compare", one, again, "-q"]) == errors.EXIT_PARITY
    # The same shard of another copy of the folder (one more file): still the same share.
    more = tmp_path / "more"
    shutil.copytree(PHOTOS, str(more))
    shutil.copy(os.path.join(PHOTOS, sorted(os.listdir(PHOTOS))[0]), str(more / "extra.jpg"))
    other_copy = str(tmp_path / "other-copy")
    subprocess.run([sys.executable, "-m", "edgeparity", "capture", "--images", str(more), "--out",
                    other_copy, "--impl", "pillow", "--stages", "decode", "-q", "--shard", "1/2"],
                   check=True, env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src")))
    capsys.readouterr()
    assert cli.main(["compare", one, other_copy, "-q"]) == errors.EXIT_PARITY
    assert "NOT ESTABLISHED" not in capsys.readouterr().out


def test_differences_are_said_as_options_and_older_captures_lack_none(tmp_path):
    """What merge and resume say differs: an option absent from an older capture and 'nothing
    asked' are the same (the environment after them is still checked), --pipeline-only unset
    either way is the same, a shard is said as I/N, and the model's path is no difference
    (each device keeps its own copy; the model itself is compared by identity)."""
    from edgeparity.bundle.merge import differences, environment

    older = {"selection": None, "pipeline_only": None, "provenance": {"cpu": {"arch": "x86_64"}},
             "options": {"model": "/a/model.onnx"}, "shard": {"index": 1, "count": 2}}
    newer = {"selection": {"stages": None, "implementations": None}, "pipeline_only": False,
             "provenance": {"cpu": {"arch": "aarch64"}}, "options": {"model": "/b/model.onnx"},
             "shard": {"index": 1, "count": 2, "of_images": 3, "names_sha256": "ab"}}
    assert differences(environment(older), environment(newer)) == [
        "cpu/arch differ: x86_64 vs aarch64"]
    strict = [environment(m, canonical=False, strict=True) for m in (older, dict(
        older, shard={"index": 2, "count": 2}, options={"layout": "NHWC"}))]
    assert differences(*strict) == ["--shard differ: 1/2 vs 2/2",
                                    "--layout differ: not given vs NHWC"]


def test_merge_refuses_shards_cut_from_different_sets_of_images(tmp_path, capsys):
    """A device whose copy of the images lacks some files captures its shard of a smaller set:
    merging it would leave those images out without a word."""
    images = tmp_path / "images"
    shutil.copytree(PHOTOS, str(images))
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src"))

    def shard(folder, index):
        subprocess.run([sys.executable, "-m", "edgeparity", "capture", "--images", str(images),
                        "--out", str(tmp_path / folder), "--impl", "pillow", "--stages",
                        "decode", "-q", "--shard", "{}/2".format(index)], check=True, env=env)
        return str(tmp_path / folder)

    one = shard("one", 1)
    os.remove(str(images / sorted(os.listdir(str(images)))[-1]))
    two = shard("two", 2)
    out = str(tmp_path / "merged")
    assert cli.main(["merge", one, two, "--out", out]) == errors.EXIT_ERROR
    count = len(os.listdir(str(images)))
    assert "{} and {} are shares of different sets of images ({} vs {} images in the images " \
        "folder when each was captured): capture every shard from the same copy of the " \
        "images".format(one, two, count + 1, count) in capsys.readouterr().err
    assert not os.path.exists(out)


def test_merge_refuses_a_shard_whose_recorded_split_is_impossible(tmp_path, capsys):
    """A manifest edited (and sealed again) to say shard 3/2, or '2' as text: refused by name,
    never merged (3/2 joined as a third shard) nor a crash on sorting."""
    from edgeparity.bundle.format import seal

    shards = [run_capture(sys.executable, tmp_path / "s{}".format(i), "edge", "decode=pillow",
                          extra=["--impl", "pillow", "--stages", "decode", "--shard",
                                 "{}/2".format(i)]) for i in (1, 2)]
    edited = str(tmp_path / "edited")
    shutil.copytree(shards[0], edited)
    path = os.path.join(edited, "manifest.json")
    for split in ({"index": 3, "count": 2}, {"index": "2", "count": 2}):
        with open(path) as handle:
            manifest = json.load(handle)
        manifest.pop("index_sha256", None)
        manifest["shard"].update(split)
        with open(path, "wb") as handle:
            handle.write(seal(manifest))
        assert cli.main(["merge", shards[0], shards[1], edited, "--out",
                         str(tmp_path / "m")]) == errors.EXIT_ERROR
        assert "{}: its manifest records shard {}/2, which no capture --shard I/N writes".format(
            edited, split["index"]) in capsys.readouterr().err
    assert not os.path.exists(str(tmp_path / "m"))


def test_a_shard_against_a_whole_capture_that_diverges_still_says_so_and_fails_gates(
        tmp_path, capsys):
    """IJG (cloud-mxnet) whole against a libjpeg-turbo shard: the divergence is reported (exit
    1), the shard is said beside it, and a --fail-on gate the compared part passes is not
    established (exit 2), never green on half of the set."""
    cloud = run_capture(tox_python("cloud-mxnet"), tmp_path / "cloud", "cloud", "decode=pillow",
                        extra=["--impl", "pillow", "--stages", "decode"])
    one = run_capture(sys.executable, tmp_path / "one", "one", "decode=pillow",
                      extra=["--impl", "pillow", "--stages", "decode", "--shard", "1/2"])
    capsys.readouterr()
    assert cli.main(["compare", cloud, one, "-q"]) == errors.EXIT_DIVERGENCE
    out = " ".join(capsys.readouterr().out.split())
    assert "only part of the images: cloud holds all of its images and one only shard 1/2" in out
    assert cli.main(["compare", cloud, one, "-q", "--fail-on", "decode:max>255"]) == \
        errors.EXIT_ERROR
