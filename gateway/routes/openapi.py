"""The OpenAPI 3.1 document of API v1, served at ``/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway import validation as v
from gateway.hitlog.model import CHANNELS, OUTCOMES
from gateway.http import RUNTIME, api_handler, json_response
from gateway.routes import openapi_contacts, openapi_requests, openapi_rules, openapi_tokens
from gateway.routes.openapi_entries import ENTRY_SUMMARY, entry_schemas
from gateway.ulid import ULID_RE
from matcher.decisions import REASONS
from matcher.profile import Profile


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    meaning = {
        400: "Malformed, missing, unknown or wrongly typed field (named in `detail` and `field`)",
        401: "Missing, unknown or revoked bearer token",
        403: "Role or establishment binding forbids it",
        404: "Not found",
        409: "Conflict: the entry belongs to a request (`owned_by_request`, naming it in `request`), or the "
        "request's state does not allow the action",
        413: "Body larger than this endpoint's limit",
        415: "A scan (image, PDF or form upload) sent where its OCR text belongs: the detail names the fix",
        503: "Not ready, stale data under the `refuse` policy, or a store/hit log outage (fail safe)",
    }
    return {str(c): {"description": meaning[c], **_json(_ref("Error"))} for c in codes}


ESTABLISHMENT = {  # a filter: any code of this shape (a body's code is one of the registry's)
    "type": "string",
    "pattern": "^[A-Za-z0-9]{2,8}$",
    "example": "HLI",
}
NONBLANK = "\\S"  # at least one character that is not white space (a blank string is refused)
CONTENT = {"type": ["string", "null"], "minLength": 1, "maxLength": v.MAX_CONTENT, "pattern": NONBLANK}
REFERENCE = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$", "example": "UPC-2026-000123"}
PRISONER = {"type": "string", "maxLength": 40, "example": "A1234BC"}  # a filter, as ESTABLISHMENT
MATCH = {
    "type": "object",
    "required": ["reference", "kind", "strength"],
    "properties": {
        "reference": {"type": "string"},
        "kind": {"enum": ["phone", "email", "address"]},
        "strength": {"enum": ["strong", "partial", "weak"]},
    },
}
SCREEN_COMMON = {
    "hit_id": {"type": ["string", "null"], "description": "ULID of the hit recorded for a non-allow answer"},
    "version": {"type": "integer", "description": "Store version of the index that answered"},
    "stale": {"type": "boolean", "description": "Answered from data older than the configured limit"},
}


def _screen(
    place: dict[str, Any], required: list[str], extra: dict[str, Any], limit: int, decisions: list[str]
) -> dict[str, Any]:
    request = {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": place | extra,
    }
    answer = {
        "type": "object",
        "required": ["decision", "matches", "hit_id", "version"],
        "properties": {
            "decision": {"enum": decisions},
            "matches": {"type": "array", "items": MATCH},
            **SCREEN_COMMON,
        },
    }
    return {"request": request, "answer": answer, "limit": limit}


HIT_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": f"^{ULID_RE.pattern}$"},
}


def document(profile: Profile) -> dict[str, Any]:
    place = {
        "establishment": openapi_rules.establishment(profile),
        "prisoner": openapi_rules.prisoner(profile),
    }
    call_answer = {
        "type": "object",
        "required": ["decision", "reference", "hit_id", "version"],
        "properties": {
            "decision": {"enum": ["allow", "block"]},
            "reference": {"type": ["string", "null"]},
            **SCREEN_COMMON,
        },
    }
    mail = _screen(
        place,
        ["establishment", "prisoner", "envelope"],
        {
            "envelope": {
                "type": "string",
                "maxLength": v.MAX_ENVELOPE,
                "description": "The envelope's OCR text. Blank when OCR read nothing: the letter is held "
                "(reason `unreadable`), never allowed.",
            },
            "content": CONTENT,
        },
        v.LIMIT_MAIL,
        ["allow", "hold", "block"],
    )
    mail["request"]["properties"]["prisoner"] = {
        **place["prisoner"],
        "type": ["string", "null"],
        "description": "The sender's prison number; null when the letter does not say who sent it. An "
        "unknown sender is screened against every block in the establishment's scope, and no exemption "
        "applies: a letter an exemption would let through for some prisoner is held (reason "
        "`unknown_prisoner`). Required: leave it out and the answer is 400.",
    }
    mail["answer"]["required"].append("reason")
    mail["answer"]["properties"]["reason"] = {
        "enum": [None, *REASONS],
        "description": "Why a held letter is held, when it is for a reason of its own: "
        + "; ".join(f"`{name}`: {meaning}" for name, meaning in REASONS.items())
        + ". Null otherwise (the matches say why).",
    }
    message = _screen(
        place,
        ["establishment", "prisoner", "to"],
        {
            "to": {
                "type": "string",
                "minLength": 1,
                "maxLength": v.MAX_TO,
                "pattern": NONBLANK,
                "description": "email address or phone number",
            },
            "content": CONTENT,
        },
        v.LIMIT_MESSAGE,
        ["allow", "block"],
    )
    call_request = {
        "type": "object",
        "additionalProperties": False,
        "required": ["establishment", "prisoner", "number"],
        "properties": {
            **place,
            "number": {
                "type": "string",
                "minLength": 1,
                "maxLength": v.MAX_NUMBER,
                "pattern": NONBLANK,
                "example": "9 07700 900123",
            },
        },
    }

    def screen_op(
        summary: str, roles: str, request: dict[str, Any], answer: dict[str, Any], limit: int, *errors: int
    ) -> Any:
        return {
            "post": {
                "summary": summary,
                "description": f"Roles: {roles}. Body limit {limit} bytes. "
                "Never reveals the protected person's details.",
                "requestBody": {"required": True, **_json(request)},
                "responses": {
                    "200": {"description": "The decision", **_json(answer)},
                    **_errors(400, 401, 403, 413, *errors, 503),
                },
            }
        }

    hit_properties: dict[str, Any] = {
        "id": {"type": "string"},
        "time": {"type": "integer", "description": "ms since the epoch"},
        "establishment": {"type": "string"},
        "prisoner": {"type": "string"},
        "channel": {"enum": list(CHANNELS)},
        "decision": {"enum": ["hold", "block"]},
        "reference": {"type": "string"},
        "kind": {"type": "string"},
        "relay": {"type": "boolean"},
        "gateway": {"type": "string"},
        "version": {"type": "integer"},
        "matches": {"type": "array"},
        "stream_id": {"type": "string"},
        "review": {"type": ["object", "null"], "description": "the latest review"},
        "reviews": {"type": "integer", "description": "how many reviews (the trail)"},
    }
    hit = {"type": "object", "properties": hit_properties}
    kind_strength = "the top match's; with `reference`, the match on that reference's"
    params = [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in [
            ("establishment", ESTABLISHMENT),
            ("prisoner", PRISONER),
            ("reference", {"type": "string"}),
            ("channel", {"enum": list(CHANNELS)}),
            ("match", {"enum": ["primary", "relay"]}),
            ("kind", {"enum": ["phone", "email", "address"], "description": kind_strength}),
            ("strength", {"enum": ["strong", "partial", "weak"], "description": kind_strength}),
            ("review", {"enum": ["none", *OUTCOMES]}),
            ("since", {"type": "string", "description": "ms since the epoch or ISO 8601 with offset"}),
            ("until", {"type": "string", "description": "ms since the epoch or ISO 8601 with offset"}),
            ("cursor", {"type": "string", "description": "`next` of the previous page"}),
            ("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
        ]
    ]
    reference_param = {"name": "reference", "in": "path", "required": True, "schema": REFERENCE}
    written = {
        "type": "object",
        "properties": {
            "reference": {"type": "string"},
            "version": {"type": "integer"},
            "epoch": {"type": "string"},
        },
    }
    plain = {"200": {"description": "OK", **_json({"type": "object"})}}
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "nocontact gateway", "version": "1"},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "detail"],
                    "properties": {
                        "error": {"type": "string"},
                        "detail": {"type": "string"},
                        "field": {"type": "string"},
                    },
                },
                **entry_schemas(profile),
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/screen/call": screen_op(
                "Screen a call", "dialler, admin", call_request, call_answer, v.LIMIT_CALL
            ),
            "/v1/screen/mail": screen_op(
                "Screen a letter", "mailroom, admin", mail["request"], mail["answer"], v.LIMIT_MAIL, 415
            ),
            "/v1/screen/message": screen_op(
                "Screen a message", "messaging, admin", message["request"], message["answer"], v.LIMIT_MESSAGE
            ),
            "/v1/entries": {
                "get": {
                    "summary": "A page of entries: their shape and owner, no protected person's details "
                    "(roles: casework, admin)",
                    "parameters": [
                        {
                            "name": "cursor",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"},
                            "description": "`next` of the previous page",
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "About `limit` entries (Redis HSCAN), and the next page's cursor",
                            **_json(
                                {
                                    "type": "object",
                                    "properties": {
                                        "entries": {"type": "array", "items": ENTRY_SUMMARY},
                                        "next": {"type": ["string", "null"]},
                                    },
                                }
                            ),
                        },
                        **_errors(400, 401, 403, 503),
                    },
                }
            },
            "/v1/entries/{reference}": {
                "parameters": [reference_param],
                "get": {
                    "summary": "One entry in full, and the request that owns it (roles: casework, admin)",
                    "responses": {
                        "200": {
                            "description": "The entry; `request` is null for an entry loaded directly",
                            **_json(
                                {
                                    "type": "object",
                                    "properties": {
                                        "entry": _ref("Entry"),
                                        "request": {"type": ["string", "null"]},
                                    },
                                }
                            ),
                        },
                        **_errors(400, 401, 403, 404, 503),
                    },
                },
                "put": {
                    "summary": "Upsert an active entry (roles: casework, admin)",
                    "requestBody": {"required": True, **_json(_ref("Entry"))},
                    "responses": {
                        "200": {"description": "Written", **_json(written)},
                        **_errors(400, 401, 403, 409, 413, 503),
                    },
                },
                "delete": {
                    "summary": "Remove an entry (roles: casework, admin)",
                    "responses": {
                        "200": {"description": "Removed", **_json(written)},
                        **_errors(400, 401, 403, 404, 409, 503),
                    },
                },
            },
            **openapi_tokens.paths(profile),
            "/v1/hits": {
                "get": {
                    "summary": "Hits, newest first (roles: security, admin)",
                    "parameters": params,
                    "responses": {
                        "200": {
                            "description": "A page",
                            **_json(
                                {
                                    "type": "object",
                                    "properties": {
                                        "hits": {"type": "array", "items": hit},
                                        "next": {"type": ["string", "null"]},
                                        "total": {
                                            "type": "integer",
                                            "description": "hits the filter matches",
                                        },
                                    },
                                }
                            ),
                        },
                        **_errors(400, 401, 403, 503),
                    },
                }
            },
            "/v1/hits/{id}": {
                "get": {
                    "summary": "One hit, what was tried (evidence) and every review (roles: security, admin)",
                    "parameters": [HIT_ID],
                    "responses": {
                        "200": {
                            "description": "The hit",
                            **_json(
                                {
                                    "type": "object",
                                    "properties": {
                                        **hit_properties,
                                        "evidence": {"type": ["object", "null"]},
                                        "reviews": {"type": "array", "items": {"type": "object"}},
                                    },
                                }
                            ),
                        },
                        **_errors(400, 401, 403, 404, 503),
                    },
                }
            },
            "/v1/hits/{id}/review": {
                "post": {
                    "summary": "Review a hit (roles: security, admin)",
                    "parameters": [HIT_ID],
                    "requestBody": {
                        "required": True,
                        **_json(
                            {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["outcome"],
                                "properties": {
                                    "outcome": {"enum": list(OUTCOMES)},
                                    "note": {"type": "string", "maxLength": 2000},
                                    "escalated_to": {
                                        "type": "string",
                                        "maxLength": 64,
                                        "description": "required with outcome escalated: the user "
                                        "name of an enabled security account at the hit's "
                                        "establishment, or of an admin; stored as user:NAME",
                                    },
                                },
                            }
                        ),
                    },
                    "responses": {**plain, **_errors(400, 401, 403, 404, 503)},
                }
            },
            "/healthz": {"get": {"summary": "Alive", "security": [], "responses": plain}},
            "/readyz": {
                "get": {
                    "summary": "Matcher VALID and fresh",
                    "security": [],
                    "responses": {**plain, "503": {"description": "Not ready or stale"}},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "security": [],
                    "responses": {"200": {"description": "text exposition format"}},
                }
            },
            "/v1/openapi.json": {"get": {"summary": "This document", "security": [], "responses": plain}},
        },
    }
    doc["paths"].update(openapi_requests.paths(profile))
    doc["paths"].update(openapi_contacts.paths(profile))
    openapi_rules.with_body_statuses(doc["paths"], _ref("Error"))
    return doc


async def openapi(request: web.Request) -> web.Response:
    return json_response(document(request.app[RUNTIME].profile))


def setup(app: web.Application) -> None:
    app.router.add_get("/v1/openapi.json", api_handler(openapi))
