"""The request (case) endpoints: HTTP over ``cases`` (the workflow and its store).

Roles: ``casework`` (the UPC team: everything, every establishment) and ``security`` tokens bound to
an establishment (the prison's security/OMU staff: requests held at their establishment only; they
never see contact details). Errors are JSON ``{error, detail, field}``: 400 bad field, 403 role or
establishment, 404 unknown (or not visible), 409 not allowed from the request's state, 503 store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from cases.codec import breach_to_dict, case_summary, case_view
from cases.contact_tasks import still_to_remove
from cases.errors import Busy, Forbidden, InvalidTransition, NotFound, ReferenceTaken
from cases.model import Request, case_id, establishment_code, prison_number
from cases.notice import prisoner_notice
from cases.store import visible
from cases.workflow import STEPS, Action, Actor, Case, State
from config import establishments
from gateway import validation as v
from gateway.http import RUNTIME, Cases, api_handler, authorize, json_response, off_loop, store_errors
from gateway.validation import ApiError
from matcher.entries import Exemption
from matcher.errors import ValidationError

T = TypeVar("T")
CASE_ROLES = frozenset({"casework", "security"})
LIMIT_REQUEST = 256 * 1024
SIMPLE_ACTIONS = {action.value: action for action in (*STEPS, Action.TRANSFER, Action.ACCEPT_TRANSFER)}
ACTION_FIELDS = {
    Action.AUTHORISE: frozenset({"reason", "prisoner_number"}),
    Action.TRANSFER: frozenset({"reason", "establishment"}),
}
LIST_QUERY = frozenset({"prisoner", "establishment", "state"})


def _cases(request: web.Request) -> Cases:
    cases = request.app[RUNTIME].cases
    assert cases is not None  # made by the app's cleanup context before any request
    return cases


async def _run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A case store call off the loop, its refusals as 4xx errors naming the field."""
    try:
        return await off_loop(fn, *args, **kwargs)
    except Forbidden as exc:
        raise ApiError(403, "forbidden", str(exc), exc.field) from None
    except InvalidTransition as exc:
        raise ApiError(409, "invalid_transition", str(exc), "state", extra={"allowed": exc.allowed}) from None
    except NotFound as exc:
        raise ApiError(404, "not_found", str(exc), "id") from None
    except Busy as exc:
        raise ApiError(409, "conflict", str(exc), "id") from None
    except ReferenceTaken as exc:
        raise ApiError(409, "reference_in_use", str(exc), "id") from None
    except ValidationError as exc:
        raise v.invalid(exc.field, exc.detail) from None


async def _actor(request: web.Request) -> Actor:
    principal = await authorize(request, CASE_ROLES)
    if principal.role == "security" and principal.establishment is None:
        raise ApiError(
            403,
            "forbidden",
            "establishment: casework needs a security token bound to a prison",
            "establishment",
        )
    return Actor(principal.id, principal.role, principal.establishment)


def _id(request: web.Request) -> str:
    try:
        return case_id(request.match_info["id"])
    except ValidationError as exc:
        raise v.invalid(exc.field, exc.detail) from None


async def _visible_case(request: web.Request, actor: Actor) -> Case:
    the_id = _id(request)
    case = await _run(_cases(request).store.get, the_id)
    if not visible(case, actor):
        raise ApiError(404, "not_found", f"id: no request {the_id}", "id")
    return case


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _view(case: Case, actor: Actor, status: int = 200) -> web.Response:
    return json_response(case_view(case, actor, _now()), status=status)


async def create_request(request: web.Request) -> web.Response:
    actor = await _actor(request)
    body = await v.read_json(request, LIMIT_REQUEST)
    try:
        parsed = Request.from_dict(body, request.app[RUNTIME].profile)
    except ValidationError as exc:
        raise v.invalid(exc.field, exc.detail) from None
    case = await _run(_cases(request).store.create, parsed, actor)
    return _view(case, actor, status=201)


async def get_request(request: web.Request) -> web.Response:
    actor = await _actor(request)
    return _view(await _visible_case(request, actor), actor)


async def act(request: web.Request) -> web.Response:
    """A step on a request. Whether the caller may see the request is checked before anything
    else (its body, the action's rules): a request held at another prison is a 404 whatever the
    body says. A transfer is recorded by casework or the holding prison and accepted
    (``accept_transfer``) by the receiving prison, which sees the request from then on."""
    actor = await _actor(request)
    action = SIMPLE_ACTIONS.get(request.match_info["action"])
    if action is None:
        raise ApiError(404, "not_found", f"action: one of {sorted(SIMPLE_ACTIONS)}", "action")
    await _visible_case(request, actor)
    body = await v.read_json(request, v.LIMIT_SMALL) if request.can_read_body else {}
    v.only(body, ACTION_FIELDS.get(action, frozenset({"reason"})))
    kwargs: dict[str, Any] = {"reason": v.text(body, "reason", 5000, required=False)}
    profile = request.app[RUNTIME].profile
    try:
        if "establishment" in body:
            kwargs["establishment"] = establishments.require(profile, body["establishment"], "establishment")
        if body.get("prisoner_number") is not None:
            kwargs["prisoner_number"] = establishments.prisoner_number(
                profile, body["prisoner_number"], "prisoner_number"
            )
    except ValidationError as exc:
        raise v.invalid(exc.field, exc.detail) from None
    case = await _run(_cases(request).store.act, _id(request), action, actor, **kwargs)
    return _view(case, actor)


async def add_exemption(request: web.Request) -> web.Response:
    actor = await _actor(request)
    await _visible_case(request, actor)
    body = await v.read_json(request, v.LIMIT_SMALL)
    try:
        exemption = Exemption.from_dict(body, "")
        establishments.prisoner_number(request.app[RUNTIME].profile, exemption.prisoner, "prisoner")
    except ValidationError as exc:
        raise v.invalid(exc.field.lstrip("."), exc.detail) from None
    case = await _run(
        _cases(request).store.act,
        _id(request),
        Action.ADD_EXEMPTION,
        actor,
        exemption=exemption,
        reason=exemption.reason,
    )
    return _view(case, actor, status=201)


async def remove_exemption(request: web.Request) -> web.Response:
    actor = await _actor(request)
    await _visible_case(request, actor)
    body = await v.read_json(request, v.LIMIT_SMALL)
    v.only(body, frozenset({"reason"}))
    reason = v.required_text(body, "reason", 5000)
    case = await _run(
        _cases(request).store.act,
        _id(request),
        Action.REMOVE_EXEMPTION,
        actor,
        exemption_id=request.match_info["exemption"],
        reason=reason,
    )
    return _view(case, actor)


async def report_breach(request: web.Request) -> web.Response:
    actor = await _actor(request)
    await _visible_case(request, actor)
    body = await v.read_json(request, v.LIMIT_SMALL)
    v.only(body, frozenset({"prisoner", "channel", "description", "hits"}))
    profile = request.app[RUNTIME].profile
    prisoner = v.prisoner(body, profile) if body.get("prisoner") is not None else None
    channel = v.required_text(body, "channel", 32)
    description = v.required_text(body, "description", 5000)
    hits = body.get("hits", [])
    if not isinstance(hits, list) or not all(isinstance(h, str) for h in hits) or len(hits) > 200:
        raise v.invalid("hits", "a list of at most 200 hit ids")
    case = await _run(
        _cases(request).store.report_breach,
        _id(request),
        actor,
        prisoner=prisoner,
        channel=channel,
        reason=description,
        hits=hits,
    )
    return json_response({"id": case.id, "breach": breach_to_dict(case.breaches[-1])}, status=201)


async def list_breaches(request: web.Request) -> web.Response:
    actor = await _actor(request)
    case = await _visible_case(request, actor)
    pattern = await _run(_cases(request).store.hit_pattern, case.id)
    return json_response(
        {"id": case.id, "breaches": [breach_to_dict(b) for b in case.breaches], "hits_by_prisoner": pattern}
    )


async def notice(request: web.Request) -> web.Response:
    actor = await _actor(request)
    case = await _visible_case(request, actor)
    return json_response({"id": case.id, "text": prisoner_notice(case)})


async def live(request: web.Request) -> web.Response:
    """Is the block enforced on every live gateway? (so the requester can be told it is in place)"""
    actor = await _actor(request)
    case = await _visible_case(request, actor)
    out: dict[str, Any] = {"id": case.id, "state": case.state.value, "live": False}
    if case.state is State.AUTHORISED:
        with store_errors():
            found = await _cases(request).fleet.enforcement(reference=case.id)
        out.update(
            live=found.everywhere,
            version=found.version,
            gateways=len(found.gateways),
            enforced_on=len(found.enforced),
            lagging=list(found.lagging),
            summary=found.summary(),
        )
    contacts = request.app[RUNTIME].contacts
    if contacts is not None:
        open_tasks, prisons = await off_loop(contacts.tasks.open_for_reference, case.id)
        out["contacts_to_remove"] = {"contacts": open_tasks, "prisons": prisons}
        out["contacts_summary"] = still_to_remove(open_tasks, prisons)
    return json_response(out)


def _listing(cases: list[Case], actor: Actor) -> web.Response:
    now = _now()
    rows = [case_summary(c, now) for c in sorted(cases, key=lambda c: c.id) if visible(c, actor)]
    return json_response({"requests": rows})


async def list_requests(request: web.Request) -> web.Response:
    actor = await _actor(request)
    query = dict(request.query)
    v.query_only(query, LIST_QUERY)
    store = _cases(request).store
    try:
        code = None
        if "establishment" in query:
            code = establishment_code(query["establishment"], "establishment")
        number = prison_number(query["prisoner"], "prisoner") if "prisoner" in query else None
        state = State(query["state"]) if "state" in query else None
    except ValidationError as exc:
        raise v.invalid(exc.field, exc.detail) from None
    except ValueError:
        raise v.invalid("state", f"one of {[s.value for s in State]}") from None
    if actor.establishment is not None:
        if code not in (None, actor.establishment):
            raise ApiError(
                403,
                "forbidden",
                f"establishment: this token is bound to {actor.establishment}",
                "establishment",
            )
        code = actor.establishment
    if number is not None:
        cases = await _run(store.by_prisoner, number)
        # where it is held, or where it is being transferred to (as the plain listing shows it)
        cases = [c for c in cases if code is None or code in (c.establishment, c.transfer_to)]
    elif code is not None:
        cases = await _run(store.by_establishment, code)
    else:
        cases = await _run(store.open_cases)
    return _listing([c for c in cases if state is None or c.state is state], actor)


async def list_overdue(request: web.Request) -> web.Response:
    actor = await _actor(request)
    return _listing(await _run(_cases(request).store.overdue), actor)


async def list_reviews_due(request: web.Request) -> web.Response:
    actor = await _actor(request)
    return _listing(await _run(_cases(request).store.reviews_due), actor)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/v1/requests", api_handler(create_request))
    r.add_get("/v1/requests", api_handler(list_requests))
    r.add_get("/v1/requests/overdue", api_handler(list_overdue))
    r.add_get("/v1/requests/reviews-due", api_handler(list_reviews_due))
    r.add_get("/v1/requests/{id}", api_handler(get_request))
    r.add_get("/v1/requests/{id}/notice", api_handler(notice))
    r.add_get("/v1/requests/{id}/live", api_handler(live))
    r.add_get("/v1/requests/{id}/breaches", api_handler(list_breaches))
    r.add_post("/v1/requests/{id}/breaches", api_handler(report_breach))
    r.add_post("/v1/requests/{id}/exemptions", api_handler(add_exemption))
    r.add_post("/v1/requests/{id}/exemptions/{exemption}/remove", api_handler(remove_exemption))
    # Only the actions: a GET-only path (`/live`, `/notice`) must not advertise POST in its Allow.
    actions = "|".join(sorted(SIMPLE_ACTIONS))
    r.add_post(f"/v1/requests/{{id}}/{{action:{actions}}}", api_handler(act))
