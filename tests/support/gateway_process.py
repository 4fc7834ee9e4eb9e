"""`nocontact serve` as a child process (the real CLI, on its embedded Redis unless told
otherwise), and plain HTTP calls to it."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.support.gateway_data import ADMIN
from tests.support.processes import Service, clean_env
from tests.support.redis_server import stop_embedded_redis


def request(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = ADMIN,
    *,
    context: ssl.SSLContext | None = None,
) -> tuple[int, Any]:
    """One JSON call to 127.0.0.1:`port` (HTTPS with `context`; no Authorization header when
    `token` is None): (status, decoded body), an error status included."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    scheme = "http" if context is None else "https"
    req = urllib.request.Request(
        f"{scheme}://127.0.0.1:{port}{path}", data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(req, timeout=5, context=context) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class Gateway(Service):
    """`nocontact serve --port PORT --data-dir DATA_DIR [ARGS...]` with the admin token ADMIN and
    NOCONTACT_* variables from `env` (a Redis URL, a stale policy..., or NOCONTACT_ADMIN_TOKEN=""
    for none). Each start logs to its own
    file beside the data directory (DATA_DIR-serve0.log, DATA_DIR-serve1.log, ...), so several
    gateways can share a parent directory."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        *,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(data_dir.parent / f"{data_dir.name}-serve0.log")
        self.data_dir = data_dir
        self.port = port
        self.env = dict(env or {})
        self.args = list(args)
        self.context = context  # a client context trusting the gateway's certificate: HTTPS
        self.starts = 0

    def start(self, timeout: float = 20.0, *, step: float = 0.05) -> Gateway:
        """Spawn it and wait (polling every `step` seconds) until it logs "listening on" and
        answers /healthz."""
        self.log = self.data_dir.parent / f"{self.data_dir.name}-serve{self.starts}.log"
        self.starts += 1
        command = [sys.executable, "-m", "gateway.cli", "serve", "--port", str(self.port)]
        command += ["--data-dir", str(self.data_dir), *self.args]
        self.spawn(command, env=clean_env(**{"NOCONTACT_ADMIN_TOKEN": ADMIN, **self.env}))
        self.wait_until(self._listening, timeout, "nocontact serve", step=step)
        return self

    def http(
        self, method: str, path: str, body: Any = None, token: str | None = ADMIN, **options: Any
    ) -> tuple[int, Any]:
        return request(self.port, method, path, body, token, context=options.get("context", self.context))

    def token(self, role: str, establishment: str | None = None) -> str:
        """A new token of `role` (bound to `establishment`), made through the API."""
        body = {"role": role} if establishment is None else {"role": role, "establishment": establishment}
        status, created = self.http("POST", "/v1/tokens", body)
        assert status == 201, created
        return str(created["token"])

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Until /readyz says screening answers (the index loaded; fresh, or stale under
        ``stale_policy = "serve"``)."""
        deadline = time.monotonic() + timeout
        while self.http("GET", "/readyz")[0] != 200:
            assert time.monotonic() < deadline, self.tail()
            time.sleep(0.05)

    def _listening(self) -> bool:
        return "listening on" in self.text() and self.http("GET", "/healthz")[0] == 200

    def close(self) -> None:
        """Stop the gateway and the embedded Redis it started (which outlives a SIGKILL)."""
        self.stop()
        stop_embedded_redis(self.data_dir)

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """`nocontact ARGS... --data-dir DATA_DIR` against this gateway's embedded Redis, as an
        operator runs it (e.g. ``cli("user", "add", ...)``)."""
        command = [sys.executable, "-m", "gateway.cli", args[0], "--data-dir", str(self.data_dir), *args[1:]]
        return subprocess.run(
            command, input=stdin, capture_output=True, text=True, env=clean_env(), timeout=30, check=False
        )
