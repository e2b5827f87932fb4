"""The Docker matrix backend (edgeparity.matrix_docker) against the real docker CLI and engine.

The images built here are tiny probes FROM our debootstrapped base image: their default command
reports what the container saw (user, network, inputs, environment) into the bundle folder, so
the tests check the backend's own promises -- non-root, no network, inputs read-only, bundle
collected even from a failed run, unchanged images not rebuilt -- in seconds rather than the
minutes a real matrix image takes. Tests that need an engine skip with the reason when none is
reachable.
"""

import os
import time
from pathlib import Path

import pytest

from edgeparity import matrix_docker
from edgeparity.matrix_docker import DockerError, Entry

BASE_IMAGE = "edgeparity/base:bullseye-amd64"

# The probe writes what it observed; EXIT_CODE (a build arg) lets a test make the run fail
# after the bundle was written.
PROBE_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ARG EXIT_CODE=0
ENV EXIT_CODE=${EXIT_CODE}
RUN useradd --uid 1000 --create-home edgeparity && mkdir -p /inputs /out \\
 && chown edgeparity /out
COPY docker/probe/probe.sh /probe.sh
USER edgeparity
CMD ["sh", "/probe.sh"]
"""

PROBE_SCRIPT = """\
set -e
b=/out/$EDGEPARITY_NAME
mkdir -p $b
ls /inputs > $b/inputs.txt
id -u > $b/uid.txt
cat /proc/net/dev > $b/net.txt
if touch /inputs/written 2>/dev/null; then mode=writable; else mode=read-only; fi
echo $mode > $b/inputs-mode.txt
echo "$EDGEPARITY_EXPECT_LIBJPEG|$EDGEPARITY_PIPELINE" > $b/env.txt
echo probe says hello
exit $EXIT_CODE
"""


def make_project(root: Path, dockerfile: str = PROBE_DOCKERFILE) -> Path:
    """A minimal checkout: docker/probe/{Dockerfile,requirements.lock}, wheelhouse, images."""
    image_dir = root / "docker" / "probe"
    image_dir.mkdir(parents=True)
    (image_dir / "Dockerfile").write_text(dockerfile)
    (image_dir / "probe.sh").write_text(PROBE_SCRIPT)
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


@pytest.fixture
def engine():
    reachable, why = matrix_docker.engine_reachable()
    if not reachable:
        pytest.skip("no Docker engine: {} (make docker-engine)".format(why))
    if not matrix_docker.Engine().image_id(BASE_IMAGE):
        pytest.skip("base image {} missing: run `make base-images`".format(BASE_IMAGE))
    return matrix_docker.Engine()


# -- configuration and tags (no engine needed) ---------------------------------------------------


def test_entry_errors_name_the_entry_and_the_fix(tmp_path):
    make_project(tmp_path)
    with pytest.raises(DockerError, match=r"\[docker.x\]: unknown keys platfrom"):
        Entry("x", {"dockerfile": "docker/probe/Dockerfile", "platfrom": "linux/amd64"}, tmp_path)
    with pytest.raises(DockerError, match=r"\[docker.x\]: dockerfile .*nope does not exist"):
        Entry("x", {"dockerfile": "nope", "platform": "linux/amd64"}, tmp_path)
    with pytest.raises(DockerError, match="platform must be linux/amd64 or linux/arm64"):
        Entry("x", {"dockerfile": "docker/probe/Dockerfile", "platform": "arm64"}, tmp_path)


def test_tag_covers_build_args_lock_base_and_copied_source(tmp_path):
    make_project(tmp_path)

    def tag(build_args=None, base="sha256:1"):
        entry = Entry("probe", probe_entry(build_args=build_args or {"BASE_IMAGE": "b"}),
                      tmp_path)
        return matrix_docker.image_tag(entry, base)

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


def test_dockerfile_arg_defaults_are_read_when_build_args_omit_them():
    root = Path(__file__).resolve().parents[2]
    entry = Entry("j", {"dockerfile": "docker/jetson-dlr/Dockerfile", "platform": "linux/arm64"},
                  root)
    assert entry.arg("BASE_IMAGE") == "nvcr.io/nvidia/l4t-base:r32.7.1"
    assert entry.arg("LOCK") == "requirements-l4t.lock"
    assert entry.arg("NOT_AN_ARG") is None


def test_wheelhouse_check_wants_every_locked_file(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("numpy==1.23.5 \\\n    --hash=sha256:00\npillow==8.4.0 \\\n"
                    "    --hash=sha256:11 \\\n    --hash=sha256:22\n")
    house = tmp_path / "house"
    house.mkdir()
    (house / "numpy-1.23.5-cp39-cp39-manylinux_2_17_aarch64.manylinux2014_aarch64.whl").touch()
    assert not matrix_docker._wheelhouse_has(house, lock)
    (house / "Pillow-8.4.0.tar.gz").touch()
    assert matrix_docker._wheelhouse_has(house, lock)


def test_unreachable_engine_is_reported_with_its_address():
    if not matrix_docker.shutil.which("docker"):
        pytest.skip("no docker CLI installed")
    reachable, why = matrix_docker.engine_reachable(docker_host="tcp://127.0.0.1:9")
    assert not reachable
    assert "tcp://127.0.0.1:9" in why


# -- real builds and runs on the local engine -----------------------------------------------------


def test_run_is_non_root_offline_read_only_and_warm_runs_skip_the_build(tmp_path, engine):
    images = make_project(tmp_path)
    # Content no engine has seen: the first run must build.
    (tmp_path / "src" / "code.py").write_text("RUN = {!r}\n".format(time.time()))
    messages = []
    out = tmp_path / "out"
    bundles = matrix_docker.run({"probe": probe_entry()}, images, out, messages.append,
                                root=tmp_path)

    bundle = bundles["probe"]
    assert bundle == out / "bundles" / "probe"
    assert (bundle / "inputs.txt").read_text().split() == ["a.jpg", "b.jpg"]
    assert (bundle / "uid.txt").read_text().strip() != "0", "the container ran as root"
    interfaces = [line.split(":")[0].strip() for line in
                  (bundle / "net.txt").read_text().splitlines()[2:]]
    assert interfaces == ["lo"], "the container had a network: {}".format(interfaces)
    assert (bundle / "inputs-mode.txt").read_text().strip() == "read-only"
    assert (bundle / "env.txt").read_text().strip() == "IJG libjpeg 9d|decode=pillow,infer=mxnet"
    assert (out / "logs" / "probe.exitcode").read_text().strip() == "0"
    assert "probe says hello" in (out / "logs" / "probe.run.log").read_text()
    assert os.stat(str(bundle)).st_uid == os.getuid(), "the bundle must belong to the caller"
    assert any("building edgeparity/probe:" in m for m in messages)

    messages.clear()
    matrix_docker.run({"probe": probe_entry()}, images, out, messages.append, root=tmp_path)
    assert any("is up to date" in m for m in messages), messages
    assert not any("building" in m for m in messages), messages


def test_failed_run_still_exports_its_bundle_then_raises(tmp_path, engine):
    images = make_project(tmp_path)
    entry = probe_entry(build_args={"BASE_IMAGE": BASE_IMAGE, "EXIT_CODE": "3"})
    out = tmp_path / "out"
    with pytest.raises(DockerError) as raised:
        matrix_docker.run({"probe": entry}, images, out, lambda m: None, root=tmp_path)
    message = str(raised.value)
    assert "probe: the container exited with 3" in message
    assert "probe says hello" in message, "the error must show the tail of the run log"
    assert (out / "logs" / "probe.exitcode").read_text().strip() == "3"
    assert (out / "bundles" / "probe" / "inputs.txt").is_file()


def test_build_failure_shows_the_log_tail(tmp_path, engine):
    broken = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo about-to-fail && false\n"
    images = make_project(tmp_path, dockerfile=broken)
    with pytest.raises(DockerError) as raised:
        matrix_docker.run({"probe": probe_entry()}, images, tmp_path / "out", lambda m: None,
                          root=tmp_path)
    message = str(raised.value)
    assert "probe: building the image failed" in message
    assert "about-to-fail" in message
