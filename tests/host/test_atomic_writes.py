"""The one atomic writer (reports, goldens, exports): what it refuses, and how it says so."""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT
from edgeparity.atomic import check_writable, write_atomic
from edgeparity.errors import UserError


def test_a_file_that_may_not_be_replaced_is_said_to_be_so(tmp_path):
    """An immutable file in a writable folder: not "choose a folder you can write to"."""
    target = tmp_path / "r.json"
    target.write_text("old\n")
    if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(target)], stderr=subprocess.DEVNULL).returncode != 0:
        pytest.skip("chattr +i is not available here (needs root and ext4-like file system)")
    try:
        with pytest.raises(UserError) as caught:
            write_atomic(str(target), "new\n")
        assert "the file there cannot be replaced. Choose another path." in str(caught.value)
    finally:
        subprocess.run(["chattr", "-i", str(target)])
    assert target.read_text() == "old\n"


def test_a_fifo_is_refused_before_and_when_writing_and_left_a_fifo(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(str(fifo))
    for attempt in (lambda: check_writable(str(fifo)), lambda: write_atomic(str(fifo), "x")):
        with pytest.raises(UserError) as caught:
            attempt()
        assert "it is a named pipe (FIFO), not a file. Give a file path." in str(caught.value)
    assert not fifo.is_file() and fifo.exists()


def test_a_symlink_is_written_through(tmp_path):
    (tmp_path / "real.txt").write_text("old\n")
    link = tmp_path / "link.txt"
    link.symlink_to("real.txt")
    check_writable(str(link))
    write_atomic(str(link), "new\n")
    assert link.is_symlink() and (tmp_path / "real.txt").read_text() == "new\n"


def test_a_report_path_that_is_the_redirected_stdout_is_refused(case_bundles, tmp_path):
    """`--md /dev/stdout >> summary.txt` (a symlink to /proc/self/fd/1): written through, it
    replaced summary.txt, losing what was in it and the summary printed to it."""
    link = tmp_path / "so.md"
    link.symlink_to("/proc/self/fd/1")
    summary = tmp_path / "summary.txt"
    summary.write_text("previous\n")
    with open(str(summary), "a") as out:
        result = subprocess.run(
            [sys.executable, "-m", "edgeparity", "compare", case_bundles["cloud"],
             case_bundles["edge"], "--md", str(link)], stdout=out, stderr=subprocess.PIPE,
            env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src")), timeout=300)
    assert result.returncode == 2
    assert "it is this process's standard output" in result.stderr.decode()
    assert summary.read_text() == "previous\n"


def test_a_golden_that_is_no_file_is_refused_without_reading_it(here_bundle, tmp_path):
    """A FIFO where a golden should be would hang the read."""
    goldens = tmp_path / "goldens"
    goldens.mkdir()
    os.mkfifo(str(goldens / "here.json"))
    result = subprocess.run(
        [sys.executable, "-m", "edgeparity", "golden", "check", here_bundle, "--dir",
         str(goldens)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src")), timeout=120)
    assert result.returncode == 2
    assert "not a golden file (a folder, a FIFO or a device)" in result.stderr.decode()
