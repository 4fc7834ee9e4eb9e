"""A prisoner's social contacts (the prison's approved list, copied here to be checked) and the
check of one contact against the blocklist: the same index and policy as screening. Phones and
emails are looked up as a message's recipient is; each address is read as a letter's envelope
would be (the contact's name on its first line, so a name strengthens an address match and never
decides alone). Emergency, helpline and legal-advice numbers are never matched as blocked."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from matcher import emails as email_norm
from matcher.address_parse import parse_typed_address
from matcher.addresses import address_phrases
from matcher.compiled import context_for
from matcher.decisions import Strength
from matcher.entries import PostalAddress, identifiers_of
from matcher.entries import _text as field_text
from matcher.errors import InvalidNumber, ValidationError
from matcher.index import Index
from matcher.phones import PhoneNormaliser
from matcher.postcodes import canonical_postcode
from matcher.us_addresses import canonical_zip

MAX_CONTACTS = 1_000
CONTACT_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
_RANK = {Strength.STRONG: 0, Strength.PARTIAL: 1, Strength.WEAK: 2}


class TooManyContacts(ValidationError):
    """A list longer than MAX_CONTACTS (the API answers 413)."""


@dataclass(frozen=True, slots=True)
class Contact:
    id: str
    name: str
    phones: tuple[str, ...]
    emails: tuple[str, ...]
    addresses: tuple[PostalAddress, ...]
    approved: bool
    relationship: str | None = None

    @classmethod
    def from_dict(cls, data: Any, path: str = "contact") -> Contact:
        if not isinstance(data, Mapping):
            raise ValidationError(path, "must be an object")
        for key in data:
            if key not in _FIELDS:
                raise ValidationError(f"{path}.{key}", "unknown field")
        contact_id = data.get("id")
        if not isinstance(contact_id, str) or not CONTACT_ID_RE.fullmatch(contact_id):
            raise ValidationError(f"{path}.id", "required: 1-64 letters, digits and . _ : / -")
        name = field_text(data, "name", path)
        relationship = field_text(data, "relationship", path, required=False)
        approved = data.get("approved")
        if not isinstance(approved, bool):
            raise ValidationError(f"{path}.approved", "required: true or false")
        phones, emails, addresses = identifiers_of(data, path)
        return cls(contact_id, name, phones, emails, addresses, approved, relationship)

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> Contact:
        """A contact as ``to_dict`` wrote it after ``from_dict`` checked it: not checked again
        (a full sweep reads millions)."""
        return cls(
            data["id"],
            data["name"],
            tuple(data["phones"]),
            tuple(data["emails"]),
            tuple(PostalAddress(tuple(a["lines"]), a["postcode"]) for a in data["addresses"]),
            data["approved"],
            data.get("relationship"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name}
        if self.relationship is not None:
            out["relationship"] = self.relationship
        out["phones"] = list(self.phones)
        out["emails"] = list(self.emails)
        out["addresses"] = [a.to_dict() for a in self.addresses]
        out["approved"] = self.approved
        return out


_FIELDS = frozenset({"id", "name", "relationship", "phones", "emails", "addresses", "approved"})


def contacts_from_list(raw: Any, path: str = "contacts") -> tuple[Contact, ...]:
    """A list's contacts; raises TooManyContacts past MAX_CONTACTS and ValidationError naming
    ``contacts[i].field`` (ids must be unique within the list)."""
    if not isinstance(raw, list):
        raise ValidationError(path, "required: a list of contacts")
    if len(raw) > MAX_CONTACTS:
        raise TooManyContacts(path, f"at most {MAX_CONTACTS} contacts in one list, not {len(raw)}")
    contacts = tuple(Contact.from_dict(c, f"{path}[{i}]") for i, c in enumerate(raw))
    seen: set[str] = set()
    for i, contact in enumerate(contacts):
        if contact.id in seen:
            raise ValidationError(f"{path}[{i}].id", "appears twice in the list")
        seen.add(contact.id)
    return contacts


@dataclass(frozen=True, slots=True)
class ContactMatch:
    """One blocked identifier on a contact: the entry's reference, the kind of identifier and its
    position in the contact's list of that kind; never the identifier itself."""

    reference: str
    kind: str  # phone | email | address
    strength: Strength
    identifier_index: int
    relay: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "kind": self.kind,
            "strength": self.strength.value,
            "identifier_index": self.identifier_index,
        }


@dataclass(frozen=True, slots=True)
class ContactCheck:
    decision: str  # allow | hold | block
    version: int
    matches: tuple[ContactMatch, ...] = ()

    def by_reference(self) -> dict[str, ContactMatch]:
        """The strongest match per reference (a removal task is one per contact and reference)."""
        best: dict[str, ContactMatch] = {}
        for match in self.matches:
            current = best.get(match.reference)
            if current is None or _RANK[match.strength] < _RANK[current.strength]:
                best[match.reference] = match
        return best


def check_contact(index: Index, establishment: str, prisoner: str, contact: Contact) -> ContactCheck:
    """The contact's identifiers screened for `prisoner` at `establishment`: block when any is a
    strong match, hold when any is partial (an address under the mail policy), else allow."""
    found: list[ContactMatch] = []
    if contact.phones:
        phones = context_for(index.profile).phones
        for i, raw in enumerate(contact.phones):
            try:
                key = phones.key(raw)
            except InvalidNumber:
                continue  # checked at write time; a number unreadable here is not one that is blocked
            if phones.is_protected(key):
                continue  # an emergency, helpline or legal-advice number can never be blocked
            for m in index.key_matches("phone", key, establishment, prisoner):
                found.append(ContactMatch(m.reference, "phone", m.strength, i, m.relay))
    for i, raw in enumerate(contact.emails):
        try:
            keys = email_norm.email_keys(raw).all()
        except ValidationError:
            continue
        seen: set[str] = set()
        for key in keys:
            for m in index.key_matches("email", key, establishment, prisoner):
                if m.reference not in seen:
                    seen.add(m.reference)
                    found.append(ContactMatch(m.reference, "email", m.strength, i, m.relay))
    for i, address in enumerate(contact.addresses):
        envelope = "\n".join((contact.name, *address.lines, address.postcode))
        for m in index.screen_mail(establishment, prisoner, envelope, typed=True).matches:
            if m.kind == "address" and m.strength is not Strength.WEAK:
                found.append(ContactMatch(m.reference, "address", m.strength, i, m.relay))
    if not found:
        return ContactCheck("allow", index.version)
    found.sort(key=lambda m: (_RANK[m.strength], m.relay, m.reference, m.kind, m.identifier_index))
    return ContactCheck(
        "block" if found[0].strength is Strength.STRONG else "hold", index.version, tuple(found)
    )


def identifier_keys(
    phones: PhoneNormaliser, contact: Contact, path: str, address_format: str = "uk"
) -> Iterator[str]:
    """The normalised identifiers of one contact, for the identifier -> lists index: phone keys
    (E.164), both email keys, and each address's ``address_keys``, each tagged with its kind.
    Raises ValidationError naming the field of a number or email that cannot be read."""
    for i, raw in enumerate(contact.phones):
        try:
            key = phones.key(raw)
        except InvalidNumber as exc:
            raise InvalidNumber(f"{path}.phones[{i}]", exc.detail) from None
        if not phones.is_protected(key):
            yield f"p:{key}"
    for i, raw in enumerate(contact.emails):
        for key in email_norm.email_keys(raw, f"{path}.emails[{i}]").all():
            yield f"e:{key}"
    for address in contact.addresses:
        yield from address_keys(address, address_format)


def address_keys(address: PostalAddress, address_format: str) -> list[str]:
    """How a new block's sweep finds an address: its canonical postcode (``a:HU1 2AB``) and the
    phrases a letter to it holds (``ap:14 HIGH ST``, ``ap:IVY HOUSE``), parsed as the blocklist
    parses its own addresses. The check before approval finds a blocked address by either
    (``AddressIndex.scan``), so a contact whose postcode is mistyped or unreadable is still found
    by its phrase. The same function keys a contact's address and a blocked one."""
    keys: list[str] = []
    postcode = (canonical_zip if address_format == "us" else canonical_postcode)(address.postcode)
    if postcode is not None:
        keys.append(f"a:{postcode}")
    parsed = parse_typed_address(address.lines, address.postcode, address_format)
    if parsed is not None:
        keys += (f"ap:{phrase}" for phrase in address_phrases(parsed))
    return keys


def entry_identifiers(index: Index) -> set[str]:
    """The identifiers of every entry in `index` (built from the entries a change brings), in
    ``identifier_keys``' form: which lists a new block's sweep has to look at."""
    found: set[str] = set()
    address_format = index.profile.address_format
    for entry, (phone_keys, email_keys) in index.entries_with_keys():
        found.update(f"p:{key}" for key in phone_keys)
        found.update(f"e:{key}" for key in email_keys)
        for person in entry.protected:
            for address in person.addresses:
                found.update(address_keys(address, address_format))
    return found
