"""The worker threads that build, read and write for the event loop, and the work they are handed.

The worker threads run at a lower CPU priority than the loop (``run_in_worker``): the loop needs a
CPU the moment its timer or socket fires, and with the other CPUs busy it would otherwise wait on
the run queue behind the build thread. An idle CPU still runs the build at full speed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import sys
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# Added to the worker threads' nice value: about a tenth of a default thread's weight, so the loop
# wins a contended CPU at once while a build still gets its share on a busy host (19 would not).
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


class Handoff(Generic[T]):
    """Work for a worker thread that lets go of itself, and so of the inputs its closure holds (a
    cut's million raw entries, a snapshot's stored chunks), before it returns. A thread pool frees
    its work item only after it has handed the result back: the loop could by then have retired
    the inputs, leaving the thread the last holder, freeing them whole in one GIL-holding call.
    Let go here, while the awaiting caller still holds them, they are the Retirer's to take apart
    in steps."""

    __slots__ = ("_work",)

    def __init__(self, work: Callable[[], T]) -> None:
        self._work: Callable[[], T] | None = work

    def __call__(self) -> T:
        work, self._work = self._work, None
        if work is None:
            raise RuntimeError("a Handoff runs once")
        return work()  # `work` goes with this frame, before the caller sees the result
