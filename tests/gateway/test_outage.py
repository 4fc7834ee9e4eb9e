"""Redis gone while the gateway serves: every route that needs the store answers 503
``store_unavailable`` as JSON (never a 500), the case handlers' page answers its "store
unavailable" page, and screening keeps answering from the index it holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.app import create_app
from gateway.settings import GatewaySettings
from gateway.source import StaticSource
from gateway.ui import sessions
from sync.settings import SyncSettings
from tests.support.case_data import request_data
from tests.support.gateway_data import ADMIN, build_index
from tests.support.redis_server import RedisFactory

ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}
CALL = {"establishment": "HLI", "prisoner": "A1234BC", "number": "07700 900999"}
ENTRY = {
    "prisoner": "A1234BC",
    "scope": "all",
    "protected": [{"name": "Ann Lee", "phones": ["07700 900777"]}],
}


@pytest.fixture
async def down(redis_server: RedisFactory, tmp_path: Path, aiohttp_client: Any) -> tuple[Any, dict[str, str]]:
    """The app on a Redis that is killed once a casework token exists (the token cache keeps it)."""
    server = redis_server()
    sync = SyncSettings(redis_url=server.url, data_dir=tmp_path, gateway_id="gw-test", connect_timeout=1.0)
    client = await aiohttp_client(
        create_app(GatewaySettings(sync=sync, admin_token=ADMIN), source=StaticSource(build_index()))
    )
    resp = await client.post("/v1/tokens", json={"role": "casework"}, headers=ADMIN_H)
    casework = {"Authorization": f"Bearer {(await resp.json())['token']}"}
    server.kill()
    return client, casework


@pytest.mark.parametrize(
    ("method", "path", "body", "who"),
    [
        ("PUT", "/v1/entries/UPC-9", ENTRY, "admin"),
        ("DELETE", "/v1/entries/UPC-9", None, "admin"),
        ("POST", "/v1/tokens", {"role": "dialler"}, "admin"),
        ("GET", "/v1/hits", None, "admin"),
        ("POST", "/v1/hits/01ARZ3NDEKTSV4RRFFQ69G5FAV/review", {"outcome": "confirmed"}, "admin"),
        ("POST", "/v1/requests", request_data(), "casework"),
        ("GET", "/v1/requests", None, "casework"),
        ("GET", "/v1/requests/UPC-2026-000001", None, "casework"),
        ("GET", "/v1/requests/overdue", None, "casework"),
        ("PUT", "/v1/contacts/HLI/A1234BC", {"contacts": []}, "admin"),
        ("GET", "/v1/contacts/HLI/A1234BC", None, "admin"),
        ("DELETE", "/v1/contacts/HLI/A1234BC", None, "admin"),
        ("GET", "/v1/contact-tasks", None, "admin"),
    ],
)
async def test_store_outage_is_a_503_naming_the_store(
    down: tuple[Any, dict[str, str]], method: str, path: str, body: Any, who: str
) -> None:
    client, casework = down
    headers = ADMIN_H if who == "admin" else casework
    resp = await client.request(method, path, json=body, headers=headers)
    answer = await resp.json()
    assert resp.status == 503 and answer["error"] == "store_unavailable", answer
    assert answer["detail"].startswith("store: Redis cannot be reached")


async def test_screening_answers_through_a_store_outage(down: tuple[Any, dict[str, str]]) -> None:
    client, _ = down
    resp = await client.post("/v1/screen/call", json=CALL, headers=ADMIN_H)
    assert resp.status == 200 and (await resp.json())["decision"] == "allow"


@pytest.mark.parametrize(
    "path", ["/ui/", "/ui/login", "/ui/hits", "/ui/cases", "/ui/contacts", "/ui/charts", "/ui/mailroom"]
)
async def test_the_pages_answer_store_unavailable_to_a_signed_in_viewer(
    down: tuple[Any, dict[str, str]], path: str
) -> None:
    # A session cookie makes every page look the viewer up in the store: with Redis gone that is
    # the "store unavailable" page (503, HTML), never a 500 or a sign-in form that cannot work.
    client, _ = down
    cookie = {sessions.SESSION_COOKIE: "a" * 43}
    resp = await client.get(path, cookies=cookie, allow_redirects=False)
    body = await resp.text()
    assert resp.status == 503, (resp.status, body[:300])
    assert resp.content_type == "text/html" and "Store unavailable" in body, body[:300]
