"""Sync configuration: a frozen dataclass built from the deployment file's ``[sync]`` table plus
environment overrides (``NOCONTACT_REDIS_URL``, ``NOCONTACT_REDIS_PREFIX``, ``NOCONTACT_DATA_DIR``,
``NOCONTACT_GATEWAY_ID``), through ``config.settings.load_settings``."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from config.settings import load_settings, setting
from matcher.errors import ConfigError
from sync.keys import DEFAULT_PREFIX, Keys
from sync.redis_url import StoreAddress

DATA_DIR = Path("data")


@dataclass(frozen=True, slots=True)
class SyncSettings:
    # None: start the embedded redis-server under data_dir. redis://, rediss://, unix:// or
    # redis+sentinel://HOST:PORT[,HOST:PORT...]/SERVICE[/DB] (sync.redis_url)
    redis_url: str | None = setting(None, env="NOCONTACT_REDIS_URL")
    prefix: str = setting(DEFAULT_PREFIX, env="NOCONTACT_REDIS_PREFIX")
    data_dir: Path = setting(DATA_DIR, env="NOCONTACT_DATA_DIR")
    snapshot_path: Path | None = None  # default: data_dir / "snapshot.jsonl"
    gateway_id: str | None = setting(None, env="NOCONTACT_GATEWAY_ID")  # default: hostname-pid
    # Redis client and follow loop
    socket_timeout: float = 5.0
    connect_timeout: float = 2.0
    block_ms: int = 1000  # XREAD BLOCK; well under socket_timeout
    read_count: int = 500  # messages per XREAD, applied as one delta
    stream_max_len: int = 100_000  # XADD MAXLEN ~
    stale_after: float = 10.0  # watchdog: no round trip with Redis for this long -> INTERRUPTED
    backoff_initial: float = 0.05
    backoff_max: float = 5.0
    initial_wait: float = 5.0  # start() waits this long for a first index before returning
    # Guard against swapping in an empty or sharply shrunken blocklist
    max_shrink: float = 0.2  # share of the last good index's entries a new epoch may lose silently
    # Index building
    max_delta: int = 50_000  # a resync applies the difference to the live index up to this many entries
    compact_after: int = 10_000  # changes layered on the live index before it is rebuilt (when idle)
    # Local snapshot file
    snapshot_min_interval: float = 2.0  # seconds between two writes; the last change is always written
    # Heartbeat (and one at once whenever the served version changes)
    heartbeat_interval: float = 2.0
    heartbeat_ttl: float = 10.0
    # High availability. A write is acknowledged once WAIT sees it on this many replicas (None: one
    # under a Sentinel URL, none otherwise); a follower may read the change stream from a replica.
    write_replicas: int | None = None
    write_wait_ms: int = 2000
    follow_replicas: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_shrink <= 1.0:
            raise ConfigError("sync.max_shrink", self.max_shrink, "Expected a share between 0 and 1.")
        if self.block_ms <= 0 or self.block_ms / 1000 >= self.socket_timeout:
            raise ConfigError("sync.block_ms", self.block_ms, "Expected positive ms, under socket_timeout.")
        if self.heartbeat_ttl <= self.heartbeat_interval:
            raise ConfigError("sync.heartbeat_ttl", self.heartbeat_ttl, "Expected > heartbeat_interval.")
        for name in ("socket_timeout", "connect_timeout", "stale_after", "backoff_initial", "backoff_max"):
            value = getattr(self, name)
            if value <= 0:
                raise ConfigError(f"sync.{name}", value, "Expected a positive number of seconds.")
        for name in ("read_count", "stream_max_len", "max_delta", "compact_after", "write_wait_ms"):
            if getattr(self, name) < 1:
                raise ConfigError(f"sync.{name}", getattr(self, name), "Expected a positive int.")
        if self.write_replicas is not None and self.write_replicas < 0:
            raise ConfigError("sync.write_replicas", self.write_replicas, "Expected 0 or more replicas.")
        if self.redis_url is not None:
            StoreAddress.parse(self.redis_url, key="sync.redis_url")

    @property
    def acknowledging_replicas(self) -> int:
        """How many replicas must hold a write before it is acknowledged."""
        if self.write_replicas is not None:
            return self.write_replicas
        return 1 if self.redis_url is not None and StoreAddress.parse(self.redis_url).sentinel else 0

    @property
    def keys(self) -> Keys:
        return Keys(self.prefix)

    @property
    def snapshot_file(self) -> Path:
        return self.snapshot_path if self.snapshot_path is not None else self.data_dir / "snapshot.jsonl"

    @property
    def gateway_name(self) -> str:
        return self.gateway_id or f"{socket.gethostname()}-{os.getpid()}"

    def with_(self, **changes: Any) -> SyncSettings:
        return replace(self, **changes)

    @classmethod
    def from_mapping(
        cls, table: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None, **given: Any
    ) -> SyncSettings:
        """From a ``[sync]`` table (keys named as the fields), the environment over it (``os.environ``
        when `environ` is None), and `given` over both."""
        return load_settings(cls, "sync", table, environ, **given)
