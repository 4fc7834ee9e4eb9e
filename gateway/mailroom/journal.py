"""The hot folder's memory across restarts. A decision is written here (a small JSON record,
fsynced) before its file is moved; the move and the sidecar are then finished from the record,
step by idempotent step, so a watcher killed at any point finishes the filing when it starts again
instead of screening the file a second time, and never loses it. One watcher per OUT_DIR: the
journal holds an exclusive lock on it."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.mailroom.errors import MailroomError

log = logging.getLogger("nocontact.mailroom.journal")

FOLDERS = ("allow", "hold", "block", "error")
STATE_DIR = ".nocontact-mailroom"
SIDECAR = ".json"


@dataclass(frozen=True, slots=True)
class Pending:
    """A decision taken whose filing may not be finished."""

    name: str  # the file's name in IN_DIR
    digest: str  # sha256 of its bytes: a new file of the same name is another letter
    folder: str  # one of FOLDERS
    target: str  # its name in OUT_DIR/folder
    outcome: dict[str, Any]  # the sidecar's content

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "digest": self.digest,
            "folder": self.folder,
            "target": self.target,
            "outcome": self.outcome,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Pending:
        if not isinstance(data, dict):
            raise ValueError("record: not a JSON object")
        for key in ("name", "digest", "folder", "target"):
            if not isinstance(data.get(key), str):
                raise ValueError(f"record.{key}: missing or not a string")
        if data["folder"] not in FOLDERS:
            raise ValueError(f"record.folder: one of {list(FOLDERS)}")
        if not isinstance(data.get("outcome"), dict):
            raise ValueError("record.outcome: missing or not an object")
        return cls(data["name"], data["digest"], data["folder"], data["target"], data["outcome"])


def digest_of(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, data: Any) -> None:
    """Whole or not at all: a temporary file, fsynced, renamed over `path`, the directory fsynced."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    _fsync_dir(path.parent)


def _move(source: Path, target: Path) -> None:
    try:
        source.replace(target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        # OUT_DIR on another file system: copy (fsynced) under a temporary name, rename, then unlink.
        tmp = target.with_name(f".{target.name}.tmp")
        with source.open("rb") as src, tmp.open("wb") as dst:
            shutil.copyfileobj(src, dst)
            dst.flush()
            os.fsync(dst.fileno())
        tmp.replace(target)
        _fsync_dir(target.parent)
        source.unlink()
    _fsync_dir(target.parent)
    _fsync_dir(source.parent)


class Journal:
    def __init__(self, in_dir: Path, out_dir: Path) -> None:
        self.in_dir = in_dir
        self.out_dir = out_dir
        self.state = out_dir / STATE_DIR
        for folder in (*FOLDERS, STATE_DIR):
            (out_dir / folder).mkdir(parents=True, exist_ok=True)
        self._lock = (self.state / "lock").open("w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            raise MailroomError(f"{out_dir}: another mailroom watch is filing into this folder") from None

    def close(self) -> None:
        self._lock.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _record_path(self, name: str) -> Path:
        return self.state / (hashlib.sha256(name.encode()).hexdigest()[:32] + SIDECAR)

    def pending(self) -> list[Pending]:
        found = []
        for path in sorted(self.state.glob("*" + SIDECAR)):
            try:
                found.append(Pending.from_dict(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError) as exc:  # written whole or not at all, so only by hand
                log.error("journal record %s cannot be read (%s): left in place", path.name, exc)
        return found

    def lookup(self, name: str, digest: str) -> Pending | None:
        path = self._record_path(name)
        if not path.exists():
            return None
        try:
            pending = Pending.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return None
        return pending if pending.digest == digest else None

    def target_for(self, folder: str, name: str) -> str:
        """A name free in OUT_DIR/folder: the file's own, else with -1, -2... before its suffix."""
        taken = {p.target for p in self.pending() if p.folder == folder}
        stem, suffix = Path(name).stem, Path(name).suffix
        candidate, number = name, 0
        while candidate in taken or (self.out_dir / folder / candidate).exists():
            number += 1
            candidate = f"{stem}-{number}{suffix}"
        return candidate

    def record(self, pending: Pending) -> None:
        write_json(self._record_path(pending.name), pending.to_dict())

    def file(self, pending: Pending) -> Path:
        """Moves the file, writes its sidecar, forgets the record; any step already done is
        skipped, so this finishes a filing that a crash interrupted."""
        source = self.in_dir / pending.name
        target = self.out_dir / pending.folder / pending.target
        if source.exists() and digest_of(source) == pending.digest:
            _move(source, target)
        elif not target.exists():
            log.warning(
                "%s: gone from the hot folder before it was filed; its decision is kept", pending.name
            )
        write_json(target.with_name(target.name + SIDECAR), pending.outcome)
        self._record_path(pending.name).unlink(missing_ok=True)
        _fsync_dir(self.state)
        return target

    def recover(self) -> list[Pending]:
        """Finishes every filing a previous run left; the ones whose file is still in IN_DIR with
        other content are dropped (that is a new letter, to be screened)."""
        done = []
        for pending in self.pending():
            source = self.in_dir / pending.name
            target = self.out_dir / pending.folder / pending.target
            if source.exists() and digest_of(source) != pending.digest and target.exists():
                write_json(target.with_name(target.name + SIDECAR), pending.outcome)
                self._record_path(pending.name).unlink(missing_ok=True)
            else:
                self.file(pending)
            done.append(pending)
        return done
