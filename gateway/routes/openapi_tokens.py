"""OpenAPI paths of the API tokens (``/v1/tokens``); merged into the gateway's document."""

from __future__ import annotations

from typing import Any

from gateway.auth import ROLES
from gateway.routes import openapi_rules
from gateway.routes.openapi_requests import _errors, _json
from matcher.profile import Profile

PRINCIPAL = {  # a token as the API shows it, never the token itself
    "id": {"type": "string"},
    "role": {"type": "string"},
    "establishment": {"type": ["string", "null"]},
}


def paths(profile: Profile) -> dict[str, Any]:
    return {
        "/v1/tokens": {
            "post": {
                "summary": "Create an API token (role: admin)",
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["role"],
                            "properties": {
                                "role": {"enum": list(ROLES)},
                                "establishment": {
                                    **openapi_rules.establishment(profile, nullable=True),
                                    "description": "Screening and security tokens only; null or "
                                    "absent: not bound",
                                },
                            },
                        }
                    ),
                },
                "responses": {
                    "201": {
                        "description": "The token, shown once",
                        **_json({"type": "object", "properties": {"token": {"type": "string"}, **PRINCIPAL}}),
                    },
                    **_errors(400, 401, 403, 503),
                },
            }
        },
        "/v1/tokens/{id}": {
            "delete": {
                "summary": "Revoke a token or certificate binding by id; every gateway drops it as the "
                "revocation arrives on the token-change stream (role: admin)",
                "parameters": [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[0-9a-f]{12}$"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "Revoked",
                        **_json(
                            {
                                "type": "object",
                                "properties": {"id": {"type": "string"}, "revoked": {"const": True}},
                            }
                        ),
                    },
                    **_errors(400, 401, 403, 404, 503),
                },
            }
        },
        "/v1/tokens/self": {
            "get": {
                "summary": "The role and establishment binding of the token that asks (any role)",
                "responses": {
                    "200": {
                        "description": "Who this token is (never the token itself)",
                        **_json({"type": "object", "properties": PRINCIPAL}),
                    },
                    **_errors(401, 503),
                },
            }
        },
    }
