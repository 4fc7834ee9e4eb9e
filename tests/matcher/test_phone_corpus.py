"""Properties of the phone normaliser over generated dial strings: the hand-written fast path
agrees with phonenumbers (slow_key) on a corpus of at least 100,000 strings, keys are fixed
points, and every way of writing one number reaches one key."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config import load_profile
from matcher.errors import InvalidNumber
from matcher.phones import _TEXT_TO_ASCII, PhoneNormaliser
from tests.support.strategies import (
    BATCH,
    GB_DRAMA,
    GB_LANDLINE,
    GB_MOBILE,
    NANP_NSN,
    dial_batches,
    grouped,
)

GB = PhoneNormaliser(load_profile(environ={"NOCONTACT_PROFILE": "gb"}).phones, extra_prefixes=["80"])
US = PhoneNormaliser(load_profile(environ={"NOCONTACT_PROFILE": "us"}).phones)
NORMALISERS = {"gb": GB, "us": US}

# Hypothesis is slow per example, so the corpus test draws a *shape* per example (profile,
# prefixes, how the country/trunk part is written, grouping, separators, extension) and
# dial_batches fills it with BATCH numbers from a seeded Random: 5,000 examples x 20 = 100,000.
CORPUS_EXAMPLES = 5_000
CORPUS_SIZE = CORPUS_EXAMPLES * BATCH


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
@pytest.mark.timeout(600)  # the 100,000 strings outlast the default timeout when the machine is shared
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
