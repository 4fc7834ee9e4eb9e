"""The screening routes' lean path: its field checks never accept what the generic validators
refuse, the sources' one-call staleness agrees with their state and age, the token cache forgets a
revoked token as soon as the table drops it, the lock-free metrics match prometheus_client's own
and pass promtool, and the shipper batches hits."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import orjson
import pytest
import redis
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram

from config import load_profile
from gateway import fastpath
from gateway import validation as v
from gateway.auth import Principal, TokenCache, _record, create_token, new_token, revoke_token, token_hash
from gateway.fastpath import Fields, buffered
from gateway.follow import FollowerSource
from gateway.hitlog.shipper import Shipper
from gateway.hitlog.spool import Spool
from gateway.http import RUNTIME
from gateway.metrics import LATENCY_BUCKETS, Metrics
from gateway.routes.screening import CALL_FIELDS, CALL_PATH
from gateway.source import STATES, StaticSource
from gateway.validation import ApiError
from sync.keys import Keys
from sync.replication import Replication
from sync.status import SyncState, SyncStatus
from tests.support.gateway_data import TokenFactory, build_index, make_hit

KEYS = Keys("fast:")
PROFILE = load_profile(environ={})
CALL_BODY = {"establishment": "HLI", "prisoner": "A1234BC", "number": "07700 900999"}  # an allow

VALUES = st.one_of(
    st.text(max_size=50),
    st.text(alphabet="HLIab019 /-\t\x00\u00e9\u0130", max_size=45),
    st.none(),
    st.integers(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.lists(st.text(max_size=3), max_size=2),
)


def _generic(check: Any, value: Any) -> Any:
    try:
        return check({"f": value}, PROFILE, "f")
    except ApiError:
        return None


@given(VALUES)
def test_fast_establishment_accepts_only_what_the_validator_accepts(value: Any) -> None:
    fields = Fields(PROFILE)
    for _ in range(2):  # the second time from its memory of valid codes
        fast = fields.establishment(value)
        assert fast is None or fast == _generic(v.establishment, value)


@given(VALUES)
def test_fast_prisoner_accepts_only_what_the_validator_accepts(value: Any) -> None:
    fast = Fields(PROFILE).prisoner(value)
    assert fast is None or fast == _generic(v.prisoner, value)


@given(VALUES, st.sampled_from([1, 5, v.MAX_NUMBER]))
def test_fast_text_accepts_only_what_the_validator_accepts(value: Any, max_len: int) -> None:
    fast = Fields.text(value, max_len)

    def generic(body: dict[str, Any], _profile: Any, name: str) -> str:
        return v.required_text(body, name, max_len)

    assert fast is None or fast == _generic(generic, value)


@given(VALUES, VALUES)
def test_fast_place_accepts_only_what_the_validators_accept(establishment: Any, prisoner: Any) -> None:
    fields = Fields(PROFILE)
    for _ in range(2):  # the second time from its memory of valid pairs
        fast = fields.place(establishment, prisoner)
        assert fast is None or fast == (
            _generic(v.establishment, establishment),
            _generic(v.prisoner, prisoner),
        )


def _generic_call(body: dict[str, Any]) -> tuple[str, str, str] | None:
    try:
        v.only(body, CALL_FIELDS)
        return (
            v.establishment(body, PROFILE),
            v.prisoner(body, PROFILE),
            v.required_text(body, "number", v.MAX_NUMBER),
        )
    except ApiError:
        return None


CALL_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "establishment": st.one_of(VALUES, st.sampled_from(["HLI", " hli", "HL1", "H"])),
        "prisoner": st.one_of(VALUES, st.sampled_from(["A1234BC", "a1234bc ", "A 1234"])),
        "number": st.one_of(VALUES, st.sampled_from(["07700 900123", " ", "1" * v.MAX_NUMBER])),
        "content": VALUES,
        "Number": VALUES,
    },
)


@given(CALL_BODIES)
def test_fast_call_fields_accept_only_what_the_validators_accept(body: dict[str, Any]) -> None:
    fields = Fields(PROFILE)
    generic = _generic_call(body)
    for _ in range(2):  # the second time from its memory of valid pairs
        fast = fields.call(body)
        assert fast is None or fast == generic
    if set(body) == CALL_FIELDS and generic is not None and type(body["establishment"]) is str:
        assert fields.call(body) == generic  # a valid call body of plain strings takes the fast path


def test_fast_checks_take_the_usual_values() -> None:
    fields = Fields(PROFILE)
    assert fields.establishment(" hli") == "HLI" and fields.establishment(" hli") == "HLI"
    assert fields.prisoner("a1234bc ") == "A1234BC"
    for _ in range(2):
        assert fields.place(" hli", "a1234bc ") == ("HLI", "A1234BC")
    assert fields.place("HLI", "A 1234") is None and fields.place(["HLI"], "A1234BC") is None
    assert Fields.text("07700 900123", v.MAX_NUMBER) == "07700 900123"
    assert fields.call({"establishment": "hli", "prisoner": "a1234bc", "number": "9 07700"}) == (
        "HLI",
        "A1234BC",
        "9 07700",
    )


# -- staleness in one call ----------------------------------------------------------------------
def _stale_as_before(state: str, age: float | None, max_age: float) -> bool:
    """How the gateway judged staleness from ``state`` and ``age_seconds`` before sources had ``stale``."""
    return state != "VALID" or age is None or age > max_age


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("age", [None, 0.0, 29.9, 30.0, 30.1, 1e9])
@pytest.mark.parametrize("loaded", [True, False])
def test_static_source_stale_agrees_with_state_and_age(state: str, age: float | None, loaded: bool) -> None:
    source = StaticSource(build_index() if loaded else None)
    source.mark(state, age)
    assert source.stale(30.0) == _stale_as_before(source.state, source.age_seconds(), 30.0)


@pytest.mark.parametrize("state", list(SyncState))
@pytest.mark.parametrize("contact_ago", [None, 0.0, 29.0, 31.0])
def test_follower_source_stale_agrees_with_state_and_age(state: SyncState, contact_ago: float | None) -> None:
    source = FollowerSource.__new__(FollowerSource)
    now = time.monotonic()
    contact = None if contact_ago is None else now - contact_ago
    source.follower = SimpleNamespace(status=SyncStatus(state, "test", last_contact=contact))  # type: ignore[assignment]
    assert source.stale(30.0) == _stale_as_before(source.state, source.age_seconds(), 30.0)


# -- the token cache -----------------------------------------------------------------------------
async def test_token_cache_forgets_a_revoked_token_when_the_table_drops_it(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    sync = redis.Redis.from_url(redis_url)
    cache = TokenCache(client, KEYS, refresh=3600)
    try:
        token, principal = create_token(sync, KEYS, "dialler", "HLI", replication=Replication())
        header = f"Bearer {token}"
        assert cache.known(header) is None
        assert await cache.lookup(token, header) == principal
        assert cache.known(header) == principal
        assert revoke_token(sync, KEYS, principal.id, replication=Replication())
        await cache.reload()
        assert cache.known(header) is None
        assert await cache.lookup(token, header) is None
        assert cache.known(header) is None
    finally:
        await client.aclose()
        sync.close()


async def test_token_cache_remembers_no_failed_lookup(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    sync = redis.Redis.from_url(redis_url)
    cache = TokenCache(client, KEYS, refresh=3600)
    try:
        token = new_token()
        header = f"Bearer {token}"
        assert await cache.lookup(token, header) is None and cache.known(header) is None
        late = Principal("late", "dialler")
        sync.hset(KEYS.tokens, token_hash(token), _record(late))  # created after the first try
        assert await cache.lookup(token, header) == late
        assert cache.known(header) == late
    finally:
        await client.aclose()
        sync.close()


async def test_screening_refuses_a_revoked_token_after_one_reload(
    client: Any, auth: TokenFactory, redis_url: str
) -> None:
    headers = await auth("dialler")
    runtime = client.app[RUNTIME]
    for _ in range(2):  # the second answer comes from the header cache
        assert (await client.post("/v1/screen/call", json=CALL_BODY, headers=headers)).status == 200
    sync = redis.Redis.from_url(redis_url)
    try:
        digest = token_hash(headers["Authorization"].split()[1])
        assert sync.hdel(runtime.settings.sync.keys.tokens, digest) == 1
    finally:
        sync.close()
    await runtime.tokens.reload()
    resp = await client.post("/v1/screen/call", json=CALL_BODY, headers=headers)
    assert resp.status == 401 and (await resp.json())["error"] == "unauthorized"


# -- metrics -------------------------------------------------------------------------------------
OBSERVED = [0.0, 0.0001, 0.0002, 0.00020001, 0.0005, 0.003, 0.01, 2.5, 2.5000001, 7.0]


def test_latency_histogram_matches_prometheus_client() -> None:
    metrics = Metrics()
    reference = Histogram("ref", "reference", buckets=LATENCY_BUCKETS, registry=CollectorRegistry())
    for seconds in OBSERVED:
        metrics.observe_request("/v1/screen/call", "POST", 200, seconds)
        reference.observe(seconds)
    got = metrics.registry.get_sample_value
    for bound in (*(str(b) for b in LATENCY_BUCKETS), "+Inf"):
        expected = reference.collect()[0]
        want = next(s.value for s in expected.samples if s.labels.get("le") == bound)
        name = "nocontact_gateway_http_request_duration_seconds_bucket"
        assert got(name, {"endpoint": "/v1/screen/call", "le": bound}) == want, bound
    labels = {"endpoint": "/v1/screen/call"}
    assert got("nocontact_gateway_http_request_duration_seconds_count", labels) == len(OBSERVED)
    assert got("nocontact_gateway_http_request_duration_seconds_sum", labels) == pytest.approx(sum(OBSERVED))


def test_request_and_decision_counters() -> None:
    metrics = Metrics()
    for status in (200, 200, 400, 503):
        metrics.observe_request("/v1/screen/call", "POST", status, 0.001)
    metrics.observe_request("/v1/hits", "GET", 200, 0.01)
    for relay in (None, None, False, True, True):
        metrics.observe_decision("call", "allow" if relay is None else "block", relay)
    metrics.hit_recorded()
    got = metrics.registry.get_sample_value
    requests = "nocontact_gateway_http_requests_total"
    call = {"endpoint": "/v1/screen/call", "method": "POST"}
    assert got(requests, {**call, "status": "200"}) == 2
    assert got(requests, {**call, "status": "400"}) == 1
    assert got(requests, {"endpoint": "/v1/hits", "method": "GET", "status": "200"}) == 1
    decisions = "nocontact_gateway_decisions_total"
    assert got(decisions, {"channel": "call", "decision": "allow", "match": "none"}) == 2
    assert got(decisions, {"channel": "call", "decision": "block", "match": "primary"}) == 1
    assert got(decisions, {"channel": "call", "decision": "block", "match": "relay"}) == 2
    assert got("nocontact_gateway_hits_recorded_total") == 1


@pytest.mark.timeout(900)  # the first run on a fresh machine installs Debian's prometheus package
def test_metrics_text_passes_promtool(promtool: str) -> None:
    metrics = Metrics()
    metrics.watch(StaticSource(build_index()), lambda: None, 30.0)
    for endpoint, status in (("/v1/screen/call", 200), ("/v1/screen/call", 400), ("/metrics", 200)):
        metrics.observe_request(endpoint, "POST", status, 0.0004)
    metrics.observe_decision("mail", "hold", False)
    metrics.hit_recorded()
    text = metrics.render()
    assert (
        b'nocontact_gateway_http_request_duration_seconds_bucket{endpoint="/metrics",le="+Inf"} 1.0' in text
    )
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, check=False)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()


async def test_screening_requests_are_counted_once(client: Any, auth: TokenFactory) -> None:
    headers = await auth("dialler")
    for _ in range(3):
        assert (await client.post("/v1/screen/call", json=CALL_BODY, headers=headers)).status == 200
    await client.post("/v1/screen/call", json={}, headers=headers)
    got = client.app[RUNTIME].metrics.registry.get_sample_value
    call = {"endpoint": "/v1/screen/call", "method": "POST"}
    assert got("nocontact_gateway_http_requests_total", {**call, "status": "200"}) == 3
    assert got("nocontact_gateway_http_requests_total", {**call, "status": "400"}) == 1
    assert got("nocontact_gateway_http_request_duration_seconds_count", {"endpoint": "/v1/screen/call"}) == 4


# -- the shipper's batches -----------------------------------------------------------------------
async def test_shipper_lingers_so_hits_close_together_ship_as_one_batch(
    tmp_path: Path, redis_url: str
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    spool = Spool(tmp_path / "hits.sqlite3")
    spool.open()
    shipper = Shipper(spool, client, KEYS, linger=3600.0)  # only flush() ends the linger
    shipper.start()
    try:
        await shipper.idle.wait()  # its first pass found nothing
        await spool.record(make_hit(0))
        shipper.wake()
        for n in range(1, 5):
            await spool.record(make_hit(n))
            shipper.wake()
        assert shipper.shipped == 0
        shipper.flush()
        async with asyncio.timeout(30):
            while shipper.shipped < 5:
                await asyncio.sleep(0.01)
        assert shipper.batches == 1 and await client.xlen(KEYS.hits) == 5
    finally:
        await shipper.stop()
        spool.close()
        await client.aclose()


def _request_with_body(length: int) -> tuple[Any, StreamReader]:
    loop = asyncio.get_running_loop()
    protocol = BaseProtocol(loop)
    protocol.connection_made(mock.Mock(spec=asyncio.Transport))  # a connection that stays open
    payload = StreamReader(protocol, 2**16, loop=loop)
    request = make_mocked_request(
        "POST", CALL_PATH, headers={"Content-Length": str(length)}, payload=payload, app=web.Application()
    )
    return request, payload


@pytest.mark.parametrize("body", [CALL_BODY, {}])
async def test_a_body_already_here_and_one_still_coming_read_the_same(body: dict[str, Any]) -> None:
    raw = orjson.dumps(body)
    request, payload = _request_with_body(len(raw))
    payload.feed_data(raw)
    payload.feed_eof()
    assert buffered(request, v.LIMIT_CALL) == body
    request, payload = _request_with_body(len(raw))
    payload.feed_data(raw[:1])
    assert buffered(request, v.LIMIT_CALL) is None
    reading = asyncio.create_task(v.read_json(request, v.LIMIT_CALL))
    await asyncio.sleep(0)
    assert not reading.done()  # waiting for the rest of the body
    payload.feed_data(raw[1:])
    payload.feed_eof()
    assert await reading == body


@pytest.mark.parametrize(("raw", "detail"), [(b"{nope", "body: not valid JSON"), (b"[1]", "body: must be")])
async def test_a_body_already_here_is_checked_as_json_object(raw: bytes, detail: str) -> None:
    request, payload = _request_with_body(len(raw))
    payload.feed_data(raw)
    payload.feed_eof()
    with pytest.raises(ApiError) as caught:
        buffered(request, v.LIMIT_CALL)
    assert caught.value.status == 400 and caught.value.error == "invalid_json"
    assert caught.value.detail.startswith(detail)


TOO_BIG = orjson.dumps({"number": "1" * v.LIMIT_CALL})
RAW_BODIES = [b"", b" ", b"{}", b"{nope", b"[1]", b"null", b'{"a": [1]}', orjson.dumps(CALL_BODY), TOO_BIG]


def _arrived(raw: bytes) -> Any:
    request, payload = _request_with_body(len(raw))
    payload.feed_data(raw)
    payload.feed_eof()
    return request


async def _outcome(read: Any) -> Any:
    try:
        return await read
    except ApiError as exc:
        return (exc.status, exc.error, exc.detail)


async def _sync(read: Any, *args: Any) -> Any:
    return read(*args)


@pytest.mark.parametrize("raw", RAW_BODIES)
async def test_a_buffered_body_gets_what_read_json_gives(raw: bytes) -> None:
    fast = await _outcome(_sync(buffered, _arrived(raw), v.LIMIT_CALL))
    assert fast == await _outcome(v.read_json(_arrived(raw), v.LIMIT_CALL))
    if len(raw) > 1:  # the limit is the endpoint's, whatever Content-Length said
        assert (await _outcome(_sync(buffered, _arrived(raw), 1)))[0] == 413


async def test_the_direct_read_is_on_for_this_aiohttp() -> None:
    assert fastpath.DIRECT_READ  # else the tests below compare read_nowait with itself
    raw = orjson.dumps(CALL_BODY)
    reader = await _arrived_reader([raw], chunked=False, read_first=0, paused=False)
    with mock.patch.object(BaseProtocol, "resume_reading") as resume:
        assert fastpath.taken(reader) == raw
    resume.assert_not_called()


def _reader_state(reader: StreamReader) -> tuple[Any, ...]:
    return (
        reader._size,
        reader._cursor,
        list(reader._buffer),
        reader._buffer_offset,
        reader._protocol._reading_paused,
    )


async def _arrived_reader(
    chunks: list[bytes], *, chunked: bool, read_first: int, paused: bool
) -> StreamReader:
    _, reader = _request_with_body(sum(map(len, chunks)))
    for chunk in chunks:
        if chunked:
            reader.begin_http_chunk_receiving()
        reader.feed_data(chunk)
        if chunked:
            reader.end_http_chunk_receiving()
    reader.feed_eof()
    if read_first:
        await reader.readexactly(read_first)
    reader._protocol._reading_paused = paused  # as after a burst over the high-water mark
    return reader


@pytest.mark.parametrize(
    "chunks", [[orjson.dumps(CALL_BODY)], [b'{"a":', b" 1}"], [b""], [], [b"{}", b"", b" "]]
)
@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("read_first", [0, 1])
@pytest.mark.parametrize("paused", [False, True])
async def test_the_direct_read_takes_what_read_nowait_takes(
    chunks: list[bytes], chunked: bool, read_first: int, paused: bool
) -> None:
    if read_first and not b"".join(chunks):
        return
    direct = await _arrived_reader(chunks, chunked=chunked, read_first=read_first, paused=paused)
    generic = await _arrived_reader(chunks, chunked=chunked, read_first=read_first, paused=paused)
    assert fastpath.taken(direct) == generic.read_nowait()
    assert _reader_state(direct) == _reader_state(generic)  # a paused protocol is resumed, too
    assert direct.at_eof() and generic.at_eof()


async def test_an_empty_object_gets_the_field_errors(client: Any, auth: TokenFactory) -> None:
    resp = await client.post("/v1/screen/call", data=b"{}", headers=await auth("dialler"))
    assert resp.status == 400 and (await resp.json())["error"] != "invalid_json"


async def test_chunked_bodies_get_the_same_checks(client: Any, auth: TokenFactory) -> None:
    headers = await auth("dialler")

    async def body(raw: bytes) -> Any:
        yield raw

    resp = await client.post("/v1/screen/call", data=body(orjson.dumps(CALL_BODY)), headers=headers)
    assert resp.status == 200 and (await resp.json())["decision"] == "allow"
    too_big = b'{"number":"' + b"1" * 3000 + b'"}'
    resp = await client.post("/v1/screen/call", data=body(too_big), headers=headers)
    assert resp.status == 413 and (await resp.json())["error"] == "body_too_large"
