"""The mailroom page's marked lines (gateway.mailroom.marked): the lines as screening every line out
and every line alone marks them, with fewer screens than that."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config import load_profile
from gateway.mailroom.marked import RANK, letter_text, marked_lines, screen_upload
from matcher.decisions import Decision
from matcher.entries import Entry
from matcher.index import Index
from tests.support.mailroom_site import ENTRIES

# What OCR leaves of envelopes to the two blocked addresses, their neighbours and others.
LINES = (
    "Mrs J Smith",
    "27 Meadow Lane",
    "27 Meadcw Lanc",
    "27 MEADOWLANE",
    "29 Meadow Lane",
    "Derby",
    "Derhy",
    "DERBYDE13PN",
    "DE1 3PN",
    "DE1 3PH",
    "DE1 3P",
    "Ms K Lewis",
    "Flat 2",
    "Flat 3",
    "14 Alder Court",
    "14 Alder Ct",
    "HULL",
    "HU5 2QT",
    "HU5 2Q",
    "From: J Bloggs A1234BC",
    "HMP Hull",
    "THE OCCUPIER",
    "ae hve ie ey",
    "",
)
PAGE_LETTER = ["From: J Bloggs A1234BC", "HMP Hull", "Mrs J Smith", "27 Meadow Lane", "DERBY", "DE1 3PN"]


@pytest.fixture(scope="module")
def index() -> Index:
    return Index.build([Entry.from_dict(e) for e in ENTRIES], load_profile(environ={}), version=1)


def every_line(
    index: Index, prisoner: str | None, lines: Sequence[str], pages: Sequence[int], whole: Decision
) -> list[bool]:
    """The marks by definition: each line screened on its own, and the letter screened without it."""
    if not whole.matches:
        return [False] * len(lines)
    references = {m.reference for m in whole.matches}
    marks = []
    for at, line in enumerate(lines):
        if not line.strip():
            marks.append(False)
            continue
        alone = index.screen_mail(
            "HLI", prisoner, letter_text(lines, pages, [o == at for o in range(len(lines))])
        )
        without = index.screen_mail(
            "HLI", prisoner, letter_text(lines, pages, [o != at for o in range(len(lines))])
        )
        marks.append(
            any(m.reference in references for m in alone.matches)
            or RANK[without.decision] < RANK[whole.decision]
        )
    return marks


def test_the_page_letter_is_marked_with_fewer_screens(index: Index) -> None:
    pages = [0] * len(PAGE_LETTER)
    decision, marks, screens = screen_upload(index, "HLI", "A1234BC", PAGE_LETTER, pages)
    assert decision.decision == "block"
    assert [line for line, marked in zip(PAGE_LETTER, marks, strict=True) if marked] == [
        "27 Meadow Lane",
        "DE1 3PN",
    ]
    assert marks == every_line(index, "A1234BC", PAGE_LETTER, pages, decision)
    # before: the decision, then the whole letter again and twice per line (2N + 2 = 14); now the
    # decision, then each line out (6) and the 5 lines that removing did not mark on their own
    assert screens == 12, screens


@settings(max_examples=100, deadline=None)
@given(
    picked=st.lists(st.sampled_from(LINES), min_size=1, max_size=8),
    back=st.integers(min_value=0, max_value=8),
    prisoner=st.sampled_from(["A1234BC", "B2345CD", None]),
)
def test_the_marks_are_those_of_every_line_screened_out_and_alone(
    index: Index, picked: list[str], back: int, prisoner: str | None
) -> None:
    pages = [0 if at < back else 1 for at in range(len(picked))]
    whole = index.screen_mail("HLI", prisoner, letter_text(picked, pages, [True] * len(picked)))
    marks, _ = marked_lines(index, "HLI", prisoner, picked, pages, whole)
    assert marks == every_line(index, prisoner, picked, pages, whole), (picked, pages, whole)


def test_the_text_is_the_readers(index: Any) -> None:
    from gateway.mailroom.ocr import OcrLine, OcrPage
    from gateway.mailroom.reading import Reading

    sides = (("Mrs J Smith", "27 Meadow Lane"), (), ("From: J Bloggs", "HMP Hull"))
    reading = Reading(
        tuple(
            OcrPage(tuple(OcrLine(text, 1.0, (0, 0, 1, 1)) for text in side), "rapidocr") for side in sides
        ),
        None,
    )
    lines = [line for side in sides for line in side]
    pages = [at for at, side in enumerate(sides) for _ in side]
    assert letter_text(lines, pages, [True] * len(lines)) == reading.text
