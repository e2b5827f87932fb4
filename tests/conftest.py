"""Shared fixtures. Runs on CPython 3.6 too (the in-environment tests use it)."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(ROOT, "sample-images")
sys.path.insert(0, os.path.join(ROOT, "src"))  # tests also run against a plain checkout


def sample(name):
    return os.path.join(SAMPLES, name)


@pytest.fixture
def small_images(tmp_path):
    """A few corpus files plus a corrupt one, and the canonical inputs, in a temp folder."""
    import shutil

    folder = tmp_path / "images"
    folder.mkdir()
    for name in (
        "photo-420.jpg",
        "photo-444.jpg",
        "photo-grayscale.jpg",
        "photo-exif-orientation6.jpg",
    ):
        shutil.copy(sample(name), str(folder / name))
    with open(sample("photo-420.jpg"), "rb") as handle:
        data = handle.read()
    # Truncated in the middle of the entropy-coded data: a realistic broken upload.
    (folder / "truncated.jpg").write_bytes(data[:2000])
    shutil.copytree(
        os.path.join(SAMPLES, "canonical"),
        str(folder / "canonical"),
        ignore=shutil.ignore_patterns("*.py", "*.md"),
    )
    return folder
