"""Many gateways on one Redis (issue 21): FOLLOWERS follower processes (benchmarks/fleet_member.py:
sync.follower.Follower with production SyncSettings, heartbeats on) following one redis-server
(AOF on, appendfsync always, as config/examples/redis-nocontact.conf) that holds a small blocklist
(ENTRIES entries of one phone each).

- authorised -> enforced: WRITES upserts from sync.writer.Writer, one every SPACING seconds. For
  each, every follower's swap time (its own CLOCK_MONOTONIC reading, one clock for the whole host)
  less the moment before ``Writer.upsert``: per-follower latencies, and the latest of them
  ("enforced on all"). Baseline in the same run: the same with one follower.
- "enforced on N of N" as the service reports it (sync.store.FleetStore.enforcement, what
  ``GET /v1/requests/{id}/live`` answers): from the write until it counts all N, polled every
  10 ms, for ENFORCEMENT_WRITES writes; and at the end, the live gateways it lists and their
  versions.
- Redis: CPU seconds (INFO cpu) over an idle window with N followers (XREAD BLOCK timeouts and
  heartbeats) and over the writes; the change stream's memory (MEMORY USAGE) per message; the
  hits stream's and its id index's memory per hit, from HITS hits shipped with the gateway's own
  Lua script (gateway.shipper), for the 10-year extrapolation in README.md.

Goals (enforced on all, p99 <= 100 ms at 50 followers) are reported, not asserted.
Run: flock /tmp/nocontact-bench.lock ./dev bench benchmarks/bench_fleet.py
(sizes: NOCONTACT_BENCH_FLEET_FOLLOWERS, NOCONTACT_BENCH_FLEET_WRITES)"""

from __future__ import annotations

import asyncio
import os
import selectors
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from benchmarks.figures import record
from gateway.hitlog.model import Hit
from gateway.hitlog.shipper import SHIP_LUA, ship_args, ship_keys
from matcher.entries import Entry
from matcher.index import NORMALISER_VERSIONS
from sync.keys import Keys
from sync.store import FleetStore
from sync.writer import Writer
from tests.support.redis_server import RedisServer

FOLLOWERS = int(os.environ.get("NOCONTACT_BENCH_FLEET_FOLLOWERS", "50"))
WRITES = int(os.environ.get("NOCONTACT_BENCH_FLEET_WRITES", "200"))
ENFORCEMENT_WRITES = 10
ENTRIES = 1000
SPACING = 0.05
IDLE_SECONDS = 10.0
HITS = 10_000
ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(1800)


def entry(i: int) -> Entry:
    return Entry.from_dict(
        {
            "reference": f"UPC-2026-{i:06d}",
            "prisoner": "A1234BC",
            "scope": "all",
            "protected": [{"name": "Jo Bloggs", "phones": [f"07700 9{i:05d}"]}],
        }
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class Fleet:
    """N follower processes; a thread reads their ``VERSION MONOTONIC_NS`` lines."""

    def __init__(self, url: str, count: int, workdir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOCONTACT_")}
        self.processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.fleet_member",
                    url,
                    f"gw-{i:03d}",
                    str(workdir / f"gw-{i:03d}"),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd=ROOT,
                env=env,
            )
            for i in range(count)
        ]
        self.swaps: dict[int, dict[int, int]] = defaultdict(dict)  # version -> member -> ns
        self.reached = [-1] * count  # member -> the highest version it swapped in
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        selector = selectors.DefaultSelector()
        for i, process in enumerate(self.processes):
            assert process.stdout is not None
            selector.register(process.stdout, selectors.EVENT_READ, i)
        open_pipes = len(self.processes)
        while open_pipes:
            for key, _ in selector.select(timeout=1.0):
                line = key.fileobj.readline()  # type: ignore[union-attr]
                if not line:
                    selector.unregister(key.fileobj)
                    open_pipes -= 1
                    continue
                version, ns = (int(field) for field in line.split())
                with self.changed:
                    self.swaps[version].setdefault(key.data, ns)
                    self.reached[key.data] = max(self.reached[key.data], version)
                    self.changed.notify_all()

    def wait_all(self, version: int, timeout: float = 60.0) -> dict[int, int]:
        """Each member's swap time for `version` once every member has reached it (a member that
        took several versions in one swap reports it under the last of them)."""
        with self.changed:
            if not self.changed.wait_for(lambda: min(self.reached) >= version, timeout):
                behind = sum(1 for v in self.reached if v < version)
                raise AssertionError(f"{behind} of {len(self.processes)} followers did not reach {version}")
            first: dict[int, int] = {}
            for v, members in self.swaps.items():
                if v >= version:
                    for member, ns in members.items():
                        first[member] = min(ns, first.get(member, ns))
            return first

    def cpu_seconds(self) -> float:
        """User + system CPU of every member so far (from /proc)."""
        total = 0.0
        for process in self.processes:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        self.reader.join(10)  # every pipe at EOF
        for process in self.processes:
            assert process.stdout is not None
            process.stdout.close()


def redis_cpu(client: Any) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", persistence=True).start()
    with server.client() as client:
        writer = Writer(client, keys=Keys(), normalisers=NORMALISER_VERSIONS)
        writer.initialise()
        writer.upsert_many([entry(i) for i in range(ENTRIES)])
    yield server
    server.kill()


def measure_writes(
    store: RedisServer, fleet: Fleet, first: int, count: int
) -> tuple[list[float], list[float]]:
    """(each follower's latency per write, the latest follower's per write), in ms."""
    each, latest = [], []
    with store.client() as client:
        writer = Writer(client, keys=Keys(), normalisers=NORMALISER_VERSIONS)
        for i in range(first, first + count):
            started = time.monotonic_ns()
            version = writer.upsert(entry(i)).version
            swaps = fleet.wait_all(version)
            latencies = [(ns - started) / 1e6 for ns in swaps.values()]
            each += latencies
            latest.append(max(latencies))
            time.sleep(SPACING)
    return each, latest


async def enforcement_latencies(store: RedisServer, count: int, first: int, followers: int) -> list[float]:
    """ms from the write until FleetStore.enforcement counts every follower."""
    out = []
    client = aioredis.Redis.from_url(store.url, decode_responses=True)
    fleet_store = FleetStore(client, Keys())
    with store.client() as sync_client:
        writer = Writer(sync_client, keys=Keys(), normalisers=NORMALISER_VERSIONS)
        for i in range(first, first + count):
            started = time.monotonic()
            version = writer.upsert(entry(i)).version
            while len((await fleet_store.enforcement(version=version)).enforced) < followers:
                await asyncio.sleep(0.01)
            out.append((time.monotonic() - started) * 1000)
    await client.aclose()
    return out


def hits_memory(store: RedisServer) -> tuple[float, float]:
    """Bytes per hit in the hits stream and in its id index, after HITS hits shipped."""
    keys = Keys("nocontact-bench-hits:")
    with store.client() as client:
        ship = client.register_script(SHIP_LUA)
        for start in range(0, HITS, 200):
            args: list[str] = []
            for i in range(start, start + 200):
                reference = f"UPC-2026-{i % 1000:06d}"
                hit = Hit.from_dict(
                    {
                        "id": f"01J{i:023d}",
                        "time": 1_796_000_000_000 + i,
                        "establishment": "HLI",
                        "prisoner": "A1234BC",
                        "channel": "call",
                        "decision": "block",
                        "reference": reference,
                        "kind": "phone",
                        "relay": i % 3 == 0,
                        "gateway": "gw-001",
                        "version": 1000 + i,
                        "matches": [
                            {
                                "reference": reference,
                                "kind": "phone",
                                "strength": "exact",
                                "relay": i % 3 == 0,
                            }
                        ],
                    }
                )
                args += ship_args(hit)  # as the shipper sends it
            ship(keys=ship_keys(keys), args=args)
        stream = int(client.memory_usage(keys.hits, samples=0) or 0)
        index = int(client.memory_usage(keys.hit_ids, samples=0) or 0)
        client.delete(keys.hits, keys.hit_ids)
    return stream / HITS, index / HITS


def run_fleet(store: RedisServer, workdir: Path, count: int, label: str) -> dict[str, float]:
    fleet = Fleet(store.url, count, workdir / label)
    try:
        with store.client() as client:
            fleet.wait_all(int(client.hget(Keys().meta, "version") or 0), timeout=300)
            time.sleep(2.0)  # every follower past its start-up work
            before = redis_cpu(client)
            time.sleep(IDLE_SECONDS)
            idle_cpu = (redis_cpu(client) - before) / IDLE_SECONDS
            before, members_before = redis_cpu(client), fleet.cpu_seconds()
            each, latest = measure_writes(store, fleet, 10_000 + 100_000 * count, WRITES)
            write_cpu = (redis_cpu(client) - before) / WRITES
            member_cpu = (fleet.cpu_seconds() - members_before) / WRITES / count
        enforced = asyncio.run(
            enforcement_latencies(store, ENFORCEMENT_WRITES, 20_000 + 100_000 * count, count)
        )
        live = asyncio.run(_live(store))
    finally:
        fleet.stop()
    figures = {
        "each_p50": percentile(each, 0.5),
        "each_p99": percentile(each, 0.99),
        "all_p50": percentile(latest, 0.5),
        "all_p99": percentile(latest, 0.99),
        "all_max": max(latest),
        "service_p50": statistics.median(enforced),
        "service_max": max(enforced),
        "idle_cpu": idle_cpu,
        "write_cpu_ms": write_cpu * 1000,
        "member_cpu_ms": member_cpu * 1000,
        "live": live[0],
        "live_at_last_version": live[1],
    }
    print(f"\n{label}: {count} followers: " + ", ".join(f"{k}={v:.3f}" for k, v in figures.items()))
    return figures


async def _live(store: RedisServer) -> tuple[int, int]:
    await asyncio.sleep(3.0)  # one heartbeat interval and more after the last write
    client = aioredis.Redis.from_url(store.url, decode_responses=True)
    fleet_store = FleetStore(client, Keys())
    version = int(await client.hget(Keys().meta, "version") or 0)
    reports = (await fleet_store.live_gateways()).gateways
    await client.aclose()
    return len(reports), sum(1 for r in reports if r.version == version)


def test_fleet_authorised_to_enforced(benchmark: Any, store: RedisServer, tmp_path: Path) -> None:
    results: dict[str, dict[str, float]] = {}

    def run() -> None:
        results["one"] = run_fleet(store, tmp_path, 1, "one")
        results["fleet"] = run_fleet(store, tmp_path, FOLLOWERS, "fleet")

    benchmark.pedantic(run, rounds=1, iterations=1)
    one, fleet = results["one"], results["fleet"]
    for name in ("each_p50", "each_p99", "all_p50", "all_p99", "service_p50", "service_max"):
        record(f"fleet1_{name}", one[name] * 1e6)
        record(f"fleet{FOLLOWERS}_{name}", fleet[name] * 1e6)
    with store.client() as client:
        changes = int(client.memory_usage(Keys().changes, samples=0) or 0)
        messages = int(client.xlen(Keys().changes))
    hit_bytes, hit_index_bytes = hits_memory(store)
    benchmark.extra_info.update(
        followers=FOLLOWERS,
        one=one,
        fleet=fleet,
        change_stream_bytes_per_message=changes / messages,
        hits_stream_bytes_per_hit=hit_bytes,
        hit_ids_bytes_per_hit=hit_index_bytes,
    )
    print(
        f"\nchange stream: {changes / messages:.0f} B per message ({messages} messages); "
        f"hits stream: {hit_bytes:.0f} B per hit, its id index {hit_index_bytes:.0f} B per hit"
    )
    assert fleet["live"] == FOLLOWERS and fleet["live_at_last_version"] == FOLLOWERS, fleet
