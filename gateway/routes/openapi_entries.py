"""The OpenAPI schemas of entries (``PUT /v1/entries/{reference}``, ``GET /v1/entries``), for
``gateway.routes.openapi``."""

from __future__ import annotations

from typing import Any

from gateway.routes import openapi_rules
from matcher.profile import Profile


def scope(profile: Profile) -> dict[str, Any]:
    return {
        "oneOf": [
            {"const": "all"},
            {"type": "array", "minItems": 1, "items": openapi_rules.establishment(profile)},
        ],
        "description": "`all`, or codes of the deployment's registry (any other is a 400 naming `scope[i]`)",
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


ENTRY_SUMMARY = {
    "type": "object",
    "properties": {
        "reference": {"type": "string"},
        "prisoner": {"type": "string"},
        "scope": {"oneOf": [{"const": "all"}, {"type": "array", "items": {"type": "string"}}]},
        "people": {"type": "integer"},
        "identifiers": {"type": "integer"},
        "exemptions": {"type": "integer"},
        "request": {
            "type": ["string", "null"],
            "description": "the request that owns it; null: loaded directly",
        },
    },
}
ADDRESS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["lines", "postcode"],
    "properties": {
        "lines": {
            "type": "array",
            "minItems": 1,
            "maxItems": 8,
            "items": {"type": "string", "maxLength": 200},
        },
        "postcode": {"type": "string", "maxLength": 16},
    },
}


def entry_schemas(profile: Profile) -> dict[str, Any]:
    """The components ``Entry``, ``ProtectedPerson`` and ``Exemption``, with the deployment's
    registry and prison-number pattern (``openapi_rules``)."""
    return {
        "ProtectedPerson": {
            "type": "object",
            "additionalProperties": False,
            "description": "At least one phone, email or address",
            "properties": {
                "name": {"type": "string", "maxLength": 200},
                "phones": {"type": "array", "maxItems": 50, "items": {"type": "string", "maxLength": 64}},
                "emails": {"type": "array", "maxItems": 50, "items": {"type": "string", "maxLength": 254}},
                "addresses": {"type": "array", "maxItems": 20, "items": ADDRESS},
            },
        },
        "Entry": {
            "type": "object",
            "additionalProperties": False,
            "required": ["reference", "prisoner", "protected"],
            "properties": {
                "reference": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$"},
                "prisoner": openapi_rules.prisoner(profile),
                "scope": scope(profile),
                "protected": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 20,
                    "items": _ref("ProtectedPerson"),
                },
                "exemptions": {"type": "array", "maxItems": 100, "items": _ref("Exemption")},
            },
        },
        "Exemption": {
            "type": "object",
            "additionalProperties": False,
            "required": ["prisoner", "identifier", "reason"],
            "properties": {
                "prisoner": openapi_rules.prisoner(profile),
                "identifier": {
                    "type": "string",
                    "description": "phone, email, or an address with its postcode",
                },
                "reason": {"type": "string"},
                "name": {"type": "string", "description": "only letters naming this person (close relative)"},
            },
        },
    }
