"""The "Contacts to remove" page: the removal tasks the sweeper wrote for the signed-in person's
establishment (security staff bound to one see only theirs; case handlers and admins see every
establishment and may pick one), PAGE_SIZE at a time, oldest first, with a link to the next page;
a form per task to confirm the identifier is off the list or (security, admin) to keep the
contact with a reason. A task shows the request, the kind of identifier and its position on the
contact, never the identifier itself."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from cases.contact_tasks import (
    KEPT,
    MAX_REASON,
    OPEN,
    REMOVED,
    STATUSES,
    TaskConflict,
    TaskStore,
    format_cursor,
    parse_cursor,
)
from cases.model import establishment_code, prison_number
from gateway.http import RUNTIME, api_handler, off_loop
from gateway.ui.pages import FORM, VIEWER, error, page, redirect, render
from matcher.errors import ValidationError

PAGE_SIZE = 200


def _tasks(request: web.Request) -> TaskStore | None:
    contacts = request.app[RUNTIME].contacts
    return None if contacts is None else contacts.tasks


@page("security", "casework", "admin")
async def contacts_home(request: web.Request) -> web.StreamResponse:
    store = _tasks(request)
    if store is None:
        return error(request, 503, "Contacts unavailable", "The contacts store is not started here.")
    viewer = request[VIEWER]
    query = request.query
    status = query.get("status", OPEN)
    if status not in (*STATUSES, "all"):
        return error(request, 400, "Bad filter", "Choose a status from the list.")
    establishment = viewer.establishment
    prisoner = None
    after = None
    try:
        if establishment is None and query.get("establishment"):
            establishment = establishment_code(query["establishment"], "establishment")
        if query.get("prisoner"):
            prisoner = prison_number(query["prisoner"], "prisoner")
        if query.get("cursor"):
            after = parse_cursor(query["cursor"])
    except ValidationError as exc:
        return error(request, 400, "Bad filter", str(exc))
    if prisoner is not None and establishment is None:
        return error(request, 400, "Bad filter", "Choose the establishment as well as the prisoner.")
    tasks, more = await off_loop(
        store.search,
        establishment=establishment,
        prisoner=prisoner,
        status=None if status == "all" else status,
        after=after,
        limit=PAGE_SIZE,
    )
    chosen = establishment if viewer.establishment is None else None  # a bound viewer's is implied
    first = {k: v for k, v in (("status", status), ("establishment", chosen), ("prisoner", prisoner)) if v}
    for task in tasks:  # shown in the pages' zone, as every time on them is
        task["created_ms"] = int(
            dt.datetime.fromisoformat(task["created"].replace("Z", "+00:00")).timestamp() * 1000
        )
    return render(
        request,
        "contacts.html",
        {
            "tasks": tasks,
            "next": None
            if more is None
            else "/ui/contacts?" + urlencode({**first, "cursor": format_cursor(more)}),
            "first": None if after is None else "/ui/contacts?" + urlencode(first),
            "status": status,
            "statuses": STATUSES,
            "establishment": establishment or "",
            "bound": viewer.establishment is not None,
            "prisoner": prisoner or "",
            "keeps": viewer.role in ("security", "admin"),
            "saved": query.get("saved"),
            "back": request.path_qs,
        },
    )


async def _close(request: web.Request, status: str) -> web.StreamResponse:
    store = _tasks(request)
    if store is None:
        return error(request, 503, "Contacts unavailable", "The contacts store is not started here.")
    viewer = request[VIEWER]
    form = request[FORM]
    task_id = request.match_info["id"]
    task: dict[str, Any] | None = await off_loop(store.get, task_id) if task_id.startswith("ct_") else None
    if task is None or (viewer.establishment is not None and task["establishment"] != viewer.establishment):
        return error(request, 404, "No such task", "There is no such task for your establishment.")
    reason = str(form.get("reason") or "").strip() or None
    if status == KEPT and reason is None:
        return error(
            request, 400, "Not saved", "Say why the contact is kept (for example, an exemption granted)."
        )
    if reason is not None and len(reason) > MAX_REASON:
        return error(request, 400, "Not saved", f"The reason is limited to {MAX_REASON} characters.")
    try:
        await off_loop(store.close, task, status, viewer.actor_id, reason)
    except TaskConflict as exc:
        return error(request, 409, "Already closed", f"This task is already {exc.status.replace('_', ' ')}.")
    back = str(form.get("back") or "/ui/contacts")
    if not back.startswith("/ui/contacts"):
        back = "/ui/contacts"
    base, _, qs = back.partition("?")
    params = [p for p in qs.split("&") if p and not p.startswith("saved=")]
    return redirect(f"{base}?{'&'.join([*params, urlencode({'saved': task_id})])}")


@page("security", "casework", "admin")
async def confirm_removed(request: web.Request) -> web.StreamResponse:
    return await _close(request, REMOVED)


@page("security", "admin")
async def confirm_kept(request: web.Request) -> web.StreamResponse:
    return await _close(request, KEPT)


def setup(app: web.Application) -> None:
    app.router.add_get("/ui/contacts", api_handler(contacts_home))
    app.router.add_post("/ui/contacts/{id}/removed", api_handler(confirm_removed))
    app.router.add_post("/ui/contacts/{id}/kept", api_handler(confirm_kept))
