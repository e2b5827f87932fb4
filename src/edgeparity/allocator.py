"""Keep image-sized buffers in the C heap between images (glibc's malloc), for capture.

A capture allocates and frees the same few buffers for every image: a decoder's image memory,
its RGB copy, numpy's array of it (about 4-5 MB each for a 1.3 MP photo). glibc serves a request
at or above its *dynamic* mmap threshold with a fresh mmap, and raises that threshold only to the
size of the last mapping freed, so a buffer of the same size as the last one is mapped again
every time: the kernel hands out zeroed pages and faults them in anew, some 3000 page faults per
1.3 MP photo (measured: ~10 ms of system time per photo on a 2-core VM, as much as the decode
itself). Fixing the thresholds keeps such buffers in the heap, reused from one image to the next.

Memory stays bounded: freed memory at the top of the heap beyond the trim threshold is still
returned to the system, and requests above the mmap threshold are still mapped (and unmapped
when freed). Elsewhere (musl, macOS) and when the user set MALLOC_MMAP_THRESHOLD_ or
MALLOC_TRIM_THRESHOLD_ nothing changes.

Runs on CPython 3.6+, standard library only.
"""

import os

# glibc accepts an mmap threshold up to 32 MB on 64-bit systems: a 3.6 MP RGB float32 image.
MMAP_THRESHOLD = 32 << 20
# Free memory at the top of the heap kept for the next image before it is given back.
TRIM_THRESHOLD = 64 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)


def keep_image_buffers() -> bool:
    """Fix glibc's mmap and trim thresholds for this process; True if they were set."""
    if any(name in os.environ for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False  # the user's own tuning wins
    if not _is_glibc():
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    except (OSError, AttributeError, ImportError):
        return False
    # Each set on its own: 32-bit glibc caps the mmap threshold lower and refuses ours, and the
    # trim threshold still helps there.
    mmap_set = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    trim_set = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return bool(mmap_set and trim_set)


def _is_glibc() -> bool:
    # musl exports a mallopt that does nothing, macOS none: only glibc has these thresholds.
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError, AttributeError):
        return False
