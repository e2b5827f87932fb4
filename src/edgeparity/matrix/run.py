"""Run the suite in a list of environments and collect their bundles: the orchestration that
`edgeparity matrix` and `edgeparity image run` share.

Every environment is attempted; failures are raised together at the end, after every bundle that
was written has been collected. Host side: CPython >= 3.9.
"""

import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
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


def _prepared(backend: Backend, environment: AnyEnvironment, out_dir: Path,
              failures: List[str]) -> bool:
    """Prepare one environment; on failure, note why in ``failures`` and say so."""
    try:
        backend.prepare(environment, log_paths(out_dir, environment.name)["build.log"])
    except MatrixError as exc:
        failures.append(str(exc))
        backend.progress("{}: FAILED".format(environment.name))
        return False
    return True


def prepare_all(backend: Backend, environments: Sequence[AnyEnvironment], out_dir: Path) -> None:
    """Make every environment ready (build images / create tox envs) without running them."""
    failures: List[str] = []
    for environment in environments:
        _prepared(backend, environment, out_dir, failures)
    if failures:
        raise MatrixError("\n".join(failures))


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
    # One environment runs while the next one's image builds: a run under emulation keeps about
    # one core busy (the in-image tests), a build the others, so on a 2-core machine this cuts
    # a cold docker matrix by minutes. Runs still go one at a time, in order.
    runs: List[Tuple[AnyEnvironment, Future]] = []  # Future[Outcome]
    with ThreadPoolExecutor(max_workers=1) as runner:
        for environment in environments:
            if not _prepared(backend, environment, out_dir, failures):
                continue
            run = runner.submit(backend.run, environment, images_dir, out_dir, model)
            runs.append((environment, run))
            if not backend.overlaps_builds:
                wait([run])  # the next environment is prepared only after this one ran
    for environment, run in runs:
        try:
            outcome = run.result()
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
