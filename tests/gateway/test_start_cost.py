"""What a gateway pays before it listens (issue 17: restart with Redis down within the 3 s cold
start). Properties, not timings: work that is not needed to answer is not done at start."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from argon2 import PasswordHasher
from redis.exceptions import RedisError

from gateway.app import create_app
from gateway.auth import TokenCache
from gateway.http import RUNTIME
from gateway.settings import GatewaySettings
from gateway.source import StaticSource
from gateway.tokenfile import write_token_file
from sync.redis_url import async_redis_client
from tests.support.gateway_data import ADMIN, build_index
from tests.support.sync_data import KEYS


def _in_fresh_interpreter(code: str) -> object:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def test_importing_the_gateway_computes_no_password_hash() -> None:
    """The dummy hash an unknown user name is verified against is a constant, not a fresh argon2id
    hash at import (0.19-0.23 s of CPU on every start, 64 MiB of memory)."""
    code = (
        "import json, argon2\n"
        "calls = []\n"
        "real = argon2.PasswordHasher.hash\n"
        "argon2.PasswordHasher.hash = lambda self, *a, **k: calls.append(1) or real(self, *a, **k)\n"
        "from gateway.app import create_app\n"
        "from gateway.cli import build_parser\n"
        "import gateway.serve, gateway.ui.users\n"
        "build_parser()\n"
        "print(json.dumps(len(calls)))\n"
    )
    assert _in_fresh_interpreter(code) == 0


def test_the_dummy_hash_costs_what_a_real_one_does() -> None:
    """A wrong user name costs as long as a wrong password: the constant has the hasher's own
    parameters (memory, time, parallelism), so verifying against it does the same work."""
    from gateway.ui import users

    assert not users._hasher.check_needs_rehash(users._DUMMY_HASH)
    assert not PasswordHasher().check_needs_rehash(users._DUMMY_HASH)
    assert users._DUMMY_HASH.startswith("$argon2id$")


class _SilentStore:
    """A TCP port that accepts connections and never answers: a Redis host that hangs (frozen,
    swapping, its disk stalled). Counts the connections made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.05)
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.sock.getsockname()[1]}/0"

    def _accept(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                self.accepted.append(self.sock.accept()[0])

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self.accepted:
            conn.close()
        self.sock.close()


async def test_a_token_cache_facing_a_hung_store_waits_out_one_command_not_two(tmp_path: Path) -> None:
    """At start the table comes from Redis, else from the cache file. A store that does not answer
    cost two socket timeouts in a row before the file was read (the revocation stream's end, then
    the table): 5 s each, 10 s before a restarting gateway listened. Now the first failure sends it
    to the file at once (the table is reloaded every token_refresh seconds anyway)."""
    write_token_file(
        tmp_path / "tokens.cache", {"f" * 64: {"id": "t1", "role": "dialler", "establishment": "HLI"}}
    )
    store = _SilentStore()
    options: dict[str, Any] = {"socket_timeout": 0.2, "socket_connect_timeout": 0.2}
    try:
        one = async_redis_client(store.url, **options)
        with pytest.raises((RedisError, OSError)):
            await one.xrevrange(KEYS.token_changes, count=1)
        await one.aclose()
        per_command = len(store.accepted)
        assert per_command >= 1

        client = async_redis_client(store.url, **options)
        cache = TokenCache(client, KEYS, cache_file=tmp_path / "tokens.cache", refresh=60)
        await cache.start()
        try:
            assert len(store.accepted) - per_command == per_command  # one command's worth
            principal = cache._tokens.get("f" * 64)
            assert principal is not None and principal.role == "dialler" and principal.establishment == "HLI"
        finally:
            await cache.stop()
            await client.aclose()
    finally:
        store.close()


class _SourceWaitingForTokens(StaticSource):
    """An index source whose start sees whether the token table is being read meanwhile (up to
    SEEN_WITHIN seconds, then it stops looking: a bound, not a timing)."""

    SEEN_WITHIN = 10.0

    def __init__(self) -> None:
        super().__init__(build_index())
        self.app: web.Application | None = None
        self.tokens_started_meanwhile = False

    async def start(self) -> None:
        assert self.app is not None
        runtime = self.app[RUNTIME]
        deadline = asyncio.get_running_loop().time() + self.SEEN_WITHIN
        while asyncio.get_running_loop().time() < deadline:
            cache = runtime.tokens
            if cache is not None and cache._task is not None:  # its start() has returned
                self.tokens_started_meanwhile = True
                return
            await asyncio.sleep(0.02)


async def test_the_token_table_is_read_while_the_index_source_starts(
    aiohttp_client: Any, settings: GatewaySettings
) -> None:
    """The follower's first contact and the token table's, at once: facing a store that does not
    answer, each waits out one socket timeout, and they were one after the other before listening."""
    source = _SourceWaitingForTokens()
    app = create_app(settings, source=source)
    source.app = app
    client = await aiohttp_client(app)
    assert source.tokens_started_meanwhile
    body = {"role": "dialler", "establishment": "HLI"}
    resp = await client.post("/v1/tokens", json=body, headers={"Authorization": f"Bearer {ADMIN}"})
    assert resp.status == 201, await resp.text()
