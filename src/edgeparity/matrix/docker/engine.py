"""Which Docker engine an environment uses, whether it answers, and what its CLI can do.

We drive the ``docker`` CLI (buildx when present, the classic builder otherwise), as cibuildwheel
does: it is what users have, it speaks to remote engines through ``DOCKER_HOST`` or a docker
context, and docker-py cannot drive BuildKit. Host side: CPython >= 3.9.
"""

import os
import shutil
import subprocess
from typing import Dict, List, Optional, Tuple

from ..backend import MatrixError
from ..config import DockerEnvironment

REACHABLE_TIMEOUT = 30  # seconds for `docker version` to answer


class DockerError(MatrixError):
    """A build or run that failed; the message names the environment, the log and what to do."""


class Engine:
    """One Docker engine: the local one, or a remote one by DOCKER_HOST or docker context."""

    def __init__(self, docker_host: Optional[str] = None, context: Optional[str] = None) -> None:
        self.docker_host = docker_host
        self.context = context

    @classmethod
    def of(cls, environment: DockerEnvironment) -> "Engine":
        return cls(environment.docker_host, environment.context)

    @property
    def remote(self) -> bool:
        # A remote engine cannot see our folders: inputs and bundles travel by `docker cp`.
        return bool(self.docker_host or self.context)

    def describe(self) -> str:
        if self.docker_host:
            return "engine {}".format(self.docker_host)
        if self.context:
            return "docker context {}".format(self.context)
        return "local engine"

    def command(self, *args: str) -> List[str]:
        prefix = ["docker"]
        if self.context:
            prefix += ["--context", self.context]
        return prefix + list(args)

    def env(self, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        env = dict(os.environ)
        if self.docker_host:
            env["DOCKER_HOST"] = self.docker_host
        env.update(extra or {})
        return env

    def run(self, *args: str, timeout: Optional[float] = None) -> subprocess.CompletedProcess:
        """Run a short docker command, capturing its output."""
        return subprocess.run(self.command(*args), env=self.env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=timeout)

    def image_id(self, reference: str) -> Optional[str]:
        result = self.run("image", "inspect", "--format", "{{.Id}}", reference)
        return result.stdout.strip() if result.returncode == 0 else None

    def has_buildx(self) -> bool:
        return self.run("buildx", "version").returncode == 0

    def reachable(self) -> Tuple[bool, str]:
        """Whether this engine answers, and a one-line why/why not."""
        if shutil.which("docker") is None:
            return False, "the docker CLI is not installed (scripts/ensure-docker.sh installs it)"
        try:
            result = self.run("version", "--format", "{{.Server.Version}} {{.Server.Arch}}",
                              timeout=REACHABLE_TIMEOUT)
        except subprocess.TimeoutExpired:
            return False, "{} did not answer within {} s".format(self.describe(),
                                                                 REACHABLE_TIMEOUT)
        if result.returncode != 0:
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            return False, "{}: {}".format(self.describe(), lines[-1] if lines else "no answer")
        return True, "Docker {} ({})".format(result.stdout.strip(), self.describe())


def engine_reachable(docker_host: Optional[str] = None,
                     context: Optional[str] = None) -> Tuple[bool, str]:
    """Whether a Docker engine answers, and a one-line why/why not."""
    return Engine(docker_host, context).reachable()


def transfer_image(reference: str, source: Engine, target: Engine) -> bool:
    """docker save | docker load from one engine to another; True on success."""
    save = subprocess.Popen(source.command("save", reference), env=source.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    load = subprocess.run(target.command("load", "--quiet"), env=target.env(), stdin=save.stdout,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if save.stdout is not None:
        save.stdout.close()
    return save.wait() == 0 and load.returncode == 0
