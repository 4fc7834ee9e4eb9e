"""Gateway configuration: a frozen dataclass from the deployment file's ``[gateway]`` table plus
environment overrides, through ``config.settings.load_settings``; the ``[sync]`` table becomes the
embedded SyncSettings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cases.hitindex import HIT_INDEX_FILE
from config import read_deployment, table_of
from config.settings import GIVEN, load_settings, setting
from gateway.mailroom.ocr import ENGINES
from gateway.proxy import IPNetwork, trusted_networks
from gateway.tls import TlsFiles
from gateway.tokenfile import FILE_NAME as TOKEN_FILE_NAME
from matcher.errors import ConfigError
from sync.settings import SyncSettings

STALE_POLICIES = ("serve", "refuse")


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    host: str = setting("127.0.0.1", env="NOCONTACT_HOST")
    port: int = setting(8080, env="NOCONTACT_PORT")
    workers: int = setting(1, env="NOCONTACT_WORKERS")
    # deployment TOML (profile overrides, [gateway], [sync])
    config_file: Path | None = field(default=None, metadata=GIVEN)
    # Stale data: the matcher's data is stale when its last confirmed round trip with the store is
    # older than max_data_age. "serve" answers from the last good index and flags it (stale: true);
    # "refuse" answers 503 so the PBX fails safe.
    max_data_age: float = setting(30.0, env="NOCONTACT_MAX_DATA_AGE")
    stale_policy: str = setting("serve", env="NOCONTACT_STALE_POLICY")
    admin_token: str | None = setting(None, env="NOCONTACT_ADMIN_TOKEN")
    # seconds between token-cache refreshes (a backstop: revocations arrive on the token-change stream)
    token_refresh: float = 2.0
    ship_batch: int = 200
    ship_retry_max: float = 5.0
    # Seconds the shipper waits after a hit wakes it, so hits close together ship as one batch.
    ship_linger: float = 0.1
    spool_retention_days: float = 30.0  # shipped hits are kept locally this long
    # What each hit's attempt tried (the number dialled, the address written: gateway.hitlog.evidence)
    # is kept this long, then deleted; the hit itself stays. Two years by default: long enough for
    # a police investigation and a prosecution to ask for it; set it to your force's retention rule.
    evidence_retention_days: float = setting(730.0, env="NOCONTACT_EVIDENCE_RETENTION_DAYS")
    # Every time a person reads or enters on the pages is in this zone, with its UTC offset shown.
    timezone: str = setting("Europe/London", env="NOCONTACT_TIMEZONE")
    # The web pages for people (/ui/). Off on the gateways a PBX calls: a page's work runs in
    # threads that share the GIL with the loop answering calls (benchmarks/README.md, bench_hitpages),
    # so production serves the pages from a gateway of their own on the same store.
    pages: bool = setting(True, env="NOCONTACT_PAGES")
    access_log: bool = True
    # Seconds a request's body may take to arrive (gateway.validation.within_body_deadline): 408.
    body_timeout: float = setting(10.0, env="NOCONTACT_BODY_TIMEOUT")
    # Successful screening answers are counted and timed in /metrics and every non-allow one is
    # in the hit log; a log line for each as well cost ~35% of the call endpoint's throughput.
    log_screening: bool = False
    # TLS (gateway.tls): the certificate chain and key; with a client CA, clients may present a
    # certificate bound to a principal (`nocontact token create --certificate`) instead of a token.
    tls_cert: Path | None = setting(None, env="NOCONTACT_TLS_CERT")
    tls_key: Path | None = setting(None, env="NOCONTACT_TLS_KEY")
    tls_client_ca: Path | None = setting(None, env="NOCONTACT_TLS_CLIENT_CA")
    # Comma-separated addresses or networks of TLS-terminating proxies whose X-Forwarded-Proto and
    # X-Forwarded-For are believed (gateway.proxy); from any other peer those headers are ignored.
    trusted_proxies: str = ""
    # The mailroom page reads uploaded envelopes with this OCR engine, in this many worker processes
    # (started on the first upload; OCR never runs in the serving process).
    mailroom_engine: str = setting("rapidocr", env="NOCONTACT_MAILROOM_ENGINE")
    mailroom_workers: int = setting(1, env="NOCONTACT_MAILROOM_WORKERS")
    sync: SyncSettings = field(default_factory=SyncSettings, metadata=GIVEN)

    def __post_init__(self) -> None:
        if self.stale_policy not in STALE_POLICIES:
            raise ConfigError(
                "gateway.stale_policy", self.stale_policy, f"Expected one of {list(STALE_POLICIES)}."
            )
        if not 0 <= self.port <= 65535:
            raise ConfigError("gateway.port", self.port, "Expected a TCP port.")
        if self.workers < 1:
            raise ConfigError("gateway.workers", self.workers, "Expected at least 1.")
        if self.mailroom_workers < 1:
            raise ConfigError("gateway.mailroom_workers", self.mailroom_workers, "Expected at least 1.")
        if self.mailroom_engine not in ENGINES:
            raise ConfigError(
                "gateway.mailroom_engine", self.mailroom_engine, f"Expected one of {list(ENGINES)}."
            )
        for name in (
            "max_data_age",
            "token_refresh",
            "ship_retry_max",
            "spool_retention_days",
            "evidence_retention_days",
            "body_timeout",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"gateway.{name}", getattr(self, name), "Expected a positive number.")
        if not 0 <= self.ship_linger <= 5:
            raise ConfigError("gateway.ship_linger", self.ship_linger, "Expected 0 to 5 seconds.")
        if self.ship_batch < 1:
            raise ConfigError("gateway.ship_batch", self.ship_batch, "Expected a positive int.")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError("gateway.timezone", self.timezone, "Expected an IANA time zone.") from None
        TlsFiles.from_options(self.tls_cert, self.tls_key, self.tls_client_ca)
        trusted_networks(self.trusted_proxies)

    @property
    def tls(self) -> TlsFiles | None:
        return TlsFiles.from_options(self.tls_cert, self.tls_key, self.tls_client_ca)

    @property
    def proxies(self) -> tuple[IPNetwork, ...]:
        return trusted_networks(self.trusted_proxies)

    @property
    def data_dir(self) -> Path:
        return self.sync.data_dir

    @property
    def spool_file(self) -> Path:
        return self.data_dir / "hits.sqlite3"

    @property
    def hit_index_file(self) -> Path:
        return self.data_dir / HIT_INDEX_FILE

    @property
    def token_cache_file(self) -> Path:
        """The token table's local copy (gateway.tokenfile), beside the snapshot file."""
        return self.sync.snapshot_file.parent / TOKEN_FILE_NAME

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
        data_dir = overrides.pop("data_dir", None)
        sync = SyncSettings.from_mapping(
            table_of(document, "sync"), env, data_dir=None if data_dir is None else Path(data_dir)
        )
        config = Path(path) if path else None
        return load_settings(
            cls, "gateway", table_of(document, "gateway"), env, config_file=config, sync=sync, **overrides
        )
