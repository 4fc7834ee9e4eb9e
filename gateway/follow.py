"""sync's Follower as the gateway's IndexSource (one per worker process, started in cleanup_ctx)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry

from gateway.settings import GatewaySettings
from matcher.index import Index
from matcher.profile import Profile
from sync.follower import Follower
from sync.metrics import SyncMetrics
from sync.status import SyncState


class FollowerSource:
    def __init__(self, settings: GatewaySettings, profile: Profile, registry: CollectorRegistry) -> None:
        self.follower = Follower(settings.sync, profile, metrics=SyncMetrics(registry))

    @property
    def index(self) -> Index | None:
        return self.follower.index

    @property
    def state(self) -> str:
        return self.follower.status.state.name

    @property
    def reason(self) -> str:
        status = self.follower.status
        return "" if status.state is SyncState.VALID else status.reason

    def age_seconds(self) -> float | None:
        return self.follower.status.contact_age

    def stale(self, max_age: float) -> bool:
        status = self.follower.status
        contact = status.last_contact
        return status.state is not SyncState.VALID or contact is None or time.monotonic() - contact > max_age

    async def start(self) -> None:
        await self.follower.start()

    async def stop(self) -> None:
        await self.follower.stop()
