"""Screening letters as mailroom OCR reads them: near evidence holds and never blocks, a letter
whose address cannot be read is held (reason unreadable), and an unknown sender cannot be exempt."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config import load_profile
from matcher.entries import Entry
from matcher.errors import ConfigError
from matcher.index import Index
from matcher.profile import NEAR_EVIDENCE, MailPolicy

GB = load_profile(environ={})
MEADOW = {"lines": ["27 Meadow Lane", "Derby"], "postcode": "DE1 3PN"}
COTTAGE = {"lines": ["Rose Cottage", "Mill Lane", "Cottingham"], "postcode": "HU16 4AA"}


def entry(reference: str, address: dict[str, Any], **extra: Any) -> Entry:
    return Entry.from_dict(
        {
            "reference": reference,
            "prisoner": "A1234BC",
            "scope": "all",
            "protected": [{"name": "Jane Smith", "addresses": [address]}],
            **extra,
        }
    )


@pytest.fixture(scope="module")
def index() -> Index:
    exempt = {"prisoner": "C3456DE", "identifier": "Rose Cottage, HU16 4AA", "reason": "mother"}
    return Index.build([entry("UPC-1", MEADOW), entry("UPC-2", COTTAGE, exemptions=[exempt])], GB, version=3)


@pytest.mark.parametrize(
    ("envelope", "decision", "reason"),
    [
        # what handwriting OCR leaves of 27 Meadow Lane, Derby DE1 3PN
        ("Mrs J Smith\n27 Meadcw Lanc\nDerhy\nDE1 3PH", "hold", "near"),
        ("MRS J SMITH\n27 MEADOWLANE\nDERBYDE13PN", "hold", "near"),  # spaces lost
        ("Mrs J Smith\n27 Meadow Lane\nDerby\nDE1 3P", "hold", None),  # the phrase and the town, no postcode
        ("27 RNEADOW LANE DERBY NGS SEL", "allow", None),  # near street, a near postcode of another town
        ("Mr P Jones\n2l Meadow Lane\nDERBY DE13PN", "allow", None),  # 21 is another house
        ("Ms K Brown\nROSE COTAGE\nMill Lane\nCOTTINGHAM HU16 4AA", "hold", "near"),
        ("THE OCCUPIER\nDE1 3PN", "hold", "unreadable"),  # the blocked postcode, no house number at all
        ("Mrs J Smith\n27 Meadow Lane\nDERBY DE1 3PN", "block", None),  # exact evidence blocks as before
        # the neighbours: the next house, and one a postcode unit away
        ("Mr P Jones\n29 Meadcw Lane\nDerby\nDE1 3PN", "allow", None),
        ("Mr P Jones\n29 Meadow Lane\nDERBY DE1 3PH", "allow", None),
        ("Mr P Jones\n27 Mill Lane\nDERBY DE1 3PH", "allow", None),
        # nothing of an address can be read
        ("", "hold", "unreadable"),
        ("Ns © ‘Taylor\nae hve ie ey", "hold", "unreadable"),
        ("Mr P Jones\n4 Park Road\nLeeds", "allow", None),  # readable, blocked nowhere
    ],
)
def test_mail_as_ocr_reads_it(index: Index, envelope: str, decision: str, reason: str | None) -> None:
    answer = index.screen_mail("HLI", "Z9999ZZ", envelope)
    assert (answer.decision, answer.reason) == (decision, reason), answer
    if reason == "unreadable" and "DE1" not in envelope:
        assert answer.matches == ()  # held for a person; no request is hit


OCR_LOOKS = {"O": "0C", "E": "C", "B": "8H", "S": "5", "I": "1L", "L": "1I", "M": "RN", "D": "CL", "H": "LI"}
LETTER = "MR P JONES\n27 MEADOW LANE\nDERBY\nDE1 3PN"
STREET_AND_TOWN = range(LETTER.index("MEADOW"), LETTER.index("\nDE1"))


def damaged(changes: list[tuple[int, int]], where: range, glue: bool) -> str:
    letter = list(LETTER)
    for at, pick in changes:
        place = where[at % len(where)]
        looks = OCR_LOOKS.get(letter[place])
        if looks:
            letter[place] = looks[pick % len(looks)]
    text = "".join(letter)
    return text.replace(" ", "") if glue else text


CHANGES = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 2)), max_size=4)


@settings(max_examples=200)
@given(CHANGES, st.booleans())
def test_near_evidence_never_blocks(index: Index, changes: list[tuple[int, int]], glue: bool) -> None:
    answer = index.screen_mail("HLI", "Z9999ZZ", damaged(changes, range(len(LETTER)), glue))
    if answer.decision == "block":
        top = answer.matches[0]
        assert GB.mail_policy.decide(top.evidence - NEAR_EVIDENCE) == "block"  # the exact evidence alone


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 2)), max_size=2))
def test_a_street_and_town_read_with_two_confusions_are_never_allowed(
    index: Index, changes: list[tuple[int, int]]
) -> None:
    letter = damaged(changes, STREET_AND_TOWN, glue=False)
    assert index.screen_mail("HLI", "Z9999ZZ", letter).decision != "allow", letter


def test_a_letter_from_an_unknown_sender_cannot_be_exempt(index: Index) -> None:
    letter = "Mary Brown\nRose Cottage\nMill Lane\nCottingham\nHU16 4AA"
    assert index.screen_mail("HLI", "C3456DE", letter).decision == "allow"  # the exempt prisoner
    assert index.screen_mail("HLI", "B2345CD", letter).decision == "block"  # any other
    unknown = index.screen_mail("HLI", None, letter)
    assert (unknown.decision, unknown.reason) == ("hold", "unknown_prisoner")
    assert unknown.matches[0].reference == "UPC-2"
    # every block applies to an unknown sender: one no exemption touches blocks
    meadow = index.screen_mail("HLI", None, "Mrs J Smith\n27 Meadow Lane\nDERBY DE1 3PN")
    assert (meadow.decision, meadow.reason) == ("block", None)


def test_a_block_rule_may_not_rest_on_near_evidence() -> None:
    policy = {"block": [["postcode", "premise"], ["near_premise", "postcode"]], "hold": []}
    with pytest.raises(ConfigError) as info:
        MailPolicy.from_dict(policy)
    assert info.value.key == "mail_policy.block[1]"
    assert "Near evidence (near_premise) may hold, never block." in str(info.value)
