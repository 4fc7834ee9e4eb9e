"""What a follower serves and says about it: the live index, swapped whole as one reference, and its
status (metrics and waiters follow every change), with the watchdog that notices when the follow
loop stops making progress. The follower decides what to swap in; this keeps the two consistent."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from matcher.index import Index
from sync.building import Built
from sync.cut import START_ID
from sync.lastgood import SnapshotState
from sync.metrics import SyncMetrics
from sync.status import SyncState, SyncStatus

log = logging.getLogger("nocontact.sync")


class Served:
    def __init__(self, metrics: SyncMetrics) -> None:
        self.metrics = metrics
        self.index: Index | None = None  # one reference, swapped whole, never mutated
        self.status = SyncStatus(SyncState.OFF, "not started", since=time.monotonic())
        self.applied_id = START_ID  # stream id at which the served index's version was reached
        self.layered = 0  # changes applied as deltas since the last full build
        self.progress = time.monotonic()  # the follow loop's last round trip or finished build
        self._building = False
        self._changed = asyncio.Event()

    def set_status(self, state: SyncState | None = None, reason: str | None = None, **changes: Any) -> None:
        old = self.status
        new_state = state if state is not None else old.state
        if new_state is not old.state:
            changes["since"] = time.monotonic()
        changes["reason"] = reason if reason is not None else old.reason
        self.status = replace(old, state=new_state, **changes)
        self.metrics.observe(self.status)
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def wait_for(self, predicate: Callable[[SyncStatus], bool], timeout: float) -> SyncStatus:
        """Wait until `predicate(status)` holds; raises TimeoutError after `timeout` seconds."""
        async with asyncio.timeout(timeout):
            while not predicate(self.status):
                await self._changed.wait()
        return self.status

    def touch(self) -> None:
        """A round trip with the store just finished."""
        self.progress = time.monotonic()
        self.status = replace(self.status, last_contact=self.progress)

    async def track_build(self, work: Awaitable[Built]) -> Built:
        """Await a build: a build in progress is progress (its data is as old as its cut)."""
        self._building = True
        try:
            return await work
        finally:
            self._building = False
            self.progress = time.monotonic()

    async def watch(self, stale_after: float) -> None:
        """Marks the follower INTERRUPTED when the follow loop made no progress (a round trip with
        the store, or a finished build) for `stale_after` seconds, whatever it is stuck on. Local
        monotonic clock only."""
        tick = min(1.0, stale_after / 4)
        while True:
            await asyncio.sleep(tick)
            status = self.status
            self.metrics.observe(status)
            idle = time.monotonic() - self.progress
            if status.state is SyncState.VALID and not self._building and idle > stale_after:
                log.warning("sync: no contact with the store for %.1fs", idle)
                self.set_status(SyncState.INTERRUPTED, f"no contact with the store for {idle:.1f}s")

    def fault(self, reason: str) -> None:
        status = self.status
        if status.state is not SyncState.INTERRUPTED or status.reason != reason:
            log.warning(
                "sync: store unreachable or out of sync (%s); serving=%s epoch=%s version=%s",
                reason,
                status.serving,
                status.epoch,
                status.version,
            )
        self.set_status(SyncState.INTERRUPTED, reason)

    def snapshot_state(self) -> SnapshotState | None:
        index, status = self.index, self.status
        if index is None or status.epoch is None:
            return None
        return SnapshotState(index, status.epoch, self.applied_id)

    def swap(
        self, built: Built, *, epoch: str, applied_id: str, state: SyncState, compaction: bool
    ) -> Index | None:
        """Serve `built` and say so; returns the index it replaced, for the caller to retire."""
        old, self.index = self.index, built.index  # the swap: one reference
        self.applied_id = applied_id
        self.layered = 0 if built.kind == "full" else self.layered + built.changes
        self.metrics.swaps.labels(built.kind).inc()
        self.metrics.build_seconds.labels(built.kind).observe(built.seconds)
        if built.unindexable:
            log.error(
                "sync: entries not indexable, keeping their last good content if any: %s",
                ", ".join(built.unindexable[:20]),
            )
        if compaction:
            unindexable = self.status.unindexable
        elif built.kind == "full":
            unindexable = built.unindexable
        else:
            kept = set(self.status.unindexable) - built.touched
            unindexable = tuple(sorted(kept | set(built.unindexable)))
        reason = "in sync" if state is SyncState.VALID else self.status.reason
        self.set_status(
            state,
            reason,
            epoch=epoch,
            version=built.index.version,
            entries=built.entries,
            identifiers=built.identifiers,
            serving=True,
            unindexable=unindexable,
        )
        if built.kind == "full" or built.changes > 1:
            log.info(
                "sync: swapped in (%s) epoch=%s version=%d entries=%d changes=%d in %.3fs",
                built.kind,
                epoch,
                built.index.version,
                built.entries,
                built.changes,
                built.seconds,
            )
        return old
