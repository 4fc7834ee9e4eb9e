"""Listing removal tasks against a real Redis: pages follow one another in order with nothing
missed or repeated (tasks created in the same millisecond, a task closed under the cursor, many
establishments merged), and a page reads about a page of tasks however many there are (the
listing used to read and sort every task of the establishment, or of the nation, for each page)."""

from __future__ import annotations

import io
from typing import Any

import redis

from cases.contact_tasks import REMOVED, NewTask, TaskStore, created_ms
from gateway.cli import build_parser
from tests.support.redis_server import RedisFactory

PRISONS = ("HLI", "MDI", "WDI")


def _tasks(establishment: str, count: int, start: int = 0, reference: str = "UPC-1") -> list[NewTask]:
    return [
        NewTask(establishment, f"A{n:04d}BC", "c1", reference, "phone", "strong", 0, False, 1)
        for n in range(start, start + count)
    ]


def _all_pages(store: TaskStore, limit: int, between: Any = None, **filters: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        page, after = store.search(**filters, after=after, limit=limit)
        seen += page
        if between is not None and page:
            between(page)
        if after is None:
            return seen


def _order(tasks: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [(created_ms(t["created"]), t["id"]) for t in tasks]


def test_pages_visit_every_task_once_in_order(redis_server: RedisFactory) -> None:
    store = TaskStore(redis_server().client())
    for batch in range(4):  # each batch shares one millisecond: ties broken by id
        for code in PRISONS:
            store.ensure(_tasks(code, 9, start=10 * batch, reference=f"UPC-{batch % 2}"))
    everything, _ = store.search(limit=1000)
    assert len(everything) == 108 and _order(everything) == sorted(_order(everything))
    for limit in (1, 7, 50):
        assert _all_pages(store, limit) == everything
        hli = [t for t in everything if t["establishment"] == "HLI"]
        assert _all_pages(store, limit, establishment="HLI") == hli
        ref = [t for t in everything if t["reference"] == "UPC-1"]
        assert _all_pages(store, limit, reference="UPC-1") == ref
        prisoner = [t for t in everything if t["prisoner"] == "A0012BC"]
        assert _all_pages(store, limit, prisoner="A0012BC") == prisoner and len(prisoner) == 3

    def close_the_last(page: list[dict[str, Any]]) -> None:  # the task the cursor names leaves the open set
        store.close(page[-1], REMOVED, "test")

    for establishment in ("HLI", None):
        opened = store.search(establishment=establishment, status="open", limit=1000)[0]
        listed = _all_pages(store, 5, close_the_last, establishment=establishment, status="open")
        assert [t["id"] for t in listed] == [t["id"] for t in opened]
    for task in store.search(status="open", limit=1000)[0]:
        store.close(task, REMOVED, "test")
    assert store.search(status="open", limit=1000) == ([], None)
    removed = _all_pages(store, 7, status=REMOVED)
    assert len(removed) == 108 and _order(removed) == sorted(_order(removed))


def _bytes_out(client: redis.Redis) -> int:
    return int(client.info("stats")["total_net_output_bytes"])


def test_a_page_reads_a_page_not_every_task(redis_server: RedisFactory) -> None:
    server = redis_server()
    client = server.client()
    store = TaskStore(client)
    for start in range(0, 3000, 500):
        store.ensure(_tasks("HLI", 500, start=start))
    store.ensure(_tasks("MDI", 500))
    everything = client.hgetall(store.keys.contact_tasks)
    all_bytes = sum(len(v) for v in everything.values())
    assert all_bytes > 500_000
    for filters in ({"establishment": "HLI"}, {"establishment": "HLI", "status": "open"}, {}):
        before = _bytes_out(client)
        page, after = store.search(**filters, limit=20)
        read = _bytes_out(client) - before
        assert len(page) == 20 and after is not None
        assert read < 40_000, (filters, read)  # 20 records and a few sorted-set members, not 3,500
    # `nocontact contacts tasks` pages through: each task read about once, not once per page
    args = build_parser().parse_args(["contacts", "--redis-url", server.url, "tasks", "--csv"])
    out = io.StringIO()
    before = _bytes_out(client)
    assert args.handler(args, out=out, err=io.StringIO()) == 0
    read = _bytes_out(client) - before
    assert len(out.getvalue().splitlines()) == 3501
    assert read < 2 * all_bytes, (read, all_bytes)  # 4 pages each reading every task: 4x
