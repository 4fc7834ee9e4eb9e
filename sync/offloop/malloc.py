"""glibc malloc's mmap threshold, fixed, for a serving process whose worker threads build big indexes.

glibc serves a block of at least the mmap threshold (128 kB) with its own ``mmap``, and resizes
it with ``mremap``: no copy, and the new pages are touched only as they are filled. But the
threshold is dynamic: freeing such a block raises it to the block's size (up to 32 MB), after
which blocks that size come from the heap, and growing one (a list appended to, a buffer) is a
fresh allocation, a copy and a free, in one C call that holds the GIL while it touches every new
page: in a gateway resyncing after its cold start freed its big lists, the event loop waited for
the cut's reply list to grow. Setting the threshold explicitly turns the dynamic adjustment off
(mallopt(3)).

Only glibc has ``mallopt`` with these meanings; elsewhere this does nothing and says so.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger("nocontact.sync")

M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
MMAP_THRESHOLD = 128 * 1024  # glibc's default starting value: blocks this big are mapped apart


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold for this process and the processes it forks (setting it stops
    the dynamic adjustment of it and of the trim threshold). True when the C library took it;
    False on a C library without glibc's mallopt."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
        gnu_get_libc_version = libc.gnu_get_libc_version  # glibc only: musl's mallopt is a no-op
    except (OSError, AttributeError):
        log.info("sync: not glibc; malloc's mmap threshold left as it is")
        return False
    del gnu_get_libc_version
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok: bool = mallopt(M_MMAP_THRESHOLD, threshold) == 1
    if not ok:
        log.warning("sync: mallopt refused an mmap threshold of %d bytes", threshold)
    return ok
