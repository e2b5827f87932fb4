"""The Docker matrix backend (edgeparity.matrix.docker) against the real docker CLI and engine.

The images built here are tiny probes FROM our debootstrapped base image. Their ``python3`` is a
shell stand-in: ``python3 -m pytest ...`` (the in-image tests step) reports what it saw into its
log; ``python3 -m edgeparity capture ... --out DIR`` (the capture step) reports what the
container saw (user, network, inputs, environment) into DIR, which becomes the bundle. So the
tests check the backend's own promises -- tests before capture with expect_libjpeg set,
non-root, no network, inputs read-only, bundle collected even from a failed run, unchanged
images not rebuilt -- in seconds rather than the minutes a real matrix image takes. Tests that
need an engine are marked ``docker`` and skip with the reason when none is reachable.
"""

import os
import shutil
import time
from pathlib import Path
from typing import Dict

import pytest

from edgeparity.matrix import config as matrix_config
from edgeparity.matrix.backend import MatrixError
from edgeparity.matrix.docker import DockerBackend, Engine, engine_reachable, image
from edgeparity.matrix.run import run_all

BASE_IMAGE = "edgeparity/base:bullseye-amd64"

# TESTS_EXIT and CAPTURE_EXIT (build args) let a test make either step fail; the capture step
# writes its bundle first.
PROBE_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ARG TESTS_EXIT=0
ARG CAPTURE_EXIT=0
ENV TESTS_EXIT=${TESTS_EXIT} CAPTURE_EXIT=${CAPTURE_EXIT}
RUN useradd --uid 1000 --create-home edgeparity && mkdir -p /inputs /out \\
 && chown edgeparity /out
COPY docker/probe/python3 /usr/local/bin/python3
RUN chmod 0755 /usr/local/bin/python3
USER edgeparity
"""

PROBE_PYTHON = """\
#!/bin/sh
set -e
if [ "$2" = pytest ]; then
    echo "tests ran as $(id -u) with EDGEPARITY_EXPECT_LIBJPEG=${EDGEPARITY_EXPECT_LIBJPEG:-unset}"
    echo "probe tests say hello"
    exit $TESTS_EXIT
fi
while [ $# -gt 0 ]; do
    case "$1" in
        --out) b="$2"; shift ;;
        --pipeline) pipeline="$2"; shift ;;
    esac
    shift
done
mkdir -p "$b"
ls /inputs > "$b/inputs.txt"
id -u > "$b/uid.txt"
cat /proc/net/dev > "$b/net.txt"
if touch /inputs/written 2>/dev/null; then mode=writable; else mode=read-only; fi
echo $mode > "$b/inputs-mode.txt"
echo "${EDGEPARITY_EXPECT_LIBJPEG:-unset}|$pipeline" > "$b/env.txt"
echo "probe capture says hello"
exit $CAPTURE_EXIT
"""


def make_project(root: Path, dockerfile: str = PROBE_DOCKERFILE) -> Path:
    """A minimal checkout: docker/probe/{Dockerfile,python3,requirements.lock}, wheelhouse,
    images."""
    image_dir = root / "docker" / "probe"
    image_dir.mkdir(parents=True)
    (image_dir / "Dockerfile").write_text(dockerfile)
    (image_dir / "python3").write_text(PROBE_PYTHON)
    (image_dir / "requirements.lock").write_text("# nothing to install\n")
    (root / "wheelhouse" / "probe").mkdir(parents=True)
    (root / "src").mkdir()
    (root / "src" / "code.py").write_text("VALUE = 1\n")
    images = root / "images"
    images.mkdir()
    (images / "a.jpg").write_bytes(b"\xff\xd8\xff\xd9")
    (images / "b.jpg").write_bytes(b"\xff\xd8\xff\xd9")
    return images


def probe_entry(**extra) -> dict:
    entry = {
        "dockerfile": "docker/probe/Dockerfile",
        "platform": "linux/amd64",
        "build_args": {"BASE_IMAGE": BASE_IMAGE},
        "expect_libjpeg": "IJG libjpeg 9d",
        "pipeline": {"decode": "pillow", "infer": "mxnet"},
    }
    entry.update(extra)
    return entry


def _toml_value(value) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join("{} = {}".format(k, _toml_value(v))
                                for k, v in value.items()) + " }"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"{}"'.format(value.replace("\\", "\\\\").replace('"', '\\"'))
    return repr(value)


def write_matrix(root: Path, docker: Dict[str, dict]) -> Path:
    """A matrix.toml in ``root`` with these [docker.NAME] entries."""
    lines = []
    for name, entry in docker.items():
        lines.append("[docker.{}]".format(name))
        lines += ["{} = {}".format(key, _toml_value(value)) for key, value in entry.items()]
    path = root / "matrix.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def environment(root: Path, name: str = "probe", **extra) -> matrix_config.DockerEnvironment:
    return matrix_config.load(write_matrix(root, {name: probe_entry(**extra)})).docker[name]


@pytest.fixture
def engine():
    reachable, why = engine_reachable()
    if not reachable:
        pytest.skip("no Docker engine: {} (make docker-engine)".format(why))
    if not Engine().image_id(BASE_IMAGE):
        pytest.skip("base image {} missing: run `make base-images`".format(BASE_IMAGE))
    return Engine()


# -- configuration and tags (no engine needed) ---------------------------------------------------


def test_entry_errors_name_the_entry_and_the_fix(tmp_path):
    make_project(tmp_path)
    ConfigError = matrix_config.ConfigError
    with pytest.raises(ConfigError, match=r"\[docker.x\]: unknown key platfrom"):
        environment(tmp_path, "x", platfrom="linux/amd64")
    with pytest.raises(ConfigError, match=r"\[docker.x\]: dockerfile .*nope does not exist"):
        environment(tmp_path, "x", dockerfile="nope")
    with pytest.raises(ConfigError, match="platform must be linux/amd64 or linux/arm64"):
        environment(tmp_path, "x", platform="arm64")
    with pytest.raises(ConfigError, match=r"\[docker.x\]: 'runtime' must be a string"):
        environment(tmp_path, "x", runtime=True)


def test_tag_covers_build_args_lock_base_and_copied_source(tmp_path):
    make_project(tmp_path)

    def tag(build_args=None, base="sha256:1"):
        entry = environment(tmp_path, build_args=build_args or {"BASE_IMAGE": "b"})
        return image.image_tag(entry, base)

    first = tag()
    assert first.startswith("edgeparity/probe:")
    assert tag() == first, "the same inputs must give the same tag (warm runs skip the build)"
    assert tag(build_args={"BASE_IMAGE": "b", "PILLOW_BUILD": "wheel"}) != first
    assert tag(base="sha256:2") != first
    (tmp_path / "docker" / "probe" / "requirements.lock").write_text("numpy==1.0 \\\n")
    after_lock = tag()
    assert after_lock != first
    (tmp_path / "src" / "code.py").write_text("VALUE = 2\n")
    assert tag() != after_lock


def test_dockerfile_arg_defaults_are_read_when_build_args_omit_them(tmp_path):
    root = Path(__file__).resolve().parents[2]
    config = tmp_path / "matrix.toml"
    config.write_text('[docker.j]\ndockerfile = "{}"\nplatform = "linux/arm64"\n'.format(
        root / "docker" / "jetson-dlr" / "Dockerfile"))
    entry = matrix_config.load(config).docker["j"]
    assert image.build_arg(entry, "BASE_IMAGE") == "nvcr.io/nvidia/l4t-base:r32.7.1"
    assert image.build_arg(entry, "LOCK") == "requirements-l4t.lock"
    assert image.build_arg(entry, "NOT_AN_ARG") is None


def test_wheelhouse_check_wants_every_locked_file(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("numpy==1.23.5 \\\n    --hash=sha256:00\npillow==8.4.0 \\\n"
                    "    --hash=sha256:11 \\\n    --hash=sha256:22\n")
    house = tmp_path / "house"
    house.mkdir()
    (house / "numpy-1.23.5-cp39-cp39-manylinux_2_17_aarch64.manylinux2014_aarch64.whl").touch()
    assert not image.wheelhouse_has(house, lock)
    (house / "Pillow-8.4.0.tar.gz").touch()
    assert image.wheelhouse_has(house, lock)


def test_unreachable_engine_is_reported_with_its_address():
    if not shutil.which("docker"):
        pytest.skip("no docker CLI installed")
    reachable, why = engine_reachable(docker_host="tcp://127.0.0.1:9")
    assert not reachable
    assert "tcp://127.0.0.1:9" in why


# -- real builds and runs on the local engine -----------------------------------------------------


@pytest.mark.docker
def test_run_is_tests_then_capture_non_root_offline_read_only_and_warm_runs_skip_the_build(
        tmp_path, engine):
    images = make_project(tmp_path)
    # Content no engine has seen: the first run must build.
    (tmp_path / "src" / "code.py").write_text("RUN = {!r}\n".format(time.time()))
    messages = []
    out = tmp_path / "out"
    probe = environment(tmp_path)
    bundles = run_all(DockerBackend(messages.append), [probe], images, out)

    bundle = bundles["probe"]
    assert bundle == out / "bundles" / "probe"
    assert (bundle / "inputs.txt").read_text().split() == ["a.jpg", "b.jpg"]
    assert (bundle / "uid.txt").read_text().strip() != "0", "the container ran as root"
    interfaces = [line.split(":")[0].strip() for line in
                  (bundle / "net.txt").read_text().splitlines()[2:]]
    assert interfaces == ["lo"], "the container had a network: {}".format(interfaces)
    assert (bundle / "inputs-mode.txt").read_text().strip() == "read-only"
    assert (bundle / "env.txt").read_text().strip() == "IJG libjpeg 9d|decode=pillow,infer=mxnet"
    tests_log = (out / "logs" / "probe.tests.log").read_text()
    assert "EDGEPARITY_EXPECT_LIBJPEG=IJG libjpeg 9d" in tests_log
    assert "tests ran as 0 " not in tests_log, "the tests ran as root"
    assert "probe capture says hello" in (out / "logs" / "probe.capture.log").read_text()
    assert (out / "logs" / "probe.exitcode").read_text().strip() == "0"
    assert os.stat(str(bundle)).st_uid == os.getuid(), "the bundle must belong to the caller"
    steps = [m for m in messages if "in-environment tests (" in m or "capturing (" in m]
    assert len(steps) == 2 and "tests" in steps[0] and "capturing" in steps[1], messages
    assert any("building edgeparity/probe:" in m for m in messages)

    messages.clear()
    run_all(DockerBackend(messages.append), [probe], images, out)
    assert any("is up to date" in m for m in messages), messages
    assert not any("building" in m for m in messages), messages


@pytest.mark.docker
def test_failed_tests_still_capture_and_export_the_bundle_then_raise(tmp_path, engine):
    images = make_project(tmp_path)
    probe = environment(tmp_path, build_args={"BASE_IMAGE": BASE_IMAGE, "TESTS_EXIT": "3"})
    out = tmp_path / "out"
    with pytest.raises(MatrixError) as raised:
        run_all(DockerBackend(lambda m: None), [probe], images, out)
    message = str(raised.value)
    assert "probe: the in-environment tests failed (exit 3)" in message
    assert "probe tests say hello" in message, "the error must show the tail of the tests log"
    assert (out / "logs" / "probe.exitcode").read_text().strip() == "3"
    assert (out / "bundles" / "probe" / "inputs.txt").is_file()


@pytest.mark.docker
def test_failed_capture_is_reported_with_its_log(tmp_path, engine):
    images = make_project(tmp_path)
    probe = environment(tmp_path, build_args={"BASE_IMAGE": BASE_IMAGE, "CAPTURE_EXIT": "4"})
    out = tmp_path / "out"
    with pytest.raises(MatrixError, match=r"probe: the capture failed \(exit 4\)"):
        run_all(DockerBackend(lambda m: None), [probe], images, out)
    assert (out / "logs" / "probe.exitcode").read_text().strip() == "4"


@pytest.mark.docker
def test_no_build_refuses_a_missing_image(tmp_path, engine):
    images = make_project(tmp_path)
    (tmp_path / "src" / "code.py").write_text("NEVER_BUILT = {!r}\n".format(time.time()))
    with pytest.raises(MatrixError, match="building was turned off"):
        run_all(DockerBackend(lambda m: None, build=False), [environment(tmp_path)], images,
                tmp_path / "out")


@pytest.mark.docker
def test_build_failure_shows_the_log_tail(tmp_path, engine):
    broken = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo about-to-fail && false\n"
    images = make_project(tmp_path, dockerfile=broken)
    with pytest.raises(MatrixError) as raised:
        run_all(DockerBackend(lambda m: None), [environment(tmp_path)], images,
                tmp_path / "out")
    message = str(raised.value)
    assert "probe: building the image failed" in message
    assert "about-to-fail" in message
