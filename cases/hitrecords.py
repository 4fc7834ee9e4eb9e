"""The hit index's records and SQL (``cases.hitindex`` uses them): the schema, the Lua read of a
stream chunk, a hit's record from its stream fields, the filter (as an SQL condition on ``hits h``
whose values are always parameters), the cursor, and the shapes a read returns."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import orjson

CURSOR_RE = re.compile(r"([0-9]{1,15})\.([0-9A-Za-z]{1,40})")  # "time.id": where a page ends
SCHEMA = """
CREATE TABLE IF NOT EXISTS hits (
    id TEXT PRIMARY KEY,
    stream_id TEXT NOT NULL,
    time INTEGER NOT NULL,
    establishment TEXT NOT NULL,
    prisoner TEXT NOT NULL,
    channel TEXT NOT NULL,
    decision TEXT NOT NULL,
    reference TEXT NOT NULL,
    kind TEXT NOT NULL,
    strength TEXT NOT NULL,
    relay INTEGER NOT NULL,
    outcome TEXT,
    review_event TEXT,
    escalated_to TEXT,
    reviews INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS hits_time ON hits(time);
-- The charts' counts over a time range (per hour and channel, per request) from the index alone.
CREATE INDEX IF NOT EXISTS hits_chart ON hits(time, channel, establishment, prisoner, reference);
CREATE INDEX IF NOT EXISTS hits_establishment ON hits(establishment, time);
CREATE INDEX IF NOT EXISTS hits_prisoner ON hits(prisoner, time);
CREATE INDEX IF NOT EXISTS hits_channel ON hits(channel, time);
-- Unreviewed hits, counted from the index alone (it holds every column the count reads: outcome
-- too) by establishment and channel, or by channel. An index file from before 2026-12-07 had
-- hits_unreviewed ON (establishment, time): dropped here, the two below built when it is opened.
DROP INDEX IF EXISTS hits_unreviewed;
CREATE INDEX IF NOT EXISTS hits_unreviewed_place ON hits(establishment, channel, time, outcome)
    WHERE outcome IS NULL;
CREATE INDEX IF NOT EXISTS hits_unreviewed_channel ON hits(channel, time, outcome) WHERE outcome IS NULL;
CREATE INDEX IF NOT EXISTS hits_escalated ON hits(escalated_to, time) WHERE escalated_to IS NOT NULL;
CREATE TABLE IF NOT EXISTS bodies (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS refs (
    reference TEXT NOT NULL,
    id TEXT NOT NULL,
    time INTEGER NOT NULL,
    establishment TEXT NOT NULL,
    prisoner TEXT NOT NULL,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    strength TEXT NOT NULL,
    PRIMARY KEY (reference, id)
) WITHOUT ROWID;
-- The relay analysis reads strong matches grouped by request and prisoner: in this order.
CREATE INDEX IF NOT EXISTS refs_pairs ON refs(strength, reference, prisoner, time, establishment, channel);
CREATE TABLE IF NOT EXISTS reviews (
    event TEXT PRIMARY KEY,
    hit_id TEXT NOT NULL,
    time INTEGER NOT NULL,
    by TEXT NOT NULL,
    outcome TEXT NOT NULL,
    note TEXT,
    escalated_to TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS reviews_hit ON reviews(hit_id, event);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""
# KEYS: a stream. ARGV: exclusive start id, count. Each message as its id and its fields as one
# JSON object: one reply element per message, not 25 (redis-py parses replies in Python).
READ_LUA = """
local rows = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', tonumber(ARGV[2]))
local out = {}
for _, row in ipairs(rows) do
  local fields, t = row[2], {}
  for j = 1, #fields, 2 do t[fields[j]] = fields[j + 1] end
  out[#out + 1] = row[1]
  out[#out + 1] = cjson.encode(t)
end
return out
"""
TABLES = ("hits", "bodies", "refs", "reviews", "meta")
REVIEW_COLUMNS = "outcome, note, by, time, escalated_to"


def text_of(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def sid_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def stream_record(fields: Mapping[Any, Any]) -> dict[str, Any]:
    """A hits-stream message's fields as the hit's record (``gateway.hitlog.model.Hit.to_dict``)."""
    data = (
        fields
        if isinstance(next(iter(fields), ""), str)
        else {text_of(k): text_of(v) for k, v in fields.items()}
    )
    return {
        "id": data["id"],
        "time": int(data["time"]),
        "establishment": data["establishment"],
        "prisoner": data["prisoner"],
        "channel": data["channel"],
        "decision": data["decision"],
        "reference": data["reference"],
        "kind": data["kind"],
        "relay": data["relay"] == "1",
        "gateway": data["gateway"],
        "version": int(data["version"]),
        "matches": orjson.loads(data["matches"]),
    }


@dataclass(frozen=True, slots=True)
class HitFilter:
    """Which hits a reader wants; None is "any". Times are ms since the epoch, `until` exclusive.
    `reference` matches a hit's top reference or any of its matches; `kind` and `strength` are the
    top match's (the one the hit is filed under), or with a `reference` the match on that
    reference's (a letter strong on its own request and partial on a neighbour's is no strong hit
    on the neighbour's); `outcome` is a review outcome or "none"."""

    establishment: str | None = None
    prisoner: str | None = None
    reference: str | None = None
    channel: str | None = None
    relay: bool | None = None
    kind: str | None = None
    strength: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    reviewed: bool | None = None
    outcome: str | None = None
    escalated_to: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        """The SQL condition on ``hits h`` and its arguments (values are always parameters)."""
        on_top = ("kind", "strength") if self.reference is None else ()
        sql, args = self.condition("h", ("establishment", "prisoner", "channel", *on_top, "escalated_to"))
        if self.relay is not None:
            sql.append("h.relay = ?")
            args.append(int(self.relay))
        if self.reference is not None:
            match = "h.id IN (SELECT r.id FROM refs r WHERE r.reference = ?"
            args.append(self.reference)
            for column in ("kind", "strength"):
                if getattr(self, column) is not None:
                    match += f" AND r.{column} = ?"
                    args.append(getattr(self, column))
            sql.append(match + ")")
        if self.reviewed is not None:
            sql.append("h.outcome IS NOT NULL" if self.reviewed else "h.outcome IS NULL")
        if self.outcome == "none":
            sql.append("h.outcome IS NULL")
        elif self.outcome is not None:
            sql.append("h.outcome = ?")
            args.append(self.outcome)
        return (" AND ".join(sql) or "1"), args

    def condition(self, alias: str, columns: Sequence[str]) -> tuple[list[str], list[Any]]:
        """Equality on each of `columns` the filter sets, and its time range, on table `alias`."""
        sql: list[str] = []
        args: list[Any] = []
        for column in columns:
            value = getattr(self, column)
            if value is not None:
                sql.append(alias + "." + column + " = ?")
                args.append(value)
        if self.since_ms is not None:
            sql.append(alias + ".time >= ?")
            args.append(self.since_ms)
        if self.until_ms is not None:
            sql.append(alias + ".time < ?")
            args.append(self.until_ms)
        return sql, args


@dataclass(slots=True)
class IndexedHit:
    stream_id: str
    record: dict[str, Any]  # the hit (``stream_record``)
    review: dict[str, Any] | None  # the latest review: outcome, note, by, time, escalated_to
    reviews: int = 0  # how many reviews it has had

    @property
    def id(self) -> str:
        return str(self.record["id"])

    @property
    def cursor(self) -> str:
        return f"{self.record['time']}.{self.record['id']}"


R = TypeVar("R")


@dataclass(slots=True)
class IndexPage(Generic[R]):
    """A page of rows (``IndexedHit`` from the index; the gateway's readers map them to its own)."""

    rows: list[R] = field(default_factory=list)
    total: int = 0  # hits matching the filter
    newer: int = 0  # matching hits newer than this page's first
    older_cursor: str | None = None  # the next (older) page starts after this; None: no older hit
    newer_cursor: str | None = None  # the previous (newer) page ends before this; None: the newest


@dataclass(slots=True)
class RelayGroup:
    reference: str
    prisoners: list[tuple[str, int, int, int]]  # (prisoner, strong attempts, first ms, last ms), most first
    establishments: list[str]
    attempts: int
    latest: int


@dataclass(slots=True)
class RelayPage:
    groups: list[RelayGroup] = field(default_factory=list)
    total_groups: int = 0
    attempts: int = 0
    prisoners: int = 0


Flagged = tuple[list[tuple[str, int, int, int]], int]  # (reference, people, attempts, latest), prisoners


def relay_sql(where: str) -> str:
    """The relay analysis's flagged requests, a row each (reference, people, attempts, latest),
    from one pass over the strong matches in refs_pairs order (by request, then prisoner), and a
    last row (reference NULL) with the distinct prisoners across them. Arguments: `where`'s twice."""
    return (
        "WITH flagged AS MATERIALIZED (SELECT r.reference, count(DISTINCT r.prisoner) AS people, "  # noqa: S608
        f"count(*) AS attempts, max(r.time) AS latest FROM refs r WHERE {where} GROUP BY r.reference "
        "HAVING count(DISTINCT r.prisoner) >= 2) "
        "SELECT reference, people, attempts, latest FROM flagged UNION ALL "
        f"SELECT NULL, (SELECT count(DISTINCT r.prisoner) FROM refs r WHERE {where} "
        "AND r.reference IN (SELECT reference FROM flagged)), NULL, NULL"
    )


def flagged_of(rows: Sequence[Sequence[Any]]) -> Flagged:
    """``relay_sql``'s rows: the requests, most prisoners first, then the latest attempt."""
    prisoners = next(int(row[1]) for row in rows if row[0] is None)
    groups = [(str(r), int(p), int(n), int(la)) for r, p, n, la in rows if r is not None]
    groups.sort(key=lambda g: (-g[1], -g[3], g[0]))
    return groups, prisoners


def relay_people_sql(where: str, references: int) -> str:
    """Each (reference, prisoner) of `references` requests: strong attempts, first, last, where."""
    return (
        "SELECT r.reference, r.prisoner, count(*) AS n, min(r.time), max(r.time), "  # noqa: S608
        f"group_concat(DISTINCT r.establishment) FROM refs r WHERE {where} "
        f"AND r.reference IN ({','.join('?' * references)}) "
        "GROUP BY r.reference, r.prisoner ORDER BY r.reference, n DESC, r.prisoner"
    )


class Memo:
    """The last few relay analyses' flagged requests, by condition and the index's state (its
    source and last hit indexed): each is computed once per hit indexed, not for every page of it
    or every view of the same page."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[Any, ...], Flagged] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> Flagged | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], value: Flagged) -> Flagged:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


def parse_cursor(text: str) -> tuple[int, str] | None:
    match = CURSOR_RE.fullmatch(text)
    return None if match is None else (int(match.group(1)), match.group(2))


def review_of(row: Sequence[Any]) -> dict[str, Any]:
    outcome, note, by, at, escalated_to = row
    return {"outcome": outcome, "note": note, "by": by, "time": at, "escalated_to": escalated_to}


def fields_of(filt: HitFilter) -> dict[str, Any]:
    return {name: getattr(filt, name) for name in HitFilter.__dataclass_fields__}
