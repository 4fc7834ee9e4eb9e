"""The mailroom page (``/ui/mailroom``) for mailroom accounts: upload or photograph an envelope and
see the decision, the OCR text and the lines that matched; and the day's held letters, to release
or confirm. An upload is read by OCR worker processes (gateway.mailroom.pool), never in this
process and never on the event loop; the letter is then screened, and its lines marked, in the
screening thread (gateway.mailroom.marked), and its hit recorded exactly as ``POST /v1/screen/mail``
does (gateway.decided)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from config import establishments
from gateway.decided import current_index, record_decision
from gateway.hitlog.model import OUTCOMES
from gateway.http import RUNTIME, StoreUnavailable, api_handler, hit_index
from gateway.mailroom.errors import MailroomError
from gateway.mailroom.marked import screen_upload
from gateway.mailroom.pages import SUFFIXES
from gateway.mailroom.pool import OcrPool
from gateway.ui import mailroom_held, sessions
from gateway.ui.mailroom_held import Held
from gateway.ui.pages import (
    FORM,
    VIEWER,
    current_viewer,
    error,
    keys_of,
    page,
    redirect,
    render,
    secure,
    store_of,
    zone_of,
)
from gateway.ulid import ULID_RE
from gateway.validation import ApiError, within_body_deadline
from matcher.decisions import REASONS, UNKNOWN_PRISONER

log = logging.getLogger("nocontact.gateway.ui.mailroom")

MAILROOM = ("mailroom", "admin")
OCR_POOL = web.AppKey("ocr_pool", OcrPool)
MAX_UPLOAD = 25 * 1024 * 1024  # a phone's photo is a few MB; a scanner's PDF of one envelope less
ACTIONS = {"release": "false_positive", "confirm": "confirmed"}  # the held letter -> the hit's review
SHIP_WAIT = 3.0  # seconds a page waits for a letter it just held to reach the shared hit log


@page(*MAILROOM)
async def mailroom_page(request: web.Request) -> web.StreamResponse:
    return await _render(request, None)


async def held_today(request: web.Request) -> list[Held]:
    """The letters held today (the configured zone's day) for the viewer's prison (every prison's
    for an admin), with a hit or without one."""
    return await mailroom_held.held_today(
        hit_index(request),
        store_of(request),
        keys_of(request),
        zone_of(request),
        request[VIEWER].establishment,
    )


async def _render(
    request: web.Request, result: dict[str, Any] | None, status: int = 200, wait_for: str | None = None
) -> web.Response:
    """The page; `wait_for`: a hit just recorded, waited for (a moment) in the day's list."""
    rows = await held_today(request)
    deadline = time.monotonic() + SHIP_WAIT
    while (
        wait_for is not None and not any(row.id == wait_for for row in rows) and time.monotonic() < deadline
    ):
        await asyncio.sleep(0.05)
        rows = await held_today(request)
    return render(
        request,
        "mailroom.html",
        {
            "result": result,
            "held": rows,
            "outcomes": OUTCOMES,
            "reasons": REASONS,
            "done": request.query.get("done"),
        },
        status=status,
    )


async def upload(request: web.Request) -> web.StreamResponse:
    """The envelope's form, read as it streams in (the page decorator would read it whole first):
    the session and its CSRF token are checked before the file is read."""
    viewer = await current_viewer(request)
    if viewer is None:
        return secure(error(request, 401, "Signed out", "Your session has ended. Sign in again."))
    request[VIEWER] = viewer
    if viewer.role not in MAILROOM:
        return secure(error(request, 403, "Not allowed", "Your role cannot open this page."))
    try:
        fields, data, suffix = await within_body_deadline(request, _read_form(request))
    except MailroomError as exc:
        return secure(error(request, 400, "Envelope not read", str(exc)))
    if not sessions.tokens_match(viewer.session.csrf, fields.get(sessions.CSRF_FIELD)):
        return secure(
            error(request, 403, "Form refused", "The form's security token is missing or out of date.")
        )
    profile = request.app[RUNTIME].profile
    establishment = viewer.establishment or establishments.is_known(profile, fields.get("establishment", ""))
    if not establishment:
        return secure(
            error(
                request,
                400,
                "Envelope not read",
                "Establishment: say which prison's post this is (a known establishment code).",
            )
        )
    typed = fields.get("prisoner", "").strip()
    if typed:
        number = establishments.is_prisoner_number(profile, typed)
        if number is None:
            example = profile.prisoners.example
            return secure(
                error(request, 400, "Envelope not read", f"Prisoner: a prison number such as {example}.")
            )
        typed = number
    try:
        return secure(await _screened(request, establishment, typed or None, data, suffix))
    except ApiError as exc:
        if isinstance(exc, StoreUnavailable) or exc.status == 503:
            return secure(
                error(request, 503, "Not screened", f"{exc.detail}. The letter was NOT allowed: try again.")
            )
        raise


async def _screened(
    request: web.Request, establishment: str, typed: str | None, data: bytes, suffix: str
) -> web.Response:
    runtime = request.app[RUNTIME]
    try:
        reading = await request.app[OCR_POOL].read(data, suffix)
    except MailroomError as exc:
        return error(request, 503, "Not read", f"{exc}. The letter was NOT allowed: try again.")
    if "error" in reading:
        return error(request, 400, "Envelope not read", f"{reading['error']}. Scan or photograph it again.")
    prisoner = typed or reading["prisoner"]
    index, stale = current_index(runtime)
    lines = list(reading["lines"])
    # The letter screened and its lines marked in the screening thread: a dozen screens of it
    # would stall the calls on the event loop by milliseconds at a large blocklist.
    decision, marks, _ = await runtime.off_loop_screening(
        screen_upload, index, establishment, prisoner, lines, list(reading["page_of"])
    )
    hit_id = await record_decision(
        runtime, decision, establishment, prisoner or UNKNOWN_PRISONER, index=index, attempt=reading["text"]
    )
    result = {
        "decision": decision.decision,
        "reason": decision.reason,
        "matches": [m.to_dict() for m in decision.matches if m.strength.value != "weak"],
        "hit_id": hit_id,
        "stale": stale,
        "prisoner": prisoner,
        "prisoner_from": "typed" if typed else "scan" if prisoner else "unknown",
        "lines": list(zip(lines, marks, strict=True)),
        "confidence": round(100 * reading["confidence"]),
        "engine": reading["engine"],
    }
    if decision.decision == "hold" and hit_id is None:  # no request matched: the page keeps it
        await mailroom_held.record_unmatched(
            store_of(request),
            keys_of(request),
            zone_of(request),
            establishment,
            prisoner,
            decision.reason,
        )
    log.info("mailroom page: %s screened (%s)", decision.decision, establishment)
    if hit_id is not None and runtime.shipper is not None:
        runtime.shipper.flush()  # so that a letter just held is in the day's list below
    return await _render(request, result, wait_for=hit_id if decision.decision == "hold" else None)


async def _read_form(request: web.Request) -> tuple[dict[str, str], bytes, str]:
    """The small fields and the file of a multipart form; MailroomError for a form that is not
    one, a file over MAX_UPLOAD or of another type."""
    if not request.content_type.startswith("multipart/"):
        raise MailroomError("the envelope comes as a file from the form")
    fields: dict[str, str] = {}
    data, suffix = b"", ""
    reader = await request.multipart()
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "envelope":
            suffix = Path(part.filename or "").suffix.lower()
            if suffix not in SUFFIXES:
                raise MailroomError("the file must be a PNG, JPEG, TIFF or PDF scan or photo")
            chunks, size = [], 0
            while chunk := await part.read_chunk(1 << 16):
                size += len(chunk)
                if size > MAX_UPLOAD:
                    raise MailroomError(f"the file is over {MAX_UPLOAD // (1024 * 1024)} MB")
                chunks.append(chunk)
            data = b"".join(chunks)
        elif part.name in (sessions.CSRF_FIELD, "prisoner", "establishment"):
            fields[part.name] = (await part.read(decode=True))[:200].decode(errors="replace")
    if not data:
        raise MailroomError("choose a scan or photo of the envelope")
    return fields, data, suffix


@page(*MAILROOM)
async def decide_held(request: web.Request) -> web.StreamResponse:
    """Release (send it: the hold was not an attempt) or confirm (withhold it) a held letter."""
    viewer, form = request[VIEWER], request[FORM]
    hit_id = request.match_info["id"]
    action = str(form.get("action", ""))
    if not ULID_RE.fullmatch(hit_id) or action not in ACTIONS:
        return error(request, 400, "Not saved", "Choose release or confirm for a held letter.")
    held = next((row for row in await held_today(request) if row.id == hit_id), None)
    if held is None:
        return error(request, 404, "Letter not found", "There is no such held letter today for your prison.")
    note = "released by the mailroom" if action == "release" else "confirmed by the mailroom: withheld"
    await mailroom_held.decide(
        hit_index(request),
        store_of(request),
        keys_of(request),
        zone_of(request),
        held,
        ACTIONS[action],
        note,
        viewer.actor_id,
    )
    return redirect(f"/ui/mailroom?done={action}")


async def _ocr_pool(app: web.Application) -> AsyncIterator[None]:
    yield  # the pool's processes start with the first upload
    app[OCR_POOL].close()


def setup(app: web.Application) -> None:
    settings = app[RUNTIME].settings
    app[OCR_POOL] = OcrPool(settings.mailroom_engine, settings.mailroom_workers)
    app.cleanup_ctx.append(_ocr_pool)
    app.router.add_get("/ui/mailroom", api_handler(mailroom_page))
    app.router.add_post("/ui/mailroom/scan", api_handler(upload))
    app.router.add_post("/ui/mailroom/held/{id}", api_handler(decide_held))
