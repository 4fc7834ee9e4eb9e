"""What every UI handler shares: who is signed in (`Viewer`), the `page` decorator that checks the
session, the role and (on POST) the CSRF token, rendering with the security headers, and error
pages. UI errors are HTML, returned rather than raised: every route's api_handler turns raised HTTP
errors into JSON."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import jinja2
from aiohttp import web
from multidict import MultiDictProxy
from redis.exceptions import RedisError

from gateway.http import RUNTIME, StoreUnavailable, in_worker
from gateway.ui import sessions
from gateway.ui.users import User, get_user
from gateway.validation import within_body_deadline
from sync.keys import Keys

log = logging.getLogger("nocontact.gateway.ui")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in person. What each role may do is decided here, in one place."""

    user: User
    session: sessions.Session

    @property
    def role(self) -> str:
        return self.user.role

    @property
    def establishment(self) -> str | None:
        return self.user.establishment

    @property
    def actor_id(self) -> str:
        return f"user:{self.user.username}"

    @property
    def sees_hits(self) -> bool:
        return self.role in ("security", "casework", "admin")

    @property
    def reviews(self) -> bool:
        """Reviewing and escalating hits is the prison security team's job (and admin's)."""
        return self.role in ("security", "admin")

    @property
    def exports(self) -> bool:
        return self.role in ("security", "admin")

    @property
    def sees_attempt(self) -> bool:
        """ "What was tried": the matched identifier kinds and match strengths of each request the
        attempt hit. Security staff need it to investigate; case handlers act on requests, not on
        individual attempts, so they are not shown it (least disclosure)."""
        return self.role in ("security", "admin")

    @property
    def sees_cases(self) -> bool:
        return self.role in ("casework", "admin")

    @property
    def sees_contact_tasks(self) -> bool:
        """The "Contacts to remove" page: security at the establishment, case handlers, admin."""
        return self.role in ("security", "casework", "admin")

    @property
    def screens_mail(self) -> bool:
        """The mailroom page: screening envelopes and releasing or confirming held letters."""
        return self.role in ("mailroom", "admin")

    @property
    def home(self) -> str:
        return home_of(self.role)


def home_of(role: str) -> str:
    """The page an account of `role` starts on."""
    return {"casework": "/ui/cases", "mailroom": "/ui/mailroom"}.get(role, "/ui/hits")


VIEWER = web.RequestKey("ui_viewer", Viewer)
FORM = web.RequestKey("ui_form", MultiDictProxy[Any])


DEFAULT_ZONE = "Europe/London"


@functools.lru_cache(maxsize=16)
def zone(name: str = DEFAULT_ZONE) -> ZoneInfo:
    return ZoneInfo(name)


def format_ms(ms: int, tz: ZoneInfo | None = None) -> str:
    """A time in ms since the epoch as the pages show it: local time in `tz` (the configured zone,
    ``gateway.timezone``; Europe/London by default) with the zone's name and UTC offset, e.g.
    "2026-07-01 14:03:22 BST (UTC+01:00)"."""
    local = dt.datetime.fromtimestamp(ms / 1000, tz or zone())
    offset = local.strftime("%z")
    return local.strftime("%Y-%m-%d %H:%M:%S ") + f"{local.tzname()} (UTC{offset[:3]}:{offset[3:]})"


def zone_of(request: web.Request) -> ZoneInfo:
    """The zone the pages show and read times in."""
    return zone(request.app[RUNTIME].settings.timezone)


def keys_of(request: web.Request) -> Keys:
    return request.app[RUNTIME].settings.sync.keys


def store_of(request: web.Request) -> Any:
    store = request.app[RUNTIME].store
    assert store is not None
    return store


def secure(response: web.StreamResponse) -> web.StreamResponse:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _base(request: web.Request) -> dict[str, Any]:
    viewer = request.get(VIEWER)
    return {
        "viewer": viewer,
        "csrf": viewer.session.csrf if viewer else None,
        "path": request.path,
        "timezone": request.app[RUNTIME].settings.timezone,
    }


def render(
    request: web.Request, template: str, context: Mapping[str, Any], status: int = 200
) -> web.Response:
    """A small page (a form, an error) rendered on the loop; a page of rows uses ``render_off``."""
    response = aiohttp_jinja2.render_template(template, request, {**_base(request), **context}, status=status)
    secure(response)
    return response


async def render_off(
    request: web.Request, template: str, context: Mapping[str, Any], status: int = 200
) -> web.Response:
    """As ``render``, the template rendered to a string in the worker threads (``in_worker``):
    the loop only builds the response. The context must not change while it renders."""
    env = aiohttp_jinja2.get_env(request.app)
    text = await in_worker(_render_text, env, template, {**_base(request), **context})
    response = web.Response(text=text, status=status, content_type="text/html", charset="utf-8")
    secure(response)
    return response


def _render_text(env: jinja2.Environment, template: str, context: dict[str, Any]) -> str:
    return env.get_template(template).render(context)


def error(request: web.Request, status: int, title: str, detail: str) -> web.Response:
    return render(request, "error.html", {"title": title, "detail": detail}, status=status)


def redirect(location: str) -> web.Response:
    response = web.Response(status=303, headers={"Location": location})
    secure(response)
    return response


async def current_viewer(request: web.Request) -> Viewer | None:
    client, keys = store_of(request), keys_of(request)
    session = await sessions.load(client, keys, request)
    if session is None:
        return None
    user = await get_user(client, keys, session.username)
    if user is None or user.disabled or session.started < user.sessions_from:
        return None
    return Viewer(user, session)


def page(*roles: str) -> Callable[[Handler], Handler]:
    """Signed in, with one of `roles`; a POST must carry the session's CSRF token."""
    allowed = frozenset(roles)

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def inner(request: web.Request) -> web.StreamResponse:
            try:
                viewer = await current_viewer(request)
                if viewer is None:
                    if request.method == "GET":
                        return redirect("/ui/login?next=" + quote(request.path_qs, safe=""))
                    return error(request, 401, "Signed out", "Your session has ended. Sign in again.")
                request[VIEWER] = viewer
                if viewer.role not in allowed:
                    return error(request, 403, "Not allowed", "Your role cannot open this page.")
                if request.method == "POST":
                    form = await within_body_deadline(request, request.post())
                    if not sessions.tokens_match(viewer.session.csrf, form.get(sessions.CSRF_FIELD)):
                        log.warning(
                            "ui: refused a form without a valid CSRF token (user %s)", viewer.user.username
                        )
                        return error(
                            request,
                            403,
                            "Form refused",
                            "The form's security token is missing or out of date. "
                            "Go back, reload the page and try again.",
                        )
                    request[FORM] = form
                return secure(await handler(request))
            except ConnectionResetError:
                raise  # the client went away: not the store (gateway.http counts it)
            except (RedisError, OSError, StoreUnavailable):
                return error(
                    request,
                    503,
                    "Store unavailable",
                    "The hit store cannot be reached just now. Nothing was changed.",
                )

        return inner

    return wrap
