"""Near evidence: the OCR-weighted distance, house numbers as OCR writes them, a street near its
number, postcodes one character away or glued to the town."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matcher.near import (
    CONFUSION,
    as_number,
    glued_postcodes,
    is_near,
    limit_for,
    near_phrase,
    near_words,
    ocr_distance,
    postcode_neighbours,
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
        ("S", None),
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


def test_postcodes_one_inward_character_away_and_glued_to_the_town() -> None:
    near = postcode_neighbours("DE1 3PN")
    assert "DE1 3PH" in near and "DE1 4PN" in near and "DE1 3QN" in near
    assert "DE1 3PN" not in near and all(p.startswith("DE1 ") for p in near)
    assert len(near) == 9 + 19 + 19
    assert glued_postcodes(["STOKE", "ON", "TRENTST15YT"]) == {"T1 5YT", "ST1 5YT"}
    assert glued_postcodes(["DERBYDE13PN", "DE13PN", "MEADOWLANE"]) == {"DE1 3PN", "E1 3PN"}


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
