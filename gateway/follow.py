"""sync's Follower as the gateway's IndexSource (one per worker process, started in cleanup_ctx)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from sync.follower import Follower
from sync.metrics import SyncMetrics

if TYPE_CHECKING:
    from gateway.settings import GatewaySettings
    from matcher.index import Index
    from matcher.profile import Profile


class FollowerSource:
    def __init__(self, settings: GatewaySettings, profile: Profile, registry: CollectorRegistry) -> None:
        self.follower = Follower(settings.sync, profile, metrics=SyncMetrics(registry))

    @property
    def index(self) -> Index | None:
        return self.follower.index

    @property
    def state(self) -> str:
        return self.follower.status.state.name

    def age_seconds(self) -> float | None:
        return self.follower.status.contact_age

    async def start(self) -> None:
        await self.follower.start()

    async def stop(self) -> None:
        await self.follower.stop()
