from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import phonenumbers
import pytest

from matcher.entries import Entry
from matcher.index import Index, key_stamp
from matcher.profile import Profile
from sync.building import IndexBuilder
from sync.changes import encode_entry
from sync.errors import SnapshotRejected
from sync.snapshot import read_snapshot, write_snapshot
from tests.sync.factories import blocks, entries, phone


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
        (_header(format_version=99), "unsupported format_version"),
        (_header(format_version=True), "unsupported format_version"),
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


def _rewrite(path: Path, edit_line, **header_changes: object) -> None:  # type: ignore[no-untyped-def]
    """Edit every entry line (a stored row and its record, or a record) and the header, then make
    digest and header agree again (what only a deliberate edit can do)."""
    head, _, body = path.read_bytes().partition(b"\n")
    lines = [edit_line(*line.split(b"\t")) for line in body.splitlines()]
    body = b"".join(line + b"\n" for line in lines)
    header = json.loads(head)
    header.update(header_changes, sha256=hashlib.sha256(body).hexdigest())
    path.write_bytes(json.dumps(header).encode() + b"\n" + body)


def _by_reference(listed: Iterable[Entry]) -> list[Entry]:
    """An index keeps its entries in no particular order (its maps are sharded by hash)."""
    return sorted(listed, key=lambda e: e.reference)


def _write_from_index(path: Path, profile: Profile, n: int = 5) -> Index:
    index = Index.build(entries(n), profile, version=42)
    write_snapshot(path, epoch="e1", version=42, stream_id="5-0", index=index, normalisers={"phones": "p1"})
    return index


def test_an_index_is_written_with_its_keys_and_read_back(tmp_path: Path, profile: Profile) -> None:
    path = tmp_path / "snapshot.jsonl"
    _write_from_index(path, profile)
    snapshot = read_snapshot(path)
    assert snapshot is not None and _by_reference(snapshot.entries) == entries(5) and len(snapshot) == 5
    assert snapshot.key_stamp == key_stamp(profile) and snapshot.rows is not None
    row = next(row for row, _ in snapshot.rows if row[0] == "UPC-000000")
    assert row[:5] == ["UPC-000000", "A1234BC", None, ["+447700900000"], ["person0@example.com"]]
    index = Index.build_stored(snapshot.rows, profile, version=42)
    assert index.counts() == {"entries": 5, "phones": 5, "emails": 5, "addresses": 0}
    assert _by_reference(index.entries()) == entries(5)  # decoded on demand, equal to what was written
    assert all(blocks(index, i) for i in range(5))


async def test_keys_are_reused_only_under_the_same_stamp(tmp_path: Path, profile: Profile) -> None:
    path = tmp_path / "snapshot.jsonl"
    _write_from_index(path, profile)
    other = phone(777)

    def swap_first_phone_key(head: bytes, record: bytes) -> bytes:
        row = json.loads(head)
        if row[0] == "UPC-000000":
            row[3] = ["+447700900777"]  # phone(777) as a key
        return json.dumps(row).encode() + b"\t" + record

    _rewrite(path, swap_first_phone_key)
    snapshot = read_snapshot(path)
    assert snapshot is not None and snapshot.rows is not None
    builder = IndexBuilder(profile)
    trusted = await builder.from_snapshot(snapshot)
    # the stored key is what the index holds: the file's keys were used as they are
    assert trusted.index.screen_call("HLI", "Z9999ZZ", other).decision == "block"
    assert not blocks(trusted.index, 0)

    # written by another normaliser version, or under another phonenumbers release (whose
    # metadata may read a number differently): the stamp names the release installed
    assert key_stamp(profile)["libraries"].startswith(f"phonenumbers={phonenumbers.__version__} ")
    for stale in (
        dict(key_stamp(profile), phones="phones-0"),
        dict(key_stamp(profile), libraries="phonenumbers=8.0.0 email-validator=2.4.0"),
    ):
        rebuilt = await builder.from_snapshot(dataclasses.replace(snapshot, key_stamp=stale))
        assert blocks(rebuilt.index, 0)  # normalised again from the entries
        assert rebuilt.index.screen_call("HLI", "Z9999ZZ", other).decision == "allow"
        assert (rebuilt.entries, rebuilt.identifiers) == (trusted.entries, trusted.identifiers) == (5, 10)


def test_entries_with_addresses_or_exemptions_are_compiled_from_a_stored_row(
    tmp_path: Path, profile: Profile
) -> None:
    address = {"lines": ["14 High Street", "Hull"], "postcode": "HU1 2AB"}
    person = {"name": "Jane Smith", "addresses": [address]}
    exempted = {
        "reference": "UPC-X", "prisoner": "A1234BC", "protected": [{"phones": [phone(1)]}],
        "exemptions": [{"prisoner": "B2345CD", "identifier": phone(1), "reason": "shared"}],
    }
    listed = [
        Entry.from_dict({"reference": "UPC-A", "prisoner": "A1234BC", "protected": [person]}),
        Entry.from_dict(exempted),
    ]
    index = Index.build(listed, profile, version=3)
    path = tmp_path / "snapshot.jsonl"
    write_snapshot(path, epoch="e1", version=3, stream_id="5-0", index=index)
    snapshot = read_snapshot(path)
    assert snapshot is not None and snapshot.rows is not None
    again = Index.build_stored(snapshot.rows, profile, version=3)
    envelope = "Mrs J Smith\n14 High Street\nHull\nHU1 2AB"
    assert again.screen_mail("HLI", "Z9999ZZ", envelope).decision == index.screen_mail(
        "HLI", "Z9999ZZ", envelope
    ).decision == "block"
    assert again.screen_call("HLI", "B2345CD", phone(1)).decision == "allow"  # the exemption holds
    assert again.screen_call("HLI", "C3456DE", phone(1)).decision == "block"


def test_a_record_of_the_wrong_shape_rejects_the_file(tmp_path: Path, profile: Profile) -> None:
    path = tmp_path / "snapshot.jsonl"
    _write_from_index(path, profile)

    def truncate_row(head: bytes, record: bytes) -> bytes:
        row = json.loads(head)
        return json.dumps(row[:3] if row[0] == "UPC-000002" else row).encode() + b"\t" + record

    _rewrite(path, truncate_row)
    lines = path.read_bytes().splitlines()
    number = next(n for n, line in enumerate(lines, start=1) if line.startswith(b'["UPC-000002"'))
    with pytest.raises(SnapshotRejected, match=f"line {number}: not a snapshot record"):
        read_snapshot(path)


def test_a_format_2_file_without_keys_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.jsonl"
    write(path, 3)
    snapshot = read_snapshot(path)
    assert snapshot is not None and snapshot.rows is None and snapshot.entries == entries(3)
    _rewrite(path, lambda record: record.replace(b'"UPC-000001",', b"", 1))
    with pytest.raises(SnapshotRejected, match="line 3: not a snapshot record"):
        read_snapshot(path)
def test_a_format_1_file_is_still_read_and_validated(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.jsonl"
    lines = [(encode_entry(e) + "\n").encode() for e in entries(3)]
    body = b"".join(lines)
    header = {
        "format": "nocontact-snapshot", "format_version": 1, "epoch": "e1", "version": 7,
        "stream_id": "1-0", "entries": 3, "identifiers": 6, "normalisers": {},
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    path.write_bytes(json.dumps(header).encode() + b"\n" + body)
    snapshot = read_snapshot(path)
    assert snapshot is not None and snapshot.entries == entries(3) and snapshot.rows is None
    bad = body.replace(b'"prisoner":"A1234BC"', b'"prisoner":"?"', 1)
    header.update(sha256=hashlib.sha256(bad).hexdigest())
    path.write_bytes(json.dumps(header).encode() + b"\n" + bad)
    with pytest.raises(SnapshotRejected, match="line 2: invalid field prisoner"):
        read_snapshot(path)
