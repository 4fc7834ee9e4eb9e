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


def cut_client(url: str, settings: SyncSettings, *, name: str = "nocontact-cut") -> SyncRedis:
    """For ``sync.cut.read_cut`` in a worker thread: RESP2, with HGETALL's reply left a flat list.
    Made into one dict at once (redis-py's callback, or its RESP3 parser as the map arrives), a
    million entries resize a single dict in one 20-30 ms GIL-holding step, stalling the loop."""
    client = redis.Redis.from_url(url, retry=Retry(NoBackoff(), 0), protocol=2, **_options(settings, name))
    client.set_response_callback("HGETALL", _as_sent)
    return client


def _as_sent(response: Any, **_options: Any) -> Any:
    return response
