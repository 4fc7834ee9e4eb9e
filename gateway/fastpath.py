"""The screening routes' fast path for reading a request: a body taken straight from the
buffer it arrived in, and field checks that accept a value only when the generic validators
(``gateway.validation``) would accept it and return the same, remembering the valid ones. Anything
they do not accept goes down the generic path, so every error stays the validators'."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.streams import StreamReader

from config import establishments
from gateway import validation as v
from matcher.profile import Profile

ESTABLISHMENTS_KEPT = 1024  # valid establishment strings remembered (a few hundred prisons)
PLACES_KEPT = 65536  # valid (establishment, prisoner) pairs remembered


class Fields:
    """The fast path's checks. Each returns the normalised value only when the generic validator
    (gateway.validation) would accept the value and return the same; None sends the request down
    the generic path, which names what is wrong."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile  # its establishment registry and prison-number pattern
        self._establishments: dict[str, str] = {}
        self._places: dict[tuple[str, str], tuple[str, str]] = {}

    def call(self, body: dict[str, Any]) -> tuple[str, str, str] | None:
        """A call body's ``establishment``, ``prisoner`` and ``number`` as the validators would
        return them, when the body holds exactly those three; else None."""
        if len(body) != 3:
            return None
        return self.call_values(body.get("establishment"), body.get("prisoner"), body.get("number"))

    def call_values(self, establishment: Any, prisoner: Any, number: Any) -> tuple[str, str, str] | None:
        """``call``'s checks on the three values, however they were read (``call_fields`` reads
        them from the bytes): the remembered pair is looked up inline, ``place`` runs only for a
        new pair."""
        if type(number) is not str or len(number) > v.MAX_NUMBER or "\x00" in number or not number.strip():
            return None
        known = (
            self._places.get((establishment, prisoner))
            if type(establishment) is str and type(prisoner) is str
            else None
        )
        if known is None:
            known = self.place(establishment, prisoner)
            if known is None:
                return None
        return known[0], known[1], number

    def place(self, establishment: Any, prisoner: Any) -> tuple[str, str] | None:
        """``establishment`` and ``prisoner`` of one request at once, remembered per pair (a
        prison's phones see the same few thousand prisoners all day): one dict lookup instead of
        two checks and a pattern match."""
        key = None
        if type(establishment) is str and type(prisoner) is str:
            key = (establishment, prisoner)
            known = self._places.get(key)
            if known is not None:
                return known
        code = self.establishment(establishment)
        number = self.prisoner(prisoner)
        if code is None or number is None or key is None:
            return None
        if len(self._places) >= PLACES_KEPT:
            self._places.clear()
        found = self._places[key] = (code, number)
        return found

    def establishment(self, value: Any) -> str | None:
        known = self._establishments.get(value) if type(value) is str else None
        if known is not None:
            return known
        code = establishments.is_known(self.profile, value)
        if code is None:
            return None
        if len(self._establishments) >= ESTABLISHMENTS_KEPT:
            self._establishments.clear()
        self._establishments[value] = code
        return code

    def prisoner(self, value: Any) -> str | None:
        # The patterns admit neither NUL nor an empty string, so required_text's checks hold.
        return establishments.is_prisoner_number(self.profile, value)

    @staticmethod
    def text(value: Any, max_len: int) -> str | None:
        if type(value) is not str or len(value) > max_len or "\x00" in value or not value.strip():
            return None
        return value


def buffered(request: web.Request, limit: int) -> dict[str, Any] | None:
    """The body as a JSON object (read_json's checks and errors) when all of it is in the buffer
    already, as a screening request's is (it comes in with the headers): taken without awaiting
    request.read()'s chunk reads, and judged by its length as read rather than by Content-Length
    (a header lookup and an int() less). None when some of it is still to come: then
    ``v.read_json``."""
    content = request.content
    if not content.is_eof():
        return None
    return v.parse_json(taken(content), limit)


# StreamReader.read_nowait ends each read in the protocol's resume_reading, which feeds the HTTP
# parser an empty chunk even though reading was never paused, on every request. ``taken`` does the
# rest of _read_nowait_chunk's bookkeeping itself when the body is one buffered chunk and the
# protocol is not paused. These are aiohttp's private attributes (3.14): without any, read_nowait.
_READER_SLOTS = ("_buffer", "_buffer_offset", "_size", "_cursor", "_http_chunk_splits", "_exception")
DIRECT_READ = all(hasattr(StreamReader, name) for name in (*_READER_SLOTS, "_protocol")) and hasattr(
    BaseProtocol, "_reading_paused"
)


def taken(content: StreamReader) -> bytes:
    """All of a body that has arrived (eof seen), as read_nowait() returns it."""
    if DIRECT_READ and type(content) is StreamReader:
        buffer = content._buffer
        if (
            len(buffer) == 1
            and not content._buffer_offset
            and content._http_chunk_splits is None
            and content._exception is None
            and not content._protocol._reading_paused
        ):
            data: bytes = buffer.popleft()
            content._size -= len(data)
            content._cursor += len(data)
            return data
    return content.read_nowait()
