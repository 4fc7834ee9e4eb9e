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

    def ensure(self, tasks: Iterable[NewTask], pipe: Any = None) -> None:
        """Each task open (created, or opened again), in one pipeline."""
        k = self.keys
        created = now_iso()
        ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
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
        after: tuple[str, str] | None = None,
        limit: int = 100,
    ) -> tuple[list[dict[str, Any]], tuple[str, str] | None]:
        """Tasks oldest first (by created, then id), filtered; `after` is the last (created, id)
        of the page before. Returns the page and the position of its last task when more follow."""
        k = self.keys
        if establishment is not None and prisoner is not None:
            ids = _texts(self.client.smembers(k.contact_tasks_by_list(list_id(establishment, prisoner))))
        elif reference is not None:
            ids = _texts(self.client.smembers(k.contact_tasks_by_reference(reference)))
        elif establishment is not None:
            source = k.contact_tasks_open if status == OPEN else k.contact_tasks_by_establishment
            ids = _texts(self.client.zrange(source(establishment), 0, -1))
        else:
            ids = []
            for code in self.establishments():
                ids += _texts(self.client.zrange(k.contact_tasks_by_establishment(code), 0, -1))
        tasks = [
            t
            for t in self.get_many(ids)
            if (establishment is None or t["establishment"] == establishment)
            and (prisoner is None or t["prisoner"] == prisoner)
            and (reference is None or t["reference"] == reference)
            and (status is None or t["status"] == status)
        ]
        tasks.sort(key=lambda t: (t["created"], t["id"]))
        if after is not None:
            tasks = [t for t in tasks if (t["created"], t["id"]) > after]
        page = tasks[:limit]
        more = len(tasks) > limit
        return page, ((page[-1]["created"], page[-1]["id"]) if more and page else None)

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
