"""The follower's last-good snapshot file: read for a cold start, written again after swaps (once
they pause for ``snapshot_min_interval`` seconds, in a worker thread). ``sync.snapshot`` is its format."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sync.errors import SnapshotRejected
from sync.offloop.collector import gc_paused
from sync.offloop.workers import run_in_worker
from sync.snapshot import Snapshot, read_snapshot, write_snapshot

if TYPE_CHECKING:
    from matcher.index import Index

SETTLE_MAX = 10.0  # seconds a background snapshot write waits for the follower to settle (retirement)
# A write waits for the swaps to pause, but at most this many min_intervals after the first swap
# it has not written.
PAUSE_WAIT_MAX = 15

log = logging.getLogger("nocontact.sync")


async def read_last_good(path: Path) -> Snapshot | None:
    """The file read in a worker thread; None (and a log line saying why) when there is none or
    it is rejected: the follower then starts from Redis."""
    try:
        with gc_paused():  # full collections in that thread would walk every object the read makes
            snapshot = await run_in_worker(_read_then_freeze, path)
    except SnapshotRejected as exc:
        log.warning("sync: snapshot file rejected: %s", exc)
        return None
    if snapshot is None:
        log.info("sync: no snapshot file at %s", path)
    return snapshot


def _read_then_freeze(path: Path) -> Snapshot | None:
    """Without the freeze, the first allocation on the loop once gc is back would collect the
    millions of objects the read made (as for builds). Its references are checked by the build
    the follower makes of it (``references_by_build``), not twice."""
    snapshot = read_snapshot(path, references_by_build=True)
    gc.freeze()
    return snapshot


@dataclass(frozen=True, slots=True)
class SnapshotState:
    index: Index
    epoch: str
    stream_id: str


class SnapshotWriter:
    """Writes the follower's state after swaps, in a worker thread (the index is immutable, so
    walking it there is safe); the last swap is always written.

    A write waits until the swaps pause for `min_interval` seconds (at most PAUSE_WAIT_MAX
    intervals): while changes stream in, each a swap, rewriting the whole file every interval
    was the follower's largest cost per change after the change itself, and the gateways of a
    fleet, swapping the same change at the same moment, all rewrote it at once. A cold start
    catches up from the change stream whatever the file's age."""

    def __init__(
        self,
        path: Path,
        state: Callable[[], SnapshotState | None],
        min_interval: float,
        normalisers: Mapping[str, str],
        on_written: Callable[[], None] | None = None,
        settle: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.path = path
        self.state = state
        self.min_interval = min_interval
        self.normalisers = dict(normalisers)
        self.on_written = on_written
        self.settle = settle  # awaited before each background write
        self._dirty = asyncio.Event()
        self._swapped_at = 0.0  # time.monotonic() of the last swap
        self._lock = asyncio.Lock()

    def dirty(self) -> None:
        self._swapped_at = time.monotonic()
        self._dirty.set()

    def clean(self) -> None:
        self._dirty.clear()

    async def run(self) -> None:
        while True:
            await self._dirty.wait()
            await self._pause()
            if self.settle is not None:
                with contextlib.suppress(TimeoutError):  # then written anyway: a file late is worse
                    await asyncio.wait_for(self.settle(), SETTLE_MAX)
            started = time.monotonic()
            await self.write()
            # A write of a big list costs seconds of GIL-holding work, and rewrites back to back
            # slowed bursts of changes down: never spend more than a fifth of the time writing.
            await asyncio.sleep(max(self.min_interval, 4 * (time.monotonic() - started)))

    async def _pause(self) -> None:
        """Until no swap for `min_interval` seconds, or PAUSE_WAIT_MAX intervals from now."""
        give_up = time.monotonic() + PAUSE_WAIT_MAX * self.min_interval
        while (wait := min(self._swapped_at + self.min_interval, give_up) - time.monotonic()) > 0:
            await asyncio.sleep(wait)

    async def flush(self) -> None:
        if self._dirty.is_set():
            await self.write()

    async def write(self) -> None:
        async with self._lock:
            self._dirty.clear()
            state = self.state()
            if state is None:
                return
            # collections in the writing thread would walk the objects it makes and the index's
            # newer layers, holding the GIL
            with gc_paused():
                writing = asyncio.ensure_future(
                    run_in_worker(
                        functools.partial(
                            write_snapshot,
                            self.path,
                            epoch=state.epoch,
                            version=state.index.version,
                            stream_id=state.stream_id,
                            normalisers=self.normalisers,
                            index=state.index,
                        )
                    )
                )
                try:
                    await asyncio.shield(writing)
                except asyncio.CancelledError:
                    await asyncio.wait([writing])  # a stop returns after the file is complete
                    raise
                except OSError as exc:
                    log.warning("sync: snapshot file not written: %s", exc.strerror)
                    return
            if self.on_written is not None:
                self.on_written()
            log.debug("sync: snapshot file written (epoch=%s version=%d)", state.epoch, state.index.version)
