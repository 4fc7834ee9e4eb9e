"""Putting a snapshot chunk's stored rows into a build: ``add_stored`` feeds a ``Builder`` in runs
of ``stored_run``, compiled in matcher/_speedups (stored_rows.c) with ``python_stored_run`` as its
reference and fallback."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from matcher.compiled import Builder, Compiled, Postings
from matcher.entries import Entry
from matcher.errors import DuplicateReference
from matcher.stored import StoredColumns

MAX_STORED_COUNT = 1 << 31  # a stored row's counts are below this (stored_run sums them in C)
# rows per stored_run call: few enough that the C call's hold on the GIL (the Python run lets other
# threads in) does not stall the serving event loop beside a cold start
RUN_ROWS = 512


def python_stored_run(
    columns: Sequence[list[Any]],
    records: list[Any],
    row: int,
    end: int,
    phone_at: int,
    email_at: int,
    entry_shards: tuple[dict[str, Compiled], ...],
    phone_shards: tuple[dict[str, Postings], ...],
    email_shards: tuple[dict[str, Postings], ...],
    compiled_type: type[Compiled],
) -> tuple[int, int, int, int, int]:
    """Put a run of a chunk's stored rows (``StoredColumns.columns()`` and its records) into a
    build's sharded tables (entries by reference, phone and email postings by key), from `row`,
    whose keys start at `phone_at` and `email_at`, up to the first row to compile whole, or whose
    reference is already in the entries, or `end`. Returns that row (`end` when it took them all),
    where its keys start, and how many phones and emails the rows taken count.

    The reference and fallback of ``matcher._speedups.stored_run`` (tests/matcher/test_speedups.py
    holds the two equal): the same rows taken, the same objects in the same tables, and the same
    errors, raised before anything of the row they name goes in. References, keys and scope items
    must be str, the whole flags bool, the counts int in [0, MAX_STORED_COUNT), and a row's keys as
    many as it counts; no Python code runs on its items (in C, nothing can change the lists). Each
    table is looked up once per key (``setdefault``), as the C version does."""
    if type(columns) is not list or len(columns) != StoredColumns.COLUMNS:
        raise TypeError("stored_run: columns must be a list of the stored columns")
    if any(type(column) is not list for column in columns) or type(records) is not list:
        raise TypeError("stored_run: columns must be lists")
    (references, prisoners, scopes, phone_key_counts, phone_keys, email_key_counts, email_keys,
     phones, emails, addresses, whole) = columns  # fmt: skip
    size = len(references)
    for column in (prisoners, scopes, phone_key_counts, email_key_counts, phones, emails, addresses, whole):
        if len(column) != size:
            raise ValueError("stored_run: columns of different lengths")
    if len(records) != size:
        raise ValueError("stored_run: columns of different lengths")
    for tables in (entry_shards, phone_shards, email_shards):
        if type(tables) is not tuple or not tables or any(type(table) is not dict for table in tables):
            raise TypeError("stored_run: tables must be non-empty tuples of dicts")
    keys_in_range = 0 <= phone_at <= len(phone_keys) and 0 <= email_at <= len(email_keys)
    if not (0 <= row <= end <= size and keys_in_range):
        raise ValueError("stored_run: a start or end out of range")
    entry_count, phone_count, email_count = len(entry_shards), len(phone_shards), len(email_shards)
    phones_seen = emails_seen = 0
    new = object.__new__
    while row < end:
        reference = references[row]
        if type(reference) is not str:
            raise TypeError("stored_run: a reference is not a str")
        flag = whole[row]
        if type(flag) is not bool:
            raise TypeError("stored_run: a whole flag is not a bool")
        phone_end = phone_at + _stored_count(phone_key_counts[row])
        email_end = email_at + _stored_count(email_key_counts[row])
        if phone_end > len(phone_keys) or email_end > len(email_keys):
            raise ValueError("stored_run: fewer keys than counted")
        if flag:
            break
        row_phones, row_emails = _stored_count(phones[row]), _stored_count(emails[row])
        scope = scopes[row]
        if scope is not None:
            if type(scope) is not list or any(type(item) is not str for item in scope):
                raise TypeError("stored_run: a scope is not None or a list of str")
            scope = frozenset(scope)
        row_phone_keys = tuple(phone_keys[phone_at:phone_end])
        row_email_keys = tuple(email_keys[email_at:email_end])
        if any(type(key) is not str for key in row_phone_keys + row_email_keys):
            raise TypeError("stored_run: a key is not a str")
        compiled = new(compiled_type)  # Compiled.__init__ without an Entry: decoded when asked for
        compiled._entry = None
        compiled._record = records[row]
        compiled.reference = reference
        compiled.prisoner = prisoners[row]
        compiled.scope = scope
        compiled.phone_keys = row_phone_keys
        compiled.email_keys = row_email_keys
        compiled.address_ids = ()
        compiled.exempt = None
        compiled.address_exemptions = ()
        # one lookup in the table, not two: ``in`` then a store
        if entry_shards[hash(reference) % entry_count].setdefault(reference, compiled) is not compiled:
            break  # already indexed
        for shards, count, keys in (
            (phone_shards, phone_count, row_phone_keys),
            (email_shards, email_count, row_email_keys),
        ):
            for key in keys:  # Builder._post, but a key the row holds twice is posted once
                table = shards[hash(key) % count]
                current = table.setdefault(key, compiled)
                if current is not compiled:
                    table[key] = (*current, compiled) if isinstance(current, tuple) else (current, compiled)
        phones_seen += row_phones
        emails_seen += row_emails
        phone_at, email_at = phone_end, email_end
        row += 1
    return row, phone_at, email_at, phones_seen, emails_seen


def _stored_count(count: object) -> int:
    if type(count) is not int:
        raise TypeError("stored_run: a count is not an int")
    if not 0 <= count < MAX_STORED_COUNT:
        raise ValueError("stored_run: a count out of range")
    return count


_StoredRun = Callable[
    [
        Sequence[list[Any]], list[Any], int, int, int, int, tuple[dict[str, Compiled], ...],
        tuple[dict[str, Postings], ...], tuple[dict[str, Postings], ...], type[Compiled],
    ],
    tuple[int, int, int, int, int],
]  # fmt: skip
_stored_run: _StoredRun
# python_stored_run compiled (matcher/_speedups_stored_rows.c); tests/matcher/test_speedups.py
# holds the two equal
try:
    from matcher._speedups import stored_run as _stored_run
except ImportError:  # pragma: no cover - a build without the C extension
    _stored_run = python_stored_run


def add_stored(builder: Builder, chunk: StoredColumns) -> None:
    """Stored rows (``stored_row``) with their records into `builder`, a snapshot chunk at a
    time. The rows that need no compiling go in in runs (``stored_run``: a million of them at a
    cold start); a run stops at an entry to compile whole, which goes through ``Builder.add``, in
    order, at a reference already indexed, or after RUN_ROWS rows (the build runs in a worker
    thread of a serving process: between runs the event loop can take the GIL)."""
    columns, records = chunk.columns(), chunk.records
    tables = (builder.entries.shards, builder.phones.shards, builder.emails.shards)
    counts, size = builder.counts, len(chunk)
    row = phone_at = email_at = 0
    while True:
        end = min(row + RUN_ROWS, size)
        row, phone_at, email_at, phones, emails = _stored_run(
            columns, records, row, end, phone_at, email_at, *tables, Compiled
        )
        counts[0] += phones
        counts[1] += emails
        if row == size:
            return
        if row == end:
            continue
        if not chunk.whole[row]:
            raise DuplicateReference(f"{chunk.references[row]}: reference", "appears twice")
        phone_end = phone_at + chunk.phone_key_counts[row]
        email_end = email_at + chunk.email_key_counts[row]
        keys = (tuple(chunk.phone_keys[phone_at:phone_end]), tuple(chunk.email_keys[email_at:email_end]))
        builder.add(Entry.from_record_json(records[row]), keys)
        row, phone_at, email_at = row + 1, phone_end, email_end
