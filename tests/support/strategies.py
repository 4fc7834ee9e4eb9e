"""Hypothesis strategies that tests share: letter text with the characters the readers treat
specially, word lists that make postcodes and near misses, and dial strings in the shapes a PBX
and people write numbers in."""

from __future__ import annotations

import random
from collections.abc import Callable

from hypothesis import strategies as st

# ---- letters and words -----------------------------------------------------------------------

_LETTER_CHARS = st.sampled_from(
    [*"aAzZ09 5\n\t,.-/'`|#()&\x1c\x7f", "\u00e9", "\u2019", "\u00aa", "\u0131", "\u00df", "\uff11", "\u00a0"]
)
letters = st.one_of(st.text(), st.text(alphabet=_LETTER_CHARS, max_size=60))

# Words that make postcodes, pieces of them and near misses, OCR-confused or not.
POSTCODE_PIECES = [
    "HU1", "HU12", "HU9", "2AB", "5LS", "2A", "B", "AB", "2", "HUI", "HU", "1", "Z", "0", "O", "SW1A", "1AA",
    "SWIA", "IAA", "M1", "1AE", "EC1A", "1BB", "A1234BC", "W1", "0AX", "2ND", "B8", "GIR", "0AA", "GIR0AA",
    "HU12AB", "HUI2AB", "14", "HIGH", "ST", "CA21", "4ZQ", "12345678",
]  # fmt: skip
word_lists = st.lists(
    st.one_of(st.sampled_from(POSTCODE_PIECES), st.from_regex(r"[A-Z0-9]{1,8}", fullmatch=True)), max_size=12
)

# ---- dial strings ----------------------------------------------------------------------------

BATCH = 20  # dial strings per example of dial_batches: drawing a shape per string costs too much

# How the country / trunk part is written before a national significant number (NSN).
GB_LEADS = [
    "0",
    "+44",
    "+44 (0)",
    "+44(0)",
    "+44 0",
    "0044",
    "0044 ",
    "00 44 (0) ",
    "00440",
    "44",
    "44 ",
    "440",
    "",
    "+1 ",
    "001 ",
    "+",
    "00",
    "0 0",
    "+440",
    "++44",
    "＋44 ",
    "(0)",
]
COMMON_GB_LEADS = ["0", "0", "+44", "+44 (0)", "0044", "00 44 (0) ", "44", "440", "", "+1 ", "001 "]
COMMON_US_LEADS = ["", "", "1", "1-", "+1 ", "+1 (", "011 44 ", "011 1 ", "+44 ", "0"]
US_LEADS = ["", "1", "1-", "+1 ", "+1-", "011 1 ", "011 44 ", "011440", "+44 ", "0", "00", "+", "1 (", "+1 ("]
PREFIXES = (
    [""] * 8
    + ["9", "9 ", "9141", "1470 "]
    + [
        "9",
        "9 ",
        "9,",
        "9,,",
        "141 ",
        "141",
        "1470 ",
        "9 141 ",
        "1470 9 ",
        "141 9 ",
        "80 ",
        "*67 ",
        "*82",
        "#31#",
        "0",
        "1",
        "8",
        "99 ",
        "9 +",
    ]
)
# weighted towards the shapes the fast path takes, so that both paths get a large share
SEPARATORS = [" "] * 8 + [""] * 8 + ["-", "-", ".", "/", "  ", "\t", ") ", "-(", "\u00a0", "\u2013", "\u2011"]
EXTENSIONS = [""] * 45 + [
    " ext. 204",
    " ext 2",
    " extension 12",
    "x204",
    " x 5",
    ",204",
    ";204",
    "#204",
    ";ext=204",
    "p1",
    "w22",
    " EXT 9",
    "#",
    ",",
    "x",
]
JUNK_ALPHABET = "0123456789+ -().#*,;xpw/\u00a0\u2013\uff10\u0663ab:"


# -- numbers from a seeded Random (the corpus) ---------------------------------------------------


def _d(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


# starts where phonenumbers' rules turn: trunk and IDD digits, the country code again, GB's
# other trunk prefix 180020, NANP's trunk 1
EDGE_STARTS = ["0", "00", "01", "1", "11", "10", "44", "440", "4408", "4400", "180020", "1800", "7"]


def _edge(rng: random.Random, n: int) -> str:
    return (rng.choice(EDGE_STARTS) + _d(rng, n))[:n]


GB_NSNS: list[Callable[[random.Random], str]] = [
    lambda r: "7" + _d(r, 9),  # mobile
    lambda r: "7" + _d(r, 9),
    lambda r: "7" + _d(r, 9),
    lambda r: r.choice("123") + _d(r, 9),
    lambda r: "7700900" + _d(r, 3),  # Ofcom drama range: invalid to libphonenumber
    lambda r: r.choice("123") + _d(r, 9),  # geographic
    lambda r: "1" + _d(r, 8),  # 9-digit geographic (016977 xxxx)
    lambda r: r.choice(["800", "808", "300", "345", "845", "870", "500", "55"]) + _d(r, 6),
    lambda r: r.choice(["800", "808", "845"]) + _d(r, 7),
    lambda r: _d(r, r.randint(1, 13)),  # anything, may start with 0
    lambda r: _edge(r, 10),
    lambda r: _edge(r, r.randint(6, 12)),
]
US_NSNS: list[Callable[[random.Random], str]] = [
    lambda r: r.choice("23456789") + _d(r, 2) + r.choice("23456789") + _d(r, 6),
    lambda r: r.choice("23456789") + _d(r, 2) + r.choice("23456789") + _d(r, 6),
    lambda r: r.choice("23456789") + _d(r, 9),
    lambda r: _d(r, 10),
    lambda r: _d(r, r.randint(1, 13)),
    lambda r: _edge(r, 10),
]


def _group(digits: str, sizes: list[int], separators: list[str]) -> str:
    out: list[str] = []
    i = k = 0
    while i < len(digits):
        size = sizes[k % len(sizes)]
        out.append(digits[i : i + size])
        i += size
        if i < len(digits):
            out.append(separators[k % len(separators)])
        k += 1
    return "".join(out)


@st.composite
def dial_batches(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A profile and BATCH realistic dial strings of one shape (or junk of one kind)."""
    profile = draw(st.sampled_from(["gb", "gb", "gb", "us"]))
    rng = random.Random(draw(st.integers(min_value=0, max_value=2**64)))
    kind = draw(st.integers(min_value=0, max_value=19))
    if kind == 0:  # junk from phone-ish characters
        junk = ["".join(rng.choice(JUNK_ALPHABET) for _ in range(rng.randint(0, 24))) for _ in range(BATCH)]
        return profile, junk
    if kind == 1:  # digits only, any length: the PBX's own shape
        return profile, [_d(rng, rng.randint(1, 18)) for _ in range(BATCH)]
    nsns = GB_NSNS if profile == "gb" else US_NSNS
    if kind == 2:  # tel: URIs
        cc = "44" if profile == "gb" else "1"
        params = draw(st.sampled_from(["", ";ext=204", ";phone-context=+44", ";isub=1"]))
        return profile, [f"tel:+{cc}-{rng.choice(nsns)(rng)}{params}" for _ in range(BATCH)]
    if kind < 10:  # the common shapes: what the fast path is for (and its near misses)
        prefix = draw(st.sampled_from(["", "", "9", "9 ", "141 ", "9 141 ", "1470 9 ", "80 ", "99 "]))
        leads = COMMON_GB_LEADS if profile == "gb" else COMMON_US_LEADS
        separators = draw(st.lists(st.sampled_from([" ", "", "-", ".", "/", ") "]), min_size=1, max_size=2))
        extension = ""
    else:
        prefix = draw(st.sampled_from(PREFIXES))
        leads = GB_LEADS if profile == "gb" else US_LEADS
        separators = draw(st.lists(st.sampled_from(SEPARATORS), min_size=1, max_size=3))
        extension = draw(st.sampled_from(EXTENSIONS))
    lead = draw(st.sampled_from(leads))
    joiner = draw(st.sampled_from(["", " ", "-"]))
    sizes = draw(st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=4))
    written = (_group(rng.choice(nsns)(rng), sizes, separators) for _ in range(BATCH))
    return profile, [prefix + lead + joiner + number + extension for number in written]


# -- single numbers from hypothesis (the smaller properties) -----------------------------------


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=n, max_size=n)


GB_MOBILE = st.builds(lambda d: "7" + d, _digits(9))
GB_DRAMA = st.builds(lambda d: "7700900" + d, _digits(3))
GB_LANDLINE = st.builds(lambda a, d: a + d, st.sampled_from(["1", "2", "3"]), _digits(9))
NANP_NSN = st.builds(
    lambda a, b, c, d: a + b + c + d,
    st.sampled_from("23456789"),
    _digits(2),
    st.sampled_from("23456789"),
    _digits(6),
)


@st.composite
def grouped(draw: st.DrawFn, digits: str) -> str:
    sizes = draw(st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=4))
    separators = draw(st.lists(st.sampled_from(SEPARATORS), min_size=1, max_size=3))
    return _group(digits, sizes, separators)
