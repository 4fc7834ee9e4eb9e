"""One `nocontact serve` per data directory: its hit spool, snapshot file, token cache and
embedded Redis belong to one process tree. ``DataDirLock`` is an exclusive ``flock`` on
``DATA_DIR/serve.lock`` (holding the pid), kept for the process's life and released by the kernel
however it ends, so a crash never leaves a stale lock. A command that has to start the embedded
Redis itself (``import`` with no serve running) takes it too."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from sync.errors import DataDirInUse
from sync.private import make_private_dir

LOCK_NAME = "serve.lock"


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> DataDirLock:
        """Take the lock, or raise DataDirInUse naming the process that holds it."""
        make_private_dir(self.path.parent)  # the data directory is the owner's alone (sync.private)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            raise DataDirInUse(str(self.path.parent), holder or "unknown") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> DataDirLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
