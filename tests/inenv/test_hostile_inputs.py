"""Hostile input never hangs capture, never exhausts memory, never loses the run, and is never
silently skipped; a tampered bundle is refused by name (issue: hostile input and faults).

Runs on CPython 3.6 too. The oversized image is made by patching a real JPEG's frame header, so
its file is tiny while it declares 13000 x 13000 pixels.
"""

import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest

from edgeparity import bundle
from edgeparity.bundle.format import index_digest
from edgeparity.inputs import declared_size

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLES = os.path.join(ROOT, "sample-images")
CANONICAL = os.path.join(ROOT, "src", "edgeparity", "canonical")


def _declaring(width, height):
    """A real baseline JPEG from the corpus whose SOF0 header is rewritten to width x height."""
    with open(os.path.join(SAMPLES, "photo-420.jpg"), "rb") as handle:
        data = bytearray(handle.read())
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = data.find(marker)
        if at > 0:
            data[at + 5:at + 9] = struct.pack(">HH", height, width)
            return bytes(data)
    raise AssertionError("no SOF marker in photo-420.jpg")


@pytest.fixture
def hostile(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("photo-420.jpg", "photo-444.jpg"):
        shutil.copy(os.path.join(SAMPLES, name), str(folder / name))
    shutil.copytree(CANONICAL, str(folder / "canonical"), ignore=shutil.ignore_patterns("*.md"))
    (folder / "bomb.jpg").write_bytes(_declaring(13000, 13000))
    os.mkfifo(str(folder / "fifo.jpg"))
    os.symlink("/dev/zero", str(folder / "zero.jpg"))
    (folder / "sub").mkdir()
    os.symlink(str(folder), str(folder / "sub" / "loop"))  # a folder link loop
    return folder


def test_declared_size_is_read_from_headers_only():
    assert declared_size(_declaring(13000, 12000)) == (13000, 12000)
    pil = pytest.importorskip("PIL.Image")
    for name in ("photo-444.jpg", "photo-grayscale.jpg", "photo-progressive.jpg"):
        path = os.path.join(SAMPLES, name)
        if os.path.exists(path):
            with open(path, "rb") as handle:
                assert declared_size(handle.read()) == pil.open(path).size, name
    assert declared_size(b"not an image") is None


def test_hostile_folder_under_a_3_gb_limit_captures_the_good_images(hostile, tmp_path):
    pytest.importorskip("PIL")
    out = tmp_path / "b"
    script = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (3 * 10**9, "
              "3 * 10**9)); sys.path.insert(0, {!r}); from edgeparity.cli import main; "
              "sys.exit(main(sys.argv[1:]))").format(os.path.join(ROOT, "src"))
    result = subprocess.run(
        [sys.executable, "-c", script, "capture", "--images", str(hostile), "--out", str(out),
         "--impl", "pillow", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "sub/loop" in stderr  # the loop is named, not walked forever
    loaded = bundle.load(str(out))
    images = loaded.manifest["images"]
    assert "13000 x 13000" in images["bomb.jpg"]["error"]
    assert "FIFO" in images["fifo.jpg"]["error"]
    assert "device" in images["zero.jpg"]["error"]
    for good in ("photo-420.jpg", "photo-444.jpg"):
        assert loaded.records[good + "|decode=pillow"]["status"] == "ok"
    assert loaded.manifest["counts"]["error"] >= 3
    assert loaded.manifest["skipped_folders"][0]["folder"] == os.path.join("sub", "loop")


def test_canonical_npy_declaring_a_huge_array_is_not_loaded(small_images, tmp_path, capsys):
    pytest.importorskip("PIL")
    from edgeparity.capture import capture

    evil = small_images / "canonical" / "decoded-evil.npy"
    np.save(str(evil), np.zeros(10, dtype=np.uint8))
    raw = evil.read_bytes()
    header_end = raw.index(b"\n") + 1
    header = raw[:header_end].replace(b"'shape': (10,)", b"'shape': (4000000000,)")
    # Declare 4 GB; keep the header length a multiple of 64 as numpy requires.
    body = header[10:].rstrip(b"\n").rstrip()
    total = 10 + len(body) + 1
    body += b" " * ((64 - total % 64) % 64)
    header = header[:8] + struct.pack("<H", len(body) + 1) + body + b"\n"
    evil.write_bytes(header + raw[header_end:])
    path, _ = capture(str(small_images), str(tmp_path / "b"), implementations=["pillow"],
                      quiet=True)
    entry = bundle.load(path).manifest["canonical"]["canonical/decoded-evil.npy"]
    assert "over the" in entry["error"]
    assert "decoded-evil.npy" in capsys.readouterr().err


def _captured(small_images, tmp_path):
    pytest.importorskip("PIL")
    from edgeparity.capture import capture

    path, _ = capture(str(small_images), str(tmp_path / "b"), implementations=["pillow"],
                      quiet=True)
    manifest_path = os.path.join(path, "manifest.json")
    with open(manifest_path) as handle:
        return path, manifest_path, json.load(handle)


def _rename_array(manifest, old, new):
    """The array ``old`` listed as ``new``: its key, its file name and its records' digest."""
    entry = manifest["arrays"].pop(old)
    entry["file"] = "arrays/{}.npy".format(new)
    manifest["arrays"][new] = entry
    for record in manifest["records"]:
        if record.get("sha256") == old:
            record["sha256"] = new


def _save(manifest_path, manifest, fix_digest=False):
    if fix_digest:
        manifest["index_sha256"] = index_digest(manifest)
    with open(manifest_path, "w") as handle:
        json.dump(manifest, handle)


@pytest.mark.parametrize("tamper, message", [
    (lambda m: m["records"][0].update(status=None), "field 'status'"),
    (lambda m: m["records"].append(dict(m["records"][0])), "repeats the key"),
    (lambda m: next(iter(m["arrays"].values())).update(file="../../../../etc/passwd"),
     "field 'file'"),
    (lambda m: next(iter(m["arrays"].values())).update(file="/etc/passwd"), "field 'file'"),
    # Each check the fast path of format._record_problem / _array_problem makes.
    (lambda m: [entry.update(file=entry["file"] + "\n") for entry in m["arrays"].values()],
     "field 'file'"),
    (lambda m: [entry.update(file=entry["file"].replace(".npy", ".npy.gz"))
                for entry in m["arrays"].values()], "'file_sha256' is missing"),
    (lambda m: [entry.update(shape=[True] + entry["shape"][1:])
                for entry in m["arrays"].values()], "'shape' or 'dtype' is malformed"),
    (lambda m: [entry.update(dtype=None) for entry in m["arrays"].values()],
     "'shape' or 'dtype' is malformed"),
    (lambda m: m["arrays"].update({key.upper(): m["arrays"].pop(key)
                                   for key in list(m["arrays"])[:1]}), "field 'file'"),
    # Array names are checked all at once (format._all_digests), each renamed with its file
    # and its records, so that only the name is wrong: one 63 and one 65 characters long add
    # up to two whole digests; a newline; upper case.
    (lambda m: [_rename_array(m, key, key[:-1] if index == 0 else key + "0")
                for index, key in enumerate(list(m["arrays"])[:2])], "field 'file'"),
    (lambda m: _rename_array(m, next(iter(m["arrays"])), "\n" + next(iter(m["arrays"]))[1:]),
     "field 'file'"),
    (lambda m: _rename_array(m, next(iter(m["arrays"])), next(iter(m["arrays"])).upper()),
     "field 'file'"),
    (lambda m: m["records"][0].pop("stage"), "record 0 lacks stage"),
    (lambda m: m["records"][0].update(chain=7), "record 0 field 'chain' is not a string"),
    (lambda m: m["records"][0].update(shape=[1, 2, 3]), "field 'shape' disagrees"),
    (lambda m: m["records"][0].update(dtype="<f8"), "field 'dtype' disagrees"),
    (lambda m: m["records"][0].update(stats=[1, 2]), "field 'stats' is not an object"),
    (lambda m: m["records"][0].update(mode="fast"), "field 'mode'"),
    (lambda m: m["records"][0].update(mode=["e2e"]), "field 'mode'"),
    (lambda m: m["records"][0].update(stage={"decode": 1}), "field 'stage'"),
    (lambda m: m["records"][0].update(impl=None), "record 0 field 'impl' is not a string"),
])
def test_edited_manifest_is_refused_by_name_even_with_a_fixed_digest(small_images, tmp_path,
                                                                    tamper, message):
    path, manifest_path, manifest = _captured(small_images, tmp_path)
    tamper(manifest)
    _save(manifest_path, manifest, fix_digest=True)
    with pytest.raises(bundle.BundleError, match=message):
        bundle.load(path)


@pytest.mark.parametrize("tamper, message", [
    (lambda m: next(iter(m["images"].values())).update(sha256="0" * 64), "index_sha256"),
    (lambda m: m["pipeline"].update(decode="opencv"), "index_sha256"),
    (lambda m: m.update(provenance=[]), "field 'provenance'"),
    # Read by compare's causes: an edited part is refused by name, not a traceback there.
    (lambda m: m["provenance"].update(os="Debian"), "field 'provenance.os'"),
    (lambda m: m["provenance"].update(environment_variables={"OMP_NUM_THREADS": 1}),
     "'provenance.environment_variables' entry 'OMP_NUM_THREADS'"),
    (lambda m: m["provenance"]["cpu"].update(notable_features="avx2"),
     "'provenance.cpu.notable_features'"),
    (lambda m: m["provenance"]["cpu"].update(notable_features=[1, None]),
     "'provenance.cpu.notable_features' is not a list of strings"),
    (lambda m: m["provenance"]["cpu"].update(arch={"x": 1}), "'provenance.cpu.arch'"),
    (lambda m: m["model"].update(name=["demo"]), "'model.name' is not a string"),
    (lambda m: [entry.update(details={"jpeg_library": "libjpeg"}) for entry in
                m["provenance"]["implementations"].values()], "'provenance.implementations'"),
    (lambda m: m["records"][0].update(sha256=["not", "a", "digest"]), "record 0"),
])
def test_any_edited_field_is_refused_without_a_traceback(small_images, tmp_path, tamper,
                                                         message):
    path, manifest_path, manifest = _captured(small_images, tmp_path)
    tamper(manifest)
    _save(manifest_path, manifest, fix_digest=message != "index_sha256")
    with pytest.raises(bundle.BundleError, match=message):
        bundle.load(path)


def test_swapped_record_digests_are_detected(small_images, tmp_path):
    path, manifest_path, manifest = _captured(small_images, tmp_path)
    ok = [r for r in manifest["records"] if r["status"] == "ok" and r["stage"] == "decode"]
    ok[0]["sha256"], ok[1]["sha256"] = ok[1]["sha256"], ok[0]["sha256"]
    _save(manifest_path, manifest)
    with pytest.raises(bundle.BundleError, match="index_sha256"):
        bundle.load(path)


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_array_file_that_is_not_a_regular_file_inside_the_bundle_is_refused(
        small_images, tmp_path, kind):
    path, _, manifest = _captured(small_images, tmp_path)
    entry = next(iter(manifest["arrays"].values()))
    target = os.path.join(path, entry["file"])
    os.remove(target)
    if kind == "symlink":
        os.symlink("/dev/zero", target)
    else:
        os.mkfifo(target)
    digest = next(iter(manifest["arrays"]))
    with pytest.raises(bundle.BundleError, match="not a regular file"):
        bundle.load(path).array(digest)  # must not hang on the FIFO, nor read /dev/zero
    with pytest.raises(bundle.BundleError, match="not a regular file"):
        bundle.load(path, verify=True)


def test_leftover_staging_of_a_dead_capture_is_cleaned_by_the_next_one(small_images, tmp_path):
    pytest.importorskip("PIL")
    from edgeparity.bundle.writer import _host_tag
    from edgeparity.capture import capture

    # The owner is in the name. A pid beyond the kernel's pid_max cannot be running.
    dead = tmp_path / ".b.partial-{}-{}-x1".format(2 ** 22 + 1, _host_tag())
    dead.mkdir()
    # A complete older bundle moved aside by a capture killed before the new one was in place.
    dead_aside = tmp_path / ".b.old-{}-{}-x2".format(2 ** 22 + 1, _host_tag())
    dead_aside.mkdir()
    capture(str(small_images), str(dead_aside / "bundle"), implementations=["pillow"],
            stages=["decode"], quiet=True)
    alive = tmp_path / ".b.partial-1-{}-x3".format(_host_tag())
    alive.mkdir()
    other_host = tmp_path / ".b.partial-{}-otherhost-x4".format(2 ** 22 + 1)
    other_host.mkdir()
    capture(str(small_images), str(tmp_path / "b"), implementations=["pillow"], quiet=True)
    assert not dead.exists() and not dead_aside.exists()
    assert alive.exists()  # pid 1 runs: not ours to remove
    assert other_host.exists()  # another machine's capture (a shared folder): not ours either


def test_leftovers_of_the_older_owner_file_scheme_are_cleaned_too(small_images, tmp_path):
    """Before the owner went into the name, it was an .owner file (or none, if the capture died
    first): such folders must not be kept forever, and an aside folder's bundle comes back."""
    pytest.importorskip("PIL")
    import socket
    import time

    from edgeparity.capture import capture

    dead = tmp_path / ".b.partial-abc123"
    dead.mkdir()
    (dead / ".owner").write_text("{} {}\n".format(2 ** 22 + 1, socket.gethostname()))
    aside = tmp_path / ".b.old-def456"  # no .owner: killed before writing it, long ago
    aside.mkdir()
    capture(str(small_images), str(aside / "bundle"), implementations=["pillow"],
            stages=["decode"], quiet=True)
    old = time.time() - 3600
    os.utime(str(aside), (old, old))
    fresh = tmp_path / ".b.partial-ghi789"  # no .owner, just made: may be a running capture
    fresh.mkdir()
    capture(str(small_images), str(tmp_path / "c"), implementations=["pillow"],
            stages=["decode"], quiet=True)  # another --out: leaves b's leftovers alone
    assert dead.exists() and aside.exists()
    from edgeparity.bundle.writer import clean_leftovers

    kept = clean_leftovers(str(tmp_path / "b"))
    assert not dead.exists() and not aside.exists()
    assert kept == [str(fresh)]
    assert bundle.load(str(tmp_path / "b")).manifest["complete"] is True  # the aside came back


def test_concurrent_captures_to_one_out_all_succeed_and_leave_one_whole_bundle(small_images,
                                                                             tmp_path):
    pytest.importorskip("PIL")
    out = str(tmp_path / "b")
    command = [sys.executable, "-m", "edgeparity", "capture", "--images", str(small_images),
               "--out", out, "--impl", "pillow", "--stages", "decode", "-q"]
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src"))
    for _round in range(3):
        processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      env=env) for _ in range(8)]
        results = [(p.wait(timeout=300), p.stderr.read().decode()) for p in processes]
        for process in processes:
            process.stdout.close()
            process.stderr.close()
        assert [code for code, _ in results] == [0] * 8, results
        assert len(bundle.load(out).records) > 0
        assert [n for n in os.listdir(str(tmp_path)) if n not in ("b", "images")] == []


def _mount_tmpfs(mount, kilobytes):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size={}k".format(kilobytes), "tmpfs",
                           str(mount)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if made.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: {}".format(made.stderr.decode().strip()))


def _tree_kilobytes(path):
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path)
               for name in names) // 1024


def test_disk_full_is_one_clear_line_and_the_old_bundle_stays(small_images, tmp_path):
    pytest.importorskip("PIL")
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src"))

    def capture(out, *extra):
        return subprocess.run(
            [sys.executable, "-m", "edgeparity", "capture", "--images", str(small_images),
             "--out", out, "-q"] + list(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env)

    small = ["--impl", "pillow", "--stages", "decode"]
    assert capture(str(tmp_path / "measure"), *small).returncode == 0
    disk = tmp_path / "disk"
    disk.mkdir()
    # Room for the small bundle and a little more; every stage needs far more.
    _mount_tmpfs(disk, _tree_kilobytes(str(tmp_path / "measure")) + 256)
    try:
        out = str(disk / "b")
        first = capture(out, *small)
        assert first.returncode == 0, first.stderr.decode()
        before = bundle.load(out).manifest["index_sha256"]
        full = capture(out)
        stderr = full.stderr.decode()
        assert full.returncode == 2, stderr
        assert "Traceback" not in stderr
        assert "No space left on device" in stderr and out in stderr
        assert len(stderr.strip().splitlines()) == 1, stderr
        assert bundle.load(out).manifest["index_sha256"] == before
        assert [n for n in os.listdir(str(disk)) if n != "b"] == []  # nothing left behind
    finally:
        subprocess.run(["umount", str(disk)])


def test_unlistable_folder_and_unreadable_file_are_named_and_counted(small_images, tmp_path,
                                                                     capsys):
    pytest.importorskip("PIL")
    if os.geteuid() == 0:
        pytest.skip("root reads everything: needs a non-root user (the Docker images run so)")
    from edgeparity.capture import capture

    locked = small_images / "locked"
    locked.mkdir()
    shutil.copy(os.path.join(SAMPLES, "photo-420.jpg"), str(locked / "inside.jpg"))
    unreadable = small_images / "unreadable.jpg"
    shutil.copy(os.path.join(SAMPLES, "photo-420.jpg"), str(unreadable))
    os.chmod(str(locked), 0)
    os.chmod(str(unreadable), 0)
    try:
        path, counts = capture(str(small_images), str(tmp_path / "b"),
                               implementations=["pillow"], quiet=True)
    finally:
        os.chmod(str(locked), 0o755)
    manifest = bundle.load(path).manifest
    assert manifest["skipped_folders"] == [{"folder": "locked", "reason": "Permission denied"}]
    assert "locked" in capsys.readouterr().err
    assert "Permission denied" in manifest["images"]["unreadable.jpg"]["error"]
    assert counts["error"] >= 2  # the unreadable file and the truncated one


def test_sigkill_at_random_moments_never_leaves_a_bundle_compare_accepts(tmp_path):
    """Kill a capture at random moments (replacing an older bundle each time): every time, what
    is at --out is either the old complete bundle or a new complete one, and the next capture
    cleans the dead one's staging folders."""
    pytest.importorskip("PIL")
    import random
    import signal
    import time

    images = tmp_path / "images"
    images.mkdir()
    source = os.path.join(SAMPLES, "photo-420.jpg")
    for index in range(40):
        shutil.copy(source, str(images / "i{:02d}.jpg".format(index)))
    out = str(tmp_path / "b")
    command = [sys.executable, "-m", "edgeparity", "capture", "--images", str(images), "--out",
               out, "--impl", "pillow", "-q"]
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src"))
    assert subprocess.run(command, env=env, stderr=subprocess.PIPE).returncode == 0
    rng = random.Random(0)
    for _ in range(8):
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.05, 1.5))
        process.send_signal(signal.SIGKILL)
        process.communicate()
        assert bundle.load(out).manifest["complete"] is True  # never half a bundle
    assert subprocess.run(command, env=env, stderr=subprocess.PIPE).returncode == 0
    assert sorted(os.listdir(str(tmp_path))) == ["b", "images"]  # leftovers cleaned


def test_a_bundle_missing_an_array_file_is_refused_without_reading_arrays(small_images,
                                                                          tmp_path):
    path, _, manifest = _captured(small_images, tmp_path)
    entry = next(iter(manifest["arrays"].values()))
    os.remove(os.path.join(path, entry["file"]))
    with pytest.raises(bundle.BundleError, match="is missing"):
        bundle.load(path)


def test_host_commands_on_an_old_python_say_so(capsys, monkeypatch):
    from edgeparity import cli, errors

    monkeypatch.setattr(sys, "version_info", (3, 6, 9, "final", 0))
    assert cli.main(["compare", "a", "b"]) == errors.EXIT_ERROR
    assert "needs Python >= 3.9" in capsys.readouterr().err
