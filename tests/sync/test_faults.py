"""Faults with real redis-server processes: killed, restarted with and without persistence, hung
(SIGSTOP), a stream trimmed past a paused follower, a gateway started while Redis is down."""

from __future__ import annotations

import hashlib
import json
import logging
import signal

import pytest

from sync.follower import FollowerHooks
from sync.snapshot import read_snapshot
from sync.status import SyncState
from tests.support.redis_server import RedisFactory
from tests.support.sync_data import KEYS, FollowerFactory, ReadGate, blocks, entries, make_entry, sample

VALID = SyncState.VALID
INTERRUPTED = SyncState.INTERRUPTED


async def test_redis_killed_and_restarted_with_persistence_resumes_from_the_stream(
    redis_server: RedisFactory, make_follower: FollowerFactory, make_writer
) -> None:
    server = redis_server(persistence=True)
    first = make_writer(server.url).upsert_many(entries(20))[-1]
    follower = make_follower(server.url)
    await follower.start()
    assert follower.status.state is VALID and follower.status.version == first.version

    server.kill()
    status = await follower.wait_for(lambda s: s.state is INTERRUPTED, 10)
    assert status.reason.startswith("store unreachable") and status.serving
    assert blocks(follower.index, 3)  # keeps serving the last good index

    server.start()
    await follower.wait_for(lambda s: s.state is VALID, 10)
    after = make_writer(server.url).upsert(make_entry(100))
    assert after.epoch == first.epoch and after.version == first.version + 1  # the AOF kept everything
    await follower.wait_for_version(after.version, epoch=first.epoch)
    assert blocks(follower.index, 100) and blocks(follower.index, 3)
    registry = follower.metrics.registry
    assert sample(registry, "nocontact_sync_resyncs_total", reason="initial") == 1
    assert sample(registry, "nocontact_sync_resyncs_total", reason="epoch") == 0  # resumed, no full resync


async def test_redis_restarted_without_persistence_keeps_serving_until_republished(
    redis_server: RedisFactory, make_follower: FollowerFactory, make_writer, caplog: pytest.LogCaptureFixture
) -> None:
    server = redis_server(persistence=False)
    make_writer(server.url).upsert_many(entries(20))
    follower = make_follower(server.url)
    await follower.start()
    old_epoch = follower.status.epoch
    caplog.set_level(logging.INFO, logger="nocontact.sync")

    server.kill()
    server.start()  # empty: everything is gone
    status = await follower.wait_for(lambda s: "nothing published" in s.reason, 10)
    assert status.state is INTERRUPTED and status.epoch == old_epoch and blocks(follower.index, 3)

    writer = make_writer(server.url)
    lone = writer.upsert(make_entry(500))  # a new epoch, implicitly, holding one entry
    assert lone.epoch != old_epoch
    status = await follower.wait_for(lambda s: "shrinks from 20 to 1" in s.reason, 10)
    assert status.state is INTERRUPTED and status.epoch == old_epoch
    assert blocks(follower.index, 3) and not blocks(follower.index, 500)

    republished = writer.republish([*entries(20), make_entry(500)])
    status = await follower.wait_for(lambda s: s.epoch == republished.epoch and s.state is VALID, 10)
    assert status.entries == 21 and blocks(follower.index, 500) and blocks(follower.index, 3)
    assert "sync: cut refused" in caplog.text


async def test_stream_trimmed_past_a_paused_follower_is_detected_and_resynced(
    redis_url, make_follower: FollowerFactory, make_writer, caplog: pytest.LogCaptureFixture
) -> None:
    writer = make_writer(redis_url, stream_max_len=10)
    writer.upsert_many(entries(5))
    gate = ReadGate()
    follower = make_follower(redis_url, hooks=FollowerHooks(before_read=gate.before_read))
    await follower.start()
    applied = follower.status.version
    await gate.close()
    for start in range(100, 400, 50):
        writer.upsert_many(entries(50, start=start))
    writer.remove(make_entry(0).reference)
    oldest = int(writer.client.xrange(KEYS.changes, count=1)[0][1]["v"])
    assert oldest > applied + 1  # the changes the follower needs are gone from the stream

    caplog.set_level(logging.INFO, logger="nocontact.sync")
    gate.open()
    status = await follower.wait_for_version(applied + 301, timeout=10)
    assert status.entries == 304 and status.state is VALID
    assert not blocks(follower.index, 0) and blocks(follower.index, 399)
    assert sample(follower.metrics.registry, "nocontact_sync_resyncs_total", reason="gap") == 1
    assert "sync: gap" in caplog.text and "sync: resync (reason=gap)" in caplog.text


async def test_gateway_started_while_redis_is_down_serves_the_snapshot_then_catches_up(
    redis_server: RedisFactory, make_follower: FollowerFactory, make_writer, caplog: pytest.LogCaptureFixture
) -> None:
    server = redis_server(persistence=True)
    writer = make_writer(server.url)
    snap = writer.upsert_many(entries(10))[-1]
    first = make_follower(server.url, name="gw")
    await first.start()
    await first.stop()  # leaves its snapshot file behind
    snapshot = read_snapshot(first.settings.snapshot_file)
    assert snapshot is not None and snapshot.version == snap.version
    later = writer.upsert_many(entries(5, start=10))[-1]  # written while that gateway was away
    server.stop()

    caplog.set_level(logging.INFO, logger="nocontact.sync")
    second = make_follower(server.url, name="gw")
    await second.start()
    status = second.status
    assert status.state is INTERRUPTED and status.serving and status.version == snap.version
    assert blocks(second.index, 3) and not blocks(second.index, 12)
    assert "sync: cold start from snapshot file" in caplog.text

    server.start()
    status = await second.wait_for_version(later.version, timeout=10)
    assert status.state is VALID and blocks(second.index, 12)
    registry = second.metrics.registry
    # caught up from the stream, from the snapshot's stream id: no full resync
    assert sample(registry, "nocontact_sync_resyncs_total", reason="initial") == 0


def _flip_a_bit(data: bytes) -> bytes:
    out = bytearray(data)
    out[-20] ^= 0x01  # one flipped bit in the last entry
    return bytes(out)


def _as_format_2(data: bytes) -> bytes:
    """The same cut as older code wrote it (format 2: one Entry.to_record array a line, no keys)."""
    header = json.loads(data.partition(b"\n")[0])
    body = b"".join(json.dumps(e.to_record()).encode() + b"\n" for e in entries(10))
    header.update(format_version=2, keys=None, sha256=hashlib.sha256(body).hexdigest())
    return json.dumps(header).encode() + b"\n" + body


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (_flip_a_bit, "digest mismatch"),
        (lambda data: data[:-20], "frame 1: "),  # a partial write
        (_as_format_2, "unsupported format_version 2"),  # a cache of an older format: rebuilt
    ],
)
async def test_corrupt_snapshot_file_is_rejected_and_ignored(
    redis_url, make_follower: FollowerFactory, make_writer, caplog: pytest.LogCaptureFixture, corrupt, message
) -> None:
    writer = make_writer(redis_url)
    writer.upsert_many(entries(10))
    first = make_follower(redis_url, name="gw")
    await first.start()
    await first.stop()
    path = first.settings.snapshot_file
    path.write_bytes(corrupt(path.read_bytes()))
    writer.remove(make_entry(3).reference)

    caplog.set_level(logging.INFO, logger="nocontact.sync")
    second = make_follower(redis_url, name="gw")
    await second.start()
    assert "sync: snapshot file rejected" in caplog.text and message in caplog.text
    assert second.status.state is VALID and second.status.entries == 9
    assert not blocks(second.index, 3) and blocks(second.index, 9)
    assert sample(second.metrics.registry, "nocontact_sync_resyncs_total", reason="initial") == 1


async def test_hung_redis_trips_the_watchdog_and_recovers(
    redis_server: RedisFactory, make_follower: FollowerFactory, make_writer
) -> None:
    server = redis_server(persistence=False)
    make_writer(server.url).upsert_many(entries(3))
    follower = make_follower(server.url, socket_timeout=4.0, stale_after=1.0)
    await follower.start()
    assert server.process is not None
    server.process.send_signal(signal.SIGSTOP)  # accepts nothing, answers nothing, closes nothing
    try:
        status = await follower.wait_for(lambda s: s.state is INTERRUPTED, 10)
        assert status.reason.startswith("no contact with the store")
        assert blocks(follower.index, 1)
    finally:
        server.process.send_signal(signal.SIGCONT)
    await follower.wait_for(lambda s: s.state is VALID, 15)
    r = make_writer(server.url).upsert(make_entry(9))
    await follower.wait_for_version(r.version)
    assert blocks(follower.index, 9)


async def test_writes_lost_in_a_failover_whose_versions_are_then_reused_are_detected(
    redis_server: RedisFactory, make_follower: FollowerFactory, make_writer, caplog: pytest.LogCaptureFixture
) -> None:
    """A primary takes a write the follower applies, then dies before its replica has it; the
    promoted replica's next write gets the same version number with other content. Skipping it
    as 'already applied' would enforce the lost write forever and never the new one."""
    server = redis_server(persistence=False)
    make_writer(server.url).upsert_many(entries(20))
    with server.client() as client:
        client.save()  # the replica: everything up to here
    lost = make_writer(server.url).upsert(make_entry(100))
    gate = ReadGate()
    follower = make_follower(server.url, hooks=FollowerHooks(before_read=gate.before_read))
    await follower.start()
    await follower.wait_for_version(lost.version)
    assert blocks(follower.index, 100)
    await gate.close()

    server.kill()
    server.start()  # the replica, promoted: it never had the lost write
    reused = make_writer(server.url).upsert(make_entry(200))
    assert (reused.epoch, reused.version) == (lost.epoch, lost.version) and reused.stream_id != lost.stream_id

    caplog.set_level(logging.INFO, logger="nocontact.sync")
    gate.open()
    await follower.wait_for(lambda s: s.state is VALID and blocks(follower.index, 200), 10)
    assert not blocks(follower.index, 100) and blocks(follower.index, 19)
    assert sample(follower.metrics.registry, "nocontact_sync_resyncs_total", reason="diverged") == 1
    assert "sync: history diverged" in caplog.text
