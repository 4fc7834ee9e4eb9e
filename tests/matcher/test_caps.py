"""A text with more candidates than are read automatically is never allowed (audit of issue 17,
gap 1): padding a letter or a message with digit groups used to end the phone scan quietly at its
cap, and the blocked number after the padding was never looked up. Every cap (candidate numbers,
the numbers only phonenumbers reads, candidate emails) now holds the letter for a person with
reason "over_limit" and blocks the message, and says nothing of what was found before the cap."""

from __future__ import annotations

import pytest

from config import load_profile
from matcher import emails, phones
from matcher.entries import Entry
from matcher.errors import TooMuchToRead
from matcher.index import Index
from matcher.phones import PhoneNormaliser
from tests.support.hostile import digit_groups, distinct_numbers

GB = load_profile(environ={})
NUMBERS = PhoneNormaliser(GB.phones)
BLOCKED = "07700 900123"
ABROAD = "+353 87 123 4567"  # the fast path does not read it: only phonenumbers does
JANE = Entry.from_dict(
    {
        "reference": "UPC-1",
        "prisoner": "A1234BC",
        "protected": [{"name": "Jane Smith", "phones": [BLOCKED, ABROAD], "emails": ["jane@example.com"]}],
    }
)
ENVELOPE = "Mr P Jones, 1 Park Road, Leeds LS1 1AA"


@pytest.fixture(scope="module")
def index() -> Index:
    return Index.build([JANE], GB, version=3)


# (what pads the text, where the blocked number is)
PADDED = {
    "150 kB of digit groups, then the number": digit_groups(150_000) + f" Ring me on {BLOCKED}",
    "the number, then 150 kB of digit groups": f"Ring me on {BLOCKED} " + digit_groups(150_000),
    "digit groups past the phonenumbers budget, then a number only it reads": (
        digit_groups(3_600) + f" Ring me on {ABROAD}"
    ),
    "too many fast numbers, then the number": (
        distinct_numbers(phones.TEXT_MAX_CANDIDATES + 1) + f"; ring me on {BLOCKED}"
    ),
    "too many emails, then the number": (
        " ".join(f"a{n}@b{n}.com" for n in range(emails.MAX_TEXT_CANDIDATES + 1)) + f" ring me on {BLOCKED}"
    ),
}


def test_the_unpadded_number_is_found(index: Index) -> None:
    # the baseline each padded case is measured against
    content = f"Ring me on {ABROAD}"
    assert index.screen_mail("HLI", "A1234BC", ENVELOPE, content).decision == "hold"
    assert index.screen_message("HLI", "A1234BC", "friend@example.com", content).decision == "block"


@pytest.mark.parametrize("content", PADDED.values(), ids=PADDED.keys())
def test_a_padded_letter_is_held_for_a_person_and_names_no_one(index: Index, content: str) -> None:
    answer = index.screen_mail("HLI", "A1234BC", ENVELOPE, content)
    assert (answer.decision, answer.reason, answer.matches) == ("hold", "over_limit", ())


@pytest.mark.parametrize("content", PADDED.values(), ids=PADDED.keys())
def test_a_padded_message_is_blocked_and_names_no_one(index: Index, content: str) -> None:
    answer = index.screen_message("HLI", "A1234BC", "friend@example.com", content)
    assert (answer.decision, answer.reason, answer.matches) == ("block", "over_limit", ())


def test_an_envelope_padded_past_the_phonenumbers_budget_is_held(index: Index) -> None:
    padding = digit_groups(3_950 - len(ENVELOPE) - len(ABROAD))
    envelope = f"{ENVELOPE}\n{padding} {ABROAD}"  # fits the 4,000-character envelope
    answer = index.screen_mail("HLI", "A1234BC", envelope)
    assert (answer.decision, answer.reason) == ("hold", "over_limit")


def test_find_in_text_raises_at_each_cap() -> None:
    with pytest.raises(TooMuchToRead) as slow:
        NUMBERS.find_in_text(digit_groups(3_600) + f" {ABROAD}")
    assert slow.value.limit == phones.TEXT_SLOW_BUDGET
    with pytest.raises(TooMuchToRead) as many:
        NUMBERS.find_in_text(distinct_numbers(phones.TEXT_MAX_CANDIDATES + 1))
    assert many.value.limit == phones.TEXT_MAX_CANDIDATES
    assert "+447700900123" in NUMBERS.find_in_text(digit_groups(400) + f" {BLOCKED}")  # under both caps
