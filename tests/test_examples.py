"""The shipped example files stay true: they load, and the example blocklist indexes."""

from __future__ import annotations

from config import EXAMPLES_DIR, load_profile
from gateway.check_cli import load_entries
from gateway.settings import GatewaySettings
from matcher.index import Index


def test_example_deployment_file_loads() -> None:
    path = EXAMPLES_DIR / "deployment.toml"
    settings = GatewaySettings.load(path, environ={})
    assert (settings.workers, settings.stale_policy, settings.port) == (2, "refuse", 8443)
    assert not settings.pages  # the PBX's gateways; the staff's unit turns them on
    staff = GatewaySettings.load(path, environ={"NOCONTACT_PAGES": "true"}, port=8090, workers=1)
    assert staff.pages and (staff.port, staff.workers) == (8090, 1)
    assert settings.sync.redis_url is not None and settings.sync.redis_url.startswith("redis+sentinel://")
    assert settings.sync.acknowledging_replicas == 1 and settings.sync.follow_replicas
    assert settings.tls is not None and settings.tls.client_ca is not None and settings.proxies == ()
    profile = load_profile(path, environ={})
    assert profile.establishments["WDI"].dial_prefixes == ("77",)
    assert "HLI" in profile.establishments


def test_example_entries_index_and_block() -> None:
    index = Index.build(load_entries(EXAMPLES_DIR / "entries.jsonl"), load_profile(environ={}))
    assert index.entry_count == 2
    assert index.screen_call("HLI", "Z9999ZZ", "9 07700 900123").decision == "block"
