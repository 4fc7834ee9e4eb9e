"""Acknowledged only once a replica holds it: WAIT, asked so that the answer covers every write this
process has finished, whichever pooled connection made it.

WAIT counts only the writes of the connection that sends it. A client's pool hands each command
any idle connection, so a WAIT sent after a write can land on a connection that never wrote and
answer at once with every connected replica, however far behind (checked: a replica stopped with
SIGSTOP, a write on one connection, WAIT 1 on another returns 1 immediately). So the ask first
PUBLISHes to a channel no one reads, on the connection that then sends WAIT, in one pipeline: the
publish is propagated to the replicas after every write already answered, and WAIT waits for it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sync.errors import NotReplicated
from sync.keys import Keys
from sync.settings import SyncSettings

log = logging.getLogger("nocontact.sync")


@dataclass(frozen=True, slots=True)
class Replication:
    """How many replicas must hold a write before it is acknowledged (0: none, no WAIT), and for
    how long to wait for them."""

    replicas: int = 0
    wait_ms: int = 2000
    keys: Keys = field(default_factory=Keys)

    @classmethod
    def configured(cls, settings: SyncSettings) -> Replication:
        """The deployment's: ``[sync] write_replicas`` (one under a Sentinel URL) and ``write_wait_ms``."""
        return cls(settings.acknowledging_replicas, settings.write_wait_ms, settings.keys)

    def confirm(self, client: Any) -> None:
        """Return once the replicas hold every write this process has finished on `client`'s
        server; NotReplicated if they do not within `wait_ms` (the writes stay in the primary)."""
        if self.replicas:
            with client.pipeline(transaction=False) as pipe:
                pipe.publish(self.keys.acknowledge, "")
                pipe.wait(self.replicas, self.wait_ms)
                self._check(int(pipe.execute()[1]))

    async def confirm_async(self, client: Any) -> None:
        """`confirm` with an asyncio client."""
        if self.replicas:
            async with client.pipeline(transaction=False) as pipe:
                pipe.publish(self.keys.acknowledge, "")
                pipe.wait(self.replicas, self.wait_ms)
                self._check(int((await pipe.execute())[1]))

    def _check(self, acknowledged: int) -> None:
        if acknowledged < self.replicas:
            log.warning("sync: write not acknowledged (%d of %d replicas)", acknowledged, self.replicas)
            raise NotReplicated(self.replicas, acknowledged)
