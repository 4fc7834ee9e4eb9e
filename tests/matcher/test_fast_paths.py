"""The letter's hot paths against plain reference versions of themselves (the code as it was
before it was made fast): every shortcut must give exactly the reference's answer."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.address_words import UK_WORDS
from matcher.addresses import (
    _FOUND_BY,
    AddressIndex,
    ParsedAddress,
    _evidence,
    _Letter,
    _padded,
    _without,
    address_phrases,
    normalise_text,
    parse_address,
)
from matcher.names import PersonName, parse_name
from matcher.phrases import upper_words
from matcher.postcodes import postcodes_in_words
from tests.support.references import (
    reference_normalise_text,
    reference_postcodes_in_words,
    reference_upper_words,
)
from tests.support.strategies import POSTCODE_PIECES, letters, word_lists

# ---- upper_words: bytes.translate in place of str.translate with a dict ------------------------


@settings(max_examples=400)
@given(letters)
def test_upper_words_equals_the_reference(raw: str) -> None:
    assert upper_words(raw) == reference_upper_words(raw)


# ---- postcodes_in_words: the word-by-word reading, kept to check any faster one ---------------


@settings(max_examples=600)
@given(word_lists, st.sampled_from(POSTCODE_PIECES), st.integers(min_value=0, max_value=11))
def test_postcodes_in_words_equals_the_reference(words: list[str], other: str, position: int) -> None:
    # the same text with one word changed (a cache by neighbouring words would have to see it)
    changed = list(words)
    if words:
        changed[position % len(words)] = other
    for text in (words, changed, words):
        assert postcodes_in_words(text) == reference_postcodes_in_words(text)


def test_postcodes_in_words_windows_differ_in_their_last_word() -> None:
    assert postcodes_in_words(["HU1", "2A", "B"]) == {"HU1 2AB"}
    assert postcodes_in_words(["HU1", "2A", "C"]) == set()
    assert postcodes_in_words(["X", "Y", "2AB"]) == set()
    assert postcodes_in_words(["H", "U1", "2AB"]) == {"U1 2AB"}


# ---- AddressIndex.scan: a phrase's ids only intersected with the towns the letter names ---------
# The reference checks every indexed address by brute force against the documented rule: found
# by a phrase (whole words of the letter) or its postcode; beside other postcodes only when its
# town is named; reported when its evidence holds a finding flag.

_TOWNS = ["Hull", "Leeds", "North Ferriby", "York"]
_POSTCODES = ["HU1 2AB", "LS1 4AP", "HU14 3AA", "YO1 7AB", "HU9 5LS"]
_HOUSES = ["Rose Cottage", "Ivy House", "The Old Rectory"]
_ROADS = ["High Street", "Church Lane", "Hedon Road"]


def _shared_addresses(count: int, seed: int) -> list[tuple[int, ParsedAddress, PersonName | None]]:
    # few streets, numbers, towns and postcodes: phrases held by dozens of ids (frozensets)
    rng = random.Random(seed)
    items = []
    for ident in range(1, count + 1):
        town = rng.choice(_TOWNS)
        street = f"{rng.randint(1, 3)}{rng.choice(['', 'A'])} {rng.choice(_ROADS)}"
        lines = [rng.choice(_HOUSES), street, town] if rng.random() < 0.4 else [street, town]
        if rng.random() < 0.2:
            lines.insert(0, f"Flat {rng.randint(1, 3)}")
        if rng.random() < 0.1:
            lines = lines[:-1]  # no town
        name = parse_name(rng.choice(["Jane Smith", "Amir Khan"])) if rng.random() < 0.5 else None
        items.append((ident, parse_address(lines, rng.choice(_POSTCODES), "a"), name))
    return items


Found = dict[int, frozenset[str]]
_BASE_ITEMS = _shared_addresses(240, seed=7)
_BASE = AddressIndex.build(_BASE_ITEMS)
_CHANGED = _BASE.with_changes(_shared_addresses(260, seed=8)[240:], [3, 5, 8, 13, 21, 34, 55])
_PRISON = parse_address(["HMP Hull", "Hedon Road", "Hull"], "HU9 5LS", "return_address")
_FRAGMENTS = [
    *(f"{n} {road}" for n in ("1", "2", "3", "2A", "2 A") for road in _ROADS),
    *_HOUSES, "Old Rectory", *_TOWNS, *_POSTCODES, "HU1 2A8", "HUI 2AB", "HU12AB", "Flat 2", "2/1",
    "Mrs J Smith", "Smith", "HMP Hull", "North", "Ferriby", "A1234BC", "Royal Mail 2nd class",
    "From: A1234BC J Bloggs, HMP Hull, Hedon Road, Hull HU9 5LS",
]  # fmt: skip


def reference_scan(index: AddressIndex, letter: str, ignore: ParsedAddress | None) -> Found:
    text = normalise_text(letter)
    norm = text if ignore is None else _without(text, ignore)
    postcodes = norm.postcodes
    words = f" {' '.join(norm.tokens)} "
    found: dict[int, frozenset[str]] = {}
    for ident, address, name in index.items():
        by_phrase = any(f" {phrase} " in words for phrase in address_phrases(address))
        if not by_phrase and address.postcode not in postcodes:
            continue
        if (
            postcodes
            and address.postcode not in postcodes
            and (address.town is None or _padded(address.town) not in norm.text)
        ):
            continue
        flags = _evidence(address, name, _Letter(norm))
        if flags.isdisjoint(_FOUND_BY):
            continue
        if postcodes:
            flags.add("any_postcode")
        found[ident] = frozenset(flags)
    return found


def test_the_shared_phrases_are_held_in_frozensets() -> None:
    postings = _BASE._base.phrases.postings(normalise_text("Rose Cottage"))
    assert any(isinstance(value, frozenset) for value in postings)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=7),
    st.sampled_from(["\n", ", ", " "]),
    st.booleans(),
)
def test_scan_equals_the_reference(fragments: list[str], separator: str, ignore: bool) -> None:
    letter = separator.join(fragments)
    prison = _PRISON if ignore else None
    for index in (_BASE, _CHANGED):
        assert index.scan(normalise_text(letter), prison) == reference_scan(index, letter, prison)


@pytest.mark.parametrize(
    "letter",
    [
        "2 High Street North HMP Hull Ferriby YO1 7AB",  # the town is named once the return address goes
        "Rose Cottage, Leeds HU1 2AB",
        "1A Church Lane York",
        "The Old Rectory North Ferriby HU9 5LS",
    ],
)
def test_scan_equals_the_reference_on(letter: str) -> None:
    expected = reference_scan(_BASE, letter, _PRISON)
    assert expected  # the letter does find something
    assert _BASE.scan(normalise_text(letter), _PRISON) == expected


# ---- normalise_text: only the words in the vocabulary are looked up one by one ----------------

_VOCABULARY = [*UK_WORDS, *UK_WORDS.values(), "12", "A", "14 B", "FLAT", "HU1 2AB", "ST ST", "2ND 2ND"]
address_like = st.lists(st.sampled_from(_VOCABULARY), max_size=12).map(" ".join)


@settings(max_examples=400)
@given(st.one_of(letters, address_like))
def test_normalise_text_equals_the_reference(raw: str) -> None:
    assert normalise_text(raw) == reference_normalise_text(raw)
