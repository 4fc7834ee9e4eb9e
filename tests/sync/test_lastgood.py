"""The follower's last-good file: read for a cold start, written again after swaps."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

import sync.lastgood
from matcher.index import Index
from matcher.profile import Profile
from sync.lastgood import SnapshotState, SnapshotWriter, read_last_good
from sync.snapshot import read_snapshot, write_snapshot
from tests.support.sync_data import entries


async def test_a_background_write_waits_for_the_follower_to_settle_but_not_forever(
    tmp_path: Path, profile: Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync.lastgood, "SETTLE_MAX", 0.3)
    index = Index.build(entries(3), profile, version=9)
    path = tmp_path / "snapshot.jsonl"
    settled = asyncio.Event()
    writer = SnapshotWriter(path, lambda: SnapshotState(index, "e1", "1-0"), 0.0, {}, settle=settled.wait)
    running = asyncio.create_task(writer.run())
    writer.dirty()
    await asyncio.sleep(0.1)
    assert not path.exists()  # still settling (a retirement on the loop)
    await asyncio.sleep(1.0)
    snapshot = read_snapshot(path)  # written once SETTLE_MAX passed, settled or not
    assert snapshot is not None and snapshot.version == 9 and len(snapshot) == 3
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)


async def test_a_missing_or_rejected_file_is_none_and_says_why(
    tmp_path: Path, profile: Profile, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="nocontact.sync")
    path = tmp_path / "snapshot.jsonl"
    assert await read_last_good(path) is None
    assert "sync: no snapshot file at" in caplog.text
    write_snapshot(
        path, epoch="e1", version=4, stream_id="1-0", index=Index.build(entries(3), profile, version=4)
    )
    snapshot = await read_last_good(path)
    assert snapshot is not None and len(snapshot) == 3
    path.write_bytes(path.read_bytes()[:-5])
    assert await read_last_good(path) is None
    assert "sync: snapshot file rejected" in caplog.text


async def test_a_stream_of_swaps_is_written_once_it_pauses(tmp_path: Path, profile: Profile) -> None:
    """Swaps closer together than min_interval (a stream of changes) are not written one interval
    after another: the file is written once, after they pause, with the last of them."""
    versions = iter(range(1, 1000))
    state = SnapshotState(Index.build(entries(3), profile, version=0), "e1", "1-0")
    written: list[int] = []
    path = tmp_path / "snapshot.jsonl"

    def latest() -> SnapshotState:
        return state

    def on_written() -> None:
        snapshot = read_snapshot(path)
        assert snapshot is not None
        written.append(snapshot.version)

    writer = SnapshotWriter(path, latest, 1.0, {}, on_written=on_written)
    running = asyncio.create_task(writer.run())
    try:
        for _ in range(30):  # 1.5 s of swaps 50 ms apart
            state = SnapshotState(Index.build(entries(3), profile, version=next(versions)), "e1", "1-0")
            writer.dirty()
            await asyncio.sleep(0.05)
        assert written == []
        last = state.index.version
        while not written:
            await asyncio.sleep(0.05)
        assert written == [last]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
