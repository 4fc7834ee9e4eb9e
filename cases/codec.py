"""Cases to and from JSON-ready dicts (the store's record, exactly round-tripped) and the views
handed out by role: casework sees everything; prison staff see what they need to act (names,
pathway, rationale, dates, history) without the requester's or the protected people's contact
details."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cases.model import Consent, Pathway, Prisoner, Request, Requester, RequesterRole
from cases.workflow import Action, Actor, Breach, Case, CaseExemption, HistoryEntry, Role, State
from matcher.entries import Exemption, ProtectedPerson


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: Any) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def _date(value: Any) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(value)


def history_to_dict(h: HistoryEntry) -> dict[str, Any]:
    return {
        "at": h.at.isoformat(),
        "action": h.action.value,
        "actor": h.actor,
        "role": h.role,
        "from": None if h.from_state is None else h.from_state.value,
        "to": h.to_state.value,
        "reason": h.reason,
        "details": dict(h.details),
    }


def history_from_dict(d: dict[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        at=dt.datetime.fromisoformat(d["at"]),
        action=Action(d["action"]),
        actor=d["actor"],
        role=d["role"],
        from_state=None if d["from"] is None else State(d["from"]),
        to_state=State(d["to"]),
        reason=d["reason"],
        details=tuple(sorted(d["details"].items())),
    )


def breach_to_dict(b: Breach) -> dict[str, Any]:
    return {
        "id": b.id,
        "at": b.at.isoformat(),
        "by": b.by,
        "prisoner": b.prisoner,
        "channel": b.channel,
        "hits": list(b.hits),
    }


def case_to_record(case: Case) -> dict[str, Any]:
    """Everything but the history (stored as its own append-only list)."""
    return {
        "id": case.id,
        "request": case.request.to_dict(),
        "state": case.state.value,
        "establishment": case.establishment,
        "prisoner_number": case.prisoner_number,
        "scope": None if case.scope is None else sorted(case.scope),
        "submitted_at": _time(case.submitted_at),
        "send_due": case.send_due.isoformat(),
        "sent_at": _time(case.sent_at),
        "block_due": None if case.block_due is None else case.block_due.isoformat(),
        "authorised_at": _time(case.authorised_at),
        "review_due": None if case.review_due is None else case.review_due.isoformat(),
        "closed_at": _time(case.closed_at),
        "exemptions": [{"id": e.id, **e.exemption.to_dict()} for e in case.exemptions],
        "breaches": [breach_to_dict(b) for b in case.breaches],
        "transfer_to": case.transfer_to,
    }


def _request_from_dict(d: dict[str, Any]) -> Request:
    r, p = d["requester"], d["prisoner"]
    return Request(
        pathway=Pathway(d["pathway"]),
        consent=Consent(d["consent"]),
        rationale=d["rationale"],
        requester=Requester(r["name"], RequesterRole(r["role"]), r["contact"], r["organisation"]),
        prisoner=Prisoner(p["name"], p["establishment"], p["number"]),
        protected=tuple(
            ProtectedPerson.from_dict(x, f"protected[{i}]") for i, x in enumerate(d["protected"])
        ),
        scope=None if d["scope"] == "all" else frozenset(d["scope"]),
    )


def case_from_record(d: dict[str, Any], history: list[dict[str, Any]]) -> Case:
    exemptions = []
    for raw in d["exemptions"]:
        fields = {k: v for k, v in raw.items() if k != "id"}
        exemptions.append(CaseExemption(raw["id"], Exemption.from_dict(fields, "exemption")))
    submitted = _parse_time(d["submitted_at"])
    send_due = _date(d["send_due"])
    assert submitted is not None and send_due is not None
    return Case(
        id=d["id"],
        request=_request_from_dict(d["request"]),
        state=State(d["state"]),
        establishment=d["establishment"],
        prisoner_number=d["prisoner_number"],
        scope=None if d["scope"] is None else frozenset(d["scope"]),
        submitted_at=submitted,
        send_due=send_due,
        sent_at=_parse_time(d["sent_at"]),
        block_due=_date(d["block_due"]),
        authorised_at=_parse_time(d["authorised_at"]),
        review_due=_date(d["review_due"]),
        closed_at=_parse_time(d["closed_at"]),
        exemptions=tuple(exemptions),
        breaches=tuple(
            Breach(
                b["id"],
                dt.datetime.fromisoformat(b["at"]),
                b["by"],
                b["prisoner"],
                b["channel"],
                tuple(b["hits"]),
            )
            for b in d["breaches"]
        ),
        history=tuple(history_from_dict(h) for h in history),
        transfer_to=d.get("transfer_to"),  # absent from records written before two-step transfers
    )


def case_view(case: Case, actor: Actor, now: dt.datetime) -> dict[str, Any]:
    """What `actor` may see of `case`, with its deadlines at `now`."""
    record = case_to_record(case)
    if actor.role != Role.CASEWORK:
        request = record["request"]
        request["requester"] = {k: request["requester"][k] for k in ("role", "organisation")}
        request["protected"] = [
            {"name": p.name, "phones": len(p.phones), "emails": len(p.emails), "addresses": len(p.addresses)}
            for p in case.request.protected
        ]
        record["exemptions"] = [
            {"id": e.id, "prisoner": e.exemption.prisoner, "reason": e.exemption.reason}
            for e in case.exemptions
        ]
    return {
        **record,
        "scope": "all" if case.scope is None else sorted(case.scope),
        "deadlines": case.deadlines(now),
        "history": [history_to_dict(h) for h in case.history],
    }


def case_summary(case: Case, now: dt.datetime) -> dict[str, Any]:
    """One line of a listing: no protected or requester details."""
    deadlines = case.deadlines(now)
    return {
        "id": case.id,
        "state": case.state.value,
        "pathway": case.request.pathway.value,
        "consent": case.request.consent.value,
        "prisoner": case.prisoner_number,
        "establishment": case.establishment,
        "transfer_to": case.transfer_to,
        "submitted_at": _time(case.submitted_at),
        **deadlines,
    }
