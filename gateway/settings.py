"""Gateway configuration: a frozen dataclass from the deployment file's ``[gateway]`` table plus
environment overrides; the ``[sync]`` table becomes the embedded SyncSettings. A bad value's error
names the key and the value."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from config import read_deployment
from matcher.errors import ConfigError
from sync.settings import SyncSettings

STALE_POLICIES = ("serve", "refuse")


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    config_file: Path | None = None  # deployment TOML (profile overrides, [gateway], [sync])
    # Stale data: the matcher's data is stale when its last confirmed round trip with the store is
    # older than max_data_age. "serve" answers from the last good index and flags it (stale: true);
    # "refuse" answers 503 so the PBX fails safe.
    max_data_age: float = 30.0
    stale_policy: str = "serve"
    admin_token: str | None = None  # NOCONTACT_ADMIN_TOKEN
    token_refresh: float = 2.0  # seconds between token-cache refreshes (revocations take this long)
    ship_batch: int = 200
    ship_retry_max: float = 5.0
    # Seconds the shipper waits after a hit wakes it, so hits close together ship as one batch.
    ship_linger: float = 0.1
    spool_retention_days: float = 30.0  # shipped hits are kept locally this long
    access_log: bool = True
    # Successful screening answers are counted and timed in /metrics and every non-allow one is
    # in the hit log; a log line for each as well cost ~35% of the call endpoint's throughput.
    log_screening: bool = False
    sync: SyncSettings = field(default_factory=SyncSettings)

    def __post_init__(self) -> None:
        if self.stale_policy not in STALE_POLICIES:
            raise ConfigError(
                "gateway.stale_policy", self.stale_policy, f"Expected one of {list(STALE_POLICIES)}."
            )
        if not 0 <= self.port <= 65535:
            raise ConfigError("gateway.port", self.port, "Expected a TCP port.")
        if self.workers < 1:
            raise ConfigError("gateway.workers", self.workers, "Expected at least 1.")
        for name in ("max_data_age", "token_refresh", "ship_retry_max", "spool_retention_days"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"gateway.{name}", getattr(self, name), "Expected a positive number.")
        if not 0 <= self.ship_linger <= 5:
            raise ConfigError("gateway.ship_linger", self.ship_linger, "Expected 0 to 5 seconds.")
        if self.ship_batch < 1:
            raise ConfigError("gateway.ship_batch", self.ship_batch, "Expected a positive int.")

    @property
    def data_dir(self) -> Path:
        return self.sync.data_dir

    @property
    def spool_file(self) -> Path:
        return self.data_dir / "hits.sqlite3"

    def with_(self, **changes: Any) -> GatewaySettings:
        return replace(self, **changes)

    @classmethod
    def load(
        cls,
        config_file: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> GatewaySettings:
        """From the deployment file (``--config`` or NOCONTACT_CONFIG), then the environment, then
        `overrides` (command-line options; None values are ignored). ``data_dir`` goes to sync."""
        env = os.environ if environ is None else environ
        path = config_file if config_file is not None else env.get("NOCONTACT_CONFIG")
        document = read_deployment(path, env)
        table = _table(document, "gateway")
        sync_table = dict(_table(document, "sync"))
        data_dir = overrides.pop("data_dir", None)
        if data_dir is not None:
            sync_table["data_dir"] = str(data_dir)
        sync_env = dict(env)
        if data_dir is not None:
            sync_env.pop("NOCONTACT_DATA_DIR", None)
        sync = SyncSettings.from_mapping(sync_table, sync_env)
        known = {f.name: f for f in fields(cls) if f.name not in ("sync", "config_file")}
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key not in known:
                raise ConfigError(f"gateway.{key}", value, f"Unknown key; expected one of {sorted(known)}.")
            values[key] = _coerce(f"gateway.{key}", value, str(known[key].type))
        for var, key in (
            ("NOCONTACT_HOST", "host"),
            ("NOCONTACT_PORT", "port"),
            ("NOCONTACT_WORKERS", "workers"),
            ("NOCONTACT_ADMIN_TOKEN", "admin_token"),
            ("NOCONTACT_STALE_POLICY", "stale_policy"),
            ("NOCONTACT_MAX_DATA_AGE", "max_data_age"),
        ):
            if env.get(var):
                values[key] = _coerce(var, env[var], str(known[key].type))
        for key, value in overrides.items():
            if value is not None:
                values[key] = value
        return cls(config_file=Path(path) if path else None, sync=sync, **values)


def _table(document: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    table = document.get(name, {})
    if not isinstance(table, Mapping):
        raise ConfigError(name, table, "Expected a table.")
    return table


def _coerce(key: str, value: Any, kind: str) -> Any:
    try:
        if isinstance(value, bool) and kind != "bool":
            raise TypeError
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError
            if not isinstance(value, bool):
                raise TypeError
            return value
        if kind.startswith("str"):
            if not isinstance(value, str):
                raise TypeError
            return value
    except (TypeError, ValueError):
        raise ConfigError(key, value, f"Not a valid {kind}.") from None
    return value
