"""How an environment's image is built and tagged.

Before a build we make sure what it needs is there: the wheelhouse (``scripts/wheelhouse.sh``),
the base image (bootstrapped with ``scripts/base-images.sh`` when it is one of ours, pulled
otherwise, copied over with ``docker save | docker load`` for a remote engine) and, for a foreign
architecture on the local engine, qemu emulation.

**The one tag scheme**: ``edgeparity/NAME:<hash>``, 12 hex digits of a sha256 over the platform,
the base image's ID, the build args, the files next to the Dockerfile (locks) and the repository
files the Dockerfiles copy. An unchanged environment is not rebuilt; an edit to ``src/``
rebuilds the (cheap, last) layers. ``edgeparity image tag`` prints these tags, e.g. for a
``docker buildx bake --set NAME.tags=...`` build that ``edgeparity image run`` then finds.
Host side: CPython >= 3.9.
"""

import hashlib
import os
import re
import sys
import time
from pathlib import Path
from typing import List, Optional, Set, Tuple

from ..backend import Progress, run_logged, tail
from ..config import DockerEnvironment
from .engine import DockerError, Engine, transfer_image

# What the Dockerfiles COPY from the repository (and .dockerignore lets through), besides their
# own folder. They are part of the image tag's hash, so an edit to the code rebuilds the (cheap,
# last) layers; docker/common/ holds the build steps every Dockerfile shares.
COPIED_PATHS = ("pyproject.toml", "tox.ini", "README.md", "src", "tests", "sample-images",
                "docker/common", "third_party")
SKIPPED_NAMES = ("__pycache__", ".pytest_cache")
REPOSITORY = "edgeparity/{}"
TAG_DIGITS = 12
OUR_BASE_IMAGE = re.compile(r"^edgeparity/base:(?P<suite>[a-z]+)-(?P<arch>amd64|arm64)$")


def build_arg(environment: DockerEnvironment, name: str) -> Optional[str]:
    """A build arg's value: from build_args, else the Dockerfile's ``ARG NAME=default``."""
    if name in environment.build_args:
        return environment.build_args[name]
    pattern = re.compile(r"^ARG\s+{}=(.*)$".format(re.escape(name)))
    for line in environment.dockerfile.read_text().splitlines():
        match = pattern.match(line.strip())
        if match:
            return match.group(1).strip().strip('"')
    return None


def base_image(environment: DockerEnvironment) -> str:
    base = build_arg(environment, "BASE_IMAGE")
    if not base:
        raise DockerError("{}: {} has no ARG BASE_IMAGE=... and build_args sets none".format(
            environment.name, environment.dockerfile))
    return base


def builder_images(environment: DockerEnvironment) -> List[Tuple[str, str]]:
    """(image, platform) of the build stages that run on another image than the base.

    A build arg ``X_BUILDER_IMAGE`` (with ``X_BUILDER_PLATFORM``) names one: the jetson images
    compile libdlr.so on the build machine's own CPU (cross-compiling, no emulation). Set in
    build_args only; a Dockerfile default of ``${BASE_IMAGE}`` means the base itself.
    """
    found = []
    for name in sorted(environment.build_args):
        if name.endswith("_BUILDER_IMAGE") and environment.build_args[name] != base_image(
                environment):
            platform = environment.build_args.get(
                name[: -len("IMAGE")] + "PLATFORM", environment.platform)
            found.append((environment.build_args[name], platform))
    return found


def pins_every_platform(dockerfile: Path) -> bool:
    """Whether every FROM line says ``--platform=``: a multi-platform build (see build())."""
    froms = [line.split() for line in dockerfile.read_text().splitlines()
             if line.strip().upper().startswith("FROM ")]
    return bool(froms) and all(len(words) > 1 and words[1].startswith("--platform=")
                               for words in froms)


# -- the tag -------------------------------------------------------------------------------------


def _hash_path(digest: "hashlib._Hash", path: Path, root: Path) -> None:
    if path.is_dir():
        for child in sorted(path.iterdir()):
            if child.name not in SKIPPED_NAMES and child.suffix != ".pyc":
                _hash_path(digest, child, root)
    elif path.is_file():
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())


def image_tag(environment: DockerEnvironment, base_image_id: str) -> str:
    """``edgeparity/NAME:<hash of everything that goes into the image>``.

    base_image_id: the base image's ID, followed by those of its builder images (``+``-joined).
    """
    digest = hashlib.sha256()
    digest.update("platform={}\nbase={}\n".format(environment.platform, base_image_id).encode())
    for key in sorted(environment.build_args):
        digest.update("arg {}={}\n".format(key, environment.build_args[key]).encode())
    _hash_path(digest, environment.image_dir, environment.root)  # Dockerfile, locks
    for name in COPIED_PATHS:
        _hash_path(digest, environment.root / name, environment.root)
    return "{}:{}".format(REPOSITORY.format(environment.name), digest.hexdigest()[:TAG_DIGITS])


def current_tag(environment: DockerEnvironment) -> str:
    """The tag the environment's image has (or would have) now; its base image must exist."""
    engine = Engine.of(environment)
    base = base_image(environment)
    ids = []
    for image in [base] + [name for name, _ in builder_images(environment)]:
        found = engine.image_id(image)
        if not found:
            how = ("`make base-images`" if OUR_BASE_IMAGE.match(image)
                   else "`docker pull {}`".format(image))
            raise DockerError("{}: the image tag covers the base images' IDs, and {} is not on "
                              "the {}: run {} or `edgeparity image build {}`".format(
                                  environment.name, image, engine.describe(), how,
                                  environment.name))
        ids.append(found)
    return image_tag(environment, "+".join(ids))


# -- what a build needs --------------------------------------------------------------------------


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked_files(lock: Path) -> List[Tuple[str, str]]:
    """(normalized name, version) of every requirement in a lock."""
    found = []
    for line in lock.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\]+)", line)
        if match:
            found.append((_normalized(match.group(1)), match.group(2)))
    return found


def wheelhouse_has(wheelhouse: Path, lock: Path) -> bool:
    """Whether every file the lock names is in the wheelhouse (by name and version)."""
    present: Set[Tuple[str, str]] = set()
    for path in wheelhouse.glob("*"):
        stem = path.name
        for suffix in (".whl", ".tar.gz", ".zip"):
            if stem.endswith(suffix):
                stem = stem[: -len(suffix)]
        parts = stem.split("-")
        for cut in range(1, len(parts)):
            present.add((_normalized("-".join(parts[:cut])), parts[cut]))
    return all(item in present for item in _locked_files(lock))


def ensure_wheelhouse(environment: DockerEnvironment, progress: Progress, log: Path) -> None:
    """Download the environment's locked wheels on the host unless they are all there already."""
    lock = environment.image_dir / (build_arg(environment, "LOCK") or "requirements.lock")
    if not lock.is_file():
        raise DockerError("{}: lock file {} does not exist (build arg LOCK)".format(
            environment.name, lock))
    wheelhouse = environment.root / "wheelhouse" / environment.image_dir.name
    if wheelhouse.is_dir() and wheelhouse_has(wheelhouse, lock):
        return
    progress("{}: downloading the locked wheels into {} (make wheelhouse)".format(
        environment.name, wheelhouse))
    script = environment.root / "scripts" / "wheelhouse.sh"
    env = dict(os.environ)
    env.setdefault("PYTHON", sys.executable)
    if run_logged([str(script), environment.image_dir.name], log, env, append=True) != 0:
        raise DockerError("{}: downloading the wheelhouse failed (needs PyPI; on an air-gapped "
                          "machine copy wheelhouse/ over). Last lines of {}:\n  {}".format(
                              environment.name, log, tail(log)))


def ensure_base_images(environment: DockerEnvironment, progress: Progress, log: Path) -> str:
    """The IDs of the environment's base and builder images (``+``-joined), fetched if missing."""
    images = [(base_image(environment), environment.platform)] + builder_images(environment)
    return "+".join(ensure_base_image(environment, image, platform, progress, log)
                    for image, platform in images)


def ensure_base_image(environment: DockerEnvironment, base: str, platform: str,
                      progress: Progress, log: Path) -> str:
    """The ID of one base image on the environment's engine, bootstrapping or fetching it."""
    engine = Engine.of(environment)
    found = engine.image_id(base)
    if found:
        return found
    ours = OUR_BASE_IMAGE.match(base)
    local = Engine()
    if ours:
        # Our Debian bases come from debootstrap, never from a registry.
        if not local.image_id(base):
            progress("{}: base image {} missing; bootstrapping it with debootstrap "
                     "(make base-images, ~1-2 min)".format(environment.name, base))
            command = [str(environment.root / "scripts" / "base-images.sh"), ours.group("arch")]
            env = dict(os.environ, DEBIAN_SUITE=ours.group("suite"))
            if run_logged(command, log, env, append=True) != 0:
                raise DockerError("{}: bootstrapping {} failed (needs root, debootstrap and the "
                                  "Debian mirror; see docker/base/bootstrap.sh). Last lines of "
                                  "{}:\n  {}".format(environment.name, base, log, tail(log)))
    else:
        progress("{}: pulling base image {} on the {}".format(environment.name, base,
                                                              engine.describe()))
        pull = engine.command("pull", "--platform", platform, base)
        if run_logged(pull, log, engine.env(), append=True) == 0:
            return engine.image_id(base) or ""
    if engine.remote and local.image_id(base):
        progress("{}: copying base image {} to the {} (docker save | docker load)".format(
            environment.name, base, engine.describe()))
        if not transfer_image(base, local, engine):
            raise DockerError("{}: could not copy {} to the {}".format(
                environment.name, base, engine.describe()))
    found = engine.image_id(base)
    if not found:
        raise DockerError(
            "{}: base image {} is not on the {} and could not be pulled (no registry reachable?). "
            "Load it there with `docker save {} | docker load`, or set BASE_IMAGE in build_args. "
            "Log: {}".format(environment.name, base, engine.describe(), base, log))
    return found


def native_architecture() -> str:
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def ensure_emulation(environment: DockerEnvironment) -> None:
    """A foreign-arch image on the local engine needs binfmt/qemu registered."""
    if Engine.of(environment).remote:
        return  # the remote engine's business; its errors reach the build log
    wanted = environment.platform.split("/")[1]
    native = native_architecture()
    if wanted == native:
        return
    handler = Path("/proc/sys/fs/binfmt_misc/qemu-{}".format(
        {"arm64": "aarch64", "amd64": "x86_64"}[wanted]))
    try:
        enabled = handler.read_text().splitlines()[0].strip() == "enabled"
    except (OSError, IndexError):
        enabled = False
    if not enabled:
        raise DockerError("{}: {} images need emulation on this {} host and no qemu binfmt "
                          "handler is registered: run `make qemu` (scripts/ensure-docker.sh "
                          "--qemu, as root)".format(environment.name, environment.platform,
                                                    native))


# -- the build -----------------------------------------------------------------------------------


def build(environment: DockerEnvironment, progress: Progress, log: Path,
          force: bool = False) -> str:
    """Build the environment's image unless an identical one exists; return its tag."""
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    ensure_emulation(environment)
    ensure_wheelhouse(environment, progress, log)
    tag = image_tag(environment, ensure_base_images(environment, progress, log))
    engine = Engine.of(environment)
    if not force and engine.image_id(tag):
        progress("{}: image {} is up to date".format(environment.name, tag))
        return tag
    args = ["-t", tag, "-f", str(environment.dockerfile)]
    for key in sorted(environment.build_args):
        args += ["--build-arg", "{}={}".format(key, environment.build_args[key])]
    extra_env = {}
    if engine.has_buildx():
        command = engine.command("buildx", "build", "--load", "--platform",
                                 environment.platform, *args, str(environment.root))
        how = "buildx"
    else:
        if not pins_every_platform(environment.dockerfile):
            args = ["--platform", environment.platform, *args]
        # else: a stage on another platform (jetson-dlr compiles libdlr.so on this machine's
        # CPU): the classic builder refuses COPY into any stage whose platform differs from
        # --platform, so the Dockerfile names each stage's platform and none is passed.
        # Without the buildx plugin, current CLIs refuse BuildKit builds: ask for the classic one.
        command = engine.command("build", *args, str(environment.root))
        extra_env["DOCKER_BUILDKIT"] = "0"
        how = "docker build"
    progress("{}: building {} for {} with {} on the {} (log: {})".format(
        environment.name, tag, environment.platform, how, engine.describe(), log))
    started = time.time()
    if run_logged(command, log, engine.env(extra_env), append=True) != 0:
        raise DockerError("{}: building the image failed. Last lines of {}:\n  {}".format(
            environment.name, log, tail(log)))
    progress("{}: built in {:.0f}s".format(environment.name, time.time() - started))
    remove_older_tags(engine, tag)
    return tag


def remove_older_tags(engine: Engine, keep: str) -> None:
    """Untag this environment's previous builds, so each edit does not leave an image behind.

    Layers still used by the new image stay; Docker frees only what nothing else uses.
    """
    repository = keep.split(":")[0]
    listed = engine.run("images", "--format", "{{.Repository}}:{{.Tag}}", repository)
    for reference in listed.stdout.split():
        name, _, tag = reference.rpartition(":")
        # Only our own content-hash tags: a user's tags (latest, ...) are theirs.
        if (reference != keep and name == repository
                and re.fullmatch(r"[0-9a-f]{{{}}}".format(TAG_DIGITS), tag)):
            engine.run("image", "rm", reference)
