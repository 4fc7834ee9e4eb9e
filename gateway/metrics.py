"""Prometheus metrics, one registry per app. Request and decision counters are updated on the
request path through cached label children; sync and spool gauges are read at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.source import STATES

if TYPE_CHECKING:
    from gateway.shipper import Shipper
    from gateway.source import IndexSource

LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "nocontact_gateway_http_requests",
            "HTTP requests answered, by endpoint and status.",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "nocontact_gateway_http_request_duration_seconds",
            "Time to answer an HTTP request, by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.decisions = Counter(
            "nocontact_gateway_decisions",
            "Screening decisions by channel, decision and primary/relay match.",
            ["channel", "decision", "match"],
            registry=self.registry,
        )
        self.hits_recorded = Counter(
            "nocontact_gateway_hits_recorded",
            "Hits committed to the local spool.",
            registry=self.registry,
        )
        self._request_children: dict[tuple[str, str, int], Any] = {}
        self._latency_children: dict[str, Any] = {}
        self._decision_children: dict[tuple[str, str, bool | None], Any] = {}

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        key = (endpoint, method, status)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self.requests.labels(endpoint, method, str(status))
        child.inc()
        timer = self._latency_children.get(endpoint)
        if timer is None:
            timer = self._latency_children[endpoint] = self.latency.labels(endpoint)
        timer.observe(seconds)

    def observe_decision(self, channel: str, decision: str, relay: bool | None) -> None:
        key = (channel, decision, relay)
        child = self._decision_children.get(key)
        if child is None:
            match = "none" if relay is None else ("relay" if relay else "primary")
            child = self._decision_children[key] = self.decisions.labels(channel, decision, match)
        child.inc()

    def watch(self, source: IndexSource, shipper: Callable[[], Shipper | None], max_age: float) -> None:
        self.registry.register(_StateCollector(source, shipper, max_age))

    def render(self) -> bytes:
        return generate_latest(self.registry)


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
