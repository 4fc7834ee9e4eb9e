"""`nocontact serve` as a subprocess on the embedded Redis: a block written through the API is
enforced within a second; a SIGKILL right after a block answer loses no hit."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gateway_process import Gateway, request
from tests.support.processes import free_port


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    gw = Gateway(tmp_path / "data", free_port())
    yield gw
    gw.close()


ENTRY = {
    "prisoner": "A1234BC",
    "scope": "all",
    "protected": [{"name": "Jane Smith", "phones": ["07700 900123"]}],
}
CALL = {"establishment": "HLI", "prisoner": "Z9999ZZ", "number": "9 07700 900123"}


def test_serve_enforces_a_block_within_a_second_and_keeps_hits_across_sigkill(gateway: Gateway) -> None:
    gateway.start()
    assert "listening on http://127.0.0.1" in gateway.text()
    status, body = request(gateway.port, "POST", "/v1/tokens", {"role": "dialler", "establishment": "HLI"})
    assert status == 201
    dialler = body["token"]
    assert request(gateway.port, "POST", "/v1/screen/call", CALL, dialler)[1]["decision"] == "allow"

    status, written = request(gateway.port, "PUT", "/v1/entries/UPC-2026-000123", ENTRY)
    assert status == 200, written
    started = time.monotonic()
    while True:
        status, answer = request(gateway.port, "POST", "/v1/screen/call", CALL, dialler)
        if answer.get("decision") == "block":
            break
        assert time.monotonic() - started < 1.0, answer
        time.sleep(0.01)
    gateway.kill()  # SIGKILL straight after the block answer
    assert "Jane" not in gateway.text() and "900123" not in gateway.text()
    assert answer["reference"] == "UPC-2026-000123" and answer["version"] >= written["version"]
    hit_id = answer["hit_id"]
    with sqlite3.connect(gateway.data_dir / "hits.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM hits WHERE id = ?", (hit_id,)).fetchone()[0] == 1

    gateway.start()  # same data dir: the embedded Redis is reused, the spool is shipped
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status, page = request(gateway.port, "GET", "/v1/hits?reference=UPC-2026-000123")
        if status == 200 and [h["id"] for h in page["hits"]] == [hit_id]:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(page)
    hit = page["hits"][0]
    assert (
        hit["establishment"],
        hit["prisoner"],
        hit["channel"],
        hit["decision"],
        hit["relay"],
        hit["kind"],
    ) == ("HLI", "Z9999ZZ", "call", "block", True, "phone")
    status, ready = request(gateway.port, "GET", "/readyz")
    assert status == 200 and ready["state"] == "VALID", ready
