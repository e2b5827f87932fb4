"""capture --jobs N writes the same bundle as a serial run (apart from timings)."""

import json
import os
import shutil

import pytest

from edgeparity import bundle
from edgeparity.capture import capture

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLES = os.path.join(ROOT, "sample-images")

# Differ between runs by nature: when and how long.
TIMING_FIELDS = ("created", "finished", "seconds")


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in TIMING_FIELDS}
    if isinstance(value, list):
        return [_without_timings(item) for item in value]
    return value


def _manifest(path):
    with open(os.path.join(path, "manifest.json")) as handle:
        manifest = json.load(handle)
    manifest.pop("index_sha256")  # covers the records' timings
    manifest.pop("provenance")  # pids, memory maps and load times of this process
    manifest.pop("name")
    return _without_timings(manifest)


def test_two_jobs_give_the_serial_bundle(tmp_path):
    pytest.importorskip("PIL")
    images = tmp_path / "images"
    shutil.copytree(SAMPLES, str(images), ignore=shutil.ignore_patterns("*.py", "*.md", "crops"))
    for index in range(3):  # enough images for several chunks per worker
        for name in ("photo-420.jpg", "photo-444.jpg"):
            shutil.copy(os.path.join(SAMPLES, name), str(images / "copy{}-{}".format(index, name)))
    options = dict(implementations=["pillow", "pillow-exif"], quiet=True)
    serial, _ = capture(str(images), str(tmp_path / "serial"), jobs=1, **options)
    parallel, _ = capture(str(images), str(tmp_path / "parallel"), jobs=2, **options)
    assert _manifest(parallel) == _manifest(serial)
    assert sorted(os.listdir(os.path.join(parallel, "arrays"))) == \
        sorted(os.listdir(os.path.join(serial, "arrays")))
    loaded = bundle.load(parallel, verify=True)
    details = loaded.provenance["implementations"]["decode/pillow"]["details"]
    assert details.get("jpeg_library"), "the parent names the libjpeg the workers loaded"


def _children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/{}/stat".format(entry)) as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) != pid:
                continue
            try:
                with open("/proc/{}/cmdline".format(entry), "rb") as handle:
                    command = handle.read()
            except OSError:
                continue
            if b"spawn_main" in command:
                found.append(int(entry))  # a capture worker, not multiprocessing's tracker
    return found


def test_a_killed_worker_stops_the_capture_with_the_reason_and_keeps_the_rest(tmp_path):
    """The OOM killer on a small device: no hang, one clear line, what was merged is kept."""
    pytest.importorskip("PIL")
    import signal
    import subprocess
    import sys
    import time

    images = tmp_path / "images"
    images.mkdir()
    for index in range(300):
        shutil.copy(os.path.join(SAMPLES, "photo-420.jpg"), str(images / "i{:03d}.jpg".format(
            index)))
    out = str(tmp_path / "b")
    process = subprocess.Popen(
        [sys.executable, "-m", "edgeparity", "capture", "--images", str(images), "--out", out,
         "--impl", "pillow", "-j", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src")))
    deadline = time.time() + 300  # spawning is slow under emulation
    workers = []
    while time.time() < deadline and len(workers) < 2 and process.poll() is None:
        workers = _children(process.pid)
        time.sleep(0.1)
    assert workers, "no capture worker process found"
    # Every worker has a chunk of images from the moment it starts: kill one now.
    os.kill(workers[0], signal.SIGKILL)
    _, stderr = process.communicate(timeout=300)  # no hang
    text = stderr.decode()
    assert process.returncode == 2, text
    assert "killed by signal 9" in text and "Traceback" not in text
    assert not os.path.exists(out)
    kept = out + ".interrupted"
    if os.path.exists(kept):  # whatever was merged before the worker died
        with open(os.path.join(kept, "manifest.json")) as handle:
            manifest = json.load(handle)
        assert manifest["complete"] is False
        assert "killed by signal 9" in manifest["stopped_by"]


def test_a_worker_that_died_between_shares_is_named_not_a_broken_pipe():
    """A worker gone after its last result (killed while idle): the next share sent to it
    fails with EPIPE. That is a worker's death, said as one (exit 2 at the command line), not
    a BrokenPipeError the command line would take for a reader of stdout that left."""
    import multiprocessing

    from edgeparity.parallel import WorkerDied, _drive

    process = multiprocessing.Process(target=os._exit, args=(3,))
    process.start()
    process.join()
    ours, theirs = multiprocessing.Pipe()
    theirs.close()  # what the worker's exit does to its end
    with pytest.raises(WorkerDied) as died:
        _drive([(process, ours)], [["a.jpg"]], None, None, None)
    assert str(died.value) == "a capture worker exited with 3 between two shares of the images"


def test_a_worker_whose_parent_has_gone_ends_quietly(tmp_path):
    """Ctrl-C twice stops the parent at once: its workers find their pipe closed. Each ends
    without a traceback of its own (the parent says what happened)."""
    import multiprocessing
    import signal

    from edgeparity.parallel import _worker

    ours, theirs = multiprocessing.Pipe()
    theirs.close()
    (tmp_path / "arrays").mkdir()
    try:
        _worker(ours, str(tmp_path), str(tmp_path), "none", [], {}, {}, False, str(tmp_path),
                {"max_file_bytes": 1, "max_pixels": 1})
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # what _worker set, undone
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
