"""The hit index (cases.hitindex), the one reader of the hit log, on a real redis-server: pages by
cursor in both directions return every wanted hit once, newest first, with the filter's total and
position; the reference filter matches any of a hit's references; every review is kept (the trail)
and the latest is filtered on; reviews saved before the trail existed are brought into it once;
strong matches only in the relay evidence; a file built from another store is rebuilt; a hit
shipped just before a read is in it."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from cases.hitindex import HitIndex
from cases.hitrecords import HitFilter, IndexedHit
from gateway.hitlog.model import Hit
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
        else (("UPC-2", "phone", "strong", relay), ("UPC-1", "address", "weak", relay))
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


def _wants(f: HitFilter, h: Hit) -> bool:
    return (
        (f.establishment is None or h.establishment == f.establishment)
        and (f.prisoner is None or h.prisoner == f.prisoner)
        and (f.channel is None or h.channel == f.channel)
        and (f.relay is None or h.relay == f.relay)
        and (f.reference is None or f.reference in {m[0] for m in h.matches})
        and (f.since_ms is None or h.time >= f.since_ms)
        and (f.until_ms is None or h.time < f.until_ms)
    )


def ship(client: Any, keys: Keys, hits: list[Hit]) -> None:
    for hit in hits:  # each hit shipped one second after it was recorded
        sid = f"{hit.time + 1000}-0"
        client.xadd(keys.hits, dict(zip(*[iter(hit.stream_fields())] * 2, strict=True)), id=sid)
        client.hset(keys.hit_ids, hit.id, sid)


@pytest.fixture
def client(redis_url: str) -> Iterator[Any]:
    c = redis.Redis.from_url(redis_url)
    ship(c, KEYS, HITS)
    yield c
    c.close()


@pytest.fixture
def index(client: Any, tmp_path: Path) -> HitIndex:
    return HitIndex(tmp_path / "hitindex.sqlite3", client, KEYS)


def _records(rows: list[IndexedHit]) -> list[Hit]:
    return [Hit.from_dict(r.record) for r in rows]


FILTERS = [
    HitFilter(),
    HitFilter(establishment="WDI"),
    HitFilter(reference="UPC-2"),
    HitFilter(reference="UPC-1", relay=False),
    HitFilter(channel="mail", prisoner="A0001BC"),
    HitFilter(since_ms=START_MS + 20 * STEP_MS, until_ms=START_MS + 40 * STEP_MS),
]


@pytest.mark.parametrize("limit", [1000, 7, 1])
@pytest.mark.parametrize("filt", FILTERS)
def test_pages_return_every_wanted_hit_once_newest_first_with_totals(
    index: HitIndex, filt: HitFilter, limit: int
) -> None:
    expected = [h for h in reversed(HITS) if _wants(filt, h)]
    rows: list[IndexedHit] = []
    before = None
    while True:
        page = index.page(filt, limit=limit, before=before)
        assert page.total == len(expected) and page.newer == len(rows)
        rows += page.rows
        if page.older_cursor is None:
            break
        before = page.older_cursor
    assert _records(rows) == expected
    # And back again, newer page by newer page, from the oldest.
    back: list[IndexedHit] = []
    page = index.page(filt, limit=limit, oldest=True)
    while True:
        back = page.rows + back
        if page.newer_cursor is None:
            break
        page = index.page(filt, limit=limit, after=page.newer_cursor)
    assert _records(back) == expected


def test_the_reference_filter_matches_any_of_a_hits_references(index: HitIndex) -> None:
    page = index.page(HitFilter(reference="UPC-1"), limit=100)
    assert page.total == 60  # every hit: UPC-1 is the top match or the second one
    assert index.page(HitFilter(reference="UPC-3"), limit=100).total == 0
    assert [h["id"] for h in index.by_reference("UPC-2")] == [
        h.id for h in reversed(HITS) if h.reference == "UPC-2"
    ]


def test_every_review_is_kept_and_the_latest_is_filtered_on(index: HitIndex) -> None:
    first = index.review(HITS[10].id, "false_positive", "wrong number: a taxi firm", "user:a")
    index.review(HITS[10].id, "confirmed", None, "user:b")
    index.review(HITS[30].id, "escalated", "police asked", "user:a", "user:c")
    trail = index.trail(HITS[10].id)
    assert [(r["outcome"], r["by"]) for r in trail] == [("false_positive", "user:a"), ("confirmed", "user:b")]
    assert trail[0]["note"] == "wrong number: a taxi firm" and trail[0]["time"] == first["time"]
    reviewed = index.page(HitFilter(reviewed=True), limit=10)
    assert [r.id for r in reviewed.rows] == [HITS[30].id, HITS[10].id] and reviewed.rows[1].reviews == 2
    assert reviewed.rows[1].review is not None and reviewed.rows[1].review["outcome"] == "confirmed"
    assert index.page(HitFilter(outcome="false_positive"), limit=10).total == 0  # not the latest any more
    assert [r.id for r in index.page(HitFilter(escalated_to="user:c"), limit=10).rows] == [HITS[30].id]
    assert index.count(HitFilter(reviewed=False)) == 58
    assert index.next_unreviewed(HitFilter(), None) == HITS[59].id
    assert index.next_unreviewed(HitFilter(), f"{HITS[11].time}.{HITS[11].id}") == HITS[9].id
    fields = {"hit": HITS[31].id, "outcome": "escalated", "note": "", "by": "tok", "time": "1"}
    index.client.xadd(KEYS.hit_review_log, {**fields, "escalated_to": "Lead"})  # as the API once stored it
    assert [r.id for r in index.page(HitFilter(escalated_to="user:lead"), limit=10).rows] == [HITS[31].id]


def test_reviews_saved_before_the_review_trail_are_brought_into_it_once(
    index: HitIndex, client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before the index (31f3531) a review was the latest only, in the hit_reviews hash: after an
    upgrade those hits must not show unreviewed with their notes hidden."""
    old = {
        HITS[5].id: {
            "outcome": "false_positive",
            "note": "taxi firm",
            "by": "user:a",
            "time": START_MS + 1,
        },
        HITS[7].id: {"outcome": "confirmed", "note": None, "by": "user:b", "time": START_MS + 2},
        HITS[8].id: {"outcome": "escalated", "note": "police", "by": "user:b", "time": START_MS + 3},
    }
    client.hset(KEYS.hit_reviews, mapping={k: json.dumps(v) for k, v in old.items()})
    client.hset(KEYS.hit_reviews, HITS[6].id, b"{not json")
    index.review(HITS[9].id, "confirmed", "after the upgrade", "user:c")  # hash and trail: not again
    assert index.count(HitFilter(reviewed=True)) == 1
    with caplog.at_level(logging.INFO, logger="nocontact.hitindex"):
        assert index.migrate_reviews() == 3
    assert "3 reviews saved before the review trail" in caplog.text and "1 unreadable" in caplog.text
    assert "taxi firm" not in caplog.text
    assert index.trail(HITS[5].id) == [
        {"outcome": "false_positive", "note": "taxi firm", "by": "user:a", "time": START_MS + 1}
        | {"escalated_to": None}
    ]
    reviewed = index.page(HitFilter(reviewed=True), limit=10)
    assert sorted(r.id for r in reviewed.rows) == sorted([HITS[5].id, HITS[7].id, HITS[8].id, HITS[9].id])
    assert index.get(HITS[7].id).review["outcome"] == "confirmed"  # type: ignore[union-attr]
    assert index.trail(HITS[9].id)[0]["note"] == "after the upgrade" and len(index.trail(HITS[9].id)) == 1
    assert index.migrate_reviews() == 0  # idempotent
    other = HitIndex(tmp_path / "other.sqlite3", client, KEYS)  # another gateway's index, at its start
    other.start()
    try:
        assert other.caught_up.wait(30)
    finally:
        other.stop()
    assert other.migrate_reviews() == 0 and client.xlen(KEYS.hit_review_log) == 4
    assert [len(other.trail(h.id)) for h in HITS[5:10]] == [1, 0, 1, 1, 1]
    fresh = HitIndex(tmp_path / "fresh.sqlite3", client, KEYS)
    client.delete(KEYS.hit_review_log)  # a store upgraded with no trail yet: migrated at start
    client.hset(KEYS.hit_reviews, HITS[9].id, json.dumps({**old[HITS[5].id], "note": "old"}))
    fresh.start()
    try:
        assert fresh.caught_up.wait(30)
    finally:
        fresh.stop()
    assert fresh.count(HitFilter(reviewed=True)) == 4 and fresh.trail(HITS[9].id)[0]["note"] == "old"


def test_relay_counts_strong_matches_only(index: HitIndex) -> None:
    found = index.relay(HitFilter(), limit=10)
    assert [g.reference for g in found.groups] == ["UPC-1", "UPC-2"] and found.total_groups == 2
    upc1 = found.groups[0]
    assert upc1.attempts == sum(1 for h in HITS if h.reference == "UPC-1")  # weak second matches: no
    assert sum(n for _, n, _, _ in upc1.prisoners) == upc1.attempts and len(upc1.prisoners) == 5
    assert found.attempts == 60 and found.prisoners == 5
    assert [g.reference for g in index.relay(HitFilter(), limit=1, offset=1).groups] == ["UPC-2"]


def test_strength_with_a_reference_is_the_strength_of_the_match_on_that_reference(index: HitIndex) -> None:
    """Every fourth hit is strong on UPC-2 (its top match) and weak on UPC-1: with the reference,
    the strength filter tests the match on UPC-1, as the relay analysis does."""
    strong_on_1 = [h.id for h in HITS if h.reference == "UPC-1"]
    weak_on_1 = [h.id for h in HITS if h.reference == "UPC-2"]
    found = index.page(HitFilter(reference="UPC-1", strength="strong"), limit=100)
    assert sorted(r.id for r in found.rows) == sorted(strong_on_1)
    assert index.count(HitFilter(reference="UPC-1", strength="weak")) == len(weak_on_1)
    assert index.count(HitFilter(reference="UPC-1", strength="weak", kind="address")) == len(weak_on_1)
    assert index.count(HitFilter(reference="UPC-1", strength="weak", kind="phone")) == 0
    assert index.count(HitFilter(strength="strong")) == 60  # without a reference: the top match's
    strong = index.counts(HitFilter(reference="UPC-1", strength="strong"), "prisoner")
    assert sum(n for _, n in strong) == index.relay(HitFilter(reference="UPC-1"), limit=1).attempts


def test_a_hit_shipped_just_before_a_read_is_in_it(index: HitIndex, client: Any) -> None:
    assert index.count(HitFilter()) == 60
    late = Hit.from_dict({**HITS[0].to_dict(), "id": "01K" + "0" * 23, "time": START_MS + 61 * STEP_MS})
    ship(client, KEYS, [late])
    assert index.page(HitFilter(), limit=1).rows[0].id == late.id
    got = index.get(late.id)
    assert got is not None and Hit.from_dict(got.record) == late


def test_a_file_built_from_another_store_is_rebuilt(index: HitIndex, client: Any, tmp_path: Path) -> None:
    assert index.count(HitFilter()) == 60
    other = Keys("other:")
    ship(client, other, HITS[:3])
    again = HitIndex(tmp_path / "hitindex.sqlite3", client, other)
    assert again.count(HitFilter()) == 3
    client.delete(other.hits)  # a store restored from before these hits
    assert HitIndex(tmp_path / "hitindex.sqlite3", client, other).count(HitFilter()) == 0


def test_the_follower_thread_indexes_without_a_read(index: HitIndex) -> None:
    index.start()
    try:
        assert index.caught_up.wait(10)
        db = index._db()
        assert db.execute("SELECT count(*) FROM hits").fetchone()[0] == 60
    finally:
        index.stop()


def _plans(index: HitIndex, read: Any) -> list[tuple[str, list[str]]]:
    """Each SELECT `read` makes over the index (as SQLite ran it, values in place) with its plan."""
    db = index._db()
    index.catch_up()
    queries: list[str] = []
    db.set_trace_callback(queries.append)
    try:
        read()
    finally:
        db.set_trace_callback(None)
    return [
        (sql, [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql)])
        for sql in queries
        if sql.lstrip().upper().startswith(("SELECT", "WITH")) and "FROM meta" not in sql
    ]


def _scans(plans: list[tuple[str, list[str]]]) -> list[str]:
    """Plan steps that read a whole table of hits (or the whole of one of its indexes)."""
    return [
        f"{step} <- {sql}"
        for sql, steps in plans
        for step in steps
        if re.match(r"SCAN (h|r|hits|refs)\b", step)
    ]


@pytest.mark.parametrize("establishment", [None, "HLI"])
def test_the_unreviewed_mail_queue_and_the_relay_analysis_read_through_indexes(
    index: HitIndex, establishment: str | None
) -> None:
    """Issue 20 (every page <= 300 ms at 100k hits; bench_hitpages measured the unreviewed-mail
    queue at 427 ms and the relay page at 871 ms): the queries behind both pages search an index
    (SQLite plans alike at 60 hits and at 100k: the index has no statistics), and the relay page
    reads the strong matches in two statements, not one per request shown."""
    mail = HitFilter(establishment=establishment, channel="mail", reviewed=False)
    first = index.page(mail, limit=3)
    queue = _plans(index, lambda: (index.page(mail, limit=3, before=first.older_cursor), index.count(mail)))
    assert len(queue) == 4 and _scans(queue) == []
    window = HitFilter(establishment=establishment, since_ms=START_MS + 5 * STEP_MS)
    relay = _plans(index, lambda: index.relay(window, limit=20))
    assert index.relay(window, limit=20).groups  # the page has groups: their prisoners were read
    assert len(relay) == 2 and _scans(relay) == []


def test_an_index_file_from_before_the_unreviewed_indexes_is_upgraded_when_opened(
    index: HitIndex, client: Any, tmp_path: Path
) -> None:
    index.review(HITS[1].id, "confirmed", None, "user:ann")
    db = index._db()
    db.executescript(
        "DROP INDEX hits_unreviewed_place; DROP INDEX hits_unreviewed_channel; DROP INDEX hits_channel; "
        "CREATE INDEX hits_unreviewed ON hits(establishment, time) WHERE outcome IS NULL;"
    )  # the schema as it was (cases/hitrecords.py before 2026-12-07)
    db.close()
    index._local.db = None
    again = HitIndex(tmp_path / "hitindex.sqlite3", client, KEYS)
    names = {row[0] for row in again._db().execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"hits_unreviewed_place", "hits_unreviewed_channel", "hits_channel"} <= names
    assert "hits_unreviewed" not in names
    assert again.count(HitFilter(channel="mail", reviewed=False)) == sum(
        1 for h in HITS if h.channel == "mail" and h.id != HITS[1].id
    )


def test_the_relay_analysis_is_computed_once_per_hit_indexed(index: HitIndex, client: Any) -> None:
    """Its flagged requests are kept for the index's state: another page or view of the same
    analysis reads only its groups' prisoners; a hit indexed since is in the next view."""
    window = HitFilter(since_ms=START_MS)
    first = index.relay(window, limit=1)
    again = _plans(index, lambda: index.relay(window, limit=1, offset=1))
    assert len(again) == 1 and "r.reference IN" in again[0][0]
    late = Hit.from_dict({**HITS[1].to_dict(), "id": "01K" + "0" * 23, "time": START_MS + 61 * STEP_MS})
    ship(client, KEYS, [late])
    after = index.relay(window, limit=1)
    assert after.attempts == first.attempts + 1 and after.groups[0].latest == late.time


def test_the_charts_count_a_time_range_from_an_index_alone(index: HitIndex) -> None:
    """The charts' counts per hour and channel and per request over a time range read a covering
    index (no lookup of each hit in the table: bench_hitpages measured the charts at 254 ms)."""
    window = HitFilter(since_ms=START_MS + 5 * STEP_MS)
    plans = _plans(index, lambda: (index.per_hour(window), index.counts(window, "reference", 10)))
    assert len(plans) == 2
    for sql, steps in plans:
        assert any(re.match(r"SEARCH h USING COVERING INDEX \w+ \(time>\?\)", step) for step in steps), (
            sql,
            steps,
        )
