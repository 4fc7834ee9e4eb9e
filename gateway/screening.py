"""The screening endpoints. Lean on purpose: an allow touches neither disk nor Redis; a non-allow
is committed to the hit spool before the answer goes back. Answers carry references and kinds of
identifier, never the protected person's details."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gateway import validation as v
from gateway.app import RUNTIME, Runtime, authorize, json_response
from gateway.auth import Principal
from gateway.hits import Hit
from gateway.validation import ApiError

if TYPE_CHECKING:
    from matcher.decisions import Decision
    from matcher.index import Index

CALL_ROLES = frozenset({"dialler", "admin"})
MAIL_ROLES = frozenset({"mailroom", "admin"})
MESSAGE_ROLES = frozenset({"messaging", "admin"})
CALL_FIELDS = frozenset({"establishment", "prisoner", "number"})
MAIL_FIELDS = frozenset({"establishment", "prisoner", "envelope", "content"})
MESSAGE_FIELDS = frozenset({"establishment", "prisoner", "to", "content"})


def _index(runtime: Runtime) -> tuple[Index, bool]:
    index = runtime.source.index
    if index is None:
        raise ApiError(
            503,
            "not_ready",
            "index: no blocklist loaded yet",
            extra={"version": None},
            headers={"Retry-After": "1"},
        )
    stale = runtime.stale()
    if stale and runtime.settings.stale_policy == "refuse":
        age = runtime.source.age_seconds()
        shown = "never confirmed" if age is None else f"last confirmed {age:.1f}s ago"
        raise ApiError(
            503,
            "stale_data",
            f"index: {shown} (limit {runtime.settings.max_data_age:g}s, state {runtime.source.state})",
            extra={"version": index.version},
            headers={"Retry-After": "1"},
        )
    return index, stale


def _bound(principal: Principal, establishment: str) -> None:
    if principal.establishment is not None and principal.establishment != establishment:
        raise ApiError(
            403,
            "forbidden",
            f"establishment: this token is bound to {principal.establishment}",
            "establishment",
        )


async def _record(runtime: Runtime, decision: Decision, establishment: str, prisoner: str) -> str | None:
    runtime.metrics.observe_decision(decision.channel.value, decision.decision, decision.relay)
    if not decision.acted:
        return None
    hit = Hit.from_decision(decision, establishment, prisoner, runtime.gateway_id)
    try:
        await runtime.spool.record(hit)
    except Exception:
        # Not recorded means not answered: the caller's fail-safe applies (the PBX blocks).
        raise ApiError(503, "hit_log_unavailable", "hit: the hit log cannot be written") from None
    runtime.metrics.hits_recorded.inc()
    if runtime.shipper is not None:
        runtime.shipper.wake()
    return hit.id


async def screen_call(request: web.Request) -> web.Response:
    principal = await authorize(request, CALL_ROLES)
    body = await v.read_json(request, v.LIMIT_CALL)
    v.only(body, CALL_FIELDS)
    establishment = v.establishment(body)
    prisoner = v.prisoner(body)
    number = v.required_text(body, "number", v.MAX_NUMBER)
    _bound(principal, establishment)
    runtime = request.app[RUNTIME]
    index, stale = _index(runtime)
    decision = index.screen_call(establishment, prisoner, number)
    hit_id = await _record(runtime, decision, establishment, prisoner)
    return json_response(
        {
            "decision": decision.decision,
            "reference": decision.reference,
            "hit_id": hit_id,
            "version": decision.version,
            "stale": stale,
        }
    )


def _matches_answer(decision: Decision, hit_id: str | None, stale: bool) -> dict[str, Any]:
    return {
        "decision": decision.decision,
        "matches": [m.to_dict() for m in decision.matches],
        "hit_id": hit_id,
        "version": decision.version,
        "stale": stale,
    }


async def _screen_text(
    request: web.Request,
    roles: frozenset[str],
    limit: int,
    fields: frozenset[str],
    target: tuple[str, int],
    screen: Callable[[Index, str, str, str, str | None], Decision],
) -> web.Response:
    """Mail and messages: a required target (envelope or recipient) and optional content."""
    principal = await authorize(request, roles)
    body = await v.read_json(request, limit)
    v.only(body, fields)
    establishment = v.establishment(body)
    prisoner = v.prisoner(body)
    attempt = v.required_text(body, *target)
    content = v.text(body, "content", v.MAX_CONTENT, required=False)
    _bound(principal, establishment)
    runtime = request.app[RUNTIME]
    index, stale = _index(runtime)
    decision = screen(index, establishment, prisoner, attempt, content)
    hit_id = await _record(runtime, decision, establishment, prisoner)
    return json_response(_matches_answer(decision, hit_id, stale))


async def screen_mail(request: web.Request) -> web.Response:
    return await _screen_text(
        request, MAIL_ROLES, v.LIMIT_MAIL, MAIL_FIELDS, ("envelope", v.MAX_ENVELOPE), _mail
    )


async def screen_message(request: web.Request) -> web.Response:
    return await _screen_text(
        request, MESSAGE_ROLES, v.LIMIT_MESSAGE, MESSAGE_FIELDS, ("to", v.MAX_TO), _message
    )


def _mail(index: Index, establishment: str, prisoner: str, envelope: str, content: str | None) -> Decision:
    return index.screen_mail(establishment, prisoner, envelope, content)


def _message(index: Index, establishment: str, prisoner: str, to: str, content: str | None) -> Decision:
    return index.screen_message(establishment, prisoner, to, content)


def setup(app: web.Application) -> None:
    app.router.add_post("/v1/screen/call", screen_call)
    app.router.add_post("/v1/screen/mail", screen_mail)
    app.router.add_post("/v1/screen/message", screen_message)
