"""Signed-in web sessions and CSRF tokens.

A session is a random 256-bit id in a ``__Host-`` cookie (Secure, HttpOnly, SameSite=Strict,
Path=/); Redis holds only its sha256 (``Keys.ui_session``) with the user name, the session's CSRF
token and its start time. It expires after ``IDLE`` seconds without use and ``ABSOLUTE`` seconds
after sign-in; signing in always starts a new session (no fixation), signing out deletes it.

CSRF: every form carries the session's token in a hidden ``csrf_token`` field, compared in
constant time (synchronizer token). The sign-in form, before there is a session, uses a
double-submit token: a random value in the ``__Host-nc_signin`` cookie and in the form."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from sync.keys import Keys

SESSION_COOKIE = "__Host-nc_session"
SIGNIN_COOKIE = "__Host-nc_signin"
CSRF_FIELD = "csrf_token"
IDLE = 30 * 60
ABSOLUTE = 12 * 3600


@dataclass(frozen=True, slots=True)
class Session:
    digest: str
    username: str
    csrf: str
    started: float


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def set_cookie(response: web.StreamResponse, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, path="/", secure=True, httponly=True, samesite="Strict", max_age=max_age)


async def start(client: Any, keys: Keys, username: str, response: web.StreamResponse) -> Session:
    session_id = secrets.token_urlsafe(32)
    session = Session(_digest(session_id), username, secrets.token_urlsafe(32), time.time())
    record = {"user": username, "csrf": session.csrf, "started": session.started}
    await client.set(keys.ui_session(session.digest), orjson.dumps(record), ex=IDLE)
    set_cookie(response, SESSION_COOKIE, session_id)
    return session


async def load(client: Any, keys: Keys, request: web.Request) -> Session | None:
    session_id = request.cookies.get(SESSION_COOKIE)
    # A session id is URL-safe base64; cookie bytes that are not UTF-8 arrive surrogate-escaped.
    if not session_id or len(session_id) > 128 or not session_id.isascii():
        return None
    digest = _digest(session_id)
    raw = await client.get(keys.ui_session(digest))
    if raw is None:
        return None
    record = orjson.loads(raw)
    if time.time() - float(record["started"]) > ABSOLUTE:
        await client.delete(keys.ui_session(digest))
        return None
    await client.expire(keys.ui_session(digest), IDLE)
    return Session(digest, str(record["user"]), str(record["csrf"]), float(record["started"]))


async def end(client: Any, keys: Keys, session: Session | None, response: web.StreamResponse) -> None:
    if session is not None:
        await client.delete(keys.ui_session(session.digest))
    response.del_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="Strict")


def tokens_match(expected: str | None, given: Any) -> bool:
    """Our tokens are URL-safe base64: anything else (a cookie or form value that was not UTF-8
    arrives surrogate-escaped) matches nothing."""
    if (
        not expected
        or not isinstance(given, str)
        or not given
        or not (expected.isascii() and given.isascii())
    ):
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def new_signin_token() -> str:
    return secrets.token_urlsafe(32)
