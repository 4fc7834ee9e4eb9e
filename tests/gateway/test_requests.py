"""The case endpoints end to end: the real gateway app (sync follower, heartbeats, hit spool and
shipper) against a real redis-server, with the screening answer checked before and after."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from aiohttp.test_utils import TestClient

from gateway.app import create_app
from gateway.auth import ROLES
from gateway.http import RUNTIME
from gateway.routes.requests import SIMPLE_ACTIONS
from gateway.settings import GatewaySettings
from sync.keys import Keys
from sync.settings import SyncSettings
from sync.writer import Writer
from tests.support.case_data import NAME, PHONE, request_data

ADMIN = "admin-token-for-tests"
Client = TestClient[Any, Any]


async def until(probe: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await probe():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


class Api:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.tokens: dict[str, str] = {"admin": ADMIN}

    async def token(self, name: str, role: str, establishment: str | None = None) -> None:
        body: dict[str, Any] = {"role": role}
        if establishment:
            body["establishment"] = establishment
        resp = await self.call("admin", "POST", "/v1/tokens", body)
        assert resp[0] == 201, resp
        self.tokens[name] = resp[1]["token"]

    async def call(self, who: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        resp = await self.client.request(method, path, json=body, headers=headers)
        return resp.status, await resp.json()

    async def screen(self, establishment: str, prisoner: str = "A1234BC", number: str = PHONE) -> str:
        status, body = await self.call(
            f"dial-{establishment}",
            "POST",
            "/v1/screen/call",
            {"establishment": establishment, "prisoner": prisoner, "number": number},
        )
        assert status == 200, body
        return str(body["decision"])

    async def live(self, case_id: str) -> bool:
        status, body = await self.call("cw", "GET", f"/v1/requests/{case_id}/live")
        assert status == 200, body
        return bool(body["live"])


@pytest.fixture
async def api(redis_url: str, tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]) -> Api:
    with redis.Redis.from_url(redis_url) as r:
        Writer(r).initialise()
    settings = GatewaySettings(
        admin_token=ADMIN,
        access_log=False,
        token_refresh=0.2,
        sync=SyncSettings(
            redis_url=redis_url,
            data_dir=tmp_path,
            gateway_id="gw-test",
            heartbeat_interval=0.05,
            heartbeat_ttl=2.0,
            block_ms=100,
        ),
    )
    client = Api(await aiohttp_client(create_app(settings)))
    await client.token("cw", "casework")
    await client.token("hli", "security", "HLI")
    await client.token("wdi", "security", "WDI")
    await client.token("sec-any", "security")
    for code in ("HLI", "WDI", "LWI"):
        await client.token(f"dial-{code}", "dialler", code)
    return client


async def test_transfer_and_release_end_to_end(api: Api) -> None:
    status, created = await api.call("cw", "POST", "/v1/requests", request_data(scope=["HLI"]))
    assert status == 201, created
    case_id = created["id"]
    assert created["state"] == "submitted" and created["deadlines"]["send_due"]
    assert await api.screen("HLI") == "allow"

    assert (await api.call("hli", "POST", f"/v1/requests/{case_id}/send", {}))[0] == 403  # casework sends
    assert (await api.call("cw", "POST", f"/v1/requests/{case_id}/send", {}))[0] == 200
    status, body = await api.call("hli", "POST", f"/v1/requests/{case_id}/authorise", {})
    assert status == 200 and body["state"] == "authorised"
    await until(lambda: api.live(case_id))  # in seconds, not days
    assert await api.screen("HLI") == "block"
    assert await api.screen("WDI") == "allow"  # scope: HLI only, so far

    # Transfer to WDI, recorded by HLI and accepted by WDI: the block follows the prisoner.
    status, body = await api.call("hli", "POST", f"/v1/requests/{case_id}/transfer", {"establishment": "WDI"})
    assert status == 200, body
    assert body["scope"] == ["HLI", "WDI"] and body["establishment"] == "HLI" and body["transfer_to"] == "WDI"
    assert (await api.call("wdi", "GET", f"/v1/requests/{case_id}"))[0] == 200  # WDI sees what comes
    status, body = await api.call("wdi", "POST", f"/v1/requests/{case_id}/accept_transfer", {})
    assert status == 200, body
    assert body["establishment"] == "WDI" and body["transfer_to"] is None
    await until(lambda: api.live(case_id))
    await until(lambda: _decided(api, "WDI", "block"))
    assert await api.screen("HLI") == "block"  # prisoners left behind may relay
    assert await api.screen("LWI") == "allow"
    assert (await api.call("hli", "GET", f"/v1/requests/{case_id}"))[0] == 404  # no longer held at HLI

    # Release: the entry goes; the information passes to the Community Offender Manager.
    status, body = await api.call("wdi", "POST", f"/v1/requests/{case_id}/release", {})
    assert status == 400 and body["field"] == "reason"
    status, body = await api.call(
        "wdi",
        "POST",
        f"/v1/requests/{case_id}/release",
        {"reason": "released on licence; handed to COM, Hull PDU"},
    )
    assert status == 200 and body["state"] == "released"
    await until(lambda: _decided(api, "WDI", "allow"))
    assert (await api.call("cw", "GET", f"/v1/requests/{case_id}/live"))[1]["live"] is False
    status, body = await api.call("cw", "POST", f"/v1/requests/{case_id}/revoke", {"reason": "x"})
    assert status == 409 and body["error"] == "invalid_transition" and body["allowed"] == []
    status, body = await api.call("cw", "GET", f"/v1/requests/{case_id}")
    actions = [h["action"] for h in body["history"]]
    assert actions == ["submit", "send", "authorise", "transfer", "accept_transfer", "release"]
    assert body["history"][3]["details"] == body["history"][4]["details"] == {"from": "HLI", "to": "WDI"}


async def _decided(api: Api, establishment: str, decision: str) -> bool:
    return await api.screen(establishment) == decision


async def test_breach_links_real_hits_and_revoke(api: Api) -> None:
    _, created = await api.call("cw", "POST", "/v1/requests", request_data())
    case_id = created["id"]
    await api.call("cw", "POST", f"/v1/requests/{case_id}/send", {})
    await api.call("cw", "POST", f"/v1/requests/{case_id}/authorise", {})
    await until(lambda: api.live(case_id))
    assert await api.screen("HLI") == "block"
    assert await api.screen("HLI") == "block"
    assert await api.screen("WDI", prisoner="B2345CD") == "block"  # relay through another prisoner
    cases = api.client.app[RUNTIME].cases
    assert cases is not None
    store = cases.client
    await until(lambda: _count(store, 3))  # the three hits have been shipped to the hits stream

    status, body = await api.call(
        "hli",
        "POST",
        f"/v1/requests/{case_id}/breaches",
        {"channel": "call", "description": "victim reports calls"},
    )
    assert status == 201, body
    assert len(body["breach"]["hits"]) == 2 and body["breach"]["prisoner"] == "A1234BC"
    status, body = await api.call(
        "cw",
        "POST",
        f"/v1/requests/{case_id}/breaches",
        {"channel": "third_party", "prisoner": "B2345CD", "description": "relay"},
    )
    assert status == 201 and len(body["breach"]["hits"]) == 1
    status, body = await api.call("cw", "GET", f"/v1/requests/{case_id}/breaches")
    assert body["hits_by_prisoner"] == {"A1234BC": 2, "B2345CD": 1}
    assert [b["id"] for b in body["breaches"]] == ["BR1", "BR2"]

    status, body = await api.call("cw", "POST", f"/v1/requests/{case_id}/revoke", {"reason": "review"})
    assert status == 200 and body["state"] == "revoked"
    await until(lambda: _decided(api, "HLI", "allow"))


async def _count(client: Any, n: int) -> bool:
    return int(client.xlen(Keys().hits)) >= n


async def test_notice_and_least_disclosure(api: Api) -> None:
    _, created = await api.call("cw", "POST", "/v1/requests", request_data())
    case_id = created["id"]
    status, body = await api.call("hli", "GET", f"/v1/requests/{case_id}/notice")
    assert status == 200 and NAME in body["text"] and PHONE not in body["text"]
    status, body = await api.call("hli", "GET", f"/v1/requests/{case_id}")
    assert status == 200
    text = str(body)
    assert PHONE not in text and "example" not in text and "HU1" not in text
    assert body["request"]["protected"][0] == {"name": NAME, "phones": 1, "emails": 1, "addresses": 1}
    assert PHONE in str((await api.call("cw", "GET", f"/v1/requests/{case_id}"))[1])
    assert (await api.call("wdi", "GET", f"/v1/requests/{case_id}"))[0] == 404
    assert (await api.call("sec-any", "GET", f"/v1/requests/{case_id}"))[0] == 403
    assert (await api.call("dial-HLI", "GET", f"/v1/requests/{case_id}"))[0] == 403


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"protected": [{"name": NAME}]}, "protected[0]"),
        ({"protected": [{"name": NAME, "phones": ["999"]}]}, "protected[0].phones[0]"),
        (
            {"protected": [{"name": NAME, "addresses": [{"lines": ["1 A Road"], "postcode": "HU1 ZZZ"}]}]},
            "protected[0].addresses[0].postcode",
        ),
        ({"pathway": 3, "consent": "not_given", "rationale": "x"}, "consent"),
        ({"consent": "not_given"}, "rationale"),
    ],
)
async def test_intake_refusals_name_the_field(api: Api, changes: dict[str, Any], field: str) -> None:
    status, body = await api.call("cw", "POST", "/v1/requests", request_data(**changes))
    assert status == 400
    assert body["field"] == field and body["detail"].startswith(field)


async def test_listings(api: Api) -> None:
    ids = []
    for _ in range(2):
        ids.append((await api.call("cw", "POST", "/v1/requests", request_data()))[1]["id"])
    other = request_data(prisoner={"number": "C3456DE", "name": "R Roe", "establishment": "WDI"})
    ids.append((await api.call("cw", "POST", "/v1/requests", other))[1]["id"])
    status, body = await api.call("cw", "GET", "/v1/requests?prisoner=a1234bc")
    assert status == 200 and [r["id"] for r in body["requests"]] == ids[:2]
    status, body = await api.call("hli", "GET", "/v1/requests")
    assert [r["id"] for r in body["requests"]] == ids[:2]
    assert (await api.call("hli", "GET", "/v1/requests?establishment=WDI"))[0] == 403
    status, body = await api.call("cw", "GET", "/v1/requests?establishment=WDI&state=submitted")
    assert [r["id"] for r in body["requests"]] == ids[2:]
    assert (await api.call("cw", "GET", "/v1/requests?state=bogus"))[1]["field"] == "state"
    status, body = await api.call("cw", "GET", "/v1/requests/overdue")
    assert status == 200 and body == {"requests": []}  # just submitted: not yet due
    status, body = await api.call("cw", "GET", "/v1/requests/reviews-due")
    assert status == 200 and body == {"requests": []}
    assert (await api.call("cw", "GET", "/v1/requests/UPC-2026-999999"))[0] == 404
    assert (await api.call("cw", "GET", "/v1/requests/nonsense"))[1]["field"] == "id"


# -- issue 16 item 1: no one acts on a request outside their prison ------------------------------


def _case_calls(transfer_to: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every route that names a request: (method, path after /v1/requests/{id}, body)."""
    simple = {
        "authorise": {"prisoner_number": "A1234BC"},
        "transfer": {"establishment": transfer_to},
        "accept_transfer": {},
    }
    return [
        ("GET", "", None),
        ("GET", "/notice", None),
        ("GET", "/live", None),
        ("GET", "/breaches", None),
        ("POST", "/breaches", {"channel": "call", "description": "calls"}),
        ("POST", "/exemptions", {"prisoner": "B2345CD", "identifier": "07700 900999", "reason": "x"}),
        ("POST", "/exemptions/EX1/remove", {"reason": "x"}),
        *[("POST", f"/{action}", simple.get(action, {"reason": "x"})) for action in sorted(SIMPLE_ACTIONS)],
    ]


async def _authorised(api: Api) -> str:
    status, created = await api.call("cw", "POST", "/v1/requests", request_data())
    assert status == 201, created
    case_id = str(created["id"])
    assert (await api.call("cw", "POST", f"/v1/requests/{case_id}/send", {}))[0] == 200
    assert (await api.call("cw", "POST", f"/v1/requests/{case_id}/authorise", {}))[0] == 200
    return case_id


async def test_a_token_of_another_prison_cannot_take_over_a_request(api: Api) -> None:
    """Reproduction: a security token bound to WDI got 404 on a request held at HLI, yet
    ``transfer {"establishment": "WDI"}`` answered 200 with the full view, then ``withdraw`` 200,
    and the victim's number was allowed again everywhere."""
    case_id = await _authorised(api)
    await until(lambda: _decided(api, "HLI", "block"))
    assert (await api.call("wdi", "GET", f"/v1/requests/{case_id}"))[0] == 404
    status, body = await api.call("wdi", "POST", f"/v1/requests/{case_id}/transfer", {"establishment": "WDI"})
    assert status == 404 and body == {
        "error": "not_found",
        "detail": f"id: no request {case_id}",
        "field": "id",
    }
    status, body = await api.call("wdi", "POST", f"/v1/requests/{case_id}/withdraw", {"reason": "x"})
    assert status == 404 and PHONE not in str(body)
    status, body = await api.call("cw", "GET", f"/v1/requests/{case_id}")
    assert body["state"] == "authorised" and body["establishment"] == "HLI" and body["transfer_to"] is None
    assert [h["action"] for h in body["history"]] == ["submit", "send", "authorise"]
    for code in ("HLI", "WDI", "LWI"):
        assert await api.screen(code) == "block"


async def test_every_case_action_by_every_caller_at_its_own_and_another_prison(api: Api) -> None:
    """Each route that names a request, for each kind of caller (every role of gateway.auth.ROLES;
    the bound ones at the holding prison HLI and at WDI): another prison's staff get 404 (whatever
    the body says) and change nothing; other roles get 403; casework and the holding prison's staff
    reach the workflow (its answer may be 409 for this state, never 403 or 404)."""
    case_id = await _authorised(api)
    _, before = await api.call("cw", "GET", f"/v1/requests/{case_id}")
    refused = {"wdi": 404, "sec-any": 403, "dial-HLI": 403, "dial-WDI": 403, "admin": 403}
    for role in ("mailroom", "messaging", "contacts"):
        for code in ("HLI", "WDI"):
            await api.token(f"{role}-{code}", role, code)
            refused[f"{role}-{code}"] = 403
    # every role is among the callers (casework: cw; security: hli, wdi, sec-any): a new role joins the table
    assert set(ROLES) == {"casework", "security", "dialler", "admin", "mailroom", "messaging", "contacts"}
    for who, expected in refused.items():
        for method, path, body in _case_calls("WDI"):
            status, answer = await api.call(who, method, f"/v1/requests/{case_id}{path}", body)
            assert status == expected, (who, method, path, status, answer)
            assert PHONE not in str(answer) and NAME not in str(answer)
    assert (await api.call("cw", "GET", f"/v1/requests/{case_id}"))[1] == before  # nothing changed
    for who in ("cw", "hli"):
        for method, path, body in _case_calls("LWI"):
            fresh = await _authorised(api)
            if path == "/exemptions/EX1/remove":
                exemption = {"prisoner": "B2345CD", "identifier": "07700 900999", "reason": "x"}
                assert (await api.call("cw", "POST", f"/v1/requests/{fresh}/exemptions", exemption))[0] == 201
            status, answer = await api.call(who, method, f"/v1/requests/{fresh}{path}", body)
            assert status in (200, 201, 409), (who, method, path, status, answer)
            assert status != 409 or path in ("/send", "/authorise", "/reject", "/accept_transfer"), answer


async def test_the_receiving_prison_accepts_a_transfer_and_never_records_one(api: Api) -> None:
    case_id = await _authorised(api)
    # WDI may neither take the request nor accept a transfer that was never recorded.
    assert (await api.call("wdi", "POST", f"/v1/requests/{case_id}/accept_transfer", {}))[0] == 404
    status, body = await api.call("hli", "POST", f"/v1/requests/{case_id}/accept_transfer", {})
    assert status == 409 and "accept_transfer" not in body["allowed"]
    status, body = await api.call("hli", "POST", f"/v1/requests/{case_id}/transfer", {"establishment": "WDI"})
    assert status == 200 and body["transfer_to"] == "WDI"
    status, body = await api.call("wdi", "GET", "/v1/requests")  # listed where it is going
    assert [r["id"] for r in body["requests"]] == [case_id]
    status, body = await api.call("wdi", "GET", "/v1/requests?prisoner=A1234BC")  # and by prisoner
    assert status == 200 and [r["id"] for r in body["requests"]] == [case_id]
    assert (await api.call("wdi", "POST", f"/v1/requests/{case_id}/withdraw", {"reason": "x"}))[0] == 403
    assert (await api.call("hli", "POST", f"/v1/requests/{case_id}/accept_transfer", {}))[0] == 403
    assert (await api.call("wdi", "POST", f"/v1/requests/{case_id}/accept_transfer", {}))[0] == 200
    assert (await api.call("hli", "GET", f"/v1/requests/{case_id}"))[0] == 404
    status, body = await api.call("cw", "GET", f"/v1/requests/{case_id}")
    assert body["state"] == "authorised" and body["establishment"] == "WDI"
