"""matcher._speedups (C) against the Python versions it replaces, which stay as the reference and
the fallback: the same answers on generated inputs, on the benchmark's envelopes and on inputs the
compiled code must hand back or refuse."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.data import address, envelopes
from config import load_profile
from matcher import _speedups as speedups
from matcher import phones, phrases, postcodes
from matcher.address_parse import ParsedAddress, normalise_text, parse_address
from matcher.addresses import address_phrases
from matcher.phones import PhoneNormaliser
from matcher.phrases import GramPhrases, union, upper_words
from tests.matcher.test_fast_paths import reference_postcodes_in_words, word_lists
from tests.matcher.test_phone_corpus import dial_batches


def test_the_compiled_module_is_built_and_used() -> None:
    # pyproject.toml marks the extension optional, so an install without a C compiler still
    # works; the project's own test environment must build it (this module fails to import
    # otherwise), or the suite would only ever test the fallback.
    assert postcodes._compiled is speedups.postcodes_in_words
    assert phrases._compiled_find is speedups.find_phrases


# ---- postcodes_in_words ---------------------------------------------------------------------


@settings(max_examples=1500)
@given(word_lists)
def test_compiled_postcodes_equal_the_python_reading(words: list[str]) -> None:
    expected = reference_postcodes_in_words(words)
    assert speedups.postcodes_in_words(words) == expected
    assert speedups.postcodes_in_words(tuple(words)) == expected
    assert postcodes.python_postcodes_in_words(words) == expected


# every character the OCR readings treat specially, in the positions that matter
_CONFUSABLE = st.text(alphabet="0125689ODQILSBZGAUHCKMVXYW", min_size=1, max_size=7)


@settings(max_examples=1500)
@given(st.lists(_CONFUSABLE, max_size=6))
def test_compiled_postcodes_equal_the_python_reading_on_confusable_words(words: list[str]) -> None:
    assert speedups.postcodes_in_words(words) == reference_postcodes_in_words(words)


def test_compiled_postcodes_equal_the_python_reading_on_the_benchmark_envelopes() -> None:
    texts = envelopes(3000, [address(random.Random(n)) for n in range(50)], seed=17)
    found = 0
    for text in texts:
        words = upper_words(text)[1]
        expected = reference_postcodes_in_words(words)
        assert speedups.postcodes_in_words(words) == expected
        found += len(expected)
    assert found >= 2 * len(texts)  # each holds the addressee's postcode and the prison's


@pytest.mark.parametrize(
    "words",
    [
        ["hu1", "2ab"],  # lower case: not from upper_words
        ["HU1", "", "2AB"],
        ["HU1", "2AB", "\u00c9"],
        ["HU1", "2-AB"],
        ["HU1 2AB"],
    ],
)
def test_words_outside_the_alphabet_are_handed_back(words: list[str]) -> None:
    assert speedups.postcodes_in_words(words) is None
    assert postcodes.postcodes_in_words(words) == reference_postcodes_in_words(words)


def test_other_sequences_are_handed_back() -> None:
    assert speedups.postcodes_in_words(iter(["HU1", "2AB"])) is None  # type: ignore[arg-type]
    assert speedups.postcodes_in_words("HU12AB") is None


def test_long_letters_are_read_whole() -> None:
    # past the 128 words kept on the C stack
    words = ["ROYAL", "MAIL", "2ND"] * 100 + ["HU1", "2AB"] + ["A1234BC"] * 50 + ["SW1A", "1AA"]
    assert speedups.postcodes_in_words(words) == {"HU1 2AB", "SW1A 1AA"}
    assert reference_postcodes_in_words(words) == {"HU1 2AB", "SW1A 1AA"}


# ---- GramPhrases.find_words -----------------------------------------------------------------

_PHRASES = [
    "14 HIGH ST", "14A HIGH ST", "114 HIGH ST", "HIGH ST", "ROSE COTTAGE", "THE OLD RECTORY",
    "OLD RECTORY", "27 ST JOHNS ROAD", "2 14 HIGH ST", "HULL", "NORTH FERRIBY", "ST", "ROSE",
]  # fmt: skip
_WORDS = sorted({w for p in _PHRASES for w in p.split()} | {"LANE", "7", "JOHNS", "X"})


def _grams(shards: int) -> GramPhrases:
    grams = GramPhrases(shards)
    for ident, phrase in enumerate(_PHRASES * 3):  # shared phrases: tuples of ids
        grams.add(phrase, ident % 20)
    for ident in range(40):  # and one past SET_FROM: a frozenset
        grams.add("ROSE COTTAGE", 100 + ident)
    grams.discard("OLD RECTORY", 6)  # stale hints stay: they must find nothing
    return grams


_GRAMS = [_grams(1), _grams(7), _grams(64)]


def _multiset(postings: list[phrases.Postings]) -> list[str]:
    return sorted(repr(sorted(p) if isinstance(p, frozenset) else p) for p in postings)


@settings(max_examples=800)
@given(st.lists(st.sampled_from(_WORDS), max_size=14))
def test_compiled_phrases_equal_the_python_lookup(words: list[str]) -> None:
    for grams in _GRAMS:
        expected = grams.python_find_words(words)
        for tokens in (words, tuple(words)):
            found = speedups.find_phrases(tokens, grams._lengths, grams._shards, grams._pairs)
            assert _multiset(found) == _multiset(expected)
            assert found == grams.find_words(tokens)


def test_compiled_phrases_read_non_ascii_words() -> None:
    grams = GramPhrases(3)
    grams.add("CAFÉ ROYAL", 1)
    grams.add("CAFÉ ROYAL HOUSE", 2)
    words = ["THE", "CAFÉ", "ROYAL", "HOUSE"]
    assert _multiset(grams.find_words(words)) == _multiset(grams.python_find_words(words)) == ["1", "2"]


def test_compiled_phrases_on_a_real_index() -> None:
    rng = random.Random(5)
    grams = GramPhrases()
    for ident in range(3000):
        for phrase in address_phrases(_parsed(rng)):
            grams.add(phrase, ident)
    texts = envelopes(500, [address(random.Random(n)) for n in range(30)], seed=3)
    hits = 0
    for text in texts:
        tokens = normalise_text(text).tokens
        expected = grams.python_find_words(tokens)
        assert _multiset(grams.find_words(tokens)) == _multiset(expected)
        hits += len(union(expected))
    assert hits > 0


def _parsed(rng: random.Random) -> ParsedAddress:
    raw = address(rng)
    return parse_address(raw.lines, raw.postcode, "a")


@pytest.mark.parametrize(
    ("tokens", "lengths", "shards", "pairs"),
    [
        (["A", 1], {}, ({},), (set(),)),  # a token not a str
        ("A B", {}, ({},), (set(),)),  # tokens not a list
        (["A"], [], ({},), (set(),)),  # lengths not a dict
        (["A"], {}, ({},), (set(), set())),  # shards and pairs of two sizes
        (["A"], {}, (), ()),  # no shards
        (["A"], {}, ([],), (set(),)),  # a shard not a dict
        (["A"], {"A": [1]}, ({},), (set(),)),  # lengths not tuples
    ],
)
def test_compiled_phrases_refuse_tables_of_the_wrong_shape(
    tokens: object, lengths: object, shards: object, pairs: object
) -> None:
    with pytest.raises(TypeError):
        speedups.find_phrases(tokens, lengths, shards, pairs)


# ---- phone_key ------------------------------------------------------------------------------

_GB = PhoneNormaliser(load_profile(environ={}).phones)
# establishment prefixes sharing heads with the profile's, nested and longer than them
_GB_SITE = PhoneNormaliser(load_profile(environ={}).phones, ("8", "99", "914", "14", "*55", "#9"))
_DIAL_ALPHABET = "0123456789+ -./()\t*#,x9"


def test_the_compiled_phone_key_is_used_where_the_profile_allows() -> None:
    assert phones._compiled_key is speedups.phone_key
    assert _GB._compiled_rules == (1, b"+0", (b"1470", b"141", b"9"))
    # the US profile's dialable numbers are a regex, not a set of first bytes: Python only
    us = PhoneNormaliser(load_profile(environ={"NOCONTACT_PROFILE": "us"}).phones)
    assert us._compiled_rules is None
    assert us.fast_key("(202) 555-0123") == us.python_fast_key("(202) 555-0123") == "+12025550123"


@settings(max_examples=300, deadline=None)
@given(dial_batches())
def test_compiled_phone_key_equals_the_python_fast_path(batch: tuple[str, list[str]]) -> None:
    _, raws = batch  # US strings too: the GB rules must read them as Python does
    for normaliser in (_GB, _GB_SITE):
        for raw in raws:
            assert normaliser.fast_key(raw) == normaliser.python_fast_key(raw), raw


@settings(max_examples=3000)
@given(st.text(alphabet=_DIAL_ALPHABET, max_size=70))
def test_compiled_phone_key_equals_the_python_fast_path_on_any_dial_characters(raw: str) -> None:
    for normaliser in (_GB, _GB_SITE):
        assert normaliser.fast_key(raw) == normaliser.python_fast_key(raw), raw


@pytest.mark.parametrize("region", [0, 1, 2, 7])
@settings(max_examples=400)
@given(raw=st.text(alphabet="0123456789+ ", max_size=20))
def test_compiled_phone_key_reads_each_region_as_python_does(region: int, raw: str) -> None:
    # every national shape against its Python twin, whatever the profile in use
    national = {1: phones._gb_national, 2: phones._us_national}.get(region)
    rules = (region, b"+0", ())  # no dial prefixes: the shapes alone
    expected = None
    compact = raw.replace(" ", "")
    if compact[:1] == "+" and compact[1:].isdigit():
        expected = phones._international_shape(compact.encode())
    elif compact.isdigit() and national is not None:
        expected = national(compact.encode())
    assert speedups.phone_key(raw, rules) == expected, raw


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("07911 123456", "+447911123456"),
        ("9 141 0 7911 123456", "+447911123456"),  # a stack of prefixes
        ("1470 9 0044 (0) 7911-123-456", "+447911123456"),
        ("+44 (0) 7911 123456", "+447911123456"),
        ("001 202 555 0123", "+12025550123"),
        ("9", None),  # a prefix and nothing after it
        ("+", None),
        ("", None),
        ("++447911123456", None),
        ("0791112345६", None),  # a non-ASCII digit: the slow path's to read
        ("0" * 65, None),  # longer than any dial string
    ],
)
def test_compiled_phone_key_on_chosen_strings(raw: str, key: str | None) -> None:
    assert _GB.fast_key(raw) == _GB.python_fast_key(raw) == key


@pytest.mark.parametrize(
    "rules",
    [None, (), (1, b"+0"), ("GB", b"+0", ()), (1, "+0", ()), (1, b"+0", [b"9"]), (1, b"+0", ("9",))],
)
def test_compiled_phone_key_refuses_rules_of_the_wrong_shape(rules: object) -> None:
    with pytest.raises(TypeError):
        speedups.phone_key("9 07911 123456", rules)  # type: ignore[arg-type]
