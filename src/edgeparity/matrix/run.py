"""Run the suite in a list of environments and collect their bundles: the orchestration that
`edgeparity matrix` and `edgeparity image run` share.

Every environment is attempted; failures are raised together at the end, after every bundle that
was written has been collected. Host side: CPython >= 3.9.
"""

import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .backend import Backend, MatrixError, Progress, log_paths
from .config import AnyEnvironment, ConfigError, MatrixConfig


def choose_backend(requested: str, config: MatrixConfig) -> Tuple[str, str]:
    """The backend to use for ``requested`` (auto, docker, local), and why when it was chosen.

    auto: docker when matrix.toml has [docker.*] environments and a Docker engine answers,
    else local; the reason says which of the two was missing.
    """
    if requested != "auto":
        return requested, ""
    if not config.docker:
        return "local", "{} has no [docker.*] environments".format(config.path)
    from .docker import engine_reachable

    reachable, why = engine_reachable()
    if reachable:
        return "docker", why
    return "local", "no Docker engine reachable ({})".format(why)


def make_backend(name: str, progress: Progress, rebuild: bool = False,
                 build: bool = True) -> Backend:
    if name == "docker":
        from .docker import DockerBackend

        return DockerBackend(progress, rebuild=rebuild, build=build)
    if name == "local":
        from .local import LocalBackend

        return LocalBackend(progress, rebuild=rebuild)
    raise ConfigError("unknown backend {!r}: docker or local".format(name))


def _prepare(backend: Backend, environment: AnyEnvironment, out_dir: Path) -> Optional[str]:
    """Prepare one environment; why it failed (also said), or None."""
    try:
        backend.prepare(environment, log_paths(out_dir, environment.name)["build.log"])
    except MatrixError as exc:
        backend.progress("{}: FAILED".format(environment.name))
        return str(exc)
    return None


def prepare_all(backend: Backend, environments: Sequence[AnyEnvironment], out_dir: Path) -> None:
    """Make every environment ready (build images / create tox envs) without running them."""
    failures = [_prepare(backend, environment, out_dir) for environment in environments]
    if any(failures):
        raise MatrixError("\n".join(f for f in failures if f))


def run_all(backend: Backend, environments: Sequence[AnyEnvironment], images_dir: Path,
            out_dir: Path, model: Optional[Path] = None) -> Dict[str, Path]:
    """Prepare and run every environment; ``{name: bundle}`` when all passed, else MatrixError
    naming each failure (the bundles written are in ``out_dir/bundles`` all the same)."""
    images_dir = images_dir.resolve()
    out_dir = out_dir.resolve()
    if not images_dir.is_dir():
        raise MatrixError("images folder {} does not exist".format(images_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    bundles: Dict[str, Path] = {}
    failures: List[str] = []
    # The next environment's image builds while this one runs: a run under emulation keeps
    # about one core busy (the in-image tests), a build the others, so on a 2-core machine this
    # cuts a cold docker matrix by minutes. Runs stay in this (main) thread, one at a time and
    # in order, so Ctrl-C stops the running one as it always did; the build in flight gets the
    # same SIGINT from the terminal, and nothing queued starts.
    with ThreadPoolExecutor(max_workers=1) as builder:
        ahead: Optional[Future] = None
        for index, environment in enumerate(environments):
            if ahead is None:
                failure = _prepare(backend, environment, out_dir)
            else:
                failure = ahead.result()
                ahead = None
            following = environments[index + 1] if index + 1 < len(environments) else None
            if following is not None and backend.overlaps_builds:
                ahead = builder.submit(_prepare, backend, following, out_dir)
            if failure:
                failures.append(failure)
                continue
            try:
                outcome = backend.run(environment, images_dir, out_dir, model)
            except MatrixError as exc:
                failures.append(str(exc))
                backend.progress("{}: FAILED".format(environment.name))
                continue
            failure = outcome.failure()
            if failure:
                failures.append(failure)
            elif outcome.bundle is not None:
                bundles[environment.name] = outcome.bundle
    if failures:
        raise MatrixError("\n".join(failures))
    backend.progress("captured {} bundles in {:.0f}s".format(len(bundles), time.time() - started))
    return bundles
