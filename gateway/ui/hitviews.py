"""The hit pages: the queue (filters, paging), one hit (review, escalate), the relay view and the
CSV export. Security accounts see their own establishment only; another establishment's hit is
"not found", as in the API."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

from gateway.hitlog.evidence import describe_which
from gateway.hitlog.model import CHANNELS, OUTCOMES
from gateway.hitlog.scan import STREAM_ID_RE, HitFilter, Row, get_evidence, get_hit, save_review, scan
from gateway.http import api_handler
from gateway.ui import export
from gateway.ui.hitquery import describe, filter_query, parse_filter
from gateway.ui.pages import FORM, VIEWER, error, format_ms, keys_of, page, redirect, render, store_of
from gateway.ulid import ULID_RE
from sync.keys import Keys

PAGE_SIZE = 50
EXPORT_LIMIT = 10_000
RELAY_SCAN = 50_000
MAX_NOTE = 2000
HIT_READERS = ("security", "casework", "admin")
REVIEWERS = ("security", "admin")


def _link(path: str, query: dict[str, str]) -> str:
    return f"{path}?{urlencode(query)}" if query else path


@page(*HIT_READERS)
async def queue(request: web.Request) -> web.StreamResponse:
    viewer = request[VIEWER]
    filt, problems = parse_filter(request.query, viewer)
    cursor = request.query.get("before")
    if cursor is not None and not STREAM_ID_RE.fullmatch(cursor):
        problems.append("Paging: the link to older hits is not valid; showing the newest.")
        cursor = None
    result = await scan(store_of(request), keys_of(request), filt, limit=PAGE_SIZE, cursor=cursor)
    query = filter_query(filt)
    older = _link("/ui/hits", {**query, "before": result.next_cursor}) if result.next_cursor else None
    return render(
        request,
        "hits.html",
        {
            "described": describe(filt),
            "form": {
                k: request.query.get(k, "")
                for k in ("since", "until", "channel", "match", "reviewed", "establishment", "reference")
            },
            "problems": problems,
            "rows": result.rows,
            "older": older,
            "newest": _link("/ui/hits", query) if cursor else None,
            "csv": _link("/ui/hits.csv", query),
            "channels": CHANNELS,
            "outcomes": OUTCOMES,
        },
        status=400 if problems else 200,
    )


async def _visible_hit(request: web.Request) -> Row | None:
    hit_id = request.match_info["id"]
    if not ULID_RE.fullmatch(hit_id):
        return None
    row = await get_hit(store_of(request), keys_of(request), hit_id)
    viewer = request[VIEWER]
    if row is None or (viewer.establishment is not None and row.hit.establishment != viewer.establishment):
        return None
    return row


@page(*HIT_READERS)
async def detail(request: web.Request) -> web.StreamResponse:
    viewer = request[VIEWER]
    row = await _visible_hit(request)
    if row is None:
        return error(
            request,
            404,
            "Hit not found",
            "There is no such hit in the hit log, or it is not one your account may see.",
        )
    client, keys = store_of(request), keys_of(request)
    hit = row.hit
    earlier = await scan(
        client,
        keys,
        HitFilter(establishment=viewer.establishment, reference=hit.reference),
        limit=PAGE_SIZE,
        cursor=row.stream_id,
    )
    case = await request_summary(client, keys, hit.reference)
    evidence = await get_evidence(client, keys, hit.id)
    which = describe_which(evidence.get("which") if evidence else None) or hit.kind
    return render(
        request,
        "hit.html",
        {
            "row": row,
            "hit": hit,
            "case": case,
            # The details tried go to security and admin only; every reader sees which identifier.
            "evidence": evidence if viewer.sees_attempt else None,
            "which": which,
            "earlier": earlier.rows,
            "earlier_prisoners": sorted({r.hit.prisoner for r in earlier.rows} - {hit.prisoner}),
            "outcomes": OUTCOMES,
            "reviewed_at": format_ms(row.review["time"]) if row.review else None,
            "saved": request.query.get("saved") == "1",
        },
    )


@page(*REVIEWERS)
async def review(request: web.Request) -> web.StreamResponse:
    viewer = request[VIEWER]
    form = request[FORM]
    row = await _visible_hit(request)
    if row is None:
        return error(
            request,
            404,
            "Hit not found",
            "There is no such hit in the hit log, or it is not one your account may see.",
        )
    outcome = "escalated" if form.get("action") == "escalate" else str(form.get("outcome", ""))
    note = str(form.get("note", "")).strip()
    if outcome not in OUTCOMES:
        return error(request, 400, "Review not saved", "Choose an outcome for the review.")
    if len(note) > MAX_NOTE:
        return error(request, 400, "Review not saved", f"The note is limited to {MAX_NOTE} characters.")
    if outcome == "escalated" and not note:
        return error(request, 400, "Not escalated", "Say in the note why the hit is escalated.")
    await save_review(store_of(request), keys_of(request), row.hit.id, outcome, note or None, viewer.actor_id)
    return redirect(f"/ui/hits/{row.hit.id}?saved=1")


@page(*HIT_READERS)
async def relay(request: web.Request) -> web.StreamResponse:
    """Requests hit by two or more distinct prisoners: someone asking others to make the contact."""
    viewer = request[VIEWER]
    filt, problems = parse_filter(request.query, viewer)
    result = await scan(store_of(request), keys_of(request), filt, limit=RELAY_SCAN, budget=RELAY_SCAN)
    by_ref: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    places: dict[str, set[str]] = defaultdict(set)
    for row in result.rows:
        for reference in {row.hit.reference, *(m[0] for m in row.hit.matches)}:
            by_ref[reference][row.hit.prisoner].append(row.hit.time)
            places[reference].add(row.hit.establishment)
    groups: list[dict[str, Any]] = []
    for reference, prisoners in by_ref.items():
        if len(prisoners) < 2:
            continue
        people: list[dict[str, Any]] = sorted(
            (
                {
                    "prisoner": p,
                    "count": len(ts),
                    "first": format_ms(min(ts)),
                    "last": format_ms(max(ts)),
                    "times": [format_ms(t) for t in sorted(ts, reverse=True)[:10]],
                }
                for p, ts in prisoners.items()
            ),
            key=lambda x: (-x["count"], x["prisoner"]),
        )
        latest = max(max(ts) for ts in prisoners.values())
        groups.append(
            {
                "reference": reference,
                "prisoners": people,
                "latest": latest,
                "latest_text": format_ms(latest),
                "establishments": sorted(places[reference]),
                "hits": sum(p["count"] for p in people),
            }
        )
    groups.sort(key=lambda g: (-len(g["prisoners"]), -g["latest"]))
    return render(
        request,
        "relay.html",
        {
            "groups": groups,
            "problems": problems,
            "scanned": result.scanned,
            "truncated": result.next_cursor is not None,
            "form": {k: request.query.get(k, "") for k in ("since", "until", "channel", "establishment")},
        },
        status=400 if problems else 200,
    )


@page(*REVIEWERS)
async def csv_export(request: web.Request) -> web.StreamResponse:
    viewer = request[VIEWER]
    filt, problems = parse_filter(request.query, viewer)
    if problems:
        return error(request, 400, "Export refused", " ".join(problems))
    result = await scan(
        store_of(request), keys_of(request), filt, limit=EXPORT_LIMIT, budget=10 * EXPORT_LIMIT
    )
    body = export.hits_csv(result.rows, filt, viewer.user.label, truncated=result.next_cursor is not None)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return web.Response(
        body=body.encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="nocontact-hits-{stamp}.csv"'},
    )


async def request_summary(client: Any, keys: Keys, reference: str) -> dict[str, Any] | None:
    """The case behind a reference, as much as a hit page shows: no protected or requester details.
    None when the entry was loaded directly (``PUT /v1/entries``, import) rather than by a case."""
    raw = await client.get(keys.case(reference))
    if raw is None:
        return None
    record = orjson.loads(raw)
    return {
        "id": record.get("id", reference),
        "pathway": record.get("request", {}).get("pathway"),
        "state": record.get("state"),
        "establishment": record.get("establishment"),
        "prisoner": record.get("prisoner_number"),
        "protected_count": len(record.get("request", {}).get("protected", [])),
    }


def setup(app: web.Application) -> None:
    app.router.add_get("/ui/hits", api_handler(queue))
    app.router.add_get("/ui/hits.csv", api_handler(csv_export))
    app.router.add_get("/ui/hits/{id}", api_handler(detail))
    app.router.add_post("/ui/hits/{id}/review", api_handler(review))
    app.router.add_get("/ui/relay", api_handler(relay))
