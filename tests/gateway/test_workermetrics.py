"""gateway.workermetrics's merge, on files as two workers write them: counters and histograms add
up, gauges follow GAUGE_MODES, and an ended worker's counters stay in the totals while its gauges
go (the real `serve --workers 2` is tests/gateway/test_workers.py)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.parser import text_string_to_metric_families

from gateway.metrics import Metrics
from gateway.workermetrics import WorkerMetrics, prepare, retire


def worker(directory: Path, pid: int, state: str, version: int, calls: int) -> Metrics:
    metrics = Metrics(WorkerMetrics(directory, pid))
    for _ in range(calls):
        metrics.observe_request("/v1/screen/call", "POST", 200, 0.0004)
    states = Gauge("nocontact_gateway_index_state", "", ["state"], registry=metrics.registry)
    for name in ("VALID", "INTERRUPTED"):
        states.labels(name).set(1.0 if name == state else 0.0)
    Gauge("nocontact_gateway_index_version", "", registry=metrics.registry).set(version)
    Counter("nocontact_sync_swaps", "", registry=metrics.registry).inc(version)
    assert metrics.shared is not None
    metrics.shared.write(metrics.registry)
    return metrics


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


CALLS = (
    "nocontact_gateway_http_requests_total",
    (("endpoint", "/v1/screen/call"), ("method", "POST"), ("status", "200")),
)
BUCKET = (
    "nocontact_gateway_http_request_duration_seconds_bucket",
    (("endpoint", "/v1/screen/call"), ("le", "0.0005")),
)
VALID = ("nocontact_gateway_index_state", (("state", "VALID"),))
INTERRUPTED = ("nocontact_gateway_index_state", (("state", "INTERRUPTED"),))
VERSION = ("nocontact_gateway_index_version", ())
SWAPS = ("nocontact_sync_swaps_total", ())


def test_workers_merge_and_an_ended_workers_counts_stay(tmp_path: Path) -> None:
    directory = prepare(tmp_path)
    assert oct(directory.stat().st_mode & 0o777) == "0o700"
    first = worker(directory, 101, "VALID", 7, calls=3)
    second = worker(directory, 102, "INTERRUPTED", 6, calls=4)

    merged = samples(first.render().decode())
    assert merged == samples(second.render().decode())  # whichever worker answers
    assert merged[CALLS] == 7 and merged[BUCKET] == 7 and merged[SWAPS] == 13
    assert merged[VERSION] == 6  # the version every worker enforces
    assert merged[VALID] == 0 and merged[INTERRUPTED] == 1  # VALID only when all are

    retire(directory, 102)  # the second worker ended (kill -9): its counts stay, its gauges go
    assert not (directory / "worker-102.json").exists()
    after = samples(first.render().decode())
    assert after[CALLS] == 7 and after[SWAPS] == 13
    assert after[VERSION] == 7 and after[VALID] == 1 and after[INTERRUPTED] == 0

    worker(directory, 103, "VALID", 7, calls=1)  # its replacement starts from nothing
    assert samples(first.render().decode())[CALLS] == 8


def test_an_older_snapshot_never_replaces_a_newer_one(tmp_path: Path) -> None:
    directory = prepare(tmp_path)
    metrics = Metrics(WorkerMetrics(directory, 101))
    shared = metrics.shared
    assert shared is not None
    metrics.observe_request("/v1/screen/call", "POST", 200, 0.0004)
    older = shared.snapshot(metrics.registry)
    metrics.observe_request("/v1/screen/call", "POST", 200, 0.0004)
    newer = shared.snapshot(metrics.registry)
    shared.store(newer)
    shared.store(older)  # the periodic write's thread, late: a total must not go back
    reader = WorkerMetrics(directory, 999)
    assert samples(reader.render(reader.snapshot(CollectorRegistry())).decode())[CALLS] == 2
