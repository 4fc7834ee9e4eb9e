"""Issue 16 item 2, through ``nocontact import``: a request's entry changes only through the
request. An import line naming a request's id is refused (the whole import, nothing written), and
``import --replace`` keeps the requests' entries. Checked on a real gateway (its sync follower
against a real redis-server): the request's block is still enforced afterwards."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from aiohttp.test_utils import TestClient

from gateway.app import create_app
from gateway.cli import main
from gateway.settings import GatewaySettings
from sync.keys import Keys
from sync.settings import SyncSettings
from sync.writer import Writer
from tests.support.case_data import NAME, PHONE, request_data
from tests.support.gateway_data import ADMIN

KEYS = Keys()
GATEWAY = "gw-import"
OTHER_PHONE = "07700 900777"
ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}


def direct(reference: str, phone: str) -> str:
    """An import line: an entry loaded directly (fictional person, drama-range number)."""
    entry = {
        "reference": reference,
        "prisoner": "A1234BC",
        "scope": "all",
        "protected": [{"name": "Lena Import", "phones": [phone]}],
    }
    return json.dumps(entry)


class Gateway:
    def __init__(self, client: TestClient[Any, Any], store: redis.Redis) -> None:
        self.client = client
        self.store = store
        self.headers: dict[str, dict[str, str]] = {"admin": ADMIN_H}

    async def token(self, role: str, establishment: str | None = None) -> dict[str, str]:
        body = {"role": role, **({"establishment": establishment} if establishment else {})}
        resp = await self.client.post("/v1/tokens", json=body, headers=ADMIN_H)
        assert resp.status == 201, await resp.text()
        return {"Authorization": f"Bearer {(await resp.json())['token']}"}

    async def authorised_request(self) -> str:
        casework = await self.token("casework")
        resp = await self.client.post("/v1/requests", json=request_data(), headers=casework)
        assert resp.status == 201, await resp.text()
        case_id = str((await resp.json())["id"])
        for action in ("send", "authorise"):
            resp = await self.client.post(f"/v1/requests/{case_id}/{action}", json={}, headers=casework)
            assert resp.status == 200, await resp.text()
        resp = await self.client.get(f"/v1/requests/{case_id}", headers=casework)
        assert (await resp.json())["state"] == "authorised"
        return case_id

    async def caught_up(self) -> None:
        """Until this gateway has applied the store's current epoch and version (its heartbeat
        says so): then its answers are the store's, not an older list's."""
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            meta = self.store.hmget(KEYS.meta, ["epoch", "version"])
            beat = self.store.hmget(KEYS.gateway(GATEWAY), ["epoch", "version"])
            if beat[0] == meta[0] and int(beat[1] or -1) >= int(meta[1] or 0):
                return
            assert asyncio.get_running_loop().time() < deadline, f"gateway at {beat}, store at {meta}"
            await asyncio.sleep(0.02)

    async def screen(self, number: str) -> str:
        await self.caught_up()
        dialler = await self.token("dialler", "HLI")
        body = {"establishment": "HLI", "prisoner": "A1234BC", "number": number}
        resp = await self.client.post("/v1/screen/call", json=body, headers=dialler)
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["decision"])


@pytest.fixture
async def gateway(
    redis_url: str, tmp_path: Path, aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]]
) -> Any:
    with redis.Redis.from_url(redis_url, decode_responses=True) as store:
        Writer(store).initialise()
        settings = GatewaySettings(
            admin_token=ADMIN,
            access_log=False,
            token_refresh=0.2,
            sync=SyncSettings(
                redis_url=redis_url,
                data_dir=tmp_path / "data",
                gateway_id=GATEWAY,
                heartbeat_interval=0.05,
                heartbeat_ttl=2.0,
                block_ms=100,
            ),
        )
        yield Gateway(await aiohttp_client(create_app(settings)), store)


def _import(tmp_path: Path, redis_url: str, lines: list[str], *flags: str) -> int:
    source = tmp_path / "entries.jsonl"
    source.write_text("\n".join(lines) + "\n")
    return main(["import", str(source), "--redis-url", redis_url, *flags])


@pytest.mark.parametrize("flags", [(), ("--replace",)])
async def test_an_import_line_reusing_a_requests_id_refuses_the_whole_import(
    gateway: Gateway,
    tmp_path: Path,
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
    flags: tuple[str, ...],
) -> None:
    """Reproduction (audit of issue 16, gap 1): a line whose reference was a request's id replaced
    the request's block without a word, while the request still said authorised."""
    case_id = await gateway.authorised_request()
    assert await gateway.screen(PHONE) == "block"
    before = (gateway.store.hgetall(KEYS.entries), gateway.store.hgetall(KEYS.meta))
    lines = [direct("DIRECT-1", "07700 900555"), direct(case_id, OTHER_PHONE)]
    assert _import(tmp_path, redis_url, lines, *flags) == 1
    err = capsys.readouterr().err
    assert f"line 2: reference: {case_id} belongs to request {case_id}" in err, err
    assert "line 1" not in err and "nothing" in err and "take these lines out of the file" in err
    for detail in (NAME, "Smith", "900123", "Lena", "900777", "900555"):  # nobody's details
        assert detail not in err
    meta = gateway.store.hgetall(KEYS.meta)
    assert (gateway.store.hgetall(KEYS.entries), meta) == before  # nothing written, not even line 1
    assert await gateway.screen(PHONE) == "block" and await gateway.screen(OTHER_PHONE) == "allow"


async def test_import_replace_keeps_the_requests_entries(
    gateway: Gateway, tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Reproduction (audit of issue 16, gap 1): ``import --replace`` with a file that lacked a
    request's entry dropped it; the request still said authorised and the number was allowed."""
    case_id = await gateway.authorised_request()
    assert _import(tmp_path, redis_url, [direct("DIRECT-1", OTHER_PHONE)]) == 0
    assert await gateway.screen(PHONE) == "block" and await gateway.screen(OTHER_PHONE) == "block"
    request_entry = gateway.store.hget(KEYS.entries, case_id)
    epoch = gateway.store.hget(KEYS.meta, "epoch")
    capsys.readouterr()

    # as long as the store's list (2 entries): no shrink for the shrink guard to stop
    replacing = [direct("DIRECT-2", "07700 900555"), direct("DIRECT-3", "07700 900556")]
    assert _import(tmp_path, redis_url, replacing, "--replace") == 0
    assert gateway.store.hget(KEYS.meta, "epoch") != epoch  # a new epoch: the list was replaced
    assert await gateway.screen(PHONE) == "block"  # the request's block, on the gateway
    assert gateway.store.hget(KEYS.entries, case_id) == request_entry
    assert sorted(gateway.store.hkeys(KEYS.entries)) == sorted([case_id, "DIRECT-2", "DIRECT-3"])
    err = capsys.readouterr().err
    assert "import: 2 entries loaded" in err and "import: 1 requests' entries kept" in err, err
    assert await gateway.screen(OTHER_PHONE) == "allow"  # DIRECT-1 was replaced, as asked
    assert await gateway.screen("07700 900555") == "block"
    resp = await gateway.client.get(f"/v1/requests/{case_id}/live", headers=await gateway.token("casework"))
    body = await resp.json()
    assert body["state"] == "authorised" and body["live"] is True, body
