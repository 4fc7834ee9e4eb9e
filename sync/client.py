"""Redis clients as sync uses them: explicit socket timeouts, no hidden retries (the follower
reconnects itself with jittered backoff; a writer's caller sees the error)."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from sync.settings import SyncSettings

# The clients are typed Any on purpose: redis>=5 ships its own (non-generic) annotations, while the
# old types-redis stubs, when installed, make Redis generic; one spelling cannot satisfy both.
AsyncRedis = Any
SyncRedis = Any


def async_client(url: str, settings: SyncSettings, *, name: str = "nocontact-sync") -> AsyncRedis:
    client: AsyncRedis = aioredis.Redis.from_url(
        url,
        socket_timeout=settings.socket_timeout,
        socket_connect_timeout=settings.connect_timeout,
        retry=AsyncRetry(NoBackoff(), 0),
        decode_responses=True,
        client_name=name,
    )
    return client


def sync_client(url: str, settings: SyncSettings, *, name: str = "nocontact-writer") -> SyncRedis:
    client: SyncRedis = redis.Redis.from_url(
        url,
        socket_timeout=settings.socket_timeout,
        socket_connect_timeout=settings.connect_timeout,
        retry=Retry(NoBackoff(), 0),
        decode_responses=True,
        client_name=name,
    )
    return client
