"""The local backend: each ``[local.NAME]`` environment is a tox environment of this checkout's
tox.ini, run on this machine (no Docker needed).

prepare  ``tox run --notest -e ENV``: creates the environment when missing and installs this
         checkout's edgeparity into it (``--recreate`` with ``--rebuild``)
run      ``tox exec -e ENV -- python -m pytest tests/inenv``, then
         ``tox exec -e ENV -- python -m edgeparity capture ...`` (see backend.py)

Host side: CPython >= 3.9.
"""

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from typing import Dict, List, Optional

from .backend import (
    Backend,
    MatrixError,
    Progress,
    capture_command,
    run_logged,
    suite_variables,
    tail,
    tests_command,
)
from .config import LocalEnvironment

CHECKOUT = Path(__file__).resolve().parents[3]


def tox_command(root: Path = CHECKOUT) -> List[str]:
    """tox next to this interpreter, on PATH, in the checkout's host virtualenv (make host-env),
    or as a module of this interpreter."""
    candidates = [Path(sys.executable).parent / "tox", shutil.which("tox"),
                  root / ".venv" / "bin" / "tox"]
    for candidate in candidates:
        if candidate and os.access(str(candidate), os.X_OK):
            return [str(candidate)]
    if importlib.util.find_spec("tox") is not None:
        return [sys.executable, "-m", "tox"]
    raise MatrixError("the local backend runs tox environments, and no tox was found: "
                      "`make host-env` installs it into .venv, or `pip install tox`")


def tox_environment() -> Dict[str, str]:
    """The environment tox runs with: pyenv's interpreters are added to the end of PATH, as the
    Makefile does, so tox finds python3.6/3.9 when edgeparity is run outside make."""
    env = dict(os.environ)
    root = Path(env.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    extra = [str(path) for path in sorted(root.glob("*/bin")) if path.is_dir()]
    env["PATH"] = os.pathsep.join([env.get("PATH", os.defpath)] + extra)
    return env


class LocalBackend(Backend):
    name = "local"

    def __init__(self, progress: Progress, rebuild: bool = False,
                 root: Path = CHECKOUT) -> None:
        super().__init__(progress, rebuild)
        self.root = root
        self.tox_ini = root / "tox.ini"
        if not self.tox_ini.is_file():
            raise MatrixError("the local backend runs tox environments from tox.ini, but {} "
                              "does not exist: run from a checkout of the edgeparity "
                              "repository".format(self.tox_ini))

    def prepare(self, environment: LocalEnvironment, log: Path) -> None:
        command = tox_command(self.root) + ["run", "-c", str(self.tox_ini), "-e",
                                            environment.tox_env, "--notest"]
        if self.rebuild:
            command.append("--recreate")
        self.progress("{}: preparing tox env {} (log: {})".format(
            environment.name, environment.tox_env, log))
        if run_logged(command, log, tox_environment(), cwd=self.root) != 0:
            raise MatrixError("{}: creating tox env {} failed. Last lines of {}:\n  {}".format(
                environment.name, environment.tox_env, log, tail(log)))

    def _exec(self, environment: LocalEnvironment, command: List[str], log: Path) -> int:
        # The package was installed by prepare(); tox.ini passes EDGEPARITY_* through.
        env = tox_environment()
        for key, value in suite_variables(environment).items():
            env.pop(key, None)
            if value:
                env[key] = value
        tox = tox_command(self.root) + ["exec", "-c", str(self.tox_ini), "-e",
                                        environment.tox_env, "--skip-pkg-install", "--"]
        return run_logged(tox + command, log, env, cwd=self.root)

    def run_tests(self, environment: LocalEnvironment, log: Path) -> int:
        return self._exec(environment, tests_command("python"), log)

    def run_capture(self, environment: LocalEnvironment, images_dir: Path, bundle: Path,
                    log: Path, model: Optional[Path] = None) -> int:
        command = capture_command("python", environment, str(images_dir), str(bundle),
                                  str(model) if model else None)
        return self._exec(environment, command, log)
