"""The sweeper: keeps removal tasks in step with the blocklist and the contacts lists.

Two kinds of work, both durable in Redis, so a gateway or Redis dying mid-sweep loses nothing:

- **Changes** (a block going live: authorised, transferred, an entry PUT, an import; or ending:
  revoked, released, deleted), read from the blocklist's change stream after the cursor kept in
  ``P contacts:sweep``. An upsert is checked against the lists holding any of its identifiers
  (the identifier -> lists index) and the lists that already have a task for it, with an index
  built from that entry alone; a removal closes its open tasks as ``no_longer_needed``. The cursor
  moves after each change, and tasks are idempotent, so a resumed sweep repeats at most one change.
- **Lists** written (``P contacts:dirty``, marked in the same script as the write), each checked
  whole against the live index once that index has every change the cursor has passed; the mark
  is removed only after the list's tasks are written (compare-and-delete on its version). A new
  epoch or a gap in the stream marks every list again: a full sweep, resumable the same way.

One gateway sweeps at a time (a lease in ``P contacts:sweeper``); any other takes over when the
lease lapses.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cases.contact_tasks import NO_LONGER_NEEDED, OPEN, REMOVED, NewTask, TaskStore
from cases.contacts import IDENT_FORM, ContactList, ContactStore, list_id
from matcher.contacts import check_contact, entry_identifiers
from matcher.entries import Entry
from matcher.errors import ValidationError
from matcher.index import Index
from matcher.profile import Profile
from sync.changes import OP_REMOVE, OP_UPSERT, Change, parse_change
from sync.client import SyncRedis
from sync.errors import UnparsableChange
from sync.keys import Keys
from sync.offloop.collector import gc_paused
from sync.offloop.giveway import GiveWay

log = logging.getLogger("nocontact.cases.sweep")

SWEPT_BY = "sweep"
LIST_BATCH = 200
CHANGE_BATCH = 100

# KEYS: lease; ARGV: owner, ttl ms. 1 when `owner` holds the lease (taken or renewed).
_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == false then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
end
if holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
end
return 0
"""


@dataclass(slots=True)
class SweepHooks:
    """Test seams (raise to simulate a crash): `after_change` after a change's tasks are written
    and its cursor moved; `after_list` for each list of a batch whose tasks are written, before
    the batch's marks are removed."""

    after_change: Callable[[Change], None] | None = None
    after_list: Callable[[str], None] | None = None


@dataclass(slots=True)
class Progress:
    epoch: str
    version: int
    stream_id: str
    prune: bool = False  # open tasks of references no longer in the index are still to close

    def to_mapping(self) -> dict[str, str]:
        return {
            "epoch": self.epoch,
            "version": str(self.version),
            "stream_id": self.stream_id,
            "prune": "1" if self.prune else "0",
        }


@dataclass(slots=True)
class SweepStats:
    leased: bool = False  # this sweeper held the lease this round
    changes: int = 0
    lists: int = 0
    opened: int = 0
    closed: int = 0
    durations: list[tuple[str, float]] = field(default_factory=list)


class Sweeper:
    def __init__(
        self,
        client: SyncRedis,
        profile: Profile,
        live: Callable[[], Index | None],
        *,
        keys: Keys | None = None,
        owner: str = "sweeper",
        lease_ms: int = 15_000,
        block_ms: int = 200,
        hooks: SweepHooks | None = None,
        observe: Callable[[str, float], None] | None = None,
        give_way: GiveWay | None = None,
    ) -> None:
        self.client = client
        self.profile = profile
        self.live = live
        self.keys = keys or Keys()
        self.owner = owner
        self.lease_ms = lease_ms
        self.block_ms = block_ms
        self.hooks = hooks or SweepHooks()
        self.observe = observe
        self.lists = ContactStore(client, profile, self.keys)
        self.tasks = TaskStore(client, self.keys)
        self._lease = client.register_script(_LEASE)
        # called after each contact checked: the sweep's thread lets the GIL go at least once a
        # switch interval (sync.offloop.giveway), so the event loop beside it gets its turn
        self.give_way = give_way or GiveWay()
        self._dirty_cursor = 0  # where the scan of the marked lists goes on from

    # -- one round ----------------------------------------------------------------------------------
    def step(self, wait: bool = True) -> SweepStats:
        """One round: take or keep the lease, sweep the changes after the cursor, then the lists
        marked (when the live index has caught up). `wait`: block up to ``block_ms`` on the change
        stream when there is nothing to do."""
        stats = SweepStats()
        if not self._lease(keys=[self.keys.contacts_sweeper], args=[self.owner, self.lease_ms]):
            return stats
        stats.leased = True
        progress = self._progress()
        progress = self._changes(progress, stats, block=wait and not self._has_dirty())
        index = self.live()
        if index is not None and index.version >= progress.version:
            if progress.prune:
                self._prune(index, stats)
                progress.prune = False
                self.client.hset(self.keys.contacts_sweep, mapping=progress.to_mapping())
            self._dirty_lists(index, stats)
        return stats

    def run_until_idle(self, max_rounds: int = 1_000_000) -> SweepStats:
        """Step until a round finds nothing to do (a full sweep, benchmarks, the CLI)."""
        total = SweepStats()
        for _ in range(max_rounds):
            stats = self.step(wait=False)
            total.leased = total.leased or stats.leased
            total.changes += stats.changes
            total.lists += stats.lists
            total.opened += stats.opened
            total.closed += stats.closed
            total.durations += stats.durations
            if not (stats.changes or stats.lists):
                break
        return total

    def _has_dirty(self) -> bool:
        return bool(self.client.hlen(self.keys.contacts_dirty))

    def _progress(self) -> Progress:
        raw = self.client.hgetall(self.keys.contacts_sweep)
        if raw:
            m = {_text(k): _text(v) for k, v in raw.items()}
            if m.get("form", "1") != IDENT_FORM:
                # lists keyed in an older form: a new block's sweep could miss them (before form
                # 2, a contact whose postcode is mistyped), so key them again and sweep them all
                log.info("sweep: identifier index form %s -> %s: every list re-keyed and swept",
                         m.get("form", "1"), IDENT_FORM)  # fmt: skip
                self.lists.reindex()
                self.lists.mark_all_dirty()
                self.client.hset(self.keys.contacts_sweep, "form", IDENT_FORM)
            return Progress(m["epoch"], int(m["version"]), m["stream_id"], m.get("prune") == "1")
        # First run: start at the store's head; lists written before are swept as lists.
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hmget(self.keys.meta, "epoch", "version")
            pipe.xrevrange(self.keys.changes, count=1)
            (epoch, version), tail = pipe.execute()
        progress = Progress(
            _text(epoch) if epoch is not None else "",
            int(version) if version is not None else 0,
            _text(tail[0][0]) if tail else "0-0",
        )
        self.lists.mark_all_dirty()
        self.client.hset(self.keys.contacts_sweep, mapping={**progress.to_mapping(), "form": IDENT_FORM})
        return progress

    # -- changes ------------------------------------------------------------------------------------
    def _changes(self, progress: Progress, stats: SweepStats, *, block: bool) -> Progress:
        reply = self.client.xread(
            {self.keys.changes: progress.stream_id},
            count=CHANGE_BATCH,
            block=self.block_ms if block else None,
        )
        for _, messages in reply or ():
            for stream_id, fields in messages:
                sid = _text(stream_id)
                try:
                    change = parse_change(sid, {_text(k): _text(v) for k, v in fields.items()})
                except (UnparsableChange, ValidationError):
                    log.warning("sweep: unparsable change %s; every list is swept again", sid)
                    progress = self._restart(progress.epoch, progress.version, sid)
                    continue
                if change.epoch != progress.epoch or change.version > progress.version + 1:
                    # a new epoch (a republish, a replacing import) or a gap (the stream was
                    # trimmed past the cursor): every list against the whole blocklist
                    reason = "epoch" if change.epoch != progress.epoch else "gap"
                    log.info("sweep: full sweep (reason=%s, version=%d)", reason, change.version)
                    progress = self._restart(change.epoch, change.version, sid)
                    continue
                if change.version <= progress.version:
                    progress.stream_id = sid
                    continue
                started = time.perf_counter()
                with gc_paused():
                    self._apply(change, stats)
                progress.version = change.version
                progress.stream_id = sid
                self.client.hset(self.keys.contacts_sweep, mapping=progress.to_mapping())
                stats.changes += 1
                self._observed(stats, "change", time.perf_counter() - started)
                if self.hooks.after_change is not None:
                    self.hooks.after_change(change)
        return progress

    def _restart(self, epoch: str, version: int, stream_id: str) -> Progress:
        progress = Progress(epoch, version, stream_id, prune=True)
        self.lists.mark_all_dirty()
        self.client.hset(self.keys.contacts_sweep, mapping=progress.to_mapping())
        return progress

    def _apply(self, change: Change, stats: SweepStats) -> None:
        reference = change.reference
        assert reference is not None
        if change.op == OP_REMOVE:
            stats.closed += self.tasks.close_quietly(
                self.tasks.of_reference(reference), NO_LONGER_NEEDED, SWEPT_BY
            )
            return
        if change.op != OP_UPSERT or change.entry is None:
            return
        self.sweep_entry(change.entry, change.version, stats)

    def sweep_entry(self, entry: Entry, version: int, stats: SweepStats) -> None:
        """Tasks for one block: the lists holding any of its identifiers, checked against an
        index of this entry alone; its open tasks on lists it no longer matches are closed."""
        try:
            mini = Index.build([entry], self.profile, version=version)
        except ValidationError:
            log.warning("sweep: entry %s cannot be indexed; not swept", entry.reference)
            return
        existing = [t for t in self.tasks.of_reference(entry.reference) if t["status"] == OPEN]
        lids = self.lists.lists_holding(entry_identifiers(mini))
        lids.update(list_id(t["establishment"], t["prisoner"]) for t in existing)
        matched: set[str] = set()
        new: list[NewTask] = []
        for lst in self._lists(sorted(lids)):
            for contact in lst.contacts:
                best = check_contact(mini, lst.establishment, lst.prisoner, contact).by_reference()
                self.give_way()
                match = best.get(entry.reference)
                if match is None:
                    continue
                task = _task(lst, contact.id, match)
                matched.add(task.id)
                new.append(task)
        self.tasks.ensure(new)
        stats.opened += len(new)
        stale = [t for t in existing if t["id"] not in matched]
        stats.closed += self.tasks.close_quietly(stale, NO_LONGER_NEEDED, SWEPT_BY)

    # -- lists --------------------------------------------------------------------------------------
    def _dirty_lists(self, index: Index, stats: SweepStats) -> None:
        marked, self._dirty_cursor = self.lists.dirty(LIST_BATCH, self._dirty_cursor)
        if not marked:
            return
        # the batch's lists, contacts and checks (tens of thousands of objects, none in a cycle)
        # live until its tasks are written: the cyclic collector, run over them while they do,
        # held the GIL for up to 12 ms at a time in this thread. Paused for one batch, as for a build.
        with gc_paused():
            self._sweep_batch(index, marked, stats)

    def _sweep_batch(self, index: Index, marked: list[tuple[str, str]], stats: SweepStats) -> None:
        started = time.perf_counter()
        lids = [lid for lid, _ in marked]
        found = self.lists.get_many(lids)
        tasks = self.tasks.of_lists(lids)
        new: list[NewTask] = []
        removed: list[dict[str, Any]] = []
        ended: list[dict[str, Any]] = []
        for lid, lst in zip(lids, found, strict=True):
            opened, gone = self._list_tasks(index, lst, tasks[lid])
            new += opened
            for task in gone:
                live = index.entry(task["reference"]) is not None
                (removed if live and _written_since(lst, task) else ended).append(task)
        # tasks first, then the marks: a sweep dying in between repeats this batch, idempotently
        self.tasks.ensure(new)
        stats.opened += len(new)
        stats.closed += self.tasks.close_quietly(removed, REMOVED, SWEPT_BY)
        stats.closed += self.tasks.close_quietly(ended, NO_LONGER_NEEDED, SWEPT_BY)
        if self.hooks.after_list is not None:
            for lid in lids:
                self.hooks.after_list(lid)
        self.lists.swept(marked)
        stats.lists += len(marked)
        self._observed(stats, "lists", time.perf_counter() - started)

    def _list_tasks(
        self, index: Index, lst: ContactList | None, current: list[dict[str, Any]]
    ) -> tuple[list[NewTask], list[dict[str, Any]]]:
        """One list (None: deleted) against the whole live index: the tasks it needs, and its open
        tasks it no longer matches (closed as ``removed`` when their block is still live and the
        list was written since the task opened, else ``no_longer_needed``: the block changed, as
        a full sweep after a new epoch finds when scope narrowed or an exemption was added)."""
        matched: set[str] = set()
        new: list[NewTask] = []
        if lst is not None:
            for contact in lst.contacts:
                for match in (
                    check_contact(index, lst.establishment, lst.prisoner, contact).by_reference().values()
                ):
                    task = _task(lst, contact.id, match)
                    matched.add(task.id)
                    new.append(task)
                self.give_way()
        return new, [t for t in current if t["status"] == OPEN and t["id"] not in matched]

    def _prune(self, index: Index, stats: SweepStats) -> None:
        """After a new epoch: open tasks whose block is gone are no longer needed."""
        for code in self.tasks.establishments():
            ids = [_text(i) for i in self.client.zrange(self.keys.contact_tasks_open(code), 0, -1)]
            ended = [t for t in self.tasks.get_many(ids) if index.entry(t["reference"]) is None]
            stats.closed += self.tasks.close_quietly(ended, NO_LONGER_NEEDED, SWEPT_BY)

    def _lists(self, lids: Iterable[str]) -> Iterable[ContactList]:
        batch: list[str] = []
        for lid in lids:
            batch.append(lid)
            if len(batch) >= LIST_BATCH:
                yield from (lst for lst in self.lists.get_many(batch) if lst is not None)
                batch = []
        if batch:
            yield from (lst for lst in self.lists.get_many(batch) if lst is not None)

    def _observed(self, stats: SweepStats, kind: str, seconds: float) -> None:
        stats.durations.append((kind, seconds))
        if self.observe is not None:
            self.observe(kind, seconds)


def _task(lst: ContactList, contact_id: str, match: Any) -> NewTask:
    return NewTask(
        lst.establishment,
        lst.prisoner,
        contact_id,
        match.reference,
        match.kind,
        match.strength.value,
        match.identifier_index,
        match.relay,
        lst.version,
    )


def _written_since(lst: ContactList | None, task: dict[str, Any]) -> bool:
    """Whether the prison wrote (or deleted) the list after `task` opened: only then can a match
    that is gone have been taken off the list."""
    if lst is None:
        return True
    opened_at = task.get("list_version")
    if opened_at is not None:
        return bool(lst.version != opened_at)  # != : a list deleted and written again restarts at 1
    # a task written before list_version was recorded: the list's write time against its creation
    updated = dt.datetime.fromisoformat(lst.updated)
    return updated >= dt.datetime.fromisoformat(task["created"]).replace(microsecond=0)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
