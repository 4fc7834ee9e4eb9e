"""Cases in Redis (key names in ``sync.keys``): each request's record as JSON, its history as an
append-only list, and sets indexing open requests, prison numbers and establishments.

A transition is optimistic: WATCH the record, apply the pure workflow, then one MULTI writes the
record, appends the history entry, updates the indexes and (through sync's writer script, queued in
the same transaction) upserts or removes the blocklist entry. Case and blocklist never disagree.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

import redis

from cases import workflow
from cases.calendar import CasePolicy
from cases.codec import case_from_record, case_to_record, history_to_dict
from cases.errors import Busy, NotFound, ReferenceTaken
from cases.hitindex import HitIndex
from cases.model import Request, check_identifiers
from cases.workflow import Action, Actor, Breach, Case, State, entry_change
from matcher.errors import ValidationError
from matcher.profile import Profile
from sync.changes import OP_REMOVE, OP_UPSERT
from sync.client import SyncRedis
from sync.keys import Keys
from sync.writer import Change, Writer

log = logging.getLogger("nocontact.cases")

MAX_RETRIES = 20
MAX_ID_SKIPS = 10_000  # request ids skipped because an entry loaded directly holds them
MAX_HITS = 20_000  # hits on one request read, newest first, when linking a breach
MAX_LINKED = 200


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class CaseStore:
    def __init__(
        self,
        client: SyncRedis,
        profile: Profile,
        *,
        writer: Writer,
        keys: Keys | None = None,
        policy: CasePolicy | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        hits: HitIndex | None = None,
    ) -> None:
        """`writer` is the deployment's (``Writer.configured``): its replicas must hold a change
        before the change is reported done."""
        self.client = client
        self.profile = profile
        self.keys = keys or Keys()
        self.policy = policy or CasePolicy()
        self.writer = writer
        self.clock = clock
        self.hits = hits  # the hit log's index: breaches link to hits through it

    # -- reading -----------------------------------------------------------------------------
    def get(self, case_id: str) -> Case:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.get(self.keys.case(case_id))
            pipe.lrange(self.keys.case_history(case_id), 0, -1)
            raw, history = pipe.execute()
        return self._decode(case_id, raw, history)

    def _decode(self, case_id: str, raw: Any, history: list[Any]) -> Case:
        if raw is None:
            raise NotFound(case_id)
        return case_from_record(json.loads(_text(raw)), [json.loads(_text(h)) for h in history])

    def get_many(self, ids: Iterable[str]) -> list[Case]:
        wanted = sorted({_text(i) for i in ids})
        if not wanted:
            return []
        with self.client.pipeline(transaction=True) as pipe:
            for case_id in wanted:
                pipe.get(self.keys.case(case_id))
                pipe.lrange(self.keys.case_history(case_id), 0, -1)
            replies = pipe.execute()
        out = []
        for i, case_id in enumerate(wanted):
            raw, history = replies[2 * i], replies[2 * i + 1]
            if raw is not None:
                out.append(self._decode(case_id, raw, history))
        return out

    def by_prisoner(self, number: str) -> list[Case]:
        return self.get_many(self.client.smembers(self.keys.cases_by_prisoner(number)))

    def by_establishment(self, code: str) -> list[Case]:
        return self.get_many(self.client.smembers(self.keys.cases_by_establishment(code)))

    def open_cases(self) -> list[Case]:
        return self.get_many(self.client.smembers(self.keys.cases_open))

    def overdue(self, now: dt.datetime | None = None) -> list[Case]:
        now = now or self.clock()
        return [c for c in self.open_cases() if c.overdue(now)]

    def reviews_due(self, now: dt.datetime | None = None) -> list[Case]:
        now = now or self.clock()
        due = [c for c in self.open_cases() if c.review_is_due(now)]
        return sorted(due, key=lambda c: (c.review_due or dt.date.min, c.id))

    # -- writing -----------------------------------------------------------------------------
    def create(self, request: Request, actor: Actor) -> Case:
        check_identifiers(request, self.profile)
        now = self.clock()
        case = workflow.submit(self._new_id(now.year), request, actor, now, self.policy)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.watch(self.keys.case(case.id))
            if pipe.exists(self.keys.case(case.id)):
                raise Busy()  # the sequence was reset under existing cases; refuse to overwrite
            pipe.multi()
            self._queue_write(pipe, None, case, [])
            pipe.execute()
        self.writer.acknowledge()
        log.info("cases: %s submitted (by %s)", case.id, actor.id)
        return case

    def _new_id(self, year: int) -> str:
        """The next request id of `year` that no entry uses yet: entries loaded directly may carry
        ids of this shape (the README's first example is ``UPC-2026-000001``), and a request's
        block is written under its id."""
        for _ in range(MAX_ID_SKIPS):
            number = int(self.client.hincrby(self.keys.case_seq, str(year), 1))
            case_id = f"UPC-{year}-{number:06d}"
            if not self.client.hexists(self.keys.entries, case_id):
                return case_id
        raise Busy()

    def act(self, case_id: str, action: Action, actor: Actor, **kwargs: Any) -> Case:
        """Take `action` on the request atomically; the blocklist follows in the same transaction."""
        for _ in range(MAX_RETRIES):
            with self.client.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(self.keys.case(case_id), self.keys.case_history(case_id))
                    before = self._decode(
                        case_id,
                        pipe.get(self.keys.case(case_id)),
                        pipe.lrange(self.keys.case_history(case_id), 0, -1),
                    )
                    after = workflow.apply(before, action, actor, self.clock(), self.policy, **kwargs)
                    if action is Action.ADD_EXEMPTION:
                        exemptions = tuple(e.exemption for e in after.exemptions)
                        check_identifiers(after.request, self.profile, exemptions)
                    change = entry_change(before, after)
                    changes: list[Change] = []
                    if change == "upsert" and before.state is not State.AUTHORISED:
                        # Its id names an entry it did not write (loaded directly): never replaced.
                        pipe.watch(self.keys.entries)
                        if pipe.hexists(self.keys.entries, case_id):
                            raise ReferenceTaken(case_id)
                    if change == "upsert":
                        changes.append((OP_UPSERT, after.entry()))
                    elif change == "remove":
                        changes.append((OP_REMOVE, case_id))
                    pipe.multi()
                    self._queue_write(pipe, before, after, changes)
                    pipe.execute()
                except redis.WatchError:
                    continue
            self.writer.acknowledge()  # the request and its block on a replica, or NotReplicated
            log.info("cases: %s %s -> %s (by %s)", case_id, action.value, after.state.value, actor.id)
            return after
        raise Busy()

    def _queue_write(self, pipe: Any, before: Case | None, after: Case, changes: list[Change]) -> None:
        k = self.keys
        pipe.set(k.case(after.id), json.dumps(case_to_record(after), separators=(",", ":")))
        pipe.rpush(k.case_history(after.id), json.dumps(history_to_dict(after.history[-1])))
        if after.state in workflow.FINAL:
            pipe.srem(k.cases_open, after.id)
        else:
            pipe.sadd(k.cases_open, after.id)
        if after.prisoner_number is not None:
            pipe.sadd(k.cases_by_prisoner(after.prisoner_number), after.id)
        if before is not None and before.establishment != after.establishment:
            pipe.srem(k.cases_by_establishment(before.establishment), after.id)
        pipe.sadd(k.cases_by_establishment(after.establishment), after.id)
        # A request being transferred is listed at the receiving prison too, which accepts it.
        gone = before.transfer_to if before is not None else None
        if gone is not None and gone not in (after.establishment, after.transfer_to):
            pipe.srem(k.cases_by_establishment(gone), after.id)
        if after.transfer_to is not None:
            pipe.sadd(k.cases_by_establishment(after.transfer_to), after.id)
        if changes:  # the request's own entry: the writer's guard on requests' entries is not for it
            self.writer.pipeline_apply(pipe, changes, by_request=True)

    # -- breaches and the hit log -----------------------------------------------------------
    def report_breach(
        self,
        case_id: str,
        actor: Actor,
        *,
        prisoner: str | None,
        channel: str,
        reason: str | None,
        hits: Iterable[str] = (),
    ) -> Case:
        """Record continuing contact and link it to the hit log: the hits named, plus every hit on
        this request's entry by the same prisoner."""
        case = self.get(case_id)
        who = prisoner or case.prisoner_number or ""
        if channel not in workflow.BREACH_CHANNELS:
            raise ValidationError("channel", f"one of {list(workflow.BREACH_CHANNELS)}")
        on_entry = self.hits_for(case_id)
        known = {h["id"] for h in on_entry}
        named = list(hits)
        for i, hit_id in enumerate(named):
            if hit_id not in known:
                raise ValidationError(f"hits[{i}]", f"no hit {hit_id} on request {case_id} in the hit log")
        linked = dict.fromkeys(named)
        for hit in on_entry:
            if hit["prisoner"] == who and len(linked) < MAX_LINKED:
                linked.setdefault(hit["id"])
        breach = Breach(
            f"BR{len(case.breaches) + 1}",
            self.clock(),
            actor.id,
            who,
            channel,  # type: ignore[arg-type]  # checked against BREACH_CHANNELS above
            tuple(linked),
        )
        return self.act(case_id, Action.REPORT_BREACH, actor, breach=breach, reason=reason)

    def hits_for(self, reference: str) -> list[dict[str, Any]]:
        """Hits on `reference` (as the top match or any match), newest first, from the hit index
        (``cases.hitindex``: the one reader of the hit log)."""
        if self.hits is None:
            raise RuntimeError("this case store was made without the hit index")
        return self.hits.by_reference(reference, MAX_HITS)

    def hit_pattern(self, reference: str) -> dict[str, int]:
        """Hits on `reference` per prisoner: several prisoners trying one person is a relay."""
        counts: dict[str, int] = {}
        for hit in self.hits_for(reference):
            counts[hit["prisoner"]] = counts.get(hit["prisoner"], 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def visible(case: Case, actor: Actor) -> bool:
    """Casework sees every request; prison staff only those held at their establishment, and
    those being transferred to it (so that it can accept them)."""
    if actor.role == workflow.Role.CASEWORK:
        return True
    return (
        actor.role == workflow.Role.PRISON
        and actor.establishment is not None
        and actor.establishment in (case.establishment, case.transfer_to)
    )
