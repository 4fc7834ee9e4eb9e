"""The screening endpoints. Lean on purpose: an allow touches neither disk nor Redis; a non-allow
is committed to the hit spool before the answer goes back. Answers carry references and kinds of
identifier, never the protected person's details.

These are the hot routes, so each handler does inline what ``gateway.http.api_handler`` does for
every other route: errors to JSON, request metrics, the access log. Auth is a dict lookup on the
header string (the token cache's), the body is read and checked by a fast path
(``gateway.fastpath``) that only accepts what the generic validators would accept unchanged;
anything else goes through those validators, so the errors are theirs."""

from __future__ import annotations

import time
from collections.abc import Callable
from time import perf_counter
from typing import Any

import orjson
from aiohttp import StreamReader, hdrs, web
from multidict import CIMultiDict

from gateway import validation as v
from gateway.answer import JsonAnswer, direct_answers
from gateway.auth import Principal
from gateway.decided import current_index, record_decision, unavailable
from gateway.fastpath import Fields, buffered, taken
from gateway.http import RUNTIME, Runtime, authorize, bound_to, error_response, finish_request
from gateway.mailroom.pages import kind_of
from gateway.validation import ApiError
from matcher.budget import Budget
from matcher.decisions import UNKNOWN_PRISONER, Decision
from matcher.errors import OverBudget
from matcher.index import Index

# A call body's three values read from its bytes (gateway/_speedups.c); None: orjson only.
_call_fields: Callable[[bytes], tuple[str, str, str] | None] | None
try:
    from gateway._speedups import call_fields as _call_fields
except ImportError:  # pragma: no cover - a build without the C extension
    _call_fields = None

CALL_ROLES = frozenset({"dialler", "admin"})
MAIL_ROLES = frozenset({"mailroom", "admin"})
MESSAGE_ROLES = frozenset({"messaging", "admin"})
CALL_FIELDS = frozenset({"establishment", "prisoner", "number"})
MAIL_FIELDS = frozenset({"establishment", "prisoner", "envelope", "content"})
MESSAGE_FIELDS = frozenset({"establishment", "prisoner", "to", "content"})
CALL_PATH = "/v1/screen/call"
MAIL_PATH = "/v1/screen/mail"
MESSAGE_PATH = "/v1/screen/message"
# Response copies it; Content-Type given as a header skips the content_type argument's checks
JSON_HEADERS: CIMultiDict[str] = CIMultiDict({hdrs.CONTENT_TYPE: "application/json"})
# Letters and messages whose envelope/recipient and content together are longer than this are
# screened in the screening thread rather than on the event loop: a 200 kB letter's normalising and
# scanning takes tens of milliseconds, which would stall every call. Shorter ones (an envelope) take
# tens of microseconds, less than handing them to a thread, unless they are made of what the
# matcher must look at one by one (digit groups, postcodes, street phrases, house names): so they
# are screened on the loop with a budget of ON_LOOP_WORK units (matcher.budget, ~1 us each) and,
# when it runs out, again in the screening thread (issue 17: ~2 ms of loop time a letter at most).
ON_LOOP_CHARS = 2_000
ON_LOOP_WORK = 1_000
_CALL_ALLOWED = ("call", "allow", None)  # the metrics' key of an allowed call
_CALL_ANSWERED = (CALL_PATH, "POST", 200)  # ...and of a successful call request


class Screening:
    """The three handlers, bound to one app's Runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.fields = Fields(runtime.profile)
        # the allowed call's answer for one index version, fresh and stale (``_allow_answers``)
        self._allow_version = -1
        self._allow_fresh = self._allow_stale = b""
        # the metrics' key of each endpoint's successful answers
        self._answered = {path: (path, "POST", 200) for path in (CALL_PATH, MAIL_PATH, MESSAGE_PATH)}
        # a 200 answer from its JSON bytes: JsonAnswer once the app has started and allows it
        self.answer: Callable[[bytes], web.Response] = _plain_answer

    async def on_startup(self, app: web.Application) -> None:
        """The app is frozen by now, so its response-prepare signals are final."""
        self.answer = JsonAnswer if direct_answers(app) else _plain_answer

    def _known(self, request: web.Request, roles: frozenset[str]) -> Principal | None:
        """The principal of a remembered Authorization header with one of `roles`; None sends the
        request to ``authorize`` (misses, refusals and their errors). Not a coroutine: the usual
        case awaits nothing."""
        tokens = self.runtime.tokens
        header = request.headers.get(hdrs.AUTHORIZATION)
        principal = tokens.known(header) if tokens is not None and header else None
        return principal if principal is not None and principal.role in roles else None

    def _finish(
        self, path: str, started: float, response: web.Response, principal: Principal | None
    ) -> web.Response:
        status = response.status
        runtime = self.runtime
        if status != 200 or runtime.settings.log_screening:
            finish_request(runtime, "POST", path, started, status, principal)
            return response
        # A successful screening answer is counted, not logged: finish_request without its tests.
        runtime.metrics.answered(self._answered[path], time.perf_counter() - started)
        return response

    async def call(self, request: web.Request) -> web.Response:
        # The allowed call is nearly every request this service gets, so its path is written out
        # here rather than through _known, _index and _finish, whose calls it would pay each time.
        started = perf_counter()
        runtime = self.runtime
        principal: Principal | None = None
        try:
            tokens = runtime.tokens
            if tokens is not None:
                principal = tokens.headers.get(request.headers.get(hdrs.AUTHORIZATION, ""))
            if principal is None or principal.role not in CALL_ROLES:
                principal = await authorize(request, CALL_ROLES)
            # The usual body, whole in the buffer and of the usual shape, is read by call_fields
            # straight from its bytes; any other goes through orjson and the checks below.
            content = request.content
            raw = taken(content) if content.is_eof() else None
            found = (
                _call_fields(raw)
                if raw is not None and _call_fields is not None and len(raw) <= v.LIMIT_CALL
                else None
            )
            fields = self.fields.call_values(*found) if found is not None else None
            if fields is None:
                if raw is not None:
                    body = v.parse_json(raw, v.LIMIT_CALL)
                else:  # some of it is still to come
                    body = await v.read_json(request, v.LIMIT_CALL)
                fields = self.fields.call(body)
            if fields is None:
                v.only(body, CALL_FIELDS)
                establishment = v.establishment(body, runtime.profile)
                prisoner = v.prisoner(body, runtime.profile)
                fields = (establishment, prisoner, v.required_text(body, "number", v.MAX_NUMBER))
            establishment, prisoner, number = fields
            if principal.establishment is not None:
                bound_to(principal, establishment)
            settings = runtime.settings
            source = runtime.source
            index = source.index
            stale = source.stale(settings.max_data_age)
            if index is None or (stale and settings.stale_policy == "refuse"):
                raise unavailable(runtime, index)
            decision = index.screen_call(establishment, prisoner, number)
            if decision.decision != "allow":
                hit_id = await record_decision(
                    runtime, decision, establishment, prisoner, index=index, attempt=number
                )
                answer = orjson.dumps(
                    {
                        "decision": decision.decision,
                        "reference": decision.reference,
                        "hit_id": hit_id,
                        "version": decision.version,
                        "stale": stale,
                    }
                )
            else:
                decisions = runtime.metrics.decisions  # observe_decision, inline
                decisions[_CALL_ALLOWED] = decisions.get(_CALL_ALLOWED, 0) + 1
                if decision.version != self._allow_version:
                    self._allow_answers(decision.version)
                answer = self._allow_stale if stale else self._allow_fresh
            response = self.answer(answer)
        except Exception as exc:
            response = error_response(exc)
            finish_request(runtime, "POST", CALL_PATH, started, response.status, principal)
            return response
        if runtime.settings.log_screening:
            finish_request(runtime, "POST", CALL_PATH, started, 200, principal)
            return response
        runtime.metrics.answered(_CALL_ANSWERED, perf_counter() - started)  # counted, not logged
        return response

    def _allow_answers(self, version: int) -> None:
        """The answers to an allowed call for index `version`, fresh and stale, made once per
        version (``call`` picks one)."""
        answer = {"decision": "allow", "reference": None, "hit_id": None, "version": version, "stale": False}
        self._allow_fresh = orjson.dumps(answer)
        self._allow_stale = orjson.dumps({**answer, "stale": True})
        self._allow_version = version

    async def _text(
        self,
        request: web.Request,
        path: str,
        roles: frozenset[str],
        limit: int,
        fields: frozenset[str],
        target: tuple[str, int],
        screen: Callable[[Index, str, str | None, str, str | None, Budget | None], Decision],
        letter: bool = False,
        raw: bytes | None = None,
    ) -> web.Response:
        """Mail and messages: a required target (envelope or recipient) and optional content. A
        `letter` (mail) may have a null prisoner (the sender is not known) and a blank envelope
        (OCR read nothing), and its answer says why it is held. `raw`: the body, read already."""
        started = time.perf_counter()
        runtime = self.runtime
        principal: Principal | None = None
        try:
            principal = self._known(request, roles)
            if principal is None:
                principal = await authorize(request, roles)
            body = buffered(request, limit) if raw is None else v.parse_json(raw, limit)
            if body is None:  # an empty object is a body too
                body = await v.read_json(request, limit)
            check = self.fields
            place = check.place(body.get("establishment"), body.get("prisoner"))
            establishment, prisoner = place if place is not None else (None, None)
            attempt = check.text(body.get(target[0]), target[1])
            content = body.get("content")
            if content is not None:
                content = check.text(content, v.MAX_CONTENT)
            plain = establishment is not None and prisoner is not None and attempt is not None
            if (
                not plain
                or len(body) != (3 if "content" not in body else 4)
                or (content is None and body.get("content") is not None)
            ):
                v.only(body, fields)
                establishment = v.establishment(body, runtime.profile)
                prisoner = v.sender(body, runtime.profile) if letter else v.prisoner(body, runtime.profile)
                attempt = v.text(body, *target, blank=letter)
                content = v.text(body, "content", v.MAX_CONTENT, required=False)
            assert establishment is not None and attempt is not None
            bound_to(principal, establishment)
            index, stale = current_index(runtime)
            decision = None
            if len(attempt) + (len(content) if content else 0) <= ON_LOOP_CHARS:
                try:
                    decision = screen(index, establishment, prisoner, attempt, content, Budget(ON_LOOP_WORK))
                except OverBudget:
                    runtime.metrics.screened_off_loop("work")
            else:
                runtime.metrics.screened_off_loop("length")
            if decision is None:  # tens of milliseconds, in the screening thread (gateway.app)
                decision = await runtime.off_loop_screening(
                    screen, index, establishment, prisoner, attempt, content, None
                )
            hit_id = await record_decision(
                runtime,
                decision,
                establishment,
                prisoner or UNKNOWN_PRISONER,
                index=index,
                attempt=attempt,
                content=content,
            )
            answer = _matches_answer(decision, hit_id, stale)
            if letter:
                answer["reason"] = decision.reason
            response = self.answer(orjson.dumps(answer))
        except Exception as exc:
            response = error_response(exc)
        return self._finish(path, started, response, principal)

    async def mail(self, request: web.Request) -> web.Response:
        raw = None
        if request.content_type != "application/json":  # `curl -d`, a form, a scan, bytes
            started = time.perf_counter()
            principal: Principal | None = None
            try:
                principal = self._known(request, MAIL_ROLES) or await authorize(request, MAIL_ROLES)
                raw = await _not_a_scan(request, v.LIMIT_MAIL)
            except Exception as exc:
                return self._finish(MAIL_PATH, started, error_response(exc), principal)
        return await self._text(
            request,
            MAIL_PATH,
            MAIL_ROLES,
            v.LIMIT_MAIL,
            MAIL_FIELDS,
            ("envelope", v.MAX_ENVELOPE),
            _mail,
            letter=True,
            raw=raw,
        )

    async def message(self, request: web.Request) -> web.Response:
        return await self._text(
            request, MESSAGE_PATH, MESSAGE_ROLES, v.LIMIT_MESSAGE, MESSAGE_FIELDS, ("to", v.MAX_TO), _message
        )


# A scan sent where its OCR text belongs: images, PDFs and form uploads by their type; under any
# other type that is not JSON's, by the body's first bytes (gateway.mailroom.pages).
_NOT_TEXT = ("image/", "application/pdf", "multipart/")
_MAGIC_BYTES = 8
_SCAN_SENT = ApiError(
    415,
    "unsupported_media_type",
    "body: this endpoint screens the envelope's OCR text as JSON "
    '({"establishment", "prisoner", "envelope"}); to screen a scanned image or PDF, use '
    "`nocontact mailroom scan FILE` (or the mailroom page, /ui/mailroom), which reads it and sends the text",
    "body",
)


async def _not_a_scan(request: web.Request, limit: int) -> bytes:
    """The body of a letter sent with a type other than JSON's (`curl -d` sends a form's), read
    whole; ApiError 415 for a scan, by its type or its first bytes (`curl --data-binary @scan.png`,
    application/octet-stream), and 413 for a body over `limit` bytes that is not one."""
    if request.content_type.startswith(_NOT_TEXT):
        raise _SCAN_SENT
    head = await v.within_body_deadline(request, _read_up_to(request.content, _MAGIC_BYTES))
    if kind_of(head) is not None:
        raise _SCAN_SENT
    length = request.content_length
    if length is not None and length > limit:
        raise v.body_too_large(limit)
    return head + await v.within_body_deadline(request, _read_up_to(request.content, limit + 1 - len(head)))


async def _read_up_to(content: StreamReader, size: int) -> bytes:
    """At most `size` bytes of the body: fewer only at its end."""
    chunks: list[bytes] = []
    got = 0
    while got < size:
        chunk = await content.read(size - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _plain_answer(body: bytes) -> web.Response:
    return web.Response(body=body, headers=JSON_HEADERS)


def _matches_answer(decision: Decision, hit_id: str | None, stale: bool) -> dict[str, Any]:
    return {
        "decision": decision.decision,
        "matches": [m.to_dict() for m in decision.matches],
        "hit_id": hit_id,
        "version": decision.version,
        "stale": stale,
    }


def _mail(
    index: Index,
    establishment: str,
    prisoner: str | None,
    envelope: str,
    content: str | None,
    budget: Budget | None,
) -> Decision:
    return index.screen_mail(establishment, prisoner, envelope, content, budget=budget)


def _message(
    index: Index,
    establishment: str,
    prisoner: str | None,
    to: str,
    content: str | None,
    budget: Budget | None,
) -> Decision:
    assert prisoner is not None  # a message's sender is always known (v.prisoner)
    return index.screen_message(establishment, prisoner, to, content, budget)


def setup(app: web.Application) -> None:
    screening = Screening(app[RUNTIME])
    app.on_startup.append(screening.on_startup)
    app.router.add_post(CALL_PATH, screening.call)
    app.router.add_post(MAIL_PATH, screening.mail)
    app.router.add_post(MESSAGE_PATH, screening.message)
