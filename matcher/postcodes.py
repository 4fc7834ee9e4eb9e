"""UK postcodes: the canonical form of a blocked address's postcode, and every postcode
readable in a letter's OCR text, exactly or through the usual OCR confusions.

A postcode is an outward code (2-4 characters) and an inward code (a digit and two letters).
The official pattern (BS 7666) says which positions hold letters and which digits, so an OCR
reading can be corrected position by position: O read in a digit position is 0, 8 read in a
letter position is B. A corrected reading counts only when the result matches the pattern,
the text held at least one real digit, and at most one character was corrected in each
part (outward, inward). The space
may be lost ("HU12AB") or doubled inside the inward code ("HU1 2A B"), never inside the
outward code, so "14 HIGH" can not be read as a postcode.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from itertools import filterfalse, product

from matcher.phrases import upper_words

_compiled: Callable[[Sequence[str]], set[str] | None] | None
# built by setuptools from matcher/_speedups_postcodes.c; optional, so a machine without a compiler still runs
try:
    from matcher._speedups import postcodes_in_words as _compiled
except ImportError:  # pragma: no cover - the test environment builds it (tests/matcher/test_speedups.py)
    _compiled = None

_POSTCODE = re.compile(
    r"GIR0AA|[A-PR-UWYZ](?:[0-9]{1,2}|[A-HK-Y][0-9][0-9ABEHMNPRV-Y]?|[0-9][A-HJKPS-UW])[0-9][ABD-HJLNP-UW-Z]{2}"
)

# In a letter position a digit is read as the letter it looks like, and the other way round.
_AS_LETTER = {"0": "O", "1": "IL", "2": "Z", "5": "S", "6": "G", "8": "B"}
_AS_DIGIT = {"O": "0", "D": "0", "Q": "0", "I": "1", "L": "1", "S": "5", "B": "8", "Z": "2", "G": "6"}
# Letter (A) and digit (9) positions of the outward code, by its length; the inward code is 9AA.
_OUTWARD_SHAPES = {2: ("A9",), 3: ("A99", "AA9", "A9A"), 4: ("AA99", "AA9A")}
MAX_CORRECTIONS_PER_PART = 1  # "MAIL 2ND" (2 fixes in MAIL) is not MA11 2ND


def canonical_postcode(raw: str) -> str | None:
    """ "hu12ab" -> "HU1 2AB"; None unless the official pattern matches exactly."""
    compact = "".join(raw.split()).upper()
    if not _POSTCODE.fullmatch(compact):
        return None
    return f"{compact[:-3]} {compact[-3:]}"


def find_postcodes(text: str) -> set[str]:
    """Every postcode readable in free text, canonical, exact or OCR-tolerant."""
    return postcodes_in_words(upper_words(text)[1])


def postcodes_in_words(words: Sequence[str]) -> set[str]:
    """Postcodes in a text already split into upper-case words (letters and digits): the
    compiled reading when it is built and the words are of A-Z and 0-9 only, else this module's."""
    if _compiled is not None:
        found = _compiled(words)
        if found is not None:
            return found
    return python_postcodes_in_words(words)


def python_postcodes_in_words(words: Sequence[str]) -> set[str]:
    """The reference reading (and the fallback where matcher._speedups is not built)."""
    found: set[str] = set()
    last = len(words) - 1
    at = -1
    # Every reading holds a real digit in a word that also holds a letter (a word of digits
    # only would need three corrections: phone numbers are never postcodes). Such words are
    # few, and each can only be the outward code's word or a piece of the inward code.
    for word in [w for w in filterfalse(str.isalpha, words) if not w.isdigit()]:
        at = words.index(word, at + 1)
        size = len(word)
        if size > 7:
            continue
        if size >= 5:
            found |= _read(word, False)
        if at < last and size <= 6:  # the outward code's word: "HU1" 2AB, "HU12" AB, "HU1" 2A B
            total = size + len(words[at + 1])
            if 5 <= total <= 7 and size >= total - 3:
                found |= _read(word + words[at + 1], True)
            if total < 7 and at + 1 < last:
                total += len(words[at + 2])
                if 5 <= total <= 7 and size >= total - 3:
                    found |= _read(word + words[at + 1] + words[at + 2], True)
        if at > 0 and size <= 3:  # a piece of the inward code: HUI "2AB", HUI "2A" B, HUI Z "AB"
            before = words[at - 1]
            first = len(before)
            if first > 6 or not (before.isalpha() or before.isdigit()):
                continue
            total = first + size
            if 5 <= total <= 7 and first >= total - 3:
                found |= _read(before + word, True)
            if at < last and total < 7:
                longer = total + len(words[at + 1])
                if 5 <= longer <= 7 and first >= longer - 3:
                    found |= _read(before + word + words[at + 1], True)
            if at > 1 and first < 3:
                outward = words[at - 2]
                longer = len(outward) + total
                if 5 <= longer <= 7 and len(outward) >= longer - 3:
                    found |= _read(outward + before + word, True)
    return found


_READINGS: dict[tuple[str, bool], frozenset[str]] = {}  # the same few candidates recur in every letter


def _read(compact: str, outward_fixes: bool) -> frozenset[str]:
    key = (compact, outward_fixes)
    readings = _READINGS.get(key)
    if readings is None:
        if len(_READINGS) >= 16384:
            _READINGS.clear()
        readings = _READINGS[key] = _readings(compact, outward_fixes)
    return readings


def _readings(compact: str, outward_fixes: bool) -> frozenset[str]:
    if _POSTCODE.fullmatch(compact):
        return frozenset((f"{compact[:-3]} {compact[-3:]}",))
    outward, inward = compact[:-3], compact[-3:]
    inward_options = _options(inward, "9AA")
    if inward_options is None or compact.isalpha():
        return frozenset()
    # With the space lost only the inward code is corrected: "A1234BC" (a prison number)
    # must not become "AL23 4BC".
    if outward_fixes:
        shapes = _OUTWARD_SHAPES.get(len(outward), ())
        outward_readings = [o for shape in shapes if (o := _options(outward, shape)) is not None]
    else:
        outward_readings = [[[(ch, 0)] for ch in outward]]
    found = set()
    for outward_options in outward_readings:
        for reading in product(*outward_options):
            if sum(cost for _, cost in reading) > MAX_CORRECTIONS_PER_PART:
                continue
            fixed_outward = "".join(ch for ch, _ in reading)
            for inward_reading in product(*inward_options):
                if sum(cost for _, cost in inward_reading) > MAX_CORRECTIONS_PER_PART:
                    continue
                candidate = fixed_outward + "".join(ch for ch, _ in inward_reading)
                if _POSTCODE.fullmatch(candidate):
                    found.add(f"{fixed_outward} {candidate[-3:]}")
    return frozenset(found)


def _options(chars: str, shape: str) -> list[list[tuple[str, int]]] | None:
    options: list[list[tuple[str, int]]] = []
    for ch, kind in zip(chars, shape, strict=True):
        if kind == "A":
            if ch.isalpha():
                options.append([(ch, 0)])
            elif ch in _AS_LETTER:
                options.append([(letter, 1) for letter in _AS_LETTER[ch]])
            else:
                return None
        elif ch.isdigit():
            options.append([(ch, 0)])
        elif ch in _AS_DIGIT:
            options.append([(_AS_DIGIT[ch], 1)])
        else:
            return None
    return options
