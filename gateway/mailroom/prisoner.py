"""The sender's prison number read from the scan. Prisoners write their name and number on the
back of the envelope or top left of the front ("From: J Bloggs A1234BC"). A number is read with
the confusions OCR makes by position (a letter where a digit belongs: O for 0, I or l for 1, Z for
2, S for 5, B for 8...), and only when the scan holds exactly one: two different numbers are a
guess, and a guess is no number at all (the letter is then screened as an unknown prisoner's)."""

from __future__ import annotations

import re

from matcher.postcodes import canonical_postcode

# England and Wales: one letter, four digits, two letters (A1234BC).
_CANDIDATE = re.compile(r"(?<![A-Za-z0-9])([A-Za-z0-9|]{7})(?![A-Za-z0-9])")
_AS_DIGIT = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "|": "1", "Z": "2", "S": "5",
                           "G": "6", "T": "7", "B": "8"})  # fmt: skip
_AS_LETTER = str.maketrans({"0": "O", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B"})
_NUMBER = re.compile(r"[A-Z][0-9]{4}[A-Z]{2}")


def read_number(word: str) -> str | None:
    """A seven-character word as a prison number, or None. At least two of the four digits must be
    read as digits: a word of letters is not a number however it could be bent into one."""
    upper = word.upper()
    if canonical_postcode(upper) is not None:  # "LS111YE" is a postcode written without its space
        return None
    if sum(ch.isdigit() for ch in upper[1:5]) < 2:
        return None
    number = (
        upper[0].translate(_AS_LETTER) + upper[1:5].translate(_AS_DIGIT) + upper[5:].translate(_AS_LETTER)
    )
    return number if _NUMBER.fullmatch(number) else None


def prison_numbers(*texts: str) -> list[str]:
    """Every prison number in the texts, in order, each once."""
    found: list[str] = []
    for text in texts:
        for match in _CANDIDATE.finditer(text):
            number = read_number(match.group(1))
            if number is not None and number not in found:
                found.append(number)
    return found


def sender_number(*texts: str) -> str | None:
    """The one prison number the texts hold (the OCR text as read and as respaced: a number glued
    to the name is only seen in the second), or None when they hold none or several."""
    found = prison_numbers(*texts)
    return found[0] if len(found) == 1 else None
