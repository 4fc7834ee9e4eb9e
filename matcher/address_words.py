"""The match form of address words, shared by blocked addresses and letters in every format:
upper case, punctuation gone, apostrophes dropped ("JOHN'S" -> "JOHNS"), "12 A" -> "12A" (UK),
abbreviations expanded word by word (RD -> ROAD, AVE -> AVENUE, APT/UNIT -> FLAT...; for the US,
USPS suffixes and directionals). ST, STREET and SAINT all read as "ST" in the match form: without
commas "HIGH ST HULL" and "ST JOHNS ROAD" cannot be told apart reliably, and no two real addresses
differ only by Street/Saint. ``display`` shows them resolved ("SAINT JOHNS ROAD", "HIGH STREET").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from matcher.phrases import upper_words

UK_WORDS: dict[str, str] = {
    "RD": "ROAD", "STREET": "ST", "SAINT": "ST", "STR": "ST", "STRT": "ST", "AVE": "AVENUE",
    "AV": "AVENUE", "AVEN": "AVENUE", "LN": "LANE", "DR": "DRIVE", "DRV": "DRIVE", "CL": "CLOSE",
    "CRES": "CRESCENT", "CRESC": "CRESCENT", "CRS": "CRESCENT", "CRESENT": "CRESCENT", "PL": "PLACE",
    "GDNS": "GARDENS", "GDN": "GARDEN", "TER": "TERRACE", "TERR": "TERRACE", "TCE": "TERRACE",
    "CT": "COURT", "CRT": "COURT", "SQ": "SQUARE", "PK": "PARK", "GR": "GROVE", "GRO": "GROVE",
    "GRV": "GROVE", "WY": "WAY", "HSE": "HOUSE", "MT": "MOUNT", "PDE": "PARADE", "HTS": "HEIGHTS",
    "GRN": "GREEN", "WLK": "WALK", "COTT": "COTTAGE", "COTTS": "COTTAGES", "FM": "FARM", "LDG": "LODGE",
    "BLDG": "BUILDING", "BLDGS": "BUILDINGS", "MWS": "MEWS", "EST": "ESTATE", "CNR": "CORNER",
    "UPR": "UPPER", "LWR": "LOWER", "GT": "GREAT", "NTH": "NORTH", "STH": "SOUTH", "BVD": "BOULEVARD",
    "BLVD": "BOULEVARD", "PKWY": "PARKWAY", "APPR": "APPROACH", "ESP": "ESPLANADE",
    "FLT": "FLAT", "APARTMENT": "FLAT", "APT": "FLAT", "APPT": "FLAT", "UNIT": "FLAT", "FLR": "FLOOR",
    "GRD": "GROUND", "GND": "GROUND", "1ST": "FIRST", "2ND": "SECOND", "3RD": "THIRD", "4TH": "FOURTH",
}  # fmt: skip
US_WORDS: dict[str, str] = {
    "STREET": "ST", "SAINT": "ST", "STR": "ST", "AVE": "AVENUE", "AV": "AVENUE", "AVN": "AVENUE",
    "BLVD": "BOULEVARD", "RD": "ROAD", "DR": "DRIVE", "LN": "LANE", "CT": "COURT", "PL": "PLACE",
    "PKWY": "PARKWAY", "HWY": "HIGHWAY", "CIR": "CIRCLE", "TER": "TERRACE", "TRL": "TRAIL",
    "SQ": "SQUARE", "PLZ": "PLAZA", "ALY": "ALLEY", "EXPY": "EXPRESSWAY", "FWY": "FREEWAY",
    "CTR": "CENTER", "XING": "CROSSING", "PT": "POINT", "RTE": "ROUTE", "TPKE": "TURNPIKE",
    "HTS": "HEIGHTS", "MT": "MOUNT", "FT": "FORT", "N": "NORTH", "S": "SOUTH", "E": "EAST", "W": "WEST",
    "NE": "NORTHEAST", "NW": "NORTHWEST", "SE": "SOUTHEAST", "SW": "SOUTHWEST", "APT": "FLAT",
    "APARTMENT": "FLAT", "UNIT": "FLAT", "STE": "FLAT", "SUITE": "FLAT", "RM": "FLAT", "ROOM": "FLAT",
    "BLDG": "BUILDING",
}  # fmt: skip
# Words that end a street name: they split "14 HIGH ST HULL" into street and town.
STREET_TYPES = frozenset(
    {
        "ROAD", "ST", "AVENUE", "LANE", "DRIVE", "CLOSE", "CRESCENT", "PLACE", "GARDENS", "TERRACE",
        "COURT", "SQUARE", "GROVE", "WAY", "PARADE", "WALK", "MEWS", "ROW", "BOULEVARD", "PARKWAY",
        "APPROACH", "ESPLANADE", "HILL", "RISE", "VIEW", "GREEN", "PARK", "GATE", "CHASE", "VALE", "WHARF",
        "YARD", "QUAY", "MOUNT", "HEIGHTS", "WYND", "CIRCUS", "BANK", "BROW", "CROFT", "END", "FOLD",
        "GARTH", "LEA", "MEAD",
    }
)  # fmt: skip
SPLIT_PREMISE = re.compile(r" ([0-9]+) ([A-Z])(?= )")  # "12 A" -> "12A"


def match_words(raw: str, address_format: str = "uk") -> list[str]:
    """The match-form words of a short string (an address line, a house name)."""
    _, words = upper_words(raw)
    forms = UK_WORDS if address_format == "uk" else US_WORDS
    if address_format == "uk" and len(words) > 1:
        spaced = f" {' '.join(words)} "
        if SPLIT_PREMISE.search(spaced):
            words = SPLIT_PREMISE.sub(r" \1\2", spaced).split()
    return [forms.get(w, w) for w in words]


def display(words: Sequence[str]) -> str:
    """Match-form words shown resolved: ST is SAINT before a name at the start, else STREET."""
    out = []
    for i, word in enumerate(words):
        if word != "ST":
            out.append(word)
        elif i == 0 and i + 1 < len(words) and words[i + 1] not in STREET_TYPES:
            out.append("SAINT")
        else:
            out.append("STREET")
    return " ".join(out)
