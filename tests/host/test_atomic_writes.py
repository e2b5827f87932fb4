"""The one atomic writer (reports, goldens, exports): what it refuses, and how it says so."""

import os
import shutil
import subprocess

import pytest

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
