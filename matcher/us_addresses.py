"""The `us` address profile: blocked US addresses parsed with usaddress (it labels US addresses
well; on UK ones it fails, so GB never uses it) and ZIP codes as postcodes; its word forms (USPS
suffixes and directionals expanded) are in matcher.address_words."""

from __future__ import annotations

import re
from collections.abc import Sequence

import usaddress

from matcher.address_words import display, match_words
from matcher.errors import InvalidAddress

US_STATES = frozenset(
    {
        "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
        "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC",
        "ND", "OH", "OK", "OR", "PA", "PR", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "VI", "WA", "WV",
        "WI", "WY", "GU", "AS", "MP", "AA", "AE", "AP",
    }
)  # fmt: skip
_AS_DIGIT = {"O": "0", "D": "0", "Q": "0", "I": "1", "L": "1", "S": "5", "B": "8", "Z": "2", "G": "6"}
_ZIP = re.compile(r"([0-9]{5})(?:[- ]?[0-9]{4})?")
_STREET_LABELS = (
    "StreetNamePreModifier",
    "StreetNamePreDirectional",
    "StreetNamePreType",
    "StreetName",
    "StreetNamePostType",
    "StreetNamePostDirectional",
)


def canonical_zip(raw: str) -> str | None:
    """ "62704-1234" -> "62704" (the five-digit ZIP is the key; ZIP+4 narrows it within)."""
    found = _ZIP.fullmatch(raw.strip())
    return found.group(1) if found else None


def zips_in_words(words: Sequence[str]) -> set[str]:
    """Five-digit ZIP codes in a letter's words, OCR-tolerant (O/D/Q 0, I/L 1, S 5, B 8, Z 2, G 6;
    at least three real digits). A five-digit house number ("12345 MAIN ST") is not a ZIP:
    a ZIP is followed by no word unless a state code comes right before it."""
    found: set[str] = set()
    last = len(words) - 1
    for i, word in enumerate(words):
        if len(word) != 5:
            continue
        if word.isdigit():
            zip_code = word
        else:
            digits = sum(ch.isdigit() for ch in word)
            if digits < 3 or any(not ch.isdigit() and ch not in _AS_DIGIT for ch in word):
                continue
            zip_code = "".join(_AS_DIGIT.get(ch, ch) for ch in word)
        following = words[i + 1] if i < last else ""
        after_state = i > 0 and words[i - 1] in US_STATES
        if following.isalpha() and following not in ("USA", "US") and not after_state:
            continue
        found.add(zip_code)
    return found


def parse_us_address(
    lines: Sequence[str], postcode: str, field: str, *, require_zip: bool = True
) -> dict[str, str | None]:
    """The ParsedAddress fields of a blocked US address (`require_zip` False: a typed one, whose
    ZIP may be unreadable; its postcode is then None)."""
    zip_code = canonical_zip(postcode)
    if zip_code is None and require_zip:
        raise InvalidAddress(f"{field}.postcode", "not a valid US ZIP code")
    text = ", ".join(line for line in lines if line.strip())
    labels: dict[str, str] = {}
    try:
        tagged, _kind = usaddress.tag(text)
        labels = {label: str(value) for label, value in tagged.items()}
    except usaddress.RepeatedLabelError as exc:
        for value, label in exc.parsed_string:
            labels.setdefault(label, value)

    def words(*names: str) -> list[str]:
        return match_words(" ".join(labels[n] for n in names if n in labels), "us")

    number = words("AddressNumberPrefix", "AddressNumber", "AddressNumberSuffix")
    street = words(*_STREET_LABELS)
    occupancy = [w for w in words("OccupancyIdentifier") if w != "FLAT"]
    town = words("PlaceName")
    building = words("BuildingName")
    premise = "".join(number) or None
    if premise is not None and not any(ch.isdigit() for ch in premise):
        premise = None
    if premise is None and not building:
        raise InvalidAddress(field, "needs a house number or a building name")
    return {
        "postcode": zip_code,
        "premise": premise,
        "house_name": display(building) if building else None,
        "flat": occupancy[0] if occupancy else None,
        "street": display(street) if street else None,
        "town": display(town) if town else None,
    }
