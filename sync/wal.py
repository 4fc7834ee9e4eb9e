"""SQLite files several processes open at once (the hit spool and the hit index of a data
directory, shared by the workers of ``serve --workers N``)."""

from __future__ import annotations

import sqlite3
import time


def use_wal(db: sqlite3.Connection, within: float) -> None:
    """Put `db`'s file in WAL mode. Processes opening a new file at once race to switch it, and
    SQLite can refuse the switch ("database is locked") without its busy handler waiting: try
    again for up to `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
