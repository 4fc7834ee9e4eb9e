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

from matcher.address_parse import ParsedAddress
from matcher.addresses import AddressIndex
from matcher.budget import NEAR_CANDIDATE_TOKEN, NEAR_POSTCODE, Budget
from matcher.phrases import NormalisedText
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
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # the inward code never uses C I K M O V


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


def ocr_distance(read: str, target: str, limit: float = float("inf"), prefix: bool = False) -> float:
    """The OCR-weighted edit distance from `read` (with `prefix`: from its nearest beginning, as
    when a street runs into the town) to `target`; anything over `limit` may come back as any
    value over it (the rows stop once they all exceed it)."""
    if read == target or (prefix and read.startswith(target)):
        return 0.0
    if not prefix and abs(len(read) - len(target)) > limit:
        return limit + 1
    best = float(len(target))  # the empty beginning
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
        best = min(best, current[-1])
        if min(current) > limit:
            return best if prefix and best <= limit else limit + 1
        before, previous = previous, current
    return best if prefix else previous[-1]


def is_near(read: str, target: str, prefix: bool = False) -> bool:
    limit = limit_for(len(target))
    return ocr_distance(read, target, limit, prefix) <= limit


def as_number(token: str) -> str | None:
    """A house-number token as OCR may have written it ("2l" -> "21", "I4A" -> "14A"), or None."""
    if not token or not (token[0].isdigit() or token[0] in "ILOSZBG"):
        return None
    last = token[-1] if len(token) > 1 and token[-1] in _SUFFIXES and token[-2].isdigit() else ""
    body = token[: len(token) - len(last)].translate(_AS_DIGIT)
    if not body.isdigit() or len(body) > 4:
        return None
    return body + last


def _run(tokens: Sequence[str], start: int, length: int) -> str:
    """The tokens from `start` squashed together until `length` characters (at most six tokens)."""
    run = ""
    for token in tokens[start : start + 6]:
        run += token
        if len(run) >= length:
            break
    return run


class NearLetter:
    """One letter's tokens, with the house numbers in them found once (a letter is checked against
    several candidate addresses)."""

    __slots__ = ("_numbers", "tokens")

    def __init__(self, tokens: Sequence[str]) -> None:
        self.tokens = tokens
        self._numbers: dict[str, list[Sequence[str]]] | None = None

    def numbers(self) -> dict[str, list[Sequence[str]]]:
        """Each house number as OCR may have written it -> the words after each place it stands
        (a street glued to its number, "27MEADCW", gives the rest of that word first)."""
        if self._numbers is None:
            found: dict[str, list[Sequence[str]]] = {}
            tokens = self.tokens
            for at, token in enumerate(tokens):
                number = as_number(token)
                if number is not None:
                    found.setdefault(number, []).append(tokens[at + 1 : at + 7])
                head = token.rstrip(_LETTERS)
                if head.isdigit() and len(token) - len(head) >= 3:
                    found.setdefault(head, []).append([token[len(head) :], *tokens[at + 1 : at + 6]])
            self._numbers = found
        return self._numbers

    def near_phrase(self, premise: str, street: str) -> bool:
        """Whether the premise number is followed by words near the street (`street` squashed:
        "MEADOWLANE"), possibly glued to the town after it ("MEADOWLANEDERBY")."""
        reach = len(street) + int(limit_for(len(street)))
        for after in self.numbers().get(premise, ()):
            run = _run(after, 0, reach)
            if run and is_near(run, street, prefix=True):
                return True
        return False


def near_phrase(tokens: Sequence[str], premise: str, street: str) -> bool:
    """NearLetter.near_phrase for one address."""
    return NearLetter(tokens).near_phrase(premise, street)


def near_words(tokens: Sequence[str], target: str) -> bool:
    """Whether some run of tokens, squashed, begins near `target` (squashed: "STOKEONTRENT"). A run
    must start with the target's first letter or one OCR confuses with it: the distance is dear
    in Python, and OCR rarely loses a word's first letter."""
    first = target[0]
    reach = len(target) + int(limit_for(len(target)))
    return any(
        is_near(_run(tokens, start, reach), target, prefix=True)
        for start, token in enumerate(tokens)
        if token[0] == first or (token[0], first) in _CONFUSED
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


_LETTER_FOR = {"0": "O", "1": "I", "2": "Z", "4": "A", "5": "S", "6": "G", "7": "T", "8": "B"}
_DIGITS_FOR = {"O": "0", "D": "0", "Q": "09", "I": "1", "L": "1", "Z": "2", "S": "5", "G": "69", "B": "8",
               "T": "7", "A": "4"}  # fmt: skip
_OUTWARD_SHAPES = {2: ("A9",), 3: ("A99", "AA9", "A9A"), 4: ("AA99", "AA9A")}
MAX_FIXES = 2  # characters read as their look-alikes, in the whole postcode


def _fixed(chars: str, shape: str) -> list[tuple[str, int]]:
    """`chars` read as `shape` (A a letter, 9 a digit): each reading with its number of fixes."""
    readings = [("", 0)]
    for ch, kind in zip(chars, shape, strict=True):
        if (kind == "A") == ch.isalpha():
            options = [(ch, 0)]
        else:
            swapped = _LETTER_FOR.get(ch, "") if kind == "A" else _DIGITS_FOR.get(ch, "")
            options = [(option, 1) for option in swapped]
        readings = [(text + option, fixes + cost) for text, fixes in readings for option, cost in options]
        readings = [reading for reading in readings if reading[1] <= MAX_FIXES]
    return readings


@lru_cache(maxsize=16384)
def lenient_postcodes(compact: str) -> frozenset[str]:
    """Every postcode `compact` (5-7 letters and digits, no space) reads as with at most MAX_FIXES
    characters taken for their look-alikes, the reading matcher.postcodes refuses ("NGSSEL":
    no real digit)."""
    found: set[str] = set()
    outward, inward = compact[:-3], compact[-3:]
    inwards = _fixed(inward, "9AA")
    for shape in _OUTWARD_SHAPES.get(len(outward), ()) if inwards else ():
        for fixed_outward, outward_fixes in _fixed(outward, shape):
            for fixed_inward, inward_fixes in inwards:
                if outward_fixes + inward_fixes <= MAX_FIXES:
                    postcode = canonical_postcode(fixed_outward + fixed_inward)
                    if postcode is not None:
                        found.add(postcode)
    return frozenset(found)


@lru_cache(maxsize=16384)
def short_outward(outward: str, inward: str) -> frozenset[str]:
    """Postcodes whose outward code lost a character ("CV" "8NT", "T5" "8NY", "CF1" "5WT" for CF10
    5WT): the character put back, a letter where the outward code's shapes have a letter, a
    digit where they have a digit."""
    found: set[str] = set()
    for fixed_inward, _ in _fixed(inward, "9AA"):
        for shape in _OUTWARD_SHAPES.get(len(outward) + 1, ()):
            for place in range(len(shape)):
                rest = shape[:place] + shape[place + 1 :]
                if any((kind == "A") != ch.isalpha() for ch, kind in zip(outward, rest, strict=True)):
                    continue
                for ch in _LETTERS if shape[place] == "A" else _INWARD_DIGITS:
                    postcode = canonical_postcode(outward[:place] + ch + outward[place:] + fixed_inward)
                    if postcode is not None:
                        found.add(postcode)
    return frozenset(found)


def _inward_like(chars: str) -> bool:
    return len(chars) == 3 and (chars[0].isdigit() or chars[0] in _DIGITS_FOR) and chars[1:].isalpha()


_NUMBER_DIGITS = frozenset("0123456789OQDILZSGTB")


def _prison_number(token: str) -> bool:
    """Whether a word is a prison number as the sender writes it on the envelope (A1234BC: a letter,
    four digits, two letters), OCR's look-alikes allowed where at least two digits are real, as
    gateway.mailroom.prisoner reads it. No postcode has that shape (no outward code is a letter
    and three digits)."""
    return (
        len(token) == 7
        and not token[0].isdigit()
        and token[5:].isalpha()
        and all(ch in _NUMBER_DIGITS for ch in token[1:5])
        and sum(ch.isdigit() for ch in token[1:5]) >= 2
        and canonical_postcode(token) is None
    )


def glued_postcodes(tokens: Sequence[str], letters_only: bool = False, digit_read: bool = False) -> set[str]:
    """Postcodes read leniently where OCR glued, split or blurred them: the tail of a word
    ("TRENTST19HR", "DERBYDE13PN"), the tail of one word and the next ("NOTTINGHAMNG5" "5EL",
    "NGS" "SEL"), or a short outward code and the next word ("CV" "8NT"). A word of letters only
    ("TRENTSTIQHR") is read as one with `letters_only`: there are many, and most are words. With
    `digit_read`, only characters holding a real digit are read ("NGS" "SEL", "BLOGGS" and "MISS"
    "SUE" are not), and never a prison number ("A8063NX" is no "AB06 3NX")."""
    found: set[str] = set()
    for at, token in enumerate(tokens):
        if digit_read and _prison_number(token):
            continue
        if len(token) >= 5 and _inward_like(token[-3:]) and (letters_only or not token.isalpha()):
            for size in (5, 6, 7):
                if len(token) >= size and not (digit_read and token[-size:].isalpha()):
                    found |= lenient_postcodes(token[-size:])
        following = tokens[at + 1] if at + 1 < len(tokens) else ""
        if _inward_like(following) and not token.isdigit():
            for size in (2, 3, 4):
                if len(token) >= size and not (digit_read and (token[-size:] + following).isalpha()):
                    found |= lenient_postcodes(token[-size:] + following)
            if len(token) <= 3 and following[0].isdigit():
                found |= short_outward(token, following)
    return found


_SHORT = {"LANE": "LN", "ROAD": "RD", "AVENUE": "AVE", "DRIVE": "DR", "CLOSE": "CL", "CRESCENT": "CRES",
          "PLACE": "PL", "GARDENS": "GDNS", "TERRACE": "TERR", "COURT": "CT", "SQUARE": "SQ", "GROVE": "GR",
          "ST": "STREET"}  # fmt: skip


@lru_cache(maxsize=65536)
def street_forms(street: str) -> tuple[str, ...]:
    """A street's squashed forms as a letter may hold them glued: the match form ("HIGHST"), the
    words in full ("HIGHSTREET") and the last one shortened ("MEADOWLN")."""
    words = street.replace("STREET", "ST").split()
    forms = {"".join(words)}
    if words and words[-1] in _SHORT:
        forms.add("".join([*words[:-1], _SHORT[words[-1]]]))
    if words and words[-1] == "ST":
        forms.add("".join([*words[:-1], "STREET"]))
    return tuple(sorted(forms))


def near_readings(postcodes: frozenset[str], tokens: Sequence[str]) -> frozenset[str]:
    """The postcodes a letter may be addressed to beyond those it reads as: one inward character
    away from each, those glued to a word or read leniently, and those with an outward character
    lost."""
    if postcodes:  # a postcode read cleanly: only its near neighbours (dict lookups after)
        found: set[str] = set()
        for postcode in postcodes:
            found.update(postcode_neighbours(postcode))
        return frozenset(found - postcodes)
    found = glued_postcodes(tokens)
    if not found:  # nothing reads as a postcode: look harder
        found = glued_postcodes(tokens, letters_only=True)
    return frozenset(found)


def near_flags(
    address: ParsedAddress,
    letter: NearLetter | Sequence[str],
    readings: frozenset[str],
    exact: frozenset[str] | set[str],
) -> set[str]:
    """The near evidence a letter (its match-form tokens, the postcodes it may be addressed to
    `readings`) holds for one blocked address, beside the `exact` evidence already found."""
    if not isinstance(letter, NearLetter):
        letter = NearLetter(letter)
    tokens = letter.tokens
    flags: set[str] = set()
    if "postcode" not in exact and address.postcode in readings:
        flags.add("near_postcode")
    if "premise" not in exact and address.premise is not None and address.street is not None:
        number = address.premise.replace("-", "")
        if any(letter.near_phrase(number, form) for form in street_forms(address.street)):
            flags.add("near_premise")
    house_name = address.house_name
    if (
        "house_name" not in exact
        and house_name is not None
        and near_words(tokens, house_name.replace(" ", ""))
    ):
        flags.add("near_house_name")
    # the town only counts beside other evidence, so it is only looked for then
    town = address.town
    if "town" not in exact and town is not None and flags and near_words(tokens, town.replace(" ", "")):
        flags.add("near_town")
    return flags


def premise_like(tokens: Sequence[str]) -> bool:
    """Whether some house number can be read: a number (as OCR writes it) before a word of three
    letters or more, or glued to one ("27MEADOW"). A flat's number does not count."""
    for at, token in enumerate(tokens):
        if at and tokens[at - 1] in _FLAT_WORDS:
            continue
        following = tokens[at + 1] if at + 1 < len(tokens) else ""
        if token[0].isdigit() and len(following) >= 3 and following.isalpha() and as_number(token):
            return True
        head = token.rstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        if head.isdigit() and len(token) - len(head) >= 3:
            return True
    return False


_FLAT_WORDS = frozenset({"FLAT", "FLA", "FLT", "FL"})


def readable(norm: NormalisedText) -> bool:
    """Whether the letter's address block can be read at all: a postcode (cleanly, glued, or
    leniently) or a house number before a street. Every one of them holds a real digit: a word
    whose letters only OCR's confusions make a postcode (BLOGGS as BL0 6GS, WRIGHT as WR1 9HT) is
    a name far more often than an address, and a letter that holds nothing else is held for a
    person; so is one whose only digits are the sender's prison number."""
    return (
        bool(norm.postcodes)
        or premise_like(norm.tokens)
        or bool(glued_postcodes(norm.tokens, digit_read=True))
    )


def near_scan(
    addresses: AddressIndex,
    norm: NormalisedText,
    found: dict[int, frozenset[str]],
    budget: Budget | None = None,
) -> dict[int, frozenset[str]]:
    """Near evidence for a letter the exact evidence did not block: `norm` is the letter less the
    establishment's return address, `found` the exact scan's evidence by address id. Returns the
    evidence, exact and near, of every address near evidence was found for: those found exactly,
    and those at the postcodes the letter is near to (matcher.near.near_readings). OverBudget when
    `budget` runs out first."""
    tokens = norm.tokens
    letter = NearLetter(tokens)
    if budget is not None:
        budget.spend(NEAR_POSTCODE * len(norm.postcodes), "near postcodes")
    readings = near_readings(norm.postcodes, tokens)
    candidates = addresses.at_postcodes(readings) if readings else set()
    candidates.update(found)
    unread: bool | None = None  # whether no house number can be read: looked at when needed
    near: dict[int, frozenset[str]] = {}
    for ident in candidates:
        record = addresses.get(ident)
        if record is None:
            continue
        address = record[0]
        exact = found.get(ident)
        if exact is None:
            # At a near postcode only a near phrase or house name can count (the hold rules
            # that take near_postcode need one): no such house number, nothing to look at.
            if address.premise is not None and address.premise.replace("-", "") not in letter.numbers():
                continue
            exact = addresses.evidence(ident, norm)
        if budget is not None:
            budget.spend(NEAR_CANDIDATE_TOKEN * len(tokens), "near addresses")
        flags = near_flags(address, letter, readings, exact)
        if address.premise is not None and "postcode" in exact and "premise" not in exact:
            if unread is None:
                unread = not premise_like(tokens)
            if unread:
                flags.add("premise_unread")
        if flags:
            near[ident] = exact | flags
    return near
