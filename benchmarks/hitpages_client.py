"""A signed-in browser-like client for the hit pages (benchmarks/bench_hitpages.py and
benchmarks/relay_cold_probe.py): one keep-alive HTTP connection, signed in through the login form."""

from __future__ import annotations

import http.client
import re

from tests.support.ui_site import PASSWORD


class Client:
    """One keep-alive HTTP connection, signed in through the login form."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookie = ""

    def close(self) -> None:
        self.conn.close()

    def get(self, path: str) -> tuple[int, bytes]:
        self.conn.request("GET", path, headers={"Cookie": self.cookie})
        response = self.conn.getresponse()
        return response.status, response.read()

    def sign_in(self, username: str) -> None:
        self.conn.request("GET", "/ui/login")
        response = self.conn.getresponse()
        body = response.read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', body)
        assert token
        signin = re.search(r"(__Host-nc_signin=[^;]+)", response.getheader("Set-Cookie") or "")
        assert signin
        form = f"csrf_token={token.group(1)}&username={username}&password={PASSWORD.replace(' ', '+')}"
        self.conn.request(
            "POST",
            "/ui/login",
            body=form,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": signin.group(1)},
        )
        response = self.conn.getresponse()
        response.read()
        session = re.search(r"(__Host-nc_session=[^;]+)", response.getheader("Set-Cookie") or "")
        assert response.status == 303 and session, response.status
        self.cookie = session.group(1)
