from __future__ import annotations

import copy
import json

import pytest

from matcher.entries import Entry
from matcher.errors import ValidationError

GOOD = {
    "reference": "UPC-2026-000123",
    "prisoner": "a1234bc",
    "scope": ["hli", "HMI"],
    "protected": [
        {
            "name": "Jane Smith",
            "phones": ["07911 123456"],
            "emails": ["jane@example.com"],
            "addresses": [{"lines": ["Flat 2", "14 High Street", "Hull"], "postcode": "HU1 2AB"}],
        }
    ],
    "exemptions": [{"prisoner": "B2345CD", "identifier": "07911 123456", "reason": "shared landline"}],
}


def test_round_trip_normalises_prisoner_and_scope() -> None:
    entry = Entry.from_dict(GOOD)
    assert entry.prisoner == "A1234BC"
    assert entry.scope == frozenset({"HLI", "HMI"})
    again = Entry.from_dict(entry.to_dict())
    assert again == entry
    assert entry.to_dict()["scope"] == ["HLI", "HMI"]
    assert entry.identifier_count() == 3


def test_scope_all_is_none_and_applies_everywhere() -> None:
    entry = Entry.from_dict({**GOOD, "scope": "all"})
    assert entry.scope is None
    assert entry.applies_to("ANY")
    assert not Entry.from_dict(GOOD).applies_to("WDI")


def _with(path: list[object], value: object) -> dict[str, object]:
    data = copy.deepcopy(GOOD)
    target: object = data
    for step in path[:-1]:
        target = target[step]  # type: ignore[index]
    if value is KeyError:
        del target[path[-1]]  # type: ignore[attr-defined]
    else:
        target[path[-1]] = value  # type: ignore[index]
    return data


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["reference"], KeyError, "reference"),
        (["reference"], "has space", "reference"),
        (["reference"], 123, "reference"),
        (["prisoner"], "", "prisoner"),
        (["prisoner"], KeyError, "prisoner"),
        (["scope"], [], "scope"),
        (["scope"], ["H"], "scope[0]"),
        (["scope"], "some", "scope"),
        (["protected"], [], "protected"),
        (["protected", 0, "phones"], "07911 123456", "protected[0].phones"),
        (["protected", 0, "phones"], ["07911", ""], "protected[0].phones[1]"),
        (["protected", 0, "emails"], [7], "protected[0].emails[0]"),
        (["protected", 0, "addresses", 0, "postcode"], KeyError, "protected[0].addresses[0].postcode"),
        (["protected", 0, "addresses", 0, "lines"], [], "protected[0].addresses[0].lines"),
        (["protected", 0, "addresses", 0, "colour"], "red", "protected[0].addresses[0].colour"),
        (["protected", 0, "nickname"], "JJ", "protected[0].nickname"),
        (["exemptions", 0, "reason"], KeyError, "exemptions[0].reason"),
        (["exemptions"], {}, "exemptions"),
        (["extra"], 1, "extra"),
    ],
)
def test_bad_input_names_the_field(path: list[object], value: object, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Entry.from_dict(_with(path, value))
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


def test_person_without_any_identifier_is_refused() -> None:
    data = _with(["protected", 0], {"name": "Jane Smith"})
    with pytest.raises(ValidationError) as info:
        Entry.from_dict(data)
    assert info.value.field == "protected[0]"


def test_not_an_object() -> None:
    with pytest.raises(ValidationError) as info:
        Entry.from_dict(["reference"])
    assert info.value.field == "entry"


def test_oversized_lists_are_refused() -> None:
    data = _with(["protected", 0, "phones"], ["07911 123456"] * 51)
    with pytest.raises(ValidationError, match=r"protected\[0\]\.phones"):
        Entry.from_dict(data)


def test_record_round_trip_rebuilds_an_equal_entry() -> None:
    data = copy.deepcopy(GOOD)
    data["scope"] = ["HLI", "WDI"]
    data["protected"].append({"name": None, "emails": ["a@example.com"]})
    data["exemptions"] = [{"prisoner": "B2345CD", "identifier": "07911 123456", "reason": "shared phone"}]
    entry = Entry.from_dict(data)
    record = json.loads(json.dumps(entry.to_record()))  # what a file gives back
    rebuilt = Entry.from_record(record)
    assert rebuilt == entry and hash(rebuilt) == hash(entry)
    assert rebuilt.to_dict() == entry.to_dict()
    with pytest.raises((TypeError, ValueError)):
        Entry.from_record(record[:3])
