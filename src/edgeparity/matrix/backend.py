"""The one interface both matrix backends implement, and the suite every environment runs.

A backend makes an environment ready (:meth:`Backend.prepare`: build its image, create its tox
environment) and runs two steps in it, always these two, in this order (:meth:`Backend.run`):

1. **the in-environment tests** (``tests/inenv``) with ``EDGEPARITY_EXPECT_LIBJPEG`` set to the
   environment's ``expect_libjpeg``: ``tests/inenv/test_pinned_libjpeg.py`` fails, naming the
   library Pillow loaded and the one pinned, when they differ;
2. **the capture** (``edgeparity capture``), which writes the environment's bundle.

The capture runs even when the tests failed, so a failed environment's bundle can still be
inspected; the environment counts as failed all the same. Each step has its own log under
``OUT/logs/`` (``NAME.build.log``, ``NAME.tests.log``, ``NAME.capture.log``) and the suite's exit
code goes to ``OUT/logs/NAME.exitcode`` (what CI reads). Host side: CPython >= 3.9.
"""

import shutil
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

from ..errors import UserError
from ..stages.pipeline import format_pipeline
from .config import AnyEnvironment

Progress = Callable[[str], None]

EXPECT_LIBJPEG_VARIABLE = "EDGEPARITY_EXPECT_LIBJPEG"  # read by tests/inenv/test_pinned_libjpeg.py
IN_ENVIRONMENT_TESTS = "tests/inenv"
LOG_TAIL_LINES = 25


class MatrixError(UserError):
    """An environment that could not be prepared, tested or captured; the message names it, its
    log and what to do."""


def tests_command(python: str, target: str = IN_ENVIRONMENT_TESTS) -> List[str]:
    """Step 1, run from the checkout's root (the repository, or /src in an image)."""
    # --tb=short and -rsfE: every skip with its reason (what this environment lacks), then the
    # failures (e.g. the libjpeg pin) last in the log, for the error message.
    return [python, "-m", "pytest", "-p", "no:cacheprovider", "--tb=short", "-rsfE", target]


def capture_command(python: str, environment: AnyEnvironment, images: str, bundle: str,
                    model: Optional[str] = None) -> List[str]:
    """Step 2: capture with the environment's deployed pipeline into ``bundle``."""
    command = [python, "-m", "edgeparity", "capture", "--images", images, "--out", bundle,
               "--name", environment.name, "--pipeline", format_pipeline(environment.pipeline)]
    if model:
        command += ["--model", model]
    if environment.pipeline_only:
        command.append("--pipeline-only")
    return command


def suite_variables(environment: AnyEnvironment) -> Dict[str, str]:
    """Environment variables both steps run with ("" = unset: no libjpeg pinned)."""
    return {EXPECT_LIBJPEG_VARIABLE: environment.expect_libjpeg}


def log_paths(out_dir: Path, name: str) -> Dict[str, Path]:
    logs = out_dir / "logs"
    return {step: logs / "{}.{}".format(name, step)
            for step in ("build.log", "tests.log", "capture.log", "exitcode")}


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log, indented for an error message."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n  ".join(text[-lines:])


def run_logged(command: List[str], log: Path, env: Optional[Dict[str, str]] = None,
               cwd: Optional[Path] = None, append: bool = False) -> int:
    """Run ``command`` with its output in ``log`` (after a ``$ command`` line); its exit code."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(str(log), "a" if append else "w") as handle:
        handle.write("$ {}\n".format(" ".join(command)))
        handle.flush()
        return subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env,
                              cwd=str(cwd) if cwd else None).returncode


@dataclass
class Outcome:
    """What one environment's run left behind."""

    name: str
    tests_exit: int
    capture_exit: int
    bundle: Optional[Path]  # None when the capture wrote nothing
    tests_log: Path
    capture_log: Path
    seconds: float

    @property
    def exit_code(self) -> int:
        """The suite's exit code: the tests', else the capture's."""
        return self.tests_exit or self.capture_exit

    def failure(self) -> Optional[str]:
        """Why this environment failed, with the log's tail; None when it did not."""
        partial = " (its bundle is at {})".format(self.bundle) if self.bundle else ""
        for step, code, log in (("the in-environment tests", self.tests_exit, self.tests_log),
                                ("the capture", self.capture_exit, self.capture_log)):
            if code != 0:
                return "{}: {} failed (exit {}){}. Last lines of {}:\n  {}".format(
                    self.name, step, code, partial, log, tail(log))
        if self.bundle is None:
            return "{}: the capture exited 0 but wrote no bundle; see {}".format(
                self.name, self.capture_log)
        return None


class Backend(ABC):
    """Where environments run: ``docker`` (pinned images) or ``local`` (tox environments)."""

    name = ""
    # Whether one environment may run while the next is prepared (run_all): true where the two
    # use different resources (docker: an image build vs a container); false where preparing
    # and running share state (local: tox).
    overlaps_builds = False

    def __init__(self, progress: Progress, rebuild: bool = False) -> None:
        self.progress = progress
        self.rebuild = rebuild

    @abstractmethod
    def prepare(self, environment: AnyEnvironment, log: Path) -> None:
        """Make the environment ready to run (build its image, create its tox environment),
        unless it already is and ``rebuild`` is off. Raises MatrixError."""

    @abstractmethod
    def run_tests(self, environment: AnyEnvironment, log: Path) -> int:
        """Step 1 (:func:`tests_command` with :func:`suite_variables`) in the environment;
        its exit code."""

    @abstractmethod
    def run_capture(self, environment: AnyEnvironment, images_dir: Path, bundle: Path,
                    log: Path, model: Optional[Path] = None) -> int:
        """Step 2 (:func:`capture_command`) in the environment, leaving the bundle (if one was
        written) at ``bundle``; its exit code."""

    def run(self, environment: AnyEnvironment, images_dir: Path, out_dir: Path,
            model: Optional[Path] = None) -> Outcome:
        """The suite: tests, then capture (whatever the tests' outcome). Writes the exit code."""
        logs = log_paths(out_dir, environment.name)
        logs["exitcode"].parent.mkdir(parents=True, exist_ok=True)
        bundle = out_dir / "bundles" / environment.name
        if bundle.exists():
            shutil.rmtree(str(bundle))  # a stale bundle must never pass for this run's
        bundle.parent.mkdir(parents=True, exist_ok=True)
        started = time.time()
        expected = environment.expect_libjpeg or "no libjpeg pinned"
        self.progress("{}: in-environment tests ({}; expect_libjpeg: {}; log: {})".format(
            environment.name, IN_ENVIRONMENT_TESTS, expected, logs["tests.log"]))
        tests_exit = self.run_tests(environment, logs["tests.log"])
        if tests_exit != 0:
            self.progress("{}: the tests FAILED (exit {}); capturing anyway so the bundle can "
                          "be inspected".format(environment.name, tests_exit))
        self.progress("{}: capturing (pipeline {}; log: {})".format(
            environment.name, format_pipeline(environment.pipeline), logs["capture.log"]))
        capture_exit = self.run_capture(environment, images_dir, bundle, logs["capture.log"],
                                        model)
        outcome = Outcome(environment.name, tests_exit, capture_exit,
                          bundle if bundle.is_dir() else None, logs["tests.log"],
                          logs["capture.log"], time.time() - started)
        logs["exitcode"].write_text("{}\n".format(outcome.exit_code))
        self.progress("{}: finished in {:.0f}s, exit {}{}".format(
            environment.name, outcome.seconds, outcome.exit_code,
            ", bundle -> {}".format(outcome.bundle) if outcome.bundle else ", no bundle written"))
        return outcome
