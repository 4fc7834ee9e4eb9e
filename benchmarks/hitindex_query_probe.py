"""The hit index's queries behind each hit page (issue 20: every page <= 300 ms at 100k hits), timed
in-process without the web server, on an index built the way bench_hitpages builds it (its seed,
``tests.support.hit_seed``, written into an embedded Redis and indexed by ``cases.hitindex``).
Prints the median (and min) of REPEATS runs of each page's index reads, as the page makes them
for an admin (every establishment), and with -v each query's plan (EXPLAIN QUERY PLAN). The relay
analysis is timed twice: viewed again (the index keeps it until a hit is indexed) and at its first
view. Not a pytest benchmark: a probe whose figures go in benchmarks/README.md.

Run: .venv/bin/python -m benchmarks.hitindex_query_probe [-v] [HITS] [DATA_DIR]   (-v: the plans)
(default 100k hits in a temporary directory; a DATA_DIR kept between runs is reused, and its index
file upgraded by the code under test, as ``nocontact serve`` would at start)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from cases.hitindex import HIT_INDEX_FILE, HitIndex
from cases.hitrecords import HitFilter
from sync.embedded import EmbeddedRedis
from sync.keys import Keys
from tests.support.hit_seed import DAY_MS, seeded_hits, write_hits

REPEATS = 20
PAGE = 50  # gateway.ui.hitviews.PAGE_SIZE
RELAY_PAGE = 20  # gateway.ui.hitviews.RELAY_PAGE


def pages(now_ms: int) -> dict[str, Callable[[HitIndex], Any]]:
    """Each page's index reads, as gateway.ui.hitviews and gateway.ui.charts make them."""
    month = HitFilter(since_ms=now_ms - 30 * DAY_MS)
    mail = HitFilter(channel="mail", reviewed=False)

    def queue(index: HitIndex, filt: HitFilter | None = None, before: str | None = None) -> None:
        filt = filt or HitFilter()
        index.page(filt, limit=PAGE, before=before)
        index.count(_unreviewed(filt))

    def charts(index: HitIndex) -> None:
        index.per_hour(month)
        index.counts(month, "establishment")
        index.counts(month, "prisoner", 10)
        index.counts(month, "reference", 10)

    return {
        "queue": queue,
        "unreviewed mail": lambda index: queue(index, mail),
        "jump to date (20 days ago)": lambda index: queue(index, HitFilter(), f"{now_ms - 20 * DAY_MS}.0"),
        "relay (30 days)": lambda index: index.relay(month, limit=RELAY_PAGE),
        "relay, first view": lambda index: index.relay(_first_view(month), limit=RELAY_PAGE),
        "charts (30 days)": charts,
    }


VIEWS = iter(range(1, 1_000_000))


def _first_view(filt: HitFilter) -> HitFilter:
    """`filt` a millisecond later each time: an analysis the index has not kept (its first view)."""
    assert filt.since_ms is not None
    fields = {name: getattr(filt, name) for name in HitFilter.__dataclass_fields__}
    return HitFilter(**{**fields, "since_ms": filt.since_ms + next(VIEWS)})


def _unreviewed(filt: HitFilter) -> HitFilter:
    fields = {name: getattr(filt, name) for name in HitFilter.__dataclass_fields__}
    return HitFilter(**{**fields, "reviewed": False})


def plans(index: HitIndex, read: Callable[[HitIndex], Any]) -> list[str]:
    """The plan of each query `read` makes (SCAN h / SCAN r: a read of the whole hits or refs
    table, or of all of one of its indexes)."""
    db = index._db()
    index.catch_up()
    queries: list[str] = []
    db.set_trace_callback(queries.append)  # each statement with its values (sqlite3_expanded_sql)
    try:
        read(index)
    finally:
        db.set_trace_callback(None)
    out = []
    for sql in queries:
        if sql.lstrip().upper().startswith(("SELECT", "WITH")) and "FROM meta" not in sql:
            out.append(" ".join(sql.split())[:160])
            out.extend("    " + row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql))
    return out


def main() -> None:
    argv = [a for a in sys.argv[1:] if a != "-v"]
    n = int(argv[0]) if argv else 100_000
    data = Path(argv[1]) if len(argv) > 1 else Path(tempfile.mkdtemp(prefix="hitprobe"))
    server = EmbeddedRedis(data)
    url = server.start()
    try:
        client = redis.Redis.from_url(url)
        keys = Keys()
        if not client.xlen(keys.hits):
            started = time.perf_counter()
            write_hits(client, keys, seeded_hits(n))
            print(f"seeded {n} hits in {time.perf_counter() - started:.1f} s")
        now_ms = int(client.xrevrange(keys.hits, count=1)[0][0].decode().split("-")[0])
        index = HitIndex(data / HIT_INDEX_FILE, client, keys)
        started = time.perf_counter()
        index.catch_up()
        print(f"index ready in {time.perf_counter() - started:.1f} s ({data / HIT_INDEX_FILE})")
        for name, read in pages(now_ms).items():
            if "-v" in sys.argv:
                print(f"-- {name}", *plans(index, read), sep="\n  ")
            read(index)  # warm the page cache
            times = []
            for _ in range(REPEATS):
                started = time.perf_counter()
                read(index)
                times.append((time.perf_counter() - started) * 1000)
            print(f"{name:28s} median {statistics.median(times):7.1f} ms  min {min(times):7.1f} ms")
        client.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
