"""Shared fixtures. Runs on CPython 3.6 too (the in-environment tests use it)."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(ROOT, "sample-images")
# The canonical inputs ship inside the package (package data), not with the samples.
CANONICAL = os.path.join(ROOT, "src", "edgeparity", "canonical")
sys.path.insert(0, os.path.join(ROOT, "src"))  # tests also run against a plain checkout


# Tests by cost (pyproject.toml's `docker` marker): a test not marked `docker` talks to an engine
# address where nothing listens, so a forgotten marker shows up as "cannot connect" rather than
# as an image build inside `pytest -m "not docker"`.
NO_ENGINE = "unix:///nonexistent/edgeparity-test-not-marked-docker.sock"


@pytest.fixture(autouse=True)
def no_docker_engine_unless_marked(request, monkeypatch):
    if request.node.get_closest_marker("docker") is None:
        monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
        monkeypatch.delenv("DOCKER_CONTEXT", raising=False)


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
        CANONICAL,
        str(folder / "canonical"),
        ignore=shutil.ignore_patterns("*.md"),
    )
    return folder
