"""Generated, fictional blocklists and attempts, deterministic per seed: the benchmarks' lists of
up to millions of entries, and the envelopes the fast-path tests replay."""

from __future__ import annotations

import random
from collections.abc import Iterator

from matcher.entries import Entry, PostalAddress, ProtectedPerson

STREETS = [
    "High Street", "Station Road", "Church Lane", "Mill Lane", "Park Avenue", "Victoria Road", "Green Lane",
    "Manor Road", "Church Street", "Kings Road", "Queens Road", "New Road", "School Lane", "The Crescent",
    "North Street", "Grange Road", "Springfield Road", "Highfield Road", "Chapel Street", "York Road",
]  # fmt: skip
WORDS = [
    "Rose", "Oak", "Mill", "Brook", "Hill", "Field", "Elm", "Ash", "Green", "Willow", "Beech", "Meadow",
    "Orchard", "Holly", "Cedar", "Maple", "Birch", "Rowan", "Hazel", "Laurel", "Thorn", "Bramble",
]  # fmt: skip
SUFFIXES = [
    "Street", "Road", "Lane", "Close", "Avenue", "Drive", "Way", "Gardens", "Place", "Terrace", "Court",
]  # fmt: skip
HOUSES = ["Cottage", "House", "Lodge", "Farm", "View", "Barn"]
TOWNS = ["Hull", "Leeds", "York", "Bradford", "Sheffield", "Doncaster", "Grimsby", "Lincoln", "Beverley"]
AREAS = [
    "AB", "B", "BA", "BB", "BD", "BH", "BL", "BN", "BR", "BS", "CA", "CB", "CF", "CH", "CM", "CO", "CR",
    "CT", "CV", "CW", "DA", "DE", "DH", "DL", "DN", "DT", "DY", "E", "EN", "EX", "FY", "GL", "GU", "HA",
    "HD", "HG", "HP", "HR", "HU", "HX", "IP", "L", "LA", "LE", "LN", "LS", "LU", "M", "ME", "MK", "N",
    "NE", "NG", "NN", "NP", "NR", "NW", "OL", "OX", "PE", "PL", "PO", "PR", "RG", "RH", "RM", "S", "SE",
    "SK", "SL", "SM", "SN", "SO", "SP", "SR", "SS", "ST", "SW", "SY", "TA", "TF", "TN", "TQ", "TR", "TS",
    "TW", "UB", "W", "WA", "WD", "WF", "WN", "WR", "WS", "WV", "YO",
]  # fmt: skip
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
FORENAMES = ["Jane", "Amir", "Mary", "Sarah", "Priya", "Kofi", "Emma", "Olivia", "Grace", "Chloe"]
SURNAMES = [
    f"{head}{tail}"
    for head in ["Ash", "Brad", "Cart", "Dun", "Ell", "Fair", "Gold", "Hart", "Kings", "Lang", "Mor", "Nor"]
    for tail in ["ley", "ford", "well", "ton", "wood", "by", "man", "son", "field", "worth", "ridge", "combe"]
] + ["Smith", "Jones", "O'Neill", "McDonald", "Patel", "Brown", "Taylor", "Wilson", "Khan", "Evans"]


SENDER = "If undelivered please return to: A1234BC J BLOGGS, HMP Hull, Hedon Road, Hull HU9 5LS."
FRANKING = " Royal Mail postage paid 2nd class. PRIVATE AND CONFIDENTIAL. Do not bend."


def mobile(n: int) -> str:
    """The n-th fictional UK mobile number, national format."""
    return f"07{n % 1_000_000_000:09d}"


def postcode(rng: random.Random) -> str:
    area = rng.choice(AREAS)
    inward = f"{rng.randint(0, 9)}{rng.choice(INWARD_LETTERS)}{rng.choice(INWARD_LETTERS)}"
    return f"{area}{rng.randint(1, 29)} {inward}"


def address(rng: random.Random) -> PostalAddress:
    street = (
        rng.choice(STREETS)
        if rng.random() < 0.3
        else f"{rng.choice(WORDS)}{rng.choice(WORDS).lower()} {rng.choice(SUFFIXES)}"
    )
    number = f"{rng.randint(1, 400)}{rng.choice(['', '', '', 'A', 'B'])}"
    code = postcode(rng)
    district = code.split()[0]
    town = f"{TOWNS[sum(map(ord, district)) % len(TOWNS)]}-{district}"  # one post town per district
    roll = rng.random()
    lines: tuple[str, ...]
    if roll < 0.15:
        lines = (f"{rng.choice(WORDS)} {rng.choice(HOUSES)}", street, town)
    elif roll < 0.35:
        lines = (f"Flat {rng.randint(1, 30)}", f"{number} {street}", town)
    else:
        lines = (f"{number} {street}", town)
    return PostalAddress(lines, code)


def entries(
    count: int, *, phones: int = 1, emails: int = 0, addresses: int = 0, seed: int = 1
) -> Iterator[Entry]:
    """`count` entries of one protected person each, with the given number of identifiers."""
    rng = random.Random(seed)
    serial = 0
    for i in range(count):
        name = f"{rng.choice(FORENAMES)} {rng.choice(SURNAMES)}"
        person = ProtectedPerson(
            name,
            tuple(
                mobile(7_700_000_000 - 7_000_000_000 + (serial := serial + 1) * 7919) for _ in range(phones)
            ),
            tuple(f"person{i}.{j}@example.com" for j in range(emails)),
            tuple(address(rng) for _ in range(addresses)),
        )
        yield Entry(f"UPC-{i:07d}", f"A{i % 10000:04d}BC", None, (person,))


def numbered_entries(count: int, start: int, *, seed: int) -> list[Entry]:
    """Entries shaped like ``entries(phones=1, emails=1, addresses=1)``, numbered from `start` so
    that their references and numbers do not collide with a list of `start` entries."""
    rng = random.Random(seed)
    out = []
    for i in range(start, start + count):
        person = ProtectedPerson(
            f"{rng.choice(FORENAMES)} {rng.choice(SURNAMES)}",
            (mobile(700_000_000 + (i + 1) * 7919),),
            (f"person{i}.0@example.com",),
            (address(rng),),
        )
        out.append(Entry(f"UPC-{i:07d}", f"A{i % 10000:04d}BC", None, (person,)))
    return out


def dial_strings(count: int, blocked: list[str], seed: int = 2) -> list[str]:
    """Fresh dial strings in mixed formats; about one in ten is a blocked number."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        national = rng.choice(blocked) if i % 10 == 0 else mobile(rng.randrange(1_000_000_000))
        digits = national[1:]
        shape = i % 5
        if shape == 0:
            out.append(f"{national[:5]} {national[5:]}")
        elif shape == 1:
            out.append(f"+44 {digits[:4]} {digits[4:]}")
        elif shape == 2:
            out.append(f"9 {national}")
        elif shape == 3:
            out.append(national)
        else:
            out.append(f"0044{digits}")
    return out


def envelopes(count: int, blocked: list[PostalAddress], seed: int = 3) -> list[str]:
    """Envelope OCR texts of 300 bytes with the prison's return address; one in ten to a blocked address."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        target = rng.choice(blocked) if i % 10 == 0 else address(rng)
        name = f"{rng.choice(['Mr', 'Mrs', 'Ms', 'Miss'])} {rng.choice(FORENAMES)[0]} {rng.choice(SURNAMES)}"
        body = "\n".join((name, *target.lines, target.postcode))
        text = f"{body}\n\n{SENDER}"
        while len(text) < 300:
            text += FRANKING
        out.append(text[:300])
    return out


# What handwriting OCR does to letters (a few of them, anywhere in the envelope), and to spaces.
OCR_LOOKS = {"O": "C", "E": "C", "B": "H", "S": "5", "I": "1", "L": "1", "M": "RN", "D": "CL", "H": "LI"}


def ocr_damaged(texts: list[str], seed: int = 4, changes: int = 3) -> list[str]:
    """The envelopes as OCR reads handwriting: upper case, `changes` characters read as their
    look-alikes, and one envelope in four with every space lost."""
    rng = random.Random(seed)
    out = []
    for number, text in enumerate(texts):
        chars = list(text.upper())
        for _ in range(changes):
            at = rng.randrange(len(chars))
            chars[at] = OCR_LOOKS.get(chars[at], chars[at])
        damaged = "".join(chars)
        out.append(damaged.replace(" ", "") if number % 4 == 0 else damaged)
    return out
