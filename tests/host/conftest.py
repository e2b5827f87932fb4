"""Host-side fixtures: real bundles captured in the real tox environments of this repo.

The case needs two builds of the same Pillow version that can't live in one interpreter, so
these fixtures run `edgeparity capture` with the interpreters of the `cloud-mxnet` (Pillow 8.4.0
wheel, IJG libjpeg 9d) and `edge-source` (Pillow 8.4.0 built against libjpeg-turbo) tox envs.
A test that needs an env tox has not created is skipped with the reason.
"""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLES = os.path.join(ROOT, "sample-images")


def _photos_only():
    """The 14 sample photos without sample-images/crops/ (the cost corpus the matrix adds):
    the tests here count and name those 14. A copy, so a capture of it sees nothing else."""
    folder = tempfile.mkdtemp(prefix="edgeparity-photos-")
    atexit.register(shutil.rmtree, folder, True)
    for name in os.listdir(SAMPLES):
        if name.endswith(".jpg"):
            shutil.copy(os.path.join(SAMPLES, name), os.path.join(folder, name))
    return folder


PHOTOS = _photos_only()
CANONICAL = os.path.join(ROOT, "src", "edgeparity", "canonical")  # package data


def tox_python(env):
    work_dir = os.environ.get("EDGEPARITY_TOX_WORK_DIR") or os.path.join(ROOT, ".tox")
    python = os.path.join(work_dir, env, "bin", "python")
    if not os.path.exists(python):
        pytest.skip(
            "tox env {!r} does not exist yet ({}); run `make test` (tox creates it "
            "before this env's tests)".format(env, python)
        )
    return python


def run_capture(python, out, name, pipeline, extra=()):
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src"))
    command = [
        python,
        "-m",
        "edgeparity",
        "capture",
        "--images",
        PHOTOS,
        "--out",
        str(out),
        "--name",
        name,
        "--pipeline",
        pipeline,
        "--quiet",
    ] + list(extra)
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert result.returncode == 0, result.stderr.decode()
    return str(out)


@pytest.fixture(scope="session")
def case_bundles(tmp_path_factory):
    """{'cloud': path, 'edge': path}: the case's two environments, captured for real."""
    folder = tmp_path_factory.mktemp("case")
    cloud = tox_python("cloud-mxnet")
    edge = tox_python("edge-source")
    return {
        "cloud": run_capture(
            cloud, folder / "cloud", "cloud", "decode=pillow,preprocess=pillow,infer=mxnet"
        ),
        "edge": run_capture(
            edge, folder / "edge", "edge", "decode=pillow,preprocess=pillow,infer=dlr"
        ),
    }


@pytest.fixture(scope="session")
def here_bundle(tmp_path_factory):
    """A bundle captured in this very interpreter (current Pillow, libjpeg-turbo)."""
    folder = tmp_path_factory.mktemp("here")
    return run_capture(sys.executable, folder / "here", "here", "decode=pillow")


def loaded_libjpeg(python):
    """Independent of edgeparity: decode with Pillow, then list libjpeg files in the maps."""
    script = (
        "import io, PIL.Image as I\n"
        "I.open(open({!r}, 'rb')).convert('RGB')\n"
        "paths = {{l.split()[-1] for l in open('/proc/self/maps') if 'libjpeg' in l}}\n"
        "print('\\n'.join(sorted(paths)))\n"
    ).format(os.path.join(SAMPLES, "photo-420.jpg"))
    output = subprocess.check_output([python, "-c", script]).decode().split()
    return output
