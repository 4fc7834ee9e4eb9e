"""Issue 16 item 3: establishment codes come from a registry (the profile's establishments plus
the deployment file's) and prison numbers follow the profile's pattern (GB ``A1234BC``). An
unknown code or a malformed number is a 400 naming the field wherever it comes in (an entry's
scope, a screening call, a token's binding, a request), and ``import`` reports it per line."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import redis

from config import load_profile
from gateway.cli import main
from gateway.settings import GatewaySettings
from matcher.errors import ConfigError, ValidationError
from tests.support.case_data import request_data
from tests.support.gateway_data import ADMIN, TokenFactory
from tests.support.sync_data import KEYS, PREFIX

ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}
GB = load_profile(environ={})
ENTRY = {
    "reference": "UPC-R1",
    "prisoner": "A1234BC",
    "protected": [{"name": "Jane Smith", "phones": ["07700 900777"]}],
}


def spooled(settings: GatewaySettings) -> int:
    with sqlite3.connect(settings.spool_file) as db:
        return int(db.execute("SELECT count(*) FROM hits").fetchone()[0])


async def refused(resp: Any, field: str) -> dict[str, Any]:
    body: dict[str, Any] = await resp.json()
    assert resp.status == 400, body
    assert body["field"] == field and body["detail"].startswith(f"{field}: "), body
    return body


def test_the_registry_is_the_profile_and_the_deployment_file(tmp_path: Path) -> None:
    from config import establishments  # here, so that the API tests below run without it (on main)

    assert establishments.require(GB, " hli", "establishment") == "HLI"
    assert establishments.name(GB, "HLI") == "HMP Hull"
    with pytest.raises(ValidationError) as caught:
        establishments.require(GB, "HIL", "scope[0]")
    assert caught.value.field == "scope[0]" and "HIL is not a known establishment" in caught.value.detail
    deployment = tmp_path / "site.toml"
    deployment.write_text('[establishments.ZZI]\nname = "HMP Example"\n')
    site = load_profile(deployment, environ={})
    assert establishments.require(site, "zzi") == "ZZI" and "HLI" in site.establishments
    assert establishments.prisoner_number(GB, " a1234bc") == "A1234BC"
    for bad in ("bob", "A1234B", "1234ABC", "A12345BC", "", None, 7):
        with pytest.raises(ValidationError) as caught:
            establishments.prisoner_number(GB, bad, "prisoner")
        assert caught.value.field == "prisoner"
    deployment.write_text("[prisoners]\npattern = '[0-9]{6}'\nexample = '123456'\n")
    assert establishments.prisoner_number(load_profile(deployment, environ={}), "123456") == "123456"
    deployment.write_text("[prisoners]\npattern = '[0-9]{6}'\nexample = 'A1234BC'\n")
    with pytest.raises(ConfigError):
        load_profile(deployment, environ={})


async def test_an_entry_scoped_to_an_unknown_code_is_refused(client: Any, settings: GatewaySettings) -> None:
    """Reproduction: an entry scoped ["HIL"] (a typo for HLI) was stored."""
    resp = await client.put("/v1/entries/UPC-R1", json={**ENTRY, "scope": ["HIL"]}, headers=ADMIN_H)
    body = await refused(resp, "scope[0]")
    assert "HLI" in body["detail"]  # the known codes are listed
    resp = await client.put("/v1/entries/UPC-R1", json={**ENTRY, "scope": ["HLI", "hil"]}, headers=ADMIN_H)
    await refused(resp, "scope[1]")
    resp = await client.put("/v1/entries/UPC-R1", json={**ENTRY, "prisoner": "bob"}, headers=ADMIN_H)
    await refused(resp, "prisoner")
    exemption = {"prisoner": "bob", "identifier": "07700 900777", "reason": "her son"}
    resp = await client.put("/v1/entries/UPC-R1", json={**ENTRY, "exemptions": [exemption]}, headers=ADMIN_H)
    await refused(resp, "exemptions[0].prisoner")
    with redis.Redis.from_url(settings.sync.redis_url or "") as r:
        assert not r.hexists(settings.sync.keys.entries, "UPC-R1")  # nothing was written
    resp = await client.put("/v1/entries/UPC-R1", json={**ENTRY, "scope": ["hli", "WDI"]}, headers=ADMIN_H)
    assert resp.status == 200, await resp.text()


@pytest.mark.parametrize("path", ["/v1/screen/call", "/v1/screen/mail", "/v1/screen/message"])
async def test_screening_for_an_unknown_establishment_or_prisoner_is_refused_and_not_recorded(
    client: Any, settings: GatewaySettings, path: str
) -> None:
    """Reproduction: screening for establishment XYZ was answered and recorded, and prisoner
    "bob" was stored as BOB on a hit."""
    target = {
        "/v1/screen/call": {"number": "9 07700 900123"},
        "/v1/screen/mail": {"envelope": "Jane Smith, Flat 2, 14 High Street, Hull HU1 2AB"},
        "/v1/screen/message": {"to": "jane.smith@example.com"},
    }[path]
    good = {"establishment": "HLI", "prisoner": "A1234BC", **target}
    for _ in range(2):  # the second time the fast path has seen the good values
        resp = await client.post(path, json={**good, "establishment": "XYZ"}, headers=ADMIN_H)
        await refused(resp, "establishment")
        resp = await client.post(path, json={**good, "prisoner": "bob"}, headers=ADMIN_H)
        await refused(resp, "prisoner")
        resp = await client.post(path, json=good, headers=ADMIN_H)
        assert resp.status == 200 and (await resp.json())["decision"] != "allow"
    assert spooled(settings) == 2  # only the good ones


async def test_a_token_bound_to_an_unknown_establishment_is_refused(client: Any) -> None:
    resp = await client.post("/v1/tokens", json={"role": "dialler", "establishment": "XYZ"}, headers=ADMIN_H)
    await refused(resp, "establishment")
    resp = await client.post("/v1/tokens", json={"role": "dialler", "establishment": "wdi"}, headers=ADMIN_H)
    assert resp.status == 201 and (await resp.json())["establishment"] == "WDI"


async def test_a_request_with_an_unknown_establishment_or_prisoner_is_refused(
    client: Any, auth: TokenFactory
) -> None:
    casework = await auth("casework")
    prisoner = {"number": "A1234BC", "name": "John Doe", "establishment": "XYZ"}
    resp = await client.post("/v1/requests", json=request_data(prisoner=prisoner), headers=casework)
    await refused(resp, "prisoner.establishment")
    prisoner = {**prisoner, "establishment": "HLI", "number": "bob"}
    resp = await client.post("/v1/requests", json=request_data(prisoner=prisoner), headers=casework)
    await refused(resp, "prisoner.number")
    resp = await client.post("/v1/requests", json=request_data(scope=["HLI", "XYZ"]), headers=casework)
    await refused(resp, "scope[1]")
    resp = await client.post("/v1/requests", json=request_data(), headers=casework)
    assert resp.status == 201
    case_id = (await resp.json())["id"]
    resp = await client.post(
        f"/v1/requests/{case_id}/transfer", json={"establishment": "XYZ"}, headers=casework
    )
    await refused(resp, "establishment")
    resp = await client.post(f"/v1/requests/{case_id}/send", json={}, headers=casework)
    assert resp.status == 200
    resp = await client.post(
        f"/v1/requests/{case_id}/authorise", json={"prisoner_number": "bob"}, headers=casework
    )
    await refused(resp, "prisoner_number")


def test_import_reports_unknown_codes_and_bad_numbers_per_line(
    tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Reproduction: ``import`` took ``"scope": ["XYZ"]``."""
    lines = [
        {**ENTRY, "reference": "UPC-I1", "scope": ["XYZ"]},
        {**ENTRY, "reference": "UPC-I2", "prisoner": "bob"},
        {**ENTRY, "reference": "UPC-I3", "scope": ["HLI"]},
    ]
    source = tmp_path / "entries.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    status = main(["import", str(source), "--redis-url", redis_url, "--prefix", PREFIX])
    err = capsys.readouterr().err
    assert status == 1
    assert "line 1: scope[0]: XYZ is not a known establishment" in err
    assert "line 2: prisoner: not a prison number" in err
    with redis.Redis.from_url(redis_url, decode_responses=True) as r:
        assert r.hkeys(KEYS.entries) == ["UPC-I3"]
