"""The immutable blocklist index and the screening decisions.

Built from entries for one region profile. `with_changes` returns a new Index that shares the big
structures with this one (layered maps and the address index's delta), so a live gateway applies
single changes in microseconds and swaps one reference; nothing here is ever mutated in place.
"""

from __future__ import annotations

import functools
import importlib.metadata
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from matcher import emails as email_norm
from matcher import phones as phone_norm
from matcher.addresses import AddressIndex, ParsedAddress, normalise_text, parse_address
from matcher.decisions import STRENGTH_OF_DECISION, Channel, Decision, Match, Strength, order_matches
from matcher.entries import Entry, normalise_prisoner
from matcher.errors import ConfigError, InvalidNumber, ValidationError
from matcher.layered import SHARDS, LayeredMap, ShardedDict
from matcher.names import PersonName, name_evidence, parse_name
from matcher.phones import PhoneNormaliser
from matcher.postcodes import find_postcodes
from matcher.profile import Profile

ADDRESSES_VERSION = "addresses-1"
NORMALISER_VERSIONS: dict[str, str] = {
    "phones": phone_norm.NORMALISER_VERSION,
    "emails": email_norm.NORMALISER_VERSION,
    "addresses": ADDRESSES_VERSION,
}
ContactKeys = tuple[tuple[str, ...], tuple[str, ...]]  # an entry's phone keys and email keys


def stored_row(entry: Entry, keys: ContactKeys) -> list[Any]:
    """An entry's compiled facts, JSON-friendly, for ``Index.build_stored``: reference, prisoner,
    scope, phone keys, email keys, its counts of phones, emails and addresses, and whether it must
    be decoded whole to be indexed (addresses and exemptions are compiled from the entry). A run
    of them is kept column by column (``StoredColumns``)."""
    return StoredColumns.from_entries([(entry, keys)]).rows()[0]


STORED_ROW_LENGTH = 9


@dataclass(frozen=True, slots=True)
class StoredColumns:
    """A run of ``stored_row`` rows held column by column, each with its entry's ``record_json``
    (the snapshot file's format 3 holds them so: a JSON array of columns decodes in one C call).
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
    def _from_compiled(cls, batch: Iterable[_Compiled]) -> StoredColumns:
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
        counts = _entry_counts(entry)
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
        """Every column but the records, as format 3 writes them."""
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


MAX_ENVELOPE = 4_000
MAX_CONTENT = 200_000


class _Compiled:
    """An entry reduced to what screening needs. Identifier keys are the same string objects as
    the index's keys, so keeping them here costs a pointer each. Built from a stored row
    (``Index.build_stored``), the Entry itself is decoded from its record the first time someone
    asks for it: screening never does."""

    __slots__ = (
        "_entry",
        "_record",
        "address_exemptions",
        "address_ids",
        "email_keys",
        "exempt",
        "phone_keys",
        "prisoner",
        "reference",
        "scope",
    )

    def __init__(
        self,
        entry: Entry,
        phone_keys: tuple[str, ...],
        email_keys: tuple[str, ...],
        address_ids: tuple[int, ...],
        exempt: frozenset[tuple[str, str]] | None,
        address_exemptions: tuple[tuple[str, str, PersonName | None], ...],
    ) -> None:
        self._entry: Entry | None = entry
        self._record: bytes | None = None
        self.reference = entry.reference
        self.prisoner = entry.prisoner
        self.scope = entry.scope
        self.phone_keys = phone_keys
        self.email_keys = email_keys
        self.address_ids = address_ids
        self.exempt = exempt
        self.address_exemptions = address_exemptions

    @property
    def entry(self) -> Entry:
        entry = self._entry
        if entry is not None:
            return entry
        record = self._record
        if record is None:  # another thread decoded it just now (it sets _entry first)
            return self._entry  # type: ignore[return-value]
        entry = Entry.from_record_json(record)
        self._entry = entry
        self._record = None
        return entry


Postings = _Compiled | tuple[_Compiled, ...]


@dataclass(frozen=True, slots=True)
class _AddressOwner:
    compiled: _Compiled
    postcode: str


class _Context:
    """What every version of an index built from one profile shares."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.policy = profile.mail_policy
        self.address_format = profile.address_format
        self.phones = PhoneNormaliser(profile.phones)
        self.site_phones: dict[str, PhoneNormaliser] = {}
        self.default_call_key: Callable[[str], str] = self.phones.key
        self.returns: dict[str, ParsedAddress] = {}
        for code, est in profile.establishments.items():
            if est.dial_prefixes:
                self.site_phones[code] = PhoneNormaliser(profile.phones, est.dial_prefixes)
            if est.return_address is not None:
                field = f"establishments.{code}.return_address"
                try:
                    self.returns[code] = parse_address(
                        est.return_address.lines, est.return_address.postcode, field, self.address_format
                    )
                except ValidationError as exc:
                    raise ConfigError(field, est.return_address.postcode, exc.detail) from None
        # establishment -> its normaliser's key method, for screen_call's one dict lookup
        self.call_keys: dict[str, Callable[[str], str]] = {
            code: normaliser.key for code, normaliser in self.site_phones.items()
        }

    def phones_for(self, establishment: str) -> PhoneNormaliser:
        return self.site_phones.get(establishment, self.phones)


_CONTEXTS: dict[int, tuple[Profile, _Context]] = {}


def _context_for(profile: Profile) -> _Context:
    """One context per profile object: normalisers and parsed return addresses are built once."""
    cached = _CONTEXTS.get(id(profile))
    if cached is not None and cached[0] is profile:
        return cached[1]
    ctx = _Context(profile)
    if len(_CONTEXTS) > 16:
        _CONTEXTS.clear()
    _CONTEXTS[id(profile)] = (profile, ctx)
    return ctx


def check_entry(entry: Entry, profile: Profile) -> None:
    """Raise ValidationError naming the field if `entry` cannot be indexed under `profile`."""
    _Builder(_context_for(profile), next_address_id=1, shards=1).add(entry)


def _entry_counts(entry: Entry) -> tuple[int, int, int]:
    phones = emails = addresses = 0
    for person in entry.protected:
        phones += len(person.phones)
        emails += len(person.emails)
        addresses += len(person.addresses)
    return phones, emails, addresses


class Index:
    __slots__ = (
        "_addresses",
        "_allow_call",
        "_counts",
        "_ctx",
        "_emails",
        "_entries",
        "_next_address_id",
        "_owners",
        "_phones",
        "version",
    )

    def __init__(
        self,
        ctx: _Context,
        version: int,
        entries: LayeredMap[str, _Compiled],
        phones: LayeredMap[str, Postings],
        emails: LayeredMap[str, Postings],
        addresses: AddressIndex,
        owners: LayeredMap[int, _AddressOwner],
        next_address_id: int,
        counts: tuple[int, int, int, int],
    ) -> None:
        self._counts = counts  # entries, phones, emails, addresses
        self._allow_call = Decision(Channel.CALL, "allow", version)
        self._ctx = ctx
        self.version = version
        self._entries = entries
        self._phones = phones
        self._emails = emails
        self._addresses = addresses
        self._owners = owners
        self._next_address_id = next_address_id

    # ---- building -------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        entries: Iterable[Entry],
        profile: Profile,
        *,
        version: int = 0,
        keys: Iterable[ContactKeys] | None = None,
    ) -> Index:
        """Raises ValidationError naming ``<reference>: <field>`` for an entry that cannot be indexed.
        `keys`, one per entry in order, are the phone and email keys ``entries_with_keys`` gave
        under a profile with the same ``key_stamp``: trusted, not normalised again."""
        ctx = _context_for(profile)
        builder = _Builder(ctx, next_address_id=1)
        if keys is None:
            for entry in entries:
                builder.add(entry)
        else:
            for entry, contact_keys in zip(entries, keys, strict=True):
                builder.add(entry, contact_keys)
        return cls._finish(builder, version)

    @classmethod
    def build_stored(cls, chunks: Iterable[StoredColumns], profile: Profile, *, version: int = 0) -> Index:
        """From ``stored_row`` rows (written under this profile's ``key_stamp``) with their entries'
        ``record_json``, a chunk of columns at a time: trusted like ``build(keys=...)``, and the
        entries that need no compiling are only decoded when someone asks for them."""
        builder = _Builder(_context_for(profile), next_address_id=1)
        for chunk in chunks:
            builder.add_stored(chunk)
        return cls._finish(builder, version)

    @classmethod
    def _finish(cls, builder: _Builder, version: int) -> Index:
        ctx = builder.ctx
        addresses = AddressIndex.build(builder.address_items, ctx.address_format)
        # Builds run in worker threads: a million item tuples freed in one C call would hold the
        # GIL (and stall the event loop) for tens of ms; in slices the thread can hand it over.
        items = builder.address_items
        while items:
            del items[-2048:]
        return cls(
            ctx,
            version,
            LayeredMap(builder.entries),
            LayeredMap(builder.phones),
            LayeredMap(builder.emails),
            addresses,
            LayeredMap(builder.owners),
            builder.next_address_id,
            (len(builder.entries), builder.counts[0], builder.counts[1], builder.counts[2]),
        )

    def with_changes(self, upserts: Sequence[Entry], removals: Sequence[str], *, version: int) -> Index:
        """A new Index with `upserts` added or replaced and `removals` (references) gone."""
        gone: dict[str, _Compiled] = {}
        for reference in [*removals, *(e.reference for e in upserts)]:
            old = self._entries.get(reference)
            if old is not None:
                gone[reference] = old
        builder = _Builder(self._ctx, self._next_address_id, shards=1)
        latest: dict[str, Entry] = {e.reference: e for e in upserts}
        for entry in latest.values():
            builder.add(entry)
        phone_changes = _posting_changes(self._phones, gone.values(), builder.phones, "phone_keys")
        email_changes = _posting_changes(self._emails, gone.values(), builder.emails, "email_keys")
        removed_ids = [aid for c in gone.values() for aid in c.address_ids]
        entry_changes: dict[str, _Compiled | None] = dict.fromkeys(gone)
        entry_changes.update(builder.entries)
        owner_changes: dict[int, _AddressOwner | None] = dict.fromkeys(removed_ids)
        owner_changes.update(builder.owners)
        counts = list(self._counts)
        for sign, changed in ((-1, [c.entry for c in gone.values()]), (1, list(latest.values()))):
            for entry in changed:
                counts[0] += sign
                for i, n in enumerate(_entry_counts(entry), start=1):
                    counts[i] += sign * n
        return Index(
            self._ctx,
            version,
            self._entries.with_changes(entry_changes),
            self._phones.with_changes(phone_changes),
            self._emails.with_changes(email_changes),
            self._addresses.with_changes(builder.address_items, removed_ids),
            self._owners.with_changes(owner_changes),
            builder.next_address_id,
            (counts[0], counts[1], counts[2], counts[3]),
        )

    # ---- facts ------------------------------------------------------------------------------

    @property
    def profile(self) -> Profile:
        return self._ctx.profile

    def entry(self, reference: str) -> Entry | None:
        compiled = self._entries.get(reference)
        return None if compiled is None else compiled.entry

    def entries(self) -> Iterator[Entry]:
        for _, compiled in self._entries.items():
            yield compiled.entry

    def stored_chunks(self, size: int) -> Iterator[StoredColumns]:
        """Every entry's ``stored_row`` and record, `size` entries a chunk, for the snapshot file:
        ``StoredColumns.from_entries`` of ``entries_with_keys``, but an entry built from a stored
        row and never asked for since is written from its record as it was read (1M such entries:
        the first snapshot write after a cold start decoded and encoded every one, and kept them
        all decoded)."""
        compiled = (value for _, value in self._entries.items())
        while batch := list(itertools.islice(compiled, size)):
            yield StoredColumns._from_compiled(batch)

    def entries_with_keys(self) -> Iterator[tuple[Entry, ContactKeys]]:
        """Every entry with its phone and email keys, for ``build(keys=...)`` (see ``key_stamp``)."""
        for _, compiled in self._entries.items():
            yield compiled.entry, (compiled.phone_keys, compiled.email_keys)

    @property
    def entry_count(self) -> int:
        return self._counts[0]

    def counts(self) -> dict[str, int]:
        entries, phones, emails, addresses = self._counts
        return {"entries": entries, "phones": phones, "emails": emails, "addresses": addresses}

    @property
    def identifier_count(self) -> int:
        return self._counts[1] + self._counts[2] + self._counts[3]

    # ---- screening --------------------------------------------------------------------------

    def screen_call(self, establishment: str, prisoner: str, number: str) -> Decision:
        """allow | block. Raises InvalidNumber (field "number") for an unreadable dial string."""
        # Every Python-level call here costs a noticeable share of the ~2 us budget, so the
        # normaliser's key method is found with one dict lookup and the layered map is read inline.
        ctx = self._ctx
        key = ctx.call_keys.get(establishment, ctx.default_call_key)(number)
        phones = self._phones
        overlay = phones.overlay
        postings = overlay.get(key, _ABSENT) if overlay else _ABSENT
        if postings is _ABSENT:
            shards = phones.base.shards
            postings = shards[hash(key) % len(shards)].get(key)
        if postings is None:  # not blocked, or removed since the base was built
            return self._allow_call
        prisoner = normalise_prisoner(prisoner)
        if postings.__class__ is _Compiled:  # one entry holds the number: nearly every block
            compiled: _Compiled = postings
            if (compiled.scope is None or establishment in compiled.scope) and (
                compiled.exempt is None or (prisoner, key) not in compiled.exempt
            ):
                # what _blocking and order_matches make of one posting, built without their calls
                relay = compiled.prisoner != prisoner
                match = _new_tuple(Match, (compiled.reference, "phone", _STRONG, relay, _NONE))
                return _new_tuple(Decision, (_CALL, "block", self.version, (match,)))
            return self._allow_call
        matches = _blocking(postings, establishment, prisoner, key, "phone")  # type: ignore[arg-type]
        if not matches:
            return self._allow_call
        return Decision(Channel.CALL, "block", self.version, order_matches(matches))

    def screen_message(
        self, establishment: str, prisoner: str, to: str, content: str | None = None
    ) -> Decision:
        """allow | block: the recipient (an email address or a phone number) and any blocked number
        or email written in `content`."""
        prisoner = normalise_prisoner(prisoner)
        matches: list[Match] = []
        if "@" in to:
            matches += self._email_matches(email_norm.email_keys(to, "to"), establishment, prisoner)
        else:
            try:
                key = self._ctx.phones_for(establishment).key(to)
            except InvalidNumber as exc:
                raise InvalidNumber("to", exc.detail) from None
            postings = self._phones.get(key)
            if postings is not None:
                matches += _blocking(postings, establishment, prisoner, key, "phone")
        if content:
            matches += self._contact_matches(content[:MAX_CONTENT], establishment, prisoner, Strength.STRONG)
        if not matches:
            return Decision(Channel.MESSAGE, "allow", self.version)
        return Decision(Channel.MESSAGE, "block", self.version, order_matches(_dedupe(matches)))

    def screen_mail(
        self, establishment: str, prisoner: str, envelope: str, content: str | None = None
    ) -> Decision:
        """allow | hold | block under the profile's mail policy."""
        prisoner = normalise_prisoner(prisoner)
        envelope = envelope[:MAX_ENVELOPE]
        envelope_text = normalise_text(envelope, self._ctx.address_format)
        matches = self._address_matches(envelope_text, establishment, prisoner, cap=None)
        if content:
            content = content[:MAX_CONTENT]
            content_text = normalise_text(content, self._ctx.address_format)
            matches += self._address_matches(content_text, establishment, prisoner, cap="hold")
            matches += self._contact_matches(content, establishment, prisoner, None)
        matches += self._contact_matches(envelope, establishment, prisoner, None)
        if not matches:
            return Decision(Channel.MAIL, "allow", self.version)
        ordered = order_matches(_dedupe(matches))
        decision = "allow"
        for match in ordered:
            if match.strength is Strength.STRONG:
                decision = "block"
                break
            if match.strength is Strength.PARTIAL:
                decision = "hold"
        return Decision(Channel.MAIL, decision, self.version, ordered)

    # ---- internals --------------------------------------------------------------------------

    def _email_matches(self, keys: email_norm.EmailKeys, establishment: str, prisoner: str) -> list[Match]:
        matches: list[Match] = []
        for key in keys.all():
            postings = self._emails.get(key)
            if postings is not None:
                matches += _blocking(postings, establishment, prisoner, key, "email")
        return matches

    def _contact_matches(
        self, text: str, establishment: str, prisoner: str, strength: Strength | None
    ) -> list[Match]:
        """Blocked numbers and emails written inside free text (evidence "contact"); strength
        None: as the mail policy decides for "contact" alone."""
        found: list[Match] = []
        for key in self._ctx.phones_for(establishment).find_in_text(text):
            postings = self._phones.get(key)
            if postings is not None:
                found += _blocking(postings, establishment, prisoner, key, "phone")
        for keys in email_norm.find_in_text(text):
            found += self._email_matches(keys, establishment, prisoner)
        if not found:
            return found
        if strength is None:
            strength = STRENGTH_OF_DECISION[self._ctx.policy.decide(_CONTACT)]
        return [Match(m.reference, m.kind, strength, m.relay, _CONTACT) for m in found]

    def _address_matches(
        self, text: object, establishment: str, prisoner: str, cap: str | None
    ) -> list[Match]:
        hits = self._addresses.scan(text, self._ctx.returns.get(establishment))  # type: ignore[arg-type]
        matches: list[Match] = []
        for address_id, evidence in hits.items():
            owner = self._owners.get(address_id)
            if owner is None:
                continue
            compiled = owner.compiled
            if compiled.scope is not None and establishment not in compiled.scope:
                continue
            if _address_exempt(compiled, owner.postcode, prisoner, text):
                continue
            decision = self._ctx.policy.decide(evidence)
            if cap == "hold" and decision == "block":
                decision = "hold"
            matches.append(
                Match(
                    compiled.reference,
                    "address",
                    STRENGTH_OF_DECISION[decision],
                    compiled.prisoner != prisoner,
                    evidence,
                )
            )
        return matches


_ABSENT = object()
# NamedTuples made without the Python-level __new__ that NamedTuple generates (screen_call's block path)
_new_tuple = tuple.__new__
_STRONG = Strength.STRONG
_CALL = Channel.CALL
_NONE: frozenset[str] = frozenset()
_RANKS = {Strength.STRONG: 0, Strength.PARTIAL: 1, Strength.WEAK: 2}
_CONTACT = frozenset({"contact"})


def _blocking(postings: Postings, establishment: str, prisoner: str, key: str, kind: str) -> list[Match]:
    matches: list[Match] = []
    for compiled in postings if isinstance(postings, tuple) else (postings,):
        if compiled.scope is not None and establishment not in compiled.scope:
            continue
        if compiled.exempt is not None and (prisoner, key) in compiled.exempt:
            continue
        matches.append(Match(compiled.reference, kind, Strength.STRONG, compiled.prisoner != prisoner))
    return matches


def _address_exempt(compiled: _Compiled, postcode: str, prisoner: str, text: object) -> bool:
    for exempt_prisoner, exempt_postcode, name in compiled.address_exemptions:
        if exempt_prisoner != prisoner or exempt_postcode != postcode:
            continue
        if name is None or name_evidence(name, text) == "full_name":  # type: ignore[arg-type]
            return True
    return False


def _dedupe(matches: list[Match]) -> list[Match]:
    best: dict[tuple[str, str], Match] = {}
    for match in matches:
        key = (match.reference, match.kind)
        current = best.get(key)
        if current is None or _RANKS[match.strength] < _RANKS[current.strength]:
            best[key] = match
    return list(best.values())


def _posting_changes(
    current: LayeredMap[str, Postings],
    gone: Iterable[_Compiled],
    added: Mapping[str, Postings],
    attr: str,
) -> dict[str, Postings | None]:
    gone_refs = {c.reference for c in gone}
    touched: set[str] = set(added)
    for compiled in gone:
        touched.update(getattr(compiled, attr))
    changes: dict[str, Postings | None] = {}
    for key in touched:
        existing = current.get(key)
        owners = [] if existing is None else list(existing if isinstance(existing, tuple) else (existing,))
        owners = [c for c in owners if c.reference not in gone_refs]
        new = added.get(key)
        if new is not None:
            owners.extend(new if isinstance(new, tuple) else (new,))
        changes[key] = None if not owners else (owners[0] if len(owners) == 1 else tuple(owners))
    return changes


MAX_STORED_COUNT = 1 << 31  # a stored row's counts are below this (stored_run sums them in C)
# rows per stored_run call: ~0.5 ms holding the GIL in C (a snapshot chunk's 4096 in one call held
# it 3.9 ms, up to 18 ms with the tables' resizes, where the Python loop let other threads in)
RUN_ROWS = 512


def python_stored_run(
    columns: Sequence[list[Any]],
    records: list[Any],
    row: int,
    end: int,
    phone_at: int,
    email_at: int,
    entry_shards: tuple[dict[str, _Compiled], ...],
    phone_shards: tuple[dict[str, Postings], ...],
    email_shards: tuple[dict[str, Postings], ...],
    compiled_type: type[_Compiled],
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
    table is looked up once per key (``setdefault``): the lookups were half of the C version's time."""
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
        compiled = new(compiled_type)  # _Compiled.__init__ without an Entry: decoded when asked for
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
            for key in keys:  # _Builder._post, but a key the row holds twice is posted once
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
        Sequence[list[Any]], list[Any], int, int, int, int, tuple[dict[str, _Compiled], ...],
        tuple[dict[str, Postings], ...], tuple[dict[str, Postings], ...], type[_Compiled],
    ],
    tuple[int, int, int, int, int],
]  # fmt: skip
_stored_run: _StoredRun
try:  # python_stored_run compiled (matcher/_speedups.c); tests/matcher/test_speedups.py holds them equal
    from matcher._speedups import stored_run as _stored_run
except ImportError:  # pragma: no cover - a build without the C extension
    _stored_run = python_stored_run


class _Builder:
    """Compiles entries into postings; shared by build and with_changes. Postings are built in
    their final form (one owner, or a tuple of them): at a million keys a list per key and a
    second pass to freeze them cost about a second."""

    def __init__(self, ctx: _Context, next_address_id: int, shards: int = SHARDS) -> None:
        # sharded: a full build runs in a worker thread of a serving process (see matcher.layered)
        self.ctx = ctx
        self.next_address_id = next_address_id
        self.entries: ShardedDict[str, _Compiled] = ShardedDict(shards)
        self.phones: ShardedDict[str, Postings] = ShardedDict(shards)
        self.emails: ShardedDict[str, Postings] = ShardedDict(shards)
        self.owners: ShardedDict[int, _AddressOwner] = ShardedDict(shards)
        self.address_items: list[tuple[int, ParsedAddress, PersonName | None]] = []
        self.counts = [0, 0, 0]  # phones, emails, addresses as given (before de-duplication)

    def add(self, entry: Entry, keys: ContactKeys | None = None) -> None:
        try:
            self._add(entry, keys)
        except ValidationError as exc:
            raise type(exc)(f"{entry.reference}: {exc.field}", exc.detail) from None

    def add_stored(self, chunk: StoredColumns) -> None:
        """Stored rows (``stored_row``) with their records, a snapshot chunk at a time. The rows
        that need no compiling go in in runs (``stored_run``: a million of them at a cold start);
        a run stops at an entry to compile whole, which goes through ``add``, in order, at a
        reference already indexed, or after RUN_ROWS rows (the build runs in a worker thread of a
        serving process: between runs the event loop can take the GIL)."""
        columns, records = chunk.columns(), chunk.records
        tables = (self.entries.shards, self.phones.shards, self.emails.shards)
        counts, size = self.counts, len(chunk)
        row = phone_at = email_at = 0
        while True:
            end = min(row + RUN_ROWS, size)
            row, phone_at, email_at, phones, emails = _stored_run(
                columns, records, row, end, phone_at, email_at, *tables, _Compiled
            )
            counts[0] += phones
            counts[1] += emails
            if row == size:
                return
            if row == end:
                continue
            if not chunk.whole[row]:
                raise ValidationError(f"{chunk.references[row]}: reference", "appears twice")
            phone_end = phone_at + chunk.phone_key_counts[row]
            email_end = email_at + chunk.email_key_counts[row]
            keys = (tuple(chunk.phone_keys[phone_at:phone_end]), tuple(chunk.email_keys[email_at:email_end]))
            self.add(Entry.from_record_json(records[row]), keys)
            row, phone_at, email_at = row + 1, phone_end, email_end

    def _post(self, compiled: _Compiled, phone_keys: tuple[str, ...], email_keys: tuple[str, ...]) -> None:
        for sharded, entry_keys in ((self.phones, phone_keys), (self.emails, email_keys)):
            shards = sharded.shards
            for key in entry_keys:
                table = shards[hash(key) % len(shards)]
                current = table.get(key)
                if current is None:
                    table[key] = compiled
                elif isinstance(current, tuple):
                    table[key] = (*current, compiled)
                else:
                    table[key] = (current, compiled)

    def _add(self, entry: Entry, keys: ContactKeys | None) -> None:
        entries = self.entries.shard(entry.reference)
        if entry.reference in entries:
            raise ValidationError("reference", "appears twice")
        ctx = self.ctx
        counts = self.counts
        phone_keys, email_keys = self._contact_keys(entry) if keys is None else keys
        addresses: list[tuple[int, ParsedAddress, PersonName | None]] = []
        for p, person in enumerate(entry.protected):
            counts[0] += len(person.phones)
            counts[1] += len(person.emails)
            if person.addresses:
                counts[2] += len(person.addresses)
                name = parse_name(person.name) if person.name else None
                for i, address in enumerate(person.addresses):
                    parsed = parse_address(
                        address.lines, address.postcode, f"protected[{p}].addresses[{i}]", ctx.address_format
                    )
                    addresses.append((self.next_address_id, parsed, name))
                    self.next_address_id += 1
        exempt, address_exemptions = self._exemptions(entry) if entry.exemptions else (None, ())
        compiled = _Compiled(
            entry,
            phone_keys,
            email_keys,
            tuple(aid for aid, _, _ in addresses) if addresses else (),
            exempt,
            address_exemptions,
        )
        entries[entry.reference] = compiled
        self._post(compiled, phone_keys, email_keys)
        owners = self.owners
        for aid, parsed, name in addresses:
            owners[aid] = _AddressOwner(compiled, parsed.postcode or "")
            self.address_items.append((aid, parsed, name))

    def _contact_keys(self, entry: Entry) -> ContactKeys:
        phones = self.ctx.phones
        phone_keys: list[str] = []
        email_keys: list[str] = []
        for p, person in enumerate(entry.protected):
            for i, raw in enumerate(person.phones):
                key = phones.blockable_key(raw, f"protected[{p}].phones[{i}]")
                if key not in phone_keys:
                    phone_keys.append(key)
            for i, raw in enumerate(person.emails):
                for key in email_norm.email_keys(raw, f"protected[{p}].emails[{i}]").all():
                    if key not in email_keys:
                        email_keys.append(key)
        return tuple(phone_keys), tuple(email_keys)

    def _exemptions(
        self, entry: Entry
    ) -> tuple[frozenset[tuple[str, str]] | None, tuple[tuple[str, str, PersonName | None], ...]]:
        ctx = self.ctx
        exempt: set[tuple[str, str]] = set()
        address_exemptions: list[tuple[str, str, PersonName | None]] = []
        for i, exemption in enumerate(entry.exemptions):
            field = f"exemptions[{i}].identifier"
            identifier = exemption.identifier
            if "@" in identifier:
                for key in email_norm.email_keys(identifier, field).all():
                    exempt.add((exemption.prisoner, key))
                continue
            postcodes = find_postcodes(identifier.upper()) if ctx.address_format == "uk" else set()
            if postcodes:
                name = parse_name(exemption.name) if exemption.name else None
                address_exemptions.extend((exemption.prisoner, pc, name) for pc in sorted(postcodes))
                continue
            try:
                exempt.add((exemption.prisoner, ctx.phones.key(identifier)))
            except InvalidNumber:
                raise ValidationError(
                    field, "must be a phone number, an email address, or a postal address with its postcode"
                ) from None
        return (frozenset(exempt) if exempt else None), tuple(address_exemptions)
