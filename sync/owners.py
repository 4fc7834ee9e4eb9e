"""Who owns an entry. A request owns the entry under its id (its record, ``P case:ID``, exists
beside it) and changes it only through its workflow; every other entry was loaded directly
(``PUT /v1/entries``, ``nocontact import``). Writers outside the workflow never change a request's
entry: ``sync.writer``'s apply script checks this in the same step as the write, a republish keeps
the requests' entries, and ``nocontact import`` refuses lines naming them.

The checks run in Redis (a script per few thousand references): an EXISTS per reference from
Python costs tens of microseconds of client work each, seconds for a list of 100,000.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sync.keys import Keys

CHUNK = 5000  # references checked per script call

# The request keys are built from the prefix here rather than declared: these read-only scripts
# run on the one primary that holds every nocontact key (no cluster slots to route).
# ARGV: the request key prefix, then references. Returns those a request holds.
_OWNED_LUA = """
local out = {}
for i = 2, #ARGV do
  if redis.call('EXISTS', ARGV[1] .. ARGV[i]) == 1 then out[#out + 1] = ARGV[i] end
end
return out
"""

# KEYS: a hash keyed by reference (the entries, a republish's staging); ARGV: cursor, count, the
# request key prefix. One HSCAN page: the next cursor, then the references a request holds.
_SCAN_OWNED_LUA = """
local page = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local out = {page[1]}
local fields = page[2]
for i = 1, #fields, 2 do
  if redis.call('EXISTS', ARGV[3] .. fields[i]) == 1 then out[#out + 1] = fields[i] end
end
return out
"""


def owned(client: Any, keys: Keys, references: Iterable[str]) -> set[str]:
    """The references in `references` that requests hold (a request's record under that id)."""
    script = client.register_script(_OWNED_LUA)
    prefix = keys.case("")
    found: set[str] = set()
    batch: list[str] = []
    for reference in references:
        batch.append(reference)
        if len(batch) == CHUNK:
            found.update(_text(r) for r in script(args=[prefix, *batch]))
            batch = []
    if batch:
        found.update(_text(r) for r in script(args=[prefix, *batch]))
    return found


def owned_in(client: Any, keys: Keys, hash_key: str) -> set[str]:
    """The references of the hash at `hash_key` (the entries, or a staging hash) that requests
    hold. A scan, not a snapshot: a caller that needs it to agree with the hash reads the store's
    version first and lets a later check refuse a write that landed meanwhile (as
    ``Writer.republish``'s swap does)."""
    script = client.register_script(_SCAN_OWNED_LUA)
    prefix = keys.case("")
    found: set[str] = set()
    cursor: Any = 0
    while True:
        reply = script(keys=[hash_key], args=[cursor, CHUNK, prefix])
        cursor = reply[0]
        found.update(_text(r) for r in reply[1:])
        if int(cursor) == 0:
            return found


def owned_entries(client: Any, keys: Keys) -> dict[str, Any]:
    """Every stored entry a request owns: reference -> its stored JSON (see `owned_in`)."""
    references = sorted(owned_in(client, keys, keys.entries))
    if not references:
        return {}
    payloads = client.hmget(keys.entries, references)
    return {r: raw for r, raw in zip(references, payloads, strict=True) if raw is not None}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
