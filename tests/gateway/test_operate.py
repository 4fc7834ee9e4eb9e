"""Operating a gateway as a prison's operator does (issue 17), with real redis-server processes and
a real `nocontact serve`: the first start on a store of one's own, a restart while Redis is down,
a bulk replace that would shrink the list, and readiness under the stale policy."""

from __future__ import annotations

import json
import random
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from matcher.budget import Budget
from matcher.index import Index
from sync.cut import NOTHING_PUBLISHED
from tests.support.gateway_data import ADMIN
from tests.support.gateway_process import Gateway
from tests.support.hostile import digit_groups
from tests.support.processes import clean_env, free_port
from tests.support.redis_server import RedisFactory, RedisServer

ENTRY = {
    "prisoner": "A1234BC",
    "scope": "all",
    "protected": [{"name": "Jane Smith", "phones": ["07700 900123"]}],
}
CALL = {"establishment": "HLI", "prisoner": "Z9999ZZ", "number": "9 07700 900123"}


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[list[Gateway]]:
    started: list[Gateway] = []
    yield started
    for gateway in started:
        gateway.close()


def nocontact(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        capture_output=True,
        text=True,
        env=clean_env(**(env or {})),
        timeout=60,
        check=False,
    )


def until(predicate, what: str, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def entries_file(path: Path, count: int) -> Path:
    lines = [
        json.dumps(
            {**ENTRY, "reference": f"UPC-2026-{i:06d}", "protected": [{"phones": [f"07700 900{i:03d}"]}]}
        )
        for i in range(count)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_first_start_on_a_fresh_redis_says_to_run_init_and_init_makes_it_ready(
    tmp_path: Path, redis_server: RedisFactory, gateways: list[Gateway]
) -> None:
    store = redis_server()
    env = {"NOCONTACT_REDIS_URL": store.url}
    gateway = Gateway(tmp_path / "data", free_port(), env=env)
    gateways.append(gateway.start())

    def unpublished() -> dict[str, object] | None:
        status, body = gateway.http("GET", "/readyz")
        return body if status == 503 and NOTHING_PUBLISHED in str(body.get("why")) else None

    ready = until(unpublished, "readyz never said to run `nocontact init`")
    assert ready["status"] == "not_ready"
    status, refused = gateway.http("POST", "/v1/screen/call", CALL)
    assert status == 503 and refused["error"] == "not_ready" and NOTHING_PUBLISHED in refused["detail"]
    assert gateway.text().count(NOTHING_PUBLISHED) == 1  # once, however often it retries
    assert "cut refused" not in gateway.text()

    first = nocontact("init", "--data-dir", str(tmp_path / "cli"), env=env)
    assert first.returncode == 0, first.stderr
    assert "published an empty blocklist" in first.stdout
    gateway.wait_ready()
    assert gateway.http("POST", "/v1/screen/call", CALL)[1]["decision"] == "allow"
    status, written = gateway.http("PUT", "/v1/entries/UPC-2026-000001", ENTRY)
    assert status == 200, written

    again = nocontact("init", "--data-dir", str(tmp_path / "cli"), env=env)
    assert again.returncode == 0 and "nothing to do" in again.stdout, again
    until(
        lambda: gateway.http("POST", "/v1/screen/call", CALL)[1]["decision"] == "block", "block not enforced"
    )
    assert store.client().hlen("nocontact:entries") == 1  # init never empties a published store


def test_serve_init_publishes_on_first_start(
    tmp_path: Path, redis_server: RedisFactory, gateways: list[Gateway]
) -> None:
    store = redis_server()
    gateway = Gateway(tmp_path / "data", free_port(), env={"NOCONTACT_REDIS_URL": store.url}, args=["--init"])
    gateways.append(gateway.start())
    gateway.wait_ready()
    assert "nocontact: init: published an empty blocklist" in gateway.text()
    gateway.stop()
    gateway.start()  # the second start's --init leaves the store alone
    gateway.wait_ready()
    assert "nocontact: init: nothing to do" in gateway.text()


def test_init_with_redis_down_is_one_line_naming_the_fix(tmp_path: Path, redis_server: RedisFactory) -> None:
    store = redis_server()
    store.kill()
    done = nocontact("init", "--data-dir", str(tmp_path / "cli"), env={"NOCONTACT_REDIS_URL": store.url})
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "cannot reach Redis" in done.stderr, done.stderr
    assert "NOCONTACT_REDIS_URL" in done.stderr and "Traceback" not in done.stderr


def test_import_replace_refuses_what_the_gateways_would_refuse(
    tmp_path: Path, redis_server: RedisFactory, gateways: list[Gateway]
) -> None:
    store = redis_server()
    env = {"NOCONTACT_REDIS_URL": store.url}
    loaded = nocontact("import", str(entries_file(tmp_path / "all.jsonl", 10)), env=env)
    assert loaded.returncode == 0, loaded.stderr
    gateway = Gateway(tmp_path / "data", free_port(), env={**env, "NOCONTACT_STALE_POLICY": "refuse"})
    gateways.append(gateway.start())
    gateway.wait_ready()
    client = store.client()
    epoch = client.hget("nocontact:meta", "epoch")

    for count in (2, 0):
        shorter = nocontact(
            "import", "--replace", str(entries_file(tmp_path / f"{count}.jsonl", count)), env=env
        )
        assert shorter.returncode == 1, shorter.stderr
        assert "--allow-shrink" in shorter.stderr and "nothing was published" in shorter.stderr
        assert ("empty" if count == 0 else "shrinks from 10 to 2") in shorter.stderr
        assert "Traceback" not in shorter.stderr
        assert client.hget("nocontact:meta", "epoch") == epoch and client.hlen("nocontact:entries") == 10
    assert client.keys("nocontact:staging:*") == []
    status, ready = gateway.http("GET", "/readyz")
    assert status == 200 and ready["state"] == "VALID", ready

    licensed = nocontact(
        "import", "--replace", "--allow-shrink", str(entries_file(tmp_path / "2.jsonl", 2)), env=env
    )
    assert licensed.returncode == 0, licensed.stderr
    until(lambda: gateway.http("GET", "/readyz")[1]["version"] != ready["version"], "republish not taken")
    status, ready = gateway.http("GET", "/readyz")
    assert status == 200 and ready["state"] == "VALID", ready


def test_restart_while_redis_is_down_serves_the_snapshot_and_the_bound_tokens(
    tmp_path: Path, redis_server: RedisFactory, gateways: list[Gateway]
) -> None:
    store: RedisServer = redis_server()
    # no NOCONTACT_ADMIN_TOKEN: the admin bootstrap itself must cope with the outage
    env = {"NOCONTACT_REDIS_URL": store.url, "NOCONTACT_ADMIN_TOKEN": "", "NOCONTACT_MAX_DATA_AGE": "1"}
    assert nocontact("import", str(entries_file(tmp_path / "some.jsonl", 3)), env=env).returncode == 0
    gateway = Gateway(tmp_path / "data", free_port(), env=env)
    gateways.append(gateway.start())
    admin = until(lambda: "shown once: " in gateway.text() and gateway.text(), "no admin token printed")
    admin_token = admin.split("shown once: ", 1)[1].split()[0]
    gateway.wait_ready()
    status, created = gateway.http(
        "POST", "/v1/tokens", {"role": "dialler", "establishment": "HLI"}, admin_token
    )
    assert status == 201, created
    dialler = created["token"]
    assert gateway.http("PUT", "/v1/entries/UPC-2026-000001", ENTRY, admin_token)[0] == 200
    until(
        lambda: gateway.http("POST", "/v1/screen/call", CALL, dialler)[1]["decision"] == "block", "no block"
    )
    cache = gateway.data_dir / "tokens.cache"
    until(lambda: cache.exists() and created["id"] in cache.read_text(), "token cache file not written")
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert dialler not in cache.read_text() and admin_token not in cache.read_text()  # hashes only
    gateway.stop()

    store.kill()  # the host reboots during the outage
    gateway.start()
    status, answer = gateway.http("POST", "/v1/screen/call", CALL, dialler)
    assert status == 200 and answer["decision"] == "block" and answer["stale"] is True, answer
    assert answer["reference"] == "UPC-2026-000001"
    status, ready = gateway.http("GET", "/readyz")
    assert status == 200 and ready["stale"] is True and ready["why"], ready  # serve: answering, stale
    assert gateway.text().count("admin bootstrap skipped") == 1 and "Traceback" not in gateway.text()
    status, refused = gateway.http("POST", "/v1/screen/call", CALL, "nc_not-a-known-token")
    assert status == 503 and refused["error"] == "auth_unavailable"  # unknown: cannot be checked

    store.start()  # Redis back: the gateway catches up and is fresh again
    until(lambda: gateway.http("GET", "/readyz")[1]["stale"] is False, "never fresh again")


def test_readyz_follows_the_stale_policy(
    tmp_path: Path, redis_server: RedisFactory, gateways: list[Gateway]
) -> None:
    store = redis_server()
    base = {"NOCONTACT_REDIS_URL": store.url, "NOCONTACT_MAX_DATA_AGE": "1"}
    assert nocontact("import", str(entries_file(tmp_path / "some.jsonl", 3)), env=base).returncode == 0
    serve = Gateway(tmp_path / "serve", free_port(), env=base)
    refuse = Gateway(tmp_path / "refuse", free_port(), env={**base, "NOCONTACT_STALE_POLICY": "refuse"})
    gateways += [serve.start(), refuse.start()]
    serve.wait_ready()
    refuse.wait_ready()
    store.kill()  # a Redis blip: the serve gateway keeps answering, the refuse one does not

    def stale(gateway: Gateway) -> tuple[int, dict[str, object]] | None:
        status, body = gateway.http("GET", "/readyz")
        return (status, body) if body["stale"] else None

    status, body = until(lambda: stale(serve), "serve never stale")
    assert status == 200 and body["status"] == "ready" and "limit 1s" in str(body["why"]), body
    assert serve.http("POST", "/v1/screen/call", CALL)[0] == 200
    status, body = until(lambda: stale(refuse), "refuse never stale")
    assert status == 503 and body["status"] == "not_ready" and body["why"], body
    assert refuse.http("POST", "/v1/screen/call", CALL)[1]["error"] == "stale_data"


def raw_request(port: int, head: str, body: bytes) -> socket.socket:
    """A connection that has sent `head` (request line and headers) and the first `body` bytes of
    a longer body, and sends no more."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
    return sock


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/v1/screen/call", "application/json", b'{"establishment": '),
        ("/ui/login", "application/x-www-form-urlencoded", b"username=a"),
    ],
)
def test_a_body_slower_than_the_deadline_is_408_and_the_connection_closed(
    tmp_path: Path, gateways: list[Gateway], path: str, content_type: str, body: bytes
) -> None:
    gateway = Gateway(tmp_path / "data", free_port(), env={"NOCONTACT_BODY_TIMEOUT": "0.5"})
    gateways.append(gateway.start())
    head = (
        f"POST {path} HTTP/1.1\nHost: 127.0.0.1\nAuthorization: Bearer {ADMIN}\n"
        f"Content-Type: {content_type}\nContent-Length: 1000\n"
    )
    with raw_request(gateway.port, head, body) as sock:
        answer = read_all(sock)  # the server answers, then closes: recv returns b"" (no timeout)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b'"error":"body_timeout"' in answer and b"within 0.5 s" in answer


def test_a_client_that_goes_away_mid_body_is_counted_not_a_500(
    tmp_path: Path, gateways: list[Gateway]
) -> None:
    gateway = Gateway(tmp_path / "data", free_port(), env={"NOCONTACT_LOG_LEVEL": "DEBUG"})
    gateways.append(gateway.start())
    head = (
        f"POST /v1/screen/call HTTP/1.1\nHost: 127.0.0.1\nAuthorization: Bearer {ADMIN}\n"
        "Content-Type: application/json\nContent-Length: 1000\n"
    )
    raw_request(gateway.port, head, b'{"establishment": "HLI", ').close()
    closed = 'nocontact_gateway_http_client_closed_total{endpoint="/v1/screen/call"} 1.0'
    until(lambda: closed in metrics_text(gateway), "the closed request was not counted")
    assert 'status="500"' not in metrics_text(gateway)
    assert "client closed the connection" in gateway.text()
    assert "internal error" not in gateway.text() and "Traceback" not in gateway.text()


def metrics_text(gateway: Gateway) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{gateway.port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def hostile(size: int) -> str:
    """Issue 17's hostile letter: `size` characters of "HU12AB 0789@.-+" (seeded, so the same each run)."""
    rng = random.Random(17)
    return "".join(rng.choice("HU12AB 0789@.-+") for _ in range(size))


def test_a_hostile_letter_is_held_for_a_person_with_bounded_work(
    tmp_path: Path, gateways: list[Gateway]
) -> None:
    gateway = Gateway(tmp_path / "data", free_port())
    gateways.append(gateway.start())
    mailroom = gateway.token("mailroom", "HLI")
    letter = {
        "establishment": "HLI",
        "prisoner": "A1234BC",
        "envelope": hostile(4_000),
        "content": hostile(200_000),
    }
    status, answer = gateway.http("POST", "/v1/screen/mail", letter, mailroom)
    assert status == 200 and answer["decision"] == "hold" and answer["reason"] == "over_limit", answer
    assert answer["hit_id"] is None  # nothing matched: no request is touched
    messaging = gateway.token("messaging", "HLI")
    message = {
        "establishment": "HLI",
        "prisoner": "A1234BC",
        "to": "friend@example.com",
        "content": hostile(200_000),
    }
    status, answer = gateway.http("POST", "/v1/screen/message", message, messaging)
    assert status == 200 and answer["decision"] == "block", answer  # a message cannot be held
    assert gateway.http("POST", "/v1/screen/call", CALL)[1]["decision"] == "allow"


def test_padding_never_lets_a_blocked_number_through(tmp_path: Path, gateways: list[Gateway]) -> None:
    # The audit of issue 17 (gap 1): digit groups before a blocked number ended the phone scan at
    # its cap, and the letter was allowed, the message sent.
    gateway = Gateway(tmp_path / "data", free_port())
    gateways.append(gateway.start())
    abroad = "+353 87 123 4567"  # read by phonenumbers only, past its budget
    entry = {**ENTRY, "protected": [{"name": "Jane Smith", "phones": ["07700 900123", abroad]}]}
    assert gateway.http("PUT", "/v1/entries/UPC-2026-000001", entry)[0] == 200
    until(lambda: gateway.http("POST", "/v1/screen/call", CALL)[1]["decision"] == "block", "not enforced")
    mailroom, messaging = gateway.token("mailroom", "HLI"), gateway.token("messaging", "HLI")
    envelope = "Mr P Jones, 1 Park Road, Leeds LS1 1AA"
    padded = {
        "digit groups, then the number": digit_groups(150_000) + " Ring me on 07700 900123",
        "the number, then digit groups": "Ring me on 07700 900123 " + digit_groups(150_000),
        "a number only phonenumbers reads after the groups": digit_groups(3_600) + f" Ring me on {abroad}",
    }
    for what, content in padded.items():
        letter = {"establishment": "HLI", "prisoner": "A1234BC", "envelope": envelope, "content": content}
        status, held = gateway.http("POST", "/v1/screen/mail", letter, mailroom)
        assert status == 200, held
        assert (held["decision"], held["reason"], held["matches"]) == ("hold", "over_limit", []), what
        message = {**letter, "to": "friend@example.com"}
        del message["envelope"]
        status, blocked = gateway.http("POST", "/v1/screen/message", message, messaging)
        assert status == 200, blocked
        assert (blocked["decision"], blocked["matches"]) == ("block", []), what
        assert "reason" not in blocked  # the message answer's shape is unchanged (OpenAPI)
    in_envelope = {
        "establishment": "HLI",
        "prisoner": "A1234BC",
        "envelope": f"{envelope}\n{digit_groups(3_900 - len(envelope))} {abroad}",
    }
    status, held = gateway.http("POST", "/v1/screen/mail", in_envelope, mailroom)
    assert (status, held["decision"], held["reason"]) == (200, "hold", "over_limit"), held
    assert "900123" not in gateway.text() and "123 4567" not in gateway.text()  # nothing of the victim


async def test_long_letters_are_screened_off_the_event_loop(
    client: Any, auth: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    screen_mail = Index.screen_mail

    def recording(self: Index, *args: Any, **options: Any) -> Any:
        threads.append(threading.current_thread().name)
        return screen_mail(self, *args, **options)

    monkeypatch.setattr(Index, "screen_mail", recording)
    headers = await auth("mailroom", "HLI")
    short = {
        "establishment": "HLI",
        "prisoner": "A1234BC",
        "envelope": "Mr P Jones\n16 High Street\nHull HU1 2AB",
    }
    long = {**short, "content": "Dear Jane, " * 1_000}
    for body in (short, long):
        resp = await client.post("/v1/screen/mail", json=body, headers=headers)
        assert resp.status == 200, await resp.text()
    assert threads == [threading.main_thread().name, "nocontact-screening_0"]


async def test_short_letters_with_too_much_to_look_at_are_screened_off_the_event_loop(
    client: Any, auth: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The audit of issue 17 (gap 3): 1,990 characters of digit groups cost 36-88 ms on the loop.
    # Such a letter now runs out of the loop's work budget and is screened again in the thread.
    threads: list[tuple[str, bool]] = []
    screen_mail, screen_message = Index.screen_mail, Index.screen_message

    def mail(self: Index, *args: Any, budget: Budget | None = None, **options: Any) -> Any:
        threads.append((threading.current_thread().name, budget is not None))
        return screen_mail(self, *args, budget=budget, **options)

    def message(self: Index, *args: Any) -> Any:
        threads.append((threading.current_thread().name, args[-1] is not None))
        return screen_message(self, *args)

    monkeypatch.setattr(Index, "screen_mail", mail)
    monkeypatch.setattr(Index, "screen_message", message)
    padding = digit_groups(1_950)
    letter = {"establishment": "HLI", "prisoner": "A1234BC", "envelope": f"Mr P Jones\n{padding}"}
    resp = await client.post("/v1/screen/mail", json=letter, headers=await auth("mailroom", "HLI"))
    assert resp.status == 200 and (await resp.json())["reason"] == "over_limit", await resp.text()
    text = {"establishment": "HLI", "prisoner": "A1234BC", "to": "friend@example.com", "content": padding}
    resp = await client.post("/v1/screen/message", json=text, headers=await auth("messaging", "HLI"))
    assert resp.status == 200 and (await resp.json())["decision"] == "block", await resp.text()
    loop, thread = threading.main_thread().name, "nocontact-screening_0"
    assert threads == [(loop, True), (thread, False), (loop, True), (thread, False)]
    metrics = await (await client.get("/metrics")).text()
    assert 'nocontact_gateway_screened_off_loop_total{why="work"} 2.0' in metrics
