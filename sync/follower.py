"""The follower: one per gateway process, started from the app's lifecycle (never at import).

1. cold start from the local snapshot file if it is present and valid, and serve it;
2. on contact, check the store's head: same epoch → catch up from the stream; otherwise read a
   consistent cut (one MULTI: meta, entries, last stream id);
3. follow with ``XREAD BLOCK`` (well under the socket timeout, each call under a watchdog):
   ``v <= applied`` skip, ``v == applied + 1`` apply; a gap, a reset, another epoch or an
   unparsable message → full resync;
4. build the new index aside (``sync.building``) and swap the one ``index`` reference;
5. after a swap, write the snapshot file (debounced; temp file, fsync, ``os.replace``).

A cut that is empty, or shrinks by more than ``max_shrink``, is refused unless the store says so
explicitly: the follower keeps serving its last good index and says so (state INTERRUPTED, metric,
log line). Faults reconnect with jittered exponential backoff.

Stable log lines (``nocontact.sync``; references, versions and counts only, never a person's details):
``sync: cold start from snapshot file``, ``sync: snapshot file rejected``, ``sync: resync (reason=...)``,
``sync: swapped in``, ``sync: cut refused``, ``sync: store unreachable``, ``sync: gap``,
``sync: unparsable change``, ``sync: entries not indexable``, ``sync: no contact with the store``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import redis

from matcher.entries import Entry
from matcher.index import NORMALISER_VERSIONS, Index
from matcher.profile import Profile
from sync.building import Built, IndexBuilder, TooManyUnindexable, shrink_refusal
from sync.changes import OP_RESET, OP_UPSERT, parse_change
from sync.client import AsyncRedis, SyncRedis, async_client, cut_client
from sync.cut import START_ID, Cut, read_cut, read_head
from sync.errors import SnapshotRejected, UnparsableChange
from sync.heartbeat import Heartbeat
from sync.metrics import SyncMetrics
from sync.offloop.collector import gc_paused
from sync.offloop.retire import Retirer
from sync.offloop.workers import run_in_worker
from sync.settings import SyncSettings
from sync.snapshot import Snapshot, SnapshotState, SnapshotWriter, read_snapshot
from sync.status import Backoff, SyncState, SyncStatus

log = logging.getLogger("nocontact.sync")

Hook = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class FollowerHooks:
    """Test and benchmark seams. `before_read` is awaited before every XREAD; `after_cut` after a
    cut is read and before it is built; `on_swap` is called after every swap with the new status."""

    before_read: Hook | None = None
    after_cut: Callable[[Cut], Awaitable[None]] | None = None
    on_swap: Callable[[SyncStatus], None] | None = None


class Follower:
    def __init__(
        self,
        settings: SyncSettings,
        profile: Profile,
        *,
        redis_url: str | None = None,
        metrics: SyncMetrics | None = None,
        hooks: FollowerHooks | None = None,
        builder: IndexBuilder | None = None,
        heartbeat: bool = True,
    ) -> None:
        url = redis_url or settings.redis_url
        if not url:
            raise ValueError("no Redis URL: start sync.embedded.EmbeddedRedis and pass its url")
        self.settings = settings
        self.url = url
        self.keys = settings.keys
        self.metrics = metrics or SyncMetrics()
        self.hooks = hooks or FollowerHooks()
        self.builder = builder or IndexBuilder(profile, max_delta=settings.max_delta)
        self.gateway_id = settings.gateway_name
        self._heartbeat = (
            Heartbeat(
                self.keys,
                self.gateway_id,
                lambda: self.status,
                interval=settings.heartbeat_interval,
                ttl=settings.heartbeat_ttl,
            )
            if heartbeat
            else None
        )
        self._index: Index | None = None
        self._status = SyncStatus(SyncState.OFF, "not started", since=time.monotonic())
        self._applied_id = START_ID  # stream id at which the served index's version was reached
        self._cursor = START_ID  # where the next XREAD continues
        self._refused = False  # the store's current cut was refused; wait for it to change
        self._progress = time.monotonic()  # the follow loop's last round trip or finished build
        self._building = False
        self._layered = 0  # changes applied as deltas since the last full build
        self._backoff = Backoff(settings.backoff_initial, settings.backoff_max)  # reset by a good read
        self._changed = asyncio.Event()
        self._retirer = Retirer()  # replaced indexes and read cuts are freed in bounded steps
        self._snapshots = SnapshotWriter(
            settings.snapshot_file,
            self._snapshot_state,
            settings.snapshot_min_interval,
            NORMALISER_VERSIONS,
            on_written=self.metrics.snapshot_writes.inc,
            # a write's thread and the retirement's steps on the loop, at once, starve the loop
            # of the GIL (15-35 ms late ticks measured at 1M entries): one after the other
            settle=self._retirer.idle,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._client: AsyncRedis | None = None
        self._cut_client: SyncRedis | None = None  # cuts are read and decoded in a worker thread

    # -- what the gateway reads --------------------------------------------------------------
    @property
    def index(self) -> Index | None:
        """The live index: one reference, swapped whole, never mutated."""
        return self._index

    @property
    def status(self) -> SyncStatus:
        return self._status

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Load the snapshot file, start following, and wait up to ``initial_wait`` seconds for the
        first contact with the store to finish (so a gateway listens with an index when it can)."""
        self._set_status(SyncState.INITIALIZING, "starting")
        await self._cold_start()
        self._client = async_client(self.url, self.settings, name=f"nocontact-{self.gateway_id}")
        self._cut_client = cut_client(self.url, self.settings, name=f"nocontact-{self.gateway_id}-cut")
        self._tasks = [
            asyncio.create_task(self._run(), name="nocontact-sync-follow"),
            asyncio.create_task(self._watchdog(), name="nocontact-sync-watchdog"),
            asyncio.create_task(self._snapshots.run(), name="nocontact-sync-snapshot"),
        ]
        if self._heartbeat is not None:
            beat = self._heartbeat.run(self._client)
            self._tasks.append(asyncio.create_task(beat, name="nocontact-sync-heartbeat"))
        with contextlib.suppress(TimeoutError):
            await self.wait_for(lambda s: s.state is not SyncState.INITIALIZING, self.settings.initial_wait)

    async def stop(self) -> None:
        for task in self._tasks:
            await _cancel(task)
        self._tasks = []
        await self._snapshots.flush()
        await self._retirer.stop()
        if self._client is not None:
            if self._heartbeat is not None:
                with contextlib.suppress(redis.RedisError, OSError, TimeoutError):
                    async with asyncio.timeout(self.settings.connect_timeout):
                        await self._heartbeat.leave(self._client)
            await self._client.aclose()
            self._client = None
        if self._cut_client is not None:
            self._cut_client.close()
            self._cut_client = None
        self._set_status(SyncState.OFF, "stopped")

    async def __aenter__(self) -> Follower:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_for(self, predicate: Callable[[SyncStatus], bool], timeout: float) -> SyncStatus:
        """Wait until `predicate(status)` holds; raises TimeoutError after `timeout` seconds."""
        async with asyncio.timeout(timeout):
            while not predicate(self._status):
                await self._changed.wait()
        return self._status

    async def wait_for_version(
        self, version: int, *, epoch: str | None = None, timeout: float = 10.0
    ) -> SyncStatus:
        return await self.wait_for(
            lambda s: s.serving and s.version >= version and (epoch is None or s.epoch == epoch), timeout
        )

    # -- state --------------------------------------------------------------------------------
    def _set_status(self, state: SyncState | None = None, reason: str | None = None, **changes: Any) -> None:
        old = self._status
        new_state = state if state is not None else old.state
        if new_state is not old.state:
            changes["since"] = time.monotonic()
        changes["reason"] = reason if reason is not None else old.reason
        self._status = replace(old, state=new_state, **changes)
        self.metrics.observe(self._status)
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def _touch(self) -> None:
        self._progress = time.monotonic()
        self._status = replace(self._status, last_contact=self._progress)

    def _fault(self, reason: str) -> None:
        if self._status.state is not SyncState.INTERRUPTED or self._status.reason != reason:
            log.warning(
                "sync: store unreachable or out of sync (%s); serving=%s epoch=%s version=%s",
                reason,
                self._status.serving,
                self._status.epoch,
                self._status.version,
            )
        self._set_status(SyncState.INTERRUPTED, reason)

    def _snapshot_state(self) -> SnapshotState | None:
        index, status = self._index, self._status
        if index is None or status.epoch is None:
            return None
        return SnapshotState(index, status.epoch, self._applied_id)

    # -- 1. cold start ---------------------------------------------------------------------------
    async def _cold_start(self) -> None:
        path = self.settings.snapshot_file
        try:
            with gc_paused():  # full collections in that thread would hold the GIL for 0.5-0.9 s at 1M
                snapshot = await run_in_worker(_read_then_freeze, path)
        except SnapshotRejected as exc:
            log.warning("sync: snapshot file rejected: %s", exc)
            return
        if snapshot is None:
            log.info("sync: no snapshot file at %s", path)
            return
        try:
            built = await self.builder.from_snapshot(snapshot)
        except TooManyUnindexable as exc:
            log.warning("sync: snapshot file rejected: cannot index it (%s)", exc)
            return
        self._swap(built, epoch=snapshot.epoch, applied_id=snapshot.stream_id, state=SyncState.INITIALIZING)
        self._snapshots.clean()
        log.info(
            "sync: cold start from snapshot file (epoch=%s version=%d entries=%d)",
            snapshot.epoch,
            snapshot.version,
            built.entries,
        )
        self._retirer.retire(snapshot)  # its lists of a million entries and keys
        del snapshot

    # -- the follow loop ---------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            assert self._client is not None
            try:
                await self._session(self._client)
            except (redis.RedisError, OSError, TimeoutError) as exc:
                self._fault(f"store unreachable: {exc.__class__.__name__}")
            except TooManyUnindexable as exc:
                self.metrics.refusals.labels("unindexable").inc()
                self._fault(f"cut refused: {exc}")
            except Exception:
                log.exception("sync: follower error")
                self._fault("follower error")
            with contextlib.suppress(redis.RedisError, OSError):
                await self._client.connection_pool.disconnect()
            await asyncio.sleep(self._backoff.next())

    async def _session(self, client: AsyncRedis) -> None:
        reason = await self._reconcile(client)
        while True:
            if reason is not None:
                await self._resync(client, reason)
            reason = await self._follow(client)

    async def _reconcile(self, client: AsyncRedis) -> str | None:
        """After (re)connecting: None when following can continue from the cursor, else why not."""
        if self._index is None or self._status.epoch is None:
            return "initial"
        if self._refused:
            return "refused"
        head = await read_head(client, self.keys)
        self._touch()
        if head.epoch is None:
            return "nothing-published"
        if head.epoch != self._status.epoch:
            return "epoch"
        if head.version < self._status.version:
            log.warning(
                "sync: store is behind this gateway (store version %d < applied %d); writes were lost",
                head.version,
                self._status.version,
            )
            return "behind"
        self._cursor = self._applied_id
        return None

    # -- 2. and 4. the cut, built aside --------------------------------------------------------
    async def _resync(self, client: AsyncRedis, reason: str) -> None:
        log.info("sync: resync (reason=%s)", reason)
        self.metrics.resyncs.labels(reason).inc()
        assert self._cut_client is not None
        with gc_paused():  # a million-item reply: young collections walk it (a 41 ms gen0 seen)
            cut = await run_in_worker(read_cut, self._cut_client, self.keys)
        try:
            await self._resync_to(cut, reason)
        finally:
            self._retirer.retire(cut)  # a million raw entries: freeing them at once stalls the loop
            del cut

    async def _resync_to(self, cut: Cut, reason: str) -> None:
        self._touch()
        if self.hooks.after_cut is not None:
            await self.hooks.after_cut(cut)
        self._cursor = cut.head.last_id
        if cut.epoch is None:
            self._refuse("nothing-published", "nothing published in the store")
            return
        if cut.version < 0:
            self._refuse("meta", "the store's meta hash is unreadable")
            return
        live = self._status.entries if self._index is not None else None
        # within one epoch every removal is an explicit change in the stream
        same_history = (
            cut.epoch == self._status.epoch and cut.version >= self._status.version and reason != "behind"
        )
        explicit = cut.shrink_ok or same_history
        max_shrink = self.settings.max_shrink
        refusal = shrink_refusal(live, len(cut.entries), explicit=explicit, max_shrink=max_shrink)
        if refusal is not None:
            self._refuse("shrink", refusal, cut)
            return
        built = await self._build(self.builder.from_cut(cut.entries, cut.version, self._index))
        self._check_normalisers(cut)
        self._refused = False
        self._swap(built, epoch=cut.epoch, applied_id=cut.head.last_id)

    async def _build(self, work: Awaitable[Built]) -> Built:
        self._building = True
        try:
            return await work
        finally:
            self._building = False
            self._progress = time.monotonic()

    def _refuse(self, kind: str, reason: str, cut: Cut | None = None) -> None:
        self._refused = True
        self.metrics.refusals.labels(kind).inc()
        log.warning(
            "sync: cut refused (%s); store epoch=%s version=%s; serving last good: %s epoch=%s version=%d",
            reason,
            cut.epoch if cut else None,
            cut.version if cut else None,
            self._index is not None,
            self._status.epoch,
            self._status.version,
        )
        self._set_status(SyncState.INTERRUPTED, f"cut refused: {reason}")

    def _check_normalisers(self, cut: Cut) -> None:
        published = cut.meta.get("normalisers")
        mine = _normalisers_json()
        if published and published not in ("{}", mine):
            log.warning("sync: normaliser versions differ (store=%s here=%s)", published, mine)

    def _swap(
        self,
        built: Built,
        *,
        epoch: str,
        applied_id: str,
        state: SyncState = SyncState.VALID,
        compaction: bool = False,
    ) -> None:
        old, self._index = self._index, built.index  # the swap: one reference
        if old is not None and built.kind == "full":
            # nothing of a full build is shared with the old index but entries: let it go in steps
            self._retirer.retire(old)
        del old
        self._applied_id = applied_id
        self._layered = 0 if built.kind == "full" else self._layered + built.changes
        self.builder.settle(built)
        self.metrics.swaps.labels(built.kind).inc()
        self.metrics.build_seconds.labels(built.kind).observe(built.seconds)
        if built.unindexable:
            log.error(
                "sync: entries not indexable, keeping their last good content if any: %s",
                ", ".join(built.unindexable[:20]),
            )
        if compaction:
            unindexable = self._status.unindexable
        elif built.kind == "full":
            unindexable = built.unindexable
        else:
            kept = set(self._status.unindexable) - built.touched
            unindexable = tuple(sorted(kept | set(built.unindexable)))
        reason = "in sync" if state is SyncState.VALID else self._status.reason
        self._set_status(
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
        self._snapshots.dirty()
        if self.hooks.on_swap is not None:
            self.hooks.on_swap(self._status)

    # -- 3. following the stream ---------------------------------------------------------------
    async def _follow(self, client: AsyncRedis) -> str:
        """Apply changes until a full resync is needed; returns why."""
        block_s = self.settings.block_ms / 1000
        watchdog = block_s + self.settings.socket_timeout
        while True:
            if self.hooks.before_read is not None:
                await self.hooks.before_read()
            async with asyncio.timeout(watchdog):
                reply = await client.xread(
                    {self.keys.changes: self._cursor},
                    count=self.settings.read_count,
                    block=self.settings.block_ms,
                )
            self._touch()
            self._backoff.reset()
            if self._refused:
                if reply:
                    return "refused-changed"
                continue
            messages = reply[0][1] if reply else []
            if messages:
                reason = await self._apply(messages)
                if reason is not None:
                    return reason
            if len(messages) < self.settings.read_count and self._status.state is not SyncState.VALID:
                self._set_status(SyncState.VALID, "in sync")  # caught up
            if not messages and self._layered >= self.settings.compact_after:
                await self._compact()

    async def _compact(self) -> None:
        index, status, applied_id = self._index, self._status, self._applied_id
        assert index is not None and status.epoch is not None
        log.info("sync: compacting the index (%d changes layered since the last full build)", self._layered)
        built = await self._build(self.builder.rebuild(index))
        self._swap(built, epoch=status.epoch, applied_id=applied_id, compaction=True)

    async def _apply(self, messages: list[tuple[str, dict[str, str]]]) -> str | None:
        assert self._index is not None
        epoch, applied = self._status.epoch, self._status.version
        version = applied
        upserts: dict[str, Entry] = {}
        removals: set[str] = set()
        last_id: str | None = None
        reason: str | None = None
        for stream_id, fields in messages:
            try:
                change = parse_change(stream_id, fields)
            except UnparsableChange as exc:
                log.warning("sync: unparsable change (%s)", exc)
                reason = "unparsable"
                break
            if change.epoch != epoch:
                reason = "epoch"
                break
            if change.op == OP_RESET:
                reason = "reset"
                break
            if change.version <= version:
                self._cursor = stream_id
                continue
            if change.version != version + 1:
                log.warning("sync: gap (applied %d, next change in the stream %d)", version, change.version)
                reason = "gap"
                break
            assert change.reference is not None
            if change.op == OP_UPSERT:
                assert change.entry is not None
                upserts[change.reference] = change.entry
                removals.discard(change.reference)
            else:
                upserts.pop(change.reference, None)
                removals.add(change.reference)
            version = change.version
            last_id = self._cursor = stream_id
        if version > applied:
            assert epoch is not None and last_id is not None
            counts = (self._status.entries, self._status.identifiers)
            work = self.builder.apply(self._index, upserts, removals, version, counts, layered=self._layered)
            built = await self._build(work)
            self.metrics.changes.inc(version - applied)
            self._swap(built, epoch=epoch, applied_id=last_id)
        return reason

    # -- watchdog ---------------------------------------------------------------------------------
    async def _watchdog(self) -> None:
        """Marks the follower INTERRUPTED when the follow loop made no progress (a round trip with
        the store, or a finished build) for ``stale_after`` seconds, whatever it is stuck on. A
        build in progress is progress; its data is as old as the cut it came from. Local monotonic
        clock only."""
        tick = min(1.0, self.settings.stale_after / 4)
        while True:
            await asyncio.sleep(tick)
            status = self._status
            self.metrics.observe(status)
            idle = time.monotonic() - self._progress
            if status.state is SyncState.VALID and not self._building and idle > self.settings.stale_after:
                log.warning("sync: no contact with the store for %.1fs", idle)
                self._set_status(SyncState.INTERRUPTED, f"no contact with the store for {idle:.1f}s")


async def _cancel(task: asyncio.Task[None], attempts: int = 20) -> None:
    """Cancel and wait. redis-py's asyncio client can swallow a cancellation that lands while it
    sets up a connection (redis/redis-py#2028, #2551), so cancel again until the task is done."""
    for _ in range(attempts):
        task.cancel()
        done, _pending = await asyncio.wait([task], timeout=0.25)
        if done:
            if not task.cancelled() and task.exception() is not None:
                log.error("sync: task %s ended with %r", task.get_name(), task.exception())
            return
    log.error("sync: task %s did not stop", task.get_name())


def _read_then_freeze(path: Path) -> Snapshot | None:
    """Measured (1M entries): without the freeze, the first allocation on the loop once gc is
    back collected the millions of objects the read had made, a 6.7 s stall (as for builds)."""
    snapshot = read_snapshot(path)
    gc.freeze()
    return snapshot


def _normalisers_json() -> str:
    return json.dumps(dict(NORMALISER_VERSIONS), sort_keys=True)
