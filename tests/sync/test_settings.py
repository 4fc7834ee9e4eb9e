from __future__ import annotations

from pathlib import Path

import pytest

from matcher.errors import ConfigError
from sync.settings import SyncSettings


def test_table_and_environment() -> None:
    settings = SyncSettings.from_mapping(
        {"max_shrink": 0.5, "block_ms": 500, "data_dir": "/var/lib/nc"},
        environ={"NOCONTACT_REDIS_URL": "redis://r:6379/0", "NOCONTACT_GATEWAY_ID": "gw1"},
    )
    assert settings.redis_url == "redis://r:6379/0" and settings.gateway_name == "gw1"
    assert settings.max_shrink == 0.5 and settings.block_ms == 500
    assert settings.snapshot_file == Path("/var/lib/nc/snapshot.jsonl")
    assert settings.keys.meta == "nocontact:meta"


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"max_shrink": 2}, "sync.max_shrink"),
        ({"block_ms": 9000}, "sync.block_ms"),
        ({"block_ms": "soon"}, "sync.block_ms"),
        ({"heartbeat_ttl": 1.0}, "sync.heartbeat_ttl"),
        ({"colour": "blue"}, "sync.colour"),
        ({"socket_timeout": True}, "sync.socket_timeout"),
        ({"max_delta": 2.5}, "sync.max_delta"),
    ],
)
def test_bad_values_name_the_key(table: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        SyncSettings.from_mapping(table, environ={})
    assert info.value.key == key
    assert key in str(info.value)
