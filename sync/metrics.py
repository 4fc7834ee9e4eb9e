"""Prometheus metrics of one follower. Pass the gateway's registry; the default is a private one
so several followers (tests, benchmarks) can live in one process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import Enum as EnumMetric

from sync.status import SyncState, SyncStatus


class SyncMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.state = EnumMetric(
            "nocontact_sync_state", "Follower state.", states=[s.value for s in SyncState], registry=r
        )
        self.version = Gauge("nocontact_sync_applied_version", "Version of the served index.", registry=r)
        self.entries = Gauge("nocontact_sync_entries", "Entries in the served index.", registry=r)
        self.identifiers = Gauge("nocontact_sync_identifiers", "Identifiers in the served index.", registry=r)
        self.serving = Gauge("nocontact_sync_serving", "1 when an index is loaded.", registry=r)
        self.unindexable = Gauge(
            "nocontact_sync_unindexable_entries", "Store entries not indexable.", registry=r
        )
        self.contact_age = Gauge(
            "nocontact_sync_contact_age_seconds", "Since the last Redis round trip.", registry=r
        )
        self.changes = Counter("nocontact_sync_changes_applied", "Stream changes applied.", registry=r)
        self.resyncs = Counter("nocontact_sync_resyncs", "Full resyncs, by reason.", ["reason"], registry=r)
        self.refusals = Counter("nocontact_sync_refusals", "Cuts refused, by reason.", ["reason"], registry=r)
        self.swaps = Counter("nocontact_sync_swaps", "Index swaps, by kind.", ["kind"], registry=r)
        self.build_seconds = Histogram(
            "nocontact_sync_build_seconds", "Time to build an index aside, by kind.", ["kind"], registry=r
        )
        self.snapshot_writes = Counter("nocontact_sync_snapshot_writes", "Snapshots written.", registry=r)

    def observe(self, status: SyncStatus) -> None:
        self.state.state(status.state.value)
        self.version.set(status.version)
        self.entries.set(status.entries)
        self.identifiers.set(status.identifiers)
        self.serving.set(1 if status.serving else 0)
        self.unindexable.set(len(status.unindexable))
        age = status.contact_age
        if age is not None:
            self.contact_age.set(age)
