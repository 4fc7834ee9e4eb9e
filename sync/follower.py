"""The follower: one per gateway process, started from the app's lifecycle (never at import).

1. cold start from the local snapshot file if it is present and valid, and serve it;
2. on contact, check the store's head: same epoch → catch up from the stream; otherwise read a
   consistent cut (one MULTI: meta, entries, last stream id);
3. follow with ``XREAD BLOCK`` (well under the socket timeout, each call under a watchdog; from a
   replica with ``follow_replicas``): ``v == applied + 1`` apply; a gap, a reset, another epoch,
   an unparsable message or a version at or below the applied one (the history diverged: a
   failover lost writes this gateway had seen) → full resync, the cut always from the primary;
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
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis

from matcher.errors import DuplicateReference
from matcher.index import NORMALISER_VERSIONS, Index
from matcher.profile import Profile
from sync.building import Built, IndexBuilder, TooManyUnindexable
from sync.changes import fold_changes
from sync.client import AsyncRedis, SyncRedis, async_client, cancel_and_wait, cut_client
from sync.cut import START_ID, Cut, read_cut, read_head, refusal
from sync.heartbeat import Heartbeat
from sync.lastgood import SnapshotWriter, read_last_good
from sync.metrics import SyncMetrics
from sync.offloop.collector import gc_paused
from sync.offloop.retire import Retirer
from sync.offloop.workers import run_in_worker
from sync.redis_url import StoreAddress
from sync.served import Served
from sync.settings import SyncSettings
from sync.status import Backoff, SyncState, SyncStatus
from sync.switchover import Switches

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
        self.served = Served(self.metrics)
        self._heartbeat = (
            Heartbeat(
                self.keys,
                self.gateway_id,
                lambda: self.served.status,
                interval=settings.heartbeat_interval,
                ttl=settings.heartbeat_ttl,
            )
            if heartbeat
            else None
        )
        self._cursor = START_ID  # where the next XREAD continues
        self._refused = False  # the store's current cut was refused; wait for it to change
        self._said_unpublished = False  # "nothing published ... run `nocontact init`" is logged once
        self._backoff = Backoff(settings.backoff_initial, settings.backoff_max)  # reset by a good read
        address = StoreAddress.parse(url)
        # under Sentinel: a new primary announced ends the back-off (sync.switchover)
        self._switches = (
            Switches(
                address,
                backoff=Backoff(settings.backoff_initial, settings.backoff_max),
                socket_timeout=settings.socket_timeout,
                socket_connect_timeout=settings.connect_timeout,
                decode_responses=True,
                client_name=f"nocontact-{self.gateway_id}-switches",
            )
            if address.sentinel
            else None
        )
        self._retirer = Retirer()  # replaced indexes and read cuts are freed in bounded steps
        self._snapshots = SnapshotWriter(
            settings.snapshot_file,
            self.served.snapshot_state,
            settings.snapshot_min_interval,
            NORMALISER_VERSIONS,
            on_written=self.metrics.snapshot_writes.inc,
            # a write's thread and the retirement's steps on the loop, at once, starve the loop
            # of the GIL: one after the other
            settle=self._retirer.idle,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._client: AsyncRedis | None = None  # the primary: heads and heartbeats
        self._stream_client: AsyncRedis | None = None  # XREAD: a replica under follow_replicas
        self._cut_client: SyncRedis | None = None  # cuts are read and decoded in a worker thread

    # -- what the gateway reads --------------------------------------------------------------
    @property
    def index(self) -> Index | None:
        """The live index: one reference, swapped whole, never mutated."""
        return self.served.index

    @property
    def status(self) -> SyncStatus:
        return self.served.status

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Load the snapshot file, start following, and wait up to ``initial_wait`` seconds for the
        first contact with the store to finish (so a gateway listens with an index when it can)."""
        self.served.set_status(SyncState.INITIALIZING, "starting")
        await self._cold_start()
        self._client = async_client(self.url, self.settings, name=f"nocontact-{self.gateway_id}")
        self._stream_client = (
            async_client(self.url, self.settings, name=f"nocontact-{self.gateway_id}-r", replica=True)
            if self.settings.follow_replicas
            else self._client
        )
        self._cut_client = cut_client(self.url, self.settings, name=f"nocontact-{self.gateway_id}-cut")
        self._tasks = [
            asyncio.create_task(self._run(), name="nocontact-sync-follow"),
            asyncio.create_task(self.served.watch(self.settings.stale_after), name="nocontact-sync-watchdog"),
            asyncio.create_task(self._snapshots.run(), name="nocontact-sync-snapshot"),
        ]
        if self._heartbeat is not None:
            beat = self._heartbeat.run(self._client)
            self._tasks.append(asyncio.create_task(beat, name="nocontact-sync-heartbeat"))
        if self._switches is not None:
            listen = self._switches.run()
            self._tasks.append(asyncio.create_task(listen, name="nocontact-sync-switches"))
        with contextlib.suppress(TimeoutError):
            await self.wait_for(lambda s: s.state is not SyncState.INITIALIZING, self.settings.initial_wait)

    async def stop(self) -> None:
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks = []
        await self._snapshots.flush()
        await self._retirer.stop()
        if self._client is not None:
            if self._heartbeat is not None:
                with contextlib.suppress(redis.RedisError, OSError, TimeoutError):
                    async with asyncio.timeout(self.settings.connect_timeout):
                        await self._heartbeat.leave(self._client)
            await self._client.aclose()
            if self._stream_client is not None and self._stream_client is not self._client:
                await self._stream_client.aclose()
            self._client = self._stream_client = None
        if self._cut_client is not None:
            self._cut_client.close()
            self._cut_client = None
        self.served.set_status(SyncState.OFF, "stopped")

    async def __aenter__(self) -> Follower:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_for(self, predicate: Callable[[SyncStatus], bool], timeout: float) -> SyncStatus:
        """Wait until `predicate(status)` holds; raises TimeoutError after `timeout` seconds."""
        return await self.served.wait_for(predicate, timeout)

    async def wait_for_version(
        self, version: int, *, epoch: str | None = None, timeout: float = 10.0
    ) -> SyncStatus:
        return await self.wait_for(
            lambda s: s.serving and s.version >= version and (epoch is None or s.epoch == epoch), timeout
        )

    # -- 1. cold start ---------------------------------------------------------------------------
    async def _cold_start(self) -> None:
        snapshot = await read_last_good(self.settings.snapshot_file)
        if snapshot is None:
            return
        try:
            built = await self.builder.from_snapshot(snapshot)
        except TooManyUnindexable as exc:
            log.warning("sync: snapshot file rejected: cannot index it (%s)", exc)
            return
        except DuplicateReference as exc:  # read_last_good left this check to the build
            log.warning("sync: snapshot file rejected: %s", exc)
            self._retirer.retire(snapshot)
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
            assert self._client is not None and self._stream_client is not None
            switches = self._switches.count if self._switches is not None else 0
            try:
                await self._session(self._client)
            except (redis.RedisError, OSError, TimeoutError) as exc:
                self.served.fault(f"store unreachable: {exc.__class__.__name__}")
            except TooManyUnindexable as exc:
                self.metrics.refusals.labels("unindexable").inc()
                self.served.fault(f"cut refused: {exc}")
            except Exception:
                log.exception("sync: follower error")
                self.served.fault("follower error")
            with contextlib.suppress(redis.RedisError, OSError):
                await self._client.connection_pool.disconnect()
                await self._stream_client.connection_pool.disconnect()
            await self._back_off(switches)

    async def _back_off(self, switches: int) -> None:
        """Sleep the back-off's next delay before reconnecting; under Sentinel, only until a new
        primary is announced (after the `switches`-th announcement), and then back off afresh."""
        delay = self._backoff.next()
        if self._switches is None:
            await asyncio.sleep(delay)
        elif await self._switches.sleep(delay, since=switches):
            log.info("sync: a new primary was announced; reconnecting now")
            self._backoff.reset()

    async def _session(self, client: AsyncRedis) -> None:
        reason = await self._reconcile(client)
        while True:
            if reason is not None:
                await self._resync(client, reason)
            reason = await self._follow(self._stream_client)

    async def _reconcile(self, client: AsyncRedis) -> str | None:
        """After (re)connecting: None when following can continue from the cursor, else why not."""
        status = self.served.status
        if self.served.index is None or status.epoch is None:
            return "initial"
        if self._refused:
            return "refused"
        head = await read_head(client, self.keys)
        self.served.touch()
        if head.epoch is None:
            return "nothing-published"
        if head.epoch != status.epoch:
            return "epoch"
        if head.version < status.version:
            log.warning(
                "sync: store is behind this gateway (store version %d < applied %d); writes were lost",
                head.version,
                status.version,
            )
            return "behind"
        self._cursor = self.served.applied_id
        return None

    # -- 2. and 4. the cut, built aside --------------------------------------------------------
    async def _resync(self, client: AsyncRedis, reason: str) -> None:
        log.info("sync: resync (reason=%s)", reason)
        self.metrics.resyncs.labels(reason).inc()
        assert self._cut_client is not None
        with gc_paused():  # young collections would walk a million-item reply, holding the GIL
            cut = await run_in_worker(read_cut, self._cut_client, self.keys)
        try:
            await self._resync_to(cut, reason)
        finally:
            self._retirer.retire(cut)  # a million raw entries: freeing them at once stalls the loop
            del cut

    async def _resync_to(self, cut: Cut, reason: str) -> None:
        self.served.touch()
        if self.hooks.after_cut is not None:
            await self.hooks.after_cut(cut)
        self._cursor = cut.head.last_id
        index = self.served.index
        served = self.served.status if index is not None else None
        refused = refusal(cut, served, reason=reason, max_shrink=self.settings.max_shrink)
        if refused is not None:
            self._refuse(*refused, cut)
            return
        assert cut.epoch is not None
        built = await self.served.track_build(self.builder.from_cut(cut.entries, cut.version, index))
        self._check_normalisers(cut)
        self._refused = False
        self._swap(built, epoch=cut.epoch, applied_id=cut.head.last_id)

    def _refuse(self, kind: str, reason: str, cut: Cut) -> None:
        self._refused = True
        self.metrics.refusals.labels(kind).inc()
        self.served.set_status(
            SyncState.INTERRUPTED, reason if kind == "nothing-published" else f"cut refused: {reason}"
        )
        if kind == "nothing-published":
            if not self._said_unpublished:  # an operator's step, not a fault: say it once, clearly
                self._said_unpublished = True
                log.warning("sync: %s", reason)
            return
        log.warning(
            "sync: cut refused (%s); store epoch=%s version=%s; serving last good: %s epoch=%s version=%d",
            reason,
            cut.epoch,
            cut.version,
            self.served.index is not None,
            self.served.status.epoch,
            self.served.status.version,
        )

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
        old = self.served.swap(built, epoch=epoch, applied_id=applied_id, state=state, compaction=compaction)
        if old is not None and built.kind == "full":
            # nothing of a full build is shared with the old index but entries: let it go in steps
            self._retirer.retire(old)
        del old
        self.builder.settle(built)
        self._snapshots.dirty()
        if self._heartbeat is not None:
            self._heartbeat.nudge()
        if self.hooks.on_swap is not None:
            self.hooks.on_swap(self.served.status)

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
            self.served.touch()
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
            if len(messages) < self.settings.read_count and self.served.status.state is not SyncState.VALID:
                self.served.set_status(SyncState.VALID, "in sync")  # caught up
            if not messages and self.served.layered >= self.settings.compact_after:
                await self._compact()

    async def _compact(self) -> None:
        index, status, applied_id = self.served.index, self.served.status, self.served.applied_id
        assert index is not None and status.epoch is not None
        log.info(
            "sync: compacting the index (%d changes layered since the last full build)", self.served.layered
        )
        built = await self.served.track_build(self.builder.rebuild(index))
        self._swap(built, epoch=status.epoch, applied_id=applied_id, compaction=True)

    async def _apply(self, messages: list[tuple[str, dict[str, str]]]) -> str | None:
        index, status = self.served.index, self.served.status
        assert index is not None
        batch = fold_changes(messages, status.epoch, status.version)
        if batch.cursor is not None:
            self._cursor = batch.cursor
        if batch.version > status.version:
            assert status.epoch is not None and batch.last_id is not None
            counts = (status.entries, status.identifiers)
            layered = self.served.layered
            work = self.builder.apply(
                index, batch.upserts, batch.removals, batch.version, counts, layered=layered
            )
            built = await self.served.track_build(work)
            self.metrics.changes.inc(batch.version - status.version)
            self._swap(built, epoch=status.epoch, applied_id=batch.last_id)
        return batch.stop


def _normalisers_json() -> str:
    return json.dumps(dict(NORMALISER_VERSIONS), sort_keys=True)
