"""Attributing event-loop stalls (NOCONTACT_BENCH_SYNC_TRACE=1 in bench_sync's loop-stall child).

A daemon thread sleeps 0.5 ms at a time; when it wakes more than `threshold` late, something held
the GIL (or the CPU) that long, and it records every thread's innermost frames as it finds them:
a long C call in a worker thread returns just before that thread lets the GIL go, so its frame
points at the call. gc.callbacks time every collection. Diagnostic only: never in the suite.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any


class StallTracer:
    def __init__(
        self,
        threshold: float = 0.006,
        interval: float = 0.0005,
        depth: int = 6,
        last_tick: Callable[[], float] | None = None,
    ) -> None:
        self.last_tick = last_tick  # when the loop's ticker last woke: a loop busy in Python shows here
        self.threshold = threshold
        self.interval = interval
        self.depth = depth
        self.stalls: list[dict[str, Any]] = []
        self.collections: list[tuple[float, float, int, int]] = []  # (at, seconds, generation, collected)
        self._gc_started = 0.0
        self._sampled = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stall-tracer", daemon=True)

    def start(self) -> None:
        gc.callbacks.append(self._on_gc)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._gc_started = now
        elif now - self._gc_started > 0.002:
            started, seconds = round(self._gc_started, 4), round(now - self._gc_started, 4)
            self.collections.append((started, seconds, info["generation"], info["collected"]))

    def _run(self) -> None:
        clock, interval, threshold = time.perf_counter, self.interval, self.threshold
        me = threading.get_ident()
        last = clock()
        while not self._stop.is_set():
            time.sleep(interval)
            now = clock()
            late_tick = self.last_tick is not None and now - self.last_tick() > threshold
            gil_gap = now - last - interval > threshold
            if gil_gap or (late_tick and now - self._sampled > 0.004):
                self._sampled = now
                names = {t.ident: t.name for t in threading.enumerate()}
                stacks = {}
                for ident, frame in sys._current_frames().items():
                    if ident == me:
                        continue
                    summary = traceback.extract_stack(frame)[-self.depth :]
                    stacks[names.get(ident, str(ident))] = [
                        f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}: {f.line}" for f in summary
                    ]
                stalled_ms = round((now - last) * 1e3, 1)
                if not gil_gap:  # the loop is late though this thread runs: how long so far
                    assert self.last_tick is not None
                    stalled_ms = round((now - self.last_tick()) * 1e3, 1)
                kind = "GIL" if gil_gap else "loop"
                since = last if gil_gap or self.last_tick is None else self.last_tick()
                self.stalls.append({"at": since, "ms": stalled_ms, "kind": kind, "stacks": stacks})
                now = clock()
            last = now


def report(tracer: StallTracer, marks: dict[str, float], top: int = 40) -> list[str]:
    """The worst stalls, each with the window it began in and seconds into it."""
    order = sorted(marks.items(), key=lambda kv: kv[1])
    end = order[-1][1]

    def where(at: float) -> str:
        name, start = order[0]
        for n, s in order:
            if s <= at:
                name, start = n, s
        return f"{name}+{at - start:.3f}s"

    # a loop stall is sampled every few ms while it lasts: keep its first and last samples
    episodes: dict[float, list[dict[str, Any]]] = {}
    for stall in tracer.stalls:
        if stall["at"] < end:
            episodes.setdefault(stall["at"], []).append(stall)
    lines = []
    for samples in sorted(episodes.values(), key=lambda e: -max(s["ms"] for s in e))[:top]:
        for stall in samples[:1] + samples[1:][-1:]:
            lines.append(f"STALL {stall['kind']} {stall['ms']} ms at {where(stall['at'])}")
            for name, frames in stall["stacks"].items():
                lines.append(f"  [{name}]")
                lines.extend(f"    {line}" for line in frames)
    for at, seconds, generation, collected in tracer.collections:
        lines.append(f"GC gen{generation} {seconds * 1e3:.1f} ms at {where(at)} collected {collected}")
    return lines
