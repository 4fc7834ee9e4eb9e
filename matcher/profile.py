"""Typed region profile: phone rules, mail policy and establishments. Built from plain dicts
(config/ reads the TOML files); pure, so the matcher can be built from it in tests directly."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from matcher.errors import ConfigError

EVIDENCE = frozenset(
    {
        "postcode",  # a postcode in the text reads as the address's postcode (OCR-tolerant)
        "premise",  # "NUMBER STREET" (or "FLAT/NUMBER STREET") as adjacent words
        "house_name",  # the address's house name as a phrase
        "number",  # the premise number as a word, not next to the street
        "street",  # the street as a phrase, not next to the premise number
        "flat",  # the same flat named
        "other_flat",  # a different flat at the same premise named
        "town",  # the post town named
        "any_postcode",  # the text holds at least one readable postcode (any)
        "full_name",  # the protected person's surname with a forename or initial
        "surname",  # the protected person's surname alone
        "contact",  # a blocked phone number or email address written in the text
        "no_flat",  # the address is a flat and the letter names no flat (or OCR lost its number)
        # Near evidence (matcher.near), what OCR leaves of handwriting: it may hold, never block.
        "near_postcode",  # a postcode one character away, glued to a word or read leniently
        "near_premise",  # the house number next to words near the street
        "near_house_name",  # words near the house name
        "near_town",  # words near the post town (only looked for beside other near evidence)
        "premise_unread",  # the address has a house number and the letter shows none at all
    }
)

NEAR_EVIDENCE = frozenset({"near_postcode", "near_premise", "near_house_name", "near_town", "premise_unread"})
DECISIONS = ("allow", "hold", "block")


@dataclass(frozen=True, slots=True)
class Rule:
    """A conjunction of evidence: every `required` flag present and no `absent` flag present."""

    required: frozenset[str]
    absent: frozenset[str] = frozenset()

    def holds(self, evidence: frozenset[str] | set[str]) -> bool:
        return self.required <= evidence and not (self.absent & evidence)

    @classmethod
    def parse(cls, key: str, terms: Any) -> Rule:
        if not isinstance(terms, list) or not terms or not all(isinstance(t, str) for t in terms):
            raise ConfigError(key, terms, "Expected a non-empty list of evidence names.")
        required: set[str] = set()
        absent: set[str] = set()
        for term in terms:
            name = term[1:] if term.startswith("!") else term
            if name not in EVIDENCE:
                raise ConfigError(key, term, f"Not an evidence name; one of {sorted(EVIDENCE)}.")
            (absent if term.startswith("!") else required).add(name)
        if not required:
            raise ConfigError(key, terms, "A rule needs at least one required (non-!) evidence name.")
        return cls(frozenset(required), frozenset(absent))


@dataclass(frozen=True, slots=True)
class MailPolicy:
    """Which evidence blocks a letter and which holds it for a person. First matching rule wins;
    block rules are tried before hold rules. Anything else is allow (logged when it is not empty)."""

    block: tuple[Rule, ...]
    hold: tuple[Rule, ...]

    def decide(self, evidence: frozenset[str] | set[str]) -> str:
        # plain loops: this runs for every address with evidence in every letter
        for rule in self.block:
            if rule.required <= evidence and not (rule.absent & evidence):
                return "block"
        for rule in self.hold:
            if rule.required <= evidence and not (rule.absent & evidence):
                return "hold"
        return "allow"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], key: str = "mail_policy") -> MailPolicy:
        _only(data, key, {"block", "hold"})
        rules: dict[str, tuple[Rule, ...]] = {}
        for part in ("block", "hold"):
            raw = data.get(part)
            if not isinstance(raw, list):
                raise ConfigError(f"{key}.{part}", raw, "Expected a list of rules (lists of evidence names).")
            rules[part] = tuple(Rule.parse(f"{key}.{part}[{i}]", terms) for i, terms in enumerate(raw))
        for i, rule in enumerate(rules["block"]):
            near = sorted(name for name in rule.required if name in NEAR_EVIDENCE)
            if near:
                raise ConfigError(
                    f"{key}.block[{i}]",
                    data["block"][i],
                    f"Near evidence ({', '.join(near)}) may hold, never block.",
                )
        return cls(block=rules["block"], hold=rules["hold"])


@dataclass(frozen=True, slots=True)
class PhoneRules:
    region: str
    dial_prefixes: tuple[str, ...]
    dialable_after_prefix: str
    protected_numbers: tuple[str, ...]
    min_blockable_digits: int
    cache_size: int

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], region: str, key: str = "phones") -> PhoneRules:
        _only(
            data,
            key,
            {
                "dial_prefixes",
                "dialable_after_prefix",
                "protected",
                "legal_advice",
                "min_blockable_digits",
                "cache_size",
            },
        )
        prefixes = _str_list(data, "dial_prefixes", key, default=[])
        for i, prefix in enumerate(prefixes):
            if not re.fullmatch(r"[0-9*#]{1,6}", prefix):
                raise ConfigError(f"{key}.dial_prefixes[{i}]", prefix, "Expected 1-6 digits, * or #.")
        dialable = data.get("dialable_after_prefix", r"^(\+|0)")
        if not isinstance(dialable, str):
            raise ConfigError(f"{key}.dialable_after_prefix", dialable, "Expected a regular expression.")
        try:
            re.compile(dialable)
        except re.error as exc:
            raise ConfigError(f"{key}.dialable_after_prefix", dialable, f"Not a valid regex: {exc}.") from exc
        protected = _str_list(data, "protected", key, default=[]) + _str_list(
            data, "legal_advice", key, default=[]
        )
        return cls(
            region=region,
            # longest first, so "1470" is tried before "141"
            dial_prefixes=tuple(sorted(set(prefixes), key=lambda p: (-len(p), p))),
            dialable_after_prefix=dialable,
            protected_numbers=tuple(protected),
            min_blockable_digits=_int(data, "min_blockable_digits", key, default=7, low=3, high=15),
            cache_size=_int(data, "cache_size", key, default=65536, low=0, high=10_000_000),
        )


@dataclass(frozen=True, slots=True)
class EstablishmentAddress:
    lines: tuple[str, ...]
    postcode: str


@dataclass(frozen=True, slots=True)
class Establishment:
    """A prison: its code (e.g. ``HLI``), its own dialler prefixes, and its return address,
    which mail screening ignores."""

    code: str
    name: str
    dial_prefixes: tuple[str, ...] = ()
    return_address: EstablishmentAddress | None = None

    @classmethod
    def from_dict(cls, code: str, data: Mapping[str, Any], key: str) -> Establishment:
        _only(data, key, {"name", "dial_prefixes", "return_address"})
        if not re.fullmatch(r"[A-Z0-9]{2,8}", code):
            raise ConfigError(key, code, "An establishment code is 2-8 capital letters or digits.")
        name = data.get("name", code)
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{key}.name", name, "Expected a non-empty string.")
        prefixes = _str_list(data, "dial_prefixes", key, default=[])
        for i, prefix in enumerate(prefixes):
            if not re.fullmatch(r"[0-9*#]{1,6}", prefix):
                raise ConfigError(f"{key}.dial_prefixes[{i}]", prefix, "Expected 1-6 digits, * or #.")
        ret = data.get("return_address")
        address = None
        if ret is not None:
            if not isinstance(ret, Mapping):
                raise ConfigError(f"{key}.return_address", ret, "Expected a table with lines and postcode.")
            _only(ret, f"{key}.return_address", {"lines", "postcode"})
            lines = _str_list(ret, "lines", f"{key}.return_address", default=[])
            postcode = ret.get("postcode")
            if not isinstance(postcode, str) or not postcode.strip():
                raise ConfigError(f"{key}.return_address.postcode", postcode, "Expected a postcode string.")
            address = EstablishmentAddress(tuple(lines), postcode)
        return cls(code=code, name=name, dial_prefixes=tuple(prefixes), return_address=address)


# Any prison number the request schema takes (matcher.entries.PRISONER_RE): a profile without its
# own [prisoners] pattern accepts these.
ANY_PRISONER = r"[A-Z0-9][A-Z0-9/-]{0,31}"


@dataclass(frozen=True, slots=True)
class PrisonerNumbers:
    """How the region's prisons number prisoners (England and Wales: ``A1234BC``), after
    ``matcher.entries.normalise_prisoner`` (stripped, upper case). ``config.establishments``
    checks every prison number that comes in against it."""

    pattern: re.Pattern[str]
    example: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], key: str = "prisoners") -> PrisonerNumbers:
        _only(data, key, {"pattern", "example"})
        raw = data.get("pattern", ANY_PRISONER)
        if not isinstance(raw, str) or not raw:
            raise ConfigError(f"{key}.pattern", raw, "Expected a regular expression.")
        try:
            pattern = re.compile(raw)
        except re.error as exc:
            raise ConfigError(f"{key}.pattern", raw, f"Not a regular expression: {exc}.") from None
        example = data.get("example", "A1234BC")
        if not isinstance(example, str) or not pattern.fullmatch(example):
            raise ConfigError(f"{key}.example", example, "Expected a prison number the pattern accepts.")
        return cls(pattern, example)


@dataclass(frozen=True, slots=True)
class Profile:
    """A region profile (``gb`` or ``us``) with its establishments and policies."""

    name: str
    region: str
    address_format: str
    phones: PhoneRules
    mail_policy: MailPolicy
    establishments: Mapping[str, Establishment] = field(default_factory=dict)
    prisoners: PrisonerNumbers = field(default_factory=lambda: PrisonerNumbers.from_dict({}))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        _only(
            data,
            "",
            {"name", "region", "address_format", "phones", "mail_policy", "establishments", "prisoners"},
        )
        name = data.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", name):
            raise ConfigError("name", name, "Expected a short lower-case profile name such as 'gb'.")
        region = data.get("region")
        if not isinstance(region, str) or not re.fullmatch(r"[A-Z]{2}", region):
            raise ConfigError("region", region, "Expected a two-letter region code such as 'GB'.")
        address_format = data.get("address_format")
        if address_format not in ("uk", "us"):
            raise ConfigError("address_format", address_format, "Expected 'uk' or 'us'.")
        phones = data.get("phones", {})
        if not isinstance(phones, Mapping):
            raise ConfigError("phones", phones, "Expected a table.")
        policy = data.get("mail_policy")
        if not isinstance(policy, Mapping):
            raise ConfigError("mail_policy", policy, "Expected a table with block and hold rules.")
        raw_est = data.get("establishments", {})
        if not isinstance(raw_est, Mapping):
            raise ConfigError("establishments", raw_est, "Expected a table of establishments by code.")
        establishments: dict[str, Establishment] = {}
        for code, est in raw_est.items():
            if not isinstance(est, Mapping):
                raise ConfigError(f"establishments.{code}", est, "Expected a table.")
            establishments[code] = Establishment.from_dict(code, est, f"establishments.{code}")
        prisoners = data.get("prisoners", {})
        if not isinstance(prisoners, Mapping):
            raise ConfigError("prisoners", prisoners, "Expected a table with pattern and example.")
        return cls(
            name=name,
            region=region,
            address_format=str(address_format),
            phones=PhoneRules.from_dict(phones, region),
            mail_policy=MailPolicy.from_dict(policy),
            establishments=establishments,
            prisoners=PrisonerNumbers.from_dict(prisoners),
        )


def _only(data: Mapping[str, Any], key: str, allowed: set[str]) -> None:
    for name in data:
        if name not in allowed:
            where = f"{key}.{name}" if key else str(name)
            raise ConfigError(where, data[name], f"Unknown key; expected one of {sorted(allowed)}.")


def _str_list(data: Mapping[str, Any], name: str, key: str, default: list[str]) -> list[str]:
    value = data.get(name, default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}.{name}" if key else name, value, "Expected a list of strings.")
    return list(value)


def _int(data: Mapping[str, Any], name: str, key: str, default: int, low: int, high: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{key}.{name}", value, f"Not a valid int in [{low}, {high}].")
    return value
