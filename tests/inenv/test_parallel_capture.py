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
    shutil.copytree(SAMPLES, str(images), ignore=shutil.ignore_patterns("*.py", "*.md"))
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
