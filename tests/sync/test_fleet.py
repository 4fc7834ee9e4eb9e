"""Heartbeats and "is this block enforced on every live gateway?", on Redis's clock."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from sync.follower import FollowerHooks
from sync.heartbeat import Heartbeat
from sync.status import SyncState, SyncStatus
from sync.store import FleetStore
from tests.support.sync_data import KEYS, FollowerFactory, entries, make_entry


async def _until(predicate, timeout: float = 10.0):
    async with asyncio.timeout(timeout):
        while True:
            result = await predicate()
            if result:
                return result
            await asyncio.sleep(0.05)


async def test_enforcement_across_gateways(redis_url, make_follower: FollowerFactory, make_writer) -> None:
    writer = make_writer(redis_url)
    writer.upsert_many(entries(3))
    paused = False
    resume = asyncio.Event()

    async def before_read() -> None:
        if paused:
            await resume.wait()

    a = make_follower(redis_url, name="a")
    b = make_follower(redis_url, name="b", hooks=FollowerHooks(before_read=before_read))
    await a.start()
    await b.start()
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    store = FleetStore(client, KEYS)
    try:
        first = writer.upsert(make_entry(10))

        async def everywhere_first():
            result = await store.enforcement(version=first.version, epoch=first.epoch)
            return result if result.everywhere else None

        result = await _until(everywhere_first)
        assert sorted(result.enforced) == ["gw-a", "gw-b"] and result.summary() == "2 of 2 live gateways"

        paused = True
        await asyncio.sleep(0.3)  # b finishes the XREAD it is in, then waits at the gate
        second = writer.upsert(make_entry(11))
        await a.wait_for_version(second.version)

        async def a_only():
            result = await store.enforcement(reference=make_entry(11).reference)
            return result if result.enforced == ("gw-a",) else None

        result = await _until(a_only)
        assert result.version == second.version and result.lagging == ("gw-b",) and not result.everywhere
        older = await store.enforcement(reference=make_entry(10).reference)
        assert older.version == first.version and older.everywhere
        absent = await store.enforcement(reference="UPC-NONE")
        assert absent.version is None and not absent.everywhere

        paused = False
        resume.set()
        await b.wait_for_version(second.version)

        async def everywhere_second():
            result = await store.enforcement()
            return result if result.everywhere and result.version == second.version else None

        await _until(everywhere_second)
        live = (await store.live_gateways()).gateways
        assert {(g.gateway_id, g.state, g.version) for g in live} == {
            ("gw-a", "valid", second.version),
            ("gw-b", "valid", second.version),
        }

        await a.stop()  # leaves cleanly: gone at once
        live = (await store.live_gateways()).gateways
        assert [g.gateway_id for g in live] == ["gw-b"]
    finally:
        await client.aclose()


async def test_a_silent_gateway_expires_on_redis_time(redis_url) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    store = FleetStore(client, KEYS)
    status = SyncStatus(SyncState.VALID, "in sync", epoch="e", version=5, serving=True)
    ghost = Heartbeat(KEYS, "ghost", lambda: status, interval=10, ttl=0.3)
    try:
        await ghost.beat(client)
        live = (await store.live_gateways()).gateways
        assert [(g.gateway_id, g.version, g.epoch) for g in live] == [("ghost", 5, "e")]
        assert 0 < await client.pttl(KEYS.gateway("ghost")) <= 300

        async def gone():
            live = (await store.live_gateways()).gateways
            return not live

        await _until(gone, 5)
        now_s, now_us = await client.time()
        expiry = await client.zscore(KEYS.gateways, "ghost")  # pruned by the next heartbeat, not by reads
        assert expiry is not None and expiry < now_s * 1000 + now_us // 1000  # expired on Redis's clock
    finally:
        await client.aclose()


async def test_a_new_version_is_reported_at_once_not_at_the_next_heartbeat(
    redis_url, make_follower: FollowerFactory, make_writer
) -> None:
    """The heartbeat interval is long here: "enforced on N of N" still sees a swap within a round
    trip, because a swap makes the follower beat at once."""
    writer = make_writer(redis_url)
    writer.upsert_many(entries(3))
    follower = make_follower(redis_url, name="a", heartbeat_interval=60.0, heartbeat_ttl=120.0)
    await follower.start()
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    store = FleetStore(client, KEYS)
    try:
        for i in range(3):
            written = writer.upsert(make_entry(20 + i))

            async def everywhere(version: int = written.version, epoch: str = written.epoch):
                result = await store.enforcement(version=version, epoch=epoch)
                return result if result.everywhere and result.enforced == ("gw-a",) else None

            await _until(everywhere, timeout=5.0)
    finally:
        await client.aclose()
