"""Near evidence: the OCR-weighted distance, house numbers as OCR writes them, a street near its
number, postcodes one character away or glued to the town."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matcher.address_parse import ParsedAddress
from matcher.near import (
    CONFUSION,
    as_number,
    glued_postcodes,
    is_near,
    lenient_postcodes,
    limit_for,
    near_flags,
    near_phrase,
    near_readings,
    near_words,
    ocr_distance,
    postcode_neighbours,
    short_outward,
    street_forms,
)


@pytest.mark.parametrize(
    ("read", "target", "distance"),
    [
        ("MEADOWLANE", "MEADOWLANE", 0.0),
        ("MEADCWLANC", "MEADOWLANE", 2 * CONFUSION),  # c for o, c for e
        ("RNEADOWLANE", "MEADOWLANE", CONFUSION),  # rn for m
        ("MEADOWLANE", "RNEADOWLANE", CONFUSION),  # m for rn
        ("CLERBY", "DERBY", CONFUSION),  # cl for d
        ("LIULL", "HULL", CONFUSION),  # li for h
        ("HU1L", "HULL", CONFUSION),  # 1 for l
        ("5TOKE", "STOKE", CONFUSION),
        ("B0LTON", "BOLTON", CONFUSION),
        ("DERHY", "DERBY", CONFUSION),  # h for b, as handwriting reads
        ("LEEKS", "LEEDS", 1.0),  # an unrelated change
        ("MANORWAY", "MANORROAD", 3.0),
        ("HIGH", "HIGHST", 2.0),
    ],
)
def test_ocr_distance(read: str, target: str, distance: float) -> None:
    assert ocr_distance(read, target) == pytest.approx(distance)


@pytest.mark.parametrize(
    ("read", "target", "near"),
    [
        ("DERHY", "DERBY", True),
        ("DERBYSHIRE", "DERBY", False),
        ("LEEKS", "LEEDS", True),  # one change in a short word
        ("LEAKS", "LEEDS", False),
        ("MEADCWLANC", "MEADOWLANE", True),
        ("MEADOWROAD", "MEADOWLANE", False),
        ("WINDSORCRESCNT", "WINDSORCRESCENT", True),
    ],
)
def test_is_near(read: str, target: str, near: bool) -> None:
    assert is_near(read, target) is near


@pytest.mark.parametrize(
    ("token", "number"),
    [
        ("27", "27"),
        ("2L", "21"),
        ("I4A", "14A"),
        ("14B", "148"),
        ("1O7", "107"),
        ("LANE", None),
        ("SO", "50"),  # letters only when every one looks like a digit
        ("S", "5"),
        ("12345", None),
    ],
)
def test_as_number(token: str, number: str | None) -> None:
    assert as_number(token) == number


LETTER = ["MRS", "J", "SMITH", "27", "MEADCW", "LANC", "DERHY", "DE1", "3PH"]


def test_a_house_number_next_to_a_near_street() -> None:
    assert near_phrase(LETTER, "27", "MEADOWLANE")
    assert not near_phrase(LETTER, "29", "MEADOWLANE")  # the next house is not near: numbers are exact
    assert not near_phrase(LETTER, "27", "MILLLANE")
    assert near_phrase(["2L", "MEADOWLANE", "DERBY"], "21", "MEADOWLANE")  # spaces lost, 1 read as l
    assert near_phrase(["73VICTORIAST", "STOKEONTRENT"], "73", "VICTORIAST")  # glued to its number
    assert not near_phrase(["173", "VICTORIA", "ST"], "73", "VICTORIAST")


def test_near_words_anywhere_in_the_letter() -> None:
    assert near_words(LETTER, "DERBY")
    assert near_words(["STOKE", "ON", "TRENT"], "STOKEONTRENT")
    assert not near_words(LETTER, "LEEDS")


def test_postcodes_one_inward_character_away() -> None:
    near = postcode_neighbours("DE1 3PN")
    assert "DE1 3PH" in near and "DE1 4PN" in near and "DE1 3QN" in near
    assert "DE1 3PN" not in near and all(p.startswith("DE1 ") for p in near)
    assert len(near) == 9 + 19 + 19


@pytest.mark.parametrize(
    ("compact", "read", "not_read"),
    [
        ("NGSSEL", "NG5 5EL", None),  # no real digit: matcher.postcodes does not read it
        ("STIQHR", "ST1 9HR", None),  # I for 1, Q for 9
        ("CFZ38RD", "CF23 8RD", None),
        ("YU3IZHR", None, "YO31 2HR"),  # U for O is no digit-letter swap, and three changes are too many
        ("HIGHST", None, "H16 H5T"),  # a word: the inward code needs a digit or a look-alike first
    ],
)
def test_lenient_postcodes(compact: str, read: str | None, not_read: str | None) -> None:
    found = lenient_postcodes(compact)
    assert read is None or read in found
    assert not_read is None or not_read not in found


def test_postcodes_glued_split_or_short_of_a_character() -> None:
    assert "ST1 9HR" in glued_postcodes(["STOILE", "ON", "TRENTSTIQHR"], letters_only=True)
    assert "ST1 9HR" not in glued_postcodes(
        ["STOILE", "ON", "TRENTSTIQHR"]
    )  # words of letters: only on request
    assert "NG5 5EL" in glued_postcodes(["NOTTINGHAMNG5", "5EL"])
    assert "NG5 5EL" in glued_postcodes(["NOTTINGHAM", "NGS", "SEL"])
    assert "DE1 3PN" in glued_postcodes(["DERBYDE13PN"])
    assert "CV2 8NT" in short_outward("CV", "8NT") and "TS5 8NY" in short_outward("T5", "8NY")
    assert "CF10 5WT" in short_outward("CF1", "5WT")


def test_near_readings_look_harder_only_when_no_postcode_reads_cleanly() -> None:
    clean = near_readings(frozenset({"DE1 3PH"}), ["27", "MEADCW", "LANC", "DERHY", "DE1", "3PH"])
    assert "DE1 3PN" in clean and "DE1 3PH" not in clean
    damaged = near_readings(frozenset(), ["27", "MEADCW", "LANC", "DERHYDE13PN"])
    assert "DE1 3PN" in damaged


def test_street_forms() -> None:
    assert street_forms("HIGH STREET") == ("HIGHST", "HIGHSTREET")
    assert street_forms("MEADOW LANE") == ("MEADOWLANE", "MEADOWLN")
    assert street_forms("KINGSWAY") == ("KINGSWAY",)


BLOCKED = ParsedAddress("DE1 3PN", premise="27", street="MEADOW LANE", town="DERBY")
NAMED = ParsedAddress("TS5 8NY", house_name="BROOK FARM", street="HOLLY BANK", town="MIDDLESBROUGH")


@pytest.mark.parametrize(
    ("address", "letter", "readings", "exact", "flags"),
    [
        (
            BLOCKED,
            "27 MEADCW LANC DERHY DE1 3PH",
            {"DE1 3PN"},
            set(),
            {"near_premise", "near_postcode", "near_town"},
        ),
        (
            BLOCKED,
            "27 MEADOW LANE DERHY",
            set(),
            {"premise"},
            set(),
        ),  # no near evidence asked for beside exact
        (
            BLOCKED,
            "29 MEADOW LANE DERBY DE1 3PN",
            set(),
            {"postcode", "town", "street"},
            set(),
        ),  # the next house
        (BLOCKED, "27 MILL LANE DERHY", set(), set(), set()),  # the town alone is not looked for
        (
            NAMED,
            "BROOK FAM HOLLY BANK MIDDLESBROUGH T5 8NY",
            {"TS5 8NY"},
            set(),
            {"near_house_name", "near_postcode", "near_town"},
        ),
    ],
)
def test_near_flags(
    address: ParsedAddress, letter: str, readings: set[str], exact: set[str], flags: set[str]
) -> None:
    assert near_flags(address, letter.split(), frozenset(readings), exact) == flags


WORD = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=14)


@given(WORD, WORD)
def test_distance_is_zero_only_for_the_same_word_and_never_more_than_a_plain_edit(a: str, b: str) -> None:
    distance = ocr_distance(a, b)
    assert (distance == 0) == (a == b)
    assert distance <= max(len(a), len(b))


@given(WORD, WORD)
def test_a_limit_only_cuts_what_is_over_it(a: str, b: str) -> None:
    limit = limit_for(len(b))
    full = ocr_distance(a, b)
    bounded = ocr_distance(a, b, limit)
    assert bounded == full if full <= limit else bounded > limit
