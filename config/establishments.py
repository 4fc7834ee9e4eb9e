"""The establishment registry and the prison-number check, both from the region profile.

The registry is the profile's ``[establishments]`` tables, which a deployment file extends
(``[establishments.CODE] name = ...``): code -> name. A code that is not in it is refused wherever
one comes in (an entry's or a request's ``scope``, a screening call, a token's or an account's
binding, a request's prisoner and transfers), so a typo (``HIL`` for ``HLI``) can never store a
block that covers no prison. Prison numbers are checked against the profile's ``[prisoners]``
pattern (England and Wales: ``A1234BC``).

Each check raises ``matcher.errors.ValidationError`` naming the field (``scope[0]``,
``establishment``, ``prisoner``, ``exemptions[2].prisoner``), which every caller reports as its 400
or as an import line's error. Codes and numbers are compared stripped and in upper case, as the
matcher stores them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from config import load_profile
from matcher.entries import ESTABLISHMENT_RE, PRISONER_RE, normalise_prisoner
from matcher.errors import ValidationError
from matcher.profile import Profile

MAX_CODE = 16  # longer than any code, so a long value is refused without being upper-cased
MAX_NUMBER = 40


def known(profile: Profile) -> list[str]:
    """The registry's codes, sorted."""
    return sorted(profile.establishments)


def name(profile: Profile, code: str) -> str:
    """The establishment's name (``HMP Hull``); the code itself when it is not in the registry."""
    found = profile.establishments.get(code)
    return found.name if found is not None else code


def _unknown(profile: Profile, code: str) -> str:
    codes = known(profile)
    if not codes:
        return (
            f"{code} is not a known establishment: none are configured "
            "(add [establishments.CODE] tables to the deployment file)"
        )
    listed = ", ".join(codes[:20]) + (", ..." if len(codes) > 20 else "")
    return f"{code} is not a known establishment (one of {listed}; a deployment file adds its own)"


def require(profile: Profile, value: Any, field: str = "establishment") -> str:
    """`value` as a registered establishment code (stripped, upper case), or ValidationError(field)."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "required: an establishment code such as HLI")
    code = value.strip().upper() if len(value) <= MAX_CODE else value
    if not ESTABLISHMENT_RE.fullmatch(code):
        raise ValidationError(field, "an establishment code is 2-8 letters or digits")
    if code not in profile.establishments:
        raise ValidationError(field, _unknown(profile, code))
    return code


def is_known(profile: Profile, value: Any) -> str | None:
    """`require` without the error: the code, or None for anything `require` refuses."""
    if type(value) is not str or len(value) > MAX_CODE:
        return None
    code = value.strip().upper()
    return code if code in profile.establishments else None


def prisoner_number(profile: Profile, value: Any, field: str = "prisoner") -> str:
    """`value` as a prison number of the profile's pattern (stripped, upper case), or
    ValidationError(field)."""
    rule = profile.prisoners
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, f"required: a prison number such as {rule.example}")
    number = normalise_prisoner(value) if len(value) <= MAX_NUMBER else value
    if not PRISONER_RE.fullmatch(number) or not rule.pattern.fullmatch(number):
        raise ValidationError(field, f"not a prison number: one such as {rule.example}")
    return number


def is_prisoner_number(profile: Profile, value: Any) -> str | None:
    """`prisoner_number` without the error: the number, or None for anything it refuses."""
    if type(value) is not str or len(value) > MAX_NUMBER:
        return None
    number = normalise_prisoner(value)
    if PRISONER_RE.fullmatch(number) is None or profile.prisoners.pattern.fullmatch(number) is None:
        return None
    return number


def scope(profile: Profile, value: Any, field: str = "scope") -> None:
    """A scope as sent: ``"all"``, or a list whose every code is registered (``scope[i]``)."""
    if isinstance(value, list):
        for i, code in enumerate(value):
            require(profile, code, f"{field}[{i}]")


def entry(profile: Profile, data: Mapping[str, Any], path: str = "") -> None:
    """An entry as sent (a PUT body, an import line) that ``Entry.from_dict`` accepted: its scope's
    codes, its prisoner and its exemptions' prisoners, each named as in the body."""
    at = f"{path}." if path else ""
    scope(profile, data.get("scope"), f"{at}scope")
    prisoner_number(profile, data.get("prisoner"), f"{at}prisoner")
    exemptions = data.get("exemptions")
    if isinstance(exemptions, list):
        for i, exemption in enumerate(exemptions):
            if isinstance(exemption, Mapping):
                prisoner_number(profile, exemption.get("prisoner"), f"{at}exemptions[{i}].prisoner")


def option(config_file: str | Path | None, value: str | None, field: str = "--establishment") -> str | None:
    """A command line's establishment option checked against the deployment's registry (the
    profile ``config_file`` names); None when not given. ValidationError or ConfigError (both
    ValueErrors) say what is wrong."""
    if value is None:
        return None
    return require(load_profile(config_file), value, field)
