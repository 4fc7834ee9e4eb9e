"""The sender's prison number read from OCR text, with OCR's confusions by position."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gateway.mailroom.prisoner import prison_numbers, read_number, sender_number
from matcher.postcodes import canonical_postcode


@pytest.mark.parametrize(
    ("word", "number"),
    [
        ("A1234BC", "A1234BC"),
        ("a1234bc", "A1234BC"),
        ("AI234BC", "A1234BC"),  # I for 1
        ("Alz34BC", "A1234BC"),  # l for 1, z for 2
        ("A12348C", "A1234BC"),  # 8 for B where a letter belongs
        ("A1Z3OBC", "A1230BC"),  # Z for 2, O for 0
        ("01234BC", "O1234BC"),  # 0 for O where a letter belongs
        ("A1234B5", "A1234BS"),
        ("AIIIIBC", None),  # fewer than two digits read as digits: letters, not a number
        ("LS111YE", None),  # a postcode without its space
        ("A123BC", None),
        ("ABCDEFG", None),
    ],
)
def test_read_number(word: str, number: str | None) -> None:
    assert read_number(word) == number


def test_the_number_is_found_in_the_senders_line_and_only_when_there_is_one() -> None:
    assert (
        sender_number("From: J Bloggs A1234BC\nHMP Hull\nMrs J Smith\n27 Meadow Lane\nDERBY DE1 3PN")
        == "A1234BC"
    )
    assert sender_number("Mrs J Smith\n27 Meadow Lane\nDERBY DE13PN") is None
    assert sender_number("A1234BC\nB2345CD") is None  # two numbers: a guess
    assert prison_numbers("A1234BC and AI234BC") == ["A1234BC"]
    # glued to the name it is only seen respaced; the raw text gives a number the respacing splits
    assert sender_number("FletcherA1234BC", "Fletcher A1234BC") == "A1234BC"
    assert sender_number("Alz34BC", "Alz 34BC") == "A1234BC"


DIGIT_LOOKS = {"0": "0OQD", "1": "1Il|", "2": "2Z", "5": "5S", "6": "6G", "7": "7T", "8": "8B"}


@given(
    st.sampled_from("ABCDEFGHJKLMNPRSTUVWXYZ"),
    st.lists(st.sampled_from("0125678"), min_size=4, max_size=4),
    st.lists(st.sampled_from("ABCDEFGHJKLMNPRTUVWXYZ"), min_size=2, max_size=2),
    st.lists(st.integers(0, 3), min_size=4, max_size=4),
)
def test_a_number_read_with_at_most_two_digits_confused_reads_back(
    letter: str, digits: list[str], letters: list[str], looks: list[int]
) -> None:
    number = letter + "".join(digits) + "".join(letters)
    confused = [
        DIGIT_LOOKS[d][n % len(DIGIT_LOOKS[d])] if i < 2 else d
        for i, (d, n) in enumerate(zip(digits, looks, strict=True))
    ]
    word = letter + "".join(confused) + "".join(letters)
    # a word that reads as a postcode written without its space is taken for one, never a number
    assume(canonical_postcode(number) is None and canonical_postcode(word) is None)
    assert read_number(word) == number
