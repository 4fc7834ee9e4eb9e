"""Admin endpoints: entries (PUT/DELETE through sync's Writer, which validates against the
profile, bumps the version and appends to the change stream) and API tokens."""

from __future__ import annotations

import functools

from aiohttp import web

from config import establishments
from gateway import validation as v
from gateway.auth import ROLES, TOKEN_ID_RE, check_grant, revoke_token
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
from sync.entries import MAX_PAGE, get_entry, page_entries
from sync.errors import OwnedByRequest
from sync.replication import Replication
from sync.writer import Writer

ENTRY_ROLES = frozenset({"casework", "admin"})
TOKEN_ROLES = frozenset({"admin"})
TOKEN_FIELDS = frozenset({"role", "establishment"})


def _reference(request: web.Request) -> str:
    reference = request.match_info["reference"]
    if not REFERENCE_RE.fullmatch(reference):
        raise v.invalid("reference", "1-64 letters, digits and . _ : / -")
    return reference


def _owned_by_a_request(exc: OwnedByRequest) -> ApiError:
    """409: the reference is a request's, and its entry changes only through the request's workflow
    (a PUT or DELETE here would change the block while the request says otherwise). The writer's
    script checks this and writes in one step, so a request taking the id meanwhile is never
    overwritten."""
    owner = exc.references[0]
    return ApiError(
        409,
        "owned_by_request",
        f"reference: {owner} belongs to request {owner}; change it through the request "
        f"(/v1/requests/{owner}/...), not here",
        "reference",
        extra={"request": owner},
    )


async def get_entry_route(request: web.Request) -> web.Response:
    """One entry in full (casework and admin: they see the protected people's details) and the
    request that owns it, if one does."""
    await authorize(request, ENTRY_ROLES)
    reference = _reference(request)
    runtime = request.app[RUNTIME]
    assert runtime.store_sync is not None
    found = await off_loop(get_entry, runtime.store_sync, runtime.settings.sync.keys, reference)
    if found is None:
        raise ApiError(404, "not_found", f"reference: no entry {reference}", "reference")
    return json_response(found.to_dict())


async def list_entries(request: web.Request) -> web.Response:
    """A page of entries (their shape, not the protected people's details: ``GET
    /v1/entries/{reference}`` has those), about `limit` at a time, and the cursor of the next."""
    await authorize(request, ENTRY_ROLES)
    query = request.query
    v.query_only(query, frozenset({"cursor", "limit"}))
    cursor = v.query_int(query, "cursor", 0, 0, 10**12 - 1)
    limit = v.query_int(query, "limit", 100, 1, MAX_PAGE)
    runtime = request.app[RUNTIME]
    assert runtime.store_sync is not None
    rows, following = await off_loop(
        page_entries, runtime.store_sync, runtime.settings.sync.keys, cursor, limit
    )
    return json_response(
        {"entries": [row.summary() for row in rows], "next": str(following) if following else None}
    )


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
    except OwnedByRequest as exc:
        raise _owned_by_a_request(exc) from None
    return json_response({"reference": reference, "version": result.version, "epoch": result.epoch})


async def delete_entry(request: web.Request) -> web.Response:
    await authorize(request, ENTRY_ROLES)
    reference = _reference(request)
    runtime = request.app[RUNTIME]
    try:
        result = await off_loop(writer_for(runtime).remove, reference)
    except OwnedByRequest as exc:
        raise _owned_by_a_request(exc) from None
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


async def revoke_token_route(request: web.Request) -> web.Response:
    """Revoke a token (or a certificate's binding) by its id: every gateway stops accepting it
    within a round trip of the token-change stream (``gateway.auth.TokenCache``)."""
    await authorize(request, TOKEN_ROLES)
    token_id = request.match_info["id"]
    if not TOKEN_ID_RE.fullmatch(token_id):
        raise v.invalid("id", "a token id: 12 lower-case hex digits")
    runtime = request.app[RUNTIME]
    assert runtime.store_sync is not None
    sync = runtime.settings.sync
    replication = Replication.configured(sync)
    if not await off_loop(revoke_token, runtime.store_sync, sync.keys, token_id, replication=replication):
        raise ApiError(404, "not_found", f"id: no token {token_id}", "id")
    return json_response({"id": token_id, "revoked": True})


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
    app.router.add_get("/v1/entries", api_handler(list_entries))
    app.router.add_get("/v1/entries/{reference}", api_handler(get_entry_route))
    app.router.add_put("/v1/entries/{reference}", api_handler(put_entry))
    app.router.add_delete("/v1/entries/{reference}", api_handler(delete_entry))
    app.router.add_post("/v1/tokens", api_handler(create_token))
    # Not "self": that path is GET /v1/tokens/self, whose Allow must not offer DELETE.
    app.router.add_delete(r"/v1/tokens/{id:(?!self$)[^/]+}", api_handler(revoke_token_route))
    app.router.add_get("/v1/tokens/self", api_handler(token_self))
