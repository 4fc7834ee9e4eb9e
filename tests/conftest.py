"""Shared fixtures: real redis-server processes (never a fake, never the shared one on 6379)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.redis_server import RedisServer

RedisFactory = Callable[..., RedisServer]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisFactory]:
    """A factory: ``redis_server(persistence=True, unix=False)`` starts a fresh redis-server in its
    own directory under tmp_path; every server started is killed when the test ends."""
    servers: list[RedisServer] = []

    def start(*, persistence: bool = True, unix: bool = False) -> RedisServer:
        server = RedisServer(tmp_path / f"redis{len(servers)}", persistence=persistence, unix=unix)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.kill()


@pytest.fixture
def redis_url(redis_server: RedisFactory) -> str:
    return redis_server().url
