"""A no-contact request as received: who asked, on which pathway, with what consent and rationale,
about which prisoner, to protect whom. ``Request.from_dict`` checks structure and names the field at
fault; ``check_identifiers`` then checks every phone, email and postcode against the region profile
(emergency numbers, malformed postcodes) through the matcher, with the field named in this schema.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, TypeVar

from config import establishments
from matcher.entries import (
    ESTABLISHMENT_RE,
    MAX_PROTECTED,
    PRISONER_RE,
    REFERENCE_RE,
    Entry,
    Exemption,
    ProtectedPerson,
    normalise_prisoner,
)
from matcher.errors import ValidationError
from matcher.index import check_entry
from matcher.profile import Profile

MAX_NAME = 200
MAX_CONTACT = 500
MAX_RATIONALE = 10_000
ID_RE = re.compile(r"UPC-[0-9]{4}-[0-9]{6,}")
# Stand-ins while checking identifiers before the request has an id or a known prison number.
_PENDING_REFERENCE = "UPC-0000-000000"
_UNKNOWN_PRISONER = "UNKNOWN"

E = TypeVar("E", bound=StrEnum)


class Pathway(IntEnum):
    """The four UPC assessment pathways."""

    VICTIM = 1
    """The person to be protected is a victim of the prisoner's offence."""
    DIRECT = 2
    """The person asked for no contact themselves."""
    THIRD_PARTY_WITH_CONSENT = 3
    """Someone asked on the person's behalf, with their consent."""
    NECESSARY_AND_PROPORTIONATE = 4
    """Information, intelligence or risk shows a restriction is necessary and proportionate."""


class Consent(StrEnum):
    """Whether the protected person consented to the request."""

    GIVEN = "given"
    NOT_GIVEN = "not_given"
    UNKNOWN = "unknown"


class RequesterRole(StrEnum):
    """Who made the request."""

    VICTIM = "victim"
    REPRESENTATIVE = "representative"  # on the person's behalf, with consent
    POLICE = "police"
    PROBATION = "probation"
    VICTIM_SERVICES = "victim_services"
    FRIEND_OR_FAMILY = "friend_or_family"
    PRISON = "prison"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Requester:
    name: str
    role: RequesterRole
    contact: str  # phone, email or postal address to reply to (never screened, never logged)
    organisation: str | None = None

    @classmethod
    def from_dict(cls, data: Any, path: str = "requester") -> Requester:
        _mapping(data, path, {"name", "organisation", "role", "contact"})
        return cls(
            name=_required(data, "name", path, MAX_NAME),
            role=_enum(RequesterRole, data.get("role"), f"{path}.role"),
            contact=_required(data, "contact", path, MAX_CONTACT),
            organisation=_optional(data, "organisation", path, MAX_NAME),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "organisation": self.organisation,
            "role": self.role.value,
            "contact": self.contact,
        }


@dataclass(frozen=True, slots=True)
class Prisoner:
    """`number` may be unknown at intake; it is required before the block is authorised."""

    name: str
    establishment: str
    number: str | None = None

    @classmethod
    def from_dict(cls, data: Any, path: str = "prisoner") -> Prisoner:
        _mapping(data, path, {"number", "name", "establishment"})
        number = data.get("number")
        if number is not None:
            number = prison_number(number, f"{path}.number")
        return cls(
            name=_required(data, "name", path, MAX_NAME),
            establishment=establishment_code(data.get("establishment"), f"{path}.establishment"),
            number=number,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "name": self.name, "establishment": self.establishment}


@dataclass(frozen=True, slots=True)
class Request:
    """What was asked for. Immutable: a case's later changes (establishment, exemptions) live on
    the case, never here."""

    pathway: Pathway
    consent: Consent
    rationale: str | None
    requester: Requester
    prisoner: Prisoner
    protected: tuple[ProtectedPerson, ...]
    scope: frozenset[str] | None  # None: every establishment

    FIELDS = frozenset({"pathway", "consent", "rationale", "requester", "prisoner", "protected", "scope"})

    @classmethod
    def from_dict(cls, data: Any, profile: Profile | None = None) -> Request:
        """The request as sent; with the deployment's `profile`, its establishment codes and prison
        number are checked against the registry too (``config.establishments``)."""
        _mapping(data, "", set(cls.FIELDS))
        pathway = _pathway(data.get("pathway"))
        consent = _enum(Consent, data.get("consent"), "consent")
        rationale = _optional(data, "rationale", "", MAX_RATIONALE)
        requester = Requester.from_dict(data.get("requester"))
        prisoner = Prisoner.from_dict(data.get("prisoner"))
        protected = _protected(data.get("protected"))
        scope = Entry.from_dict(
            {
                "reference": _PENDING_REFERENCE,
                "prisoner": _UNKNOWN_PRISONER,
                "scope": data.get("scope", "all"),
                "protected": [p.to_dict() for p in protected],
            }
        ).scope
        if pathway in (Pathway.DIRECT, Pathway.THIRD_PARTY_WITH_CONSENT) and consent is not Consent.GIVEN:
            kind = "made directly" if pathway is Pathway.DIRECT else "made by a third party with consent"
            raise ValidationError("consent", f'must be "given" on pathway {pathway.value} (a request {kind})')
        if consent is not Consent.GIVEN and rationale is None:
            raise ValidationError("rationale", "required: a detailed rationale when consent is not given")
        if pathway is Pathway.NECESSARY_AND_PROPORTIONATE and rationale is None:
            raise ValidationError("rationale", "required on pathway 4 (why the restriction is necessary)")
        if profile is not None:
            establishments.require(profile, prisoner.establishment, "prisoner.establishment")
            if prisoner.number is not None:
                establishments.prisoner_number(profile, prisoner.number, "prisoner.number")
            establishments.scope(profile, data.get("scope"))
        return cls(pathway, consent, rationale, requester, prisoner, protected, scope)

    @property
    def needs_review(self) -> bool:
        """A request made without the person's consent is reviewed regularly and on every transfer."""
        return self.consent is not Consent.GIVEN

    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.protected if p.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pathway": self.pathway.value,
            "consent": self.consent.value,
            "rationale": self.rationale,
            "requester": self.requester.to_dict(),
            "prisoner": self.prisoner.to_dict(),
            "protected": [p.to_dict() for p in self.protected],
            "scope": "all" if self.scope is None else sorted(self.scope),
        }


def check_identifiers(request: Request, profile: Profile, exemptions: tuple[Exemption, ...] = ()) -> None:
    """Raise ValidationError (field in this schema) if the matcher could not index the request's
    identifiers: emergency or protected numbers, malformed emails or postcodes."""
    entry = Entry(
        _PENDING_REFERENCE,
        request.prisoner.number or _UNKNOWN_PRISONER,
        request.scope,
        request.protected,
        exemptions,
    )
    try:
        check_entry(entry, profile)
    except ValidationError as exc:
        # The index names "<reference>: <field>"; the field paths are the same in both schemas.
        field = exc.field.removeprefix(f"{_PENDING_REFERENCE}: ")
        field = "prisoner.number" if field == "prisoner" else field
        raise type(exc)(field, exc.detail) from None


def prison_number(value: Any, field: str) -> str:
    if not isinstance(value, str) or not PRISONER_RE.fullmatch(normalise_prisoner(value)):
        raise ValidationError(field, "a prison number such as A1234BC (letters, digits, / and -)")
    return normalise_prisoner(value)


def establishment_code(value: Any, field: str) -> str:
    if not isinstance(value, str) or not ESTABLISHMENT_RE.fullmatch(value.strip().upper()):
        raise ValidationError(field, "required: an establishment code, 2-8 letters or digits")
    return value.strip().upper()


def case_id(value: Any, field: str = "id") -> str:
    if not isinstance(value, str) or not ID_RE.fullmatch(value) or not REFERENCE_RE.fullmatch(value):
        raise ValidationError(field, "a request id such as UPC-2026-000123")
    return value


def _protected(value: Any) -> tuple[ProtectedPerson, ...]:
    if not isinstance(value, list) or not value:
        raise ValidationError("protected", "required: a non-empty list of people not to be contacted")
    if len(value) > MAX_PROTECTED:
        raise ValidationError("protected", f"at most {MAX_PROTECTED} people")
    people = []
    for i, raw in enumerate(value):
        person = ProtectedPerson.from_dict(raw, f"protected[{i}]")
        if person.name is None:
            # The prisoner is told the person's name: there is no notice without it.
            raise ValidationError(f"protected[{i}].name", "required: the prisoner is told this name")
        people.append(person)
    return tuple(people)


def _pathway(value: Any) -> Pathway:
    if isinstance(value, bool) or not isinstance(value, int) or value not in {p.value for p in Pathway}:
        raise ValidationError(
            "pathway",
            "required: 1 (victim), 2 (direct), 3 (third party with consent) "
            "or 4 (necessary and proportionate)",
        )
    return Pathway(value)


def _enum(kind: type[E], value: Any, field: str) -> E:
    options = [m.value for m in kind]
    if not isinstance(value, str) or value not in options:
        raise ValidationError(field, f"required: one of {options}")
    return kind(value)


def _mapping(data: Any, path: str, allowed: set[str]) -> None:
    if not isinstance(data, Mapping):
        raise ValidationError(path or "request", "required: an object")
    for key in data:
        if key not in allowed:
            raise ValidationError(f"{path}.{key}" if path else str(key), "unknown field")


def _optional(data: Mapping[str, Any], name: str, path: str, max_len: int) -> str | None:
    where = f"{path}.{name}" if path else name
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(where, "must be a string")
    if len(value) > max_len:
        raise ValidationError(where, f"at most {max_len} characters")
    return value.strip() or None


def _required(data: Mapping[str, Any], name: str, path: str, max_len: int) -> str:
    value = _optional(data, name, path, max_len)
    if value is None:
        raise ValidationError(f"{path}.{name}" if path else name, "required")
    return value
