"""Questions about the whole fleet: which gateways are live, and is version V (or entry R)
enforced on every one of them? Liveness uses Redis ``TIME`` only (one clock)."""

from __future__ import annotations

from dataclasses import dataclass

from sync.client import AsyncRedis
from sync.keys import META_EPOCH, META_PUBLISHED_VERSION, META_VERSION, Keys

# KEYS: gateways zset; ARGV: key prefix of a gateway hash. Returns now_ms and each live gateway's hash.
LIVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], string.format('%.0f', now), '+inf')
local out = {}
for _, id in ipairs(ids) do
  local h = redis.call('HGETALL', ARGV[1] .. id)
  if #h > 0 then out[#out + 1] = h end
end
return {string.format('%.0f', now), out}
"""


@dataclass(frozen=True, slots=True)
class GatewayReport:
    gateway_id: str
    state: str
    reason: str
    epoch: str | None
    version: int
    entries: int
    beat_ms: int  # Redis TIME of its last heartbeat

    @classmethod
    def from_hash(cls, fields: dict[str, str]) -> GatewayReport:
        return cls(
            gateway_id=fields.get("id", "?"),
            state=fields.get("state", "?"),
            reason=fields.get("reason", ""),
            epoch=fields.get("epoch") or None,
            version=int(fields.get("version", "0") or 0),
            entries=int(fields.get("entries", "0") or 0),
            beat_ms=int(fields.get("beat_ms", "0") or 0),
        )


@dataclass(frozen=True, slots=True)
class Enforcement:
    """Whether (epoch, version) is applied on the live gateways. `version` is None when the entry
    asked about is not in the store (nothing to enforce)."""

    epoch: str | None
    version: int | None
    now_ms: int
    gateways: tuple[GatewayReport, ...]
    enforced: tuple[str, ...]
    lagging: tuple[str, ...]

    @property
    def everywhere(self) -> bool:
        return self.version is not None and bool(self.gateways) and not self.lagging

    def summary(self) -> str:
        return f"{len(self.enforced)} of {len(self.gateways)} live gateways"


@dataclass(frozen=True, slots=True)
class Fleet:
    """The live gateways at one Redis ``TIME``: a page asking about many entries reads it once."""

    now_ms: int
    gateways: tuple[GatewayReport, ...]

    def enforcement(self, epoch: str | None, version: int | None) -> Enforcement:
        """Which live gateways have applied `version` of `epoch` (None: nothing to enforce)."""
        enforced = tuple(
            g.gateway_id
            for g in self.gateways
            if version is not None and g.epoch == epoch and g.version >= version
        )
        lagging = tuple(g.gateway_id for g in self.gateways if g.gateway_id not in enforced)
        return Enforcement(epoch, version, self.now_ms, self.gateways, enforced, lagging)


class FleetStore:
    def __init__(self, client: AsyncRedis, keys: Keys | None = None) -> None:
        self.client = client
        self.keys = keys or Keys()

    async def live_gateways(self) -> Fleet:
        script = self.client.register_script(LIVE_LUA)
        now, hashes = await script(keys=[self.keys.gateways], args=[self.keys.gateway("")])
        reports = []
        for flat in hashes:
            fields = {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}
            reports.append(GatewayReport.from_hash(fields))
        return Fleet(int(now), tuple(reports))

    async def version_of(self, reference: str) -> tuple[str | None, int | None]:
        """(epoch, version) at which `reference`'s current content was written, or (epoch, None)."""
        k = self.keys
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hmget(k.meta, [META_EPOCH, META_PUBLISHED_VERSION])
            pipe.hget(k.versions, reference)
            pipe.hexists(k.entries, reference)
            (epoch, published), version, exists = await pipe.execute()
        if not exists:
            return epoch, None
        return epoch, int(version if version is not None else (published or 0))

    async def enforcement(
        self, *, version: int | None = None, epoch: str | None = None, reference: str | None = None
    ) -> Enforcement:
        """Is `version` of `epoch` (default: the store's current epoch and version), or the current
        content of entry `reference`, applied on every live gateway?"""
        if reference is not None:
            epoch, version = await self.version_of(reference)
        elif version is None or epoch is None:
            current = await self.client.hmget(self.keys.meta, [META_EPOCH, META_VERSION])
            current_epoch, current_version = current
            epoch = epoch or current_epoch
            version = version if version is not None else int(current_version or 0)
        return (await self.live_gateways()).enforcement(epoch, version)
