"""Redis failover under screening traffic (issue 21), with real processes: a primary and two
replicas from config/examples/redis-nocontact.conf, three sentinels from
config/examples/sentinel-nocontact.conf (down-after-milliseconds DOWN_AFTER_MS instead of the
example's 5000), two `nocontact serve` on the Sentinel URL, and calls to both gateways throughout
(about 200 a second). The primary is SIGKILLed; then, timed from the kill on one monotonic clock:

- the first write accepted: ``PUT /v1/entries`` retried every 20 ms until a 200 (acknowledged, so
  on a replica);
- enforced on all: that entry's number screened as "block" on both gateways;
- screening errors: answers other than 200 from the kill to the end (goal 0).

Baseline in the same run: Sentinel's down-after-milliseconds, the time before it even starts a
failover. ROUNDS failovers, each on a fresh cluster. Run:
flock /tmp/nocontact-bench.lock ./dev bench benchmarks/bench_failover.py"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks.figures import record
from tests.support.call_traffic import CallTraffic, screen
from tests.support.gateway_process import Gateway
from tests.support.processes import free_port
from tests.support.sentinel import DOWN_AFTER_MS, SentinelCluster

ROUNDS = int(os.environ.get("NOCONTACT_BENCH_FAILOVER_ROUNDS", "3"))
NUMBER = "07700900{:03d}"

pytestmark = pytest.mark.timeout(900)


def entry(i: int) -> dict[str, Any]:
    return {
        "prisoner": "A1234BC",
        "scope": "all",
        "protected": [{"name": "Jo Bloggs", "phones": [NUMBER.format(i)]}],
    }


def one_failover(workdir: Path) -> dict[str, float]:
    cluster = SentinelCluster(workdir / "redis").start()
    env = {"NOCONTACT_REDIS_URL": cluster.url}
    gateways = [Gateway(workdir / name, free_port(), env=env) for name in ("a", "b")]
    try:
        for gateway in gateways:
            gateway.start()
        token = gateways[0].token("dialler", "HLI")
        assert gateways[0].http("PUT", "/v1/entries/UPC-2026-000500", entry(500))[0] == 200
        for gateway in gateways:
            while screen(gateway, token, NUMBER.format(500))[1].get("decision") != "block":
                time.sleep(0.02)
        traffic = CallTraffic(gateways, token, lambda i: NUMBER.format(999), 0.005)
        traffic.start()
        time.sleep(1.0)
        killed = time.monotonic()
        cluster.primary.kill()
        while gateways[0].http("PUT", "/v1/entries/UPC-2026-000501", entry(501))[0] != 200:
            time.sleep(0.02)
        written = time.monotonic()
        for gateway in gateways:
            while screen(gateway, token, NUMBER.format(501))[1].get("decision") != "block":
                time.sleep(0.005)
        enforced = time.monotonic()
        time.sleep(0.5)
        after = [status for at, status, _ in traffic.stop() if at >= killed]
        return {
            "first_write_s": written - killed,
            "enforced_on_all_s": enforced - killed,
            "screening_errors": float(sum(1 for status in after if status != 200)),
            "screening_answers": float(len(after)),
        }
    finally:
        for gateway in gateways:
            gateway.stop()
        cluster.stop()


def test_failover_times_and_screening_errors(benchmark: Any, tmp_path: Path) -> None:
    rounds: list[dict[str, float]] = []

    def run() -> None:
        for i in range(ROUNDS):
            rounds.append(one_failover(tmp_path / f"round{i}"))

    benchmark.pedantic(run, rounds=1, iterations=1)
    first_write = statistics.median(r["first_write_s"] for r in rounds)
    enforced = statistics.median(r["enforced_on_all_s"] for r in rounds)
    errors = sum(r["screening_errors"] for r in rounds)
    record("failover_first_write", first_write * 1e9)
    record("failover_enforced_on_all", enforced * 1e9)
    record("sentinel_down_after", DOWN_AFTER_MS * 1e6)
    benchmark.extra_info.update(rounds=rounds, down_after_ms=DOWN_AFTER_MS)
    answers = sum(r["screening_answers"] for r in rounds)
    print(
        f"\nrounds: {rounds}\nfirst write accepted {first_write:.2f} s after the kill, "
        f"enforced on both gateways {enforced:.2f} s (Sentinel down-after {DOWN_AFTER_MS / 1000:.1f} s); "
        f"screening errors: {errors:.0f} of {answers:.0f} answers (goal 0)"
    )
