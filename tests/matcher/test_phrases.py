"""One contract suite for every PhraseIndex implementation (same inputs, same hits), then
the in-place updates only GramPhrases has."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.address_parse import normalise_text
from matcher.phrases import AutomatonPhrases, GramPhrases, PhraseIndex, phrase_builder

Build = Callable[[Iterable[tuple[str, int]]], PhraseIndex]


def _chunked_gram(pairs: Iterable[tuple[str, int]]) -> PhraseIndex:
    builder = phrase_builder("gram")
    for phrase, ident in pairs:
        builder.add(phrase, ident)
    return builder.finish()


def _chunked_automaton(pairs: Iterable[tuple[str, int]]) -> PhraseIndex:
    builder = phrase_builder("automaton")
    for phrase, ident in pairs:
        builder.add(phrase, ident)
    return builder.finish()


@pytest.fixture(
    params=[AutomatonPhrases.build, GramPhrases.build, _chunked_automaton, _chunked_gram],
    ids=["automaton", "gram", "automaton-builder", "gram-builder"],
)
def build(request: pytest.FixtureRequest) -> Build:
    return request.param  # type: ignore[no-any-return]


PHRASES = [
    ("14 HIGH ST", 1),
    ("14A HIGH ST", 2),
    ("114 HIGH ST", 3),
    ("4 HIGH ST", 4),
    ("14 HIGH ST", 5),  # a phrase shared by two addresses
    ("ROSE COTTAGE", 6),
    ("THE COTTAGE", 7),
    ("WOODLANDS", 8),
    ("27 ST JOHNS ROAD", 9),
    ("2 14 HIGH ST", 10),
    ("HIGH ST", 11),
]


@pytest.mark.parametrize(
    ("letter", "ids"),
    [
        ("14 High Street, Hull", {1, 5, 11}),
        ("14a High St", {2, 11}),
        ("14 A HIGH STREET", {2, 11}),
        ("114 High Street", {3, 11}),
        ("4 High Street", {4, 11}),
        ("Flat 2, 14 High Street", {1, 5, 10, 11}),  # overlapping phrases are all found
        ("2/14 High St", {1, 5, 10, 11}),
        ("14 High", set()),
        ("14 HIGH STREETS", set()),
        ("Rose Cottage", {6}),
        ("Primrose Cottage", set()),  # whole words only
        ("Rose Cottages", set()),
        ("The Cottage, Rose Cottage", {6, 7}),
        ("Woodlands", {8}),
        ("Woodlands Road", {8}),
        ("Woodland", set()),
        ("27 St. John's Rd", {9}),
        ("27 Saint Johns Road", {9}),
        ("", set()),
        ("High", set()),
        ("14 14 14 High St", {1, 5, 11}),
        ("High St 14 High St", {1, 5, 11}),
    ],
)
def test_find(build: Build, letter: str, ids: set[int]) -> None:
    assert build(PHRASES).find(normalise_text(letter)) == ids


def test_len_counts_distinct_phrases(build: Build) -> None:
    assert len(build(PHRASES)) == len({p for p, _ in PHRASES})
    assert len(build([])) == 0


def test_empty_index_finds_nothing(build: Build) -> None:
    assert build([]).find(normalise_text("14 High Street")) == set()


def test_the_same_pair_twice_is_one_hit(build: Build) -> None:
    index = build([("ROSE COTTAGE", 6), ("ROSE COTTAGE", 6), ("ROSE COTTAGE", 9), ("ROSE COTTAGE", 9)])
    assert index.find(normalise_text("rose cottage")) == {6, 9}
    assert len(index) == 1


def test_phrase_at_the_very_start_and_end(build: Build) -> None:
    index = build([("ROSE", 1), ("COTTAGE", 2)])
    assert index.find(normalise_text("Rose")) == {1}
    assert index.find(normalise_text("Rose cottage")) == {1, 2}


@pytest.mark.parametrize(
    ("phrase", "ident"), [("", 1), (" ROSE", 1), ("ROSE ", 1), ("ROSE  COTTAGE", 1), ("ROSE", -1)]
)
def test_rejects_bad_input(build: Build, phrase: str, ident: int) -> None:
    with pytest.raises(ValueError, match="phrase"):
        build([(phrase, ident)])


def test_pickles(build: Build) -> None:
    index = build(PHRASES)
    copy = pickle.loads(pickle.dumps(index))
    letter = normalise_text("Flat 2, 14 High Street, Rose Cottage")
    assert copy.find(letter) == index.find(letter)


_WORDS = st.sampled_from(["14", "14A", "4", "HIGH", "ST", "ROSE", "COTTAGE", "THE", "ROAD", "2", "A"])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.lists(_WORDS, min_size=1, max_size=4), st.integers(0, 20)), max_size=25),
    st.lists(_WORDS, max_size=20),
)
def test_backends_agree_with_a_naive_search(phrases: list[tuple[list[str], int]], letter: list[str]) -> None:
    pairs = [(" ".join(words), ident) for words, ident in phrases]
    text = normalise_text(" ".join(letter))
    expected = {ident for phrase, ident in pairs if f" {phrase} " in text.text}
    assert AutomatonPhrases.build(pairs).find(text) == expected
    assert GramPhrases.build(pairs).find(text) == expected


# GramPhrases only: in-place updates and copy-on-write


def test_gram_discard() -> None:
    grams = GramPhrases.build(PHRASES)
    letter = normalise_text("14 High Street")
    grams.discard("14 HIGH ST", 1)
    assert grams.find(letter) == {5, 11}
    grams.discard("14 HIGH ST", 5)
    assert grams.find(letter) == {11}
    grams.discard("14 HIGH ST", 5)  # again: nothing to do
    grams.discard("NOT THERE", 1)
    assert len(grams) == len({p for p, _ in PHRASES}) - 1
    grams.add("14 HIGH ST", 12)
    assert grams.find(letter) == {11, 12}


def test_gram_discard_every_phrase_leaves_it_empty() -> None:
    grams = GramPhrases.build(PHRASES)
    for phrase, ident in PHRASES:
        grams.discard(phrase, ident)
    assert len(grams) == 0
    assert grams.find(normalise_text("14 High Street Rose Cottage Woodlands")) == set()


def test_gram_copy_is_independent() -> None:
    grams = GramPhrases.build(PHRASES)
    copy = grams.copy()
    copy.discard("ROSE COTTAGE", 6)
    copy.add("IVY HOUSE", 20)
    assert grams.find(normalise_text("Rose Cottage Ivy House")) == {6}
    assert copy.find(normalise_text("Rose Cottage Ivy House")) == {20}


def test_gram_finish_is_itself() -> None:
    grams = GramPhrases()
    assert grams.finish() is grams


def test_unknown_backend() -> None:
    with pytest.raises(ValueError, match="backend"):
        phrase_builder("trie")
