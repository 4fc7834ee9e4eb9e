"""Whether a letter's address block can be read at all (matcher.near.readable): a letter the
matcher finds nothing in is allowed only when it is. A word that reads as a postcode only when
OCR's confusions are applied to its letters (BLOGGS as BL0 6GS, WRIGHT as WR1 9HT) and the sender's
prison number (A8063NX as AB06 3NX) are not an address: such a letter is held for a person. A
postcode OCR damaged but with a real digit in what it read ("DEl 3PH", "HUI2 8AB") still is one,
and a blocked address written with it is still found."""

from __future__ import annotations

import pytest

from config import load_profile
from matcher.addresses import normalise_text
from matcher.entries import Entry
from matcher.index import Index
from matcher.near import readable

GB = load_profile(environ={})

# Surnames (of the 100 commonest in Britain, and the test envelopes' Bloggs) that OCR-confusion
# folding turns into a postcode: BLOGGS -> BL0 6GS, WRIGHT -> WR1 9HT, MOORE -> M0 0RE,
# PATEL -> P4 7EL, ALLEN -> A1 1EN, PHILLIPS -> L1 1PS, ...
FOLDED_SURNAMES = (
    "Bloggs", "Wright", "Moore", "Patel", "Allen", "Phillips", "Griffiths", "Bailey", "Collins", "Miller",
    "Marshall", "Foster", "Mills", "Knight", "Lloyd", "Butler",
)  # fmt: skip

UNREADABLE = [
    *(f"Mr J {surname}\nBy hand" for surname in FOLDED_SURNAMES),
    "Ms K Taylor\nBy hand",  # a surname that never read as one
    "From: J Bloggs A1234BC\nBy hand",  # the test envelopes' sender line
    "Miss Sue Ng\nBy hand",  # MISS SUE: S5 5UE, two words of letters
    # the sender's prison number: A8063NX read leniently is AB06 3NX, S7869BP is ST86 9BP
    "From: J Carter A8063NX\nBy hand",
    "Sender: P Mason S7869BP\nBy hand",
    "D Doyle Y5178DY",
    "From: M Fletcher A8O63NX\nBy hand",  # the number as OCR misread it (O for 0)
]


@pytest.mark.parametrize("letter", UNREADABLE)
def test_a_word_or_prison_number_that_reads_as_a_postcode_only_leniently_is_no_address(letter: str) -> None:
    assert not readable(normalise_text(letter, "uk")), letter


# A blocked address (street line, town, postcode) and its postcode as OCR read it: damaged, but with
# a real digit left in what was read.
DAMAGED = [
    ("12 Oak Road", "Derby", "DE1 3PH", "DEl 3PH"),
    ("4 Mill Lane", "Hessle", "HU12 8AB", "HUI2 8AB"),
    ("9 Elm Grove", "Nottingham", "NG5 5EL", "NG5 SEL"),
    ("31 Park View", "Leeds", "LS11 1YE", "LSII 1YE"),  # two confusions: read only leniently
    ("7 Queen Street", "Stoke-on-Trent", "ST1 9HR", "STOKEONTRENTST19HR"),  # glued to the town, spaces lost
    ("2 Bridge Street", "Manchester", "M1 1AE", "Ml 1AE"),
    ("55 Kings Road", "Reading", "RG1 3AR", "RGl 3AR"),
]


@pytest.fixture(scope="module")
def index() -> Index:
    entries = [
        Entry.from_dict(
            {
                "reference": f"UPC-{n}",
                "prisoner": "A1234BC",
                "scope": "all",
                "protected": [
                    {"name": "Jane Smith", "addresses": [{"lines": [street, town], "postcode": postcode}]}
                ],
            }
        )
        for n, (street, town, postcode, _) in enumerate(DAMAGED)
    ]
    return Index.build(entries, GB, version=1)


@pytest.mark.parametrize("letter", UNREADABLE)
def test_a_letter_whose_only_postcode_is_a_folded_word_is_held_unreadable(index: Index, letter: str) -> None:
    answer = index.screen_mail("HLI", "Z9999ZZ", letter)
    assert (answer.decision, answer.reason, answer.matches) == ("hold", "unreadable", ()), letter


@pytest.mark.parametrize(("street", "town", "postcode", "read"), DAMAGED)
def test_a_damaged_postcode_with_a_real_digit_is_still_read_and_matched(
    index: Index, street: str, town: str, postcode: str, read: str
) -> None:
    for alone in (f"Mr P Jones\n{read}", f"From: J Bloggs A1234BC\n{read}"):
        assert readable(normalise_text(alone, "uk")), alone
    answer = index.screen_mail("HLI", "Z9999ZZ", f"Mrs J Smith\n{street}\n{read}")
    assert answer.decision in ("block", "hold") and answer.reason != "unreadable", answer
    assert answer.matches[0].reference == f"UPC-{[row[2] for row in DAMAGED].index(postcode)}", answer
