"""Writing a local file so that a reader sees the old one or the new one, never a mix: a temporary
file in the same directory, fsynced, ``os.replace``d over the old one, the directory fsynced."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from sync.private import FILE_MODE, make_private_dir


def atomic_write(path: Path, parts: Iterable[bytes], *, mode: int = FILE_MODE) -> None:
    """Write `parts` to `path` atomically; a new file is created with `mode` (less the umask):
    by default the owner's alone, as everything in the data directory is (``sync.private``)."""
    make_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.writelines(parts)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)  # os.replace: atomic within the directory
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
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
