"""Each gateway's heartbeat in Redis: its id, state, applied epoch and version, with a TTL.

The expiry is computed from Redis ``TIME`` inside the script, so liveness is judged on the store's
clock alone, never a gateway's wall clock against another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import redis

from sync.client import AsyncRedis
from sync.keys import Keys
from sync.status import SyncStatus

log = logging.getLogger("nocontact.sync")

# KEYS: gateways zset, this gateway's hash; ARGV: id, ttl ms, then field/value pairs
BEAT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'beat_ms', string.format('%.0f', now), unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('ZADD', KEYS[1], string.format('%.0f', now + ttl), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('(%.0f', now))
return string.format('%.0f', now)
"""


class Heartbeat:
    def __init__(
        self,
        keys: Keys,
        gateway_id: str,
        status: Callable[[], SyncStatus],
        *,
        interval: float,
        ttl: float,
    ) -> None:
        self.keys = keys
        self.gateway_id = gateway_id
        self.status = status
        self.interval = interval
        self.ttl_ms = int(ttl * 1000)
        self._failing = False
        self._nudged = asyncio.Event()
        self._script: tuple[AsyncRedis, Any] | None = None  # BEAT_LUA registered with a client

    def nudge(self) -> None:
        """Beat now rather than at the next interval: the served version changed, and "enforced
        on N of N" should say so within a round trip, not within an interval."""
        self._nudged.set()

    def _fields(self) -> list[str]:
        s = self.status()
        return [
            "state",
            s.state.value,
            "reason",
            s.reason[:200],
            "epoch",
            s.epoch or "",
            "version",
            str(s.version),
            "entries",
            str(s.entries),
        ]

    async def beat(self, client: AsyncRedis) -> None:
        if self._script is None or self._script[0] is not client:
            self._script = (client, client.register_script(BEAT_LUA))
        await self._script[1](
            keys=[self.keys.gateways, self.keys.gateway(self.gateway_id)],
            args=[self.gateway_id, self.ttl_ms, *self._fields()],
        )

    async def run(self, client: AsyncRedis) -> None:
        while True:
            try:
                await self.beat(client)
                if self._failing:
                    log.info("sync: heartbeat restored (gateway=%s)", self.gateway_id)
                self._failing = False
            except (redis.RedisError, OSError) as exc:
                if not self._failing:
                    kind = exc.__class__.__name__
                    log.warning("sync: heartbeat failed (gateway=%s): %s", self.gateway_id, kind)
                self._failing = True
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):  # no task per wait, as wait_for makes
                    await self._nudged.wait()
            self._nudged.clear()

    async def leave(self, client: AsyncRedis) -> None:
        async with client.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.gateway(self.gateway_id))
            pipe.zrem(self.keys.gateways, self.gateway_id)
            await pipe.execute()
