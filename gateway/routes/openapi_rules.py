"""What the OpenAPI document takes from the running deployment, and what every operation with a
body can answer.

The establishment registry (the profile's establishments and the deployment file's) and the
profile's prison-number pattern are fixed when ``serve`` starts, so the document is built from the
loaded profile each time it is served: a code the registry lacks or a number the pattern refuses
is schema-invalid, as the server refuses it (``config.establishments``). The server also takes a
code or number in lower case or with white space around it (it strips and upper-cases them); the
document names the canonical form only.
"""

from __future__ import annotations

from typing import Any

from config import establishments
from matcher.profile import Profile

MAX_PRISONER = 32  # matcher.entries.PRISONER_RE: at most 32 characters
BODY_STATUSES = {
    "408": "The body did not arrive within the gateway's `body_timeout` (error `body_timeout`); the "
    "connection is closed",
    "413": "Body larger than this endpoint's limit (`body_too_large`), or too many items "
    "(`too_many_contacts`)",
}


def establishment(profile: Profile, *, nullable: bool = False, **extra: Any) -> dict[str, Any]:
    """A code of the deployment's registry (or null, when `nullable`)."""
    codes: list[str | None] = [*establishments.known(profile)]
    described = {
        "description": "An establishment code of this deployment's registry (the profile's and the "
        "deployment file's); any other is a 400 naming the field",
        **extra,
    }
    example = {"example": codes[0]} if codes else {}
    if nullable:
        codes.append(None)
    if not codes:  # every code is refused until the deployment file lists some
        return {"not": {}, **described}
    return {"enum": codes, **example, **described}


def prisoner(profile: Profile, **extra: Any) -> dict[str, Any]:
    """A prison number of the profile's pattern."""
    rule = profile.prisoners
    return {
        "type": "string",
        "maxLength": MAX_PRISONER,
        "pattern": f"^(?:{rule.pattern.pattern})$",
        "example": rule.example,
        "description": f"A prison number of this deployment's pattern (such as {rule.example}); "
        "any other is a 400 naming the field",
        **extra,
    }


def with_body_statuses(paths: dict[str, Any], error: dict[str, Any]) -> None:
    """Every operation with a request body answers 408 when the body is too slow
    (``gateway.validation.within_body_deadline``) and 413 when it is too large
    (``read_json``'s limit): both are documented on each, as `error` (the Error schema's
    reference)."""
    for item in paths.values():
        for operation in item.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                responses = operation["responses"]
                for status, meaning in BODY_STATUSES.items():
                    responses[status] = {
                        "description": meaning,
                        "content": {"application/json": {"schema": error}},
                    }
