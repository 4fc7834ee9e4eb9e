"""Issue 16 item 6: a token is revoked through the API (or the CLI) and every gateway drops it as
the revocation arrives on the token-change stream, not at a table refresh. Two gateways in
process on one real Redis, their table refresh set to an hour so only the stream can do it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from gateway.app import create_app
from gateway.auth import create_token
from gateway.cli import main
from gateway.http import RUNTIME
from gateway.settings import GatewaySettings
from gateway.source import StaticSource
from gateway.ui.users import add_user
from sync.keys import Keys
from sync.replication import Replication
from sync.settings import SyncSettings
from tests.support.gateway_data import ADMIN, build_index
from tests.support.gateway_process import Gateway, request
from tests.support.processes import clean_env, free_port
from tests.support.redis_server import RedisFactory, frozen, replicate

CALL = {"establishment": "HLI", "prisoner": "A1234BC", "number": "07700 900999"}
ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}


def _settings(tmp_path: Path, redis_url: str, name: str) -> GatewaySettings:
    sync = SyncSettings(redis_url=redis_url, data_dir=tmp_path / name, gateway_id=name)
    return GatewaySettings(sync=sync, admin_token=ADMIN, token_refresh=3600.0, access_log=False)


async def _until(probe: Any) -> None:
    for _ in range(1000):  # a bound on the wait, not a measurement
        if await probe():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not reached")


async def test_a_token_revoked_through_the_api_stops_on_every_gateway(
    aiohttp_client: Any, tmp_path: Path, redis_url: str
) -> None:
    """Reproduction: revocation waited for a 2 s table refresh and was CLI-only."""
    one = await aiohttp_client(
        create_app(_settings(tmp_path, redis_url, "gw-1"), source=StaticSource(build_index()))
    )
    two = await aiohttp_client(
        create_app(_settings(tmp_path, redis_url, "gw-2"), source=StaticSource(build_index()))
    )
    resp = await one.post("/v1/tokens", json={"role": "dialler", "establishment": "HLI"}, headers=ADMIN_H)
    made = await resp.json()
    dialler = {"Authorization": f"Bearer {made['token']}"}
    for gateway in (one, two):  # each has looked the token up and remembers its header
        assert (await gateway.post("/v1/screen/call", json=CALL, headers=dialler)).status == 200
    resp = await two.delete(f"/v1/tokens/{made['id']}", headers=dialler)
    assert resp.status == 403  # only admin revokes
    resp = await two.delete(f"/v1/tokens/{made['id']}", headers=ADMIN_H)
    assert resp.status == 200 and await resp.json() == {"id": made["id"], "revoked": True}
    for gateway in (one, two):
        tokens = gateway.app[RUNTIME].tokens

        async def read(tokens: Any = tokens) -> bool:
            return bool(tokens.revoked >= 1)

        await _until(read)
        resp = await gateway.post("/v1/screen/call", json=CALL, headers=dialler)
        assert resp.status == 401
    resp = await one.delete(f"/v1/tokens/{made['id']}", headers=ADMIN_H)
    assert resp.status == 404 and (await resp.json())["field"] == "id"
    assert (await one.delete("/v1/tokens/nonsense", headers=ADMIN_H)).status == 400


def test_serve_refuses_a_short_admin_token(tmp_path: Path) -> None:
    """Reproduction: NOCONTACT_ADMIN_TOKEN=a was accepted."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "serve",
            "--port",
            str(free_port()),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        env=clean_env(NOCONTACT_ADMIN_TOKEN="a"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "at least 32" in done.stderr and "NOCONTACT_ADMIN_TOKEN" in done.stderr
    assert not (tmp_path / "d").exists()  # refused before anything was made


def test_the_cli_revocation_reaches_a_running_gateway_at_once(tmp_path: Path) -> None:
    deployment = tmp_path / "site.toml"
    deployment.write_text("[gateway]\ntoken_refresh = 3600\n")
    gateway = Gateway(tmp_path / "data", free_port(), args=["--config", str(deployment)])
    try:
        gateway.start()
        status, made = request(
            gateway.port, "POST", "/v1/tokens", {"role": "dialler", "establishment": "HLI"}
        )
        assert status == 201
        assert request(gateway.port, "POST", "/v1/screen/call", CALL, made["token"])[0] == 200
        done = gateway.cli("token", "revoke", made["id"])
        assert done.returncode == 0, done.stderr
        for _ in range(500):  # a bound on the wait: with an hour's refresh only the stream can do it
            if request(gateway.port, "POST", "/v1/screen/call", CALL, made["token"])[0] == 401:
                break
            time.sleep(0.01)
        else:
            raise AssertionError("the revoked token still works")
    finally:
        gateway.close()


async def test_a_revocation_no_replica_confirms_is_a_503_not_an_acknowledgement(
    aiohttp_client: Any, tmp_path: Path, redis_url: str
) -> None:
    """With write_replicas, a revocation no replica holds is not reported done: a failover now
    could bring the PBX's credential back."""
    settings = _settings(tmp_path, redis_url, "gw-1")
    settings = settings.with_(sync=settings.sync.with_(write_replicas=1, write_wait_ms=50))
    client = await aiohttp_client(create_app(settings, source=StaticSource(build_index())))
    with redis.Redis.from_url(redis_url) as r:
        _, principal = create_token(r, settings.sync.keys, "dialler", "HLI", replication=Replication())
    resp = await client.delete(f"/v1/tokens/{principal.id}", headers=ADMIN_H)
    body = await resp.json()
    assert resp.status == 503 and "no replica confirmed it" in body["detail"], body
    resp = await client.post("/v1/tokens", json={"role": "dialler", "establishment": "HLI"}, headers=ADMIN_H)
    body = await resp.json()
    assert resp.status == 503 and "no replica confirmed it" in body["detail"] and "token" not in body, body


def test_a_cli_revocation_or_disable_is_reported_done_only_once_a_replica_holds_it(
    tmp_path: Path, redis_server: RedisFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    primary, replica = redis_server(), redis_server()
    replicate(primary, replica)
    deployment = tmp_path / "site.toml"
    deployment.write_text(f'[sync]\nredis_url = "{primary.url}"\nwrite_replicas = 1\nwrite_wait_ms = 10000\n')
    impatient = tmp_path / "impatient.toml"
    impatient.write_text(deployment.read_text().replace("10000", "200"))
    config = ["--config", str(deployment)]
    assert main(["token", *config, "create", "--role", "dialler", "--establishment", "HLI"]) == 0
    token_id = capsys.readouterr().out.split()[0].removeprefix("id=")
    with primary.client() as r:
        add_user(r, Keys(), "sec-hli", "security", "HLI", "a long enough password", replication=Replication())

    with frozen(replica):
        assert main(["token", "--config", str(impatient), "revoke", token_id]) == 2
        assert main(["user", "--config", str(impatient), "disable", "sec-hli"]) == 2
        role = ["role", "sec-hli", "--role", "security", "--establishment", "WDI"]
        assert main(["user", "--config", str(impatient), *role]) == 2
    out, err = capsys.readouterr()
    assert "revoked" not in out and "disabled" not in out and "changed" not in out, out
    assert err.count("reached 0 of 1 replica(s) needed: not acknowledged") == 3, err
    assert "Traceback" not in err

    assert main(["token", *config, "revoke", token_id]) in (0, 1)  # done before, or now: it is gone
    assert main(["user", *config, "disable", "sec-hli"]) == 0
    with replica.client() as follower:
        assert not any(token_id in raw for raw in follower.hvals(Keys().tokens))
        assert '"disabled":true' in follower.hget(Keys().ui_users, "sec-hli").replace(" ", "")


async def test_a_revocation_made_while_the_watcher_was_cut_off_arrives_when_it_reconnects(
    aiohttp_client: Any, tmp_path: Path, redis_url: str
) -> None:
    """The watcher's connection drops; a token is revoked before it reconnects. It used to start
    again from the stream's end after sleeping a table refresh (an hour here), so that revocation
    waited for the refresh: now it reads on from the last change it saw."""
    gateway = await aiohttp_client(
        create_app(_settings(tmp_path, redis_url, "gw-1"), source=StaticSource(build_index()))
    )
    tokens = gateway.app[RUNTIME].tokens
    resp = await gateway.post("/v1/tokens", json={"role": "dialler", "establishment": "HLI"}, headers=ADMIN_H)
    made = await resp.json()
    dialler = {"Authorization": f"Bearer {made['token']}"}
    assert (await gateway.post("/v1/screen/call", json=CALL, headers=dialler)).status == 200
    admin = redis.Redis.from_url(redis_url)

    async def watching() -> bool:
        return any(c["cmd"] == "xread" for c in admin.client_list())

    await _until(watching)
    for reader in [c for c in admin.client_list() if c["cmd"] == "xread"]:  # the watcher among them
        admin.client_kill_filter(_id=reader["id"])

    async def cut_off() -> bool:
        return bool(tokens.watch_errors >= 1)

    await _until(cut_off)
    resp = await gateway.delete(f"/v1/tokens/{made['id']}", headers=ADMIN_H)
    assert resp.status == 200

    async def forgotten() -> bool:
        return bool(tokens.revoked >= 1)

    await _until(forgotten)
    assert (await gateway.post("/v1/screen/call", json=CALL, headers=dialler)).status == 401


async def test_the_self_path_offers_get_only(aiohttp_client: Any, tmp_path: Path, redis_url: str) -> None:
    # DELETE /v1/tokens/{id} took "self" as an id, so /v1/tokens/self advertised DELETE
    # (schemathesis' coverage phase: allow_header_conformance).
    gateway = await aiohttp_client(
        create_app(_settings(tmp_path, redis_url, "gw-1"), source=StaticSource(build_index()))
    )
    resp = await gateway.delete("/v1/tokens/self", headers=ADMIN_H)
    assert resp.status == 405
    assert set(resp.headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}
    assert (await gateway.get("/v1/tokens/self", headers=ADMIN_H)).status == 200
    assert (await gateway.delete("/v1/tokens/nonsense", headers=ADMIN_H)).status == 400
