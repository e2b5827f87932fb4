"""The command-line process ends without freeing what compare held (edgeparity/quick_exit.py):
its output, exit code and atexit handlers must be exactly what a normal exit gives."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Output to a pipe buffered as it normally is (CI sets PYTHONUNBUFFERED): what the exit flushes.
_BUFFERED = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}

_SCRIPT = """
import atexit, sys, threading, time
sys.path.insert(0, {src!r})
from edgeparity import quick_exit
if {armed}:
    quick_exit.arm()
quick_exit.keep_until_exit(list(range(1000)))
atexit.register(lambda: sys.stderr.write("atexit ran\\n"))
if {thread}:
    threading.Thread(target=lambda: (time.sleep(0.3), sys.stdout.write("thread done\\n"))).start()
sys.stdout.write("buffered line\\n" * 3)  # a pipe: block-buffered, not yet written
print("kept:", len(quick_exit._kept))
quick_exit.exit_process(3)
print("never printed")
"""


def _run(armed: bool, thread: bool = False) -> subprocess.CompletedProcess:
    script = _SCRIPT.format(src=os.path.join(ROOT, "src"), armed=armed, thread=thread)
    return subprocess.run([sys.executable, "-c", script], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60, env=_BUFFERED)


def test_an_armed_exit_flushes_output_runs_atexit_and_keeps_the_code():
    result = _run(armed=True)
    out = result.stdout.decode()
    assert result.returncode == 3
    assert out.count("buffered line") == 3 and "kept: 1" in out
    assert "never printed" not in out
    assert "atexit ran" in result.stderr.decode()


def test_unarmed_code_keeps_nothing_and_exits_as_python_does():
    """A library caller (tests, a notebook) gets its memory back: nothing is kept."""
    result = _run(armed=False)
    assert result.returncode == 3
    assert "kept: 0" in result.stdout.decode()
    assert "atexit ran" in result.stderr.decode()


def test_a_running_thread_is_waited_for():
    result = _run(armed=True, thread=True)
    assert result.returncode == 3
    assert "thread done" in result.stdout.decode()


@pytest.mark.parametrize("reports", [False, True], ids=["summary-only", "report-files"])
def test_a_compare_run_from_the_command_line_exits_with_its_code_and_whole_output(
        case_bundles, tmp_path, reports):
    """`python -m edgeparity compare` ends through the quick exit when it holds the bundles to
    the end (a summary only), through Python's own when it freed them to write report files:
    the whole summary on a pipe either way, exit 1 for the divergence."""
    report = tmp_path / "r.json"
    result = subprocess.run(
        [sys.executable, "-m", "edgeparity", "compare", case_bundles["cloud"],
         case_bundles["edge"]] + (["--json", str(report)] if reports else []),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=dict(_BUFFERED, PYTHONPATH=os.path.join(ROOT, "src")), timeout=300)
    assert result.returncode == 1, result.stderr.decode()
    lines = result.stdout.decode().rstrip().splitlines()
    assert lines[0].startswith("reference: ") and len(lines) > 10
    assert lines[-1].startswith("edgeparity: DIVERGENCE")
    if reports:
        assert json.loads(report.read_text())["verdict"] == "divergence"


@pytest.mark.parametrize("buffered", [True, False], ids=["flushed-at-exit", "written-at-once"])
@pytest.mark.parametrize("command", [["verify"], ["compare", "-q"]])
def test_a_reader_that_leaves_gets_the_shells_sigpipe_code_and_no_traceback(
        case_bundles, command, buffered):
    """`edgeparity verify B | head` under `set -o pipefail`: exit 141, as for any program a
    closed pipe stopped, not 2 (which reads as "damaged" / "parity not established"). Whether
    the output was still buffered at the exit or written while the command ran."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has already left: every write fails with EPIPE
    bundles = [case_bundles["cloud"]] + ([case_bundles["edge"]] if command[0] == "compare" else [])
    env = dict(_BUFFERED if buffered else os.environ, PYTHONPATH=os.path.join(ROOT, "src"))
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    try:
        result = subprocess.run(
            [sys.executable, "-m", "edgeparity", command[0]] + bundles + command[1:],
            stdout=write_end, stderr=subprocess.PIPE, env=env, timeout=300)
    finally:
        os.close(write_end)
    assert result.returncode == 141, result.stderr.decode()
    assert "Traceback" not in result.stderr.decode()
    assert "Exception ignored" not in result.stderr.decode()


def _edgeparity(args, stdout, stderr, env=None, **options):
    return subprocess.run(
        [sys.executable, "-m", "edgeparity"] + args, stdout=stdout, stderr=stderr, timeout=300,
        env=dict(env or _BUFFERED, PYTHONPATH=os.path.join(ROOT, "src")), **options)


def _gone_reader():
    """The writing end of a pipe whose reader has already left."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    return write_end


def test_a_reader_of_stderr_that_left_is_a_reader_that_left(case_bundles):
    """`compare A B 2>&1 | head`, or stderr alone into a closed pipe: 141 as for stdout (a
    shell's program would have been stopped by SIGPIPE at its first progress line), with
    no traceback and no exit 120 from output still buffered for stdout."""
    gone = _gone_reader()
    try:
        result = _edgeparity(["compare", case_bundles["cloud"], case_bundles["edge"]],
                             subprocess.PIPE, gone)
    finally:
        os.close(gone)
    assert result.returncode == 141
    gone = _gone_reader()
    try:  # both streams into the one pipe whose reader left
        result = _edgeparity(["compare", case_bundles["cloud"], case_bundles["edge"]], gone,
                             subprocess.STDOUT)
    finally:
        os.close(gone)
    assert result.returncode == 141


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["compare", "--help"]])
def test_help_to_a_reader_that_left_exits_141_without_a_traceback(args):
    gone = _gone_reader()
    try:
        result = _edgeparity(args, gone, subprocess.PIPE)
    finally:
        os.close(gone)
    assert result.returncode == 141
    assert result.stderr.decode() == ""


def test_an_error_keeps_its_code_when_the_reader_also_left(tmp_path):
    """Exit 2 (here: no such bundle) is not turned into the benign-looking 141."""
    gone = _gone_reader()
    try:
        result = _edgeparity(["verify", str(tmp_path / "absent")], gone, subprocess.PIPE)
    finally:
        os.close(gone)
    assert result.returncode == 2, result.stderr.decode()
    assert "absent" in result.stderr.decode()


@pytest.mark.parametrize("command", [["verify"], ["compare", "-q"]])
def test_a_closed_stdout_is_no_traceback(case_bundles, command):
    """`edgeparity verify B >&-`: Python has no sys.stdout at all; the verdict's code stands
    (compare writes its summary with sys.stdout.write, not print, which skips a None)."""
    bundles = [case_bundles["cloud"]] + ([case_bundles["edge"]] if command[0] == "compare" else [])
    result = _edgeparity([command[0]] + bundles + command[1:], None, subprocess.PIPE,
                         preexec_fn=lambda: os.close(1))
    assert result.returncode == (1 if command[0] == "compare" else 0), result.stderr.decode()
    assert "Traceback" not in result.stderr.decode()


def test_an_output_that_cannot_be_written_is_named(case_bundles):
    """`> /dev/full` with the output still buffered at the end: said, exit 2."""
    with open("/dev/full", "w") as full:
        result = _edgeparity(["verify", "-q", case_bundles["cloud"]], full, subprocess.PIPE)
    assert result.returncode == 2
    assert result.stderr.decode() == ("edgeparity: error: cannot write the output (stdout): No "
                                      "space left on device\n")


def test_a_reader_that_leaves_midway_is_noticed_under_pythonunbuffered(case_bundles):
    """PYTHONUNBUFFERED (CI, containers) writes stdout straight to its file: a short write
    (the reader left midway through a large report) used to lose the rest silently and exit
    with the verdict's code. 141, as without it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "edgeparity", "compare", case_bundles["cloud"],
         case_bundles["edge"], "-q", "--json", "-"], stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.path.join(ROOT, "src")))
    assert process.stdout.read(100).startswith(b"{")  # the report is being written (>64 KB)
    process.stdout.close()  # ... and its reader leaves
    assert process.wait(timeout=300) == 141
