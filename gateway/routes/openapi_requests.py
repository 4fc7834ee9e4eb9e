"""OpenAPI paths of the request (case) endpoints; merged into the gateway's document."""

from __future__ import annotations

from typing import Any

from gateway.routes import openapi_rules
from gateway.routes.openapi_entries import scope
from gateway.routes.requests import SIMPLE_ACTIONS
from matcher.profile import Profile

ROLES = "casework; security bound to the establishment holding the prisoner"
ERROR = {"$ref": "#/components/schemas/Error"}
TEXT = {"type": "string", "maxLength": 5000}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    meaning = {
        400: "A field is malformed, missing or unknown (named in `field`)",
        401: "Missing or unknown bearer token",
        403: "Role or establishment forbids it",
        404: "No such request (or not visible to this token)",
        409: "Not allowed from the request's state (`allowed` lists what is), or a concurrent change",
        413: "Body larger than this endpoint's limit",
        503: "The store is unavailable",
    }
    return {str(c): {"description": meaning[c], **_json(ERROR)} for c in codes}


def _path_id() -> list[dict[str, Any]]:
    return [
        {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": "^UPC-[0-9]{4}-[0-9]{6,}$", "example": "UPC-2026-000123"},
        }
    ]


def _op(
    summary: str,
    *,
    body: dict[str, Any] | None = None,
    ok: str = "200",
    params: list[Any] | None = None,
    errors: tuple[int, ...] = (400, 401, 403, 404, 409, 413, 503),
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "description": f"Roles: {ROLES}.",
        "responses": {
            ok: {"description": "The request as the caller may see it", **_json({"type": "object"})},
            **_errors(*errors),
        },
    }
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True, **_json(body)}
    return op


def _request(profile: Profile) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["pathway", "consent", "requester", "prisoner", "protected"],
        "properties": {
            "pathway": {
                "type": "integer",
                "minimum": 1,
                "maximum": 4,
                "description": "1 victim of the offence; 2 direct request; 3 third party with consent; "
                "4 information, intelligence or risk",
            },
            "consent": {"enum": ["given", "not_given", "unknown"]},
            "rationale": {
                **TEXT,
                "type": ["string", "null"],
                "description": "Required without consent and on pathway 4",
            },
            "requester": {
                "type": "object",
                "properties": {k: {"type": "string"} for k in ("name", "organisation", "role", "contact")},
            },
            "prisoner": {
                "type": "object",
                "required": ["establishment"],
                "properties": {
                    "number": openapi_rules.prisoner(profile),
                    "name": {"type": "string"},
                    "establishment": openapi_rules.establishment(profile),
                },
            },
            "protected": {"type": "array", "items": {"$ref": "#/components/schemas/ProtectedPerson"}},
            "scope": scope(profile),
        },
    }


REASON = {"type": "object", "additionalProperties": False, "properties": {"reason": TEXT}}


def paths(profile: Profile) -> dict[str, Any]:
    listing = [
        {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
        for n in ("prisoner", "establishment", "state")
    ]
    action_names = sorted(SIMPLE_ACTIONS)
    return {
        "/v1/requests": {
            "post": _op(
                "Record a no-contact request (intake)",
                body=_request(profile),
                ok="201",
                errors=(400, 401, 403, 503),
            ),
            "get": _op(
                "Requests by prisoner, establishment or state", params=listing, errors=(400, 401, 403, 503)
            ),
        },
        "/v1/requests/overdue": {"get": _op("Requests overdue against either SLA", errors=(401, 403, 503))},
        "/v1/requests/reviews-due": {
            "get": _op("Reviews due (no-consent requests, transfers)", errors=(401, 403, 503))
        },
        "/v1/requests/{id}": {"get": _op("One request with its deadlines and history", params=_path_id())},
        "/v1/requests/{id}/notice": {
            "get": _op("The prisoner notice: the protected person's name only", params=_path_id())
        },
        "/v1/requests/{id}/live": {
            "get": _op("Whether the block is enforced on every live gateway", params=_path_id())
        },
        "/v1/requests/{id}/breaches": {
            "get": _op("Breach reports with their linked hits", params=_path_id()),
            "post": _op(
                "Report continued contact; linked to hits on the same entry and prisoner",
                ok="201",
                params=_path_id(),
                body={
                    "type": "object",
                    "required": ["channel", "description"],
                    "properties": {
                        "prisoner": {"type": "string"},
                        "channel": {"type": "string"},
                        "description": TEXT,
                        "hits": {"type": "array", "items": {"type": "string"}},
                    },
                },
            ),
        },
        "/v1/requests/{id}/exemptions": {
            "post": _op(
                "Add an exemption (legitimate contact the block would stop)",
                ok="201",
                params=_path_id(),
                body={"$ref": "#/components/schemas/Exemption"},
            ),
        },
        "/v1/requests/{id}/exemptions/{exemption}/remove": {
            "post": _op(
                "Remove an exemption",
                body=REASON,
                params=[
                    *_path_id(),
                    {
                        "name": "exemption",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^EX[0-9]+$"},
                    },
                ],
            ),
        },
        "/v1/requests/{id}/{action}": {
            "post": _op(
                "A workflow step: "
                + ", ".join(action_names)
                + " (authorise may carry prisoner_number; transfer needs establishment)",
                params=[
                    *_path_id(),
                    {"name": "action", "in": "path", "required": True, "schema": {"enum": action_names}},
                ],
                body={
                    "type": "object",
                    "properties": {
                        "reason": {**TEXT, "type": ["string", "null"]},
                        "prisoner_number": {**openapi_rules.prisoner(profile), "type": ["string", "null"]},
                        "establishment": openapi_rules.establishment(profile),
                    },
                },
            ),
        },
    }
