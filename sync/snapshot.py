"""The local last-good snapshot file a gateway cold-starts from when Redis is slow or down.

A local cache the follower can always rebuild from Redis: a file that is partial, corrupt, of another
format or whose frames, counts or digest disagree is rejected whole, and the gateway resyncs.

Line 1 is the header, one JSON document: ``{"format": "nocontact-snapshot", "format_version": 4,
"epoch": ..., "version": ..., "stream_id": ..., "entries": N, "identifiers": M, "normalisers":
{...}, "keys": STAMP, "sha256": HEX}`` where sha256 is the digest of every byte after the header
line and ``keys`` is ``matcher.stored.key_stamp`` of the profile that built the index. Then one frame
per chunk of up to CHUNK_ROWS entries: the length of what follows as 8 bytes (big-endian), then
``marshal.dumps([columns, records], 4)``: the columns of the entries' stored rows
(``matcher.stored.StoredColumns.columns``) and each entry's ``Entry.record_json``. marshal is not
safe on bytes from anyone else: this file is local, written by this code, and its digest is checked
over every frame before any frame is given to ``marshal.loads``.

Written to a temporary file in the same directory, fsynced, then ``os.replace``d over the old one
(and the directory fsynced), so a reader sees the old file or the new one, never a mix. A file that
passes is what this code wrote from a built index, so it is loaded without validating again: through
``Index.build_stored`` when its stamp is this profile's, which reuses the keys and decodes an entry
only when someone asks for it.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from matcher.entries import Entry
from matcher.layered import SHARDS
from matcher.stored import StoredColumns, key_stamp
from sync.atomic import atomic_write
from sync.errors import SnapshotRejected
from sync.offloop.retire import release

if TYPE_CHECKING:
    from matcher.index import Index

FORMAT = "nocontact-snapshot"
FORMAT_VERSION = 4
CHUNK_ROWS = 4096  # entries per frame: one frame's marshal.loads holds the GIL, so frames stay small
MARSHAL_VERSION = 4
FRAME_HEAD = struct.Struct(">Q")  # a frame's length
FRAMES_PER_RELEASE = 8  # list items (4 frames, 4 heads) freed per C call after a write

_DIGEST_MISMATCH = "digest mismatch (partial or corrupt file)"


@dataclass(frozen=True, slots=True)
class Snapshot:
    epoch: str
    version: int
    stream_id: str
    identifiers: int
    stored: list[StoredColumns]  # the entries' stored rows and records...
    key_stamp: Mapping[str, str]  # ...keyed as matcher.stored.key_stamp says
    normalisers: Mapping[str, str] = field(default_factory=dict)
    # False when read_snapshot left "every reference once" to the build that follows (the cold
    # start's): a build from stored rows raises DuplicateReference; any other use checks first.
    references_checked: bool = True

    @property
    def entries(self) -> list[Entry]:
        return [Entry.from_record_json(record) for chunk in self.stored for record in chunk.records]

    def __len__(self) -> int:
        return sum(len(chunk) for chunk in self.stored)


def write_snapshot(
    path: Path,
    *,
    epoch: str,
    version: int,
    stream_id: str,
    index: Index,
    normalisers: Mapping[str, str] | None = None,
) -> int:
    """Write `index` atomically, its entries with their keys; returns the number written."""
    digest = hashlib.sha256()
    frames: list[bytes] = []  # each frame's length and its body
    count = identifiers = 0
    for chunk in index.stored_chunks(CHUNK_ROWS):
        frame = marshal.dumps([chunk.columns(), chunk.records], MARSHAL_VERSION)
        for part in (FRAME_HEAD.pack(len(frame)), frame):
            digest.update(part)  # hashlib lets the GIL go while it hashes a big one
            frames.append(part)
        count += len(chunk)
        identifiers += chunk.identifier_count()
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "epoch": epoch,
        "version": version,
        "stream_id": stream_id,
        "entries": count,
        "identifiers": identifiers,
        "normalisers": dict(normalisers or {}),
        "keys": key_stamp(index.profile),
        "sha256": digest.hexdigest(),
    }
    atomic_write(path, [(json.dumps(header, sort_keys=True) + "\n").encode(), *frames])
    # freed a few at a time (this runs in a worker thread): each frame goes back to the system
    # (munmap) as it is freed, and all of them in one C call held the GIL for a long while
    release(frames, FRAMES_PER_RELEASE)
    return count


def read_snapshot(path: Path, *, references_by_build: bool = False) -> Snapshot | None:
    """None when there is no file; SnapshotRejected (naming the problem) when it is not valid.
    The frames are read one at a time: reading the file whole and freeing it whole would each be
    one GIL-holding C call, and this runs in a worker thread beside a serving event loop.
    `references_by_build`: every check but "each reference once", which the build from the stored
    rows makes anyway as it indexes them by reference (sync.building.IndexBuilder.from_snapshot;
    a set of a million references here as well cost the cold start a quarter of its read)."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SnapshotRejected(str(path), f"cannot read: {exc.strerror}") from None
    with fh:
        try:
            return _read_open(path, fh, references_by_build)
        except OSError as exc:
            raise SnapshotRejected(str(path), f"cannot read: {exc.strerror}") from None


def _read_open(path: Path, fh: BinaryIO, references_by_build: bool) -> Snapshot:
    head = fh.readline()
    if not head.endswith(b"\n"):
        raise SnapshotRejected(str(path), "no complete header line")
    try:
        header: Any = json.loads(head)
    except ValueError:
        raise SnapshotRejected(str(path), "header is not JSON") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise SnapshotRejected(str(path), "not a nocontact snapshot")
    format_version = header.get("format_version")
    if format_version != FORMAT_VERSION:
        # an older format too: the follower rebuilds from Redis, as for a corrupt file
        raise SnapshotRejected(str(path), f"unsupported format_version {format_version!r}")
    try:
        epoch = _field(header, "epoch", str)
        version = _field(header, "version", int)
        stream_id = _field(header, "stream_id", str)
        count = _field(header, "entries", int)
        identifiers = _field(header, "identifiers", int)
        expected_digest = _field(header, "sha256", str)
        normalisers = _field(header, "normalisers", dict)
        stamp = _field(header, "keys", dict)
    except KeyError as exc:
        raise SnapshotRejected(str(path), f"header field {exc.args[0]!r} missing or mistyped") from None
    stored = _framed_chunks(path, _frames(path, fh, expected_digest))
    _check_counts(path, stored, count, identifiers)
    if not references_by_build and not references_distinct(stored):
        raise SnapshotRejected(str(path), "a reference appears twice")
    return Snapshot(
        epoch, version, stream_id, identifiers, stored, stamp, normalisers, not references_by_build
    )


def _check_counts(path: Path, stored: list[StoredColumns], count: int, identifiers: int) -> None:
    """The header's counts against what the file holds."""
    held = sum(len(chunk) for chunk in stored)
    if held != count:
        raise SnapshotRejected(str(path), f"header says {count} entries, file holds {held}")
    try:
        counted = sum(chunk.identifier_count() for chunk in stored)
    except TypeError:
        raise SnapshotRejected(str(path), "a count is not a number") from None
    if counted != identifiers:
        raise SnapshotRejected(str(path), "identifier count does not match the header")


def references_distinct(stored: list[StoredColumns]) -> bool:
    """Every reference once."""
    held = sum(len(chunk) for chunk in stored)
    return _distinct(reference for chunk in stored for reference in chunk.references) == held


def _frames(path: Path, fh: BinaryIO, expected_digest: str) -> list[bytes]:
    """The frames, each read in one call (the read and the hashing let the GIL go), and the
    digest of every byte of them checked before any is decoded."""
    left = os.fstat(fh.fileno()).st_size - fh.tell()
    digest = hashlib.sha256()
    frames: list[bytes] = []
    while head := fh.read(FRAME_HEAD.size):
        number = len(frames) + 1
        if len(head) < FRAME_HEAD.size:
            raise SnapshotRejected(str(path), f"frame {number}: truncated")
        (length,) = FRAME_HEAD.unpack(head)
        left -= FRAME_HEAD.size
        if length > left:
            raise SnapshotRejected(str(path), f"frame {number}: {length} bytes long, {max(left, 0)} left")
        frame = fh.read(length)
        if len(frame) != length:  # the file shrank as it was read
            raise SnapshotRejected(str(path), f"frame {number}: truncated")
        left -= length
        digest.update(head)
        digest.update(frame)
        frames.append(frame)
    if digest.hexdigest() != expected_digest:
        raise SnapshotRejected(str(path), _DIGEST_MISMATCH)
    return frames


def _framed_chunks(path: Path, frames: list[bytes]) -> list[StoredColumns]:
    """Only after the digest matched (marshal must never see bytes it did not write). Each frame's
    shape is checked (so many columns, each with an item per record; records as bytes), and each
    frame is let go once decoded."""
    chunks: list[StoredColumns] = []
    loads = marshal.loads
    frames.reverse()
    while frames:
        frame = frames.pop()
        try:
            decoded = loads(frame)
            if type(decoded) is not list or len(decoded) != 2:
                raise ValueError("frame")
            columns, records = decoded
            if type(records) is not list or set(map(type, records)) - {bytes}:
                raise ValueError("records")
            chunks.append(StoredColumns.from_columns(columns, records))
        except (ValueError, TypeError, EOFError):
            raise SnapshotRejected(str(path), f"frame {len(chunks) + 1}: not a snapshot chunk") from None
    return chunks


def _distinct(references: Iterable[str]) -> int:
    """How many distinct references, counted in sharded sets (one set of a million strings grows
    in long resizes that hold the GIL)."""
    shards: list[set[str]] = [set() for _ in range(SHARDS)]
    for reference in references:
        shards[hash(reference) % SHARDS].add(reference)
    count = 0
    while shards:  # freed a set at a time: all of them in one go is one long GIL-holding call
        count += len(shards.pop())
    return count


def _field(header: Mapping[str, Any], name: str, kind: type) -> Any:
    value = header.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise KeyError(name)
    return value
