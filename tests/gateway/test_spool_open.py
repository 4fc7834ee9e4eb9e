"""`serve --workers N` starts its workers at once, and each opens the data directory's hit spool:
the first opens of a new file race to switch it to WAL. SQLite can refuse that switch ("database is
locked") without its busy handler waiting, which crashed a worker at start (seen in a full run:
the supervisor restarted it half a second later)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

from gateway.hitlog.spool import Spool

OPENERS = 6
ROUNDS = 30  # the race lost in 7 of 30 rounds of 6 openers before the fix


def _open(path: str, barrier: Any, results: Any) -> None:
    try:
        barrier.wait()
        spool = Spool(Path(path))
        spool.open()
        spool.close()
        results.put("")
    except Exception as exc:  # reported to the test, whatever it is
        results.put(f"{type(exc).__name__}: {exc}")


def test_workers_opening_a_new_spool_at_once_all_open_it(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    failures = []
    for round_no in range(ROUNDS):
        path = tmp_path / f"round{round_no}" / "hits.sqlite3"
        barrier, results = ctx.Barrier(OPENERS), ctx.Queue()
        openers = [ctx.Process(target=_open, args=(str(path), barrier, results)) for _ in range(OPENERS)]
        for process in openers:
            process.start()
        for process in openers:
            process.join(timeout=60)
        failures += [error for error in (results.get(timeout=10) for _ in openers) if error]
    assert not failures, failures[:3]
