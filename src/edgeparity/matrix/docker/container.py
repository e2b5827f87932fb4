"""How an image is run: the one place edgeparity starts a container.

Every container runs as a non-root user, with ``--network none``, its inputs mounted read-only
and only its output folder writable; files it writes belong to whoever ran edgeparity. On a
remote engine, which cannot see our folders, inputs go in and the output comes back with
``docker cp``. Host side: CPython >= 3.9.
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from ..backend import run_logged
from .engine import DockerError, Engine

# Inside every image (see docker/*/Dockerfile): a user with this ID owns /out.
IMAGE_USER_ID = 1000
IMAGES_MOUNT = "/inputs"
MODEL_MOUNT = "/model"
OUT_MOUNT = "/out"
IMAGE_PYTHON = "python3"


@dataclass(frozen=True)
class Container:
    """What to run: an image, its platform, a command, and how."""

    image: str
    platform: str
    command: List[str]
    env: Dict[str, str]
    inputs: Dict[Path, str]  # host folder -> folder in the container (read-only)
    output: Optional[Path] = None  # host folder mounted (or copied back) as OUT_MOUNT
    runtime: Optional[str] = None  # e.g. "nvidia" on a Jetson


def _user(engine: Engine) -> str:
    if os.getuid() == 0 or engine.remote:
        # Never run the image as root: use its own unprivileged user (who owns its /out).
        return "{0}:{0}".format(IMAGE_USER_ID)
    # Files in the mounted output folder then belong to whoever ran edgeparity.
    return "{}:{}".format(os.getuid(), os.getgid())


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    for parent, dirs, files in os.walk(str(path)):
        os.chown(parent, uid, gid)
        for name in dirs + files:
            os.lchown(os.path.join(parent, name), uid, gid)


def run(engine: Engine, container: Container, log: Path) -> int:
    """Run ``container`` to its end with its output in ``log``; its exit code.

    The container is removed afterwards whatever happened. Raises DockerError only when it
    cannot be created or its inputs cannot be copied in.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    user = _user(engine)
    running_as_root = os.getuid() == 0
    create = ["create", "--platform", container.platform, "--user", user, "--network", "none"]
    if container.runtime:
        create += ["--runtime", container.runtime]
    for key, value in sorted(container.env.items()):
        create += ["--env", "{}={}".format(key, value)]
    if container.output is not None:
        container.output.mkdir(parents=True, exist_ok=True)
        if running_as_root:
            # A bind mount keeps host ownership: hand the folder to the image's user for the run.
            os.chown(str(container.output), IMAGE_USER_ID, IMAGE_USER_ID)
    if not engine.remote:
        for source, target in sorted(container.inputs.items()):
            create += ["--volume", "{}:{}:ro".format(source, target)]
        if container.output is not None:
            create += ["--volume", "{}:{}".format(container.output, OUT_MOUNT)]
    create += [container.image] + container.command
    with open(str(log), "a") as handle:  # what ran, for whoever reads the log
        handle.write("$ {}\n".format(" ".join(engine.command(*create))))
    created = engine.run(*create)
    if created.returncode != 0:
        raise DockerError("could not create a container from {}: {}".format(
            container.image, created.stderr.strip()))
    identifier = created.stdout.strip()
    try:
        if engine.remote:
            for source, target in sorted(container.inputs.items()):
                copied = engine.run("cp", "{}/.".format(source),
                                    "{}:{}".format(identifier, target))
                if copied.returncode != 0:
                    raise DockerError("copying {} into the container failed: {}".format(
                        source, copied.stderr.strip()))
        run_logged(engine.command("start", "--attach", identifier), log, engine.env(),
                   append=True)
        inspected = engine.run("inspect", "--format", "{{.State.ExitCode}}", identifier)
        exit_code = int(inspected.stdout.strip()) if inspected.returncode == 0 else -1
        if engine.remote and container.output is not None:
            engine.run("cp", "{}:{}/.".format(identifier, OUT_MOUNT), str(container.output))
    finally:
        engine.run("rm", "--force", identifier)
    if running_as_root and container.output is not None:
        _chown_tree(container.output, 0, 0)
    return exit_code


def collect(staging: Path, name: str, bundle: Path) -> None:
    """Move the bundle a container wrote (``OUT_MOUNT/NAME``) to ``bundle``; drop the rest."""
    written = staging / name
    if written.is_dir():
        if bundle.exists():
            shutil.rmtree(str(bundle))
        shutil.move(str(written), str(bundle))
    # A capture stopped inside the container keeps what it had: so do we.
    interrupted = staging / (name + ".interrupted")
    if interrupted.is_dir():
        kept = bundle.parent / (bundle.name + ".interrupted")
        if kept.exists():
            shutil.rmtree(str(kept))
        shutil.move(str(interrupted), str(kept))
    shutil.rmtree(str(staging), ignore_errors=True)
