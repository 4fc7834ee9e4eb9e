"""OCR text made readable: the spaces RapidOCR drops, and lines put in reading order."""

from __future__ import annotations

import pytest

from gateway.mailroom.ocr import OcrLine, OcrPage, in_reading_order
from gateway.mailroom.text import respaced


@pytest.mark.parametrize(
    ("read", "expected"),
    [
        ("116Rosemary Lane", "116 Rosemary Lane"),
        ("HMPHull", "HMP Hull"),
        ("MrsEmmaSmith", "Mrs Emma Smith"),
        ("Flat 1,58Mount Pleasant", "Flat 1, 58 Mount Pleasant"),
        ("FletcherA1234BC", "Fletcher A1234BC"),
        ("Flat6", "Flat 6"),
        ("143ASHBY ROAD", "143 ASHBY ROAD"),
        # left alone: house numbers with a letter, postcodes, Mc/Mac names, prison numbers
        ("108A Beverley Road", "108A Beverley Road"),
        ("LS111YE", "LS11 1YE"),  # a postcode gets its space back
        ("DERBY DE13PN", "DERBY DE1 3PN"),
        ("ManchesterM145EU", "Manchester M14 5EU"),
        ("DE21 1DS", "DE21 1DS"),
        ("McDonald", "McDonald"),
        ("Alz34BC", "Alz34BC"),
        ("  two   spaces ", "two spaces"),
        # all capitals cannot be split from the characters alone: the matcher's business
        ("WINDSORCRESCENT", "WINDSORCRESCENT"),
    ],
)
def test_respaced(read: str, expected: str) -> None:
    assert respaced(read) == expected


def line(text: str, left: int, top: int, height: int = 40, confidence: float = 0.9) -> OcrLine:
    return OcrLine(text, confidence, (left, top, left + 10 * len(text), top + height))


def test_fragments_of_one_line_are_joined_left_to_right_and_lines_run_top_to_bottom() -> None:
    lines = in_reading_order(
        [
            line("Lane", 700, 412),
            line("27 Meadow", 500, 405),
            line("Mrs J Smith", 500, 350),
            line("DERBY DE1 3PN", 505, 470, confidence=0.5),
        ]
    )
    assert [item.text for item in lines] == ["Mrs J Smith", "27 Meadow Lane", "DERBY DE1 3PN"]
    assert lines[1].box == (500, 405, 740, 452)
    page = OcrPage(lines, "test")
    assert page.text == "Mrs J Smith\n27 Meadow Lane\nDERBY DE1 3PN"
    assert 0.5 < page.confidence < 0.9
    assert OcrPage((), "test").confidence == 0.0
