"""The hit log for security staff: ``GET /v1/hits`` (filters, newest first, cursor-paginated) reads
the Redis hits stream every gateway ships to; ``POST /v1/hits/{id}/review`` records a review.
A hit appears here once its gateway has shipped it (normally well under a second)."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web
from redis.exceptions import RedisError

from gateway import validation as v
from gateway.auth import Principal
from gateway.hits import Hit
from gateway.http import RUNTIME, api_handler, authorize, json_response
from gateway.ulid import ULID_RE
from gateway.validation import ApiError
from matcher.entries import ESTABLISHMENT_RE, PRISONER_RE, REFERENCE_RE

HIT_ROLES = frozenset({"security", "admin"})
QUERY = frozenset(
    {"establishment", "prisoner", "reference", "channel", "match", "since", "until", "cursor", "limit"}
)
CHANNELS = ("call", "mail", "message")
OUTCOMES = ("confirmed", "false_positive", "escalated", "no_action")
REVIEW_FIELDS = frozenset({"outcome", "note"})
SCAN_CHUNK = 500
SCAN_BUDGET = 20_000  # stream messages read per request at most; the cursor continues the scan
CLOCK_SKEW_MS = 300_000
STREAM_ID_RE = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")


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


def _filters(query: dict[str, str], principal: Principal) -> dict[str, Any]:
    v.query_only(query, QUERY)
    out: dict[str, Any] = {}
    if "establishment" in query:
        code = query["establishment"].strip().upper()
        if not ESTABLISHMENT_RE.fullmatch(code):
            raise v.invalid("establishment", "an establishment code is 2-8 letters or digits")
        out["establishment"] = code
    if principal.establishment is not None:
        if out.get("establishment", principal.establishment) != principal.establishment:
            raise ApiError(
                403,
                "forbidden",
                f"establishment: this token is bound to {principal.establishment}",
                "establishment",
            )
        out["establishment"] = principal.establishment
    if "prisoner" in query:
        value = query["prisoner"].strip().upper()
        if not PRISONER_RE.fullmatch(value):
            raise v.invalid("prisoner", "a prison number such as A1234BC")
        out["prisoner"] = value
    if "reference" in query:
        if not REFERENCE_RE.fullmatch(query["reference"]):
            raise v.invalid("reference", "1-64 letters, digits and . _ : / -")
        out["reference"] = query["reference"]
    if "channel" in query:
        out["channel"] = v.choice(query["channel"], "channel", CHANNELS)
    if "match" in query:
        out["relay"] = v.choice(query["match"], "match", ("primary", "relay")) == "relay"
    return out


def _wanted(hit: Hit, filters: dict[str, Any], since: int | None, until: int | None) -> bool:
    for name, value in filters.items():
        if getattr(hit, name) != value:
            return False
    if since is not None and hit.time < since:
        return False
    return until is None or hit.time < until


async def list_hits(request: web.Request) -> web.Response:
    principal = await authorize(request, HIT_ROLES)
    query = dict(request.query)
    filters = _filters(query, principal)
    since, until = _time(query, "since"), _time(query, "until")
    limit = v.query_int(query, "limit", 100, 1, 1000)
    cursor = query.get("cursor")
    if cursor is not None and not STREAM_ID_RE.fullmatch(cursor):
        raise v.invalid("cursor", "the `next` value of a previous page")
    runtime = request.app[RUNTIME]
    assert runtime.store is not None
    keys = runtime.settings.sync.keys
    found: list[tuple[str, Hit]] = []
    scanned = 0
    upper = "+" if cursor is None else f"({cursor}"
    next_cursor: str | None = None
    try:
        while len(found) < limit:
            chunk = await runtime.store.xrevrange(keys.hits, max=upper, min="-", count=SCAN_CHUNK)
            if not chunk:
                break
            done = False
            for raw_id, raw_fields in chunk:
                stream_id = raw_id.decode()
                scanned += 1
                # Shipping follows recording, so a stream id older than `since` (less clock skew)
                # cannot hold a hit recorded after it.
                if since is not None and int(stream_id.split("-")[0]) < since - CLOCK_SKEW_MS:
                    done = True
                    break
                hit = Hit.from_stream({k.decode(): val.decode() for k, val in raw_fields.items()})
                if _wanted(hit, filters, since, until):
                    found.append((stream_id, hit))
                    if len(found) == limit:
                        next_cursor = stream_id
                        done = True
                        break
                if scanned >= SCAN_BUDGET:
                    next_cursor = stream_id
                    done = True
                    break
            if done:
                break
            upper = f"({chunk[-1][0].decode()}"
        reviews = await runtime.store.hmget(keys.hit_reviews, [h.id for _, h in found]) if found else []
    except (RedisError, OSError):
        raise ApiError(503, "store_unavailable", "store: Redis cannot be reached") from None
    hits = []
    for (stream_id, hit), review in zip(found, reviews, strict=True):
        hits.append(
            {
                **hit.to_dict(),
                "stream_id": stream_id,
                "review": None if review is None else orjson.loads(review),
            }
        )
    return json_response({"hits": hits, "next": next_cursor})


async def review_hit(request: web.Request) -> web.Response:
    principal = await authorize(request, HIT_ROLES)
    hit_id = request.match_info["id"]
    if not ULID_RE.fullmatch(hit_id):
        raise v.invalid("id", "a hit id (26-character ULID)")
    body = await v.read_json(request, v.LIMIT_SMALL)
    v.only(body, REVIEW_FIELDS)
    outcome = v.choice(body.get("outcome"), "outcome", OUTCOMES)
    note = v.text(body, "note", 2000, required=False)
    runtime = request.app[RUNTIME]
    assert runtime.store is not None
    keys = runtime.settings.sync.keys
    try:
        stream_id = await runtime.store.hget(keys.hit_ids, hit_id)
        entries = await runtime.store.xrange(keys.hits, min=stream_id, max=stream_id) if stream_id else []
        if not entries:
            raise ApiError(404, "not_found", f"id: no hit {hit_id} in the hit log (yet)", "id")
        hit = Hit.from_stream({k.decode(): val.decode() for k, val in entries[0][1].items()})
        if principal.establishment is not None and hit.establishment != principal.establishment:
            raise ApiError(404, "not_found", f"id: no hit {hit_id} in the hit log (yet)", "id")
        review = {"outcome": outcome, "note": note, "by": principal.id, "time": time.time_ns() // 1_000_000}
        await runtime.store.hset(keys.hit_reviews, hit_id, orjson.dumps(review))
    except (RedisError, OSError):
        raise ApiError(
            503, "store_unavailable", "store: Redis cannot be reached; nothing was written"
        ) from None
    return json_response({"id": hit_id, "review": review})


def setup(app: web.Application) -> None:
    app.router.add_get("/v1/hits", api_handler(list_hits))
    app.router.add_post("/v1/hits/{id}/review", api_handler(review_hit))
