"""Smoke test of the installed wheel, so packaging mistakes show.

Every other test imports edgeparity from src/ (tests/conftest.py puts it on sys.path), where a
subpackage or data file the wheel leaves out is still there. Here the wheel is built from this
checkout with flit_core (no index contacted), installed into a fresh venv, and checked by
subprocesses whose environment and sys.path hold no src/: the console script runs, every module
of src/edgeparity is installed and imports, the demo model's data files came along.

The venv gets the wheel's one dependency, numpy, linked from this interpreter (installing it
would need an index). Skipped with the reason when flit_core or a venv with pip is unavailable.
"""

import glob
import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Dict, List, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "edgeparity"
# The subpackages a user's first commands reach; every other module is checked too (below).
SUBPACKAGES = ("cli", "stages", "models", "compare", "report", "golden", "matrix")
RUNTIME_DEPENDENCIES = ("numpy",)
SKIPPED_NAMES = ("__pycache__",)


def flit_core_path() -> Optional[str]:
    """A sys.path entry that provides flit_core (pyproject's build backend), or None.

    In order: this interpreter; a locked flit_core wheel of the image wheelhouse (make
    wheelhouse; a wheel is importable as a zip); tox's packaging environments (tox builds
    edgeparity's wheel with flit_core there).
    """
    try:
        import flit_core  # noqa: F401

        return ""
    except ImportError:
        pass
    wheels = ROOT / "wheelhouse" / "*" / "flit_core-3.*-py3-none-any.whl"
    candidates = sorted(glob.glob(str(wheels)))
    work_dir = os.environ.get("EDGEPARITY_TOX_WORK_DIR") or str(ROOT / ".tox")
    candidates += sorted(
        os.path.dirname(package)
        for package in glob.glob(os.path.join(work_dir, ".pkg*", "lib", "python*",
                                              "site-packages", "flit_core"))
    )
    return candidates[-1] if candidates else None


def flit_core_or_skip() -> str:
    """flit_core_path(), or skip the test with the reason when there is none."""
    flit = flit_core_path()
    if flit is None:
        pytest.skip("no offline way to build the wheel: flit_core is neither importable here, "
                    "nor in wheelhouse/ (make wheelhouse), nor in a tox packaging env (make test)")
    return flit


def clean_env(extra_path: str = "") -> Dict[str, str]:
    """An environment without PYTHONPATH or pip configuration of this machine."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV", "EDGEPARITY_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    if extra_path:
        env["PYTHONPATH"] = extra_path
    return env


def run(command: List[str], cwd: Path, env: Dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(part) for part in command], cwd=str(cwd), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)


def expected_files() -> List[str]:
    """Every file of src/edgeparity, relative to site-packages, as the wheel must install it."""
    found = []
    for path in sorted(SOURCE.rglob("*")):
        relative = path.relative_to(SOURCE.parent)
        if path.is_file() and path.suffix != ".pyc" and not any(
                part in SKIPPED_NAMES for part in relative.parts):
            found.append(relative.as_posix())
    return found


def link_dependency(name: str, site_packages: Path) -> None:
    """Make this interpreter's installed distribution ``name`` visible in the venv."""
    from importlib import metadata

    try:
        distribution = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        pytest.skip("{} (a dependency of the wheel) is not installed here to lend the venv".format(
            name))
    top_levels = {Path(str(file)).parts[0] for file in distribution.files or ()}
    location = Path(str(distribution.locate_file("")))
    for top in sorted(top_levels):
        if top != ".." and (location / top).exists():
            (site_packages / top).symlink_to(location / top)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Dict[str, Path]:
    """{'python', 'bin', 'site_packages', 'cwd'} of a fresh venv holding the freshly built wheel."""
    flit = flit_core_or_skip()
    folder = tmp_path_factory.mktemp("wheel-smoke")
    dist = folder / "dist"
    dist.mkdir()
    build = run([sys.executable, "-c",
                 "import sys; from flit_core.buildapi import build_wheel; "
                 "print(build_wheel(sys.argv[1]))", dist], ROOT, clean_env(flit))
    assert build.returncode == 0, "building the wheel failed:\n" + build.stderr
    wheel = dist / build.stdout.strip().splitlines()[-1]

    environment = folder / "venv"
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(str(environment))
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip("cannot create a venv with pip here (ensurepip): {}".format(exc))
    python = environment / "bin" / "python"
    install = run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--no-cache-dir",
                   "--disable-pip-version-check", wheel], folder, clean_env())
    assert install.returncode == 0, "installing {} failed:\n{}".format(wheel.name, install.stderr)
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site_packages = Path(run([python, "-c", purelib], folder, clean_env()).stdout.strip())
    for name in RUNTIME_DEPENDENCIES:
        link_dependency(name, site_packages)
    cwd = folder / "elsewhere"  # not the checkout: '' on sys.path must not find src/
    cwd.mkdir()
    return {"python": python, "bin": environment / "bin", "site_packages": site_packages,
            "cwd": cwd}


def run_installed(installed: Dict[str, Path], *command: str) -> subprocess.CompletedProcess:
    env = clean_env()
    env["PATH"] = "{}{}{}".format(installed["bin"], os.pathsep, env.get("PATH", ""))
    return run(list(command), installed["cwd"], env)


def test_the_wheel_installs_every_module_and_data_file_of_src(installed):
    site_packages = installed["site_packages"]
    missing = [name for name in expected_files() if not (site_packages / name).is_file()]
    assert not missing, "the wheel lacks files of src/edgeparity: {}".format(", ".join(missing))


def test_the_console_script_runs_from_the_installed_wheel(installed):
    usage = run_installed(installed, "edgeparity", "--help")
    assert usage.returncode == 0, usage.stderr
    assert "usage: edgeparity" in usage.stdout

    probe = run_installed(installed, "edgeparity", "probe", "--json")
    assert probe.returncode == 0, probe.stderr
    assert isinstance(json.loads(probe.stdout), dict)


def test_every_module_imports_from_the_installed_wheel_not_from_src(installed):
    # -I: isolated mode, so neither the environment nor the working folder adds to sys.path.
    script = (
        "import importlib, json, pkgutil, sys\n"
        "import edgeparity\n"
        "names = ['edgeparity.' + name for name in sys.argv[1:]]\n"
        "names += [info.name for info in pkgutil.walk_packages(edgeparity.__path__,"
        " 'edgeparity.') if not info.name.endswith('__main__')]\n"
        "files = {name: importlib.import_module(name).__file__ for name in names}\n"
        "print(json.dumps({'path': sys.path, 'files': files}))\n"
    )
    result = run_installed(installed, str(installed["python"]), "-I", "-c", script,
                           *SUBPACKAGES)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    source = str(ROOT / "src")
    assert not [entry for entry in report["path"] if entry.startswith(source)], report["path"]
    outside = {name: file for name, file in report["files"].items()
               if not file.startswith(str(installed["site_packages"]))}
    assert not outside, "imported from outside the installed wheel: {}".format(outside)
    assert set("edgeparity." + name for name in SUBPACKAGES) <= set(report["files"])
