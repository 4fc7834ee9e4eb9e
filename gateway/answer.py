"""The screening endpoints' answer: a JSON body, written with its headers in one transport write.

aiohttp's ``web.Response`` builds a header multidict per answer, works out its Content-Length,
Date, Server and Connection headers through a dozen calls, serialises them and joins them to the
body: a large part of an allowed call's work. A screening answer is always the same shape
(200, ``application/json``, a small body), so ``JsonAnswer`` writes exactly the bytes aiohttp
would write (tests/gateway/test_answer.py compares them on the wire) from a head made once per
body length and second, and leaves every unusual case (HTTP/1.0, a closing connection, a
response-prepare signal, headers touched by anyone, an aiohttp without the attributes used here)
to ``web.Response``'s own path.
"""

from __future__ import annotations

from typing import Any

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http import SERVER_SOFTWARE, HttpVersion11
from aiohttp.web_request import BaseRequest
from multidict import CIMultiDict

JSON_TYPE = "application/json"
_ZLIB_EXECUTOR_SIZE: int = (web.Response.__init__.__kwdefaults__ or {}).get("zlib_executor_size", 4096)

# The private attributes the direct write reads or sets (aiohttp 3.14). Without any of them every
# answer takes web.Response's path, which is correct, only slower.
_RESPONSE_SLOTS = ("_eof_sent", "_payload_writer", "_keep_alive", "_body_length", "_compressed_body")
DIRECT_WRITE = all(hasattr(web.Response, name) for name in _RESPONSE_SLOTS) and (
    "_payload_writer" in getattr(BaseRequest, "ATTRS", ())  # an instance attribute: named there
)


class _Heads:
    """Status line and headers as bytes for one (body length), remade when the Date second
    changes: in the order aiohttp writes them (Content-Type, Content-Length, Date, Server)."""

    def __init__(self) -> None:
        self.date = ""
        self.by_length: dict[int, bytes] = {}

    def head(self, length: int) -> bytes:
        date = rfc822_formatted_time()  # aiohttp's, cached per second
        if date != self.date:
            self.date = date
            self.by_length = {}
        head = self.by_length.get(length)
        if head is None:
            head = self.by_length[length] = (
                f"HTTP/1.1 200 OK\r\n{hdrs.CONTENT_TYPE}: {JSON_TYPE}\r\n"
                f"{hdrs.CONTENT_LENGTH}: {length}\r\n{hdrs.DATE}: {date}\r\n"
                f"{hdrs.SERVER}: {SERVER_SOFTWARE}\r\n\r\n"
            ).encode("latin-1")
        return head


_HEADS = _Heads()


class JsonAnswer(web.Response):
    """``web.Response(body=body, content_type="application/json")`` with status 200, written by
    ``prepare`` in one piece when the request is HTTP/1.1 and kept alive. Build it only where no
    on_response_prepare signal is connected (``direct_answers``): the direct write skips them."""

    def __init__(self, body: bytes) -> None:  # web.Response's work, without the multidict
        self._state = {}
        self._body = body
        self._status = 200
        self._reason = "OK"
        self._zlib_executor_size = _ZLIB_EXECUTOR_SIZE
        self._zlib_executor = None

    def __getattr__(self, name: str) -> Any:
        # The header multidict is made only when something asks for it (the fallback path, a
        # test, a future middleware): then the answer is an ordinary web.Response.
        if name == "_headers":
            headers: CIMultiDict[str] = CIMultiDict({hdrs.CONTENT_TYPE: JSON_TYPE})
            self.__dict__["_headers"] = headers
            return headers
        raise AttributeError(name)

    async def prepare(self, request: BaseRequest) -> AbstractStreamWriter | None:
        if self._eof_sent:
            return None
        if self._payload_writer is not None:
            return self._payload_writer
        keep_alive = self._keep_alive
        if keep_alive is None:
            keep_alive = request.keep_alive
        if (
            "_headers" in self.__dict__
            or self._status != 200
            or not keep_alive
            or request.version != HttpVersion11
        ):
            return await super().prepare(request)
        self._keep_alive = True
        body = self._body
        assert isinstance(body, bytes)
        writer = request._payload_writer
        self._payload_writer = writer
        await writer.write_eof(_HEADS.head(len(body)) + body)
        self._eof_sent = True
        self._body_length = writer.output_size
        self._payload_writer = None
        return writer


def direct_answers(app: web.Application) -> bool:
    """Whether screening answers may be written directly: aiohttp has what JsonAnswer uses and no
    response-prepare signal is connected (ask once the app is frozen, as on_startup)."""
    return DIRECT_WRITE and not app.on_response_prepare
