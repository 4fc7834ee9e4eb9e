"""Letting the event loop in from the worker threads that build, read and write for it.

The worker threads run at a lower CPU priority than the loop (``run_in_worker``). The loop needs a
CPU the moment its timer or socket fires; with the other CPUs busy (another process, the host),
it waited on the run queue behind the build thread: a resync of 1M entries measured the loop
thread runnable, and not running, for 24.6 ms of a 31.8 ms stall while the build thread ran 21.3
ms of it. Niced, the build thread gives way to it; an idle CPU still runs the build at full speed.

A worker thread that lets the GIL go briefly and often needs more (``GiveWay``).

A thread waiting for the GIL asks its holder to drop it only after waiting a whole switch interval
(0.5 ms under ``nocontact serve``). A worker that releases the GIL itself more often than that, for
a call that returns at once (a ``recv`` of bytes already in the socket, while a million-entry cut
streams in), wakes the waiting loop thread each time and takes the GIL back before that thread
has run: the loop's wait starts over and it never asks. Measured: the event loop starved for
100-195 ms at a time while the cut client parsed a 1M-entry reply (a worker doing 0.3 ms of Python
between such calls starved a 1 ms ticker for up to 190 ms; giving way every 1 ms: p99 1.8 ms,
max 4.7 ms). ``GiveWay`` makes such a worker sleep a few tens of microseconds once per switch
interval, long enough for a waiting thread to take the GIL.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

PAUSE = 0.00005  # seconds: a waiting thread is woken and takes the GIL in far less
# Added to the worker threads' nice value. 10 weighs a thread at about a tenth of a default one:
# the loop wins a contended CPU at once, while a build still gets its share on a busy host
# (a nice of 19, 1.5%, could hold a resync back for many minutes there).
WORKER_NICE = 10
WORKERS = 4  # a cut read or build, a snapshot write beside it, and room to spare
_pools: dict[int, concurrent.futures.ThreadPoolExecutor] = {}  # by the pid of the process that made it
_pool_lock = threading.Lock()


def lower_priority(increment: int = WORKER_NICE) -> bool:
    """Raise the calling thread's nice value by `increment` (Linux: nice is per thread); False
    where the platform has no per-thread priority or refuses."""
    setpriority = getattr(os, "setpriority", None)
    if setpriority is None or not sys.platform.startswith("linux"):
        return False
    tid = threading.get_native_id()
    with contextlib.suppress(OSError):
        setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + increment))
        return True
    return False


def worker_pool() -> concurrent.futures.ThreadPoolExecutor:
    """This process's pool of low-priority worker threads, made on first use (a forked child,
    whose copy of a parent's pool has no threads, makes its own)."""
    pid = os.getpid()
    with _pool_lock:
        pool = _pools.get(pid)
        if pool is None:
            _pools.clear()  # a parent's, copied by the fork
            pool = _pools[pid] = concurrent.futures.ThreadPoolExecutor(
                WORKERS, thread_name_prefix="nocontact-worker", initializer=lower_priority
            )
        return pool


async def run_in_worker(fn: Callable[..., T], /, *args: object) -> T:
    """``fn(*args)`` in one of the low-priority worker threads, awaited from the loop."""
    return await asyncio.get_running_loop().run_in_executor(worker_pool(), fn, *args)


class GiveWay:
    """Call it at each point where the worker thread lets the GIL go and gets it straight back;
    at most once every `every` seconds (default: the switch interval) it sleeps `pause`."""

    __slots__ = ("_clock", "_last", "_sleep", "every", "pause", "pauses")

    def __init__(
        self,
        every: float | None = None,
        pause: float = PAUSE,
        *,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.every = sys.getswitchinterval() if every is None else every
        self.pause = pause
        self.pauses = 0
        self._clock = clock
        self._sleep = sleep
        self._last = clock()

    def __call__(self) -> None:
        if self._clock() - self._last >= self.every:
            self._sleep(self.pause)
            self.pauses += 1
            self._last = self._clock()
