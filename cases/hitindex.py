"""The hit log's index: the one reader of the hit log. Every page, the API, the CSV, the charts,
the relay analysis and the case store's breach links read hits here, never by scanning the stream.

The Redis hits stream (and the review trail's stream, ``hit_review_log``) stay the system of
record; this is a local SQLite file (WAL) built from them and kept up to date by a follower thread
(``start``), plus a short non-blocking catch-up before each read, so a page shows every hit shipped
before it was asked for. Hits are indexed by establishment, prisoner, reference (every match, with
its strength) and time (the day), with their latest review; each read is one SQL query off the
event loop (callers run these synchronous methods in an executor thread).

Derived data: a file from another store (another key prefix, or a stream that is behind it, as
after a restore) is emptied and rebuilt; it holds no evidence (``gateway.hitlog.evidence``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from cases.hitrecords import (
    READ_LUA,
    REVIEW_COLUMNS,
    SCHEMA,
    TABLES,
    HitFilter,
    IndexedHit,
    IndexPage,
    Memo,
    RelayGroup,
    RelayPage,
    fields_of,
    flagged_of,
    parse_cursor,
    relay_people_sql,
    relay_sql,
    review_of,
    sid_key,
    stream_record,
    text_of,
)
from cases.hitupgrade import migrate_reviews
from sync.keys import Keys
from sync.wal import use_wal

log = logging.getLogger("nocontact.hitindex")

HIT_INDEX_FILE = "hitindex.sqlite3"  # in the data directory
CHUNK = 5_000  # stream messages per read (and per transaction) while catching up
READ_WAIT = 1.0  # seconds a reader waits for the index's lock before reading what is indexed


class HitIndex:
    """``start`` (a follower thread) / ``stop`` around its use; every method is synchronous and
    thread-safe, for an executor thread (the gateway) or a command (the CLI)."""

    def __init__(self, path: Path, client: Any, keys: Keys, *, block_ms: int = 250) -> None:
        self.path = path
        self.client = client  # a synchronous redis client (bytes or decoded strings)
        self.keys = keys
        self.block_ms = block_ms
        self._local = threading.local()
        self._write = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._checked = False
        self._migrated = False
        self.caught_up = threading.Event()  # set after the first complete catch-up
        self._read = client.register_script(READ_LUA)
        self._relay_memo = Memo()

    # -- connections -----------------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
            use_wal(db, within=30.0)  # the workers of serve --workers N share this file
            db.execute("PRAGMA synchronous=NORMAL")  # derived data: rebuilt from Redis if lost
            db.execute("PRAGMA busy_timeout=30000")
            db.executescript(SCHEMA)
            with contextlib.suppress(OSError):
                self.path.chmod(0o600)
            self._local.db = db
        return db

    def _meta(self, db: sqlite3.Connection, name: str) -> str | None:
        row = db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    # -- the follower ------------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._follow, name="nocontact-hitindex", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.block_ms / 1000 + 1)
            self._thread = None

    def _follow(self) -> None:
        delay = 0.1
        while not self._stop.is_set():
            try:
                self.catch_up()
                if not self._migrated:
                    migrate_reviews(self)  # reviews saved before the review trail (an upgrade)
                    self._migrated = True
                self.caught_up.set()
                delay = 0.1
                db = self._db()
                streams = {
                    self.keys.hits: self._meta(db, "hits_last") or "0-0",
                    self.keys.hit_review_log: self._meta(db, "reviews_last") or "0-0",
                }
                # Only a wake-up: what arrived is read by the next catch_up, under its lock.
                self.client.xread(streams, count=1, block=self.block_ms)
            except Exception as exc:  # Redis down, a bad message: try again, never stop
                log.warning("hit index: cannot follow the hit log (%s); retrying", type(exc).__name__)
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)

    def catch_up(self, limit: int | None = None, wait: float = -1) -> int:
        """Index what the streams hold beyond what is indexed, a chunk per hold of the lock;
        returns the messages read. `limit`: stop after about that many; `wait`: seconds to wait
        for the lock (-1: as long as it takes; a reader passes a bound, so a page is not held up
        behind the first build of a large index but shows what is indexed so far). Raises redis
        errors (the caller decides: a page says the store is down)."""
        read = 0
        for stream, name, apply in (
            (self.keys.hits, "hits_last", self._add_hits),
            (self.keys.hit_review_log, "reviews_last", self._add_reviews),
        ):
            while limit is None or read < limit:
                if not self._write.acquire(timeout=wait):
                    return read
                try:
                    n = self._chunk(stream, name, apply)
                finally:
                    self._write.release()
                read += n
                if n < CHUNK:
                    break
        return read

    def _chunk(self, stream: str, name: str, apply: Any) -> int:
        db = self._db()
        if not self._checked:
            self._check_source(db)
            self._checked = True
        last = self._meta(db, name) or "0-0"
        flat = self._read(keys=[stream], args=[last, CHUNK])
        if not flat:
            return 0
        messages = [(text_of(flat[i]), orjson.loads(flat[i + 1])) for i in range(0, len(flat), 2)]
        db.execute("BEGIN IMMEDIATE")
        try:
            apply(db, messages)
            new_last = messages[-1][0]
            current = self._meta(db, name) or "0-0"  # another process may be ahead
            if sid_key(new_last) > sid_key(current):
                db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, new_last))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return len(messages)

    def _check_source(self, db: sqlite3.Connection) -> None:
        """Empty the file if it was built from another store: another prefix, or a hits stream
        that ends before what is indexed (Redis restored from an older backup, or replaced)."""
        prefix = self._meta(db, "prefix")
        last = self._meta(db, "hits_last")
        newest = self.client.xrevrange(self.keys.hits, max="+", min="-", count=1)
        stream_last = text_of(newest[0][0]) if newest else None
        stale = prefix is not None and prefix != self.keys.prefix
        if last is not None and (stream_last is None or sid_key(stream_last) < sid_key(last)):
            stale = True
        if stale:
            log.warning("hit index: %s was built from another hit log; rebuilding it", self.path.name)
        db.execute("BEGIN IMMEDIATE")
        if stale:
            for table in TABLES:
                db.execute(f"DELETE FROM {table}")  # noqa: S608  # a fixed table name
        db.execute("INSERT OR REPLACE INTO meta VALUES ('prefix', ?)", (self.keys.prefix,))
        db.execute("COMMIT")

    def _add_hits(self, db: sqlite3.Connection, messages: list[tuple[str, Any]]) -> None:
        hits: list[tuple[Any, ...]] = []
        bodies: list[tuple[str, str]] = []
        refs: list[tuple[Any, ...]] = []
        for sid, fields in messages:
            try:
                r = stream_record(fields)
            except (KeyError, ValueError) as exc:
                log.warning("hit index: skipped unreadable hit message %s (%s)", sid, type(exc).__name__)
                continue
            top = r["matches"][0] if r["matches"] else {"strength": ""}
            bodies.append((r["id"], orjson.dumps(r).decode()))
            hits.append(
                (r["id"], sid, r["time"], r["establishment"], r["prisoner"], r["channel"], r["decision"],
                 r["reference"], r["kind"], top["strength"], int(r["relay"]))
            )  # fmt: skip
            seen: dict[str, tuple[str, str]] = {}
            for m in r["matches"]:
                seen.setdefault(m["reference"], (m["kind"], m["strength"]))
            seen.setdefault(r["reference"], (r["kind"], top["strength"]))
            for reference, (kind, strength) in seen.items():
                place = (r["establishment"], r["prisoner"], r["channel"])
                refs.append((reference, r["id"], r["time"], *place, kind, strength))
        db.executemany(
            "INSERT OR IGNORE INTO hits (id, stream_id, time, establishment, prisoner, channel, decision, "
            "reference, kind, strength, relay) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            hits,
        )
        db.executemany("INSERT OR IGNORE INTO bodies VALUES (?, ?)", bodies)
        db.executemany("INSERT OR IGNORE INTO refs VALUES (?, ?, ?, ?, ?, ?, ?, ?)", refs)
        ids = [h[0] for h in hits]
        for start in range(0, len(ids), 500):  # a review may have been indexed before its hit
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            reviewed = db.execute(
                f"SELECT DISTINCT hit_id FROM reviews WHERE hit_id IN ({marks})",  # noqa: S608
                part,
            ).fetchall()
            self._latest(db, [row[0] for row in reviewed])

    def _add_reviews(self, db: sqlite3.Connection, messages: list[tuple[str, Any]]) -> None:
        rows = []
        for sid, fields in messages:
            data = {text_of(k): text_of(v) for k, v in fields.items()}
            owner = data.get("escalated_to", "").strip().lower()  # the API once kept the name as given
            owner = owner if not owner or owner.startswith("user:") else f"user:{owner}"
            rows.append(
                (sid, data["hit"], int(data["time"]), data["by"], data["outcome"], data.get("note") or None,
                 owner or None)
            )  # fmt: skip
        db.executemany("INSERT OR IGNORE INTO reviews VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        self._latest(db, sorted({r[1] for r in rows}))

    def _latest(self, db: sqlite3.Connection, hit_ids: Sequence[str]) -> None:
        for hit_id in hit_ids:
            db.execute(
                "UPDATE hits SET (outcome, review_event, escalated_to, reviews) = "
                "(SELECT outcome, event, CASE WHEN outcome = 'escalated' THEN escalated_to END, "
                "(SELECT count(*) FROM reviews WHERE hit_id = ?1) "
                "FROM reviews WHERE hit_id = ?1 ORDER BY event DESC LIMIT 1) WHERE id = ?1",
                (hit_id,),
            )

    # -- writing a review ------------------------------------------------------------------------
    def review(
        self, hit_id: str, outcome: str, note: str | None, by: str, escalated_to: str | None = None
    ) -> dict[str, Any]:
        """Add a review to the hit's trail (earlier ones are kept), in Redis, then index it."""
        review = {
            "outcome": outcome,
            "note": note,
            "by": by,
            "time": time.time_ns() // 1_000_000,
            "escalated_to": escalated_to if outcome == "escalated" else None,
        }
        fields = {k: "" if v is None else str(v) for k, v in review.items()}
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.hit_reviews, hit_id, json.dumps(review))
            pipe.xadd(self.keys.hit_review_log, {"hit": hit_id, **fields})
            pipe.execute()
        self.catch_up()
        return review

    def migrate_reviews(self) -> int:
        return migrate_reviews(self)

    def reviewed(self, hit_ids: Sequence[str]) -> tuple[str, set[str]]:
        """The last trail record indexed, and those of `hit_ids` with a review indexed by then."""
        with self._write:
            db = self._db()
            marks = ",".join("?" * len(hit_ids))
            query = f"SELECT DISTINCT hit_id FROM reviews WHERE hit_id IN ({marks})"  # noqa: S608
            found = {str(row[0]) for row in db.execute(query, list(hit_ids))}
            return self._meta(db, "reviews_last") or "0-0", found

    # -- reading ---------------------------------------------------------------------------------
    def _fresh(self) -> sqlite3.Connection:
        """The connection, after indexing what was shipped before this read: a chunk at most,
        waiting a moment at most for the follower (see ``catch_up``)."""
        self.catch_up(limit=CHUNK, wait=READ_WAIT)
        return self._db()

    @staticmethod
    def _row(row: Sequence[Any]) -> IndexedHit:
        stream_id, body, outcome, event, reviews = row[0], row[1], row[2], row[3], row[4]
        review = None
        if outcome is not None:
            review = {"outcome": outcome, "event": event}
        return IndexedHit(stream_id, json.loads(body), review, int(reviews))

    def _with_reviews(self, db: sqlite3.Connection, rows: list[IndexedHit]) -> list[IndexedHit]:
        events = [r.review["event"] for r in rows if r.review is not None]
        if events:
            marks = ",".join("?" * len(events))
            query = f"SELECT event, {REVIEW_COLUMNS} FROM reviews WHERE event IN ({marks})"  # noqa: S608
            found = {row[0]: review_of(row[1:]) for row in db.execute(query, events)}
            for r in rows:
                if r.review is not None:
                    r.review = found.get(r.review["event"])
        return rows

    def page(
        self,
        filt: HitFilter,
        *,
        limit: int,
        before: str | None = None,
        after: str | None = None,
        oldest: bool = False,
    ) -> IndexPage[IndexedHit]:
        """A page of hits, newest first: the newest, those older than cursor `before`, those newer
        than cursor `after`, or (`oldest`) the oldest; with the filter's total and position."""
        db = self._fresh()
        where, args = filt.where()
        total = int(db.execute(f"SELECT count(*) FROM hits h WHERE {where}", args).fetchone()[0])  # noqa: S608
        if oldest and not (before or after) and total % limit:
            limit = total % limit  # the last page, as paging from the newest would have it
        columns = (
            "h.stream_id, (SELECT body FROM bodies b WHERE b.id = h.id), h.outcome, h.review_event, h.reviews"
        )
        bound, bound_args, order = "", [], "DESC"
        b = parse_cursor(before) if before else None
        a = parse_cursor(after) if after else None
        if b is not None:
            bound, bound_args = " AND (h.time, h.id) < (?, ?)", [*b]
        elif a is not None:
            bound, bound_args, order = " AND (h.time, h.id) > (?, ?)", [*a], "ASC"
        elif oldest:
            order = "ASC"
        query = (
            f"SELECT {columns} FROM hits h WHERE {where}{bound} "  # noqa: S608  # built from fixed parts
            f"ORDER BY h.time {order}, h.id {order} LIMIT ?"
        )
        rows = [self._row(r) for r in db.execute(query, [*args, *bound_args, limit]).fetchall()]
        if order == "ASC":
            rows.reverse()
        out: IndexPage[IndexedHit] = IndexPage(rows=self._with_reviews(db, rows))
        out.total = total
        if rows:
            first = rows[0].record
            out.newer = int(
                db.execute(
                    f"SELECT count(*) FROM hits h WHERE {where} AND (h.time, h.id) > (?, ?)",  # noqa: S608
                    [*args, first["time"], first["id"]],
                ).fetchone()[0]
            )
            has_older = out.newer + len(rows) < out.total
            out.older_cursor = rows[-1].cursor if has_older else None
            out.newer_cursor = rows[0].cursor if out.newer else None
        return out

    def count(self, filt: HitFilter) -> int:
        db = self._fresh()
        where, args = filt.where()
        return int(db.execute(f"SELECT count(*) FROM hits h WHERE {where}", args).fetchone()[0])  # noqa: S608

    def get(self, hit_id: str) -> IndexedHit | None:
        db = self._db()
        query = (
            "SELECT h.stream_id, b.body, h.outcome, h.review_event, h.reviews "
            "FROM hits h JOIN bodies b ON b.id = h.id WHERE h.id = ?"
        )
        row = db.execute(query, (hit_id,)).fetchone()
        if row is None:  # shipped since the last catch-up?
            db = self._fresh()
            row = db.execute(query, (hit_id,)).fetchone()
        return None if row is None else self._with_reviews(db, [self._row(row)])[0]

    def trail(self, hit_id: str) -> list[dict[str, Any]]:
        """Every review of the hit, oldest first."""
        db = self._db()
        query = f"SELECT {REVIEW_COLUMNS} FROM reviews WHERE hit_id = ? ORDER BY event"  # noqa: S608
        return [review_of(row) for row in db.execute(query, (hit_id,))]

    def next_unreviewed(self, filt: HitFilter, before: str | None) -> str | None:
        """The id of the newest unreviewed hit older than cursor `before` (else the newest one)."""
        db = self._fresh()
        where, args = HitFilter(**{**fields_of(filt), "reviewed": False}).where()
        b = parse_cursor(before) if before else None
        for bound, extra in ((" AND (h.time, h.id) < (?, ?)", list(b or ())), ("", [])):
            if bound and b is None:
                continue
            query = f"SELECT h.id FROM hits h WHERE {where}{bound} ORDER BY h.time DESC, h.id DESC LIMIT 1"  # noqa: S608
            row = db.execute(query, [*args, *extra]).fetchone()
            if row is not None:
                return str(row[0])
        return None

    def counts(self, filt: HitFilter, column: str, limit: int | None = None) -> list[tuple[str, int]]:
        """Hits per value of `column` (establishment, prisoner, reference, channel), most first."""
        assert column in ("establishment", "prisoner", "reference", "channel", "kind", "strength")
        db = self._fresh()
        where, args = filt.where()
        query = (
            f"SELECT h.{column}, count(*) AS n FROM hits h WHERE {where} "  # noqa: S608
            f"GROUP BY h.{column} ORDER BY n DESC, h.{column}"
        )
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        return [(str(v), int(n)) for v, n in db.execute(query, args)]

    def per_hour(self, filt: HitFilter) -> list[tuple[int, str, int]]:
        """(hour start in ms, channel, hits): a local day is whole hours in every zone used here."""
        db = self._fresh()
        where, args = filt.where()
        query = (
            f"SELECT h.time / 3600000 AS hour, h.channel, count(*) FROM hits h WHERE {where} "  # noqa: S608
            "GROUP BY hour, h.channel"
        )
        return [(int(hour) * 3_600_000, str(c), int(n)) for hour, c, n in db.execute(query, args)]

    def relay(self, filt: HitFilter, *, limit: int, offset: int = 0) -> RelayPage:
        """Requests on which two or more different prisoners made strong attempts (block-level
        evidence; partial and weak matches never count), in the filter's time range, establishment,
        channel, reference and prisoner: most prisoners first, then the latest attempt; a page of
        `limit` from `offset`, with the whole set's totals."""
        db = self._fresh()
        sql, args = filt.condition("r", ("establishment", "channel", "reference", "prisoner"))
        sql.append("r.strength = 'strong'")
        where = " AND ".join(sql)
        db.execute("BEGIN")  # one snapshot: the index's state, and what is read in it
        try:
            key = (where, *args, self._meta(db, "prefix"), self._meta(db, "hits_last"))
            groups, prisoners = self._relay_memo.get(key) or self._relay_memo.put(
                key, flagged_of(db.execute(relay_sql(where), [*args, *args]).fetchall())
            )
            out = RelayPage([], len(groups), sum(g[2] for g in groups), prisoners)
            shown = groups[offset : offset + limit]
            people: dict[str, list[tuple[str, int, int, int, str]]] = {}
            found = (
                db.execute(relay_people_sql(where, len(shown)), [*args, *(g[0] for g in shown)])
                if shown
                else []
            )
            for reference, prisoner, n, first, last, places in found:
                people.setdefault(reference, []).append((prisoner, n, first, last, places))
        finally:
            db.execute("COMMIT")
        for reference, _, n, latest in shown:
            rows = people.get(reference, [])
            places = sorted({code for row in rows for code in row[4].split(",")})
            out.groups.append(RelayGroup(reference, [row[:4] for row in rows], places, n, latest))
        return out

    def by_reference(self, reference: str, limit: int = 10_000) -> list[dict[str, Any]]:
        """Hits on `reference` (as the top match or any match), newest first (the case store's
        breach links and hit pattern)."""
        db = self._fresh()
        rows = db.execute(
            "SELECT h.id, h.stream_id, h.time, h.establishment, h.prisoner, h.channel, h.decision, h.relay "
            "FROM refs r JOIN hits h ON h.id = r.id WHERE r.reference = ? "
            "ORDER BY h.time DESC, h.id DESC LIMIT ?",
            (reference, limit),
        ).fetchall()
        names = ("id", "stream_id", "time", "establishment", "prisoner", "channel", "decision", "relay")
        return [{**dict(zip(names, row, strict=True)), "relay": bool(row[7])} for row in rows]

    def iter_rows(self, filt: HitFilter, limit: int) -> Iterator[IndexedHit]:
        """Up to `limit` hits, newest first, with their latest reviews (the CSV)."""
        done = 0
        before: str | None = None
        while done < limit:
            page = self.page(filt, limit=min(1000, limit - done), before=before)
            yield from page.rows
            done += len(page.rows)
            if page.older_cursor is None:
                return
            before = page.older_cursor
