"""Entries for sync tests: valid under the gb profile, with fictional (Ofcom drama range) numbers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from matcher.entries import Entry
from sync.follower import Follower
from sync.keys import Keys
from sync.settings import SyncSettings
from sync.writer import Writer

PREFIX = "t:"
KEYS = Keys(PREFIX)


def fast_settings(url: str | None, data_dir: Path, **overrides: Any) -> SyncSettings:
    values: dict[str, Any] = {
        "redis_url": url,
        "prefix": PREFIX,
        "data_dir": data_dir,
        "socket_timeout": 2.0,
        "connect_timeout": 0.5,
        "block_ms": 200,
        "stale_after": 1.5,
        "backoff_initial": 0.02,
        "backoff_max": 0.2,
        "initial_wait": 3.0,
        "snapshot_min_interval": 0.0,
        "heartbeat_interval": 0.2,
        "heartbeat_ttl": 1.0,
        "gateway_id": f"gw-{data_dir.name}",
    }
    values.update(overrides)
    return SyncSettings(**values)


def phone(i: int) -> str:
    return f"07700 9{i % 100_000:05d}"


def make_entry(i: int, *, prisoner: str = "A1234BC", emails: bool = True) -> Entry:
    person: dict[str, object] = {"name": f"Person {i}", "phones": [phone(i)]}
    if emails:
        person["emails"] = [f"person{i}@example.com"]
    return Entry.from_dict({"reference": f"UPC-{i:06d}", "prisoner": prisoner, "protected": [person]})


def address_entry(i: int) -> Entry:
    """An entry with one postal address (and a phone), valid under the gb profile."""
    return Entry.from_dict(
        {
            "reference": f"ADDR-{i:06d}",
            "prisoner": "A1234BC",
            "protected": [
                {
                    "name": f"Jane Smith{i}",
                    "phones": [f"07700 9{i:05d}"],
                    "addresses": [
                        {"lines": [f"{i % 300 + 1} Street{i} Road", "Hull"], "postcode": "HU1 2AB"}
                    ],
                }
            ],
        }
    )


def entries(n: int, start: int = 0) -> list[Entry]:
    return [make_entry(i) for i in range(start, start + n)]


def blocks(index: Any, i: int, *, prisoner: str = "Z9999ZZ") -> bool:
    """Whether `index` blocks a call to entry i's number (from any prisoner: relays count)."""
    return bool(index is not None and index.screen_call("HLI", prisoner, phone(i)).decision == "block")


def sample(registry: Any, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else float(value)


FollowerFactory = Callable[..., Follower]
WriterFactory = Callable[..., Writer]


class ReadGate:
    """A follower's ``before_read`` hook that holds it before its next XREAD while closed:
    ``await gate.close()`` returns once the follower waits there; ``gate.open()`` lets it go."""

    def __init__(self) -> None:
        self.closed = False
        self.waiting = asyncio.Event()
        self.opened = asyncio.Event()

    async def before_read(self) -> None:
        if self.closed:
            self.waiting.set()
            await self.opened.wait()

    async def close(self, timeout: float = 5.0) -> None:
        self.closed = True
        await asyncio.wait_for(self.waiting.wait(), timeout)

    def open(self) -> None:
        self.closed = False
        self.opened.set()
