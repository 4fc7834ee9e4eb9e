"""The data directory holds victims' details (the snapshot of every entry, the hit spool, the
embedded Redis's files, the token cache): it is the owner's alone, 0700, and every file in it
0600. ``nocontact serve`` checks it at start (``check_data_dir``) and creates files under a 0077
umask; the writers that create those files ask for 0600 themselves as well."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
FILE_MODE = 0o600
DIR_MODE = 0o700
NO_DATA = frozenset({"serve.lock"})  # files that say nothing about anyone (sync.datadir's lock)


class ExposedDataDir(Exception):
    """The data directory may be read by other users and already holds data: not started."""


def make_private_dir(directory: Path) -> None:
    """`directory` (and missing parents) created 0700; an existing one is left as it is."""
    missing = []
    path = directory.absolute()
    while not path.exists():
        missing.append(path)
        path = path.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            path.mkdir(mode=DIR_MODE)
        path.chmod(DIR_MODE)  # mkdir's mode is less the umask


def check_data_dir(directory: Path) -> None:
    """At start: create `directory` 0700 if it is missing. An existing one that group or others may
    enter or read is refused (ExposedDataDir, with the fix) when it holds anything, and made 0700
    when it is empty; files and folders inside that others may read are made the owner's alone."""
    if not directory.exists():
        make_private_dir(directory)
        return
    mode = stat.S_IMODE(directory.stat().st_mode)
    if mode & 0o077:
        if any(path.name not in NO_DATA for path in directory.iterdir()):
            raise ExposedDataDir(
                f"the data directory {directory} (mode {mode:04o}) can be read by other users and "
                "holds victims' details (snapshot, hit spool, Redis files); make it the service "
                f"user's alone and start again: chmod -R go-rwx {directory}"
            )
        directory.chmod(DIR_MODE)
    for root, dirs, files in os.walk(directory):
        for name in dirs:
            _tighten(Path(root) / name)
        for name in files:
            _tighten(Path(root) / name)


def _tighten(path: Path) -> None:
    with contextlib.suppress(OSError):  # gone meanwhile (a temporary file), or a socket's peer
        info = path.lstat()
        if not stat.S_ISLNK(info.st_mode) and stat.S_IMODE(info.st_mode) & 0o077:
            path.chmod(stat.S_IMODE(info.st_mode) & ~0o077)


def create_private(path: Path) -> None:
    """`path` created empty 0600 if missing (before a library that would create it 0644 opens it)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
