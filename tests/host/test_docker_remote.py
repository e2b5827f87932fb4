"""A matrix entry with ``docker_host`` builds and runs on that engine, not the local one.

The "remote" engine is a second dockerd on loopback TCP with its own data root and its own
bridge, so nothing is shared with the local engine: the base image has to be copied over
(docker save | docker load), inputs go in and the bundle comes out by `docker cp`, exactly as
with a Jetson reached through ssh://. Starting a dockerd needs root; the test skips otherwise.

(Its bridge is a dedicated interface: a second dockerd started with ``--bridge none`` deletes the
host's docker0, breaking the local engine.)
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from edgeparity.matrix.docker import DockerBackend, Engine, engine_reachable
from edgeparity.matrix.run import run_all

try:  # tests/host as a package, or as a plain folder on sys.path (pytest's default)
    from .test_docker_matrix import BASE_IMAGE, environment, make_project
except ImportError:
    from test_docker_matrix import BASE_IMAGE, environment, make_project  # type: ignore

# Every test here builds or runs images or starts a daemon: `pytest -m "not docker"` omits it.
pytestmark = pytest.mark.docker

BRIDGE = "epd2br0"
BRIDGE_ADDRESS = "172.29.0.1/24"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def second_engine():
    """A second dockerd on tcp://127.0.0.1:<port>; yields its DOCKER_HOST."""
    if os.geteuid() != 0:
        pytest.skip("starting a second dockerd needs root")
    for tool in ("dockerd", "docker", "ip"):
        if shutil.which(tool) is None:
            pytest.skip("{} is not installed".format(tool))
    reachable, why = engine_reachable()
    if not reachable:
        pytest.skip("no local Docker engine to copy the base image from: {}".format(why))
    if not Engine().image_id(BASE_IMAGE):
        pytest.skip("base image {} missing: run `make base-images`".format(BASE_IMAGE))
    subprocess.run(["ip", "link", "del", BRIDGE], stderr=subprocess.DEVNULL)  # stale, if any
    made = subprocess.run(
        "ip link add {0} type bridge && ip addr add {1} dev {0} && ip link set {0} up".format(
            BRIDGE, BRIDGE_ADDRESS), shell=True, stderr=subprocess.PIPE, text=True)
    if made.returncode != 0:
        pytest.skip("cannot create bridge {} for the second dockerd: {}".format(
            BRIDGE, made.stderr.strip()))
    # Short paths: containerd's socket lives under --exec-root and must fit in sun_path.
    state = tempfile.mkdtemp(prefix="ep-d2-", dir="/tmp")
    host = "tcp://127.0.0.1:{}".format(_free_port())
    log = open(os.path.join(state, "dockerd.log"), "w")
    daemon = subprocess.Popen(
        ["dockerd", "--host", host, "--data-root", os.path.join(state, "data"),
         "--exec-root", os.path.join(state, "exec"), "--pidfile", os.path.join(state, "pid"),
         "--bridge", BRIDGE, "--iptables=false", "--ip-masq=false"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while not engine_reachable(docker_host=host)[0]:
            if daemon.poll() is not None or time.time() > deadline:
                with open(os.path.join(state, "dockerd.log")) as handle:
                    tail = handle.read()[-1500:]
                pytest.skip("the second dockerd did not start:\n" + tail)
            time.sleep(0.5)
        yield host
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
        subprocess.run(["ip", "link", "del", BRIDGE], stderr=subprocess.DEVNULL)
        shutil.rmtree(state, ignore_errors=True)


def test_entry_with_docker_host_builds_and_runs_there(tmp_path, second_engine):
    remote = Engine(docker_host=second_engine)
    local = Engine()
    assert remote.image_id(BASE_IMAGE) is None, "the second engine must start empty"
    images = make_project(tmp_path)
    # A tag no engine has seen, so "not on the local engine" means "not built there".
    (tmp_path / "src" / "code.py").write_text("RUN = {!r}\n".format(time.time()))
    messages = []
    probe = environment(tmp_path, docker_host=second_engine)

    bundles = run_all(DockerBackend(messages.append), [probe], images, tmp_path / "out")

    bundle = bundles["probe"]
    assert (bundle / "inputs.txt").read_text().split() == ["a.jpg", "b.jpg"]
    assert (bundle / "uid.txt").read_text().strip() == "1000"
    interfaces = [line.split(":")[0].strip()
                  for line in (bundle / "net.txt").read_text().splitlines()[2:]]
    assert interfaces == ["lo"]
    assert "EDGEPARITY_EXPECT_LIBJPEG=IJG libjpeg 9d" in (
        tmp_path / "out" / "logs" / "probe.tests.log").read_text()
    assert any("copying base image" in m for m in messages), messages
    tag = next(m.split()[2] for m in messages if "building edgeparity/probe:" in m)
    assert remote.image_id(tag), "the image must be built on the docker_host engine"
    assert local.image_id(tag) is None, "the image must not be built on the local engine"
    assert "engine {}".format(second_engine) in " ".join(messages)

    messages.clear()
    run_all(DockerBackend(messages.append), [probe], images, tmp_path / "out2")
    assert any("is up to date" in m for m in messages), messages
