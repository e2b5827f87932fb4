"""The device-side install, as the README documents it, on a CPython 3.6 with its old pip.

A Jetson on JetPack 4 has CPython 3.6.9 and pip 9; nothing there builds a pyproject.toml-only
project (pip < 19). What goes onto a device is therefore a wheel or the zipapp. Here, for real:

- a fresh venv of the CPython 3.6 that the `edge-source` tox env is based on (found through
  EDGEPARITY_TOX_WORK_DIR, like every test that needs another env), with the pip its ensurepip
  ships (18.1 for 3.6.15), and nothing else but numpy 1.19.5 and the source-built Pillow 8.4.0
  of `edge-source`, linked in (installing them would need an index);
- the wheel, built from this checkout with flit_core (as `make wheel` does), installed by that
  pip with the README's command (plus --no-index, so the test can never reach the network);
- dist/edgeparity.pyz as `make zipapp` builds it, run by the same interpreter in a venv that has
  no pip and no edgeparity at all;
- `capture` on a folder of JPEGs, run from outside the checkout without --canonical: the bundle
  must hold the isolated runs on the canonical inputs shipped inside the package.

Skipped with the reason when the `edge-source` env or flit_core is not there.
"""

import base64
import configparser
import glob
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
from test_wheel_smoke import clean_env, flit_core_or_skip

from conftest import CANONICAL, ROOT, SAMPLES, tox_python
from edgeparity import bundle

JPEGS = ("photo-420.jpg", "photo-444.jpg", "photo-grayscale.jpg", "camera-canon-s40.jpg")
# What a CPython 3.6 capture needs, taken from `edge-source` (numpy 1.19.5, Pillow 8.4.0 built
# from source): packages and the metadata pip reads to see numpy is installed.
LENT = ("numpy", "numpy.libs", "numpy-*.dist-info", "PIL", "Pillow-*")


def run(command: List[str], cwd: Path, env: Dict[str, str]) -> subprocess.CompletedProcess:
    # Builds here must not take a date from the caller's environment (make's is the commit's).
    env = {key: value for key, value in env.items() if key != "SOURCE_DATE_EPOCH"}
    return subprocess.run([str(part) for part in command], cwd=str(cwd), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=600)


def base_python36() -> str:
    """The CPython 3.6 the `edge-source` env was made from (its pyvenv.cfg says which)."""
    env_python = tox_python("edge-source")
    config = configparser.ConfigParser()
    with open(os.path.join(os.path.dirname(os.path.dirname(env_python)), "pyvenv.cfg")) as cfg:
        config.read_string("[venv]\n" + cfg.read())
    python = config["venv"].get("base-executable") or os.path.join(
        config["venv"]["home"], "python3")
    if not os.path.exists(python):
        pytest.skip("the CPython 3.6 of tox env edge-source is gone ({})".format(python))
    return python


def site_packages(python: Path) -> Path:
    script = "import sysconfig; print(sysconfig.get_path('purelib'))"
    return Path(run([python, "-c", script], python.parent, clean_env()).stdout.strip())


def lend_numpy_and_pillow(target: Path) -> None:
    """Link edge-source's numpy and Pillow (nothing else) into ``target`` site-packages."""
    source = site_packages(Path(tox_python("edge-source")))
    for pattern in LENT:
        matches = sorted(source.glob(pattern))
        if not matches and pattern != "numpy.libs":
            pytest.skip("tox env edge-source lacks {} (in {})".format(pattern, source))
        for path in matches:
            (target / path.name).symlink_to(path)


def new_venv(folder: Path, with_pip: bool) -> Path:
    """A fresh venv of the CPython 3.6 with numpy and Pillow only; returns its python."""
    made = run([base_python36(), "-m", "venv"] + ([] if with_pip else ["--without-pip"])
               + [folder], folder.parent, clean_env())
    assert made.returncode == 0, made.stderr
    python = folder / "bin" / "python"
    lend_numpy_and_pillow(site_packages(python))
    return python


@pytest.fixture(scope="module")
def device(tmp_path_factory) -> Dict[str, Path]:
    """Built artefacts and a place that is not the checkout: {'wheel', 'pyz', 'images', 'cwd'}."""
    flit = flit_core_or_skip()
    base_python36()  # skip early when there is no CPython 3.6
    folder = tmp_path_factory.mktemp("device")
    dist = folder / "dist"
    dist.mkdir()
    build = run([sys.executable, "-c",
                 "import sys; from flit_core.buildapi import build_wheel; "
                 "print(build_wheel(sys.argv[1]))", dist], Path(ROOT), clean_env(flit))
    assert build.returncode == 0, "building the wheel failed:\n" + build.stderr
    wheel = dist / build.stdout.strip().splitlines()[-1]
    pyz = dist / "edgeparity.pyz"
    built = run([sys.executable, os.path.join(ROOT, "tools", "build_zipapp.py"), "--out", pyz],
                Path(ROOT), clean_env())
    assert built.returncode == 0, built.stderr
    images = folder / "my-photos"  # a user's folder: JPEGs only, no canonical/ beside them
    images.mkdir()
    for name in JPEGS:
        shutil.copy(os.path.join(SAMPLES, name), str(images / name))
    cwd = folder / "elsewhere"
    cwd.mkdir()
    return {"wheel": wheel, "pyz": pyz, "images": images, "cwd": cwd, "folder": folder}


def snapshot(folder: Path) -> Dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_isolated_runs_on_packaged_canonical(path: Path, where: str) -> None:
    """The bundle holds preprocess=pillow on every shipped decoded-*.npy, from the package."""
    loaded = bundle.load(str(path))  # this (host) edgeparity reads what CPython 3.6 wrote
    source = loaded.manifest["canonical_source"]
    assert source["origin"] == "packaged", source
    assert source["location"].startswith(where), source
    shipped = sorted(n for n in os.listdir(CANONICAL) if n.endswith(".npy"))
    assert source["files"] == shipped
    isolated = {r["image"]: r for r in loaded.records.values()
                if r["mode"] == "isolated" and r["chain"].endswith("preprocess=pillow")}
    decoded = [n for n in shipped if n.startswith("decoded-")]
    assert sorted(isolated) == ["canonical:" + n[:-4] for n in decoded]
    for name in decoded:
        record = isolated["canonical:" + name[:-4]]
        assert record["status"] == "ok", record
        # The run's input is the shipped file's array, byte for byte.
        expected = np.load(os.path.join(CANONICAL, name), allow_pickle=False)
        assert record["input"] == bundle.array_digest(expected)
    e2e = [r for r in loaded.records.values() if r["mode"] == "e2e" and r["status"] == "ok"]
    assert {r["image"] for r in e2e} == set(JPEGS)


def test_the_wheel_installs_with_the_old_pip_of_a_python36_venv_and_captures(device):
    python = new_venv(device["folder"] / "venv-wheel", with_pip=True)
    pip = run([python, "-m", "pip", "--version"], device["cwd"], clean_env())
    version = re.match(r"pip (\d+)", pip.stdout)
    assert version, pip.stdout + pip.stderr
    if int(version.group(1)) >= 19:
        pytest.skip("this CPython 3.6's ensurepip has pip {} (>= 19): not an old pip".format(
            version.group(1)))
    before = snapshot(device["images"])
    # The README's command (numpy is already there, as on a JetPack with python3-numpy).
    install = run([python, "-m", "pip", "install", "--no-index", "--disable-pip-version-check",
                   device["wheel"]], device["cwd"], clean_env())
    assert install.returncode == 0, install.stdout + install.stderr
    out = device["folder"] / "bundles" / "from-wheel"
    edgeparity = python.parent / "edgeparity"
    capture = run([edgeparity, "capture", "--images", device["images"], "--out", out,
                   "--name", "jetson", "--pipeline", "decode=pillow,preprocess=pillow", "-q"],
                  device["cwd"], clean_env())
    assert capture.returncode == 0, capture.stderr
    assert "no canonical inputs" not in capture.stderr
    assert_isolated_runs_on_packaged_canonical(out, str(site_packages(python)))
    assert snapshot(device["images"]) == before  # nothing written into the user's images


def test_pip_of_python36_honours_requires_python_of_the_wheel(device, tmp_path):
    metadata = read_metadata(device["wheel"])
    assert "Requires-Python: >=3.6" in metadata.splitlines()
    assert "Requires-Dist: numpy" in metadata.splitlines()
    # The same wheel claiming a newer Python must be refused by this old pip: proof that it
    # reads the field from a local wheel file (so a Python 3.5 pip refuses the real one).
    python = new_venv(tmp_path / "venv", with_pip=True)
    raised = rewrite_metadata(device["wheel"], tmp_path / "raised" / device["wheel"].name,
                              "Requires-Python: >=3.6", "Requires-Python: >=3.7")
    install = run([python, "-m", "pip", "install", "--no-index", "--no-deps",
                   "--disable-pip-version-check", raised], tmp_path, clean_env())
    assert install.returncode != 0
    assert "requires Python '>=3.7' but the running Python is 3.6" in install.stderr, \
        install.stderr


def test_the_zipapp_captures_with_nothing_but_python36_and_numpy(device):
    python = new_venv(device["folder"] / "venv-pyz", with_pip=False)
    check = run([python, "-c", "import edgeparity"], device["cwd"], clean_env())
    assert check.returncode != 0  # no edgeparity installed: the .pyz alone must do
    before = snapshot(device["images"])
    out = device["folder"] / "bundles" / "from-pyz"
    cache = device["folder"] / "cache"
    env = dict(clean_env(), EDGEPARITY_CACHE_DIR=str(cache))
    capture = run([python, device["pyz"], "capture", "--images", device["images"], "--out", out,
                   "-q"], device["cwd"], env)
    assert capture.returncode == 0, capture.stderr
    assert_isolated_runs_on_packaged_canonical(out, str(device["pyz"]) + "/")
    assert snapshot(device["images"]) == before
    # The canonical inputs are read from the archive, not extracted anywhere.
    assert not list(cache.rglob("*.npy")), list(cache.rglob("*.npy"))
    # Only what may infer copies the demo model out of the archive; a decode-only capture not.
    decode_cache = device["folder"] / "decode-cache"
    decode = run([python, device["pyz"], "capture", "--images", device["images"], "--out",
                  device["folder"] / "bundles" / "decode-only", "--stages", "decode", "-q"],
                 device["cwd"], dict(env, EDGEPARITY_CACHE_DIR=str(decode_cache)))
    assert decode.returncode == 0, decode.stderr
    assert not (decode_cache / "demo-model").exists()


def test_the_zipapp_spawns_capture_workers(device, tmp_path):
    # capture --jobs starts workers with spawn, which re-run the main module: from a zip too.
    python = new_venv(tmp_path / "venv", with_pip=False)
    images = tmp_path / "many"
    images.mkdir()
    for index in range(12):  # two chunks of 8: two workers
        shutil.copy(os.path.join(SAMPLES, JPEGS[index % 2]), str(images / "{}.jpg".format(index)))
    out = tmp_path / "b"
    capture = run([python, device["pyz"], "capture", "--images", images, "--out", out,
                   "--impl", "pillow", "--stages", "decode", "-j", "2"], tmp_path, clean_env())
    assert capture.returncode == 0, capture.stderr
    loaded = bundle.load(str(out))
    assert len([r for r in loaded.records.values() if r["status"] == "ok"]) == 12


def test_the_zipapp_runs_the_demo_model_like_the_checkout(device, tmp_path):
    """edge-source has DLR and ONNX Runtime: from the .pyz they open the demo model by path
    (a copy in the cache), and give exactly what the checkout's src/ gives."""
    python = tox_python("edge-source")
    outputs = {}
    for label, command in (("pyz", [device["pyz"]]), ("src", ["-m", "edgeparity"])):
        env = dict(clean_env(os.path.join(ROOT, "src") if label == "src" else ""),
                   EDGEPARITY_CACHE_DIR=str(tmp_path / "cache"), DLR_DISABLE_PHONE_HOME="1")
        out = tmp_path / label
        result = run([python] + command + [
            "capture", "--images", device["images"], "--out", out, "--stages", "infer",
            "--impl", "dlr,onnxruntime", "-q"], tmp_path, env)
        assert result.returncode == 0, result.stderr
        records = bundle.load(str(out)).records
        outputs[label] = {key: (r["status"], r.get("sha256")) for key, r in records.items()}
        assert all(status == "ok" for status, _ in outputs[label].values()), outputs[label]
    assert outputs["pyz"] == outputs["src"]
    assert {key.split("|")[0] for key in outputs["pyz"]} >= {"probe:ones", "probe:noise"}
    assert list((tmp_path / "cache" / "demo-model").iterdir())  # what the runtimes opened


def test_the_zipapp_refuses_host_commands_and_a_missing_numpy_in_one_line(device, tmp_path):
    python = new_venv(tmp_path / "venv", with_pip=False)
    host = run([python, device["pyz"], "compare", "a", "b"], tmp_path, clean_env())
    assert host.returncode == 2
    assert host.stderr.strip().splitlines() == [
        "edgeparity: error: `edgeparity compare` runs on the host, which needs Python >= 3.9 "
        "(this is 3.6): copy the bundles to such a machine, or run it there; capture and probe "
        "run here"]

    bare = tmp_path / "bare"  # the same interpreter without numpy
    made = run([base_python36(), "-m", "venv", "--without-pip", bare], tmp_path, clean_env())
    assert made.returncode == 0, made.stderr
    missing = run([bare / "bin" / "python", device["pyz"], "capture", "--images", "x", "--out",
                   "y"], tmp_path, clean_env())
    assert missing.returncode == 2
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs numpy >= 1.11, and this Python has none" in lines[0], \
        missing.stderr


def older_pythons() -> List[str]:
    """Interpreters older than 3.6 on this machine: pyenv's siblings of the 3.6, or PATH."""
    versions = os.path.dirname(os.path.dirname(os.path.dirname(base_python36())))
    found = sorted(glob.glob(os.path.join(versions, "2.*", "bin", "python")) +
                   glob.glob(os.path.join(versions, "3.[0-5].*", "bin", "python")))
    for name in ("python3.5", "python2.7"):
        path = shutil.which(name)
        if path and run([path, "-c", "pass"], Path("/"), clean_env()).returncode == 0:
            found.append(path)
    return found


def test_the_zipapp_tells_an_older_python_what_it_needs(device, tmp_path):
    pythons = older_pythons()
    if not pythons:
        pytest.skip("no Python older than 3.6 on this machine to run the .pyz with")
    for python in pythons:
        result = run([python, device["pyz"], "probe"], tmp_path, clean_env())
        assert result.returncode == 2, (python, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(
            "edgeparity: error: edgeparity needs CPython >= 3.6; this is "), (python, lines)


def test_the_zipapp_build_is_reproducible(device, tmp_path):
    again = tmp_path / "again.pyz"
    built = run([sys.executable, os.path.join(ROOT, "tools", "build_zipapp.py"), "--out", again],
                tmp_path, clean_env())
    assert built.returncode == 0, built.stderr
    assert again.read_bytes() == device["pyz"].read_bytes()
    with zipfile.ZipFile(str(again)) as archive:
        names = archive.namelist()
        assert names == sorted(names)
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert "__main__.py" in names and "edgeparity/__init__.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    shipped = {"edgeparity/canonical/" + n for n in os.listdir(CANONICAL)}
    assert shipped <= set(names)


# -- wheel metadata helpers ---------------------------------------------------------------------


def read_metadata(wheel: Path) -> str:
    with zipfile.ZipFile(str(wheel)) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return archive.read(name).decode("utf-8")


def rewrite_metadata(wheel: Path, target: Path, old: str, new: str) -> Path:
    """A copy of ``wheel`` with one METADATA line changed and its RECORD entry updated."""
    target.parent.mkdir(parents=True)
    with zipfile.ZipFile(str(wheel)) as source, zipfile.ZipFile(str(target), "w") as copy:
        names = source.namelist()
        metadata_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        record_name = next(n for n in names if n.endswith(".dist-info/RECORD"))
        metadata = source.read(metadata_name).decode("utf-8")
        assert old in metadata
        changed = metadata.replace(old, new).encode("utf-8")
        digest = base64.urlsafe_b64encode(hashlib.sha256(changed).digest()).rstrip(b"=")
        records = []
        for line in source.read(record_name).decode("utf-8").splitlines():
            if line.startswith(metadata_name + ","):
                line = "{},sha256={},{}".format(metadata_name, digest.decode(), len(changed))
            records.append(line)
        for name in names:
            data = {metadata_name: changed,
                    record_name: ("\n".join(records) + "\n").encode("utf-8")}.get(name)
            copy.writestr(name, source.read(name) if data is None else data)
    return target


def test_rewrite_metadata_keeps_the_record_consistent(device, tmp_path):
    # The helper above must produce a wheel whose RECORD matches, or pip's refusal in the
    # Requires-Python test could come from a broken RECORD instead.
    copy = rewrite_metadata(device["wheel"], tmp_path / "w" / device["wheel"].name,
                            "Requires-Python: >=3.6", "Requires-Python: >=3.7")
    with zipfile.ZipFile(str(copy)) as archive:
        record = next(n for n in archive.namelist() if n.endswith("RECORD"))
        for row in io.StringIO(archive.read(record).decode("utf-8")):
            path, digest, size = row.strip().rsplit(",", 2)
            if digest:
                data = archive.read(path)
                expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                assert digest == "sha256=" + expected.decode() and int(size) == len(data), path
    assert "Requires-Python: >=3.7" in read_metadata(copy).splitlines()
