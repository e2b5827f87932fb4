"""`edgeparity matrix`: capture in every environment of matrix.toml, then compare them all.

Two backends:

- ``docker``: pinned images per environment (see docker/ and matrix_docker.py). The real thing.
- ``local``: tox environments on this machine (tox.ini), no Docker needed. Used when no Docker
  engine is reachable, saying so.

Host side: CPython >= 3.9.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from .bundle import BundleError

MATRIX_SCHEMA_KEYS = ("matrix", "local", "docker")


class MatrixError(Exception):
    """A matrix run that cannot go on; the message says which environment and what to do."""


def load_config(path: str) -> Dict[str, Any]:
    try:
        import tomllib  # type: ignore
    except ImportError:  # Python < 3.11
        try:
            import tomli as tomllib  # type: ignore
        except ImportError:
            raise MatrixError(
                "reading {} needs Python >= 3.11 or the 'tomli' package "
                "(pip install 'edgeparity[host]')".format(path)
            ) from None
    try:
        with open(path, "rb") as handle:
            config = tomllib.load(handle)
    except FileNotFoundError:
        raise MatrixError(
            "{}: no matrix file. Run from the repository root or pass --config.".format(path)
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise MatrixError("{}: not valid TOML ({})".format(path, exc)) from None
    unknown = set(config) - set(MATRIX_SCHEMA_KEYS)
    if unknown:
        raise MatrixError(
            "{}: unknown sections {}; expected {}".format(
                path, ", ".join(sorted(unknown)), ", ".join(MATRIX_SCHEMA_KEYS)
            )
        )
    return config


def say(message: str) -> None:
    sys.stderr.write("edgeparity matrix: {}\n".format(message))
    sys.stderr.flush()


def pipeline_arg(pipeline: Dict[str, str]) -> str:
    return ",".join("{}={}".format(stage, impl) for stage, impl in pipeline.items())


def _tox_command() -> List[str]:
    tox = shutil.which("tox")
    if tox:
        return [tox]
    return [sys.executable, "-m", "tox"]


def run_local(
    entries: Dict[str, Dict[str, Any]],
    images_dir: Path,
    out_dir: Path,
    progress: Callable[[str], None],
    rebuild: bool = False,
) -> Dict[str, Path]:
    """Capture in each tox environment named by a [local.NAME] entry."""
    bundles = {}
    root = Path(__file__).resolve().parents[2]
    tox_ini = root / "tox.ini"
    if not tox_ini.exists():
        raise MatrixError(
            "the local backend runs tox environments from tox.ini, but {} does not "
            "exist: run from a checkout of the edgeparity repository".format(tox_ini)
        )
    for name, entry in entries.items():
        tox_env = entry.get("tox_env", name)
        bundle_path = out_dir / "bundles" / name
        log_path = out_dir / "logs" / "{}.log".format(name)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        command = _tox_command() + ["exec", "-c", str(tox_ini), "-e", tox_env]
        if rebuild:
            command.append("--recreate")
        command += [
            "--",
            "python",
            "-m",
            "edgeparity",
            "capture",
            "--images",
            str(images_dir),
            "--out",
            str(bundle_path),
            "--name",
            name,
        ]
        if entry.get("pipeline"):
            command += ["--pipeline", pipeline_arg(entry["pipeline"])]
        progress("{}: capturing in tox env {} (log: {})".format(name, tox_env, log_path))
        started = time.time()
        with open(log_path, "w") as log:
            result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=str(root))
        if result.returncode != 0:
            tail = log_path.read_text(errors="replace").splitlines()[-15:]
            raise MatrixError(
                "{}: capture failed in tox env {} (exit {}). Last lines of {}:\n  {}".format(
                    name, tox_env, result.returncode, log_path, "\n  ".join(tail)
                )
            )
        progress(
            "{}: bundle written in {:.0f}s -> {}".format(name, time.time() - started, bundle_path)
        )
        bundles[name] = bundle_path
    return bundles


def docker_available(config: Dict[str, Any]) -> "tuple[bool, str]":
    try:
        from . import matrix_docker
    except ImportError as exc:
        return False, "the docker backend is not available ({})".format(exc)
    return matrix_docker.engine_reachable()


def matrix_cli(args: Any) -> int:
    from . import report as report_module
    from .errors import EXIT_ERROR
    from .compare import Tolerances, compare, exit_code

    try:
        config = load_config(args.config)
    except MatrixError as exc:
        sys.stderr.write("edgeparity: error: {}\n".format(exc))
        return EXIT_ERROR
    settings = config.get("matrix", {})
    base = Path(args.config).resolve().parent
    images_dir = (base / (args.images or settings.get("images", "sample-images"))).resolve()
    out_dir = (base / (args.out or settings.get("out", "matrix-out"))).resolve()
    backend = args.backend
    if backend == "auto":
        reachable, why = docker_available(config)
        if reachable and config.get("docker"):
            backend = "docker"
        else:
            say(
                "no Docker engine reachable ({}); falling back to the local backend "
                "(tox environments on this machine)".format(why)
            )
            backend = "local"
    entries = dict(config.get(backend, {}))
    only = [n.strip() for value in (args.only or []) for n in value.split(",") if n.strip()]
    if only:
        unknown = [n for n in only if n not in entries]
        if unknown:
            sys.stderr.write(
                "edgeparity: error: --only names unknown {} environments: {} (known: {})\n".format(
                    backend, ", ".join(unknown), ", ".join(entries)
                )
            )
            return EXIT_ERROR
        entries = {name: entries[name] for name in only}
    if len(entries) < 1:
        sys.stderr.write(
            "edgeparity: error: {} has no [{}.*] environments\n".format(args.config, backend)
        )
        return EXIT_ERROR
    out_dir.mkdir(parents=True, exist_ok=True)
    say(
        "backend {}: {} environments ({}); images {}; output {}".format(
            backend, len(entries), ", ".join(entries), images_dir, out_dir
        )
    )
    started = time.time()
    try:
        if backend == "docker":
            from . import matrix_docker

            bundles = matrix_docker.run(
                entries, images_dir, out_dir, say, root=base, rebuild=args.rebuild
            )
        else:
            bundles = run_local(entries, images_dir, out_dir, say, rebuild=args.rebuild)
    except Exception as exc:  # MatrixError, or the docker backend's own errors
        sys.stderr.write("edgeparity: error: {}\n".format(exc))
        return EXIT_ERROR
    say("captured {} bundles in {:.0f}s; comparing".format(len(bundles), time.time() - started))
    reference = args.reference or settings.get("reference")
    if reference not in bundles:
        reference = next(iter(bundles))
    specs = [str(bundles[reference])] + [str(p) for n, p in bundles.items() if n != reference]
    try:
        tolerances = Tolerances.parse(args.atol, args.rtol, args.tolerance)
        result, heatmaps = compare(specs, reference, tolerances)
    except (ValueError, BundleError) as exc:
        sys.stderr.write("edgeparity: error: {}\n".format(exc))
        return EXIT_ERROR
    args.json = args.json or str(out_dir / "report.json")
    args.md = args.md or str(out_dir / "report.md")
    args.html = args.html or str(out_dir / "report.html")
    report_module.write_all(result, heatmaps, args)
    say(
        "reports: {}, {}, {} ({:.0f}s in all)".format(
            args.md, args.html, args.json, time.time() - started
        )
    )
    return exit_code(result)


def find_interpreter(version: str) -> Optional[str]:
    """A pythonX.Y on PATH or under pyenv, for tests and diagnostics."""
    found = shutil.which("python" + version)
    if found:
        return found
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for candidate in sorted(root.glob(version + ".*")):
        python = candidate / "bin" / "python"
        if python.exists():
            return str(python)
    return None
