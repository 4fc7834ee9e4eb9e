from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from sync.errors import SnapshotRejected
from sync.snapshot import read_snapshot, write_snapshot
from tests.sync.factories import entries


def write(path: Path, n: int = 5) -> None:
    write_snapshot(
        path, epoch="e1", version=42, stream_id="5-0", entries=entries(n), normalisers={"phones": "p1"}
    )


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "snap" / "snapshot.jsonl"
    write(path)
    snapshot = read_snapshot(path)
    assert snapshot is not None
    assert (snapshot.epoch, snapshot.version, snapshot.stream_id) == ("e1", 42, "5-0")
    assert snapshot.entries == entries(5) and snapshot.identifiers == 10
    assert snapshot.normalisers == {"phones": "p1"}
    assert [p.name for p in path.parent.iterdir()] == ["snapshot.jsonl"]  # no temp file left


def test_missing_file_is_none(tmp_path: Path) -> None:
    assert read_snapshot(tmp_path / "absent.jsonl") is None


def test_replace_is_whole(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.jsonl"
    write(path, 5)
    write(path, 2)
    snapshot = read_snapshot(path)
    assert snapshot is not None and len(snapshot.entries) == 2


def _truncate(data: bytes) -> bytes:
    return data[: len(data) - 30]


def _flip(data: bytes) -> bytes:
    out = bytearray(data)
    out[-10] ^= 0x20
    return bytes(out)


def _header(**changes: object) -> object:
    def mutate(data: bytes) -> bytes:
        head, _, body = data.partition(b"\n")
        header = json.loads(head)
        header.update(changes)
        return json.dumps(header).encode() + b"\n" + body

    return mutate


def _append_line(data: bytes) -> bytes:
    head, _, body = data.partition(b"\n")
    return head + b"\n" + body + body.splitlines(keepends=True)[0]


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (_truncate, "digest mismatch"),
        (_flip, "digest mismatch"),
        (lambda d: b"", "no complete header line"),
        (lambda d: b"{not json\n", "header is not JSON"),
        (lambda d: b'{"format": "other"}\n', "not a nocontact snapshot"),
        (_header(format_version=2), "unsupported format_version"),
        (_header(entries=6), "header says 6 entries"),
        (_header(version="42"), "header field 'version'"),
        (_header(identifiers=11), "identifier count"),
    ],
)
def test_corrupt_or_partial_files_are_rejected(tmp_path: Path, corrupt, message: str) -> None:
    path = tmp_path / "snapshot.jsonl"
    write(path)
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(SnapshotRejected) as info:
        read_snapshot(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_digest_covering_a_duplicated_line_still_rejects(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.jsonl"
    write(path)
    data = _append_line(path.read_bytes())
    head, _, body = data.partition(b"\n")
    header = json.loads(head)
    header.update(entries=6, identifiers=12, sha256=hashlib.sha256(body).hexdigest())
    path.write_bytes(json.dumps(header).encode() + b"\n" + body)
    with pytest.raises(SnapshotRejected, match="appears twice"):
        read_snapshot(path)
