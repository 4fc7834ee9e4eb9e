"""The local last-good snapshot file a gateway cold-starts from when Redis is slow or down.

Line 1 is the header, one JSON document: ``{"format": "nocontact-snapshot", "format_version": 4,
"epoch": ..., "version": ..., "stream_id": ..., "entries": N, "identifiers": M, "normalisers":
{...}, "keys": STAMP | null, "sha256": HEX}`` where sha256 is the digest of every byte after the
header line and ``keys`` is ``matcher.index.key_stamp`` of the profile that built the index. Then:

- format 4 (written from an index): one frame per chunk of up to CHUNK_ROWS entries: the length of
  what follows as 8 bytes (big-endian), then ``marshal.dumps([columns, records], 4)``: the columns
  of the entries' ``matcher.index.stored_row`` rows (``matcher.index.StoredColumns.columns``:
  references, prisoners, scopes, the phone keys counted per entry and listed in a row, so the email
  keys, counts of phones, emails and addresses, whole flags) and each entry's ``Entry.record_json``.
  marshal is not safe on bytes from anyone else: this file is local, written by this code, and its
  digest is checked over every frame before any frame is given to ``marshal.loads``. marshal
  version 4 holds only the basic types here (lists, str, int, bool, None, bytes); a file that
  another Python cannot read is rejected like any other, and the gateway resyncs from Redis;
- format 3 (as older code wrote from an index): one line per chunk: the JSON array of those
  columns, then for each entry a tab and its record;
- format 2 (written from entries, ``keys`` null; or, by older code, from an index): then N lines,
  one entry each: the JSON array of ``Entry.to_record``; or, with a stamp, the JSON array of the
  entry's ``stored_row``, a tab, then that record;
- format 1 (older code): one ``encode_entry`` object per line, validated one by one when read.

Written to a temporary file in the same directory, fsynced, then ``os.replace``d over the old one
(and the directory fsynced), so a reader sees the old file or the new one, never a mix. A file
that is partial, corrupt, of another format or whose frames, counts or digest disagree is rejected
whole. A file that passes is what this code wrote from a built index, so it is loaded without
validating again: entries through ``Entry.from_record``, and with a stamp equal to this profile's,
through ``Index.build_stored``, which reuses the keys, puts the entries that need no compiling in
from C (``matcher._speedups.stored_run``) and decodes an entry only when someone asks for it.
Measured at 1M phone entries (``benchmarks/bench_sync.py``, interleaved): a format 3 cold start
took 2.9 s (Index.build 1.9 s); with the rows put in from C, 2.0 s; a chunk's frame decodes in one
``marshal.loads`` (~1 ms, like the ~2 ms ``orjson.loads`` of a format 3 line) with its records as
bytes already, where format 3 split every line into its records. An index built so is written
again from those records (``Index.stored_chunks``): the first write after a cold start no longer
decodes and encodes every entry (1M: 5.9-6.0 s -> 3.0-3.2 s, peak RSS 1.16 -> 0.67 GB).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import marshal
import os
import struct
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson

from matcher.entries import Entry
from matcher.errors import ValidationError
from matcher.index import STORED_ROW_LENGTH, StoredColumns, key_stamp
from matcher.layered import SHARDS
from sync.changes import decode_entry
from sync.errors import SnapshotRejected
from sync.offloop.collector import gc_paused
from sync.offloop.retire import RELEASE_SLICE, release
from sync.offloop.workers import run_in_worker

if TYPE_CHECKING:
    from matcher.index import Index

FORMAT = "nocontact-snapshot"
FORMAT_VERSION = 4  # written from an index; a file written from bare entries is format 2
READABLE_VERSIONS = (1, 2, 3, 4)
WRITABLE_INDEX_VERSIONS = (3, 4)  # format 3 for tests of the files older code wrote
CHUNK_ROWS = 4096  # entries per frame (format 3: line): one marshal.loads of ~600 kB holds the GIL ~1 ms
MARSHAL_VERSION = 4
FRAME_HEAD = struct.Struct(">Q")  # a format 4 frame's length
READ_BLOCK = 1 << 20
FRAMES_PER_RELEASE = 8  # list items (4 frames, 4 heads) freed per C call after a format 4 write
SETTLE_MAX = 10.0  # seconds a background snapshot write waits for the follower to settle (retirement)

log = logging.getLogger("nocontact.sync")
_DIGEST_MISMATCH = "digest mismatch (partial or corrupt file)"


@dataclass(frozen=True, slots=True)
class Snapshot:
    epoch: str
    version: int
    stream_id: str
    loaded: list[Entry] | None  # the entries (format 1, or format 2 without keys)...
    identifiers: int
    normalisers: Mapping[str, str] = field(default_factory=dict)
    stored: list[StoredColumns] | None = None  # ...or the entries' stored rows and records, when...
    key_stamp: Mapping[str, str] | None = None  # ...stamped by matcher.index.key_stamp

    @property
    def entries(self) -> list[Entry]:
        if self.loaded is not None:
            return self.loaded
        assert self.stored is not None
        return [Entry.from_record_json(record) for chunk in self.stored for record in chunk.records]

    def __len__(self) -> int:
        if self.loaded is not None:
            return len(self.loaded)
        return sum(len(chunk) for chunk in self.stored or ())


def write_snapshot(
    path: Path,
    *,
    epoch: str,
    version: int,
    stream_id: str,
    entries: Iterable[Entry] = (),
    normalisers: Mapping[str, str] | None = None,
    index: Index | None = None,
    format_version: int = FORMAT_VERSION,
) -> int:
    """Write atomically; returns the number of entries written. With `index`, its entries are
    written with their keys (and `entries` is ignored), as format 4 or, asked, 3; without, format 2."""
    if index is not None and format_version not in WRITABLE_INDEX_VERSIONS:
        raise ValueError(f"an index is written as format {WRITABLE_INDEX_VERSIONS}, not {format_version!r}")
    digest = hashlib.sha256()
    lines: list[bytes] = []  # format 4: each frame's length and its body
    count = identifiers = 0
    dumps = orjson.dumps
    if index is not None:
        for chunk in index.stored_chunks(CHUNK_ROWS):
            if format_version == 4:
                frame = marshal.dumps([chunk.columns(), chunk.records], MARSHAL_VERSION)
                written = [FRAME_HEAD.pack(len(frame)), frame]
            else:
                written = [b"\t".join([dumps(chunk.columns()), *chunk.records]) + b"\n"]
            for part in written:
                digest.update(part)  # hashlib lets the GIL go while it hashes a big one
            lines += written
            count += len(chunk)
            identifiers += chunk.identifier_count()
    else:
        format_version = 2
        for entry in entries:
            line = dumps(entry.to_record()) + b"\n"
            digest.update(line)
            lines.append(line)
            count += 1
            identifiers += entry.identifier_count()
    header = {
        "format": FORMAT,
        "format_version": format_version,
        "epoch": epoch,
        "version": version,
        "stream_id": stream_id,
        "entries": count,
        "identifiers": identifiers,
        "normalisers": dict(normalisers or {}),
        "keys": None if index is None else key_stamp(index.profile),
        "sha256": digest.hexdigest(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as fh:
            fh.write((json.dumps(header, sort_keys=True) + "\n").encode())
            fh.writelines(lines)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)  # os.replace: atomic within the directory
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)
    # freed in slices (this runs in a worker thread): a million lines (format 2), or frames of
    # ~600 kB (format 4), each handed back to the system (munmap) as it goes: 250 of them freed
    # in one C call held the GIL ~15 ms at 1M entries
    release(lines, FRAMES_PER_RELEASE if format_version == 4 else RELEASE_SLICE)
    return count


def read_snapshot(path: Path) -> Snapshot | None:
    """None when there is no file; SnapshotRejected (naming the problem) when it is not valid.
    The body is read in blocks, twice (digest, then lines) from one open file: reading it whole,
    splitting it whole and freeing it whole were each one GIL-holding C call of 20-170 ms at 1M
    entries, and this runs in a worker thread beside a serving event loop."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SnapshotRejected(str(path), f"cannot read: {exc.strerror}") from None
    with fh:
        try:
            return _read_open(path, fh)
        except OSError as exc:
            raise SnapshotRejected(str(path), f"cannot read: {exc.strerror}") from None


def _read_open(path: Path, fh: BinaryIO) -> Snapshot:
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
    if format_version not in READABLE_VERSIONS or isinstance(format_version, bool):
        raise SnapshotRejected(str(path), f"unsupported format_version {header.get('format_version')!r}")
    try:
        epoch = _field(header, "epoch", str)
        version = _field(header, "version", int)
        stream_id = _field(header, "stream_id", str)
        count = _field(header, "entries", int)
        identifiers = _field(header, "identifiers", int)
        expected_digest = _field(header, "sha256", str)
        normalisers = _field(header, "normalisers", dict)
        stamp = header.get("keys") if format_version >= 2 else None
        if stamp is not None and not isinstance(stamp, dict):
            raise KeyError("keys")
        if format_version >= 3 and stamp is None:
            raise KeyError("keys")
    except KeyError as exc:
        raise SnapshotRejected(str(path), f"header field {exc.args[0]!r} missing or mistyped") from None
    loaded: list[Entry] | None = None
    stored: list[StoredColumns] | None = None
    if format_version == 4:
        stored = _framed_chunks(path, _frames(path, fh, expected_digest))
        _check_counts(path, None, stored, count, identifiers)
        return Snapshot(epoch, version, stream_id, None, identifiers, normalisers, stored, stamp)
    digest = hashlib.sha256()
    for block in iter(functools.partial(fh.read, READ_BLOCK), b""):
        digest.update(block)  # hashlib lets the GIL go while it hashes a block
    if digest.hexdigest() != expected_digest:
        raise SnapshotRejected(str(path), _DIGEST_MISMATCH)
    fh.seek(len(head))
    lines = _lines(fh)
    held = len(lines)
    if format_version == 3:
        stored = _stored_chunks(path, lines)
    elif held == count:  # formats 1 and 2: a line per entry
        if format_version == 1:
            loaded = _validated_entries(path, lines)
        elif stamp is None:
            loaded = _trusted_entries(path, lines)
        else:
            stored = _stored_rows(path, lines)
    release(lines)
    if loaded is None and stored is None:
        raise SnapshotRejected(str(path), f"header says {count} entries, file holds {held}")
    _check_counts(path, loaded, stored, count, identifiers)
    return Snapshot(epoch, version, stream_id, loaded, identifiers, normalisers, stored, stamp)


def _check_counts(
    path: Path, loaded: list[Entry] | None, stored: list[StoredColumns] | None, count: int, identifiers: int
) -> None:
    """The header's counts against what the file holds, and every reference once."""
    if stored is not None:
        held = sum(len(chunk) for chunk in stored)
        if held != count:
            raise SnapshotRejected(str(path), f"header says {count} entries, file holds {held}")
    if loaded is not None:
        counted = sum(e.identifier_count() for e in loaded)
        references = _distinct(e.reference for e in loaded)
    else:
        assert stored is not None
        try:
            counted = sum(chunk.identifier_count() for chunk in stored)
        except TypeError:
            raise SnapshotRejected(str(path), "a count is not a number") from None
        references = _distinct(reference for chunk in stored for reference in chunk.references)
    if counted != identifiers:
        raise SnapshotRejected(str(path), "identifier count does not match the header")
    if references != count:
        raise SnapshotRejected(str(path), "a reference appears twice")


def _frames(path: Path, fh: BinaryIO, expected_digest: str) -> list[bytes]:
    """Format 4's frames, each read in one call (~600 kB: the read and the hashing let the GIL
    go), and the digest of every byte of them checked before any is decoded."""
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
    """Format 4: only after the digest matched (marshal must never see bytes it did not write).
    Each frame's shape is checked as format 3's lines are, and its records must be bytes; each
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


def _lines(fh: BinaryIO) -> list[bytes]:
    """The rest of the file's lines, as ``bytes.splitlines`` gives them, split a block at a time."""
    lines: list[bytes] = []
    rest = b""
    for block in iter(functools.partial(fh.read, READ_BLOCK), b""):
        joined = rest + block
        cut = joined.rfind(b"\n") + 1
        lines += joined[:cut].splitlines()
        rest = joined[cut:]
    lines += rest.splitlines()
    return lines


def _distinct(references: Iterable[str]) -> int:
    """How many distinct references, counted in sharded sets (one set of a million strings grows
    in 20 ms resizes that hold the GIL)."""
    shards: list[set[str]] = [set() for _ in range(SHARDS)]
    for reference in references:
        shards[hash(reference) % SHARDS].add(reference)
    count = 0
    while shards:  # freed a set at a time: the 64 in one go held the GIL for 16 ms at 1M
        count += len(shards.pop())
    return count


def _validated_entries(path: Path, lines: list[bytes]) -> list[Entry]:
    entries: list[Entry] = []
    for number, line in enumerate(lines, start=2):
        try:
            entries.append(decode_entry(line))
        except ValidationError as exc:
            raise SnapshotRejected(str(path), f"line {number}: invalid field {exc.field}") from None
        except ValueError:
            raise SnapshotRejected(str(path), f"line {number}: not JSON") from None
    return entries


def _trusted_entries(path: Path, lines: list[bytes]) -> list[Entry]:
    """The digest matched: these are records this code wrote, loaded without validating again.
    A record of the wrong shape still rejects the file rather than build a broken index."""
    entries: list[Entry] = []
    from_record_json = Entry.from_record_json
    try:
        for line in lines:
            entries.append(from_record_json(line))
    except (ValueError, TypeError, IndexError):
        raise SnapshotRejected(str(path), f"line {len(entries) + 2}: not a snapshot record") from None
    return entries


def _stored_rows(path: Path, lines: list[bytes]) -> list[StoredColumns]:
    """Format 2 with keys: as _trusted_entries, but only each line's stored row is decoded; the
    record stays bytes until the index needs the entry (``Index.build_stored``)."""
    rows: list[tuple[list[Any], bytes]] = []
    loads = orjson.loads
    try:
        for line in lines:
            head, tab, record = line.partition(b"\t")
            row = loads(head)
            if not tab or type(row) is not list or len(row) != STORED_ROW_LENGTH or type(row[0]) is not str:
                raise ValueError
            rows.append((row, record))
    except (ValueError, TypeError):
        raise SnapshotRejected(str(path), f"line {len(rows) + 2}: not a snapshot record") from None
    return [StoredColumns.from_rows(rows[i : i + CHUNK_ROWS]) for i in range(0, len(rows), CHUNK_ROWS)]


def _stored_chunks(path: Path, lines: list[bytes]) -> list[StoredColumns]:
    """Format 3: each line is a chunk (see the module docstring). Its shape is checked (so many
    columns, each with an item per record); its items are what this code wrote."""
    chunks: list[StoredColumns] = []
    loads = orjson.loads
    for line in lines:
        fields = line.split(b"\t")
        try:
            chunks.append(StoredColumns.from_columns(loads(fields[0]), fields[1:]))
        except (ValueError, TypeError):
            raise SnapshotRejected(str(path), f"line {len(chunks) + 2}: not a snapshot chunk") from None
    return chunks


def _field(header: Mapping[str, Any], name: str, kind: type) -> Any:
    value = header.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise KeyError(name)
    return value


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class SnapshotState:
    index: Index
    epoch: str
    stream_id: str


class SnapshotWriter:
    """Writes the follower's state after swaps, at most every `min_interval` seconds, in a worker
    thread (the index is immutable, so walking it there is safe); the last swap is always written."""

    def __init__(
        self,
        path: Path,
        state: Callable[[], SnapshotState | None],
        min_interval: float,
        normalisers: Mapping[str, str],
        on_written: Callable[[], None] | None = None,
        settle: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.path = path
        self.state = state
        self.min_interval = min_interval
        self.normalisers = dict(normalisers)
        self.on_written = on_written
        self.settle = settle  # awaited before each background write
        self._dirty = asyncio.Event()
        self._lock = asyncio.Lock()

    def dirty(self) -> None:
        self._dirty.set()

    def clean(self) -> None:
        self._dirty.clear()

    async def run(self) -> None:
        while True:
            await self._dirty.wait()
            if self.settle is not None:
                with contextlib.suppress(TimeoutError):  # then written anyway: a file late is worse
                    await asyncio.wait_for(self.settle(), SETTLE_MAX)
            started = time.monotonic()
            await self.write()
            # A write of a big list costs seconds of GIL-holding work: never spend more than a
            # fifth of the time writing (measured: back-to-back rewrites slowed bursts 10x at 1M).
            await asyncio.sleep(max(self.min_interval, 4 * (time.monotonic() - started)))

    async def flush(self) -> None:
        if self._dirty.is_set():
            await self.write()

    async def write(self) -> None:
        async with self._lock:
            self._dirty.clear()
            state = self.state()
            if state is None:
                return
            # collections in the writing thread would walk the objects it makes (to_record per
            # entry) and the index's newer layers, holding the GIL for 15-25 ms at 1M entries
            with gc_paused():
                writing = asyncio.ensure_future(
                    run_in_worker(
                        functools.partial(
                            write_snapshot,
                            self.path,
                            epoch=state.epoch,
                            version=state.index.version,
                            stream_id=state.stream_id,
                            normalisers=self.normalisers,
                            index=state.index,
                        )
                    )
                )
                try:
                    await asyncio.shield(writing)
                except asyncio.CancelledError:
                    await asyncio.wait([writing])  # a stop returns after the file is complete
                    raise
                except OSError as exc:
                    log.warning("sync: snapshot file not written: %s", exc.strerror)
                    return
            if self.on_written is not None:
                self.on_written()
            log.debug("sync: snapshot file written (epoch=%s version=%d)", state.epoch, state.index.version)
