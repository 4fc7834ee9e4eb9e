"""The cold start from the snapshot file does each check once (issue 17: restart with Redis down
within the 3 s goal): every reference is checked to appear once by the build, which indexes them by
reference anyway, not first in a set of its own while the file is read. A file that repeats one is
still rejected whole before anything is served."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable
from pathlib import Path

import pytest

import sync.snapshot
from matcher.errors import DuplicateReference
from matcher.profile import Profile
from sync.building import IndexBuilder
from sync.errors import SnapshotRejected
from sync.snapshot import CHUNK_ROWS, read_snapshot
from sync.status import SyncState
from tests.support.redis_server import RedisFactory
from tests.support.snapshot_files import framed, frames_of, rewrite_body
from tests.support.sync_data import FollowerFactory, blocks, entries, make_entry, sample


def _repeat_the_last_frame(path: Path) -> None:
    """Its 10 entries' frame given twice, the header's counts and digest made to agree (only a
    deliberate edit does that)."""
    head, _, body = path.read_bytes().partition(b"\n")
    frames = frames_of(body)
    identifiers = json.loads(head)["identifiers"]
    rewrite_body(path, head, framed([*frames, frames[-1]]), entries=20, identifiers=2 * identifiers)


async def _left_a_snapshot(url: str, make_follower: FollowerFactory, make_writer, count: int) -> Path:
    make_writer(url).upsert_many(entries(count))
    first = make_follower(url, name="gw")
    await first.start()
    await first.stop()  # leaves its snapshot file behind
    return first.settings.snapshot_file


async def test_a_cold_start_checks_the_references_once_in_the_build(
    redis_server: RedisFactory,
    make_follower: FollowerFactory,
    make_writer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = redis_server(persistence=False)
    path = await _left_a_snapshot(server.url, make_follower, make_writer, CHUNK_ROWS + 10)
    server.stop()  # the restart meets a dead store: it serves the file
    walks: list[int] = []
    distinct = sync.snapshot._distinct

    def counted(references: Iterable[str]) -> int:
        walks.append(1)
        return distinct(references)

    monkeypatch.setattr(sync.snapshot, "_distinct", counted)
    caplog.set_level(logging.INFO, logger="nocontact.sync")
    second = make_follower(server.url, name="gw")
    await second.start()
    assert "sync: cold start from snapshot file" in caplog.text
    assert second.status.serving and second.status.entries == CHUNK_ROWS + 10
    assert blocks(second.index, 3) and blocks(second.index, CHUNK_ROWS + 9)
    assert walks == []  # no set of a million references beside the build's own table
    assert read_snapshot(path) is not None and walks == [1]  # read_snapshot alone still checks


async def test_a_file_repeating_a_reference_is_rejected_by_the_cold_start(
    redis_url: str, make_follower: FollowerFactory, make_writer, caplog: pytest.LogCaptureFixture
) -> None:
    """The follower serves nothing of it and starts from Redis."""
    path = await _left_a_snapshot(redis_url, make_follower, make_writer, 10)
    _repeat_the_last_frame(path)
    make_writer(redis_url).remove(make_entry(3).reference)

    caplog.set_level(logging.INFO, logger="nocontact.sync")
    second = make_follower(redis_url, name="gw")
    await second.start()
    assert "sync: snapshot file rejected" in caplog.text and "appears twice" in caplog.text
    assert "sync: cold start from snapshot file" not in caplog.text
    assert second.status.state is SyncState.VALID and second.status.entries == 9
    assert not blocks(second.index, 3) and blocks(second.index, 9)
    assert sample(second.metrics.registry, "nocontact_sync_resyncs_total", reason="initial") == 1


@pytest.mark.parametrize("stamp", ["this profile's", "another profile's"])
async def test_a_build_from_a_file_read_without_the_reference_check_makes_it(
    redis_url: str, make_follower: FollowerFactory, make_writer, profile: Profile, stamp: str
) -> None:
    """Both builds from a snapshot: from its stored rows (the stamp agrees) and from its entries
    normalised again (another profile's keys), which would otherwise keep the last of the two."""
    path = await _left_a_snapshot(redis_url, make_follower, make_writer, 10)
    _repeat_the_last_frame(path)
    with pytest.raises(SnapshotRejected, match="a reference appears twice"):
        read_snapshot(path)
    snapshot = read_snapshot(path, references_by_build=True)
    assert snapshot is not None and not snapshot.references_checked
    if stamp != "this profile's":
        snapshot = dataclasses.replace(snapshot, key_stamp={"phones": "another"})
    with pytest.raises(DuplicateReference, match="appears twice"):
        await IndexBuilder(profile).from_snapshot(snapshot)
