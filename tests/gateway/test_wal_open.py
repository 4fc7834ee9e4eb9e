"""`serve --workers N` starts its workers at once, and each opens the data directory's hit spool
and hit index: the first opens of a new file race to switch it to WAL. SQLite can refuse that
switch ("database is locked") without its busy handler waiting, which crashed a worker at start
(seen in a full run: the supervisor restarted it half a second later)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest
import redis

from cases.hitindex import HitIndex
from gateway.hitlog.spool import Spool
from sync.keys import Keys

OPENERS = 6
ROUNDS = 30  # the race lost in 7 of 30 rounds of 6 openers before the fix


def _open_spool(path: Path) -> None:
    spool = Spool(path)
    spool.open()
    spool.close()


def _open_index(path: Path) -> None:
    HitIndex(path, redis.Redis(), Keys())._db()  # the connection only: no Redis is asked


def _open(opener: Any, path: str, barrier: Any, results: Any) -> None:
    try:
        barrier.wait()
        opener(Path(path))
        results.put("")
    except Exception as exc:  # reported to the test, whatever it is
        results.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.parametrize("opener", [_open_spool, _open_index], ids=["spool", "hit index"])
def test_workers_opening_a_new_file_at_once_all_open_it(opener: Any, tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    failures = []
    for round_no in range(ROUNDS):
        path = tmp_path / f"round{round_no}" / "hits.sqlite3"
        barrier, results = ctx.Barrier(OPENERS), ctx.Queue()
        args = (opener, str(path), barrier, results)
        openers = [ctx.Process(target=_open, args=args) for _ in range(OPENERS)]
        for process in openers:
            process.start()
        for process in openers:
            process.join(timeout=60)
        failures += [error for error in (results.get(timeout=10) for _ in openers) if error]
    assert not failures, failures[:3]
