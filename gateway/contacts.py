"""The contacts feature's per-worker resources: the list and task stores, and the sweeper
(``cases.sweep``) run round after round in a thread of its own (its rounds block on the change
stream and do CPU work that must not sit on the event loop), at the worker threads' lower CPU
priority (``sync.offloop.workers.lower_priority``: on a busy host the loop wins a CPU the sweep
wants), with its metrics: open tasks by
establishment, the oldest open task's age, and sweep durations."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from cases.contact_tasks import TaskStore
from cases.contacts import ContactStore
from cases.sweep import Sweeper
from sync.offloop.workers import lower_priority

log = logging.getLogger("nocontact.gateway.contacts")

SWEEP_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0)
COUNTS_EVERY = 1.0  # seconds between reads of the open-task counts the metrics show
IDLE_WAIT = 1.0  # seconds between rounds of a gateway that does not hold the sweep lease
RETRY_MAX = 5.0


@dataclass(slots=True)
class SweepMetrics:
    """Written by the sweep thread, read at scrape time: plain values swapped whole."""

    open_counts: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    counts_read: float = 0.0  # time.monotonic() of the last read
    buckets: dict[str, list[int]] = field(default_factory=dict)  # kind -> counts per bucket (+Inf last)
    totals: dict[str, float] = field(default_factory=dict)

    def observe(self, kind: str, seconds: float) -> None:
        counts = self.buckets.setdefault(kind, [0] * (len(SWEEP_BUCKETS) + 1))
        i = next((n for n, bound in enumerate(SWEEP_BUCKETS) if seconds <= bound), len(SWEEP_BUCKETS))
        counts[i] += 1
        self.totals[kind] = self.totals.get(kind, 0.0) + seconds


class _SweepCollector(Collector):
    def __init__(self, metrics: SweepMetrics, clock: Callable[[], float] = time.time) -> None:
        self.metrics = metrics
        self.clock = clock

    def collect(self) -> Iterator[Any]:
        m = self.metrics
        open_tasks = GaugeMetricFamily(
            "nocontact_contact_tasks_open", "Open contact removal tasks", labels=["establishment"]
        )
        oldest = GaugeMetricFamily(
            "nocontact_contact_task_oldest_open_seconds",
            "Age of the oldest open contact removal task",
            labels=["establishment"],
        )
        now_ms = self.clock() * 1000
        for code, (count, created_ms) in sorted(m.open_counts.items()):
            open_tasks.add_metric([code], count)
            oldest.add_metric([code], max(0.0, (now_ms - created_ms) / 1000) if created_ms else 0.0)
        yield open_tasks
        yield oldest
        durations = HistogramMetricFamily(
            "nocontact_contact_sweep_seconds",
            "Time to sweep one blocklist change (kind=change) or one batch of lists (kind=lists)",
            labels=["kind"],
        )
        for kind, counts in sorted(m.buckets.items()):
            running = 0
            buckets = []
            for bound, count in zip((*(str(b) for b in SWEEP_BUCKETS), "+Inf"), counts, strict=True):
                running += count
                buckets.append((bound, float(running)))
            durations.add_metric([kind], buckets, m.totals.get(kind, 0.0))
        yield durations


@dataclass(slots=True)
class ContactsRuntime:
    lists: ContactStore
    tasks: TaskStore
    sweeper: Sweeper
    metrics: SweepMetrics
    _stopping: bool = False
    _task: asyncio.Task[None] | None = None
    _executor: ThreadPoolExecutor | None = None

    def register(self, registry: CollectorRegistry) -> None:
        registry.register(_SweepCollector(self.metrics))

    def start(self) -> None:
        self._executor = ThreadPoolExecutor(
            1, thread_name_prefix="nocontact-sweep", initializer=lower_priority
        )
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._executor is not None:  # the round under way ends within block_ms: wait off the loop
            await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown, True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while not self._stopping:
            try:
                busy = await loop.run_in_executor(self._executor, self._round)
                failures = 0
            except (RedisError, OSError) as exc:
                failures += 1
                log.warning(
                    "sweep: store unreachable (%s); resuming from the stored cursor", type(exc).__name__
                )
                await asyncio.sleep(min(RETRY_MAX, 0.2 * 2**failures))
                continue
            except Exception:
                log.exception("sweep: round failed; resuming from the stored cursor")
                await asyncio.sleep(RETRY_MAX)
                continue
            if not busy:
                await asyncio.sleep(IDLE_WAIT)

    def _round(self) -> bool:
        """One sweep round; False when this gateway does not hold the lease (it waits a while)."""
        stats = self.sweeper.step()
        now = time.monotonic()
        if now - self.metrics.counts_read >= COUNTS_EVERY:
            self.metrics.open_counts = self.tasks.open_counts()
            self.metrics.counts_read = now
        return stats.leased


def contacts_runtime(sweeper: Sweeper) -> ContactsRuntime:
    metrics = SweepMetrics()
    sweeper.observe = metrics.observe
    return ContactsRuntime(sweeper.lists, sweeper.tasks, sweeper, metrics)
