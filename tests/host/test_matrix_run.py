"""run_all's orchestration: the next environment prepares while one runs (docker), failures are
reported in environment order, and an interrupt stops the matrix where it is.

The backend here is a small recording one: what is under test is run_all's ordering, not a
backend (the docker and local backends have their own tests, with real engines and tox).
"""

import threading
import time
from pathlib import Path

import pytest

from edgeparity.matrix.backend import Backend, MatrixError, Outcome
from edgeparity.matrix.run import run_all


class Environment:
    def __init__(self, name):
        self.name = name


class RecordingBackend(Backend):
    name = "recording"

    def __init__(self, overlaps, failing_prepare=(), failing_run=(), interrupt_prepare=()):
        super().__init__(progress=lambda message: None)
        self.overlaps_builds = overlaps
        self.failing_prepare = failing_prepare
        self.failing_run = failing_run
        self.interrupt_prepare = interrupt_prepare
        self.events = []
        self.lock = threading.Lock()

    def _note(self, *event):
        with self.lock:
            self.events.append(event)

    def prepare(self, environment, log):
        self._note("prepare start", environment.name)
        time.sleep(0.05)
        if environment.name in self.interrupt_prepare:
            raise KeyboardInterrupt
        if environment.name in self.failing_prepare:
            raise MatrixError("{}: build failed".format(environment.name))
        self._note("prepare end", environment.name)

    def run(self, environment, images_dir, out_dir, model=None):
        self._note("run start", environment.name)
        time.sleep(0.2)
        self._note("run end", environment.name)
        if environment.name in self.failing_run:
            raise MatrixError("{}: run failed".format(environment.name))
        return Outcome(environment.name, 0, 0, Path(out_dir) / environment.name,
                       Path("t.log"), Path("c.log"), 0.2)

    def run_tests(self, environment, log):
        raise AssertionError("not used: run() is replaced")

    def run_capture(self, environment, images_dir, bundle, log, model=None):
        raise AssertionError("not used: run() is replaced")


def environments(*names):
    return [Environment(name) for name in names]


def test_the_next_environment_prepares_while_one_runs(tmp_path):
    backend = RecordingBackend(overlaps=True)
    bundles = run_all(backend, environments("a", "b", "c"), tmp_path, tmp_path / "out")
    assert list(bundles) == ["a", "b", "c"]
    events = backend.events
    # b's build starts before a's run ends; runs never overlap each other and keep their order.
    assert events.index(("prepare start", "b")) < events.index(("run end", "a"))
    runs = [e for e in events if e[0].startswith("run")]
    assert runs == [("run start", "a"), ("run end", "a"), ("run start", "b"), ("run end", "b"),
                    ("run start", "c"), ("run end", "c")]


def test_a_serial_backend_prepares_only_after_the_previous_run(tmp_path):
    backend = RecordingBackend(overlaps=False)
    run_all(backend, environments("a", "b"), tmp_path, tmp_path / "out")
    assert backend.events.index(("prepare start", "b")) > backend.events.index(("run end", "a"))


def test_failures_are_reported_in_environment_order(tmp_path):
    backend = RecordingBackend(overlaps=True, failing_prepare=("b",), failing_run=("a", "c"))
    with pytest.raises(MatrixError) as raised:
        run_all(backend, environments("a", "b", "c", "d"), tmp_path, tmp_path / "out")
    assert str(raised.value).splitlines() == ["a: run failed", "b: build failed",
                                              "c: run failed"]
    assert ("run end", "d") in backend.events  # every environment is attempted


def test_an_interrupt_stops_the_matrix_where_it_is(tmp_path):
    backend = RecordingBackend(overlaps=True, interrupt_prepare=("c",))
    with pytest.raises(KeyboardInterrupt):
        run_all(backend, environments("a", "b", "c", "d"), tmp_path, tmp_path / "out")
    names_run = [name for kind, name in backend.events if kind == "run start"]
    assert names_run == ["a", "b"]  # c was being built; neither c nor d runs
    assert ("prepare start", "d") not in backend.events
