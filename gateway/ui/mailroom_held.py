"""The mailroom page's letters held today, to release or confirm: the day's mail hits held (the hit
log), and the letters the page held with no hit, because no request matched (the address could not
be read; more addresses than are screened). Those are kept in Redis for the day
(``P mailroom:held:DAY``, a few days' TTL) with the sender's number and the reason only, never
the envelope's text. "Today" is the configured zone's day (``gateway.timezone``), as the pages show
times."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from gateway.hits_read import HitFilter, read_page, save_review
from gateway.http import store_errors
from gateway.ui.hitquery import day_ms, local_day
from gateway.ulid import new_ulid
from sync.keys import Keys

HELD_LIMIT = 500  # mail hits of one day shown at most (a large prison holds a few dozen letters)
KEEP_S = 8 * 86_400  # a day's holds without a hit are kept this long after the day's last one


@dataclass(frozen=True, slots=True)
class Held:
    """One held letter in the day's list. `reference` None: held with no hit (see the module)."""

    id: str
    time: int  # ms since the epoch
    establishment: str
    prisoner: str
    reference: str | None
    reason: str | None
    outcome: str | None  # the latest review's (hits) or the page's decision (the others)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def today_starts(tz: ZoneInfo, now: int | None = None) -> int:
    """The first ms of today in `tz`."""
    return day_ms(local_day(now_ms() if now is None else now, tz), tz)


def _key(keys: Keys, tz: ZoneInfo, ms: int) -> str:
    return keys.mailroom_held(local_day(ms, tz).isoformat())


async def record_unmatched(
    store: Any, keys: Keys, tz: ZoneInfo, establishment: str, prisoner: str | None, reason: str | None
) -> str:
    """A letter the page held with no hit, put in today's list: its id."""
    now = now_ms()
    held = Held(new_ulid(now), now, establishment, prisoner or "", None, reason, None)
    key = _key(keys, tz, now)
    with store_errors():
        async with store.pipeline(transaction=True) as pipe:
            pipe.hset(key, held.id, orjson.dumps(_record(held)))
            pipe.expire(key, KEEP_S)
            await pipe.execute()
    return held.id


def _record(held: Held, **changes: Any) -> dict[str, Any]:
    return {
        "id": held.id,
        "time": held.time,
        "establishment": held.establishment,
        "prisoner": held.prisoner,
        "reason": held.reason,
        "outcome": held.outcome,
        **changes,
    }


async def held_today(
    hit_index: Any, store: Any, keys: Keys, tz: ZoneInfo, establishment: str | None
) -> list[Held]:
    """Today's held letters for `establishment` (every prison's for None), newest first."""
    since = today_starts(tz)
    found = await read_page(
        hit_index, HitFilter(establishment=establishment, channel="mail", since_ms=since), limit=HELD_LIMIT
    )
    rows = [
        Held(
            row.hit.id,
            row.hit.time,
            row.hit.establishment,
            row.hit.prisoner,
            row.hit.reference,
            None,
            row.review["outcome"] if row.review else None,
        )
        for row in found.rows
        if row.hit.decision == "hold"
    ]
    with store_errors():
        records = await store.hvals(_key(keys, tz, now_ms()))
    for raw in records:
        record = orjson.loads(raw)
        if record["time"] >= since and establishment in (None, record["establishment"]):
            rows.append(
                Held(
                    record["id"],
                    record["time"],
                    record["establishment"],
                    record["prisoner"],
                    None,
                    record["reason"],
                    record["outcome"],
                )
            )
    return sorted(rows, key=lambda held: (held.time, held.id), reverse=True)


async def decide(
    hit_index: Any, store: Any, keys: Keys, tz: ZoneInfo, held: Held, outcome: str, note: str, by: str
) -> None:
    """Release or confirm one of today's held letters: a review of its hit, or for a letter held
    with no hit, the page's record of it."""
    if held.reference is not None:
        await save_review(hit_index, held.id, outcome, note, by)
        return
    record = _record(held, outcome=outcome, by=by, at=now_ms())
    with store_errors():
        await store.hset(_key(keys, tz, held.time), held.id, orjson.dumps(record))
