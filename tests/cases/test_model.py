from __future__ import annotations

from typing import Any

import pytest

from cases.model import Consent, Pathway, Request, check_identifiers
from config import load_profile
from matcher.errors import ValidationError
from tests.support.case_data import NAME, request_data

PROFILE = load_profile(environ={})


def person(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": NAME, "phones": ["07700 900123"]}
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"protected": []}, "protected"),
        ({"protected": [{"name": NAME}]}, "protected[0]"),  # no identifiers at all
        ({"protected": [{"name": NAME, "phones": [], "emails": [], "addresses": []}]}, "protected[0]"),
        ({"protected": [{"phones": ["07700 900123"]}]}, "protected[0].name"),
        ({"pathway": 5}, "pathway"),
        ({"pathway": "1"}, "pathway"),
        ({"pathway": True}, "pathway"),
        ({"consent": "yes"}, "consent"),
        ({"pathway": 3, "consent": "not_given", "rationale": "x"}, "consent"),
        ({"pathway": 3, "consent": "unknown", "rationale": "x"}, "consent"),
        ({"pathway": 2, "consent": "not_given", "rationale": "x"}, "consent"),
        ({"pathway": 1, "consent": "not_given"}, "rationale"),
        ({"pathway": 1, "consent": "unknown", "rationale": "   "}, "rationale"),
        ({"pathway": 4, "consent": "given"}, "rationale"),
        ({"requester": {"role": "police", "contact": "x"}}, "requester.name"),
        ({"requester": {"name": "A", "role": "police"}}, "requester.contact"),
        ({"requester": {"name": "A", "role": "cousin", "contact": "x"}}, "requester.role"),
        ({"prisoner": {"name": "John Doe"}}, "prisoner.establishment"),
        ({"prisoner": {"name": "John Doe", "establishment": "HLI", "number": "a 1"}}, "prisoner.number"),
        ({"prisoner": {"establishment": "HLI"}}, "prisoner.name"),
        ({"scope": ["HLI", "not a code"]}, "scope[1]"),
        ({"scope": []}, "scope"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_structure_errors_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        Request.from_dict(request_data(**changes))
    assert err.value.field == field


@pytest.mark.parametrize(
    ("protected", "field"),
    [
        (person(phones=["999"]), "protected[0].phones[0]"),
        (person(phones=["07700 900123", "112"]), "protected[0].phones[1]"),
        (person(phones=["116 123"]), "protected[0].phones[0]"),  # Samaritans
        (person(emails=["not-an-email"]), "protected[0].emails[0]"),
        (
            person(addresses=[{"lines": ["14 High Street"], "postcode": "HU1 ZZZ"}]),
            "protected[0].addresses[0].postcode",
        ),
        (
            person(addresses=[{"lines": ["14 High Street"], "postcode": "12345"}]),
            "protected[0].addresses[0].postcode",
        ),
    ],
)
def test_identifier_errors_name_the_field_in_request_schema(protected: dict[str, Any], field: str) -> None:
    request = Request.from_dict(request_data(protected=[person(), protected]))
    with pytest.raises(ValidationError) as err:
        check_identifiers(request, PROFILE)
    assert err.value.field == field.replace("protected[0]", "protected[1]")
    assert not err.value.field.startswith("UPC")


def test_valid_request_round_trips() -> None:
    request = Request.from_dict(
        request_data(pathway=4, consent="not_given", rationale="intelligence report", scope=["hli", "WDI"])
    )
    check_identifiers(request, PROFILE)
    assert request.pathway is Pathway.NECESSARY_AND_PROPORTIONATE
    assert request.consent is Consent.NOT_GIVEN
    assert request.scope == frozenset({"HLI", "WDI"})
    assert request.needs_review
    assert Request.from_dict(request.to_dict()) == request


def test_prison_number_may_be_unknown_at_intake() -> None:
    request = Request.from_dict(request_data(prisoner={"name": "John Doe", "establishment": "hli"}))
    assert request.prisoner.number is None
    assert request.prisoner.establishment == "HLI"
    check_identifiers(request, PROFILE)
