"""Admin endpoints: entries (PUT/DELETE through sync's Writer, which validates against the
profile, bumps the version and appends to the change stream) and API tokens."""

from __future__ import annotations

import functools

from aiohttp import web

from config import establishments
from gateway import validation as v
from gateway.auth import ROLES, check_grant
from gateway.http import (
    RUNTIME,
    STORE_DOWN,
    Runtime,
    api_handler,
    authorize,
    json_response,
    off_loop,
    store_errors,
)
from gateway.validation import ApiError
from matcher.entries import REFERENCE_RE, Entry
from matcher.errors import ValidationError
from matcher.index import check_entry
from sync.writer import Writer

ENTRY_ROLES = frozenset({"casework", "admin"})
TOKEN_ROLES = frozenset({"admin"})
TOKEN_FIELDS = frozenset({"role", "establishment"})


def _reference(request: web.Request) -> str:
    reference = request.match_info["reference"]
    if not REFERENCE_RE.fullmatch(reference):
        raise v.invalid("reference", "1-64 letters, digits and . _ : / -")
    return reference


async def put_entry(request: web.Request) -> web.Response:
    await authorize(request, ENTRY_ROLES)
    reference = _reference(request)
    body = await v.read_json(request, v.LIMIT_ENTRY)
    if body.setdefault("reference", reference) != reference:
        raise v.invalid("reference", "must equal the reference in the path")
    entry = Entry.from_dict(body)  # ValidationError names the field -> 400
    runtime = request.app[RUNTIME]
    establishments.entry(runtime.profile, body)  # scope codes registered, prison numbers well formed
    try:
        result = await off_loop(writer_for(runtime).upsert, entry)  # validate() runs check_entry first
    except ValidationError as exc:  # the index names fields "REFERENCE: path"; the URL has the reference
        raise v.invalid(exc.field.removeprefix(f"{reference}: "), exc.detail) from None
    return json_response({"reference": reference, "version": result.version, "epoch": result.epoch})


async def delete_entry(request: web.Request) -> web.Response:
    await authorize(request, ENTRY_ROLES)
    reference = _reference(request)
    runtime = request.app[RUNTIME]
    result = await off_loop(writer_for(runtime).remove, reference)
    if not result.changed:
        raise ApiError(404, "not_found", f"reference: no active entry {reference}", "reference")
    return json_response({"reference": reference, "version": result.version, "epoch": result.epoch})


async def create_token(request: web.Request) -> web.Response:
    await authorize(request, TOKEN_ROLES)
    body = await v.read_json(request, v.LIMIT_SMALL)
    v.only(body, TOKEN_FIELDS)
    role = v.choice(body.get("role"), "role", ROLES)
    establishment = None
    runtime = request.app[RUNTIME]
    if body.get("establishment") is not None:
        establishment = v.establishment(body, runtime.profile)
    problem = check_grant(role, establishment)
    if problem:
        field = problem.split(":", 1)[0]
        raise ApiError(400, "invalid_field", problem, field)
    assert runtime.tokens is not None
    with store_errors(f"{STORE_DOWN}; no token was created"):
        token, principal = await runtime.tokens.create(role, establishment)
    return json_response({"token": token, **principal.to_dict()}, status=201)


async def token_self(request: web.Request) -> web.Response:
    """Who the asking token is: `nocontact mailroom` takes its establishment from the binding."""
    principal = await authorize(request, frozenset(ROLES))
    return json_response(principal.to_dict())


def writer_for(runtime: Runtime) -> Writer:
    if runtime.writer is None:
        assert runtime.store_sync is not None
        runtime.writer = Writer.configured(
            runtime.store_sync,
            runtime.settings.sync,
            validate=functools.partial(check_entry, profile=runtime.profile),
        )
    return runtime.writer


def setup(app: web.Application) -> None:
    app.router.add_put("/v1/entries/{reference}", api_handler(put_entry))
    app.router.add_delete("/v1/entries/{reference}", api_handler(delete_entry))
    app.router.add_post("/v1/tokens", api_handler(create_token))
    app.router.add_get("/v1/tokens/self", api_handler(token_self))
