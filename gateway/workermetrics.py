"""One /metrics across ``serve --workers N``.

Each worker writes what its registry collects (gateway.metrics, sync.metrics, the contacts
sweeper's) to its own file in a private directory, DATA_DIR/metrics (0700, emptied at every start):
every FLUSH_EVERY seconds, when it stops, and when another worker asks through its FIFO. The worker
that answers a scrape asks every other one to write (waiting at most REFRESH_WITHIN), writes its
own, and merges every file and the counters of the workers that have ended, so each scrape counts
every request answered before it began, whichever worker answers it:

- counters and histograms (buckets, count and sum) are added up; a ``_created`` sample takes the
  earliest time;
- gauges are merged as GAUGE_MODES says: the lowest applied version (what every worker enforces),
  the highest data age, a state is 1 when any worker is in it and VALID only when all are;
- when a worker ends (a crash, ``kill -9``, a stop), the supervisor folds its counters into
  RETIRED and removes its file (``retire``), under the directory's lock, so a total never goes
  down when a worker is replaced; its gauges go with it.

A worker too busy to write within REFRESH_WITHIN is merged from its last file (at most FLUSH_EVERY
old); what a worker killed with ``kill -9`` counted after its last write is lost (never shown, so
no total ever goes backwards).

Why not prometheus_client's multiprocess mode: each of its values is an mmap write under a lock
(3.1 µs a Counter.inc, measured here, against 0.12 µs for the plain-int bump the request path does,
four of them per screening call), and its custom collectors and Enum, which most of these metrics
are, are not supported in it."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

log = logging.getLogger("nocontact.gateway")

DIR_NAME = "metrics"
FLUSH_EVERY = 1.0  # seconds
REFRESH_WITHIN = 1.0  # seconds a scrape waits at most for the other workers to write their files
REFRESH_POLL = 0.005
RETIRED = "retired.json"
_LOCK = ".lock"
_SUMMED = frozenset({"counter", "histogram", "summary", "gaugehistogram"})
_GOOD_STATES = frozenset({"VALID", "valid"})

# How a gauge's workers make one value. "state": a one-hot state set, 1 for a state any worker is
# in, and 1 for VALID only when every worker is. A gauge not listed takes the highest value.
GAUGE_MODES = {
    "nocontact_gateway_index_state": "state",
    "nocontact_gateway_index_version": "min",
    "nocontact_gateway_data_age_seconds": "max",
    "nocontact_gateway_data_stale": "max",
    "nocontact_gateway_index_entries": "min",
    "nocontact_gateway_identifiers_loaded": "min",
    "nocontact_gateway_hit_spool_backlog": "max",  # one spool file, shared: each worker reads it all
    "nocontact_sync_state": "state",
    "nocontact_sync_applied_version": "min",
    "nocontact_sync_entries": "min",
    "nocontact_sync_identifiers": "min",
    "nocontact_sync_serving": "min",
    "nocontact_sync_unindexable_entries": "max",
    "nocontact_sync_contact_age_seconds": "max",
    "nocontact_contact_tasks_open": "max",  # read from Redis by each worker: the same numbers
    "nocontact_contact_task_oldest_open_seconds": "max",
}

# A family as written to a worker's file: name, type, help, unit, [[sample name, labels, value]].
Family = list[Any]
Snapshot = tuple[int, list[Family]]  # (its number in this worker, its families)


def prepare(data_dir: Path) -> Path:
    """DATA_DIR/metrics, private and empty: what an earlier serve left counted then, not now (serve
    holds the data directory's lock, so no other serve uses it)."""
    directory = data_dir / DIR_NAME
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(mode=0o700)
    directory.chmod(0o700)  # whatever the umask
    (directory / _LOCK).touch(mode=0o600)
    return directory


class WorkerMetrics:
    """This worker's file in `directory`, and the merged view of all of them."""

    def __init__(self, directory: Path, pid: int | None = None) -> None:
        self.directory = directory
        self.pid = os.getpid() if pid is None else pid
        self.path = directory / f"worker-{self.pid}.json"
        self.fifo = directory / f"worker-{self.pid}.fifo"
        self._taken = 0  # snapshots taken (on the loop's thread)
        self._stored = 0  # the latest snapshot in the file
        self._storing = threading.Lock()
        self._fds: tuple[int, int] | None = None

    def listen(self, loop: asyncio.AbstractEventLoop, registry: CollectorRegistry) -> None:
        """Write this worker's file whenever another worker asks (a byte in this worker's FIFO),
        so the scrape it answers is up to date (`refresh_others`)."""
        os.mkfifo(self.fifo, 0o600)
        reader = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
        # Our own write end stays open: with none, the reader would read EOF and be ready forever.
        self._fds = (reader, os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK))

        def asked() -> None:
            with contextlib.suppress(BlockingIOError):
                while os.read(reader, 4096):
                    pass
            loop.run_in_executor(None, self.store, self.snapshot(registry)).add_done_callback(_stored)

        loop.add_reader(reader, asked)

    def close(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._fds is not None:
            loop.remove_reader(self._fds[0])
            for fd in self._fds:
                os.close(fd)
            self._fds = None

    async def refresh_others(self, within: float = REFRESH_WITHIN) -> None:
        """Ask every other live worker to write its file now, and wait (at most `within` seconds)
        until each has: a scrape then counts every request answered before it began."""
        waiting: dict[Path, int] = {}
        for fifo in self.directory.glob("worker-*.fifo"):
            if fifo == self.fifo:
                continue
            try:  # no reader (ENXIO): that worker has ended; no FIFO: it has been retired
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                continue
            path = fifo.with_suffix(".json")
            waiting[path] = _number(path)
            try:
                os.write(fd, b"\0")
            except OSError:  # its FIFO is full of requests already: it will write
                pass
            finally:
                os.close(fd)
        deadline = time.monotonic() + within
        while waiting and time.monotonic() < deadline:
            await asyncio.sleep(REFRESH_POLL)
            waiting = {path: n for path, n in waiting.items() if _number(path) <= n}

    def snapshot(self, registry: CollectorRegistry) -> Snapshot:
        """What this worker's registry collects now: on the loop's thread, where the request
        counters are kept (a couple of milliseconds; the rest, `store` and `render`, can run in a
        thread)."""
        self._taken += 1
        return self._taken, [_family(metric) for metric in registry.collect()]

    def store(self, snapshot: Snapshot) -> None:
        """This worker's file, for the others to merge; never replaced by an older snapshot (the
        periodic write and a scrape's may run in two threads at once), so no total goes back."""
        number, families = snapshot
        with self._storing:
            if number > self._stored:
                _write_json(self.path, {"number": number, "families": families})
                self._stored = number

    def write(self, registry: CollectorRegistry) -> None:
        self.store(self.snapshot(registry))

    def render(self, snapshot: Snapshot) -> bytes:
        """The exposition of every worker's metrics, this worker's being `snapshot` (stored first,
        so a later scrape answered by another worker never shows less than this one did)."""
        self.store(snapshot)
        with _locked(self.directory, fcntl.LOCK_SH):
            live = [_families_in(path) for path in sorted(self.directory.glob("worker-*.json"))]
            retired = _read_json(self.directory / RETIRED)
        return generate_latest(_Families(merge([f for f in live if f is not None], retired or [])))


def retire(directory: Path, pid: int) -> None:
    """Worker `pid` has ended: its counters join RETIRED and its file goes, in one step for anyone
    merging (the supervisor calls this after reaping it)."""
    path = directory / f"worker-{pid}.json"
    with _locked(directory, fcntl.LOCK_EX):
        ended = _families_in(path)
        if ended is not None:
            retired = _read_json(directory / RETIRED) or []
            summed = [f for f in _merged_families([retired, ended], []) if f[1] in _SUMMED]
            _write_json(directory / RETIRED, summed)
        for leftover in (path, path.with_suffix(".fifo"), *directory.glob(f".worker-{pid}.json.*.tmp")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def merge(live: Iterable[list[Family]], retired: list[Family]) -> list[Metric]:
    """The families of the live workers' files and the retired counters, as one set of metrics."""
    out = []
    for name, typ, documentation, unit, samples in _merged_families(list(live), retired):
        metric = Metric(name, documentation, typ, unit)
        for sample_name, labels, value in samples:
            metric.add_sample(sample_name, labels, value)
        out.append(metric)
    return out


def _merged_families(live: list[list[Family]], retired: list[Family]) -> list[Family]:
    heads: dict[str, tuple[str, str, str]] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], list[float]]] = {}
    for snapshot, alive in [*((s, True) for s in live), (retired, False)]:
        for name, typ, documentation, unit, samples in snapshot:
            if not alive and typ not in _SUMMED:
                continue  # an ended worker's gauges went with it
            heads.setdefault(name, (typ, documentation, unit))
            table = values.setdefault(name, {})
            for sample_name, labels, value in samples:
                table.setdefault((sample_name, tuple(sorted(labels.items()))), []).append(value)
    merged: list[Family] = []
    for name, (typ, documentation, unit) in heads.items():
        samples = [
            [sample_name, dict(labels), _combine(name, typ, sample_name, labels, found)]
            for (sample_name, labels), found in values[name].items()
        ]
        merged.append([name, typ, documentation, unit, samples])
    return merged


def _combine(
    name: str, typ: str, sample_name: str, labels: tuple[tuple[str, str], ...], found: list[float]
) -> float:
    if typ in _SUMMED:
        return min(found) if sample_name.endswith("_created") else sum(found)
    mode = GAUGE_MODES.get(name, "max")
    if mode == "state":
        mode = "min" if any(value in _GOOD_STATES for _, value in labels) else "max"
    if mode == "min":
        return min(found)
    if mode == "sum":
        return sum(found)
    return max(found)


def _family(metric: Metric) -> Family:
    samples = [[s.name, s.labels, s.value] for s in metric.samples]
    return [metric.name, metric.type, metric.documentation, metric.unit, samples]


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def _write_json(path: Path, content: Any) -> None:
    temporary = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    temporary.write_bytes(json.dumps(content, separators=(",", ":")).encode())
    temporary.replace(path)  # a reader sees the old file or the new one, never half of one


def _stored(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("worker %d: metrics not written for the other workers: %r", os.getpid(), future.exception())


def _families_in(path: Path) -> list[Family] | None:
    content = _read_json(path)
    return None if content is None else list(content["families"])


def _number(path: Path) -> int:
    """The number of the snapshot in a worker's file (0: none yet)."""
    content = _read_json(path)
    return 0 if content is None else int(content["number"])


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def _locked(directory: Path, how: int) -> Iterator[None]:
    fd = os.open(directory / _LOCK, os.O_RDONLY)
    try:
        fcntl.flock(fd, how)
        yield
    finally:
        os.close(fd)
