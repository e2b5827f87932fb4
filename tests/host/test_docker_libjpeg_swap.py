"""Swapping the libjpeg with a build arg makes the in-image pinned-libjpeg test fail.

matrix.toml's jetson-dlr pins Pillow built from source against bullseye's libjpeg-turbo 2.0.6.
Building the same environment with PILLOW_BUILD=wheel swaps in the manylinux wheel's bundled IJG
libjpeg 9d; tests/inenv/test_pinned_libjpeg.py, run inside that real image with jetson-dlr's
expectation through edgeparity's own container runner, must then fail and name both libraries.
With the wheel's own expectation it passes, so the failure is the swap and not a broken image.

Builds a linux/arm64 image (emulated on x86_64; about 5 minutes cold, cached afterwards by the
image tag: it is matrix.toml's jetson-dlr-wheel). Skips when no engine, no arm64 emulation or no
base image is available.
"""

import dataclasses
from pathlib import Path

import pytest

from edgeparity.matrix import backend as matrix_backend
from edgeparity.matrix import config as matrix_config
from edgeparity.matrix.docker import DockerBackend, DockerError, Engine, container, image

# Every test here builds or runs images or starts a daemon: `pytest -m "not docker"` omits it.
pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
PINNED_TEST = "tests/inenv/test_pinned_libjpeg.py"


def build_wheel_variant_of_jetson_dlr(tmp_path):
    engine = Engine()
    reachable, why = engine.reachable()
    if not reachable:
        pytest.skip("no Docker engine: {} (make docker-engine)".format(why))
    edge = matrix_config.load(ROOT / "matrix.toml").docker["jetson-dlr"]
    assert edge.build_args["PILLOW_BUILD"] == "source", "jetson-dlr is the source build"
    wheel = dataclasses.replace(edge, name="jetson-dlr-wheel",
                                build_args=dict(edge.build_args, PILLOW_BUILD="wheel"))
    base = image.base_image(wheel)
    if not engine.image_id(base):
        pytest.skip("base image {} missing: run `make base-images`".format(base))
    try:
        image.ensure_emulation(wheel)
    except DockerError as exc:
        pytest.skip(str(exc))
    docker = DockerBackend(lambda message: None)
    docker.prepare(wheel, tmp_path / "build.log")
    return docker.tags[wheel.name], edge.expect_libjpeg


def run_pinned_test(tag: str, expectation: str, log: Path) -> str:
    """The pinned-libjpeg test alone, run in the image by edgeparity's container runner."""
    command = matrix_backend.tests_command(container.IMAGE_PYTHON, PINNED_TEST)
    env = {matrix_backend.EXPECT_LIBJPEG_VARIABLE: expectation, "HOME": "/tmp"}
    spec = container.Container(image=tag, platform="linux/arm64", command=command, env=env,
                               inputs={})
    code = container.run(Engine(), spec, log)
    return "exit {}\n{}".format(code, log.read_text())


def test_wheel_build_fails_the_source_builds_libjpeg_pin(tmp_path):
    tag, source_expectation = build_wheel_variant_of_jetson_dlr(tmp_path)
    assert source_expectation.startswith("libjpeg-turbo")

    swapped = run_pinned_test(tag, source_expectation, tmp_path / "swapped.log")
    assert swapped.startswith("exit 1\n"), swapped
    assert "1 failed" in swapped
    assert "Pillow decodes JPEG with IJG libjpeg 9d" in swapped
    assert "pins {}".format(source_expectation) in swapped

    own = run_pinned_test(tag, "IJG libjpeg 9d", tmp_path / "own.log")
    assert own.startswith("exit 0\n"), own
    assert "2 passed" in own
