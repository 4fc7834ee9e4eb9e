from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from cases.errors import Forbidden, InvalidTransition
from cases.workflow import FINAL, Action, Actor, Breach, Case, State, apply, entry_change, submit
from matcher.entries import Exemption
from matcher.errors import ValidationError
from tests.support.case_data import (
    ADMIN,
    CASEWORKER,
    DIALLER,
    HLI_STAFF,
    POLICY,
    UNBOUND_SECURITY,
    WDI_STAFF,
    at,
    make_request,
    new_case,
)

S, A = State, Action
C, P = "casework", "security"  # P: prison security/OMU staff at the request's establishment

# The workflow, written out independently of cases.workflow.TRANSITIONS.
EXPECTED: dict[tuple[State, Action], tuple[State, frozenset[str]]] = {
    (S.SUBMITTED, A.SEND): (S.SENT_TO_PRISON, frozenset({C})),
    (S.SUBMITTED, A.REJECT): (S.REJECTED, frozenset({C})),
    (S.SUBMITTED, A.WITHDRAW): (S.WITHDRAWN, frozenset({C, P})),
    (S.SUBMITTED, A.TRANSFER): (S.SUBMITTED, frozenset({C, P})),
    (S.SUBMITTED, A.ACCEPT_TRANSFER): (S.SUBMITTED, frozenset({C, P})),
    (S.SUBMITTED, A.ADD_EXEMPTION): (S.SUBMITTED, frozenset({C, P})),
    (S.SUBMITTED, A.REMOVE_EXEMPTION): (S.SUBMITTED, frozenset({C, P})),
    (S.SENT_TO_PRISON, A.AUTHORISE): (S.AUTHORISED, frozenset({C, P})),
    (S.SENT_TO_PRISON, A.REJECT): (S.REJECTED, frozenset({C, P})),
    (S.SENT_TO_PRISON, A.WITHDRAW): (S.WITHDRAWN, frozenset({C, P})),
    (S.SENT_TO_PRISON, A.TRANSFER): (S.SENT_TO_PRISON, frozenset({C, P})),
    (S.SENT_TO_PRISON, A.ACCEPT_TRANSFER): (S.SENT_TO_PRISON, frozenset({C, P})),
    (S.SENT_TO_PRISON, A.ADD_EXEMPTION): (S.SENT_TO_PRISON, frozenset({C, P})),
    (S.SENT_TO_PRISON, A.REMOVE_EXEMPTION): (S.SENT_TO_PRISON, frozenset({C, P})),
    (S.AUTHORISED, A.REVOKE): (S.REVOKED, frozenset({C, P})),
    (S.AUTHORISED, A.WITHDRAW): (S.WITHDRAWN, frozenset({C, P})),
    (S.AUTHORISED, A.RELEASE): (S.RELEASED, frozenset({C, P})),
    (S.AUTHORISED, A.TRANSFER): (S.AUTHORISED, frozenset({C, P})),
    (S.AUTHORISED, A.ACCEPT_TRANSFER): (S.AUTHORISED, frozenset({C, P})),
    (S.AUTHORISED, A.REVIEW): (S.AUTHORISED, frozenset({C, P})),
    (S.AUTHORISED, A.ADD_EXEMPTION): (S.AUTHORISED, frozenset({C, P})),
    (S.AUTHORISED, A.REMOVE_EXEMPTION): (S.AUTHORISED, frozenset({C, P})),
    (S.AUTHORISED, A.REPORT_BREACH): (S.AUTHORISED, frozenset({C, P})),
}
ACTIONS = [a for a in Action if a is not Action.SUBMIT]
EXEMPTION = Exemption("B2345CD", "07700 900123", "shared household phone")
WHEN = at("2026-03-10")


def args_for(action: Action) -> dict[str, Any]:
    return {
        A.TRANSFER: {"establishment": "WDI"},
        A.ADD_EXEMPTION: {"exemption": EXEMPTION, "reason": "shared household"},
        A.REMOVE_EXEMPTION: {"exemption_id": "EX1", "reason": "moved out"},
        A.REPORT_BREACH: {"breach": Breach("BR1", WHEN, "cw1", "A1234BC", "call"), "reason": "call"},
    }.get(action, {"reason": "because"})


def case_in(state: State) -> Case:
    case = new_case()
    case = apply(
        case,
        A.ADD_EXEMPTION,
        CASEWORKER,
        at("2026-03-02", 11),
        POLICY,
        exemption=EXEMPTION,
        reason="shared household",
    )
    steps = {
        S.SUBMITTED: [],
        S.SENT_TO_PRISON: [A.SEND],
        S.AUTHORISED: [A.SEND, A.AUTHORISE],
        S.REJECTED: [A.REJECT],
        S.WITHDRAWN: [A.WITHDRAW],
        S.REVOKED: [A.SEND, A.AUTHORISE, A.REVOKE],
        S.RELEASED: [A.SEND, A.AUTHORISE, A.RELEASE],
    }[state]
    for action in steps:
        case = apply(case, action, CASEWORKER, at("2026-03-03"), POLICY, reason="because")
    assert case.state is state
    return case


def case_for(state: State, action: Action) -> Case:
    """A case in `state` on which `action` can be tried: a transfer to WDI recorded for an accept."""
    case = case_in(state)
    if action is A.ACCEPT_TRANSFER and state not in FINAL:
        case = apply(case, A.TRANSFER, CASEWORKER, at("2026-03-04"), POLICY, establishment="WDI")
    return case


def actor_for(role: str, action: Action | None = None) -> Actor:
    """P: staff of the prison holding the request, or, to accept a transfer, of the receiving one."""
    if role == C:
        return CASEWORKER
    return WDI_STAFF if action is A.ACCEPT_TRANSFER else HLI_STAFF


def moved(case: Case, to: str, when: dt.datetime) -> Case:
    """`case` transferred to `to` in two steps: recorded by casework, accepted by the receiving prison."""
    recorded = apply(case, A.TRANSFER, CASEWORKER, when, POLICY, establishment=to)
    return apply(recorded, A.ACCEPT_TRANSFER, Actor(f"sec-{to.lower()}", P, to), when, POLICY)


ALLOWED = [(s, a, role) for (s, a), (_, roles) in EXPECTED.items() for role in sorted(roles)]
REFUSED_ROLES = [(s, a, role) for (s, a), (_, roles) in EXPECTED.items() for role in {C, P} - roles]
REFUSED_STATES = [(s, a) for s in State for a in ACTIONS if (s, a) not in EXPECTED]


@pytest.mark.parametrize(("state", "action", "role"), ALLOWED)
def test_allowed_transition(state: State, action: Action, role: str) -> None:
    before = case_for(state, action)
    after = apply(before, action, actor_for(role, action), WHEN, POLICY, **args_for(action))
    assert after.state is EXPECTED[state, action][0]
    last = after.history[-1]
    assert after.history[:-1] == before.history  # append-only
    assert (last.action, last.from_state, last.to_state, last.at) == (action, state, after.state, WHEN)
    assert (last.actor, last.role) == (actor_for(role, action).id, role)
    assert (after.closed_at is not None) is (after.state in FINAL)


@pytest.mark.parametrize(("state", "action", "role"), REFUSED_ROLES)
def test_role_refused(state: State, action: Action, role: str) -> None:
    with pytest.raises(Forbidden) as err:
        apply(case_for(state, action), action, actor_for(role, action), WHEN, POLICY, **args_for(action))
    assert err.value.field == "role"


LWI_STAFF = Actor("sec-lwi", P, "LWI")


@pytest.mark.parametrize(("state", "action"), [(s, a) for (s, a) in EXPECTED])
@pytest.mark.parametrize(
    "actor", [DIALLER, ADMIN, WDI_STAFF, LWI_STAFF, UNBOUND_SECURITY], ids=lambda a: a.id
)
def test_other_roles_and_other_prisons_refused(state: State, action: Action, actor: Actor) -> None:
    """Only the holding prison acts on a request (WDI, the receiving prison of the transfer in
    args_for, cannot take it by recording it); only the receiving prison (WDI) accepts a transfer
    (HLI, the holding prison, cannot)."""
    if action is A.ACCEPT_TRANSFER and actor is WDI_STAFF:
        actor = HLI_STAFF
    with pytest.raises(Forbidden):
        apply(case_for(state, action), action, actor, WHEN, POLICY, **args_for(action))


@pytest.mark.parametrize(("state", "action"), REFUSED_STATES)
def test_state_refused(state: State, action: Action) -> None:
    case = case_in(state)
    with pytest.raises(InvalidTransition) as err:
        apply(case, action, CASEWORKER, WHEN, POLICY, **args_for(action))
    assert err.value.state == state.value
    assert str(err.value).startswith("state: cannot")


def test_every_final_state_allows_nothing() -> None:
    for state in FINAL:
        assert not [a for (s, a) in EXPECTED if s is state]


def test_a_transfer_is_recorded_by_the_holding_prison_and_accepted_by_the_receiving_one() -> None:
    case = case_in(S.AUTHORISED)
    with pytest.raises(Forbidden):  # the receiving prison cannot take a request (issue 16 item 1)
        apply(case, A.TRANSFER, WDI_STAFF, WHEN, POLICY, establishment="WDI")
    recorded = apply(case, A.TRANSFER, HLI_STAFF, WHEN, POLICY, establishment="WDI")
    assert (recorded.establishment, recorded.transfer_to) == ("HLI", "WDI")
    with pytest.raises(Forbidden):  # until it is accepted, WDI acts on nothing else
        apply(recorded, A.REVIEW, WDI_STAFF, WHEN, POLICY, reason="x")
    with pytest.raises(Forbidden):  # and the holding prison cannot accept for it
        apply(recorded, A.ACCEPT_TRANSFER, HLI_STAFF, WHEN, POLICY)
    accepted = apply(recorded, A.ACCEPT_TRANSFER, WDI_STAFF, WHEN, POLICY)
    assert (accepted.establishment, accepted.transfer_to) == ("WDI", None)
    assert [h.action for h in accepted.history[-2:]] == [A.TRANSFER, A.ACCEPT_TRANSFER]
    assert dict(accepted.history[-1].details) == {"from": "HLI", "to": "WDI"}
    # ...and from then on only WDI staff act on it at prison level.
    with pytest.raises(Forbidden):
        apply(accepted, A.REVIEW, HLI_STAFF, WHEN, POLICY, reason="x")
    apply(accepted, A.REVIEW, WDI_STAFF, WHEN, POLICY, reason="x")


def test_accept_needs_a_recorded_transfer_and_a_final_state_drops_it() -> None:
    with pytest.raises(InvalidTransition) as err:
        apply(case_in(S.AUTHORISED), A.ACCEPT_TRANSFER, CASEWORKER, WHEN, POLICY)
    assert A.ACCEPT_TRANSFER.value not in err.value.allowed
    recorded = apply(case_in(S.AUTHORISED), A.TRANSFER, CASEWORKER, WHEN, POLICY, establishment="WDI")
    again = apply(recorded, A.TRANSFER, HLI_STAFF, WHEN, POLICY, establishment="LWI")  # the newer wins
    assert again.transfer_to == "LWI"
    closed = apply(again, A.RELEASE, HLI_STAFF, WHEN, POLICY, reason="released")
    assert closed.transfer_to is None


def test_submit_roles() -> None:
    request = make_request()
    assert submit("UPC-2026-000009", request, HLI_STAFF, WHEN, POLICY).state is S.SUBMITTED
    for actor in (WDI_STAFF, DIALLER, ADMIN, UNBOUND_SECURITY):
        with pytest.raises(Forbidden):
            submit("UPC-2026-000009", request, actor, WHEN, POLICY)


@pytest.mark.parametrize(
    "action", sorted(a for a in ACTIONS if a not in {A.SEND, A.AUTHORISE, A.TRANSFER, A.ACCEPT_TRANSFER})
)
def test_reason_required(action: Action) -> None:
    state = next(s for (s, a) in EXPECTED if a is action)
    kwargs = {**args_for(action), "reason": "  "}
    with pytest.raises(ValidationError) as err:
        apply(case_in(state), action, CASEWORKER, WHEN, POLICY, **kwargs)
    assert err.value.field == "reason"


def test_authorise_needs_a_prison_number() -> None:
    case = new_case(prisoner={"name": "John Doe", "establishment": "HLI"})
    case = apply(case, A.SEND, CASEWORKER, WHEN, POLICY)
    with pytest.raises(ValidationError) as err:
        apply(case, A.AUTHORISE, HLI_STAFF, WHEN, POLICY)
    assert err.value.field == "prisoner_number"
    done = apply(case, A.AUTHORISE, HLI_STAFF, WHEN, POLICY, prisoner_number="A9999ZZ")
    assert done.entry().prisoner == "A9999ZZ"
    assert dict(done.history[-1].details) == {"prisoner": "A9999ZZ"}


@pytest.mark.parametrize(
    ("bad", "field"),
    [({"establishment": None}, "establishment"), ({"establishment": "HLI"}, "establishment")],
)
def test_transfer_arguments(bad: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        apply(case_in(S.AUTHORISED), A.TRANSFER, CASEWORKER, WHEN, POLICY, **bad)
    assert err.value.field == field


def test_remove_unknown_exemption() -> None:
    with pytest.raises(ValidationError) as err:
        apply(
            case_in(S.AUTHORISED),
            A.REMOVE_EXEMPTION,
            CASEWORKER,
            WHEN,
            POLICY,
            exemption_id="EX7",
            reason="x",
        )
    assert err.value.field == "exemption_id"


# -- due dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("submitted", "send_due", "sent", "block_due"),
    [
        ("2026-03-02", "2026-03-03", "2026-03-03", "2026-03-05"),  # plain week
        ("2026-03-06", "2026-03-09", "2026-03-09", "2026-03-11"),  # Friday, weekend
        ("2026-04-02", "2026-04-07", "2026-04-07", "2026-04-09"),  # Good Friday + Easter Monday
        ("2026-05-01", "2026-05-05", "2026-05-01", "2026-05-06"),  # Early May bank holiday
        ("2026-12-23", "2026-12-24", "2026-12-24", "2026-12-30"),  # Christmas, Boxing Day (observed)
    ],
)
def test_sla_due_dates(submitted: str, send_due: str, sent: str, block_due: str) -> None:
    case = new_case(when=submitted)
    assert case.send_due == dt.date.fromisoformat(send_due)
    case = apply(case, A.SEND, CASEWORKER, at(sent), POLICY)
    assert case.block_due == dt.date.fromisoformat(block_due)


def test_overdue_flags_follow_state() -> None:
    case = new_case(when="2026-04-02")  # send due Tue 7 April
    assert not case.overdue(at("2026-04-07", 20))
    assert case.deadlines(at("2026-04-08"))["send_overdue"] is True
    sent = apply(case, A.SEND, CASEWORKER, at("2026-04-08"), POLICY)  # block due Fri 10 April
    assert not sent.overdue(at("2026-04-10"))
    assert sent.deadlines(at("2026-04-13"))["block_overdue"] is True
    done = apply(sent, A.AUTHORISE, CASEWORKER, at("2026-04-13"), POLICY)
    assert not done.overdue(at("2026-05-01"))


def no_consent_case(**changes: Any) -> Case:
    return new_case(pathway=4, consent="not_given", rationale="police intelligence", **changes)


def test_review_dates_for_no_consent_requests() -> None:
    case = apply(no_consent_case(), A.SEND, CASEWORKER, at("2026-03-02"), POLICY)
    case = apply(case, A.AUTHORISE, CASEWORKER, at("2026-03-03"), POLICY)
    assert case.review_due == dt.date(2026, 6, 1)  # 3 March + 90 days
    assert not case.review_is_due(at("2026-05-29")) and case.review_is_due(at("2026-06-01"))
    # A transfer brings the review forward to two working days after it (Easter in the way).
    there = moved(case, "WDI", at("2026-04-02"))
    assert there.review_due == dt.date(2026, 4, 8)
    reviewed = apply(there, A.REVIEW, WDI_STAFF, at("2026-04-08"), POLICY, reason="still needed")
    assert reviewed.review_due == dt.date(2026, 7, 7)
    assert reviewed.deadlines(at("2026-07-08"))["review_overdue"] is True


def test_consent_requests_have_no_reviews() -> None:
    case = case_in(S.AUTHORISED)
    assert case.review_due is None
    assert moved(case, "WDI", WHEN).review_due is None


def test_transfer_before_authorisation_restarts_the_prison_clock() -> None:
    case = apply(new_case(when="2026-03-02"), A.SEND, CASEWORKER, at("2026-03-02"), POLICY)
    recorded = apply(case, A.TRANSFER, CASEWORKER, at("2026-03-03"), POLICY, establishment="WDI")
    assert (recorded.establishment, recorded.block_due) == ("HLI", case.block_due)  # not there yet
    there = apply(recorded, A.ACCEPT_TRANSFER, WDI_STAFF, at("2026-03-04"), POLICY)
    assert (there.establishment, there.block_due) == ("WDI", dt.date(2026, 3, 6))


# -- the entry and the blocklist ------------------------------------------------------------------


def test_transfer_scope_follows_the_prisoner() -> None:
    case = case_in(S.AUTHORISED)
    assert apply(case, A.TRANSFER, CASEWORKER, WHEN, POLICY, establishment="WDI").scope is None
    scoped = dataclasses.replace(case, scope=frozenset({"HLI"}))
    recorded = apply(scoped, A.TRANSFER, CASEWORKER, WHEN, POLICY, establishment="WDI")
    assert recorded.entry().scope == frozenset({"HLI", "WDI"})  # the block covers WDI from the record
    assert entry_change(scoped, recorded) == "upsert"
    accepted = apply(recorded, A.ACCEPT_TRANSFER, WDI_STAFF, WHEN, POLICY)
    assert entry_change(recorded, accepted) is None
    assert entry_change(case, apply(case, A.TRANSFER, CASEWORKER, WHEN, POLICY, establishment="WDI")) is None


@pytest.mark.parametrize(
    ("state", "action", "change"),
    [
        (S.SUBMITTED, A.SEND, None),
        (S.SENT_TO_PRISON, A.AUTHORISE, "upsert"),
        (S.SENT_TO_PRISON, A.REJECT, None),
        (S.AUTHORISED, A.REVOKE, "remove"),
        (S.AUTHORISED, A.WITHDRAW, "remove"),
        (S.AUTHORISED, A.RELEASE, "remove"),
        (S.AUTHORISED, A.REVIEW, None),
        (S.AUTHORISED, A.REPORT_BREACH, None),
        (S.AUTHORISED, A.ADD_EXEMPTION, "upsert"),
        (S.AUTHORISED, A.REMOVE_EXEMPTION, "upsert"),
        (S.SENT_TO_PRISON, A.ADD_EXEMPTION, None),
    ],
)
def test_entry_change(state: State, action: Action, change: str | None) -> None:
    before = case_in(state)
    after = apply(before, action, CASEWORKER, WHEN, POLICY, **args_for(action))
    assert entry_change(before, after) == change


def test_entry_carries_the_exemptions_and_reference() -> None:
    case = case_in(S.AUTHORISED)
    entry = case.entry()
    assert entry.reference == case.id
    assert entry.exemptions == (EXEMPTION,)
    removed = apply(case, A.REMOVE_EXEMPTION, HLI_STAFF, WHEN, POLICY, exemption_id="EX1", reason="moved")
    assert removed.entry().exemptions == ()
    again = apply(removed, A.ADD_EXEMPTION, HLI_STAFF, WHEN, POLICY, exemption=EXEMPTION, reason="back")
    assert [e.id for e in again.exemptions] == ["EX2"]  # ids are never reused


def test_history_holds_no_protected_details() -> None:
    case = case_in(S.AUTHORISED)
    case = apply(
        case,
        A.REPORT_BREACH,
        CASEWORKER,
        WHEN,
        POLICY,
        reason="call",
        breach=Breach("BR1", WHEN, "cw1", "B2345CD", "third_party", ("01H",)),
    )
    text = repr(case.history)
    for secret in ("07700", "jane", "Jane", "HU1", "High Street", "vlo.kay"):
        assert secret not in text
