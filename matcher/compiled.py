"""The compiled model of a blocklist and its compiler: each entry reduced to what screening reads
(``Compiled``), the owner of each indexed address, the per-profile context (normalisers, parsed
return addresses), and ``Builder``, which compiles entries into postings for ``Index.build`` and
``Index.with_changes``. matcher/_speedups (stored_rows.c) creates ``Compiled`` objects too and
reads their slots by name."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from matcher import emails as email_norm
from matcher.addresses import ParsedAddress, parse_address
from matcher.entries import Entry
from matcher.errors import ConfigError, DuplicateReference, InvalidNumber, ValidationError
from matcher.layered import SHARDS, LayeredMap, ShardedDict
from matcher.names import PersonName, parse_name
from matcher.phones import PhoneNormaliser
from matcher.postcodes import find_postcodes
from matcher.profile import Profile

ContactKeys = tuple[tuple[str, ...], tuple[str, ...]]  # an entry's phone keys and email keys


class Compiled:
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


Postings = Compiled | tuple[Compiled, ...]


@dataclass(frozen=True, slots=True)
class AddressOwner:
    compiled: Compiled
    postcode: str


class Context:
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


_CONTEXTS: dict[int, tuple[Profile, Context]] = {}


def context_for(profile: Profile) -> Context:
    """One context per profile object: normalisers and parsed return addresses are built once."""
    cached = _CONTEXTS.get(id(profile))
    if cached is not None and cached[0] is profile:
        return cached[1]
    ctx = Context(profile)
    if len(_CONTEXTS) > 16:
        _CONTEXTS.clear()
    _CONTEXTS[id(profile)] = (profile, ctx)
    return ctx


def entry_counts(entry: Entry) -> tuple[int, int, int]:
    phones = emails = addresses = 0
    for person in entry.protected:
        phones += len(person.phones)
        emails += len(person.emails)
        addresses += len(person.addresses)
    return phones, emails, addresses


class Builder:
    """Compiles entries into postings; shared by build and with_changes. Postings are built in
    their final form (one owner, or a tuple of them), not as a list per key frozen in a second
    pass over every key."""

    def __init__(self, ctx: Context, next_address_id: int, shards: int = SHARDS) -> None:
        # sharded: a full build runs in a worker thread of a serving process (see matcher.layered)
        self.ctx = ctx
        self.next_address_id = next_address_id
        self.entries: ShardedDict[str, Compiled] = ShardedDict(shards)
        self.phones: ShardedDict[str, Postings] = ShardedDict(shards)
        self.emails: ShardedDict[str, Postings] = ShardedDict(shards)
        self.owners: ShardedDict[int, AddressOwner] = ShardedDict(shards)
        self.address_items: list[tuple[int, ParsedAddress, PersonName | None]] = []
        self.counts = [0, 0, 0]  # phones, emails, addresses as given (before de-duplication)

    def add(self, entry: Entry, keys: ContactKeys | None = None) -> None:
        try:
            self._add(entry, keys)
        except ValidationError as exc:
            raise type(exc)(f"{entry.reference}: {exc.field}", exc.detail) from None

    def _post(self, compiled: Compiled, phone_keys: tuple[str, ...], email_keys: tuple[str, ...]) -> None:
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
            raise DuplicateReference("reference", "appears twice")
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
        compiled = Compiled(
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
            owners[aid] = AddressOwner(compiled, parsed.postcode or "")
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


def posting_changes(
    current: LayeredMap[str, Postings],
    gone: Iterable[Compiled],
    added: Mapping[str, Postings],
    attr: str,
) -> dict[str, Postings | None]:
    """What ``Index.with_changes`` writes over `current` postings when the `gone` entries leave
    and the `added` postings arrive (`attr` names the entries' keys): None where no entry is left."""
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
