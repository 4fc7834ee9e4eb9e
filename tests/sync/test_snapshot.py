from __future__ import annotations

import dataclasses
import hashlib
import json
import marshal
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import phonenumbers
import pytest

import sync.snapshot
from matcher.entries import Entry
from matcher.errors import ValidationError
from matcher.index import Index
from matcher.profile import Profile
from matcher.stored import StoredColumns, key_stamp, stored_row
from sync.building import IndexBuilder
from sync.changes import encode_entry
from sync.errors import SnapshotRejected
from sync.snapshot import FRAME_HEAD, read_snapshot, write_snapshot
from tests.support.snapshot_files import framed, frames_of, rewrite_body
from tests.support.sync_data import blocks, entries, make_entry, phone


def test_round_trip(tmp_path: Path, profile: Profile) -> None:
    path = tmp_path / "snap" / "snapshot.jsonl"
    _write_from_index(path, profile)
    snapshot = read_snapshot(path)
    assert snapshot is not None
    assert (snapshot.epoch, snapshot.version, snapshot.stream_id) == ("e1", 42, "5-0")
    assert _by_reference(snapshot.entries) == entries(5) and snapshot.identifiers == 10
    assert snapshot.normalisers == {"phones": "p1"}
    assert [p.name for p in path.parent.iterdir()] == ["snapshot.jsonl"]  # no temp file left


def test_missing_file_is_none(tmp_path: Path) -> None:
    assert read_snapshot(tmp_path / "absent.jsonl") is None


def test_replace_is_whole(tmp_path: Path, profile: Profile) -> None:
    path = tmp_path / "snapshot.jsonl"
    _write_from_index(path, profile, 5)
    _write_from_index(path, profile, 2)
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


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (_truncate, "frame 1: "),  # a partial write: its last frame is short
        (_flip, "digest mismatch"),
        (lambda d: b"", "no complete header line"),
        (lambda d: b"{not json\n", "header is not JSON"),
        (lambda d: b'{"format": "other"}\n', "not a nocontact snapshot"),
        (_header(format_version=99), "unsupported format_version 99"),
        (_header(format_version=True), "unsupported format_version True"),
        (_header(format_version=3), "unsupported format_version 3"),
        (_header(entries=6), "header says 6 entries"),
        (_header(version="42"), "header field 'version'"),
        (_header(identifiers=11), "identifier count"),
    ],
)
def test_corrupt_or_partial_files_are_rejected(
    tmp_path: Path, profile: Profile, corrupt, message: str
) -> None:
    path = tmp_path / "snapshot.jsonl"
    _write_from_index(path, profile)
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(SnapshotRejected) as info:
        read_snapshot(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


Columns = list[list[Any]]


def _chunks_of(path: Path) -> tuple[bytes, list[tuple[Columns, list[bytes]]]]:
    """The header line and the chunks (columns, records) of a file."""
    head, _, body = path.read_bytes().partition(b"\n")
    return head, [tuple(marshal.loads(frame)) for frame in frames_of(body)]  # type: ignore[misc]


def _edit_chunks(path: Path, edit: Callable[[Columns, list[bytes]], None], **header_changes: object) -> None:
    """`edit(columns, records)` changes every chunk in place; the file is written again with a
    digest that agrees (what only a deliberate edit can do)."""
    head, chunks = _chunks_of(path)
    for columns, records in chunks:
        edit(columns, records)
    body = framed(marshal.dumps([c, r], 4) for c, r in chunks)
    rewrite_body(path, head, body, **header_changes)


def _columns_only(edit: Callable[[Columns], None]) -> Callable[[Columns, list[bytes]], None]:
    return lambda columns, _records: edit(columns)


def _older_format_file(path: Path, format_version: int, listed: list[Entry]) -> None:
    """A file as older code wrote it from entries: format 1 (one encode_entry object a line) or 2
    (one Entry.to_record array a line), with a digest that agrees."""
    if format_version == 1:
        body = b"".join((encode_entry(e) + "\n").encode() for e in listed)
    else:
        body = b"".join(json.dumps(e.to_record()).encode() + b"\n" for e in listed)
    header = {
        "format": "nocontact-snapshot",
        "format_version": format_version,
        "epoch": "e1",
        "version": 7,
        "stream_id": "1-0",
        "entries": len(listed),
        "identifiers": sum(e.identifier_count() for e in listed),
        "normalisers": {},
        "keys": None,
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    path.write_bytes(json.dumps(header).encode() + b"\n" + body)


@pytest.mark.parametrize("format_version", [1, 2])
def test_files_of_older_formats_are_rejected_whole(tmp_path: Path, format_version: int) -> None:
    """The file is a cache the follower rebuilds from Redis: only the format this code writes is read."""
    path = tmp_path / "snapshot.jsonl"
    _older_format_file(path, format_version, entries(3))
    with pytest.raises(SnapshotRejected, match=f"unsupported format_version {format_version}"):
        read_snapshot(path)


def _by_reference(listed: Iterable[Entry]) -> list[Entry]:
    """An index keeps its entries in no particular order (its maps are sharded by hash)."""
    return sorted(listed, key=lambda e: e.reference)


def _through_a_file(tmp_path: Path, index: Index, profile: Profile) -> Index:
    """`index` written to a snapshot file, read back and built from its stored rows."""
    path = tmp_path / "snapshot.jsonl"
    write_snapshot(path, epoch="e1", version=index.version, stream_id="5-0", index=index)
    snapshot = read_snapshot(path)
    assert snapshot is not None
    return Index.build_stored(snapshot.stored, profile, version=index.version)


def _write_from_index(path: Path, profile: Profile, n: int = 5) -> Index:
    index = Index.build(entries(n), profile, version=42)
    write_snapshot(path, epoch="e1", version=42, stream_id="5-0", index=index, normalisers={"phones": "p1"})
    return index


def test_an_index_is_written_with_its_keys_and_read_back(tmp_path: Path, profile: Profile) -> None:
    path = tmp_path / "snapshot.jsonl"
    _write_from_index(path, profile)
    assert json.loads(path.read_bytes().partition(b"\n")[0])["format_version"] == 4
    snapshot = read_snapshot(path)
    assert snapshot is not None and _by_reference(snapshot.entries) == entries(5) and len(snapshot) == 5
    assert snapshot.key_stamp == key_stamp(profile)
    chunk = snapshot.stored[0]
    assert next(row for row in chunk.rows() if row[0] == "UPC-000000") == [
        "UPC-000000",
        "A1234BC",
        None,
        ["+447700900000"],
        ["person0@example.com"],
        1,
        1,
        0,
        False,
    ]
    assert sorted(chunk.phone_keys) == [f"+4477009{i:05d}" for i in range(5)]
    assert chunk.phone_key_counts == [1] * 5
    index = Index.build_stored(snapshot.stored, profile, version=42)
    assert index.counts() == {"entries": 5, "phones": 5, "emails": 5, "addresses": 0}
    assert _by_reference(index.entries()) == entries(5)  # decoded on demand, equal to what was written
    assert all(blocks(index, i) for i in range(5))


@pytest.mark.parametrize("chunk_rows", [1, 2, 4096])
def test_chunks_of_any_size_read_back_in_order(
    tmp_path: Path, profile: Profile, monkeypatch: pytest.MonkeyPatch, chunk_rows: int
) -> None:
    monkeypatch.setattr(sync.snapshot, "CHUNK_ROWS", chunk_rows)
    path = tmp_path / "snapshot.jsonl"
    written = _write_from_index(path, profile)
    _head, chunks = _chunks_of(path)
    sizes = [len(records) for _columns, records in chunks]
    assert sizes == [min(chunk_rows, 5 - at) for at in range(0, 5, chunk_rows)]
    snapshot = read_snapshot(path)
    assert snapshot is not None
    assert [len(chunk) for chunk in snapshot.stored] == sizes
    index = Index.build_stored(snapshot.stored, profile, version=42)
    # the written index's order (its maps' shard order), whatever the chunk boundaries
    assert list(index.entries()) == list(written.entries())
    assert _by_reference(index.entries()) == entries(5) and all(blocks(index, i) for i in range(5))


def test_an_empty_index_is_a_file_of_no_chunks(tmp_path: Path, profile: Profile) -> None:
    path = tmp_path / "snapshot.jsonl"
    _write_from_index(path, profile, 0)
    assert path.read_bytes().endswith(b"}\n") and len(path.read_bytes().splitlines()) == 1
    snapshot = read_snapshot(path)
    assert snapshot is not None and snapshot.stored == [] and len(snapshot) == 0


@pytest.mark.parametrize("chunk_rows", [2, 4096])
def test_entries_sharing_a_number_all_block_from_stored_rows(
    tmp_path: Path, profile: Profile, monkeypatch: pytest.MonkeyPatch, chunk_rows: int
) -> None:
    monkeypatch.setattr(sync.snapshot, "CHUNK_ROWS", chunk_rows)
    # entries 1, 2 and 4 hold the same number (in one chunk, or in three); entry 2 holds it twice
    # as well as two numbers of its own
    listed = entries(5)
    listed[4] = Entry.from_dict(
        {"reference": "UPC-000004", "prisoner": "B2345CD", "protected": [{"phones": [phone(1)]}]}
    )
    listed[2] = Entry.from_dict(
        {
            "reference": "UPC-000002",
            "prisoner": "C3456DE",
            "protected": [{"phones": [phone(2), phone(1)]}, {"phones": [phone(1), phone(9)]}],
        }
    )
    index = Index.build(listed, profile, version=3)
    again = _through_a_file(tmp_path, index, profile)
    assert again.counts() == index.counts()
    for number in (phone(1), phone(2), phone(9)):
        assert again.screen_call("HLI", "Z9999ZZ", number) == index.screen_call("HLI", "Z9999ZZ", number)
    matches = again.screen_call("HLI", "Z9999ZZ", phone(1)).matches
    assert sorted(m.reference for m in matches) == ["UPC-000001", "UPC-000002", "UPC-000004"]
    assert again.screen_call("HLI", "B2345CD", phone(4)).decision == "allow"  # entry 4's old number


@pytest.mark.parametrize("chunk_rows", [2, 4096])
def test_a_reference_twice_in_stored_rows_rejects_the_file(
    tmp_path: Path, profile: Profile, monkeypatch: pytest.MonkeyPatch, chunk_rows: int
) -> None:
    monkeypatch.setattr(sync.snapshot, "CHUNK_ROWS", chunk_rows)
    path = tmp_path / "snapshot.jsonl"
    _write_from_index(path, profile)

    def rename_last(columns: Columns) -> None:
        columns[0] = ["UPC-000000" if r == "UPC-000004" else r for r in columns[0]]

    _edit_chunks(path, _columns_only(rename_last))
    with pytest.raises(SnapshotRejected, match="a reference appears twice"):
        read_snapshot(path)


@pytest.mark.parametrize("chunk_rows", [2, 4096])
def test_build_stored_names_a_reference_given_twice(profile: Profile, chunk_rows: int) -> None:
    rows = [(stored_row(e, ((f"+4477009{i:05d}",), ())), e.record_json()) for i, e in enumerate(entries(5))]
    rows.append(rows[0])
    chunks = [StoredColumns.from_rows(rows[i : i + chunk_rows]) for i in range(0, len(rows), chunk_rows)]
    with pytest.raises(ValidationError, match="UPC-000000: reference"):
        Index.build_stored(chunks, profile)


async def test_keys_are_reused_only_under_the_same_stamp(tmp_path: Path, profile: Profile) -> None:
    path = tmp_path / "snapshot.jsonl"
    _write_from_index(path, profile)
    other = phone(777)

    def swap_first_phone_key(columns: Columns) -> None:
        at = columns[0].index("UPC-000000")  # one phone key per entry: its key is at the same place
        columns[4][at] = "+447700900777"  # phone(777) as UPC-000000's key

    _edit_chunks(path, _columns_only(swap_first_phone_key))
    snapshot = read_snapshot(path)
    assert snapshot is not None
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
        "reference": "UPC-X",
        "prisoner": "A1234BC",
        "protected": [{"phones": [phone(1)]}],
        "exemptions": [{"prisoner": "B2345CD", "identifier": phone(1), "reason": "shared"}],
    }
    listed = [
        Entry.from_dict({"reference": "UPC-A", "prisoner": "A1234BC", "protected": [person]}),
        Entry.from_dict(exempted),
    ]
    index = Index.build(listed, profile, version=3)
    again = _through_a_file(tmp_path, index, profile)
    envelope = "Mrs J Smith\n14 High Street\nHull\nHU1 2AB"
    assert (
        again.screen_mail("HLI", "Z9999ZZ", envelope).decision
        == index.screen_mail("HLI", "Z9999ZZ", envelope).decision
        == "block"
    )
    assert again.screen_call("HLI", "B2345CD", phone(1)).decision == "allow"  # the exemption holds
    assert again.screen_call("HLI", "C3456DE", phone(1)).decision == "block"


def test_an_index_built_from_a_file_is_written_again_from_its_records_undecoded(
    tmp_path: Path, profile: Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, again = tmp_path / "snapshot.jsonl", tmp_path / "again.jsonl"
    _write_from_index(path, profile, 20)
    snapshot = read_snapshot(path)
    assert snapshot is not None
    index = Index.build_stored(snapshot.stored, profile, version=42)
    decoded: list[bytes] = []
    from_record_json = Entry.from_record_json

    def spy(raw: bytes) -> Entry:
        decoded.append(raw)
        return from_record_json(raw)

    monkeypatch.setattr(Entry, "from_record_json", spy)
    write_snapshot(again, epoch="e1", version=42, stream_id="5-0", index=index)
    assert decoded == []  # the records as read, not decoded and encoded again
    assert _chunks_of(again)[1] == _chunks_of(path)[1]
    assert _by_reference(index.entries()) == entries(20) and len(decoded) == 20  # asked for: decoded


def test_stored_chunks_are_the_entries_with_their_keys_however_the_index_holds_them(
    tmp_path: Path, profile: Profile
) -> None:
    address = {"lines": ["14 High Street", "Hull"], "postcode": "HU1 2AB"}
    listed = [
        *entries(6),
        Entry.from_dict({"reference": "UPC-A", "prisoner": "A1234BC", "scope": ["HLI", "WYI"],
                         "protected": [{"name": "Jane Smith", "addresses": [address]}]}),
        Entry.from_dict({"reference": "UPC-X", "prisoner": "A1234BC",
                         "protected": [{"phones": [phone(1), phone(1)], "emails": ["x@example.com"]}],
                         "exemptions": [{"prisoner": "B2345CD", "identifier": phone(1), "reason": "r"}]}),
        Entry.from_dict({"reference": "UPC-S", "prisoner": "D4567EF", "scope": ["WYI", "HLI", "FHI", "MHI"],
                         "protected": [{"phones": [phone(30), phone(31)], "emails": ["s@example.com"]}]}),
    ]  # fmt: skip
    changed = Entry.from_dict({"reference": "UPC-000002", "prisoner": "C3456DE", "scope": ["HLI"],
                               "protected": [{"phones": [phone(2), phone(12)]}]})  # fmt: skip
    for size in (1, 3, 100):
        index = _through_a_file(tmp_path, Index.build(listed, profile, version=3), profile)
        assert index.entry("UPC-000001") == listed[1]  # decoded since
        index = index.with_changes([make_entry(7), changed], ["UPC-000003"], version=4)
        got = [(chunk.columns(), chunk.records) for chunk in index.stored_chunks(size)]
        pairs = list(index.entries_with_keys())  # decodes every entry
        expected = [StoredColumns.from_entries(pairs[i : i + size]) for i in range(0, len(pairs), size)]
        assert got == [(chunk.columns(), chunk.records) for chunk in expected]
        assert sum(len(records) for _columns, records in got) == 9


def test_a_record_that_needs_compiling_is_written_to_be_compiled_whatever_its_row_said(
    profile: Profile,
) -> None:
    address = {"lines": ["14 High Street", "Hull"], "postcode": "HU1 2AB"}
    listed = [
        Entry.from_dict({"reference": "UPC-A", "prisoner": "A1234BC",
                         "protected": [{"name": "Jane Smith", "addresses": [address]}]}),
        Entry.from_dict({"reference": "UPC-X", "prisoner": "A1234BC", "protected": [{"phones": [phone(1)]}],
                         "exemptions": [{"prisoner": "B2345CD", "identifier": phone(1), "reason": "r"}]}),
    ]  # fmt: skip
    stored = StoredColumns.from_entries(Index.build(listed, profile).entries_with_keys())
    assert stored.whole == [True, True]
    stored.whole[:] = [False, False]  # as if they needed no compiling: held as their records
    index = Index.build_stored([stored], profile)
    (chunk,) = index.stored_chunks(10)
    assert chunk.records == stored.records and chunk.whole == [True, True]
    assert dict(zip(chunk.references, chunk.addresses, strict=True)) == {"UPC-A": 1, "UPC-X": 0}


def _shorten_a_column(columns: Columns, _records: list[bytes]) -> None:
    del columns[5][-1]


def _drop_a_column(columns: Columns, _records: list[bytes]) -> None:
    del columns[-1]


def _a_reference_not_a_string(columns: Columns, _records: list[bytes]) -> None:
    columns[0][1] = 17


def _a_count_not_a_number(columns: Columns, _records: list[bytes]) -> None:
    columns[8][1] = "1"


def _a_key_too_many(columns: Columns, _records: list[bytes]) -> None:
    columns[4].append("+447700900999")


def _a_record_less(_columns: Columns, records: list[bytes]) -> None:
    del records[-1]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_shorten_a_column, "{chunk}: not a snapshot chunk"),
        (_drop_a_column, "{chunk}: not a snapshot chunk"),
        (_a_reference_not_a_string, "{chunk}: not a snapshot chunk"),
        (_a_key_too_many, "{chunk}: not a snapshot chunk"),
        (_a_record_less, "{chunk}: not a snapshot chunk"),
        (_a_count_not_a_number, "a count is not a number"),
    ],
)
def test_a_chunk_of_the_wrong_shape_rejects_the_file(
    tmp_path: Path, profile: Profile, edit: Callable[[Columns, list[bytes]], None], message: str
) -> None:
    path = tmp_path / "snapshot.jsonl"
    _write_from_index(path, profile)
    _edit_chunks(path, edit)
    with pytest.raises(SnapshotRejected, match=message.format(chunk="frame 1")):
        read_snapshot(path)


def _frames_file(path: Path, profile: Profile, monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, list[bytes]]:
    """5 entries in frames of 2, 2 and 1: the header line and the frames."""
    monkeypatch.setattr(sync.snapshot, "CHUNK_ROWS", 2)
    _write_from_index(path, profile)
    head, _, body = path.read_bytes().partition(b"\n")
    frames = frames_of(body)
    assert [len(marshal.loads(frame)[1]) for frame in frames] == [2, 2, 1]
    assert framed(frames) == body
    return head, frames


def test_a_frame_twice_with_counts_and_digest_made_to_agree_still_rejects(
    tmp_path: Path, profile: Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "snapshot.jsonl"
    head, frames = _frames_file(path, profile, monkeypatch)
    rewrite_body(path, head, framed([*frames, frames[2]]), entries=6, identifiers=12)
    with pytest.raises(SnapshotRejected, match="a reference appears twice"):
        read_snapshot(path)


def _length_changed(frames: list[bytes], at: int, length: int) -> bytes:
    """The frames with frame `at`'s length field saying `length`."""
    heads = [FRAME_HEAD.pack(length if n == at else len(f)) for n, f in enumerate(frames)]
    return b"".join(h + f for h, f in zip(heads, frames, strict=True))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (lambda f: framed(f)[:-30], r"frame 3: \d+ bytes long, \d+ left"),  # a partial last frame
        (lambda f: framed(f[:2]) + framed(f[2:])[:5], "frame 3: truncated"),  # a partial length
        (lambda f: framed(f) + b"\0\0\0", "frame 4: truncated"),  # bytes after the last frame
        (lambda f: _length_changed(f, 2, len(f[2]) + 1), r"frame 3: \d+ bytes long, \d+ left"),
        (lambda f: _length_changed(f, 2, len(f[2]) - 1), "frame 4: truncated"),
        (lambda f: _length_changed(f, 0, 1 << 63), f"frame 1: {1 << 63} bytes long"),
        # frame 2 short of its last 9 bytes: frame 3's length is read from inside frame 2
        (lambda f: _length_changed(f, 1, len(f[1]) - 9), r"frame 3: \d+ bytes long, \d+ left"),
        (lambda f: framed([f[0], b"not marshal data", f[2]]), "frame 2: not a snapshot chunk"),
        (lambda f: framed([f[0], f[1][:-1], f[2]]), "frame 2: not a snapshot chunk"),  # cut short inside
        (lambda f: framed([f[0], marshal.dumps({"columns": []}), f[2]]), "frame 2: not a snapshot chunk"),
        (lambda f: framed([f[0], marshal.dumps([[], [], []]), f[2]]), "frame 2: not a snapshot chunk"),
        (lambda f: framed([f[0], f[1], marshal.dumps(marshal.loads(f[2])[:1])]), "frame 3: not a snapshot"),
        (lambda f: framed([f[0], f[1]]), "header says 5 entries, file holds 4"),
        (lambda f: framed([*f, f[2]]), "header says 5 entries, file holds 6"),
        (lambda f: framed([f[0], f[1], f[1]]), "header says 5 entries, file holds 6"),
    ],
)
def test_a_file_whose_frames_disagree_is_rejected_even_with_its_digest_made_to_agree(
    tmp_path: Path, profile: Profile, monkeypatch: pytest.MonkeyPatch, body: Callable[[list[bytes]], bytes],
    message: str,
) -> None:  # fmt: skip
    path = tmp_path / "snapshot.jsonl"
    head, frames = _frames_file(path, profile, monkeypatch)
    rewrite_body(path, head, body(frames))
    with pytest.raises(SnapshotRejected, match=message) as info:
        read_snapshot(path)
    assert str(path) in str(info.value)


def _records_as_str(frames: list[bytes]) -> bytes:
    columns, records = marshal.loads(frames[1])
    return framed([frames[0], marshal.dumps([columns, [r.decode() for r in records]]), frames[2]])


def test_a_record_must_be_bytes(tmp_path: Path, profile: Profile, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "snapshot.jsonl"
    head, frames = _frames_file(path, profile, monkeypatch)
    rewrite_body(path, head, _records_as_str(frames))
    with pytest.raises(SnapshotRejected, match="frame 2: not a snapshot chunk"):
        read_snapshot(path)


def _flip_in_frame(frames: list[bytes]) -> bytes:
    out = bytearray(framed(frames))
    out[FRAME_HEAD.size + 20] ^= 0x04  # inside frame 1's body: its length still right
    return bytes(out)


@pytest.mark.parametrize(
    ("body", "header", "message"),
    [
        (_flip_in_frame, {}, "digest mismatch"),
        (framed, {"sha256": "0" * 64}, "digest mismatch"),
        (lambda f: framed([f[0], f[2], f[1]]), {}, "digest mismatch"),  # frames in another order
        (lambda f: framed(f)[:-30], {}, r"frame 3: \d+ bytes long"),  # cut short: its frame says so
        (framed, {"entries": 6}, "header says 6 entries, file holds 5"),
        (framed, {"identifiers": 11}, "identifier count"),
    ],
)
def test_marshal_never_reads_a_frame_before_the_digest_matches(
    tmp_path: Path, profile: Profile, monkeypatch: pytest.MonkeyPatch, body: Callable[[list[bytes]], bytes],
    header: dict[str, object], message: str,
) -> None:  # fmt: skip
    path = tmp_path / "snapshot.jsonl"
    head, frames = _frames_file(path, profile, monkeypatch)
    loaded: list[bytes] = []

    def loads(data: bytes) -> Any:
        loaded.append(data)
        return marshal.loads(data)

    monkeypatch.setattr(sync.snapshot, "marshal", types.SimpleNamespace(loads=loads, dumps=marshal.dumps))
    assert read_snapshot(path) is not None and loaded == frames  # each frame once, in order
    loaded.clear()
    edited = json.loads(head)
    edited.update(header)
    path.write_bytes(json.dumps(edited).encode() + b"\n" + body(frames))
    with pytest.raises(SnapshotRejected, match=message):
        read_snapshot(path)
    # only the counts are checked after decoding: every frame was digested first
    assert loaded == (frames if "entries" in header or "identifiers" in header else [])


def test_a_header_without_a_key_stamp_is_rejected(tmp_path: Path, profile: Profile) -> None:
    path = tmp_path / "snapshot.jsonl"
    _write_from_index(path, profile)
    head, _, body = path.read_bytes().partition(b"\n")
    rewrite_body(path, head, body, keys=None)
    with pytest.raises(SnapshotRejected, match="header field 'keys'"):
        read_snapshot(path)


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"entries": 6}, "header says 6 entries, file holds 5"), ({"identifiers": 11}, "identifier count")],
)
def test_counts_are_checked_against_the_header(
    tmp_path: Path, profile: Profile, changes: dict[str, int], message: str
) -> None:
    path = tmp_path / "snapshot.jsonl"
    _write_from_index(path, profile)
    head, _, body = path.read_bytes().partition(b"\n")
    rewrite_body(path, head, body, **changes)
    with pytest.raises(SnapshotRejected, match=message):
        read_snapshot(path)


def test_a_write_frees_its_frames_a_few_at_a_time(
    tmp_path: Path, profile: Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each frame goes back to the system as it is freed: a whole file's frames freed in one C call
    held the GIL long enough to stall the event loop at 1M entries."""
    monkeypatch.setattr(sync.snapshot, "CHUNK_ROWS", 2)
    cuts: list[int] = []

    class Frames(list[bytes]):
        def __delitem__(self, key: Any) -> None:
            cuts.append(len(self[key]))
            super().__delitem__(key)

    monkeypatch.setattr(sync.snapshot, "release", _releasing_through(Frames))
    index = _write_from_index(tmp_path / "snapshot.jsonl", profile, n=21)
    assert sum(cuts) == 2 * 11  # 11 frames of at most 2 rows, each with its length head
    assert cuts and max(cuts) <= sync.snapshot.FRAMES_PER_RELEASE
    snapshot = read_snapshot(tmp_path / "snapshot.jsonl")
    assert snapshot is not None and len(snapshot) == index.entry_count == 21


def _releasing_through(kind: type[list[bytes]]) -> Callable[..., None]:
    """sync.snapshot.release, with the list copied into `kind` first (to watch its slices)."""
    real = sync.snapshot.release

    def release(items: list[bytes], step: int) -> None:
        watched = kind(items)
        items.clear()
        real(watched, step)

    return release
