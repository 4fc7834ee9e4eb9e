"""What the gateway needs from whatever keeps the matcher's index current (sync's follower in
production, a fixed index offline and in tests): the live index, its state and its age."""

from __future__ import annotations

import time
from typing import Protocol

from matcher.index import Index

STATES = ("INITIALIZING", "VALID", "INTERRUPTED", "OFF")


class IndexSource(Protocol):
    @property
    def index(self) -> Index | None:
        """The index to screen with (None until one is loaded). Read once per request."""

    @property
    def state(self) -> str:
        """One of STATES."""

    @property
    def reason(self) -> str:
        """Why the state is what it is, in words for an operator ("" when there is nothing to say):
        the store unreachable, nothing published, a cut refused..."""

    def age_seconds(self) -> float | None:
        """Seconds since the index was last confirmed current against the store (monotonic clock);
        None if never."""

    def stale(self, max_age: float) -> bool:
        """Not VALID, never confirmed, or confirmed more than `max_age` seconds ago. Asked by every
        screening request, so one call rather than ``state`` and ``age_seconds``."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class StaticSource:
    """A fixed index, VALID and fresh: offline use and tests. `set_index` swaps it; `mark` lets a
    test force a state or an age."""

    def __init__(self, index: Index | None, state: str = "VALID") -> None:
        self._index = index
        self._state = state
        self._confirmed: float | None = time.monotonic() if index is not None else None
        self._frozen_age: float | None = None

    @property
    def index(self) -> Index | None:
        return self._index

    @property
    def state(self) -> str:
        return self._state

    @property
    def reason(self) -> str:
        return ""

    def age_seconds(self) -> float | None:
        if self._frozen_age is not None:
            return self._frozen_age
        return None if self._confirmed is None else time.monotonic() - self._confirmed

    def stale(self, max_age: float) -> bool:
        if self._state != "VALID":
            return True
        age = self._frozen_age
        if age is None:
            if self._confirmed is None:
                return True
            age = time.monotonic() - self._confirmed
        return age > max_age

    def set_index(self, index: Index | None) -> None:
        self._index = index
        self._confirmed = time.monotonic()

    def mark(self, state: str, age: float | None = None) -> None:
        assert state in STATES
        self._state = state
        self._frozen_age = age

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
