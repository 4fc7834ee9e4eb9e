"""The case store against a real redis-server: atomic transitions, indexes, the blocklist entry
kept in step, breach links to real hits."""

from __future__ import annotations

import datetime as dt
import functools
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from cases.errors import Forbidden, InvalidTransition, NotFound
from cases.hitindex import HitIndex
from cases.store import CaseStore
from cases.workflow import Action
from config import load_profile
from matcher.entries import Entry, Exemption
from matcher.errors import ValidationError
from matcher.index import check_entry
from sync.keys import Keys
from sync.settings import SyncSettings
from sync.writer import Writer
from tests.support.case_data import CASEWORKER, HLI_STAFF, WDI_STAFF, make_request

A = Action
PROFILE = load_profile(environ={})


class Clock:
    def __init__(self, start: str) -> None:
        self.now = dt.datetime.fromisoformat(start).replace(tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url, decode_responses=True)
    yield c
    c.close()


@pytest.fixture
def clock() -> Clock:
    return Clock("2026-04-02T10:00:00")


@pytest.fixture
def store(client: redis.Redis, clock: Clock, tmp_path: Path) -> CaseStore:
    writer = Writer.configured(
        client, SyncSettings(), validate=functools.partial(check_entry, profile=PROFILE)
    )
    hits = HitIndex(tmp_path / "hitindex.sqlite3", client, Keys())
    return CaseStore(client, PROFILE, clock=clock, writer=writer, hits=hits)


def entry_in_store(client: redis.Redis, reference: str) -> Entry | None:
    raw = client.hget(Keys().entries, reference)
    return None if raw is None else Entry.from_dict(json.loads(raw))


def authorised(store: CaseStore, **changes: Any) -> str:
    case = store.create(make_request(**changes), CASEWORKER)
    store.act(case.id, A.SEND, CASEWORKER)
    store.act(case.id, A.AUTHORISE, HLI_STAFF)
    return case.id


def test_create_issues_ids_and_records_history(store: CaseStore, client: redis.Redis) -> None:
    first = store.create(make_request(), CASEWORKER)
    second = store.create(make_request(), HLI_STAFF)
    assert (first.id, second.id) == ("UPC-2026-000001", "UPC-2026-000002")
    loaded = store.get(first.id)
    assert loaded == first
    assert loaded.send_due == dt.date(2026, 4, 7)  # Easter
    assert client.llen(Keys().case_history(first.id)) == 1
    assert [c.id for c in store.by_establishment("HLI")] == [first.id, second.id]
    assert [c.id for c in store.by_prisoner("A1234BC")] == [first.id, second.id]


def test_create_refuses_an_emergency_number_naming_the_field(store: CaseStore, client: redis.Redis) -> None:
    with pytest.raises(ValidationError) as err:
        store.create(make_request(protected=[{"name": "J S", "phones": ["07700 900123", "999"]}]), CASEWORKER)
    assert err.value.field == "protected[0].phones[1]"
    assert client.keys("*case:*") == []


def test_authorise_enforces_and_revoke_removes(store: CaseStore, client: redis.Redis) -> None:
    case_id = authorised(store)
    entry = entry_in_store(client, case_id)
    assert entry is not None and entry == store.get(case_id).entry()
    version = int(client.hget(Keys().meta, "version"))
    store.act(case_id, A.REVOKE, CASEWORKER, reason="review: no longer necessary")
    assert entry_in_store(client, case_id) is None
    assert int(client.hget(Keys().meta, "version")) == version + 1
    assert client.sismember(Keys().cases_open, case_id) == 0
    history = [json.loads(h)["action"] for h in client.lrange(Keys().case_history(case_id), 0, -1)]
    assert history == ["submit", "send", "authorise", "revoke"]
    with pytest.raises(InvalidTransition):
        store.act(case_id, A.AUTHORISE, CASEWORKER)
    assert len(store.get(case_id).history) == 4  # a refused action leaves no trace


def test_refusals_write_nothing(store: CaseStore, client: redis.Redis) -> None:
    case = store.create(make_request(), CASEWORKER)
    before = client.get(Keys().case(case.id))
    with pytest.raises(Forbidden):
        store.act(case.id, A.SEND, HLI_STAFF)
    with pytest.raises(NotFound):
        store.act("UPC-2026-999999", A.SEND, CASEWORKER)
    assert client.get(Keys().case(case.id)) == before


def test_transfer_moves_the_indexes_and_the_scope(store: CaseStore, client: redis.Redis) -> None:
    case_id = authorised(store, scope=["HLI"])
    store.act(case_id, A.TRANSFER, HLI_STAFF, establishment="LWI")
    store.act(case_id, A.TRANSFER, HLI_STAFF, establishment="WDI")  # the newer destination wins
    # Recorded, not accepted: held at HLI, listed at WDI too (which accepts it), no longer at LWI.
    assert [c.id for c in store.by_establishment("HLI")] == [case_id]
    assert [c.id for c in store.by_establishment("WDI")] == [case_id]
    assert store.by_establishment("LWI") == []
    stored = entry_in_store(client, case_id)
    assert stored is not None and stored.scope == frozenset({"HLI", "LWI", "WDI"})
    store.act(case_id, A.ACCEPT_TRANSFER, WDI_STAFF)
    assert store.by_establishment("HLI") == []
    assert [c.id for c in store.by_establishment("WDI")] == [case_id]
    with pytest.raises(Forbidden):
        store.act(case_id, A.RELEASE, HLI_STAFF, reason="x")
    store.act(case_id, A.RELEASE, WDI_STAFF, reason="handed to COM J Bloggs, Hull PDU")
    assert entry_in_store(client, case_id) is None


def test_exemption_reaches_the_entry(store: CaseStore, client: redis.Redis) -> None:
    case_id = authorised(store)
    assert entry_in_store(client, case_id).exemptions == ()  # type: ignore[union-attr]
    store.act(
        case_id,
        A.ADD_EXEMPTION,
        CASEWORKER,
        reason="shared household",
        exemption=Exemption("B2345CD", "07700 900123", "shared household phone"),
    )
    stored = entry_in_store(client, case_id)
    assert stored is not None and [e.prisoner for e in stored.exemptions] == ["B2345CD"]


def test_listings(store: CaseStore, clock: Clock) -> None:
    late = store.create(make_request(), CASEWORKER)  # send due Tue 7 April
    no_consent = authorised(store, pathway=4, consent="not_given", rationale="intelligence")
    clock.now = dt.datetime(2026, 4, 8, 9, tzinfo=dt.UTC)
    assert [c.id for c in store.overdue()] == [late.id]
    assert store.reviews_due() == []
    store.act(no_consent, A.TRANSFER, CASEWORKER, establishment="WDI")
    store.act(no_consent, A.ACCEPT_TRANSFER, WDI_STAFF)  # review due 10 April
    clock.now = dt.datetime(2026, 4, 10, 9, tzinfo=dt.UTC)
    assert [c.id for c in store.reviews_due()] == [no_consent]
    store.act(no_consent, A.REVIEW, WDI_STAFF, reason="still necessary")
    assert store.reviews_due() == []


def test_concurrent_transitions_serialise(store: CaseStore, client: redis.Redis) -> None:
    case_id = authorised(store)
    errors: list[Exception] = []

    def review(i: int) -> None:
        try:
            store.act(case_id, A.REVIEW, CASEWORKER, reason=f"review {i}")
        except Exception as exc:  # pragma: no cover - shown in the assertion
            errors.append(exc)

    threads = [threading.Thread(target=review, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    history = store.get(case_id).history
    assert len(history) == 3 + 8
    assert len(client.lrange(Keys().case_history(case_id), 0, -1)) == 11


def add_hit(client: redis.Redis, hit_id: str, reference: str, prisoner: str, relay: bool) -> None:
    matches = json.dumps([{"reference": reference, "kind": "phone", "strength": "strong", "relay": relay}])
    client.xadd(
        Keys().hits,
        {
            "id": hit_id,
            "time": "1775124000000",
            "establishment": "HLI",
            "prisoner": prisoner,
            "channel": "call",
            "decision": "block",
            "reference": reference,
            "kind": "phone",
            "relay": "1" if relay else "0",
            "gateway": "g1",
            "version": "3",
            "matches": matches,
        },
    )


def test_breach_links_hits_on_same_entry_and_prisoner(store: CaseStore, client: redis.Redis) -> None:
    case_id = authorised(store)
    other = authorised(store)
    add_hit(client, "H1", case_id, "A1234BC", relay=False)
    add_hit(client, "H2", case_id, "B2345CD", relay=True)
    add_hit(client, "H3", other, "A1234BC", relay=False)
    add_hit(client, "H4", case_id, "A1234BC", relay=False)
    case = store.report_breach(case_id, HLI_STAFF, prisoner=None, channel="call", reason="victim calls")
    assert case.breaches[-1].hits == ("H4", "H1")
    relay = store.report_breach(case_id, CASEWORKER, prisoner="B2345CD", channel="third_party", reason="x")
    assert relay.breaches[-1].hits == ("H2",)
    assert store.hit_pattern(case_id) == {"A1234BC": 2, "B2345CD": 1}
    with pytest.raises(ValidationError) as err:
        store.report_breach(case_id, CASEWORKER, prisoner=None, channel="call", reason="x", hits=["H3"])
    assert err.value.field == "hits[0]"
