"""The snapshot file's stored rows: each entry's compiled facts (reference, prisoner, scope,
phone and email keys, counts, whether it must be compiled whole) beside its record, held column by
column (``StoredColumns``), and the ``key_stamp`` under which stored keys may be trusted. Only
sync's snapshot and building code reads this format (``matcher.stored_run`` builds from it)."""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from matcher import emails as email_norm
from matcher import phones as phone_norm
from matcher.compiled import Compiled, ContactKeys, entry_counts
from matcher.entries import Entry
from matcher.profile import Profile


def stored_row(entry: Entry, keys: ContactKeys) -> list[Any]:
    """An entry's compiled facts, JSON-friendly, for ``Index.build_stored``: reference, prisoner,
    scope, phone keys, email keys, its counts of phones, emails and addresses, and whether it must
    be decoded whole to be indexed (addresses and exemptions are compiled from the entry). A run
    of them is kept column by column (``StoredColumns``)."""
    return StoredColumns.from_entries([(entry, keys)]).rows()[0]


@dataclass(frozen=True, slots=True)
class StoredColumns:
    """A run of ``stored_row`` rows held column by column, each with its entry's ``record_json``
    (the snapshot file holds them so: a chunk of columns decodes in one C call).
    Every list has one item per entry, but the keys: every entry's phone keys one after another,
    with how many each entry has (nearly always one), and so for emails (nearly always none); so
    decoding makes no list per entry."""

    references: list[str]
    prisoners: list[str]
    scopes: list[list[str] | None]
    phone_key_counts: list[int]
    phone_keys: list[str]
    email_key_counts: list[int]
    email_keys: list[str]
    phones: list[int]
    emails: list[int]
    addresses: list[int]
    whole: list[bool]
    records: list[bytes]

    COLUMNS = 11  # in columns() order

    @classmethod
    def from_columns(cls, columns: list[Any], records: list[bytes]) -> StoredColumns:
        """From the COLUMNS lists of ``columns()`` and the records; ValueError when their shape is
        not that (a list per column, an item per record, keys as many as counted, string references)."""
        if type(columns) is not list or len(columns) != cls.COLUMNS:
            raise ValueError("columns")
        (references, prisoners, scopes, phone_key_counts, phone_keys, email_key_counts, email_keys,
         phones, emails, addresses, whole) = columns  # fmt: skip
        size = len(records)
        for i, column in enumerate(columns):
            if type(column) is not list or (i not in (4, 6) and len(column) != size):
                raise ValueError("column")
        if sum(phone_key_counts) != len(phone_keys) or sum(email_key_counts) != len(email_keys):
            raise ValueError("keys")
        if set(map(type, references)) - {str}:
            raise ValueError("references")
        return cls(
            references,
            prisoners,
            scopes,
            phone_key_counts,
            phone_keys,
            email_key_counts,
            email_keys,
            phones,
            emails,
            addresses,
            whole,
            records,
        )

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[list[Any], bytes]]) -> StoredColumns:
        """From ``stored_row`` rows, each with its record."""
        chunk = cls([], [], [], [], [], [], [], [], [], [], [], [])
        for row, record in rows:
            reference, prisoner, scope, phone_keys, email_keys, phones, emails, addresses, whole = row
            counts = (phones, emails, addresses)
            chunk._append(reference, prisoner, scope, phone_keys, email_keys, counts, whole)
            chunk.records.append(record)
        return chunk

    @classmethod
    def from_entries(cls, pairs: Iterable[tuple[Entry, ContactKeys]]) -> StoredColumns:
        """``stored_row`` and ``record_json`` of each entry with its keys, straight into columns."""
        chunk = cls([], [], [], [], [], [], [], [], [], [], [], [])
        for entry, (phone_keys, email_keys) in pairs:
            chunk._append_entry(entry, phone_keys, email_keys)
        return chunk

    @classmethod
    def from_compiled(cls, batch: Iterable[Compiled]) -> StoredColumns:
        """As ``from_entries`` of their entries and keys; but an entry still held as the record it
        was built from (``Index.build_stored``, never asked for since) is taken as that record, not
        decoded (and kept decoded) to be encoded again."""
        chunk = cls([], [], [], [], [], [], [], [], [], [], [], [])
        for compiled in batch:
            record = compiled._record  # None once decoded (another thread may decode it now)
            if record is None:
                chunk._append_entry(compiled.entry, compiled.phone_keys, compiled.email_keys)
                continue
            phones, emails, addresses, exemptions = Entry.record_counts(record)
            scope = None if compiled.scope is None else sorted(compiled.scope)
            chunk._append(
                compiled.reference, compiled.prisoner, scope, compiled.phone_keys, compiled.email_keys,
                (phones, emails, addresses), bool(addresses or exemptions),
            )  # fmt: skip
            chunk.records.append(record)
        return chunk

    def _append_entry(self, entry: Entry, phone_keys: Sequence[str], email_keys: Sequence[str]) -> None:
        """An entry's ``stored_row`` and ``record_json``, from the decoded Entry."""
        counts = entry_counts(entry)
        scope = None if entry.scope is None else sorted(entry.scope)
        whole = bool(counts[2] or entry.exemptions)
        self._append(entry.reference, entry.prisoner, scope, phone_keys, email_keys, counts, whole)
        self.records.append(entry.record_json())

    def _append(
        self,
        reference: str,
        prisoner: str,
        scope: list[str] | None,
        phone_keys: Sequence[str],
        email_keys: Sequence[str],
        counts: tuple[int, int, int],
        whole: bool,
    ) -> None:
        self.references.append(reference)
        self.prisoners.append(prisoner)
        self.scopes.append(scope)
        self.phone_key_counts.append(len(phone_keys))
        self.phone_keys.extend(phone_keys)
        self.email_key_counts.append(len(email_keys))
        self.email_keys.extend(email_keys)
        self.phones.append(counts[0])
        self.emails.append(counts[1])
        self.addresses.append(counts[2])
        self.whole.append(whole)

    def columns(self) -> list[list[Any]]:
        """Every column but the records, as the snapshot file holds them."""
        return [
            self.references,
            self.prisoners,
            self.scopes,
            self.phone_key_counts,
            self.phone_keys,
            self.email_key_counts,
            self.email_keys,
            self.phones,
            self.emails,
            self.addresses,
            self.whole,
        ]

    def rows(self) -> list[list[Any]]:
        """The ``stored_row`` of each entry."""
        phone_keys, email_keys = self.phone_key_tuples(), self.email_key_tuples()
        return [
            [reference, prisoner, scope, list(phone), list(email), phones, emails, addresses, whole]
            for reference, prisoner, scope, phone, email, phones, emails, addresses, whole in zip(
                self.references,
                self.prisoners,
                self.scopes,
                phone_keys,
                email_keys,
                self.phones,
                self.emails,
                self.addresses,
                self.whole,
                strict=True,
            )
        ]

    def phone_key_tuples(self) -> list[tuple[str, ...]]:
        return _split_keys(self.phone_keys, self.phone_key_counts)

    def email_key_tuples(self) -> list[tuple[str, ...]]:
        return _split_keys(self.email_keys, self.email_key_counts)

    def __len__(self) -> int:
        return len(self.references)

    def identifier_count(self) -> int:
        return sum(self.phones) + sum(self.emails) + sum(self.addresses)


def _split_keys(keys: list[str], counts: list[int]) -> list[tuple[str, ...]]:
    """Each entry's keys, from all of them in a row and how many each entry has."""
    if not keys:
        return [()] * len(counts)
    if len(keys) == len(counts) == counts.count(1):
        return list(zip(keys))  # one key each: 1-tuples made in C
    out: list[tuple[str, ...]] = []
    at = 0
    for count in counts:
        out.append(tuple(keys[at : at + count]))
        at += count
    return out


def key_stamp(profile: Profile) -> dict[str, str]:
    """What an entry's phone and email keys depend on besides the entry: keys stored with one
    stamp (``Index.entries_with_keys``) may be given back to ``Index.build`` only under an equal one."""
    rules = profile.phones
    phone_rules = (
        rules.region,
        rules.dial_prefixes,
        rules.dialable_after_prefix,
        rules.protected_numbers,
        rules.min_blockable_digits,
    )
    return {
        "phones": phone_norm.NORMALISER_VERSION,
        "emails": email_norm.NORMALISER_VERSION,
        "phone_rules": repr(phone_rules),
        # new metadata in either library can change a key (a number's national format, an
        # email's canonical form): stored keys are not reused across an upgrade
        "libraries": _library_versions(),
    }


@functools.cache
def _library_versions() -> str:
    names = ("phonenumbers", "email-validator")
    return " ".join(f"{name}={importlib.metadata.version(name)}" for name in names)
