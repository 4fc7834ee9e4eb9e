"""Blocked postal addresses, parsed once from structured intake (lines + postcode), and letters,
normalised once into the same word forms (``matcher.address_words``). Letters are never parsed:
they are only scanned for what the blocked addresses were parsed into. A ParsedAddress holds its
words resolved ("SAINT JOHNS ROAD", "HIGH STREET").
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from matcher import us_addresses
from matcher.address_words import SPLIT_PREMISE, STREET_TYPES, UK_WORDS, US_WORDS, display, match_words
from matcher.errors import InvalidAddress
from matcher.phrases import NormalisedText, upper_words
from matcher.postcodes import canonical_postcode, postcodes_in_words

# A last line ending in one of these is a street, not the post town ("Burgess Hill" is a town).
_STRONG_TYPES = STREET_TYPES - {"HILL", "GREEN", "PARK", "GATE", "END", "BANK", "VALE", "HEIGHTS", "MOUNT",
                                "LEA"}  # fmt: skip
FLOORS = frozenset({"GROUND", "FIRST", "SECOND", "THIRD", "FOURTH", "TOP", "BASEMENT", "LOWER", "UPPER",
                    "GARDEN"})  # fmt: skip
_COUNTRIES = frozenset({"UK", "GB", "UNITED KINGDOM", "GREAT BRITAIN", "ENGLAND", "WALES", "SCOTLAND",
                        "NORTHERN IRELAND"})  # fmt: skip
_COUNTIES = frozenset(
    {
        "AVON", "CLEVELAND", "CORNWALL", "CUMBRIA", "DEVON", "DORSET", "ESSEX", "KENT", "MERSEYSIDE",
        "MIDDLESEX", "MIDDX", "NORFOLK", "NORTH HUMBERSIDE", "SOUTH HUMBERSIDE", "HUMBERSIDE", "SUFFOLK",
        "SURREY", "SUSSEX", "EAST SUSSEX", "WEST SUSSEX", "WEST MIDLANDS", "GREATER MANCHESTER",
        "TYNE AND WEAR", "CO DURHAM", "COUNTY DURHAM", "EAST RIDING", "GREATER LONDON", "ISLE OF WIGHT",
        "NORTH YORKS", "SOUTH YORKS", "WEST YORKS", "EAST YORKS", "LANCS", "HANTS", "HERTS", "BUCKS",
        "BERKS", "BEDS", "NOTTS", "LINCS", "WILTS", "GLOS", "WORCS", "STAFFS", "LEICS", "NORTHANTS",
        "CAMBS", "OXON", "SALOP", "CLWYD", "DYFED", "GWENT", "GWYNEDD", "POWYS",
    }
)  # fmt: skip
_NOT_PLACES = _COUNTRIES | _COUNTIES
_PARTS = re.compile(r"[,;\n]+")
_PREMISE = re.compile(r"[0-9]+[A-Z]?")
_LEADING_SEPARATOR = re.compile(r"\s*[0-9]+\s*[A-Za-z]?\s*([-/])")


@dataclass(frozen=True, slots=True)
class ParsedAddress:
    """A blocked address in canonical words: postcode "HU1 2AB" (or ZIP "62704"), premise "14A"
    (or a range "14-16"), house_name "IVY HOUSE", flat "2A" (or a floor, "GROUND"), street
    "HIGH STREET", town "HULL"."""

    postcode: str | None
    premise: str | None = None
    house_name: str | None = None
    flat: str | None = None
    street: str | None = None
    town: str | None = None


def normalise_text(text: str, address_format: str = "uk") -> NormalisedText:
    """A letter read once: match-form words, plain words (for names) and the postcodes in it."""
    upper, words = upper_words(text)
    if address_format == "uk":
        postcodes = postcodes_in_words(words)
        forms = UK_WORDS
    elif address_format == "us":
        postcodes = us_addresses.zips_in_words(words)
        forms = US_WORDS
    else:
        raise ValueError(f"address format {address_format!r}: expected 'uk' or 'us'")
    plain = f" {' '.join(words)} "
    if address_format == "uk" and SPLIT_PREMISE.search(plain):
        words = SPLIT_PREMISE.sub(r" \1\2", plain).split()
    tokens = tuple(map(forms.get, words, words))
    text = f" {' '.join(tokens)} " if tokens else " "
    return NormalisedText(text, tokens, plain if words else " ", upper, frozenset(postcodes), address_format)


def parse_address(
    lines: Sequence[str], postcode: str, field: str, address_format: str = "uk"
) -> ParsedAddress:
    """Parse a blocked address once. `field` names it in errors ("protected[0].addresses[1]")."""
    if address_format == "us":
        return interned(ParsedAddress(**us_addresses.parse_us_address(lines, postcode, field)))
    if address_format != "uk":
        raise ValueError(f"address format {address_format!r}: expected 'uk' or 'us'")
    canonical = canonical_postcode(postcode)
    if canonical is None:
        raise InvalidAddress(f"{field}.postcode", "not a valid UK postcode")
    return _parse_uk(lines, canonical, field)


def parse_typed_address(
    lines: Sequence[str], postcode: str, address_format: str = "uk"
) -> ParsedAddress | None:
    """A typed address (a prisoner's contact) parsed as a blocked one is, whatever its postcode:
    mistyped or unreadable, it is None (the lines still give the phrases a letter is scanned
    for). None when the lines name neither a house number nor a house name."""
    try:
        if address_format == "us":
            fields = us_addresses.parse_us_address(lines, postcode, "address", require_zip=False)
            return ParsedAddress(**fields)
        return _parse_uk(lines, canonical_postcode(postcode), "address")
    except InvalidAddress:
        return None


def _parse_uk(lines: Sequence[str], canonical: str | None, field: str) -> ParsedAddress:
    compact = "" if canonical is None else canonical.replace(" ", "")
    parts: list[tuple[list[str], str]] = []
    for line in lines:
        for part in _PARTS.split(line):
            words = _without_postcode(match_words(part), compact)
            if words:
                found = _LEADING_SEPARATOR.match(part)
                parts.append((words, found.group(1) if found else " "))
    flat, components = _take_flat(parts)
    premise, house_name, street, town = _place(components)
    if premise is None and house_name is None:
        raise InvalidAddress(field, "needs a house number or a house name")
    # Not the postcode: nearly every address has its own, and interning them grows the interpreter's
    # one intern dict a slow resize at a time, in a build beside a serving event loop.
    fields = (premise, house_name, flat, street, town)
    return ParsedAddress(canonical, *(None if value is None else sys.intern(value) for value in fields))


def interned(address: ParsedAddress) -> ParsedAddress:
    """The same address with its strings shared (a million blocked addresses repeat a few
    thousand streets, towns and numbers)."""
    return ParsedAddress(*(None if value is None else sys.intern(value) for value in _fields(address)))


def _fields(address: ParsedAddress) -> tuple[str | None, ...]:
    return (address.postcode, address.premise, address.house_name, address.flat, address.street, address.town)


def _without_postcode(words: list[str], compact: str) -> list[str]:
    if not words or not compact.endswith(words[-1]):  # the postcode ends the part or is not in it
        return words
    for n in (1, 2, 3):
        if len(words) >= n and "".join(words[-n:]) == compact:
            return words[:-n]
    return words


def _take_flat(parts: list[tuple[list[str], str]]) -> tuple[str | None, list[tuple[list[str], str]]]:
    flat: str | None = None
    components: list[tuple[list[str], str]] = []
    for line_words, line_separator in parts:
        words, separator = line_words, line_separator
        if flat is None:
            flat, words, separator = _flat_in(words, separator)
        if len(words) >= 2 and words[0] in ("NO", "NUMBER") and _PREMISE.fullmatch(words[1]):
            words = words[1:]
        if words:
            components.append((words, separator))
    return flat, components


def _flat_in(words: list[str], separator: str) -> tuple[str | None, list[str], str]:
    """The flat named in one address part, and the words left."""
    if words[0] == "FLAT" and len(words) >= 2:
        skip = 2 if words[1] in ("NO", "NUMBER") and len(words) >= 3 else 1
        return words[skip], words[skip + 1 :], separator
    if "FLAT" in words[1:-1]:
        at = words.index("FLAT", 1)
        return words[at + 1], words[:at] + words[at + 2 :], separator
    if words[-1] == "FLAT" and len(words) >= 2 and all(w in FLOORS or w == "FLOOR" for w in words[:-1]):
        return words[0], [], separator
    if len(words) >= 3 and separator != "-" and all(_PREMISE.fullmatch(w) for w in words[:2]):
        return words[0], words[1:], " "  # "2/14 HIGH ST", "2 14 HIGH ST"
    return None, words, separator


def _place(components: list[tuple[list[str], str]]) -> tuple[str | None, str | None, str | None, str | None]:
    while components and (
        " ".join(components[-1][0]) in _NOT_PLACES or components[-1][0][-1].endswith("SHIRE")
    ):
        components = components[:-1]
    town: str | None = None
    if len(components) >= 2:
        last = components[-1][0]
        if "".join(last).isalpha() and last[-1] not in _STRONG_TYPES:  # words are letters and digits
            town = display(last)
            components = components[:-1]
    at = next((i for i, (words, _) in enumerate(components) if _PREMISE.fullmatch(words[0])), None)
    house_name = street = None
    if at is None:
        if components and not (len(components) == 1 and components[0][0][-1] in _STRONG_TYPES):
            house_name = display(components[0][0])
            if len(components) >= 2:
                street = display(components[1][0])
        return None, house_name, street, town
    words, separator = components[at]
    taken = 2 if separator == "-" and len(words) >= 2 and _PREMISE.fullmatch(words[1]) else 1
    premise, rest = "-".join(words[:taken]), words[taken:]
    if at > 0:
        house_name = display(components[0][0])
    if not rest and at + 1 < len(components) and not _PREMISE.fullmatch(components[at + 1][0][0]):
        rest = components[at + 1][0]
    if rest and town is None:
        ends = [i for i, w in enumerate(rest) if w in _STRONG_TYPES and 0 < i < len(rest) - 1]
        if ends:  # one line, no commas: "14 HIGH ST HULL"
            town = display(rest[ends[-1] + 1 :])
            rest = rest[: ends[-1] + 1]
    if rest:
        street = display(rest)
    return premise, house_name, street, town
