"""The follower's states, its status snapshot and the reconnect backoff."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from enum import StrEnum


class SyncState(StrEnum):
    """Where a gateway's matcher stands relative to the store (exported as a metric and heartbeat)."""

    INITIALIZING = "initializing"
    """Starting: the snapshot file, if there is a valid one, is loaded and served; the first contact
    with the store has not finished yet."""
    VALID = "valid"
    """In sync: serving the index of the store's current epoch and following its change stream."""
    INTERRUPTED = "interrupted"
    """Not in sync with the store: serving the last good index (if there is one) while retrying.
    The reason names the fault: store unreachable, nothing published, a cut refused by the shrink
    guard, no contact for too long."""
    OFF = "off"
    """Not running: before start() and after stop()."""


@dataclass(frozen=True, slots=True)
class SyncStatus:
    state: SyncState
    reason: str
    epoch: str | None = None
    version: int = 0  # the version the served index is at (0 with no index)
    entries: int = 0
    identifiers: int = 0
    serving: bool = False  # an index is loaded and answering
    since: float = 0.0  # time.monotonic() of the last state change
    last_contact: float | None = None  # time.monotonic() of the last round trip with the store
    unindexable: tuple[str, ...] = ()  # references in the store the index could not take

    @property
    def contact_age(self) -> float | None:
        """Seconds since the last round trip with the store, on the local monotonic clock."""
        return None if self.last_contact is None else time.monotonic() - self.last_contact

    def to_dict(self) -> dict[str, object]:
        age = self.contact_age
        return {
            "state": self.state.value,
            "reason": self.reason,
            "epoch": self.epoch,
            "version": self.version,
            "entries": self.entries,
            "identifiers": self.identifiers,
            "serving": self.serving,
            "contact_age_s": None if age is None else round(age, 3),
            "unindexable": list(self.unindexable),
        }


class Backoff:
    """Exponential backoff with full jitter: the n-th delay is uniform in [initial, min(cap, initial*2^n)]."""

    def __init__(self, initial: float, cap: float, rng: random.Random | None = None) -> None:
        self.initial = initial
        self.cap = cap
        self.attempt = 0
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security

    def next(self) -> float:
        ceiling = min(self.cap, self.initial * (2**self.attempt))
        self.attempt = min(self.attempt + 1, 32)
        return self._rng.uniform(self.initial, max(self.initial, ceiling))

    def reset(self) -> None:
        self.attempt = 0
