"""What the sync benchmarks (bench_sync_write.py, bench_sync_cold.py, bench_sync_stall.py) share:
the gateway side of every case runs in a freshly spawned process holding only what a gateway
holds (sync.follower.Follower with production SyncSettings defaults: snapshot file, heartbeat,
watchdog), against a real redis-server with persistence off; latencies are summarised as
nearest-rank percentiles in milliseconds.

Sizes come from the environment (NOCONTACT_BENCH_SYNC_*, read in each benchmark module)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import logging
import marshal
import math
import multiprocessing
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import redis

from matcher.index import NORMALISER_VERSIONS
from sync.follower import Follower
from sync.keys import Keys
from sync.settings import SyncSettings
from sync.snapshot import FRAME_HEAD
from sync.writer import Writer

CHILD_TIMEOUT = 1500  # seconds: a 1M-entry case runs for minutes


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


# -- the parent: the store ----------------------------------------------------------------------


def store_writer(url: str, prefix: str) -> Writer:
    """A Writer for filling the store (a republish of 1M entries outlasts the default timeout)."""
    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=120)
    return Writer(client, keys=Keys(prefix), normalisers=NORMALISER_VERSIONS)


def last_stream_id(writer: Writer) -> str:
    tail = writer.client.xrevrange(writer.keys.changes, count=1)
    return tail[0][0] if tail else "0-0"


def in_child(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run `fn(*args)` in a freshly spawned interpreter: a gateway process holding only its index."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(fn, *args).result(timeout=CHILD_TIMEOUT)


# -- the spawned gateway process ----------------------------------------------------------------


def follower_settings(url: str, prefix: str, data_dir: str, **overrides: Any) -> SyncSettings:
    """Production defaults; only where the store is and where this gateway keeps its file."""
    return SyncSettings(
        redis_url=url,
        prefix=prefix,
        data_dir=Path(data_dir),
        gateway_id=f"bench-{Path(data_dir).name}",
        **overrides,
    )


def child_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="child %(levelname)s %(name)s: %(message)s")


def progress(message: str) -> None:
    """A line on stderr (seen with -s): the 1M cases run for minutes."""
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def snapshot_writes(follower: Follower) -> float:
    value = follower.metrics.registry.get_sample_value("nocontact_sync_snapshot_writes_total")
    return value or 0.0


def full_swaps(follower: Follower) -> float:
    value = follower.metrics.registry.get_sample_value("nocontact_sync_swaps_total", {"kind": "full"})
    return value or 0.0


def snapshot_idle(follower: Follower) -> bool:
    """No snapshot file write pending or running (a peek at the follower's SnapshotWriter)."""
    writer = follower._snapshots
    return not writer._dirty.is_set() and not writer._lock.locked()


def build_seconds(follower: Follower, kind: str) -> float:
    value = follower.metrics.registry.get_sample_value("nocontact_sync_build_seconds_sum", {"kind": kind})
    return value or 0.0


async def until(predicate: Callable[[], bool], timeout: float, step: float = 0.005) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(step)


# -- figures ------------------------------------------------------------------------------------


def percentile(values: Iterable[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summary(values: list[float]) -> dict[str, float]:
    """Milliseconds, nearest-rank percentiles."""
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 0.50) * 1e3, 3),
        "p90_ms": round(percentile(values, 0.90) * 1e3, 3),
        "p99_ms": round(percentile(values, 0.99) * 1e3, 3),
        "max_ms": round(max(values) * 1e3, 3),
    }


def snapshot_parse_floor(path: Path) -> float:
    """What a plain loader of this file pays: read it whole, digest the body, and ``marshal.loads``
    every format 4 frame (a chunk's columns and its records, which stay bytes); nothing checked or
    counted, no index built, no care for the event loop."""
    t0 = time.perf_counter()
    data = path.read_bytes()
    head, _, body = data.partition(b"\n")
    assert json.loads(head)["format_version"] == 4
    hashlib.sha256(body).hexdigest()
    view, at = memoryview(body), 0
    while at < len(body):
        (length,) = FRAME_HEAD.unpack_from(body, at)
        at += FRAME_HEAD.size
        marshal.loads(view[at : at + length])
        at += length
    return time.perf_counter() - t0
