"""Request bodies: size limits per endpoint, JSON objects only, every field checked by type, size
and shape, unknown fields refused. Every problem is an ApiError: a 4xx ``{error, detail, field}``
where ``detail`` starts with the field's name."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import orjson
from aiohttp import web

from config import establishments
from matcher.errors import ValidationError
from matcher.profile import Profile

KIB = 1024
LIMIT_CALL = 2 * KIB
LIMIT_MESSAGE = 256 * KIB
LIMIT_MAIL = 1024 * KIB
LIMIT_ENTRY = 256 * KIB
LIMIT_SMALL = 8 * KIB
CLIENT_MAX_SIZE = LIMIT_MAIL  # aiohttp's own cap; each endpoint has its lower one

# Seconds a request's body may take to arrive once its handler starts reading it ([gateway]
# body_timeout); a client dripping it slower is answered 408 and its connection closed.
BODY_TIMEOUT = web.AppKey("body_timeout", float)
DEFAULT_BODY_TIMEOUT = 10.0
T = TypeVar("T")

MAX_NUMBER = 64
MAX_TO = 320
MAX_ENVELOPE = 4_000
MAX_CONTENT = 200_000


class ApiError(Exception):
    """An answer other than success, with a JSON body naming what was wrong."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: str,
        field: str | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        close: bool = False,
    ) -> None:
        super().__init__(status, error, detail, field)
        self.close = close  # close the connection after the answer (a body left unread)
        self.status = status
        self.error = error
        self.detail = detail
        self.field = field
        self.extra = extra
        self.headers = headers

    def __str__(self) -> str:
        return f"{self.status} {self.error}: {self.detail}"

    def response(self) -> web.Response:
        body: dict[str, Any] = {"error": self.error, "detail": self.detail}
        if self.field is not None:
            body["field"] = self.field
        if self.extra:
            body.update(self.extra)
        response = web.Response(
            status=self.status, body=orjson.dumps(body), content_type="application/json", headers=self.headers
        )
        if self.close:
            response.force_close()
        return response


def invalid(field: str, detail: str) -> ApiError:
    return ApiError(400, "invalid_field", f"{field}: {detail}", field)


class BodyTimeout(ApiError):
    """The body did not arrive within the deadline: 408, and the connection is closed."""

    def __init__(self, seconds: float) -> None:
        super().__init__(408, "body_timeout", f"body: not received within {seconds:g} s", close=True)


async def within_body_deadline(request: web.Request, reading: Awaitable[T]) -> T:
    """`reading` (the request's body being read: ``request.read()``, ``request.post()``...), or
    BodyTimeout when it takes longer than the app's BODY_TIMEOUT."""
    seconds = request.app.get(BODY_TIMEOUT, DEFAULT_BODY_TIMEOUT)
    try:
        async with asyncio.timeout(seconds):
            return await reading
    except TimeoutError:
        raise BodyTimeout(seconds) from None


def body_too_large(limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"body: at most {limit} bytes on this endpoint")


async def read_json(request: web.Request, limit: int) -> dict[str, Any]:
    length = request.content_length
    if length is not None and length > limit:
        raise body_too_large(limit)
    try:
        raw = await within_body_deadline(request, request.read())
    except web.HTTPRequestEntityTooLarge:
        raise body_too_large(limit) from None
    return parse_json(raw, limit)


def parse_json(raw: bytes, limit: int) -> dict[str, Any]:
    """A body already read, with read_json's checks and errors."""
    if len(raw) > limit:
        raise body_too_large(limit)
    if not raw:
        raise ApiError(400, "invalid_json", "body: a JSON object is required")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"body: not valid JSON ({exc.args[0]})") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "body: must be a JSON object")
    # orjson keeps the last of a key given twice, where another reader (a proxy, a log) may take
    # the first: refused. Every key is followed by '"', JSON whitespace and ':', so when the body
    # holds no more of those than the objects hold keys, no key was given twice; otherwise (a
    # string value holding '":' too) the body is read again, key by key.
    if len(_KEY_END.findall(raw)) != _keys(data):
        json.loads(raw, object_pairs_hook=_unique_keys)
    return data


_KEY_END = re.compile(rb'"[ \t\r\n]*:')


def _keys(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(_keys(v) for v in value.values() if isinstance(v, dict | list))
    if isinstance(value, list):
        return sum(_keys(v) for v in value if isinstance(v, dict | list))
    return 0


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            name = key if len(key) <= 64 and key.isprintable() else "body"
            raise ApiError(400, "duplicate_key", f"{name}: given more than once", name)
        out[key] = value
    return out


def only(body: Mapping[str, Any], allowed: frozenset[str], where: str = "") -> None:
    for key in body:
        if key not in allowed:
            name = f"{where}.{key}" if where else str(key)
            raise ApiError(400, "unknown_field", f"{name}: unknown field", name)


def text(
    body: Mapping[str, Any], name: str, max_len: int, *, required: bool = True, blank: bool = False
) -> str | None:
    """A string field; `blank`: an empty or blank string is a value (a letter OCR read nothing of)."""
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, "missing_field", f"{name}: required", name)
        return None
    if not isinstance(value, str):
        raise invalid(name, f"must be a string, not {_json_type(value)}")
    if not blank and not value.strip():
        raise invalid(name, "must not be empty")
    if len(value) > max_len:
        raise invalid(name, f"at most {max_len} characters")
    if "\x00" in value:
        raise invalid(name, "must not contain NUL characters")
    return value


def required_text(body: Mapping[str, Any], name: str, max_len: int) -> str:
    value = text(body, name, max_len)
    assert value is not None
    return value


def establishment(body: Mapping[str, Any], profile: Profile, name: str = "establishment") -> str:
    """A registered establishment code (``config.establishments``)."""
    value = required_text(body, name, 16)
    try:
        return establishments.require(profile, value, name)
    except ValidationError as exc:
        raise invalid(exc.field, exc.detail) from None


def prisoner(body: Mapping[str, Any], profile: Profile, name: str = "prisoner") -> str:
    """A prison number of the profile's pattern (``config.establishments``)."""
    value = required_text(body, name, 40)
    try:
        return establishments.prisoner_number(profile, value, name)
    except ValidationError as exc:
        raise invalid(exc.field, exc.detail) from None


def sender(body: Mapping[str, Any], profile: Profile, name: str = "prisoner") -> str | None:
    """A letter's prisoner: a prison number, or null when the sender is not known (every block
    applies; no exemption can). The field must be there: leaving it out is a client's mistake."""
    if name not in body:
        raise ApiError(400, "missing_field", f"{name}: required (null when the sender is not known)", name)
    if body[name] is None:
        return None
    return prisoner(body, profile, name)


def choice(value: Any, name: str, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in options:
        raise invalid(name, f"one of {list(options)}")
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# -- query strings -------------------------------------------------------------------------------
def query_only(query: Mapping[str, str], allowed: frozenset[str]) -> None:
    for key in query:
        if key not in allowed:
            raise ApiError(400, "unknown_parameter", f"{key}: unknown query parameter", key)


def query_int(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,12}", raw) or not low <= int(raw) <= high:
        raise invalid(name, f"an integer from {low} to {high}")
    return int(raw)
