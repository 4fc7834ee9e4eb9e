"""sync.switchover: a follower on a Sentinel URL reconnects as soon as the sentinels announce a new
primary, whatever its back-off has grown to; with no announcement its back-off is unchanged. Real
processes: a primary, two replicas and three sentinels (tests/support/sentinel.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from sync.follower import Follower
from sync.redis_url import StoreAddress, redis_client
from sync.status import Backoff
from sync.switchover import PROMOTED, SWITCHED, Switches, announced_service
from sync.writer import Writer
from tests.support.sentinel import SERVICE, SentinelCluster
from tests.support.sync_data import KEYS, make_entry

LONG = 600.0  # a back-off no test waits out: only an announcement ends it


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SentinelCluster]:
    cluster = SentinelCluster(tmp_path / "redis")
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def writer_for(url: str) -> tuple[Writer, redis.Redis]:
    client = redis_client(url, socket_timeout=5, decode_responses=True)
    return Writer(client, keys=KEYS, replicas=1, wait_ms=2000), client


def write_after_failover(url: str, i: int, timeout: float = 30.0) -> int:
    """Upsert entry `i` through the Sentinel URL, retried until the new primary takes it."""
    deadline = time.monotonic() + timeout
    while True:
        writer, client = writer_for(url)
        try:
            return writer.upsert(make_entry(i)).version
        except redis.RedisError:
            assert time.monotonic() < deadline, "the new primary never took a write"
            time.sleep(0.1)
        finally:
            client.close()


@pytest.mark.parametrize(
    ("channel", "data", "service"),
    [
        (SWITCHED, "nocontact 127.0.0.1 6379 127.0.0.1 6380", "nocontact"),
        (SWITCHED, "other 127.0.0.1 6379 127.0.0.1 6380", "other"),
        (PROMOTED, "master nocontact 127.0.0.1 6379", "nocontact"),
        (PROMOTED, "slave 127.0.0.1:6380 127.0.0.1 6380 @ nocontact 127.0.0.1 6379", None),
        (SWITCHED, "nocontact 127.0.0.1", None),
        ("+sdown", "master nocontact 127.0.0.1 6379", None),
    ],
)
def test_only_a_new_primary_for_a_service_is_an_announcement(
    channel: str, data: str, service: str | None
) -> None:
    assert announced_service(channel, data) == service


async def test_an_announcement_for_another_service_does_not_end_a_sleep() -> None:
    switches = Switches(StoreAddress.parse("redis+sentinel://127.0.0.1:1/nocontact"), backoff=Backoff(0.1, 1))
    assert not switches.heard(SWITCHED, "other 127.0.0.1 6379 127.0.0.1 6380")
    assert not await switches.sleep(0.01, since=0)
    assert switches.heard(SWITCHED, "nocontact 127.0.0.1 6379 127.0.0.1 6380")
    assert await switches.sleep(LONG, since=0)  # heard already: no sleep at all
    assert not await switches.sleep(0.01, since=1)


async def test_a_follower_reconnects_to_the_new_primary_at_once_whatever_its_back_off(
    cluster: SentinelCluster, make_follower: object
) -> None:
    version = write_after_failover(cluster.url, 1)
    follower: Follower = make_follower(  # type: ignore[operator]
        cluster.url, "a", backoff_initial=LONG, backoff_max=LONG, stale_after=LONG
    )
    await follower.start()
    await follower.wait_for_version(version, timeout=20)

    old = cluster.primary.port
    cluster.primary.kill()  # the follower's XREAD fails: it backs off LONG seconds
    await asyncio.to_thread(cluster.wait_for_failover, old)
    version = await asyncio.to_thread(write_after_failover, cluster.url, 2)
    status = await follower.wait_for_version(version, timeout=60)  # not LONG: the announcement woke it
    assert status.serving and follower.index is not None
    assert follower.index.entry(make_entry(2).reference) == make_entry(2)


async def test_a_primary_restarted_without_a_failover_is_not_announced(cluster: SentinelCluster) -> None:
    """The primary stopped and started again with no failover (a Redis that was down): nothing is
    announced, so a follower's back-off is not cut short."""
    for sentinel in cluster.sentinels:  # no failover while the primary is down
        with sentinel.client() as c:
            c.sentinel_set(SERVICE, "down-after-milliseconds", 600_000)
    switches = Switches(StoreAddress.parse(cluster.url), backoff=Backoff(0.05, 1), socket_timeout=2)
    listening = asyncio.create_task(switches.run())
    try:
        await asyncio.to_thread(write_after_failover, cluster.url, 1)
        cluster.primary.kill()
        await asyncio.to_thread(cluster.primary.start)
        await asyncio.to_thread(write_after_failover, cluster.url, 2)
        assert not await switches.sleep(1.0, since=0)
        assert switches.count == 0
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
