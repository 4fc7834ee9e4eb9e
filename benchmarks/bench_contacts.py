"""Contacts figures (issue 18), against a real redis-server (persistence off):

- **Full sweep**: 100k prisoners' lists of 20 contacts (2M numbers, 200k addresses) checked against
  a 1M-identifier blocklist (800k numbers, 200k addresses) by ``cases.sweep.Sweeper`` in a thread,
  as a gateway runs it (at the worker threads' lower priority, the switch interval `serve` sets),
  while a ticker on the event loop (benchmarks/loop_ticker.py) records how late it wakes. Baselines
  in the same run: the ticker alone, and beside a thread of the same priority running plain Python
  (the floor of any work done in a worker thread of the serving process).
- **Incremental sweep**: a new block (one whose number is on one list of those 100k) written by
  ``sync.writer.Writer`` -> its task written by the sweeper following the change stream; p50/p99
  beside a bare XADD -> XREAD BLOCK round trip on the same server.
- **One contact checked** (``matcher.contacts.check_contact``: two numbers, an email, an address)
  against ``Index.screen_mail`` of a 300-byte envelope and ``phonenumbers.parse``.

The goals (full sweep <= 60 s with loop stalls <= 10 ms; incremental p99 <= 50 ms; a check of the
same order as a mail screening) are reported, not asserted.
Run: flock /tmp/nocontact-bench.lock ./dev bench benchmarks/bench_contacts.py
(NOCONTACT_BENCH_CONTACTS_PRISONERS: lists, default 100000)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import os
import random
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import phonenumbers
import pytest

from benchmarks.figures import NOTES, per_op, record
from benchmarks.loop_ticker import Ticker
from benchmarks.sync_harness import percentile, progress
from cases.contacts import ContactStore
from cases.sweep import Sweeper, SweepHooks
from config import load_profile
from gateway.worker import SWITCH_INTERVAL
from matcher.contacts import Contact, check_contact
from matcher.entries import Entry, PostalAddress
from matcher.index import Index
from sync.changes import Change
from sync.keys import Keys
from sync.offloop.collector import gc_paused
from sync.offloop.workers import lower_priority
from sync.writer import Writer
from tests.support.blocklists import address, entries, envelopes, mobile
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.timeout(3600)

PROFILE = load_profile(environ={})
PRISONERS = int(os.environ.get("NOCONTACT_BENCH_CONTACTS_PRISONERS", "100000"))
CONTACTS = 20
ADDRESSED = 2  # contacts per list with a postal address
BLOCKED_ENTRIES = 200_000  # x (4 numbers + 1 address) = 1M identifiers
BLOCKED_EVERY = 1000  # one contact number in this many is a blocked one
NEW_BLOCKS = 200
FLOOR_S = 5.0
ESTABLISHMENTS = ("HLI", "HMI", "LWI", "MDI", "WDI")


@pytest.fixture(scope="module")
def world(redis_server: RedisServer) -> Iterator[dict[str, Any]]:
    client = redis_server.client()
    client.flushall(asynchronous=True)
    Writer(client).initialise()
    blocked = list(entries(BLOCKED_ENTRIES, phones=4, addresses=1, seed=7))
    with gc_paused():
        index = Index.build(blocked, PROFILE, version=1)
    progress(f"contacts: blocklist of {index.identifier_count} identifiers built")
    rng = random.Random(5)
    blocked_numbers = [p for e in blocked[:1000] for p in e.protected[0].phones]
    blocked_addresses = [e.protected[0].addresses[0] for e in blocked[1000:2000]]
    store = ContactStore(client, PROFILE)
    serial = 0
    batch: list[tuple[str, str, list[Contact]]] = []
    for n in range(PRISONERS):
        contacts = []
        for c in range(CONTACTS):
            serial += 1
            phone = (
                rng.choice(blocked_numbers) if serial % BLOCKED_EVERY == 0 else mobile(3_000_000_000 + serial)
            )
            addresses: tuple[PostalAddress, ...] = ()
            if c < ADDRESSED:
                addresses = (rng.choice(blocked_addresses) if serial % BLOCKED_EVERY == 1 else address(rng),)
            contacts.append(Contact(f"c{c}", f"Contact {c}", (phone,), (), addresses, True))
        number = f"{chr(65 + n // 10000 % 26)}{n % 10000:04d}BC"  # a GB prison number, unique to 260k
        batch.append((ESTABLISHMENTS[n % len(ESTABLISHMENTS)], number, contacts))
        if len(batch) == 500:
            store.put_many(batch)
            batch = []
    if batch:
        store.put_many(batch)
    progress(f"contacts: {PRISONERS} lists written")
    gc.freeze()  # as a gateway does after a full build (sync.building): collections skip the index
    yield {"client": client, "index": index, "blocked": blocked, "store": store}
    client.flushall(asynchronous=True)


async def _ticked(work: Any, floor_s: float) -> dict[str, Any]:
    """The ticker through: idle (floor_s), beside plain Python in a thread (floor_s), then `work`
    in a thread of its own; each window's stalls. Both threads run as the gateway's sweep thread
    does (gateway.contacts: lower_priority), under the switch interval `serve` sets."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        return await _ticked_windows(work, floor_s)
    finally:
        sys.setswitchinterval(interval)


async def _ticked_windows(work: Any, floor_s: float) -> dict[str, Any]:
    ticker = Ticker()
    ticking = asyncio.get_running_loop().create_task(ticker.run())
    loop = asyncio.get_running_loop()
    marks = [time.perf_counter()]
    await asyncio.sleep(floor_s)
    marks.append(time.perf_counter())
    stop = threading.Event()

    def plain_python() -> None:
        while not stop.is_set():
            d = {str(i): i for i in range(200)}
            "".join(d)

    with concurrent.futures.ThreadPoolExecutor(1, initializer=lower_priority) as pool:
        busy = loop.run_in_executor(pool, plain_python)
        await asyncio.sleep(floor_s)
        stop.set()
        await busy
    marks.append(time.perf_counter())
    with concurrent.futures.ThreadPoolExecutor(
        1, thread_name_prefix="nocontact-sweep", initializer=lower_priority
    ) as pool:
        result = await loop.run_in_executor(pool, work)
    marks.append(time.perf_counter())
    ticking.cancel()
    names = ("idle", "busy", "work")
    return {
        "windows": {name: ticker.window(marks[i], marks[i + 1]) for i, name in enumerate(names)},
        "result": result,
        "seconds": marks[3] - marks[2],
    }


def test_full_sweep(benchmark: Any, world: dict[str, Any]) -> None:
    client, index = world["client"], world["index"]
    sweeper = Sweeper(client, PROFILE, lambda: index, owner="bench", lease_ms=600_000)
    assert client.hlen(Keys().contacts_dirty) == PRISONERS
    found = asyncio.run(_ticked(sweeper.run_until_idle, FLOOR_S))
    stats = found["result"]
    windows = found["windows"]
    record("contacts_full_sweep", found["seconds"] * 1e9, f"{stats.lists} lists, {stats.opened} tasks")
    for name in ("idle", "busy", "work"):
        record(f"contacts_sweep_stall_{name}", windows[name]["max_ms"] * 1e6, str(windows[name]))
    benchmark.extra_info.update(seconds=round(found["seconds"], 1), windows=windows, tasks=stats.opened)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    assert stats.lists == PRISONERS and stats.opened > 0  # the sweep really found blocked contacts


def test_xadd_xread_round_trip(benchmark: Any, redis_server: RedisServer) -> None:
    client = redis_server.client()
    reader = redis_server.client()
    stream = "bench:xadd"
    samples: list[float] = []
    last = "$"
    for _ in range(NEW_BLOCKS):
        results: list[Any] = []

        def read(results: list[Any] = results, since: str = last) -> None:
            results.append(reader.xread({stream: since}, block=5000, count=1))

        t = threading.Thread(target=read)
        t.start()
        time.sleep(0.005)  # the reader is waiting, as the sweeper is
        started = time.perf_counter()
        client.xadd(stream, {"v": "1"})
        t.join()
        samples.append(time.perf_counter() - started)
        last = results[0][0][1][-1][0]
    client.delete(stream)
    record("xadd_xread_p50_contacts", percentile(samples, 0.5) * 1e9)
    record("xadd_xread_p99_contacts", percentile(samples, 0.99) * 1e9)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)


def test_incremental_sweep(benchmark: Any, world: dict[str, Any]) -> None:
    client, index = world["client"], world["index"]
    writer = Writer(client)
    done: dict[str, float] = {}
    arrived = threading.Event()

    def after_change(change: Change) -> None:
        assert change.reference is not None
        done[change.reference] = time.perf_counter()
        arrived.set()

    sweeper = Sweeper(
        client,
        PROFILE,
        lambda: index,
        owner="bench",
        lease_ms=600_000,
        block_ms=1000,
        hooks=SweepHooks(after_change),
    )
    sweeper.run_until_idle()
    stop = threading.Event()

    def follow() -> None:
        while not stop.is_set():
            sweeper.step()

    thread = threading.Thread(target=follow)
    thread.start()
    rng = random.Random(9)
    samples: list[float] = []
    opened = 0
    try:
        for i in range(NEW_BLOCKS):
            # a number held by one list (contact serial numbers are 3_000_000_000 + serial)
            serial = rng.randrange(1, PRISONERS * CONTACTS)
            if serial % BLOCKED_EVERY in (0,):
                serial += 1
            reference = f"UPC-NEW-{i:05d}"
            entry = Entry.from_dict(
                {
                    "reference": reference,
                    "prisoner": "A1234BC",
                    "scope": "all",
                    "protected": [{"name": "Jane Smith", "phones": [mobile(3_000_000_000 + serial)]}],
                }
            )
            arrived.clear()
            started = time.perf_counter()
            writer.upsert(entry)
            while reference not in done:
                arrived.wait(5)
            samples.append(done[reference] - started)
            opened += client.scard(Keys().contact_tasks_by_reference(reference))
    finally:
        stop.set()
        thread.join()
    record("contacts_incremental_p50", percentile(samples, 0.5) * 1e9)
    record("contacts_incremental_p99", percentile(samples, 0.99) * 1e9, f"{len(samples)} new blocks")
    NOTES["contacts_incremental_p99"] += f", {opened} tasks"
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    assert opened >= NEW_BLOCKS  # every new block found the list holding its number


def test_phonenumbers_parse_contacts(benchmark: Any) -> None:
    numbers = [mobile(3_000_000_000 + n) for n in range(2000)]

    def run() -> None:
        for s in numbers:
            phonenumbers.parse(s, "GB")

    per_op(benchmark, run, len(numbers), "phonenumbers_parse_contacts")


def test_check_contact_vs_screen_mail(benchmark: Any, world: dict[str, Any]) -> None:
    index = world["index"]
    rng = random.Random(11)
    blocked = world["blocked"]
    texts = envelopes(2000, [e.protected[0].addresses[0] for e in blocked[:5000]])
    contacts = [
        Contact(
            f"c{n}",
            "Pat Jones",
            (mobile(3_000_000_000 + n), mobile(4_000_000_000 + n)),
            (f"pat{n}@example.net",),
            (address(rng),),
            False,
        )
        for n in range(2000)
    ]

    def mail() -> None:
        for text in texts:
            index.screen_mail("HLI", "A0001BC", text)

    def check() -> None:
        for contact in contacts:
            check_contact(index, "HLI", "A0001BC", contact)

    started = time.perf_counter()
    for _ in range(5):
        mail()
    record("contacts_screen_mail", (time.perf_counter() - started) / (5 * len(texts)) * 1e9)
    per_op(benchmark, check, len(contacts), "contacts_check_one")
