"""sync.offloop.malloc: glibc's mmap threshold fixed, so that a big block freed does not move the blocks
that follow it onto the heap (where growing one copies it in one GIL-holding call)."""

from __future__ import annotations

import ctypes
import subprocess
import sys
import textwrap

import pytest

from sync.offloop.malloc import fix_mmap_threshold


def _glibc() -> bool:
    try:
        return hasattr(ctypes.CDLL(None), "gnu_get_libc_version")
    except OSError:
        return False


glibc_only = pytest.mark.skipif(not (sys.platform.startswith("linux") and _glibc()), reason="glibc's mallopt")

# In a fresh interpreter: free a mapped 24 MB block (glibc then raises its dynamic threshold to
# 24 MB), make and fill an 8 MB block, free it, and print how much of it is still resident.
_PROBE = textwrap.dedent(
    """
    import os, sys
    from sync.offloop.malloc import fix_mmap_threshold
    page = os.sysconf("SC_PAGE_SIZE")
    def rss():
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * page
    if sys.argv[1] == "fixed":
        assert fix_mmap_threshold()
    big = bytearray(24 << 20)
    del big
    before = rss()
    block = bytearray(8 << 20)  # filled with zeros: every page touched
    del block
    print(rss() - before)
    """
)


def _kept_after_free(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True, timeout=60
    )
    return int(out.stdout.strip())


@glibc_only
def test_fixed_threshold_keeps_big_blocks_mapped_apart() -> None:
    # the control: glibc's dynamic threshold put the 8 MB block on the heap, which kept it
    assert _kept_after_free("dynamic") > 6 << 20
    # fixed: the block was mapped on its own and went back to the system when freed
    assert _kept_after_free("fixed") < 1 << 20


@glibc_only
def test_fix_reports_that_glibc_took_it() -> None:
    assert fix_mmap_threshold() is True


def test_fix_is_a_no_op_off_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert fix_mmap_threshold() is False
