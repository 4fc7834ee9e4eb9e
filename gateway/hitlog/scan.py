"""Reading the hit log back: the Redis hits stream, newest first, through one filter type, with
each hit's review attached. The API (``gateway.routes.hits``) and the pages (``gateway.ui``) both
read it here; only how they parse a filter from a request and show a page differ."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.hitlog.model import Hit
from sync.keys import Keys

STREAM_ID_RE = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")  # a cursor: a stream id from a previous page
CHUNK = 500  # stream messages per XREVRANGE
BUDGET = 50_000  # stream messages one page reads at most; its cursor continues from there
# Hits are shipped after they are recorded, on gateways whose clocks may be this far apart: a
# stream id older than `since` less this cannot hold a hit recorded after `since`.
CLOCK_SKEW_MS = 300_000


@dataclass(frozen=True, slots=True)
class HitFilter:
    """Which hits a reader wants; None is "any". Times are ms since the epoch, `until` exclusive.
    `reference` matches a hit's top reference or any of its matches."""

    establishment: str | None = None
    prisoner: str | None = None
    reference: str | None = None
    channel: str | None = None
    relay: bool | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    reviewed: bool | None = None

    def wants(self, hit: Hit) -> bool:
        """Everything but `reviewed` (the review is read only for the hits that pass)."""
        if self.establishment is not None and hit.establishment != self.establishment:
            return False
        if self.prisoner is not None and hit.prisoner != self.prisoner:
            return False
        if self.channel is not None and hit.channel != self.channel:
            return False
        if self.relay is not None and hit.relay != self.relay:
            return False
        if self.reference is not None and self.reference not in {hit.reference, *(m[0] for m in hit.matches)}:
            return False
        if self.since_ms is not None and hit.time < self.since_ms:
            return False
        return self.until_ms is None or hit.time < self.until_ms


@dataclass(slots=True)
class Row:
    stream_id: str
    hit: Hit
    review: dict[str, Any] | None


@dataclass(slots=True)
class Page:
    rows: list[Row] = field(default_factory=list)
    next_cursor: str | None = None  # where the next page starts; None: nothing older is left
    scanned: int = 0  # stream messages read


def _decode(raw_fields: Mapping[bytes, bytes]) -> Hit:
    return Hit.from_stream({k.decode(): v.decode() for k, v in raw_fields.items()})


async def scan(
    client: Any,
    keys: Keys,
    filt: HitFilter,
    *,
    limit: int,
    cursor: str | None = None,
    budget: int = BUDGET,
    chunk: int = CHUNK,
) -> Page:
    """Hits matching `filt`, newest first, at most `limit`, starting below `cursor`. At most about
    `budget` stream messages are read (whole chunks): a page that stops short of the stream's end
    has `next_cursor`, so a narrow filter over a long stream pages on instead of reading it all."""
    page = Page()
    upper = "+" if cursor is None else f"({cursor}"
    oldest = None if filt.since_ms is None else filt.since_ms - CLOCK_SKEW_MS
    while True:
        batch = await client.xrevrange(keys.hits, max=upper, min="-", count=chunk)
        if not batch:
            return page
        candidates: list[tuple[str, Hit]] = []
        older = False
        for raw_id, raw_fields in batch:
            stream_id = raw_id.decode()
            page.scanned += 1
            if oldest is not None and int(stream_id.split("-")[0]) < oldest:
                older = True
                break
            hit = _decode(raw_fields)
            if filt.wants(hit):
                candidates.append((stream_id, hit))
        reviews = await reviews_for(client, keys, [hit.id for _, hit in candidates])
        for stream_id, hit in candidates:
            review = reviews.get(hit.id)
            if filt.reviewed is not None and (review is not None) != filt.reviewed:
                continue
            page.rows.append(Row(stream_id, hit, review))
            if len(page.rows) == limit:
                page.next_cursor = stream_id
                return page
        if older:
            return page
        last = batch[-1][0].decode()
        if page.scanned >= budget:
            page.next_cursor = last
            return page
        upper = f"({last}"


async def reviews_for(client: Any, keys: Keys, hit_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not hit_ids:
        return {}
    raw = await client.hmget(keys.hit_reviews, hit_ids)
    return {i: orjson.loads(r) for i, r in zip(hit_ids, raw, strict=True) if r is not None}


async def get_hit(client: Any, keys: Keys, hit_id: str) -> Row | None:
    """One hit by id with its review; None until its gateway has shipped it."""
    stream_id = await client.hget(keys.hit_ids, hit_id)
    if not stream_id:
        return None
    entries = await client.xrange(keys.hits, min=stream_id, max=stream_id)
    if not entries:
        return None
    hit = _decode(entries[0][1])
    reviews = await reviews_for(client, keys, [hit.id])
    return Row(entries[0][0].decode(), hit, reviews.get(hit.id))


async def get_evidence(client: Any, keys: Keys, hit_id: str) -> dict[str, Any] | None:
    """What the hit's attempt tried (gateway.hitlog.evidence); None once past its retention.
    Security and admin only: callers check the reader's role first."""
    raw = await client.hget(keys.hit_evidence, hit_id)
    return None if raw is None else dict(orjson.loads(raw))


async def save_review(
    client: Any, keys: Keys, hit_id: str, outcome: str, note: str | None, by: str
) -> dict[str, Any]:
    """Record (or replace) a hit's review; returns it as stored."""
    review = {"outcome": outcome, "note": note, "by": by, "time": time.time_ns() // 1_000_000}
    await client.hset(keys.hit_reviews, hit_id, orjson.dumps(review))
    return review
