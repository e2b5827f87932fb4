"""allocator: capture keeps image-sized buffers in the heap, where glibc lets it."""

import os
import subprocess
import sys

from edgeparity import allocator


def _child(code, **env):
    src = os.path.dirname(os.path.dirname(os.path.abspath(allocator.__file__)))
    environ = dict(os.environ, PYTHONPATH=src, **env)
    return subprocess.check_output([sys.executable, "-c", code], env=environ).decode().strip()


_FAULTS = (
    "import resource, sys, numpy as np\n"
    "from edgeparity.allocator import keep_image_buffers\n"
    "if sys.argv[-1] == 'keep':\n"
    "    print(keep_image_buffers())\n"
    "np.ones(5 << 20, np.uint8)\n"  # one mapping freed: glibc's threshold rises to its size
    "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
    "for _ in range(20):\n"
    "    np.ones(5 << 20, np.uint8)\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
)


def test_image_sized_buffers_are_reused_not_faulted_in_again():
    if not allocator._is_glibc():
        assert allocator.keep_image_buffers() is False
        return
    default = int(_child(_FAULTS.replace("sys.argv[-1]", "'no'")).splitlines()[-1])
    kept = _child(_FAULTS.replace("sys.argv[-1]", "'keep'")).splitlines()
    assert kept[0] == "True"
    # 20 buffers of 5 MB: each mapped and faulted in afresh by default (page by page, or by
    # huge page where numpy asks for them), reused with no fault at all once kept.
    assert int(kept[-1]) < default / 4, (kept, default)


def test_the_users_own_malloc_tuning_wins():
    code = "from edgeparity.allocator import keep_image_buffers; print(keep_image_buffers())"
    assert _child(code, MALLOC_TRIM_THRESHOLD_="1000000") == "False"
