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
