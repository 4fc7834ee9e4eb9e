"""Properties of the phone normaliser over generated dial strings: the hand-written fast path
agrees with phonenumbers (slow_key) on a corpus of at least 100,000 strings, keys are fixed
points, and every way of writing one number reaches one key."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config import load_profile
from matcher.errors import InvalidNumber
from matcher.phones import _TEXT_TO_ASCII, PhoneNormaliser

GB = PhoneNormaliser(load_profile(environ={"NOCONTACT_PROFILE": "gb"}).phones, extra_prefixes=["80"])
US = PhoneNormaliser(load_profile(environ={"NOCONTACT_PROFILE": "us"}).phones)
NORMALISERS = {"gb": GB, "us": US}

# Hypothesis costs ~0.5-2 ms per example here, so the corpus test draws a *shape* per example
# (profile, prefixes, how the country/trunk part is written, grouping, separators, extension)
# and fills it with BATCH numbers from a seeded Random: 5,000 examples x 20 = 100,000 strings.
CORPUS_EXAMPLES = 5_000
BATCH = 20
CORPUS_SIZE = CORPUS_EXAMPLES * BATCH

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


def _slow(normaliser: PhoneNormaliser, raw: str) -> str | None:
    try:
        return normaliser.slow_key(raw)
    except InvalidNumber:
        return None


def _key(normaliser: PhoneNormaliser, raw: str) -> str | None:
    try:
        return normaliser.key(raw)
    except InvalidNumber:
        return None


@pytest.mark.slow
@pytest.mark.timeout(600)  # ~35 s on a quiet 2-core box; over 120 s when other work shares it
def test_fast_path_equals_phonenumbers_on_a_large_corpus() -> None:
    counts: Counter[str] = Counter()

    @settings(
        max_examples=CORPUS_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(dial_batches())
    def check(batch: tuple[str, list[str]]) -> None:
        profile, raws = batch
        normaliser = NORMALISERS[profile]
        for raw in raws:
            counts["strings"] += 1
            slow = _slow(normaliser, raw)
            fast = normaliser.fast_key(raw)
            if fast is not None:
                counts["fast"] += 1
                assert fast == slow, (profile, raw)
            if slow is not None:
                counts["readable"] += 1
                assert normaliser.key(slow) == slow, (profile, raw)
            assert _key(normaliser, raw) == slow, (profile, raw)

    check()
    assert counts["strings"] >= CORPUS_SIZE
    # the corpus exercises the fast path, the slow path and unreadable input, each a lot
    assert counts["fast"] >= CORPUS_SIZE // 5
    assert counts["readable"] - counts["fast"] >= CORPUS_SIZE // 5
    assert counts["strings"] - counts["readable"] >= CORPUS_SIZE // 20


# -- single strings from hypothesis (the smaller properties) ------------------------------------


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


@settings(max_examples=1_000, deadline=None)
@given(dial_batches())
def test_normalising_twice_changes_nothing(batch: tuple[str, list[str]]) -> None:
    profile, raws = batch
    normaliser = NORMALISERS[profile]
    for raw in raws:
        key = _key(normaliser, raw)
        if key is not None:
            assert normaliser.key(key) == key, raw
            assert normaliser.slow_key(key) == key, raw
            assert normaliser.fast_key(key) in (key, None), raw


GB_FORMS = [
    "0{n}",
    "0{g}",
    "+44{n}",
    "+44 {g}",
    "+44 (0){g}",
    "+44(0) {g}",
    "0044 {g}",
    "00 44 (0) {g}",
    "44{n}",
    "44 {g}",
    "9 0{g}",
    "9,0{n}",
    "141 0{g}",
    "1470 0{g}",
    "9 141 0{g}",
    "1470 9 0{n}",
    "80 0{g}",
    "0{g} ext. 204",
    "0{n}x204",
    "0{n};204",
    "0{n}#204",
    "tel:+44-{d};ext=204",
    "(0{a}) {b}",
    "0{u}",
    "\uff10{f}",
    "9 +44 {g}",
]


@settings(max_examples=1_500, deadline=None)
@given(
    st.one_of(GB_MOBILE, GB_DRAMA, GB_LANDLINE),
    st.sampled_from(GB_FORMS),
    st.sampled_from(GB_FORMS),
    st.data(),
)
def test_variants_of_one_gb_number_reach_one_key(
    nsn: str, form_a: str, form_b: str, data: st.DataObject
) -> None:
    def write(form: str) -> str:
        return form.format(
            n=nsn,
            g=data.draw(grouped(nsn)),
            d=nsn[:4] + "-" + nsn[4:],
            a=nsn[:4],
            b=nsn[4:],
            u=nsn[:4] + "\u2013" + nsn[4:7] + "\u00a0" + nsn[7:],
            f="".join(chr(ord(ch) + 0xFEE0) for ch in nsn),
        )

    expected = "+44" + nsn
    assert GB.key(write(form_a)) == expected
    assert GB.key(write(form_b)) == expected


US_FORMS = [
    "{n}",
    "({a}) {b}-{c}",
    "1-{a}-{b}-{c}",
    "1{n}",
    "+1 {a} {b} {c}",
    "+1{n}",
    "9 1 {a} {b} {c}",
    "9{n}",
    "91{n}",
    "*67 {a} {b} {c}",
    "*67 1{n}",
    "*82 1 ({a}) {b}-{c}",
    "{a}.{b}.{c} x12",
    "tel:+1-{a}-{b}-{c}",
]


@settings(max_examples=500, deadline=None)
@given(NANP_NSN, st.sampled_from(US_FORMS))
def test_variants_of_one_us_number_reach_one_key(nsn: str, form: str) -> None:
    raw = form.format(n=nsn, a=nsn[:3], b=nsn[3:6], c=nsn[6:])
    assert US.key(raw) == "+1" + nsn


@settings(max_examples=1_000, deadline=None)
@given(st.text(max_size=400))
def test_find_in_text_never_raises(text: str) -> None:
    assert isinstance(GB.find_in_text(text), list)
    assert isinstance(US.find_in_text(text), list)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(GB_MOBILE, GB_LANDLINE),
    st.sampled_from(GB_FORMS[:17]),
    st.text(max_size=60),
    st.text(max_size=60),
)
def test_find_in_text_finds_a_number_among_words(nsn: str, form: str, before: str, after: str) -> None:
    written = form.format(n=nsn, g=nsn[:4] + " " + nsn[4:])
    assert "+44" + nsn in GB.find_in_text(f"{before} {written} {after}")


SPAN_CHARS = [
    *"0123456789+-./()[] \t\n",
    *"\u00a0\u2009\u3000\u2013\u2010\u2212\uff0b\u0660\u0667\u0967\uff11",
]


@settings(max_examples=1_000, deadline=None)
@given(st.text(alphabet=st.sampled_from(SPAN_CHARS), max_size=24))
def test_find_in_text_may_read_a_span_as_ascii(span: str) -> None:
    # find_in_text rewrites non-ASCII spaces, dashes and digits so that the fast path takes them
    assert _key(GB, span) == _key(GB, span.translate(_TEXT_TO_ASCII))
    assert _key(US, span) == _key(US, span.translate(_TEXT_TO_ASCII))
