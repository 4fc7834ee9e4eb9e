"""Removal tasks: "take this contact's identifier off prisoner P's list, it is barred by request R".
One task per prisoner x contact x reference: its id is derived from those three, so a sweep run
twice (or resumed after a crash) writes the same task, never a second one. A task names the
reference, the kind of identifier and its position in the contact, never the identifier (the prison
already holds the contact). Each state change is one Lua script, so a sweep closing a task and a
person confirming it cannot both win.

Lifecycle: ``open`` -> ``removed`` (confirmed, or the list no longer holds it) | ``kept`` (with a
reason) | ``no_longer_needed`` (the block was revoked or released, or no longer applies). A closed
task whose contact matches again (the identifier is back on the list, the block is back) is
opened again, except a ``kept`` one: that was a person's decision."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from cases.contacts import list_id
from matcher.errors import ValidationError
from sync.client import SyncRedis
from sync.keys import Keys

OPEN = "open"
REMOVED = "removed"
KEPT = "kept"
NO_LONGER_NEEDED = "no_longer_needed"
STATUSES = (OPEN, REMOVED, KEPT, NO_LONGER_NEEDED)
MAX_REASON = 1_000

# KEYS: tasks, est zset, open zset, ref set, list set, establishments; ARGV: id, JSON, created ms,
# establishment, list version ('' for none). 1: written (new or opened again), 0: already open
# (its list_version moved to the version the match is seen in now) or kept.
_ENSURE = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
    local task = cjson.decode(current)
    if task['status'] == 'kept' then return 0 end
    if task['status'] == 'open' then
        if ARGV[5] ~= '' and task['list_version'] ~= tonumber(ARGV[5]) then
            task['list_version'] = tonumber(ARGV[5])
            redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(task))
        end
        return 0
    end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('SADD', KEYS[5], ARGV[1])
redis.call('SADD', KEYS[6], ARGV[4])
return 1
"""

# KEYS: tasks, open zset; ARGV: id, status, closed (ISO), by, reason ('' for none).
# 1: closed, 0: not open (its status is returned too), -1: no such task.
_CLOSE = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return {-1, ''} end
local task = cjson.decode(current)
if task['status'] ~= 'open' then return {0, task['status']} end
task['status'] = ARGV[2]
task['closed'] = ARGV[3]
task['closed_by'] = ARGV[4]
if ARGV[5] ~= '' then task['reason'] = ARGV[5] end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(task))
redis.call('ZREM', KEYS[2], ARGV[1])
return {1, ARGV[2]}
"""


Position = tuple[int, str]  # a task's place in the listing: (creation ms, id)
SCAN_BUDGET = 5_000  # records one page may read to fill itself when it filters on a status

# KEYS: a sorted set of task ids (score: creation ms); ARGV: after score ('' from the start), after
# id, count. The next `count` members with their scores, after (score, id) in (score, member)
# order: by the member's rank when it is still there at that score, else by counting (a task
# closed since leaves the open set).
_ZPAGE = """
local start = 0
if ARGV[1] ~= '' then
    local rank = redis.call('ZRANK', KEYS[1], ARGV[2])
    local score = rank and redis.call('ZSCORE', KEYS[1], ARGV[2])
    if rank and tonumber(score) == tonumber(ARGV[1]) then
        start = rank + 1
    else
        start = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. ARGV[1])
        for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])) do
            if member <= ARGV[2] then start = start + 1 end
        end
    end
end
return redis.call('ZRANGE', KEYS[1], start, start + tonumber(ARGV[3]) - 1, 'WITHSCORES')
"""


def format_cursor(position: Position) -> str:
    """A position as the ``next`` value of the API and the pages: ``MS~ID``."""
    return f"{position[0]}~{position[1]}"


def parse_cursor(raw: str, field: str = "cursor") -> Position:
    """ValidationError naming `field` unless `raw` is a ``next`` value."""
    ms, sep, task = raw.partition("~")
    if not sep or not ms.isdigit() or len(ms) > 16 or not task.startswith("ct_") or len(task) > 64:
        raise ValidationError(field, "the `next` value of the page before")
    return int(ms), task


def created_ms(created: str) -> int:
    """A task's ``created`` (ISO, milliseconds) as its score in the sorted sets."""
    return round(dt.datetime.fromisoformat(created).timestamp() * 1000)


def task_id(establishment: str, prisoner: str, contact_id: str, reference: str) -> str:
    digest = hashlib.sha256(f"{establishment}\0{prisoner}\0{contact_id}\0{reference}".encode()).hexdigest()
    return "ct_" + digest[:24]


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class NewTask:
    establishment: str
    prisoner: str
    contact_id: str
    reference: str
    kind: str
    strength: str
    identifier_index: int
    relay: bool
    list_version: int | None = None  # the list's version the match is found in (kept up to date)

    @property
    def id(self) -> str:
        return task_id(self.establishment, self.prisoner, self.contact_id, self.reference)

    def record(self, created: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "establishment": self.establishment,
            "prisoner": self.prisoner,
            "contact_id": self.contact_id,
            "reference": self.reference,
            "kind": self.kind,
            "strength": self.strength,
            "identifier_index": self.identifier_index,
            "match": "relay" if self.relay else "primary",
            "status": OPEN,
            "created": created,
            "list_version": self.list_version,
        }


class TaskConflict(Exception):
    """The task is no longer open (someone closed it first); `status` is what it is now."""

    def __init__(self, task_id: str, status: str) -> None:
        super().__init__(task_id, status)
        self.task_id = task_id
        self.status = status

    def __str__(self) -> str:
        return f"task {self.task_id} is {self.status}, not open"


class TaskStore:
    def __init__(self, client: SyncRedis, keys: Keys | None = None) -> None:
        self.client = client
        self.keys = keys or Keys()
        self._ensure = client.register_script(_ENSURE)
        self._close = client.register_script(_CLOSE)
        self._zpage = client.register_script(_ZPAGE)

    def ensure(self, tasks: Iterable[NewTask], pipe: Any = None) -> None:
        """Each task open (created, or opened again), in one pipeline."""
        k = self.keys
        now = dt.datetime.now(dt.UTC)
        created = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        ms = created_ms(created)  # the score is the record's creation, to the millisecond
        own = pipe is None
        pipe = self.client.pipeline(transaction=False) if own else pipe
        for task in tasks:
            self._ensure(
                keys=[
                    k.contact_tasks,
                    k.contact_tasks_by_establishment(task.establishment),
                    k.contact_tasks_open(task.establishment),
                    k.contact_tasks_by_reference(task.reference),
                    k.contact_tasks_by_list(list_id(task.establishment, task.prisoner)),
                    k.contact_task_establishments,
                ],
                args=[
                    task.id,
                    orjson.dumps(task.record(created)),
                    ms,
                    task.establishment,
                    "" if task.list_version is None else task.list_version,
                ],
                client=pipe,
            )
        if own:
            pipe.execute()

    def close(self, task: dict[str, Any], status: str, by: str, reason: str | None = None) -> str:
        """Close an open task; returns its status now. Raises TaskConflict if it was not open."""
        k = self.keys
        done, now = self._close(
            keys=[k.contact_tasks, k.contact_tasks_open(task["establishment"])],
            args=[task["id"], status, now_iso(), by, reason or ""],
        )
        if int(done) != 1:
            raise TaskConflict(task["id"], _text(now) or "missing")
        return _text(now)

    def close_quietly(self, tasks: Iterable[dict[str, Any]], status: str, by: str) -> int:
        """Close each of `tasks` still open (a sweep's closing: one it loses to a person is left)."""
        k = self.keys
        pending = [t for t in tasks if t.get("status") == OPEN]
        if not pending:
            return 0
        stamp = now_iso()
        with self.client.pipeline(transaction=False) as pipe:
            for task in pending:
                self._close(
                    keys=[k.contact_tasks, k.contact_tasks_open(task["establishment"])],
                    args=[task["id"], status, stamp, by, ""],
                    client=pipe,
                )
            replies = pipe.execute()
        return sum(1 for done, _ in replies if int(done) == 1)

    def get(self, task_id: str) -> dict[str, Any] | None:
        raw = self.client.hget(self.keys.contact_tasks, task_id)
        return None if raw is None else dict(orjson.loads(raw))

    def get_many(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        raws = self.client.hmget(self.keys.contact_tasks, list(ids))
        return [dict(orjson.loads(r)) for r in raws if r is not None]

    def of_reference(self, reference: str) -> list[dict[str, Any]]:
        return self.get_many(_texts(self.client.smembers(self.keys.contact_tasks_by_reference(reference))))

    def of_lists(self, lids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """The tasks of each list, in two round trips."""
        with self.client.pipeline(transaction=False) as pipe:
            for lid in lids:
                pipe.smembers(self.keys.contact_tasks_by_list(lid))
            members = pipe.execute()
        ids = [_texts(m) for m in members]
        found = {t["id"]: t for t in self.get_many([i for group in ids for i in group])}
        return {lid: [found[i] for i in group if i in found] for lid, group in zip(lids, ids, strict=True)}

    def establishments(self) -> list[str]:
        return sorted(_texts(self.client.smembers(self.keys.contact_task_establishments)))

    def search(
        self,
        *,
        establishment: str | None = None,
        prisoner: str | None = None,
        reference: str | None = None,
        status: str | None = None,
        after: Position | None = None,
        limit: int = 100,
    ) -> tuple[list[dict[str, Any]], Position | None]:
        """Tasks oldest first (by creation, then id), filtered; `after` is the position of the
        last task of the page before. Returns the page and, when more may follow, the position
        to go on from. An establishment's tasks (or every establishment's) are paged on their
        sorted sets, so a page reads about a page of tasks however many there are; a page that
        filters on a status other than open reads at most SCAN_BUDGET tasks and may come back
        short, with a position to go on from."""
        k = self.keys
        if establishment is not None and prisoner is not None:
            ids = _texts(self.client.smembers(k.contact_tasks_by_list(list_id(establishment, prisoner))))
        elif reference is not None:
            ids = _texts(self.client.smembers(k.contact_tasks_by_reference(reference)))
        elif prisoner is not None:  # the prisoner's lists at every establishment
            ids = []
            with self.client.pipeline(transaction=False) as pipe:
                for code in self.establishments():
                    pipe.smembers(k.contact_tasks_by_list(list_id(code, prisoner)))
                for members in pipe.execute():
                    ids += _texts(members)
        else:
            codes = [establishment] if establishment is not None else self.establishments()
            source = k.contact_tasks_open if status == OPEN else k.contact_tasks_by_establishment
            keep = None if status in (None, OPEN) else status
            return self._page_sorted([source(code) for code in codes], keep, after, limit)

        def wanted(t: dict[str, Any]) -> bool:
            return (
                (establishment is None or t["establishment"] == establishment)
                and (prisoner is None or t["prisoner"] == prisoner)
                and (reference is None or t["reference"] == reference)
                and (status is None or t["status"] == status)
            )

        # one prisoner's or one request's tasks: sets, read whole and sorted
        tasks = sorted(((created_ms(t["created"]), t["id"]), t) for t in self.get_many(ids) if wanted(t))
        if after is not None:
            tasks = [(at, t) for at, t in tasks if at > after]
        more = len(tasks) > limit
        page = tasks[:limit]
        return [t for _, t in page], (page[-1][0] if more and page else None)

    def _page_sorted(
        self, sources: list[str], status: str | None, after: Position | None, limit: int
    ) -> tuple[list[dict[str, Any]], Position | None]:
        """A page merged from sorted sets (score: creation ms), after `after`; `status` filters
        the records read (None: every record in the sets is wanted)."""
        if not sources:
            return [], None
        found: list[tuple[Position, dict[str, Any]]] = []
        position = after
        read = 0
        chunk = limit + 1
        # a merge of many sets reads a share of the page from each; what it takes is safe up to the
        # smallest last member of a set that had more to give
        per_set = chunk if len(sources) == 1 else max(16, chunk // len(sources) + 1)
        while len(found) <= limit:
            with self.client.pipeline(transaction=False) as pipe:
                for key in sources:
                    self._zpage(
                        keys=[key],
                        args=[
                            "" if position is None else position[0],
                            "" if position is None else position[1],
                            per_set,
                        ],
                        client=pipe,
                    )
                replies = pipe.execute()
            sets = [
                [(int(float(_text(flat[i + 1]))), _text(flat[i])) for i in range(0, len(flat), 2)]
                for flat in replies
            ]
            bound = min((members[-1] for members in sets if len(members) == per_set), default=None)
            merged = sorted(m for members in sets for m in members if bound is None or m <= bound)[:chunk]
            if not merged:
                return [t for _, t in found], None
            records = self.get_many([task_id for _, task_id in merged])
            by_id = {t["id"]: t for t in records}
            for at in merged:
                task = by_id.get(at[1])
                if task is not None and (status is None or task["status"] == status):
                    found.append((at, task))
            position = merged[-1]
            read += len(merged)
            if len(found) <= limit and read >= SCAN_BUDGET:
                return [t for _, t in found], position  # short, and more may follow
        page = found[:limit]
        return [t for _, t in page], page[-1][0]

    def open_counts(self) -> dict[str, tuple[int, int | None]]:
        """Per establishment: open tasks and the creation (ms) of the oldest open one."""
        codes = self.establishments()
        with self.client.pipeline(transaction=False) as pipe:
            for code in codes:
                pipe.zcard(self.keys.contact_tasks_open(code))
                pipe.zrange(self.keys.contact_tasks_open(code), 0, 0, withscores=True)
            replies = pipe.execute()
        out: dict[str, tuple[int, int | None]] = {}
        for i, code in enumerate(codes):
            count, oldest = replies[2 * i], replies[2 * i + 1]
            out[code] = (int(count), int(oldest[0][1]) if oldest else None)
        return out

    def open_for_reference(self, reference: str) -> tuple[int, int]:
        """Open tasks of `reference` and the number of establishments they are at."""
        open_tasks = [t for t in self.of_reference(reference) if t["status"] == OPEN]
        return len(open_tasks), len({t["establishment"] for t in open_tasks})


CSV_COLUMNS = (
    "id",
    "establishment",
    "prisoner",
    "contact_id",
    "reference",
    "kind",
    "identifier_index",
    "strength",
    "match",
    "status",
    "created",
    "closed",
    "closed_by",
    "reason",
)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def tasks_csv(tasks: Iterable[dict[str, Any]]) -> str:
    """Tasks as CSV (a cell a spreadsheet would run as a formula gets a leading apostrophe)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for task in tasks:
        cells = ("" if task.get(c) is None else str(task[c]) for c in CSV_COLUMNS)
        writer.writerow(["'" + c if c.startswith(_FORMULA) else c for c in cells])
    return out.getvalue()


def still_to_remove(open_tasks: int, prisons: int) -> str:
    """The request's line: "N contacts still to remove at M prisons"."""
    contacts = "contact" if open_tasks == 1 else "contacts"
    places = "prison" if prisons == 1 else "prisons"
    return f"{open_tasks} {contacts} still to remove at {prisons} {places}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _texts(values: Iterable[Any]) -> list[str]:
    return [_text(v) for v in values]
