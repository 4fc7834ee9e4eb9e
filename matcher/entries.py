"""Entries: one authorised no-contact block (a UPC request's enforceable part), as value objects.

``Entry.from_dict`` checks structure and sizes and names the offending field; whether a phone
number, email or postcode is usable is checked when the index is built (it needs the profile).
Raw identifiers are kept as given, so an index can be rebuilt when a normaliser changes.

``to_record``/``Entry.from_record`` are a compact, JSON-friendly form of plain lists for files this
code wrote itself and has verified since (the sync snapshot file, digest-checked): ``from_record``
does not validate again, so never feed it anything else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from matcher.errors import ValidationError

REFERENCE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
PRISONER_RE = re.compile(r"[A-Z0-9][A-Z0-9/-]{0,31}")
ESTABLISHMENT_RE = re.compile(r"[A-Z0-9]{2,8}")

MAX_PROTECTED = 20
MAX_PER_KIND = 50
MAX_ADDRESSES = 20
MAX_LINES = 8
MAX_TEXT = 200
MAX_EXEMPTIONS = 100


@dataclass(frozen=True, slots=True)
class PostalAddress:
    lines: tuple[str, ...]
    postcode: str

    @classmethod
    def from_dict(cls, data: Any, path: str) -> PostalAddress:
        _mapping(data, path, {"lines", "postcode"})
        lines = _str_list(data, "lines", path, max_items=MAX_LINES, min_items=1)
        postcode = _text(data, "postcode", path, max_len=16)
        return cls(tuple(lines), postcode)

    def to_dict(self) -> dict[str, Any]:
        return {"lines": list(self.lines), "postcode": self.postcode}


@dataclass(frozen=True, slots=True)
class ProtectedPerson:
    name: str | None
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    addresses: tuple[PostalAddress, ...] = ()

    @classmethod
    def from_dict(cls, data: Any, path: str) -> ProtectedPerson:
        _mapping(data, path, {"name", "phones", "emails", "addresses"})
        name = _text(data, "name", path, required=False)
        phones, emails, addresses = identifiers_of(data, path)
        if not (phones or emails or addresses):
            raise ValidationError(path, "needs at least one phone number, email address or postal address")
        return cls(name, phones, emails, addresses)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.name is not None:
            out["name"] = self.name
        out["phones"] = list(self.phones)
        out["emails"] = list(self.emails)
        out["addresses"] = [a.to_dict() for a in self.addresses]
        return out


@dataclass(frozen=True, slots=True)
class Exemption:
    """Legitimate contact the block would otherwise stop (a shared household number, a close
    relative at a barred address): `prisoner` may contact `identifier` (a phone number, email
    address, or a postal address with its postcode); with `name`, only letters naming that person."""

    prisoner: str
    identifier: str
    reason: str
    name: str | None = None

    @classmethod
    def from_dict(cls, data: Any, path: str) -> Exemption:
        _mapping(data, path, {"prisoner", "identifier", "reason", "name"})
        return cls(
            prisoner=_prisoner(data, "prisoner", path),
            identifier=_text(data, "identifier", path, max_len=300),
            reason=_text(data, "reason", path, max_len=1000),
            name=_text(data, "name", path, required=False),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "prisoner": self.prisoner,
            "identifier": self.identifier,
            "reason": self.reason,
        }
        if self.name is not None:
            out["name"] = self.name
        return out


@dataclass(frozen=True, slots=True)
class Entry:
    """An active block. `scope` is None for every establishment, else the establishment codes."""

    reference: str
    prisoner: str
    scope: frozenset[str] | None
    protected: tuple[ProtectedPerson, ...]
    exemptions: tuple[Exemption, ...] = ()

    @classmethod
    def from_dict(cls, data: Any) -> Entry:
        _mapping(data, "", {"reference", "prisoner", "scope", "protected", "exemptions"})
        reference = data.get("reference")
        if not isinstance(reference, str) or not REFERENCE_RE.fullmatch(reference):
            raise ValidationError("reference", "required: 1-64 letters, digits and . _ : / -")
        prisoner = _prisoner(data, "prisoner", "")
        scope = _scope(data.get("scope", "all"))
        raw_protected = data.get("protected")
        if not isinstance(raw_protected, list) or not raw_protected:
            raise ValidationError("protected", "required: a non-empty list of protected people")
        if len(raw_protected) > MAX_PROTECTED:
            raise ValidationError("protected", f"at most {MAX_PROTECTED} people")
        protected = tuple(
            ProtectedPerson.from_dict(p, f"protected[{i}]") for i, p in enumerate(raw_protected)
        )
        raw_exemptions = data.get("exemptions", [])
        if not isinstance(raw_exemptions, list):
            raise ValidationError("exemptions", "must be a list")
        if len(raw_exemptions) > MAX_EXEMPTIONS:
            raise ValidationError("exemptions", f"at most {MAX_EXEMPTIONS} exemptions")
        exemptions = tuple(Exemption.from_dict(e, f"exemptions[{i}]") for i, e in enumerate(raw_exemptions))
        return cls(reference, prisoner, scope, protected, exemptions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "prisoner": self.prisoner,
            "scope": "all" if self.scope is None else sorted(self.scope),
            "protected": [p.to_dict() for p in self.protected],
            "exemptions": [e.to_dict() for e in self.exemptions],
        }

    def to_record(self) -> list[Any]:
        return [
            self.reference,
            self.prisoner,
            None if self.scope is None else sorted(self.scope),
            [
                [p.name, list(p.phones), list(p.emails), [[list(a.lines), a.postcode] for a in p.addresses]]
                for p in self.protected
            ],
            [[e.prisoner, e.identifier, e.reason, e.name] for e in self.exemptions],
        ]

    @classmethod
    def from_record(cls, record: list[Any]) -> Entry:
        """Trusted: the inverse of ``to_record`` for records this code wrote (see the module doc).
        Raises TypeError, ValueError or IndexError on a record of the wrong shape."""
        reference, prisoner, scope, protected, exemptions = record
        entry = _new(cls)
        _set_reference(entry, reference)
        _set_prisoner(entry, prisoner)
        _set_scope(entry, None if scope is None else frozenset(scope))
        _set_protected(entry, tuple([_person(*person) for person in protected]))
        _set_exemptions(entry, tuple([Exemption(*e) for e in exemptions]) if exemptions else ())
        return entry

    def record_json(self) -> bytes:
        return orjson.dumps(self.to_record())

    @classmethod
    def from_record_json(cls, raw: bytes) -> Entry:
        """Trusted, as ``from_record``."""
        return cls.from_record(orjson.loads(raw))

    @staticmethod
    def record_counts(raw: bytes) -> tuple[int, int, int, bool]:
        """A ``record_json``'s phones, emails and addresses, and whether it holds exemptions,
        without making the Entry (trusted, as ``from_record``)."""
        _reference, _prisoner, _scope, protected, exemptions = orjson.loads(raw)
        phones = emails = addresses = 0
        for _name, person_phones, person_emails, person_addresses in protected:
            phones += len(person_phones)
            emails += len(person_emails)
            addresses += len(person_addresses)
        return phones, emails, addresses, bool(exemptions)

    def applies_to(self, establishment: str) -> bool:
        return self.scope is None or establishment in self.scope

    def identifier_count(self) -> int:
        return sum(len(p.phones) + len(p.emails) + len(p.addresses) for p in self.protected)


# Entry.from_record builds every entry of a cold start: a frozen dataclass's __init__ sets each
# field through object.__setattr__, slower than the slots' own descriptors.
_new = object.__new__
_set_reference, _set_prisoner, _set_scope, _set_protected, _set_exemptions = (
    Entry.__dict__[name].__set__ for name in ("reference", "prisoner", "scope", "protected", "exemptions")
)
_set_name, _set_phones, _set_emails, _set_addresses = (
    ProtectedPerson.__dict__[name].__set__ for name in ("name", "phones", "emails", "addresses")
)


def _person(name: str | None, phones: list[str], emails: list[str], addresses: list[Any]) -> ProtectedPerson:
    person = _new(ProtectedPerson)
    _set_name(person, name)
    _set_phones(person, tuple(phones))
    _set_emails(person, tuple(emails))
    if addresses:
        _set_addresses(person, tuple([PostalAddress(tuple(lines), code) for lines, code in addresses]))
    else:
        _set_addresses(person, ())
    return person


def normalise_prisoner(value: str) -> str:
    return value.strip().upper()


def _scope(value: Any) -> frozenset[str] | None:
    if value == "all":
        return None
    if not isinstance(value, list) or not value:
        raise ValidationError("scope", 'must be "all" or a non-empty list of establishment codes')
    codes = set()
    for i, code in enumerate(value):
        if not isinstance(code, str) or not ESTABLISHMENT_RE.fullmatch(code.strip().upper()):
            raise ValidationError(f"scope[{i}]", "an establishment code is 2-8 letters or digits")
        codes.add(code.strip().upper())
    return frozenset(codes)


def _prisoner(data: Mapping[str, Any], name: str, path: str) -> str:
    where = f"{path}.{name}" if path else name
    value = data.get(name)
    if not isinstance(value, str) or not PRISONER_RE.fullmatch(normalise_prisoner(value)):
        raise ValidationError(where, "required: a prison number such as A1234BC (letters, digits, / and -)")
    return normalise_prisoner(value)


def _mapping(data: Any, path: str, allowed: set[str]) -> None:
    if not isinstance(data, Mapping):
        raise ValidationError(path or "entry", "must be an object")
    for key in data:
        if key not in allowed:
            raise ValidationError(f"{path}.{key}" if path else str(key), "unknown field")


def _text(
    data: Mapping[str, Any], name: str, path: str, *, required: bool = True, max_len: int = MAX_TEXT
) -> Any:
    where = f"{path}.{name}" if path else name
    value = data.get(name)
    if value is None:
        if required:
            raise ValidationError(where, "required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(where, "must be a non-empty string")
    if len(value) > max_len:
        raise ValidationError(where, f"at most {max_len} characters")
    return value.strip()


def _str_list(
    data: Mapping[str, Any],
    name: str,
    path: str,
    *,
    max_items: int,
    min_items: int = 0,
    max_len: int = MAX_TEXT,
) -> list[str]:
    where = f"{path}.{name}" if path else name
    value = data.get(name, [])
    if not isinstance(value, list):
        raise ValidationError(where, "must be a list of strings")
    if not min_items <= len(value) <= max_items:
        raise ValidationError(where, f"must hold {min_items}-{max_items} items")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise ValidationError(f"{where}[{i}]", "must be a non-empty string")
        if len(item) > max_len:
            raise ValidationError(f"{where}[{i}]", f"at most {max_len} characters")
        out.append(item.strip())
    return out


def identifiers_of(
    data: Mapping[str, Any], path: str
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[PostalAddress, ...]]:
    """The phones, emails and postal addresses of a person's record (a protected person or a
    prisoner's contact), each checked and named by its path when it is wrong."""
    phones = _str_list(data, "phones", path, max_items=MAX_PER_KIND, max_len=64)
    emails = _str_list(data, "emails", path, max_items=MAX_PER_KIND, max_len=254)
    raw_addresses = data.get("addresses", [])
    if not isinstance(raw_addresses, list):
        raise ValidationError(f"{path}.addresses", "must be a list of addresses")
    if len(raw_addresses) > MAX_ADDRESSES:
        raise ValidationError(f"{path}.addresses", f"at most {MAX_ADDRESSES} addresses")
    addresses = tuple(
        PostalAddress.from_dict(a, f"{path}.addresses[{i}]") for i, a in enumerate(raw_addresses)
    )
    return tuple(phones), tuple(emails), addresses
