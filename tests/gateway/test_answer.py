"""JsonAnswer writes what web.Response writes: the same bytes on a real socket, for the usual
HTTP/1.1 keep-alive request and for every case it hands back to aiohttp (HTTP/1.0, Connection:
close, headers touched, another status), and the screening routes use it only when no
response-prepare signal would be skipped."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import BaseTestServer, TestServer

from gateway import answer as answer_module
from gateway.answer import DIRECT_WRITE, JsonAnswer, direct_answers
from gateway.app import create_app
from gateway.routes.screening import Screening, _plain_answer
from gateway.settings import GatewaySettings
from gateway.source import StaticSource
from tests.support.gateway_data import ADMIN, build_index

BODY = orjson.dumps({"decision": "allow", "reference": None, "hit_id": None, "version": 7, "stale": False})
DATE = re.compile(rb"\r\nDate: [^\r]*\r\n")


def _touched(body: bytes) -> web.Response:
    answer = JsonAnswer(body)
    answer.headers["X-Touched"] = "yes"
    return answer


def _reference_touched(body: bytes) -> web.Response:
    response = web.Response(body=body, content_type="application/json")
    response.headers["X-Touched"] = "yes"
    return response


def _status(body: bytes) -> web.Response:
    answer = JsonAnswer(body)
    answer.set_status(202)
    return answer


def _reference_status(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json", status=202)


@pytest.fixture
async def server() -> AsyncIterator[BaseTestServer]:
    """Paired routes: /new/NAME answers with JsonAnswer (or a variant), /old/NAME with the
    web.Response it must equal."""
    pairs: dict[str, tuple[Callable[[bytes], web.Response], Callable[[bytes], web.Response]]] = {
        "plain": (JsonAnswer, lambda b: web.Response(body=b, content_type="application/json")),
        "touched": (_touched, _reference_touched),
        "status": (_status, _reference_status),
    }
    app = web.Application()
    for name, (new, old) in pairs.items():
        for prefix, make in (("new", new), ("old", old)):

            async def handler(request: web.Request, make: Any = make) -> web.StreamResponse:
                response: web.StreamResponse = make(await request.read())
                return response

            app.router.add_post(f"/{prefix}/{name}", handler)
    async with TestServer(app) as test_server:
        yield test_server


async def _exchange(server: BaseTestServer, raw: bytes, answers: int = 1) -> list[bytes]:
    """Send raw bytes on one connection; the raw answers (head and body), in order."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(raw)
        await writer.drain()
        out = []
        for _ in range(answers):
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
            out.append(head + await reader.readexactly(length))
        return out
    finally:
        writer.close()


def _request(path: str, body: bytes, version: str = "1.1", extra: str = "") -> bytes:
    head = f"POST {path} HTTP/{version}\r\nHost: test\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


def _undated(raw: bytes) -> bytes:
    assert DATE.search(raw), raw  # the Date header is there...
    return DATE.sub(b"\r\nDate: -\r\n", raw)  # ...and only its value may differ


@pytest.mark.parametrize("name", ["plain", "touched", "status"])
@pytest.mark.parametrize(
    ("version", "extra"),
    [("1.1", ""), ("1.1", "Connection: close\r\n"), ("1.0", ""), ("1.0", "Connection: keep-alive\r\n")],
)
async def test_json_answer_writes_what_web_response_writes(
    server: BaseTestServer, name: str, version: str, extra: str
) -> None:
    new = await _exchange(server, _request(f"/new/{name}", BODY, version, extra))
    old = await _exchange(server, _request(f"/old/{name}", BODY, version, extra))
    assert _undated(new[0]) == _undated(old[0])
    assert new[0].endswith(b"\r\n\r\n" + BODY)


async def test_kept_alive_answers_follow_each_other_on_one_connection(server: BaseTestServer) -> None:
    bodies = [orjson.dumps({"n": n, "pad": "x" * n}) for n in range(5)]  # differing lengths
    raw = b"".join(_request("/new/plain", body) for body in bodies)
    answers = await _exchange(server, raw, answers=len(bodies))
    for body, got in zip(bodies, answers, strict=True):
        assert got.endswith(b"\r\n\r\n" + body)
        assert f"Content-Length: {len(body)}\r\n".encode() in got


async def test_the_direct_write_is_on_for_this_aiohttp(server: BaseTestServer, monkeypatch: Any) -> None:
    # The equality above would hold on the fallback path too; this shows the direct one ran.
    assert DIRECT_WRITE
    made = []
    original = answer_module._HEADS.head

    def spy(length: int) -> bytes:
        made.append(length)
        return original(length)

    monkeypatch.setattr(answer_module._HEADS, "head", spy)
    await _exchange(server, _request("/new/plain", BODY))
    await _exchange(server, _request("/new/plain", BODY, "1.0"))  # handed back: no head made
    assert made == [len(BODY)]


def test_a_head_is_remade_when_the_second_changes(monkeypatch: Any) -> None:
    heads = answer_module._Heads()
    monkeypatch.setattr(answer_module, "rfc822_formatted_time", lambda: "Sat, 05 Dec 2026 10:00:00 GMT")
    first = heads.head(10)
    assert b"Date: Sat, 05 Dec 2026 10:00:00 GMT\r\n" in first
    monkeypatch.setattr(answer_module, "rfc822_formatted_time", lambda: "Sat, 05 Dec 2026 10:00:01 GMT")
    assert b"Date: Sat, 05 Dec 2026 10:00:01 GMT\r\n" in heads.head(10)
    assert b"Content-Length: 12\r\n" in heads.head(12)


async def _signal(request: web.BaseRequest, response: web.StreamResponse) -> None:
    response.headers["X-Signal"] = "seen"


@pytest.mark.parametrize("with_signal", [False, True])
async def test_screening_answers_directly_only_without_a_prepare_signal(
    with_signal: bool, aiohttp_client: Any, settings: GatewaySettings
) -> None:
    app = create_app(settings, source=StaticSource(build_index()))
    if with_signal:
        app.on_response_prepare.append(_signal)
    client = await aiohttp_client(app)
    screening = next(
        route.handler.__self__  # type: ignore[attr-defined]
        for route in app.router.routes()
        if isinstance(getattr(route.handler, "__self__", None), Screening)
    )
    assert screening.answer is (_plain_answer if with_signal else JsonAnswer)
    assert direct_answers(app) is not with_signal
    resp = await client.post(
        "/v1/screen/call",
        json={"establishment": "HLI", "prisoner": "A1234BC", "number": "07700 900999"},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert resp.status == 200
    assert (await resp.json())["decision"] == "allow"
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers.get("X-Signal") == ("seen" if with_signal else None)
