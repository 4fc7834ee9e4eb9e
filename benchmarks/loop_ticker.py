"""The loop-stall benchmark's measuring instrument: a ticker on the event loop (as
sync.offloop.looplag.LoopLagMonitor: sleep 1 ms, record how late it wakes) that keeps every sample, with
how long the loop thread sat runnable waiting for a CPU (Linux schedstat) rather than for the GIL,
and, when asked, the other threads' stacks after each late tick."""

from __future__ import annotations

import array
import asyncio
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from benchmarks.stalltrace import thread_stacks, where
from benchmarks.sync_harness import percentile


class Ticker:
    """sync.offloop.looplag.LoopLagMonitor's measurement, keeping every sample (wake time, lateness)."""

    def __init__(self, interval: float = 0.001, capture_over: float | None = None) -> None:
        self.interval = interval
        self.woke = array.array("d")
        self.late = array.array("d")
        self.queued = array.array("d")  # of each tick, the seconds the loop thread sat runnable
        # with TRACE: after a tick this late, every other thread's innermost frames as the loop
        # finds them (a thread that held the GIL through one long C call stands just past it)
        self.capture_over = capture_over
        self.captured: list[tuple[float, float, dict[str, list[str]]]] = []

    async def run(self) -> None:
        interval, woke, late, queued = self.interval, self.woke, self.late, self.queued
        clock = time.perf_counter
        queue_wait = _queue_wait_clock()
        while True:
            started, queued_before = clock(), queue_wait()
            await asyncio.sleep(interval)
            now = clock()
            woke.append(now)
            late.append(now - started - interval)
            queued.append(queue_wait() - queued_before)
            if self.capture_over is not None and late[-1] > self.capture_over:
                self.captured.append((started, late[-1], _other_stacks()))

    def window(self, start: float, end: float) -> dict[str, Any]:
        """Ticks whose wait began in [start, end): a stall counts where it starts."""
        interval = self.interval
        inside = [
            (lt, at - lt - interval, q)
            for at, lt, q in zip(self.woke, self.late, self.queued, strict=True)
            if start <= at - lt - interval < end
        ]
        if not inside:
            return {"seconds": round(end - start, 3), "ticks": 0}
        lates = [lt for lt, _, _ in inside]
        worst = sorted(inside, reverse=True)[:5]
        return {
            "seconds": round(end - start, 3),
            "ticks": len(lates),
            "max_ms": round(max(lates) * 1e3, 3),
            "p99_ms": round(percentile(lates, 0.99) * 1e3, 3),
            "p999_ms": round(percentile(lates, 0.999) * 1e3, 3),
            "over_10ms": sum(lt > 0.010 for lt in lates),
            "over_10ms_per_min": round(sum(lt > 0.010 for lt in lates) * 60 / (end - start), 2),
            # the worst stalls, as (ms, seconds into the window at which the stall began, ms of
            # it the loop thread sat runnable, waiting for a CPU rather than for the GIL)
            "worst": [(round(lt * 1e3, 1), round(at - start, 3), round(q * 1e3, 1)) for lt, at, q in worst],
            # the longest stall less its wait for a CPU: how long the loop waited for the GIL
            "max_ms_less_cpu_wait": round(max(lt - q for lt, _, q in inside) * 1e3, 3),
        }


def _other_stacks() -> dict[str, list[str]]:
    """After a late tick, on the loop: the other threads' frames (not the stall tracer's)."""
    skip = {threading.get_ident(), *(t.ident for t in threading.enumerate() if t.name == "stall-tracer")}
    return thread_stacks(8, {ident for ident in skip if ident is not None})


def captured_report(ticker: Ticker, marks: dict[str, float]) -> list[str]:
    lines = []
    for started, late, stacks in ticker.captured:
        lines.append(f"LATE TICK {late * 1e3:.1f} ms at {where(marks, started)}")
        for thread, frames in stacks.items():
            lines.append(f"  [{thread}]")
            lines.extend(f"    {line}" for line in frames)
    return lines


def _queue_wait_clock() -> Callable[[], float]:
    """Seconds the calling thread has spent runnable but not running (Linux schedstat's run
    delay: on a shared box, the time a CPU was busy with other work); always 0 elsewhere."""
    try:
        fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
    except OSError:
        return lambda: 0.0
    return lambda: int(os.pread(fd, 128, 0).split()[1]) / 1e9
