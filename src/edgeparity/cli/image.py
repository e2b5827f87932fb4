"""`edgeparity image build|tag|run`: the one image runner.

Used by `make images`, `make jetson-run` and the GitHub workflow (no caller runs `docker run`
itself). NAME is a ``[docker.NAME]`` entry of matrix.toml; without NAME, every environment of
the default matrix (entries with ``default = false``, such as the real Jetson's ``jetson-l4t``,
run only when named).
"""

import argparse
import sys
from typing import TYPE_CHECKING, Any, List

from .. import defaults
from ..errors import EXIT_PARITY, UsageError

if TYPE_CHECKING:
    from pathlib import Path

PROG = "edgeparity image"


def say(message: str) -> None:
    sys.stderr.write("{}: {}\n".format(PROG, message))
    sys.stderr.flush()


def register(sub: Any) -> None:
    p = sub.add_parser(
        "image",
        help="build, tag or run the Docker image of matrix.toml environments",
        description="Build, tag or run [docker.NAME] images of matrix.toml, without comparing. "
        "`run` is what `matrix` does in each environment: the in-image tests (they assert "
        "expect_libjpeg), then the capture, as a non-root user with no network and the images "
        "read-only; the bundle goes to OUT/bundles/NAME, logs and the exit code to OUT/logs/.",
    )
    actions = p.add_subparsers(dest="image_command", metavar="ACTION")

    build = actions.add_parser("build", help="build images (skipped when up to date)")
    _add_common(build)
    build.add_argument("--out", help="logs go to OUT/logs (default from the matrix file: "
                       "{})".format(defaults.MATRIX_OUT))
    build.add_argument("--rebuild", action="store_true", help="build even when up to date")
    build.set_defaults(func=run_build)

    tag = actions.add_parser(
        "tag", help="print the content-hash tag of each image (the one tag scheme)",
        description="Print edgeparity/NAME:<hash>, the tag `build` gives and `run` looks for. "
        "With --bake-set, print NAME.tags=... lines for `docker buildx bake --set`, so a bake "
        "build is found by `run --no-build` (the GitHub workflow does this). The hash covers "
        "the base image's ID, which must be on the engine.",
    )
    _add_common(tag)
    tag.add_argument("--bake-set", action="store_true",
                     help="print NAME.tags=edgeparity/NAME:<hash> (bake --set syntax)")
    tag.set_defaults(func=run_tag)

    run = actions.add_parser(
        "run", help="run the in-image tests, then capture a bundle",
        description="Build each image unless up to date, run the in-image tests, then the "
        "capture. Exit 0 when every environment passed, 2 otherwise (bundles are collected "
        "even from failed runs; OUT/logs/NAME.exitcode holds each suite's exit code).",
    )
    _add_common(run)
    run.add_argument("--images", help="images folder (default from the matrix file: {})".format(
        defaults.IMAGES_DIR))
    run.add_argument("--out", help="output folder: OUT/bundles/NAME, OUT/logs/NAME.* (default "
                     "from the matrix file: {})".format(defaults.MATRIX_OUT))
    run.add_argument("--model", metavar="PATH",
                     help="model for the infer stage (a folder of its forms with "
                     "edgeparity-model.json, a Neo/DLR artifact dir, .onnx, .tar.gz or MXNet "
                     "prefix), mounted read-only (default from the matrix file, else the demo "
                     "model)")
    how = run.add_mutually_exclusive_group()
    how.add_argument("--rebuild", action="store_true", help="build even when up to date")
    how.add_argument("--no-build", action="store_true",
                     help="never build: the image must already carry its tag (see `tag`)")
    run.set_defaults(func=run_run)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="[docker.NAME] entries (default: the default matrix)")
    parser.add_argument("--config", default=defaults.MATRIX_CONFIG,
                        help="matrix file (default {})".format(defaults.MATRIX_CONFIG))
    parser.add_argument("--docker-host", metavar="URL",
                        help="use this engine, e.g. ssh://user@jetson (instead of the entry's "
                        "docker_host or context)")


def _environments(args: argparse.Namespace) -> Any:
    from ..matrix import config as matrix_config

    config = matrix_config.load(args.config)
    environments = config.select("docker", args.names)
    if not environments:
        raise UsageError("{} has no [docker.*] environments in its default matrix".format(
            args.config))
    if args.docker_host:
        environments = [e.on_engine(args.docker_host) for e in environments]
    return config, environments


def _out(args: argparse.Namespace, config: Any) -> "Path":
    from pathlib import Path

    return Path(args.out).resolve() if args.out else config.out


def run_build(args: argparse.Namespace) -> int:
    from ..matrix.docker import DockerBackend
    from ..matrix.run import prepare_all

    config, environments = _environments(args)
    prepare_all(DockerBackend(say, rebuild=args.rebuild), environments, _out(args, config))
    return EXIT_PARITY


def run_tag(args: argparse.Namespace) -> int:
    from ..matrix.docker.image import current_tag

    _config, environments = _environments(args)
    lines: List[str] = []
    for environment in environments:
        tag = current_tag(environment)
        lines.append("{}.tags={}".format(environment.name, tag) if args.bake_set else tag)
    print("\n".join(lines))
    return EXIT_PARITY


def run_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..matrix import config as matrix_config
    from ..matrix.docker import DockerBackend
    from ..matrix.run import run_all

    config, environments = _environments(args)
    backend = DockerBackend(say, rebuild=args.rebuild, build=not args.no_build)
    images = Path(args.images).resolve() if args.images else config.images
    model = matrix_config.chosen_model(config, args.model)
    bundles = run_all(backend, environments, images, _out(args, config), model)
    for name, bundle in bundles.items():
        say("{}: bundle {}".format(name, bundle))
    return EXIT_PARITY
