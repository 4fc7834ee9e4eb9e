"""The hit log's local durable spool: every non-allow decision is committed (SQLite WAL,
``synchronous=FULL``: the WAL is fsynced on commit) before the answer goes back.

One writer thread owns the connection and commits whatever is queued as one transaction (group
commit): a burst of blocks costs one fsync, not one each. The shipper (``gateway.hitlog.shipper``) reads
the unshipped rows and marks them shipped through the same thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson

from gateway.hitlog.model import Hit
from sync.private import create_private, make_private_dir
from sync.wal import use_wal

log = logging.getLogger("nocontact.gateway.hits")

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS hits (
    id TEXT PRIMARY KEY,
    recorded_ms INTEGER NOT NULL,
    body TEXT NOT NULL,
    shipped_ms INTEGER
);
CREATE INDEX IF NOT EXISTS hits_unshipped ON hits(id) WHERE shipped_ms IS NULL;
"""

_STOP = object()


class Spool:
    """``record`` returns once the hit is on disk. Use ``open``/``close`` around it (per process:
    the thread and connection do not survive a fork)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.commits = 0  # transactions committed (tests: group commit)

    def open(self) -> None:
        make_private_dir(self.path.parent)
        create_private(self.path)  # SQLite gives its -wal and -shm files the database file's mode
        db = self._connect()  # fail here, not in the thread, if the file is unusable
        self._thread = threading.Thread(target=self._run, args=(db,), name="nocontact-spool", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        use_wal(db, within=10.0)  # the workers of serve --workers N open it at once
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=10000")
        db.executescript(SCHEMA)
        return db

    # -- the async API ---------------------------------------------------------------------------
    async def record(self, hit: Hit) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.put((hit, loop, future))
        await future

    async def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(connection)` on the spool thread."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, loop, future))
        return await future

    async def pending(self, limit: int) -> list[Hit]:
        def query(db: sqlite3.Connection) -> list[Hit]:
            rows = db.execute(
                "SELECT body FROM hits WHERE shipped_ms IS NULL ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
            return [Hit.from_dict(orjson.loads(body)) for (body,) in rows]

        return await self.call(query)

    async def mark_shipped(self, ids: list[str]) -> None:
        now = time.time_ns() // 1_000_000

        def update(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("UPDATE hits SET shipped_ms = ? WHERE id = ?", [(now, i) for i in ids])
            db.execute("COMMIT")

        await self.call(update)

    async def backlog(self) -> int:
        return await self.call(
            lambda db: int(db.execute("SELECT count(*) FROM hits WHERE shipped_ms IS NULL").fetchone()[0])
        )

    async def prune(self, older_than_ms: int) -> int:
        def delete(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                "DELETE FROM hits WHERE shipped_ms IS NOT NULL AND shipped_ms < ?", (older_than_ms,)
            )
            return int(cursor.rowcount)

        return await self.call(delete)

    # -- the thread ------------------------------------------------------------------------------
    def _run(self, db: sqlite3.Connection) -> None:
        try:
            while True:
                items = [self._queue.get()]
                while True:
                    try:
                        items.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                hits = [item for item in items if item is not _STOP and isinstance(item[0], Hit)]
                if hits:
                    self._commit(db, hits)
                for item in items:
                    if item is _STOP or isinstance(item[0], Hit):
                        continue
                    fn, loop, future = item
                    try:
                        result = fn(db)
                    except Exception as exc:
                        _resolve(loop, future, None, exc)
                    else:
                        _resolve(loop, future, result, None)
                if any(item is _STOP for item in items):
                    return
        finally:
            db.close()

    def _commit(self, db: sqlite3.Connection, hits: list[tuple[Hit, asyncio.AbstractEventLoop, Any]]) -> None:
        rows = [(h.id, h.time, orjson.dumps(h.to_record()).decode()) for h, _, _ in hits]
        error: BaseException | None = None
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR IGNORE INTO hits (id, recorded_ms, body) VALUES (?, ?, ?)", rows)
            db.execute("COMMIT")
            self.commits += 1
        except sqlite3.Error as exc:
            log.error("hits: spool commit failed: %s", exc)
            if db.in_transaction:
                db.execute("ROLLBACK")
            error = exc
        for _, loop, future in hits:
            _resolve(loop, future, None, error)


def _resolve(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any, error: BaseException | None
) -> None:
    def settle() -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    # RuntimeError: the loop closed while we committed; the hit is on disk all the same.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(settle)
