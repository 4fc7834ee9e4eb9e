"""Reading the store: a consistent cut (one MULTI: meta, every entry, the last stream id and
Redis TIME) and the cheap head (meta and last stream id) a reconnect checks first; and the guard
that refuses a cut that would silently empty or sharply shrink the served blocklist."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from matcher.layered import ShardedDict
from sync.client import AsyncRedis, SyncRedis
from sync.keys import META_EPOCH, META_SHRINK_OK, META_VERSION, Keys
from sync.status import SyncStatus

START_ID = "0-0"
# What a gateway facing a store nobody has initialised says, in its log (once) and in /readyz.
NOTHING_PUBLISHED = "nothing published in this store: run `nocontact init` once"


@dataclass(frozen=True, slots=True)
class Head:
    epoch: str | None  # None: nothing published (no meta)
    version: int
    last_id: str
    now_ms: int  # Redis TIME


@dataclass(frozen=True, slots=True)
class Cut:
    head: Head
    meta: Mapping[str, str]
    entries: Mapping[str, str]  # reference -> entry JSON, undecoded

    @property
    def epoch(self) -> str | None:
        return self.head.epoch

    @property
    def version(self) -> int:
        return self.head.version

    @property
    def shrink_ok(self) -> bool:
        return self.meta.get(META_SHRINK_OK) == "1"


def refusal(cut: Cut, served: SyncStatus | None, *, reason: str, max_shrink: float) -> tuple[str, str] | None:
    """Why `cut` (read for a resync of `reason`) must not replace the served index, whose status is
    `served` (None without one), as (kind, why); None when it may."""
    if cut.epoch is None:
        return "nothing-published", NOTHING_PUBLISHED
    if cut.version < 0:
        return "meta", "the store's meta hash is unreadable"
    live = served.entries if served is not None else None
    # within one epoch every removal is an explicit change in the stream
    same_history = (
        served is not None
        and cut.epoch == served.epoch
        and cut.version >= served.version
        and reason not in ("behind", "diverged")
    )
    why = shrink_refusal(
        live, len(cut.entries), explicit=cut.shrink_ok or same_history, max_shrink=max_shrink
    )
    return None if why is None else ("shrink", why)


def shrink_refusal(live: int | None, new: int, *, explicit: bool, max_shrink: float) -> str | None:
    """Why a cut of `new` entries must not replace a last good index of `live` entries, or None.
    An empty list silently allows everything, so it needs an explicit licence even on a fresh start."""
    if explicit:
        return None
    if new == 0:
        return "empty blocklist without an explicit reset"
    if live is not None and new < live * (1.0 - max_shrink):
        return f"blocklist shrinks from {live} to {new} entries without an explicit reset"
    return None


def _head(meta_epoch: Any, meta_version: Any, tail: Any, time: Any) -> Head:
    last_id = tail[0][0] if tail else START_ID
    try:
        version = int(meta_version) if meta_version is not None else 0
    except ValueError:
        version = -1
    now_ms = int(time[0]) * 1000 + int(time[1]) // 1000
    return Head(meta_epoch or None, version, last_id, now_ms)


async def read_head(client: AsyncRedis, keys: Keys) -> Head:
    async with client.pipeline(transaction=True) as pipe:
        pipe.hmget(keys.meta, [META_EPOCH, META_VERSION])
        pipe.xrevrange(keys.changes, count=1)
        pipe.time()
        (epoch, version), tail, time = await pipe.execute()
    return _head(epoch, version, tail, time)


def read_cut(client: SyncRedis, keys: Keys) -> Cut:
    """Blocking, for a worker thread: decoding a big reply (hundreds of thousands of entries) is
    Python work that would otherwise run on the event loop in one piece. With
    ``sync.client.cut_client`` the entries arrive as a flat list and go into a ShardedDict."""
    with client.pipeline(transaction=True) as pipe:
        pipe.hgetall(keys.meta)
        pipe.hgetall(keys.entries)
        pipe.xrevrange(keys.changes, count=1)
        pipe.time()
        meta, entries, tail, time = pipe.execute()
    meta = _mapping(meta)
    head = _head(meta.get(META_EPOCH), meta.get(META_VERSION), tail, time)
    return Cut(head, meta, _mapping(entries))


def _mapping(reply: Any) -> Mapping[str, str]:
    """A HGETALL reply as a Mapping: a dict as it came, or a flat [field, value, ...] list."""
    if isinstance(reply, Mapping):
        return reply
    values = iter(reply)
    if len(reply) <= 4096:
        return dict(zip(values, values, strict=True))
    sharded: ShardedDict[str, str] = ShardedDict()
    shards, count = sharded.shards, len(sharded.shards)
    for field in values:
        shards[hash(field) % count][field] = next(values)
    while reply:
        del reply[-4096:]
    return sharded
