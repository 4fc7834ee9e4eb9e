"""Measure event-loop stalls: a task that sleeps `interval` and records how late it woke. Used by
the sync tests and benchmarks to show that building an index aside does not stall the loop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import TracebackType


class LoopLagMonitor:
    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.max_lag = 0.0
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(self.interval)
            lag = time.perf_counter() - started - self.interval
            self.samples += 1
            self.max_lag = max(self.max_lag, lag)

    async def __aenter__(self) -> LoopLagMonitor:
        self._task = asyncio.create_task(self._run(), name="nocontact-loop-lag")
        await asyncio.sleep(0)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
