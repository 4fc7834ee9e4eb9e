"""Attributing event-loop stalls (NOCONTACT_BENCH_SYNC_TRACE=1 in bench_sync_stall's gateway process).

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
from collections.abc import Callable, Container
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
        sched = _sched_sample()
        while not self._stop.is_set():
            time.sleep(interval)
            now = clock()
            before, sched = sched, _sched_sample()
            late_tick = self.last_tick is not None and now - self.last_tick() > threshold
            gil_gap = now - last - interval > threshold
            # this thread's own wait for the GIL matters only while the loop is late too (worker
            # threads run niced: this thread can starve while the loop does not)
            loop_late = late_tick or self.last_tick is None
            if (gil_gap and loop_late) or (late_tick and now - self._sampled > 0.004):
                self._sampled = now
                stacks = thread_stacks(self.depth, skip={me})
                stalled_ms = round((now - last) * 1e3, 1)
                if not gil_gap:  # the loop is late though this thread runs: how long so far
                    assert self.last_tick is not None
                    stalled_ms = round((now - self.last_tick()) * 1e3, 1)
                kind = "GIL" if gil_gap else "loop"
                since = last if gil_gap or self.last_tick is None else self.last_tick()
                self.stalls.append(
                    {
                        "at": since,
                        "ms": stalled_ms,
                        "kind": kind,
                        "stacks": stacks,
                        "sched": _sched_delta(before, sched),
                    }
                )
                now = clock()
            last = now


def report(tracer: StallTracer, marks: dict[str, float], top: int = 40) -> list[str]:
    """The worst stalls, each with the window it began in and seconds into it."""
    end = max(marks.values())
    # a loop stall is sampled every few ms while it lasts: keep its first and last samples
    episodes: dict[float, list[dict[str, Any]]] = {}
    for stall in tracer.stalls:
        if stall["at"] < end:
            episodes.setdefault(stall["at"], []).append(stall)
    lines = []
    for samples in sorted(episodes.values(), key=lambda e: -max(s["ms"] for s in e))[:top]:
        for stall in samples[:1] + samples[1:][-1:]:
            lines.append(f"STALL {stall['kind']} {stall['ms']} ms at {where(marks, stall['at'])}")
            lines.append(
                f"  since the last sample (ms on cpu, ms runnable, slices, minor faults): {stall['sched']}"
            )
            for name, frames in stall["stacks"].items():
                lines.append(f"  [{name}]")
                lines.extend(f"    {line}" for line in frames)
    for at, seconds, generation, collected in tracer.collections:
        lines.append(f"GC gen{generation} {seconds * 1e3:.1f} ms at {where(marks, at)} collected {collected}")
    return lines


def thread_stacks(depth: int, skip: Container[int] = ()) -> dict[str, list[str]]:
    """Every thread's innermost `depth` frames as they stand, by thread name; not the threads
    whose idents are in `skip`."""
    names = {t.ident: t.name for t in threading.enumerate()}
    return {
        names.get(ident, str(ident)): [
            f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}: {f.line}"
            for f in traceback.extract_stack(frame)[-depth:]
        ]
        for ident, frame in sys._current_frames().items()
        if ident not in skip
    }


def where(marks: dict[str, float], at: float) -> str:
    """`at` as the window (named by the mark that opens it) it falls in and the seconds into it."""
    order = sorted(marks.items(), key=lambda kv: kv[1])
    name, start = order[0]
    for n, mark in order:
        if mark <= at:
            name, start = n, mark
    return f"{name}+{at - start:.3f}s"


def _sched_sample() -> dict[str, tuple[int, int, int, int]]:
    """Per thread of this process: (ns on a CPU, ns waiting on a run queue, timeslices, minor
    faults), from /proc/self/task: whether a thread holding the GIL was running or descheduled."""
    out = {}
    names = {t.native_id: t.name for t in threading.enumerate()}
    for tid, name in names.items():
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as fh:
                run, wait, slices = (int(x) for x in fh.read().split())
            with open(f"/proc/self/task/{tid}/stat") as fh:
                minflt = int(fh.read().rsplit(")", 1)[1].split()[7])
        except (OSError, ValueError):
            continue
        out[name] = (run, wait, slices, minflt)
    return out


def _sched_delta(
    before: dict[str, tuple[int, int, int, int]], after: dict[str, tuple[int, int, int, int]]
) -> dict[str, tuple[float, float, int, int]]:
    return {
        name: (round((a[0] - b[0]) / 1e6, 1), round((a[1] - b[1]) / 1e6, 1), a[2] - b[2], a[3] - b[3])
        for name, a in after.items()
        if (b := before.get(name)) is not None
    }
