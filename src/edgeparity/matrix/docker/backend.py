"""The docker backend: each ``[docker.NAME]`` environment is a pinned image.

prepare  build ``edgeparity/NAME:<hash>`` unless it exists (image.py); with ``build=False`` the
         image must already exist under that tag (e.g. built by ``docker buildx bake`` in CI)
run      two containers from that image (container.py): the in-image tests, then the capture
         with the images folder read-only at /inputs and the bundle collected from /out

Host side: CPython >= 3.9.
"""

import shutil
from pathlib import Path
from typing import Dict, Optional

from ..backend import Backend, Progress, capture_command, suite_variables, tests_command
from ..config import DockerEnvironment
from . import container, image
from .container import IMAGE_PYTHON, IMAGES_MOUNT, MODEL_MOUNT, OUT_MOUNT, Container
from .engine import DockerError, Engine


class DockerBackend(Backend):
    name = "docker"
    overlaps_builds = True

    def __init__(self, progress: Progress, rebuild: bool = False, build: bool = True) -> None:
        super().__init__(progress, rebuild)
        self.build = build
        self.tags: Dict[str, str] = {}

    def prepare(self, environment: DockerEnvironment, log: Path) -> None:
        engine = Engine.of(environment)
        reachable, why = engine.reachable()
        if not reachable:
            raise DockerError("{}: no Docker engine: {}".format(environment.name, why))
        if self.build:
            tag = image.build(environment, self.progress, log, force=self.rebuild)
        else:
            tag = image.current_tag(environment)
            if not engine.image_id(tag):
                raise DockerError("{}: image {} is not on the {} and building was turned off "
                                  "(--no-build): build it first, e.g. `edgeparity image build "
                                  "{}`".format(environment.name, tag, engine.describe(),
                                               environment.name))
            self.progress("{}: using image {}".format(environment.name, tag))
        self.tags[environment.name] = tag

    def _container(self, environment: DockerEnvironment, command: list,
                   inputs: Optional[Dict[Path, str]] = None,
                   output: Optional[Path] = None) -> Container:
        env = {key: value for key, value in suite_variables(environment).items() if value}
        env["HOME"] = "/tmp"  # the image's user may not own the HOME of the --user we pass
        return Container(image=self.tags[environment.name], platform=environment.platform,
                         command=command, env=env, inputs=inputs or {}, output=output,
                         runtime=environment.runtime)

    def run_tests(self, environment: DockerEnvironment, log: Path) -> int:
        spec = self._container(environment, tests_command(IMAGE_PYTHON))
        return self._run(environment, spec, log)

    def run_capture(self, environment: DockerEnvironment, images_dir: Path, bundle: Path,
                    log: Path, model: Optional[Path] = None) -> int:
        inputs = {images_dir.resolve(): IMAGES_MOUNT}
        model_argument = None
        if model is not None:
            # Mount the model's folder; a file or an MXNet prefix is named inside it.
            model = model.resolve()
            folder = model if model.is_dir() else model.parent
            inputs[folder] = MODEL_MOUNT
            model_argument = MODEL_MOUNT if model.is_dir() else "{}/{}".format(MODEL_MOUNT,
                                                                              model.name)
        staging = bundle.parent / ".{}.out".format(environment.name)
        shutil.rmtree(str(staging), ignore_errors=True)  # left over by an interrupted run
        command = capture_command(IMAGE_PYTHON, environment, IMAGES_MOUNT,
                                  "{}/{}".format(OUT_MOUNT, environment.name), model_argument)
        spec = self._container(environment, command, inputs, staging)
        try:
            return self._run(environment, spec, log)
        finally:
            container.collect(staging, environment.name, bundle)

    def _run(self, environment: DockerEnvironment, spec: Container, log: Path) -> int:
        engine = Engine.of(environment)
        try:
            return container.run(engine, spec, log)
        except DockerError as exc:
            raise DockerError("{}: {}".format(environment.name, exc)) from None
