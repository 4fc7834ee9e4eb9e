"""Ships spooled hits to the Redis hits stream, idempotently by hit id: one Lua script per batch
adds a hit to the stream only if its id is not yet in the ``hit_ids`` hash. A hit is marked
shipped in the spool only after Redis acknowledged it, so an outage or a crash between the two
leads to a retry, never a loss or a duplicate."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson
from redis.exceptions import RedisError

from gateway.hitlog.model import Hit
from gateway.hitlog.spool import Spool
from sync.errors import NotReplicated
from sync.keys import Keys
from sync.replication import Replication

log = logging.getLogger("nocontact.gateway.shipper")

# KEYS: hits stream, hit_ids hash, hit_evidence hash, hit_evidence_times zset.
# ARGV: per hit: id, time (ms), evidence JSON ('' for none), field count, then field/value pairs.
SHIP_LUA = """
local shipped, i = 0, 1
while i <= #ARGV do
  local id, ms, evidence, n = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  if redis.call('HSETNX', KEYS[2], id, '') == 1 then
    local fields = {}
    for j = i + 4, i + 3 + 2 * n do fields[#fields + 1] = ARGV[j] end
    local sid = redis.call('XADD', KEYS[1], '*', unpack(fields))
    redis.call('HSET', KEYS[2], id, sid)
    if evidence ~= '' then
      redis.call('HSET', KEYS[3], id, evidence)
      redis.call('ZADD', KEYS[4], ms, id)
    end
    shipped = shipped + 1
  end
  i = i + 4 + 2 * n
end
return shipped
"""
# KEYS: hit_evidence hash, hit_evidence_times zset. ARGV: cutoff (ms), batch size.
PRUNE_EVIDENCE_LUA = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #ids > 0 then
  redis.call('HDEL', KEYS[1], unpack(ids))
  redis.call('ZREM', KEYS[2], unpack(ids))
end
return #ids
"""


def ship_keys(keys: Keys) -> list[str]:
    """SHIP_LUA's KEYS."""
    return [keys.hits, keys.hit_ids, keys.hit_evidence, keys.hit_evidence_times]


def ship_args(hit: Hit) -> list[str]:
    """One hit's part of SHIP_LUA's ARGV: id, time, evidence (JSON or ''), field count, fields."""
    fields = hit.stream_fields()
    evidence = "" if hit.evidence is None else orjson.dumps(hit.evidence).decode()
    return [hit.id, str(hit.time), evidence, str(len(fields) // 2), *fields]


class NotAcknowledged(RedisError):
    """Redis took a batch but WAIT did not see it on enough replicas in time: shipped again later."""


class Shipper:
    def __init__(
        self,
        spool: Spool,
        client: Any,
        keys: Keys,
        *,
        batch: int = 200,
        retry_max: float = 5.0,
        retention_ms: int = 30 * 86_400_000,
        evidence_retention_ms: int = 730 * 86_400_000,
        linger: float = 0.1,
        replicas: int = 0,
        wait_ms: int = 2000,
    ) -> None:
        self.spool = spool
        self.client = client
        self.keys = keys
        self.batch = batch
        self.retry_max = retry_max
        # The spool's rows carry the evidence too: never kept locally longer than in Redis.
        self.retention_ms = min(retention_ms, evidence_retention_ms)
        self.evidence_retention_ms = evidence_retention_ms
        self.linger = linger
        self.replicas = replicas
        self.wait_ms = wait_ms
        self.backlog = 0
        self.shipped = 0
        self.errors = 0
        self.connected = True
        self.batches = 0  # Lua calls that shipped something (tests: lingering batches hits)
        self._wake = asyncio.Event()
        self._flush = asyncio.Event()
        self.idle = asyncio.Event()  # set while waiting for a hit (tests: no race with a pass)
        self._script = client.register_script(SHIP_LUA)
        self._prune_script = client.register_script(PRUNE_EVIDENCE_LUA)
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def flush(self) -> None:
        """Ship now: ends the current linger (tests, and anyone who cannot wait)."""
        self._flush.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="nocontact-shipper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def ship_remaining(self, within: float) -> tuple[int, int]:
        """On the way out, after stop(): ship what is pending for at most `within` seconds. Returns
        (hits shipped now, hits left in the spool, shipped at the next start)."""
        shipped = 0
        with contextlib.suppress(TimeoutError, RedisError, OSError):
            async with asyncio.timeout(within):
                while sent := await self.ship_once():
                    shipped += sent
        await self._refresh_backlog()
        return shipped, self.backlog

    async def ship_once(self) -> int:
        """Ship one batch; returns how many hits it held (0: nothing pending). Raises RedisError."""
        hits = await self.spool.pending(self.batch)
        if not hits:
            return 0
        args = [arg for hit in hits for arg in ship_args(hit)]
        added = await self._script(keys=ship_keys(self.keys), args=args)
        try:
            await Replication(self.replicas, self.wait_ms, self.keys).confirm_async(self.client)
        except NotReplicated:
            # Not on a replica yet: a failover now could lose them, so they stay unshipped and go
            # again (the hit_ids hash makes the second time add only what is missing).
            raise NotAcknowledged(f"hits not yet on {self.replicas} replica(s)") from None
        await self.spool.mark_shipped([h.id for h in hits])
        self.shipped += int(added)
        self.batches += 1
        return len(hits)

    async def run(self) -> None:
        delay = 0.05
        last_prune = 0.0
        while True:
            self._wake.clear()
            try:
                sent = await self.ship_once()
            except (RedisError, OSError) as exc:
                self.errors += 1
                if self.connected:
                    log.warning("shipper: cannot reach Redis (%s); hits stay spooled", type(exc).__name__)
                    self.connected = False
                await self._refresh_backlog()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            except Exception:  # a bug must not stop shipping for good
                self.errors += 1
                log.exception("shipper: unexpected error")
                await asyncio.sleep(self.retry_max)
                continue
            if not self.connected:
                log.info("shipper: Redis reachable again; shipping the backlog")
                self.connected = True
            delay = 0.05
            if sent:
                continue
            await self._refresh_backlog()
            if time.monotonic() - last_prune > 3600:
                last_prune = time.monotonic()
                try:
                    await self.prune()
                except (RedisError, OSError) as exc:  # pruning waits for the next hour; shipping goes on
                    log.warning(
                        "shipper: cannot prune old evidence (%s); trying again later", type(exc).__name__
                    )
            self.idle.set()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
            except TimeoutError:
                continue
            finally:
                self.idle.clear()
            # Woken by a hit: let the hits of the next moment join it, so a steady trickle of
            # blocks costs one Redis round trip and one spool commit per batch, not per hit.
            if not self._flush.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._flush.wait(), timeout=self.linger)
            self._flush.clear()

    async def prune(self) -> int:
        """Drop what is past its retention: shipped spool rows, and evidence in Redis (in batches,
        so no one call holds Redis for long). Returns the evidence records dropped."""
        now = time.time_ns() // 1_000_000
        await self.spool.prune(now - self.retention_ms)
        dropped = 0
        keys = [self.keys.hit_evidence, self.keys.hit_evidence_times]
        while True:
            n = int(await self._prune_script(keys=keys, args=[now - self.evidence_retention_ms, 1000]))
            dropped += n
            if n < 1000:
                return dropped

    async def _refresh_backlog(self) -> None:
        with contextlib.suppress(Exception):
            self.backlog = await self.spool.backlog()
