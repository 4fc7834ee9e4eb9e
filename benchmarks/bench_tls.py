"""HTTPS against plain HTTP (issue 21): the same gateway app (benchmarks/http_server.py: the real
create_app, real tokens, the fsynced spool, the access log on) served twice on the same core, once
plain and once with TLS as `nocontact serve --tls-cert` builds its context (gateway.tls), each
loaded in turn by wrk on the other core with the same allowed-call bodies over 64 keep-alive
connections. The runs alternate (plain, TLS, plain, TLS...) so the shared machine's load falls
on both alike; each figure is the median of ROUNDS runs. Recorded: requests per second (as ns per
request) and the server's CPU time per request. Goal, reported not asserted: HTTPS >= 0.8x the
requests per second. Run:
flock /tmp/nocontact-bench.lock ./dev bench benchmarks/bench_tls.py"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from benchmarks.figures import record
from benchmarks.http_load import pinned_wrk, run_wrk, wait_for_quiet
from benchmarks.http_probe import Server, post_each, start_server
from tests.support.blocklists import dial_strings
from tests.support.certs import Pki

SECONDS = int(os.environ.get("NOCONTACT_BENCH_TLS_SECONDS", "8"))
ROUNDS = int(os.environ.get("NOCONTACT_BENCH_TLS_ROUNDS", "3"))
PHONES = 100_000  # the call path's cost hardly depends on the index's size (dict lookups)
ADDRESSES = 1_000
CALL = "/v1/screen/call"

pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def wrk() -> str:
    return pinned_wrk()


@pytest.fixture(scope="module")
def servers(wrk: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    workdir = tmp_path_factory.mktemp("bench-tls")
    certificate = Pki(workdir / "pki").server()
    sizes = ("--phones", str(PHONES), "--addresses", str(ADDRESSES))
    started: dict[str, Server] = {}
    try:
        for name, tls in (("plain", None), ("tls", certificate)):
            data = ("--data-dir", str(workdir / f"data-{name}"))
            started[name] = start_server("gateway", workdir, 600, *data, *sizes, name=name, tls=tls)
        yield started
    finally:
        for server in started.values():
            server.close()


def allowed_bodies(server: Server, path: Path) -> Path:
    info = server.info
    strings = dial_strings(2000, info["blocked_phones"], seed=21)
    bodies = [
        orjson.dumps({"establishment": info["establishment"], "prisoner": "A1234BC", "number": s}).decode()
        for s in strings
    ]
    answers = post_each(server, CALL, info["dialler"], bodies)
    allowed = [b for b, a in zip(bodies, answers, strict=True) if a["decision"] == "allow"]
    path.write_text("".join(body + "\n" for body in allowed))
    return path


def test_https_call_screening_against_plain_http(
    benchmark: Any, wrk: str, servers: dict[str, Server]
) -> None:
    bodies = allowed_bodies(servers["plain"], servers["plain"].ready.parent / "call-allow.jsonl")
    for server in servers.values():  # warm both: the first requests build caches
        run_wrk(wrk, server.url(CALL), bodies, server.info["dialler"], 2)
    runs: dict[str, list[dict[str, float]]] = {"plain": [], "tls": []}

    def measure() -> None:
        for _ in range(ROUNDS):
            for name, server in servers.items():
                busy = wait_for_quiet()
                cpu = server.cpu_seconds()
                run = run_wrk(wrk, server.url(CALL), bodies, server.info["dialler"], SECONDS)
                assert run.errors == 0, run
                per_request = (server.cpu_seconds() - cpu) / run.requests
                runs[name].append(
                    {"rps": run.rps, "cpu_us": per_request * 1e6, "p99_ms": run.p99_ms, "busy": busy}
                )

    benchmark.pedantic(measure, rounds=1, iterations=1)
    figures = {
        name: {key: statistics.median(r[key] for r in rows) for key in ("rps", "cpu_us", "p99_ms")}
        for name, rows in runs.items()
    }
    for name, figure in figures.items():
        record(f"{name}_call_req", 1e9 / figure["rps"])
        record(f"{name}_call_cpu", figure["cpu_us"] * 1000)
    benchmark.extra_info.update(runs=runs, figures=figures)
    ratio = figures["tls"]["rps"] / figures["plain"]["rps"]
    print(
        f"\nplain: {figures['plain']}\nTLS: {figures['tls']}\n"
        f"HTTPS / plain requests per second: {ratio:.2f}x (goal >= 0.8x)"
    )
