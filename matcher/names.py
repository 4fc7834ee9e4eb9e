"""Protected people's names, surname-anchored.

A name never blocks on its own; next to an address match it is evidence: "full_name" when the
surname stands with one of the person's forenames or initials right before it (over at most one
unknown middle word: "JANE E SMITH") or after a comma ("SMITH, JANE"), "surname" when the surname
stands alone. Surnames are matched in their spelling variants: O'NEILL = ONEILL = O NEILL,
MC DONALD = MCDONALD, SMITH-JONES = SMITH JONES = SMITHJONES (either half alone is surname
evidence at most), VAN DER BERG = VANDERBERG. Mc and Mac are different names and stay apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from matcher.phrases import NormalisedText, upper_words

TITLES = frozenset(
    {
        "MR", "MRS", "MS", "MISS", "MX", "MASTER", "DR", "DOCTOR", "REV", "REVD", "REVEREND", "FR",
        "FATHER", "SIR", "DAME", "LADY", "LORD", "PROF", "PROFESSOR", "CAPT", "CAPTAIN", "SGT",
        "RT", "HON", "CLLR", "PASTOR", "SISTER", "BROTHER", "MESSRS", "MME", "MLLE", "HRH",
    }
)  # fmt: skip
SUFFIXES = frozenset({"JR", "JNR", "JUNIOR", "SR", "SNR", "SENIOR", "II", "III", "IV", "ESQ", "OBE", "MBE",
                      "CBE"})  # fmt: skip
PARTICLES = frozenset({"VAN", "VON", "DER", "DEN", "DE", "DA", "DI", "DEL", "DELLA", "LA", "LE", "DU", "DOS",
                       "DAS", "TEN", "TER", "BIN", "BINT", "ST"})  # fmt: skip
_PREFIXES = frozenset({"O", "MC", "MAC"})


@dataclass(frozen=True, slots=True)
class PersonName:
    """`surname` is canonical ("ONEILL", "SMITH-JONES", "VAN DER BERG"), `forenames` are whole
    forenames or lone initials. The rest is derived once by `parse_name`: `forms` are the padded
    word sequences that read as the whole surname, `halves` those of one half of a
    double-barrelled surname, `given` the words that make a full name next to the surname."""

    surname: str
    forenames: tuple[str, ...]
    forms: tuple[str, ...]
    halves: tuple[str, ...]
    given: frozenset[str]


def parse_name(raw: str) -> PersonName | None:
    """A protected person's name as given at intake; None when no surname can be found."""
    upper, _ = upper_words(raw)
    surname_part, comma, given_part = upper.partition(",")
    if comma:
        surname_words = _words(surname_part)
        given_words = _words(given_part)
    else:
        words = _words(upper)
        while len(words) > 1 and words[-1] in SUFFIXES:
            words = words[:-1]
        if not words:
            return None
        cut = len(words) - 1
        while cut > 0 and (words[cut - 1] in PARTICLES or words[cut - 1] in _PREFIXES):
            cut -= 1
        given_words, surname_words = words[:cut], words[cut:]
    while surname_words and surname_words[-1] in SUFFIXES:
        surname_words = surname_words[:-1]
    if not surname_words:
        return None
    surname_words = _fuse_prefixes(surname_words)
    forenames = tuple(part for word in given_words for part in word.split("-") if part)
    forms, halves = _surname_forms(raw.upper(), surname_words)
    given = set(forenames) | {name[0] for name in forenames}
    if len(forenames) >= 2:
        given.add("".join(name[0] for name in forenames))
    return PersonName(
        surname=" ".join(surname_words),
        forenames=forenames,
        forms=forms,
        halves=halves,
        given=frozenset(given),
    )


def _words(text: str) -> list[str]:
    # Hyphens are kept inside words here: "SMITH-JONES" is one double-barrelled surname.
    words = re.findall(r"[A-Z0-9]+(?:-[A-Z0-9]+)*", text.replace("'", ""))
    start = 0
    while start < len(words) and words[start] in TITLES:  # leading titles only: "MARY LORD" keeps LORD
        start += 1
    return words[start:]


def _fuse_prefixes(words: list[str]) -> list[str]:
    out: list[str] = []
    for word in words:
        out.append(out.pop() + word if out and out[-1] in _PREFIXES else word)
    return out


def _surname_forms(raw_upper: str, words: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    variants: list[list[str]] = [[]]
    halves: set[str] = set()
    for word in words:
        spellings = {word}
        if "-" in word:
            parts = word.split("-")
            spellings = {" ".join(parts), "".join(parts)}
            halves.update(parts)
        elif word.startswith("MC") and len(word) > 4:
            spellings.add(f"MC {word[2:]}")
        elif word.startswith("MAC") and len(word) > 5:
            spellings.add(f"MAC {word[3:]}")
        elif word.startswith("O") and len(word) > 3 and (word[1] not in "AEIOU" or _split_o(raw_upper, word)):
            spellings.add(f"O {word[1:]}")
        variants = [[*v, s] for v in variants for s in sorted(spellings)]
    forms = {" ".join(v) for v in variants}
    if len(words) > 1 and words[0] in PARTICLES:
        forms.add("".join(words))  # VANDERBERG
    return (
        tuple(sorted(f" {form} " for form in forms)),
        tuple(sorted(f" {half} " for half in halves - set(words))),
    )


def _split_o(raw_upper: str, word: str) -> bool:
    return re.search(rf"\bO\s*['\u2019`]?\s*{re.escape(word[1:])}\b", raw_upper) is not None


def name_evidence(name: PersonName, text: NormalisedText) -> str | None:
    """ "full_name", "surname" or None for this person's name in the letter."""
    plain = text.plain
    best: str | None = None
    for form in name.forms:
        start = plain.find(form)
        while start >= 0:
            end = start + len(form) - 1
            if _given_before(name, plain, start) or _given_after_comma(name, text, plain, form, end):
                return "full_name"
            best = "surname"
            start = plain.find(form, start + 1)
    if best is None and any(half in plain for half in name.halves):
        best = "surname"
    return best


def _given_before(name: PersonName, plain: str, start: int) -> bool:
    before = plain[max(0, start - 48) : start].split()
    if not before:
        return False
    if before[-1] in name.given:
        return True
    # one unknown middle name or initial between forename and surname: "JANE E SMITH"
    return len(before) >= 2 and before[-1] not in TITLES and before[-1].isalpha() and before[-2] in name.given


def _given_after_comma(name: PersonName, text: NormalisedText, plain: str, form: str, end: int) -> bool:
    after = [word for word in plain[end : end + 40].split()[:3] if word not in TITLES][:1]
    if not after or after[0] not in name.given:
        return False
    surname = r"\W*".join(re.escape(part) for part in form.split())
    pattern = rf"(?<![A-Z0-9]){surname}\s*,\s*(?:[A-Z]+\W+){{0,2}}{re.escape(after[0])}(?![A-Z0-9])"
    return re.search(pattern, text.upper.replace("'", "")) is not None
