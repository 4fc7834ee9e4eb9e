"""The benchmark's side of benchmarks/http_server.py: start it (the gateway or the empty handler)
and wait for its READY file, call it, and read its decision counters and garbage collections."""

from __future__ import annotations

import http.client
import re
import signal
import ssl
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from benchmarks.http_load import SERVER_CPU
from benchmarks.http_server import GC_PATH
from tests.support.processes import Service

ROOT = Path(__file__).resolve().parent.parent


class Server(Service):
    """benchmarks/http_server.py in `mode` ("gateway" or "empty"), pinned to SERVER_CPU; `info`
    is what its READY file says (port, pid, tokens, samples of the blocked identifiers). `name`
    tells two servers of one mode apart; `tls` (server certificate, key) serves HTTPS."""

    def __init__(
        self, mode: str, workdir: Path, name: str | None = None, tls: tuple[Path, Path] | None = None
    ) -> None:
        name = name or mode
        super().__init__(workdir / f"{name}.log")
        self.mode = mode
        self.ready = workdir / f"{name}.ready.json"
        self.tls = tls
        self.info: dict[str, Any] = {}

    @property
    def port(self) -> int:
        return int(self.info["port"])

    def url(self, path: str) -> str:
        return f"{'http' if self.tls is None else 'https'}://127.0.0.1:{self.port}{path}"

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        if self.tls is None:
            return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        context = ssl.create_default_context()
        context.check_hostname = False  # the bench's own certificate, on 127.0.0.1
        context.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=context)

    def close(self) -> None:
        self.stop(signal.SIGINT, timeout=30)


def start_server(
    mode: str,
    workdir: Path,
    timeout: float,
    *extra: str,
    name: str | None = None,
    tls: tuple[Path, Path] | None = None,
) -> Server:
    server = Server(mode, workdir, name, tls)
    command = [
        sys.executable, "-m", "benchmarks.http_server", mode,
        "--ready", str(server.ready), "--cpu", str(SERVER_CPU), *extra,
    ]  # fmt: skip
    if tls is not None:
        command += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    server.spawn(command, cwd=ROOT)
    server.wait_until(server.ready.exists, timeout, f"{mode} server", step=0.2)
    server.info = orjson.loads(server.ready.read_bytes())
    # the socket listens already; wait until the app answers (any status)
    server.wait_until(
        lambda: bool(get(server, "/healthz" if mode == "gateway" else "/")), 10, f"{mode} server"
    )
    return server


def get(server: Server, path: str) -> tuple[int, bytes]:
    conn = server.connection(timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def post_each(server: Server, path: str, token: str, bodies: list[str]) -> list[dict[str, Any]]:
    """Send each body once on one keep-alive connection; the answers, in order."""
    conn = server.connection(timeout=30)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    answers = []
    try:
        for body in bodies:
            conn.request("POST", path, body=body.encode(), headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            assert resp.status == 200, (resp.status, data[:300])
            answers.append(orjson.loads(data))
    finally:
        conn.close()
    return answers


_SAMPLE = re.compile(r"^(\w+)\{([^}]*)\}\s+(\S+)$", re.M)


def counters(server: Server) -> dict[tuple[str, ...], float]:
    """The gateway's decision, request and hit counters from /metrics."""
    status, body = get(server, "/metrics")
    assert status == 200
    out: dict[tuple[str, ...], float] = {}
    for name, labels, value in _SAMPLE.findall(body.decode()):
        if name in ("nocontact_gateway_decisions_total", "nocontact_gateway_http_requests_total"):
            out[(name, *re.findall(r'"([^"]*)"', labels))] = float(value)
    for line in body.decode().splitlines():
        if line.startswith("nocontact_gateway_hits_recorded_total "):
            out[("hits_recorded",)] = float(line.split()[1])
    return out


def settled_counters(server: Server, deadline: float = 5.0) -> dict[tuple[str, ...], float]:
    """Counters once the requests still in flight when wrk stopped have finished: a block is
    counted as a decision before its hit is committed, and as recorded after."""
    stop = time.monotonic() + deadline
    while True:
        now = counters(server)
        decisions = {k: v for k, v in now.items() if k[0] == "nocontact_gateway_decisions_total"}
        blocks = sum(v for k, v in decisions.items() if "block" in k or "hold" in k)
        if now.get(("hits_recorded",), 0.0) >= blocks or time.monotonic() > stop:
            return now
        time.sleep(0.05)


def counter_delta(
    before: dict[tuple[str, ...], float], after: dict[tuple[str, ...], float]
) -> dict[str, int]:
    delta = {}
    for key, value in after.items():
        change = int(value - before.get(key, 0.0))
        if change:
            name = key[0].removeprefix("nocontact_gateway_").removesuffix("_total")
            delta[":".join((name, *key[1:]))] = change
    return delta


def gc_stats(server: Server, reset: bool = False) -> dict[str, Any]:
    """The gateway process's garbage collections so far (benchmarks/http_server.py GcWatch);
    `reset` restarts the per-generation maximum pause."""
    status, body = get(server, GC_PATH + ("?reset_max=1" if reset else ""))
    assert status == 200
    data: dict[str, Any] = orjson.loads(body)
    return data


def gc_delta(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any] | None:
    if before is None or after is None:
        return None
    return {
        f"gen{g}": {
            "collections": after["count"][g] - before["count"][g],
            "total_ms": round((after["seconds"][g] - before["seconds"][g]) * 1000, 1),
            "max_ms": round(after["max_ms"][g], 2),
        }
        for g in range(3)
    }
