"""Social contacts: the prison's lists (PUT/GET/DELETE ``/v1/contacts/{establishment}/{prisoner}``),
the check before a contact is approved (``POST /v1/screen/contact``) and the removal tasks the
sweeper writes (``GET /v1/contact-tasks``, confirm removed or kept). A list and its tasks are
seen only by tokens of its establishment (and the national roles); a task names the reference and
the kind of identifier, never the identifier."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cases import model
from cases.contact_tasks import (
    KEPT,
    MAX_REASON,
    REMOVED,
    STATUSES,
    TaskConflict,
    format_cursor,
    parse_cursor,
    tasks_csv,
)
from config import establishments
from gateway import validation as v
from gateway.auth import Principal
from gateway.contacts import ContactsRuntime
from gateway.decided import current_index
from gateway.http import RUNTIME, api_handler, authorize, bound_to, json_response, off_loop
from gateway.validation import ApiError
from matcher.contacts import Contact, TooManyContacts, check_contact
from matcher.entries import REFERENCE_RE

LIST_ROLES = frozenset({"contacts", "admin"})
CHECK_ROLES = frozenset({"contacts", "admin"})
TASK_ROLES = frozenset({"contacts", "security", "casework", "admin"})
REMOVED_ROLES = frozenset({"contacts", "security", "casework", "admin"})
KEPT_ROLES = frozenset({"security", "admin"})
CHECK_FIELDS = frozenset({"establishment", "prisoner", "contact"})
TASK_QUERY = frozenset({"establishment", "prisoner", "reference", "status", "cursor", "limit", "format"})


def establishment_code(request: web.Request, value: Any, field: str = "establishment") -> str:
    """A registered establishment code (config.establishments), else a 400 naming `field`."""
    return establishments.require(request.app[RUNTIME].profile, value, field)


def prisoner_number(request: web.Request, value: Any, field: str = "prisoner") -> str:
    """A prison number of the profile's pattern, else a 400 naming `field`."""
    return establishments.prisoner_number(request.app[RUNTIME].profile, value, field)


def _runtime(request: web.Request) -> ContactsRuntime:
    contacts = request.app[RUNTIME].contacts
    if contacts is None:
        raise ApiError(503, "not_ready", "contacts: the contacts store is not started")
    return contacts


def _place(request: web.Request) -> tuple[str, str]:
    return (
        establishment_code(request, request.match_info["establishment"]),
        prisoner_number(request, request.match_info["prisoner"]),
    )


async def put_list(request: web.Request) -> web.Response:
    principal = await authorize(request, LIST_ROLES)
    establishment, prisoner = _place(request)
    bound_to(principal, establishment)
    body = await v.read_json(request, v.CLIENT_MAX_SIZE)
    v.only(body, frozenset({"contacts", "establishment", "prisoner"}))
    for name, value in (("establishment", establishment), ("prisoner", prisoner)):
        if name in body and (not isinstance(body[name], str) or body[name].strip().upper() != value):
            raise v.invalid(name, "must equal the path's")
    store = _runtime(request).lists
    try:
        contacts = await off_loop(store.parse, body.get("contacts"))  # up to 1,000 contacts: off the loop
    except TooManyContacts as exc:
        raise ApiError(413, "too_many_contacts", str(exc), exc.field) from None
    written = await off_loop(store.put, establishment, prisoner, contacts)
    return json_response(
        {
            "establishment": establishment,
            "prisoner": prisoner,
            "version": written.version,
            "changed": written.changed,
            "contacts": len(contacts),
        }
    )


async def get_list(request: web.Request) -> web.Response:
    principal = await authorize(request, LIST_ROLES)
    establishment, prisoner = _place(request)
    bound_to(principal, establishment)
    found = await off_loop(_runtime(request).lists.get, establishment, prisoner)
    if found is None:
        raise ApiError(
            404, "not_found", f"prisoner: no contacts list for {prisoner} at {establishment}", "prisoner"
        )
    return json_response(found.to_dict())


async def delete_list(request: web.Request) -> web.Response:
    principal = await authorize(request, LIST_ROLES)
    establishment, prisoner = _place(request)
    bound_to(principal, establishment)
    if not await off_loop(_runtime(request).lists.delete, establishment, prisoner):
        raise ApiError(
            404, "not_found", f"prisoner: no contacts list for {prisoner} at {establishment}", "prisoner"
        )
    return json_response({"establishment": establishment, "prisoner": prisoner, "deleted": True})


async def screen_contact(request: web.Request) -> web.Response:
    principal = await authorize(request, CHECK_ROLES)
    body = await v.read_json(request, v.LIMIT_ENTRY)
    v.only(body, CHECK_FIELDS)
    establishment = establishment_code(request, body.get("establishment"))
    prisoner = prisoner_number(request, body.get("prisoner"))
    bound_to(principal, establishment)
    if body.get("contact") is None:
        raise ApiError(400, "missing_field", "contact: required", "contact")
    raw = body["contact"]
    if isinstance(raw, dict):
        raw = {"approved": False, **raw}  # a contact proposed for approval
    contact = Contact.from_dict(raw, "contact")
    _runtime(request).lists.readable(contact, "contact")
    index, stale = current_index(request.app[RUNTIME])
    checked = check_contact(index, establishment, prisoner, contact)
    return json_response(
        {
            "decision": checked.decision,
            "matches": [m.to_dict() for m in checked.matches],
            "version": checked.version,
            "stale": stale,
        }
    )


def _task_filter(query: Any, principal: Principal) -> dict[str, Any]:
    v.query_only(query, TASK_QUERY)
    found: dict[str, Any] = {}
    if "establishment" in query:
        found["establishment"] = model.establishment_code(query["establishment"], "establishment")
    if principal.establishment is not None:
        if found.setdefault("establishment", principal.establishment) != principal.establishment:
            bound_to(principal, found["establishment"])
    elif principal.role == "contacts":
        raise ApiError(403, "forbidden", "establishment: a contacts token must be bound to an establishment")
    if "prisoner" in query:
        found["prisoner"] = model.prison_number(query["prisoner"], "prisoner")
    if "reference" in query:
        if not REFERENCE_RE.fullmatch(query["reference"]):
            raise v.invalid("reference", "1-64 letters, digits and . _ : / -")
        found["reference"] = query["reference"]
    if "status" in query:
        found["status"] = v.choice(query["status"], "status", STATUSES)
    return found


async def list_tasks(request: web.Request) -> web.Response:
    principal = await authorize(request, TASK_ROLES)
    query = request.query
    filters = _task_filter(query, principal)
    limit = v.query_int(query, "limit", 100, 1, 1000)
    fmt = v.choice(query.get("format", "json"), "format", ("json", "csv"))
    after = parse_cursor(query["cursor"]) if "cursor" in query else None
    tasks, last = await off_loop(_runtime(request).tasks.search, **filters, after=after, limit=limit)
    if fmt == "csv":
        return web.Response(
            text=tasks_csv(tasks),
            content_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="contact-tasks.csv"'},
        )
    return json_response({"tasks": tasks, "next": None if last is None else format_cursor(last)})


async def _close(request: web.Request, roles: frozenset[str], status: str) -> web.Response:
    principal = await authorize(request, roles)
    task_id = request.match_info["id"]
    if not task_id.startswith("ct_") or len(task_id) > 64:
        raise v.invalid("id", "a contact task id (ct_...)")
    body = await v.read_json(request, v.LIMIT_SMALL) if request.can_read_body else {}
    v.only(body, frozenset({"reason"}))
    reason = v.text(body, "reason", MAX_REASON, required=status == KEPT)
    store = _runtime(request).tasks
    task = await off_loop(store.get, task_id)
    if task is None or (
        principal.establishment is not None and task["establishment"] != principal.establishment
    ):
        raise ApiError(404, "not_found", f"id: no contact task {task_id}", "id")
    try:
        await off_loop(store.close, task, status, f"{principal.role}:{principal.id}", reason)
    except TaskConflict as exc:
        raise ApiError(409, "conflict", f"id: {exc}", "id", extra={"status": exc.status}) from None
    return json_response(await off_loop(store.get, task_id))


async def confirm_removed(request: web.Request) -> web.Response:
    return await _close(request, REMOVED_ROLES, REMOVED)


async def confirm_kept(request: web.Request) -> web.Response:
    return await _close(request, KEPT_ROLES, KEPT)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_put("/v1/contacts/{establishment}/{prisoner}", api_handler(put_list))
    r.add_get("/v1/contacts/{establishment}/{prisoner}", api_handler(get_list))
    r.add_delete("/v1/contacts/{establishment}/{prisoner}", api_handler(delete_list))
    r.add_post("/v1/screen/contact", api_handler(screen_contact))
    r.add_get("/v1/contact-tasks", api_handler(list_tasks))
    r.add_post("/v1/contact-tasks/{id}/removed", api_handler(confirm_removed))
    r.add_post("/v1/contact-tasks/{id}/kept", api_handler(confirm_kept))
