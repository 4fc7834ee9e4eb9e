"""A worker thread that lets the GIL go briefly and often gives way to the event loop (``GiveWay``).

A thread waiting for the GIL asks its holder to drop it only after waiting a whole switch interval
(``gateway.serve.SWITCH_INTERVAL`` under ``nocontact serve``). A worker that releases the GIL itself
more often than that, for a call that returns at once (a ``recv`` of bytes already in the socket,
while a million-entry cut streams in), wakes the waiting loop thread each time and takes the GIL
back before that thread has run: the loop's wait starts over, it never asks, and it starves for as
long as the cut client parses the reply. ``GiveWay`` makes such a worker sleep a few tens of microseconds
once per switch interval, long enough for a waiting thread to take the GIL.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

PAUSE = 0.00005  # seconds: a waiting thread is woken and takes the GIL in far less


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
