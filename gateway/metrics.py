"""Prometheus metrics, one registry per app. The request path only bumps plain ints (request and
decision counters, latency histogram buckets): no locks, no label lookups. That is safe because
they are updated and read on the event loop's thread only; a Collector turns them into metric
families at scrape time. Sync and spool gauges are read at scrape time too. Under ``serve --workers
N`` a scrape shows every worker's metrics merged (gateway.workermetrics)."""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from gateway.hitlog.shipper import Shipper
from gateway.source import STATES, IndexSource
from gateway.workermetrics import WorkerMetrics

LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_MATCH = {None: "none", True: "relay", False: "primary"}
_BUCKET_LABELS = (*(str(b) for b in LATENCY_BUCKETS), "+Inf")  # as prometheus_client writes them


class LatencyHistogram:
    """One endpoint's latency: counts per bucket (not cumulative; the last one is +Inf) and the sum.
    A value equal to a bound counts in that bound's bucket, as Prometheus's `le` says."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for label, count in zip(_BUCKET_LABELS, self.counts, strict=True):
            running += count
            out.append((label, float(running)))
        return out


class Metrics:
    def __init__(self, shared: WorkerMetrics | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.shared = shared  # one of several workers: written to a file, merged with the others
        # (endpoint, method, status) -> requests answered
        self.requests: dict[tuple[str, str, int], int] = {}
        # endpoint -> its latency histogram
        self.latency: dict[str, LatencyHistogram] = {}
        # (channel, decision, relay) -> decisions; relay None means no match
        self.decisions: dict[tuple[str, str, bool | None], int] = {}
        self.hits_recorded = 0
        # endpoint -> requests whose client went away before the answer
        self.closed: dict[str, int] = {}
        # why ("length" | "work") -> letters and messages screened in the screening thread
        self.off_loop: dict[str, int] = {}
        self.registry.register(_TrafficCollector(self))

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.answered((endpoint, method, status), seconds)

    def answered(self, key: tuple[str, str, int], seconds: float) -> None:
        """A request answered: counted under `key` (endpoint, method, status) and timed under its
        endpoint. Every route's metrics go through here; the screening routes pass a key made once."""
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1
        endpoint = key[0]
        (self.latency.get(endpoint) or self.histogram(endpoint)).observe(seconds)

    def histogram(self, endpoint: str) -> LatencyHistogram:
        """The endpoint's latency histogram; made (and from then on exported) on first use."""
        histogram = self.latency.get(endpoint)
        if histogram is None:
            histogram = self.latency[endpoint] = LatencyHistogram()
        return histogram

    def observe_decision(self, channel: str, decision: str, relay: bool | None) -> None:
        key = (channel, decision, relay)
        decisions = self.decisions
        decisions[key] = decisions.get(key, 0) + 1

    def client_closed(self, endpoint: str) -> None:
        self.closed[endpoint] = self.closed.get(endpoint, 0) + 1

    def screened_off_loop(self, why: str) -> None:
        self.off_loop[why] = self.off_loop.get(why, 0) + 1

    def hit_recorded(self) -> None:
        self.hits_recorded += 1

    def watch(self, source: IndexSource, shipper: Callable[[], Shipper | None], max_age: float) -> None:
        self.registry.register(_StateCollector(source, shipper, max_age))

    def render(self) -> bytes:
        if self.shared is not None:
            return self.shared.render(self.shared.snapshot(self.registry))
        return generate_latest(self.registry)

    async def exposition(self) -> bytes:
        """/metrics's body. One of several workers collects on the loop, then merges the workers'
        files in a thread (tens of milliseconds that must not stall the loop)."""
        if self.shared is None:
            return generate_latest(self.registry)
        await self.shared.refresh_others()
        families = self.shared.snapshot(self.registry)
        return await asyncio.get_running_loop().run_in_executor(None, self.shared.render, families)


class _TrafficCollector(Collector):
    """The request-path counters as metric families; read on the loop thread (the /metrics handler)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        m = self.metrics
        requests = CounterMetricFamily(
            "nocontact_gateway_http_requests",
            "HTTP requests answered, by endpoint and status.",
            labels=["endpoint", "method", "status"],
        )
        for (endpoint, method, status), count in sorted(m.requests.items()):
            requests.add_metric([endpoint, method, str(status)], count)
        yield requests
        closed = CounterMetricFamily(
            "nocontact_gateway_http_client_closed",
            "Requests whose client went away before the answer (not answered, not an error).",
            labels=["endpoint"],
        )
        for endpoint, count in sorted(m.closed.items()):
            closed.add_metric([endpoint], count)
        yield closed
        off_loop = CounterMetricFamily(
            "nocontact_gateway_screened_off_loop",
            "Letters and messages screened in the screening thread, not on the event loop: too long "
            "(length) or too much to look at one by one (work).",
            labels=["why"],
        )
        for why, count in sorted(m.off_loop.items()):
            off_loop.add_metric([why], count)
        yield off_loop
        latency = HistogramMetricFamily(
            "nocontact_gateway_http_request_duration_seconds",
            "Time to answer an HTTP request, by endpoint.",
            labels=["endpoint"],
        )
        for endpoint, histogram in sorted(m.latency.items()):
            latency.add_metric([endpoint], histogram.cumulative(), histogram.total)
        yield latency
        decisions = CounterMetricFamily(
            "nocontact_gateway_decisions",
            "Screening decisions by channel, decision and primary/relay match.",
            labels=["channel", "decision", "match"],
        )
        rows = sorted(
            ([channel, decision, _MATCH[relay]], count)
            for (channel, decision, relay), count in m.decisions.items()
        )
        for labels, count in rows:
            decisions.add_metric(labels, count)
        yield decisions
        yield CounterMetricFamily(
            "nocontact_gateway_hits_recorded", "Hits committed to the local spool.", value=m.hits_recorded
        )


class _StateCollector(Collector):
    def __init__(self, source: IndexSource, shipper: Callable[[], Shipper | None], max_age: float) -> None:
        self.source = source
        self.shipper = shipper
        self.max_age = max_age
        self._counted: tuple[tuple[int, int], int] | None = (
            None  # (id(index), identifiers): counting is O(entries)
        )

    def collect(self) -> Iterator[Any]:
        state = GaugeMetricFamily(
            "nocontact_gateway_index_state", "1 for the index source's current state.", labels=["state"]
        )
        current = self.source.state
        for name in STATES:
            state.add_metric([name], 1.0 if name == current else 0.0)
        yield state
        index = self.source.index
        age = self.source.age_seconds()
        yield GaugeMetricFamily(
            "nocontact_gateway_index_version",
            "Store version of the index being screened with (-1: none).",
            value=-1 if index is None else index.version,
        )
        yield GaugeMetricFamily(
            "nocontact_gateway_data_age_seconds",
            "Seconds since the index was last confirmed current against the store (-1: never).",
            value=-1 if age is None else age,
        )
        yield GaugeMetricFamily(
            "nocontact_gateway_data_stale",
            "1 when the data is older than the configured limit or not VALID.",
            value=1.0 if (age is None or age > self.max_age or current != "VALID") else 0.0,
        )
        entries = GaugeMetricFamily(
            "nocontact_gateway_index_entries",
            "Entries in the index.",
            value=0 if index is None else index.entry_count,
        )
        yield entries
        yield GaugeMetricFamily(
            "nocontact_gateway_identifiers_loaded",
            "Phones, emails and addresses in the index.",
            value=self._identifiers(index),
        )
        shipper = self.shipper()
        yield GaugeMetricFamily(
            "nocontact_gateway_hit_spool_backlog",
            "Hits spooled locally, not yet in Redis.",
            value=0 if shipper is None else shipper.backlog,
        )
        yield CounterMetricFamily(
            "nocontact_gateway_hits_shipped",
            "Hits added to the Redis hits stream.",
            value=0 if shipper is None else shipper.shipped,
        )
        yield CounterMetricFamily(
            "nocontact_gateway_hit_ship_errors",
            "Failed attempts to ship hits to Redis.",
            value=0 if shipper is None else shipper.errors,
        )

    def _identifiers(self, index: Any) -> int:
        if index is None:
            return 0
        key = (id(index), int(index.version))
        if self._counted is None or self._counted[0] != key:
            self._counted = (key, int(index.identifier_count))
        return self._counted[1]
