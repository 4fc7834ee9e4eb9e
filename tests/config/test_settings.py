"""config.settings.load_settings: one coercion and one error wording for every settings table, and
the keys and environment variables of each settings class."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from cases.calendar import CasePolicy
from config.settings import ENV, GIVEN, load_settings, setting
from gateway.settings import GatewaySettings
from matcher.errors import ConfigError
from sync.settings import SyncSettings


@dataclasses.dataclass(frozen=True, slots=True)
class Example:
    name: str = setting("x", env="T_NAME")
    count: int = setting(1, env="T_COUNT")
    share: float = setting(0.5, env="T_SHARE")
    flag: bool = setting(False, env="T_FLAG")
    where: Path = setting(Path("data"), env="T_WHERE")
    maybe: str | None = None
    elsewhere: Path | None = None
    given: tuple[int, ...] = dataclasses.field(default=(), metadata=GIVEN)

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ConfigError("example.count", self.count, "Expected at least 0.")


@pytest.mark.parametrize(
    ("key", "value", "loaded"),
    [
        ("name", "y", "y"),
        ("count", 3, 3),
        ("count", "3", 3),  # a string is parsed, from the file as from the environment
        ("share", 2, 2.0),
        ("share", 0.25, 0.25),
        ("share", "1e-3", 0.001),
        ("flag", True, True),
        ("flag", "yes", True),
        ("flag", "Off", False),
        ("flag", "0", False),
        ("where", "/var/lib/nc", Path("/var/lib/nc")),
        ("maybe", "m", "m"),
        ("elsewhere", "rel/dir", Path("rel/dir")),
    ],
)
def test_good_values_of_each_kind_from_the_table(key: str, value: Any, loaded: Any) -> None:
    example = load_settings(Example, "example", {key: value}, environ={})
    assert getattr(example, key) == loaded
    assert type(getattr(example, key)) is type(loaded)


@pytest.mark.parametrize(
    ("key", "value", "kind"),
    [
        ("name", 3, "str"),
        ("name", True, "str"),
        ("count", "three", "int"),
        ("count", 2.5, "int"),
        ("count", True, "int"),
        ("count", "2.0", "int"),
        ("share", "half", "float"),
        ("share", False, "float"),
        ("share", float("nan"), "float"),
        ("share", "inf", "float"),
        ("flag", "maybe", "bool"),
        ("flag", 1, "bool"),
        ("where", 7, "Path"),
        ("maybe", ["a"], "str"),
        ("elsewhere", {"a": 1}, "Path"),
    ],
)
def test_bad_values_of_each_kind_name_the_key_and_the_value(key: str, value: Any, kind: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(Example, "example", {key: value}, environ={})
    assert (info.value.key, info.value.value) == (f"example.{key}", value)
    assert str(info.value) == f"Config 'example.{key}' has value {value!r}. Not a valid {kind}."


@pytest.mark.parametrize(
    ("var", "text", "key", "loaded"),
    [
        ("T_NAME", "z", "name", "z"),
        ("T_COUNT", "12", "count", 12),
        ("T_SHARE", "0.75", "share", 0.75),
        ("T_FLAG", "true", "flag", True),
        ("T_WHERE", "/srv", "where", Path("/srv")),
    ],
)
def test_the_environment_sets_the_fields_that_declare_it_over_the_table(
    var: str, text: str, key: str, loaded: Any
) -> None:
    table = {"name": "t", "count": 2, "share": 0.1, "flag": False, "where": "/t"}
    example = load_settings(Example, "example", table, environ={var: text})
    assert getattr(example, key) == loaded
    assert load_settings(Example, "example", table, environ={var: ""}) == load_settings(
        Example, "example", table, environ={}
    )  # an empty variable counts as unset


@pytest.mark.parametrize(
    ("var", "text", "expected"),
    [
        ("T_COUNT", "many", "Not a valid int."),
        ("T_SHARE", "nan", "Not a valid float."),
        ("T_FLAG", "2", "Not a valid bool."),
        ("T_COUNT", "-1", "Expected at least 0."),  # the class's own check, named by the variable
    ],
)
def test_a_bad_environment_value_names_the_variable_and_its_value(var: str, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(Example, "example", {"count": 1}, environ={var: text})
    assert str(info.value) == f"Config '{var}' has value {text!r}. {expected}"


def test_a_bad_table_value_checked_by_the_class_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^Config 'example.count' has value -1. Expected at least 0.$"):
        load_settings(Example, "example", {"count": -1}, environ={})


def test_unknown_keys_and_given_only_fields_are_refused_in_the_table() -> None:
    for key in ("colour", "given"):
        with pytest.raises(ConfigError) as info:
            load_settings(Example, "example", {key: 1}, environ={})
        assert info.value.key == f"example.{key}"
        assert "Not a known setting; one of ['count', 'elsewhere', 'flag'" in str(info.value)


def test_what_the_caller_gives_wins_and_none_is_not_given() -> None:
    example = load_settings(
        Example, "example", {"count": 2}, environ={"T_COUNT": "3"}, count=4, given=(1,), name=None
    )
    assert (example.count, example.given, example.name) == (4, (1,), "x")
    with pytest.raises(ConfigError, match=r"^Config 'example\.count' has value -2"):  # not T_COUNT's
        load_settings(Example, "example", {}, environ={"T_COUNT": "3"}, count=-2)


def _variables(cls: type) -> dict[str, str]:
    return {f.metadata[ENV]: f.name for f in dataclasses.fields(cls) if ENV in f.metadata}


def test_every_settings_class_keeps_its_environment_variables() -> None:
    assert _variables(SyncSettings) == {
        "NOCONTACT_REDIS_URL": "redis_url",
        "NOCONTACT_REDIS_PREFIX": "prefix",
        "NOCONTACT_DATA_DIR": "data_dir",
        "NOCONTACT_GATEWAY_ID": "gateway_id",
    }
    assert _variables(GatewaySettings) == {
        "NOCONTACT_HOST": "host",
        "NOCONTACT_PORT": "port",
        "NOCONTACT_WORKERS": "workers",
        "NOCONTACT_ADMIN_TOKEN": "admin_token",
        "NOCONTACT_STALE_POLICY": "stale_policy",
        "NOCONTACT_MAX_DATA_AGE": "max_data_age",
        "NOCONTACT_TLS_CERT": "tls_cert",
        "NOCONTACT_TLS_KEY": "tls_key",
        "NOCONTACT_TLS_CLIENT_CA": "tls_client_ca",
        "NOCONTACT_MAILROOM_ENGINE": "mailroom_engine",
        "NOCONTACT_MAILROOM_WORKERS": "mailroom_workers",
        "NOCONTACT_EVIDENCE_RETENTION_DAYS": "evidence_retention_days",
        "NOCONTACT_TIMEZONE": "timezone",
        "NOCONTACT_BODY_TIMEOUT": "body_timeout",
        "NOCONTACT_PAGES": "pages",
    }
    assert _variables(CasePolicy) == {}


def test_every_settings_class_reads_each_of_its_keys() -> None:
    """Each key of each table, given a value unlike its default, is read from the file."""
    sync = {
        "redis_url": "redis://r:6379/0", "prefix": "x:", "data_dir": "/d", "snapshot_path": "/d/s",
        "gateway_id": "gw", "socket_timeout": 6, "connect_timeout": 3, "block_ms": 900, "read_count": 9,
        "stream_max_len": 99, "stale_after": 11, "backoff_initial": 0.1, "backoff_max": 6,
        "initial_wait": 4, "max_shrink": 0.3, "max_delta": 7, "compact_after": 8,
        "snapshot_min_interval": 1, "heartbeat_interval": 3, "heartbeat_ttl": 12, "write_replicas": 2,
        "write_wait_ms": 500, "follow_replicas": True,
    }  # fmt: skip
    gateway = {
        "host": "0.0.0.0", "port": 9000, "workers": 2, "max_data_age": 12, "stale_policy": "refuse",
        "admin_token": "t", "token_refresh": 3, "ship_batch": 5, "ship_retry_max": 2, "ship_linger": 0.5,
        "spool_retention_days": 7, "access_log": False, "log_screening": True, "tls_cert": "/c.pem",
        "tls_key": "/k.pem", "tls_client_ca": "/ca.pem", "trusted_proxies": "127.0.0.1",
        "mailroom_engine": "tesseract", "mailroom_workers": 2,
        "evidence_retention_days": 90, "timezone": "Europe/Dublin", "body_timeout": 5,
        "pages": False,
    }  # fmt: skip
    cases = {
        "send_working_days": 3, "block_working_days": 4, "review_interval_days": 30,
        "transfer_review_working_days": 5,
    }  # fmt: skip
    for cls, table, name in ((SyncSettings, sync, "sync"), (GatewaySettings, gateway, "gateway"),
                             (CasePolicy, cases, "cases")):  # fmt: skip
        loaded = load_settings(cls, name, table, environ={})
        default = cls()
        fields = {f.name for f in dataclasses.fields(cls) if not f.metadata.get("nocontact.given")}
        assert set(table) == fields
        for key, value in table.items():
            got = getattr(loaded, key)
            assert got == (Path(value) if isinstance(got, Path) else value) != getattr(default, key)
