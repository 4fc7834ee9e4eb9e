"""POST /v1/screen/mail as the mailroom uses it: a sender who is not known, a letter OCR could not
read, why a letter is held, and a scan sent where its text belongs (415, naming the fix)."""

from __future__ import annotations

import io
import sqlite3
from typing import Any

import pytest

from gateway.settings import GatewaySettings
from matcher.errors import ConfigError
from tests.support.gateway_data import TokenFactory

FLAT = "Miss J Smith\nFlat 2, 14 High St\nHull HU1 2AB"
# A PNG's first bytes: what a scanner's file is when it is posted as the body.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x05x\x00\x00\x02\xbc\x08\x02\x00\x00\x00\xff\xd8\xe0"


def hits(settings: GatewaySettings) -> list[str]:
    with sqlite3.connect(settings.spool_file) as db:
        return [row[0] for row in db.execute("SELECT id FROM hits")]


async def test_a_letter_whose_sender_is_not_known(
    client: Any, auth: TokenFactory, settings: GatewaySettings
) -> None:
    mailroom = await auth("mailroom")
    letter = {"establishment": "HLI", "prisoner": None, "envelope": FLAT}
    resp = await client.post("/v1/screen/mail", json=letter, headers=mailroom)
    body = await resp.json()
    assert resp.status == 200, body
    assert (body["decision"], body["reason"]) == ("block", None) and body["hit_id"] in hits(settings)
    resp = await client.post(
        "/v1/screen/mail", json={"establishment": "HLI", "envelope": FLAT}, headers=mailroom
    )
    body = await resp.json()
    assert (resp.status, body["field"]) == (400, "prisoner")
    assert body["detail"] == "prisoner: required (null when the sender is not known)"
    call = {"establishment": "HLI", "prisoner": None, "number": "07700 900123"}
    resp = await client.post("/v1/screen/call", json=call, headers=await auth("dialler"))
    assert (resp.status, (await resp.json())["field"]) == (400, "prisoner")  # a call's caller is always known


async def test_a_letter_ocr_could_not_read_is_held_not_allowed(
    client: Any, auth: TokenFactory, settings: GatewaySettings
) -> None:
    mailroom = await auth("mailroom")
    for envelope in ("", "   ", "ae hve ie ey\nNs © ‘Taylor"):
        letter = {"establishment": "HLI", "prisoner": "A1234BC", "envelope": envelope}
        resp = await client.post("/v1/screen/mail", json=letter, headers=mailroom)
        body = await resp.json()
        assert resp.status == 200, body
        assert body == {
            "decision": "hold",
            "reason": "unreadable",
            "matches": [],
            "hit_id": None,  # no request is hit: the mailroom reads it
            "version": 7,
            "stale": False,
        }
    assert hits(settings) == []
    near = {
        "establishment": "HLI",
        "prisoner": "A1234BC",
        "envelope": "Miss K Brown\nFlat 2, 14 Hlgh St\nHull HU1 2AG",
    }
    body = await (await client.post("/v1/screen/mail", json=near, headers=mailroom)).json()
    assert (body["decision"], body["reason"]) == ("hold", "near") and body["hit_id"] in hits(settings)


async def test_a_scan_posted_as_the_body_is_415_naming_the_fix(client: Any, auth: TokenFactory) -> None:
    mailroom = await auth("mailroom")
    for content_type in ("image/png", "image/jpeg", "application/pdf", "multipart/form-data; boundary=x"):
        resp = await client.post(
            "/v1/screen/mail", data=PNG, headers={**mailroom, "Content-Type": content_type}
        )
        body = await resp.json()
        assert resp.status == 415, body
        assert body["error"] == "unsupported_media_type" and body["field"] == "body"
        assert "OCR text as JSON" in body["detail"] and "nocontact mailroom scan" in body["detail"]


SCANS = {
    "png": PNG,
    "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "tiff": b"II*\x00\x08\x00\x00\x00",
    "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
}


async def test_a_scan_sent_as_bytes_or_a_form_is_415_by_its_first_bytes(
    client: Any, auth: TokenFactory
) -> None:
    """`curl --data-binary @scan.png` sends x-www-form-urlencoded; other clients octet-stream or no
    type at all: the scan is known by its first bytes, whatever its size (not 400 invalid_json or
    413), once the token is known."""
    mailroom = await auth("mailroom")
    types = ("application/x-www-form-urlencoded", "application/octet-stream", "text/plain")
    for content_type in types:
        for kind, head in SCANS.items():
            for body in (head + bytes(200), head + bytes(2 * 1024 * 1024)):
                resp = await client.post(
                    "/v1/screen/mail",
                    data=io.BytesIO(body),
                    headers={**mailroom, "Content-Type": content_type},
                )
                answer = await resp.json()
                assert (resp.status, answer["error"]) == (415, "unsupported_media_type"), (content_type, kind)
                assert "nocontact mailroom scan" in answer["detail"] and answer["field"] == "body"
    resp = await client.post(
        "/v1/screen/mail", data=PNG, headers={"Content-Type": "application/octet-stream"}
    )
    assert resp.status == 401  # no token: told that first
    letter = (
        b'{"establishment": "HLI", "prisoner": "A1234BC", "envelope": "Mr P Jones\\n4 Park Road\\nLeeds"}'
    )
    for content_type in types:  # `curl -d '{...}'`: JSON under another type is still screened
        resp = await client.post(
            "/v1/screen/mail", data=letter, headers={**mailroom, "Content-Type": content_type}
        )
        assert resp.status == 200 and (await resp.json())["decision"] == "allow", await resp.text()
    for body, status in ((b"not json", 400), (b"x" * (2 * 1024 * 1024), 413)):
        resp = await client.post(
            "/v1/screen/mail",
            data=io.BytesIO(body),
            headers={**mailroom, "Content-Type": "application/octet-stream"},
        )
        assert resp.status == status, await resp.text()


async def test_a_token_says_whom_it_belongs_to(client: Any, auth: TokenFactory) -> None:
    resp = await client.get("/v1/tokens/self", headers=await auth("mailroom", "HLI"))
    body = await resp.json()
    assert resp.status == 200 and (body["role"], body["establishment"]) == ("mailroom", "HLI")
    assert set(body) == {"id", "role", "establishment"}  # never the token itself
    resp = await client.get("/v1/tokens/self", headers={"Authorization": "Bearer nc_nobody"})
    assert resp.status == 401


def test_the_mailroom_settings_name_what_is_wrong() -> None:
    with pytest.raises(ConfigError) as info:
        GatewaySettings(mailroom_engine="easyocr")
    assert info.value.key == "gateway.mailroom_engine" and "'rapidocr', 'tesseract'" in str(info.value)
    with pytest.raises(ConfigError) as info:
        GatewaySettings(mailroom_workers=0)
    assert info.value.key == "gateway.mailroom_workers"
