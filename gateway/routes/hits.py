"""The hit log for security staff: ``GET /v1/hits`` (filters, newest first, cursor-paginated, with
the filter's total) and ``GET /v1/hits/{id}`` (one hit, what was tried, its review trail) read the
hit index (``cases.hitindex``) built from the hits stream every gateway ships to;
``POST /v1/hits/{id}/review`` adds a review to the hit's trail. A hit appears here once its
gateway has shipped it (normally well under a second)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from aiohttp import web

from gateway import validation as v
from gateway.auth import Principal
from gateway.hitlog.model import CHANNELS, MATCHES, OUTCOMES
from gateway.hits_read import CURSOR_RE, HitFilter, Row, get_evidence, get_hit, read_page, save_review
from gateway.http import RUNTIME, api_handler, authorize, hit_index, json_response, off_loop, store_errors
from gateway.ui.users import escalation_owner
from gateway.ulid import ULID_RE
from gateway.validation import ApiError
from matcher.entries import ESTABLISHMENT_RE, PRISONER_RE, REFERENCE_RE

HIT_ROLES = frozenset({"security", "admin"})
QUERY = frozenset(
    {
        "establishment",
        "prisoner",
        "reference",
        "channel",
        "match",
        "kind",
        "strength",
        "review",
        "since",
        "until",
        "cursor",
        "limit",
    }
)
KINDS = ("phone", "email", "address")
STRENGTHS = ("strong", "partial", "weak")
REVIEW_STATES = ("none", *OUTCOMES)
REVIEW_FIELDS = frozenset({"outcome", "note", "escalated_to"})


def _time(query: dict[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    if re.fullmatch(r"[0-9]{1,15}", raw):
        return int(raw)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise v.invalid(name, "milliseconds since the epoch or an ISO 8601 time with a UTC offset") from None
    if parsed.tzinfo is None:
        raise v.invalid(name, "an ISO 8601 time needs a UTC offset (e.g. 2026-01-01T00:00:00Z)")
    return int(parsed.timestamp() * 1000)


def _filter(query: dict[str, str], principal: Principal) -> HitFilter:
    v.query_only(query, QUERY)
    values: dict[str, Any] = {}
    if "establishment" in query:
        code = query["establishment"].strip().upper()
        if not ESTABLISHMENT_RE.fullmatch(code):
            raise v.invalid("establishment", "an establishment code is 2-8 letters or digits")
        values["establishment"] = code
    if principal.establishment is not None:
        if values.get("establishment", principal.establishment) != principal.establishment:
            raise ApiError(
                403,
                "forbidden",
                f"establishment: this token is bound to {principal.establishment}",
                "establishment",
            )
        values["establishment"] = principal.establishment
    if "prisoner" in query:
        value = query["prisoner"].strip().upper()
        if not PRISONER_RE.fullmatch(value):
            raise v.invalid("prisoner", "a prison number such as A1234BC")
        values["prisoner"] = value
    if "reference" in query:
        if not REFERENCE_RE.fullmatch(query["reference"]):
            raise v.invalid("reference", "1-64 letters, digits and . _ : / -")
        values["reference"] = query["reference"]
    if "channel" in query:
        values["channel"] = v.choice(query["channel"], "channel", CHANNELS)
    if "match" in query:
        values["relay"] = v.choice(query["match"], "match", MATCHES) == "relay"
    if "kind" in query:
        values["kind"] = v.choice(query["kind"], "kind", KINDS)
    if "strength" in query:
        values["strength"] = v.choice(query["strength"], "strength", STRENGTHS)
    if "review" in query:
        values["outcome"] = v.choice(query["review"], "review", REVIEW_STATES)
    return HitFilter(**values, since_ms=_time(query, "since"), until_ms=_time(query, "until"))


async def list_hits(request: web.Request) -> web.Response:
    principal = await authorize(request, HIT_ROLES)
    query = dict(request.query)
    filt = _filter(query, principal)
    limit = v.query_int(query, "limit", 100, 1, 1000)
    cursor = query.get("cursor")
    if cursor is not None and not CURSOR_RE.fullmatch(cursor):
        raise v.invalid("cursor", "the `next` value of a previous page")
    found = await read_page(hit_index(request), filt, limit=limit, before=cursor)
    hits = [
        {**row.hit.to_dict(), "stream_id": row.stream_id, "review": row.review, "reviews": row.reviews}
        for row in found.rows
    ]
    return json_response({"hits": hits, "next": found.older_cursor, "total": found.total})


async def _visible(request: web.Request, principal: Principal) -> Row:
    hit_id = request.match_info["id"]
    if not ULID_RE.fullmatch(hit_id):
        raise v.invalid("id", "a hit id (26-character ULID)")
    row = await get_hit(hit_index(request), hit_id)
    if row is None or (
        principal.establishment is not None and row.hit.establishment != principal.establishment
    ):
        raise ApiError(404, "not_found", f"id: no hit {hit_id} in the hit log (yet)", "id")
    return row


async def one_hit(request: web.Request) -> web.Response:
    """One hit with what was tried (security and admin: the roles of this API) and every review."""
    principal = await authorize(request, HIT_ROLES)
    row = await _visible(request, principal)
    runtime = request.app[RUNTIME]
    with store_errors():
        evidence = await get_evidence(runtime.store, runtime.settings.sync.keys, row.hit.id)
    trail = await off_loop(hit_index(request).trail, row.hit.id)
    return json_response(
        {**row.hit.to_dict(), "stream_id": row.stream_id, "evidence": evidence, "reviews": trail}
    )


async def review_hit(request: web.Request) -> web.Response:
    principal = await authorize(request, HIT_ROLES)
    hit_id = request.match_info["id"]
    if not ULID_RE.fullmatch(hit_id):
        raise v.invalid("id", "a hit id (26-character ULID)")
    body = await v.read_json(request, v.LIMIT_SMALL)
    v.only(body, REVIEW_FIELDS)
    outcome = v.choice(body.get("outcome"), "outcome", tuple(OUTCOMES))
    note = v.text(body, "note", 2000, required=False)
    escalated_to = v.text(body, "escalated_to", 64, required=False)
    if escalated_to is not None and outcome != "escalated":
        raise v.invalid("escalated_to", "only an escalated review has an owner")
    if escalated_to is None and outcome == "escalated":
        raise v.invalid(
            "escalated_to", "an escalation needs an owner: the user name of a security or admin account"
        )
    row = await _visible(request, principal)
    if escalated_to is not None:
        runtime = request.app[RUNTIME]
        with store_errors():
            owner, problem = await escalation_owner(
                runtime.store, runtime.settings.sync.keys, escalated_to, [row.hit.establishment]
            )
        if owner is None:
            raise v.invalid("escalated_to", str(problem))
        escalated_to = owner
    review = await save_review(hit_index(request), row.hit.id, outcome, note, principal.id, escalated_to)
    return json_response({"id": hit_id, "review": review})


def setup(app: web.Application) -> None:
    app.router.add_get("/v1/hits", api_handler(list_hits))
    app.router.add_get("/v1/hits/{id}", api_handler(one_hit))
    app.router.add_post("/v1/hits/{id}/review", api_handler(review_hit))
