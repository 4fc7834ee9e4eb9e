"""The OpenAPI schemas of entries (``PUT /v1/entries/{reference}``, ``GET /v1/entries``), for
``gateway.routes.openapi``."""

from __future__ import annotations

from typing import Any

CODE = {"type": "string", "pattern": "^[A-Za-z0-9]{2,8}$"}
SCOPE = {
    "oneOf": [{"const": "all"}, {"type": "array", "minItems": 1, "items": CODE}],
    "description": "`all`, or codes the deployment knows (any other is a 400 naming `scope[i]`)",
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
ENTRY_SCHEMAS: dict[str, Any] = {
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
            "prisoner": {"type": "string", "example": "A1234BC"},
            "scope": SCOPE,
            "protected": {"type": "array", "minItems": 1, "maxItems": 20, "items": _ref("ProtectedPerson")},
            "exemptions": {"type": "array", "maxItems": 100, "items": _ref("Exemption")},
        },
    },
    "Exemption": {
        "type": "object",
        "additionalProperties": False,
        "required": ["prisoner", "identifier", "reason"],
        "properties": {
            "prisoner": {"type": "string"},
            "identifier": {"type": "string", "description": "phone, email, or an address with its postcode"},
            "reason": {"type": "string"},
            "name": {"type": "string", "description": "only letters naming this person (close relative)"},
        },
    },
}
