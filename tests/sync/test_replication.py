from __future__ import annotations

import pytest
import redis.asyncio

from sync.errors import NotReplicated
from sync.replication import Replication
from tests.support.redis_server import RedisFactory, frozen, replicate
from tests.support.sync_data import KEYS


async def test_an_async_acknowledgement_covers_writes_made_on_another_pooled_connection(
    redis_server: RedisFactory,
) -> None:
    """The hit shipper's WAIT, on a shared asyncio client: a connection that wrote nothing must
    still wait for the writes the others made."""
    primary, replica = redis_server(), redis_server()
    replicate(primary, replica)
    asking = redis.asyncio.Redis.from_url(primary.url)
    try:
        await asking.ping()
        with primary.client() as writing, frozen(replica):
            writing.xadd(KEYS.hits, {"id": "h1"})
            with pytest.raises(NotReplicated, match="reached 0 of 1 replica"):
                await Replication(1, 100, KEYS).confirm_async(asking)
        await Replication(1, 5000, KEYS).confirm_async(asking)
        with replica.client() as follower:
            assert follower.xlen(KEYS.hits) == 1
        await Replication(0, 1, KEYS).confirm_async(asking)  # no replicas asked for: no WAIT at all
    finally:
        await asking.aclose()
