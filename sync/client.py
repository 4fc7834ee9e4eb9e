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


def _options(settings: SyncSettings, name: str) -> dict[str, Any]:
    return {
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.connect_timeout,
        "decode_responses": True,
        "client_name": name,
    }


def async_client(url: str, settings: SyncSettings, *, name: str = "nocontact-sync") -> AsyncRedis:
    return aioredis.Redis.from_url(url, retry=AsyncRetry(NoBackoff(), 0), **_options(settings, name))


def sync_client(url: str, settings: SyncSettings, *, name: str = "nocontact-writer") -> SyncRedis:
    return redis.Redis.from_url(url, retry=Retry(NoBackoff(), 0), **_options(settings, name))
