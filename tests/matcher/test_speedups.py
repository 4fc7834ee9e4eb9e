"""matcher._speedups (C) against the Python versions it replaces, which stay as the reference and
the fallback: the same answers on generated inputs, on the benchmark's envelopes and on inputs the
compiled code must hand back or refuse; for the cold start's stored rows, the same tables and the
same errors."""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config import load_profile
from matcher import _speedups as speedups
from matcher import phones, phrases, postcodes
from matcher import stored_run as stored_run_module
from matcher.address_parse import ParsedAddress, normalise_text, parse_address
from matcher.addresses import address_phrases
from matcher.compiled import Compiled
from matcher.entries import Entry
from matcher.index import Index
from matcher.phones import PhoneNormaliser
from matcher.phrases import GramPhrases, union, upper_words
from matcher.stored import StoredColumns
from matcher.stored_run import python_stored_run
from tests.support.blocklists import address, envelopes
from tests.support.references import reference_postcodes_in_words
from tests.support.strategies import dial_batches, word_lists


def test_the_compiled_module_is_built_and_used() -> None:
    # pyproject.toml marks the extension optional, so an install without a C compiler still
    # works; the project's own test environment must build it (this module fails to import
    # otherwise), or the suite would only ever test the fallback.
    assert postcodes._compiled is speedups.postcodes_in_words
    assert phrases._compiled_find is speedups.find_phrases
    assert stored_run_module._stored_run is speedups.stored_run


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


# ---- stored_run -----------------------------------------------------------------------------

StoredRun = Callable[..., tuple[int, int, int, int, int]]
Chunk = tuple[list[list[Any]], list[Any]]  # StoredColumns.columns() and the records
RUNS: list[StoredRun] = [python_stored_run, speedups.stored_run]

_REFERENCES = [f"UPC-{i}" for i in range(8)]  # few: references repeat, in a chunk and across chunks
_KEYS = ["+447700900001", "+447700900002", "+447700900003", "+12025550123", "a@example.com"]
_SCOPES = st.none() | st.lists(st.sampled_from(["HLI", "WYI", "FHI"]), max_size=3)
# a stored row: reference, prisoner, scope, phone keys, email keys, phones, emails, addresses, whole
_ROWS = st.tuples(
    st.sampled_from(_REFERENCES),
    st.sampled_from(["A1234BC", "B2345CD"]),
    _SCOPES,
    st.lists(st.sampled_from(_KEYS), max_size=3),  # a key twice in a row too
    st.lists(st.sampled_from(_KEYS), max_size=2),
    st.integers(0, 4),
    st.integers(0, 3),
    st.integers(0, 2),
    st.booleans(),
)
_CHUNKS = st.lists(st.lists(_ROWS, max_size=12), max_size=4)
_SHARDS = st.tuples(st.sampled_from([1, 3, 64]), st.sampled_from([1, 2, 64]), st.sampled_from([1, 5]))


def _chunk(rows: list[tuple[Any, ...]]) -> Chunk:
    """StoredColumns.columns() and the records of `rows`."""
    chunk = StoredColumns.from_rows((list(row), f"record {n}".encode()) for n, row in enumerate(rows))
    return chunk.columns(), chunk.records


def _drive(
    run: StoredRun, chunks: list[Chunk], shards: tuple[int, int, int], window: int = 1 << 20
) -> tuple[list[object], list[object]]:
    """Every chunk through `run` as matcher.stored_run.add_stored drives it, at most `window` rows a call,
    stepping over each row the run stops at before its end (whole, or already indexed); what each
    call gave or raised, and the tables after."""
    tables = tuple(tuple({} for _ in range(n)) for n in shards)
    log: list[object] = []
    for columns, records in chunks:
        row = phone_at = email_at = 0
        size = len(columns[0])
        while True:
            end = min(row + window, size)
            try:
                out = run(columns, records, row, end, phone_at, email_at, *tables, Compiled)
            except (TypeError, ValueError) as exc:
                log.append((type(exc), str(exc)))
                break
            log.append(out)
            row, phone_at, email_at = out[:3]
            if row == size:
                break
            if row < end:
                row, phone_at, email_at = row + 1, phone_at + columns[3][row], email_at + columns[5][row]
    return log, _described(tables)


def _described(tables: tuple[tuple[dict[str, Any], ...], ...]) -> list[object]:
    """The tables in plain values, in their shards' order: each compiled entry by its slots, each
    posting by the references of its compiled entries (which must be the entries table's objects)."""
    entries, *postings = tables
    names: dict[int, str] = {}
    out: list[object] = []
    for shard in entries:
        items: list[object] = []
        for reference, compiled in shard.items():
            assert type(compiled) is Compiled
            names[id(compiled)] = reference
            slots = [getattr(compiled, name) for name in Compiled.__slots__]
            items.append((reference, slots, [type(value) for value in slots]))
        out.append(items)
    for table in postings:
        for shard in table:
            out.append(
                [
                    (key, type(p), tuple(names[id(c)] for c in p) if isinstance(p, tuple) else names[id(p)])
                    for key, p in shard.items()
                ]
            )
    return out


def _same_in_both(chunks: list[Chunk], shards: tuple[int, int, int], window: int = 1 << 20) -> list[object]:
    python, compiled = (_drive(run, chunks, shards, window) for run in RUNS)
    assert compiled == python
    return python[0]


@settings(max_examples=1500)
@given(_CHUNKS, _SHARDS, st.integers(1, 13))
def test_compiled_stored_run_equals_the_python_run(
    chunks: list[list[tuple[Any, ...]]], shards: Any, window: int
) -> None:
    _same_in_both([_chunk(rows) for rows in chunks], shards, window)


_BAD_VALUES = {
    0: [17, None, b"UPC-1"],  # a reference
    2: [("HLI",), ["HLI", 3], "HLI", 0],  # a scope
    3: ["1", 1.0, True, -1, 1 << 31, 1 << 70, 5],  # a phone key count (5: more than there are)
    4: [1, None, b"+447700900001"],  # a phone key
    5: ["0", -2, 3],  # an email key count
    6: [0, ("a@example.com",)],  # an email key
    7: ["1", 2.5, False, -1, 1 << 40],  # a phone count
    8: [None, 1 << 31],  # an email count
    10: [1, 0, None, "yes"],  # a whole flag
}


@settings(max_examples=1500)
@given(
    st.lists(_ROWS, min_size=1, max_size=10),
    st.sampled_from(sorted(_BAD_VALUES)),
    st.data(),
    _SHARDS,
)
def test_compiled_stored_run_refuses_what_the_python_run_refuses(
    rows: list[tuple[Any, ...]], column: int, data: st.DataObject, shards: Any
) -> None:
    columns, records = _chunk(rows)
    at = data.draw(st.integers(0, len(columns[column]) - 1)) if columns[column] else None
    bad = data.draw(st.sampled_from(_BAD_VALUES[column]))
    if at is None:
        columns[column].append(bad)  # a key column with no keys: one too many, or a stray item
    else:
        columns[column][at] = bad
    log = _same_in_both([(columns, records)], shards)
    assert log  # every call answered or raised, the same way in both


@pytest.mark.parametrize(
    ("columns", "records", "error", "message"),
    [
        ([[]] * 10, [], TypeError, "columns must be a list"),
        (tuple([[]] * 11), [], TypeError, "columns must be a list"),
        ([[]] * 10 + [()], [], TypeError, "columns must be lists"),
        ([[]] * 11, (), TypeError, "columns must be lists"),
        ([["UPC-1"]] + [[]] * 10, [b""], ValueError, "columns of different lengths"),
        ([[]] * 11, [b""], ValueError, "columns of different lengths"),
    ],
)
def test_columns_of_the_wrong_shape_are_refused_in_both(
    columns: Any, records: Any, error: type[Exception], message: str
) -> None:
    tables = (({},), ({},), ({},))
    for run in RUNS:
        with pytest.raises(error, match=message):
            run(columns, records, 0, len(records), 0, 0, *tables, Compiled)


@pytest.mark.parametrize(
    "tables",
    [((), ({},), ({},)), (({},), [{}], ({},)), (({},), ({},), ({}, [])), (({},), ({},), None)],
)
def test_tables_of_the_wrong_shape_are_refused_in_both(tables: Any) -> None:
    columns, records = _chunk([("UPC-1", "A1234BC", None, [], [], 0, 0, 0, False)])
    for run in RUNS:
        with pytest.raises(TypeError, match="tables must be"):
            run(columns, records, 0, 1, 0, 0, *tables, Compiled)


@pytest.mark.parametrize(
    "start",
    [(2, 2, 0, 0), (-1, 1, 0, 0), (0, 2, 0, 0), (1, 0, 0, 0), (0, 1, 2, 0), (0, 1, 0, 1), (0, 1, -1, 0)],
)
def test_a_start_or_end_out_of_range_is_refused_in_both(start: tuple[int, int, int, int]) -> None:
    columns, records = _chunk([("UPC-1", "A1234BC", None, ["+447700900001"], [], 1, 0, 0, False)])
    for run in RUNS:
        with pytest.raises(ValueError, match="a start or end out of range"):
            run(columns, records, *start, ({},), ({},), ({},), Compiled)


def test_runs_stop_at_whole_rows_and_indexed_references_and_go_on_from_any_row() -> None:
    rows = [
        ("UPC-1", "A1234BC", None, ["+447700900001"], [], 1, 0, 0, False),
        ("UPC-2", "A1234BC", ["HLI"], ["+447700900001", "+447700900002"], ["a@example.com"], 2, 1, 1, True),
        ("UPC-3", "B2345CD", ["WYI", "HLI"], ["+447700900001"], ["a@example.com"], 1, 1, 0, False),
        ("UPC-1", "A1234BC", None, [], [], 0, 0, 0, False),
        ("UPC-4", "A1234BC", None, [], [], 0, 0, 0, False),
    ]
    columns, records = _chunk(rows)
    for run in RUNS:
        tables: tuple[tuple[dict[str, Any], ...], ...] = (({}, {}), ({},), ({}, {}, {}))
        assert run(columns, records, 0, 5, 0, 0, *tables, Compiled) == (1, 1, 0, 1, 0)  # UPC-2 is whole
        assert run(columns, records, 2, 5, 3, 1, *tables, Compiled) == (3, 4, 2, 1, 1)  # UPC-1 again
        assert run(columns, records, 4, 4, 4, 2, *tables, Compiled) == (4, 4, 2, 0, 0)  # up to row 4
        assert run(columns, records, 4, 5, 4, 2, *tables, Compiled) == (5, 4, 2, 0, 0)
        assert run(columns, records, 5, 5, 4, 2, *tables, Compiled) == (5, 4, 2, 0, 0)  # nothing left
        entries = {k: v for shard in tables[0] for k, v in shard.items()}
        assert sorted(entries) == ["UPC-1", "UPC-3", "UPC-4"]
        first, third = entries["UPC-1"], entries["UPC-3"]
        assert (first._entry, first._record, first.prisoner) == (None, b"record 0", "A1234BC")
        assert first.scope is None
        assert third.scope == frozenset({"HLI", "WYI"}) and third.phone_keys == ("+447700900001",)
        assert (first.address_ids, first.exempt, first.address_exemptions) == ((), None, ())
        assert tables[1][0]["+447700900001"] == (first, third)  # shared: one tuple, in row order
        assert next(s["a@example.com"] for s in tables[2] if "a@example.com" in s) is third


def test_an_empty_chunk_is_a_run_of_nothing() -> None:
    columns, records = _chunk([])
    for run in RUNS:
        tables = (({},), ({},), ({},))
        assert run(columns, records, 0, 0, 0, 0, *tables, Compiled) == (0, 0, 0, 0, 0)
        assert tables == (({},), ({},), ({},))


class _NoSlots:
    pass


class _ReadOnlySlots:
    __slots__ = ()
    _entry = _record = reference = prisoner = scope = None
    phone_keys = email_keys = address_ids = exempt = address_exemptions = None


class _SubCompiled(Compiled):
    __slots__ = ()


@pytest.mark.parametrize("compiled", [object, _NoSlots, _ReadOnlySlots, _SubCompiled, "Compiled", None])
def test_the_compiled_run_refuses_a_class_without_the_compiled_slots(compiled: Any) -> None:
    columns, records = _chunk([("UPC-1", "A1234BC", None, [], [], 0, 0, 0, False)])
    with pytest.raises(TypeError, match="compiled must be a class with the compiled slots"):
        speedups.stored_run(columns, records, 0, 1, 0, 0, ({},), ({},), ({},), compiled)


def _stored_chunks(index: Index, size: int) -> list[StoredColumns]:
    pairs = list(index.entries_with_keys())
    return [StoredColumns.from_entries(pairs[i : i + size]) for i in range(0, len(pairs), size)]


@pytest.mark.parametrize("run_rows", [1, 3, 512])
def test_build_stored_is_the_same_index_on_the_python_run(
    monkeypatch: pytest.MonkeyPatch, run_rows: int
) -> None:
    monkeypatch.setattr(stored_run_module, "RUN_ROWS", run_rows)
    spans: list[int] = []

    def spied(run: StoredRun) -> StoredRun:
        def call(columns: list[list[Any]], records: list[Any], row: int, end: int, *rest: Any) -> Any:
            spans.append(end - row)
            return run(columns, records, row, end, *rest)

        return call

    profile = load_profile(environ={})
    listed = [
        Entry.from_dict(
            {"reference": f"UPC-{i:03d}", "prisoner": "A1234BC", "scope": ["HLI"] if i % 4 == 0 else "all",
             "protected": [{"name": "Jane Smith", "phones": [f"07700 900{i % 7:03d}"],
                            "emails": [f"p{i}@example.com"] if i % 3 == 0 else [],
                            "addresses": [{"lines": [f"{i} High Street", "Hull"], "postcode": "HU1 2AB"}]
                            if i % 5 == 0 else []}]}
        )
        for i in range(40)
    ]  # fmt: skip
    built = Index.build(listed, profile, version=3)

    def described(index: Index) -> object:
        decisions = [index.screen_call("HLI", "Z9999ZZ", f"07700 900{i:03d}") for i in range(8)]
        decisions += [index.screen_message("WYI", "Z9999ZZ", f"p{i}@example.com") for i in range(0, 40, 3)]
        decisions.append(index.screen_mail("HLI", "Z9999ZZ", "Ms J Smith\n10 High Street\nHull\nHU1 2AB"))
        return [e.reference for e in index.entries()], index.counts(), decisions

    for size in (1, 7, 4096):
        chunks = _stored_chunks(built, size)
        with monkeypatch.context() as patch:
            patch.setattr(stored_run_module, "_stored_run", spied(speedups.stored_run))
            compiled = described(Index.build_stored(chunks, profile, version=3))
        with monkeypatch.context() as patch:
            patch.setattr(stored_run_module, "_stored_run", spied(python_stored_run))
            python = described(Index.build_stored(chunks, profile, version=3))
        assert compiled == python
        assert compiled[1] == built.counts() and compiled[2] == described(built)[2]
    assert max(spans) == min(run_rows, 40)  # never more than RUN_ROWS rows in one call


def test_the_python_run_is_used_without_the_compiled_module() -> None:
    # as on a machine without a C compiler: matcher._speedups cannot be imported
    code = """
import sys
sys.modules["matcher._speedups"] = None
from config import load_profile
from matcher import stored_run
from matcher.entries import Entry
from matcher.index import Index
from matcher.stored import StoredColumns
assert stored_run._stored_run is stored_run.python_stored_run
profile = load_profile(environ={})
listed = [Entry.from_dict({"reference": f"UPC-{i}", "prisoner": "A1234BC",
                           "protected": [{"phones": [f"07700 900{i:03d}"]}]}) for i in range(5)]
built = Index.build(listed, profile)
again = Index.build_stored([StoredColumns.from_entries(built.entries_with_keys())], profile)
assert all(again.screen_call("HLI", "Z9999ZZ", f"07700 900{i:03d}").decision == "block" for i in range(5))
assert again.counts() == built.counts()
print("python run")
"""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "python run\n"
