"""The one hit-log reader (gateway.hitlog.scan) on a real redis-server: paging by cursor returns
every wanted hit once, newest first, whatever the page size, chunk and read budget; the filter's
fields; the `since` cut-off; reviews attached and filtered on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from gateway.hitlog.model import Hit
from gateway.hitlog.scan import CLOCK_SKEW_MS, HitFilter, Row, get_hit, save_review, scan
from sync.keys import Keys

KEYS = Keys("scan:")
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
STEP_MS = 60_000


def _hit(n: int) -> Hit:
    """The n-th hit, a minute after the one before; establishments, channels and references vary."""
    relay = n % 3 == 0
    references = (
        (("UPC-1", "phone", "strong", relay),)
        if n % 4
        else (
            ("UPC-2", "phone", "strong", relay),
            ("UPC-1", "phone", "strong", relay),
        )
    )
    return Hit(
        f"01J{n:023d}",
        START_MS + n * STEP_MS,
        ("HLI", "WDI")[n % 2],
        f"A{n % 5:04d}BC",
        ("call", "mail", "message")[n % 3],
        "block",
        references[0][0],
        "phone",
        relay,
        "gw",
        1,
        references,
    )


HITS = [_hit(n) for n in range(60)]


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Any]:
    client = aioredis.Redis.from_url(redis_url)
    for hit in HITS:  # each hit shipped one second after it was recorded
        await client.xadd(
            KEYS.hits, dict(zip(*[iter(hit.stream_fields())] * 2, strict=True)), id=f"{hit.time + 1000}-0"
        )
        await client.hset(KEYS.hit_ids, hit.id, f"{hit.time + 1000}-0")
    yield client
    await client.aclose()


async def _all_pages(client: Any, filt: HitFilter, **kwargs: Any) -> tuple[list[Row], list[int]]:
    rows: list[Row] = []
    scanned: list[int] = []
    cursor = None
    while True:
        page = await scan(client, KEYS, filt, cursor=cursor, **kwargs)
        rows += page.rows
        scanned.append(page.scanned)
        if page.next_cursor is None:
            return rows, scanned
        cursor = page.next_cursor


@pytest.mark.parametrize(
    ("limit", "chunk", "budget"), [(1000, 500, 50_000), (5, 4, 10), (7, 3, 3), (1, 1, 1), (50, 7, 20)]
)
@pytest.mark.parametrize(
    "filt",
    [
        HitFilter(),
        HitFilter(establishment="WDI"),
        HitFilter(reference="UPC-2"),
        HitFilter(reference="UPC-1", relay=False),
        HitFilter(channel="mail", prisoner="A0001BC"),
        HitFilter(since_ms=START_MS + 20 * STEP_MS, until_ms=START_MS + 40 * STEP_MS),
    ],
)
async def test_pages_return_every_wanted_hit_once_newest_first(
    client: Any, filt: HitFilter, limit: int, chunk: int, budget: int
) -> None:
    rows, scanned = await _all_pages(client, filt, limit=limit, chunk=chunk, budget=budget)
    expected = [h for h in reversed(HITS) if filt.wants(h)]
    assert [r.hit for r in rows] == expected
    assert all(r.review is None for r in rows)
    assert max(scanned) < budget + chunk  # a page stops at the first whole chunk past its budget


def test_the_reference_filter_matches_any_of_a_hits_references() -> None:
    second = HITS[4]  # top reference UPC-2, UPC-1 as its second match
    assert second.reference == "UPC-2" and HitFilter(reference="UPC-1").wants(second)
    assert not HitFilter(reference="UPC-3").wants(second)


async def test_since_stops_the_scan_at_hits_older_than_the_clock_skew(client: Any) -> None:
    since = START_MS + 50 * STEP_MS
    page = await scan(client, KEYS, HitFilter(since_ms=since), limit=1000)
    assert [r.hit for r in page.rows] == list(reversed(HITS[50:])) and page.next_cursor is None
    skewed = sum(1 for h in HITS if since - CLOCK_SKEW_MS <= h.time + 1000)
    assert page.scanned == skewed + 1  # the first message too old ends it


async def test_reviews_are_attached_and_filtered_on(client: Any) -> None:
    reviewed = {HITS[10].id, HITS[11].id, HITS[30].id}
    for hit_id in reviewed:
        stored = await save_review(client, KEYS, hit_id, "confirmed", None, "user:a")
        assert stored["outcome"] == "confirmed" and stored["by"] == "user:a"
    rows, _ = await _all_pages(client, HitFilter(reviewed=True), limit=2, chunk=5, budget=5)
    assert [r.hit.id for r in rows] == [HITS[30].id, HITS[11].id, HITS[10].id]
    assert all(r.review is not None and r.review["outcome"] == "confirmed" for r in rows)
    rows, _ = await _all_pages(client, HitFilter(reviewed=False), limit=9, chunk=4, budget=12)
    assert len(rows) == len(HITS) - 3 and not reviewed & {r.hit.id for r in rows}
    row = await get_hit(client, KEYS, HITS[30].id)
    assert row is not None and row.hit == HITS[30] and row.review is not None
    assert await get_hit(client, KEYS, "01ARZ3NDEKTSV4RRFFQ69G5FAV") is None
