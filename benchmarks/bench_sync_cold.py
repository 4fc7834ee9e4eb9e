"""Sync figures (issue 3): cold start of a gateway process with 1M identifiers (COLD entries of
one phone each), against a real redis-server (persistence off), the gateway side in a fresh
spawned process (benchmarks/sync_harness.py).

(a) From the snapshot file written with sync.snapshot.write_snapshot from a built Index, as the
follower's SnapshotWriter writes it (so with the entries' phone/email keys), with Redis DOWN (the
URL points at a closed port): from ``Follower.start()`` to the swap that makes the index serve
(state INITIALIZING, serving). Baseline: the file format's floor (read, sha256, marshal.loads of
every frame).
(b) From Redis, no snapshot file: from ``start()`` to the swap that makes it VALID. Baseline: a
bare HGETALL of the entries hash.

The goal (snapshot cold start <= 3 s) is reported, not asserted.
Run: ./dev bench benchmarks/bench_sync_cold.py  (size: NOCONTACT_BENCH_SYNC_COLD)
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from benchmarks.figures import record
from benchmarks.sync_harness import (
    CHILD_TIMEOUT,
    build_seconds,
    child_logging,
    follower_settings,
    in_child,
    label,
    last_stream_id,
    snapshot_parse_floor,
    snapshot_writes,
    store_writer,
    until,
)
from config import load_profile
from matcher.index import NORMALISER_VERSIONS, Index
from sync.follower import Follower, FollowerHooks
from sync.keys import Keys
from sync.snapshot import write_snapshot
from sync.status import SyncState, SyncStatus
from tests.support.blocklists import entries
from tests.support.processes import free_port
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.timeout(1800)

COLD = int(os.environ.get("NOCONTACT_BENCH_SYNC_COLD", "1000000"))


def _cold_from_snapshot(url: str, prefix: str, data_dir: str, samples: list[str]) -> dict[str, Any]:
    child_logging()
    return asyncio.run(_cold_from_snapshot_main(url, prefix, data_dir, samples))


async def _cold_from_snapshot_main(
    url: str, prefix: str, data_dir: str, samples: list[str]
) -> dict[str, Any]:
    profile = load_profile(environ={})
    settings = follower_settings(url, prefix, data_dir)
    swaps: list[tuple[float, SyncStatus]] = []
    follower = Follower(
        settings, profile, hooks=FollowerHooks(on_swap=lambda s: swaps.append((time.perf_counter(), s)))
    )
    t0 = time.perf_counter()
    await follower.start()
    returned = time.perf_counter() - t0
    serving_at, status = swaps[0]
    index = follower.index
    assert index is not None
    blocked = sum(index.screen_call("HLI", "Z9999ZZ", n).decision == "block" for n in samples)
    build_s = build_seconds(follower, "full")
    state_after = follower.status.state.value
    await follower.stop()
    floor_s = snapshot_parse_floor(settings.snapshot_file)
    return {
        "serving_s": serving_at - t0,
        "start_returned_s": returned,
        "build_s": build_s,
        "state_at_swap": status.state.value,
        "state_after_start": state_after,
        "entries": status.entries,
        "identifiers": status.identifiers,
        "blocked": blocked,
        "samples": len(samples),
        "floor_s": floor_s,
        "file_mb": settings.snapshot_file.stat().st_size / 1e6,
    }


def _cold_from_redis(url: str, prefix: str, data_dir: str, samples: list[str]) -> dict[str, Any]:
    child_logging()
    return asyncio.run(_cold_from_redis_main(url, prefix, data_dir, samples))


async def _cold_from_redis_main(url: str, prefix: str, data_dir: str, samples: list[str]) -> dict[str, Any]:
    profile = load_profile(environ={})
    settings = follower_settings(url, prefix, data_dir)
    swaps: list[tuple[float, SyncStatus]] = []
    cuts: list[float] = []

    async def after_cut(_cut: Any) -> None:
        cuts.append(time.perf_counter())

    hooks = FollowerHooks(on_swap=lambda s: swaps.append((time.perf_counter(), s)), after_cut=after_cut)
    follower = Follower(settings, profile, hooks=hooks)
    t0 = time.perf_counter()
    await follower.start()
    status = await follower.wait_for(lambda s: s.state is SyncState.VALID, CHILD_TIMEOUT)
    valid_at = swaps[0][0]
    index = follower.index
    assert index is not None
    blocked = sum(index.screen_call("HLI", "Z9999ZZ", n).decision == "block" for n in samples)
    build_s = build_seconds(follower, "full")
    await until(lambda: snapshot_writes(follower) >= 1, 600)
    snapshot_written_s = time.perf_counter() - valid_at
    await follower.stop()

    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=60)
    h0 = time.perf_counter()
    raw = client.hgetall(Keys(prefix).entries)
    hgetall_s = time.perf_counter() - h0
    assert len(raw) == status.entries
    client.close()
    return {
        "valid_s": valid_at - t0,
        "cut_read_s": cuts[0] - t0,
        "decode_and_build_s": build_s,
        "entries": status.entries,
        "identifiers": status.identifiers,
        "blocked": blocked,
        "samples": len(samples),
        "snapshot_written_s": snapshot_written_s,
        "hgetall_s": hgetall_s,
    }


# -- the benchmarks -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def phones_published(redis_server: RedisServer) -> Iterator[Any]:
    """COLD entries of one phone each (COLD identifiers), republished under one prefix."""
    prefix = "bsc:"
    listed = list(entries(COLD, phones=1, seed=1))
    writer = store_writer(redis_server.url, prefix)
    writer.republish(listed)
    meta = writer.meta()
    state = {
        "prefix": prefix,
        "epoch": meta["epoch"],
        "version": int(meta["version"]),
        "stream_id": last_stream_id(writer),
    }
    writer.client.close()
    samples = [e.protected[0].phones[0] for e in listed[:: max(1, COLD // 1000)]]
    yield listed, state, samples
    with redis_server.client() as client:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)


def test_cold_start_from_snapshot_1m(benchmark: Any, phones_published: Any, tmp_path: Path) -> None:
    listed, state, samples = phones_published
    data_dir = tmp_path / "gw"
    index = Index.build(listed, load_profile(environ={}), version=state["version"])
    w0 = time.perf_counter()
    write_snapshot(
        follower_settings("redis://unused", state["prefix"], str(data_dir)).snapshot_file,
        epoch=state["epoch"],
        version=state["version"],
        stream_id=state["stream_id"],
        index=index,  # as SnapshotWriter does: entries with their keys
        normalisers=NORMALISER_VERSIONS,
    )
    written_s = time.perf_counter() - w0
    del index
    down = f"redis://127.0.0.1:{free_port()}/0"  # Redis DOWN: nothing listens there
    out: dict[str, Any] = {}

    def run() -> None:
        out.update(in_child(_cold_from_snapshot, down, state["prefix"], str(data_dir), samples))

    benchmark.pedantic(run, rounds=1, iterations=1)
    setup = (
        f"{label(COLD)} entries x 1 phone = {out['identifiers']} identifiers, "
        f"{out['file_mb']:.0f} MB file, Redis down"
    )
    benchmark.extra_info.update(setup=setup, **out, snapshot_write_s=written_s, goal_s=3)
    record(
        f"cold_start_snapshot_{label(COLD)}",
        out["serving_s"] * 1e9,
        f"{setup}: start() -> serving swap {out['serving_s']:.2f} s (goal <= 3 s), of which "
        f"Index.build {out['build_s']:.2f} s; start() returned after {out['start_returned_s']:.2f} s",
    )
    record(
        f"snapshot_parse_floor_{label(COLD)}",
        out["floor_s"] * 1e9,
        f"read + sha256 + marshal.loads of every frame; write_snapshot took {written_s:.2f} s",
    )
    print(f"\ncold start from snapshot ({setup}): {out}")
    assert out["blocked"] == out["samples"]


def test_cold_start_from_redis_1m(
    benchmark: Any, redis_server: RedisServer, phones_published: Any, tmp_path: Path
) -> None:
    _listed, state, samples = phones_published
    out: dict[str, Any] = {}

    def run() -> None:
        out.update(
            in_child(_cold_from_redis, redis_server.url, state["prefix"], str(tmp_path / "gw"), samples)
        )

    benchmark.pedantic(run, rounds=1, iterations=1)
    setup = f"{label(COLD)} entries x 1 phone = {out['identifiers']} identifiers, no snapshot file"
    benchmark.extra_info.update(setup=setup, **out)
    record(
        f"cold_start_redis_{label(COLD)}",
        out["valid_s"] * 1e9,
        f"{setup}: start() -> VALID {out['valid_s']:.2f} s (cut read {out['cut_read_s']:.2f} s, "
        f"decode + build {out['decode_and_build_s']:.2f} s)",
    )
    record(f"hgetall_{label(COLD)}", out["hgetall_s"] * 1e9, "bare HGETALL of the entries hash (redis-py)")
    print(f"\ncold start from Redis ({setup}): {out}")
    assert out["blocked"] == out["samples"]
