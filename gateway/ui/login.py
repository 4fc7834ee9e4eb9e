"""Sign in and sign out. Every attempt is counted before its password is checked, per user name
and per client address, with a doubling back-off past a few free ones (``gateway.ui.throttle``);
argon2 runs on its own bounded threads. Neither the password nor whether the user name exists is
ever revealed or logged."""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from urllib.parse import urlsplit

from aiohttp import web
from redis.exceptions import RedisError

from gateway.http import api_handler
from gateway.ui import sessions, throttle
from gateway.ui.pages import (
    VIEWER,
    current_viewer,
    error,
    home_of,
    keys_of,
    page,
    redirect,
    render,
    secure,
    store_of,
)
from gateway.ui.throttle import PASSWORDS, PasswordWorkBusy, SignInLimits
from gateway.ui.users import UI_ROLES, get_user, hash_password, needs_rehash, save_user, verify_password
from gateway.validation import within_body_deadline

log = logging.getLogger("nocontact.gateway.ui")

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
NOT_HTTPS = (
    "This page was not reached over HTTPS, so your browser would not keep the sign-in cookie. Use "
    "the https:// address (the gateway serves TLS with --tls-cert, or sits behind a proxy named in "
    "gateway.trusted_proxies)."
)


def insecure(request: web.Request) -> bool:
    """Reached over plain HTTP from another machine: the session cookie is ``__Host-`` and Secure,
    which a browser keeps only over HTTPS (or from localhost). Behind a proxy, only one named in
    gateway.trusted_proxies can say the client used HTTPS."""
    host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
    return not request.secure and host.lower() not in LOOPBACK_HOSTS


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site under /ui/ (no scheme, host or protocol-relative URL), printable
    ASCII without spaces or backslashes: a control character (CR, LF) in a Location header would
    drop the answer, and its session cookie with it. Anything else: None (the queue)."""
    if not target or len(target) > 2048 or not all("!" <= c <= "~" and c != "\\" for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/ui/") or target.startswith("//"):
        return None
    return target


def _form(
    request: web.Request, status: int = 200, message: str | None = None, username: str = ""
) -> web.Response:
    token = sessions.new_signin_token()
    response = render(
        request,
        "login.html",
        {
            "signin_token": token,
            "message": message,
            "insecure": insecure(request),
            "username": username,
            "next": _safe_next(request.query.get("next")) or "",
        },
        status=status,
    )
    sessions.set_cookie(response, sessions.SIGNIN_COOKIE, token, max_age=3600)
    return response


async def login_page(request: web.Request) -> web.StreamResponse:
    try:
        viewer = await current_viewer(request)
    except (RedisError, OSError):
        return error(request, 503, "Store unavailable", "Sign-in is unavailable just now.")
    if viewer is not None:
        return redirect(viewer.home)
    return _form(request)


async def login(request: web.Request) -> web.StreamResponse:
    if insecure(request):
        log.warning("ui: refused a sign-in over plain HTTP from another machine")
        return _form(request, 403, NOT_HTTPS)
    form = await within_body_deadline(request, request.post())
    if not sessions.tokens_match(request.cookies.get(sessions.SIGNIN_COOKIE), form.get(sessions.CSRF_FIELD)):
        log.warning("ui: refused a sign-in form without a valid CSRF token")
        return _form(request, 403, "The sign-in form had expired. Please try again.")
    username = str(form.get("username", "")).strip().lower()[:64]
    password = str(form.get("password", ""))
    client, keys = store_of(request), keys_of(request)
    address = request.remote or "unknown"
    limits = SignInLimits(client, keys, throttle.now_ms)
    try:
        wait = await limits.attempt(username, address)
        if wait > 0:
            log.info("ui: sign-in refused: backing off")
            message = f"Too many failed attempts: try again in {max(1, math.ceil(wait))} seconds."
            return _form(request, 429, message, username=username)
        user = await get_user(client, keys, username) if username else None
        ok = await PASSWORDS.run(verify_password, user, password)
        if not ok or user is None or user.disabled:
            log.info("ui: sign-in refused")
            return _form(request, 401, "The user name or password is not right.", username=username)
        await limits.succeeded(username, address)
        if needs_rehash(user):
            rehashed = await PASSWORDS.run(hash_password, password)
            await save_user(client, keys, replace(user, password_hash=rehashed))
        response = redirect(_safe_next(str(form.get("next", ""))) or home_of(user.role))
        old = await sessions.load(client, keys, request)
        if old is not None:
            await client.delete(keys.ui_session(old.digest))
        await sessions.start(client, keys, user.username, response)
        response.del_cookie(sessions.SIGNIN_COOKIE, path="/")
        log.info("ui: signed in %s", user.username)
        return response
    except (RedisError, OSError):
        return error(request, 503, "Store unavailable", "Sign-in is unavailable just now.")
    except PasswordWorkBusy:
        log.warning("ui: sign-in refused: too many sign-ins at once")
        return _form(request, 503, "Too many people are signing in at once: try again in a moment.")


@page(*UI_ROLES)
async def logout(request: web.Request) -> web.StreamResponse:
    response = redirect("/ui/login")
    await sessions.end(store_of(request), keys_of(request), request[VIEWER].session, response)
    return response


async def home(request: web.Request) -> web.StreamResponse:
    try:
        viewer = await current_viewer(request)
    except (RedisError, OSError):
        return error(request, 503, "Store unavailable", "The service is unavailable just now.")
    return secure(redirect(viewer.home if viewer else "/ui/login"))


def setup(app: web.Application) -> None:
    app.router.add_get("/ui", api_handler(home))
    app.router.add_get("/ui/", api_handler(home))
    app.router.add_get("/ui/login", api_handler(login_page))
    app.router.add_post("/ui/login", api_handler(login))
    app.router.add_post("/ui/logout", api_handler(logout))
