"""OCR text made readable for the matcher. RapidOCR's recognition model (trained mostly on
Chinese, which has no spaces) often drops the space between words that sit close: "116Rosemary
Lane", "ManchesterM14 5EU", "HMPHull". The boundaries that can be told from the characters alone
get their space back; all-capital runs ("WINDSORCRESCENT") cannot, and are left to the matcher."""

from __future__ import annotations

import re

from matcher.postcodes import canonical_postcode

# Each rule inserts one space at a zero-width position.
_RULES = (
    re.compile(r"(?<=[a-z]{2})(?=[A-Z])"),  # "ManchesterM14", "BloggsA1234BC" (not "McDonald")
    re.compile(r"(?<=[A-Z])(?=[A-Z][a-z]{2})"),  # "HMPHull", "SCarter"
    re.compile(r"(?<=[0-9])(?=[A-Za-z]{3})"),  # "116Rosemary", "143ASHBY" (not "14A", "M14 5EU")
    re.compile(r"(?<=[A-Za-z][a-z]{3})(?=[0-9])"),  # "Flat6" (not "LS11", nor "Alz34BC", a number)
    re.compile(r"(?<=[,;:])(?=[A-Za-z0-9])"),  # "Flat 1,58 Mount Pleasant"
)


def respaced(line: str) -> str:
    """One OCR line with the lost spaces that can be recovered put back."""
    for rule in _RULES:
        line = rule.sub(" ", line)
    # a postcode read without its space gets it back ("DE13PN" -> "DE1 3PN")
    return " ".join(canonical_postcode(word) or word if len(word) >= 5 else word for word in line.split())
