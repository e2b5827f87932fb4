"""Docker backend of `edgeparity matrix`: build each environment's pinned image, run it, collect
its bundle.

Each ``[docker.NAME]`` entry of matrix.toml names a Dockerfile (build context: the repository
root), a platform, build args and the libjpeg the image must load. For each entry we

1. make sure what the build needs is there: the wheelhouse (``scripts/wheelhouse.sh``) and the
   base image (bootstrapped with ``scripts/base-images.sh`` when it is one of ours, pulled
   otherwise, copied over with ``docker save | docker load`` for a remote engine);
2. build ``edgeparity/NAME:<hash>``, where the hash covers the Dockerfile, the files next to it
   (locks), the build args, the platform, the base image ID and the repository files the
   Dockerfile copies: an unchanged entry is not rebuilt;
3. run the image's default command (tox env ``image``: in-image tests, then capture) as a
   non-root user with no network, the images folder read-only, and collect the bundle.

We drive the ``docker`` CLI (buildx when present, the classic builder otherwise), as
cibuildwheel does: it is what users have, it speaks to remote engines through ``DOCKER_HOST`` or
a docker context, and docker-py cannot drive BuildKit. Host side: CPython >= 3.9.
"""

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

REPO_ROOT = Path(__file__).resolve().parents[2]

# What the Dockerfiles COPY from the repository (and .dockerignore lets through). They are part
# of the image tag's hash, so an edit to the code rebuilds the (cheap, last) layers.
COPIED_PATHS = ("pyproject.toml", "tox.ini", "README.md", "src", "tests", "sample-images")
SKIPPED_NAMES = ("__pycache__", ".pytest_cache")

ENTRY_KEYS = {"dockerfile", "platform", "build_args", "expect_libjpeg", "pipeline",
              "docker_host", "context"}
OUR_BASE_IMAGE = re.compile(r"^edgeparity/base:(?P<suite>[a-z]+)-(?P<arch>amd64|arm64)$")
# Inside every image (see docker/*/Dockerfile).
IMAGES_MOUNT = "/inputs"
OUT_MOUNT = "/out"
IMAGE_USER_ID = 1000
LOG_TAIL_LINES = 25


class DockerError(Exception):
    """A build or run that failed; the message names the environment, the log and what to do."""


class Engine:
    """One Docker engine: the local one, or a remote one by DOCKER_HOST or docker context."""

    def __init__(self, docker_host: Optional[str] = None, context: Optional[str] = None) -> None:
        self.docker_host = docker_host
        self.context = context

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


def engine_reachable(docker_host: Optional[str] = None,
                     context: Optional[str] = None) -> Tuple[bool, str]:
    """Whether a Docker engine answers, and a one-line why/why not."""
    if shutil.which("docker") is None:
        return False, "the docker CLI is not installed (scripts/ensure-docker.sh installs it)"
    engine = Engine(docker_host, context)
    try:
        result = engine.run("version", "--format", "{{.Server.Version}} {{.Server.Arch}}",
                            timeout=30)
    except subprocess.TimeoutExpired:
        return False, "{} did not answer within 30 s".format(engine.describe())
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        return False, "{}: {}".format(engine.describe(), lines[-1] if lines else "no answer")
    return True, "Docker {} ({})".format(result.stdout.strip(), engine.describe())


def has_buildx(engine: Engine) -> bool:
    return engine.run("buildx", "version").returncode == 0


class Entry:
    """One validated ``[docker.NAME]`` entry of matrix.toml."""

    def __init__(self, name: str, config: Dict[str, object], root: Path) -> None:
        where = "matrix.toml [docker.{}]".format(name)
        unknown = set(config) - ENTRY_KEYS
        if unknown:
            raise DockerError("{}: unknown keys {}; known: {}".format(
                where, ", ".join(sorted(unknown)), ", ".join(sorted(ENTRY_KEYS))))
        for key in ("dockerfile", "platform"):
            if not isinstance(config.get(key), str):
                raise DockerError("{}: '{}' is required (a string)".format(where, key))
        self.name = name
        self.root = root
        self.dockerfile = (root / str(config["dockerfile"])).resolve()
        if not self.dockerfile.is_file():
            raise DockerError("{}: dockerfile {} does not exist".format(where, self.dockerfile))
        self.platform = str(config["platform"])
        if not re.match(r"^linux/(amd64|arm64)$", self.platform):
            raise DockerError("{}: platform must be linux/amd64 or linux/arm64, not {!r}".format(
                where, self.platform))
        build_args = config.get("build_args") or {}
        if not isinstance(build_args, dict):
            raise DockerError("{}: build_args must be a table, e.g. {{ KEY = \"value\" }}"
                              .format(where))
        self.build_args = {str(k): str(v) for k, v in build_args.items()}
        self.expect_libjpeg = str(config.get("expect_libjpeg") or "")
        pipeline = config.get("pipeline") or {}
        self.pipeline = ",".join("{}={}".format(k, v) for k, v in dict(pipeline).items())
        self.engine = Engine(config.get("docker_host"), config.get("context"))  # type: ignore

    @property
    def image_dir(self) -> Path:
        """docker/<image>/: the Dockerfile's folder, also the wheelhouse's subfolder name."""
        return self.dockerfile.parent

    def arg(self, name: str) -> Optional[str]:
        """A build arg's value: from build_args, else the Dockerfile's ``ARG NAME=default``."""
        if name in self.build_args:
            return self.build_args[name]
        pattern = re.compile(r"^ARG\s+{}=(.*)$".format(re.escape(name)))
        for line in self.dockerfile.read_text().splitlines():
            match = pattern.match(line.strip())
            if match:
                return match.group(1).strip().strip('"')
        return None


def _hash_path(digest: "hashlib._Hash", path: Path, root: Path) -> None:
    if path.is_dir():
        for child in sorted(path.iterdir()):
            if child.name not in SKIPPED_NAMES and child.suffix != ".pyc":
                _hash_path(digest, child, root)
    elif path.is_file():
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())


def image_tag(entry: Entry, base_image_id: str) -> str:
    """``edgeparity/NAME:<hash of everything that goes into the image>``."""
    digest = hashlib.sha256()
    digest.update("platform={}\nbase={}\n".format(entry.platform, base_image_id).encode())
    for key in sorted(entry.build_args):
        digest.update("arg {}={}\n".format(key, entry.build_args[key]).encode())
    _hash_path(digest, entry.image_dir, entry.root)  # Dockerfile, locks
    for name in COPIED_PATHS:
        _hash_path(digest, entry.root / name, entry.root)
    return "edgeparity/{}:{}".format(entry.name, digest.hexdigest()[:12])


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n  ".join(text[-lines:])


def _run_logged(command: List[str], env: Dict[str, str], log_path: Path, append: bool = False,
                cwd: Optional[Path] = None) -> int:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a" if append else "w") as log:
        log.write("$ {}\n".format(" ".join(command)))
        log.flush()
        return subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                              cwd=str(cwd) if cwd else None).returncode


# -- what a build needs ------------------------------------------------------------------------


def _locked_files(lock: Path) -> List[Tuple[str, str]]:
    """(normalized name, version) of every requirement in a lock."""
    found = []
    for line in lock.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\]+)", line)
        if match:
            found.append((re.sub(r"[-_.]+", "-", match.group(1)).lower(), match.group(2)))
    return found


def _wheelhouse_has(wheelhouse: Path, lock: Path) -> bool:
    present = set()
    for path in wheelhouse.glob("*"):
        stem = path.name
        for suffix in (".whl", ".tar.gz", ".zip"):
            if stem.endswith(suffix):
                stem = stem[: -len(suffix)]
        parts = stem.split("-")
        for cut in range(1, len(parts)):
            name = re.sub(r"[-_.]+", "-", "-".join(parts[:cut])).lower()
            present.add((name, parts[cut]))
    return all(item in present for item in _locked_files(lock))


def ensure_wheelhouse(entry: Entry, progress: Callable[[str], None], log_path: Path) -> None:
    """Download the entry's locked wheels on the host unless they are all there already."""
    lock = entry.image_dir / (entry.arg("LOCK") or "requirements.lock")
    if not lock.is_file():
        raise DockerError("{}: lock file {} does not exist (build arg LOCK)".format(
            entry.name, lock))
    wheelhouse = entry.root / "wheelhouse" / entry.image_dir.name
    if wheelhouse.is_dir() and _wheelhouse_has(wheelhouse, lock):
        return
    progress("{}: downloading the locked wheels into {} (make wheelhouse)".format(
        entry.name, wheelhouse))
    script = entry.root / "scripts" / "wheelhouse.sh"
    env = dict(os.environ)
    env.setdefault("PYTHON", sys.executable)
    if _run_logged([str(script), entry.image_dir.name], env, log_path, append=True) != 0:
        raise DockerError("{}: downloading the wheelhouse failed (needs PyPI; on an air-gapped "
                          "machine copy wheelhouse/ over). Last lines of {}:\n  {}".format(
                              entry.name, log_path, _tail(log_path)))


def _transfer_image(reference: str, source: Engine, target: Engine) -> bool:
    """docker save | docker load from one engine to another; True on success."""
    save = subprocess.Popen(source.command("save", reference), env=source.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    load = subprocess.run(target.command("load", "--quiet"), env=target.env(), stdin=save.stdout,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    if save.stdout is not None:
        save.stdout.close()
    return save.wait() == 0 and load.returncode == 0


def ensure_base_image(entry: Entry, progress: Callable[[str], None], log_path: Path) -> str:
    """The ID of the entry's base image on its engine, bootstrapping or fetching it if missing."""
    base = entry.arg("BASE_IMAGE")
    if not base:
        raise DockerError("{}: {} has no ARG BASE_IMAGE=... and build_args sets none".format(
            entry.name, entry.dockerfile))
    engine = entry.engine
    found = engine.image_id(base)
    if found:
        return found
    ours = OUR_BASE_IMAGE.match(base)
    local = Engine()
    if ours:
        # Our Debian bases come from debootstrap, never from a registry.
        if not local.image_id(base):
            progress("{}: base image {} missing; bootstrapping it with debootstrap "
                     "(make base-images, ~1-2 min)".format(entry.name, base))
            command = [str(entry.root / "scripts" / "base-images.sh"), ours.group("arch")]
            env = dict(os.environ, DEBIAN_SUITE=ours.group("suite"))
            if _run_logged(command, env, log_path, append=True) != 0:
                raise DockerError("{}: bootstrapping {} failed (needs root, debootstrap and the "
                                  "Debian mirror; see docker/base/bootstrap.sh). Last lines of "
                                  "{}:\n  {}".format(entry.name, base, log_path, _tail(log_path)))
    else:
        progress("{}: pulling base image {} on the {}".format(entry.name, base,
                                                              engine.describe()))
        pulled = _run_logged(engine.command("pull", "--platform", entry.platform, base),
                             engine.env(), log_path, append=True)
        if pulled == 0:
            return engine.image_id(base) or ""
    if engine.remote and local.image_id(base):
        progress("{}: copying base image {} to the {} (docker save | docker load)".format(
            entry.name, base, engine.describe()))
        if not _transfer_image(base, local, engine):
            raise DockerError("{}: could not copy {} to the {}".format(entry.name, base,
                                                                      engine.describe()))
    found = engine.image_id(base)
    if not found:
        raise DockerError(
            "{}: base image {} is not on the {} and could not be pulled (no registry reachable?). "
            "Load it there with `docker save {} | docker load`, or set BASE_IMAGE in build_args. "
            "Log: {}".format(entry.name, base, engine.describe(), base, log_path))
    return found


def ensure_emulation(entry: Entry) -> None:
    """A foreign-arch image on the local engine needs binfmt/qemu registered."""
    if entry.engine.remote:
        return  # the remote engine's business; its errors reach the build log
    wanted = entry.platform.split("/")[1]
    native = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    if wanted == native:
        return
    entry_file = Path("/proc/sys/fs/binfmt_misc/qemu-{}".format(
        {"arm64": "aarch64", "amd64": "x86_64"}[wanted]))
    try:
        enabled = entry_file.read_text().splitlines()[0].strip() == "enabled"
    except (OSError, IndexError):
        enabled = False
    if not enabled:
        raise DockerError("{}: {} images need emulation on this {} host and no qemu binfmt "
                          "handler is registered: run `make qemu` (scripts/ensure-docker.sh "
                          "--qemu, as root)".format(entry.name, entry.platform, native))


# -- build and run -----------------------------------------------------------------------------


def build(entry: Entry, progress: Callable[[str], None], log_dir: Path,
          force: bool = False) -> str:
    """Build the entry's image unless an identical one exists; return its tag."""
    log_path = log_dir / "{}.build.log".format(entry.name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("")
    ensure_emulation(entry)
    ensure_wheelhouse(entry, progress, log_path)
    base_id = ensure_base_image(entry, progress, log_path)
    tag = image_tag(entry, base_id)
    engine = entry.engine
    if not force and engine.image_id(tag):
        progress("{}: image {} is up to date".format(entry.name, tag))
        return tag
    args = ["--platform", entry.platform, "-t", tag, "-f", str(entry.dockerfile)]
    for key in sorted(entry.build_args):
        args += ["--build-arg", "{}={}".format(key, entry.build_args[key])]
    extra_env = {}
    if has_buildx(engine):
        command = engine.command("buildx", "build", "--load", *args, str(entry.root))
        how = "buildx"
    else:
        # Without the buildx plugin, current CLIs refuse BuildKit builds: ask for the classic one.
        command = engine.command("build", *args, str(entry.root))
        extra_env["DOCKER_BUILDKIT"] = "0"
        how = "docker build"
    progress("{}: building {} for {} with {} on the {} (log: {})".format(
        entry.name, tag, entry.platform, how, engine.describe(), log_path))
    started = time.time()
    if _run_logged(command, engine.env(extra_env), log_path, append=True) != 0:
        raise DockerError("{}: building the image failed. Last lines of {}:\n  {}".format(
            entry.name, log_path, _tail(log_path)))
    progress("{}: built in {:.0f}s".format(entry.name, time.time() - started))
    _remove_older_tags(engine, tag)
    return tag


def _remove_older_tags(engine: Engine, keep: str) -> None:
    """Untag this entry's previous builds, so each edit does not leave an image behind.

    Layers still used by the new image stay; Docker frees only what nothing else uses.
    """
    repository = keep.split(":")[0]
    listed = engine.run("images", "--format", "{{.Repository}}:{{.Tag}}", repository)
    for reference in listed.stdout.split():
        name, _, tag = reference.rpartition(":")
        # Only our own content-hash tags: a user's or bake's tags (latest, ci) are theirs.
        if reference != keep and name == repository and re.fullmatch(r"[0-9a-f]{12}", tag):
            engine.run("image", "rm", reference)


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    for parent, dirs, files in os.walk(str(path)):
        os.chown(parent, uid, gid)
        for name in dirs + files:
            os.lchown(os.path.join(parent, name), uid, gid)


def run_container(entry: Entry, tag: str, images_dir: Path, out_dir: Path,
                  progress: Callable[[str], None]) -> Tuple[Optional[Path], int, Path]:
    """Run the image's default command; return (bundle or None, exit code, log path).

    The bundle is collected whatever the exit code, so a failed run can still be inspected;
    the exit code is also written to logs/NAME.exitcode.
    """
    engine = entry.engine
    log_path = out_dir / "logs" / "{}.run.log".format(entry.name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir / "logs" / "{}.out".format(entry.name)
    if staging.exists():
        shutil.rmtree(str(staging))
    staging.mkdir(parents=True)

    running_as_root = os.getuid() == 0
    if running_as_root or engine.remote:
        # Never run the image as root: use its own unprivileged user (who owns its /out), and
        # for a bind mount hand the output folder to that user for the run.
        user = "{0}:{0}".format(IMAGE_USER_ID)
        if running_as_root:
            os.chown(str(staging), IMAGE_USER_ID, IMAGE_USER_ID)
    else:
        # Files in the mounted output folder then belong to whoever ran the matrix.
        user = "{}:{}".format(os.getuid(), os.getgid())
    env_args = []
    for key, value in (("EDGEPARITY_NAME", entry.name),
                       ("EDGEPARITY_IMAGES", IMAGES_MOUNT),
                       ("EDGEPARITY_OUT", OUT_MOUNT),
                       ("EDGEPARITY_EXPECT_LIBJPEG", entry.expect_libjpeg),
                       ("EDGEPARITY_PIPELINE", entry.pipeline),
                       ("HOME", "/tmp")):
        if value:
            env_args += ["--env", "{}={}".format(key, value)]
    create = ["create", "--platform", entry.platform, "--user", user, "--network", "none"]
    create += env_args
    if not engine.remote:
        create += ["--volume", "{}:{}:ro".format(images_dir, IMAGES_MOUNT),
                   "--volume", "{}:{}".format(staging, OUT_MOUNT)]
    created = engine.run(*create, tag)
    if created.returncode != 0:
        raise DockerError("{}: could not create a container from {}: {}".format(
            entry.name, tag, created.stderr.strip()))
    container = created.stdout.strip()
    progress("{}: running the in-image tests and capture ({}, no network, as {})".format(
        entry.name, engine.describe(), user))
    started = time.time()
    try:
        if engine.remote:
            # The remote engine cannot see our folders: copy inputs in, the bundle out.
            copied = engine.run("cp", "{}/.".format(images_dir),
                                "{}:{}".format(container, IMAGES_MOUNT))
            if copied.returncode != 0:
                raise DockerError("{}: copying {} into the container failed: {}".format(
                    entry.name, images_dir, copied.stderr.strip()))
        _run_logged(engine.command("start", "--attach", container), engine.env(), log_path)
        inspected = engine.run("inspect", "--format", "{{.State.ExitCode}}", container)
        exit_code = int(inspected.stdout.strip()) if inspected.returncode == 0 else -1
        if engine.remote:
            engine.run("cp", "{}:{}/.".format(container, OUT_MOUNT), str(staging))
    finally:
        engine.run("rm", "--force", container)
    if running_as_root:
        _chown_tree(staging, 0, 0)
    (out_dir / "logs" / "{}.exitcode".format(entry.name)).write_text("{}\n".format(exit_code))

    bundle = None
    written = staging / entry.name
    if written.is_dir():
        bundle = out_dir / "bundles" / entry.name
        if bundle.exists():
            shutil.rmtree(str(bundle))
        bundle.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(written), str(bundle))
    shutil.rmtree(str(staging), ignore_errors=True)
    progress("{}: finished in {:.0f}s, exit {}{}".format(
        entry.name, time.time() - started, exit_code,
        ", bundle -> {}".format(bundle) if bundle else ", no bundle written"))
    return bundle, exit_code, log_path


def run(entries: Dict[str, Dict[str, object]], images_dir: Path, out_dir: Path,
        progress: Callable[[str], None], root: Optional[Path] = None,
        rebuild: bool = False) -> Dict[str, Path]:
    """Build and run every entry; return ``{name: bundle_path}``.

    ``root`` is the folder matrix.toml's paths are relative to, and the build context (default:
    the current directory when it holds the entries' Dockerfiles, else this checkout). Every
    entry is attempted; failures are raised together at the end, after every bundle that was
    written has been collected.
    """
    images_dir = Path(images_dir).resolve()
    out_dir = Path(out_dir).resolve()
    if not images_dir.is_dir():
        raise DockerError("images folder {} does not exist".format(images_dir))
    if root is None:
        first = next(iter(entries.values()), {})
        cwd = Path.cwd()
        root = cwd if (cwd / str(first.get("dockerfile", ""))).is_file() else REPO_ROOT
    parsed = [Entry(name, config, Path(root)) for name, config in entries.items()]
    log_dir = out_dir / "logs"
    bundles = {}  # type: Dict[str, Path]
    failures = []  # type: List[str]
    for entry in parsed:
        reachable, why = engine_reachable(entry.engine.docker_host, entry.engine.context)
        if not reachable:
            failures.append("{}: no Docker engine: {}".format(entry.name, why))
            continue
        try:
            tag = build(entry, progress, log_dir, force=rebuild)
            bundle, exit_code, log_path = run_container(entry, tag, images_dir, out_dir,
                                                        progress)
        except DockerError as exc:
            failures.append(str(exc))
            progress("{}: FAILED".format(entry.name))
            continue
        if exit_code != 0:
            failures.append("{}: the container exited with {}{}. Last lines of {}:\n  {}".format(
                entry.name, exit_code,
                " (its partial bundle is at {})".format(bundle) if bundle else "",
                log_path, _tail(log_path)))
        elif bundle is None:
            failures.append("{}: the container exited 0 but wrote no bundle {}/{}; see {}"
                            .format(entry.name, OUT_MOUNT, entry.name, log_path))
        else:
            bundles[entry.name] = bundle
    if failures:
        raise DockerError("\n".join(failures))
    return bundles


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m edgeparity.matrix_docker images [NAME...]``: build images only (make images)."""
    parser = argparse.ArgumentParser(prog="python -m edgeparity.matrix_docker",
                                     description="Build the matrix's Docker images.")
    parser.add_argument("command", choices=("images",))
    parser.add_argument("names", nargs="*", help="[docker.NAME] entries (default: all)")
    parser.add_argument("--config", default="matrix.toml")
    parser.add_argument("--out", default="matrix-out", help="where logs go (OUT/logs)")
    parser.add_argument("--rebuild", action="store_true", help="build even when up to date")
    args = parser.parse_args(argv)
    from .matrix import MatrixError, load_config

    def say(message: str) -> None:
        sys.stderr.write("edgeparity images: {}\n".format(message))

    try:
        config = load_config(args.config)
        entries = config.get("docker", {})
        unknown = [name for name in args.names if name not in entries]
        if unknown:
            raise DockerError("{}: no [docker.{}] entry (known: {})".format(
                args.config, unknown[0], ", ".join(entries)))
        root = Path(args.config).resolve().parent
        for name in args.names or list(entries):
            entry = Entry(name, entries[name], root)
            build(entry, say, Path(args.out).resolve() / "logs", force=args.rebuild)
    except (DockerError, MatrixError) as exc:
        sys.stderr.write("edgeparity images: error: {}\n".format(exc))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
