"""Blocked postal addresses matched against letters: the immutable AddressIndex.

Postcode first: a dict canonical postcode -> address ids, and a phrase index for the
"NUMBER STREET" phrases and house names (so a letter with a wrong or unreadable postcode is
still caught). Only the few addresses found that way are checked one by one, with whole-word
substring tests on the normalised letter, for the evidence flags of matcher.profile.EVIDENCE.

A phrase alone is common ("14 HIGH STREET" is in thousands of towns), so an address found
only by its phrase is reported when the letter names its town, or holds no readable postcode
at all; a phrase next to another town's postcode is coincidence, and checking the hundreds of
same-named addresses would be slow on every letter. Base ids per town make that filter a set
intersection: when the letter holds a postcode, a phrase's ids are only ever intersected with
the ids of the towns the letter names (a phrase's many ids are a frozenset, see GramPhrases).

Live updates never touch the big structures: `with_changes` returns a new index sharing
them (the base) plus a small copy-on-write GramPhrases delta; removed or replaced ids are
masked out of the base.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache

from matcher.address_parse import ParsedAddress, normalise_text, parse_address
from matcher.address_words import match_words
from matcher.budget import ADDRESS_CANDIDATE, ADDRESS_POSTING, Budget
from matcher.names import PersonName, name_evidence
from matcher.phrases import (
    SHARDS,
    GramPhrases,
    NormalisedText,
    PhraseBuilder,
    PhraseIndex,
    Postings,
    phrase_builder,
    union,
)

__all__ = [
    "DEFAULT_BACKEND",
    "AddressIndex",
    "AddressIndexBuilder",
    "NormalisedText",
    "ParsedAddress",
    "address_phrases",
    "match_words",
    "normalise_text",
    "parse_address",
]

# gram builds in short chunks beside a serving event loop (the automaton ends in one long
# make_automaton() call) and holds less memory, while its slower phrase lookup is a small part of
# a letter's screening (benchmarks/bench_phrases.py); the automaton suits only off-line builds.
DEFAULT_BACKEND = "gram"

Item = tuple[int, ParsedAddress, PersonName | None]
_Record = tuple[ParsedAddress, PersonName | None]
_Ids = int | tuple[int, ...]
# The base's big dicts are split in SHARDS (by id, by postcode hash) so that no single insert
# during a chunked build resizes a million-entry dict in one long call; deltas use one.
_Records = tuple[dict[int, _Record], ...]
_Postcodes = tuple[dict[str, _Ids], ...]

_FLAT_NAMED = re.compile(r" FLAT (?:NO |NUMBER )?([A-Z0-9]{1,5})(?= )")
_FLAT_GLUED = re.compile(r" FLAT([0-9]{1,3}[A-Z]?)(?= )")  # OCR loses the space: "FLAT3"
_FLOOR_FLAT = re.compile(
    r" (GROUND|FIRST|SECOND|THIRD|FOURTH|TOP|BASEMENT|LOWER|UPPER|GARDEN)(?: FLOOR)? FLAT(?= )"
)
_FLAT_BEFORE_NUMBER = re.compile(r"[0-9]{1,4}[A-Z]?")
_FOUND_BY = frozenset({"postcode", "premise", "house_name"})  # how a candidate address is found


@lru_cache(maxsize=65536)
def _padded(value: str) -> str:
    if "STREET" in value or "SAINT" in value:
        value = " ".join("ST" if w in ("STREET", "SAINT") else w for w in value.split())
    return f" {value} "


@lru_cache(maxsize=65536)
def _house_phrase(house_name: str) -> str:
    padded = _padded(house_name)
    # "THE OLD RECTORY" is written without THE too; "THE COTTAGE" keeps it ("ROSE COTTAGE" differs)
    if padded.startswith(" THE ") and padded.count(" ") > 3:
        return padded[4:]
    return padded


def _premise_phrase(address: ParsedAddress) -> str | None:
    if address.premise is None or address.street is None:
        return None
    return f" {address.premise.replace('-', ' ')}{_padded(address.street)}"


def address_phrases(address: ParsedAddress) -> list[str]:
    """The phrases a letter to this address holds: "14A HIGH ST", "IVY HOUSE"."""
    phrases = []
    premise = _premise_phrase(address)
    if premise is not None:
        phrases.append(premise.strip())
    if address.house_name:
        phrases.append(_house_phrase(address.house_name).strip())
    return phrases


class _Letter:
    """One scan's view of the letter; the flats it names are found once, when first needed."""

    __slots__ = ("_flats", "norm", "postcodes", "text")

    def __init__(self, norm: NormalisedText) -> None:
        self.norm = norm
        self.text = norm.text
        self.postcodes = norm.postcodes
        self._flats: frozenset[str] | None = None

    def flats(self, premise_phrase: str | None) -> frozenset[str]:
        if self._flats is None:
            named = set(_FLAT_NAMED.findall(self.text))
            named.update(_FLAT_GLUED.findall(self.text))
            named.update(_FLOOR_FLAT.findall(self.text))
            self._flats = frozenset(named)
        if premise_phrase is None:
            return self._flats
        named = set(self._flats)  # "2/14 HIGH ST" reads " 2 14 HIGH ST "
        text = self.text
        at = text.find(premise_phrase)
        while at > 0:
            before = text[:at].rsplit(" ", 1)[-1]
            if _FLAT_BEFORE_NUMBER.fullmatch(before):
                named.add(before)
            at = text.find(premise_phrase, at + 1)
        return frozenset(named)


def _evidence(address: ParsedAddress, name: PersonName | None, letter: _Letter) -> set[str]:
    text = letter.text
    flags: set[str] = set()
    if address.postcode in letter.postcodes:
        flags.add("postcode")
    premise = None
    if address.premise is not None:
        number = f" {address.premise.replace('-', ' ')} "
        if address.street is not None:
            street = _padded(address.street)
            premise = number[:-1] + street
            if premise in text:
                flags.add("premise")
            elif street in text:
                flags.add("street")
        if "premise" not in flags and number in text:
            flags.add("number")
    elif address.street is not None and _padded(address.street) in text:
        flags.add("street")
    if address.house_name is not None and _house_phrase(address.house_name) in text:
        flags.add("house_name")
    if address.town is not None and _padded(address.town) in text:
        flags.add("town")
    if address.flat is not None:
        named = letter.flats(premise if "premise" in flags else None)
        if address.flat in named:
            flags.add("flat")
        if len(named) > (address.flat in named):
            flags.add("other_flat")
        elif not named:  # a letter to the building, or a flat number OCR lost: not enough to block
            flags.add("no_flat")
    if name is not None:
        found = name_evidence(name, letter.norm)
        if found is not None:
            flags.add(found)
    return flags


_IGNORED: dict[int, tuple[ParsedAddress, tuple[str, ...]]] = {}  # by id(): one per establishment


def _ignored_phrases(address: ParsedAddress) -> tuple[str, ...]:
    known = _IGNORED.get(id(address))
    if known is None or known[0] is not address:
        if len(_IGNORED) >= 1024:
            _IGNORED.clear()
        known = _IGNORED[id(address)] = (address, tuple(f" {phrase} " for phrase in address_phrases(address)))
    return known[1]


def without_return_address(norm: NormalisedText, ignore: ParsedAddress | None) -> NormalisedText:
    return norm if ignore is None else _without(norm, ignore)


def _without(norm: NormalisedText, ignore: ParsedAddress) -> NormalisedText:
    """The letter less the establishment's return address: its postcode and phrases. The
    tokens are left whole (a phrase found only in the return address then fails its evidence
    check on the text), which saves splitting the text again."""
    text = norm.text
    for phrase in _ignored_phrases(ignore):
        while phrase in text:
            text = text.replace(phrase, " ")
    postcodes = norm.postcodes
    if ignore.postcode in postcodes:
        postcodes = postcodes - {ignore.postcode}
    if text is norm.text and postcodes is norm.postcodes:
        return norm
    return NormalisedText(text, norm.tokens, norm.plain, norm.upper, postcodes, norm.address_format)


def _add_id(ids: dict[str, _Ids], key: str, ident: int) -> None:
    current = ids.setdefault(key, ident)
    if current is ident:
        return
    if isinstance(current, int):
        if current != ident:
            ids[key] = (current, ident)
    elif ident not in current:
        ids[key] = (*current, ident)


def _drop_id(ids: dict[str, _Ids], key: str, ident: int) -> None:
    current = ids.get(key)
    if current == ident:
        del ids[key]
    elif isinstance(current, tuple) and ident in current:
        rest = tuple(i for i in current if i != ident)
        ids[key] = rest[0] if len(rest) == 1 else rest


class AddressIndexBuilder:
    """Builds an AddressIndex in steps: `add` any number of chunks (with the gram backend each
    chunk costs time in proportion to its size, so a caller on an event loop can yield between
    chunks), then `finish` (fast for gram; make_automaton for the automaton backend)."""

    __slots__ = ("_finished", "_format", "_phrases", "_postcodes", "_records", "_towns")

    def __init__(self, address_format: str = "uk", backend: str = DEFAULT_BACKEND) -> None:
        if address_format not in ("uk", "us"):
            raise ValueError(f"address format {address_format!r}: expected 'uk' or 'us'")
        self._format = address_format
        self._phrases: PhraseBuilder = phrase_builder(backend)
        self._postcodes: _Postcodes = tuple({} for _ in range(SHARDS))
        self._records: _Records = tuple({} for _ in range(SHARDS))
        self._towns: dict[str, set[int]] = {}
        self._finished = False

    def add(self, items: Iterable[Item]) -> None:
        # Nothing here makes cycles: a caller adding millions pauses the cyclic collector around
        # the whole build (sync.offloop.collector.gc_paused); the matcher never switches it.
        if self._finished:
            raise RuntimeError("this builder has made its index: start a new one")
        records, postcodes, towns, add_phrase = self._records, self._postcodes, self._towns, self._phrases.add
        for ident, address, name in items:
            shard = records[ident % SHARDS]
            if ident in shard:
                raise ValueError(f"duplicate address id {ident}")
            shard[ident] = (address, name)
            if address.postcode is not None:
                _add_id(postcodes[hash(address.postcode) % SHARDS], address.postcode, ident)
            for phrase in address_phrases(address):
                add_phrase(phrase, ident)
            if address.town is not None:
                town = towns.get(address.town)
                if town is None:
                    towns[address.town] = {ident}
                else:
                    town.add(ident)

    def finish(self) -> AddressIndex:
        self._finished = True  # the index shares these structures from now on
        towns = _Towns(GramPhrases(), [])
        for number, (town, ids) in enumerate(self._towns.items()):  # a few thousand towns: quick
            towns.index.add(_padded(town).strip(), number)
            towns.members.append(ids)  # the builder is spent: nothing changes these sets again
        base = _Layer(self._phrases.finish(), self._postcodes, self._records)
        return AddressIndex(self._format, base, towns, _Layer(GramPhrases(1), ({},), ({},)), frozenset())


class _Layer:
    """Phrases, postcodes and records of one layer: the big base or the small delta."""

    __slots__ = ("phrases", "postcodes", "records", "size")

    def __init__(self, phrases: PhraseIndex, postcodes: _Postcodes, records: _Records) -> None:
        self.phrases = phrases
        self.postcodes = postcodes
        self.records = records
        self.size = sum(map(len, records))

    def record(self, ident: int) -> _Record | None:
        return self.records[ident % len(self.records)].get(ident)

    def __contains__(self, ident: int) -> bool:
        return ident in self.records[ident % len(self.records)]

    def at_postcodes(self, postcodes: frozenset[str]) -> set[int]:
        found: set[int] = set()
        shards = self.postcodes
        for postcode in postcodes:
            ids = shards[hash(postcode) % len(shards)].get(postcode)
            if ids is not None:
                if isinstance(ids, int):
                    found.add(ids)
                else:
                    found.update(ids)
        return found


class _Towns:
    """The base's post towns: a phrase index town -> number, and the base ids in each town."""

    __slots__ = ("index", "members")

    def __init__(self, index: GramPhrases, members: list[set[int]]) -> None:
        self.index = index
        self.members = members

    def named(self, postings: list[Postings], words: tuple[str, ...] | list[str]) -> set[int]:
        """The ids among `postings` whose town is named in `words`."""
        kept: set[int] = set()
        for number in union(self.index.find_words(words)):
            members = self.members[number]
            for value in postings:
                if isinstance(value, int):
                    if value in members:
                        kept.add(value)
                else:  # iterates the smaller side when both are sets
                    kept |= members.intersection(value)
        return kept


class AddressIndex:
    """Immutable. `scan` maps a normalised letter to {address id: evidence flags}."""

    __slots__ = ("_base", "_delta", "_format", "_masked", "_towns")

    def __init__(
        self, address_format: str, base: _Layer, towns: _Towns, delta: _Layer, masked: frozenset[int]
    ) -> None:
        self._format = address_format
        self._base = base
        self._towns = towns
        self._delta = delta
        self._masked = masked  # base ids removed or replaced since the base was built

    @classmethod
    def build(
        cls, items: Iterable[Item], address_format: str = "uk", backend: str = DEFAULT_BACKEND
    ) -> AddressIndex:
        builder = AddressIndexBuilder(address_format, backend)
        builder.add(items)
        return builder.finish()

    @property
    def address_format(self) -> str:
        return self._format

    @property
    def delta_size(self) -> int:
        """Changes held outside the base; rebuild (compact) when this grows past a few thousand."""
        return self._delta.size + len(self._masked)

    def __len__(self) -> int:
        return self._base.size - len(self._masked) + self._delta.size

    def __contains__(self, ident: object) -> bool:
        if not isinstance(ident, int):
            return False
        return ident in self._delta or (ident in self._base and ident not in self._masked)

    def get(self, ident: int) -> _Record | None:
        record = self._delta.record(ident)
        if record is None and ident not in self._masked:
            record = self._base.record(ident)
        return record

    def items(self) -> Iterator[Item]:
        """Every indexed address (to rebuild a compact base)."""
        masked = self._masked
        for shard in self._base.records:
            for ident, (address, name) in shard.items():
                if ident not in masked:
                    yield ident, address, name
        for ident, (address, name) in self._delta.records[0].items():
            yield ident, address, name

    def at_postcodes(self, postcodes: frozenset[str]) -> set[int]:
        """The ids of the addresses at any of `postcodes` (matcher.near's candidates)."""
        found = self._base.at_postcodes(postcodes)
        if self._masked:
            found -= self._masked
        if self._delta.size:
            found |= self._delta.at_postcodes(postcodes)
        return found

    def evidence(self, ident: int, norm: NormalisedText) -> frozenset[str]:
        """The exact evidence a letter holds for one address (`norm` less the return address)."""
        record = self.get(ident)
        if record is None:
            return frozenset()
        return frozenset(_evidence(record[0], record[1], _Letter(norm)))

    def scan(
        self, text: NormalisedText, ignore: ParsedAddress | None = None, budget: Budget | None = None
    ) -> dict[int, frozenset[str]]:
        """{address id: exact evidence}; OverBudget when `budget` runs out first."""
        if text.address_format != self._format:
            raise ValueError(f"text normalised as {text.address_format!r}, index is {self._format!r}")
        norm = text if ignore is None else _without(text, ignore)
        postcodes = norm.postcodes
        base, delta = self._base, self._delta
        postings = base.phrases.postings(norm)
        if budget is not None:
            size = sum(1 if isinstance(value, int) else len(value) for value in postings)
            budget.spend(ADDRESS_POSTING * (size + len(postcodes)), "address phrases")
        if postcodes:
            # Only ids in a town the letter names can pass the town check below (ids at the
            # letter's postcodes come in anyway): never build the set of all of a phrase's ids.
            candidates = base.at_postcodes(postcodes)
            if postings:
                named_in = norm.tokens if norm.text is text.text else norm.text.split()
                candidates |= self._towns.named(postings, named_in)
        else:
            candidates = union(postings)
        if self._masked:
            candidates -= self._masked
        if delta.size:
            candidates |= delta.phrases.find(norm)
            candidates |= delta.at_postcodes(postcodes)
        if budget is not None:
            budget.spend(ADDRESS_CANDIDATE * len(candidates), "candidate addresses")
        found: dict[int, frozenset[str]] = {}
        base_records, changed = base.records, delta.records[0]
        letter = _Letter(norm)
        words = norm.text
        for ident in candidates:
            address, name = changed.get(ident) or base_records[ident % SHARDS][ident]
            # Found by its phrase beside another town's postcode: reported only if its town is
            # named too (see the module docstring). Checked first, as it is cheap.
            if (
                postcodes
                and address.postcode not in postcodes
                and (address.town is None or _padded(address.town) not in words)
            ):
                continue
            flags = _evidence(address, name, letter)
            if flags.isdisjoint(_FOUND_BY):
                continue  # its phrase was in the ignored return address only
            if postcodes:
                flags.add("any_postcode")
            found[ident] = frozenset(flags)
        return found

    def with_changes(self, added: Iterable[Item], removed_ids: Iterable[int]) -> AddressIndex:
        added = list(added)
        replaced = set(removed_ids)
        replaced.update(ident for ident, _, _ in added)
        old_phrases = self._delta.phrases
        phrases = old_phrases.copy() if isinstance(old_phrases, GramPhrases) else GramPhrases(1)
        postcodes = dict(self._delta.postcodes[0])
        records = dict(self._delta.records[0])
        for ident in replaced:
            old = records.pop(ident, None)
            if old is not None:
                _forget(ident, old[0], phrases, postcodes)
        for ident, address, name in added:
            old = records.get(ident)
            if old is not None:  # the same id twice in one change: the last wins
                _forget(ident, old[0], phrases, postcodes)
            records[ident] = (address, name)
            if address.postcode is not None:
                _add_id(postcodes, address.postcode, ident)
            for phrase in address_phrases(address):
                phrases.add(phrase, ident)
        masked = self._masked | {ident for ident in replaced if ident in self._base}
        delta = _Layer(phrases, (postcodes,), (records,))
        return AddressIndex(self._format, self._base, self._towns, delta, masked)


def _forget(ident: int, address: ParsedAddress, phrases: GramPhrases, postcodes: dict[str, _Ids]) -> None:
    if address.postcode is not None:
        _drop_id(postcodes, address.postcode, ident)
    for phrase in address_phrases(address):
        phrases.discard(phrase, ident)
