from __future__ import annotations

from typing import Any

import pytest

from cases.notice import TEMPLATE, notice_text, prisoner_notice
from tests.support.case_data import NAME, new_case


def test_notice_names_the_person() -> None:
    text = prisoner_notice(new_case())
    assert NAME in text
    assert text == TEMPLATE.format(names=NAME)


@pytest.mark.parametrize(
    "changes",
    [
        {"pathway": 4, "consent": "not_given", "rationale": "Intelligence from HMP Hull security"},
        {"requester": {"name": "Someone Else", "role": "probation", "contact": "other@example.org"}},
        {"prisoner": {"number": "Z9999ZZ", "name": "Other Prisoner", "establishment": "WDI"}},
        {"scope": ["HLI"]},
        {
            "protected": [
                {
                    "name": NAME,
                    "phones": ["07700 900999"],
                    "addresses": [{"lines": ["1 Other Road"], "postcode": "LS1 4AP"}],
                }
            ]
        },
    ],
)
def test_nothing_but_the_name_reaches_the_notice(changes: dict[str, Any]) -> None:
    # Change everything except the name: the notice must not change.
    assert prisoner_notice(new_case(**changes)) == prisoner_notice(new_case())


def test_notice_leaks_no_identifier() -> None:
    text = prisoner_notice(new_case()).lower()
    for secret in (
        "07700",
        "900123",
        "jane.smith@",
        "example.com",
        "hu1",
        "high street",
        "flat 2",
        "hull",
        "humberside",
        "kay",
        "police",
        "pathway",
    ):
        assert secret not in text


def test_several_people() -> None:
    people = [
        {"name": "Jane Smith", "phones": ["07700 900123"]},
        {"name": "Tom Smith", "phones": ["07700 900124"]},
        {"name": "Amy Smith", "emails": ["amy@example.com"]},
    ]
    text = prisoner_notice(new_case(protected=people))
    assert "Jane Smith, Tom Smith or Amy Smith" in text
    with pytest.raises(ValueError, match="name"):
        notice_text([])
