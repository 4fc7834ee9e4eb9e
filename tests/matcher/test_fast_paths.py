"""The letter's hot paths against plain reference versions of themselves (the code as it was
before it was made fast): every shortcut must give exactly the reference's answer."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.phrases import _to_ascii, upper_words
from matcher.postcodes import _readings, postcodes_in_words

# ---- upper_words: bytes.translate in place of str.translate with a dict ------------------------

_REFERENCE_WORD_TABLE: dict[int, str | None] = {i: " " for i in range(128) if not chr(i).isalnum()}
_REFERENCE_WORD_TABLE.update({ord("'"): None, ord("`"): None, ord("|"): "1", ord("#"): " FLAT "})


def reference_upper_words(raw: str) -> tuple[str, list[str]]:
    upper = raw.upper()
    if not upper.isascii():
        upper = _to_ascii(upper)
    return upper, upper.translate(_REFERENCE_WORD_TABLE).split()


_LETTER_CHARS = st.sampled_from(
    list("aAzZ09 5\n\t,.-/'`|#()&\x1c\x7f") + ["\u00e9", "\u2019", "\u00aa", "\u0131", "\u00df", "\uff11", "\u00a0"]
)
letters = st.one_of(st.text(), st.text(alphabet=_LETTER_CHARS, max_size=60))


@settings(max_examples=400)
@given(letters)
def test_upper_words_equals_the_reference(raw: str) -> None:
    assert upper_words(raw) == reference_upper_words(raw)


# ---- postcodes_in_words: readings cached per window of five words -----------------------------


def reference_postcodes_in_words(words: list[str]) -> set[str]:
    found: set[str] = set()
    last = len(words) - 1
    for at, word in enumerate(words):
        size = len(word)
        if word.isalpha() or word.isdigit() or size > 7:
            continue
        if size >= 5:
            found |= _readings(word, False)
        if at < last and size <= 6:
            total = size + len(words[at + 1])
            if 5 <= total <= 7 and size >= total - 3:
                found |= _readings(word + words[at + 1], True)
            if total < 7 and at + 1 < last:
                total += len(words[at + 2])
                if 5 <= total <= 7 and size >= total - 3:
                    found |= _readings(word + words[at + 1] + words[at + 2], True)
        if at > 0 and size <= 3:
            before = words[at - 1]
            first = len(before)
            if first > 6 or not (before.isalpha() or before.isdigit()):
                continue
            total = first + size
            if 5 <= total <= 7 and first >= total - 3:
                found |= _readings(before + word, True)
            if at < last and total < 7:
                longer = total + len(words[at + 1])
                if 5 <= longer <= 7 and first >= longer - 3:
                    found |= _readings(before + word + words[at + 1], True)
            if at > 1 and first < 3:
                outward = words[at - 2]
                longer = len(outward) + total
                if 5 <= longer <= 7 and len(outward) >= longer - 3:
                    found |= _readings(outward + before + word, True)
    return found


# Words that make postcodes, pieces of them and near misses, OCR-confused or not.
_PIECES = ["HU1", "HU12", "HU9", "2AB", "5LS", "2A", "B", "AB", "2", "HUI", "HU", "1", "Z", "0", "O",
           "SW1A", "1AA", "SWIA", "IAA", "M1", "1AE", "EC1A", "1BB", "A1234BC", "W1", "0AX", "2ND", "B8",
           "GIR", "0AA", "GIR0AA", "HU12AB", "HUI2AB", "14", "HIGH", "ST", "CA21", "4ZQ", "12345678"]  # fmt: skip
word_lists = st.lists(
    st.one_of(st.sampled_from(_PIECES), st.from_regex(r"[A-Z0-9]{1,8}", fullmatch=True)), max_size=12
)


@settings(max_examples=600)
@given(word_lists, st.sampled_from(_PIECES), st.integers(min_value=0, max_value=11))
def test_postcodes_in_words_equals_the_reference(words: list[str], other: str, position: int) -> None:
    # the same text with one word changed: the windows that do not hold it come from the cache
    changed = list(words)
    if words:
        changed[position % len(words)] = other
    for text in (words, changed, words):
        assert postcodes_in_words(text) == reference_postcodes_in_words(text)


def test_postcodes_in_words_windows_differ_in_their_last_word() -> None:
    assert postcodes_in_words(["HU1", "2A", "B"]) == {"HU1 2AB"}
    assert postcodes_in_words(["HU1", "2A", "C"]) == set()
    assert postcodes_in_words(["X", "Y", "2AB"]) == set()
    assert postcodes_in_words(["H", "U1", "2AB"]) == {"U1 2AB"}
