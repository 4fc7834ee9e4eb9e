"""OpenAPI paths of the social contacts endpoints (lists, the check before approval, removal
tasks); merged into the gateway's document."""

from __future__ import annotations

from typing import Any

from cases.contact_tasks import MAX_REASON, STATUSES
from gateway.routes import openapi_rules
from gateway.routes.openapi_requests import _errors, _json
from matcher.contacts import MAX_CONTACTS
from matcher.profile import Profile

# Filters of the task listing: any code or number of this shape (cases.model)
ESTABLISHMENT = {"type": "string", "pattern": "^[A-Za-z0-9]{2,8}$", "example": "HLI"}
PRISONER = {"type": "string", "maxLength": 40, "example": "A1234BC"}
STRINGS = {"type": "array", "maxItems": 50, "items": {"type": "string", "minLength": 1}}
CONTACT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "name"],
    "properties": {
        "id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$"},
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "relationship": {"type": ["string", "null"], "maxLength": 200},
        "phones": STRINGS,
        "emails": STRINGS,
        "addresses": {
            "type": "array",
            "maxItems": 20,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["lines", "postcode"],
                "properties": {
                    "lines": {"type": "array", "minItems": 1, "maxItems": 8, "items": {"type": "string"}},
                    "postcode": {"type": "string", "maxLength": 16},
                },
            },
        },
        "approved": {"type": "boolean", "description": "required in a list; a contact checked is proposed"},
    },
}
TASK = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "establishment": {"type": "string"},
        "prisoner": {"type": "string"},
        "contact_id": {"type": "string"},
        "reference": {"type": "string"},
        "kind": {"enum": ["phone", "email", "address"]},
        "identifier_index": {"type": "integer"},
        "strength": {"enum": ["strong", "partial"]},
        "match": {"enum": ["primary", "relay"]},
        "status": {"enum": list(STATUSES)},
        "created": {"type": "string", "format": "date-time"},
        "closed": {"type": "string", "format": "date-time"},
        "closed_by": {"type": "string"},
        "reason": {"type": "string"},
        "list_version": {
            "type": ["integer", "null"],
            "description": "the list's version the match was last seen in: a sweep closes the task as "
            "removed only if the list was written since, else as no_longer_needed",
        },
    },
}
TASK_ROLES = "contacts and security bound to the establishment, casework, admin"
LIST_ROLES = "contacts bound to the establishment, admin"


def _path(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _close(summary: str, reason_required: bool) -> dict[str, Any]:
    body = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"reason": {"type": "string", "maxLength": MAX_REASON}},
        **({"required": ["reason"]} if reason_required else {}),
    }
    return {
        "parameters": [_path("id", {"type": "string", "pattern": "^ct_", "maxLength": 64})],
        "post": {
            "summary": summary,
            "requestBody": {"required": reason_required, **_json(body)},
            "responses": {
                "200": {"description": "The task", **_json(TASK)},
                **_errors(400, 401, 403, 404, 409, 503),
            },
        },
    }


def paths(profile: Profile) -> dict[str, Any]:
    establishment, prisoner = openapi_rules.establishment(profile), openapi_rules.prisoner(profile)
    written = {
        "type": "object",
        "properties": {
            "establishment": {"type": "string"},
            "prisoner": {"type": "string"},
            "version": {"type": "integer"},
            "changed": {"type": "boolean"},
            "contacts": {"type": "integer"},
        },
    }
    match = {
        "type": "object",
        "properties": {
            "reference": {"type": "string"},
            "kind": {"enum": ["phone", "email", "address"]},
            "strength": {"enum": ["strong", "partial"]},
            "identifier_index": {"type": "integer"},
        },
    }
    return {
        "/v1/contacts/{establishment}/{prisoner}": {
            "parameters": [_path("establishment", establishment), _path("prisoner", prisoner)],
            "put": {
                "summary": f"Write a prisoner's whole social contacts list, at most {MAX_CONTACTS} contacts "
                f"(roles: {LIST_ROLES})",
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["contacts"],
                            "properties": {
                                "contacts": {"type": "array", "maxItems": MAX_CONTACTS, "items": CONTACT},
                                "establishment": establishment,
                                "prisoner": prisoner,
                            },
                        }
                    ),
                },
                "responses": {
                    "200": {"description": "Written (swept for removal tasks)", **_json(written)},
                    **_errors(400, 401, 403, 503),
                },
            },
            "get": {
                "summary": f"The stored list (roles: {LIST_ROLES})",
                "responses": {
                    "200": {"description": "The list", **_json({"type": "object"})},
                    **_errors(400, 401, 403, 404, 503),
                },
            },
            "delete": {
                "summary": f"Delete the list (roles: {LIST_ROLES})",
                "responses": {
                    "200": {"description": "Deleted", **_json({"type": "object"})},
                    **_errors(400, 401, 403, 404, 503),
                },
            },
        },
        "/v1/screen/contact": {
            "post": {
                "summary": f"Check a contact before approval (roles: {LIST_ROLES})",
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["establishment", "prisoner", "contact"],
                            "properties": {
                                "establishment": establishment,
                                "prisoner": prisoner,
                                "contact": CONTACT,
                            },
                        }
                    ),
                },
                "responses": {
                    "200": {
                        "description": "allow | hold | block, with the matches (never the identifiers)",
                        **_json(
                            {
                                "type": "object",
                                "properties": {
                                    "decision": {"enum": ["allow", "hold", "block"]},
                                    "matches": {"type": "array", "items": match},
                                    "version": {"type": "integer"},
                                    "stale": {"type": "boolean"},
                                },
                            }
                        ),
                    },
                    **_errors(400, 401, 403, 503),
                },
            }
        },
        "/v1/contact-tasks": {
            "get": {
                "summary": f"Removal tasks, oldest first (roles: {TASK_ROLES})",
                "parameters": [
                    _query("establishment", ESTABLISHMENT),
                    _query("prisoner", PRISONER),
                    _query("reference", {"type": "string"}),
                    _query("status", {"enum": list(STATUSES)}),
                    _query("cursor", {"type": "string"}),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                    _query("format", {"enum": ["json", "csv"]}),
                ],
                "responses": {
                    "200": {
                        "description": "A page of tasks and the cursor of the next (CSV with format=csv)",
                        **_json(
                            {
                                "type": "object",
                                "properties": {
                                    "tasks": {"type": "array", "items": TASK},
                                    "next": {"type": ["string", "null"]},
                                },
                            }
                        ),
                    },
                    **_errors(400, 401, 403, 503),
                },
            }
        },
        "/v1/contact-tasks/{id}/removed": _close(
            "Confirm the identifier is off the list (roles: contacts, security, casework, admin)", False
        ),
        "/v1/contact-tasks/{id}/kept": _close(
            "Keep the contact, with a reason (roles: security, admin)", True
        ),
    }
