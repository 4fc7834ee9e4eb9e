"""The request workflow as pure logic: states, the transitions table (who may take each action from
which state), due dates, and an append-only history. No I/O: the store persists what ``apply``
returns and turns ``entry_change`` into a write to the blocklist.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from cases import calendar
from cases.calendar import CasePolicy
from cases.errors import Forbidden, InvalidTransition
from cases.model import Request
from matcher.entries import Entry, Exemption
from matcher.errors import ValidationError


class State(StrEnum):
    """Where a request stands."""

    SUBMITTED = "submitted"
    """Recorded by the UPC team; not yet with the prison (due there within one working day)."""
    SENT_TO_PRISON = "sent_to_prison"
    """With the prisoner's establishment for a decision (block due within two working days)."""
    AUTHORISED = "authorised"
    """Active: the block is an entry in the store, enforced by every gateway."""
    REJECTED = "rejected"
    """Assessed and refused; nothing was ever enforced. Final."""
    WITHDRAWN = "withdrawn"
    """Withdrawn by the requester (through the prison); any block was removed. Final."""
    REVOKED = "revoked"
    """Ended by the service (a review found it no longer necessary, or it was made in error); the
    block was removed. Final."""
    RELEASED = "released"
    """The prisoner was released; the block was removed and the information handed to the
    Community Offender Manager. Final."""


FINAL = frozenset({State.REJECTED, State.WITHDRAWN, State.REVOKED, State.RELEASED})


class Action(StrEnum):
    SUBMIT = "submit"
    SEND = "send"
    AUTHORISE = "authorise"
    REJECT = "reject"
    WITHDRAW = "withdraw"
    REVOKE = "revoke"
    TRANSFER = "transfer"
    ACCEPT_TRANSFER = "accept_transfer"
    RELEASE = "release"
    REVIEW = "review"
    ADD_EXEMPTION = "add_exemption"
    REMOVE_EXEMPTION = "remove_exemption"
    REPORT_BREACH = "report_breach"


# The steps taken by name with no more than a reason (and, to authorise, the prison number): the
# API's and the command line's verbs. Transfer, which also names the receiving prison, is not one.
STEPS = (
    Action.SEND,
    Action.AUTHORISE,
    Action.REJECT,
    Action.WITHDRAW,
    Action.REVOKE,
    Action.RELEASE,
    Action.REVIEW,
)


class Role(StrEnum):
    """Who may act on requests. Prison staff (security/OMU) act only at their own establishment."""

    CASEWORK = "casework"
    PRISON = "security"


CASEWORK = frozenset({Role.CASEWORK})
BOTH = frozenset({Role.CASEWORK, Role.PRISON})


@dataclass(frozen=True, slots=True)
class Rule:
    to: State
    roles: frozenset[Role]


_S = State
_A = Action
TRANSITIONS: MappingProxyType[tuple[State, Action], Rule] = MappingProxyType(
    {
        (_S.SUBMITTED, _A.SEND): Rule(_S.SENT_TO_PRISON, CASEWORK),
        (_S.SUBMITTED, _A.REJECT): Rule(_S.REJECTED, CASEWORK),
        (_S.SUBMITTED, _A.WITHDRAW): Rule(_S.WITHDRAWN, BOTH),
        (_S.SUBMITTED, _A.TRANSFER): Rule(_S.SUBMITTED, BOTH),
        (_S.SUBMITTED, _A.ACCEPT_TRANSFER): Rule(_S.SUBMITTED, BOTH),
        (_S.SUBMITTED, _A.ADD_EXEMPTION): Rule(_S.SUBMITTED, BOTH),
        (_S.SUBMITTED, _A.REMOVE_EXEMPTION): Rule(_S.SUBMITTED, BOTH),
        (_S.SENT_TO_PRISON, _A.AUTHORISE): Rule(_S.AUTHORISED, BOTH),
        (_S.SENT_TO_PRISON, _A.REJECT): Rule(_S.REJECTED, BOTH),
        (_S.SENT_TO_PRISON, _A.WITHDRAW): Rule(_S.WITHDRAWN, BOTH),
        (_S.SENT_TO_PRISON, _A.TRANSFER): Rule(_S.SENT_TO_PRISON, BOTH),
        (_S.SENT_TO_PRISON, _A.ACCEPT_TRANSFER): Rule(_S.SENT_TO_PRISON, BOTH),
        (_S.SENT_TO_PRISON, _A.ADD_EXEMPTION): Rule(_S.SENT_TO_PRISON, BOTH),
        (_S.SENT_TO_PRISON, _A.REMOVE_EXEMPTION): Rule(_S.SENT_TO_PRISON, BOTH),
        (_S.AUTHORISED, _A.REVOKE): Rule(_S.REVOKED, BOTH),
        (_S.AUTHORISED, _A.WITHDRAW): Rule(_S.WITHDRAWN, BOTH),
        (_S.AUTHORISED, _A.RELEASE): Rule(_S.RELEASED, BOTH),
        (_S.AUTHORISED, _A.TRANSFER): Rule(_S.AUTHORISED, BOTH),
        (_S.AUTHORISED, _A.ACCEPT_TRANSFER): Rule(_S.AUTHORISED, BOTH),
        (_S.AUTHORISED, _A.REVIEW): Rule(_S.AUTHORISED, BOTH),
        (_S.AUTHORISED, _A.ADD_EXEMPTION): Rule(_S.AUTHORISED, BOTH),
        (_S.AUTHORISED, _A.REMOVE_EXEMPTION): Rule(_S.AUTHORISED, BOTH),
        (_S.AUTHORISED, _A.REPORT_BREACH): Rule(_S.AUTHORISED, BOTH),
    }
)
SUBMIT_ROLES = BOTH
REASON_REQUIRED = frozenset(
    {
        Action.REJECT,
        Action.WITHDRAW,
        Action.REVOKE,
        Action.RELEASE,
        Action.REVIEW,
        Action.ADD_EXEMPTION,
        Action.REMOVE_EXEMPTION,
        Action.REPORT_BREACH,
    }
)
MAX_REASON = 5000


@dataclass(frozen=True, slots=True)
class Actor:
    id: str
    role: str
    establishment: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One transition, as it happened. `details` never holds a protected person's details."""

    at: dt.datetime
    action: Action
    actor: str
    role: str
    from_state: State | None
    to_state: State
    reason: str | None = None
    details: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class CaseExemption:
    id: str
    exemption: Exemption


@dataclass(frozen=True, slots=True)
class Breach:
    """Continuing contact reported by someone; `hits` are the hit-log ids it was linked to."""

    id: str
    at: dt.datetime
    by: str
    prisoner: str  # who made (or is believed to have made) the contact
    channel: Literal["call", "mail", "message", "third_party", "illicit_phone", "other"]
    hits: tuple[str, ...] = ()


BREACH_CHANNELS = ("call", "mail", "message", "third_party", "illicit_phone", "other")


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    request: Request
    state: State
    establishment: str  # where the prisoner is held now
    prisoner_number: str | None
    scope: frozenset[str] | None  # None: every establishment
    submitted_at: dt.datetime
    send_due: dt.date
    sent_at: dt.datetime | None = None
    block_due: dt.date | None = None
    authorised_at: dt.datetime | None = None
    review_due: dt.date | None = None
    closed_at: dt.datetime | None = None
    exemptions: tuple[CaseExemption, ...] = ()
    breaches: tuple[Breach, ...] = ()
    history: tuple[HistoryEntry, ...] = field(default=())
    transfer_to: str | None = None  # a transfer recorded and not yet accepted by the receiving prison

    @property
    def final(self) -> bool:
        return self.state in FINAL

    def entry(self) -> Entry:
        """The enforceable block; only an authorised case has one."""
        if self.prisoner_number is None:
            raise ValidationError("prisoner.number", "required before the block is enforced")
        return Entry(
            self.id,
            self.prisoner_number,
            self.scope,
            self.request.protected,
            tuple(e.exemption for e in self.exemptions),
        )

    def deadlines(self, now: dt.datetime) -> dict[str, object]:
        send_overdue = self.state is State.SUBMITTED and calendar.overdue(self.send_due, now)
        block_overdue = self.state is State.SENT_TO_PRISON and calendar.overdue(self.block_due, now)
        review_overdue = self.state is State.AUTHORISED and calendar.overdue(self.review_due, now)
        return {
            "send_due": self.send_due.isoformat(),
            "send_overdue": send_overdue,
            "block_due": None if self.block_due is None else self.block_due.isoformat(),
            "block_overdue": block_overdue,
            "review_due": None if self.review_due is None else self.review_due.isoformat(),
            "review_overdue": review_overdue,
        }

    def overdue(self, now: dt.datetime) -> bool:
        d = self.deadlines(now)
        return bool(d["send_overdue"] or d["block_overdue"])

    def review_is_due(self, now: dt.datetime) -> bool:
        return (
            self.state is State.AUTHORISED
            and self.review_due is not None
            and (calendar.local_date(now) >= self.review_due)
        )


def check_actor(actor: Actor, roles: frozenset[Role], establishments: tuple[str, ...]) -> None:
    """Raise Forbidden unless `actor` has one of `roles` and, as prison staff, works at one of
    `establishments`."""
    if actor.role not in {r.value for r in roles}:
        raise Forbidden("role", f"{actor.role} may not do this (allowed: {sorted(r.value for r in roles)})")
    if actor.role == Role.PRISON:
        if actor.establishment is None:
            raise Forbidden("establishment", "prison staff must be bound to their establishment")
        if actor.establishment not in establishments:
            raise Forbidden("establishment", f"this request is not held at {actor.establishment}")


def submit(case_id: str, request: Request, actor: Actor, at: dt.datetime, policy: CasePolicy) -> Case:
    check_actor(actor, SUBMIT_ROLES, (request.prisoner.establishment,))
    entry = HistoryEntry(at, Action.SUBMIT, actor.id, actor.role, None, State.SUBMITTED)
    return Case(
        id=case_id,
        request=request,
        state=State.SUBMITTED,
        establishment=request.prisoner.establishment,
        prisoner_number=request.prisoner.number,
        scope=request.scope,
        submitted_at=at,
        send_due=calendar.working_days_due(at, policy.send_working_days),
        history=(entry,),
    )


def allowed_actions(case: Case) -> list[Action]:
    return [
        action
        for (state, action) in TRANSITIONS
        if state is case.state and (action is not Action.ACCEPT_TRANSFER or case.transfer_to is not None)
    ]


def apply(
    case: Case,
    action: Action,
    actor: Actor,
    at: dt.datetime,
    policy: CasePolicy,
    *,
    reason: str | None = None,
    establishment: str | None = None,
    prisoner_number: str | None = None,
    exemption: Exemption | None = None,
    exemption_id: str | None = None,
    breach: Breach | None = None,
) -> Case:
    """The case after `actor` takes `action` at `at`, with one more history entry. Raises
    InvalidTransition (not from this state), Forbidden (role or establishment) or ValidationError
    (a missing or bad argument, naming it)."""
    rule = TRANSITIONS.get((case.state, action))
    if rule is None:
        allowed = [a.value for a in allowed_actions(case)]
        raise InvalidTransition(case.state.value, action.value, allowed)
    if action is Action.ACCEPT_TRANSFER:
        if case.transfer_to is None:
            raise InvalidTransition(case.state.value, action.value, [a.value for a in allowed_actions(case)])
        # The receiving prison accepts a transfer; only the holding prison (or casework) records one.
        check_actor(actor, rule.roles, (case.transfer_to,))
    else:
        check_actor(actor, rule.roles, (case.establishment,))
    reason = _reason(reason, required=action in REASON_REQUIRED)
    details: dict[str, str] = {}
    after = replace(case, state=rule.to)

    if action is Action.SEND:
        after = replace(after, sent_at=at, block_due=calendar.working_days_due(at, policy.block_working_days))
    elif action is Action.AUTHORISE:
        number = prisoner_number or case.prisoner_number
        if number is None:
            raise ValidationError("prisoner_number", "required: the prison number is not yet known")
        after = replace(after, prisoner_number=number, authorised_at=at)
        if case.request.needs_review:
            after = replace(after, review_due=calendar.review_due(at, policy))
        details["prisoner"] = number
    elif action is Action.TRANSFER:
        after = _record_transfer(case, after, establishment, details)
    elif action is Action.ACCEPT_TRANSFER:
        after = _accept_transfer(case, after, at, policy, details)
    elif action is Action.REVIEW:
        next_review = calendar.review_due(at, policy) if case.request.needs_review else None
        after = replace(after, review_due=next_review)
    elif action is Action.ADD_EXEMPTION:
        if exemption is None:
            raise ValidationError("exemption", "required")
        new_id = f"EX{1 + sum(1 for h in case.history if h.action is Action.ADD_EXEMPTION)}"
        after = replace(after, exemptions=(*case.exemptions, CaseExemption(new_id, exemption)))
        details["exemption"] = new_id
    elif action is Action.REMOVE_EXEMPTION:
        kept = tuple(e for e in case.exemptions if e.id != exemption_id)
        if exemption_id is None or len(kept) == len(case.exemptions):
            raise ValidationError("exemption_id", f"no exemption {exemption_id} on this request")
        after = replace(after, exemptions=kept)
        details["exemption"] = exemption_id
    elif action is Action.REPORT_BREACH:
        if breach is None:
            raise ValidationError("breach", "required")
        after = replace(after, breaches=(*case.breaches, breach))
        details.update(breach=breach.id, channel=breach.channel, hits=str(len(breach.hits)))
    if rule.to in FINAL:
        after = replace(after, closed_at=at, transfer_to=None)
    entry = HistoryEntry(
        at, action, actor.id, actor.role, case.state, rule.to, reason, tuple(sorted(details.items()))
    )
    return replace(after, history=(*case.history, entry))


def _record_transfer(case: Case, after: Case, to: str | None, details: dict[str, str]) -> Case:
    """The holding prison (or casework) records that the prisoner is moving to `to`. The request
    stays where it is until the receiving prison accepts it; the block already covers `to` (it
    follows the prisoner, and a wider block never lets a call through that a narrower one
    stopped). Recorded again, the newer destination replaces the pending one."""
    if to is None:
        raise ValidationError("establishment", "required: the receiving establishment")
    if to == case.establishment:
        raise ValidationError("establishment", f"the prisoner is already at {to}")
    scope = None if case.scope is None else case.scope | {to}
    details.update({"from": case.establishment, "to": to})
    return replace(after, transfer_to=to, scope=scope)


def _accept_transfer(
    case: Case, after: Case, at: dt.datetime, policy: CasePolicy, details: dict[str, str]
) -> Case:
    """The receiving prison accepts the transfer recorded to it: it now holds the request."""
    to = case.transfer_to
    assert to is not None  # apply() refuses an accept with no transfer pending
    # Prisoners left behind can still relay, so the old establishment stays in a limited scope.
    scope = None if case.scope is None else case.scope | {to}
    after = replace(after, establishment=to, scope=scope, transfer_to=None)
    if case.state is State.SENT_TO_PRISON:
        # The receiving prison now holds the request: its clock starts on arrival.
        after = replace(after, sent_at=at, block_due=calendar.working_days_due(at, policy.block_working_days))
    if case.state is State.AUTHORISED and case.request.needs_review:
        on_transfer = calendar.working_days_due(at, policy.transfer_review_working_days)
        after = replace(after, review_due=min(on_transfer, case.review_due or on_transfer))
    details.update({"from": case.establishment, "to": to})
    return after


def entry_change(before: Case | None, after: Case) -> Literal["upsert", "remove"] | None:
    """What the blocklist must do for this change: enforce (or re-enforce) the entry, remove it,
    or nothing."""
    was = before is not None and before.state is State.AUTHORISED
    if after.state is State.AUTHORISED:
        if not was or before is None or before.entry() != after.entry():
            return "upsert"
        return None
    return "remove" if was else None


def _reason(value: str | None, *, required: bool) -> str | None:
    if value is not None:
        value = value.strip() or None
    if value is None and required:
        raise ValidationError("reason", "required for this action")
    if value is not None and len(value) > MAX_REASON:
        raise ValidationError("reason", f"at most {MAX_REASON} characters")
    return value
