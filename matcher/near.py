"""Near evidence: what handwriting OCR leaves of an address. "27 Meadcw Lanc / Derhy / DE1 3PH" is
not "27 Meadow Lane, Derby DE1 3PN", but it is near it: the street and town words are within a
small edit distance in which the confusions OCR makes cost less than other changes (rn/m, cl/d,
li/h, 0/O, 1/l/I, 5/S, 8/B, and the vowels and hooks handwriting blurs), and the postcode differs
in one inward character. Words are compared with their spaces taken out, because OCR loses and
adds spaces ("MEADOWLANE", "WINDSORCRESCENT", "STOKEONTRENTST15YT").

Near evidence may hold a letter for a person; it never blocks one (matcher.profile refuses a
block rule that needs it). Everything here works on the letter's match-form tokens
(matcher.phrases.NormalisedText) and is only reached for letters the exact evidence did not block."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from matcher.postcodes import canonical_postcode

CONFUSION = 0.4  # the cost of one OCR confusion; an unrelated change costs 1
_GROUPS = ("0ODQ", "1IL", "5S", "8B", "2Z", "6G", "CEO", "AO", "UV", "HNB", "RN")
_CONFUSED = frozenset((a, b) for group in _GROUPS for a in group for b in group if a != b)
# Two characters read as one, or one as two.
_PAIRS = {"RN": "M", "CL": "D", "LI": "H", "LL": "U", "VV": "W", "IJ": "U", "CI": "A", "IN": "M"}
_PAIRS_BACK = {one: [two for two, o in _PAIRS.items() if o == one] for one in set(_PAIRS.values())}
_AS_DIGIT = str.maketrans(
    {"O": "0", "D": "0", "Q": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "G": "6", "B": "8"}
)
_SUFFIXES = "ACDEF"  # house-number letters ("14A"); B is read as 8, as OCR writes it more often
_INWARD_DIGITS = "0123456789"
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # the inward code never uses C I K M O V


def limit_for(length: int) -> float:
    """The largest distance still near for a target of `length` characters: one change in a
    short word, two in a street name, three in a long one."""
    if length <= 5:
        return 1.0
    return 2.0 if length <= 12 else 3.0


def _substitution(a: str, b: str) -> float:
    if a == b:
        return 0.0
    return CONFUSION if (a, b) in _CONFUSED else 1.0


def ocr_distance(read: str, target: str, limit: float = float("inf")) -> float:
    """The OCR-weighted edit distance from `read` to `target`; anything over `limit` may come back
    as any value over it (the rows stop once they all exceed it)."""
    if read == target:
        return 0.0
    if abs(len(read) - len(target)) > limit:
        return limit + 1
    previous: list[float] = [float(j) for j in range(len(target) + 1)]
    before: list[float] = []
    for i in range(1, len(read) + 1):
        current = [float(i)] + [0.0] * len(target)
        for j in range(1, len(target) + 1):
            cost = min(
                previous[j] + 1,
                current[j - 1] + 1,
                previous[j - 1] + _substitution(read[i - 1], target[j - 1]),
            )
            if i >= 2 and _PAIRS.get(read[i - 2 : i]) == target[j - 1]:  # "RN" read for "M"
                cost = min(cost, before[j - 1] + CONFUSION)
            if j >= 2 and target[j - 2 : j] in _PAIRS_BACK.get(read[i - 1], ()):  # "M" read for "RN"
                cost = min(cost, previous[j - 2] + CONFUSION)
            current[j] = cost
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return previous[-1]


def is_near(read: str, target: str) -> bool:
    return ocr_distance(read, target, limit_for(len(target))) <= limit_for(len(target))


def as_number(token: str) -> str | None:
    """A house-number token as OCR may have written it ("2l" -> "21", "I4A" -> "14A"), or None."""
    if not token or not (token[0].isdigit() or token[0] in "ILOSZBG"):
        return None
    last = token[-1] if len(token) > 1 and token[-1] in _SUFFIXES and token[-2].isdigit() else ""
    body = token[: len(token) - len(last)].translate(_AS_DIGIT)
    if not body.isdigit() or len(body) > 4 or not any(ch.isdigit() for ch in token):
        return None
    return body + last


def _windows(tokens: Sequence[str], start: int, length: int, limit: float) -> list[str]:
    """The squashed runs of tokens from `start` whose length is within `limit` of `length`."""
    found = []
    run = ""
    for token in tokens[start : start + 6]:
        run += token
        if len(run) > length + limit:
            break
        if len(run) >= length - limit:
            found.append(run)
    return found


def near_phrase(tokens: Sequence[str], premise: str, street: str) -> bool:
    """Whether the tokens hold the premise number followed by words near the street (`street`
    squashed: "MEADOWLANE"), with the number read as OCR may have written it and the street
    possibly glued to it ("27MEADCW")."""
    limit = limit_for(len(street))
    for at, token in enumerate(tokens):
        if as_number(token) == premise:
            if any(is_near(run, street) for run in _windows(tokens, at + 1, len(street), limit)):
                return True
        elif token.startswith(premise) and token[len(premise) :].isalpha():
            rest = [token[len(premise) :], *tokens[at + 1 :]]
            if any(is_near(run, street) for run in _windows(rest, 0, len(street), limit)):
                return True
    return False


def near_words(tokens: Sequence[str], target: str) -> bool:
    """Whether some run of tokens, squashed, is near `target` (squashed: "STOKEONTRENT")."""
    limit = limit_for(len(target))
    return any(
        is_near(run, target)
        for start in range(len(tokens))
        for run in _windows(tokens, start, len(target), limit)
    )


@lru_cache(maxsize=4096)
def postcode_neighbours(postcode: str) -> tuple[str, ...]:
    """The postcodes one inward character away from a canonical one, outward code kept: what a
    letter to `postcode` reads as when OCR got one character of its inward code wrong."""
    outward, inward = postcode.split(" ")
    found = []
    for position, alphabet in enumerate((_INWARD_DIGITS, _INWARD_LETTERS, _INWARD_LETTERS)):
        for ch in alphabet:
            if ch != inward[position]:
                found.append(f"{outward} {inward[:position]}{ch}{inward[position + 1 :]}")
    return tuple(found)


def glued_postcodes(tokens: Sequence[str]) -> set[str]:
    """Postcodes at the end of a token glued to the word before them ("TRENTST15YT", "DERBYDE13PN"):
    every reading of the token's tail that is a valid postcode."""
    found: set[str] = set()
    for token in tokens:
        if len(token) <= 7 or token.isalpha() or token.isdigit():
            continue
        for size in (5, 6, 7):
            postcode = canonical_postcode(token[-size:])
            if postcode is not None:
                found.add(postcode)
    return found
