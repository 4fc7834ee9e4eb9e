"""gateway._speedups.call_fields (C) against orjson: whatever body it answers for, orjson reads
the same three values from it; it answers for every body of the usual shape however it is laid
out; and the call route gives the same answers with it as without it."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import _speedups as speedups
from gateway.routes import screening
from tests.support.gateway_data import TokenFactory

KEYS = ("establishment", "prisoner", "number")
PLAIN = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)
VALUES = st.one_of(
    PLAIN,
    st.text(max_size=20),  # any unicode: escapes, non-ASCII, control characters
    st.none(),
    st.integers(),
    st.booleans(),
    st.lists(PLAIN, max_size=2),
    st.dictionaries(PLAIN, PLAIN, max_size=1),
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """JSON objects near the call shape: the three keys or not, extra or missing ones, any
    values, laid out with any whitespace, key order and escaping; sometimes cut or padded."""
    keys = draw(st.lists(st.sampled_from([*KEYS, *KEYS, "Number", "extra", ""]), max_size=5))
    obj = {key: draw(VALUES) for key in keys}
    separators = draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,\n", " :\t"), (",\r\n", ":")]))
    text = json.dumps(
        obj,
        separators=separators,
        indent=draw(st.sampled_from([None, 0, 2, "\t"])),
        ensure_ascii=draw(st.booleans()),
        sort_keys=draw(st.booleans()),
    )
    before = draw(st.sampled_from(["", " ", "\n", "\t "]))
    raw = (before + text + draw(st.sampled_from(["", " ", "\r\n"]))).encode()
    tweak = draw(st.integers(min_value=0, max_value=9))
    if tweak == 0 and raw:  # cut short
        raw = raw[: draw(st.integers(min_value=0, max_value=len(raw) - 1))]
    elif tweak == 1:  # something after the object
        raw += draw(st.sampled_from([b"x", b"{}", b",", b"\x00", b"\xff"]))
    elif tweak == 2 and raw:  # one byte replaced
        at = draw(st.integers(min_value=0, max_value=len(raw) - 1))
        raw = raw[:at] + bytes([draw(st.integers(min_value=0, max_value=255))]) + raw[at + 1 :]
    return raw


def _orjson(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def test_the_compiled_reader_is_built_and_used() -> None:
    assert screening._call_fields is speedups.call_fields


@settings(max_examples=3000)
@given(bodies())
def test_call_fields_reads_what_orjson_reads(raw: bytes) -> None:
    found = speedups.call_fields(raw)
    parsed = _orjson(raw)
    if found is not None:
        assert parsed == dict(zip(KEYS, found, strict=True)), raw
        assert all(type(value) is str for value in found)
        return
    # None is right only for a body off the usual shape: not exactly the three keys with plain
    # printable-ASCII string values written without escapes
    usual = (
        isinstance(parsed, dict)
        and sorted(parsed) == sorted(KEYS)
        and all(isinstance(v, str) and v.isprintable() and v.isascii() for v in parsed.values())
        and b"\\" not in raw
        and raw.count(b'"') == 12  # no key given twice
    )
    assert not usual, raw


@settings(max_examples=500)
@given(
    st.tuples(PLAIN, PLAIN, PLAIN), st.permutations(range(3)), st.sampled_from([" ", "\t", "\n", "\r", ""])
)
def test_call_fields_answers_for_every_layout_of_the_usual_shape(
    values: tuple[str, str, str], order: list[int], space: str
) -> None:
    pairs = [f'{space}"{KEYS[i]}"{space}:{space}{json.dumps(values[i])}{space}' for i in order]
    raw = f"{space}{{{','.join(pairs)}}}{space}".encode()
    assert orjson.loads(raw) == dict(zip(KEYS, values, strict=True))
    escaped = any('"' in value or "\\" in value for value in values)
    assert speedups.call_fields(raw) == (None if escaped else values)  # escapes are orjson's


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{}",
        b"[]",
        b'{"establishment":"HLI","prisoner":"A1234BC"}',
        b'{"establishment":"HLI","prisoner":"A1234BC","number":"1","number":"2"}',
        b'{"establishment":"HLI","prisoner":"A1234BC","prisoner":"2"}',
        b'{"establishment":"HLI","prisoner":"A1234BC","number":7}',
        b'{"establishment":"HLI","prisoner":"A1234BC","number":"07911\\u0020123456"}',
        b'{"establishment":"HLI","prisoner":"A1234BC","number":"07911 123456"',
        b'{"establishment":"HLI","prisoner":"A1234BC","number":"07911 123456",}',
        b'{"establishment":"HLI","prisoner":"A1234BC","number":"07911\t123456"}',
        b'{"establishment":"HLI","prisoner":"A1234BC","number":"07911 123456"}}',
        b'{"establishment":"H\xc3\xa9","prisoner":"A1234BC","number":"07911 123456"}',
        b'{establishment:"HLI","prisoner":"A1234BC","number":"07911 123456"}',
    ],
)
def test_call_fields_hands_back_every_other_body(raw: bytes) -> None:
    assert speedups.call_fields(raw) is None


def test_call_fields_refuses_what_is_not_bytes() -> None:
    with pytest.raises(TypeError):
        speedups.call_fields('{"number": "1"}')  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        speedups.call_fields(bytearray(b"{}"))  # type: ignore[arg-type]


CALL_BODIES = [
    b'{"establishment":"HLI","prisoner":"A1234BC","number":"07700 900999"}',  # allow
    b'{"establishment":"hli ","prisoner":" a1234bc","number":"07700 900999"}',  # normalised
    b'{"establishment":"HLI","prisoner":"A1234BC","number":"07700 900123"}',  # blocked
    b'{"establishment":"HLI","prisoner":"A1234BC","number":"   "}',
    b'{"establishment":"HLI","prisoner":"A1234BC","number":"' + b"1" * 65 + b'"}',
    b'{"establishment":"NOPE!","prisoner":"A1234BC","number":"07700 900999"}',
    b'{"establishment":"HLI","prisoner":"bad prisoner","number":"07700 900999"}',
    b'{"establishment":"HLI","prisoner":"A1234BC","number":"not a number"}',
    b'{"establishment":"HLI","prisoner":"A1234BC","number":"07700\\u0020900999"}',
    b'{"establishment":"HLI","prisoner":"A1234BC","number":"07700 900999","x":1}',
    b'{"establishment":"HLI","prisoner":"A1234BC"}',
    b'{"establishment":"HLI","prisoner":"A1234BC","number":"07700 900999"} trailing',
]


async def test_the_call_route_answers_the_same_with_and_without_the_reader(
    client: Any, auth: TokenFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = {**(await auth("dialler")), "Content-Type": "application/json"}

    async def answers() -> list[tuple[int, Any]]:
        out = []
        for raw in CALL_BODIES:
            resp = await client.post("/v1/screen/call", data=raw, headers=headers)
            body = await resp.json()
            body.pop("hit_id", None)  # a new hit each time
            out.append((resp.status, body))
        return out

    with_reader = await answers()
    monkeypatch.setattr(screening, "_call_fields", None)
    without = await answers()
    assert with_reader == without
    statuses = [status for status, _ in with_reader]
    assert statuses.count(200) == 4 and 400 in statuses  # the table holds both kinds
    assert any(body.get("decision") == "block" for _, body in with_reader)
