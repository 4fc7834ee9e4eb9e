"""Settings from the deployment file and the environment; `nocontact token create|list|revoke`."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import redis

from gateway.auth import list_tokens, token_hash
from gateway.cli import main
from gateway.settings import GatewaySettings
from matcher.errors import ConfigError
from sync.keys import Keys


def test_settings_from_file_env_and_options(tmp_path: Path) -> None:
    config = tmp_path / "deploy.toml"
    config.write_text('[gateway]\nstale_policy = "refuse"\nmax_data_age = 12\n[sync]\nprefix = "x:"\n')
    env = {"NOCONTACT_PORT": "9001", "NOCONTACT_ADMIN_TOKEN": "t0k"}
    s = GatewaySettings.load(config, env, data_dir=tmp_path / "d", workers=3, host=None)
    assert (s.stale_policy, s.max_data_age, s.port, s.workers, s.admin_token) == (
        "refuse",
        12.0,
        9001,
        3,
        "t0k",
    )
    assert s.sync.prefix == "x:" and s.spool_file == tmp_path / "d" / "hits.sqlite3" and s.host == "127.0.0.1"


@pytest.mark.parametrize(
    ("toml", "env", "key"),
    [
        ('[gateway]\nstale_policy = "maybe"\n', {}, "gateway.stale_policy"),
        ("[gateway]\nport = true\n", {}, "gateway.port"),
        ("[gateway]\ncolour = 1\n", {}, "gateway.colour"),
        ("", {"NOCONTACT_MAX_DATA_AGE": "soon"}, "NOCONTACT_MAX_DATA_AGE"),
        ("", {"NOCONTACT_PORT": "70000"}, "NOCONTACT_PORT"),  # out of range: named as the user set it
        ("", {"NOCONTACT_STALE_POLICY": "maybe"}, "NOCONTACT_STALE_POLICY"),
        ("[sync]\nmax_shrink = 2\n", {}, "sync.max_shrink"),
        ("[sync]\nblock_ms = 'soon'\n", {}, "sync.block_ms"),
        ("gateway = 3\n", {}, "gateway"),
        ("[gateway\n", {}, "config"),
    ],
)
def test_bad_settings_name_the_key(tmp_path: Path, toml: str, env: dict[str, str], key: str) -> None:
    config = tmp_path / "deploy.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        GatewaySettings.load(config, env)
    assert caught.value.key == key


def test_token_cli(redis_url: str, monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    monkeypatch.setenv("NOCONTACT_REDIS_URL", redis_url)
    monkeypatch.setenv("NOCONTACT_DATA_DIR", str(tmp_path))
    assert main(["token", "create", "--role", "dialler", "--establishment", "hli"]) == 0
    header, token = capsys.readouterr().out.splitlines()
    assert "role=dialler establishment=HLI" in header
    client = redis.Redis.from_url(redis_url)
    keys = Keys()
    assert client.hexists(keys.tokens, token_hash(token))
    assert token.encode() not in b"".join(client.hgetall(keys.tokens).values())  # stored hashed only
    [principal] = list_tokens(client, keys)
    assert main(["token", "list"]) == 0
    assert capsys.readouterr().out.split() == [principal.id, "dialler", "HLI"]
    assert main(["token", "create", "--role", "casework", "--establishment", "HLI"]) == 2
    assert "establishment" in capsys.readouterr().err
    assert main(["token", "revoke", principal.id]) == 0
    assert main(["token", "revoke", principal.id]) == 1
    assert client.hlen(keys.tokens) == 0


@pytest.mark.parametrize("command", [["token", "list"], ["user", "list"]])
def test_table_commands_with_redis_unreachable_exit_2_in_one_line(
    command: list[str], monkeypatch: Any, capsys: Any, tmp_path: Path
) -> None:
    # The README promises exit status 2 and one line naming the store for an unreachable Redis.
    with socket.socket() as free:  # a port nothing listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    monkeypatch.setenv("NOCONTACT_REDIS_URL", f"redis://127.0.0.1:{port}/0")
    monkeypatch.setenv("NOCONTACT_DATA_DIR", str(tmp_path))
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nocontact {command[0]}: ") and err.count("\n") == 1
    assert f"127.0.0.1:{port}" in err and "Traceback" not in err


@pytest.mark.parametrize("command", [["token", "list"], ["user", "list"]])
def test_table_commands_with_no_store_say_how_to_get_one(
    command: list[str], monkeypatch: Any, capsys: Any, tmp_path: Path
) -> None:
    monkeypatch.delenv("NOCONTACT_REDIS_URL", raising=False)
    monkeypatch.setenv("NOCONTACT_DATA_DIR", str(tmp_path))
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nocontact {command[0]}: no Redis: set NOCONTACT_REDIS_URL")
