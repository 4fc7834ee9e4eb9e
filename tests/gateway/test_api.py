"""The API in-process (aiohttp_client) against a real Redis: every endpoint, role and error."""

from __future__ import annotations

import asyncio
import base64
import logging
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis

import gateway
from gateway.app import create_app
from gateway.auth import list_tokens, revoke_token
from gateway.http import API_HANDLER, RUNTIME
from gateway.logs import JsonFormatter
from gateway.routes.screening import CALL_PATH, MAIL_PATH, MESSAGE_PATH
from gateway.settings import GatewaySettings
from gateway.source import StaticSource
from sync.replication import Replication
from tests.support.gateway_data import ADMIN, SECRETS, TokenFactory

CALL = {"establishment": "HLI", "prisoner": "A1234BC", "number": "07700 900123"}
ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}


def spool_rows(settings: GatewaySettings) -> list[tuple[str, str]]:
    with sqlite3.connect(settings.spool_file) as db:
        return db.execute("SELECT id, body FROM hits").fetchall()


def assert_no_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, secret


async def test_healthz_and_openapi_cover_every_route(client: Any) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200 and (await resp.json()) == {"status": "ok"}
    doc = await (await client.get("/v1/openapi.json")).json()
    assert doc["openapi"] == "3.1.0"
    routes = {r.resource.canonical for r in client.app.router.routes() if r.resource is not None}
    routes.remove("/{path}")  # the catch-all that answers 404 and 405
    api_routes = {r for r in routes if not r.startswith("/ui")}  # the people's pages are not API
    assert "/v1/requests/{id}/{action}" in api_routes
    assert api_routes == set(doc["paths"])


async def test_call_allow_touches_no_disk_and_block_is_spooled_first(
    client: Any, auth: TokenFactory, settings: GatewaySettings
) -> None:
    headers = await auth("dialler")
    resp = await client.post("/v1/screen/call", json={**CALL, "number": "07700 900999"}, headers=headers)
    assert resp.status == 200 and resp.headers.getall("Content-Type") == ["application/json"]
    assert await resp.json() == {
        "decision": "allow",
        "reference": None,
        "hit_id": None,
        "version": 7,
        "stale": False,
    }
    assert client.app[RUNTIME].spool.commits == 0
    resp = await client.post("/v1/screen/call", json={**CALL, "number": "9 07700 900123"}, headers=headers)
    text = await resp.text()
    body = await resp.json()
    assert resp.status == 200 and body["decision"] == "block" and body["reference"] == "UPC-1"
    assert body["version"] == 7 and body["hit_id"]
    assert_no_secrets(text)
    rows = spool_rows(settings)  # committed before the answer came back
    assert [r[0] for r in rows] == [body["hit_id"]]
    assert '"relay":false' in rows[0][1] and '"channel":"call"' in rows[0][1]


async def test_a_block_that_cannot_be_spooled_is_not_answered(client: Any, auth: TokenFactory) -> None:
    spool = client.app[RUNTIME].spool
    headers = await auth("dialler")
    # The table moved aside, not dropped: the shipper reads the spool again as the app stops.
    await spool.call(lambda db: db.execute("ALTER TABLE hits RENAME TO hits_away"))
    try:
        resp = await client.post(
            "/v1/screen/call", json={**CALL, "number": "9 07700 900123"}, headers=headers
        )
        body = await resp.json()
        assert resp.status == 503 and body["error"] == "hit_log_unavailable" and "decision" not in body
        resp = await client.post("/v1/screen/call", json={**CALL, "number": "07700 900999"}, headers=headers)
        assert resp.status == 200 and (await resp.json())["decision"] == "allow"  # an allow needs no spool
    finally:
        await spool.call(lambda db: db.execute("ALTER TABLE hits_away RENAME TO hits"))
    resp = await client.post("/v1/screen/call", json={**CALL, "number": "9 07700 900123"}, headers=headers)
    assert resp.status == 200 and (await resp.json())["decision"] == "block"  # and the spool goes on


async def test_relay_and_establishment_scope(client: Any, auth: TokenFactory) -> None:
    headers = await auth("dialler")
    resp = await client.post("/v1/screen/call", json={**CALL, "prisoner": "Z9999ZZ"}, headers=headers)
    assert (await resp.json())["decision"] == "block"
    hit_id = (await resp.json())["hit_id"]
    runtime = client.app[RUNTIME]
    [hit] = [h for h in await runtime.spool.pending(10) if h.id == hit_id]
    assert hit.relay is True and hit.prisoner == "Z9999ZZ" and hit.gateway == "gw-test" and hit.version == 7
    # UPC-2 covers HLI only
    other = {"establishment": "HMI", "prisoner": "B2345CD", "number": "07700 900456"}
    assert (await (await client.post("/v1/screen/call", json=other, headers=headers)).json())[
        "decision"
    ] == "allow"


async def test_auth_roles_and_binding(client: Any, auth: TokenFactory) -> None:
    resp = await client.post("/v1/screen/call", json=CALL)
    assert resp.status == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
    assert (await resp.json())["error"] == "unauthorized"
    resp = await client.post("/v1/screen/call", json=CALL, headers={"Authorization": "Bearer nope"})
    assert resp.status == 401
    resp = await client.post("/v1/screen/call", json=CALL, headers={"Authorization": "Basic abc"})
    assert resp.status == 401
    for role in ("mailroom", "messaging", "security", "casework"):
        resp = await client.post("/v1/screen/call", json=CALL, headers=await auth(role))
        assert resp.status == 403, role
    hull = await auth("dialler", "HLI")
    assert (await client.post("/v1/screen/call", json=CALL, headers=hull)).status == 200
    resp = await client.post("/v1/screen/call", json={**CALL, "establishment": "HMI"}, headers=hull)
    assert resp.status == 403
    assert (await resp.json())["field"] == "establishment"
    assert (await client.post("/v1/screen/call", json=CALL, headers=ADMIN_H)).status == 200
    for path, role in (
        ("/v1/screen/mail", "dialler"),
        ("/v1/screen/message", "mailroom"),
        ("/v1/tokens", "security"),
        ("/v1/hits/01ARZ3NDEKTSV4RRFFQ69G5FAV/review", "dialler"),
    ):
        assert (await client.post(path, json={}, headers=await auth(role))).status == 403, path
    assert (await client.get("/v1/hits", headers=await auth("dialler"))).status == 403
    assert (await client.put("/v1/entries/UPC-9", json={}, headers=await auth("security"))).status == 403
    assert (await client.delete("/v1/entries/UPC-9", headers=await auth("dialler"))).status == 403


async def test_revoked_token_stops_working(
    client: Any, auth: TokenFactory, settings: GatewaySettings
) -> None:
    headers = await auth("dialler")
    assert (await client.post("/v1/screen/call", json=CALL, headers=headers)).status == 200
    sync_client = redis.Redis.from_url(str(settings.sync.redis_url))
    [token] = list_tokens(sync_client, settings.sync.keys)
    assert revoke_token(sync_client, settings.sync.keys, token.id, replication=Replication())
    await asyncio.sleep(settings.token_refresh * 3)
    assert (await client.post("/v1/screen/call", json=CALL, headers=headers)).status == 401


BAD_CALLS = [
    (b"{", 400, "invalid_json", None),
    (b"[]", 400, "invalid_json", None),
    (b"", 400, "invalid_json", None),
    (b'{"establishment":"HLI","prisoner":"A1234BC"}', 400, "missing_field", "number"),
    (b'{"establishment":"HLI","prisoner":"A1234BC","number":7700900123}', 400, "invalid_field", "number"),
    (b'{"establishment":"HLI","prisoner":"A1234BC","number":"  "}', 400, "invalid_field", "number"),
    (
        b'{"establishment":"HLI","prisoner":"A1234BC","number":"' + b"1" * 65 + b'"}',
        400,
        "invalid_field",
        "number",
    ),
    (b'{"establishment":"HLI","prisoner":"A1234BC","number":"hello"}', 400, "invalid_field", "number"),
    (b'{"establishment":"HLI","prisoner":"A1234BC","number":"0770","x":1}', 400, "unknown_field", "x"),
    (
        b'{"establishment":"H","prisoner":"A1234BC","number":"07700 900123"}',
        400,
        "invalid_field",
        "establishment",
    ),
    (
        b'{"establishment":["HLI"],"prisoner":"A1234BC","number":"07700 900123"}',
        400,
        "invalid_field",
        "establishment",
    ),
    (b'{"establishment":"HLI","prisoner":"A 1","number":"07700 900123"}', 400, "invalid_field", "prisoner"),
    (b'{"establishment":"HLI","prisoner":null,"number":"07700 900123"}', 400, "missing_field", "prisoner"),
    (b'{"establishment":"HLI","prisoner":"A1234BC","number":"0770\\u0000"}', 400, "invalid_field", "number"),
    (b'{"number":"' + b"1" * 3000 + b'"}', 413, "body_too_large", None),
]


@pytest.mark.parametrize(("raw", "status", "error", "field"), BAD_CALLS)
async def test_bad_call_bodies(
    client: Any, auth: TokenFactory, raw: bytes, status: int, error: str, field: str | None
) -> None:
    headers = {**await auth("dialler"), "Content-Type": "application/json"}
    resp = await client.post("/v1/screen/call", data=raw, headers=headers)
    body = await resp.json()
    assert (resp.status, body["error"]) == (status, error), body
    assert body.get("field") == field
    if field:
        assert body["detail"].startswith(f"{field}:")


async def test_mail_and_message(client: Any, auth: TokenFactory, settings: GatewaySettings) -> None:
    mail = {
        "establishment": "HLI",
        "prisoner": "Z9999ZZ",
        "envelope": "Miss J Smith\nFlat 2, 14 High St\nHull HU1 2AB",
    }
    resp = await client.post("/v1/screen/mail", json=mail, headers=await auth("mailroom"))
    body = await resp.json()
    assert resp.status == 200 and body["decision"] == "block" and body["hit_id"]
    assert body["matches"][0] == {"reference": "UPC-1", "kind": "address", "strength": "strong"}
    assert_no_secrets(await resp.text())
    messaging = await auth("messaging")
    msg = {"establishment": "HLI", "prisoner": "A1234BC", "to": "Jane.Smith@example.com"}
    resp = await client.post("/v1/screen/message", json=msg, headers=messaging)
    body = await resp.json()
    assert body["decision"] == "block" and body["matches"][0]["kind"] == "email"
    assert_no_secrets(await resp.text())
    resp = await client.post(
        "/v1/screen/message", json={**msg, "to": "nobody@example.org"}, headers=messaging
    )
    assert (await resp.json()) == {
        "decision": "allow",
        "matches": [],
        "hit_id": None,
        "version": 7,
        "stale": False,
    }
    for bad, field in (
        ({**msg, "to": "a@@"}, "to"),
        ({**msg, "content": 5}, "content"),
        ({**msg, "to": None}, "to"),
        ({**msg, "cc": "x"}, "cc"),
    ):
        resp = await client.post("/v1/screen/message", json=bad, headers=messaging)
        assert resp.status == 400 and (await resp.json())["field"] == field, bad
    resp = await client.post(
        "/v1/screen/mail", json={**mail, "envelope": "x" * 4001}, headers=await auth("mailroom")
    )
    assert resp.status == 400 and (await resp.json())["field"] == "envelope"
    assert len(spool_rows(settings)) == 2


async def test_not_ready_and_stale_policy(
    aiohttp_client: Any, settings: GatewaySettings, source: StaticSource
) -> None:
    empty = StaticSource(None, state="INITIALIZING")
    client = await aiohttp_client(create_app(settings, source=empty))
    resp = await client.post("/v1/screen/call", json=CALL, headers=ADMIN_H)
    assert resp.status == 503 and (await resp.json())["error"] == "not_ready"
    assert (await client.get("/readyz")).status == 503

    refuse = await aiohttp_client(
        create_app(settings.with_(stale_policy="refuse", max_data_age=5), source=source)
    )
    assert (await refuse.get("/readyz")).status == 200
    source.mark("INTERRUPTED", age=12.0)
    resp = await refuse.post("/v1/screen/call", json=CALL, headers=ADMIN_H)
    body = await resp.json()
    assert resp.status == 503 and body["error"] == "stale_data" and body["version"] == 7
    ready = await refuse.get("/readyz")
    assert ready.status == 503 and (await ready.json())["state"] == "INTERRUPTED"

    serve = await aiohttp_client(
        create_app(settings.with_(stale_policy="serve", max_data_age=5), source=source)
    )
    resp = await serve.post("/v1/screen/call", json=CALL, headers=ADMIN_H)
    body = await resp.json()
    assert (
        resp.status == 200 and body["decision"] == "block" and body["stale"] is True and body["version"] == 7
    )


async def test_tokens_endpoint(client: Any, auth: TokenFactory) -> None:
    resp = await client.post("/v1/tokens", json={"role": "dialler", "establishment": "hli"}, headers=ADMIN_H)
    body = await resp.json()
    assert resp.status == 201 and body["role"] == "dialler" and body["establishment"] == "HLI"
    assert body["token"].startswith("nc_")
    for bad, field in (
        ({"role": "root"}, "role"),
        ({}, "role"),
        ({"role": "casework", "establishment": "HLI"}, "establishment"),
        ({"role": "dialler", "extra": 1}, "extra"),
        ({"role": "dialler", "establishment": 3}, "establishment"),
    ):
        resp = await client.post("/v1/tokens", json=bad, headers=ADMIN_H)
        assert resp.status == 400 and (await resp.json())["field"] == field, bad


async def _shipped(client: Any, count: int) -> None:
    shipper = client.app[RUNTIME].shipper
    async with asyncio.timeout(5):
        while shipper.shipped < count:
            await asyncio.sleep(0.01)


async def test_hits_filters_pagination_and_review(client: Any, auth: TokenFactory) -> None:
    dialler = await auth("dialler")
    ids = []
    for prisoner, est in (("A1234BC", "HLI"), ("Z9999ZZ", "HLI"), ("Y8888YY", "HMI")):
        resp = await client.post(
            "/v1/screen/call", json={**CALL, "prisoner": prisoner, "establishment": est}, headers=dialler
        )
        ids.append((await resp.json())["hit_id"])
    await _shipped(client, 3)
    security = await auth("security")
    page = await (await client.get("/v1/hits", headers=security)).json()
    # Newest first by id; ids made in one millisecond sort by their random part.
    assert [h["id"] for h in page["hits"]] == sorted(ids, reverse=True) and page["next"] is None
    assert_no_secrets(str(page))
    get = client.get
    relay = await (await get("/v1/hits", params={"match": "relay"}, headers=security)).json()
    assert {h["prisoner"] for h in relay["hits"]} == {"Z9999ZZ", "Y8888YY"}
    primary = await (
        await get("/v1/hits", params={"match": "primary", "reference": "UPC-1"}, headers=security)
    ).json()
    assert [h["id"] for h in primary["hits"]] == [ids[0]]
    hmi = await (
        await get("/v1/hits", params={"establishment": "HMI", "channel": "call"}, headers=security)
    ).json()
    assert [h["id"] for h in hmi["hits"]] == [ids[2]]
    first = await (await get("/v1/hits", params={"limit": "2"}, headers=security)).json()
    assert len(first["hits"]) == 2 and first["next"]
    rest = await (
        await get("/v1/hits", params={"limit": "2", "cursor": first["next"]}, headers=security)
    ).json()
    assert [h["id"] for h in rest["hits"]] == [min(ids)]
    future = await (await get("/v1/hits", params={"since": "2100-01-01T00:00:00Z"}, headers=security)).json()
    assert future["hits"] == []
    past = await (await get("/v1/hits", params={"until": "0"}, headers=security)).json()
    assert past["hits"] == []
    for params, field in (
        ({"limit": "0"}, "limit"),
        ({"channel": "fax"}, "channel"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-01-01T00:00:00"}, "since"),
        ({"cursor": "x"}, "cursor"),
        ({"colour": "red"}, "colour"),
        ({"prisoner": "a b"}, "prisoner"),
    ):
        resp = await get("/v1/hits", params=params, headers=security)
        assert resp.status == 400 and (await resp.json())["field"] == field, params
    bound = await auth("security", "HMI")
    only_hmi = await (await get("/v1/hits", headers=bound)).json()
    assert [h["id"] for h in only_hmi["hits"]] == [ids[2]]
    assert (await get("/v1/hits", params={"establishment": "HLI"}, headers=bound)).status == 403

    resp = await client.post(
        f"/v1/hits/{ids[1]}/review",
        json={"outcome": "confirmed", "note": "relay via wing B"},
        headers=security,
    )
    assert resp.status == 200
    page = await (await get("/v1/hits", params={"prisoner": "Z9999ZZ"}, headers=security)).json()
    assert page["hits"][0]["review"]["outcome"] == "confirmed"
    post = client.post
    assert (await post(f"/v1/hits/{ids[0]}/review", json={"outcome": "x"}, headers=security)).status == 400
    assert (
        await post(f"/v1/hits/{ids[0]}/review", json={"outcome": "confirmed", "by": "me"}, headers=security)
    ).status == 400
    assert (
        await post(
            "/v1/hits/01ARZ3NDEKTSV4RRFFQ69G5FAV/review", json={"outcome": "confirmed"}, headers=security
        )
    ).status == 404
    assert (await post("/v1/hits/nope/review", json={"outcome": "confirmed"}, headers=security)).status == 400
    assert (
        await post(f"/v1/hits/{ids[0]}/review", json={"outcome": "confirmed"}, headers=bound)
    ).status == 404


async def test_entries_put_and_delete(client: Any, auth: TokenFactory, settings: GatewaySettings) -> None:
    casework = await auth("casework")
    entry = {
        "prisoner": "C3456DE",
        "scope": ["HLI"],
        "protected": [{"name": "Sam Jones", "phones": ["07700 900777"]}],
    }
    resp = await client.put("/v1/entries/UPC-77", json=entry, headers=casework)
    body = await resp.json()
    assert resp.status == 200 and body["reference"] == "UPC-77" and body["version"] >= 1
    assert (
        await client.put("/v1/entries/UPC-77", json={**entry, "reference": "UPC-78"}, headers=casework)
    ).status == 400
    bad = {**entry, "protected": [{"name": "Sam Jones", "phones": ["999"]}]}
    resp = await client.put("/v1/entries/UPC-79", json=bad, headers=casework)
    assert resp.status == 400 and (await resp.json())["field"].startswith("protected[0].phones")
    resp = await client.put("/v1/entries/UPC-79", json={**entry, "colour": 1}, headers=casework)
    assert resp.status == 400 and (await resp.json())["field"] == "colour"
    assert (await client.put("/v1/entries/UPC-79", data=b"[1]", headers=casework)).status == 400
    assert (await client.put("/v1/entries/%20bad", json=entry, headers=casework)).status == 400
    assert (await client.delete("/v1/entries/UPC-77", headers=casework)).status == 200
    resp = await client.delete("/v1/entries/UPC-77", headers=casework)
    assert resp.status == 404 and (await resp.json())["error"] == "not_found"


async def test_http_errors_are_json(client: Any) -> None:
    resp = await client.get("/v1/nothing")
    assert resp.status == 404 and resp.content_type == "application/json"
    assert await resp.json() == {"error": "not_found", "detail": "path: Not Found"}
    resp = await client.get("/v1/screen/call")
    assert resp.status == 405 and resp.headers["Allow"] == "POST"
    assert await resp.json() == {"error": "method_not_allowed", "detail": "path: Method Not Allowed"}
    for method, path, allow in (
        ("DELETE", "/healthz", "GET,HEAD"),
        ("GET", "/v1/requests/R-1/authorise", "POST"),  # a path matched by a pattern
        ("POST", "/v1/entries/UPC-1", "DELETE,GET,HEAD,PUT"),  # several routes on one path
        ("PUT", "/ui/static/ui.css", "GET,HEAD"),
    ):
        resp = await client.request(method, path)
        assert resp.status == 405 and resp.headers["Allow"] == allow, (method, path)
        assert (await resp.json())["error"] == "method_not_allowed"
    for path in ("/", "/v1/screen/call/", "/v1/screen", "/healthz/x"):
        resp = await client.post(path)
        assert resp.status == 404 and (await resp.json())["error"] == "not_found", path
    resp = await client.get("/ui/static/nothing.css")
    assert resp.status == 404 and (await resp.json())["error"] == "not_found"
    counted = client.app[RUNTIME].metrics.requests
    assert counted[("unmatched", "GET", 404)] == 1 and counted[("unmatched", "GET", 405)] == 2
    assert counted[("unmatched", "POST", 404)] == 4 and counted[("unmatched", "POST", 405)] == 1
    assert counted[("/ui/static", "GET", 404)] == 1


async def test_every_route_answers_errors_counts_and_logs(client: Any) -> None:
    """The app has no middleware: each route's handler is wrapped by api_handler, except the
    screening routes, which do the same inline."""
    unwrapped = {
        route.resource.canonical
        for route in client.app.router.routes()
        if route.resource is not None and not getattr(route.handler, API_HANDLER, False)
    }
    assert unwrapped == {CALL_PATH, MAIL_PATH, MESSAGE_PATH}


async def test_static_files(client: Any) -> None:
    resp = await client.get("/ui/static/ui.css")
    assert resp.status == 200 and resp.content_type == "text/css"
    assert (await resp.read()) == (Path(gateway.__file__).parent / "static" / "ui.css").read_bytes()
    resp = await client.get("/ui/static/../app.py")
    assert resp.status == 404 and (await resp.json())["error"] == "not_found"
    assert client.app[RUNTIME].metrics.requests[("/ui/static", "GET", 200)] == 1


@pytest.mark.timeout(900)  # the first run on a fresh machine installs Debian's prometheus package
async def test_metrics_pass_promtool(client: Any, auth: TokenFactory, promtool: str) -> None:
    headers = await auth("dialler")
    await client.post("/v1/screen/call", json=CALL, headers=headers)
    await client.post("/v1/screen/call", json={**CALL, "number": "07700 900999"}, headers=headers)
    await client.post("/v1/screen/call", json={}, headers=headers)
    resp = await client.get("/metrics")
    text = await resp.text()
    assert resp.status == 200
    for needle in (
        'nocontact_gateway_decisions_total{channel="call",decision="block",match="primary"} 1.0',
        'nocontact_gateway_decisions_total{channel="call",decision="allow",match="none"} 1.0',
        'nocontact_gateway_http_requests_total{endpoint="/v1/screen/call",method="POST",status="400"} 1.0',
        'nocontact_gateway_index_state{state="VALID"} 1.0',
        "nocontact_gateway_index_version 7.0",
        "nocontact_gateway_identifiers_loaded",
        "nocontact_gateway_hit_spool_backlog",
        "nocontact_gateway_http_request_duration_seconds_bucket",
    ):
        assert needle in text, needle
    check = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, check=False
    )
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()


async def test_access_log_has_no_details_or_tokens(client: Any, auth: TokenFactory, caplog: Any) -> None:
    headers = await auth("dialler")
    token = headers["Authorization"].split()[1]
    client.app[RUNTIME].settings = client.app[RUNTIME].settings.with_(log_screening=True)
    with caplog.at_level(logging.INFO, logger="nocontact.gateway.access"):
        await client.post("/v1/screen/call", json=CALL, headers=headers)
        await client.post("/v1/screen/call", json={**CALL, "number": 7700900123}, headers=headers)
    records = [r for r in caplog.records if r.name == "nocontact.gateway.access"]
    lines = [JsonFormatter().format(r) for r in records]
    assert len(lines) == 2 and '"endpoint":"/v1/screen/call"' in lines[0] and '"role":"dialler"' in lines[0]
    assert '"status":200' in lines[0] and '"status":400' in lines[1]
    for line in lines:
        assert token not in line and ADMIN not in line
        assert_no_secrets(line)


async def test_successful_screening_is_not_logged_by_default(
    client: Any, auth: TokenFactory, caplog: Any
) -> None:
    headers = await auth("dialler")
    security = await auth("security")
    assert client.app[RUNTIME].settings.log_screening is False
    with caplog.at_level(logging.INFO, logger="nocontact.gateway.access"):
        assert (await client.post("/v1/screen/call", json=CALL, headers=headers)).status == 200
        bad = await client.post("/v1/screen/call", json={**CALL, "number": 7700900123}, headers=headers)
        assert bad.status == 400
        assert (await client.get("/v1/hits", headers=security)).status == 200
    lines = [r for r in caplog.records if r.name == "nocontact.gateway.access"]
    assert [r.fields["status"] for r in lines] == [400, 200]  # the error and the non-screening request
    assert lines[1].fields["endpoint"] == "/v1/hits"


NASTY = [
    "+",
    "++44",
    "0" * 64,
    "tel:",
    "ext. 12",
    "９９９",
    "\u202e07700",
    "a@b@c",
    "@",
    "x@",
    "-1",
    "1e400",
    "🙂" * 16,
    "07700 900123;ext=99999999999999999999",
    "\ud7ff",
    "HU1 2AB " * 400,
]


@pytest.mark.parametrize("value", NASTY)
async def test_odd_input_never_gives_a_500(client: Any, value: str) -> None:
    bodies = [
        ("/v1/screen/call", {**CALL, "number": value}),
        ("/v1/screen/call", {**CALL, "prisoner": value}),
        ("/v1/screen/call", {**CALL, "establishment": value}),
        (
            "/v1/screen/message",
            {"establishment": "HLI", "prisoner": "A1234BC", "to": value, "content": value},
        ),
        (
            "/v1/screen/mail",
            {"establishment": "HLI", "prisoner": "A1234BC", "envelope": value, "content": value},
        ),
    ]
    for path, body in bodies:
        resp = await client.post(path, json=body, headers=ADMIN_H)
        assert resp.status in (200, 400, 413), (path, body, await resp.text())
    entry = {
        "prisoner": value,
        "protected": [
            {
                "name": value,
                "phones": [value],
                "emails": [value],
                "addresses": [{"lines": [value], "postcode": value}],
            }
        ],
    }
    resp = await client.put("/v1/entries/UPC-X", json=entry, headers=ADMIN_H)
    assert resp.status == 400, await resp.text()


async def test_a_write_no_replica_confirms_is_a_503_not_an_acknowledgement(
    aiohttp_client: Any, settings: GatewaySettings, source: StaticSource
) -> None:
    """write_replicas = 1 and no replica: the entry reaches the primary but the caller is told it is
    not acknowledged (and to read it back), never a 200."""
    settings = settings.with_(sync=settings.sync.with_(write_replicas=1, write_wait_ms=50))
    client = await aiohttp_client(create_app(settings, source=source))
    entry = {
        "prisoner": "A1234BC",
        "scope": "all",
        "protected": [{"name": "Jo Bloggs", "phones": ["07700 900777"]}],
    }
    resp = await client.put("/v1/entries/UPC-90", json=entry, headers={"Authorization": f"Bearer {ADMIN}"})
    body = await resp.json()
    assert resp.status == 503 and body["error"] == "store_unavailable", body
    assert "no replica confirmed it" in body["detail"] and "read it back" in body["detail"]


async def test_a_token_may_come_as_the_password_of_basic_credentials(client: Any, auth: TokenFactory) -> None:
    """For PBXs that can only send Basic (Kamailio's http_client keeps a connection open only for a
    named connection, whose credentials are Basic): any user name, the token as the password."""
    dialler = (await auth("dialler", "HLI"))["Authorization"].removeprefix("Bearer ")
    call = {"establishment": "HLI", "prisoner": "Z9999ZZ", "number": "07700 900123"}

    def basic(credentials: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}

    answer = await client.post(CALL_PATH, json=call, headers=basic(f"kamailio:{dialler}"))
    assert answer.status == 200 and (await answer.json())["decision"] == "block"
    for bad in (basic(f"kamailio:{dialler}x"), basic("kamailio:"), {"Authorization": "Basic !!notbase64"}):
        assert (await client.post(CALL_PATH, json=call, headers=bad)).status == 401
