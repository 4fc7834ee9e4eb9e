"""A corpus of UK addresses for mailroom tests and benchmarks: blocked addresses as intake records
them, their neighbours (same street next house, same building other flat, the next named house in
the lane) and unrelated addresses, each written on an envelope the way people write them
(abbreviations, capitals or not, postcode on the town's line or its own, a county line now and
then). Fictional: streets and names are common British ones, postcodes are well-formed for the
town's area but not looked up."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# post town, its postcode area, districts used, county written by some
TOWNS: tuple[tuple[str, str, tuple[int, ...], str], ...] = (
    ("Hull", "HU", (1, 3, 5, 7, 8), "East Yorkshire"),
    ("Derby", "DE", (1, 21, 22, 23, 24), "Derbyshire"),
    ("Leeds", "LS", (6, 7, 8, 11, 12), "West Yorkshire"),
    ("Sheffield", "S", (2, 6, 7, 10, 11), "South Yorkshire"),
    ("Manchester", "M", (14, 16, 19, 20, 21), "Greater Manchester"),
    ("Bristol", "BS", (3, 5, 6, 7, 16), "Avon"),
    ("Cardiff", "CF", (5, 10, 11, 14, 23), "South Glamorgan"),
    ("Norwich", "NR", (2, 3, 4, 5, 6), "Norfolk"),
    ("Leicester", "LE", (2, 3, 4, 5, 18), "Leicestershire"),
    ("Nottingham", "NG", (3, 5, 7, 8, 9), "Nottinghamshire"),
    ("Liverpool", "L", (4, 6, 13, 15, 18), "Merseyside"),
    ("Birmingham", "B", (13, 14, 17, 23, 29), "West Midlands"),
    ("Newcastle upon Tyne", "NE", (2, 4, 5, 6, 15), "Tyne and Wear"),
    ("York", "YO", (10, 23, 24, 26, 31), "North Yorkshire"),
    ("Exeter", "EX", (1, 2, 4, 5), "Devon"),
    ("Swansea", "SA", (1, 2, 5, 6), "West Glamorgan"),
    ("Wakefield", "WF", (1, 2, 3, 4), "West Yorkshire"),
    ("Doncaster", "DN", (1, 2, 4, 5), "South Yorkshire"),
    ("Lincoln", "LN", (1, 2, 5, 6), "Lincolnshire"),
    ("Plymouth", "PL", (1, 2, 3, 4, 7), "Devon"),
    ("Coventry", "CV", (1, 2, 3, 5, 6), "West Midlands"),
    ("Stoke-on-Trent", "ST", (1, 3, 4, 6), "Staffordshire"),
    ("Bradford", "BD", (3, 5, 7, 8, 9), "West Yorkshire"),
    ("Middlesbrough", "TS", (1, 3, 4, 5), "North Yorkshire"),
    ("Preston", "PR", (1, 2, 5), "Lancashire"),
    ("Grimsby", "DN", (31, 32, 33, 34), "Lincolnshire"),
)
STREETS: tuple[tuple[str, str], ...] = (
    ("Meadow", "Lane"), ("High", "Street"), ("Church", "Road"), ("Station", "Road"), ("Victoria", "Street"),
    ("Park", "Avenue"), ("Albert", "Road"), ("Mill", "Lane"), ("Queens", "Road"), ("Elm", "Grove"),
    ("Chestnut", "Close"), ("Windsor", "Crescent"), ("Beech", "Drive"), ("Manor", "Way"),
    ("Springfield", "Road"), ("Orchard", "Close"), ("Richmond", "Terrace"), ("Grange", "Road"),
    ("Cedar", "Avenue"), ("Highfield", "Road"), ("Kingsway", ""), ("Hawthorn", "Gardens"),
    ("Marlborough", "Place"), ("Belmont", "Street"), ("Westfield", "Drive"), ("Sycamore", "Walk"),
    ("Brookfield", "Avenue"), ("Holly", "Bank"), ("Lime Tree", "Court"), ("Thornton", "Square"),
    ("Cromwell", "Road"), ("Newland", "Park"), ("Beverley", "Road"), ("Bridge", "Street"),
    ("Wellington", "Road"), ("Mount Pleasant", ""), ("Rosemary", "Lane"), ("Ashby", "Road"),
    ("Willow", "Bank"), ("Clarendon", "Street"),
)  # fmt: skip
HOUSE_NAMES = (
    "Ivy Cottage", "Rose Cottage", "The Old Rectory", "Orchard House", "Willow Lodge", "The Laurels",
    "Fern Bank", "Holly House", "Meadow View", "The Old Forge", "Brook Farm", "Greystones",
)  # fmt: skip
BUILDINGS = ("Alder Court", "Victoria House", "Mill View", "Regent House", "Kingfisher Court", "The Maltings")
FEMALE = ("Jane", "Sarah", "Emma", "Claire", "Karen", "Louise", "Michelle", "Rachel", "Amy", "Gemma",
          "Joanne", "Lisa", "Helen", "Donna", "Kelly")  # fmt: skip
MALE = ("Paul", "David", "Mark", "Stephen", "Gary", "Lee", "Craig", "Darren", "Wayne", "Shaun")
SURNAMES = (
    "Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Thomas", "Johnson", "Roberts", "Walker",
    "Wright", "Robinson", "Thompson", "White", "Hughes", "Edwards", "Green", "Hall", "Wood", "Harris",
    "Lewis", "Martin", "Jackson", "Clarke", "Clark", "Turner", "Hill", "Scott", "Cooper", "Morris",
    "Ward", "Moore", "King", "Watson", "Baker", "Harrison", "Morgan", "Patel", "Young", "Allen",
)  # fmt: skip
ABBREVIATIONS = {"Street": "St", "Road": "Rd", "Avenue": "Ave", "Lane": "Ln", "Close": "Cl", "Drive": "Dr",
                 "Crescent": "Cres", "Gardens": "Gdns", "Terrace": "Terr", "Place": "Pl", "Court": "Ct",
                 "Square": "Sq", "Grove": "Gr"}  # fmt: skip
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # the inward code never uses C I K M O V


@dataclass(frozen=True)
class Place:
    """One postal address: the parts intake records, from which every written form is made."""

    postcode: str
    town: str
    county: str
    street: str  # "Meadow Lane"; "" for a named house on an unnamed lane
    number: str | None = None  # "27", "14A"
    flat: str | None = None
    house_name: str | None = None
    building: str | None = None  # a named block of flats: "Alder Court"

    def intake_lines(self) -> list[str]:
        """The lines a case handler types into a request (no postcode: that is its own field)."""
        lines = []
        if self.flat is not None:
            lines.append(f"Flat {self.flat}" + (f", {self.building}" if self.building else ""))
        if self.house_name is not None:
            lines.append(self.house_name)
        if self.number is not None:
            lines.append(f"{self.number} {self.street}".strip())
        elif self.street:
            lines.append(self.street)
        lines.append(self.town)
        return lines


@dataclass(frozen=True)
class Envelope:
    """What is written on one envelope, and what the screening should do with it."""

    kind: str  # "blocked" | "next_house" | "other_flat" | "unrelated"
    name: str
    lines: tuple[str, ...]
    place: Place
    blocked: Place | None = field(default=None, compare=False)  # the blocked address it is near

    @property
    def text(self) -> str:
        return "\n".join((self.name, *self.lines)) if self.name else "\n".join(self.lines)


def postcode(rng: random.Random, area: str, district: int) -> str:
    return f"{area}{district} {rng.randint(1, 9)}{rng.choice(_INWARD_LETTERS)}{rng.choice(_INWARD_LETTERS)}"


def person(rng: random.Random) -> tuple[str, str]:
    """(forename, surname)."""
    return rng.choice(FEMALE if rng.random() < 0.7 else MALE), rng.choice(SURNAMES)


def blocked_places(rng: random.Random, count: int) -> list[Place]:
    """`count` addresses to block: houses by number, flats in numbered and in named buildings, named
    houses; no two in one street of one town (so every neighbour is a neighbour of exactly one)."""
    places: list[Place] = []
    used: set[tuple[str, str]] = set()
    while len(places) < count:
        town, area, districts, county = rng.choice(TOWNS)
        first, kind = rng.choice(STREETS)
        street = f"{first} {kind}".strip()
        if (town, street) in used:
            continue
        used.add((town, street))
        code = postcode(rng, area, rng.choice(districts))
        shape = len(places) % 5
        number = str(rng.randint(1, 180)) + ("A" if rng.random() < 0.08 else "")
        if shape in (0, 1):
            places.append(Place(code, town, county, street, number=number))
        elif shape == 2:
            places.append(Place(code, town, county, street, number=number, flat=str(rng.randint(1, 9))))
        elif shape == 3:
            flat = str(rng.randint(1, 24))
            places.append(
                Place(code, town, county, street, number=number, flat=flat, building=rng.choice(BUILDINGS))
            )
        else:
            places.append(Place(code, town, county, street, house_name=rng.choice(HOUSE_NAMES)))
    return places


def neighbours(rng: random.Random, place: Place) -> list[tuple[str, Place]]:
    """The addresses next to a blocked one that must not be blocked: the next house in the street
    (same postcode unit, as neighbours nearly always are) and, for a flat, another flat in the
    same building."""
    found: list[tuple[str, Place]] = []
    if place.number is not None:
        base = int(place.number.rstrip("AB"))
        step = rng.choice((1, 2, 2, -2)) if base > 2 else 2
        found.append(
            ("next_house", Place(place.postcode, place.town, place.county, place.street, str(base + step)))
        )
    else:
        others = [name for name in HOUSE_NAMES if name != place.house_name]
        found.append(
            (
                "next_house",
                Place(place.postcode, place.town, place.county, place.street, house_name=rng.choice(others)),
            )
        )
    if place.flat is not None:
        flat = str(int(place.flat) + rng.choice((1, 2, -1)) if int(place.flat) > 1 else int(place.flat) + 1)
        found.append(
            (
                "other_flat",
                Place(
                    place.postcode,
                    place.town,
                    place.county,
                    place.street,
                    place.number,
                    flat,
                    building=place.building,
                ),
            )
        )
    return found


def unrelated_place(rng: random.Random) -> Place:
    town, area, districts, county = rng.choice(TOWNS)
    first, kind = rng.choice(STREETS)
    return Place(
        postcode(rng, area, rng.choice(districts)),
        town,
        county,
        f"{first} {kind}".strip(),
        str(rng.randint(1, 240)),
    )


def written(rng: random.Random, place: Place) -> tuple[str, ...]:
    """The address as one person writes it on an envelope."""
    caps = rng.random() < 0.3
    street = place.street
    if street and rng.random() < 0.35:
        first, _, kind = street.rpartition(" ")
        if kind in ABBREVIATIONS:
            street = f"{first} {ABBREVIATIONS[kind]}"
    lines: list[str] = []
    flat = None if place.flat is None else f"Flat {place.flat}"
    if flat is not None and place.building is not None:
        lines.append(f"{flat}, {place.building}" if rng.random() < 0.5 else flat)
        if len(lines[-1]) == len(flat):
            lines.append(place.building)
        flat = None
    if place.house_name is not None:
        lines.append(place.house_name)
    if place.number is not None:
        premise = f"{place.number} {street}"
        if flat is not None and rng.random() < 0.5:
            lines.append(f"{flat}, {premise}")
        else:
            if flat is not None:
                lines.append(flat)
            lines.append(premise)
    elif street:
        lines.append(street)
    town = place.town.upper() if rng.random() < 0.6 else place.town
    if rng.random() < 0.4:
        lines.append(f"{town} {place.postcode}")
    else:
        lines.append(town)
        if rng.random() < 0.2:
            lines.append(place.county)
        lines.append(place.postcode)
    return tuple(line.upper() for line in lines) if caps else tuple(lines)


def addressee(rng: random.Random, name: tuple[str, str] | None = None) -> str:
    forename, surname = name or person(rng)
    title = rng.choice(("Mrs", "Miss", "Ms", "") if forename in FEMALE else ("Mr", ""))
    style = rng.random()
    shown = f"{forename[0]} {surname}" if style < 0.4 else f"{forename} {surname}"
    return f"{title} {shown}".strip()


def corpus(seed: int, blocked: int, unrelated: int) -> tuple[list[tuple[Place, str]], list[Envelope]]:
    """The blocked places with the protected person's name, and one envelope for each blocked
    place, each of its neighbours and `unrelated` other addresses."""
    rng = random.Random(seed)
    places = blocked_places(rng, blocked)
    protected: list[tuple[Place, str]] = []
    envelopes: list[Envelope] = []
    for place in places:
        forename, surname = person(rng)
        protected.append((place, f"{forename} {surname}"))
        envelopes.append(Envelope("blocked", addressee(rng, (forename, surname)), written(rng, place), place))
        for kind, near in neighbours(rng, place):
            other = person(rng)
            while other[1] == surname:
                other = person(rng)
            envelopes.append(Envelope(kind, addressee(rng, other), written(rng, near), near, place))
    for _ in range(unrelated):
        near = unrelated_place(rng)
        envelopes.append(Envelope("unrelated", addressee(rng), written(rng, near), near))
    return protected, envelopes


def entries(protected: list[tuple[Place, str]], scope: str | list[str] = "all") -> list[dict[str, object]]:
    """One entry per blocked place, as `PUT /v1/entries` and `Index.build` take them."""
    return [
        {
            "reference": f"UPC-2026-{number:06d}",
            "prisoner": "A1234BC",
            "scope": scope,
            "protected": [
                {"name": name, "addresses": [{"lines": place.intake_lines(), "postcode": place.postcode}]}
            ],
        }
        for number, (place, name) in enumerate(protected, start=1)
    ]
