"""The contacts sweeper against a real Redis: tasks are idempotent, exemptions are honoured, a
revoked block closes its tasks, the identifier index follows list writes, and a sweep that dies
mid-way (the process, or Redis itself) resumes from its stored progress with nothing lost or
doubled."""

from __future__ import annotations

import contextlib
import gc
from typing import Any

import pytest
import redis

from cases.contact_tasks import TaskStore
from cases.contacts import ContactStore
from cases.sweep import Sweeper, SweepHooks
from config import load_profile
from matcher.contacts import check_contact, contacts_from_list
from matcher.entries import Entry
from matcher.index import Index
from sync.changes import decode_entry
from sync.keys import Keys
from sync.offloop.giveway import GiveWay
from sync.writer import Writer
from tests.support.redis_server import RedisFactory

PROFILE = load_profile(None)
KEYS = Keys()
PHONE = "07700 900123"


def _entry(reference: str, phone: str = PHONE, **changes: Any) -> Entry:
    data: dict[str, Any] = {
        "reference": reference,
        "prisoner": "A1234BC",
        "scope": "all",
        "protected": [{"name": "Jane Smith", "phones": [phone]}],
    }
    data.update(changes)
    return Entry.from_dict(data)


def _contacts(*phones: str) -> Any:
    return contacts_from_list(
        [{"id": f"c{i}", "name": "Pat", "phones": [p], "approved": True} for i, p in enumerate(phones)]
    )


class World:
    """A real Redis with the blocklist writer, the contacts stores and a sweeper whose live index
    is read back from the store each round (as a follower would hold it)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.writer = Writer(client)
        self.writer.initialise()
        self.lists = ContactStore(client, PROFILE)
        self.tasks = TaskStore(client)

    def live(self) -> Index:
        meta = self.client.hgetall(KEYS.meta)
        entries = [decode_entry(raw) for raw in self.client.hvals(KEYS.entries)]
        return Index.build(entries, PROFILE, version=int(meta["version"]))

    def sweeper(self, hooks: SweepHooks | None = None) -> Sweeper:
        return Sweeper(self.client, PROFILE, self.live, owner="t", hooks=hooks, lease_ms=60_000)

    def statuses(self) -> list[tuple[str, str, str, str]]:
        page, _ = self.tasks.search(limit=1000)
        return sorted((t["prisoner"], t["contact_id"], t["reference"], t["status"]) for t in page)


@pytest.fixture
def world(redis_server: RedisFactory) -> World:
    return World(redis_server().client())


def test_a_new_block_sweeps_the_lists_holding_its_number_once(world: World) -> None:
    world.lists.put("HLI", "B1111BB", _contacts(PHONE, "01632 960001"))
    world.lists.put("MDI", "C2222CC", _contacts("01632 960002"))
    world.lists.put("WDI", "D3333DD", _contacts("+44 7700 900123"))
    sweeper = world.sweeper()
    sweeper.run_until_idle()
    assert world.statuses() == []
    world.writer.upsert(_entry("UPC-1"))
    stats = sweeper.run_until_idle()
    assert stats.changes == 1
    expected = [("B1111BB", "c0", "UPC-1", "open"), ("D3333DD", "c0", "UPC-1", "open")]
    assert world.statuses() == expected
    # the same block written again (a transfer, say): still one task each
    world.writer.upsert(_entry("UPC-1", scope=["HLI", "WDI"]))
    world.lists.put("HLI", "B1111BB", _contacts(PHONE, "01632 960001", "01632 960009"))
    sweeper.run_until_idle()
    assert world.statuses() == expected


def test_exemptions_scope_and_revocation(world: World) -> None:
    world.lists.put("HLI", "B1111BB", _contacts(PHONE))
    world.lists.put("MDI", "C2222CC", _contacts(PHONE))
    sweeper = world.sweeper()
    sweeper.run_until_idle()
    exempt = [{"prisoner": "B1111BB", "identifier": PHONE, "reason": "shared household number"}]
    world.writer.upsert(_entry("UPC-1", scope=["HLI", "MDI"], exemptions=exempt))
    sweeper.run_until_idle()
    assert world.statuses() == [("C2222CC", "c0", "UPC-1", "open")]
    # scope narrowed to HLI: the MDI task is no longer needed
    world.writer.upsert(_entry("UPC-1", scope=["HLI"], exemptions=exempt))
    sweeper.run_until_idle()
    assert world.statuses() == [("C2222CC", "c0", "UPC-1", "no_longer_needed")]
    world.writer.upsert(_entry("UPC-1", scope=["MDI"]))
    sweeper.run_until_idle()
    assert world.statuses() == [("C2222CC", "c0", "UPC-1", "open")]
    world.writer.remove("UPC-1")
    sweeper.run_until_idle()
    assert world.statuses() == [("C2222CC", "c0", "UPC-1", "no_longer_needed")]


def test_the_identifier_index_follows_list_writes(world: World) -> None:
    phones = "p:+447700900123"
    world.lists.put("HLI", "B1111BB", _contacts(PHONE))
    assert world.lists.lists_holding([phones]) == {"HLI:B1111BB"}
    assert world.lists.put("HLI", "B1111BB", _contacts(PHONE)).changed is False  # idempotent
    world.lists.put("HLI", "B1111BB", _contacts("01632 960001"))
    assert world.lists.lists_holding([phones]) == set()
    world.lists.put("HLI", "B1111BB", _contacts(PHONE))
    assert world.lists.delete("HLI", "B1111BB")
    assert world.lists.lists_holding([phones]) == set()
    # an emergency or legal-advice number is stored but never indexed
    world.lists.put("HLI", "B1111BB", _contacts("999", "0345 345 4345"))
    assert world.client.smembers(KEYS.contact_held("HLI:B1111BB")) == set()


class Crash(Exception):
    pass


def _crash_after(n: int) -> Any:
    seen: list[object] = []

    def hook(item: object) -> None:
        seen.append(item)
        if len(seen) == n:
            raise Crash

    return hook


def test_a_sweep_that_dies_mid_way_resumes_without_losing_or_doubling(world: World) -> None:
    for i in range(5):
        world.lists.put("HLI", f"B{i}111BB", _contacts(PHONE, f"01632 96000{i}"))
    sweeper = world.sweeper()
    sweeper.run_until_idle()
    for i in range(4):
        world.writer.upsert(_entry(f"UPC-{i}", phone=f"01632 96000{i}"))
    world.writer.upsert(_entry("UPC-9"))
    dying = world.sweeper(SweepHooks(after_change=_crash_after(2)))
    with pytest.raises(Crash):
        dying.run_until_idle()
    progress = world.client.hgetall(KEYS.contacts_sweep)
    assert progress["version"] == str(int(world.client.hget(KEYS.meta, "version")) - 3)
    world.sweeper().run_until_idle()  # another gateway takes over (same lease owner here)
    expected = sorted(
        [(f"B{i}111BB", "c0", "UPC-9", "open") for i in range(5)]
        + [(f"B{i}111BB", "c1", f"UPC-{i}", "open") for i in range(4)]
    )
    assert world.statuses() == expected
    # a list sweep that dies after writing tasks but before removing its marks: still marked
    for i in range(5):
        world.lists.put("HLI", f"B{i}111BB", _contacts(f"01632 96000{i}"))
    dying = world.sweeper(SweepHooks(after_list=_crash_after(2)))
    with pytest.raises(Crash):
        dying.run_until_idle()
    assert world.client.hlen(KEYS.contacts_dirty) == 5
    world.sweeper().run_until_idle()
    assert world.client.hlen(KEYS.contacts_dirty) == 0
    closed = [s for s in world.statuses() if s[2] == "UPC-9"]
    assert closed == [(f"B{i}111BB", "c0", "UPC-9", "removed") for i in range(5)]


def test_redis_dying_mid_sweep_loses_nothing(redis_server: RedisFactory) -> None:
    server = redis_server(persistence=True)
    world = World(server.client())
    for i in range(3):
        world.lists.put("HLI", f"B{i}111BB", _contacts(PHONE))
    world.lists.put("HLI", "B9111BB", _contacts("01632 960001"))
    world.sweeper().run_until_idle()
    world.writer.upsert(_entry("UPC-1"))
    world.writer.upsert(_entry("UPC-2", phone="01632 960001"))
    killed: list[object] = []

    def kill_redis(change: object) -> None:
        if not killed:
            killed.append(change)
            server.restart(kill=True)  # SIGKILL; AOF with fsync always keeps what was acknowledged

    with contextlib.suppress(redis.ConnectionError):
        world.sweeper(SweepHooks(after_change=kill_redis)).run_until_idle()
    assert killed
    world.sweeper().run_until_idle()
    assert world.statuses() == sorted(
        [(f"B{i}111BB", "c0", "UPC-1", "open") for i in range(3)] + [("B9111BB", "c0", "UPC-2", "open")]
    )
    assert world.client.hget(KEYS.contacts_sweep, "version") == world.client.hget(KEYS.meta, "version")


def test_marked_lists_are_found_after_the_first_buckets_are_swept(world: World) -> None:
    """HSCAN from the start returns nothing once the buckets it visits first are empty (10 x
    COUNT of them at most): the sweeper must keep scanning, or the remaining lists never sweep.
    Found by bench_contacts (a full sweep stopped after 3,129 of 100,000 lists)."""
    marks = {f"HLI:A{i:04d}BC": "1" for i in range(5000)}  # a hashtable encoding, 8,192 buckets
    world.client.hset(KEYS.contacts_dirty, mapping=marks)
    in_scan_order: list[str] = []
    cursor = 0
    while True:
        cursor, page = world.client.hscan(KEYS.contacts_dirty, cursor, count=500)
        in_scan_order += list(page)
        if cursor == 0:
            break
    world.client.hdel(KEYS.contacts_dirty, *in_scan_order[:1000])  # the first ~1,600 buckets emptied
    assert world.client.hscan(KEYS.contacts_dirty, 0, count=20)[1] == {}  # what one scan step sees
    found, _ = world.lists.dirty(20)
    assert len(found) == 20 and all(lid in in_scan_order[1000:] for lid, _ in found)


BLOCKED_AT = {"lines": ["14 High Street", "Hull"], "postcode": "HU1 2AB"}


def _at(postcode: str, town: str = "Hull") -> Any:
    address = {"lines": ["14 High Street", town], "postcode": postcode}
    return contacts_from_list([{"id": "c0", "name": "Pat", "addresses": [address], "approved": True}])


def test_a_new_block_at_an_address_finds_lists_whose_postcode_is_mistyped_or_unreadable(world: World) -> None:
    """The check before approval finds a blocked address by its "14 HIGH ST" phrase as well as its
    postcode, so it holds a contact whose postcode is mistyped or unreadable; the sweep looked lists
    up by postcode only, and such a contact got no task when the block went live."""
    postcodes = {"B1111BB": "HU1 2AB", "C2222CC": "HU1 2AX", "D3333DD": "HU1 2A", "E4444EE": "n/a"}
    for prisoner, postcode in postcodes.items():
        world.lists.put("HLI", prisoner, _at(postcode))
    world.lists.put("HLI", "F5555FF", _at("LS1 1AA", town="Leeds"))  # another town's 14 High Street
    sweeper = world.sweeper()
    sweeper.run_until_idle()
    protected = [{"name": "Jane Smith", "addresses": [BLOCKED_AT]}]
    world.writer.upsert(_entry("UPC-1", protected=protected))
    stats = sweeper.run_until_idle()
    assert stats.changes == 1 and stats.lists == 0  # found by the incremental sweep, not a list write
    live = world.live()
    decisions = {
        lst.prisoner: check_contact(live, "HLI", lst.prisoner, lst.contacts[0]).decision
        for lst in world.lists.get_many([f"HLI:{p}" for p in [*postcodes, "F5555FF"]])
        if lst is not None
    }
    assert decisions == {"B1111BB": "block", "C2222CC": "hold", "D3333DD": "hold", "E4444EE": "hold",
                         "F5555FF": "allow"}  # fmt: skip
    tasks = {t["prisoner"]: (t["kind"], t["strength"], t["status"]) for t in world.tasks.search(limit=100)[0]}
    assert tasks == {
        "B1111BB": ("address", "strong", "open"),
        "C2222CC": ("address", "partial", "open"),
        "D3333DD": ("address", "partial", "open"),
        "E4444EE": ("address", "partial", "open"),
    }


def test_lists_keyed_before_address_phrases_are_keyed_again_and_swept(world: World) -> None:
    """An index written before form 2 holds postcodes only: the sweeper re-keys every list once
    and sweeps them all, so a block that went live meanwhile still gets its tasks."""
    lid, phrase = "HLI:C2222CC", "ap:14 HIGH ST"
    world.lists.put("HLI", "C2222CC", _at("HU1 2AX"))
    world.sweeper().run_until_idle()
    assert world.lists.lists_holding([phrase]) == {lid}
    world.client.srem(KEYS.contact_ident_prefix + phrase, lid)  # as form 1 wrote it
    world.client.srem(KEYS.contact_held(lid), phrase)
    world.client.hdel(KEYS.contacts_sweep, "form")
    world.writer.upsert(_entry("UPC-1", protected=[{"name": "Jane Smith", "addresses": [BLOCKED_AT]}]))
    world.sweeper().run_until_idle()
    assert world.lists.lists_holding([phrase]) == {lid}
    assert world.statuses() == [("C2222CC", "c0", "UPC-1", "open")]
    assert world.client.hget(KEYS.contacts_sweep, "form") == "2"


def test_a_republish_that_narrows_a_block_closes_its_tasks_as_no_longer_needed(world: World) -> None:
    """A new epoch (``import --replace``) sweeps every list again. A task whose list is unchanged
    but whose block no longer applies there (scope narrowed, an exemption) was closed as
    "removed", which says the prison took the contact off; only a list written since the task
    opened can have removed it."""
    world.lists.put("HLI", "B1111BB", _contacts(PHONE))
    world.lists.put("HLI", "E5555EE", _contacts(PHONE))
    world.lists.put("MDI", "C2222CC", _contacts(PHONE))
    world.lists.put("MDI", "F6666FF", _contacts(PHONE))
    world.lists.put("WDI", "D3333DD", _contacts("01632 960002"))
    sweeper = world.sweeper()
    sweeper.run_until_idle()
    world.writer.upsert(_entry("UPC-1", scope=["HLI", "MDI"]))
    world.writer.upsert(_entry("UPC-2", phone="01632 960002"))
    sweeper.run_until_idle()
    assert [s[3] for s in world.statuses()] == ["open"] * 5
    exempt = [{"prisoner": "F6666FF", "identifier": PHONE, "reason": "shared household number"}]
    world.writer.republish([_entry("UPC-1", scope=["HLI"], exemptions=exempt)], allow_shrink=True)
    world.lists.put("HLI", "E5555EE", _contacts("01632 960001"))  # the prison took it off
    sweeper.run_until_idle()
    assert world.statuses() == [
        ("B1111BB", "c0", "UPC-1", "open"),
        ("C2222CC", "c0", "UPC-1", "no_longer_needed"),  # out of scope now
        ("D3333DD", "c0", "UPC-2", "no_longer_needed"),  # its block is gone
        ("E5555EE", "c0", "UPC-1", "removed"),
        ("F6666FF", "c0", "UPC-1", "no_longer_needed"),  # exempt now
    ]


def test_a_list_written_again_with_the_match_still_on_it_has_not_removed_it(world: World) -> None:
    """The task remembers the last version of its list the match was seen in: a list written
    again for another contact, then a block narrowed by a republish, is no removal."""
    world.lists.put("MDI", "C2222CC", _contacts(PHONE))
    sweeper = world.sweeper()
    sweeper.run_until_idle()
    world.writer.upsert(_entry("UPC-1", scope=["HLI", "MDI"]))
    sweeper.run_until_idle()
    world.lists.put("MDI", "C2222CC", _contacts(PHONE, "01632 960001"))
    sweeper.run_until_idle()
    assert world.tasks.search(limit=10)[0][0]["list_version"] == 2
    world.writer.republish([_entry("UPC-1", scope=["HLI"])], allow_shrink=True)
    sweeper.run_until_idle()
    assert world.statuses() == [("C2222CC", "c0", "UPC-1", "no_longer_needed")]


def test_each_batch_of_a_full_sweep_scans_on_from_where_the_last_stopped(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's HSCAN goes on from the last batch's cursor: scanning from the start each time
    walked every bucket the sweep had emptied, so a batch's scan grew with the lists already
    swept (a full sweep quadratic in round trips). Counted in HSCAN calls, not time."""
    monkeypatch.setattr("cases.sweep.LIST_BATCH", 20)
    lists = 4000
    # marks of lists since deleted: each swept as a deleted list, its mark then removed
    world.client.hset(KEYS.contacts_dirty, mapping={f"HLI:A{i:04d}BC": "1" for i in range(lists)})
    world.client.config_resetstat()
    stats = world.sweeper().run_until_idle()
    calls = int(world.client.info("commandstats")["cmdstat_hscan"]["calls"])
    batches = lists // 20
    assert stats.lists == lists and world.client.hlen(KEYS.contacts_dirty) == 0
    assert calls <= 2 * batches + 4, (calls, batches)


def test_the_sweep_gives_way_after_every_contact_it_checks(world: World) -> None:
    """The sweep's Python work offers the GIL to the event loop's thread (GiveWay) after each
    contact checked, both in a list's sweep and in a new block's: no batch runs a switch
    interval without letting the loop in. Counted, with a GiveWay that pauses at every call."""
    pauses: list[float] = []
    give_way = GiveWay(every=0.0, sleep=pauses.append)
    world.lists.put("HLI", "B1111BB", _contacts(PHONE, "01632 960001", "01632 960002"))
    world.lists.put("MDI", "C2222CC", _contacts("01632 960003", PHONE))
    sweeper = Sweeper(world.client, PROFILE, world.live, owner="t", lease_ms=60_000, give_way=give_way)
    sweeper.run_until_idle()
    assert len(pauses) >= 5  # every contact of both lists
    pauses.clear()
    world.writer.upsert(_entry("UPC-1"))
    sweeper.run_until_idle()
    assert len(pauses) >= 2  # the contacts of the two lists holding the new block's number
    assert len(world.tasks.of_reference("UPC-1")) == 2


def test_the_cyclic_collector_is_paused_for_a_batch_and_back_after(world: World) -> None:
    """A batch's tens of thousands of objects (lists, contacts, checks) are no cycles: the
    collector, run over them in the sweep's thread, held the GIL in one call; it is paused for
    the batch (sync.offloop.collector.gc_paused) and on again after."""
    enabled: list[bool] = []
    world.lists.put("HLI", "B1111BB", _contacts(PHONE))
    sweeper = world.sweeper(SweepHooks(after_list=lambda _lid: enabled.append(gc.isenabled())))
    assert gc.isenabled()
    sweeper.run_until_idle()
    assert enabled == [False]
    assert gc.isenabled()


def test_no_collection_runs_while_every_list_is_marked_again(world: World) -> None:
    """Marking every list again (first run, new epoch) reads their versions in pipelines of
    5,000: the collector, run over a pipeline's commands and replies, held the GIL up to 15 ms
    in the sweep's thread (seen with benchmarks/stalltrace.py at 100k lists). It is paused while
    a batch is marked. Counted with a low threshold, so collections would certainly run (one may
    run as a batch's pause begins and after it ends: there is one batch here)."""
    world.lists.put_many([("HLI", f"B{i:04d}BB", _contacts(PHONE)) for i in range(50)])
    collections: list[int] = []

    def counted(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    thresholds = gc.get_threshold()
    gc.set_threshold(5)
    gc.callbacks.append(counted)
    try:
        marked = world.lists.mark_all_dirty()
    finally:
        gc.callbacks.remove(counted)
        gc.set_threshold(*thresholds)
    assert marked == 50
    assert len(collections) <= 2, collections
