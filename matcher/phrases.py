"""Word phrases found in normalised text: one small interface, two backends.

A phrase is a run of whole words ("14A HIGH ST", "ROSE COTTAGE") mapped to integer ids
(addresses); several ids may share a phrase. Both backends answer `find` identically:

- `AutomatonPhrases` (pyahocorasick): the fastest scan, but it is built once and its
  `make_automaton()` is ONE long call holding the GIL: build it in a worker process, or at
  start-up, never on a serving event loop.
- `GramPhrases`: a dict phrase -> ids plus a dict first word -> phrase lengths. Every
  operation is a few dict steps, so it builds in chunks of any size and updates in place
  (the small delta of a live index, or the whole base when rebuilds must not stall). Its
  dicts are sharded so that no insert resizes a million-entry dict at once.

Ids must be non-negative ints. Texts are matched through `NormalisedText`, made once per letter.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple, Protocol

import ahocorasick

_compiled_find: Callable[..., list[Postings]] | None
try:  # built from matcher/_speedups_phrases.c when a C compiler is present (see pyproject.toml)
    from matcher._speedups import find_phrases as _compiled_find
except ImportError:  # pragma: no cover - the test environment builds it (tests/matcher/test_speedups.py)
    _compiled_find = None


class NormalisedText(NamedTuple):
    """A letter (envelope OCR text) read once and shared by every check. (A NamedTuple, not a
    frozen dataclass: it is made for every letter and builds in a third of the time.)

    `text` is the match form (upper case, punctuation gone, abbreviations expanded, "12 A"
    joined) padded with one space at each end, so ``" 14 HIGH ST " in text`` is a whole-word
    test; `tokens` are its words. `plain` is the same words before expansion (names use it),
    `upper` the upper-cased original with its punctuation (for "SMITH, JANE")."""

    text: str
    tokens: tuple[str, ...]
    plain: str
    upper: str
    postcodes: frozenset[str]
    address_format: str = "uk"


# Every ASCII character that is not a letter or digit separates words; apostrophes join
# ("O'NEILL" -> "ONEILL", "JOHN'S" -> "JOHNS"); "|" is OCR for 1, I or l: read it as 1; "#" is
# the US (and OCR) flat/unit number: "#4" reads "FLAT 4". Applied to bytes (the text is ASCII by
# then), where translate is one C pass without a dict lookup per character.
_WORD_BYTES = bytes(
    i if i < 128 and chr(i).isalnum() else ord("1") if i == ord("|") else ord(" ") for i in range(256)
)
_JOINERS = b"'`"
_APOSTROPHES = frozenset("\u2018\u2019\u02bc\u00b4")


def _to_ascii(upper: str) -> str:
    out = []
    for ch in unicodedata.normalize("NFKD", upper):
        if ch.isascii():
            out.append(ch)
        elif ch in _APOSTROPHES or unicodedata.combining(ch):
            continue
        else:
            out.append(" ")
    return "".join(out).upper()  # NFKD can give lower case: "ª" -> "a"


def upper_words(raw: str) -> tuple[str, list[str]]:
    """The upper-cased ASCII text and its words (letters and digits only)."""
    upper = raw.upper()
    if not upper.isascii():
        upper = _to_ascii(upper)
    spaced = upper.replace("#", " FLAT ") if "#" in upper else upper
    return upper, spaced.encode("ascii").translate(_WORD_BYTES, _JOINERS).decode("ascii").split()


Postings = int | tuple[int, ...] | frozenset[int]
"""The ids of one phrase: one id, a few, or (past SET_FROM) a frozenset."""

SET_FROM = 16  # a phrase held by more ids keeps them in a frozenset: see GramPhrases


class PhraseIndex(Protocol):
    """Phrases -> ids; `find` returns the ids of every phrase present in the text as whole words,
    `postings` the same ids as found, one value per phrase (their union is `find`)."""

    def find(self, text: NormalisedText) -> set[int]: ...

    def postings(self, text: NormalisedText) -> list[Postings]: ...

    def __len__(self) -> int: ...


class PhraseBuilder(Protocol):
    def add(self, phrase: str, ident: int) -> None: ...

    def finish(self) -> PhraseIndex: ...


def _check(phrase: str, ident: int) -> None:
    if ident < 0:
        raise ValueError(f"phrase ids are non-negative ints, got {ident}")
    if not phrase or phrase[0] == " " or phrase[-1] == " " or "  " in phrase:
        raise ValueError(f"a phrase is words separated by single spaces, got {phrase!r}")


class AutomatonPhrases:
    """pyahocorasick over the padded text: the padding spaces make every hit whole words.
    Values are C ints: an id, or -(k+1) for the k-th tuple of ids shared by one phrase."""

    __slots__ = ("_automaton", "_count", "_shared")

    def __init__(self, automaton: ahocorasick.Automaton, shared: list[tuple[int, ...]], count: int) -> None:
        self._automaton = automaton
        self._shared = shared
        self._count = count

    @classmethod
    def build(cls, pairs: Iterable[tuple[str, int]]) -> AutomatonPhrases:
        builder = AutomatonBuilder()
        for phrase, ident in pairs:
            builder.add(phrase, ident)
        return builder.finish()

    def find(self, text: NormalisedText) -> set[int]:
        return union(self.postings(text))

    def postings(self, text: NormalisedText) -> list[Postings]:
        if not self._count:
            return []
        shared = self._shared
        found = self._automaton.iter(text.text)
        return [value if value >= 0 else shared[-value - 1] for _end, value in found]

    def __len__(self) -> int:
        return self._count


class AutomatonBuilder:
    """Words are added in any number of calls (each short); `finish` runs make_automaton, the
    one long uninterruptible step."""

    __slots__ = ("_automaton", "_count", "_shared")

    def __init__(self) -> None:
        self._automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        self._shared: list[tuple[int, ...]] = []
        self._count = 0

    def add(self, phrase: str, ident: int) -> None:
        _check(phrase, ident)
        key = f" {phrase} "
        automaton = self._automaton
        value = automaton.get(key, None)
        if value is None:
            automaton.add_word(key, ident)
            self._count += 1
        elif value >= 0:
            if value != ident:
                self._shared.append((value, ident))
                automaton.add_word(key, -len(self._shared))
        else:
            ids = self._shared[-value - 1]
            if ident not in ids:
                self._shared[-value - 1] = (*ids, ident)

    def finish(self) -> AutomatonPhrases:
        if self._count:
            self._automaton.make_automaton()
        return AutomatonPhrases(self._automaton, self._shared, self._count)


SHARDS = 64  # big dicts are split: growing one million-entry dict stalls in one long resize


class GramPhrases:
    """Word n-gram lookups: at each word of the text that starts some phrase, one dict lookup
    per phrase length starting with that word, skipped when the first two words start no
    phrase. Mutable: `add`/`discard` in place, `copy` for copy-on-write deltas. The phrases
    live in SHARDS dicts by hash, so no single insert resizes more than 1/SHARDS of them.
    `discard` leaves the first-word and first-pair hints as they were: a stale hint costs one
    lookup that finds nothing, never a wrong hit (compact by rebuilding).

    A phrase held by more than SET_FROM ids ("ROSE COTTAGE", "1 HIGH STREET": hundreds in a big
    list) keeps them in a frozenset, so a scan can intersect them with a town's ids in time
    proportional to the smaller side without touching each id (a set built from a tuple on every
    letter costs a cache miss per id)."""

    __slots__ = ("_lengths", "_pairs", "_shards")

    def __init__(self, shards: int = SHARDS) -> None:
        self._shards: tuple[dict[str, Postings], ...] = tuple({} for _ in range(shards))
        self._lengths: dict[str, tuple[int, ...]] = {}  # first word -> phrase lengths, ascending
        # the first two words of every longer phrase, sharded as the phrases
        self._pairs: tuple[set[str], ...] = tuple(set() for _ in range(shards))

    @classmethod
    def build(cls, pairs: Iterable[tuple[str, int]]) -> GramPhrases:
        grams = cls()
        for phrase, ident in pairs:
            grams.add(phrase, ident)
        return grams

    def add(self, phrase: str, ident: int) -> None:
        _check(phrase, ident)
        shard = self._shards[hash(phrase) % len(self._shards)]
        current = shard.setdefault(phrase, ident)
        if current is ident:  # a new phrase (one dict step: this runs a million times in a build)
            words = phrase.split(" ", 2)
            length = phrase.count(" ") + 1
            lengths = self._lengths.get(words[0], ())
            if length not in lengths:
                self._lengths[words[0]] = tuple(sorted((*lengths, length)))
            if length > 1:
                pair = f"{words[0]} {words[1]}"
                pairs = self._pairs
                pairs[hash(pair) % len(pairs)].add(pair)
        elif isinstance(current, int):
            if current != ident:
                shard[phrase] = (current, ident)
        elif ident not in current:
            if isinstance(current, tuple) and len(current) < SET_FROM:
                shard[phrase] = (*current, ident)
            else:
                shard[phrase] = frozenset(current).union((ident,))

    def discard(self, phrase: str, ident: int) -> None:
        shard = self._shards[hash(phrase) % len(self._shards)]
        current = shard.get(phrase)
        if current is None:
            return
        if isinstance(current, int):
            if current == ident:
                del shard[phrase]
        elif ident in current:
            if isinstance(current, frozenset) and len(current) > SET_FROM + 1:
                shard[phrase] = current.difference((ident,))
                return
            rest = tuple(i for i in current if i != ident)
            shard[phrase] = rest[0] if len(rest) == 1 else rest

    def finish(self) -> GramPhrases:
        return self

    def copy(self) -> GramPhrases:
        other = GramPhrases.__new__(GramPhrases)
        other._shards = tuple(shard.copy() for shard in self._shards)
        other._lengths = self._lengths.copy()
        other._pairs = tuple(pairs.copy() for pairs in self._pairs)
        return other

    def __reduce__(self) -> tuple[object, ...]:
        # str hashes differ between processes: re-shard on load
        items = [(phrase, ids) for shard in self._shards for phrase, ids in shard.items()]
        return (_gram_from_items, (items, len(self._shards)))

    def find(self, text: NormalisedText) -> set[int]:
        return union(self.find_words(text.tokens))

    def postings(self, text: NormalisedText) -> list[Postings]:
        return self.find_words(text.tokens)

    def find_words(self, tokens: Sequence[str]) -> list[Postings]:
        """The postings of every phrase present in `tokens` (words, in order): one per
        occurrence, in no promised order. Compiled where matcher._speedups is built."""
        if _compiled_find is not None:
            return _compiled_find(tokens, self._lengths, self._shards, self._pairs)
        return self.python_find_words(tokens)

    def python_find_words(self, tokens: Sequence[str]) -> list[Postings]:
        """find_words in Python: the reference, and the fallback without matcher._speedups."""
        found: list[Postings] = []
        starts = self._lengths.keys() & tokens  # one C loop: the words that start a phrase
        if not starts:
            return found
        last = len(tokens) - 1
        shards, pairs = self._shards, self._pairs
        count = len(shards)
        for word in starts:
            lengths = self._lengths[word]
            i = -1
            for _ in range(tokens.count(word)):
                i = tokens.index(word, i + 1)
                for length in lengths:
                    if length == 1:
                        key = word
                    elif i + length - 1 > last:
                        break
                    elif length == 2 or (pair := f"{word} {tokens[i + 1]}") in pairs[hash(pair) % count]:
                        key = " ".join(tokens[i : i + length])
                    else:
                        break  # no phrase starts with these two words
                    value = shards[hash(key) % count].get(key)
                    if value is not None:
                        found.append(value)
        return found

    def __len__(self) -> int:
        return sum(map(len, self._shards))


def _gram_from_items(items: list[tuple[str, Postings]], shards: int) -> GramPhrases:
    grams = GramPhrases(shards)
    for phrase, ids in items:
        for ident in (ids,) if isinstance(ids, int) else ids:
            grams.add(phrase, ident)
    return grams


def union(postings: Iterable[Postings]) -> set[int]:
    found: set[int] = set()
    for value in postings:
        if isinstance(value, int):
            found.add(value)
        else:
            found.update(value)
    return found


BACKENDS = ("gram", "automaton")


def phrase_builder(backend: str) -> PhraseBuilder:
    if backend == "gram":
        return GramPhrases()
    if backend == "automaton":
        return AutomatonBuilder()
    raise ValueError(f"phrase backend {backend!r}: expected one of {BACKENDS}")
