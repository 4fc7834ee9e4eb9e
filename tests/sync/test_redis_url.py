"""sync.redis_url: plain and Sentinel URLs parse into where the store is; a bad one is a
ConfigError naming the setting, never echoing a password."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from matcher.errors import ConfigError
from sync.redis_url import StoreAddress, redact
from sync.settings import SyncSettings


@pytest.mark.parametrize(
    ("url", "sentinels", "service", "db", "username", "password"),
    [
        ("redis://127.0.0.1:6379/0", (), None, 0, None, None),
        ("unix:///run/redis/redis.sock", (), None, 0, None, None),
        ("redis+sentinel://10.0.0.1:26379/nocontact", (("10.0.0.1", 26379),), "nocontact", 0, None, None),
        (
            "redis+sentinel://a.internal:26379,b.internal:26380,[::1]:26381/nocontact/3",
            (("a.internal", 26379), ("b.internal", 26380), ("::1", 26381)),
            "nocontact",
            3,
            None,
            None,
        ),
        ("redis+sentinel://:s%40cret@h:1/svc", (("h", 1),), "svc", 0, None, "s@cret"),
        ("redis+sentinel://gw:pw@h:1/svc/2", (("h", 1),), "svc", 2, "gw", "pw"),
    ],
)
def test_urls_parse(
    url: str,
    sentinels: tuple[tuple[str, int], ...],
    service: str | None,
    db: int,
    username: str | None,
    password: str | None,
) -> None:
    address = StoreAddress.parse(url)
    assert (address.sentinels, address.service, address.db) == (sentinels, service, db)
    assert (address.username, address.password, address.sentinel) == (username, password, service is not None)


def test_sentinel_password_is_a_parameter() -> None:
    address = StoreAddress.parse("redis+sentinel://h:1/svc?sentinel_password=x")
    assert address.sentinel_password == "x" and address.password is None


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://h:1/svc", "Expected a redis, rediss, unix or redis+sentinel URL"),
        ("redis+sentinel://h/svc", "Sentinel 'h' is not HOST:PORT"),
        ("redis+sentinel://h:1,h2:99999/svc", "Sentinel 'h2:99999' is not HOST:PORT"),
        ("redis+sentinel://h:1", "Expected /SERVICE or /SERVICE/DB"),
        ("redis+sentinel://h:1/svc/x", "The database after the service is a number"),
        ("redis+sentinel://h:1/svc/0/extra", "Expected /SERVICE or /SERVICE/DB"),
        ("redis+sentinel://:hunter2@h:1/svc?db=1", "Unknown parameter 'db'"),
    ],
)
def test_bad_urls_name_the_setting_and_hide_the_password(url: str, complaint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        StoreAddress.parse(url, key="NOCONTACT_REDIS_URL")
    assert caught.value.key == "NOCONTACT_REDIS_URL"
    assert complaint in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_describe_and_redact_never_show_a_password() -> None:
    address = StoreAddress.parse("redis+sentinel://gw:pw@h1:1,h2:2/svc/1?sentinel_password=sp")
    assert address.describe() == "Sentinel service 'svc' (db 1) via h1:1,h2:2"
    assert redact("redis://gw:pw@h:1/0") == "redis://gw:***@h:1/0"
    assert redact("redis+sentinel://:pw@h:1/svc?sentinel_password=sp") == (
        "redis+sentinel://:***@h:1/svc?sentinel_password=***"
    )
    assert redact("redis://h:1/0") == "redis://h:1/0"


def test_settings_check_the_url_and_count_the_replicas_a_write_needs() -> None:
    sentinel = {"NOCONTACT_REDIS_URL": "redis+sentinel://h:1/nocontact"}
    assert SyncSettings.from_mapping({}, sentinel).acknowledging_replicas == 1
    assert SyncSettings.from_mapping({"write_replicas": 2}, sentinel).acknowledging_replicas == 2
    assert SyncSettings.from_mapping({}, {"NOCONTACT_REDIS_URL": "redis://h:1/0"}).acknowledging_replicas == 0
    assert SyncSettings().acknowledging_replicas == 0  # the embedded Redis has no replica
    with pytest.raises(ConfigError) as caught:
        SyncSettings.from_mapping({}, {"NOCONTACT_REDIS_URL": "redis+sentinel://:hunter2@h/nocontact"})
    assert str(caught.value).startswith("Config 'NOCONTACT_REDIS_URL' has value 'redis+sentinel://:***@h/")
    with pytest.raises(ConfigError, match=r"^Config 'sync\.redis_url' has value"):
        SyncSettings.from_mapping({"redis_url": "mysql://h/db"}, {})


def test_every_redis_client_is_made_through_sync_redis_url() -> None:
    """So every part of nocontact (followers, writers, hit shipping, casework, every command)
    takes a Sentinel URL as it takes a plain one."""
    root = Path(__file__).resolve().parents[2]
    makers = {"from_url", "Redis", "StrictRedis", "Sentinel", "from_pool"}
    made = []
    for package in ("matcher", "sync", "gateway", "cases", "config"):
        for path in sorted((root / package).rglob("*.py")):
            if path == root / "sync" / "redis_url.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call):
                    name = (
                        node.func.attr
                        if isinstance(node.func, ast.Attribute)
                        else getattr(node.func, "id", "")
                    )
                    if name in makers:
                        made.append(f"{path.relative_to(root)}:{node.lineno} {name}")
    assert not made, made


def test_every_writer_is_made_from_the_deployment_settings() -> None:
    """``Writer.configured`` takes the replicas to WAIT for from the settings; a writer made any
    other way (the case CLI's was) acknowledges a block no replica holds yet."""
    root = Path(__file__).resolve().parents[2]
    made = []
    for package in ("matcher", "sync", "gateway", "cases", "config"):
        for path in sorted((root / package).rglob("*.py")):
            if path == root / "sync" / "writer.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Writer":
                    made.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not made, made
