"""Call screening while the gateway's mailroom page reads envelopes: wrk (pinned to core 1) offers
1000 allowed calls a second to a real `nocontact serve` (pinned to core 0, embedded Redis), once
with nothing else running (the baseline) and once while a mailroom account uploads rendered
envelopes one after another to /ui/mailroom/scan. OCR runs in the gateway's worker process,
never on the event loop, scheduled SCHED_IDLE (it runs only on CPU time the gateway does not
want); here it shares core 0 with the loop (the worker inherits the gateway's pinning), the worst
case: a CPU-bound neighbour on the loop's own core. The figures are the two p99s and their ratio. Run:
flock /tmp/nocontact-bench.lock ./dev bench benchmarks/bench_mailroom_load.py
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from benchmarks.figures import RATIOS, record
from benchmarks.http_load import CONNECTIONS, SERVER_CPU, run_wrk, wait_for_quiet
from tests.support.gateway_process import Gateway, request
from tests.support.mailroom_site import BLOCKED, FLAT, NEIGHBOUR, scan, start_site
from tests.support.tools import require_command
from tests.support.ui_site import PASSWORD

SECONDS = int(os.environ.get("NOCONTACT_BENCH_HTTP_SECONDS", "10"))
RPS = 1000
RATIOS.append(
    (
        "call p99 while the mailroom page reads envelopes / idle",
        "mailroom_load_p99_ocr",
        "mailroom_load_p99_idle",
    )
)
_HIDDEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class Officer:
    """A mailroom account's browser, as far as the upload needs one: its cookies (the session's
    are Secure, which urllib's cookie jar keeps from http://127.0.0.1) and the form's CSRF token."""

    def __init__(self, base: str, username: str) -> None:
        self.base = base
        self.cookies: dict[str, str] = {}
        token = self._token("/ui/login")
        form = f"username={username}&password={PASSWORD.replace(' ', '+')}&csrf_token={token}".encode()
        self._send("POST", "/ui/login", form, "application/x-www-form-urlencoded")
        self.csrf = self._token("/ui/mailroom")

    def _send(self, method: str, path: str, body: bytes | None = None, kind: str | None = None) -> str:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if kind:
            headers["Content-Type"] = kind
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)

        class Keep(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any) -> None:  # cookies first, then follow by hand
                return None

        opener = urllib.request.build_opener(Keep)
        try:
            response = opener.open(req, timeout=60)
        except urllib.error.HTTPError as exc:
            response = exc
        for header in response.headers.get_all("Set-Cookie") or []:
            name, value = header.split(";", 1)[0].split("=", 1)
            self.cookies[name] = value
        return str(response.read().decode(errors="replace"))

    def _token(self, path: str) -> str:
        found = _HIDDEN.search(self._send("GET", path))
        assert found, f"no form on {path}"
        return found.group(1)

    def upload(self, envelope: Path) -> str:
        boundary = secrets.token_hex(8)
        head = f"--{boundary}\r\nContent-Disposition: form-data; "
        parts = [
            f'{head}name="csrf_token"\r\n\r\n{self.csrf}\r\n'.encode(),
            f'{head}name="envelope"; filename="{envelope.name}"\r\nContent-Type: image/png\r\n\r\n'.encode()
            + envelope.read_bytes()
            + b"\r\n",
            f"--{boundary}--\r\n".encode(),
        ]
        page = self._send(
            "POST", "/ui/mailroom/scan", b"".join(parts), f"multipart/form-data; boundary={boundary}"
        )
        decision = re.search(r'class="tag decision-(\w+)"', page)
        assert decision, page[-2000:]
        return decision.group(1)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, str, Path]]:
    require_command("wrk", "wrk")
    workdir = tmp_path_factory.mktemp("mailroom-load")
    site = start_site(workdir / "data")
    gw = site.gateway
    os.sched_setaffinity(gw.process.pid, {SERVER_CPU})  # type: ignore[union-attr]
    status, body = request(gw.port, "POST", "/v1/tokens", {"role": "dialler", "establishment": "HLI"})
    assert status == 201, body
    done = gw.cli(
        "user",
        "add",
        "post-hli",
        "--role",
        "mailroom",
        "--establishment",
        "HLI",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert done.returncode == 0, done.stderr
    bodies = workdir / "calls.jsonl"
    calls = [
        {"establishment": "HLI", "prisoner": "A1234BC", "number": f"07700 900{n:03d}"} for n in range(200)
    ]
    bodies.write_bytes(b"\n".join(orjson.dumps(call) for call in calls) + b"\n")
    yield gw, body["token"], bodies
    gw.close()


def test_call_p99_while_the_mailroom_reads_envelopes(
    benchmark: Any, gateway: tuple[Gateway, str, Path], tmp_path: Path
) -> None:
    gw, token, bodies = gateway
    wrk = require_command("wrk", "wrk")
    url = f"http://127.0.0.1:{gw.port}/v1/screen/call"
    delay_ms = CONNECTIONS / RPS * 1000
    run_wrk(wrk, url, bodies, token, 2, delay_ms)  # warm-up
    quiet = wait_for_quiet()
    idle = run_wrk(wrk, url, bodies, token, SECONDS, delay_ms)

    officer = Officer(f"http://127.0.0.1:{gw.port}", "post-hli")
    envelopes = [scan(tmp_path / f"{n}.png", lines) for n, lines in enumerate((BLOCKED, NEIGHBOUR, FLAT))]
    stop = threading.Event()
    read: list[tuple[float, str]] = []

    def uploads() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            decision = officer.upload(envelopes[len(read) % len(envelopes)])
            read.append((time.perf_counter() - started, decision))

    uploader = threading.Thread(target=uploads, name="mailroom-uploads")
    uploader.start()
    while not read:  # the OCR pool starts with the first upload
        time.sleep(0.1)
    first = len(read)
    busy = run_wrk(wrk, url, bodies, token, SECONDS, delay_ms)
    during = len(read) - first
    stop.set()
    uploader.join(120)

    assert idle.errors == 0 and busy.errors == 0, (idle, busy)
    assert {decision for _, decision in read} == {"block", "allow"}
    median = sorted(seconds for seconds, _ in read)[len(read) // 2]
    record(
        "mailroom_load_p99_idle",
        idle.p99_ms * 1e6,
        f"p50 {idle.p50_ms:.2f} ms, max {idle.max_ms:.1f} ms, {idle.rps:.0f} rps (cores busy {quiet})",
    )
    record(
        "mailroom_load_p99_ocr",
        busy.p99_ms * 1e6,
        f"p50 {busy.p50_ms:.2f} ms, max {busy.max_ms:.1f} ms, {busy.rps:.0f} rps; {during} envelopes read"
        f" meanwhile ({during / busy.seconds:.2f}/s, each {median:.2f} s)",
    )
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
