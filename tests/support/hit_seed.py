"""A large hit log written straight into Redis in bulk (pipelined XADD, as the shippers would have
written it), for the 100k-hit browser walk and the hit-page benchmark: deterministic, spread over
the last `days` days, across establishments, prisoners, references, channels and strengths."""

from __future__ import annotations

import random
import time
from typing import Any

import orjson

from gateway.hitlog.model import Hit
from gateway.ulid import new_ulid
from sync.keys import Keys

DAY_MS = 86_400_000
ESTABLISHMENTS = ("HLI", "WDI", "MDI")
CHANNELS = ("call", "call", "call", "mail", "message")
KIND = {"call": "phone", "mail": "address", "message": "email"}


def seeded_hits(
    n: int,
    *,
    days: int = 60,
    now_ms: int | None = None,
    prisoners: int = 2000,
    references: int = 500,
    seed: int = 20,
) -> list[Hit]:
    """`n` hits, oldest first, ending about now."""
    rng = random.Random(seed)
    now_ms = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    start = now_ms - days * DAY_MS
    times = sorted(rng.randrange(start, now_ms - 60_000) for _ in range(n))
    out = []
    for t in times:
        channel = rng.choice(CHANNELS)
        kind = KIND[channel]
        strength = "strong" if channel != "mail" or rng.random() < 0.7 else "partial"
        reference = f"UPC-2026-{rng.randrange(references) + 100000:06d}"
        relay = rng.random() < 0.2
        matches: tuple[tuple[str, str, str, bool], ...] = ((reference, kind, strength, relay),)
        if channel == "mail" and rng.random() < 0.1:  # a weak second match: the same postcode only
            matches += ((f"UPC-2026-{rng.randrange(references) + 100000:06d}", "address", "weak", True),)
        out.append(
            Hit(
                new_ulid(t),
                t,
                ESTABLISHMENTS[rng.randrange(len(ESTABLISHMENTS))],
                f"A{rng.randrange(prisoners):04d}BC",
                channel,
                "block" if strength == "strong" else "hold",
                reference,
                kind,
                relay,
                "gw-seed",
                1,
                matches,
            )
        )
    return out


# KEYS: hits stream, hit_ids hash. ARGV: one JSON array of field/value pairs per hit, "id" first.
WRITE_LUA = """
for i = 1, #ARGV do
  local fields = cjson.decode(ARGV[i])
  redis.call('HSET', KEYS[2], fields[2], redis.call('XADD', KEYS[1], '*', unpack(fields)))
end
return #ARGV
"""


def write_hits(client: Any, keys: Keys, hits: list[Hit], batch: int = 5000) -> None:
    """Into the hits stream and ``hit_ids``, oldest first, as the shippers write them (the same
    fields), `batch` hits per Lua call: one argument per hit keeps the client's encoding cheap."""
    script = client.register_script(WRITE_LUA)
    for i in range(0, len(hits), batch):
        args = [orjson.dumps(hit.stream_fields()) for hit in hits[i : i + batch]]
        script(keys=[keys.hits, keys.hit_ids], args=args)
