"""``[gateway] pages = false`` (NOCONTACT_PAGES): the production shape of README's "Staff pages on
a gateway of their own", with real `nocontact serve`s on one real redis-server. The PBX's gateway
serves no web page (/ui/... is 404 like any unknown path) and still screens, records hits, answers
/metrics and the hit API; the staff's gateway on the same store serves the pages as before."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.settings import GatewaySettings
from matcher.errors import ConfigError
from tests.support.gateway_process import Gateway
from tests.support.processes import free_port
from tests.support.redis_server import RedisFactory

ENTRY = {
    "prisoner": "A1234BC",
    "scope": "all",
    "protected": [{"name": "Jane Smith", "phones": ["07700 900123"]}],
}
CALL = {"establishment": "HLI", "prisoner": "A1234BC", "number": "9 07700 900123"}


@pytest.fixture
def gateways() -> Iterator[list[Gateway]]:
    started: list[Gateway] = []
    yield started
    for gateway in started:
        gateway.close()


def get(port: int, path: str) -> tuple[int, str, str]:
    """GET `path`: (status, Content-Type, body) whatever the status."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def test_a_gateway_with_pages_off_serves_no_page_and_screens_beside_a_pages_gateway(
    tmp_path: Path, redis_server: RedisFactory, gateways: list[Gateway]
) -> None:
    store = redis_server()
    env = {"NOCONTACT_REDIS_URL": store.url}
    staff = Gateway(tmp_path / "staff", free_port(), env=env, args=["--init"])
    gateways.append(staff.start())
    pbx = Gateway(tmp_path / "pbx", free_port(), env={**env, "NOCONTACT_PAGES": "off"})
    gateways.append(pbx.start())
    assert "web pages off" in pbx.text() and "web pages at /ui/" in staff.text()

    for path in ("/ui/login", "/ui/hits", "/ui/relay", "/ui/static/style.css", "/ui/mailroom"):
        status, kind, body = get(pbx.port, path)
        assert (status, kind) == (404, "application/json"), (path, status, body)
        assert '"not_found"' in body and "<html" not in body.lower()
    status, kind, body = get(staff.port, "/ui/login")
    assert status == 200 and kind.startswith("text/html") and 'name="csrf_token"' in body

    # one store: a block made on the staff's gateway is enforced by the PBX's, whose hit the
    # staff's gateway then lists
    assert staff.http("PUT", "/v1/entries/UPC-2026-000001", ENTRY)[0] == 200
    dialler = pbx.token("dialler", "HLI")
    deadline = time.monotonic() + 20
    while (answer := pbx.http("POST", "/v1/screen/call", CALL, dialler))[1].get("decision") != "block":
        assert time.monotonic() < deadline, answer
        time.sleep(0.05)
    hit_id = answer[1]["hit_id"]
    deadline = time.monotonic() + 20
    while staff.http("GET", f"/v1/hits/{hit_id}")[0] != 200:
        assert time.monotonic() < deadline, staff.tail()
        time.sleep(0.05)
    # the hit API stays on a pages-off gateway (it reads the same hit index as the pages)
    deadline = time.monotonic() + 20
    while pbx.http("GET", f"/v1/hits/{hit_id}")[0] != 200:
        assert time.monotonic() < deadline, pbx.tail()
        time.sleep(0.05)

    status, kind, body = get(pbx.port, "/metrics")
    assert status == 200 and kind.startswith("text/plain")
    assert re.search(r'nocontact_gateway_decisions_total\{channel="call",decision="block"[^}]*\} 1\.0', body)
    assert 'endpoint="/ui' not in body  # nothing under /ui/ was routed here: counted as unmatched


@pytest.mark.parametrize(
    ("environ", "table", "pages"),
    [
        ({}, "", True),  # the default: the quick start's one gateway serves the pages
        ({"NOCONTACT_PAGES": "false"}, "", False),
        ({}, "pages = false\n", False),
        ({"NOCONTACT_PAGES": "on"}, "pages = false\n", True),
    ],
)
def test_pages_is_read_from_the_table_and_the_environment(
    tmp_path: Path, environ: dict[str, str], table: str, pages: bool
) -> None:
    deployment = tmp_path / "deployment.toml"
    deployment.write_text(f"[gateway]\n{table}")
    assert GatewaySettings.load(deployment, environ=environ).pages is pages


def test_a_bad_pages_value_names_where_it_was_set(tmp_path: Path) -> None:
    deployment = tmp_path / "deployment.toml"
    deployment.write_text('[gateway]\npages = "sometimes"\n')
    with pytest.raises(ConfigError) as info:
        GatewaySettings.load(deployment, environ={})
    assert str(info.value) == "Config 'gateway.pages' has value 'sometimes'. Not a valid bool."
    with pytest.raises(ConfigError) as info:
        GatewaySettings.load(None, environ={"NOCONTACT_PAGES": "2"})
    assert str(info.value) == "Config 'NOCONTACT_PAGES' has value '2'. Not a valid bool."
