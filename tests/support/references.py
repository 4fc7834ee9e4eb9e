"""Plain reference versions of the letter's hot paths (the code as it was before it was made fast,
in Python and in C): every shortcut must give exactly the reference's answer."""

from __future__ import annotations

from matcher.address_words import SPLIT_PREMISE, UK_WORDS
from matcher.phrases import NormalisedText, _to_ascii
from matcher.postcodes import _readings

# upper_words: str.translate with a dict, where the fast one uses bytes.translate
_REFERENCE_WORD_TABLE: dict[int, str | None] = {i: " " for i in range(128) if not chr(i).isalnum()}
_REFERENCE_WORD_TABLE.update({ord("'"): None, ord("`"): None, ord("|"): "1", ord("#"): " FLAT "})


def reference_upper_words(raw: str) -> tuple[str, list[str]]:
    upper = raw.upper()
    if not upper.isascii():
        upper = _to_ascii(upper)
    return upper, upper.translate(_REFERENCE_WORD_TABLE).split()


# postcodes_in_words: the word-by-word reading, kept to check any faster one


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


def reference_normalise_text(raw: str) -> NormalisedText:
    upper, words = reference_upper_words(raw)
    postcodes = reference_postcodes_in_words(words)
    plain = f" {' '.join(words)} "
    if SPLIT_PREMISE.search(plain):
        words = SPLIT_PREMISE.sub(r" \1\2", plain).split()
    tokens = tuple(UK_WORDS.get(w, w) for w in words)
    text = f" {' '.join(tokens)} " if tokens else " "
    return NormalisedText(text, tokens, plain if words else " ", upper, frozenset(postcodes), "uk")
