"""UI fixtures: Debian's chromium (installed here when missing and we are root), one Playwright
browser per module, and one `nocontact serve` per module on the embedded Redis, seeded through
the real API: a request authorised by a case handler, then real screening calls that hit it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from gateway.ui.users import add_user
from sync.embedded import EmbeddedRedis
from sync.keys import Keys
from tests.cases.factories import request_data
from tests.debian import ensure_command
from tests.gateway.test_serve import Gateway, request
from tests.redis_server import free_port, stop_embedded_redis

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
PASSWORD = "correct horse battery staple"
PHONE = "07700 900123"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USERS = (
    ("sec-hli", "security", "HLI"),
    ("sec-wdi", "security", "WDI"),
    ("cw", "casework", None),
    ("root", "admin", None),
)


@pytest.fixture(scope="session")
def chromium() -> str:
    return ensure_command("chromium", "chromium")


@pytest.fixture(scope="module")  # the sync API runs an event loop: stop it before async tests run
def browser(chromium: str) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Site:
    gateway: Gateway
    case_id: str
    hits: dict[str, str] = field(default_factory=dict)  # label -> hit id

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.gateway.port}"

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        if token is None:
            return request(self.gateway.port, method, path, body)
        return request(self.gateway.port, method, path, body, token)


def user_cli(gateway: Gateway, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`nocontact user ...` against the gateway's embedded Redis, as an operator runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOCONTACT_")}
    command = [sys.executable, "-m", "gateway.cli", "user", "--data-dir", str(gateway.data_dir), *args]
    return subprocess.run(
        command, input=stdin, capture_output=True, text=True, env=env, timeout=30, check=False
    )


def _wait(condition: Any, what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    gateway = Gateway(tmp_path_factory.mktemp("ui") / "data", free_port())
    gateway.start()
    try:
        done = user_cli(
            gateway,
            "add",
            "sec-hli",
            "--role",
            "security",
            "--establishment",
            "HLI",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )  # as an operator would
        assert done.returncode == 0 and "added sec-hli (security, HLI)" in done.stdout, done.stderr
        with redis.Redis(unix_socket_path=str(EmbeddedRedis(gateway.data_dir).socket_path)) as client:
            for name, role, establishment in USERS[1:]:
                add_user(client, Keys(), name, role, establishment, PASSWORD)
        tokens = {}
        for label, body in (
            ("cw", {"role": "casework"}),
            ("dial-hli", {"role": "dialler", "establishment": "HLI"}),
            ("dial-wdi", {"role": "dialler", "establishment": "WDI"}),
        ):
            status, created = request(gateway.port, "POST", "/v1/tokens", body)
            assert status == 201, created
            tokens[label] = created["token"]
        cw = tokens["cw"]
        status, case = request(gateway.port, "POST", "/v1/requests", request_data(), cw)
        assert status == 201, case
        case_id = case["id"]
        assert request(gateway.port, "POST", f"/v1/requests/{case_id}/send", {}, cw)[0] == 200
        status, body = request(gateway.port, "POST", f"/v1/requests/{case_id}/authorise", {}, cw)
        assert status == 200, body
        site = Site(gateway, case_id)

        def call(label: str, establishment: str, prisoner: str) -> None:
            token = tokens["dial-hli" if establishment == "HLI" else "dial-wdi"]
            body = {"establishment": establishment, "prisoner": prisoner, "number": PHONE}
            answer = _wait(
                lambda: (
                    (a := request(gateway.port, "POST", "/v1/screen/call", body, token)[1]).get("decision")
                    == "block"
                    and a
                ),
                f"a block for {prisoner}",
            )
            assert answer["reference"] == case_id
            site.hits[label] = answer["hit_id"]

        call("primary", "HLI", "A1234BC")  # the named prisoner
        call("relay1", "HLI", "B2345CD")  # others asked to make the contact
        call("relay2", "HLI", "C3456DE")
        call("wdi", "WDI", "D4567EF")
        _wait(lambda: len(request(gateway.port, "GET", "/v1/hits")[1]["hits"]) == 4, "4 shipped hits")
        yield site
    finally:
        gateway.stop()
        stop_embedded_redis(gateway.data_dir)
