"""UI fixtures: Debian's chromium, one Playwright browser per module, and one `nocontact serve`
per module on the embedded Redis, seeded through the real API (tests/support/ui_site.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.gateway_process import Gateway
from tests.support.processes import free_port
from tests.support.tools import require_command
from tests.support.ui_site import CHROMIUM_ARGS, Site, seed_site


@pytest.fixture(scope="session")
def chromium() -> str:
    return require_command("chromium", "chromium")


@pytest.fixture(scope="module")  # the sync API runs an event loop: stop it before async tests run
def browser(chromium: str) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    gateway = Gateway(tmp_path_factory.mktemp("ui") / "data", free_port())
    gateway.start()
    try:
        yield seed_site(gateway)
    finally:
        gateway.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()
