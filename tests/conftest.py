"""Shared fixtures: real redis-server processes (never a fake, never the shared one on 6379), and
the gateway app in-process with a fixed index (the gateway and UI tests). The helpers behind them
live in tests/support."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.app import create_app
from gateway.settings import GatewaySettings
from gateway.source import StaticSource
from tests.support.gateway_data import TokenFactory, build_index, gateway_settings, token_factory
from tests.support.redis_server import RedisFactory, RedisServers


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisFactory]:
    """A factory: ``redis_server(persistence=True, unix=False)`` starts a fresh redis-server in its
    own directory under tmp_path; every server started is killed when the test ends."""
    servers = RedisServers(tmp_path)
    yield servers.start
    servers.kill_all()


@pytest.fixture
def redis_url(redis_server: RedisFactory) -> str:
    return redis_server().url


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> GatewaySettings:
    return gateway_settings(tmp_path, redis_url)


@pytest.fixture
def source() -> StaticSource:
    return StaticSource(build_index())


@pytest.fixture
async def client(aiohttp_client: Any, settings: GatewaySettings, source: StaticSource) -> Any:
    return await aiohttp_client(create_app(settings, source=source))


@pytest.fixture
def auth(client: Any) -> TokenFactory:
    """``await auth("dialler", "HLI")`` -> headers with a fresh token of that role."""
    return token_factory(client)
