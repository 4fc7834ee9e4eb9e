"""Restart during a Redis outage (issue 17, "measured in benchmarks"): a real `nocontact serve`
(tests/support/gateway_process.py) on a real redis-server (persistence off) holding RESTART entries
of one phone each (1M identifiers), published with the project's Writer as bench_sync_cold does.

Set-up, once: serve starts on the store and loads the list; a dialler token bound to HLI is made
through the API and screens a blocked number; the gateway writes its snapshot file and its token
cache (DATA_DIR/tokens.cache); it stops. A second serve on an explicitly empty blocklist (its own
prefix in the same redis-server) does the same. Then redis-server is SIGKILLed and stays down.

Each of ROUNDS rounds, Redis still down, on the same data directories and with no admin token in
the environment (the admin bootstrap meets the dead store, as after a host reboot):
- the empty-list serve: from exec to listening (logged "listening on" and /healthz 200), the
  baseline: what a serve costs before it holds any list;
- the 1M serve: from exec to listening, to /readyz 200 (stale, stale_policy "serve"), and to the
  first screening call answered for the bound dialler token (a blocked number: block), then an
  allowed number (allow).
A second baseline: the snapshot file's parse floor (sync_harness.snapshot_parse_floor: read,
sha256, marshal.loads of every frame), on the 1M gateway's own file.

The goal (ready within the 3 s cold-start goal) is reported, not asserted; the decisions are.
Polling is every POLL seconds, so each time is late by at most that plus one HTTP round trip.
Run: flock /tmp/nocontact-bench.lock ./dev bench benchmarks/bench_restart_down.py
(size: NOCONTACT_BENCH_RESTART)"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.figures import record
from benchmarks.sync_harness import label, progress, snapshot_parse_floor, store_writer
from gateway.tokenfile import read_token_file
from tests.support.blocklists import entries
from tests.support.gateway_process import Gateway
from tests.support.processes import free_port
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.timeout(1200)

RESTART = int(os.environ.get("NOCONTACT_BENCH_RESTART", "1000000"))
ROUNDS = 3
POLL = 0.005  # seconds between looks at a starting gateway
PREFIX, EMPTY_PREFIX = "brd:", "bre:"
ALLOWED = "01632 960001"  # a fictional landline: not in the list
GOAL_S = 3.0


def _call(number: str) -> dict[str, str]:
    return {"establishment": "HLI", "prisoner": "Z9999ZZ", "number": number}


def _until(predicate: Any, what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        assert time.monotonic() < deadline, what
        time.sleep(0.05)
    return found


def _dialler_cached(cache: Path) -> bool:
    table = read_token_file(cache) or {}
    return any(r.get("role") == "dialler" and r.get("establishment") == "HLI" for r in table.values())


@pytest.fixture(scope="module")
def outage(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Both gateways set up and stopped, their snapshot files and token caches written, and the
    redis-server killed."""
    listed = list(entries(RESTART, phones=1, seed=1))
    blocked = [e.protected[0].phones[0] for e in listed[:: max(1, RESTART // 3)]]
    writer = store_writer(redis_server.url, PREFIX)
    started = time.perf_counter()
    writer.republish(listed)
    published_s = time.perf_counter() - started
    writer.client.close()
    del listed
    empty_writer = store_writer(redis_server.url, EMPTY_PREFIX)
    empty_writer.initialise()  # an explicitly empty blocklist, as `nocontact init` publishes
    empty_writer.client.close()
    progress(f"{label(RESTART)} entries published in {published_s:.1f} s")

    root = tmp_path_factory.mktemp("restart-down")
    url = {"NOCONTACT_REDIS_URL": redis_server.url}
    big = Gateway(root / "full", free_port(), env={**url, "NOCONTACT_REDIS_PREFIX": PREFIX})
    empty = Gateway(root / "empty", free_port(), env={**url, "NOCONTACT_REDIS_PREFIX": EMPTY_PREFIX})
    try:
        started = time.perf_counter()
        big.start(timeout=600)
        big.wait_ready(600)
        loaded_s = time.perf_counter() - started
        dialler = big.token("dialler", "HLI")
        for number in blocked:
            status, answer = big.http("POST", "/v1/screen/call", _call(number), dialler)
            assert status == 200 and answer["decision"] == "block", answer
        snapshot = big.data_dir / "snapshot.jsonl"
        _until(snapshot.exists, "no snapshot file written", 600)
        _until(lambda: _dialler_cached(big.data_dir / "tokens.cache"), "token cache not written", 60)
        progress(f"first start from Redis: ready after {loaded_s:.1f} s; snapshot and token cache written")
        big.stop()
        empty.start()
        empty.wait_ready()
        _until((empty.data_dir / "snapshot.jsonl").exists, "no empty snapshot file", 60)
        empty.stop()
        redis_server.kill()  # the outage: it stays down for every restart below
        for gateway in (big, empty):
            gateway.env["NOCONTACT_ADMIN_TOKEN"] = ""  # the bootstrap meets the dead store
        yield {
            "big": big,
            "empty": empty,
            "dialler": dialler,
            "blocked": blocked,
            "snapshot": snapshot,
            "published_s": published_s,
            "first_ready_s": loaded_s,
        }
    finally:
        big.close()
        empty.close()


def _restart(gateway: Gateway, dialler: str | None = None, blocked: str = "") -> dict[str, Any]:
    """Start `gateway` (Redis down) and time it from exec: listening, /readyz 200, and with
    `dialler`, the first call it answers for that token (`blocked`: block), then an allowed one."""
    t0 = time.perf_counter()
    gateway.start(timeout=60, step=POLL)
    out: dict[str, Any] = {"listening_s": time.perf_counter() - t0}
    deadline = time.monotonic() + 60
    while (ready := gateway.http("GET", "/readyz"))[0] != 200:
        assert time.monotonic() < deadline, (ready, gateway.tail())
        time.sleep(POLL)
    out["ready_s"] = time.perf_counter() - t0
    out["ready"] = ready[1]
    if dialler is not None:
        status, answer = gateway.http("POST", "/v1/screen/call", _call(blocked), dialler)
        out["first_call_s"] = time.perf_counter() - t0
        out["block"] = (status, answer)
        out["allow"] = gateway.http("POST", "/v1/screen/call", _call(ALLOWED), dialler)
    text = gateway.text()
    out["bootstrap_skipped"] = text.count("admin bootstrap skipped")
    out["traceback"] = "Traceback" in text
    gateway.stop()
    return out


def _spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"


def test_restart_with_redis_down_1m(benchmark: Any, outage: dict[str, Any]) -> None:
    big, empty, dialler = outage["big"], outage["empty"], outage["dialler"]
    rounds: list[dict[str, Any]] = []
    baselines: list[dict[str, Any]] = []

    def run() -> None:
        for i in range(ROUNDS):
            baselines.append(_restart(empty))
            rounds.append(_restart(big, dialler, outage["blocked"][i % len(outage["blocked"])]))
            progress(
                f"round {i + 1}: {rounds[-1]['ready_s']:.2f} s to ready (empty list: "
                f"{baselines[-1]['listening_s']:.2f} s to listening)"
            )

    benchmark.pedantic(run, rounds=1, iterations=1)
    floors = [snapshot_parse_floor(outage["snapshot"]) for _ in range(ROUNDS)]
    size = label(RESTART)
    file_mb = outage["snapshot"].stat().st_size / 1e6
    ready = [r["ready_s"] for r in rounds]
    first = [r["first_call_s"] for r in rounds]
    listening = [r["listening_s"] for r in rounds]
    empty_listening = [b["listening_s"] for b in baselines]
    empty_ready = [b["ready_s"] for b in baselines]
    setup = f"{size} entries x 1 phone, {file_mb:.0f} MB snapshot, Redis killed, no admin token in env"
    benchmark.extra_info.update(
        setup=setup,
        ready_s=ready,
        first_call_s=first,
        listening_s=listening,
        empty_listening_s=empty_listening,
        empty_ready_s=empty_ready,
        parse_floor_s=floors,
        published_s=outage["published_s"],
        first_ready_from_redis_s=outage["first_ready_s"],
        goal_s=GOAL_S,
    )
    record(
        f"restart_down_ready_{size}",
        statistics.median(ready) * 1e9,
        f"{setup}: exec -> /readyz 200, {_spread(ready)}; goal <= {GOAL_S:g} s",
    )
    record(
        f"restart_down_first_call_{size}",
        statistics.median(first) * 1e9,
        f"exec -> first call answered for the bound dialler token, {_spread(first)}",
    )
    record(
        f"restart_down_listening_{size}",
        statistics.median(listening) * 1e9,
        f"exec -> listening, {_spread(listening)}",
    )
    record(
        "restart_down_empty_listening",
        statistics.median(empty_listening) * 1e9,
        f"empty blocklist, Redis down: exec -> listening, {_spread(empty_listening)} "
        f"(-> /readyz 200 {_spread(empty_ready)})",
    )
    record(
        f"restart_down_parse_floor_{size}",
        statistics.median(floors) * 1e9,
        f"read + sha256 + marshal.loads of the gateway's own snapshot file, {_spread(floors)}",
    )
    for r in rounds:
        print(f"\nrestart, Redis down ({setup}): {r}")
        status, answer = r["block"]
        assert status == 200 and answer["decision"] == "block" and answer["stale"] is True, answer
        status, answer = r["allow"]
        assert status == 200 and answer["decision"] == "allow", answer
        assert r["ready"]["stale"] is True and r["ready"]["status"] == "ready", r["ready"]
        assert r["bootstrap_skipped"] == 1 and not r["traceback"]
    for b in baselines:
        assert b["ready"]["status"] == "ready" and not b["traceback"], b
