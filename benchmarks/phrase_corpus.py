"""bench_phrases' corpus: realistic UK address phrases ("14A HIGH ST", "ROSE COTTAGE") from a
blocklist skewed like a real one, and ~300-byte envelope texts half of which go to its addresses
(deterministic per seed)."""

from __future__ import annotations

import random

from matcher.addresses import ParsedAddress, address_phrases

SEED = 7
STREET_WORDS = [
    "HIGH", "CHURCH", "MILL", "STATION", "VICTORIA", "PARK", "GREEN", "MANOR", "QUEENS", "KINGS", "NEW",
    "SCHOOL", "NORTH", "SOUTH", "WEST", "EAST", "MAIN", "BRIDGE", "WATER", "FOREST", "WOOD", "OAK", "ELM",
    "ASH", "BIRCH", "BEECH", "CEDAR", "WILLOW", "MAPLE", "HOLLY", "ROSE", "LAUREL", "MEADOW", "FIELD",
    "BROOK", "RIVER", "LAKE", "HILL", "VALLEY", "ORCHARD", "GROVE", "ABBEY", "PRIORY", "CASTLE", "TOWER",
    "MARKET", "CHAPEL", "VICARAGE", "RECTORY", "FARM", "GRANGE", "HALL", "LODGE", "COURT", "ALBERT",
    "ALEXANDRA", "WINDSOR", "YORK", "LANCASTER", "TUDOR", "STUART", "GEORGE", "WILLIAM", "CHARLES",
    "EDWARD", "PRINCE", "DUKE", "EARL", "KINGSTON", "CAMBRIDGE", "OXFORD", "CHESTER", "DERBY", "BEDFORD",
    "SUTTON", "NEWTON", "MARTON", "HOLDERNESS", "BEVERLEY", "ANLABY", "COTTINGHAM", "HESSLE", "SPRING",
    "SUMMER", "WINTER", "AUTUMN", "SUNNY", "BROAD", "LONG", "SHORT", "OLD", "UPPER", "LOWER", "MIDDLE",
    "CROSS", "BACK", "FRONT",
]  # fmt: skip
STREET_SUFFIXES = [
    "ROAD", "STREET", "AVENUE", "LANE", "DRIVE", "CLOSE", "CRESCENT", "PLACE", "GARDENS", "TERRACE",
    "COURT", "SQUARE", "GROVE", "WAY", "WALK", "MEWS", "ROW", "RISE", "VIEW",
]  # fmt: skip
HOUSE_FIRST = [
    "ROSE", "IVY", "OAK", "ASH", "ELM", "HOLLY", "WILLOW", "BRIAR", "FERN", "HEATHER", "LAVENDER",
    "PRIMROSE", "BRAMBLE", "APPLE", "PEAR", "CHERRY", "PLUM", "MEADOW", "RIVER", "BROOK", "STONE", "FLINT",
    "CHALK", "OLD", "NEW", "LITTLE", "GREAT", "HIGH", "LOW", "WHITE", "GREEN", "RED", "GREY", "BLACK",
    "GOLDEN", "SILVER", "SUNNY", "SHADY", "WINDY", "QUIET", "HIDDEN", "SPRING", "ORCHARD",
]  # fmt: skip
HOUSE_SECOND = [
    "COTTAGE", "HOUSE", "LODGE", "FARM", "BARN", "MILL", "VIEW", "END", "GATE", "HOLLOW", "CROFT", "FIELD",
    "HILL", "BANK", "LEA", "MEAD", "NOOK", "REST", "HAVEN", "CORNER", "GARTH", "GARDEN", "ACRE", "DENE",
    "WOOD", "TREES", "WAYS",
]  # fmt: skip
TOWNS = [
    "HULL", "BEVERLEY", "HESSLE", "COTTINGHAM", "DRIFFIELD", "GOOLE", "SELBY", "YORK", "LEEDS", "BRADFORD",
    "SHEFFIELD", "DONCASTER", "GRIMSBY", "SCUNTHORPE", "LINCOLN", "NOTTINGHAM", "DERBY", "LEICESTER",
    "MANCHESTER", "LIVERPOOL",
]  # fmt: skip
AREAS = ["HU", "YO", "LS", "BD", "S", "DN", "LN", "NG", "DE", "LE", "M", "L", "B", "WF", "HG", "HD"]
FIRST_NAMES = ["JANE", "MARY", "SARAH", "EMMA", "LUCY", "ANNE", "JOHN", "PAUL", "MARK", "DAVID"]
SURNAMES = ["SMITH", "JONES", "TAYLOR", "BROWN", "WILSON", "ONEILL", "MCDONALD", "SMITH-JONES", "WALKER"]
ALPHA = "ABDEFGHJLNPQRSTUWXYZ"


def make_addresses(size: int, seed: int = SEED) -> list[ParsedAddress]:
    """`size` addresses shaped like a UK blocklist: ~1.4 per postcode, 15% flats, 15% house
    names. Skewed like real ones: a fifth on the 20 commonest street names (so "14 HIGH STREET"
    stands for ~40 addresses at 1M) and half the house names from 1,350 common ones ("ROSE
    COTTAGE" ~50 addresses at 1M)."""
    rng = random.Random(seed)
    streets = [f"{w} {s}" for w in STREET_WORDS for s in STREET_SUFFIXES]
    streets += [f"{a} {w} {s}" for a in ("OLD", "NEW", "LITTLE", "SAINT") for w in STREET_WORDS[:40]
                for s in STREET_SUFFIXES[:6]]  # fmt: skip
    common = streets[:: len(streets) // 20][:20]
    out = []
    postcode = ""
    for i in range(size):
        if i == 0 or rng.random() < 0.7:
            postcode = (f"{rng.choice(AREAS)}{rng.randint(1, 99)} "
                        f"{rng.randint(0, 9)}{rng.choice(ALPHA)}{rng.choice(ALPHA)}")  # fmt: skip
        house_name = None
        premise: str | None = str(rng.randint(1, 250)) + (rng.choice("ABC") if rng.random() < 0.08 else "")
        if rng.random() < 0.15:
            house_name = f"{rng.choice(HOUSE_FIRST)} {rng.choice(HOUSE_SECOND)}"
            if rng.random() < 0.5:
                house_name = f"{rng.choice(STREET_WORDS)} {house_name}"
            elif rng.random() < 0.1:
                house_name = f"THE {house_name}"
            if rng.random() < 0.5:
                premise = None
        flat = str(rng.randint(1, 12)) if rng.random() < 0.15 else None
        street = rng.choice(common) if rng.random() < 0.2 else rng.choice(streets)
        town = f"{rng.choice(TOWNS)}{'' if i % 3 else ' ' + rng.choice(STREET_WORDS)}"
        out.append(ParsedAddress(postcode, premise, house_name, flat, street, town))
    return out


def make_phrases(addresses: list[ParsedAddress]) -> list[tuple[str, int]]:
    return [(phrase, i) for i, address in enumerate(addresses) for phrase in address_phrases(address)]


def make_envelopes(addresses: list[ParsedAddress], count: int = 200, seed: int = SEED) -> list[str]:
    """~300-byte envelope OCR texts: half to indexed addresses, half to addresses not indexed."""
    rng = random.Random(seed + 1)
    others = make_addresses(count, seed + 2)
    envelopes = []
    for k in range(count):
        a = rng.choice(addresses) if k % 2 == 0 else others[k]
        lines = [f"{rng.choice(['Mrs', 'Ms', 'Mr', 'Miss'])} {rng.choice(FIRST_NAMES).title()} "
                 f"{rng.choice(SURNAMES).title()}"]  # fmt: skip
        if a.flat:
            lines.append(f"Flat {a.flat}")
        if a.house_name:
            lines.append(a.house_name.title())
        street = (a.street or "").title().replace("Street", "St").replace("Road", "Rd")
        lines.append(f"{a.premise} {street}" if a.premise else street)
        lines += [(a.town or "").title(), a.postcode or ""]
        sender = f"A{rng.randint(1000, 9999)}BC J Bloggs, HMP Hull, Hedon Road, Hull HU9 5LS"
        text = (
            "\n".join(lines) + "\n\nPOSTAGE PAID  " + sender + "  ROYAL MAIL 2ND CLASS  ||  Barcode 4938 2217"
        )
        envelopes.append(text[:300])
    return envelopes
