"""Issue 16 items 4 and 9: bytes that are not UTF-8 in the Authorization header or the UI's
cookies, a key given twice in a JSON body, control characters in the sign-in's ``next``, and
fullwidth forms of a blocked email's local part. Each is answered (4xx JSON, a redirect, a block),
never a 500 or a dropped connection. Raw requests go over a socket, as an attacker sends them."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
import pytest
import redis

from gateway.ui import sessions
from gateway.ui.users import add_user
from matcher.emails import email_keys
from sync.keys import Keys
from sync.replication import Replication
from tests.support.gateway_data import ADMIN
from tests.support.ui_site import post_sign_in

PASSWORD = "correct horse battery staple"
ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}
CALL = b'{"establishment":"HLI","prisoner":"A1234BC","number":"07700 900999"}'


async def raw(
    client: Any, method: str, path: str, headers: list[bytes], body: bytes = b""
) -> tuple[int, bytes, bytes]:
    """One request as these bytes exactly; (status, head, body) of the answer."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: localhost", b"Connection: close", *headers]
    if body:
        if not any(h.lower().startswith(b"content-type:") for h in headers):
            lines.append(b"Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}".encode())
    writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, content = answer.partition(b"\r\n\r\n")
    assert head, "the connection was dropped without an answer"
    return int(head.split(b" ", 2)[1]), head, content


@pytest.mark.parametrize(
    "authorization",
    [b"Bearer \xff\xfe\xfd", b"Bearer nc_\xc3(", b"Basic \xff", b"\xff\xfe token", b"Bearer caf\xe9"],
)
@pytest.mark.parametrize(
    ("method", "path", "body"), [("POST", "/v1/screen/call", CALL), ("GET", "/v1/tokens/self", b"")]
)
async def test_authorization_bytes_that_are_not_utf8_are_a_401(
    client: Any, authorization: bytes, method: str, path: str, body: bytes
) -> None:
    """Reproduction: a non-UTF-8 Authorization header gave 500 on every authenticated route."""
    for _ in range(2):  # the second time, after the token cache has seen the header
        status, _, content = await raw(client, method, path, [b"Authorization: " + authorization], body)
        assert status == 401, content
        assert orjson.loads(content)["error"] == "unauthorized"


async def _signin_form(client: Any) -> str:
    page = await client.get("/ui/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert token
    return token.group(1)


async def test_cookie_bytes_that_are_not_utf8_sign_no_one_in(client: Any, redis_url: str) -> None:
    """Reproduction: non-UTF-8 bytes in the UI's cookies gave 500."""
    status, head, _ = await raw(client, "GET", "/ui/hits", [b"Cookie: __Host-nc_session=\xff\xfe\x80abc"])
    assert status == 303 and b"Location: /ui/login" in head
    with redis.Redis.from_url(redis_url) as r:
        add_user(r, Keys(), "sec-hli", "security", "HLI", PASSWORD, replication=Replication())
    token = await _signin_form(client)
    form = f"csrf_token={token}&username=sec-hli&password={PASSWORD.replace(' ', '+')}".encode()
    status, _, _ = await raw(
        client,
        "POST",
        "/ui/login",
        [
            b"Cookie: __Host-nc_signin=\xff" + token.encode(),
            b"Content-Type: application/x-www-form-urlencoded",
        ],
        form,
    )
    assert status == 403  # the sign-in form's token does not match: refused, not a 500
    assert not sessions.tokens_match("abc", "ab\udcff") and not sessions.tokens_match("ab\udcff", "ab\udcff")


@pytest.mark.parametrize(
    "target", ["/ui/hits\r\nSet-Cookie: x=y", "/ui/hits\n", "/ui/\x00hits", "/ui/hits\u2028"]
)
async def test_control_characters_in_next_send_the_user_to_the_queue(
    client: Any, redis_url: str, target: str
) -> None:
    """Reproduction: a CR/LF in the sign-in's next= dropped the connection (the session was made,
    its cookie never arrived)."""
    with redis.Redis.from_url(redis_url) as r:
        add_user(r, Keys(), "sec-hli", "security", "HLI", PASSWORD, replication=Replication())
    page = await client.get("/ui/login", params={"next": target})
    assert page.status == 200 and 'name="next" value=""' in await page.text()
    signed_in = await post_sign_in(client, "sec-hli", PASSWORD, next=target)
    assert signed_in.status == 303 and signed_in.headers["Location"] == "/ui/hits"
    assert sessions.SESSION_COOKIE in signed_in.cookies


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            b'{"establishment":"HLI","prisoner":"A1234BC","number":"07700 900999","number":"07700 900123"}',
            "number",
        ),
        (
            b'{"establishment" : "HLI", "prisoner":"A1234BC", "number":"07700 900999", "number" :"x"}',
            "number",
        ),
        (b'{"prisoner":"A1234BC","establishment":"HLI","number":"1","establishment":"WDI"}', "establishment"),
    ],
)
async def test_a_key_given_twice_is_refused(client: Any, body: bytes, field: str) -> None:
    """Reproduction: with a key given twice the last one won, where a proxy reading the first
    would have seen another number."""
    resp = await client.post(
        "/v1/screen/call", data=body, headers={**ADMIN_H, "Content-Type": "application/json"}
    )
    answer = await resp.json()
    assert resp.status == 400 and answer["error"] == "duplicate_key" and answer["field"] == field, answer


async def test_text_that_looks_like_a_key_is_not_a_key_given_twice(client: Any) -> None:
    body = {
        "establishment": "HLI",
        "prisoner": "A1234BC",
        "envelope": 'Mr A "Jones": 1 Some Road, Leeds LS1 1AA "establishment":',
        "content": 'a "quote": here',
    }
    resp = await client.post("/v1/screen/mail", json=body, headers=ADMIN_H)
    assert resp.status == 200, await resp.text()


async def test_a_fullwidth_local_part_is_the_same_address(client: Any) -> None:
    """Reproduction: fullwidth characters were folded in phone digits and email domains but not
    in local parts (``ＪＡＮＥＴ.victimson@example.com`` was allowed)."""
    assert email_keys("ＪＡＮＥＴ.victimson@example.com").exact == "janet.victimson@example.com"
    message = {"establishment": "HLI", "prisoner": "A1234BC", "to": "ｊａｎｅ.ｓｍｉｔｈ@example.com"}
    resp = await client.post("/v1/screen/message", json=message, headers=ADMIN_H)
    assert resp.status == 200 and (await resp.json())["decision"] == "block"
