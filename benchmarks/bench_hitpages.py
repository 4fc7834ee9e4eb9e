"""Hit pages over a 100k-hit log (issue 20, issue 17 item 5): a real `nocontact serve` (embedded
Redis) whose hits stream holds HITS hits written in bulk (tests/support/hit_seed.py) and indexed by
the gateway's own hit index (cases.hitindex).

- Each page, signed in as an admin (every establishment: the largest reads): the queue (newest,
  totals), the queue filtered by prisoner, jumped to a date, a prisoner's page, a hit's page, the
  relay analysis (30 days), the charts (30 days); median and p95 of ROUNDS sequential GETs.
  Baseline in the same run: GET /healthz on the same server.
- Calls: CALLS allowed screening calls, one at a time, quiet; then the same while three threads
  render the queue, the relay analysis and the charts in a loop. p50/p99 of each; the ratio
  p99(with pages) / p99(quiet) is the figure (goal <= 1.5x), beside each page's median (goal
  <= 300 ms).
- Split (README "Staff pages on a gateway of their own"): the same calls on a second gateway, a PBX
  gateway with ``[gateway] pages = false`` following the same Redis (its own data directory and hit
  index), quiet and then while the same three pages render on the first gateway; its own p99 ratio.

Goals are reported, not asserted.
Run: flock /tmp/nocontact-bench.lock ./dev bench benchmarks/bench_hitpages.py
(size: NOCONTACT_BENCH_HITS)"""

from __future__ import annotations

import http.client
import os
import re
import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import redis

from benchmarks.figures import record
from benchmarks.hitpages_client import Client
from gateway.ui.users import add_user
from sync.embedded import EmbeddedRedis
from sync.keys import Keys
from sync.replication import Replication
from tests.support.gateway_process import Gateway, request
from tests.support.hit_seed import seeded_hits, write_hits
from tests.support.processes import free_port
from tests.support.ui_site import PASSWORD, wait_for

HITS = int(os.environ.get("NOCONTACT_BENCH_HITS", "100000"))
ROUNDS = 30
CALLS = 3000

pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("hitpages") / "data", free_port())
    gw.start()
    try:
        with redis.Redis(unix_socket_path=str(EmbeddedRedis(gw.data_dir).socket_path)) as client:
            add_user(client, Keys(), "root", "admin", None, PASSWORD, replication=Replication())
            started = time.perf_counter()
            write_hits(client, Keys(), seeded_hits(HITS))
            record(
                "hitpages_seed_write", (time.perf_counter() - started) * 1e9, f"{HITS} hits, pipelined XADD"
            )
        started = time.perf_counter()
        wait_for(lambda: request(gw.port, "GET", "/v1/hits?limit=1")[1].get("total") == HITS, "indexed", 300)
        record("hitpages_index_build", (time.perf_counter() - started) * 1e9, f"{HITS} hits indexed")
        yield gw
    finally:
        gw.close()


@pytest.fixture(scope="module")
def pbx_gateway(tmp_path_factory: pytest.TempPathFactory, gateway: Gateway) -> Iterator[Gateway]:
    """A PBX-facing gateway (pages off) on `gateway`'s embedded Redis, its hit index caught up (so
    its build is not measured beside the calls)."""
    url = f"unix://{EmbeddedRedis(gateway.data_dir).socket_path}"
    env = {"NOCONTACT_REDIS_URL": url, "NOCONTACT_PAGES": "false"}
    gw = Gateway(tmp_path_factory.mktemp("hitpages-pbx") / "data", free_port(), env=env)
    gw.start()
    try:
        gw.wait_ready()
        wait_for(lambda: request(gw.port, "GET", "/v1/hits?limit=1")[1].get("total") == HITS, "indexed", 300)
        assert request(gw.port, "GET", "/ui/login", token=None)[0] == 404
        yield gw
    finally:
        gw.stop()


def _timed(client: Client, path: str, rounds: int = ROUNDS) -> list[float]:
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        status, _ = client.get(path)
        out.append(time.perf_counter() - started)
        assert status == 200, (path, status)
    return out


def _pages(gateway: Gateway, client: Client) -> dict[str, str]:
    status, newest = client.get("/ui/hits")
    assert status == 200
    hit_id = re.search(rb'href="/ui/hits/([0-9A-Z]{26})"', newest)
    assert hit_id
    prisoner = re.search(rb'href="/ui/prisoners/([A-Z0-9]+)"', newest)
    assert prisoner
    jump = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 20 * 86_400))
    return {
        "queue": "/ui/hits",
        "queue_prisoner": f"/ui/hits?prisoner={prisoner.group(1).decode()}",
        "queue_unreviewed_mail": "/ui/hits?channel=mail&reviewed=no",
        "queue_jump": f"/ui/hits?jump={jump}",
        "prisoner": f"/ui/prisoners/{prisoner.group(1).decode()}",
        "hit": f"/ui/hits/{hit_id.group(1).decode()}",
        "relay": "/ui/relay",
        "charts": "/ui/charts",
    }


def test_each_page_at_100k(benchmark: Any, gateway: Gateway) -> None:
    client = Client(gateway.port)
    client.sign_in("root")

    def run() -> None:
        base = _timed(client, "/healthz", ROUNDS * 3)
        record("hitpages_healthz", statistics.median(base) * 1e9)
        for name, path in _pages(gateway, client).items():
            times = _timed(client, path)
            p95 = statistics.quantiles(times, n=20)[18]
            record(f"hitpages_{name}", statistics.median(times) * 1e9, f"p95 {p95 * 1000:.1f} ms")

    try:
        benchmark.pedantic(run, rounds=1, iterations=1)
    finally:
        client.close()


def _calls(gateway: Gateway, token: str, n: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    out = []
    for i in range(n):
        body = orjson.dumps(
            {"establishment": "HLI", "prisoner": "A1234BC", "number": f"07700 9{i % 99999:05d}"}
        )
        started = time.perf_counter()
        conn.request("POST", "/v1/screen/call", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        out.append(time.perf_counter() - started)
        assert response.status == 200
    conn.close()
    return out


def _p(times: list[float], q: int) -> float:
    return statistics.quantiles(times, n=100)[q - 1]


def test_call_latency_while_three_pages_render(benchmark: Any, gateway: Gateway) -> None:
    benchmark.pedantic(_call_latency, args=(gateway, gateway, "hitpages_calls"), rounds=1, iterations=1)


def test_call_latency_on_a_pbx_gateway_while_three_pages_render_on_the_pages_gateway(
    benchmark: Any, gateway: Gateway, pbx_gateway: Gateway
) -> None:
    benchmark.pedantic(
        _call_latency, args=(pbx_gateway, gateway, "hitpages_split_calls"), rounds=1, iterations=1
    )


def _call_latency(calls: Gateway, pages: Gateway, prefix: str) -> None:
    """CALLS calls on `calls`, quiet, then while three pages render on `pages` (the same gateway,
    or the staff's gateway beside a PBX's)."""
    status, created = request(calls.port, "POST", "/v1/tokens", {"role": "dialler"})
    assert status == 201
    token = created["token"]
    _calls(calls, token, 300)  # warm up
    quiet = _calls(calls, token, CALLS)
    stop = threading.Event()
    rendered: list[float] = []

    def render(path: str) -> None:
        client = Client(pages.port)
        try:
            client.sign_in("root")
            while not stop.is_set():
                rendered.extend(_timed(client, path, 1))
        finally:
            client.close()

    threads = [threading.Thread(target=render, args=(p,)) for p in ("/ui/hits", "/ui/relay", "/ui/charts")]
    for t in threads:
        t.start()
    time.sleep(0.5)
    try:
        busy = _calls(calls, token, CALLS)
    finally:
        stop.set()
        for t in threads:
            t.join()
    record(f"{prefix}_quiet_p50", _p(quiet, 50) * 1e9)
    record(f"{prefix}_quiet_p99", _p(quiet, 99) * 1e9, f"max {max(quiet) * 1000:.1f} ms")
    record(f"{prefix}_pages_p50", _p(busy, 50) * 1e9)
    record(
        f"{prefix}_pages_p99",
        _p(busy, 99) * 1e9,
        f"max {max(busy) * 1000:.1f} ms; {len(rendered)} pages rendered meanwhile, "
        f"median {statistics.median(rendered) * 1000:.0f} ms",
    )
