"""The follower against a real redis-server: following, bursts, resyncs, the shrink guard."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import pytest
import redis

from sync.cut import Cut
from sync.follower import FollowerHooks
from sync.snapshot import read_snapshot
from sync.status import SyncState
from tests.support.sync_data import KEYS, FollowerFactory, blocks, entries, make_entry, sample

VALID = SyncState.VALID
INTERRUPTED = SyncState.INTERRUPTED


async def test_follows_upserts_and_removals(redis_url, make_follower: FollowerFactory, make_writer) -> None:
    writer = make_writer(redis_url)
    writer.initialise()
    follower = make_follower(redis_url)
    await follower.start()
    assert follower.status.state is VALID and follower.index is not None
    assert follower.status.entries == 0  # an explicitly empty store is accepted
    r = writer.upsert(make_entry(1))
    status = await follower.wait_for_version(r.version, epoch=r.epoch)
    assert blocks(follower.index, 1) and not blocks(follower.index, 2)
    assert (status.entries, status.identifiers) == (1, 2)
    r = writer.remove(make_entry(1).reference)
    await follower.wait_for_version(r.version)
    assert not blocks(follower.index, 1)
    assert follower.status.entries == 0


async def test_burst_of_10k_changes_is_applied_completely_and_in_order(
    redis_url, make_follower: FollowerFactory, make_writer
) -> None:
    writer = make_writer(redis_url)
    writer.initialise()
    seen: list[int] = []
    follower = make_follower(redis_url, hooks=FollowerHooks(on_swap=lambda s: seen.append(s.version)))
    await follower.start()

    def burst() -> None:
        for start in range(0, 10_000, 250):
            writer.upsert_many(entries(250, start=start))

    await asyncio.to_thread(burst)  # the follower reads while the writer writes
    status = await follower.wait_for_version(10_000, timeout=60)
    assert status.entries == 10_000
    assert seen == sorted(set(seen)) and seen[-1] == 10_000  # strictly increasing, ends at the last
    assert len(seen) > 1  # applied in several deltas, not one resync
    registry = follower.metrics.registry
    assert sample(registry, "nocontact_sync_changes_applied_total") == 10_000
    assert sample(registry, "nocontact_sync_resyncs_total", reason="gap") == 0
    index = follower.index
    assert all(blocks(index, i) for i in range(0, 10_000, 97))
    assert {e.reference for e in index.entries()} == set(writer.client.hkeys(KEYS.entries))


async def test_block_written_while_follower_is_mid_resync_is_enforced(
    redis_url, make_follower: FollowerFactory, make_writer
) -> None:
    writer = make_writer(redis_url)
    writer.upsert_many(entries(30))
    cuts: list[Cut] = []

    async def after_cut(cut: Cut) -> None:
        cuts.append(cut)
        if len(cuts) == 2:  # the resync after the republish, before its index is built
            await asyncio.to_thread(writer.upsert, make_entry(999))

    follower = make_follower(redis_url, hooks=FollowerHooks(after_cut=after_cut))
    await follower.start()
    assert follower.status.state is VALID
    published = writer.republish(entries(30))
    await follower.wait_for(lambda s: s.epoch == published.epoch, 10)
    status = await follower.wait_for_version(published.version + 1, epoch=published.epoch)
    assert make_entry(999).reference not in cuts[1].entries  # the race really happened
    assert blocks(follower.index, 999)
    assert status.entries == 31


async def test_unparsable_change_triggers_a_resync(
    redis_url, make_follower: FollowerFactory, make_writer, caplog: pytest.LogCaptureFixture
) -> None:
    writer = make_writer(redis_url)
    first = writer.upsert(make_entry(1))
    follower = make_follower(redis_url)
    await follower.start()
    with caplog.at_level(logging.INFO, logger="nocontact.sync"):
        writer.client.xadd(
            KEYS.changes,
            {"v": first.version + 1, "e": first.epoch, "op": "upsert", "ref": "UPC-X", "entry": "{not json"},
        )
        registry = follower.metrics.registry
        await _until(lambda: sample(registry, "nocontact_sync_resyncs_total", reason="unparsable") == 1)
        r = writer.upsert(make_entry(2))
        await follower.wait_for_version(r.version)
    assert blocks(follower.index, 1) and blocks(follower.index, 2)
    assert follower.index.entry("UPC-X") is None
    assert "sync: unparsable change" in caplog.text and "sync: resync (reason=unparsable)" in caplog.text


@pytest.mark.parametrize(
    ("republished", "allowed"),
    [(0, False), (10, False), (17, True)],  # from 20 entries; max_shrink is 20%
)
async def test_shrink_guard(
    redis_url,
    make_follower: FollowerFactory,
    make_writer,
    caplog: pytest.LogCaptureFixture,
    republished: int,
    allowed: bool,
) -> None:
    writer = make_writer(redis_url)
    writer.upsert_many(entries(20))
    follower = make_follower(redis_url)
    await follower.start()
    with caplog.at_level(logging.INFO, logger="nocontact.sync"):
        result = writer.republish(entries(republished), guard=False)  # the follower's guard, not the writer's
        if allowed:
            status = await follower.wait_for(lambda s: s.epoch == result.epoch, 10)
            assert status.state is VALID and status.entries == republished
            assert not blocks(follower.index, 19)
            return
        status = await follower.wait_for(lambda s: s.state is INTERRUPTED, 10)
    assert "cut refused" in status.reason
    assert ("empty" if republished == 0 else "shrinks from 20") in status.reason
    assert status.epoch != result.epoch and status.entries == 20 and status.serving
    assert blocks(follower.index, 19)  # still serving the last good index
    assert sample(follower.metrics.registry, "nocontact_sync_refusals_total", reason="shrink") == 1
    assert sample(follower.metrics.registry, "nocontact_sync_state", nocontact_sync_state="interrupted") == 1
    assert "sync: cut refused" in caplog.text
    # the explicit licence in the store lets the same list through
    explicit = writer.republish(entries(republished), allow_shrink=True)
    status = await follower.wait_for(lambda s: s.epoch == explicit.epoch and s.state is VALID, 10)
    assert status.entries == republished and not blocks(follower.index, 19)


async def test_snapshot_file_is_written_after_a_swap(
    redis_url, make_follower: FollowerFactory, make_writer
) -> None:
    writer = make_writer(redis_url)
    writer.upsert_many(entries(5))
    follower = make_follower(redis_url)
    await follower.start()
    r = writer.upsert(make_entry(7))
    await follower.wait_for_version(r.version)
    path = follower.settings.snapshot_file
    await _until(lambda: _snapshot_version(path) == r.version)
    snapshot = read_snapshot(path)
    assert snapshot is not None and snapshot.epoch == r.epoch and snapshot.stream_id == r.stream_id
    expected = [*entries(5), make_entry(7)]
    assert sorted(e.reference for e in snapshot.entries) == sorted(e.reference for e in expected)
    assert not list(path.parent.glob(".*.tmp"))


async def test_two_writers_racing_nothing_lost_on_the_follower(
    redis_url, make_follower: FollowerFactory, make_writer
) -> None:
    make_writer(redis_url).initialise()
    follower = make_follower(redis_url)
    await follower.start()
    barrier = threading.Barrier(2)

    def write(start: int) -> None:
        with redis.Redis.from_url(redis_url, decode_responses=True) as client:
            from sync.writer import Writer

            w = Writer(client, keys=KEYS)
            barrier.wait()
            for i in range(start, start + 200):
                w.upsert(make_entry(i))

    await asyncio.gather(asyncio.to_thread(write, 0), asyncio.to_thread(write, 5000))
    status = await follower.wait_for_version(400)
    assert status.version == 400 and status.entries == 400
    assert all(blocks(follower.index, i) for i in [*range(0, 200, 7), *range(5000, 5200, 7)])


async def test_layered_changes_are_compacted_when_idle(
    redis_url, make_follower: FollowerFactory, make_writer, caplog: pytest.LogCaptureFixture
) -> None:
    writer = make_writer(redis_url)
    writer.upsert_many(entries(10))
    follower = make_follower(redis_url, compact_after=30)
    await follower.start()
    caplog.set_level(logging.INFO, logger="nocontact.sync")
    for i in range(10, 45):
        r = writer.upsert(make_entry(i))
        if i % 5 == 0:
            await follower.wait_for_version(r.version)
    last = writer.remove(make_entry(0).reference)
    registry = follower.metrics.registry
    await _until(lambda: sample(registry, "nocontact_sync_swaps_total", kind="full") == 2)
    assert "sync: compacting the index" in caplog.text
    status = await follower.wait_for_version(last.version)
    assert status.entries == 44 and status.version == 46
    assert not blocks(follower.index, 0) and all(blocks(follower.index, i) for i in range(1, 45))


async def test_an_entry_the_index_cannot_take_is_left_out_and_named(
    redis_url, make_follower: FollowerFactory, make_writer, caplog: pytest.LogCaptureFixture
) -> None:
    from matcher.entries import Entry

    def emergency(reference: str) -> Entry:  # intake rejects it; this writer does not validate
        data = {"reference": reference, "prisoner": "A1234BC", "protected": [{"phones": ["999"]}]}
        return Entry.from_dict(data)

    writer = make_writer(redis_url)
    writer.upsert_many([*entries(3), emergency("UPC-BAD-1")])
    caplog.set_level(logging.INFO, logger="nocontact.sync")
    follower = make_follower(redis_url)
    await follower.start()
    status = follower.status
    assert status.state is VALID and status.unindexable == ("UPC-BAD-1",) and status.entries == 3
    assert blocks(follower.index, 2)
    kept = writer.upsert(emergency(make_entry(1).reference))  # a bad replacement of a good entry
    after = writer.upsert(make_entry(5))
    status = await follower.wait_for_version(after.version)
    assert kept.version < after.version and status.unindexable == (make_entry(1).reference, "UPC-BAD-1")
    assert blocks(follower.index, 1)  # keeps its last good content: the safe side
    assert "sync: entries not indexable" in caplog.text and "UPC-BAD-1" in caplog.text
    assert "999" not in caplog.text
    fixed = writer.upsert(make_entry(1))  # a good replacement clears it
    status = await follower.wait_for_version(fixed.version)
    assert status.unindexable == ("UPC-BAD-1",)


async def _until(predicate, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


def _snapshot_version(path: Path) -> int | None:
    try:
        snapshot = read_snapshot(path)
    except Exception:
        return None
    return None if snapshot is None else snapshot.version
