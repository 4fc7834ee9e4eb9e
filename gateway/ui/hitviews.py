"""The hit pages: the queue (search and filters, totals, paging, jump to a date, bulk review), one
hit (what was tried, the review trail, review and escalation), "next unreviewed", a prisoner's
page, the relay analysis and the CSV export. Every read goes to the hit index (``cases.hitindex``)
off the event loop. Security accounts see their own establishment only; another establishment's
hit is "not found", as in the API."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import orjson
from aiohttp import web

from cases.codec import case_from_record
from cases.hitindex import HitIndex
from cases.hitrecords import RelayPage
from cases.store import visible
from cases.workflow import Actor
from gateway.hitlog.evidence import describe_which
from gateway.hitlog.model import CHANNELS, OUTCOMES
from gateway.hits_read import (
    CURSOR_RE,
    HitFilter,
    Row,
    get_evidence,
    get_hit,
    read_page,
    row_of,
    save_review,
)
from gateway.http import api_handler, hit_index, off_loop
from gateway.ui import export
from gateway.ui.hitquery import (
    FIELDS,
    KINDS,
    REVIEW_STATES,
    STRENGTHS,
    day_ms,
    describe,
    filter_query,
    local_day,
    parse_filter,
)
from gateway.ui.pages import (
    FORM,
    VIEWER,
    Viewer,
    error,
    format_ms,
    keys_of,
    page,
    redirect,
    render,
    render_off,
    store_of,
    zone_of,
)
from gateway.ui.users import escalation_owner
from gateway.ulid import ULID_RE
from matcher.entries import PRISONER_RE
from sync.keys import Keys

PAGE_SIZE = 50
EXPORT_LIMIT = 10_000
RELAY_DAYS = 30  # the relay analysis's default window
RELAY_PAGE = 20  # references per relay page
MAX_NOTE = 2000
MAX_BULK = 200
HIT_READERS = ("security", "casework", "admin")
REVIEWERS = ("security", "admin")
NOT_FOUND = "There is no such hit in the hit log, or it is not one your account may see."
RELAY_RULE = (
    "A request is listed when two or more different prisoners made an attempt on it that matched "
    "strongly (block-level evidence: the whole number or email, or a letter's postcode with its "
    "house number and street or house name). Partial and weak matches, such as a letter to another "
    "house in the same postcode, are never counted as an attempt on the request."
)


def _link(path: str, query: dict[str, str]) -> str:
    return f"{path}?{urlencode(query)}" if query else path


def _form(request: web.Request) -> dict[str, str]:
    return {k: request.query.get(k, "") for k in FIELDS}


def _choices() -> dict[str, Any]:
    return {
        "channels": CHANNELS,
        "kinds": KINDS,
        "strengths": STRENGTHS,
        "review_states": REVIEW_STATES,
        "outcomes": OUTCOMES,
    }


@page(*HIT_READERS)
async def queue(request: web.Request) -> web.StreamResponse:
    viewer = request[VIEWER]
    tz = zone_of(request)
    filt, problems = parse_filter(request.query, viewer, tz)
    before = request.query.get("before") or None
    after = request.query.get("after") or None
    jump = request.query.get("jump", "").strip()
    if jump:
        try:
            before = f"{day_ms(dt.date.fromisoformat(jump) + dt.timedelta(days=1), tz)}.0"
        except ValueError:
            problems.append("Jump to date: a date such as 2026-03-02.")
    if any(v is not None and not CURSOR_RE.fullmatch(v) for v in (before, after)):
        problems.append("Paging: the link to older or newer hits is not valid; showing the newest.")
        before = after = None
    oldest = request.query.get("oldest") == "1" and before is None and after is None
    index = hit_index(request)
    found = await read_page(index, filt, limit=PAGE_SIZE, before=before, after=after, oldest=oldest)
    unreviewed = await off_loop(index.count, HitFilter(**{**_as_dict(filt), "reviewed": False}))
    query = filter_query(filt, tz)
    first = found.newer + 1 if found.rows else 0
    return await render_off(
        request,
        "hits.html",
        {
            "described": describe(filt, tz),
            "form": _form(request),
            "problems": problems,
            "rows": found.rows,
            "total": found.total,
            "unreviewed": unreviewed,
            "first": first,
            "last": found.newer + len(found.rows),
            "page_no": found.newer // PAGE_SIZE + 1 if found.rows else 0,
            "pages": max((found.total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
            "older": _link("/ui/hits", {**query, "before": found.older_cursor})
            if found.older_cursor
            else None,
            "newer": _link("/ui/hits", {**query, "after": found.newer_cursor})
            if found.newer_cursor
            else None,
            "newest": _link("/ui/hits", query) if found.newer_cursor else None,
            "oldest": _link("/ui/hits", {**query, "oldest": "1"}) if found.older_cursor else None,
            "query": query,
            "next_unreviewed": _link("/ui/hits/next-unreviewed", query),
            "csv": _link("/ui/hits.csv", query),
            "back": request.path_qs,
            **_choices(),
        },
        status=400 if problems else 200,
    )


def _as_dict(filt: HitFilter) -> dict[str, Any]:
    return {name: getattr(filt, name) for name in HitFilter.__dataclass_fields__}


async def _visible_hit(request: web.Request, hit_id: str) -> Row | None:
    if not ULID_RE.fullmatch(hit_id):
        return None
    row = await get_hit(hit_index(request), hit_id)
    viewer = request[VIEWER]
    if row is None or (viewer.establishment is not None and row.hit.establishment != viewer.establishment):
        return None
    return row


def _not_found(request: web.Request) -> web.Response:
    return error(request, 404, "Hit not found", NOT_FOUND)


@page(*HIT_READERS)
async def detail(request: web.Request) -> web.StreamResponse:
    viewer = request[VIEWER]
    row = await _visible_hit(request, request.match_info["id"])
    if row is None:
        return _not_found(request)
    client, keys = store_of(request), keys_of(request)
    index = hit_index(request)
    hit = row.hit
    earlier = await read_page(
        index,
        HitFilter(establishment=viewer.establishment, reference=hit.reference),
        limit=PAGE_SIZE,
        before=row.cursor,
    )
    # As the relay analysis counts them: prisoners with a strong match on this request (a letter
    # to the house next door, partial on it, is no attempt on it).
    strong = HitFilter(establishment=viewer.establishment, reference=hit.reference, strength="strong")
    tried = await off_loop(index.counts, strong, "prisoner")
    case = await request_summary(client, keys, hit.reference, viewer)
    evidence = await get_evidence(client, keys, hit.id)
    trail = await off_loop(index.trail, hit.id)
    current = trail[-1] if trail else None
    return await render_off(
        request,
        "hit.html",
        {
            "row": row,
            "hit": hit,
            "case": case,
            # The details tried go to security and admin only; every reader sees which identifier.
            "evidence": evidence if viewer.sees_attempt else None,
            "which": describe_which(evidence.get("which") if evidence else None) or hit.kind,
            "earlier": [(r, _strength_on(r, hit.reference)) for r in earlier.rows],
            "earlier_total": earlier.total,
            "other_prisoners": sorted(p for p, _ in tried if p != hit.prisoner),
            "outcomes": OUTCOMES,
            "trail": trail,
            "current": current,
            "saved": request.query.get("saved") == "1",
            "next_unreviewed": _link("/ui/hits/next-unreviewed", {"after_hit": hit.id}),
        },
    )


def _strength_on(row: Row, reference: str) -> str:
    """How strongly `row`'s hit matched `reference` (not necessarily the request it is filed under)."""
    return next((m[2] for m in row.hit.matches if m[0] == reference), row.hit.strength)


@page(*HIT_READERS)
async def next_unreviewed(request: web.Request) -> web.StreamResponse:
    """The newest unreviewed hit under the filter, older than `after_hit` when given."""
    viewer = request[VIEWER]
    filt, _ = parse_filter(request.query, viewer, zone_of(request))
    before = None
    after_hit = request.query.get("after_hit", "")
    if after_hit:
        row = await _visible_hit(request, after_hit)
        before = row.cursor if row is not None else None
    found = await off_loop(hit_index(request).next_unreviewed, filt, before)
    if found is None:
        return render(
            request,
            "error.html",
            {"title": "Nothing to review", "detail": "Every hit under this filter has been reviewed."},
        )
    return redirect(f"/ui/hits/{found}")


def _review_form(form: Any, viewer_name: str) -> tuple[str, str | None, str | None, str | None]:
    """(outcome, note, the owner's user name when escalated, problem) from a review form."""
    escalate = form.get("action") == "escalate"
    outcome = "escalated" if escalate else str(form.get("outcome", ""))
    note = str(form.get("note", "")).strip()
    owner = str(form.get("escalate_to", "")).strip().lower()
    if outcome not in OUTCOMES:
        return outcome, None, None, "Choose an outcome for the review."
    if len(note) > MAX_NOTE:
        return outcome, None, None, f"The note is limited to {MAX_NOTE} characters."
    if outcome == "escalated" and not note:
        return outcome, None, None, "Say in the note why the hit is escalated."
    return outcome, note or None, (owner or viewer_name) if outcome == "escalated" else None, None


async def _owner(request: web.Request, name: str | None, rows: list[Row]) -> tuple[str | None, str | None]:
    """(``user:NAME``, None) for an escalation's owner who can see every one of `rows`, (None,
    None) when not escalated, or (None, the form's error)."""
    if name is None:
        return None, None
    places = [r.hit.establishment for r in rows]
    owner, problem = await escalation_owner(store_of(request), keys_of(request), name, places)
    return owner, None if owner is not None else f"Escalate to: {problem}."


@page(*REVIEWERS)
async def review(request: web.Request) -> web.StreamResponse:
    row = await _visible_hit(request, request.match_info["id"])
    if row is None:
        return _not_found(request)
    viewer = request[VIEWER]
    outcome, note, name, problem = _review_form(request[FORM], viewer.user.username)
    owner = None
    if problem is None:
        owner, problem = await _owner(request, name, [row])
    if problem is not None:
        title = "Not escalated" if outcome == "escalated" else "Review not saved"
        return error(request, 400, title, problem)
    await save_review(hit_index(request), row.hit.id, outcome, note, viewer.actor_id, owner)
    return redirect(f"/ui/hits/{row.hit.id}?saved=1")


@page(*REVIEWERS)
async def bulk_review(request: web.Request) -> web.StreamResponse:
    """One review for every hit ticked on the queue (each keeps its own trail)."""
    viewer, form = request[VIEWER], request[FORM]
    ids = [str(i) for i in form.getall("hit", [])]
    if not ids:
        return error(request, 400, "Review not saved", "Tick the hits to review first.")
    if len(ids) > MAX_BULK:
        return error(request, 400, "Review not saved", f"At most {MAX_BULK} hits at once.")
    outcome, note, name, problem = _review_form(form, viewer.user.username)
    if problem is not None:
        return error(request, 400, "Review not saved", problem)
    found = [await _visible_hit(request, hit_id) for hit_id in ids]
    rows = [r for r in found if r is not None]
    if len(rows) < len(found):
        return _not_found(request)
    owner, problem = await _owner(request, name, rows)
    if problem is not None:
        return error(request, 400, "Review not saved", problem)
    for r in rows:
        await save_review(hit_index(request), r.hit.id, outcome, note, viewer.actor_id, owner)
    back = str(form.get("back", "/ui/hits"))
    if not back.startswith("/ui/hits") or "\\" in back or "//" in back:
        back = "/ui/hits"
    sep = "&" if "?" in back else "?"
    return redirect(f"{back}{sep}reviewed_n={len(rows)}")


@page(*HIT_READERS)
async def prisoner_page(request: web.Request) -> web.StreamResponse:
    """Everything one prisoner tried: which requests (victims), which channels, over time."""
    viewer = request[VIEWER]
    tz = zone_of(request)
    number = request.match_info["number"].strip().upper()
    if not PRISONER_RE.fullmatch(number):
        return error(request, 404, "Prisoner not found", "A prison number looks like A1234BC.")
    filt = HitFilter(establishment=viewer.establishment, prisoner=number)
    index = hit_index(request)
    recent = await read_page(index, filt, limit=PAGE_SIZE)
    requests = await off_loop(index.counts, filt, "reference")
    channels = await off_loop(index.counts, filt, "channel")
    places = await off_loop(index.counts, filt, "establishment")
    months = await off_loop(_months, index, filt, tz)
    return await render_off(
        request,
        "prisoner.html",
        {
            "number": number,
            "total": recent.total,
            "rows": recent.rows,
            "requests": requests,
            "channels": channels,
            "places": places,
            "months": months,
            "channel_names": CHANNELS,
            "all_hits": _link("/ui/hits", {"prisoner": number}),
            "outcomes": OUTCOMES,
        },
    )


def _months(index: HitIndex, filt: HitFilter, tz: ZoneInfo) -> list[tuple[str, dict[str, int]]]:
    """Hits per local month and channel, newest month first (in a worker thread)."""
    months: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(CHANNELS, 0))
    for hour_ms, channel, n in index.per_hour(filt):
        months[local_day(hour_ms, tz).strftime("%Y-%m")][channel] += n
    return sorted(months.items(), reverse=True)


@page(*HIT_READERS)
async def relay(request: web.Request) -> web.StreamResponse:
    """Requests tried by two or more prisoners with strong matches: someone asking others to make
    the contact. Summary first (reference -> prisoners -> attempts), paged by reference."""
    viewer = request[VIEWER]
    tz = zone_of(request)
    filt, problems = parse_filter(request.query, viewer, tz)
    defaulted = filt.since_ms is None and filt.until_ms is None
    if defaulted:
        today = local_day(int(dt.datetime.now(dt.UTC).timestamp() * 1000), tz)
        filt = HitFilter(
            **{**_as_dict(filt), "since_ms": day_ms(today - dt.timedelta(days=RELAY_DAYS - 1), tz)}
        )
    try:
        page_no = max(int(request.query.get("page", "1")), 1)
    except ValueError:
        page_no = 1
        problems.append("Page: a whole number.")
    found, shown, page_no, pages = await off_loop(_relay_page, hit_index(request), filt, page_no, tz)
    query = filter_query(filt, tz)
    return await render_off(
        request,
        "relay.html",
        {
            "groups": shown,
            "group_count": found.total_groups,
            "prisoner_count": found.prisoners,
            "attempts": found.attempts,
            "page_no": page_no,
            "pages": pages,
            "prev": _link("/ui/relay", {**query, "page": str(page_no - 1)}) if page_no > 1 else None,
            "next": _link("/ui/relay", {**query, "page": str(page_no + 1)}) if page_no < pages else None,
            "rule": RELAY_RULE,
            "defaulted": defaulted,
            "relay_days": RELAY_DAYS,
            "described": describe(filt, tz),
            "problems": problems,
            "form": {**_form(request), **{k: query.get(k, "") for k in ("since", "until")}},
            **_choices(),
        },
        status=400 if problems else 200,
    )


def _relay_page(
    index: HitIndex, filt: HitFilter, page_no: int, tz: ZoneInfo
) -> tuple[RelayPage, list[dict[str, Any]], int, int]:
    """The relay analysis's page `page_no` (the last when past it) as the page shows it, with the
    page's number and the number of pages (in a worker thread)."""
    found = index.relay(filt, limit=RELAY_PAGE, offset=(page_no - 1) * RELAY_PAGE)
    pages = max((found.total_groups + RELAY_PAGE - 1) // RELAY_PAGE, 1)
    if page_no > pages:
        page_no = pages
        found = index.relay(filt, limit=RELAY_PAGE, offset=(page_no - 1) * RELAY_PAGE)
    shown = [
        {
            "reference": g.reference,
            "prisoners": [
                {"prisoner": p, "count": n, "first": format_ms(f, tz), "last": format_ms(la, tz)}
                for p, n, f, la in g.prisoners
            ],
            "latest_text": format_ms(g.latest, tz),
            "establishments": g.establishments,
            "hits": g.attempts,
        }
        for g in found.groups
    ]
    return found, shown, page_no, pages


@page(*REVIEWERS)
async def csv_export(request: web.Request) -> web.StreamResponse:
    viewer = request[VIEWER]
    tz = zone_of(request)
    filt, problems = parse_filter(request.query, viewer, tz)
    if problems:
        return error(request, 400, "Export refused", " ".join(problems))
    body = await off_loop(_csv, hit_index(request), filt, viewer.user.label, tz)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return web.Response(
        body=body,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="nocontact-hits-{stamp}.csv"'},
    )


def _csv(index: HitIndex, filt: HitFilter, exporter: str, tz: ZoneInfo) -> bytes:
    """The export of up to EXPORT_LIMIT hits with its SHA-256 (in a worker thread: the rows, the
    CSV and the hash are all CPU)."""
    total = index.count(filt)
    rows = [row_of(r) for r in index.iter_rows(filt, EXPORT_LIMIT)]
    return export.hits_csv(rows, filt, exporter, total=total, tz=tz)


async def request_summary(client: Any, keys: Keys, reference: str, viewer: Viewer) -> dict[str, Any] | None:
    """The case behind a reference, as much as a hit page shows: no protected or requester details.
    None when the entry was loaded directly (``PUT /v1/entries``, import) rather than by a case;
    ``{"hidden": True}`` when the API would not show `viewer` that request (``cases.store.visible``:
    casework, and the staff of the prison holding it or receiving it), with ``elsewhere`` when
    that is because it is held at another prison than the viewer's."""
    raw = await client.get(keys.case(reference))
    if raw is None:
        return None
    case = case_from_record(orjson.loads(raw), [])
    if not visible(case, Actor(viewer.actor_id, viewer.role, viewer.establishment)):
        elsewhere = viewer.establishment is not None and viewer.establishment != case.establishment
        return {"hidden": True, "elsewhere": elsewhere}
    return {
        "hidden": False,
        "id": case.id,
        "pathway": case.request.pathway.value,
        "state": case.state.value,
        "establishment": case.establishment,
        "prisoner": case.prisoner_number,
        "protected_count": len(case.request.protected),
    }


def setup(app: web.Application) -> None:
    app.router.add_get("/ui/hits", api_handler(queue))
    app.router.add_get("/ui/hits.csv", api_handler(csv_export))
    app.router.add_get("/ui/hits/next-unreviewed", api_handler(next_unreviewed))
    app.router.add_post("/ui/hits/bulk-review", api_handler(bulk_review))
    app.router.add_get("/ui/hits/{id}", api_handler(detail))
    app.router.add_post("/ui/hits/{id}/review", api_handler(review))
    app.router.add_get("/ui/prisoners/{number}", api_handler(prisoner_page))
    app.router.add_get("/ui/relay", api_handler(relay))
