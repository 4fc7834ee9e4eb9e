"""Prompt reconnection after a Sentinel failover: the sentinels' own announcements of a new primary.

A follower that loses the primary reconnects with jittered exponential back-off (sync.status.Backoff):
right against a Redis that is down, wrong after a failover, when the new primary is ready but the
follower sleeps out a back-off grown while the sentinels agreed (measured: enforced on both
gateways 1.5 s after the first write the new primary accepted). Each sentinel publishes what it
does on its own pub/sub channels; ``Switches`` listens on every sentinel of the URL to

- ``+failover-state-reconf-slaves`` (from the sentinel leading the failover: the replica is promoted,
  and from now on ``SENTINEL GET-MASTER-ADDR-BY-NAME`` names it), and
- ``+switch-master`` (from every sentinel once it has the new configuration; the others learn it
  from the leader's hello messages, up to two seconds later),

and counts the announcements for the URL's service. A follower's back-off sleep ends at one, and
its back-off starts over, so it asks the sentinels for the primary again at once. Nothing else
changes: with no announcement (a Redis that is down, not failed over) the back-off is as before; a
sentinel that cannot be reached is retried with the same back-off, and meanwhile the others (and,
failing all, the plain back-off) serve.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis

from sync.client import AsyncRedis
from sync.redis_url import StoreAddress, sentinel_clients
from sync.status import Backoff

log = logging.getLogger("nocontact.sync")

PROMOTED = "+failover-state-reconf-slaves"  # "master <service> <old ip> <old port>"
SWITCHED = "+switch-master"  # "<service> <old ip> <old port> <new ip> <new port>"
CHANNELS = (PROMOTED, SWITCHED)


def announced_service(channel: str, data: str) -> str | None:
    """The service a sentinel's announcement on `channel` is about, or None for anything else."""
    parts = data.split()
    if channel == SWITCHED and len(parts) == 5:
        return parts[0]
    if channel == PROMOTED and len(parts) >= 4 and parts[0] == "master":
        return parts[1]
    return None


class Switches:
    """Announcements of a new primary for `address`'s service, heard from any of its sentinels."""

    def __init__(self, address: StoreAddress, *, backoff: Backoff, **options: object) -> None:
        assert address.service is not None, "a Sentinel address"
        self.address = address
        self.service = address.service
        self.count = 0  # announcements heard so far (two or more per failover)
        self._backoff = backoff
        self._options = options
        self._changed = asyncio.Event()

    def heard(self, channel: str, data: str) -> bool:
        """Count an announcement if it is about our service; True when it was."""
        if announced_service(channel, data) != self.service:
            return False
        self.count += 1
        event, self._changed = self._changed, asyncio.Event()
        event.set()
        return True

    async def sleep(self, seconds: float, since: int) -> bool:
        """Sleep `seconds`, or less: True as soon as an announcement has been heard after the
        `since`-th (at once when one already has)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while self.count <= since:
                    await self._changed.wait()
        return self.count > since

    async def run(self) -> None:
        """Listen on every sentinel until cancelled."""
        clients = sentinel_clients(self.address, **self._options)
        try:
            async with asyncio.TaskGroup() as group:
                for client, (host, port) in zip(clients, self.address.sentinels, strict=True):
                    group.create_task(self._listen(client, f"{host}:{port}"), name="nocontact-sync-switches")
        finally:
            for client in clients:
                with contextlib.suppress(redis.RedisError, OSError):
                    await client.aclose()

    async def _listen(self, client: AsyncRedis, where: str) -> None:
        backoff = Backoff(self._backoff.initial, self._backoff.cap)
        failing = False
        while True:
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(*CHANNELS)
                    if failing:
                        log.info("sync: listening to sentinel %s again", where)
                    failing = False
                    backoff.reset()
                    while True:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                        if message is not None and self.heard(message["channel"], message["data"]):
                            log.info("sync: sentinel %s: %s %s", where, message["channel"], message["data"])
            except (redis.RedisError, OSError, TimeoutError) as exc:
                if not failing:
                    log.warning("sync: cannot listen to sentinel %s: %s", where, exc.__class__.__name__)
                failing = True
            await asyncio.sleep(backoff.next())
