"""Swapping the libjpeg with a build arg makes the in-image pinned-libjpeg test fail.

matrix.toml's jetson-dlr pins Pillow built from source against bullseye's libjpeg-turbo 2.0.6.
Building the same entry with PILLOW_BUILD=wheel swaps in the manylinux wheel's bundled IJG
libjpeg 9d; tests/inenv/test_pinned_libjpeg.py, run inside that real image with jetson-dlr's
expectation, must then fail and name both libraries. With the wheel's own expectation it passes,
so the failure is the swap and not a broken image.

Builds a linux/arm64 image (emulated on x86_64; about 5 minutes cold, cached afterwards by the
image tag). Skips when no engine, no arm64 emulation or no base image is available.
"""

import subprocess
from pathlib import Path

import pytest

from edgeparity import matrix_docker
from edgeparity.matrix import load_config

ROOT = Path(__file__).resolve().parents[2]


def build_wheel_variant_of_jetson_dlr():
    reachable, why = matrix_docker.engine_reachable()
    if not reachable:
        pytest.skip("no Docker engine: {} (make docker-engine)".format(why))
    config = load_config(str(ROOT / "matrix.toml"))
    edge = dict(config["docker"]["jetson-dlr"])
    assert edge["build_args"]["PILLOW_BUILD"] == "source", "jetson-dlr is the source build"
    edge["build_args"] = dict(edge["build_args"], PILLOW_BUILD="wheel")
    entry = matrix_docker.Entry("jetson-dlr-wheel", edge, ROOT)
    base = entry.arg("BASE_IMAGE")
    if not matrix_docker.Engine().image_id(base):
        pytest.skip("base image {} missing: run `make base-images`".format(base))
    try:
        matrix_docker.ensure_emulation(entry)
    except matrix_docker.DockerError as exc:
        pytest.skip(str(exc))
    tag = matrix_docker.build(entry, lambda message: None, ROOT / "matrix-out" / "logs")
    return tag, edge["expect_libjpeg"]


def run_pinned_test(tag: str, expectation: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", "run", "--rm", "--platform", "linux/arm64", "--network", "none",
         "--user", "1000:1000", "--env", "EDGEPARITY_EXPECT_LIBJPEG=" + expectation, tag,
         "python3", "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "tests/inenv/test_pinned_libjpeg.py"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)


def test_wheel_build_fails_the_source_builds_libjpeg_pin():
    tag, source_expectation = build_wheel_variant_of_jetson_dlr()
    assert source_expectation.startswith("libjpeg-turbo")

    swapped = run_pinned_test(tag, source_expectation)
    assert swapped.returncode == 1, swapped.stdout
    assert "1 failed" in swapped.stdout
    assert "Pillow decodes JPEG with IJG libjpeg 9d" in swapped.stdout
    assert "pins {}".format(source_expectation) in swapped.stdout

    own = run_pinned_test(tag, "IJG libjpeg 9d")
    assert own.returncode == 0, own.stdout
    assert "2 passed" in own.stdout
