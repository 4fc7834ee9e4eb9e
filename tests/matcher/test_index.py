from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config import load_profile
from matcher.entries import Entry
from matcher.errors import InvalidEmail, InvalidNumber, UnblockableNumber, ValidationError
from matcher.index import Index, check_entry
from matcher.profile import Profile

GB = load_profile(environ={})


def entry(reference: str = "UPC-1", prisoner: str = "A1234BC", **person: Any) -> Entry:
    extra = {k: person.pop(k) for k in ("scope", "exemptions") if k in person}
    return Entry.from_dict(
        {
            "reference": reference,
            "prisoner": prisoner,
            "protected": [{"name": "Jane Smith", **person}],
            **extra,
        }
    )


JANE = entry(
    phones=["07700 900123"],
    emails=["jane.smith@gmail.com"],
    addresses=[{"lines": ["Flat 2", "14 High Street", "Hull"], "postcode": "HU1 2AB"}],
)
ROSE = entry(
    "UPC-2",
    "B2345CD",
    phones=["01632 960001"],
    addresses=[{"lines": ["Rose Cottage", "Mill Lane", "Cottingham"], "postcode": "HU16 4AA"}],
    scope=["HLI"],
    exemptions=[
        {"prisoner": "C3456DE", "identifier": "01632 960001", "reason": "mother's landline"},
        {
            "prisoner": "C3456DE",
            "identifier": "Rose Cottage, HU16 4AA",
            "reason": "mother",
            "name": "Mary Brown",
        },
    ],
)


@pytest.fixture(scope="module")
def index() -> Index:
    return Index.build([JANE, ROSE], GB, version=7)


# ---- calls -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prisoner", "number", "decision", "relay"),
    [
        ("A1234BC", "07700 900123", "block", False),
        ("a1234bc", "9 141 07700900123", "block", False),
        ("Z9999ZZ", "+44 (0)7700 900123 ext 4", "block", True),
        ("Z9999ZZ", "07700 900124", "allow", None),
        ("Z9999ZZ", "999", "allow", None),
    ],
)
def test_call(index: Index, prisoner: str, number: str, decision: str, relay: bool | None) -> None:
    answer = index.screen_call("HLI", prisoner, number)
    assert answer.decision == decision
    assert answer.relay is relay
    assert answer.version == 7
    if decision == "block":
        assert answer.reference == "UPC-1"
        assert [(m.reference, m.kind) for m in answer.matches] == [("UPC-1", "phone")]


def test_call_scope_and_exemption(index: Index) -> None:
    assert index.screen_call("HLI", "Z9999ZZ", "01632 960001").decision == "block"
    assert index.screen_call("WDI", "Z9999ZZ", "01632 960001").decision == "allow"  # out of scope
    assert index.screen_call("HLI", "C3456DE", "01632 960001").decision == "allow"  # exempt
    assert index.screen_call("HLI", "B2345CD", "01632 960001").decision == "block"


def test_call_unreadable_number_names_the_field(index: Index) -> None:
    with pytest.raises(InvalidNumber) as info:
        index.screen_call("HLI", "A1234BC", "not a number")
    assert info.value.field == "number"


def test_site_prefix_only_at_its_establishment() -> None:
    profile = Profile.from_dict(
        {
            **_gb_data(),
            "establishments": {"WDI": {"name": "HMP Wakefield", "dial_prefixes": ["77"]}},
        }
    )
    index = Index.build([JANE], profile)
    assert index.screen_call("WDI", "Z9999ZZ", "77 07700 900123").decision == "block"
    assert index.screen_call("WDI", "Z9999ZZ", "77 9 07700 900123").decision == "block"


def test_two_entries_one_number_primary_first() -> None:
    other = entry("UPC-3", "Z9999ZZ", phones=["07700900123"])
    index = Index.build([JANE, other], GB)
    answer = index.screen_call("HLI", "Z9999ZZ", "07700 900123")
    assert answer.reference == "UPC-3" and answer.relay is False
    assert {m.reference for m in answer.matches} == {"UPC-1", "UPC-3"}


# ---- messages ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "content", "decision", "kind"),
    [
        ("jane.smith@gmail.com", None, "block", "email"),
        ("JaneSmith+hi@googlemail.com", None, "block", "email"),
        ("07700 900123", None, "block", "phone"),
        ("friend@example.com", "tell her to ring me on +44 7700 900 123", "block", "phone"),
        ("friend@example.com", "her address is j.a.n.e.smith@gmail.com", "block", "email"),
        ("friend@example.com", "see you soon", "allow", None),
    ],
)
def test_message(index: Index, to: str, content: str | None, decision: str, kind: str | None) -> None:
    answer = index.screen_message("HLI", "Z9999ZZ", to, content)
    assert answer.decision == decision
    if kind:
        assert answer.matches[0].kind == kind and answer.reference == "UPC-1"


@pytest.mark.parametrize(("to", "error"), [("jane@", InvalidEmail), ("call me", InvalidNumber)])
def test_message_bad_recipient_names_to(index: Index, to: str, error: type[ValidationError]) -> None:
    with pytest.raises(error) as info:
        index.screen_message("HLI", "Z9999ZZ", to)
    assert info.value.field == "to"


# ---- mail --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("envelope", "decision"),
    [
        ("Miss J Smith\nFlat 2\n14 High Street\nHull\nHU1 2AB", "block"),
        ("THE OCCUPIER, 14 HIGH ST, HULL, HU12AB", "hold"),  # a blocked flat's building, no flat named
        ("THE OCCUPIER, FLAT 2, 14 HIGH ST, HULL, HU12AB", "block"),  # any name at a barred address
        ("Mr P Jones, Flat 3, 14 High Street, Hull HU1 2AB", "hold"),  # same building, other flat
        ("Mr P Jones, 16 High Street, Hull HU1 2AB", "allow"),  # next door
        ("Mr P Jones, 114 High Street, Hull HU1 2AB", "allow"),
        ("Mr P Jones, 14A High Street, Hull HU1 2AB", "allow"),
        ("J Smith, 14 High Street, Hull", "hold"),  # phrase and town, no postcode
        ("Mr P Jones, 1 Park Road, Leeds LS1 1AA", "allow"),
    ],
)
def test_mail(index: Index, envelope: str, decision: str) -> None:
    sender = "\nFrom: A1234BC J BLOGGS, HMP Hull, Hedon Road, Hull HU9 5LS"
    answer = index.screen_mail("HLI", "Z9999ZZ", envelope + sender)
    assert answer.decision == decision, answer
    if decision != "allow":
        assert answer.reference == "UPC-1"
        assert answer.relay is True
        assert answer.matches[0].kind == "address"


def test_mail_house_name_scope_and_relative_exemption(index: Index) -> None:
    letter = "Mrs Mary Brown\nRose Cottage\nMill Lane\nCottingham\nHU16 4AA"
    assert index.screen_mail("HLI", "Z9999ZZ", letter).decision == "block"
    assert index.screen_mail("WDI", "Z9999ZZ", letter).decision == "allow"  # out of scope
    assert index.screen_mail("HLI", "C3456DE", letter).decision == "allow"  # exempt: his mother
    to_victim = letter.replace("Mrs Mary Brown", "Mr Amir Smith")
    assert index.screen_mail("HLI", "C3456DE", to_victim).decision == "block"  # exemption names Mary only


def test_return_address_alone_never_matches(index: Index) -> None:
    answer = index.screen_mail("HLI", "A1234BC", "HMP Hull, Hedon Road, Hull HU9 5LS")
    assert answer.decision == "allow" and answer.matches == ()


def test_contact_details_in_the_letter_hold_it(index: Index) -> None:
    answer = index.screen_mail(
        "HLI", "A1234BC", "Mr P Jones, 1 Park Road, Leeds LS1 1AA", "ring Jane on 07700900123"
    )
    assert answer.decision == "hold"
    assert (answer.reference, answer.matches[0].kind, answer.relay) == ("UPC-1", "phone", False)
    address_in_text = index.screen_mail(
        "HLI", "A1234BC", "Mr P Jones, 1 Park Road, Leeds LS1 1AA", "go to 14 High Street, Hull HU1 2AB"
    )
    assert address_in_text.decision == "hold"  # the content alone never blocks


# ---- building ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("person", "field", "error"),
    [
        ({"phones": ["07700 900123", "999"]}, "UPC-9: protected[0].phones[1]", UnblockableNumber),
        ({"phones": ["116 123"]}, "UPC-9: protected[0].phones[0]", UnblockableNumber),
        ({"phones": ["0345 345 4345"]}, "UPC-9: protected[0].phones[0]", UnblockableNumber),
        ({"phones": ["hello"]}, "UPC-9: protected[0].phones[0]", InvalidNumber),
        ({"emails": ["jane@"]}, "UPC-9: protected[0].emails[0]", InvalidEmail),
        (
            {"addresses": [{"lines": ["14 High Street"], "postcode": "HU1"}]},
            "UPC-9: protected[0].addresses[0]",
            ValidationError,
        ),
    ],
)
def test_build_refuses_naming_the_field(person: dict[str, Any], field: str, error: type[Exception]) -> None:
    bad = entry("UPC-9", **person)
    with pytest.raises(error) as info:
        Index.build([JANE, bad], GB)
    assert isinstance(info.value, ValidationError)
    assert info.value.field.startswith(field)
    with pytest.raises(error):
        check_entry(bad, GB)


def test_build_refuses_duplicates_and_bad_exemptions() -> None:
    with pytest.raises(ValidationError, match="UPC-1: reference"):
        Index.build([JANE, JANE], GB)
    bad = entry(
        "UPC-8", phones=["07700 900123"], exemptions=[{"prisoner": "B1", "identifier": "??", "reason": "x"}]
    )
    with pytest.raises(ValidationError) as info:
        Index.build([bad], GB)
    assert info.value.field == "UPC-8: exemptions[0].identifier"


def test_counts(index: Index) -> None:
    assert index.counts() == {"entries": 2, "phones": 2, "emails": 1, "addresses": 2}
    assert index.identifier_count == 5
    assert index.entry("UPC-2") == ROSE and index.entry("nope") is None


# ---- changes -----------------------------------------------------------------------------------


def test_with_changes_never_touches_the_old_index(index: Index) -> None:
    moved = entry("UPC-1", phones=["07700 900999"])
    new = index.with_changes([moved], ["UPC-2"], version=8)
    assert new.version == 8
    assert new.screen_call("HLI", "Z9999ZZ", "07700 900999").decision == "block"
    assert new.screen_call("HLI", "Z9999ZZ", "07700 900123").decision == "allow"  # replaced
    assert new.screen_call("HLI", "Z9999ZZ", "01632 960001").decision == "allow"  # removed
    assert new.screen_mail("HLI", "Z9999ZZ", "Flat 2, 14 High Street, Hull HU1 2AB").decision == "allow"
    assert index.screen_call("HLI", "Z9999ZZ", "07700 900123").decision == "block"
    assert index.screen_call("HLI", "Z9999ZZ", "01632 960001").decision == "block"
    assert index.screen_mail("HLI", "Z9999ZZ", "Flat 2, 14 High Street, Hull HU1 2AB").decision == "block"
    assert new.entry_count == 1


def test_removing_one_entry_keeps_anothers_claim_on_a_shared_number() -> None:
    other = entry("UPC-3", "Z9999ZZ", phones=["07700900123"])
    index = Index.build([JANE, other], GB).with_changes([], ["UPC-1"], version=2)
    answer = index.screen_call("HLI", "Q1111QQ", "07700 900123")
    assert answer.decision == "block" and answer.reference == "UPC-3"


NUMBERS = [f"07700 900{n:03d}" for n in range(8)]
POSTCODES = ["HU1 2AB", "HU5 3DE", "LS1 1AA"]
changes = st.lists(
    st.tuples(
        st.sampled_from(["UPC-A", "UPC-B", "UPC-C"]),
        st.one_of(
            st.none(), st.tuples(st.sampled_from(NUMBERS), st.integers(1, 30), st.sampled_from(POSTCODES))
        ),
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(changes)
def test_changes_equal_a_fresh_build(steps: list[tuple[str, tuple[str, int, str] | None]]) -> None:
    live = Index.build([], GB)
    model: dict[str, Entry] = {}
    for version, (reference, spec) in enumerate(steps, start=1):
        if spec is None:
            live = live.with_changes([], [reference], version=version)
            model.pop(reference, None)
        else:
            number, house, postcode = spec
            new = entry(
                reference,
                phones=[number],
                addresses=[{"lines": [f"{house} Mill Lane"], "postcode": postcode}],
            )
            live = live.with_changes([new], [], version=version)
            model[reference] = new
    fresh = Index.build(model.values(), GB)
    for number in NUMBERS:
        assert live.screen_call("HLI", "Z1", number).matches == fresh.screen_call("HLI", "Z1", number).matches
    for house in (1, 2, 15, 30):
        for postcode in POSTCODES:
            letter = f"{house} Mill Lane {postcode}"
            assert (
                live.screen_mail("HLI", "Z1", letter).matches
                == fresh.screen_mail("HLI", "Z1", letter).matches
            )
    assert live.counts() == fresh.counts()


def _gb_data() -> dict[str, Any]:
    from config import profile_data

    return profile_data("gb")
