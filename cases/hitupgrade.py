"""Reviews saved before the review trail (``P hit_review_log``, commit 31f3531) brought into it.

Before the trail a hit's review was kept, the latest only, in the ``P hit_reviews`` hash, which the
hit index does not read: after an upgrade those hits showed unreviewed with their notes hidden.
``migrate_reviews`` appends one trail record (with the review's own time) for each hash entry whose
hit has none. The hit index runs it once per start, after its first catch-up; it is idempotent,
and safe with several gateways starting at once (``MIGRATE_LUA`` checks, atomically, the trail
records the local index has not read yet)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

import orjson

from cases.hitrecords import text_of
from sync.keys import Keys

log = logging.getLogger("nocontact.hitindex")

BATCH = 500  # hash entries per HSCAN step (and per script run)
# KEYS: the trail stream. ARGV: the last trail id the caller's index has read, then for each
# candidate its hit id and its trail fields as a JSON object. A candidate whose hit has a trail
# record after that id (another gateway migrated it, or it was reviewed since) is skipped.
MIGRATE_LUA = """
local seen = {}
local rows = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+')
for _, row in ipairs(rows) do
  local f = row[2]
  for j = 1, #f, 2 do
    if f[j] == 'hit' then seen[f[j + 1]] = true end
  end
end
local added = 0
for i = 2, #ARGV, 2 do
  local hit = ARGV[i]
  if not seen[hit] then
    local fields = cjson.decode(ARGV[i + 1])
    local flat = {'hit', hit}
    for _, name in ipairs({'outcome', 'note', 'by', 'time', 'escalated_to', 'migrated'}) do
      flat[#flat + 1] = name
      flat[#flat + 1] = fields[name]
    end
    redis.call('XADD', KEYS[1], '*', unpack(flat))
    seen[hit] = true
    added = added + 1
  end
end
return added
"""


class TrailIndex(Protocol):
    """What of ``cases.hitindex.HitIndex`` the migration uses (that module runs it)."""

    client: Any
    keys: Keys

    def catch_up(self, limit: int | None = None, wait: float = -1) -> int: ...

    def reviewed(self, hit_ids: Sequence[str]) -> tuple[str, set[str]]: ...


def trail_fields(raw: Any) -> dict[str, str] | None:
    """A hash review as trail fields (as ``HitIndex.review`` writes them); None when unreadable."""
    try:
        review = orjson.loads(raw)
        outcome, by, at = review["outcome"], review["by"], int(review["time"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    if not isinstance(review, dict) or not isinstance(outcome, str) or not outcome or not isinstance(by, str):
        return None
    note = review.get("note") or ""
    owner = review.get("escalated_to") or ""
    return {
        "outcome": outcome,
        "note": note if isinstance(note, str) else "",
        "by": by,
        "time": str(at),
        "escalated_to": owner if isinstance(owner, str) and outcome == "escalated" else "",
        "migrated": "hit_reviews",
    }


def migrate_reviews(index: TrailIndex) -> int:
    """Bring ``P hit_reviews`` entries with no trail record into the trail; returns how many."""
    client, keys = index.client, index.keys
    script = client.register_script(MIGRATE_LUA)
    added = unreadable = 0
    cursor: Any = 0
    while True:
        cursor, entries = client.hscan(keys.hit_reviews, cursor, count=BATCH)
        if entries:
            index.catch_up()  # so what the script checks beyond `last` is short
            pairs = {text_of(k): v for k, v in entries.items()}
            last, reviewed = index.reviewed(list(pairs))
            args: list[str] = []
            for hit_id, raw in pairs.items():
                if hit_id in reviewed:
                    continue
                fields = trail_fields(raw)
                if fields is None:
                    unreadable += 1
                    continue
                args += [hit_id, orjson.dumps(fields).decode()]
            if args:
                added += int(script(keys=[keys.hit_review_log], args=[last, *args]))
        if int(cursor) == 0:
            break
    if added or unreadable:
        log.info(
            "hit index: %d reviews saved before the review trail brought into it (%d unreadable, skipped)",
            added,
            unreadable,
        )
        index.catch_up()
    return added
