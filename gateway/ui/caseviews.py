"""Case handler pages: requests overdue against the service levels, reviews due, and for each open
request whether its block is live on every gateway. Summaries only: no protected person's or
requester's details are shown here."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from cases.codec import case_summary
from cases.contact_tasks import still_to_remove
from cases.workflow import Case, State
from gateway.http import RUNTIME, api_handler, off_loop
from gateway.ui.pages import error, format_ms, page, render
from sync.store import Enforcement


def _status(found: Enforcement) -> str:
    if found.version is None:
        return "missing from the store"
    return "live everywhere" if found.everywhere else "NOT live everywhere"


@page("casework", "admin")
async def cases_home(request: web.Request) -> web.StreamResponse:
    cases = request.app[RUNTIME].cases
    if cases is None:
        return error(request, 503, "Requests unavailable", "The request workflow is not mounted here.")
    now = dt.datetime.now(dt.UTC)
    open_cases: list[Case] = await off_loop(cases.store.open_cases)
    overdue = [c for c in open_cases if c.overdue(now)]
    reviews = sorted(
        (c for c in open_cases if c.review_is_due(now)), key=lambda c: (c.review_due or dt.date.min, c.id)
    )
    fleet = await cases.fleet.live_gateways()
    contacts = request.app[RUNTIME].contacts
    rows = []
    for case in sorted(open_cases, key=lambda c: c.id):
        live: dict[str, Any] = {"status": "not enforced", "enforced": 0, "lagging": [], "ok": False}
        if case.state is State.AUTHORISED:
            found = fleet.enforcement(*await cases.fleet.version_of(case.id))
            live = {
                "status": _status(found),
                "enforced": len(found.enforced),
                "lagging": list(found.lagging),
                "ok": found.everywhere,
            }
        to_remove = None
        if contacts is not None and case.state is State.AUTHORISED:
            to_remove = still_to_remove(*await off_loop(contacts.tasks.open_for_reference, case.id))
        rows.append(
            {**case_summary(case, now), "live": live, "overdue": case.overdue(now), "contacts": to_remove}
        )
    return render(
        request,
        "cases.html",
        {
            "rows": rows,
            "overdue": [case_summary(c, now) for c in sorted(overdue, key=lambda c: c.id)],
            "reviews": [case_summary(c, now) for c in reviews],
            "gateways": fleet.gateways,
            "checked": format_ms(fleet.now_ms),
        },
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/ui/cases", api_handler(cases_home))
