"""`edgeparity compare` as a user meets it: exit codes, error messages, report files."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import PHOTOS, ROOT, run_capture
from edgeparity import cli, errors
from edgeparity.png import encode_png


def test_a_bundle_compared_with_itself_is_parity(here_bundle, capsys):
    assert cli.main(["compare", here_bundle, here_bundle]) == errors.EXIT_PARITY
    out = capsys.readouterr().out
    assert "PARITY" in out and "every stage agrees" in out


def test_a_stage_run_on_one_side_only_is_never_parity(here_bundle, tmp_path, capsys):
    # The same images and decoder, but the other capture ran no inference (--impl pillow):
    # decode and preprocess agree, inference was compared with nothing, so parity is not
    # established (exit 2), and the report says which stage and why.
    partial = run_capture(sys.executable, tmp_path / "partial", "partial", "decode=pillow",
                          extra=["--impl", "pillow"])
    code = cli.main(["compare", here_bundle, partial, "--json", str(tmp_path / "r.json")])
    assert code == errors.EXIT_ERROR
    pair = json.loads((tmp_path / "r.json").read_text())["pairs"][0]
    assert pair["verdict"] == "incomplete"
    [said] = [line for line in pair["not_compared"] if line.startswith("infer:")]
    assert said.startswith("infer: only here has outputs (infer=") and (
        "partial ran no infer implementation" in said)
    # Its manifest records the --impl it was captured with: the reason names it.
    assert pair["like_for_like"]["not_run_why"]["partial"]["infer/onnxruntime"] == (
        "its capture did not ask for it (--impl pillow)")
    assert "PARITY:" not in capsys.readouterr().out
    # The other way round too: the reference side is the one without inference.
    assert cli.main(["compare", partial, here_bundle]) == errors.EXIT_ERROR
    # An explicit gate over inference cannot pass either; one over decode alone can (the way to
    # check only decoding against a full capture).
    capsys.readouterr()
    assert cli.main(["compare", here_bundle, partial, "--fail-on", "stage:infer"]) == (
        errors.EXIT_ERROR)
    assert "infer: only here has outputs" in capsys.readouterr().out
    assert cli.main(["compare", here_bundle, partial, "--fail-on", "stage:decode"]) == (
        errors.EXIT_PARITY)


def test_a_bundle_without_inference_does_not_change_the_others_runner(here_bundle, tmp_path):
    # here ran every runner; tvm-only ran TVM alone: they share tvm, and a third, decode-only
    # bundle in the same compare must not change that (it made here fall back to its first).
    if importlib.util.find_spec("tvm") is None:
        pytest.skip("Apache TVM is not installed in this interpreter")
    tvm_only = run_capture(sys.executable, tmp_path / "tvm", "tvm-only", "decode=pillow",
                           extra=["--impl", "pillow,tvm"])
    decode_only = run_capture(sys.executable, tmp_path / "decode", "decode-only",
                              "decode=pillow", extra=["--stages", "decode"])
    for bundles in ([here_bundle, tvm_only], [here_bundle, tvm_only, decode_only]):
        cli.main(["compare"] + bundles + ["--json", str(tmp_path / "r.json")])
        pair = json.loads((tmp_path / "r.json").read_text())["pairs"][0]
        assert pair["other"] == "tvm-only"
        assert pair["pipelines"]["here"]["infer"] == "tvm" == pair["pipelines"]["tvm-only"][
            "infer"], bundles


def test_a_pipeline_only_capture_says_which_side_lacks_the_outputs(here_bundle, tmp_path, capsys):
    # Compared along a decoder its --pipeline-only capture did not follow, a side has no
    # preprocess outputs: the report names that side and why, not "no outputs on one side".
    if importlib.util.find_spec("cv2") is None:
        pytest.skip("OpenCV is not installed in this interpreter")
    narrow = run_capture(sys.executable, tmp_path / "narrow", "narrow",
                         "decode=pillow,preprocess=pillow,infer=onnxruntime",
                         extra=["--pipeline-only"])
    code = cli.main(["compare", narrow + "@decode=opencv", here_bundle + "@decode=opencv",
                     "--json", str(tmp_path / "r.json")])
    assert code == errors.EXIT_ERROR
    pair = json.loads((tmp_path / "r.json").read_text())["pairs"][0]
    [preprocess] = [s for s in pair["stages"] if s["stage"] == "preprocess"]
    assert preprocess["compared"] == 0
    assert preprocess["unavailable"].startswith(
        "narrow@decode=opencv has no preprocess=pillow output for 14 of 14 images (captured with "
        "--pipeline-only along decode=pillow,preprocess=pillow,infer=onnxruntime)")
    assert "no outputs on one side" not in capsys.readouterr().out


def test_a_pipeline_runtime_that_did_not_run_is_named_with_its_reason(tmp_path, capsys):
    # A capture declaring infer=dlr where DLR is not installed, against a decode-only capture:
    # no side has inference outputs, and the report says why, once, in the capture's words.
    if importlib.util.find_spec("dlr") is not None:
        pytest.skip("DLR is installed in this interpreter")
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src"))
    result = subprocess.run(
        [sys.executable, "-m", "edgeparity", "capture", "--images", PHOTOS, "--out",
         str(tmp_path / "declared"), "--pipeline", "decode=pillow,preprocess=pillow,infer=dlr",
         "--impl", "pillow,dlr"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert result.returncode == 0, result.stderr.decode()
    err = result.stderr.decode()
    # Said once, as a warning about the pipeline, not again among the skipped ones.
    assert err.count("DLR is not installed") == 1, err
    assert "pipeline uses infer=dlr, which did not run here: DLR is not installed" in err
    decode_only = run_capture(sys.executable, tmp_path / "decode", "decode", "decode=pillow",
                              extra=["--stages", "decode"])
    code = cli.main(["compare", str(tmp_path / "declared"), decode_only, "--json",
                     str(tmp_path / "r.json")])
    assert code == errors.EXIT_ERROR
    pair = json.loads((tmp_path / "r.json").read_text())["pairs"][0]
    [said] = [line for line in pair["not_compared"] if line.startswith("infer:")]
    assert said.startswith("infer: neither side has outputs: declared's infer=dlr did not run "
                           "there: DLR is not installed")
    assert said.endswith("; decode ran no infer implementation")  # no 'not run in' line for it


def test_within_one_bundle_exif_transpose_is_a_decode_divergence(here_bundle, tmp_path, capsys):
    code = cli.main(
        [
            "compare",
            here_bundle + "@decode=pillow",
            here_bundle + "@decode=pillow-exif",
            "--json",
            str(tmp_path / "r.json"),
        ]
    )
    assert code == errors.EXIT_DIVERGENCE
    report = json.loads((tmp_path / "r.json").read_text())
    pair = report["pairs"][0]
    assert pair["first_divergent_images"] == {"decode": ["photo-exif-orientation6.jpg"]}
    step = pair["images"][
        [w["image"] for w in pair["images"]].index("photo-exif-orientation6.jpg")
    ]["stages"][0]
    assert step["shape_mismatch"] == [[600, 400, 3], [400, 600, 3]]


def test_missing_bundle_is_a_usage_error_naming_the_path(tmp_path, capsys):
    code = cli.main(["compare", str(tmp_path / "nope"), str(tmp_path / "nope2")])
    assert code == errors.EXIT_ERROR
    err = capsys.readouterr().err
    assert str(tmp_path / "nope") in err and "edgeparity capture" in err
    assert "Traceback" not in err


def test_corrupted_array_is_reported_by_file_name(here_bundle, tmp_path, capsys):
    copy = str(tmp_path / "copy")
    shutil.copytree(here_bundle, copy)
    victim = sorted(os.listdir(os.path.join(copy, "arrays")))[0]
    with open(os.path.join(copy, "arrays", victim), "ab") as handle:
        handle.write(b"garbage")
    # compare opens no array whose digest matches the other side's (that is what makes it fast
    # on large corpora): `edgeparity verify` reads and checks every array file.
    assert cli.main(["verify", here_bundle]) == errors.EXIT_PARITY
    assert cli.main(["verify", copy]) == errors.EXIT_ERROR
    err = capsys.readouterr().err
    assert "arrays/" + victim in err and "corrupted" in err


def test_bad_pipeline_and_tolerance_are_usage_errors(here_bundle, capsys):
    assert cli.main(["compare", here_bundle + "@decod=pillow", here_bundle]) == errors.EXIT_ERROR
    assert cli.main(["compare", here_bundle, here_bundle, "--tolerance", "infer"]) == \
        errors.EXIT_ERROR
    assert cli.main(["compare", here_bundle, here_bundle, "--reference", "x"]) == errors.EXIT_ERROR
    err = capsys.readouterr().err
    assert "bad pipeline" in err and "bad --tolerance" in err and "--reference 'x'" in err
    assert here_bundle + "@decod=pillow" in err  # names the argument that is wrong
    assert cli.main(["compare", here_bundle, here_bundle, "--tolerance", "infr:1"]) == \
        errors.EXIT_ERROR
    assert "bad --tolerance 'infr:1': no stage 'infr' (the stages: decode, preprocess, infer)" \
        in capsys.readouterr().err
    # A stage given twice (the last one won), or nothing after '@' (a pipeline left out).
    assert cli.main(["compare", here_bundle + "@decode=pillow,decode=opencv", here_bundle]) == \
        errors.EXIT_ERROR
    assert "decode is given twice (pillow and opencv); give each stage once" in \
        capsys.readouterr().err
    for empty in ("@", "@,"):
        assert cli.main(["compare", here_bundle + empty, here_bundle]) == errors.EXIT_ERROR
        assert "nothing after '@'" in capsys.readouterr().err


def test_markdown_fits_a_job_summary(here_bundle, tmp_path):
    cli.main(
        [
            "compare",
            here_bundle + "@decode=pillow",
            here_bundle + "@decode=pillow-exif",
            "--md",
            str(tmp_path / "r.md"),
        ]
    )
    text = (tmp_path / "r.md").read_text()
    assert text.startswith("## ❌ edgeparity: divergence")
    assert "| decode |" in text and "photo-exif-orientation6.jpg" in text


def test_png_encoder_writes_what_pillow_reads_back(tmp_path):
    import numpy as np
    from PIL import Image

    rgb = np.random.RandomState(0).randint(0, 256, (7, 5, 3)).astype(np.uint8)
    path = tmp_path / "x.png"
    path.write_bytes(encode_png(rgb))
    assert (np.asarray(Image.open(str(path)).convert("RGB")) == rgb).all()


def test_json_report_keys_are_documented(here_bundle, tmp_path):
    cli.main(
        [
            "compare",
            here_bundle,
            here_bundle + "@decode=pillow-exif",
            "--json",
            str(tmp_path / "r.json"),
        ]
    )
    report = json.loads((tmp_path / "r.json").read_text())
    doc = open(
        os.path.join(os.path.dirname(__file__), "..", "..", "docs", "report-schema.md")
    ).read()
    documented = {line.split("`")[1] for line in doc.splitlines() if line.startswith("| `")}
    keys = set(report) | set(report["pairs"][0]) | set(report["environments"][0])
    keys |= set(report["pairs"][0]["stages"][0]) | set(report["pairs"][0]["images"][0])
    assert keys - documented == set(), "undocumented report keys"
    assert report["schema"] == "edgeparity.report/2"


def test_unknown_or_uncaptured_pipeline_implementation_is_never_parity(here_bundle, capsys):
    assert cli.main(["compare", here_bundle + "@decode=pilow", here_bundle]) == errors.EXIT_ERROR
    assert "no decode implementation 'pilow'" in capsys.readouterr().err
    # mxnet is a known decoder, but not installed where this bundle was captured.
    code = cli.main(["compare", here_bundle + "@decode=mxnet", here_bundle])
    captured = capsys.readouterr()
    assert code == errors.EXIT_ERROR
    assert "INCOMPLETE" in captured.out and "NOT COMPARED" in captured.out
    assert "parity could not be established" in captured.err


def test_malformed_manifests_and_tolerances_are_usage_errors(here_bundle, tmp_path, capsys):
    for content in ("[]", '{"schema": "edgeparity.bundle/1", "complete": true}'):
        broken = tmp_path / "broken{}".format(len(content))
        shutil.copytree(here_bundle, str(broken))
        (broken / "manifest.json").write_text(content)
        assert cli.main(["compare", here_bundle, str(broken)]) == errors.EXIT_ERROR
    assert cli.main(["compare", here_bundle, here_bundle, "--atol", "-1"]) == errors.EXIT_ERROR
    assert cli.main(["compare", here_bundle, here_bundle, "--tolerance", "decode:5"]) == \
        errors.EXIT_ERROR
    err = capsys.readouterr().err
    assert err.count("manifest.json is malformed") == 2 and "Traceback" not in err
    assert "must be a number >= 0" in err and "compared exactly" in err


def test_per_stage_tolerance_shows_in_the_header(here_bundle, capsys):
    cli.main(["compare", here_bundle, here_bundle, "--tolerance", "infer:1e-3:1e-3"])
    assert "infer: atol=0.001 rtol=0.001" in capsys.readouterr().out


def test_json_to_stdout_keeps_the_summary_on_stderr(here_bundle, capsys):
    assert cli.main(["compare", here_bundle, here_bundle, "--json", "-"]) == errors.EXIT_PARITY
    captured = capsys.readouterr()
    assert json.loads(captured.out)["verdict"] == "parity"
    assert "PARITY" in captured.err and "PARITY" not in captured.out


def test_library_api_writes_what_the_command_writes(here_bundle, tmp_path, capsys):
    """`matrix` calls compare() and write_compare_reports(): the same reports as `compare`."""
    from edgeparity.compare import Tolerances, compare, exit_code
    from edgeparity.report.write import Targets, write_compare_reports

    specs = [here_bundle + "@decode=pillow", here_bundle + "@decode=pillow-exif"]
    files = {name: {ext: str(tmp_path / (name + "." + ext)) for ext in ("json", "md", "html")}
             for name in ("cli", "library")}
    code = cli.main(["compare"] + specs + ["--" + ext + "=" + path
                                           for ext, path in files["cli"].items()])
    cli_out = capsys.readouterr().out
    report, heatmaps = compare(specs, None, Tolerances(), want_heatmaps=True)
    write_compare_reports(report, heatmaps, Targets(**files["library"]))
    assert exit_code(report) == code == errors.EXIT_DIVERGENCE
    assert capsys.readouterr().out == cli_out
    for ext in ("json", "md", "html"):
        with open(files["cli"][ext]) as cli_file, open(files["library"][ext]) as library_file:
            assert cli_file.read() == library_file.read(), ext


def test_verify_names_every_damaged_bundle_not_only_the_first(here_bundle, tmp_path, capsys):
    copies = []
    for name in ("a", "b"):
        copy = str(tmp_path / name)
        shutil.copytree(here_bundle, copy)
        victim = sorted(os.listdir(os.path.join(copy, "arrays")))[0]
        with open(os.path.join(copy, "arrays", victim), "ab") as handle:
            handle.write(b"garbage")
        copies.append(copy)
    assert cli.main(["verify", copies[0], here_bundle, copies[1]]) == errors.EXIT_ERROR
    captured = capsys.readouterr()
    assert copies[0] in captured.err and copies[1] in captured.err
    assert "intact" in captured.out and "2 of 3 bundles damaged" in captured.err


def test_verify_shows_progress_unless_quiet(here_bundle, capsys):
    """Verifying bundles copied back from devices reads every array (minutes for large
    ones): a progress line per bundle, counted in arrays; -q silences it."""
    arrays = len(os.listdir(os.path.join(here_bundle, "arrays")))
    assert cli.main(["verify", here_bundle]) == errors.EXIT_PARITY
    err = capsys.readouterr().err
    assert "verify {}: arrays {}/{}".format(os.path.basename(here_bundle), arrays, arrays) in err
    assert cli.main(["verify", "-q", here_bundle]) == errors.EXIT_PARITY
    assert capsys.readouterr().err == ""


def test_a_compare_whose_digests_all_match_never_imports_numpy(here_bundle, tmp_path):
    # numpy's import is a fifth of an identical 10,000-image compare (benchmarks/run.py), and
    # such a compare opens no array: it is imported only to compute or draw a difference.
    copy = shutil.copytree(here_bundle, str(tmp_path / "copy"))
    script = ("import sys; from edgeparity import cli; code = cli.main(['compare', {!r}, {!r}, "
              "'--json', {!r}, '--md', {!r}, '-q']); print(code, 'numpy' in sys.modules)").format(
                  here_bundle, copy, str(tmp_path / "r.json"), str(tmp_path / "r.md"))
    result = subprocess.run([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            universal_newlines=True, env=dict(os.environ, PYTHONPATH=os.path.join(
                                ROOT, "src")), check=True)
    assert result.stdout.splitlines()[-1].split() == [str(errors.EXIT_PARITY), "False"]
    assert "PARITY" in (tmp_path / "r.md").read_text()


def test_a_broken_numpy_is_one_sentence_when_compare_first_needs_it(case_bundles, tmp_path):
    # Its metadata says 2.4.6, so compare starts without importing it; the bundles' decoded
    # pixels differ, and the first difference to compute imports it and fails.
    (tmp_path / "numpy").mkdir()
    (tmp_path / "numpy" / "__init__.py").write_text("raise RuntimeError('broken build')\n")
    (tmp_path / "numpy-2.4.6.dist-info").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "edgeparity", "compare", case_bundles["cloud"],
         case_bundles["edge"], "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.path.join(ROOT,
                                                                                     "src")])))
    assert result.returncode == errors.EXIT_ERROR
    assert result.stderr.splitlines()[-1] == (
        "edgeparity: error: edgeparity needs numpy >= 1.11; this Python's numpy fails to import "
        "(RuntimeError: broken build): reinstall it for this interpreter: `{} -m pip install "
        "--force-reinstall numpy`".format(sys.executable))
    assert "Traceback" not in result.stderr


def test_compare_leaves_the_garbage_collector_as_it_found_it(here_bundle, tmp_path):
    # compare() pauses the collector while it opens the bundles and freezes them during the
    # comparison: on success, on a bundle it refuses, and under a caller that paused it itself.
    import gc

    from edgeparity.bundle import BundleError
    from edgeparity.compare import compare

    compare([here_bundle, here_bundle])
    assert gc.isenabled() and gc.get_freeze_count() == 0
    with pytest.raises(BundleError):
        compare([here_bundle, str(tmp_path / "missing")])
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()
    try:
        compare([here_bundle, here_bundle])
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()


def test_the_bundles_of_a_compare_are_freed_when_it_returns(case_bundles, monkeypatch):
    """No cycle holds them (the agreement memo once tied the two endpoints together): a caller
    gets their memory back at once, and the command line frees them before writing reports."""
    import gc
    import weakref

    from edgeparity.compare import compare, endpoints

    opened = []
    load = endpoints.load_bundle

    def load_and_watch(path):
        loaded = load(path)
        opened.append(weakref.ref(loaded))
        return loaded

    monkeypatch.setattr(endpoints, "load_bundle", load_and_watch)
    gc.disable()  # freed by their counts alone, not by a collection
    try:
        report, _ = compare([case_bundles["cloud"], case_bundles["edge"]], want_heatmaps=False)
        assert report["pairs"][0]["alternatives"] is not None  # the memo was used both ways
        assert len(opened) == 2 and all(ref() is None for ref in opened)
    finally:
        gc.enable()


def test_one_bundle_read_two_ways_counts_no_outputs_of_the_same_name(here_bundle, tmp_path,
                                                                     capsys):
    # Both sides are the same records: "N identical" would say nothing about the pipelines.
    cli.main(["compare", here_bundle, here_bundle + "@decode=pillow-exif", "--json",
              str(tmp_path / "r.json"), "--md", str(tmp_path / "r.md")])
    out = " ".join(capsys.readouterr().out.split())
    assert "compared outputs of the same name: none (one bundle read two ways: they are the " \
        "same records)" in out
    assert "Compared outputs of the same name: none" in (tmp_path / "r.md").read_text()
    like_for_like = json.loads((tmp_path / "r.json").read_text())["pairs"][0]["like_for_like"]
    assert like_for_like["same_bundle"] is True
    copy = shutil.copytree(here_bundle, str(tmp_path / "copy"))
    cli.main(["compare", here_bundle, copy, "--json", str(tmp_path / "r.json")])
    like_for_like = json.loads((tmp_path / "r.json").read_text())["pairs"][0]["like_for_like"]
    assert "same_bundle" not in like_for_like and like_for_like["counts"]["identical"] > 0


@pytest.mark.parametrize("bad", ["under-a-file", "a-folder"])
def test_an_unwritable_report_path_is_refused_before_the_compare_and_nothing_is_written(
        case_bundles, tmp_path, capsys, bad):
    """A report that cannot be written is said at once (a long compare must not end in it),
    and no other report is written meanwhile."""
    (tmp_path / "file.txt").write_text("not a folder\n")
    target = tmp_path / "file.txt" / "r.md" if bad == "under-a-file" else tmp_path
    good = tmp_path / "out" / "r.json"
    code = cli.main(["compare", case_bundles["cloud"], case_bundles["edge"], "--json", str(good),
                     "--md", str(target), "-q"])
    out, err = capsys.readouterr()
    assert code == errors.EXIT_ERROR
    assert err.strip().startswith("edgeparity: error: cannot write {}: ".format(target))
    assert ("file.txt is a file, not a folder" if bad == "under-a-file"
            else "it is a folder. Give a file name.") in err
    assert out == ""  # no summary: nothing was compared
    assert not good.exists() and not (tmp_path / "out").exists()  # and nothing made


def test_golden_check_refuses_an_unwritable_report_path_first(here_bundle, tmp_path, capsys):
    (tmp_path / "file.txt").write_text("x")
    code = cli.main(["golden", "check", here_bundle, "--dir", str(tmp_path / "goldens"),
                     "--html", str(tmp_path / "file.txt" / "r.html")])
    err = capsys.readouterr().err
    assert code == errors.EXIT_ERROR
    assert "file.txt is a file, not a folder" in err and "no golden" not in err


def test_report_paths_that_are_no_files_are_refused_and_symlinks_written_through(
        case_bundles, tmp_path, capsys):
    """A FIFO (a device likewise) is never replaced by a report; a symlink to a file is
    written through, as open() would; one path for two reports and `--md -` are refused."""
    bundles = [case_bundles["cloud"], case_bundles["edge"]]
    fifo = tmp_path / "fifo"
    os.mkfifo(str(fifo))
    link = tmp_path / "link.md"
    os.symlink("real.md", str(link))
    (tmp_path / "fifo-link.html").symlink_to(fifo)
    for option, target, said in (
            ("--md", fifo, "it is a named pipe (FIFO), not a file. Give a file path."),
            ("--html", tmp_path / "fifo-link.html", "it is a named pipe (FIFO), not a file."),
            ("--md", "-", "--md -: only the JSON report goes to stdout (--json -)")):
        assert cli.main(["compare"] + bundles + [option, str(target), "-q"]) == errors.EXIT_ERROR
        out, err = capsys.readouterr()
        assert said in err and out == ""
    assert stat_is_fifo(fifo) and stat_is_fifo(tmp_path / "fifo-link.html")
    both = str(tmp_path / "same.txt")
    assert cli.main(["compare"] + bundles + ["--json", both, "--md", both]) == errors.EXIT_ERROR
    assert "--json and --md both name {}: give each report its own file".format(both) in \
        capsys.readouterr().err
    assert cli.main(["compare"] + bundles + ["--md", str(link), "-q"]) == errors.EXIT_DIVERGENCE
    assert link.is_symlink() and "DIVERGENCE" in (tmp_path / "real.md").read_text()


def stat_is_fifo(path):
    import stat

    return stat.S_ISFIFO(os.stat(str(path)).st_mode)


def test_an_image_folder_given_for_a_bundle_is_told_to_be_captured_first(case_bundles, capsys):
    assert cli.main(["compare", case_bundles["cloud"], PHOTOS]) == errors.EXIT_ERROR
    err = capsys.readouterr().err
    assert "this folder holds images, not a bundle (no manifest.json)" in err
    assert "edgeparity capture --images" in err


def test_golden_commands_take_a_bundle_folder_whose_name_holds_an_at(here_bundle, tmp_path,
                                                                      capsys):
    folder = tmp_path / "ev@il"
    shutil.copytree(here_bundle, str(folder))
    goldens = str(tmp_path / "goldens")
    assert cli.main(["golden", "update", str(folder), "--dir", goldens]) == errors.EXIT_PARITY
    assert cli.main(["golden", "check", str(folder), "--dir", goldens]) == errors.EXIT_PARITY
    assert cli.main(["compare", str(folder), "--golden", goldens]) == errors.EXIT_PARITY
    assert "@pipeline" not in capsys.readouterr().err


def test_labels_stay_unique_whatever_the_bundles_are_named():
    """Bundles named x, x#3 and x: the third is not labelled x#3 again (labels key the pairs
    and the agreement answers)."""
    from types import SimpleNamespace

    from edgeparity.compare.endpoints import Endpoint, _label

    taken = []
    for name in ("x", "x#3", "x", "x"):
        bundle = SimpleNamespace(name=name)
        taken.append(Endpoint(bundle, {}, _label(bundle, {}, taken)))
    labels = [endpoint.label for endpoint in taken]
    assert len(set(labels)) == 4 and labels[:2] == ["x", "x#3"]


def _decode_only(python, out, impls):
    subprocess.run([python, "-m", "edgeparity", "capture", "--images", PHOTOS, "--out", str(out),
                    "--stages", "decode", "--impl", impls, "-q"], check=True,
                   env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src")))
    return str(out)


def test_a_stage_no_pipeline_names_is_filled_with_what_each_bundle_captured(tmp_path):
    """Pillow is the default decoder where a bundle captured it; a cloud capture with --impl
    mxnet is compared through its MXNet decode (it was 'not established: decode=pillow is
    unavailable'), and a bundle without Pillow takes a decoder the other side captured too."""
    from conftest import tox_python

    def pipelines(*bundles):
        code = cli.main(["compare", *bundles, "--json", str(tmp_path / "r.json"), "-q"])
        with open(str(tmp_path / "r.json")) as handle:
            report = json.load(handle)
        pair = report["pairs"][0]
        return code, [e["pipeline"]["decode"] for e in report["environments"]], pair["verdict"]

    cloud = _decode_only(tox_python("cloud-mxnet"), tmp_path / "cloud", "mxnet")
    edge = _decode_only(sys.executable, tmp_path / "edge", "pillow")
    code, decoders, verdict = pipelines(cloud, edge)
    assert decoders == ["mxnet", "pillow"] and verdict in ("parity", "divergence"), verdict
    assert code in (errors.EXIT_PARITY, errors.EXIT_DIVERGENCE)
    if importlib.util.find_spec("cv2") is None or importlib.util.find_spec("simplejpeg") is None:
        pytest.skip("OpenCV or simplejpeg is not installed here: the like-for-like fill is not "
                    "tested")
    one = _decode_only(sys.executable, tmp_path / "one", "decode/opencv,decode/simplejpeg")
    two = _decode_only(sys.executable, tmp_path / "two", "decode/opencv,decode/pillow")
    code, decoders, verdict = pipelines(one, two)
    assert decoders == ["opencv", "pillow"], (decoders, verdict)


def test_stages_are_filled_like_for_like_whatever_a_bundle_declares(tmp_path):
    """The implementations a bundle captured count for the common choice even when its own
    pipeline is declared; a third bundle without Pillow leaves the others' Pillow decode."""
    from edgeparity.bundle import BundleWriter
    from edgeparity.compare.endpoints import load_endpoints, resolve_pipelines

    def bundle(name, implementations, pipeline=None):
        return BundleWriter(str(tmp_path / name)).finish({
            "name": name, "pipeline": pipeline or {}, "images": {},
            "implementations": {key: {"status": "available"} for key in implementations}})

    declared = bundle("a", ["infer/mxnet", "infer/onnxruntime"], {"infer": "onnxruntime"})
    other = bundle("b", ["infer/dlr", "infer/onnxruntime"])
    endpoints = load_endpoints([declared, other, declared + "@infer=mxnet"])
    resolve_pipelines(endpoints)
    assert [e.pipeline["infer"] for e in endpoints] == ["onnxruntime", "onnxruntime", "mxnet"]
    a, b = (bundle(name, ["decode/pillow", "decode/opencv"]) for name in ("c", "d"))
    c = bundle("e", ["decode/mxnet", "decode/opencv"])
    endpoints = load_endpoints([a, b, c])
    resolve_pipelines(endpoints)
    assert [e.pipeline["decode"] for e in endpoints] == ["pillow", "pillow", "opencv"]
    # No runner common to all three: the full capture takes one another bundle has (mxnet,
    # before onnxruntime by name), never one no other bundle has (dlr, first by name).
    full = bundle("f", ["infer/dlr", "infer/mxnet", "infer/onnxruntime"])
    endpoints = load_endpoints([full, bundle("g", ["infer/onnxruntime"]),
                                bundle("h", ["infer/mxnet"])])
    resolve_pipelines(endpoints)
    assert [e.pipeline["infer"] for e in endpoints] == ["mxnet", "onnxruntime", "mxnet"]
    # export --diff reads the pair as compare does (each side alone: mxnet vs pillow).
    from edgeparity.export import open_endpoints

    assert [e.pipeline["decode"] for e in open_endpoints([c, a])] == ["opencv", "pillow"]


def test_a_capture_with_nothing_that_can_run_is_refused_before_it_writes(tmp_path, capsys):
    """--impl naming only implementations that cannot run here: refused (exit 2) naming each
    and why, no bundle written; it wrote an empty bundle, exit 0, advising to install Pillow."""
    if importlib.util.find_spec("mxnet") is not None:
        pytest.skip("MXNet is installed here: --impl mxnet can run")
    out = str(tmp_path / "b")
    assert cli.main(["capture", "--images", PHOTOS, "--out", out, "--impl", "mxnet",
                     "--stages", "decode", "-q"]) == errors.EXIT_ERROR
    err = capsys.readouterr().err
    assert "nothing can be captured: none of --impl mxnet is available here (decode/mxnet: " \
        "MXNet (pip install mxnet) is not importable" in err, err
    assert not os.path.exists(out)
    # Options that select nothing at all: said too (an empty bundle was written, exit 0).
    assert cli.main(["capture", "--images", PHOTOS, "--out", out, "--impl", "pillow",
                     "--stages", "infer", "-q"]) == errors.EXIT_ERROR
    assert "nothing to capture: --stages infer with --impl pillow selects no implementation" \
        in capsys.readouterr().err
    assert not os.path.exists(out)
