"""The hit spool and its shipper against real redis-server processes: group commit, durability,
a Redis outage while hits are recorded, idempotent shipping by hit id."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from gateway.hitlog.model import Hit
from gateway.hitlog.shipper import Shipper
from gateway.hitlog.spool import SCHEMA, Spool
from gateway.ulid import ULID_RE, new_ulid, ulid_ms
from sync.keys import Keys
from tests.support.gateway_data import make_hit
from tests.support.redis_server import RedisFactory

KEYS = Keys("test:")


def test_ulid() -> None:
    ids = [new_ulid(1_700_000_000_000 + i) for i in range(100)]
    assert all(ULID_RE.fullmatch(i) for i in ids)
    assert ids == sorted(ids) and ulid_ms(ids[5]) == 1_700_000_000_005
    assert len({new_ulid(5) for _ in range(1000)}) == 1000


def test_hit_round_trips_through_the_stream_fields() -> None:
    hit = make_hit()
    fields = hit.stream_fields()
    assert Hit.from_stream(dict(zip(fields[::2], fields[1::2], strict=True))) == hit
    assert Hit.from_dict(hit.to_dict()) == hit


async def test_group_commit_and_durability(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "hits.sqlite3")
    spool.open()
    hits = [make_hit(i) for i in range(200)]
    try:
        await asyncio.gather(*(spool.record(h) for h in hits))
        assert spool.commits < 200  # one fsync covered many hits
        assert await spool.backlog() == 200
    finally:
        spool.close()
    with sqlite3.connect(tmp_path / "hits.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert {r[0] for r in db.execute("SELECT id FROM hits")} == {h.id for h in hits}


@pytest.mark.parametrize("count", [1, 50])
async def test_a_failed_commit_fails_every_hit_of_the_batch(tmp_path: Path, count: int) -> None:
    spool = Spool(tmp_path / "hits.sqlite3")
    spool.open()
    try:
        await spool.call(lambda db: db.execute("DROP TABLE hits"))  # every INSERT now fails
        recording = (spool.record(make_hit(i)) for i in range(count))
        results = await asyncio.gather(*recording, return_exceptions=True)
        assert all(isinstance(r, sqlite3.Error) for r in results)
        await spool.call(lambda db: db.executescript(SCHEMA))
        await spool.record(make_hit(0))  # the thread and its connection go on
        assert await spool.backlog() == 1
    finally:
        spool.close()


async def _until(predicate: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.02)


async def test_hits_recorded_while_redis_is_down_reach_the_stream_once(
    tmp_path: Path, redis_server: RedisFactory
) -> None:
    server = redis_server(persistence=True)
    client = aioredis.Redis.from_url(server.url, socket_timeout=1, socket_connect_timeout=1)
    spool = Spool(tmp_path / "hits.sqlite3")
    spool.open()
    shipper = Shipper(spool, client, KEYS, batch=50, retry_max=0.2)
    shipper.start()
    try:
        first = make_hit(1)
        await spool.record(first)
        shipper.wake()
        await _until(lambda: _stream_len(client))
        server.kill()
        during = [make_hit(i) for i in range(2, 120)]
        await asyncio.gather(*(spool.record(h) for h in during))
        shipper.wake()
        await _until(lambda: _errors(shipper))
        assert await spool.backlog() == len(during)
        server.start()
        await _until(lambda: _backlog_empty(spool))
        sync = redis.Redis.from_url(server.url, decode_responses=True)
        entries = sync.xrange(KEYS.hits)
        ids = [fields["id"] for _, fields in entries]
        assert sorted(ids) == sorted([first.id] + [h.id for h in during])  # all there, none twice
        assert sync.hlen(KEYS.hit_ids) == len(ids)
        assert Hit.from_stream(entries[0][1]) == first
    finally:
        await shipper.stop()
        spool.close()
        await client.aclose()


async def test_shipping_is_idempotent_by_hit_id(tmp_path: Path, redis_url: str) -> None:
    """A crash between Redis's acknowledgement and the spool's shipped mark ships the batch again:
    the stream must still hold each hit once."""
    client = aioredis.Redis.from_url(redis_url)
    spool = Spool(tmp_path / "hits.sqlite3")
    spool.open()
    try:
        shipper = Shipper(spool, client, KEYS)
        hits = [make_hit(i) for i in range(5)]
        for hit in hits:
            await spool.record(hit)
        assert await shipper.ship_once() == 5
        await spool.call(lambda db: db.execute("UPDATE hits SET shipped_ms = NULL"))  # "lost" the mark
        assert await shipper.ship_once() == 5
        assert await client.xlen(KEYS.hits) == 5 and shipper.shipped == 5
        assert await shipper.ship_once() == 0
    finally:
        spool.close()
        await client.aclose()


async def test_hits_stay_unshipped_until_a_replica_holds_them(
    tmp_path: Path, redis_server: RedisFactory
) -> None:
    """Marked shipped only once WAIT sees them on a replica: a failover right after cannot lose a
    hit the spool no longer offers."""
    primary = redis_server()
    client = aioredis.Redis.from_url(primary.url)
    spool = Spool(tmp_path / "hits.sqlite3")
    spool.open()
    try:
        shipper = Shipper(spool, client, KEYS, replicas=1, wait_ms=100)
        await spool.record(make_hit(1))
        with pytest.raises(redis.RedisError, match="not yet on 1 replica"):
            await shipper.ship_once()
        assert await spool.backlog() == 1  # in the stream, but not acknowledged: offered again

        replica = redis_server()
        await client.config_set("repl-diskless-sync-delay", 0)
        with replica.client() as follower:
            follower.replicaof("127.0.0.1", primary.port)
            await _until(lambda: _link_up(follower))
            shipper.wait_ms = 5000
            assert await shipper.ship_once() == 1
            assert await spool.backlog() == 0 and follower.xlen(KEYS.hits) == 1  # once
    finally:
        spool.close()
        await client.aclose()


async def _link_up(client: redis.Redis) -> bool:
    return bool(client.info("replication").get("master_link_status") == "up")


async def _stream_len(client: aioredis.Redis) -> bool:
    return bool(await client.xlen(KEYS.hits))


async def _errors(shipper: Shipper) -> bool:
    return shipper.errors > 0


async def _backlog_empty(spool: Spool) -> bool:
    return await spool.backlog() == 0
