"""A `nocontact serve` seeded for the UI tests through the real API and CLI: accounts, a request
authorised by a case handler, then real screening calls that hit it (a primary hit, two relays at
HLI, one at WDI)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import redis

from gateway.ui import sessions
from gateway.ui.users import add_user
from sync.embedded import EmbeddedRedis
from sync.keys import Keys
from sync.replication import Replication
from tests.support.case_data import request_data
from tests.support.gateway_process import Gateway, request

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
PASSWORD = "correct horse battery staple"
PHONE = "07700 900123"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USERS = (
    ("sec-hli", "security", "HLI"),
    ("sec-wdi", "security", "WDI"),
    ("cw", "casework", None),
    ("root", "admin", None),
)
T = TypeVar("T")


@dataclass
class Site:
    gateway: Gateway
    case_id: str
    hits: dict[str, str] = field(default_factory=dict)  # label -> hit id

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.gateway.port}"

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        if token is None:
            return request(self.gateway.port, method, path, body)
        return request(self.gateway.port, method, path, body, token)


def wait_for(condition: Callable[[], T], what: str, timeout: float = 10.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def seed_site(gateway: Gateway) -> Site:
    """Accounts (the first through `nocontact user add`, as an operator would), tokens, an
    authorised request and four hits on it, on a started `gateway`."""
    add = ("user", "add", "sec-hli", "--role", "security", "--establishment", "HLI", "--password-stdin")
    done = gateway.cli(*add, stdin=PASSWORD + "\n")
    assert done.returncode == 0 and "added sec-hli (security, HLI)" in done.stdout, done.stderr
    with redis.Redis(unix_socket_path=str(EmbeddedRedis(gateway.data_dir).socket_path)) as client:
        for name, role, establishment in USERS[1:]:
            add_user(client, Keys(), name, role, establishment, PASSWORD, replication=Replication())
    tokens = {}
    for label, body in (
        ("cw", {"role": "casework"}),
        ("dial-hli", {"role": "dialler", "establishment": "HLI"}),
        ("dial-wdi", {"role": "dialler", "establishment": "WDI"}),
    ):
        status, created = request(gateway.port, "POST", "/v1/tokens", body)
        assert status == 201, created
        tokens[label] = created["token"]
    cw = tokens["cw"]
    status, case = request(gateway.port, "POST", "/v1/requests", request_data(), cw)
    assert status == 201, case
    case_id = case["id"]
    assert request(gateway.port, "POST", f"/v1/requests/{case_id}/send", {}, cw)[0] == 200
    status, body = request(gateway.port, "POST", f"/v1/requests/{case_id}/authorise", {}, cw)
    assert status == 200, body
    site = Site(gateway, case_id)

    def call(label: str, establishment: str, prisoner: str) -> None:
        token = tokens["dial-hli" if establishment == "HLI" else "dial-wdi"]
        body = {"establishment": establishment, "prisoner": prisoner, "number": PHONE}

        def blocked() -> dict[str, Any]:
            answer: dict[str, Any] = request(gateway.port, "POST", "/v1/screen/call", body, token)[1]
            return answer if answer.get("decision") == "block" else {}

        answer = wait_for(blocked, f"a block for {prisoner}")
        assert answer["reference"] == case_id
        site.hits[label] = answer["hit_id"]

    call("primary", "HLI", "A1234BC")  # the named prisoner
    call("relay1", "HLI", "B2345CD")  # others asked to make the contact
    call("relay2", "HLI", "C3456DE")
    call("wdi", "WDI", "D4567EF")
    wait_for(lambda: len(request(gateway.port, "GET", "/v1/hits")[1]["hits"]) == 4, "4 shipped hits")
    return site


LABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(el => el.type !== 'hidden')
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
  .map(el => el.name || el.id)"""


def shot(page: Any, name: str) -> None:
    """A full-page screenshot under artifacts/screenshots/, and no control without a label."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    assert page.evaluate(LABELLED) == [], f"{name}: controls without a label"


def sign_in(context: Any, site: Any, username: str, password: str = PASSWORD) -> Any:
    """A new page of `context` signed in at `site.base` through the login form."""
    page = context.new_page()
    page.goto(f"{site.base}/ui/")
    assert page.url.endswith("/ui/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Password").press("Enter")  # the keyboard, not the mouse
    page.wait_for_load_state()
    return page


async def signed_in_cookie(
    app_client: Any, redis_url: str, username: str, role: str, establishment: str | None = None
) -> dict[str, str]:
    """The Cookie header of a session of an in-process app (aiohttp's test client), signed in
    through the real form as a new account."""
    with redis.Redis.from_url(redis_url) as r:
        add_user(r, Keys(), username, role, establishment, PASSWORD, replication=Replication())
    signed_in = await post_sign_in(app_client, username, PASSWORD)
    assert signed_in.status == 303
    return {"Cookie": f"{sessions.SESSION_COOKIE}={signed_in.cookies[sessions.SESSION_COOKIE].value}"}


async def post_sign_in(app_client: Any, username: str, password: str, **fields: str) -> Any:
    """The sign-in form of an in-process app filled in and posted as a browser would (its CSRF
    token in the form and the cookie); the answer, redirects not followed."""
    page = await app_client.get("/ui/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert token
    form = {"csrf_token": token.group(1), "username": username, "password": password, **fields}
    cookie = {"Cookie": f"{sessions.SIGNIN_COOKIE}={token.group(1)}"}
    return await app_client.post("/ui/login", data=form, allow_redirects=False, headers=cookie)


async def csrf_of(app_client: Any, path: str, cookie: dict[str, str]) -> str:
    """The CSRF token of the form on the page at `path`."""
    page = await app_client.get(path, headers=cookie)
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert token
    return token.group(1)
