"""A real `nocontact serve` in a subprocess for end-to-end tests: started with a clean NOCONTACT_*
environment plus the test's own, on a free port, its output in a log file; plain-HTTP JSON calls."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.redis_server import free_port

ADMIN = "e2e-admin-token"


def call(base: str, method: str, path: str, body: Any = None, token: str = ADMIN) -> tuple[int, Any]:
    request = urllib.request.Request(
        base + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class GatewayProcess:
    def __init__(
        self, data_dir: Path, env: dict[str, str] | None = None, args: list[str] | None = None
    ) -> None:
        self.data_dir = data_dir
        self.env = {"NOCONTACT_ADMIN_TOKEN": ADMIN, **(env or {})}
        self.args = args or []
        self.port = free_port()
        self.log = data_dir.parent / f"{data_dir.name}-serve.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def http(self, method: str, path: str, body: Any = None, token: str = ADMIN) -> tuple[int, Any]:
        return call(self.base, method, path, body, token)

    def start(self, timeout: float = 30.0) -> GatewayProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOCONTACT_")} | self.env
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "gateway.cli", "serve", "--port", str(self.port)]
        command += ["--data-dir", str(self.data_dir), *self.args]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, self.text()
            try:
                if self.http("GET", "/healthz")[0] == 200:
                    return self
            except OSError:
                pass
            assert time.monotonic() < deadline, self.text()
            time.sleep(0.05)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.http("GET", "/readyz")[0] != 200:
            assert time.monotonic() < deadline, self.text()
            time.sleep(0.05)

    def token(self, role: str, establishment: str | None = None) -> str:
        body = {"role": role} if establishment is None else {"role": role, "establishment": establishment}
        status, created = self.http("POST", "/v1/tokens", body)
        assert status == 201, created
        return str(created["token"])

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
