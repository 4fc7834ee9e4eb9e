"""`nocontact serve` as a subprocess on the embedded Redis: a block written through the API is
enforced within a second; a SIGKILL right after a block answer loses no hit."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.conftest import ADMIN
from tests.redis_server import free_port, stop_embedded_redis


def request(port: int, method: str, path: str, body: Any = None, token: str = ADMIN) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class Gateway:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / "serve.log"
        self.output: list[str] = []

    def start(self) -> Gateway:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOCONTACT_")}
        env["NOCONTACT_ADMIN_TOKEN"] = ADMIN
        self.log = self.data_dir.parent / f"serve{len(self.output)}.log"
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gateway.cli",
                    "serve",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self.output.append(self.log.name)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.text()
            if "listening on" in self.text():
                try:
                    if request(self.port, "GET", "/healthz")[0] == 200:
                        return self
                except OSError:
                    pass
            time.sleep(0.05)
        raise AssertionError("serve did not start: " + self.text())

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    gw = Gateway(tmp_path / "data", free_port())
    yield gw
    gw.stop()
    stop_embedded_redis(gw.data_dir)


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
