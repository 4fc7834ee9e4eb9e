"""The gateway's test data: an admin token, two entries with the details that must never leak,
the index built from them, a hit, and tokens per role from a running app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from config import load_profile
from gateway.hitlog.model import Hit
from gateway.settings import GatewaySettings
from gateway.ulid import new_ulid, ulid_ms
from matcher.entries import Entry
from matcher.index import Index
from sync.settings import SyncSettings

ADMIN = "test-admin-token-of-at-least-32-chars"  # serve refuses a shorter NOCONTACT_ADMIN_TOKEN
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

TokenFactory = Callable[..., Awaitable[dict[str, str]]]


def build_index() -> Index:
    return Index.build([Entry.from_dict(e) for e in ENTRIES], load_profile(None), version=7)


def gateway_settings(tmp_path: Path, redis_url: str) -> GatewaySettings:
    sync = SyncSettings(redis_url=redis_url, data_dir=tmp_path / "data", gateway_id="gw-test")
    return GatewaySettings(sync=sync, admin_token=ADMIN, token_refresh=0.2)


def token_factory(client: Any) -> TokenFactory:
    """``await make("dialler", "HLI")`` -> headers with a fresh token of that role, made through
    the app's own POST /v1/tokens."""

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


def make_hit(n: int = 0) -> Hit:
    hit_id = new_ulid()
    return Hit(
        hit_id,
        ulid_ms(hit_id),
        "HLI",
        f"A{n:04d}BC",
        "call",
        "block",
        "UPC-1",
        "phone",
        False,
        "gw",
        3,
        (("UPC-1", "phone", "strong", False),),
    )
