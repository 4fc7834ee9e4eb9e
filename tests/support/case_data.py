"""Requests for case tests: fictional people, Ofcom drama-range numbers, example.com emails."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from cases.calendar import CasePolicy
from cases.model import Request
from cases.workflow import Actor, Case, submit

UTC = dt.UTC
POLICY = CasePolicy()
CASEWORKER = Actor("cw1", "casework")
HLI_STAFF = Actor("sec-hli", "security", "HLI")
WDI_STAFF = Actor("sec-wdi", "security", "WDI")
UNBOUND_SECURITY = Actor("sec-any", "security", None)
DIALLER = Actor("dial", "dialler", "HLI")
ADMIN = Actor("adm", "admin")

PHONE = "07700 900123"
EMAIL = "jane.smith@example.com"
POSTCODE = "HU1 2AB"
NAME = "Jane Smith"


def request_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "pathway": 1,
        "consent": "given",
        "rationale": None,
        "requester": {
            "name": "Victim Liaison Officer Kay",
            "organisation": "Humberside Police",
            "role": "police",
            "contact": "vlo.kay@example.org",
        },
        "prisoner": {"number": "A1234BC", "name": "John Doe", "establishment": "HLI"},
        "protected": [
            {
                "name": NAME,
                "phones": [PHONE],
                "emails": [EMAIL],
                "addresses": [{"lines": ["Flat 2", "14 High Street", "Hull"], "postcode": POSTCODE}],
            }
        ],
        "scope": "all",
    }
    data = copy.deepcopy(data)
    data.update(changes)
    return data


def make_request(**changes: Any) -> Request:
    return Request.from_dict(request_data(**changes))


def at(day: str, hour: int = 10) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def new_case(case_id: str = "UPC-2026-000001", when: str = "2026-03-02", **changes: Any) -> Case:
    return submit(case_id, make_request(**changes), CASEWORKER, at(when), POLICY)
