"""Gateway fixtures: settings on a real redis-server (tests/conftest.py), the app in-process with
a fixed index, tokens per role, and promtool."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.app import create_app
from gateway.settings import GatewaySettings
from gateway.source import StaticSource
from sync.settings import SyncSettings
from tests.debian import ensure_command

ADMIN = "test-admin-token"
ENTRIES: list[dict[str, Any]] = [
    {
        "reference": "UPC-1",
        "prisoner": "A1234BC",
        "scope": "all",
        "protected": [
            {
                "name": "Jane Smith",
                "phones": ["07700 900123"],
                "emails": ["jane.smith@example.com"],
                "addresses": [{"lines": ["Flat 2", "14 High Street", "Hull"], "postcode": "HU1 2AB"}],
            }
        ],
    },
    {
        "reference": "UPC-2",
        "prisoner": "B2345CD",
        "scope": ["HLI"],
        "protected": [{"name": "Amir Khan", "phones": ["07700 900456"]}],
    },
]
# Details that must never appear in an answer or a log line.
SECRETS = ("Jane", "Smith", "900123", "jane.smith", "High Street", "HU1", "Amir", "900456")


def build_index() -> Any:
    from config import load_profile
    from matcher.entries import Entry
    from matcher.index import Index

    return Index.build([Entry.from_dict(e) for e in ENTRIES], load_profile(None), version=7)


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> GatewaySettings:
    sync = SyncSettings(redis_url=redis_url, data_dir=tmp_path / "data", gateway_id="gw-test")
    return GatewaySettings(sync=sync, admin_token=ADMIN, token_refresh=0.2)


@pytest.fixture
def source() -> StaticSource:
    return StaticSource(build_index())


@pytest.fixture
async def client(aiohttp_client: Any, settings: GatewaySettings, source: StaticSource) -> Any:
    return await aiohttp_client(create_app(settings, source=source))


TokenFactory = Callable[..., Awaitable[dict[str, str]]]


@pytest.fixture
def auth(client: Any) -> TokenFactory:
    """``await auth("dialler", "HLI")`` -> headers with a fresh token of that role."""

    async def make(role: str, establishment: str | None = None) -> dict[str, str]:
        if role == "admin":
            return {"Authorization": f"Bearer {ADMIN}"}
        body: dict[str, Any] = {"role": role}
        if establishment:
            body["establishment"] = establishment
        resp = await client.post("/v1/tokens", json=body, headers={"Authorization": f"Bearer {ADMIN}"})
        assert resp.status == 201, await resp.text()
        return {"Authorization": f"Bearer {(await resp.json())['token']}"}

    return make


@pytest.fixture(scope="session")
def promtool() -> str:
    return ensure_command("promtool", "prometheus")
