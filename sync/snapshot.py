"""The local last-good snapshot file a gateway cold-starts from when Redis is slow or down.

Format (UTF-8, one JSON document per line):

- line 1, the header: ``{"format": "nocontact-snapshot", "format_version": 2, "epoch": ...,
  "version": ..., "stream_id": ..., "entries": N, "identifiers": M, "normalisers": {...},
  "keys": STAMP | null, "sha256": HEX}`` where sha256 is the digest of every byte after the header
  line;
- then N lines, one entry each: the JSON array of ``Entry.to_record``, followed, when ``keys`` is
  a stamp (``matcher.index.key_stamp`` of the profile that built them), by the entry's phone keys
  and email keys as the index held them.

Written to a temporary file in the same directory, fsynced, then ``os.replace``d over the old one
(and the directory fsynced), so a reader sees the old file or the new one, never a mix. A file
that is partial, corrupt, of another format or whose counts or digest disagree is rejected whole.
A file that passes is what this code wrote from a built index, so its entries are loaded without
validating them again (``Entry.from_record``), and its keys are reused when the stamp still
matches (a million identifiers: ~5x faster than format 1, whose lines are ``encode_entry`` JSON
objects validated one by one; format 1 files are still read that way).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from matcher.entries import Entry
from matcher.errors import ValidationError
from matcher.index import ContactKeys, key_stamp
from sync.building import release
from sync.changes import decode_entry
from sync.errors import SnapshotRejected

if TYPE_CHECKING:
    from matcher.index import Index

FORMAT = "nocontact-snapshot"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)

log = logging.getLogger("nocontact.sync")


@dataclass(frozen=True, slots=True)
class Snapshot:
    epoch: str
    version: int
    stream_id: str
    entries: list[Entry]
    identifiers: int
    normalisers: Mapping[str, str] = field(default_factory=dict)
    keys: list[ContactKeys] | None = None  # each entry's phone and email keys, stamped by...
    key_stamp: Mapping[str, str] | None = None  # ...matcher.index.key_stamp of their profile


def write_snapshot(
    path: Path,
    *,
    epoch: str,
    version: int,
    stream_id: str,
    entries: Iterable[Entry] = (),
    normalisers: Mapping[str, str] | None = None,
    index: Index | None = None,
) -> int:
    """Write atomically; returns the number of entries written. With `index`, its entries are
    written with their keys (and `entries` is ignored)."""
    digest = hashlib.sha256()
    lines: list[bytes] = []
    identifiers = 0
    dumps = orjson.dumps
    if index is not None:
        for entry, (phone_keys, email_keys) in index.entries_with_keys():
            line = dumps([*entry.to_record(), phone_keys, email_keys]) + b"\n"
            digest.update(line)
            lines.append(line)
            identifiers += entry.identifier_count()
    else:
        for entry in entries:
            line = dumps(entry.to_record()) + b"\n"
            digest.update(line)
            lines.append(line)
            identifiers += entry.identifier_count()
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "epoch": epoch,
        "version": version,
        "stream_id": stream_id,
        "entries": len(lines),
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
    count = len(lines)
    release(lines)  # a million lines: freed in slices (this runs in a worker thread)
    return count


def read_snapshot(path: Path) -> Snapshot | None:
    """None when there is no file; SnapshotRejected (naming the problem) when it is not valid."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SnapshotRejected(str(path), f"cannot read: {exc.strerror}") from None
    head, sep, body = data.partition(b"\n")
    if not sep:
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
    except KeyError as exc:
        raise SnapshotRejected(str(path), f"header field {exc.args[0]!r} missing or mistyped") from None
    if hashlib.sha256(body).hexdigest() != expected_digest:
        raise SnapshotRejected(str(path), "digest mismatch (partial or corrupt file)")
    lines = body.splitlines()
    if len(lines) != count:
        raise SnapshotRejected(str(path), f"header says {count} entries, file holds {len(lines)}")
    keys: list[ContactKeys] | None = None
    if format_version == 1:
        entries = _validated_entries(path, lines)
    else:
        entries, keys = _trusted_entries(path, lines, with_keys=stamp is not None)
    if sum(e.identifier_count() for e in entries) != identifiers:
        raise SnapshotRejected(str(path), "identifier count does not match the header")
    if len({e.reference for e in entries}) != count:
        raise SnapshotRejected(str(path), "a reference appears twice")
    release(lines)
    return Snapshot(epoch, version, stream_id, entries, identifiers, normalisers, keys, stamp)


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


def _trusted_entries(
    path: Path, lines: list[bytes], *, with_keys: bool
) -> tuple[list[Entry], list[ContactKeys] | None]:
    """The digest matched: these are records this code wrote, loaded without validating again.
    A record of the wrong shape still rejects the file rather than build a broken index."""
    entries: list[Entry] = []
    keys: list[ContactKeys] = []
    loads, from_record = orjson.loads, Entry.from_record
    try:
        if with_keys:
            for line in lines:
                *record, phone_keys, email_keys = loads(line)
                entries.append(from_record(record))
                keys.append((tuple(phone_keys), tuple(email_keys)))
        else:
            for line in lines:
                entries.append(from_record(loads(line)))
    except (ValueError, TypeError, IndexError):
        raise SnapshotRejected(str(path), f"line {len(entries) + 2}: not a snapshot record") from None
    return entries, (keys if with_keys else None)


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
    ) -> None:
        self.path = path
        self.state = state
        self.min_interval = min_interval
        self.normalisers = dict(normalisers)
        self.on_written = on_written
        self._dirty = asyncio.Event()
        self._lock = asyncio.Lock()

    def dirty(self) -> None:
        self._dirty.set()

    def clean(self) -> None:
        self._dirty.clear()

    async def run(self) -> None:
        while True:
            await self._dirty.wait()
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
            writing = asyncio.ensure_future(
                asyncio.to_thread(
                    write_snapshot,
                    self.path,
                    epoch=state.epoch,
                    version=state.index.version,
                    stream_id=state.stream_id,
                    normalisers=self.normalisers,
                    index=state.index,
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
