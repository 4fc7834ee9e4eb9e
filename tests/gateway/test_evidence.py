"""Issue 20: a hit records what was tried (the number dialled and how it reads, the recipient of a
message, the envelope and the lines of it that matched), durably before the answer, shown to
security and admin only (casework sees which identifier, "phone 2 of 3"), never in an answer or a
log line, and dropped after the configured retention."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from typing import Any

import orjson
import pytest
import redis

from config import load_profile
from gateway.http import RUNTIME
from gateway.settings import GatewaySettings
from gateway.source import StaticSource
from matcher.entries import Entry
from matcher.errors import ConfigError
from matcher.index import Index
from sync.keys import Keys
from tests.support.gateway_data import ENTRIES, TokenFactory
from tests.support.ui_site import signed_in_cookie

THREE_PHONES = {
    "reference": "UPC-3",
    "prisoner": "C3456DE",
    "scope": "all",
    "protected": [
        {"name": "Ann Lee", "phones": ["07700 900301", "07700 900302"]},
        {"name": "Bea Lee", "phones": ["07700 900303"]},
    ],
}
DIALLED = "9 07700-900302"  # the outside-line 9 and a dash, as the PIN phone sent it


@pytest.fixture
def source() -> StaticSource:
    entries = [Entry.from_dict(e) for e in [*ENTRIES, THREE_PHONES]]
    return StaticSource(Index.build(entries, load_profile(None), version=7))


async def _shipped(client: Any, hit_id: str) -> None:
    shipper = client.app[RUNTIME].shipper
    keys = client.app[RUNTIME].settings.sync.keys
    async with asyncio.timeout(5):
        while not await client.app[RUNTIME].store.hget(keys.hit_ids, hit_id):
            shipper.flush()
            await asyncio.sleep(0.01)


async def test_a_call_hit_keeps_the_number_dialled_and_its_position_never_in_answer_or_log(
    client: Any, auth: TokenFactory, caplog: Any, redis_url: str
) -> None:
    dialler = await auth("dialler")
    body = {"establishment": "HLI", "prisoner": "A1234BC", "number": DIALLED}
    with caplog.at_level(logging.DEBUG):
        resp = await client.post("/v1/screen/call", json=body, headers=dialler)
        answer = await resp.text()
        hit_id = orjson.loads(answer)["hit_id"]
        await _shipped(client, hit_id)
    assert resp.status == 200 and "900302" not in answer
    assert not [r for r in caplog.records if "900302" in r.getMessage()]
    # Durable before the answer: in the spool's row, evidence and all.
    with sqlite3.connect(client.app[RUNTIME].settings.spool_file) as db:
        (row,) = db.execute("SELECT body FROM hits WHERE id = ?", (hit_id,)).fetchone()
    spooled = orjson.loads(row)["evidence"]
    assert spooled["dialled"] == DIALLED and spooled["normalised"] == "+447700900302"
    assert spooled["which"] == {"kind": "phone", "position": 2, "of": 3}
    with redis.Redis.from_url(redis_url) as r:
        assert orjson.loads(r.hget(Keys().hit_evidence, hit_id) or b"{}") == spooled
        stream = r.xrange(Keys().hits)
        assert stream and all(b"900302" not in v for _, f in stream for v in f.values())  # not in the stream
    metrics = await (await client.get("/metrics")).text()
    assert "900302" not in metrics
    # The API's list is for security and admin, and carries no evidence.
    listed = await (await client.get("/v1/hits", headers=await auth("security"))).text()
    assert "900302" not in listed


async def test_security_sees_what_was_dialled_casework_sees_which_phone_only(
    client: Any, auth: TokenFactory, redis_url: str
) -> None:
    dialler = await auth("dialler")
    body = {"establishment": "HLI", "prisoner": "A1234BC", "number": DIALLED}
    hit_id = (await (await client.post("/v1/screen/call", json=body, headers=dialler)).json())["hit_id"]
    await _shipped(client, hit_id)
    security = await signed_in_cookie(client, redis_url, "sec", "security", "HLI")
    page = await (await client.get(f"/ui/hits/{hit_id}", headers=security)).text()
    assert DIALLED in page and "+447700900302" in page and "phone 2 of 3" in page
    casework = await signed_in_cookie(client, redis_url, "cw", "casework")
    page = await (await client.get(f"/ui/hits/{hit_id}", headers=casework)).text()
    assert "phone 2 of 3" in page and "900302" not in page


async def test_a_letter_hit_keeps_the_envelope_and_the_address_lines_as_read(
    client: Any, auth: TokenFactory, redis_url: str
) -> None:
    mailroom = await auth("mailroom")
    envelope = "Ms J Smith\nFlat 2\n14 High Street\nHull\nHU1 2AB"
    body = {"establishment": "HLI", "prisoner": "A1234BC", "envelope": envelope}
    resp = await client.post("/v1/screen/mail", json=body, headers=mailroom)
    answer = await resp.json()
    assert answer["decision"] == "block" and "High Street" not in orjson.dumps(answer).decode()
    await _shipped(client, answer["hit_id"])
    with redis.Redis.from_url(redis_url) as r:
        evidence = orjson.loads(r.hget(Keys().hit_evidence, answer["hit_id"]) or b"{}")
    assert evidence["envelope"] == envelope
    assert evidence["which"] == {"kind": "address", "position": 1, "of": 1}
    assert "HU1 2AB" in evidence["address_as_read"] and "14 High Street" in evidence["address_as_read"]


async def test_a_message_hit_keeps_the_address_written(
    client: Any, auth: TokenFactory, redis_url: str
) -> None:
    messaging = await auth("messaging")
    body = {"establishment": "HLI", "prisoner": "A1234BC", "to": "Jane.Smith+x@Example.com"}
    answer = await (await client.post("/v1/screen/message", json=body, headers=messaging)).json()
    await _shipped(client, answer["hit_id"])
    with redis.Redis.from_url(redis_url) as r:
        evidence = orjson.loads(r.hget(Keys().hit_evidence, answer["hit_id"]) or b"{}")
    assert evidence["to"] == "Jane.Smith+x@Example.com" and evidence["normalised"] == "jane.smith@example.com"
    assert evidence["which"] == {"kind": "email", "position": 1, "of": 1}


async def test_evidence_is_dropped_after_its_retention_and_the_hit_stays(
    client: Any, auth: TokenFactory, redis_url: str
) -> None:
    dialler = await auth("dialler")
    body = {"establishment": "HLI", "prisoner": "A1234BC", "number": DIALLED}
    hit_id = (await (await client.post("/v1/screen/call", json=body, headers=dialler)).json())["hit_id"]
    await _shipped(client, hit_id)
    shipper = client.app[RUNTIME].shipper
    assert await shipper.prune() == 0  # within the retention: kept
    with redis.Redis.from_url(redis_url) as r:
        r.zadd(Keys().hit_evidence_times, {hit_id: time.time() * 1000 - 731 * 86_400_000})  # two years on
        assert await shipper.prune() == 1
        assert r.hget(Keys().hit_evidence, hit_id) is None and r.hget(Keys().hit_ids, hit_id)


def test_retention_and_time_zone_are_settings_with_documented_defaults() -> None:
    settings = GatewaySettings()
    assert settings.evidence_retention_days == 730 and settings.timezone == "Europe/London"
    assert (
        GatewaySettings.load(environ={"NOCONTACT_EVIDENCE_RETENTION_DAYS": "90"}).evidence_retention_days
        == 90
    )
    with pytest.raises(ConfigError, match="evidence_retention_days"):
        GatewaySettings(evidence_retention_days=0)
    with pytest.raises(ConfigError, match="timezone"):
        GatewaySettings(timezone="Mars/Olympus")
